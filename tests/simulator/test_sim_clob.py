"""The simulator's CLOB venue on the wire: every frame kind, its exact shape, and its truth."""

from __future__ import annotations

import asyncio
import doctest
import json
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from _sim_helpers import Rebuild, fence, items, recipe_hash, wait_until, ws_connect
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from polyresearch.simulator import clob as clob_module
from polyresearch.simulator.clob import book_hash
from polyresearch.simulator.market import ModelConfig
from polyresearch.simulator.server import Simulator

DUMP_KEYS = [
    "market",
    "asset_id",
    "timestamp",
    "hash",
    "bids",
    "asks",
    "tick_size",
    "event_type",
    "last_trade_price",
]
LIVE_BOOK_KEYS = ["market", "asset_id", "bids", "asks", "hash", "timestamp", "event_type"]
ENTRY_KEYS = ["asset_id", "price", "size", "side", "hash", "best_bid", "best_ask"]


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator(seed=7, markets=4, rate=0, venues=["clob"]) as simulator:
        yield simulator


def _static(sim: Simulator) -> dict[str, tuple[str, bool]]:
    return {
        token: ("5", market.neg_risk)
        for market in sim.markets(include_resolved=True)
        for token in market.token_ids
    }


def _all_tokens(sim: Simulator) -> list[str]:
    return [t for m in sim.markets() for t in m.token_ids]


async def _subscribe(ws: ClientConnection, assets: list[str], **extra: Any) -> list[str]:
    await ws.send(json.dumps({"type": "market", "assets_ids": assets, **extra}))
    frames: list[str] = []
    await fence(ws, frames)
    return frames


async def _collect(sim: Simulator, ws: ClientConnection, steps: int, chunk: int = 250) -> list[str]:
    frames: list[str] = []
    for _ in range(0, steps, chunk):
        sim.advance(chunk)
        await fence(ws, frames)
    return frames


def _truth_levels(sim: Simulator, token: str) -> tuple[list[tuple[Decimal, Decimal]], ...]:
    book = sim.book(token)
    return list(reversed(book.bids)), list(reversed(book.asks))


def test_doc_examples_hold() -> None:
    """The module's docstring examples run and pass."""
    result = doctest.testmod(clob_module)
    assert result.attempted > 0 and result.failed == 0


def test_book_hash_matches_the_recipe_written_independently() -> None:
    """The simulator's hash function and the test's own §6.4 recipe agree."""
    summary = {
        "market": "0xabc",
        "asset_id": "123",
        "timestamp": "1757908892351",
        "bids": [{"price": "0.48", "size": "30"}, {"price": "0.5", "size": "200"}],
        "asks": [{"price": "0.6", "size": "5"}, {"price": "0.52", "size": "12.5"}],
        "min_order_size": "5",
        "tick_size": "0.01",
        "neg_risk": True,
        "last_trade_price": "0.500",
    }
    bids = [(b["price"], b["size"]) for b in summary["bids"]]  # type: ignore[index]
    asks = [(a["price"], a["size"]) for a in summary["asks"]]  # type: ignore[index]
    got = book_hash("0xabc", "123", "1757908892351", bids, asks, "5", "0.01", True, "0.500")
    assert got == recipe_hash(summary)


async def test_initial_dump_is_one_compact_array_in_wire_order(sim: Simulator) -> None:
    """Subscribing sends ONE compact array of books: §8 key order, bids asc, asks desc, true."""
    market = sim.markets()[0]
    async with ws_connect(sim.clob_market_url) as ws:
        frames = await _subscribe(ws, list(market.token_ids), initial_dump=True)
    assert len(frames) == 1
    frame = frames[0]
    assert frame.startswith("[{") and ", " not in frame and '": ' not in frame
    books = json.loads(frame)
    assert [b["asset_id"] for b in books] == list(market.token_ids)
    static = _static(sim)
    for book in books:
        assert list(book) == DUMP_KEYS
        assert book["event_type"] == "book" and book["market"] == market.condition_id
        bids = [(Decimal(lv["price"]), Decimal(lv["size"])) for lv in book["bids"]]
        asks = [(Decimal(lv["price"]), Decimal(lv["size"])) for lv in book["asks"]]
        assert bids == sorted(bids) and asks == sorted(asks, reverse=True)
        truth_bids, truth_asks = _truth_levels(sim, book["asset_id"])
        assert bids == truth_bids and asks == truth_asks
        min_size, neg_risk = static[book["asset_id"]]
        assert (
            recipe_hash({**book, "min_order_size": min_size, "neg_risk": neg_risk}) == book["hash"]
        )
        assert book["tick_size"] == format(market.tick_size.normalize(), "f")


