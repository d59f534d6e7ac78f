"""What a live chart's widget says to the page, and how it hears the page (no browser needed).

Three findings of the browser test, pinned with a recording comm (messages out) and
front-end-shaped messages in:

- Price/Spread charts rendered empty for good in JupyterLab under load: plotly opens a
  FigureWidget's comm before the figure has data and sends traces and layout in a follow-up
  message. ``charts._FigureWidget`` defers the open; the ``comm_open`` state alone draws the
  chart (traces with their names, the title) and nothing follows it before the first redraw.
- The time axis read 1.795T (epoch ms on a linear axis): Plotly.js clears an axis' type when
  an update replaces its traces' data unless the update restates it, so every data update
  restates ``xaxis.type``.
- A pause click took 100+ s to show in the page: redraws piled up faster than the page drew
  them. Once the page has answered a figure, its timer sends the next redraw only after the
  page confirmed the previous one (or after ``charts.ACK_TIMEOUT``).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable, Iterator
from typing import Any

import comm
import pytest

from polyresearch.notebook import charts
from polyresearch.notebook.book_view import DepthChart
from polyresearch.notebook.charts import MIN_INTERVAL, PriceChart
from polyresearch.state.orderbook import OrderBook
from polyresearch.state.schemas import Tables, make_tables


class RecordingComm:
    """A comm with no front-end: what it was opened with and every message sent after."""

    kernel = "Truthy"
    comm_id = "recording"

    def __init__(self, **kwargs: Any) -> None:
        self.opened_with = kwargs
        self.messages: list[Any] = []

    def open(self, *args: Any, **kwargs: Any) -> None:
        pass

    def on_msg(self, *args: Any, **kwargs: Any) -> None:
        pass

    def send(self, data: Any = None, metadata: Any = None, buffers: Any = None) -> None:
        self.messages.append(data)

    def close(self, *args: Any, **kwargs: Any) -> None:
        pass


def test_price_chart_comm_open_carries_traces_and_title(monkeypatch: pytest.MonkeyPatch) -> None:
    comms: list[RecordingComm] = []

    def create_comm(**kwargs: Any) -> RecordingComm:
        comms.append(RecordingComm(**kwargs))
        return comms[-1]

    monkeypatch.setattr(comm, "create_comm", create_comm)
    chart = PriceChart(make_tables(max_rows=10), ["yes", "no"], complement=["no"])
    figure_comms = [c for c in comms if "_widget_data" in c.opened_with["data"]["state"]]
    assert len(figure_comms) == 1
    opened = figure_comms[0]
    state = opened.opened_with["data"]["state"]
    names = [trace["name"] for trace in state["_widget_data"]]
    assert names == [trace.name for trace in chart.figure.data]
    assert "no (1-p) mid" in names
    assert state["_widget_layout"]["title"]["text"] == "Price"
    # Nothing re-sends the figure after the open (the message a busy front-end lost).
    assert not [m for m in opened.messages if "_widget_data" in (m or {}).get("state", {})]
    assert chart.figure.comm is opened


@pytest.fixture
def comms(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[RecordingComm]]:
    """Every comm created in the test, in order (each records what it sends)."""
    made: list[RecordingComm] = []

    def create_comm(**kwargs: Any) -> RecordingComm:
        made.append(RecordingComm(**kwargs))
        return made[-1]

    monkeypatch.setattr(comm, "create_comm", create_comm)
    yield made


_ts = itertools.count(1)


def _quote(tables: Tables, asset: str = "yes", mid: float = 0.5) -> None:
    ns = 1_795_000_000_000_000_000 + next(_ts) * 1_000_000
    tables.quotes.append(
        ts_ns=ns, recv_ns=ns, venue="clob", market="m", asset_id=asset,
        best_bid=mid - 0.01, best_ask=mid + 0.01, mid=mid, spread=0.02, kind="book",
    )  # fmt: skip


def _updates(figure_comm: RecordingComm) -> list[dict[str, Any]]:
    """The Plotly.update messages sent to the page, in order."""
    return [
        m["state"]["_py2js_update"]
        for m in figure_comm.messages
        if (m or {}).get("state", {}).get("_py2js_update")
    ]


def _figure_comm(made: list[RecordingComm], figure: Any) -> RecordingComm:
    found = [c for c in made if c is figure.comm]
    assert len(found) == 1
    return found[0]


def test_every_data_update_restates_the_date_axis(comms: list[RecordingComm]) -> None:
    tables = make_tables(max_rows=100)
    chart = PriceChart(tables, ["yes"])
    sent = _figure_comm(comms, chart.figure)
    for n in range(3):
        _quote(tables, mid=0.4 + n / 10)
        assert chart.tick()
    updates = _updates(sent)
    assert len(updates) == 3
    for update in updates:
        # y too: typed, so the page does not re-guess its type from the data on each redraw.
        assert update["layout_data"] == {"xaxis.type": "date", "yaxis.type": "linear"}
        assert {"x", "y"} <= set(update["style_data"])
    # x stays numbers (epoch ms, sent as a binary buffer), not strings.
    assert chart.figure.data[0].x.dtype.kind == "f"
    assert chart.figure.layout.xaxis.type == "date"


def test_an_axis_without_a_type_is_left_to_plotly(comms: list[RecordingComm]) -> None:
    book = OrderBook("a")
    book.set_level("bid", "0.40", "10")
    book.set_level("ask", "0.60", "5")
    chart = DepthChart(book)
    assert chart.tick()
    (update,) = _updates(_figure_comm(comms, chart.figure))
    assert "xaxis.type" not in update["layout_data"]
    assert chart.figure.layout.xaxis.type is None


def _answer(chart: PriceChart, edit_id: int | None = None) -> None:
    """What the page's Plotly view sends once it applied an update (edit id: the newest)."""
    edit = chart.figure._last_trace_edit_id if edit_id is None else edit_id
    chart.figure._handle_msg(
        {
            "content": {
                "data": {
                    "method": "update",
                    "state": {"_js2py_traceDeltas": {"trace_deltas": [], "trace_edit_id": edit}},
                }
            },
            "buffers": [],
        }
    )


