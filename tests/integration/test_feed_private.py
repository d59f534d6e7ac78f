"""Private state over real sockets: both venues' private streams mirror the simulated accounts."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from polyresearch.config import ClobCredentials, UsCredentials
from polyresearch.feed import ClobFeed, UsFeed
from polyresearch.simulator import Simulator
from polyresearch.simulator.market import ModelConfig
from tests.conftest import wait_until


def _creds(sim: Simulator) -> ClobCredentials:
    c = sim.clob_credentials
    return ClobCredentials(api_key=c.api_key, secret=c.secret, passphrase=c.passphrase)


async def test_clob_user_channel_open_orders_match_the_account() -> None:
    """Orders placed after subscribing are open locally iff open in the simulator's account."""
    async with Simulator(seed=13, markets=6, rate=0) as sim:
        feed = ClobFeed(
            url=sim.clob_market_url, user_url=sim.clob_user_url, credentials=_creds(sim)
        )
        async with feed:
            user = next(c.connection for c in feed._channels if c.channel == "user")
            assert user is not None
            async with asyncio.timeout(10):
                await user.wait_connected()
            await wait_until(lambda: len(sim.connections()) >= 1)
            t0 = sim.now_ms()
            for _ in range(30):
                sim.advance(100)
                await asyncio.sleep(0)

            def consistent() -> bool:
                truth = sim.account("clob")
                open_ids = {o.order_id for o in truth.open_orders}
                placed_after = {o.order_id for o in truth.open_orders if o.created_ms >= t0}
                ours = set(feed.store.account.open_orders)
                return bool(placed_after) and placed_after <= ours <= open_ids

            await wait_until(consistent, 20)
            orders = feed.tables.orders.to_polars()
        assert orders.height > 0
        assert set(orders["kind"].cast(str).unique()) <= {"order", "trade"}
        assert feed.stats().dropped == {}
        assert feed.store.account.continuous


async def test_bad_clob_credentials_close_the_user_channel_and_data_never_arrives() -> None:
    """Wrong CLOB credentials: the server closes the socket; no private data is accepted."""
    async with Simulator(seed=13, markets=2, rate=200) as sim:
        bad = ClobCredentials(
            api_key=sim.clob_credentials.api_key, secret="wrong", passphrase="wrong"
        )
        feed = ClobFeed(url=sim.clob_market_url, user_url=sim.clob_user_url, credentials=bad)
        async with feed:
            await feed.wait_for(
                lambda f: (
                    f.tables.status.to_polars()["event"].cast(str).to_list().count("disconnect")
                    >= 1
                ),
                within=20,
            )
        assert len(feed.tables.orders) == 0
        assert "wrong" not in repr(feed.stats())


def _us_creds(sim: Simulator) -> UsCredentials:
    c = sim.us_credentials
    return UsCredentials(key_id=c.key_id, secret_key=c.secret_key)


#: Default flow, and one where markets resolve often (orders cancelled, positions settled).
LIFECYCLES = pytest.mark.parametrize(
    "lifecycle_rate", [None, 0.004], ids=["default-flow", "frequent-resolutions"]
)


async def _activity(sim: Simulator, account: str, steps: int = 4000) -> None:
    """Flow in which the account places, cancels and fills orders, ending with one open.

    At least ``steps`` model steps, then more (bounded) until an order of the account rests,
    so that open orders are compared on something.
    """
    for done in range(0, 40_000, 100):
        if done >= steps and sim.account(account).open_orders:
            return
        sim.advance(100)
        await asyncio.sleep(0)


