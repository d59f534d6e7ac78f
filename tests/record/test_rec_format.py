"""The recorder's chunking, rotation, crash behaviour and file format, without sockets."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from polyresearch.errors import ConfigError
from polyresearch.record import Recorder, list_chunks, replay, scan_recording
from polyresearch.record.format import NS_PER_HOUR

T0 = 1_795_000_000_000_000_000
TRADE = (
    '{"event_type":"last_trade_price","market":"0xm","asset_id":"1","price":"0.5",'
    '"size":"%d","side":"BUY","timestamp":"1"}'
)


def _feed(rec: Recorder, n: int, start: int = T0, step: int = 1000) -> None:
    for i in range(n):
        rec.on_frame(
            direction="in",
            ts_ns=start + i * step,
            connection="clob-market-0",
            epoch=1,
            data=TRADE % (i + 1),
        )


def test_chunks_rotate_by_rows_and_bytes(tmp_path: Path) -> None:
    """A chunk is written every chunk_rows rows, or sooner when chunk_bytes is reached."""
    with Recorder(tmp_path / "rows", venue="clob", chunk_rows=10) as rec:
        _feed(rec, 25)
    assert rec.stats().chunks_written == 3
    assert [pq.read_metadata(p).num_rows for p in list_chunks(tmp_path / "rows")[0]] == [10, 10, 5]
    with Recorder(tmp_path / "bytes", venue="clob", chunk_bytes=len(TRADE) * 4) as rec:
        _feed(rec, 12)
    assert rec.stats().chunks_written >= 3


def test_total_size_cap_drops_oldest_chunks_counted(tmp_path: Path) -> None:
    """Past max_total_bytes the oldest chunks go; rows and bytes dropped are counted."""
    with Recorder(tmp_path, venue="clob", chunk_rows=10, max_total_bytes=6000) as rec:
        _feed(rec, 200)
    stats = rec.stats()
    paths = list_chunks(tmp_path)[0]
    on_disk = sum(p.stat().st_size for p in paths)
    assert stats.chunks_rotated_out > 0
    assert len(paths) == stats.chunks_written - stats.chunks_rotated_out
    assert on_disk == stats.bytes_written - stats.bytes_rotated_out <= 6000
    assert stats.rows_rotated_out == stats.rows_written - len(replay(tmp_path).tables.trades)
    # The newest chunks are kept: the last trade recorded is the last one replayed.
    assert replay(tmp_path).tables.trades.to_polars()["size"][-1] == 200.0


def test_crash_loses_only_the_open_chunk(tmp_path: Path) -> None:
    """Without close(), written chunks replay and only the buffered rows are lost."""
    rec = Recorder(tmp_path, venue="clob", chunk_rows=8)
    _feed(rec, 20)  # 16 rows in two chunks, 4 still buffered when the "process dies"
    rec.drain()  # the writer thread finished the full chunks; the open one stays in memory
    assert rec.stats().rows_buffered == 4
    assert len(replay(tmp_path).tables.trades) == 16


def test_hour_change_starts_a_new_partition(tmp_path: Path) -> None:
    """Rows of two UTC hours go to two hour= partitions, never one chunk spanning both."""
    start = (T0 // NS_PER_HOUR + 1) * NS_PER_HOUR - 3
    with Recorder(tmp_path, venue="clob") as rec:
        _feed(rec, 6, start=start, step=1)
    hours = sorted({p.parts[-2] for p in list_chunks(tmp_path)[0]})
    assert len(hours) == 2
    frame = scan_recording(tmp_path).collect()
    assert frame.group_by("hour").len().sort("hour")["len"].to_list() == [3, 3]


def test_markers_and_outgoing_frames_are_rows(tmp_path: Path) -> None:
    """Markers and outgoing frames are kept with their connection, epoch and channel."""
    with Recorder(tmp_path, venue="us") as rec:
        rec.on_marker(kind="connect", ts_ns=T0, connection="us-private-1", epoch=2, detail="")
        rec.on_frame(direction="out", ts_ns=T0 + 1, connection="us-private-1", epoch=2, data="{}")
    rows = scan_recording(tmp_path).select("kind", "direction", "channel", "epoch").collect()
    assert rows.rows() == [("marker", "connect", "private", 2), ("frame", "out", "private", 2)]


def test_newer_format_version_is_refused(tmp_path: Path) -> None:
    """A chunk from a future format version is a clear error, not a silent misread."""
    with Recorder(tmp_path, venue="clob", metadata={"polyresearch.format_version": "99"}) as rec:
        _feed(rec, 1)
    with pytest.raises(ConfigError, match="newer"):
        replay(tmp_path)


def test_frame_file_replay_with_default_params(tmp_path: Path) -> None:
    """A plain frame file replays like `decode` reads it; blank lines are skipped."""
    path = tmp_path / "frames.txt"
    path.write_text("PONG\n\n" + TRADE % 7 + "\n")
    feed = replay(path, venue="clob", channel="market")
    assert feed.events_by_kind() == {"pong": 1, "last_trade_price": 1}
    assert feed.tables.trades.to_polars()["recv_ns"].dt.epoch("ns").to_list() == [3]


def test_paced_replay_sleeps_for_recorded_time_over_speed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """speed=k sleeps (a virtual clock here) until recorded time / k has passed."""
    import sys

    replay_module = sys.modules["polyresearch.record.replay"]
    clock = [0.0]
    monkeypatch.setattr(replay_module, "_clock", lambda: clock[0])
    monkeypatch.setattr(replay_module, "_sleep", lambda s: clock.__setitem__(0, clock[0] + s))
    with Recorder(tmp_path, venue="clob") as rec:
        _feed(rec, 129, step=50_000_000)  # 128 steps of 50 ms: 6.4 s of recorded time
    feed = replay(tmp_path, speed=4.0)
    assert len(feed.tables.trades) == 129
    # Pacing is checked every 64 rows: the last check (row 128) is due at 6.4 s / 4.
    assert clock[0] == pytest.approx(1.6)


def test_replay_feed_has_the_live_read_api(tmp_path: Path) -> None:
    """book(asset), books, tables and stats() behave as on a live feed."""
    book = (
        '{"event_type":"book","market":"0xm","asset_id":"9","timestamp":"5","hash":"h",'
        '"bids":[{"price":"0.4","size":"10"}],"asks":[{"price":"0.6","size":"3"}]}'
    )
    with Recorder(tmp_path, venue="clob") as rec:
        rec.on_frame(direction="in", ts_ns=T0, connection="clob-market-0", epoch=1, data=book)
    feed = replay(tmp_path)
    assert "9" in feed.books
    assert feed.book("9").best_bid() == ("0.4", "10")
    assert feed.book("9").best_ask() == ("0.6", "3")
    assert feed.stats().books.snapshots == 1
    assert feed.tables.quotes.to_polars()["mid"].to_list() == [0.5]


def test_progress_bar_counts_every_row(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With tqdm importable, replay(progress=True) advances a bar by every recorded row."""
    import sys
    import types

    bars: list[FakeBar] = []

    class FakeBar:
        def __init__(self, *, total: int, unit: str, desc: str, **_: object) -> None:
            self.total, self.done, self.closed = total, 0, False
            bars.append(self)

        def update(self, n: int) -> None:
            self.done += n

        def close(self) -> None:
            self.closed = True

    module = types.ModuleType("tqdm.auto")
    module.tqdm = FakeBar  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "tqdm.auto", module)
    with Recorder(tmp_path, venue="clob", chunk_rows=7) as rec:
        _feed(rec, 30)
    replay(tmp_path, progress=True)
    assert [(b.total, b.done, b.closed) for b in bars] == [(30, 30, True)]
    replay(tmp_path)  # small replays show no bar by default
    assert len(bars) == 1