async def test_price_change_frames_use_the_live_style(sim: Simulator) -> None:
    """price_change: §4.2 keys, event_type last, ', ' separators, YES entry then its NO mirror."""
    market = sim.markets()[1]
    async with ws_connect(sim.clob_market_url) as ws:
        await _subscribe(ws, [market.token_ids[0]])
        frames = await _collect(sim, ws, 500)
    changes = [f for f in frames if '"event_type":"price_change"' in f]
    assert changes
    for frame in changes:
        event = json.loads(frame)
        assert list(event) == ["market", "price_changes", "timestamp", "event_type"]
        assert frame.startswith(f'{{"market":"{market.condition_id}", "price_changes":[{{')
        assert '"}, {"' in frame or len(event["price_changes"]) == 1
        entries = event["price_changes"]
        assert all(list(e) == ENTRY_KEYS for e in entries)
        for yes, no in zip(entries[::2], entries[1::2], strict=True):
            assert (yes["asset_id"], no["asset_id"]) == market.token_ids
            assert Decimal(no["price"]) == 1 - Decimal(yes["price"])
            assert no["size"] == yes["size"] and {yes["side"], no["side"]} == {"BUY", "SELL"}
        assert event["timestamp"].isdecimal() and len(event["timestamp"]) == 13


async def test_trades_send_price_change_then_last_trade_price_then_a_full_book() -> None:
    """After a fill: price_change, last_trade_price (taker token + mirror), then live books."""
    config = ModelConfig(weight_trade=3, weight_add=1, weight_cancel=0.2, account_rate=0)
    async with Simulator(seed=3, markets=1, rate=0, model_config=config, venues=["clob"]) as sim:
        market = sim.markets()[0]
        async with ws_connect(sim.clob_market_url) as ws:
            await _subscribe(ws, list(market.token_ids))
            frames = await _collect(sim, ws, 300)
    kinds = [json.loads(f)["event_type"] for f in frames]
    assert "last_trade_price" in kinds and "book" in kinds
    first = kinds.index("last_trade_price")
    assert kinds[first - 1] == "price_change"
    ltp = [json.loads(frames[first]), json.loads(frames[first + 1])]
    assert {e["asset_id"] for e in ltp} == set(market.token_ids)
    assert Decimal(ltp[0]["price"]) + Decimal(ltp[1]["price"]) == 1
    assert {e["side"] for e in ltp} == {"BUY", "SELL"}
    assert all(len(e["price"].split(".")[1]) == 3 for e in ltp)
    books = [i for i, k in enumerate(kinds) if k == "book"]
    assert kinds[books[0] - 1] in ("last_trade_price", "book")
    for index in books:
        event = json.loads(frames[index])
        assert list(event) == LIVE_BOOK_KEYS
        assert frames[index].startswith('{"market":"') and '", "asset_id"' in frames[index]


