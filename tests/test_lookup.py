"""Market look-up: real REST paths against the simulator, venue misbehaviour via MockTransport."""

from __future__ import annotations

import asyncio
import json
import pickle
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import msgspec
import pytest
from websockets.asyncio.client import connect

import polyresearch.lookup as lookup_module
from polyresearch.errors import (
    ConfigError,
    FrameDecodeError,
    PolyresearchError,
    ProtocolError,
    TransportError,
)
from polyresearch.lookup import (
    MAX_IDS_PER_REQUEST,
    Market,
    MarketNotFoundError,
    RestError,
    alookup,
    alookup_many,
    lookup,
    lookup_many,
)
from polyresearch.protocol.clob import ClobMarketDecoder, market_subscribe
from polyresearch.protocol.events import BookSnapshot
from polyresearch.simulator import ModelConfig, Simulator
from polyresearch.simulator.market import SimMarket
from polyresearch.state.books import BookSet, MarketParams

UNKNOWN_TOKEN = "1" * 77
UNKNOWN_CONDITION = "0x" + "ab" * 32


# ---------------------------------------------------------------------------- helpers


class RecordingTransport(httpx.AsyncHTTPTransport):
    """A real socket transport that remembers every request it sends."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return await super().handle_async_request(request)

    def paths(self, path: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path == path]


def assert_same_market(found: Market, truth: SimMarket) -> None:
    assert found.venue == "clob"
    assert found.slug == truth.slug
    assert found.question == truth.question
    assert found.condition_id == truth.condition_id
    assert found.market_id == truth.market_id
    assert found.token_ids == truth.token_ids
    assert found.outcomes == truth.outcomes
    assert found.tick_size == str(truth.tick_size)
    assert found.min_order_size == str(truth.min_order_size)
    assert found.neg_risk is truth.neg_risk
    assert found.active is truth.active
    assert found.closed is truth.resolved
    assert found.event_slug == truth.event_slug


def gamma_market(
    slug: str = "m-one",
    *,
    condition: str = "0x" + "c1" * 32,
    tokens: tuple[str, str] = ("1" + "0" * 76, "2" + "0" * 76),
    tick: object = 0.01,
    size: object = 5,
    neg_risk: bool = False,
    closed: bool = False,
) -> dict[str, Any]:
    """A Gamma market as the real API writes it (double-encoded list fields)."""
    return {
        "id": "516710",
        "question": f"{slug}?",
        "conditionId": condition,
        "slug": slug,
        "outcomes": json.dumps(["Yes", "No"]),
        "outcomePrices": json.dumps(["0.5", "0.5"]),
        "clobTokenIds": json.dumps(list(tokens)),
        "active": not closed,
        "closed": closed,
        "orderPriceMinTickSize": tick,
        "orderMinSize": size,
        "negRisk": neg_risk,
    }


def book_body(gamma: dict[str, Any], **fields: object) -> dict[str, Any]:
    body: dict[str, Any] = {
        "market": gamma["conditionId"],
        "asset_id": json.loads(gamma["clobTokenIds"])[0],
        "timestamp": "1700000000000",
        "hash": "0" * 40,
        "bids": [],
        "asks": [],
        "min_order_size": "5",
        "tick_size": "0.01",
        "neg_risk": gamma["negRisk"],
        "last_trade_price": "",
    }
    body.update(fields)
    return body


Handler = Callable[[httpx.Request], httpx.Response]


def venue(
    markets: list[dict[str, Any]],
    *,
    book: Callable[[httpx.Request], httpx.Response] | None = None,
    events: list[dict[str, Any]] | None = None,
) -> Handler:
    """A fake Gamma + CLOB that filters like the real one (slug/token/condition, closed)."""

    def handle(request: httpx.Request) -> httpx.Response:
        params = request.url.params
        if request.url.path == "/markets":
            closed = params.get("closed", "false") == "true"
            slugs = set(params.get_list("slug"))
            tokens = set(params.get_list("clob_token_ids"))
            conditions = set(params.get_list("condition_ids"))
            hits = [
                m
                for m in markets
                if m["closed"] is closed
                and (not slugs or m["slug"] in slugs)
                and (not tokens or tokens & set(json.loads(m["clobTokenIds"])))
                and (not conditions or m["conditionId"] in conditions)
            ]
            return httpx.Response(200, json=hits)
        if request.url.path == "/events":
            slugs = set(params.get_list("slug"))
            return httpx.Response(200, json=[e for e in events or [] if e["slug"] in slugs])
        if request.url.path == "/book":
            if book is not None:
                return book(request)
            token = params["token_id"]
            for m in markets:
                if token in json.loads(m["clobTokenIds"]):
                    return httpx.Response(200, json=book_body(m))
            return httpx.Response(404, json={"error": "No orderbook exists"})
        return httpx.Response(404, json={"error": "not found"})

    return handle


class Counting:
    """Wraps a handler and counts the calls per path."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.calls: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(request.url.path)
        return self.handler(request)


