"""ClobFeed at scale: 5,000 assets (2,500 markets) sharded over 25 connections of the simulator."""

from __future__ import annotations

from polyresearch.feed import DEFAULT_MAX_ASSETS_PER_CONNECTION, ClobFeed
from polyresearch.simulator import ModelConfig, Simulator
from polyresearch.state.orderbook import BookStatus
from tests._truth import clob_converged, market_params
from tests.conftest import wait_until

MARKETS = 2500
ASSETS = 2 * MARKETS
CONNECTIONS = ASSETS // DEFAULT_MAX_ASSETS_PER_CONNECTION  # 25


def _all_live(feed: ClobFeed, tokens: list[str]) -> bool:
    books = feed.books
    return all(t in books and books[t].status is BookStatus.LIVE for t in tokens)


async def test_five_thousand_assets_on_25_connections_equal_ground_truth() -> None:
    """5,000 assets on 25 connections: all books LIVE, flow goes on, books equal the simulator's."""
    # No market lifecycle: a resolution mid-test is not what this test is about (it is covered
    # elsewhere), and without custom features the feed is not told about it.
    config = ModelConfig(lifecycle_rate=0.0)
    async with Simulator(
        seed=41, markets=MARKETS, rate=1500, model_config=config, venues=["clob"]
    ) as sim:
        tokens = [t for m in sim.markets() for t in m.token_ids]
        assert len(tokens) == ASSETS
        feed = ClobFeed(assets=tokens, url=sim.clob_market_url, params=market_params(sim))
        async with feed:
            # Every asset gets its book from an initial dump.
            await wait_until(lambda: _all_live(feed, tokens), within=60)
            connections = feed.stats().connections
            assert len(connections) == CONNECTIONS
            assert {c.state for c in connections} == {"connected"}
            assert sorted(feed.subscribed) == sorted(tokens)
            assert sim.stats().connections_open["clob"] == CONNECTIONS
            # The feed keeps going after the dumps, on every connection.
            before = {c.name: c.frames_in for c in connections}
            start = feed.stats().books.changes_applied
            await wait_until(lambda: feed.stats().books.changes_applied >= start + 3000, within=60)
            grew = [c.name for c in feed.stats().connections if c.frames_in > before[c.name]]
            assert len(grew) == CONNECTIONS
            sim.pause()
            await wait_until(lambda: clob_converged(feed, sim, tokens), within=30)
            stats = feed.stats()
        assert stats.books.live == ASSETS
        assert stats.books.bbo_mismatches == 0
        assert stats.books.bbo_checks >= 3000
        assert stats.books.hashes_unverified == 0
        assert stats.books.hashes_verified >= ASSETS  # every initial book, at least
        assert stats.dropped == {}
        assert stats.reconnects == 0
        assert stats.resyncs == 0
