"""The official ``polymarket-us`` SDK, unchanged, against the simulator's US venue.

The SDK signs with its own code (PyNaCl), connects to both sockets through its own factory,
subscribes to every subscription type, and dispatches frames with its own key-presence rules;
its REST resources read the gateway endpoints. Flow is driven with ``sim.advance`` (rate 0).

A *barrier* here is a fresh subscription whose immediate answer (a book, an order snapshot) is a
data frame written after everything before it, so that no error event is ever provoked.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import pytest
from polymarket_us import AsyncPolymarketUS, PolymarketUS
from polymarket_us.errors import NotFoundError
from websockets.exceptions import InvalidStatus

from polyresearch.simulator.server import Simulator

MARKET_EVENTS = ("market_data", "market_data_lite", "trade", "heartbeat")
PRIVATE_EVENTS = (
    "heartbeat",
    "order_snapshot",
    "order_update",
    "position_update",
    "account_balance_snapshot",
    "account_balance_update",
)
_barriers = itertools.count(1)


async def wait_until(predicate: Callable[[], bool], within: float = 10.0) -> None:
    """Poll until ``predicate()`` holds (yielding to the loop); fail after ``within`` s."""
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.005)


class Recorder:
    """Counts every SDK event and keeps the payloads it was given."""

    def __init__(self, ws: Any, events: tuple[str, ...]) -> None:
        self.counts: Counter[str] = Counter()
        self.payloads: dict[str, list[dict[str, Any]]] = {e: [] for e in events}
        self.errors: list[BaseException] = []
        for event in events:
            ws.on(event, self._recorder(event))
        ws.on("error", self.errors.append)

    def _recorder(self, event: str) -> Callable[..., None]:
        def record(*args: Any) -> None:
            self.counts[event] += 1
            if args:
                self.payloads[event].append(args[0])

        return record


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    # The SDK connects with library defaults (which honour proxy variables); loopback stays local.
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator(seed=21, markets=5, rate=0, heartbeat_interval=0.05) as s:
        yield s


def sdk_client(sim: Simulator, **overrides: str) -> PolymarketUS:
    creds = sim.us_credentials
    kwargs = {
        "key_id": creds.key_id,
        "secret_key": creds.secret_key,
        "api_base_url": sim.http_url,
        "gateway_base_url": sim.http_url,
    }
    kwargs.update(overrides)
    return PolymarketUS(**kwargs)


async def markets_barrier(ws: Any, rec: Recorder, slug: str) -> None:
    rid = f"barrier-{next(_barriers)}"
    await ws.subscribe_market_data(rid, [slug])
    await wait_until(lambda: any(p["requestId"] == rid for p in rec.payloads["market_data"]))
    await ws.unsubscribe(rid)


async def private_barrier(ws: Any, rec: Recorder) -> None:
    rid = f"barrier-{next(_barriers)}"
    await ws.subscribe(rid, "SUBSCRIPTION_TYPE_ORDER_SNAPSHOT")
    await wait_until(
        lambda: any(
            p["requestId"] == rid and p["orderSubscriptionSnapshot"]["eof"]
            for p in rec.payloads["order_snapshot"]
        )
    )


def yes_book(sim: Simulator, slug: str) -> tuple[list[tuple[Decimal, Decimal]], ...]:
    market = next(m for m in sim.markets(include_resolved=True) if m.slug == slug)
    book = sim.book(market.token_ids[0])
    return list(book.bids), list(book.asks)


async def test_sdk_streams_every_event_kind_and_matches_ground_truth(sim: Simulator) -> None:
    """Both SDK sockets connect, subscribe to every type, dispatch every event, never error."""
    client = sdk_client(sim)
    markets = client.ws.markets()
    private = client.ws.private()
    mrec = Recorder(markets, MARKET_EVENTS)
    prec = Recorder(private, PRIVATE_EVENTS)
    await markets.connect()
    await private.connect()
    slugs = [m.slug for m in sim.markets()]
    # slugs[0] is left to the barriers (a second same-type subscription to a slug is refused);
    # their books count for the rebuild like any other.
    await markets.subscribe_market_data("md", slugs[1:])
    await markets.subscribe_market_data_lite("lite", slugs)
    await markets.subscribe_trades("trades", slugs)
    await private.subscribe_orders("orders")
    await private.subscribe("snapshot", "SUBSCRIPTION_TYPE_ORDER_SNAPSHOT")
    await private.subscribe_positions("positions")
    await private.subscribe_account_balance("balance")
    await private.subscribe_rfq("rfq")  # accepted; the simulator has no RFQs to report
    await markets_barrier(markets, mrec, slugs[0])
    await private_barrier(private, prec)

    def everything_seen() -> bool:
        return all(mrec.counts[e] for e in MARKET_EVENTS) and all(
            prec.counts[e] for e in PRIVATE_EVENTS
        )

    deadline = time.monotonic() + 20
    while not everything_seen():
        assert time.monotonic() < deadline, (mrec.counts, prec.counts)
        sim.advance(100)
        await asyncio.sleep(0.005)
    await markets_barrier(markets, mrec, slugs[0])
    await private_barrier(private, prec)

    assert mrec.errors == [] and prec.errors == []
    # Books rebuilt from the SDK's market_data payloads equal the model's YES books.
    books: dict[str, tuple[list[tuple[Decimal, Decimal]], ...]] = {}
    for payload in mrec.payloads["market_data"]:
        md = payload["marketData"]
        books[md["marketSlug"]] = (
            [(Decimal(b["px"]["value"]), Decimal(b["qty"])) for b in md.get("bids", [])],
            [(Decimal(o["px"]["value"]), Decimal(o["qty"])) for o in md.get("offers", [])],
        )
    for slug in slugs:
        assert books[slug] == yes_book(sim, slug), slug
    # The balance the SDK saw last equals the demo account's.
    balances = [
        p["accountBalancesUpdate"]["balanceChange"]["afterBalance"]["currentBalance"]
        for p in prec.payloads["account_balance_update"]
    ]
    assert abs(Decimal(str(balances[-1])) - sim.account("us").balance) < Decimal("1e-6")
    snapshot = prec.payloads["order_snapshot"][-1]["orderSubscriptionSnapshot"]
    assert {o["id"] for o in snapshot["orders"]} == {
        o.order_id for o in sim.account("us").open_orders
    }
    await markets.close()
    await private.close()
    client.close()


async def test_sdk_wrong_key_refused_401(sim: Simulator) -> None:
    """The SDK with a secret that is not the demo key's is refused at the upgrade (HTTP 401)."""
    other_secret = base64.b64encode(bytes(range(32))).decode()
    for overrides in ({"secret_key": other_secret}, {"key_id": "00000000-0000-4000-8000-0000"}):
        client = sdk_client(sim, **overrides)
        for ws in (client.ws.markets(), client.ws.private()):
            with pytest.raises(InvalidStatus) as info:
                await ws.connect()
            assert info.value.response.status_code == 401
        client.close()
    assert sim.stats().venues["us"]["upgrades_refused_401"] == 4


