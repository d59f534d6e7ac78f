"""The simulator's US venue over real sockets: a raw websockets client with signed headers.

Every check here reads the wire the way a client would and compares it with protocol-us.md and
with the simulator's ground truth (its model). Flow is driven with ``sim.advance`` (rate 0) so
that nothing depends on timing; a *barrier* (an unsubscribe of an unknown id, answered with an
error frame) proves that every frame written before it has been read.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import json
import re
import time
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.frames import Close

from polyresearch.simulator.faults import Target
from polyresearch.simulator.server import Simulator
from polyresearch.simulator.us import UsFrontEnd, UsSettings
from polyresearch.simulator.us_auth import sign_headers

MARKETS = "/v1/ws/markets"
PRIVATE = "/v1/ws/private"
RFC3339_NS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$")
FOUR_DP = re.compile(r"^\d+\.\d{4,}$")
_PROXY_KW: dict[str, Any] = (
    {"proxy": None} if "proxy" in inspect.signature(connect).parameters else {}
)
_barriers = itertools.count(1)


# ---------------------------------------------------------------- helpers


async def wait_until(predicate: Callable[[], bool], within: float = 5.0) -> None:
    """Poll until ``predicate()`` holds; fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.005)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def signed(sim: Simulator, path: str, *, ts_ms: int | None = None) -> dict[str, str]:
    creds = sim.us_credentials
    return sign_headers(creds.key_id, creds.secret_key, "GET", path, ts_ms or now_ms())


