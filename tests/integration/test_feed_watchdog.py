"""The per-asset staleness watchdog: live heartbeats but no data → resubscribe, counted."""

from __future__ import annotations

from polyresearch.feed import ClobFeed
from polyresearch.simulator import Simulator
from polyresearch.simulator.faults import Target
from polyresearch.state.orderbook import BookStatus
from tests.conftest import wait_until


async def test_stalled_data_with_live_heartbeats_is_resubscribed_not_reconnected() -> None:
    """A stall (PONGs keep coming) triggers a resubscribe, a 'stale' status row, no reconnect."""
    async with Simulator(seed=9, markets=3, rate=300) as sim:
        tokens = [t for m in sim.markets() for t in m.token_ids]
        feed = ClobFeed(
            assets=tokens, url=sim.clob_market_url, data_timeout=0.4, heartbeat_interval=0.1
        )
        async with feed:
            await feed.wait_for(
                lambda f: all(t in f.books and f.books[t].status is BookStatus.LIVE for t in tokens)
            )
            sim.faults.stall(Target(venue="clob", path="/ws/market"))
            await feed.wait_for(lambda f: f.watchdog_redrives[1] >= 1, within=20)
            sim.faults.clear()
            applied = feed.stats().books.changes_applied
            await feed.wait_for(lambda f: f.stats().books.changes_applied > applied + 50)
            stats = feed.stats()
        assert stats.reconnects == 0
        events = feed.tables.status.to_polars()["event"].cast(str).to_list()
        assert "stale" in events


async def test_asset_without_snapshot_is_redriven_a_bounded_number_of_times() -> None:
    """An asset that never gets a book is resubscribed at most max_redrives times."""
    async with Simulator(seed=2, markets=2, rate=100) as sim:
        tokens = list(sim.markets()[0].token_ids)
        ghost = "1" * 77
        feed = ClobFeed(
            assets=[*tokens, ghost], url=sim.clob_market_url, snapshot_timeout=0.2, max_redrives=2
        )
        async with feed:
            await feed.wait_for(lambda f: f.watchdog_redrives[0] >= 2, within=20)
            await wait_until(lambda: feed.books[tokens[0]].status is BookStatus.LIVE)
            # Give the watchdog time to (wrongly) redrive again; it must stay at the bound.
            await feed.wait_for(lambda f: len(f.tables.book_updates) > 200, within=20)
            assert feed.watchdog_redrives[0] == 2
            # Per-tick work is the pending assets: a LIVE book leaves the watch list, the
            # ghost (still EMPTY, out of redrives) stays.
            assert tokens[0] not in feed._watch
            assert ghost in feed._watch
        assert ghost not in feed.books or feed.books[ghost].status is BookStatus.EMPTY