async def test_a_long_run_rebuilt_from_frames_equals_the_ground_truth() -> None:
    """Thousands of events: the rebuild sees every hash and BBO right and ends equal to truth."""
    config = ModelConfig(volatility=0.02, account_rate=0.1, settle_delay_ms=(1, 5))
    async with Simulator(seed=17, markets=4, rate=0, model_config=config, venues=["clob"]) as sim:
        rebuild = Rebuild(_static(sim))
        async with ws_connect(sim.clob_market_url) as ws:
            for frame in await _subscribe(ws, _all_tokens(sim)):
                rebuild.apply_frame(frame)
            for frame in await _collect(sim, ws, 6000, chunk=500):
                rebuild.apply_frame(frame)
        assert sim.stats().model_steps == 6000
        assert rebuild.hash_mismatches == [] and rebuild.bbo_mismatches == []
        assert rebuild.hashes_ok > 6000 and rebuild.hashes_via_trade_price > 0
        assert rebuild.kinds.get("tick_size_change", 0) > 0
        for token, local in rebuild.books.items():
            truth = sim.book(token)
            assert [
                (Decimal(p), Decimal(local.bids[p])) for p in sorted(local.bids, reverse=True)
            ] == list(truth.bids)
            assert [(Decimal(p), Decimal(local.asks[p])) for p in sorted(local.asks)] == list(
                truth.asks
            )
            assert local.ltp == (
                "" if truth.last_trade_price is None else f"{truth.last_trade_price:.3f}"
            )
            assert Decimal(local.tick) == truth.tick_size


@pytest.mark.slow
async def test_a_very_long_run_with_thousands_of_markets_stays_exact() -> None:
    """Two thousand markets, 40k events, a client on 40 of them: still zero mismatches."""
    async with Simulator(seed=23, markets=2000, rate=0, venues=["clob"]) as sim:
        watched = [t for m in sim.markets()[:40] for t in m.token_ids]
        rebuild = Rebuild(_static(sim))
        async with ws_connect(sim.clob_market_url) as ws:
            for frame in await _subscribe(ws, watched):
                rebuild.apply_frame(frame)
            for frame in await _collect(sim, ws, 40_000, chunk=2000):
                rebuild.apply_frame(frame)
        assert rebuild.hash_mismatches == [] and rebuild.bbo_mismatches == []
        for token in watched:
            truth = sim.book(token)
            local = rebuild.books[token]
            assert sorted(local.bids) == sorted(p for p, _ in truth.bids)
            assert sorted(local.asks) == sorted(p for p, _ in truth.asks)


async def test_tick_size_change_is_sent_when_the_price_leaves_the_middle() -> None:
    """A switch to the 0.001 tick arrives as tick_size_change (no side) for both tokens."""
    config = ModelConfig(volatility=0.05, account_rate=0)
    async with Simulator(seed=5, markets=2, rate=0, model_config=config, venues=["clob"]) as sim:
        async with ws_connect(sim.clob_market_url) as ws:
            await _subscribe(ws, _all_tokens(sim))
            seen: list[dict[str, Any]] = []
            for _ in range(40):
                frames = await _collect(sim, ws, 250)
                seen += [
                    e for f in frames for e in items(f) if e["event_type"] == "tick_size_change"
                ]
                if seen:
                    break
    assert seen
    event = seen[0]
    assert list(event) == [
        "event_type",
        "asset_id",
        "market",
        "old_tick_size",
        "new_tick_size",
        "timestamp",
    ]
    assert {event["old_tick_size"], event["new_tick_size"]} == {"0.01", "0.001"}


async def test_custom_feature_events_reach_only_connections_that_enable_them() -> None:
    """best_bid_ask, new_market and market_resolved go to custom connections only."""
    config = ModelConfig(lifecycle_rate=0.02, account_rate=0)
    async with Simulator(seed=2, markets=4, rate=0, model_config=config, venues=["clob"]) as sim:
        tokens = _all_tokens(sim)
        async with (
            ws_connect(sim.clob_market_url) as plain,
            ws_connect(sim.clob_market_url) as custom,
            ws_connect(sim.clob_market_url) as discovery,
        ):
            await _subscribe(plain, tokens)
            await _subscribe(custom, tokens, custom_feature_enabled=True)
            await _subscribe(discovery, [], custom_feature_enabled=True, initial_dump=True)
            custom_kinds: set[str] = set()
            plain_kinds: set[str] = set()
            discovery_kinds: set[str] = set()
            for _ in range(30):
                sim.advance(100)
                for ws, kinds in (
                    (plain, plain_kinds),
                    (custom, custom_kinds),
                    (discovery, discovery_kinds),
                ):
                    frames: list[str] = []
                    await fence(ws, frames)
                    kinds.update(e["event_type"] for f in frames for e in items(f))
                if {"best_bid_ask", "new_market", "market_resolved"} <= custom_kinds:
                    break
    assert {"best_bid_ask", "new_market", "market_resolved"} <= custom_kinds
    assert not plain_kinds & {"best_bid_ask", "new_market", "market_resolved"}
    assert "price_change" in plain_kinds
    assert discovery_kinds == {"new_market"}


