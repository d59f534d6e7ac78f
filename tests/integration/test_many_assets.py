"""ClobFeed at scale: 5,000 assets (2,500 markets) sharded over 25 connections of the simulator."""

from __future__ import annotations

from decimal import Decimal

from polyresearch.feed import DEFAULT_MAX_ASSETS_PER_CONNECTION, ClobFeed
from polyresearch.simulator import ModelConfig, Simulator
from polyresearch.state.books import MarketParams
from polyresearch.state.orderbook import BookStatus
from tests.conftest import wait_until

MARKETS = 2500
ASSETS = 2 * MARKETS
CONNECTIONS = ASSETS // DEFAULT_MAX_ASSETS_PER_CONNECTION  # 25


def _params(sim: Simulator) -> dict[str, MarketParams]:
    params = {}
    for market in sim.markets():
        p = MarketParams(
            min_order_size=format(market.min_order_size.normalize(), "f"),
            neg_risk=market.neg_risk,
            token_ids=market.token_ids,
        )
        for token in market.token_ids:
            params[token] = p
    return params


def _all_live(feed: ClobFeed, tokens: list[str]) -> bool:
    books = feed.books
    return all(t in books and books[t].status is BookStatus.LIVE for t in tokens)


def _mismatched(feed: ClobFeed, sim: Simulator, tokens: list[str]) -> list[str]:
    """Tokens whose local book is not LIVE or differs from the simulator's, level by level."""
    bad = []
    for token in tokens:
        book = feed.books[token] if token in feed.books else None
        if book is None or book.status is not BookStatus.LIVE:
            bad.append(token)
            continue
        truth = sim.book(token)
        bids = [(Decimal(p), Decimal(s)) for p, s in book.levels("bid")]
        asks = [(Decimal(p), Decimal(s)) for p, s in book.levels("ask")]
        if bids != list(truth.bids) or asks != list(truth.asks):
            bad.append(token)
    return bad


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
        feed = ClobFeed(assets=tokens, url=sim.clob_market_url, params=_params(sim))
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
            await wait_until(lambda: not _mismatched(feed, sim, tokens), within=30)
            stats = feed.stats()
        assert stats.books.live == ASSETS
        assert stats.books.bbo_mismatches == 0
        assert stats.books.bbo_checks >= 3000
        assert stats.books.hashes_unverified == 0
        assert stats.books.hashes_verified >= ASSETS  # every initial book, at least
        assert stats.dropped == {}
        assert stats.reconnects == 0
        assert stats.resyncs == 0