class Wire:
    """A raw client: every frame it reads is kept (text, and JSON when it parses)."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.raw: list[str] = []
        self.frames: list[dict[str, Any] | None] = []
        #: Set when the connection ended: (close frame received, close frame sent).
        self.closed: tuple[Close | None, Close | None] | None = None
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for message in self.ws:
                text = message if isinstance(message, str) else message.decode()
                self.raw.append(text)
                try:
                    value = json.loads(text)
                except ValueError:
                    value = None
                self.frames.append(value if isinstance(value, dict) else None)
        except ConnectionClosed as exc:
            self.closed = (exc.rcvd, exc.sent)
        else:
            self.closed = (self.ws.protocol.close_rcvd, self.ws.protocol.close_sent)

    async def send(self, message: dict[str, Any] | str) -> None:
        await self.ws.send(message if isinstance(message, str) else json.dumps(message))

    async def subscribe(self, rid: str, kind: str, slugs: list[str] | None = None) -> None:
        body: dict[str, Any] = {"requestId": rid, "subscriptionType": kind}
        if slugs:
            body["marketSlugs"] = slugs
        await self.send({"subscribe": body})

    async def barrier(self) -> int:
        """Return once every frame the server wrote before now has been read."""
        rid = f"barrier-{next(_barriers)}"
        await self.send({"unsubscribe": {"requestId": rid}})
        await wait_until(lambda: any(f and f.get("requestId") == rid for f in self.frames))
        return len(self.frames)

    def having(self, key: str, rid: str | None = None) -> list[dict[str, Any]]:
        return [
            f for f in self.frames if f and key in f and (rid is None or f.get("requestId") == rid)
        ]

    def errors(self, rid: str | None = None) -> list[dict[str, Any]]:
        return [
            f
            for f in self.frames
            if f
            and f.get("error")
            and not f.get("requestId", "").startswith("barrier-")
            and (rid is None or f.get("requestId") == rid)
        ]

    async def close(self) -> None:
        await self.ws.close()
        self._task.cancel()


async def open_wire(sim: Simulator, path: str, **kwargs: Any) -> Wire:
    headers = kwargs.pop("headers", None) or signed(sim, path)
    ws = await connect(
        f"{sim.ws_url}{path}", additional_headers=headers, max_size=None, **_PROXY_KW, **kwargs
    )
    return Wire(ws)


async def refused_status(sim: Simulator, path: str, headers: dict[str, str]) -> int:
    with pytest.raises(InvalidStatus) as info:
        async with connect(f"{sim.ws_url}{path}", additional_headers=headers, **_PROXY_KW):
            pass
    return info.value.response.status_code


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator(seed=11, markets=6, rate=0, heartbeat_interval=0.05) as s:
        yield s


def slugs_of(sim: Simulator) -> list[str]:
    return [m.slug for m in sim.markets()]


def yes_book(sim: Simulator, slug: str) -> tuple[list[tuple[Decimal, Decimal]], ...]:
    market = next(m for m in sim.markets(include_resolved=True) if m.slug == slug)
    book = sim.book(market.token_ids[0])
    return list(book.bids), list(book.asks)


def levels(side: list[dict[str, Any]] | None) -> list[tuple[Decimal, Decimal]]:
    return [(Decimal(lv["px"]["value"]), Decimal(lv["qty"])) for lv in side or []]


def _amount(value: dict[str, str] | None) -> Decimal | None:
    return Decimal(value["value"]) if value is not None else None


def payload_key(frame: dict[str, Any]) -> str:
    keys = [k for k in frame if k not in {"requestId", "subscriptionType", "error"}]
    assert len(keys) == 1, frame
    return keys[0]


# ---------------------------------------------------------------- frame kinds


async def test_markets_socket_sends_every_documented_kind(sim: Simulator) -> None:
    """marketData, marketDataLite, trade and heartbeat all arrive, each well-formed."""
    wire = await open_wire(sim, MARKETS)
    slugs = slugs_of(sim)
    await wire.subscribe("md", "SUBSCRIPTION_TYPE_MARKET_DATA", slugs)
    await wire.subscribe("lite", "SUBSCRIPTION_TYPE_MARKET_DATA_LITE", slugs)
    await wire.subscribe("tr", "SUBSCRIPTION_TYPE_TRADE", slugs)
    await wait_until(lambda: len(wire.having("marketDataLite")) >= len(slugs))
    while not wire.having("trade"):
        sim.advance(50)
        await wire.barrier()
    await wait_until(lambda: bool(wire.having("heartbeat")))
    await wire.barrier()
    kinds = {payload_key(f) for f in wire.frames if f and not f.get("error")}
    assert {"marketData", "marketDataLite", "trade", "heartbeat"} <= kinds
    for frame in wire.frames:
        assert frame is not None
        if frame.get("requestId", "").startswith("barrier-"):
            continue
        assert "error" not in frame, frame  # never an error key on markets data frames
        if "heartbeat" in frame:
            assert frame == {"heartbeat": {}}
            continue
        key = payload_key(frame)
        expected_type = {
            "marketData": "SUBSCRIPTION_TYPE_MARKET_DATA",
            "marketDataLite": "SUBSCRIPTION_TYPE_MARKET_DATA_LITE",
            "trade": "SUBSCRIPTION_TYPE_TRADE",
        }[key]
        assert frame["subscriptionType"] == expected_type
        assert frame[key]["marketSlug"] in slugs
    book = wire.having("marketData")[0]["marketData"]
    prices = [Decimal(b["px"]["value"]) for b in book["bids"]]
    offers = [Decimal(o["px"]["value"]) for o in book["offers"]]
    assert prices == sorted(prices, reverse=True) and offers == sorted(offers)
    assert all(FOUR_DP.match(b["px"]["value"]) and FOUR_DP.match(b["qty"]) for b in book["bids"])
    assert book["bids"][0]["px"]["currency"] == "USD"
    assert book["state"] == "MARKET_STATE_OPEN"
    assert RFC3339_NS.match(book["transactTime"])
    trade = wire.having("trade")[0]["trade"]
    assert set(trade) == {"marketSlug", "price", "quantity", "tradeTime", "maker", "taker"}
    assert set(trade["quantity"]) == {"value", "currency"}
    assert trade["taker"]["side"] in {"ORDER_SIDE_BUY", "ORDER_SIDE_SELL"}
    assert trade["maker"]["side"] != trade["taker"]["side"]
    assert trade["taker"]["intent"].startswith("ORDER_INTENT_")
    lite = wire.having("marketDataLite")[0]["marketDataLite"]
    assert {"bestBid", "bestAsk", "bidDepth", "askDepth", "bidShares", "askShares"} <= set(lite)
    await wire.close()


async def test_immediate_full_book_per_slug_on_subscribe(sim: Simulator) -> None:
    """Subscribing answers at once with one full book per slug, equal to the model's YES book."""
    wire = await open_wire(sim, MARKETS)
    slugs = slugs_of(sim)[:3]
    await wire.subscribe("md", "SUBSCRIPTION_TYPE_MARKET_DATA", slugs)
    await wire.barrier()
    books = wire.having("marketData", "md")
    assert [f["marketData"]["marketSlug"] for f in books] == slugs
    for frame in books:
        md = frame["marketData"]
        bids, asks = yes_book(sim, md["marketSlug"])
        assert levels(md.get("bids")) == bids
        assert levels(md.get("offers")) == asks
    await wire.close()


