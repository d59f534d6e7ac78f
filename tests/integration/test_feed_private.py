"""Private state over real sockets: the CLOB user channel mirrors the simulated account."""

from __future__ import annotations

import asyncio

from polyresearch.config import ClobCredentials
from polyresearch.feed import ClobFeed
from polyresearch.simulator import Simulator
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
