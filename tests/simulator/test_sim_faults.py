"""Every simulator fault fires on demand, is visible on the wire, and is counted in the stats."""

from __future__ import annotations

import asyncio
import doctest
import json
import time
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from _sim_helpers import Rebuild, fence, items, wait_until, ws_connect
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidStatus

from polyresearch.simulator import faults as faults_module
from polyresearch.simulator.faults import Fault, FaultSwitchboard, Target, parse_targets
from polyresearch.simulator.market import ModelConfig
from polyresearch.simulator.server import Simulator


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    config = ModelConfig(account_rate=0)
    async with Simulator(seed=12, markets=1, rate=0, model_config=config, venues=["clob"]) as s:
        yield s


def _tokens(sim: Simulator) -> list[str]:
    return [t for m in sim.markets() for t in m.token_ids]


async def _market_client(sim: Simulator, ws: ClientConnection) -> list[str]:
    await ws.send(json.dumps({"type": "market", "assets_ids": _tokens(sim)}))
    frames: list[str] = []
    await fence(ws, frames)
    return frames


def _static(sim: Simulator) -> dict[str, tuple[str, bool]]:
    return {t: ("5", m.neg_risk) for m in sim.markets() for t in m.token_ids}


async def _until_closed(ws: ClientConnection) -> ConnectionClosed:
    with pytest.raises(ConnectionClosed) as excinfo:
        while True:
            await asyncio.wait_for(ws.recv(), 10)
    return excinfo.value


def test_doc_examples_hold() -> None:
    """The module's docstring examples run and pass."""
    result = doctest.testmod(faults_module)
    assert result.attempted > 0 and result.failed == 0


def test_targets_parse_and_injections_are_validated() -> None:
    """CLI-style targets parse; only frame faults can be injected."""
    assert parse_targets(["conn=3", "path=/ws/user"]) == Target(conn_id=3, path="/ws/user")
    with pytest.raises(ValueError, match="unknown target key"):
        parse_targets(["host=x"])
    with pytest.raises(ValueError, match="not an injectable"):
        FaultSwitchboard().inject(Fault.DROP)


async def test_drop_aborts_the_connection(sim: Simulator) -> None:
    """drop(): the client sees an abnormal close (1006) and the fault is counted."""
    async with ws_connect(sim.clob_market_url) as ws:
        await _market_client(sim, ws)
        assert sim.faults.drop() == 1
        await _until_closed(ws)
        assert ws.close_code == 1006
    assert sim.stats().faults_fired["drop"] == 1


async def test_restart_drops_clients_and_serves_again_on_the_same_port(sim: Simulator) -> None:
    """restart(): connections are cut, the port comes back, books are where they were."""
    port, token = sim.port, _tokens(sim)[0]
    before = sim.book(token)
    async with ws_connect(sim.clob_market_url) as ws:
        await _market_client(sim, ws)
        await sim.restart()
        await _until_closed(ws)
    assert sim.port == port and sim.book(token) == before
    async with ws_connect(sim.clob_market_url) as ws:
        frames = await _market_client(sim, ws)
    assert json.loads(frames[0])[0]["asset_id"] == token
    assert sim.stats().faults_fired["restart"] == 1


async def test_restart_requested_from_a_sync_caller_happens(sim: Simulator) -> None:
    """request_restart() (the CLI's path) schedules a restart on the loop."""
    sim.faults.request_restart(0.0)
    await wait_until(lambda: sim.stats().faults_fired.get("restart") == 1)


async def test_stall_withholds_data_but_keeps_answering_ping(sim: Simulator) -> None:
    """stall(): PING still gets PONG, data is withheld (counted) until the stall is cleared."""
    async with ws_connect(sim.clob_market_url) as ws:
        await _market_client(sim, ws)
        sim.faults.stall()
        sim.advance(100)
        frames: list[str] = []
        await fence(ws, frames)
        assert frames == []
        assert sim.stats().frames_withheld > 0
        sim.faults.clear()
        sim.advance(100)
        await fence(ws, frames)
        assert any('"price_change"' in f for f in frames)
    assert sim.stats().faults_fired["stall"] == 1