async def test_custom_events_have_the_documented_fields() -> None:
    """new_market/market_resolved carry the AsyncAPI's required fields; best_bid_ask its spread."""
    config = ModelConfig(lifecycle_rate=0.05, account_rate=0)
    async with Simulator(seed=4, markets=3, rate=0, model_config=config, venues=["clob"]) as sim:
        async with ws_connect(sim.clob_market_url) as ws:
            await _subscribe(ws, _all_tokens(sim), custom_feature_enabled=True)
            events: dict[str, dict[str, Any]] = {}
            for _ in range(40):
                for frame in await _collect(sim, ws, 100):
                    for event in items(frame):
                        events.setdefault(event["event_type"], event)
                if {"new_market", "market_resolved", "best_bid_ask"} <= set(events):
                    break
    new = events["new_market"]
    assert {"id", "question", "market", "slug", "assets_ids", "outcomes", "timestamp"} <= set(new)
    resolved = events["market_resolved"]
    assert {
        "id",
        "market",
        "assets_ids",
        "winning_asset_id",
        "winning_outcome",
        "timestamp",
    } <= set(resolved)
    assert resolved["winning_asset_id"] in resolved["assets_ids"]
    assert (
        resolved["winning_outcome"]
        == resolved["outcomes"][resolved["assets_ids"].index(resolved["winning_asset_id"])]
    )
    bba = events["best_bid_ask"]
    assert Decimal(bba["spread"]) == Decimal(bba["best_ask"]) - Decimal(bba["best_bid"])


async def test_operations_add_and_remove_assets_and_duplicates_get_no_book(sim: Simulator) -> None:
    """operation subscribe dumps only new assets; duplicates are ignored; unsubscribe stops data."""
    first, second = sim.markets()[0], sim.markets()[1]
    async with ws_connect(sim.clob_market_url) as ws:
        await _subscribe(ws, [first.token_ids[0]])
        await ws.send(
            json.dumps(
                {"operation": "subscribe", "assets_ids": [first.token_ids[0], second.token_ids[0]]}
            )
        )
        frames: list[str] = []
        await fence(ws, frames)
        assert [b["asset_id"] for b in json.loads(frames[0])] == [second.token_ids[0]]
        await ws.send(json.dumps({"operation": "SUBSCRIBE", "assets_ids": [second.token_ids[0]]}))
        frames = []
        await fence(ws, frames)
        assert frames == []
        await ws.send(json.dumps({"operation": "unsubscribe", "assets_ids": [first.token_ids[0]]}))
        await fence(ws, [])  # the server has read the unsubscribe before the flow resumes
        frames = await _collect(sim, ws, 400)
    markets = {e.get("market") for f in frames for e in items(f)}
    assert second.condition_id in markets and first.condition_id not in markets


async def test_subscribe_type_is_case_insensitive_and_extra_fields_are_ignored(
    sim: Simulator,
) -> None:
    """'MARKET' with auth/markets/level fields subscribes; initial_dump false sends no book."""
    market = sim.markets()[2]
    async with ws_connect(sim.clob_market_url) as ws:
        frames = await _subscribe(
            ws, [market.token_ids[1]], auth={}, markets=[], level=2, type="MARKET"
        )
        assert len(frames) == 1 and json.loads(frames[0])[0]["asset_id"] == market.token_ids[1]
    async with ws_connect(sim.clob_market_url) as ws:
        assert await _subscribe(ws, [market.token_ids[1]], initial_dump=False) == []
        frames = await _collect(sim, ws, 300)
        assert any('"price_change"' in f for f in frames)


