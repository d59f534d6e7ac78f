"""The fault suite of issue 8: every fault, on every venue it applies to, over real sockets.

Each test runs a feed against the simulator, switches one fault on, and checks what the issue
asks of every fault:

- the feed keeps running (or, where the fault is fatal, stops with a clear typed error);
- every book re-converges to the simulator's ground truth, level by level;
- every drop and gap is counted in ``feed.stats()`` and visible in the ``status`` table;
- no row that arrived intact is lost (the simulator's trades on intact connections are all in
  the ``trades`` table).

The numbers in the test names follow the list in issue 8. Faults that exist on one venue only
say why in their docstring.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from polyresearch.config import UsCredentials
from polyresearch.errors import AuthError
from polyresearch.feed import ClobFeed, Feed, UsFeed
from polyresearch.simulator import ModelConfig, Simulator
from polyresearch.simulator.faults import Target
from polyresearch.simulator.market import TickSizeChanged
from polyresearch.state.orderbook import BookStatus
from tests._truth import (
    book_diff,
    clob_diverged,
    market_params,
    missing_trades,
    settled,
    skip_deltas_until_detected,
)
from tests.conftest import UNIT, wait_until

#: No market resolves mid-test: the followed set stays the simulator's live set.
STEADY = ModelConfig(lifecycle_rate=0.0)


@dataclass(frozen=True)
class Venue:
    """How the suite drives one venue: its simulator target, feed and ground-truth keys."""

    name: str
    target: Target

    def simulator(self, **kw: Any) -> Simulator:
        kw.setdefault("model_config", STEADY)
        kw.setdefault("heartbeat_interval", 0.5)
        return Simulator(venues=[self.name], **kw)

    def feed(self, sim: Simulator, **kw: Any) -> Feed:
        if self.name == "clob":
            params = market_params(sim)
            kw.setdefault("hash_every", 1)
            return ClobFeed(assets=list(params), url=sim.clob_market_url, params=params, **kw)
        c = sim.us_credentials
        return UsFeed(
            slugs=[m.slug for m in sim.markets()],
            credentials=UsCredentials(key_id=c.key_id, secret_key=c.secret_key),
            base_url=sim.ws_url,
            **kw,
        )

    def pairs(self, sim: Simulator) -> list[tuple[str, str]]:
        """(local book key, simulator token) for every followed book."""
        if self.name == "clob":
            return [(t, t) for m in sim.markets() for t in m.token_ids]
        return [(m.slug, m.token_ids[0]) for m in sim.markets()]


CLOB = Venue("clob", Target(venue="clob", path="/ws/market"))
US = Venue("us", Target(venue="us", path="/v1/ws/markets"))
BOTH = pytest.mark.parametrize("venue", [CLOB, US], ids=["clob", "us"])


# ------------------------------------------------------------------------------------ helpers


def _diffs(feed: Feed, sim: Simulator, venue: Venue) -> list[str]:
    return [d for key, tok in venue.pairs(sim) if (d := book_diff(feed, sim, key, tok))]


async def converge(feed: Feed, sim: Simulator, venue: Venue, within: float = 20) -> None:
    """Stop the flow and wait until every local book equals ground truth (says which not)."""
    sim.pause()
    deadline = time.monotonic() + within * UNIT
    while diffs := feed.read(lambda: _diffs(feed, sim, venue)):
        if time.monotonic() > deadline:
            raise AssertionError(f"books did not re-converge: {diffs[:3]}")
        await asyncio.sleep(0.02)


async def all_live(feed: Feed, sim: Simulator, venue: Venue, within: float = 20) -> None:
    """Wait until every followed book is LIVE (subscribed and snapshotted)."""
    keys = [key for key, _ in venue.pairs(sim)]
    await feed.wait_for(
        lambda f: all(k in f.books and f.books[k].status is BookStatus.LIVE for k in keys),
        within=within * UNIT,
    )


async def flow(feed: Feed, events: int = 60, within: float = 20) -> None:
    """Wait for ``events`` more book events (level changes or full books) to arrive."""

    def seen(f: Feed) -> int:
        b = f.stats().books
        return int(b.changes_applied + b.snapshots)

    start = feed.read(lambda: seen(feed))
    await feed.wait_for(lambda f: seen(f) >= start + events, within=within * UNIT)


def status(feed: Feed, event: str) -> list[str]:
    """The ``detail`` of every ``status`` row of ``event``."""
    frame = feed.read(feed.tables.status.to_polars)
    rows = frame.filter(frame["event"].cast(str) == event)
    return [str(d) for d in rows["detail"].cast(str).to_list()]


async def intact_window(feed: Feed, sim: Simulator, venue: Venue) -> int:
    """Once the books are live and data flows, the simulator time from which nothing may be lost."""
    await all_live(feed, sim, venue)
    await flow(feed, 20)
    return sim.now_ms()


def assert_no_trade_lost(feed: Feed, sim: Simulator, since_ms: int) -> None:
    total = sum(1 for t in sim.trades() if t.ts_ms >= since_ms)
    assert total > 0, "no trades in the window: the check would be empty"
    assert feed.read(lambda: missing_trades(feed, sim, since_ms=since_ms)) == 0


@pytest.fixture
def auth_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.DEBUG, logger="polyresearch")
    yield caplog


# ------------------------------------------------------------------ 1. connection dropped


@BOTH
async def test_01_connection_dropped_mid_stream(venue: Venue) -> None:
    """A TCP reset mid-stream: reconnect, resubscribe, books re-converge, the gap is marked."""
    async with venue.simulator(seed=101, markets=4, rate=400) as sim:
        feed = venue.feed(sim)
        async with feed:
            await intact_window(feed, sim, venue)
            assert sim.faults.drop(venue.target) == 1
            await feed.wait_for(lambda f: f.stats().reconnects >= 1, within=20)
            since = await intact_window(feed, sim, venue)
            await flow(feed, 100)
            await converge(feed, sim, venue)
            stats = feed.stats()
        assert stats.running and stats.error is None
        assert sim.stats().faults_fired["drop"] == 1
        assert stats.reconnects == 1
        assert len(status(feed, "disconnect")) == 1 and len(status(feed, "connect")) == 2
        assert_no_trade_lost(feed, sim, since)


# ------------------------------------------------------------------ 2. server restarted


@BOTH
async def test_02_server_restarted(venue: Venue) -> None:
    """The exchange restarts (connections refused for a while): the feed comes back by itself."""
    async with venue.simulator(seed=102, markets=4, rate=400) as sim:
        feed = venue.feed(sim)
        async with feed:
            await intact_window(feed, sim, venue)
            await sim.restart(downtime=0.5)
            await feed.wait_for(lambda f: f.stats().reconnects >= 1, within=30)
            since = await intact_window(feed, sim, venue)
            await flow(feed, 100)
            await converge(feed, sim, venue)
            stats = feed.stats()
        assert sim.stats().faults_fired["restart"] == 1
        assert stats.running and stats.error is None and stats.reconnects >= 1
        # Refused connects while the port was closed are counted, not fatal.
        assert sum(c.failed_attempts for c in stats.connections) >= 1
        assert status(feed, "disconnect") and len(status(feed, "connect")) >= 2
        assert_no_trade_lost(feed, sim, since)


# --------------------------------------------------- 3. server stops answering PING (1008)


@BOTH
async def test_03_heartbeat_muted_on_a_quiet_market_recycles_the_socket(venue: Venue) -> None:
    """No PONG (CLOB) / no heartbeat (US) and no data: the socket is stale and is recycled."""
    async with venue.simulator(seed=103, markets=3, rate=300, heartbeat_interval=0.1) as sim:
        kw: dict[str, Any] = {"stale_after": 0.8}
        if venue is CLOB:
            kw["heartbeat_interval"] = 0.1
        feed = venue.feed(sim, **kw)
        async with feed:
            await intact_window(feed, sim, venue)
            sim.pause()  # a quiet market: only heartbeats could prove the socket alive
            sim.faults.mute_heartbeat(venue.target)
            await feed.wait_for(
                lambda f: sum(c.stale_reconnects for c in f.stats().connections) >= 1, within=20
            )
            sim.faults.clear()
            sim.resume()
            await all_live(feed, sim, venue)
            await flow(feed, 60)
            await converge(feed, sim, venue)
            stats = feed.stats()
        assert stats.running and stats.error is None and stats.reconnects >= 1
        assert sim.stats().faults_fired["mute_heartbeat"] >= 1
        assert status(feed, "stale")


@BOTH
async def test_03_heartbeat_muted_while_data_flows_keeps_the_socket(venue: Venue) -> None:
    """No PONG/heartbeat but data keeps coming: the data proves the socket, nothing is torn down."""
    async with venue.simulator(seed=133, markets=3, rate=400, heartbeat_interval=0.1) as sim:
        kw: dict[str, Any] = {"stale_after": 0.5}
        if venue is CLOB:
            kw["heartbeat_interval"] = 0.1
        feed = venue.feed(sim, **kw)
        async with feed:
            since = await intact_window(feed, sim, venue)
            withheld = sim.stats().frames_withheld
            sim.faults.mute_heartbeat(venue.target)
            # Several stale periods' worth of data without a single heartbeat.
            await feed.wait_for(lambda _f: sim.stats().frames_withheld >= withheld + 10)
            await flow(feed, 300)
            await converge(feed, sim, venue)
            stats = feed.stats()
        assert stats.running and stats.error is None and stats.reconnects == 0
        assert not status(feed, "stale")
        assert_no_trade_lost(feed, sim, since)


async def test_03_clob_no_ping_close_1008_when_the_loop_is_blocked() -> None:
    """CLOB: a cell blocks the loop past the venue's PING timeout → 1008 close → reconnect.

    CLOB only: the US venue defines no client heartbeat, so it never closes for a missing one.
    """
    venue = CLOB
    async with venue.simulator(seed=113, markets=3, rate=300, ping_timeout=0.5) as sim:
        feed = await asyncio.to_thread(_started_in_thread, venue, sim, heartbeat_interval=0.1)
        try:
            await intact_window(feed, sim, venue)
            await asyncio.to_thread(feed.read, lambda: time.sleep(1.5 * UNIT))
            await feed.wait_for(lambda f: f.stats().reconnects >= 1, within=20)
            await all_live(feed, sim, venue)
            await flow(feed, 60)
            await converge(feed, sim, venue)
            stats = feed.stats()
        finally:
            await feed.stop()
        assert stats.running and stats.error is None
        assert sim.stats().closes["no_ping"] >= 1
        assert any("1008" in d for d in status(feed, "disconnect"))


# --------------------------------------------------------------- 4. data stalls, beats go on


@BOTH
async def test_04_data_stall_with_live_heartbeats_is_resubscribed(venue: Venue) -> None:
    """Heartbeats continue but no data: the staleness watchdog resubscribes (no reconnect)."""
    async with venue.simulator(seed=104, markets=3, rate=300, heartbeat_interval=0.1) as sim:
        kw: dict[str, Any] = {"data_timeout": 0.6}
        if venue is CLOB:
            kw["heartbeat_interval"] = 0.1
        feed = venue.feed(sim, **kw)
        async with feed:
            await intact_window(feed, sim, venue)
            sim.faults.stall(venue.target)
            await feed.wait_for(lambda f: f.watchdog_redrives[1] >= 1, within=20)  # type: ignore[attr-defined]
            sim.faults.clear()
            since = await intact_window(feed, sim, venue)
            await flow(feed, 60)
            await converge(feed, sim, venue)
            stats = feed.stats()
        assert stats.running and stats.error is None and stats.reconnects == 0
        assert sim.stats().frames_withheld >= 1
        assert any("no data" in d for d in status(feed, "stale"))
        assert_no_trade_lost(feed, sim, since)


# ------------------------------------------------ 5-7. malformed, unknown event, oversized


@BOTH
@pytest.mark.parametrize(
    ("fault", "reason"),
    [("malformed", "not_json"), ("unknown_event", "unknown_event"), ("oversized", "oversized")],
    ids=["05-malformed", "06-unknown_event", "07-oversized"],
)
async def test_05_07_bad_frames_are_counted_drops(venue: Venue, fault: str, reason: str) -> None:
    """A bad frame is a counted drop with a status row; the stream and the books go on."""
    async with venue.simulator(seed=105, markets=3, rate=400) as sim:
        feed = venue.feed(sim, max_frame_bytes=64 * 1024)
        async with feed:
            since = await intact_window(feed, sim, venue)
            assert sim.faults.inject(fault, venue.target, size=100_000) == 1
            await feed.wait_for(lambda f: f.stats().dropped.get(reason, 0) >= 1, within=20)
            await flow(feed, 100)
            await converge(feed, sim, venue)
            stats = feed.stats()
        assert stats.running and stats.error is None and stats.reconnects == 0
        assert reason in status(feed, "drop")
        assert stats.store.drops_recorded == sum(stats.dropped.values())
        assert_no_trade_lost(feed, sim, since)


@BOTH
async def test_07_frame_far_over_the_limit_recycles_the_socket(venue: Venue) -> None:
    """A frame over twice the limit is never buffered: the socket closes (1009) and reconnects."""
    async with venue.simulator(seed=107, markets=3, rate=400) as sim:
        feed = venue.feed(sim, max_frame_bytes=32 * 1024)
        async with feed:
            await intact_window(feed, sim, venue)
            assert sim.faults.inject("oversized", venue.target, size=200_000) == 1
            await feed.wait_for(lambda f: f.stats().reconnects >= 1, within=20)
            since = await intact_window(feed, sim, venue)
            await flow(feed, 60)
            await converge(feed, sim, venue)
            stats = feed.stats()
        assert stats.running and stats.error is None
        assert any("1009" in d for d in status(feed, "disconnect"))
        assert_no_trade_lost(feed, sim, since)


# --------------------------------------------------------------------- 8. array bursts


@BOTH
async def test_08_array_envelope_bursts(venue: Venue) -> None:
    """Events grouped into JSON arrays are unpacked in order: books and trades stay exact."""
    async with venue.simulator(seed=108, markets=4, rate=500) as sim:
        feed = venue.feed(sim)
        async with feed:
            since = await intact_window(feed, sim, venue)
            sim.faults.burst_arrays(venue.target, events=200, size=5)
            await feed.wait_for(lambda _f: sim.stats().frames_sent.get("array", 0) >= 20)
            sim.faults.clear()
            await flow(feed, 60)
            await converge(feed, sim, venue)
            stats = feed.stats()
        assert stats.running and stats.error is None and stats.reconnects == 0
        assert stats.dropped == {} and stats.resyncs == 0
        assert stats.books.bbo_mismatches == 0
        assert_no_trade_lost(feed, sim, since)


# ------------------------------------------------------------ 9. deltas before the first book


def _gap_rows(feed: Feed) -> int:
    frame = feed.tables.status.to_polars()
    return int(frame.filter(frame["event"].cast(str) == "gap")["count"].sum())


async def test_09_clob_deltas_before_the_first_book_are_dropped_and_redriven() -> None:
    """CLOB: the subscription's books are lost, deltas arrive for EMPTY books: counted, redriven.

    CLOB only: a US ``marketData`` is always a full book, there is no delta to come early (the
    US variant below loses the first books and checks the next full book heals them).
    """
    venue = CLOB
    async with venue.simulator(seed=109, markets=3, rate=400) as sim:
        sim.faults.skip_frames(venue.target, kind="book_dump", count=1)
        feed = venue.feed(sim, snapshot_timeout=0.5)
        async with feed:
            await feed.wait_for(lambda f: f.stats().books.changes_dropped_empty >= 5, within=20)
            await all_live(feed, sim, venue)
            since = await intact_window(feed, sim, venue)
            await flow(feed, 60)
            await converge(feed, sim, venue)
            # The watchdog writes the 'gap' rows on its next tick.
            await wait_until(lambda: _gap_rows(feed) == feed.stats().books.changes_dropped_empty)
            stats = feed.stats()
        assert sim.stats().faults_fired["skip_frames"] == 1
        assert stats.running and stats.error is None and stats.reconnects == 0
        # Every dropped delta is in the status table, as 'gap' rows per asset.
        assert _gap_rows(feed) == stats.books.changes_dropped_empty > 0
        # The books came back either through the watchdog (a 'stale' row, redrive counted) or
        # through a venue book after a trade; either way they equal ground truth (above).
        assert feed.watchdog_redrives[0] == len(status(feed, "stale"))  # type: ignore[attr-defined]
        assert_no_trade_lost(feed, sim, since)


async def test_09_us_first_books_lost_then_healed_by_the_next_full_book() -> None:
    """US: the first ``marketData`` of every market vanishes; the next full book replaces it."""
    venue = US
    async with venue.simulator(seed=119, markets=3, rate=400) as sim:
        sim.faults.skip_frames(venue.target, kind="marketData", count=3)
        feed = venue.feed(sim)
        async with feed:
            since = await intact_window(feed, sim, venue)
            await flow(feed, 60)
            await converge(feed, sim, venue)
            stats = feed.stats()
        assert sim.stats().frames_withheld == 3
        assert stats.running and stats.error is None and stats.reconnects == 0
        assert_no_trade_lost(feed, sim, since)


# ------------------------------------------------------------------- 10. a skipped delta


@BOTH
async def test_10_skipped_delta_is_detected_and_resynced(venue: Venue) -> None:
    """CLOB: a lost price_change fails the BBO/hash check → resync. US: the next book heals it."""
    if venue is CLOB:
        await _clob_skipped_delta()
        return
    async with venue.simulator(seed=110, markets=4, rate=500) as sim:
        feed = venue.feed(sim)
        async with feed:
            await intact_window(feed, sim, venue)
            sim.faults.skip_deltas(venue.target, count=3)
            await feed.wait_for(lambda _f: sim.stats().frames_withheld >= 3, within=20)
            # A lost delta shows only on the asset's next message: keep the flow going.
            await flow(feed, 600)
            await converge(feed, sim, venue)
            stats = feed.stats()
        assert stats.running and stats.error is None and stats.reconnects == 0


async def _clob_skipped_delta() -> None:
    """Lose one price_change at a time, the model stepped by hand, until one is detected.

    The venue's own repair makes a lost delta harmless (protocol-clob.md §6.2), and then there
    is nothing to detect: a post-trade ``book`` (sent right after a fill's price_change, about
    one delta in three here) replaces both books, and a later entry that sets the same level
    (absolute sizes) rewrites it. With the model running freely at 500 steps/s, three skipped
    deltas were all healed that way in one CI run, so the test waited 20 s for a detection
    that could not come. Stepped by hand, each lost delta is seen to heal or to be detected,
    and with ``hash_every=1`` the very next message for a diverged book must detect it.
    """
    venue = CLOB
    async with venue.simulator(seed=110, markets=4, rate=0) as sim:
        feed = venue.feed(sim)
        async with feed:
            await all_live(feed, sim, venue)
            sim.advance(20)
            await settled(feed, sim)
            assert not clob_diverged(feed, sim)
            await skip_deltas_until_detected(feed, sim, venue.target, at_once=True)
            sim.advance(200)
            await converge(feed, sim, venue)
            stats = feed.stats()
        assert stats.running and stats.error is None and stats.reconnects == 0
        assert stats.books.bbo_mismatches + stats.books.hashes_unverified >= 1
        assert len(status(feed, "resync")) == stats.resyncs >= 1


# ---------------------------------------------------------------- 11. tick size change


@BOTH
async def test_11_tick_size_change_mid_stream(venue: Venue) -> None:
    """The tick moves to 0.001 near the edges and back: books (and CLOB hashes) stay exact."""
    config = ModelConfig(lifecycle_rate=0.0, volatility=0.02, account_rate=0.0)
    async with venue.simulator(seed=111, markets=2, rate=0, model_config=config) as sim:
        feed = venue.feed(sim)
        async with feed:
            await all_live(feed, sim, venue)
            changes = 0
            for _ in range(100):
                changes += sum(isinstance(c, TickSizeChanged) for c in sim.advance(25))
                await asyncio.sleep(0.005)
                if changes >= 4:
                    break
            assert changes >= 4, "the model never changed a tick size"
            await converge(feed, sim, venue)
            stats = feed.stats()
            ticks = {m.token_ids[0]: m.tick_size for m in sim.markets()}
        assert stats.running and stats.error is None and stats.dropped == {}
        if venue is CLOB:
            assert stats.books.hashes_unverified == 0 and stats.books.bbo_mismatches == 0
            assert stats.books.hashes_verified > 0
            for token, tick in ticks.items():
                assert feed.books[token].tick_size == format(tick.normalize(), "f")


# ---------------------------------------------------- 12. upgrade refused: 401 and 429


async def test_12_us_upgrade_refused_401_is_fatal_and_keeps_the_secret(
    auth_log: pytest.LogCaptureFixture,
) -> None:
    """US: credentials revoked mid-session → reconnect refused 401 → AuthError, no secret leak."""
    venue = US
    async with venue.simulator(seed=112, markets=2, rate=300) as sim:
        secret = sim.us_credentials.secret_key
        feed = venue.feed(sim, private=True)
        async with feed:
            await intact_window(feed, sim, venue)
            sim.faults.refuse_upgrades(status=401)
            sim.faults.drop(Target(venue="us"))
            with pytest.raises(AuthError) as info:
                await feed.wait_for(lambda _f: False, within=20)
            await wait_until(lambda: not feed.running, 20)
            stats = feed.stats()
        error = info.value
        assert "401" in str(error) and isinstance(feed.error, AuthError)
        assert all(c.state == "failed" for c in stats.connections)
        assert stats.error is not None and "401" in stats.error
        errors = status(feed, "error")
        assert errors and all("401" in e for e in errors)
        texts = [str(error), repr(error), repr(stats), repr(feed.credentials), *errors]
        texts += [r.getMessage() for r in auth_log.records]
        assert not [t for t in texts if secret in t]


@BOTH
async def test_12_upgrade_refused_429_backs_off_longer_then_recovers(venue: Venue) -> None:
    """HTTP 429 on reconnect: a longer pause than the normal backoff, then a full recovery."""
    async with venue.simulator(seed=122, markets=3, rate=300) as sim:
        feed = venue.feed(sim, rate_limit_delay=0.4)
        async with feed:
            await intact_window(feed, sim, venue)
            sim.faults.refuse_upgrades(seconds=1.2)
            sim.faults.drop(venue.target)
            await feed.wait_for(lambda f: f.stats().reconnects >= 1, within=30)
            since = await intact_window(feed, sim, venue)
            await flow(feed, 60)
            await converge(feed, sim, venue)
            stats = feed.stats()
        refused = sim.stats().faults_fired["refuse_upgrade"]
        assert stats.running and stats.error is None and refused >= 1
        assert sum(c.rate_limited for c in stats.connections) == refused
        # websockets' own backoff (0.05 s here) would retry ~10 times in 1.2 s; the 429 pause
        # (0.4 s) allows at most 1 + 1.2 / 0.4 attempts. A slower machine only makes fewer.
        assert refused <= 4
        assert status(feed, "disconnect")
        assert_no_trade_lost(feed, sim, since)


# --------------------------------------------------------------------- 13. clock skew


async def test_13_us_clock_skew_beyond_the_signature_window_is_a_clear_auth_error() -> None:
    """US: the venue's clock 60 s off → every signed upgrade is stale → AuthError naming the clock.

    Within the 30 s window (20 s) a reconnect still succeeds.
    """
    venue = US
    async with venue.simulator(seed=113, markets=2, rate=300) as sim:
        feed = venue.feed(sim)
        async with feed:
            await intact_window(feed, sim, venue)
            sim.faults.skew_clock(20_000)
            sim.faults.drop(venue.target)
            await feed.wait_for(lambda f: f.stats().reconnects >= 1, within=20)
            await all_live(feed, sim, venue)
            sim.faults.skew_clock(60_000)
            sim.faults.drop(venue.target)
            with pytest.raises(AuthError) as info:
                await feed.wait_for(lambda _f: False, within=20)
        message = str(info.value)
        # The venue's reason tells a skewed clock from a wrong key.
        assert "401" in message and "timestamp outside the allowed window" in message
        assert sim.stats().venues["us"]["upgrades_refused_401"] >= 1


async def test_13_clob_clock_skew_only_shifts_venue_timestamps() -> None:
    """CLOB: no signed upgrade; a skewed venue clock shows as lag, books stay exact.

    The market channel has no auth window, so the skew only moves the venue timestamps; the
    feed's lag figures make the offset visible to the analyst.
    """
    venue = CLOB
    async with venue.simulator(seed=123, markets=3, rate=400) as sim:
        sim.faults.skew_clock(-60_000)
        feed = venue.feed(sim)
        async with feed:
            since = await intact_window(feed, sim, venue)
            await flow(feed, 100)
            await converge(feed, sim, venue)
            stats = feed.stats()
        assert (
            stats.running and stats.error is None and stats.dropped == {} and stats.reconnects == 0
        )
        assert stats.store.lag_ms_p50 is not None and stats.store.lag_ms_p50 > 50_000
        assert_no_trade_lost(feed, sim, since)


# ------------------------------------------------------------------ 14. a slow consumer


def _started_in_thread(venue: Venue, sim: Simulator, **kw: Any) -> Feed:
    """A feed on its own loop thread (as in a script), so the test can block that loop alone."""
    feed = venue.feed(sim, **kw)
    feed.start()
    return feed


async def _block_until_dropped(feed: Feed, sim: Simulator) -> None:
    """Block the feed's loop until the simulator drops it as a slow consumer (max 40 s)."""
    release = threading.Event()
    blocker = asyncio.ensure_future(asyncio.to_thread(feed.read, lambda: release.wait(40 * UNIT)))
    try:
        await wait_until(lambda: sim.stats().closes.get("slow_consumer", 0) >= 1, 40)
    finally:
        release.set()
        await blocker


