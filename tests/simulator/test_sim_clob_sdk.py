"""The official ``polymarket-client`` SDK, unchanged, against the simulator's CLOB venue.

The SDK has no URL argument; its public ``environment=`` takes an environment built with its
own helpers, pointed at the simulator. It validates every frame with pydantic and silently
drops what it cannot parse, counting the drops: those counters must stay at 0.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import pytest
from _sim_helpers import wait_until
from eth_account import Account
from polymarket import AsyncPublicClient, AsyncSecureClient
from polymarket._internal.environment import (
    PRODUCTION_CONFIG,
    create_environment,
)
from polymarket.models import ApiKeyCreds
from polymarket.streams import MarketSpec, UserSpec

from polyresearch.simulator.market import ModelConfig
from polyresearch.simulator.server import Simulator

#: A throwaway signer key for the SDK (an EOA wallet needs no relayer); valid nowhere.
SIGNER_KEY = "0x" + "5a" * 32


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    # The SDK's httpx and websockets clients honour proxy variables; loopback must go direct.
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


def _environment(sim: Simulator) -> Any:
    config = dataclasses.replace(
        PRODUCTION_CONFIG,
        clob_url=sim.http_url,
        gamma_url=sim.http_url,
        data_url=sim.http_url,
        relayer_url=sim.http_url,
        clob_market_ws_url=sim.clob_market_url,
        clob_user_ws_url=sim.clob_user_url,
    )
    return create_environment(name="simulator", config=config)


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    config = ModelConfig(
        account_rate=0.3, lifecycle_rate=0.002, volatility=0.05, settle_delay_ms=(1, 5)
    )
    # rate=0: the tests pump the flow themselves (a few steps per poll), so the SDK's own
    # bounded queue never overflows however slow the machine is.
    async with Simulator(seed=31, markets=4, rate=0, model_config=config, venues=["clob"]) as s:
        yield s


def _pumping(sim: Simulator, done: Callable[[], bool], steps: int = 20) -> Callable[[], bool]:
    """A wait_until predicate that advances the model a little on every poll."""

    def predicate() -> bool:
        if done():
            return True
        sim.advance(steps)
        return False

    return predicate


async def _drain(handle: Any, sink: list[Any], stop: asyncio.Event) -> None:
    async for event in handle:
        sink.append(event)
        if stop.is_set():
            return


async def test_sdk_market_stream_parses_every_frame(sim: Simulator) -> None:
    """Books, price changes, trades, ticks and custom events reach the SDK with 0 drops."""
    client = AsyncPublicClient(environment=_environment(sim))
    tokens = [t for m in sim.markets() for t in m.token_ids]
    events: list[Any] = []
    stop = asyncio.Event()
    try:
        handle = await client.subscribe(MarketSpec(asset_ids=tokens, custom_feature_enabled=True))
        reader = asyncio.create_task(_drain(handle, events, stop))
        wanted = {
            "book",
            "price_change",
            "last_trade_price",
            "best_bid_ask",
            "tick_size_change",
            "new_market",
            "market_resolved",
        }

        def seen() -> set[str]:
            return {e.type for e in events}

        await wait_until(_pumping(sim, lambda: wanted <= seen()), within=60)
        stop.set()
        await handle.close()
        await reader
        manager = client._get_market_manager()
        assert manager.dropped_events == 0
        assert handle.dropped == 0
    finally:
        await client.close()
    books = [e.payload for e in events if e.type == "book"]
    assert books[0].asset_id in tokens and books[0].hash and books[0].timestamp is not None
    change = next(e.payload for e in events if e.type == "price_change")
    entry = change.price_changes[0]
    assert entry.hash and entry.best_bid is not None and entry.best_ask is not None
    assert entry.side in ("BUY", "SELL") and entry.size >= Decimal(0)


async def test_sdk_gets_markets_and_books_over_rest(sim: Simulator) -> None:
    """The SDK's Gamma market-by-slug and CLOB order book parse the simulator's REST answers."""
    client = AsyncPublicClient(environment=_environment(sim))
    market = sim.markets()[0]
    try:
        gamma = await client.get_market(slug=market.slug)
        book = await client.get_order_book(token_id=market.token_ids[0])
    finally:
        await client.close()
    assert gamma.condition_id == market.condition_id
    assert (gamma.outcomes.yes.token_id, gamma.outcomes.no.token_id) == market.token_ids
    assert gamma.trading.minimum_tick_size == market.tick_size
    assert book.asset_id == market.token_ids[0] and book.min_order_size == Decimal(5)
    assert book.hash and book.neg_risk == market.neg_risk


async def test_sdk_user_stream_receives_orders_and_trades(sim: Simulator) -> None:
    """AsyncSecureClient.create validates the demo key; orders and trades stream with 0 drops."""
    creds = sim.clob_credentials
    signer = Account.from_key(SIGNER_KEY)
    client = await AsyncSecureClient.create(
        private_key=SIGNER_KEY,
        wallet=signer.address,
        environment=_environment(sim),
        credentials=ApiKeyCreds(
            key=creds.api_key, secret=creds.secret, passphrase=creds.passphrase
        ),
    )
    events: list[Any] = []
    stop = asyncio.Event()
    try:
        handle = await client.subscribe(UserSpec())
        reader = asyncio.create_task(_drain(handle, events, stop))

        def statuses() -> set[str]:
            return {e.payload.status for e in events if e.type == "trade"}

        await wait_until(
            _pumping(
                sim,
                lambda: (
                    {"MATCHED", "MINED", "CONFIRMED"} <= statuses()
                    and any(e.type == "order" for e in events)
                ),
            ),
            within=60,
        )
        stop.set()
        await handle.close()
        await reader
        assert client._get_user_manager().dropped_events == 0
        assert handle.dropped == 0
    finally:
        await client.close()
    orders = [e.payload for e in events if e.type == "order"]
    assert {o.order_event_type for o in orders} >= {"PLACEMENT"}
    assert all(o.owner == creds.api_key for o in orders)
    trades = [e.payload for e in events if e.type == "trade"]
    assert all(t.trade_owner == creds.api_key and t.matched_at is not None for t in trades)


async def test_sdk_falls_back_to_deriving_the_demo_key(sim: Simulator) -> None:
    """Unknown credentials: the probe gets 401, create gets 400, derive returns the demo key."""
    signer = Account.from_key(SIGNER_KEY)
    client = await AsyncSecureClient.create(
        private_key=SIGNER_KEY,
        wallet=signer.address,
        environment=_environment(sim),
        credentials=ApiKeyCreds(key="nope", secret="c2VjcmV0", passphrase="nope"),
    )
    try:
        assert client._ctx.credentials.key == sim.clob_credentials.api_key
        keys = await client.fetch_api_keys()
    finally:
        await client.close()
    assert keys == (sim.clob_credentials.api_key,)