async def test_sdk_too_many_sockets_refused_429(sim: Simulator) -> None:
    """Past the per-key socket limit the SDK's connect fails with HTTP 429."""
    client = sdk_client(sim)
    sockets = []
    with pytest.raises(InvalidStatus) as info:
        for _ in range(20):
            ws = client.ws.markets()
            await ws.connect()
            sockets.append(ws)
    assert info.value.response.status_code == 429
    assert len(sockets) == 8  # UsSettings.max_connections_per_key
    for ws in sockets:
        await ws.close()
    client.close()


async def test_sdk_async_rest(sim: Simulator) -> None:
    """AsyncPolymarketUS markets.list/retrieve_by_slug/retrieve/book/bbo and events work."""
    creds = sim.us_credentials
    client = AsyncPolymarketUS(
        key_id=creds.key_id,
        secret_key=creds.secret_key,
        api_base_url=sim.http_url,
        gateway_base_url=sim.http_url,
    )
    live = sim.markets()
    slugs = [m.slug for m in live]
    listed = await client.markets.list({"slug": slugs[:2], "limit": 10, "active": True})
    assert sorted(m["slug"] for m in listed["markets"]) == sorted(slugs[:2])
    market = (await client.markets.retrieve_by_slug(slugs[0]))["market"]
    assert market["slug"] == slugs[0] and market["id"] == live[0].market_id
    assert (await client.markets.retrieve(int(live[0].market_id)))["market"] == market
    book = (await client.markets.book(slugs[0]))["marketData"]
    bids = [(Decimal(b["px"]["value"]), Decimal(b["qty"])) for b in book.get("bids", [])]
    assert bids == yes_book(sim, slugs[0])[0]
    bbo = (await client.markets.bbo(slugs[0]))["marketData"]
    assert Decimal(bbo["bestBid"]["value"]) == bids[0][0]
    events = (await client.events.list({"limit": 100}))["events"]
    assert {m["slug"] for e in events for m in e["markets"]} >= set(slugs)
    event = (await client.events.retrieve_by_slug(events[0]["slug"]))["event"]
    assert event["id"] == events[0]["id"]
    with pytest.raises(NotFoundError):
        await client.markets.book("no-such-market")
    await client.close()


async def test_sdk_sync_rest_from_a_thread(sim: Simulator) -> None:
    """The synchronous PolymarketUS REST client works too (run off the simulator's loop)."""
    client = sdk_client(sim)
    slug = sim.markets()[1].slug

    def calls() -> tuple[Any, ...]:
        return (
            client.markets.list(),
            client.markets.retrieve_by_slug(slug),
            client.markets.book(slug),
            client.markets.bbo(slug),
            client.events.list(),
        )

    listed, market, book, bbo, events = await asyncio.to_thread(calls)
    assert slug in {m["slug"] for m in listed["markets"]}
    assert market["market"]["slug"] == slug
    assert book["marketData"]["marketSlug"] == slug == bbo["marketData"]["marketSlug"]
    assert events["events"]
    client.close()