async def test_private_socket_sends_every_documented_kind(sim: Simulator) -> None:
    """Order snapshot (eof), order updates, positions, balance snapshot and updates, heartbeat."""
    wire = await open_wire(sim, PRIVATE)
    await wire.subscribe("ord", "SUBSCRIPTION_TYPE_ORDER")
    await wire.subscribe("pos", "SUBSCRIPTION_TYPE_POSITION")
    await wire.subscribe("bal", "SUBSCRIPTION_TYPE_ACCOUNT_BALANCE")
    await wire.barrier()
    while not (wire.having("positionSubscription") and wire.having("orderSubscriptionUpdate")):
        sim.advance(200)
        await wire.barrier()
    await wire.subscribe("snap", "SUBSCRIPTION_TYPE_ORDER_SNAPSHOT")
    await wait_until(lambda: bool(wire.having("heartbeat")))
    await wire.barrier()
    keys = {
        payload_key(f)
        for f in wire.frames
        if f and not f.get("requestId", "").startswith("barrier-")
    }
    assert keys == {
        "orderSubscriptionSnapshot",
        "orderSubscriptionUpdate",
        "positionSubscription",
        "accountBalancesSnapshot",
        "accountBalancesUpdate",
        "heartbeat",
    }
    snaps = wire.having("orderSubscriptionSnapshot", "snap")
    assert snaps[-1]["orderSubscriptionSnapshot"]["eof"] is True
    assert all(s["subscriptionType"] == "SUBSCRIPTION_TYPE_ORDER_SNAPSHOT" for s in snaps)
    assert len(wire.having("accountBalancesSnapshot", "bal")) == 1
    # EmitUnpopulated: every field present, the unpopulated error is "", nulls for unset.
    for frame in wire.frames:
        if frame and "requestId" in frame and not frame["requestId"].startswith("barrier-"):
            assert frame["error"] == ""
    execution = wire.having("orderSubscriptionUpdate")[0]["orderSubscriptionUpdate"]["execution"]
    assert set(execution) == {
        "id", "order", "lastShares", "lastPx", "type", "text", "transactTime", "tradeId",
        "aggressor", "orderRejectReason", "commissionNotionalCollected",
    }  # fmt: skip
    assert isinstance(execution["order"]["quantity"], int | float)
    position = wire.having("positionSubscription")[0]["positionSubscription"]
    assert position["transferReferenceTradeIds"] == []
    assert position["afterPosition"]["marketMetadata"]["slug"] in {
        m.slug for m in sim.markets(include_resolved=True)
    }
    balance = wire.having("accountBalancesUpdate")[0]["accountBalancesUpdate"]["balanceChange"]
    assert isinstance(balance["afterBalance"]["currentBalance"], int | float)
    assert balance["afterBalance"]["pendingWithdrawals"] == []
    await wire.close()


# ---------------------------------------------------------------- ground truth


async def test_books_rebuilt_from_market_data_equal_model(sim: Simulator) -> None:
    """Replacing a local book with every marketData frame ends equal to every YES book."""
    wire = await open_wire(sim, MARKETS)
    slugs = slugs_of(sim)
    await wire.subscribe("md", "SUBSCRIPTION_TYPE_MARKET_DATA", slugs)
    await wire.subscribe("lite", "SUBSCRIPTION_TYPE_MARKET_DATA_LITE", slugs)
    await wire.barrier()
    for _ in range(10):
        sim.advance(100)
    await wire.barrier()
    books: dict[str, tuple[list[tuple[Decimal, Decimal]], ...]] = {}
    for frame in wire.having("marketData", "md"):
        md = frame["marketData"]
        books[md["marketSlug"]] = (levels(md.get("bids")), levels(md.get("offers")))
    lites = {
        f["marketDataLite"]["marketSlug"]: f["marketDataLite"]
        for f in wire.having("marketDataLite")
    }
    assert len(wire.having("marketData", "md")) > len(slugs)
    for slug in slugs:
        bids, asks = yes_book(sim, slug)
        assert books[slug] == (bids, asks), slug
        lite = lites[slug]
        # One-sided books happen; an empty side has no BBO and no depth key (protojson).
        assert _amount(lite.get("bestBid")) == (bids[0][0] if bids else None)
        assert _amount(lite.get("bestAsk")) == (asks[0][0] if asks else None)
        assert (lite.get("bidDepth", 0), lite.get("askDepth", 0)) == (len(bids), len(asks))
    await wire.close()


