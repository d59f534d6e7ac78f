"""The simulator's US public REST (protocol-us.md §10): shapes, filters, errors, and routing."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from polyresearch.simulator.market import MarketModel, ModelConfig
from polyresearch.simulator.server import Simulator
from polyresearch.simulator.us import UsFrontEnd


@pytest.fixture
def venue() -> UsFrontEnd:
    model = MarketModel(seed=5, markets=6)
    venue = UsFrontEnd(model)
    # A little history so that stats and last trades exist.
    for t in range(1, 400):
        venue.publish(model.step(t))
    return venue


def get(venue: UsFrontEnd, path: str, query: str = "") -> tuple[int, Any]:
    response = venue.handle_rest("GET", path, query)
    assert response is not None, path
    assert response.content_type == "application/json"
    return response.status, json.loads(response.body)


def amount(value: dict[str, str]) -> Decimal:
    assert value["currency"] == "USD"
    return Decimal(value["value"])


def test_markets_list_all_and_by_repeated_slug(venue: UsFrontEnd) -> None:
    """/v1/markets lists every market; slug= repeated selects exactly those."""
    status, body = get(venue, "/v1/markets")
    assert status == 200
    assert [m["slug"] for m in body["markets"]] == [m.slug for m in venue.model.markets]
    wanted = [venue.model.markets[3].slug, venue.model.markets[1].slug]
    _, body = get(venue, "/v1/markets", f"slug={wanted[0]}&slug={wanted[1]}")
    assert sorted(m["slug"] for m in body["markets"]) == sorted(wanted)


def test_markets_list_limit_offset(venue: UsFrontEnd) -> None:
    """limit and offset page through the list."""
    _, everything = get(venue, "/v1/markets")
    _, page = get(venue, "/v1/markets", "limit=2&offset=3")
    assert page["markets"] == everything["markets"][3:5]


def test_markets_list_active_closed_filters() -> None:
    """active/closed filter on the market's state; a resolved market is closed and inactive."""
    model = MarketModel(seed=9, markets=3, config=ModelConfig(lifecycle_rate=0.3))
    venue = UsFrontEnd(model)
    for t in range(1, 50):
        venue.publish(model.step(t))
    resolved = [m.slug for m in model.markets if m.resolved]
    assert resolved
    _, closed = get(venue, "/v1/markets", "closed=true")
    _, active = get(venue, "/v1/markets", "active=true")
    assert sorted(m["slug"] for m in closed["markets"]) == sorted(resolved)
    assert not set(resolved) & {m["slug"] for m in active["markets"]}
    assert all(m["status"] == "MARKET_STATUS_RESOLVED" for m in closed["markets"])
    slug = resolved[0]
    status, body = get(venue, f"/v1/markets/{slug}/settlement")
    market = model.by_slug[slug]
    assert status == 200
    assert body == {
        "slug": slug,
        "settlement": 1.0 if market.winning_token == market.token_ids[0] else 0.0,
    }
    _, book = get(venue, f"/v1/markets/{slug}/book")
    assert book["marketData"]["state"] == "MARKET_STATE_EXPIRED"


def test_market_by_slug_and_id_shape(venue: UsFrontEnd) -> None:
    """/v1/market/slug/{slug} and /v1/market/id/{id} return {"market": Market} with §10 fields."""
    market = venue.model.markets[2]
    _, by_slug = get(venue, f"/v1/market/slug/{market.slug}")
    _, by_id = get(venue, f"/v1/market/id/{market.market_id}")
    assert by_slug == by_id
    body = by_slug["market"]
    assert body["id"] == market.market_id and body["slug"] == market.slug
    assert body["question"] == market.question
    assert body["active"] is True and body["closed"] is False
    assert body["status"] == "MARKET_STATUS_OPEN"
    assert body["orderPriceMinTickSize"] == float(market.tick_size)
    assert body["minimumTradeQty"] > 0
    sides = body["marketSides"]
    assert [s["long"] for s in sides] == [True, False]
    assert [s["description"] for s in sides] == list(market.outcomes)
    book = venue.model.book(market.token_ids[0])
    assert amount(body["bestBidQuote"]) == book.best_bid()
    assert amount(body["bestAskQuote"]) == book.best_ask()
    assert amount(sides[0]["quote"]) == book.best_ask()
    assert amount(sides[1]["quote"]) == 1 - book.best_bid()  # type: ignore[operator]