async def test_timed_stall_ends_by_itself(sim: Simulator) -> None:
    """stall(seconds=...) lifts itself; data flows again without clear()."""
    async with ws_connect(sim.clob_market_url) as ws:
        await _market_client(sim, ws)
        sim.faults.stall(seconds=0.05)

        async def flowing() -> bool:
            sim.advance(20)
            frames: list[str] = []
            await fence(ws, frames)
            return bool(frames)

        await wait_until(flowing)


async def test_muted_heartbeat_on_one_connection_only(sim: Simulator) -> None:
    """A targeted mute silences one connection's PONG; the other keeps answering."""
    async with ws_connect(sim.clob_market_url) as muted, ws_connect(sim.clob_market_url) as ok:
        await _market_client(sim, muted)
        await _market_client(sim, ok)
        first = sim.connections()[0].conn_id
        sim.faults.mute_heartbeat(Target(conn_id=first))
        await muted.send("PING")
        await ok.send("PING")
        assert await asyncio.wait_for(ok.recv(), 5) == "PONG"
        # Anything sent after the PING overtakes the missing PONG: an injected frame arrives first.
        sim.faults.inject(Fault.UNKNOWN_EVENT, Target(conn_id=first))
        frame = await asyncio.wait_for(muted.recv(), 5)
        assert frame != "PONG" and json.loads(frame)["event_type"] == "sim_unknown_event"
    assert sim.stats().faults_fired["mute_heartbeat"] == 1


async def test_malformed_frames_are_not_json(sim: Simulator) -> None:
    """inject('malformed'): frames that do not parse as JSON."""
    async with ws_connect(sim.clob_market_url) as ws:
        await _market_client(sim, ws)
        assert sim.faults.inject("malformed") == 1
        frames: list[str] = []
        await fence(ws, frames)
    assert frames
    for frame in frames:
        with pytest.raises(ValueError):
            json.loads(frame)
    assert sim.stats().faults_fired["malformed"] == 1


async def test_oversized_frame_breaks_a_default_client_and_is_valid_json(sim: Simulator) -> None:
    """inject('oversized'): a 1 MiB client closes with 1009; a roomy one gets a valid big book."""
    async with ws_connect(sim.clob_market_url, max_size=2**20) as small:
        await _market_client(sim, small)
        sim.faults.inject(Fault.OVERSIZED, size=1_500_000)
        closed = await _until_closed(small)
        assert closed.sent is not None and closed.sent.code == 1009  # "message too big"
    async with ws_connect(sim.clob_market_url, max_size=4 * 2**20) as big:
        await _market_client(sim, big)
        sim.faults.inject(Fault.OVERSIZED, size=1_500_000)
        frame = await asyncio.wait_for(big.recv(), 5)
        assert isinstance(frame, str) and len(frame) >= 1_500_000
        event = json.loads(frame)
        assert event["event_type"] == "book" and "padding" in event
    assert sim.stats().faults_fired["oversized"] == 2


async def test_unknown_event_type(sim: Simulator) -> None:
    """inject('unknown_event'): a well-formed event of a type nobody knows."""
    async with ws_connect(sim.clob_market_url) as ws:
        await _market_client(sim, ws)
        sim.faults.inject(Fault.UNKNOWN_EVENT)
        frame = await asyncio.wait_for(ws.recv(), 5)
    event = json.loads(frame)
    assert event["event_type"] == "sim_unknown_event" and event["market"].startswith("0x")


async def test_book_without_event_type_is_still_the_true_book(sim: Simulator) -> None:
    """inject('missing_event_type'): an array with a book lacking event_type, content true."""
    async with ws_connect(sim.clob_market_url) as ws:
        await _market_client(sim, ws)
        sim.advance(50)
        await fence(ws, [])
        sim.faults.inject(Fault.MISSING_EVENT_TYPE)
        frame = await asyncio.wait_for(ws.recv(), 5)
    (book,) = json.loads(frame)
    assert "event_type" not in book and {"bids", "asks", "asset_id"} <= set(book)
    truth = sim.book(book["asset_id"])
    assert [Decimal(b["price"]) for b in reversed(book["bids"])] == [p for p, _ in truth.bids]


