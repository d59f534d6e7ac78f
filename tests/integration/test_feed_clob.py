"""ClobFeed against the simulator over real sockets: books equal ground truth, hashes verify."""

from __future__ import annotations

import pytest

from polyresearch.feed import ClobFeed, Feed
from polyresearch.protocol.events import Trade
from polyresearch.simulator import Simulator
from polyresearch.state.orderbook import BookStatus
from tests._truth import clob_converged, market_params
from tests.conftest import wait_until


@pytest.mark.slow
async def test_fifty_markets_converge_to_ground_truth() -> None:
    """50 markets, thousands of events: every local book equals the simulator's, 0 mismatches."""
    async with Simulator(seed=11, markets=50, rate=2000) as sim:
        tokens = [t for m in sim.markets() for t in m.token_ids]
        feed = ClobFeed(
            assets=tokens, url=sim.clob_market_url, params=market_params(sim), hash_every=1
        )
        async with feed:
            await feed.wait_for(lambda f: f.stats().books.changes_applied >= 8000, within=60)
            sim.pause()
            await wait_until(lambda: clob_converged(feed, sim, tokens), 20)
            stats = feed.stats()
        assert stats.books.bbo_mismatches == 0
        assert stats.books.hashes_unverified == 0
        assert stats.books.hashes_verified >= 1000
        assert stats.dropped == {}
        assert len(feed.tables.book_updates) > 8000
        assert len(feed.tables.quotes) > 0
        assert feed.stats().running is False


async def test_server_restart_reconverges_and_status_shows_the_gap() -> None:
    """After a simulator restart the feed reconnects, books re-converge, status has the gap."""
    async with Simulator(seed=5, markets=5, rate=500) as sim:
        tokens = [t for m in sim.markets() for t in m.token_ids]
        feed = ClobFeed(
            assets=tokens, url=sim.clob_market_url, params=market_params(sim), hash_every=1
        )
        async with feed:
            await feed.wait_for(lambda f: f.stats().books.changes_applied >= 200, within=30)
            await sim.restart(downtime=0.2)
            await feed.wait_for(lambda f: f.stats().reconnects >= 1, within=30)
            await feed.wait_for(lambda f: f.stats().books.changes_applied >= 600, within=30)
            sim.pause()
            await wait_until(lambda: clob_converged(feed, sim, tokens), 20)
            status = feed.tables.status.to_polars()
        events = status["event"].cast(str).to_list()
        assert events.count("connect") >= 2
        assert "disconnect" in events
        assert feed.stats().books.bbo_mismatches == 0


async def test_runtime_subscribe_and_unsubscribe() -> None:
    """Assets added at runtime get books without reconnecting; removed ones stop updating."""
    async with Simulator(seed=7, markets=6, rate=300) as sim:
        markets = sim.markets()
        first = list(markets[0].token_ids)
        later = list(markets[1].token_ids)
        feed = ClobFeed(assets=first, url=sim.clob_market_url, params=market_params(sim))
        async with feed:
            await feed.wait_for(lambda f: all(t in f.books for t in first), within=20)
            await feed.subscribe(later)
            await feed.wait_for(
                lambda f: all(t in f.books and f.books[t].status is BookStatus.LIVE for t in later),
                within=20,
            )
            await feed.unsubscribe(first)
            assert set(feed.subscribed) == set(later)
            assert feed.stats().reconnects == 0
            assert all(feed.books[t].status is BookStatus.EMPTY for t in first)


async def test_book_snapshots_sampled_on_a_timer_and_lag_reported() -> None:
    """snapshot_interval writes top-N levels of live books; stats() reports the feed's lag."""
    async with Simulator(seed=8, markets=3, rate=200) as sim:
        tokens = [t for m in sim.markets() for t in m.token_ids]
        feed = ClobFeed(
            assets=tokens, url=sim.clob_market_url, snapshot_interval=0.05, snapshot_depth=2
        )
        async with feed:
            await feed.wait_for(lambda f: len(f.tables.book_snapshots) >= 100)
            frame = feed.tables.book_snapshots.to_polars()
            store = feed.stats().store
        assert frame["level"].max() == 1
        assert set(frame["side"].cast(str).unique()) == {"bid", "ask"}
        assert frame["asset_id"].cast(str).n_unique() == len(tokens)
        assert store.lag_ms_p50 is not None and store.lag_ms_max is not None
        assert store.lag_ms_max >= store.lag_ms_p50


async def test_clob_factory_resolves_slugs_and_verifies_hashes() -> None:
    """polyresearch.clob(markets=[slug]) follows both tokens with hash parameters from REST."""
    import asyncio

    import polyresearch

    async with Simulator(seed=12, markets=4, rate=300) as sim:
        market = sim.markets()[1]
        feed = await asyncio.to_thread(
            polyresearch.clob,
            markets=[market.slug],
            url=sim.clob_market_url,
            rest_url=sim.http_url,
            hash_every=1,
        )
        assert set(feed.subscribed) == set(market.token_ids)
        async with feed:
            await feed.wait_for(lambda f: f.stats().books.hashes_verified >= 20)
        assert feed.stats().books.hashes_unverifiable == 0
        assert feed.stats().books.hashes_unverified == 0