@LIFECYCLES
async def test_clob_user_channel_orders_and_trades_equal_the_account(
    lifecycle_rate: float | None,
) -> None:
    """After activity: open orders field by field, and every fill's latest status, as the sim."""
    config = None if lifecycle_rate is None else ModelConfig(lifecycle_rate=lifecycle_rate)
    async with Simulator(seed=31, markets=6, rate=0, model_config=config) as sim:
        feed = ClobFeed(
            url=sim.clob_market_url,
            user_url=sim.clob_user_url,
            credentials=_creds(sim),
            heartbeat_interval=0.2,
        )
        async with feed:
            # The user channel sends nothing on subscribing: its first PONG, answered after
            # the subscribe frame on the same socket, proves the subscription in place.
            await feed.wait_for(
                lambda f: [c.frames_in > 0 for c in f.stats().connections] == [True], within=20
            )
            before = sim.account("clob")
            await _activity(sim, "clob")
            truth = sim.account("clob")
            new_fills = {f.trade_id: f for f in truth.fills if f not in before.fills}
            assert new_fills and truth.open_orders, "the account traded and has resting orders"

            def trades_seen() -> dict[str, dict[str, object]]:
                rows = feed.tables.orders.to_polars().filter(kind="trade")
                return {r["trade_id"]: r for r in rows.iter_rows(named=True)}

            def caught_up() -> bool:
                ours = feed.store.account.open_orders
                open_truth = {o.order_id for o in truth.open_orders}
                seen = trades_seen()
                return set(ours) == open_truth and all(
                    seen.get(t, {}).get("status") == f.status for t, f in new_fills.items()
                )

            await wait_until(caught_up, 20)
            seen = trades_seen()
        for order in truth.open_orders:
            ours = feed.store.account.open_orders[order.order_id]
            assert ours.asset_id == order.token_id
            assert ours.market == order.condition_id
            assert ours.side == order.side
            assert Decimal(ours.price or "nan") == order.price
            assert Decimal(ours.original_size or "nan") == order.original_size
            assert Decimal(ours.size_matched or "nan") == order.size_matched
        for trade_id, fill in new_fills.items():
            row = seen[trade_id]  # the newest row of each trade: its settlement status now
            assert row["asset_id"] == fill.token_id
            assert Decimal(str(row["last_price"])) == fill.price
            assert Decimal(str(row["last_size"])) == fill.size
            assert str(row["update_type"]).lower() == fill.role
        assert set(seen) >= set(new_fills)
        assert feed.stats().dropped == {}
        assert feed.store.account.continuous


@LIFECYCLES
async def test_us_private_orders_positions_and_balance_equal_the_account(
    lifecycle_rate: float | None,
) -> None:
    """US private socket after activity: open orders, every position and the cash balance."""
    config = None if lifecycle_rate is None else ModelConfig(lifecycle_rate=lifecycle_rate)
    async with Simulator(
        seed=32, markets=6, rate=0, heartbeat_interval=0.5, model_config=config
    ) as sim:
        feed = UsFeed(credentials=_us_creds(sim), base_url=sim.ws_url, private=True)
        async with feed:
            await feed.wait_for(lambda f: f.store.account.balances != {}, within=20)
            await _activity(sim, "us")
            truth = sim.account("us")
            slug_of = {t: sim.model.by_token[t].slug for t in truth.positions}
            assert truth.fills and truth.positions and truth.open_orders, "the account traded"

            def positions() -> dict[str, Decimal]:
                return {
                    slug: Decimal(p.net_position or "0")
                    for slug, p in feed.store.account.positions.items()
                }

            def caught_up() -> bool:
                account = feed.store.account
                theirs = {slug_of[t]: size for t, size in truth.positions.items()}
                ours = positions()
                return (
                    set(account.open_orders) == {o.order_id for o in truth.open_orders}
                    and all(ours.get(s, Decimal(0)) == v for s, v in theirs.items())
                    and all(theirs.get(s, Decimal(0)) == v for s, v in ours.items())
                    and account.balances.get("USD") == float(truth.balance)
                )

            await wait_until(caught_up, 20)
        for order in truth.open_orders:
            ours = feed.store.account.open_orders[order.order_id]
            assert ours.asset_id == sim.model.by_token[order.token_id].slug
            assert ours.side == order.side
            assert Decimal(ours.price or "nan") == order.price
            assert Decimal(ours.original_size or "nan") == order.original_size
            assert Decimal(ours.size_matched or "nan") == order.size_matched
        assert feed.stats().dropped == {}
        assert feed.store.account.continuous
