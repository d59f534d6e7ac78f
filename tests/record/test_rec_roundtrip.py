"""Record from the simulator over real sockets, replay: identical books and tables."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import polars as pl
import pytest

from polyresearch.record import list_chunks, replay, scan_recording
from tests.record._recordings import DATA_TABLES, Recording, book_state, table_frames


@pytest.mark.parametrize("name", ["clob_recording", "us_recording"])
def test_replay_reproduces_final_books(name: str, request: pytest.FixtureRequest) -> None:
    """Every replayed book has the live feed's final levels and status."""
    rec: Recording = request.getfixturevalue(name)
    feed = replay(rec.directory)
    assert len(rec.books) > 0
    assert book_state(feed) == rec.books


@pytest.mark.parametrize("name", ["clob_recording", "us_recording"])
def test_replay_reproduces_tables_row_for_row(name: str, request: pytest.FixtureRequest) -> None:
    """Data tables (receive times included) equal the live feed's, row for row."""
    rec: Recording = request.getfixturevalue(name)
    replayed = table_frames(replay(rec.directory))
    for table in DATA_TABLES:
        assert replayed[table].equals(rec.tables[table]), table
    assert rec.tables["quotes"].height > 0
    assert rec.tables["trades"].height > 0


def test_clob_replay_verifies_the_same_hashes(clob_recording: Recording) -> None:
    """Stored market parameters let replay verify exactly the hashes the live feed did."""
    live = clob_recording.stats
    stats = replay(clob_recording.directory).stats()
    assert live.books.hashes_verified > 0
    # Every book counter (hashes verified/unverified, BBO checks, resyncs) matches live.
    assert stats.books == live.books
    assert stats.resyncs == live.resyncs
    assert stats.frames_in == live.frames_in
    assert stats.events_out == live.events_out


def test_us_private_account_replayed(us_recording: Recording) -> None:
    """The private socket's balances and orders come back from the recording too."""
    feed = replay(us_recording.directory, channel="private")
    assert feed.tables.balances.to_polars().equals(us_recording.tables["balances"])
    assert len(feed.tables.trades) == 0  # the markets channel was filtered out


def test_recording_is_self_describing(clob_recording: Recording) -> None:
    """Chunks are hive-partitioned and carry format name, version, venue and schema."""
    paths, notes, meta = list_chunks(clob_recording.directory)
    assert notes == {}
    assert len(paths) == clob_recording.recorder.stats().chunks_written > 1
    assert all(p.parts[-4] == "venue=clob" for p in paths)
    assert all(p.parts[-3].startswith("date=") and p.parts[-2].startswith("hour=") for p in paths)
    assert meta["polyresearch.format"] == "polyresearch-recording"
    assert meta["polyresearch.format_version"] == "1"
    assert '"name": "data"' in meta["polyresearch.schema"]
    frame = scan_recording(clob_recording.directory).collect()
    assert frame.height == clob_recording.recorder.stats().rows_written
    assert set(frame["direction"].unique()) >= {"in", "out", "connect"}
    assert frame["seq"].is_sorted()


def test_duckdb_reads_both_venues(
    clob_recording: Recording, us_recording: Recording, tmp_path: Path
) -> None:
    """DuckDB reads a directory holding both venues' recordings, hive columns included."""
    root = tmp_path / "both"
    shutil.copytree(clob_recording.directory, root, dirs_exist_ok=True)
    shutil.copytree(us_recording.directory, root, dirs_exist_ok=True)
    rows = duckdb.sql(
        f"select venue, count(*), count(distinct connection) "
        f"from read_parquet('{root}/**/*.parquet', hive_partitioning=true) "
        f"group by venue order by venue"
    ).fetchall()
    assert rows == [
        ("clob", clob_recording.recorder.stats().rows_written, 2),
        ("us", us_recording.recorder.stats().rows_written, 2),
    ]
    with pytest.raises(Exception, match="venue"):
        replay(root)  # two venues: replay asks which
    assert book_state(replay(root, venue="us")) == us_recording.books


def test_truncated_recording_replays_whole_chunks(
    clob_recording: Recording, tmp_path: Path
) -> None:
    """A cut-off chunk (temp leftover and a truncated .parquet) is skipped with counted notes."""
    root = tmp_path / "cut"
    shutil.copytree(clob_recording.directory, root)
    paths, _, _ = list_chunks(root)

    def inbound_frames(path: Path) -> int:
        chunk = pl.read_parquet(path)
        return chunk.filter((pl.col("kind") == "frame") & (pl.col("direction") == "in")).height

    # Cut the newest chunk that holds inbound frames (the very last one may hold only the
    # closing markers, and cutting it would lose nothing countable).
    index = max(i for i, p in enumerate(paths) if inbound_frames(p) > 0)
    last = paths[index]
    data = last.read_bytes()
    # What a crash mid-write leaves: a partial hidden temp file; and a copy cut off mid-file.
    (last.parent / f".{last.name}.tmp").write_bytes(data[: len(data) // 2])
    last.write_bytes(data[: len(data) // 2])
    feed = replay(root)
    assert feed.notes["partial_chunks_skipped"] == 1
    assert feed.notes["unreadable_chunks_skipped"] == 1
    whole = pl.concat([pl.read_parquet(p) for i, p in enumerate(paths) if i != index])
    inbound = whole.filter((pl.col("kind") == "frame") & (pl.col("direction") == "in")).height
    assert feed.stats().frames_in == inbound < clob_recording.stats.frames_in


def test_status_markers_replayed(clob_recording: Recording) -> None:
    """Connect and resync status rows come back (their times are the recorded ones)."""
    live = clob_recording.tables
    assert "status" not in live  # status times differ legitimately: compared by content here
    replayed = replay(clob_recording.directory).tables.status.to_polars()

    def content(frame: pl.DataFrame) -> list[tuple[object, ...]]:
        kept = frame.filter(pl.col("event").cast(str).is_in(["connect", "resync"]))
        return sorted(kept.select("event", "asset_id", "channel").cast(str).rows())

    assert content(replayed) == content(clob_recording.status)
    assert any(row[0] == "connect" for row in content(replayed))


def test_a_bad_price_is_a_counted_drop_not_the_end_of_the_replay(tmp_path: Path) -> None:
    """A price no book can key (the decoder passes price text through) is a 'bad_value'
    drop with a resync of its book, and the frames after it still replay."""
    book = (
        '{"event_type":"book","market":"0xm","asset_id":"1","bids":[{"price":"0.4","size":"5"}],'
        '"asks":[],"timestamp":"1757908892350","hash":"x"}'
    )
    change = (
        '{"market":"0xm","price_changes":[{"asset_id":"1","price":"%s","size":"2",'
        '"side":"BUY"}],"timestamp":"1757908892351","event_type":"price_change"}'
    )
    path = tmp_path / "frames.txt"
    path.write_text("\n".join([book, change % "0.5.5", book, change % "0.45"]) + "\n")
    feed = replay(path)
    stats = feed.stats()
    assert stats.store.drops_recorded == 1
    assert stats.books.resyncs_requested == 1
    status = feed.tables.status.to_polars()
    details = status.filter(status["event"] == "drop")["detail"].to_list()
    assert details == ["bad_value: not a decimal price: '0.5.5'"]
    # The second book made it LIVE again and the good change applied on top of it.
    assert feed.book("1").status.value == "LIVE"
    assert feed.book("1").best_bid() == ("0.45", "2")