async def test_private_account_state_equals_model(sim: Simulator) -> None:
    """Balance, positions and open orders rebuilt from private frames equal the model's account."""
    wire = await open_wire(sim, PRIVATE)
    await wire.subscribe("bal", "SUBSCRIPTION_TYPE_ACCOUNT_BALANCE")
    await wire.subscribe("pos", "SUBSCRIPTION_TYPE_POSITION")
    await wire.subscribe("ord", "SUBSCRIPTION_TYPE_ORDER")
    await wire.subscribe("snap", "SUBSCRIPTION_TYPE_ORDER_SNAPSHOT")
    await wire.barrier()
    for _ in range(30):
        sim.advance(200)
    await wire.barrier()
    balance = None
    positions: dict[str, Decimal] = {}
    orders: dict[str, Decimal] = {}
    for frame in wire.frames:
        if not frame:
            continue
        if "accountBalancesSnapshot" in frame:
            balance = Decimal(
                str(frame["accountBalancesSnapshot"]["balances"][0]["currentBalance"])
            )
        elif "accountBalancesUpdate" in frame:
            after = frame["accountBalancesUpdate"]["balanceChange"]["afterBalance"]
            balance = Decimal(str(after["currentBalance"]))
        elif "positionSubscription" in frame:
            after = frame["positionSubscription"]["afterPosition"]
            positions[after["marketMetadata"]["slug"]] = Decimal(after["netPositionDecimal"])
        elif "orderSubscriptionSnapshot" in frame:
            orders = {
                o["id"]: Decimal(str(o["leavesQuantity"]))
                for o in frame["orderSubscriptionSnapshot"]["orders"]
            }
        elif "orderSubscriptionUpdate" in frame:
            order = frame["orderSubscriptionUpdate"]["execution"]["order"]
            if order["state"] in {"ORDER_STATE_NEW", "ORDER_STATE_PARTIALLY_FILLED"}:
                orders[order["id"]] = Decimal(str(order["leavesQuantity"]))
            else:
                orders.pop(order["id"], None)
    truth = sim.account("us")
    assert wire.having("positionSubscription"), "the flow moved no US position"
    assert balance is not None and abs(balance - truth.balance) < Decimal("1e-6")
    by_slug = {m.token_ids[0]: m.slug for m in sim.markets(include_resolved=True)}
    expected_positions = {by_slug[t]: q for t, q in truth.positions.items() if t in by_slug}
    assert positions == {s: expected_positions.get(s, Decimal(0)) for s in positions}
    assert all(q == 0 for s, q in expected_positions.items() if s not in positions)
    assert orders == {o.order_id: o.remaining for o in truth.open_orders}
    await wire.close()


# ---------------------------------------------------------------- authentication and limits


@pytest.mark.parametrize("path", [MARKETS, PRIVATE])
async def test_missing_headers_refused_401(sim: Simulator, path: str) -> None:
    """An upgrade without the X-PM-* headers is refused with HTTP 401."""
    assert await refused_status(sim, path, {}) == 401


async def test_bad_signature_refused_401(sim: Simulator) -> None:
    """A signature over the wrong path (or by the wrong key) is refused with HTTP 401."""
    headers = signed(sim, "/")
    assert await refused_status(sim, MARKETS, headers) == 401
    other = sign_headers(sim.us_credentials.key_id, "A" * 43 + "=", "GET", PRIVATE, now_ms())
    assert await refused_status(sim, PRIVATE, other) == 401


async def test_unknown_key_refused_401(sim: Simulator) -> None:
    """A key id the venue does not know is refused with HTTP 401."""
    headers = sign_headers("not-a-key", sim.us_credentials.secret_key, "GET", MARKETS, now_ms())
    assert await refused_status(sim, MARKETS, headers) == 401


async def test_stale_signature_refused_401(sim: Simulator) -> None:
    """A correctly signed but 31 s old timestamp is refused with HTTP 401; 29 s old is fine."""
    stale = signed(sim, MARKETS, ts_ms=now_ms() - 31_000)
    assert await refused_status(sim, MARKETS, stale) == 401
    fresh = await open_wire(sim, MARKETS, headers=signed(sim, MARKETS, ts_ms=now_ms() - 29_000))
    await fresh.close()
    assert sim.stats().venues["us"]["auth_stale_timestamp"] == 1


async def test_too_many_connections_refused_429(monkeypatch: pytest.MonkeyPatch) -> None:
    """The key's connection limit (configurable) is enforced with HTTP 429, and frees on close."""
    monkeypatch.setattr(UsFrontEnd, "default_settings", UsSettings(max_connections_per_key=2))
    async with Simulator(seed=1, markets=2, rate=0) as sim:
        first = await open_wire(sim, MARKETS)
        second = await open_wire(sim, PRIVATE)
        assert await refused_status(sim, MARKETS, signed(sim, MARKETS)) == 429
        await first.close()
        await wait_until(lambda: sim.stats().venues["us"]["connections_open"] == 1)
        third = await open_wire(sim, MARKETS)
        assert sim.stats().venues["us"]["upgrades_refused_429"] == 1
        await second.close()
        await third.close()


# ---------------------------------------------------------------- requests


