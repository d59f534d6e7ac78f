"""Exports (CSV + Parquet, tables and books) from a replay, a live feed and the CLI."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from polyresearch import analysis
from polyresearch.errors import ConfigError
from polyresearch.feed import ClobFeed
from polyresearch.record import replay
from polyresearch.record.export import book_frame, export, export_frame
from polyresearch.simulator import Simulator
from tests.record._recordings import Recording, clob_params


def _plain(frame: pl.DataFrame) -> pl.DataFrame:
    """Categories as strings: what CSV keeps and what compares across readers."""
    return frame.with_columns(
        pl.col(n).cast(pl.String) for n, t in frame.schema.items() if isinstance(t, pl.Categorical)
    )


def test_export_a_replay_to_csv_and_parquet(clob_recording: Recording, tmp_path: Path) -> None:
    feed = replay(clob_recording.directory, snapshot_interval=0.05, snapshot_depth=3)
    written = export(feed, tmp_path, formats=("csv", "parquet"), book_depth=5)
    assert {"trades", "quotes", "book_updates", "book_snapshots", "status", "books"} <= set(written)
    for name in ("trades", "quotes", "book_updates", "book_snapshots"):
        table = _plain(feed.tables[name].to_polars())
        parquet = pl.read_parquet(tmp_path / f"{name}.parquet")
        # Parquet keeps types: categories and UTC ns timestamps come back row for row.
        assert parquet.schema["ts_ns"] == pl.Datetime("ns", "UTC")
        assert _plain(parquet).equals(table)
        # CSV: 77-digit token ids would be read as numbers; read every column as text
        csv = pl.read_csv(tmp_path / f"{name}.csv", infer_schema=False)
        assert csv.height == table.height
        assert csv["asset_id"].to_list() == table["asset_id"].to_list()
        value = "price" if "price" in csv.columns else "best_bid"
        assert csv[value].cast(pl.Float64).to_list() == table[value].to_list()
        # times as ISO-8601 UTC text
        first = csv["ts_ns"].drop_nulls()[0]
        assert first.endswith(("+0000", "+00:00", "Z")), first
    # books: the top 5 levels of every LIVE book now, whose best levels are the books' own
    books = pl.read_parquet(tmp_path / "books.parquet")
    live = [a for a in feed.books if feed.books[a].status.value == "LIVE"]
    assert sorted(books["asset_id"].cast(pl.String).unique().to_list()) == sorted(live)
    # levels 0..4 where a live book is that deep; thinner books give fewer (seen in CI)
    deepest = max(len(feed.books[a].levels(side, depth=5)) for a in live for side in ("bid", "ask"))
    assert books["level"].max() == deepest - 1 <= 4
    top = analysis.top_of_book(books)
    for row in top.iter_rows(named=True):
        bid = feed.books[row["asset_id"]].best_bid()
        assert row["best_bid"] == (None if bid is None else float(bid[0]))
    # nothing half-written is left behind
    assert not list(tmp_path.glob(".*.tmp"))


def test_replay_samples_books_on_the_recorded_clock(clob_recording: Recording) -> None:
    feed = replay(clob_recording.directory, snapshot_interval=0.05, snapshot_depth=3)
    snaps = feed.tables.book_snapshots.to_polars()
    assert snaps.height > 0
    assert snaps["level"].max() <= 2
    times = snaps["ts_ns"].unique().sort().cast(pl.Int64)
    # every sample sits on the 50 ms grid that starts at the first replayed frame
    steps = (times - times[0]) % 50_000_000
    assert steps.max() == 0
    # a sample is a consistent book: imbalance is in [-1, 1], bids below asks
    imb = analysis.imbalance(snaps, levels=3)
    assert imb["imbalance"].drop_nulls().is_between(-1, 1).all()
    top = analysis.top_of_book(snaps).drop_nulls(["best_bid", "best_ask"])
    assert (top["best_bid"] < top["best_ask"]).all()
    with pytest.raises(ConfigError):
        replay(clob_recording.directory, snapshot_interval=0)


def test_export_frame_in_batches_with_progress(tmp_path: Path) -> None:
    frame = pl.DataFrame({"i": list(range(50)), "s": [f"r{i}" for i in range(50)]})
    seen: list[int] = []
    export_frame(frame, tmp_path / "f.parquet", batch_rows=7, on_batch=seen.append)
    assert seen == [7] * 7 + [1]
    assert pl.read_parquet(tmp_path / "f.parquet").equals(frame)
    seen.clear()
    export_frame(frame, tmp_path / "f.csv", batch_rows=7, on_batch=seen.append)
    assert sum(seen) == 50
    text = (tmp_path / "f.csv").read_text().splitlines()
    assert text[0] == "i,s"  # one header, not one per batch
    assert len(text) == 51
    assert pl.read_csv(tmp_path / "f.csv").equals(frame)
    with pytest.raises(ConfigError):
        export_frame(frame, tmp_path / "f.json")


def test_progress_bar_shows_for_big_exports_when_asked(
    clob_recording: Recording, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    feed = replay(clob_recording.directory)
    export(feed, tmp_path, formats=("csv",), tables=["trades"], book_depth=None, progress=True)
    err = capsys.readouterr().err
    assert "export" in err and "100%" in err
    replay(clob_recording.directory, progress=True)
    err = capsys.readouterr().err
    assert "replay" in err and "100%" in err
    with pytest.raises(ConfigError, match="formats"):
        export(feed, tmp_path, formats=("xlsx",))  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="unknown tables"):
        export(feed, tmp_path, tables=["nope"])


def test_export_from_a_live_feed(tmp_path: Path) -> None:
    async def main() -> None:
        async with Simulator(seed=9, markets=2, rate=300) as sim:
            feed = ClobFeed(
                assets=[t for m in sim.markets() for t in m.token_ids],
                url=sim.clob_market_url,
                params=clob_params(sim),
                snapshot_interval=0.05,
            )
            async with feed:
                await feed.wait_for(
                    lambda f: len(f.tables.book_snapshots) > 0 and len(f.tables.trades) > 0,
                    within=30,
                )
                written = export(feed, tmp_path, formats=("parquet",), book_depth=2)
                live_books = book_frame(feed, 2)
        trades = pl.read_parquet(written["trades"][0])
        assert trades.height > 0
        assert pl.read_parquet(written["book_snapshots"][0]).height > 0
        assert set(live_books["level"].to_list()) <= {0, 1}

    asyncio.run(main())


def test_cli_replay_exports(clob_recording: Recording, tmp_path: Path) -> None:
    out = tmp_path / "export"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "polyresearch",
            "replay",
            str(clob_recording.directory),
            "--stats",
            "--export",
            str(out),
            "--format",
            "csv",
            "parquet",
            "--snapshot-interval",
            "0.1",
        ],
        capture_output=True,
        check=True,
        timeout=120,
    )
    stats = json.loads(result.stdout)
    assert sorted(stats["exported"]["trades"]) == sorted(
        [str(out / "trades.csv"), str(out / "trades.parquet")]
    )
    replayed = replay(clob_recording.directory)
    assert pl.read_csv(out / "trades.csv", infer_schema=False).height == len(replayed.tables.trades)
    assert pl.read_parquet(out / "book_snapshots.parquet").height > 0
