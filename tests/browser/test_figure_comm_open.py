"""A live chart's widget opens its comm with the figure inside (no browser needed).

The browser test found Price/Spread charts rendered empty for good in JupyterLab under load:
plotly opens a FigureWidget's comm before the figure has data and sends traces and layout in a
follow-up message. ``charts._FigureWidget`` defers the open; this pins that the ``comm_open``
state alone draws the chart (traces with their names, the title) and that nothing follows it
before the first redraw.
"""

from __future__ import annotations

from typing import Any

import comm
import pytest

from polyresearch.notebook.charts import PriceChart
from polyresearch.state.schemas import make_tables


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
