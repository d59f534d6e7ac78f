"""UsFeed against the simulator over real sockets: signed upgrades, books, private state."""

from __future__ import annotations

import pytest

from polyresearch.config import UsCredentials
from polyresearch.errors import AuthError
from polyresearch.feed import UsFeed
from polyresearch.simulator import Simulator
from tests._truth import us_converged
from tests.conftest import wait_until


def _creds(sim: Simulator) -> UsCredentials:
    c = sim.us_credentials
    return UsCredentials(key_id=c.key_id, secret_key=c.secret_key)


async def test_us_books_trades_and_private_state() -> None:
    """Full books replace local ones and equal the model's YES books; private state arrives."""
    async with Simulator(seed=21, markets=8, rate=400, heartbeat_interval=0.5) as sim:
        markets = sim.markets()
        feed = UsFeed(
            slugs=[m.slug for m in markets],
            credentials=_creds(sim),
            base_url=sim.ws_url,
            private=True,
        )
        async with feed:
            await feed.wait_for(lambda f: len(f.tables.trades) >= 5, within=30)
            await feed.wait_for(lambda f: f.store.account.balances != {}, within=30)
            sim.pause()
            await wait_until(lambda: us_converged(feed, sim), 20)
            stats = feed.stats()
        assert stats.dropped == {}
        assert stats.error is None
        assert len(feed.tables.quotes) > 0
        kinds = set(feed.tables.trades.to_polars()["kind"].cast(str).to_list())
        assert kinds == {"trade"}


async def test_wrong_secret_is_a_clear_auth_error_without_the_secret() -> None:
    """A wrong key fails fast with AuthError (HTTP 401); the message holds no secret."""
    async with Simulator(seed=3, markets=2, rate=0) as sim:
        wrong = "A" * 43 + "="
        creds = UsCredentials(key_id=sim.us_credentials.key_id, secret_key=wrong)
        feed = UsFeed(slugs=[sim.markets()[0].slug], credentials=creds, base_url=sim.ws_url)
        async with feed:
            with pytest.raises(AuthError) as info:
                await feed.wait_for(lambda f: False, within=20)
        assert "401" in str(info.value)
        assert wrong not in str(info.value)
        assert wrong not in repr(feed.stats())
        status = feed.tables.status.to_polars()["event"].cast(str).to_list()
        assert "error" in status


async def test_us_runtime_subscribe_and_unsubscribe() -> None:
    """Slugs added at runtime get books without reconnecting; removed ones are forgotten."""
    async with Simulator(seed=22, markets=6, rate=300, heartbeat_interval=0.5) as sim:
        markets = sim.markets()
        first, later = markets[0].slug, markets[1].slug
        feed = UsFeed(slugs=[first], credentials=_creds(sim), base_url=sim.ws_url)
        async with feed:
            await feed.wait_for(lambda f: first in f.books)
            await feed.subscribe([later])
            await feed.wait_for(lambda f: later in f.books and f.books[later].depth("bid") > 0)
            await feed.unsubscribe([first])
            assert feed.subscribed == (later,)
            # Let in-flight frames of the removed market drain, then watch a fresh window.
            drained = len(feed.tables.trades) + 5
            await feed.wait_for(lambda f: len(f.tables.trades) > drained, within=20)
            mark = len(feed.tables.trades)
            await feed.wait_for(lambda f: len(f.tables.trades) > mark + 5, within=20)
            stats = feed.stats()
            slugs = set(feed.tables.trades.to_polars()["market"].cast(str)[mark:])
        assert stats.reconnects == 0
        assert stats.dropped == {}
        assert slugs == {later}
        errors = feed.tables.status.to_polars()
        assert "error" not in errors["event"].cast(str).to_list()