def mock_client(handler: Handler) -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(handler))


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator(seed=7, markets=25, rate=0) as simulator:
        yield simulator


@pytest.fixture
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lookup_module, "_BACKOFF_BASE", 0.001)


# ---------------------------------------------------------------------------- simulator: CLOB


async def test_slug_lookup_matches_simulator(sim: Simulator) -> None:
    """By slug, every field equals the simulator's market, hash params from /book."""
    truth = next(m for m in sim.markets() if m.neg_risk)
    found = await alookup(truth.slug, base_url=sim.http_url)
    assert_same_market(found, truth)
    assert found.params_source == "book"


async def test_token_id_lookup_sync(sim: Simulator) -> None:
    """The sync look-up by the NO token id finds the market, YES token first."""
    truth = sim.markets()[3]
    found = await asyncio.to_thread(lookup, truth.token_ids[1], base_url=sim.http_url)
    assert_same_market(found, truth)
    assert found.token("no") == truth.token_ids[1] and found.token() == truth.token_ids[0]


async def test_condition_id_lookup(sim: Simulator) -> None:
    """By condition id (hex case ignored) with separate gamma_url/clob_url arguments."""
    truth = sim.markets()[5]
    key = "0x" + truth.condition_id[2:].upper()
    found = await alookup(key, gamma_url=sim.http_url, clob_url=sim.http_url + "/")
    assert_same_market(found, truth)


async def test_polymarket_urls(sim: Simulator) -> None:
    """Event/market URLs, query strings, and an event URL whose event has one market."""
    truth = sim.markets()[2]
    keys = [
        f"https://polymarket.com/event/{truth.event_slug}/{truth.slug}?tid=123",
        f"polymarket.com/market/{truth.slug}",
        f"https://polymarket.com/event/{truth.event_slug}",
    ]
    assert truth.event_slug != truth.slug  # the last key really goes through the event path
    found = await alookup_many(keys, base_url=sim.http_url)
    assert list(found) == keys
    for market in found.values():
        assert_same_market(market, truth)


async def test_batch_chunks_dedupes_and_keeps_order(sim: Simulator) -> None:
    """25 slugs + a token + a condition id: ≤20 ids per Gamma request, one /book per market."""
    markets = sim.markets()
    keys = [m.slug for m in reversed(markets)] + [
        markets[0].token_ids[1],
        markets[1].condition_id,
    ]
    transport = RecordingTransport()
    async with httpx.AsyncClient(transport=transport) as client:
        found = await alookup_many(keys, base_url=sim.http_url, client=client)
    assert list(found) == keys
    for market in markets:
        assert_same_market(found[market.slug], market)
    assert found[markets[0].token_ids[1]] == found[markets[0].slug]
    assert found[markets[1].condition_id] == found[markets[1].slug]
    gamma = transport.paths("/markets")
    slug_batches = [len(r.url.params.get_list("slug")) for r in gamma]
    assert sorted(n for n in slug_batches if n) == [5, MAX_IDS_PER_REQUEST]
    assert all(r.url.params["closed"] == "false" for r in gamma)  # all open: no second round
    books = transport.paths("/book")
    assert sorted(r.url.params["token_id"] for r in books) == sorted(
        m.token_ids[0] for m in markets
    )


async def test_batch_covers_both_tick_sizes_and_neg_risk(sim: Simulator) -> None:
    """The sync batch reproduces fine and coarse ticks and both neg_risk values."""
    markets = sim.markets()
    found = await asyncio.to_thread(lookup_many, [m.slug for m in markets], base_url=sim.http_url)
    assert {m.tick_size for m in found.values()} == {"0.01", "0.001"}
    assert {m.neg_risk for m in found.values()} == {True, False}
    for market in markets:
        assert_same_market(found[market.slug], market)