async def test_ping_gets_pong_and_silence_gets_1008() -> None:
    """Text PING is answered with PONG; without PING the server closes 1008 'no ping received'."""
    async with Simulator(seed=1, markets=1, rate=0, ping_timeout=0.4, venues=["clob"]) as sim:
        async with ws_connect(sim.clob_market_url, ping_interval=None) as ws:
            await ws.send("PING")
            assert await asyncio.wait_for(ws.recv(), 5) == "PONG"
            with pytest.raises(ConnectionClosed):
                while True:
                    await asyncio.wait_for(ws.recv(), 10)
            assert ws.close_code == 1008 and ws.close_reason == "no ping received"
        assert sim.stats().closes["no_ping"] == 1
        assert sim.stats().frames_sent["pong"] == 1


async def test_subscribe_timeout_closes_idle_connections() -> None:
    """With a subscribe timeout, a connection that never subscribes is closed."""
    async with Simulator(markets=1, rate=0, subscribe_timeout=0.2, venues=["clob"]) as sim:
        async with ws_connect(sim.clob_market_url) as ws:
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 10)
            assert ws.close_code == 1008
        assert sim.stats().closes["no_subscription"] == 1


# ---------------------------------------------------------------------------- user channel


def _auth(sim: Simulator, **extra: Any) -> str:
    creds = sim.clob_credentials
    auth = {"apiKey": creds.api_key, "secret": creds.secret, "passphrase": creds.passphrase}
    return json.dumps({"auth": auth, "type": "user", **extra})


async def test_user_channel_bad_credentials_close_without_payload(sim: Simulator) -> None:
    """Wrong credentials: the socket is closed with an empty close frame (code 1005 seen)."""
    async with ws_connect(sim.clob_user_url) as ws:
        await ws.send(
            json.dumps({"auth": {"apiKey": "x", "secret": "y", "passphrase": "z"}, "type": "user"})
        )
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)
        assert ws.close_code == 1005 and ws.close_reason == ""
    assert sim.stats().closes["bad_auth"] == 1


async def test_user_channel_streams_orders_and_the_trade_lifecycle() -> None:
    """The demo account's orders (PLACEMENT/UPDATE/CANCELLATION) and trades through CONFIRMED."""
    config = ModelConfig(account_rate=0.3, settle_delay_ms=(1, 4), retry_rate=0.3, fail_rate=0.5)
    async with Simulator(seed=6, markets=3, rate=0, model_config=config, venues=["clob"]) as sim:
        async with ws_connect(sim.clob_user_url) as ws:
            await ws.send(_auth(sim))
            await fence(ws, [])
            events: list[dict[str, Any]] = []
            for _ in range(60):
                for frame in await _collect(sim, ws, 100):
                    events += items(frame)
                statuses = {e["status"] for e in events if e["event_type"] == "trade"}
                types = {e["type"] for e in events if e["event_type"] == "order"}
                if {"MATCHED", "MINED", "CONFIRMED", "RETRYING", "FAILED"} <= statuses and len(
                    types
                ) == 3:
                    break
        assert {"MATCHED", "MINED", "CONFIRMED", "RETRYING", "FAILED"} <= statuses
        assert types == {"PLACEMENT", "UPDATE", "CANCELLATION"}
        creds = sim.clob_credentials
        truth = sim.account("clob")
        order_ids = {o.order_id for o in truth.orders}
        for event in events:
            if event["event_type"] == "order":
                assert event["id"] in order_ids and event["owner"] == creds.api_key
                assert event["created_at"].isdecimal() and len(event["created_at"]) == 10
            else:
                assert event["trade_owner"] == creds.api_key and event["type"] == "TRADE"
                assert event["trader_side"] in ("MAKER", "TAKER")
                assert event["match_time"].isdecimal() and len(event["match_time"]) == 10
                ours = [m for m in event["maker_orders"] if m["owner"] == creds.api_key]
                assert (event["trader_side"] == "MAKER") == bool(ours)
        by_trade: dict[str, list[str]] = {}
        for event in events:
            if event["event_type"] == "trade":
                by_trade.setdefault(event["id"], []).append(event["status"])
        assert all(s[0] == "MATCHED" for s in by_trade.values())
        assert any(s[-1] == "CONFIRMED" and "MINED" in s for s in by_trade.values())


