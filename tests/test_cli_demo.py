"""`python -m polyresearch demo`: streams both venues offline, exports tables and a chart."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import polars as pl


def test_demo_streams_summarises_and_exports(tmp_path: Path) -> None:
    """The demo prints live summaries with data, then writes CSV, Parquet and an HTML chart."""
    out = tmp_path / "out"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "polyresearch",
            "demo",
            "--seconds",
            "3",
            "--markets",
            "4",
            "--resolve-every",  # often, so that the run shows resolutions (default: 60 s)
            "1",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("[")]
    assert len(lines) >= 2
    last = lines[-1]
    # Every book live or resolved (TERMINAL, from market_resolved): none EMPTY or SUSPECT.
    found = re.search(r"CLOB books live (\d+)/(\d+) resolved (\d+) ", last)
    assert found, last
    live, books, resolved = map(int, found.groups())
    assert books == 8 and live + resolved == books, last
    assert "bbo mismatches 0" in last
    assert "drops 0" in last
    trades = pl.read_parquet(out / "clob_trades.parquet")
    assert trades.height > 0
    assert set(trades["kind"].cast(pl.String).unique()) == {"last_trade_price"}
    csv = pl.read_csv(out / "us_book_updates.csv")
    assert csv.height > 0 and "price" in csv.columns
    assert (out / "clob_status.parquet").exists()
    html = (out / "chart.html").read_text()
    assert "plotly" in html.lower() and "mid" in html
