"""Script mode: no running loop, the feed runs in its own thread against a simulator process."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest

from polyresearch.feed import ClobFeed


@pytest.fixture
def simulator_process() -> Iterator[dict[str, object]]:
    with subprocess.Popen(
        [
            sys.executable,
            "-m",
            "polyresearch.simulator",
            "--markets",
            "3",
            "--seed",
            "4",
            "--rate",
            "300",
        ],
        stdout=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            assert proc.stdout is not None
            yield json.loads(proc.stdout.readline())
        finally:
            proc.terminate()
            assert proc.wait(10) == 0


def test_thread_mode_streams_and_stops_cleanly(simulator_process: dict[str, object]) -> None:
    """Without a loop, start() runs a thread; read() sees data; stop leaves no thread behind."""
    clob = simulator_process["clob"]
    assert isinstance(clob, dict)
    before = {t.name for t in threading.enumerate()}
    with ClobFeed(assets=clob["asset_ids"], url=clob["market_url"]) as feed:
        deadline = time.monotonic() + 20
        while feed.read(lambda: len(feed.tables.book_updates)) < 100:
            assert time.monotonic() < deadline, "no data within 20 s"
            time.sleep(0.05)
        frame = feed.read(feed.tables.book_updates.to_polars)
        assert frame.height >= 100
        assert any(t.name == "polyresearch-clob" for t in threading.enumerate())
    after = {t.name for t in threading.enumerate()}
    assert after == before
    assert feed.running is False