async def test_closed_market_found() -> None:
    """A resolved market (hidden by Gamma's closed=false default) is found with closed=true."""
    config = ModelConfig(lifecycle_rate=0.05)
    async with Simulator(seed=2, markets=3, rate=0, model_config=config) as sim:
        sim.advance(400)
        resolved = [m for m in sim.markets(include_resolved=True) if m.resolved]
        assert resolved
        transport = RecordingTransport()
        async with httpx.AsyncClient(transport=transport) as client:
            found = await alookup(resolved[0].token_ids[0], base_url=sim.http_url, client=client)
    assert_same_market(found, resolved[0])
    assert found.closed is True and found.active is False
    closed_flags = [r.url.params["closed"] for r in transport.paths("/markets")]
    assert closed_flags == ["false", "true"]


async def test_clob_not_found(sim: Simulator) -> None:
    """Unknown slug, token id and condition id raise one MarketNotFoundError naming each."""
    with pytest.raises(MarketNotFoundError) as caught:
        await alookup("no-such-market", base_url=sim.http_url)
    assert "no-such-market" in str(caught.value) and caught.value.key == "no-such-market"
    assert isinstance(caught.value, LookupError) and isinstance(caught.value, PolyresearchError)
    keys = [sim.markets()[0].slug, "no-such-market", UNKNOWN_TOKEN, UNKNOWN_CONDITION]
    with pytest.raises(MarketNotFoundError) as many:
        await alookup_many(keys, base_url=sim.http_url)
    assert many.value.keys == tuple(keys[1:])
    assert all(key in str(many.value) for key in keys[1:])
    skipped = await alookup_many(keys, base_url=sim.http_url, missing="skip")
    assert list(skipped) == keys[:1]


# ---------------------------------------------------------------------------- simulator: US


async def test_us_by_slug(sim: Simulator) -> None:
    """US gateway look-up by slug: id, tick size, minimum trade quantity, the slug as asset."""
    truth = sim.markets()[4]
    found = await alookup(truth.slug, venue="us", base_url=sim.http_url)
    assert found.venue == "us" and found.slug == truth.slug
    assert found.market_id == truth.market_id and found.question == truth.question
    assert found.tick_size == str(truth.tick_size)
    assert found.min_order_size == "1"  # the simulator's minimumTradeQty
    assert found.outcomes == truth.outcomes
    assert found.asset_ids == (truth.slug,) and found.params() == {}
    assert found.condition_id == "" and found.params_source == "gateway"


async def test_us_batch_and_not_found(sim: Simulator) -> None:
    """US batch by slug and URL; unknown slugs are skipped or raised, naming the key."""
    first, second = sim.markets()[0], sim.markets()[1]
    keys = [first.slug, f"https://polymarket.us/market/{second.slug}", "no-such-us-market"]
    found = await asyncio.to_thread(
        lookup_many, keys, venue="us", base_url=sim.http_url, missing="skip"
    )
    assert list(found) == keys[:2]
    assert [m.slug for m in found.values()] == [first.slug, second.slug]
    with pytest.raises(MarketNotFoundError, match="no-such-us-market") as caught:
        await alookup_many(keys, venue="us", base_url=sim.http_url)
    assert caught.value.venue == "us" and caught.value.keys == (keys[2],)


async def test_us_closed_market_via_slug_path() -> None:
    """A resolved US market missing from a filtered list is fetched by /v1/market/slug/."""
    config = ModelConfig(lifecycle_rate=0.05)
    async with Simulator(seed=2, markets=3, rate=0, model_config=config) as sim:
        sim.advance(400)
        resolved = next(m for m in sim.markets(include_resolved=True) if m.resolved)
        found = await alookup(resolved.slug, venue="us", base_url=sim.http_url)
    assert found.closed is True and found.slug == resolved.slug


# ---------------------------------------------------------------------------- hashes