async def test_more_than_100_slugs_is_an_error_with_request_id(sim: Simulator) -> None:
    """101 slugs → an error frame carrying the requestId; 100 known slugs would be fine."""
    wire = await open_wire(sim, MARKETS)
    await wire.subscribe("big", "SUBSCRIPTION_TYPE_MARKET_DATA", [f"s-{n}" for n in range(101)])
    await wire.barrier()
    errors = wire.errors("big")
    assert len(errors) == 1
    assert errors[0]["subscriptionType"] == "SUBSCRIPTION_TYPE_MARKET_DATA"
    assert "100" in errors[0]["error"]
    assert not wire.having("marketData")
    await wire.close()


async def test_unknown_slug_is_an_error_with_request_id(sim: Simulator) -> None:
    """A subscription naming an unknown slug is refused whole with an error frame."""
    wire = await open_wire(sim, MARKETS)
    await wire.subscribe("u", "SUBSCRIPTION_TYPE_MARKET_DATA", [slugs_of(sim)[0], "no-such-slug"])
    await wire.barrier()
    assert [e["requestId"] for e in wire.errors()] == ["u"]
    assert "no-such-slug" in wire.errors("u")[0]["error"]
    assert not wire.having("marketData")
    await wire.close()


@pytest.mark.parametrize("text", ["not json", "[]", '{"subscribe": {"subscriptionType": 1}}',
                                  '{"requestId": "x", "subscriptionType": 1}'])  # fmt: skip
async def test_malformed_request_is_invalid_message(sim: Simulator, text: str) -> None:
    """Malformed requests answer {"error": "invalid_message"} with no requestId; socket stays up."""
    wire = await open_wire(sim, MARKETS)
    await wire.send(text)
    await wire.barrier()
    assert [f for f in wire.frames if f and "barrier" not in f.get("requestId", "")] == [
        {"error": "invalid_message"}
    ]
    assert wire.closed is None
    await wire.close()


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ({"request_id": "s", "subscription_type": 1, "market_slugs": None}, "marketData"),
        ({"requestId": "s", "subscriptionType": 2, "marketSlugs": None}, "marketDataLite"),
        ({"request_id": "s", "subscription_type": "SUBSCRIPTION_TYPE_MARKET_DATA",
          "market_slugs": None}, "marketData"),
    ],
)  # fmt: skip
async def test_snake_case_and_numeric_enums_accepted(
    sim: Simulator, body: dict[str, Any], key: str
) -> None:
    """protojson input forms (snake_case keys, numeric enums) subscribe like camelCase does."""
    wire = await open_wire(sim, MARKETS)
    slug = slugs_of(sim)[0]
    body = {k: (v if v is not None else [slug]) for k, v in body.items()}
    await wire.send({"subscribe": body})
    await wire.barrier()
    frames = wire.having(key, "s")
    assert frames and frames[0][key]["marketSlug"] == slug
    assert not wire.errors()
    await wire.close()


async def test_numeric_private_enums_accepted(sim: Simulator) -> None:
    """On the private socket 4 means ACCOUNT_BALANCE: it answers with the balance snapshot."""
    wire = await open_wire(sim, PRIVATE)
    await wire.send({"subscribe": {"request_id": "b", "subscription_type": 4}})
    await wire.barrier()
    frames = wire.having("accountBalancesSnapshot", "b")
    assert frames and frames[0]["subscriptionType"] == "SUBSCRIPTION_TYPE_ACCOUNT_BALANCE"
    await wire.close()


async def test_unsubscribe_stops_frames(sim: Simulator) -> None:
    """After unsubscribe, the request id gets no more frames."""
    wire = await open_wire(sim, MARKETS)
    slugs = slugs_of(sim)
    await wire.subscribe("md", "SUBSCRIPTION_TYPE_MARKET_DATA", slugs)
    await wire.barrier()
    sim.advance(100)
    await wire.barrier()
    await wire.send({"unsubscribe": {"requestId": "md"}})
    mark = await wire.barrier()
    sim.advance(300)
    await wire.barrier()
    assert not [f for f in wire.frames[mark:] if f and f.get("requestId") == "md"]
    assert len(wire.having("marketData", "md")) > len(slugs)
    await wire.close()


async def test_duplicate_slug_subscription_refused(sim: Simulator) -> None:
    """A same-type subscription naming an already covered slug is refused; other types are not."""
    wire = await open_wire(sim, MARKETS)
    slug = slugs_of(sim)[0]
    await wire.subscribe("a", "SUBSCRIPTION_TYPE_MARKET_DATA", [slug])
    await wire.subscribe("b", "SUBSCRIPTION_TYPE_MARKET_DATA", [slug])
    await wire.subscribe("c", "SUBSCRIPTION_TYPE_TRADE", [slug])
    await wire.subscribe("a", "SUBSCRIPTION_TYPE_TRADE", [slugs_of(sim)[1]])
    await wire.barrier()
    assert sorted(e["requestId"] for e in wire.errors()) == ["a", "b"]
    assert len(wire.having("marketData", "a")) == 1
    await wire.close()