def test_page_answers_are_not_echoed_back_to_the_page(comms: list[RecordingComm]) -> None:
    """The page's per-update answer reaches the kernel's handlers, and no echo goes back.

    ipywidgets echoes front-end state to the front-ends by default: one more message per
    redraw for the busy page (charts._FigureWidget turns it off for the answer traits).
    """
    tables = make_tables(max_rows=100)
    chart = PriceChart(tables, ["yes"])
    sent = _figure_comm(comms, chart.figure)
    _quote(tables)
    assert chart.tick()
    chart._mark_sent()
    assert chart.figure._trace_edit_in_process
    before = len(sent.messages)
    _answer(chart)
    assert not chart.figure._trace_edit_in_process  # plotly's handler ran: the edit is done
    assert chart.acks == 1  # and so did ours
    replies = sent.messages[before:]
    assert not [m for m in replies if m.get("method") == "echo_update"], replies
    # The trait itself still syncs (echo is the only thing turned off).
    assert chart.figure.trait_metadata("_js2py_traceDeltas", "sync") is True


async def _until(predicate: Callable[[], bool], within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def _ticks(chart: PriceChart, count: int) -> None:
    """Let the timer run ``count`` more periods (counted by the timer itself)."""
    start = chart.page_waits
    await _until(lambda: chart.page_waits >= start + count)


async def test_timer_sends_the_next_redraw_once_the_page_confirmed_the_last(
    comms: list[RecordingComm],
) -> None:
    tables = make_tables(max_rows=1000)
    chart = PriceChart(tables, ["yes"], interval=MIN_INTERVAL)
    sent = _figure_comm(comms, chart.figure)
    chart.start()
    try:
        # No page has answered yet (nbclient, a console): the timer sends at its own pace.
        for n in range(1, 4):
            _quote(tables)
            await _until(lambda n=n: chart.redraws >= n)
        assert chart.page_waits == 0 and chart.acks == 0
        # The page answers the newest redraw: from now on one unconfirmed redraw at a time.
        _answer(chart)
        assert chart.acks == 1 and chart.last_ack_s is not None
        _quote(tables)
        await _until(lambda: chart.redraws >= 4)
        drawn = len(_updates(sent))
        _answer(chart)  # the page drew it
        assert chart.acks == 2
        _quote(tables)
        await _until(lambda: chart.redraws >= 5)
        _quote(tables)  # new data, but the page has not confirmed redraw 5
        await _ticks(chart, 5)
        assert chart.redraws == 5 and len(_updates(sent)) == drawn + 1
        _answer(chart, edit_id=chart.figure._last_trace_edit_id - 1)  # a stale answer
        await _ticks(chart, 3)
        assert chart.redraws == 5
        _answer(chart)  # the page confirms: the held newest data goes out at once
        await _until(lambda: chart.redraws >= 6)
        assert chart.acks == 3 and len(_updates(sent)) == drawn + 2
        assert chart.ack_timeouts == 0
    finally:
        chart.stop()


async def _chart_a_page_drew(comms: list[RecordingComm]) -> tuple[Tables, PriceChart]:
    """A started chart whose first redraw a page has confirmed (flow control is on)."""
    tables = make_tables(max_rows=1000)
    chart = PriceChart(tables, ["yes"], interval=MIN_INTERVAL)
    _figure_comm(comms, chart.figure)
    chart.start()
    try:
        _quote(tables)
        await _until(lambda: chart.redraws >= 1)
    except BaseException:
        chart.stop()
        raise
    _answer(chart)
    return tables, chart


async def test_a_confirmation_wakes_a_timer_that_held_a_redraw(
    comms: list[RecordingComm],
) -> None:
    """A held redraw goes out when the page confirms, not a whole interval later."""
    tables, chart = await _chart_a_page_drew(comms)
    try:
        _quote(tables)
        await _until(lambda: chart.redraws >= 2)
        _quote(tables)  # held: the page has not confirmed redraw 2
        await _ticks(chart, 1)
        chart.interval = 3600.0  # the timer's next sleep is an hour long
        await _ticks(chart, 1)  # ... and it has begun
        assert chart.redraws == 2
        _answer(chart)
        await _until(lambda: chart.redraws >= 3)  # woken by the confirmation, not the hour
        assert chart.acks == 2 and chart.page_waits >= 2
    finally:
        chart.stop()


async def test_timer_sends_anyway_after_the_ack_timeout(
    comms: list[RecordingComm], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page that stopped answering (closed tab) slows the chart down but does not stop it."""
    monkeypatch.setattr(charts, "ACK_TIMEOUT", 0.5)
    tables, chart = await _chart_a_page_drew(comms)  # ... and then the page goes silent
    try:
        _quote(tables)
        await _until(lambda: chart.redraws >= 2)
        _quote(tables)
        await _until(lambda: chart.redraws >= 3)  # only after the timeout
        assert chart.ack_timeouts == 1 and chart.page_waits > 0
    finally:
        chart.stop()