async def test_a_store_error_drops_one_event_not_the_stream(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A store bug on one event is a counted, logged ``state_error`` drop: the transport sees
    no failure, the events after it (of the same frame too) are applied, none twice."""
    async with Simulator(seed=9, markets=3, rate=400) as sim:
        tokens = [t for m in sim.markets() for t in m.token_ids]
        feed = ClobFeed(assets=tokens, url=sim.clob_market_url, params=market_params(sim))
        trade = feed.store._trade
        failed: list[object] = []

        def flaky(event: Trade, recv_ns: int) -> None:
            if not failed:
                failed.append(event)
                raise RuntimeError("store bug")
            trade(event, recv_ns)

        feed.store._trade = flaky  # type: ignore[method-assign]
        async with feed:
            await feed.wait_for(lambda f: len(f.tables.trades) >= 20, within=30)
            stats = feed.stats()
        assert len(failed) == 1
        assert stats.dropped == {"state_error": 1}
        assert stats.connections[0].hook_errors == 0  # the transport saw no failure
        assert stats.reconnects == 0
        assert "applying a last_trade_price event failed" in caplog.text
        assert all(feed.books[t].status is BookStatus.LIVE for t in tokens)
        # Every other trade event applied exactly once: one row each, none twice.
        decoded = sum(
            c.decoder.stats().events_by_kind.get("last_trade_price", 0) for c in feed._channels
        )
        assert len(feed.tables.trades) == decoded - 1


async def test_follow_new_markets_subscribes_and_lets_go_on_resolution() -> None:
    """Announced markets are followed (books equal ground truth); resolved ones are dropped."""
    from polyresearch.simulator import ModelConfig

    # ~0.8 resolutions a second at this rate, each opening a new market.
    config = ModelConfig(lifecycle_rate=0.002)
    async with Simulator(seed=21, markets=3, rate=400, model_config=config) as sim:
        first = [t for m in sim.markets() for t in m.token_ids]
        feed = ClobFeed(
            assets=first, url=sim.clob_market_url, params=market_params(sim), hash_every=1
        )
        follower = ClobFeed(assets=first, url=sim.clob_market_url, follow_new_markets=True)
        assert follower.custom_features and not feed.custom_features
        async with feed, follower:

            def progressed(f: Feed) -> bool:
                # Two followed books live, and at least one followed market let go already.
                live_books = sum(
                    f.books[t].status is BookStatus.LIVE
                    for t in f.subscribed
                    if t not in first and t in f.books
                )
                events = f.tables.status.to_polars()["event"].cast(str).to_list()
                return live_books >= 2 and "unsubscribe" in events

            await follower.wait_for(progressed, within=30, poll=0.1)
            sim.pause()
            live = {m.condition_id: m.token_ids for m in sim.markets()}

            def settled() -> bool:
                # Pending (un)subscriptions done: followed = the announced markets still live,
                # and the feed subscribes exactly to those plus the ones it was given.
                followed = follower.followed_markets
                tokens = {t for c in followed if c in live for t in live[c]}
                return set(followed) <= set(live) and set(follower.subscribed) == {*first, *tokens}

            await wait_until(settled, 10)
            followed = follower.followed_markets
            tokens = [t for c in followed for t in live[c]]
            assert followed
            await wait_until(lambda: clob_converged(follower, sim, tokens), 20)
            stats = follower.stats()
        events = follower.tables.status.to_polars()["event"].cast(str).to_list()
        assert events.count("subscribe") >= len(followed)
        assert stats.books.bbo_mismatches == 0 and stats.dropped == {}
        assert stats.reconnects == 0
        assert feed.followed_markets == ()
        assert set(feed.subscribed) == set(first)  # the plain feed followed nothing new


async def test_follow_new_markets_predicate_picks_and_a_failing_one_is_contained(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Only markets the predicate accepts are followed; one that raises costs only that market."""
    from polyresearch.protocol.events import NewMarket
    from polyresearch.simulator import ModelConfig

    seen: list[str] = []

    def pick(market: NewMarket) -> bool:
        seen.append(market.slug)
        if len(seen) == 1:
            raise RuntimeError("user bug")
        return len(seen) == 2  # only the second announced market

    config = ModelConfig(lifecycle_rate=0.004)
    async with Simulator(seed=22, markets=3, rate=400, model_config=config) as sim:
        first = [t for m in sim.markets() for t in m.token_ids]
        feed = ClobFeed(assets=first, url=sim.clob_market_url, follow_new_markets=pick)
        async with feed:
            await feed.wait_for(lambda f: len(seen) >= 4, within=30)
            second = next(m for m in sim.markets(include_resolved=True) if m.slug == seen[1])
            await feed.wait_for(
                lambda f: second.condition_id in f.followed_markets or second.resolved,
                within=10,
            )
            subscribed = set(feed.subscribed)
            stats = feed.stats()
        announced = {m.slug: m for m in sim.markets(include_resolved=True)}
        others = {t for s in seen if s != seen[1] for t in announced[s].token_ids}
        assert not subscribed & others  # rejected and failed markets were never followed
        assert sum("predicate failed" in r.getMessage() for r in caplog.records) == 1
        assert stats.dropped == {} and stats.reconnects == 0