@pytest.mark.slow
@pytest.mark.parametrize(
    ("venue", "buffer"),
    [(CLOB, "catch_up"), (CLOB, "dropped"), (US, "catch_up")],
    ids=["clob-catch_up", "clob-dropped", "us-catch_up"],
)
async def test_14_slow_consumer_blocks_the_loop(venue: Venue, buffer: str) -> None:
    """A notebook cell blocks the feed's loop for seconds while the venue keeps sending.

    ``catch_up``: the venue and the kernel buffer the backlog, the feed catches up, nothing is
    lost. ``dropped``: the venue drops the slow consumer (a small write buffer, as real venues
    do); the feed reconnects and re-converges. Either way every table stays within its row
    bound and counts what it evicts. (The US simulator cannot outrun the socket buffers within
    a test's time, so only its catch-up path is exercised.)
    """
    if buffer == "catch_up":
        size: dict[str, Any] = {"markets": 6, "rate": 1500, "max_write_buffer": 64 * 1024**2}
    else:  # enough bytes in 3 s to fill the socket buffers and then the venue's 16 KiB
        size = {"markets": 10, "rate": 4000, "max_write_buffer": 16 * 1024}
    kw: dict[str, Any] = {"max_rows": 2_000}
    if venue is CLOB:
        kw["hash_every"] = 16  # the default: the backlog is worked off at the usual speed
    async with venue.simulator(seed=114, **size) as sim:
        feed = await asyncio.to_thread(_started_in_thread, venue, sim, **kw)
        try:
            since = await intact_window(feed, sim, venue)
            if buffer == "catch_up":
                await asyncio.to_thread(feed.read, lambda: time.sleep(3 * UNIT))
            else:
                # The cell blocks until the venue gives up on us (however long the socket
                # buffers take to fill on a loaded machine), then the backlog the kernel held is
                # worked off before the reset shows.
                await _block_until_dropped(feed, sim)
                await feed.wait_for(lambda f: f.stats().reconnects >= 1, within=60)
                since = await intact_window(feed, sim, venue)
            await flow(feed, 200)
            await converge(feed, sim, venue)
            stats = feed.read(feed.stats)
            sizes = feed.read(lambda: {name: len(t) for name, t in feed.tables.items()})
            missing = feed.read(lambda: missing_trades(feed, sim, since_ms=since))
        finally:
            await feed.stop()
        assert stats.running and stats.error is None
        assert all(n <= 2_000 for n in sizes.values()), sizes
        evicted = sum(t.rows_evicted for t in stats.tables.values())
        assert evicted > 0  # the bound was reached and the overflow counted
        if buffer == "dropped":
            assert sim.stats().closes["slow_consumer"] >= 1
            assert status(feed, "disconnect")
        else:
            assert sim.stats().closes.get("slow_consumer", 0) == 0 and stats.reconnects == 0
        # Evicted rows are counted, not lost by accident: only check what the bound keeps.
        trades_evicted = stats.tables["trades"].rows_evicted
        if trades_evicted == 0:
            assert missing == 0