async def test_params_verify_live_book_hashes(sim: Simulator) -> None:
    """The looked-up params verify the WS initial books' hashes; wrong params do not."""
    truth = next(m for m in sim.markets() if m.neg_risk)
    market = await alookup(truth.slug, base_url=sim.http_url)
    async with connect(sim.clob_market_url) as ws:
        for frame in market_subscribe(market.token_ids):
            await ws.send(frame)
        raw = await asyncio.wait_for(ws.recv(), 5)
    books = [e for e in ClobMarketDecoder().receive(raw) if isinstance(e, BookSnapshot)]
    assert sorted(b.asset_id for b in books) == sorted(market.token_ids)
    assert all(b.hash for b in books)

    good = BookSet(params=market.params(), hash_every=1)
    flipped = MarketParams(min_order_size="5", neg_risk=False, token_ids=market.token_ids)
    bad_risk = BookSet(params=dict.fromkeys(market.token_ids, flipped), hash_every=1)
    wordy = MarketParams(min_order_size="5.0", neg_risk=True, token_ids=market.token_ids)
    bad_text = BookSet(params=dict.fromkeys(market.token_ids, wordy), hash_every=1)
    for book_set in (good, bad_risk, bad_text):
        for book in books:
            book_set.apply(book)
    assert good.stats().hashes_verified == 2 and good.stats().hashes_unverified == 0
    assert bad_risk.stats().hashes_verified == 0 and bad_risk.stats().hashes_unverified == 2
    assert bad_text.stats().hashes_verified == 0 and bad_text.stats().hashes_unverified == 2


async def test_params_verify_rest_book_hash(sim: Simulator) -> None:
    """The params verify the hash of a REST /book body decoded as a book event."""
    truth = next(m for m in sim.markets() if not m.neg_risk)
    market = await alookup(truth.token_ids[0], base_url=sim.http_url)
    async with httpx.AsyncClient(base_url=sim.http_url) as client:
        body = (await client.get("/book", params={"token_id": market.token_ids[1]})).json()
    body["event_type"] = "book"
    (book,) = ClobMarketDecoder().receive(json.dumps(body, separators=(",", ":")))
    books = BookSet(params=market.params())
    books.apply(book)
    assert books.stats().hashes_verified == 1


# ---------------------------------------------------------------------------- Gamma vs /book


def test_book_text_wins_over_gamma() -> None:
    """When /book disagrees with Gamma, its tick, minimum size and neg_risk text win."""
    market = gamma_market(tick=0.01, size=5, neg_risk=False)

    def book(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, json=book_body(market, tick_size="0.001", min_order_size="15", neg_risk=True)
        )

    with mock_client(venue([market], book=book)) as client:
        found = lookup("m-one", client=client)
    assert (found.tick_size, found.min_order_size, found.neg_risk) == ("0.001", "15", True)
    assert found.params_source == "book"
    assert found.params()[found.token_ids[1]].min_order_size == "15"


@pytest.mark.parametrize(
    ("tick", "size", "want"),
    [(0.001, 5, ("0.001", "5")), (0.01, 5.0, ("0.01", "5")), (1e-05, "2.5", ("0.00001", "2.5"))],
)
def test_gamma_numbers_as_text_without_book(tick: object, size: object, want: Any) -> None:
    """No /book (404): Gamma's numbers are rendered as plain decimal text."""
    counting = Counting(
        venue([gamma_market(tick=tick, size=size)], book=lambda r: httpx.Response(404))
    )
    with mock_client(counting) as client:
        found = lookup("m-one", client=client)
    assert (found.tick_size, found.min_order_size) == want
    assert found.params_source == "gamma" and counting.calls.count("/book") == 1


def test_clob_book_false_skips_book() -> None:
    """clob_book=False makes no /book request and keeps Gamma's values."""
    counting = Counting(venue([gamma_market(tick=0.001)]))
    with mock_client(counting) as client:
        found = lookup("m-one", client=client, clob_book=False)
    assert "/book" not in counting.calls
    assert found.tick_size == "0.001" and found.params_source == "gamma"


def test_book_of_another_market_is_protocol_error() -> None:
    """A /book that names a different condition id than Gamma is a ProtocolError."""
    market = gamma_market()

    def book(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=book_body(market, market="0x" + "ee" * 32))

    with mock_client(venue([market], book=book)) as client, pytest.raises(ProtocolError):
        lookup("m-one", client=client)


def test_unfiltered_gamma_answer_is_not_a_match() -> None:
    """A Gamma that ignores the filter and lists other markets yields MarketNotFoundError."""
    others = [gamma_market("other-a"), gamma_market("other-b", closed=True)]

    def ignore_filters(request: httpx.Request) -> httpx.Response:
        if request.url.path in ("/markets", "/events"):
            return httpx.Response(200, json=others if request.url.path == "/markets" else [])
        return httpx.Response(404)

    with mock_client(ignore_filters) as client, pytest.raises(MarketNotFoundError, match="m-one"):
        lookup("m-one", client=client)