async def test_user_channel_filters_by_condition_id_and_follows_operations() -> None:
    """markets=[...] limits events to those markets; operation subscribe/unsubscribe edit it."""
    config = ModelConfig(account_rate=0.4, focus_markets=3, settle_delay_ms=(1, 3))
    async with Simulator(seed=8, markets=3, rate=0, model_config=config, venues=["clob"]) as sim:
        focus = [m.condition_id for m in sim.model.focus_markets()]
        async with ws_connect(sim.clob_user_url) as ws:
            await ws.send(_auth(sim, markets=[focus[0].upper().replace("0X", "0x")]))
            await fence(ws, [])
            first = [e for f in await _collect(sim, ws, 1500) for e in items(f)]
            await ws.send(json.dumps({"operation": "subscribe", "markets": [focus[1]]}))
            await ws.send(json.dumps({"operation": "unsubscribe", "markets": [focus[0]]}))
            await fence(ws, [])
            second = [e for f in await _collect(sim, ws, 1500) for e in items(f)]
    assert first and {e["market"] for e in first} == {focus[0]}
    assert second and {e["market"] for e in second} == {focus[1]}


async def test_blast_mode_repeats_a_self_consistent_segment() -> None:
    """Blast mode: each cycle starts with fresh books, so every hash and BBO matches throughout."""
    async with Simulator(
        seed=9, markets=2, rate=0, blast=True, blast_steps=400, blast_frames=2000, venues=["clob"]
    ) as sim:
        rebuild = Rebuild(_static(sim))
        tokens = _all_tokens(sim)
        # The client stops reading mid-blast, so its closing handshake cannot complete: don't
        # wait the default 10 s for it.
        async with ws_connect(sim.clob_market_url, close_timeout=0.2) as ws:
            await ws.send(json.dumps({"type": "market", "assets_ids": tokens}))
            received = 0
            while received < 2000:
                rebuild.apply_frame(await asyncio.wait_for(ws.recv(), 10))
                received += 1
            await wait_until(lambda: sim.stats().frames_sent.get("blast", 0) >= 2000)
        assert rebuild.hash_mismatches == [] and rebuild.bbo_mismatches == []
        assert rebuild.kinds["price_change"] > 500
        assert rebuild.kinds["book"] >= 2 * len(tokens) + len(tokens)  # dump + two cycle starts


def _text(value: Decimal) -> str:
    # The venue's trimmed decimals, rendered here rather than with the simulator's plain().
    return format(value.normalize(), "f")


async def test_incremental_shadow_hashes_equal_the_recipe_on_the_ground_truth() -> None:
    """After thousands of changes, every shadow book hashes like §6.4 applied to the model.

    The shadows keep each side in wire order with cached level texts; this checks them
    against the model's own books rendered from scratch by the test's recipe.
    """
    async with Simulator(seed=9, markets=6, rate=0, venues=["clob"]) as sim:
        front_end = sim._front_ends[0]  # type: ignore[attr-defined]
        sim.advance(5_000)
        static = _static(sim)
        for token in _all_tokens(sim):
            bids, asks = _truth_levels(sim, token)
            market = sim.model.by_token[token]
            ltp = sim.book(token).last_trade_price
            summary = {
                "market": market.condition_id,
                "asset_id": token,
                "timestamp": "1700000000000",
                "bids": [{"price": _text(p), "size": _text(s)} for p, s in sorted(bids)],
                "asks": [
                    {"price": _text(p), "size": _text(s)} for p, s in sorted(asks, reverse=True)
                ],
                "min_order_size": static[token][0],
                "tick_size": _text(market.tick_size),
                "neg_risk": static[token][1],
                "last_trade_price": "" if ltp is None else f"{ltp:.3f}",
            }
            assert front_end._shadows[token].hash("1700000000000") == recipe_hash(summary)