async def test_debounced_subscription_batches_books(sim: Simulator) -> None:
    """responsesDebounced: many changes between two flushes yield one (exact) book, not many."""
    wire = await open_wire(sim, MARKETS)
    slug = slugs_of(sim)[0]
    await wire.send({"subscribe": {"requestId": "d", "subscriptionType": 1,
                                   "marketSlugs": [slug], "responsesDebounced": True}})  # fmt: skip
    await wire.barrier()
    assert len(wire.having("marketData", "d")) == 1
    # All of this flow happens before the venue's next flush (no await in between).
    changed = 0
    while changed < 5:
        changes = sim.advance(50)
        market = next(m for m in sim.markets(include_resolved=True) if m.slug == slug)
        changed += sum(1 for c in changes if getattr(c, "condition_id", "") == market.condition_id)
    await wait_until(lambda: len(wire.having("marketData", "d")) >= 2)
    await wire.barrier()
    frames = wire.having("marketData", "d")
    assert len(frames) == 2
    last = frames[-1]["marketData"]
    assert (levels(last.get("bids")), levels(last.get("offers"))) == yes_book(sim, slug)
    await wire.close()


# ---------------------------------------------------------------- heartbeats and closes


async def test_heartbeats_on_both_sockets_at_configured_interval(sim: Simulator) -> None:
    """Heartbeats arrive on both sockets with no subscription and no flow."""
    markets = await open_wire(sim, MARKETS)
    private = await open_wire(sim, PRIVATE)
    await wait_until(lambda: len(markets.having("heartbeat")) >= 3)
    await wait_until(lambda: len(private.having("heartbeat")) >= 3)
    assert all(f == {"heartbeat": {}} for f in markets.frames)
    await markets.close()
    await private.close()


async def test_ws_ping_answered(sim: Simulator) -> None:
    """Protocol-level pings get pongs (the SDK's keep-alive)."""
    wire = await open_wire(sim, MARKETS)
    latency = await asyncio.wait_for(await wire.ws.ping(), 5)
    assert latency >= 0
    await wire.close()


async def test_simulator_stop_closes_1001() -> None:
    """Stopping the simulator closes US sockets with 1001 going away."""
    async with Simulator(seed=2, markets=2, rate=0) as sim:
        wire = await open_wire(sim, MARKETS)
    await wait_until(lambda: wire.closed is not None)
    assert wire.closed is not None and wire.closed[0] is not None
    assert wire.closed[0].code == 1001


async def test_close_all_closes_1000(monkeypatch: pytest.MonkeyPatch) -> None:
    """A normal shutdown of the venue closes with 1000."""
    built: list[UsFrontEnd] = []
    original = UsFrontEnd.from_context.__func__  # type: ignore[attr-defined]

    def capture(cls: type[UsFrontEnd], model: Any, ctx: Any) -> UsFrontEnd:
        venue = original(cls, model, ctx)
        built.append(venue)
        return venue

    monkeypatch.setattr(UsFrontEnd, "from_context", classmethod(capture))
    async with Simulator(seed=2, markets=2, rate=0) as sim:
        wire = await open_wire(sim, PRIVATE)
        await built[0].close_all()
        await wait_until(lambda: wire.closed is not None)
        assert wire.closed is not None and wire.closed[0] is not None
        assert wire.closed[0].code == 1000


# ---------------------------------------------------------------- faults


async def test_fault_drop(sim: Simulator) -> None:
    """drop aborts the TCP connection: the client sees no close frame (1006)."""
    wire = await open_wire(sim, MARKETS)
    await wire.barrier()
    assert sim.faults.drop(Target(venue="us")) == 1
    await wait_until(lambda: wire.closed is not None)
    assert wire.closed is not None and wire.closed[0] is None
    assert sim.stats().faults_fired["drop"] == 1


async def test_fault_stall_keeps_heartbeats(sim: Simulator) -> None:
    """stall withholds data while heartbeats continue; clearing it lets books flow again."""
    wire = await open_wire(sim, MARKETS)
    slugs = slugs_of(sim)
    await wire.subscribe("md", "SUBSCRIPTION_TYPE_MARKET_DATA", slugs)
    await wire.barrier()
    sim.faults.stall(Target(venue="us"))
    mark = len(wire.frames)
    sim.advance(300)
    beats = len(wire.having("heartbeat"))
    await wait_until(lambda: len(wire.having("heartbeat")) >= beats + 2)
    assert all(f == {"heartbeat": {}} for f in wire.frames[mark:])
    assert sim.stats().frames_withheld > 0
    assert sim.stats().faults_fired["stall"] >= 1
    sim.faults.clear()
    sim.advance(300)
    await wire.barrier()
    assert [f for f in wire.frames[mark:] if f and "marketData" in f]
    await wire.close()