def test_event_with_several_markets_lists_them() -> None:
    """An event slug with several markets raises MarketNotFoundError listing their slugs."""
    event = {
        "slug": "big-event",
        "markets": [gamma_market("big-event-a"), gamma_market("big-event-b")],
    }
    with mock_client(venue([], events=[event])) as client:
        with pytest.raises(MarketNotFoundError) as caught:
            lookup("https://polymarket.com/event/big-event", client=client)
    assert caught.value.candidates == {
        "https://polymarket.com/event/big-event": ("big-event-a", "big-event-b")
    }
    assert "big-event-a, big-event-b" in str(caught.value)


# ---------------------------------------------------------------------------- transport errors


def test_429_then_success_is_retried(fast_backoff: None) -> None:
    """A 429 with Retry-After: 0 is retried and the look-up succeeds."""
    inner = venue([gamma_market()])
    seen: list[str] = []

    def limited(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        if seen.count("/markets") == 1 and request.url.path == "/markets":
            return httpx.Response(429, headers={"Retry-After": "0"}, text="slow down")
        return inner(request)

    with mock_client(limited) as client:
        found = lookup("m-one", client=client)
    assert found.slug == "m-one" and seen == ["/markets", "/markets", "/book"]


def test_persistent_500_raises_rest_error(fast_backoff: None) -> None:
    """A 500 that never clears raises RestError(status=500) after retries+1 attempts."""
    counting = Counting(lambda request: httpx.Response(500, text="boom"))
    with mock_client(counting) as client, pytest.raises(RestError) as caught:
        lookup("m-one", client=client, retries=2)
    assert caught.value.status == 500 and "boom" in str(caught.value)
    assert isinstance(caught.value, TransportError) and len(counting.calls) == 3


def test_client_error_is_not_retried() -> None:
    """A 400 is final: one attempt, RestError with the status and URL."""
    counting = Counting(lambda request: httpx.Response(400, json={"error": "bad"}))
    with mock_client(counting) as client, pytest.raises(RestError) as caught:
        lookup("m-one", client=client, gamma_url="https://gamma.test")
    assert caught.value.status == 400 and caught.value.url == "https://gamma.test/markets"
    assert len(counting.calls) == 1


def test_long_retry_after_fails_fast() -> None:
    """A Retry-After beyond the cap fails at once instead of blocking the caller."""
    counting = Counting(lambda request: httpx.Response(429, headers={"Retry-After": "3600"}))
    started = time.monotonic()
    with mock_client(counting) as client, pytest.raises(RestError) as caught:
        lookup("m-one", client=client)
    assert caught.value.status == 429 and len(counting.calls) == 1
    assert time.monotonic() - started < 2


def test_timeouts_raise_rest_error(fast_backoff: None) -> None:
    """Read timeouts are retried, then raise RestError with no status."""

    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("no answer", request=request)

    counting = Counting(slow)
    with mock_client(counting) as client, pytest.raises(RestError, match="timed out") as caught:
        lookup("m-one", client=client, retries=1)
    assert caught.value.status is None and len(counting.calls) == 2


async def test_silent_server_does_not_hang() -> None:
    """A real server that accepts and never answers: RestError within the timeout."""
    release = asyncio.Event()
    handlers: list[asyncio.Task[None]] = []

    async def mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handlers.append(asyncio.current_task())  # type: ignore[arg-type]
        await release.wait()
        writer.close()
        await writer.wait_closed()

    server = await asyncio.start_server(mute, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    started = time.monotonic()
    try:
        with pytest.raises(RestError) as caught:
            await alookup("m-one", base_url=f"http://127.0.0.1:{port}", timeout=0.2, retries=0)
    finally:
        release.set()
        server.close()
        await asyncio.gather(*handlers)
        await server.wait_closed()
    assert caught.value.status is None and handlers
    assert time.monotonic() - started < 3


async def test_async_batch_error_path(fast_backoff: None) -> None:
    """alookup_many with an AsyncClient: a /book stuck at 503 raises RestError(503)."""
    markets = [gamma_market("a"), gamma_market("b", condition="0x" + "d2" * 32)]
    handler = venue(markets, book=lambda request: httpx.Response(503))
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        with pytest.raises(RestError) as caught:
            await alookup_many(["a", "b"], client=client, retries=1)
        found = await alookup_many(["a", "b"], client=client, clob_book=False)
    assert caught.value.status == 503 and "/book" in str(caught.value)
    assert [m.slug for m in found.values()] == ["a", "b"]


@pytest.mark.parametrize(
    ("body", "what"),
    [
        (b"<html>rate limited</html>", "not JSON"),
        (b'{"markets": []}', "a dict instead of a list"),
        (json.dumps([{**gamma_market(), "clobTokenIds": "[oops"}]).encode(), "bad clobTokenIds"),
        (json.dumps([{**gamma_market(), "negRisk": "maybe"}]).encode(), "bad type"),
    ],
)
def test_malformed_gamma_json_is_protocol_error(body: bytes, what: str) -> None:
    """Bodies that are not Gamma's JSON raise FrameDecodeError (a ProtocolError)."""
    with mock_client(lambda request: httpx.Response(200, content=body)) as client:
        with pytest.raises(FrameDecodeError) as caught:
            lookup("m-one", client=client)
    assert isinstance(caught.value, ProtocolError) and caught.value.venue == "clob", what


def test_malformed_us_json_is_protocol_error() -> None:
    """A US gateway body of the wrong shape raises FrameDecodeError with venue us."""
    with mock_client(lambda request: httpx.Response(200, json=[1, 2])) as client:
        with pytest.raises(FrameDecodeError) as caught:
            lookup("aec-nba-ny-sa-2026-06-05", venue="us", client=client)
    assert caught.value.venue == "us"


# ---------------------------------------------------------------------------- arguments


@pytest.mark.parametrize(
    ("key", "options"),
    [
        ("", {}),
        ("two words", {}),
        (123, {}),
        ("https://polymarket.com/", {}),
        ("m-one", {"venue": "kalshi"}),
        ("m-one", {"timeout": 0}),
        ("m-one", {"retries": -1}),
        ("m-one", {"base_url": "ftp://example.com"}),
        (UNKNOWN_TOKEN, {"venue": "us"}),
        (UNKNOWN_CONDITION, {"venue": "us"}),
    ],
)
def test_bad_arguments_raise_config_error(key: object, options: dict[str, Any]) -> None:
    """Malformed keys and options raise ConfigError before any request."""
    counting = Counting(venue([gamma_market()]))
    with mock_client(counting) as client, pytest.raises(ConfigError):
        lookup(key, client=client, **options)  # type: ignore[arg-type]
    assert counting.calls == []


async def test_wrong_client_kind_and_bare_string_keys() -> None:
    """A sync client for alookup, or one str as the keys of a batch, raise ConfigError."""
    with httpx.Client() as sync_client, pytest.raises(ConfigError, match="AsyncClient"):
        await alookup("m-one", client=sync_client)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="iterable"):
        lookup_many("m-one")


# ---------------------------------------------------------------------------- Market, errors


def test_market_helpers() -> None:
    """token() by name or index, params() shared per token, US markets have no tokens."""
    market = msgspec.convert(
        {
            "venue": "clob",
            "slug": "s",
            "question": "",
            "condition_id": "0xc",
            "market_id": "1",
            "token_ids": ["11", "22"],
            "outcomes": ["Yes", "No"],
            "tick_size": "0.01",
            "min_order_size": "5",
            "neg_risk": True,
            "active": True,
            "closed": False,
        },
        Market,
    )
    assert market.token("YES") == "11" and market.token(1) == "22"
    params = market.params()
    assert params["11"] is params["22"]
    assert params["11"] == MarketParams(min_order_size="5", neg_risk=True, token_ids=("11", "22"))
    with pytest.raises(ConfigError, match="Yes, No"):
        market.token("maybe")
    with pytest.raises(ConfigError):
        market.token(2)
    unknown_size = msgspec.structs.replace(market, min_order_size="")
    assert unknown_size.params() == {}
    us = msgspec.structs.replace(market, venue="us", token_ids=(), condition_id="")
    with pytest.raises(ConfigError):
        us.token()
    assert us.asset_ids == ("s",) and market.asset_ids == ("11", "22")


def test_errors_pickle_with_their_context() -> None:
    """MarketNotFoundError and RestError keep keys, candidates and status across pickling."""
    missing = MarketNotFoundError(["a", "ev"], "us", {"ev": ["x", "y"]})
    copy = pickle.loads(pickle.dumps(missing))
    assert (copy.keys, copy.venue, copy.candidates) == (("a", "ev"), "us", {"ev": ("x", "y")})
    assert str(copy) == str(missing)
    rest = pickle.loads(pickle.dumps(RestError("HTTP 502", 502, "https://x/book")))
    assert (rest.status, rest.url, str(rest)) == (502, "https://x/book", "HTTP 502")