def test_book_is_market_data_of_the_yes_book(venue: UsFrontEnd) -> None:
    """/v1/markets/{slug}/book is {"marketData": ...} like the WS frame, equal to the YES book."""
    market = venue.model.markets[0]
    status, body = get(venue, f"/v1/markets/{market.slug}/book")
    assert status == 200 and list(body) == ["marketData"]
    md = body["marketData"]
    assert md["marketSlug"] == market.slug and md["state"] == "MARKET_STATE_OPEN"
    assert "error" not in md
    book = venue.model.book(market.token_ids[0])
    assert [(amount(b["px"]), Decimal(b["qty"])) for b in md.get("bids", [])] == book.bids_desc()
    assert [(amount(o["px"]), Decimal(o["qty"])) for o in md.get("offers", [])] == book.asks_asc()
    assert md["transactTime"].endswith("Z")


def test_bbo_is_market_data_lite(venue: UsFrontEnd) -> None:
    """/v1/markets/{slug}/bbo is {"marketData": MarketDataLite} (the key really is marketData)."""
    market = venue.model.markets[0]
    _, body = get(venue, f"/v1/markets/{market.slug}/bbo")
    lite = body["marketData"]
    book = venue.model.book(market.token_ids[0])
    assert lite["marketSlug"] == market.slug
    assert amount(lite["bestBid"]) == book.best_bid()
    assert amount(lite["bestAsk"]) == book.best_ask()
    assert lite["bidDepth"] == len(book.bids) and lite["askDepth"] == len(book.asks)


def test_events_list_by_slug_and_id(venue: UsFrontEnd) -> None:
    """/v1/events groups markets into events; /v1/events/slug/{slug} and /{id} find one."""
    status, body = get(venue, "/v1/events")
    assert status == 200
    events = body["events"]
    assert sum(len(e["markets"]) for e in events) == len(venue.model.markets)
    first = events[0]
    assert {"id", "slug", "title", "active", "closed", "markets"} <= set(first)
    _, by_slug = get(venue, f"/v1/events/slug/{first['slug']}")
    _, by_id = get(venue, f"/v1/events/{first['id']}")
    assert by_slug == by_id == {"event": first}
    _, filtered = get(venue, "/v1/events", f"slug={first['slug']}")
    assert filtered["events"] == [first]


@pytest.mark.parametrize(
    "path",
    [
        "/v1/market/slug/no-such-market",
        "/v1/market/id/1",
        "/v1/markets/no-such-market/book",
        "/v1/markets/no-such-market/bbo",
        "/v1/events/slug/nope",
        "/v1/nothing-here",
    ],
)
def test_unknown_things_are_404(venue: UsFrontEnd, path: str) -> None:
    """Unknown slugs, ids and paths under /v1 answer 404 with a JSON message."""
    status, body = get(venue, path)
    assert status == 404
    assert body["message"]


@pytest.mark.parametrize("query", ["active=maybe", "limit=x", "offset=-1"])
def test_bad_parameters_are_400(venue: UsFrontEnd, query: str) -> None:
    """Unparseable booleans and integers answer 400."""
    status, _ = get(venue, "/v1/markets", query)
    assert status == 400


def test_paths_that_are_not_ours_are_none(venue: UsFrontEnd) -> None:
    """Non-/v1 paths (CLOB, Gamma) and the WS paths are left to others."""
    assert venue.handle_rest("GET", "/markets", {}) is None
    assert venue.handle_rest("GET", "/book", {"token_id": ["1"]}) is None
    assert venue.handle_rest("GET", "/v1/ws/markets", {}) is None


def test_non_get_is_405(venue: UsFrontEnd) -> None:
    """Write methods are not part of the public gateway."""
    response = venue.handle_rest("POST", "/v1/markets", {})
    assert response is not None and response.status == 405


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator(seed=4, markets=4, rate=0) as s:
        yield s


async def test_served_on_the_simulator_port(sim: Simulator) -> None:
    """Over real HTTP, /v1/... reaches the US venue and the CLOB's /markets still works."""
    slugs = [m.slug for m in sim.markets()]
    async with httpx.AsyncClient(base_url=sim.http_url, trust_env=False) as client:
        listed = await client.get("/v1/markets", params=[("slug", slugs[0]), ("slug", slugs[1])])
        book = await client.get(f"/v1/markets/{slugs[0]}/book")
        missing = await client.get("/v1/market/slug/nope")
        gamma = await client.get("/markets")
    assert listed.status_code == 200
    assert sorted(m["slug"] for m in listed.json()["markets"]) == sorted(slugs[:2])
    assert book.json()["marketData"]["marketSlug"] == slugs[0]
    assert book.headers["content-type"] == "application/json"
    assert missing.status_code == 404
    assert gamma.status_code == 200 and isinstance(gamma.json(), list)
    assert sim.stats().venues["us"]["rest_requests"] == 3