async def test_fault_mute_heartbeat(sim: Simulator) -> None:
    """mute_heartbeat stops heartbeats (counted as withheld) while data still flows."""
    wire = await open_wire(sim, MARKETS)
    await wire.subscribe("md", "SUBSCRIPTION_TYPE_MARKET_DATA", slugs_of(sim))
    await wire.barrier()
    sim.faults.mute_heartbeat(Target(venue="us"))
    mark = await wire.barrier()
    withheld = sim.stats().frames_withheld
    await wait_until(lambda: sim.stats().frames_withheld >= withheld + 3)
    sim.advance(100)
    await wire.barrier()
    after = [f for f in wire.frames[mark:] if f]
    assert not [f for f in after if "heartbeat" in f]
    assert [f for f in after if "marketData" in f]
    await wire.close()


@pytest.mark.parametrize("path", [MARKETS, PRIVATE])
async def test_fault_malformed(sim: Simulator, path: str) -> None:
    """malformed sends frames that are not JSON objects (counted as fault:malformed)."""
    wire = await open_wire(sim, path)
    await wire.barrier()
    assert sim.faults.inject("malformed", Target(venue="us")) == 1
    await wire.barrier()
    bad = [raw for raw, frame in zip(wire.raw, wire.frames, strict=True) if frame is None]
    assert bad and all(not _is_json_object(raw) for raw in bad)
    assert sim.stats().frames_sent["fault:malformed"] >= 1
    assert sim.stats().faults_fired["malformed"] == 1
    await wire.close()


