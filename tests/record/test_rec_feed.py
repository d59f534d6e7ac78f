"""Feed.record / Feed.set_tap: the public way to record a feed (no reaching into privates)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from polyresearch.errors import ConfigError
from polyresearch.feed import ClobFeed
from polyresearch.record import replay
from polyresearch.simulator import Simulator
from tests.record._recordings import clob_params


def test_record_attaches_to_every_connection_once(tmp_path: Path) -> None:
    feed = ClobFeed(
        assets=["1", "2", "3"], url="ws://127.0.0.1:9/ws/market", max_assets_per_connection=1
    )
    recorder = feed.record(tmp_path)
    connections = [c.connection for c in feed._channels]
    assert len(connections) == 3
    assert all(c is not None and c.tap is recorder for c in connections)
    with pytest.raises(ConfigError, match="already has a tap"):
        feed.record(tmp_path / "other")
    feed.set_tap(None)
    assert all(c is not None and c.tap is None for c in connections)
    recorder.close()


def test_record_refuses_a_running_feed_and_closes_with_it(tmp_path: Path) -> None:
    async def main() -> None:
        async with Simulator(seed=5, markets=2, rate=200) as sim:
            feed = ClobFeed(
                assets=[t for m in sim.markets() for t in m.token_ids],
                url=sim.clob_market_url,
                params=clob_params(sim),
            )
            recorder = feed.record(tmp_path)
            async with feed:
                with pytest.raises(ConfigError, match="before start"):
                    feed.record(tmp_path / "late")
                await feed.wait_for(lambda f: len(f.tables.book_updates) > 0, within=30)
            stats = recorder.stats()
            assert recorder.closed
            assert stats.rows_buffered == 0
            assert stats.rows_written == stats.frames + stats.markers > 0
            # the recording replays into the books the feed had
            replayed = replay(tmp_path)
            assert set(replayed.books) == set(feed.books)

    asyncio.run(main())