async def test_skip_delta_makes_hashes_and_books_diverge(sim: Simulator) -> None:
    """skip_deltas(): one price_change vanishes, so the client's hashes stop matching."""
    async with ws_connect(sim.clob_market_url) as ws:
        rebuild = Rebuild(_static(sim))
        for frame in await _market_client(sim, ws):
            rebuild.apply_frame(frame)
        sim.faults.skip_deltas(count=1)
        sim.advance(60)
        frames: list[str] = []
        await fence(ws, frames)
    for frame in frames:
        rebuild.apply_frame(frame)
    assert rebuild.hash_mismatches
    assert sim.stats().faults_fired["skip_delta"] == 1 and sim.stats().frames_withheld == 1


async def test_midstream_book_resends_the_current_books(sim: Simulator) -> None:
    """inject('midstream_book'): a live-style book per subscribed asset, equal to the truth."""
    async with ws_connect(sim.clob_market_url) as ws:
        await _market_client(sim, ws)
        sim.advance(30)
        await fence(ws, [])
        sim.faults.inject(Fault.MIDSTREAM_BOOK)
        frames: list[str] = []
        await fence(ws, frames)
    books = [json.loads(f) for f in frames]
    assert {b["asset_id"] for b in books} == set(_tokens(sim))
    for book in books:
        assert list(book)[-1] == "event_type" and "tick_size" not in book
        truth = sim.book(book["asset_id"])
        assert [Decimal(a["price"]) for a in reversed(book["asks"])] == [p for p, _ in truth.asks]


async def test_burst_arrays_group_events(sim: Simulator) -> None:
    """burst_arrays(): the next events arrive as JSON arrays of several events."""
    async with ws_connect(sim.clob_market_url) as ws:
        rebuild = Rebuild(_static(sim))
        for frame in await _market_client(sim, ws):
            rebuild.apply_frame(frame)
        sim.faults.burst_arrays(events=12, size=4)
        sim.advance(40)
        frames: list[str] = []
        await fence(ws, frames)
    arrays = [f for f in frames if f.startswith("[")]
    assert arrays and max(len(json.loads(a)) for a in arrays) == 4
    for frame in frames:
        rebuild.apply_frame(frame)
    assert rebuild.hash_mismatches == []  # grouping changes framing, not content
    assert sim.stats().frames_sent["array"] == len(arrays)


async def test_refused_upgrades_get_429(sim: Simulator) -> None:
    """refuse_upgrades(count=1): one upgrade answered 429, the next accepted."""
    sim.faults.refuse_upgrades(count=1)
    with pytest.raises(InvalidStatus) as excinfo:
        async with ws_connect(sim.clob_market_url):
            pass
    assert excinfo.value.response.status_code == 429
    async with ws_connect(sim.clob_market_url) as ws:
        await ws.send("PING")
        assert await asyncio.wait_for(ws.recv(), 5) == "PONG"
    assert sim.stats().faults_fired["refuse_upgrade"] == 1


async def test_refusing_upgrades_for_a_while(sim: Simulator) -> None:
    """refuse_upgrades(seconds=...) refuses until the time is up."""
    sim.faults.refuse_upgrades(seconds=0.2)
    with pytest.raises(InvalidStatus):
        async with ws_connect(sim.clob_market_url):
            pass

    async def accepted() -> bool:
        try:
            async with ws_connect(sim.clob_market_url):
                return True
        except InvalidStatus:
            return False

    await wait_until(accepted)


async def test_clock_skew_shifts_frame_timestamps(sim: Simulator) -> None:
    """skew_clock(-1 h): the server's timestamps are an hour behind the local clock."""
    sim.faults.skew_clock(-3_600_000)
    async with ws_connect(sim.clob_market_url) as ws:
        frames = await _market_client(sim, ws)
    stamp = int(json.loads(frames[0])[0]["timestamp"])
    assert stamp < time.time() * 1000 - 3_500_000
    assert sim.stats().faults_fired["clock_skew"] == 1