def _is_json_object(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except ValueError:
        return False


async def test_fault_oversized(sim: Simulator) -> None:
    """oversized sends a frame past 1 MiB: a default-limit client closes with 1009."""
    big = await open_wire(sim, MARKETS)  # no frame limit
    headers = signed(sim, MARKETS)
    ws = await connect(f"{sim.ws_url}{MARKETS}", additional_headers=headers, **_PROXY_KW)
    default = Wire(ws)  # websockets' (and the SDK's) default 1 MiB limit
    assert sim.faults.inject("oversized", Target(venue="us")) == 2
    await big.barrier()
    assert max(len(raw) for raw in big.raw) > 2**20
    await wait_until(lambda: default.closed is not None)
    assert default.closed is not None and default.closed[1] is not None
    assert default.closed[1].code == 1009
    assert sim.stats().faults_fired["oversized"] == 2
    assert sim.stats().frames_sent["fault:oversized"] == 2
    await big.close()


async def test_fault_unknown_payload_key(sim: Simulator) -> None:
    """unknown_event sends a well-formed envelope whose payload key is not a documented one."""
    wire = await open_wire(sim, MARKETS)
    await wire.subscribe("md", "SUBSCRIPTION_TYPE_MARKET_DATA", slugs_of(sim)[:1])
    await wire.barrier()
    sim.faults.inject("unknown_event", Target(venue="us"))
    await wire.barrier()
    known = {"marketData", "marketDataLite", "trade", "heartbeat", "error"}
    odd = [f for f in wire.frames if f and not known & set(f)]
    assert len(odd) == 1 and odd[0]["requestId"] == "md"
    assert payload_key(odd[0]) not in known
    assert sim.stats().faults_fired["unknown_event"] == 1
    await wire.close()


async def test_fault_missing_payload(sim: Simulator) -> None:
    """missing_event_type sends an envelope with no payload key at all."""
    wire = await open_wire(sim, PRIVATE)
    await wire.subscribe("o", "SUBSCRIPTION_TYPE_ORDER")
    await wire.barrier()
    sim.faults.inject("missing_event_type", Target(venue="us"))
    await wire.barrier()
    assert {"requestId": "o", "subscriptionType": "SUBSCRIPTION_TYPE_ORDER"} in wire.frames
    assert sim.stats().faults_fired["missing_event_type"] == 1
    await wire.close()


async def test_fault_refuse_upgrade_429(sim: Simulator) -> None:
    """refuse_upgrade answers the next upgrade with 429, then accepts again."""
    sim.faults.refuse_upgrades(count=1)
    assert await refused_status(sim, MARKETS, signed(sim, MARKETS)) == 429
    wire = await open_wire(sim, MARKETS)
    assert sim.stats().faults_fired["refuse_upgrade"] == 1
    await wire.close()


async def test_fault_clock_skew_refuses_401(sim: Simulator) -> None:
    """Skewing the server clock past the 30 s window makes honest signatures stale (401)."""
    sim.faults.skew_clock(45_000)
    assert await refused_status(sim, PRIVATE, signed(sim, PRIVATE)) == 401
    assert sim.stats().faults_fired["clock_skew"] == 1
    assert sim.stats().venues["us"]["auth_stale_timestamp"] == 1
    sim.faults.skew_clock(0)
    wire = await open_wire(sim, PRIVATE)
    await wire.close()


async def test_fault_burst_arrays(sim: Simulator) -> None:
    """burst_arrays groups data frames into JSON arrays on the US sockets too."""
    wire = await open_wire(sim, MARKETS)
    await wire.subscribe("tr", "SUBSCRIPTION_TYPE_TRADE", slugs_of(sim))
    await wire.barrier()
    sim.faults.burst_arrays(Target(venue="us"), events=6, size=3)
    while sim.stats().frames_sent.get("array", 0) < 1:
        sim.advance(50)
        await asyncio.sleep(0)
    await wire.barrier()
    arrays = [raw for raw in wire.raw if raw.startswith("[")]
    assert arrays and all(isinstance(json.loads(a), list) for a in arrays)
    await wire.close()


async def test_socket_not_admitted_by_check_upgrade_is_closed_1008(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Belt and braces: a socket whose upgrade was never checked is closed with 1008."""
    monkeypatch.setattr(UsFrontEnd, "check_upgrade", lambda self, path, headers: None)
    async with Simulator(seed=3, markets=2, rate=0) as sim:
        wire = await open_wire(sim, MARKETS, headers={"X-PM-Access-Key": "x"})
        await wait_until(lambda: wire.closed is not None)
        assert wire.closed is not None and wire.closed[0] is not None
        assert wire.closed[0].code == 1008
        assert sim.stats().venues["us"]["connections_refused_unadmitted"] == 1


def test_position_bookkeeping_average_cost() -> None:
    """Cost, P&L and bought/sold follow the average-cost method; a failed fill is undone."""
    from polyresearch.simulator.us import _Position

    pos = _Position()
    pos.apply("t1", Decimal(10), Decimal("0.4"))
    pos.apply("t2", Decimal(10), Decimal("0.6"))
    pos.apply("t3", Decimal(-5), Decimal("0.7"))
    assert (pos.net, pos.bought, pos.sold) == (15, 20, 5)
    assert pos.cost == Decimal("7.5") and pos.realized == Decimal("1.0")
    pos.revert("t3")  # the sell failed settlement
    assert (pos.net, pos.bought, pos.sold, pos.cost, pos.realized) == (20, 20, 0, 10, 0)
    pos.apply("", Decimal(-20), Decimal(1))  # resolved YES
    assert (pos.net, pos.cost, pos.realized) == (0, 0, 10)


async def test_fault_midstream_book(sim: Simulator) -> None:
    """midstream_book re-sends each subscribed full book (harmless on US: every book is full)."""
    wire = await open_wire(sim, MARKETS)
    slugs = slugs_of(sim)[:2]
    await wire.subscribe("md", "SUBSCRIPTION_TYPE_MARKET_DATA", slugs)
    await wire.barrier()
    mark = len(wire.frames)
    assert sim.faults.inject("midstream_book", Target(venue="us")) == 1
    await wire.barrier()
    extra = [f["marketData"] for f in wire.frames[mark:] if f and "marketData" in f]
    assert sorted(md["marketSlug"] for md in extra) == sorted(slugs)
    for md in extra:
        assert (levels(md.get("bids")), levels(md.get("offers"))) == yes_book(sim, md["marketSlug"])
    assert sim.stats().frames_sent["fault:midstream_book"] == 2


async def test_fault_skip_delta_drops_one_book_update(sim: Simulator) -> None:
    """skip_delta eats the next book update (not the subscribe snapshot); later ones still come."""
    wire = await open_wire(sim, MARKETS)
    slugs = slugs_of(sim)
    await wire.subscribe("md", "SUBSCRIPTION_TYPE_MARKET_DATA", slugs)
    await wire.barrier()
    sim.faults.skip_deltas(Target(venue="us"), count=1)
    withheld = sim.stats().frames_withheld
    while sim.stats().frames_withheld == withheld:
        sim.advance(5)
        await asyncio.sleep(0)
    sim.advance(200)
    await wire.barrier()
    assert sim.stats().frames_withheld == withheld + 1
    assert len(wire.having("marketData", "md")) > len(slugs)
    await wire.close()
