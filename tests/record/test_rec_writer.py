"""Chunk writes happen in the recorder's writer thread: bounded, counted, flushed on close."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from polyresearch.record import Recorder, replay
from polyresearch.record import recorder as recorder_module
from tests.record.test_rec_format import _feed


class _SlowDisk:
    """pq.write_table stand-in that holds the writer until the test opens the gate."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.threads: list[str] = []

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        self.threads.append(threading.current_thread().name)
        self.entered.set()
        # A timeout, not a bare wait: were the write inline, the test fails instead of hanging.
        assert self.gate.wait(30), "the gate was never opened"
        self.real(*args, **kwargs)


def test_writes_run_off_the_caller_and_a_full_queue_drops_counted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    disk = _SlowDisk(recorder_module.pq.write_table)
    monkeypatch.setattr(recorder_module.pq, "write_table", disk)
    rec = Recorder(tmp_path, venue="clob", chunk_rows=4, max_pending_bytes=1)
    _feed(rec, 4)  # chunk 1 goes to the writer, which blocks on the "slow disk"
    assert disk.entered.wait(30)
    # The caller is not blocked by the disk: these rows buffer, fill chunk 2, and with chunk 1
    # still pending over max_pending_bytes that chunk is dropped, counted, not waited for.
    _feed(rec, 4, start=2_000_000_000_000_000_000)
    stats = rec.stats()
    assert (stats.chunks_dropped, stats.rows_dropped) == (1, 4)
    assert stats.chunks_written == 0
    disk.gate.set()
    rec.drain()
    assert rec.stats().chunks_written == 1
    # Rows after the hole carry a gap marker first.
    _feed(rec, 2, start=3_000_000_000_000_000_000)
    rec.close()
    stats = rec.stats()
    assert disk.threads and all(name.startswith("polyresearch-recorder") for name in disk.threads)
    assert threading.current_thread().name not in disk.threads
    # 4 rows of chunk 1, then gap marker + 2 rows in the final chunk
    assert (stats.rows_written, stats.frames, stats.chunks_written) == (4 + 1 + 2, 10, 2)
    feed = replay(tmp_path)
    assert feed.notes["recorder_gaps"] == 1
    gap = feed.tables.status.to_polars().filter(pl.col("event") == "gap")
    assert gap.height == 1
    assert str(gap["detail"][0]).startswith("4 rows dropped")
    assert len(feed.tables.trades) == 6


def test_close_writes_everything_and_stops_the_thread(tmp_path: Path) -> None:
    rec = Recorder(tmp_path, venue="clob", chunk_rows=3)
    _feed(rec, 10)
    rec.close()
    stats = rec.stats()
    assert stats.rows_written == 10
    assert stats.chunks_written == 4  # 3 + 3 + 3 + the open chunk of 1 written by close()
    assert (stats.rows_buffered, stats.chunks_pending, stats.rows_dropped) == (0, 0, 0)
    assert not any(
        t.name.startswith("polyresearch-recorder") and t is rec._writer
        for t in threading.enumerate()
    )
    rec.close()  # idempotent
    _feed(rec, 2)  # after close: ignored, not written
    assert rec.stats().rows_written == 10
    assert len(replay(tmp_path).tables.trades) == 10


def test_flush_waits_for_the_disk(tmp_path: Path) -> None:
    with Recorder(tmp_path, venue="clob") as rec:
        _feed(rec, 5)
        rec.flush()
        # flush returns once the chunk is on disk: readable right away
        assert rec.stats().rows_written == 5
        assert len(replay(tmp_path).tables.trades) == 5


def test_a_failed_write_is_counted_and_recording_goes_on(tmp_path: Path) -> None:
    # A plain file where the venue partition directory must go: mkdir fails with an OSError.
    (tmp_path / "venue=clob").write_text("not a directory")
    rec = Recorder(tmp_path, venue="clob", chunk_rows=2)
    _feed(rec, 2)
    rec.drain()
    assert rec.stats().write_errors == 1
    (tmp_path / "venue=clob").unlink()
    _feed(rec, 2, start=2_000_000_000_000_000_000)
    rec.close()
    stats = rec.stats()
    assert (stats.write_errors, stats.rows_written, stats.chunks_written) == (1, 2, 1)
    assert rec._writer.is_alive() is False
