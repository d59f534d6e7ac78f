"""Live Plotly charts bound to rolling tables, redrawn on a timer (never per event).

A chart is one ``go.FigureWidget`` created once and updated in place: every ``interval``
seconds (default 0.25 s, at least :data:`MIN_INTERVAL`, the rate a browser keeps up with at
10k points) the timer compares the ``version`` counters of the tables it reads with the
versions it last drew. An idle table costs one integer comparison; a changed one costs one
``batch_update`` with numpy arrays (sent as binary buffers; Python lists cost 10-100x more
kernel time), each trace cut to ``max_points`` by min/max decimation (peaks survive) or a
stride, always keeping the newest point. Nothing is printed per message.

Where widgets cannot render (exported notebooks, scripts) :meth:`LiveChart.static` returns a
plain ``go.Figure`` of the current data.

Charts read only the state layer: pass ``feed.tables`` (or anything with a ``tables``
attribute, such as a feed).

Thread mode (``Runner(mode="thread")``, or a feed with a thread of its own): the tables are
written on the feed's thread while the timer ticks on the kernel's. Each tick therefore copies
everything it draws in *one* call of the chart's ``reader`` (a feed's :meth:`~polyresearch.feed.
Feed.read`, taken automatically when the source is a feed; or ``reader=runner.read``), which
runs the copy on the thread that owns the data, between two messages: all arrays of one redraw
come from one instant. Decimation and the figure update then run on the caller's thread, so
the feed's thread is held only for the copy. In loop mode ``feed.read`` is a direct call.

Example:
    >>> from polyresearch.state.schemas import make_tables
    >>> tables = make_tables(max_rows=100)
    >>> tables.quotes.append(ts_ns=10**18, recv_ns=10**18, venue="clob", market="m",
    ...                      asset_id="yes", best_bid=0.4, best_ask=0.6, mid=0.5, spread=0.2,
    ...                      kind="book")
    >>> chart = PriceChart(tables, ["yes"], widget=False)
    >>> chart.tick(), chart.tick()
    (True, False)
    >>> chart.figure.data[0].y.tolist()
    [0.5]
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import math
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Literal, Protocol, TypeVar

import numpy as np
import numpy.typing as npt
import plotly.graph_objects as go
import plotly.io as pio
from plotly.serializers import custom_serializers
from traitlets import Dict

from polyresearch.state.schemas import Tables
from polyresearch.state.table import RollingTable

__all__ = [
    "ACK_TIMEOUT",
    "DEFAULT_INTERVAL",
    "DEFAULT_MAX_POINTS",
    "MIN_INTERVAL",
    "LiveChart",
    "PriceChart",
    "Reader",
    "SpreadChart",
    "deferred_comms",
    "downsample",
    "reader_of",
    "tables_of",
]

logger = logging.getLogger("polyresearch.notebook")

FloatArray = npt.NDArray[np.float64]
T = TypeVar("T")
Downsample = Literal["minmax", "stride"]

#: Default seconds between redraws (4 Hz).
DEFAULT_INTERVAL = 0.25
#: Shortest allowed period: a browser keeps up with about 20 Hz at 10k points, 10 Hz at 100k.
MIN_INTERVAL = 0.05
#: Default cap of points per trace.
DEFAULT_MAX_POINTS = 5_000
#: Newest rows scanned per redraw (before per-asset filtering and the window cut).
DEFAULT_SCAN_ROWS = 200_000
#: Seconds a redraw waits for the page to confirm the previous one before sending anyway
#: (a page that stopped answering: a closed tab, a cleared output).
ACK_TIMEOUT = 10.0


def tables_of(source: Tables | Any) -> Tables:
    """``source`` itself if it is a :class:`Tables`, else its ``tables`` attribute (a feed)."""
    if isinstance(source, Tables):
        return source
    tables = getattr(source, "tables", None)
    if not isinstance(tables, Tables):
        raise TypeError(f"expected Tables or an object with .tables, got {type(source).__name__}")
    return tables


class Reader(Protocol):
    """Runs ``fn`` where the data lives and returns its result (``Feed.read``, ``Runner.read``)."""

    def __call__(self, fn: Callable[[], T], /) -> T:
        """Return ``fn()``, called on the thread that owns the data."""
        ...


def reader_of(source: object) -> Reader | None:
    """The ``read`` method of a feed (or anything with one), None for bare tables or books.

    Example:
        >>> from polyresearch.state.schemas import make_tables
        >>> reader_of(make_tables(max_rows=10)) is None
        True
    """
    read = getattr(source, "read", None)
    return read if callable(read) else None


def downsample(
    x: FloatArray, y: FloatArray, max_points: int, method: Downsample = "minmax"
) -> tuple[FloatArray, FloatArray]:
    """Cut ``(x, y)`` to at most ``max_points`` points, always keeping the last one.

    ``"minmax"`` splits the series into equal buckets and keeps each bucket's lowest and highest
    point (in time order), so spikes stay visible; ``"stride"`` keeps every k-th point counted
    back from the newest. NaN ``y`` values are dropped first.

    Example:
        >>> x = np.arange(10.0); y = np.array([0, 9, 1, 1, 1, 1, 1, 1, 1, 5.0])
        >>> downsample(x, y, 5)[1].tolist()
        [0.0, 9.0, 1.0, 5.0]
        >>> downsample(x, y, 4, "stride")[0].tolist()
        [0.0, 3.0, 6.0, 9.0]
    """
    if max_points < 1:
        raise ValueError("max_points must be at least 1")
    keep = ~np.isnan(y)
    if not keep.all():
        x, y = x[keep], y[keep]
    n = len(y)
    if n <= max_points:
        return x, y
    if method == "stride" or max_points < 3:
        step = math.ceil(n / max_points)
        idx = np.arange(n - 1, -1, -step)[::-1]
        return x[idx], y[idx]
    if method != "minmax":
        raise ValueError(f"unknown downsampling method {method!r}")
    buckets = (max_points - 1) // 2
    size = math.ceil(n / buckets)
    used = (n // size) * size  # the oldest n - used points (< one bucket) are left out
    start = n - used
    block = y[start:].reshape(-1, size)
    base = start + np.arange(block.shape[0]) * size
    chosen = np.zeros(n, dtype=bool)  # a mask, not np.unique: sorted and deduplicated in O(n)
    chosen[base + block.argmin(axis=1)] = True
    chosen[base + block.argmax(axis=1)] = True
    chosen[n - 1] = True
    idx = np.flatnonzero(chosen)
    return x[idx], y[idx]


class LiveChart:
    """Base of the live charts: a figure, the tables it reads, and a redraw timer.

    Args:
        sources: the tables whose ``version`` triggers a redraw.
        interval: seconds between redraw checks (clamped to at least :data:`MIN_INTERVAL`).
        max_points: cap per trace.
        method: ``"minmax"`` or ``"stride"`` decimation above the cap.
        window: seconds of history to show (None: all rows in the tables).
        widget: build a ``go.FigureWidget`` (False: a plain ``go.Figure``, updated the same way).
        reader: runs each tick's copy of the data on the thread that writes it (see the
            module's notes on thread mode); None reads directly (loop mode, static tables).
    """

    def __init__(
        self,
        sources: Sequence[RollingTable],
        *,
        interval: float = DEFAULT_INTERVAL,
        max_points: int = DEFAULT_MAX_POINTS,
        method: Downsample = "minmax",
        window: float | None = None,
        widget: bool = True,
        reader: Reader | None = None,
    ) -> None:
        self.sources = tuple(sources)
        self.reader = reader
        self._interval = DEFAULT_INTERVAL
        self.interval = interval
        self._max_points = DEFAULT_MAX_POINTS
        self.max_points = max_points
        self.method: Downsample = method
        self._window = window
        self.paused = False
        self.redraws = 0
        #: Redraws the page confirmed drawing, timer ticks held back because the page had
        #: not confirmed the previous redraw yet, and redraws sent unconfirmed after a timeout.
        self.acks = 0
        self.page_waits = 0
        self.ack_timeouts = 0
        #: Seconds from sending a redraw to the page's confirmation, for the last one confirmed.
        self.last_ack_s: float | None = None
        self._sent_at: float | None = None  # monotonic time of the unconfirmed redraw, if any
        self._page_seen = False  # has a page ever answered one of this figure's updates?
        # A tick held back for the page's confirmation; the confirmation then wakes the timer
        # (through _wake, on _loop) instead of leaving the redraw to the next tick.
        self._held = False
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.error: BaseException | None = None
        self._drawn: tuple[int, ...] | None = None
        self._task: asyncio.Task[None] | None = None
        self.figure: go.Figure = self._new_figure(widget)
        self._watch_page()

    def _watch_page(self) -> None:
        if isinstance(self.figure, go.FigureWidget):
            # The page's Plotly view answers every update it applied with these deltas.
            self.figure.observe(self._on_page_answer, names=["_js2py_traceDeltas"])

    def renew_figure(self) -> go.Figure:
        """Replace the chart's widget by a new one, comm not opened yet (call ``open()``).

        For a figure whose model died in the page: anywidget gives each model 2 s to load
        its ES module and drops every later message of one that missed it (see
        :func:`deferred_comms`); a new widget is a new model with a new chance. The old widget
        is closed; the next tick draws the current data into the new one.
        """
        old = self.figure
        with deferred_comms():
            self.figure = self._new_figure(isinstance(old, go.FigureWidget))
        self._watch_page()
        self._sent_at = None
        self._page_seen = False
        self.invalidate()
        close = getattr(old, "close", None)
        if close is not None:
            close()
        return self.figure

    # ------------------------------------------------------------ settings

    @property
    def interval(self) -> float:
        """Seconds between redraw checks (at least :data:`MIN_INTERVAL`)."""
        return self._interval

    @interval.setter
    def interval(self, value: float) -> None:
        if not value > 0:
            raise ValueError("interval must be positive")
        self._interval = max(float(value), MIN_INTERVAL)

    @property
    def max_points(self) -> int:
        """Cap of points per trace."""
        return self._max_points

    @max_points.setter
    def max_points(self, value: int) -> None:
        if value < 1:
            raise ValueError("max_points must be at least 1")
        self._max_points = int(value)
        self.invalidate()

    @property
    def window(self) -> float | None:
        """Seconds of history shown (None: everything the tables hold)."""
        return self._window

    @window.setter
    def window(self, value: float | None) -> None:
        if value is not None and not value > 0:
            raise ValueError("window must be positive or None")
        self._window = value
        self.invalidate()

    def invalidate(self) -> None:
        """Force a redraw at the next tick (settings changed)."""
        self._drawn = None

    # ------------------------------------------------------------ drawing

    def tick(self) -> bool:
        """Redraw if a source table changed since the last redraw; return whether it drew."""
        # The idle check reads plain ints, safe from any thread: a value read mid-write only
        # moves the redraw to the next tick. The versions drawn are taken with the data.
        if self._versions() == self._drawn:
            return False
        versions, raw = self.read(self._gather_versioned)
        series = self._series(raw)
        with self.figure.batch_update():
            for trace, (x, y) in zip(self.figure.data, series, strict=True):
                trace.x = x
                trace.y = y
        self._drawn = versions
        self.redraws += 1
        return True

    def read(self, fn: Callable[[], T]) -> T:
        """``fn()`` through the chart's reader: on the data's owner thread, or directly."""
        reader = self.reader
        return fn() if reader is None else reader(fn)

    def start(self) -> LiveChart:
        """Start the redraw timer on the running loop (the kernel's); idempotent."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._timer())
        return self

    def stop(self) -> None:
        """Stop the redraw timer."""
        if self._task is not None:
            self._task.cancel()
            self._task = None

    @property
    def running(self) -> bool:
        """Whether the timer runs."""
        return self._task is not None and not self._task.done()

    def static(self) -> go.Figure:
        """A plain ``go.Figure`` of the current data (exports, scripts, no widget manager)."""
        self.tick()
        return go.Figure(data=list(self.figure.data), layout=self.figure.layout)

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        # Displaying the chart displays its figure (the widget, or the static figure).
        return self.figure._repr_mimebundle_(**kwargs)

    async def _timer(self) -> None:
        self._loop = asyncio.get_running_loop()
        wake = self._wake = asyncio.Event()
        while True:
            wake.clear()
            try:
                async with asyncio.timeout(self._interval):
                    await wake.wait()  # set by the page's confirmation of a held redraw
            except TimeoutError:
                pass
            if self.paused or self._page_busy(time.monotonic()):
                continue
            try:
                if self.tick():
                    self._mark_sent()
            except Exception as exc:
                if self.error is None or repr(exc) != repr(self.error):
                    logger.exception("chart redraw failed")
                self.error = exc
            else:
                self.error = None

    # ------------------------------------------------------------ page flow control
    #
    # Why: the kernel can send redraws faster than a browser applies them (five charts of
    # thousands of SVG points at 4 Hz on a loaded 2-core box). Unconfirmed updates then pile up
    # in the page's websocket and widget queue, and every other message from the kernel, such
    # as a button relabelled after a click, waits behind them: measured 100-110 s from the
    # kernel handling a pause click to the page showing it (tests/browser). Plotly's view
    # confirms each update it applied (``_js2py_traceDeltas`` carrying the update's edit id,
    # which clears ``_trace_edit_in_process``), so the timer sends at most one unconfirmed
    # redraw per figure: the page sees the newest data as fast as it can draw, and the queue
    # in front of everything else holds at most one redraw per chart.

    def _mark_sent(self) -> None:
        # Only a comm with a kernel behind it reaches a page (not comm's DummyComm of plain
        # Python, nor a figure whose comm is not open yet): nothing else will ever answer.
        comm = getattr(self.figure, "comm", None)
        if getattr(comm, "kernel", None) is not None:
            self._sent_at = time.monotonic()

    def _page_busy(self, now: float) -> bool:
        """Whether the page has not confirmed the last redraw yet (and the wait is not over)."""
        sent = self._sent_at
        if sent is None or not self._page_seen:
            # Until a page has drawn this figure once, nothing is known to answer (nbclient, a
            # console, a test's comm; or a page still loading the module, which queues the
            # updates in the model without drawing them): send at the timer's pace.
            return False
        if not getattr(self.figure, "_trace_edit_in_process", False):
            self._sent_at = None  # confirmed (also when the answer came before _mark_sent)
            return False
        if now - sent < ACK_TIMEOUT:
            self.page_waits += 1
            self._held = True
            return True
        self.ack_timeouts += 1
        self._sent_at = None
        return False

    def _on_page_answer(self, change: dict[str, Any]) -> None:
        answer = change.get("new")
        if not answer:
            return  # plotly's own reset of the trait after handling the answer
        self._page_seen = True  # a page draws this figure (even if it answered an older update)
        edit_id = getattr(self.figure, "_last_trace_edit_id", None)
        if answer.get("trace_edit_id") != edit_id or self._sent_at is None:
            return
        self.acks += 1
        self.last_ack_s = time.monotonic() - self._sent_at
        self._sent_at = None
        if self._held:
            # A tick found the page busy: send the newest data now rather than at the next
            # tick (with a round trip just over the interval, waiting halved the rate).
            self._held = False
            loop, wake = self._loop, self._wake
            if loop is not None and wake is not None and not loop.is_closed():
                loop.call_soon_threadsafe(wake.set)

    # ------------------------------------------------------------ subclass API

    def _new_figure(self, widget: bool) -> go.Figure:
        traces, layout = self._traces(), self._layout()
        if widget:
            return _FigureWidget(data=traces, layout=layout)
        return go.Figure(data=traces, layout=layout)

    def _traces(self) -> list[Any]:
        raise NotImplementedError

    def _layout(self) -> dict[str, Any]:
        # Every redraw is a full plotly.js replot (new x and y), and in a profile of the page
        # (bench_chart --browser --trace) two axis settings cost the most beyond it:
        # - ticklabeloverflow "hide past div" (the default) measures the bounding box of every
        #   tick label, once per label drawn (forced layouts): ~20 ms of a ~100 ms redraw;
        # - automargin (on in plotly's default template) measures the labels too, and when
        #   their width changes (0.5 -> 0.525) the margins move and plotly.js replots the whole
        #   figure a second time within the same update.
        # - an axis title "standoff" (15 px in plotly's templates) measures every label again
        #   to place the title, titled or not (see _template).
        # Fixed margins with room for the labels need none of it. The y axis is typed too:
        # an untyped axis is re-guessed from a sample of its data on every redraw (see
        # _FigureWidget._send_update_msg, which restates both types in each update).
        fixed = {"automargin": False, "ticklabeloverflow": "allow"}
        layout: dict[str, Any] = {
            "xaxis": {"type": "date", **fixed},
            "yaxis": {"type": "linear", **fixed},
            "margin": {"l": 50, "r": 10, "t": 40, "b": 45},  # room for the date line
            "height": 360,
            # Below the date line: with automargin off, the default y (-0.1) put the legend
            # over the second line of the date ticks; the legend still widens the bottom
            # margin for itself (margin.autoexpand).
            "legend": {"orientation": "h", "y": -0.2, "yanchor": "top"},
        }
        template = _template()
        if template is not None:
            layout["template"] = template
        return layout

    def _versions(self) -> tuple[int, ...]:
        return tuple(t.version for t in self.sources)

    def _gather_versioned(self) -> tuple[tuple[int, ...], Any]:
        return self._versions(), self._gather()

    def _gather(self) -> Any:
        """Copy what one redraw needs (runs on the data's owner thread: copies only)."""
        raise NotImplementedError

    def _series(self, raw: Any) -> list[tuple[FloatArray, FloatArray]]:
        """One ``(x, y)`` per trace from what :meth:`_gather` copied (on the caller's thread)."""
        raise NotImplementedError

    # ------------------------------------------------------------ helpers

    @staticmethod
    def _tail(table: RollingTable, *columns: str) -> tuple[npt.NDArray[Any], ...]:
        """Copies of the newest rows' x columns and ``columns`` (all from the same rows)."""
        return table.tail_arrays("ts_ns", "recv_ns", "asset_id", *columns, n=DEFAULT_SCAN_ROWS)

    def _columns(
        self, arrays: tuple[npt.NDArray[Any], ...], assets: Sequence[str]
    ) -> dict[str, tuple[FloatArray, list[FloatArray]]]:
        """Per asset: x in epoch ms (venue time, receive time where null) and the columns."""
        ts, recv, asset_ids = arrays[0], arrays[1], arrays[2]
        ms = _epoch_ms(ts, recv)
        if self._window is not None and len(ms):
            recent = ms >= np.nanmax(ms) - self._window * 1e3
            ms = ms[recent]
            asset_ids = asset_ids[recent]
            values = [np.asarray(a, dtype=np.float64)[recent] for a in arrays[3:]]
        else:
            values = [np.asarray(a, dtype=np.float64) for a in arrays[3:]]
        out: dict[str, tuple[FloatArray, list[FloatArray]]] = {}
        for asset in assets:
            mask = asset_ids == asset
            out[asset] = (ms[mask], [v[mask] for v in values])
        return out

    def _cut(self, x: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
        return downsample(x, y, self._max_points, self.method)


class PriceChart(LiveChart):
    """Mid (and optionally best bid/ask) and trades over time for one market's tokens.

    Args:
        source: ``feed.tables`` or a feed (then its ticks read through ``feed.read``).
        assets: the token ids (CLOB: YES and NO of one market; US: the slug).
        complement: assets drawn as ``1 - p`` (e.g. the NO token, so it overlays YES).
        bbo: also draw best bid and best ask lines.
        trades: draw trades as markers.
        fills: draw the account's own fills (rows of the ``orders`` table with an execution
            price: CLOB user-channel trades, US executions) on top of the price.
        **kwargs: see :class:`LiveChart`.
    """

    def __init__(
        self,
        source: Tables | Any,
        assets: Sequence[str],
        *,
        complement: Iterable[str] = (),
        bbo: bool = True,
        trades: bool = True,
        fills: bool = False,
        labels: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        tables = tables_of(source)
        kwargs.setdefault("reader", reader_of(source))
        self.fills = fills
        self.assets = tuple(assets)
        self.complement = frozenset(complement)
        self.bbo = bbo
        self.trades = trades
        self.labels = dict(labels or {})
        sources = [tables.quotes, tables.trades] + ([tables.orders] if fills else [])
        super().__init__(sources, **kwargs)

    def _label(self, asset: str) -> str:
        name = self.labels.get(asset, asset if len(asset) <= 12 else f"{asset[:4]}…{asset[-4:]}")
        return f"{name} (1-p)" if asset in self.complement else name

    def _traces(self) -> list[Any]:
        traces: list[Any] = []
        for asset in self.assets:
            label = self._label(asset)
            traces.append(go.Scatter(x=[], y=[], mode="lines", name=f"{label} mid"))
            if self.bbo:
                for side in ("bid", "ask"):
                    traces.append(
                        go.Scatter(
                            x=[],
                            y=[],
                            mode="lines",
                            name=f"{label} {side}",
                            line={"width": 1, "dash": "dot"},
                        )
                    )
            if self.trades:
                traces.append(
                    go.Scatter(x=[], y=[], mode="markers", name=f"{label} trades", marker_size=5)
                )
            if self.fills:
                traces.append(
                    go.Scatter(
                        x=[],
                        y=[],
                        mode="markers",
                        name=f"{label} my fills",
                        marker={"size": 11, "symbol": "x", "color": "black"},
                    )
                )
        return traces

    def _layout(self) -> dict[str, Any]:
        # No y title: the chart's title says "Price", and a titled axis makes plotly.js measure
        # every tick label on each redraw to keep the title clear of them.
        return {**super()._layout(), "title": {"text": "Price"}}

    def _gather(self) -> dict[str, tuple[npt.NDArray[Any], ...]]:
        raw = {"quotes": self._tail(self.sources[0], "mid", "best_bid", "best_ask")}
        if self.trades:
            raw["trades"] = self._tail(self.sources[1], "price")
        if self.fills:
            raw["fills"] = self._tail(self.sources[2], "last_price", "last_size")
        return raw

    def _series(self, raw: Any) -> list[tuple[FloatArray, FloatArray]]:
        quotes = self._columns(raw["quotes"], self.assets)
        trades = self._columns(raw["trades"], self.assets) if self.trades else {}
        fills = self._columns(raw["fills"], self.assets) if self.fills else {}
        out: list[tuple[FloatArray, FloatArray]] = []
        for asset in self.assets:
            flip = asset in self.complement
            x, (mid, bid, ask) = quotes[asset]
            if flip:  # 1 - p: the complement's bid is 1 - its ask
                mid, bid, ask = 1.0 - mid, 1.0 - ask, 1.0 - bid
            out.append(self._cut(x, mid))
            if self.bbo:
                out.append(self._cut(x, bid))
                out.append(self._cut(x, ask))
            if self.trades:
                tx, (price,) = trades[asset]
                out.append(self._cut(tx, 1.0 - price if flip else price))
            if self.fills:
                fx, (fill_price, fill_size) = fills[asset]
                executed = fill_size > 0  # NaN (no execution) compares False
                fill_price = fill_price[executed]
                out.append(self._cut(fx[executed], 1.0 - fill_price if flip else fill_price))
        return out


class SpreadChart(LiveChart):
    """Best ask minus best bid over time, one line per asset.

    Args:
        source: ``feed.tables`` or a feed (then its ticks read through ``feed.read``).
        assets: the assets to draw.
        **kwargs: see :class:`LiveChart`.
    """

    def __init__(self, source: Tables | Any, assets: Sequence[str], **kwargs: Any) -> None:
        self.assets = tuple(assets)
        kwargs.setdefault("reader", reader_of(source))
        super().__init__([tables_of(source).quotes], **kwargs)

    def _traces(self) -> list[Any]:
        return [
            go.Scatter(x=[], y=[], mode="lines", name=a if len(a) <= 12 else f"{a[:4]}…{a[-4:]}")
            for a in self.assets
        ]

    def _layout(self) -> dict[str, Any]:
        return {**super()._layout(), "title": {"text": "Spread"}, "height": 240}

    def _gather(self) -> tuple[npt.NDArray[Any], ...]:
        return self._tail(self.sources[0], "spread")

    def _series(self, raw: Any) -> list[tuple[FloatArray, FloatArray]]:
        quotes = self._columns(raw, self.assets)
        return [self._cut(quotes[a][0], quotes[a][1][0]) for a in self.assets]


#: Set by :func:`deferred_comms`: figures created meanwhile do not open their comm.
_DEFER_COMMS: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "polyresearch_defer_comms", default=False
)


@contextlib.contextmanager
def deferred_comms() -> Iterator[None]:
    """Figures created inside the block open their comm only when ``figure.open()`` is called.

    anywidget 0.11 gives each widget model 2 s, from its ``comm_open`` in the page, to load its
    ES module; a model that misses it drops every later message for good (its
    ``_handle_comm_msg`` awaits a rejected promise). Every Plotly FigureWidget ships the ~5 MB
    widget bundle as its own module, so several figures opened at once on a loaded machine
    miss the deadline and stay empty forever. The dashboard therefore creates its figures in
    this block and opens them one at a time (see ``dashboard.Dashboard``).

    Example:
        >>> from polyresearch.state.schemas import make_tables
        >>> with deferred_comms():  # doctest: +SKIP
        ...     chart = SpreadChart(make_tables(max_rows=10), ["a"])
        >>> chart.figure.comm is None  # doctest: +SKIP
        True
    """
    token = _DEFER_COMMS.set(True)
    try:
        yield
    finally:
        _DEFER_COMMS.reset(token)


class _FigureWidget(go.FigureWidget):  # type: ignore[misc]
    """A ``go.FigureWidget`` whose ``comm_open`` already carries its traces and layout.

    Plotly opens the widget's comm before the figure has data and sends traces and layout in a
    second message. Opening the comm once the figure is complete makes the page's model whole
    from its first message. Inside :func:`deferred_comms` the comm is not opened at all until
    the owner calls :meth:`open`.
    """

    _defer_open = False

    # The page's Plotly view answers every update with these (our flow-control ack, see
    # LiveChart._on_page_answer). ipywidgets echoes every state a front-end sends back to the
    # front-ends by default (``echo_update``): for these, one more message per redraw for the
    # page to decode and drop, on a main thread that redraw costs already keep busy. Only the
    # kernel reads them, so the echo is off.
    _js2py_traceDeltas = Dict(allow_none=True).tag(
        sync=True, echo_update=False, **custom_serializers
    )
    _js2py_layoutDelta = Dict(allow_none=True).tag(
        sync=True, echo_update=False, **custom_serializers
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._defer_open = True
        try:
            super().__init__(*args, **kwargs)
        finally:
            self._defer_open = False
        if not _DEFER_COMMS.get():
            self.open()

    def open(self) -> None:
        """Open the comm (deferred until the figure is complete)."""
        if not self._defer_open:
            super().open()

    def _send_update_msg(
        self, restyle_data: dict[str, Any], relayout_data: dict[str, Any], *args: Any, **kwargs: Any
    ) -> None:
        # Plotly.js clears the type of every axis whose traces' x or y an update replaces
        # (``clearAxisTypes`` in its plot_api), unless the same update sets that type, and
        # re-guesses it from the data: epoch-ms numbers read as "linear", so after the first
        # redraw the page showed 1.795T where the figure says dates. Re-stating each explicitly
        # typed axis in every such update keeps it (and keeps x as numbers: ISO strings would
        # cost the kernel and the page far more per point).
        relayout = dict(relayout_data or {})
        restyled = set(restyle_data or {})
        for name in self.layout:
            if name[:1] not in restyled or not name[1:].startswith("axis"):
                continue  # not an axis (x, x2, y...) whose traces' data this update replaces
            axis_type = getattr(self.layout[name], "type", None)
            if axis_type not in (None, "-"):
                relayout.setdefault(f"{name}.type", axis_type)
        super()._send_update_msg(restyle_data, relayout, *args, **kwargs)


#: Per template name: the source template's JSON when the copy was made, and the copy.
_TEMPLATES: dict[str, tuple[dict[str, Any], go.layout.Template]] = {}


def _template() -> go.layout.Template | None:
    """Plotly's default template (``pio.templates.default``) without axis title standoffs.

    With ``title.standoff`` set (plotly's own templates set 15 px on both axes), plotly.js
    measures the bounding box of every tick label on every redraw to place the axis title
    (forced style and layout, about 10 ms of a redraw at 10k points), titled axis or not. A
    standoff cannot be unset from the figure's layout (the template's value shows through),
    hence a copy of the template without it. The copy costs ~20 ms, so it is kept; it is
    rebuilt when the template registered under that name changed (replaced, or edited in
    place: compared as JSON, ~1 ms, once per chart).
    """
    name = pio.templates.default
    if not name:
        return None
    source = pio.templates[name]
    spec = source.to_plotly_json()
    cached = _TEMPLATES.get(name)
    if cached is not None and cached[0] == spec:
        return cached[1]
    template = go.layout.Template(source)
    for axis in (template.layout.xaxis, template.layout.yaxis):
        axis.title.standoff = None
    _TEMPLATES[name] = (spec, template)
    return template


def _epoch_ms(ts: npt.NDArray[Any], recv: npt.NDArray[Any]) -> FloatArray:
    """Venue time in epoch milliseconds as float64 (a date axis reads ms), receive time if null."""
    ts_i = ts.view(np.int64)
    recv_i = recv.view(np.int64)
    null = np.iinfo(np.int64).min
    ns = np.where(ts_i == null, recv_i, ts_i)
    out: FloatArray = ns.astype(np.float64) / 1e6
    return out