async def test_no_new_assets_text(sim: Simulator) -> None:
    """inject('no_new_assets'): the bare text frame; not sent on the user channel."""
    async with ws_connect(sim.clob_market_url) as ws, ws_connect(sim.clob_user_url) as user:
        await _market_client(sim, ws)
        assert sim.faults.inject(Fault.NO_NEW_ASSETS) == 1
        assert await asyncio.wait_for(ws.recv(), 5) == "NO NEW ASSETS"
        await user.send("PING")
        assert await asyncio.wait_for(user.recv(), 5) == "PONG"


async def test_sticky_conditions_apply_to_later_connections(sim: Simulator) -> None:
    """A venue-wide stall also applies to a connection opened after it was set."""
    sim.faults.stall(Target(venue="clob"))
    async with ws_connect(sim.clob_market_url) as ws:
        assert await _market_client(sim, ws) == []
        sim.faults.clear(Target(venue="clob"))
        assert await _market_client(sim, ws) == []  # duplicates: no new book
        sim.advance(30)
        frames: list[str] = []
        await fence(ws, frames)
        assert frames


async def test_user_channel_faults_render_generically(sim: Simulator) -> None:
    """Malformed and unknown-event injections also reach the user channel."""
    creds = sim.clob_credentials
    auth = {"apiKey": creds.api_key, "secret": creds.secret, "passphrase": creds.passphrase}
    async with ws_connect(sim.clob_user_url) as ws:
        await ws.send(json.dumps({"type": "user", "auth": auth}))
        await fence(ws, [])
        sent = sim.faults.inject(Fault.UNKNOWN_EVENT, Target(path="/ws/user"))
        frame = await asyncio.wait_for(ws.recv(), 5)
        assert sim.faults.inject(Fault.MIDSTREAM_BOOK, Target(path="/ws/user")) == 0
    assert sent == 1 and items(frame)[0]["event_type"] == "sim_unknown_event"


async def test_skip_frames_swallows_the_subscription_dump_only(sim: Simulator) -> None:
    """skip_frames(kind='book_dump'): the first subscription gets no books, deltas still flow."""
    sim.faults.skip_frames(Target(venue="clob"), kind="book_dump", count=1)
    async with ws_connect(sim.clob_market_url) as ws:
        assert await _market_client(sim, ws) == []
        sim.advance(40)
        frames: list[str] = []
        await fence(ws, frames)
        kinds = {item.get("event_type") for frame in frames for item in items(frame)}
        assert "price_change" in kinds
        # Used up: a fresh subscription (after an unsubscribe) gets its dump again.
        tokens = _tokens(sim)
        await ws.send(json.dumps({"operation": "unsubscribe", "assets_ids": tokens}))
        await ws.send(json.dumps({"operation": "subscribe", "assets_ids": tokens}))
        again: list[str] = []
        await fence(ws, again)
    books = [item for frame in again for item in items(frame) if "bids" in item]
    assert {b["asset_id"] for b in books} == set(tokens)
    stats = sim.stats()
    assert stats.faults_fired["skip_frames"] == 1 and stats.frames_withheld == 1


async def test_refused_upgrades_with_another_status(sim: Simulator) -> None:
    """refuse_upgrades(status=401): revoked credentials, as the venue would answer them."""
    sim.faults.refuse_upgrades(count=1, status=401)
    with pytest.raises(InvalidStatus) as excinfo:
        async with ws_connect(sim.clob_market_url):
            pass
    assert excinfo.value.response.status_code == 401
    async with ws_connect(sim.clob_market_url) as ws:
        await ws.send("PING")
        assert await asyncio.wait_for(ws.recv(), 5) == "PONG"
    assert sim.faults.refusal_status == 401
    sim.faults.clear()
    assert sim.faults.refusal_status == 429
    with pytest.raises(ValueError, match="HTTP error status"):
        sim.faults.refuse_upgrades(status=200)


async def test_market_params_are_the_hash_parameters_of_both_tokens(sim: Simulator) -> None:
    """market_params(): per token, plain values a client converts into its MarketParams."""
    params = sim.market_params()
    market = sim.markets()[0]
    assert set(params) == set(market.token_ids)
    yes, no = (params[t] for t in market.token_ids)
    assert yes is no
    assert yes == {
        "min_order_size": "5",
        "neg_risk": market.neg_risk,
        "token_ids": market.token_ids,
    }
