"""03_record_replay_export runs top to bottom in a real kernel on the embedded simulator."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests._nb_outputs import WIDGET_VIEW
from tests._nb_outputs import cell_errors as _errors
from tests._nb_outputs import cell_text as _text

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "03_record_replay_export.ipynb"
PLOTLY = "application/vnd.plotly.v1+json"


def _number(pattern: str, text: str) -> int:
    match = re.search(pattern, text)
    assert match is not None, (pattern, text)
    return int(match.group(1))


@pytest.mark.notebook
def test_record_replay_export_notebook(kernel_name: str) -> None:
    """Record, replay (same tables and books), export, analyse and chart: outputs prove each."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        nb,
        kernel_name=kernel_name,
        timeout=120,
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    )
    client.execute()
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert len(code) == 8
    for cell in code:
        assert _errors(cell) == []
    setup, record, scan, play, export, analyse, chart, cleanup = code

    assert re.search(r"simulator on ws://127\.0\.0\.1:\d+/ws/market", _text(setup))

    recorded = _text(record)
    assert _number(r"recorded (\d+) frames", recorded) > 0
    assert _number(r"dropped (\d+)", recorded) == 0
    assert "closed True" in recorded
    live_trades = _number(r"live tables: trades (\d+)", recorded)
    assert live_trades > 0

    # The recording read back as plain Parquet: the inbound frames are all there.
    assert "│ market  ┆ in" in _text(scan)

    replayed = _text(play)
    assert any(WIDGET_VIEW in o.get("data", {}) for o in play.outputs)  # tqdm.auto widget
    assert "identical tables: {'trades': True, 'quotes': True, 'book_updates': True}" in replayed
    assert "identical books: True" in replayed
    assert _number(r"hashes verified: (\d+)", replayed) > 0
    assert _number(r"book_snapshots rows: (\d+)", replayed) > 0

    exported = _text(export)
    for name in ("trades", "quotes", "book_updates", "book_snapshots", "books"):
        assert re.search(rf"{name}\.csv \(\d+ kB\), {name}\.parquet", exported), name
    assert _number(r"trades\.parquet rows: (\d+)", exported) == live_trades
    assert _number(r"csv rows: (\d+)", exported) == live_trades

    analysed = _text(analyse)
    assert _number(r"YES vs 1-NO: (\d+) rows", analysed) > 0
    assert _number(r"trade bars (\d+)", analysed) > 0
    assert _number(r"imbalance samples (\d+)", analysed) > 0
    assert "summary rows: 6" in analysed  # 3 markets x 2 tokens
    assert "shape: (6, 6)" in analysed

    figures = [o["data"][PLOTLY] for o in chart.outputs if PLOTLY in o.get("data", {})]
    assert len(figures) == 1
    traces = figures[0]["data"]
    assert [t["type"] for t in traces] == ["candlestick", "scatter", "bar"]
    assert len(traces[0]["x"]) > 0 and len(traces[2]["y"]) > 0

    assert _text(cleanup).strip() == "jobs left: []"
