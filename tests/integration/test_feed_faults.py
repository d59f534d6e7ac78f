"""Feed under simulator faults (real sockets): keeps running, counts, re-converges, shows gaps."""

from __future__ import annotations

import pytest

from polyresearch.feed import ClobFeed
from polyresearch.simulator import ModelConfig, Simulator
from polyresearch.simulator.faults import Target
from tests._truth import (
    clob_converged,
    clob_diverged,
    market_params,
    settled,
    skip_deltas_until_detected,
)
from tests.conftest import wait_until

MARKET = Target(venue="clob", path="/ws/market")
#: No market resolves mid-test: the followed set stays the simulator's live set.
STEADY = ModelConfig(lifecycle_rate=0.0)


def _feed(sim: Simulator, **kw: object) -> tuple[ClobFeed, list[str]]:
    params = market_params(sim)
    return ClobFeed(
        assets=list(params), url=sim.clob_market_url, params=params, hash_every=1, **kw
    ), list(params)  # type: ignore[arg-type]


async def _settle(feed: ClobFeed, sim: Simulator, tokens: list[str]) -> None:
    sim.pause()
    await wait_until(lambda: clob_converged(feed, sim, tokens), 20)


async def test_skipped_delta_is_detected_resynced_and_marked() -> None:
    """A lost price_change that leaves the book wrong is found on the hash schedule and resynced.

    The default ``hash_every`` (one message in 16 per asset): a lasting divergence may go
    unseen for a few messages, never for good (fault 10 of the fault suite checks
    ``hash_every=1``). The model is stepped by hand: a lost delta the venue's own post-trade
    book or a later same-level entry heals is not a failure to detect (see
    :func:`tests._truth.skip_deltas_until_detected`).
    """
    async with Simulator(seed=31, markets=4, rate=0, model_config=STEADY) as sim:
        params = market_params(sim)
        feed = ClobFeed(assets=list(params), url=sim.clob_market_url, params=params)
        tokens = list(params)
        async with feed:
            await wait_until(lambda: feed.stats().books.live == len(tokens), 20)
            sim.advance(100)
            await settled(feed, sim)
            assert not clob_diverged(feed, sim)
            await skip_deltas_until_detected(feed, sim, MARKET, at_once=False)
            sim.advance(300)
            await _settle(feed, sim, tokens)
            events = feed.tables.status.to_polars()["event"].cast(str).to_list()
        assert "resync" in events
        stats = feed.stats()
        assert stats.books.bbo_mismatches + stats.books.hashes_unverified >= 1
        assert stats.reconnects == 0


@pytest.mark.parametrize(
    ("fault", "reason"),
    [("malformed", "not_json"), ("unknown_event", "unknown_event"), ("oversized", "oversized")],
)
async def test_bad_frames_are_counted_drops_and_the_stream_goes_on(fault: str, reason: str) -> None:
    """Malformed, unknown and oversized frames become counted drops and 'drop' status rows."""
    async with Simulator(seed=32, markets=3, rate=400) as sim:
        feed, tokens = _feed(sim, max_frame_bytes=64 * 1024)
        async with feed:
            await feed.wait_for(lambda f: f.stats().books.changes_applied >= 50)
            assert sim.faults.inject(fault, MARKET, size=100_000) >= 1
            await feed.wait_for(lambda f: f.stats().dropped.get(reason, 0) >= 1, within=20)
            before = feed.stats().books.changes_applied
            await feed.wait_for(lambda f: f.stats().books.changes_applied > before + 50)
            await _settle(feed, sim, tokens)
            status = feed.tables.status.to_polars()
        drops = status.filter(status["event"].cast(str) == "drop")["detail"].cast(str).to_list()
        assert reason in drops
        assert feed.stats().reconnects == 0


async def test_dropped_connection_and_array_bursts_reconverge() -> None:
    """A TCP reset mid-stream and bursts of array envelopes: books still equal ground truth."""
    async with Simulator(seed=33, markets=4, rate=600) as sim:
        feed, tokens = _feed(sim)
        async with feed:
            await feed.wait_for(lambda f: f.stats().books.changes_applied >= 100)
            sim.faults.burst_arrays(MARKET, events=60, size=4)
            assert sim.faults.drop(MARKET) >= 1
            await feed.wait_for(lambda f: f.stats().reconnects >= 1, within=20)
            before = feed.stats().books.changes_applied
            await feed.wait_for(lambda f: f.stats().books.changes_applied > before + 100)
            await _settle(feed, sim, tokens)
        assert feed.stats().books.bbo_mismatches == 0
        events = feed.tables.status.to_polars()["event"].cast(str).to_list()
        assert "disconnect" in events and events.count("connect") >= 2


async def test_missing_event_type_book_and_midstream_book_are_applied() -> None:
    """A book without event_type and a mid-stream book are both applied as snapshots."""
    async with Simulator(seed=34, markets=3, rate=300) as sim:
        feed, tokens = _feed(sim)
        async with feed:
            await feed.wait_for(lambda f: f.stats().books.changes_applied >= 50)
            snapshots = feed.stats().books.snapshots
            sim.faults.inject("missing_event_type", MARKET)
            sim.faults.inject("midstream_book", MARKET)
            await feed.wait_for(lambda f: f.stats().books.snapshots >= snapshots + 2, within=20)
            await _settle(feed, sim, tokens)
        assert feed.stats().dropped == {}
