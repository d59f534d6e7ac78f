"""REST on the simulator's single port: shared HTTP plumbing plus the CLOB and Gamma look-ups.

The simulator serves REST through ``websockets``' own ``process_request`` hook (see
:mod:`polyresearch.simulator.server`), so every front-end answers REST with a plain
:class:`RestResponse` built from ``(method, path, query)``. ``websockets`` parses only ``GET``
requests; the server rewrites other methods so they still reach the handlers, but request
bodies are never read (batch calls such as ``POST /books`` get 405).

This module also holds the CLOB venue's REST endpoints (``protocol-clob.md`` §9), which the
CLOB front-end delegates to:

- Gamma: ``GET /markets`` (``slug``, ``id``, ``condition_ids``, ``clob_token_ids``, ``closed``,
  ``active``, ``limit``, ``offset``), ``GET /markets/slug/{slug}``, ``GET /markets/{id}``,
  ``GET /events/slug/{slug}``, ``GET /events?slug=``. ``outcomes``, ``outcomePrices`` and
  ``clobTokenIds`` are JSON-encoded *strings*, as the real API returns them.
- CLOB: ``GET /book``, ``/price``, ``/midpoint``, ``/spread``, ``/last-trade-price``,
  ``/tick-size``, ``/neg-risk``, ``/time``, and ``GET /auth/api-keys`` with L2 (HMAC) headers,
  which the official SDK's ``AsyncSecureClient.create`` calls to validate credentials. Its
  fallback works too: ``POST /auth/api-key`` answers 400 (the demo key exists) and
  ``GET /auth/derive-api-key`` hands out the demo account's key (L1 signatures unchecked).

Example:
    >>> RestResponse.json({"ok": True}).body
    b'{"ok":true}'
    >>> parse_query("slug=a&slug=b&closed=")
    {'slug': ['a', 'b'], 'closed': ['']}
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import http
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final
from urllib.parse import parse_qs

from websockets.datastructures import Headers
from websockets.http11 import Response

from polyresearch.simulator.market import MarketModel, SimMarket, plain

__all__ = [
    "ClobRest",
    "RestResponse",
    "parse_query",
    "to_http_response",
]

logger = logging.getLogger("polyresearch.simulator")

#: Body of the CLOB's 404 for an unknown token (protocol-clob.md §9.2).
NO_ORDERBOOK: Final = {"error": "No orderbook exists for the requested token id"}
#: Accepted distance between an L2 ``POLY_TIMESTAMP`` (seconds) and the server clock.
L2_WINDOW_S: Final = 300


@dataclass(frozen=True, slots=True)
class RestResponse:
    """One HTTP response, independent of the server library.

    Example:
        >>> RestResponse.error(404, "not found").status
        404
    """

    status: int
    body: bytes = b""
    content_type: str = "application/json"
    #: Extra headers, e.g. ``(("Retry-After", "1"),)``.
    headers: tuple[tuple[str, str], ...] = ()

    @classmethod
    def json(cls, value: object, status: int = 200) -> RestResponse:
        """A JSON response with compact separators."""
        return cls(status, json.dumps(value, separators=(",", ":")).encode())

    @classmethod
    def error(cls, status: int, message: str) -> RestResponse:
        """A JSON error response ``{"error": message}``."""
        return cls.json({"error": message}, status)


def parse_query(raw: str) -> dict[str, list[str]]:
    """Parse a query string; repeated keys keep every value, blanks are kept."""
    return parse_qs(raw, keep_blank_values=True)


def to_http_response(resp: RestResponse) -> Response:
    """Turn a :class:`RestResponse` into the ``websockets`` response object."""
    headers = Headers()
    headers["Content-Type"] = resp.content_type
    headers["Content-Length"] = str(len(resp.body))
    headers["Connection"] = "close"
    for name, value in resp.headers:
        headers[name] = value
    try:
        reason = http.HTTPStatus(resp.status).phrase
    except ValueError:
        reason = "Unknown"
    return Response(resp.status, reason, headers, resp.body)


def _values(query: Mapping[str, list[str]], key: str) -> list[str]:
    """All values of a key; comma-separated values are split (both styles are seen)."""
    out: list[str] = []
    for value in query.get(key, []):
        out.extend(v for v in value.split(",") if v)
    return out


def _first(query: Mapping[str, list[str]], key: str) -> str | None:
    values = query.get(key)
    return values[0] if values else None


def _bool(value: str | None) -> bool | None:
    if value is None or value == "":
        return None
    return value.lower() in ("true", "1", "yes")


def _int(value: str | None, default: int, *, low: int, high: int) -> int:
    try:
        number = int(value) if value else default
    except ValueError:
        number = default
    return max(low, min(high, number))


def _json_str(value: object) -> str:
    # Gamma's double encoding: a JSON document inside a string, with ", " separators.
    return json.dumps(value, separators=(", ", ": "))


class ClobRest:
    """The CLOB and Gamma REST endpoints, over the model and the CLOB demo credentials.

    Args:
        model: The market model (ground truth at request time).
        api_key: The demo account's API key (``/auth/api-keys``).
        secret: Its urlsafe-base64 HMAC secret.
        passphrase: Its passphrase.
        now_ms: The simulator clock (skew faults included).
        book_summary: Renders the ``/book`` body for a token (the CLOB front-end owns the hash).
        last_trade_side: The taker side of each token's last trade, if any.
    """

    def __init__(
        self,
        model: MarketModel,
        *,
        api_key: str,
        secret: str,
        passphrase: str,
        now_ms: Callable[[], int],
        book_summary: Callable[[str, int], dict[str, Any]],
        last_trade_side: Callable[[str], str | None],
    ) -> None:
        self._model = model
        self._api_key = api_key
        self._secret = secret
        self._passphrase = passphrase
        self._now_ms = now_ms
        self._book_summary = book_summary
        self._last_trade_side = last_trade_side

    def handle(
        self,
        method: str,
        path: str,
        query: Mapping[str, list[str]],
        headers: Mapping[str, str] | None = None,
    ) -> RestResponse | None:
        """Answer a CLOB/Gamma request, or return None when the path is not ours."""
        if method == "POST" and path == "/auth/api-key":
            # The demo account already has its key: creating another one fails like a second
            # create does on the venue, and the SDK then derives the existing key.
            return RestResponse.error(400, "Could not create api key")
        if method != "GET":
            return None
        if path == "/auth/derive-api-key":
            return self._derive_api_key(headers or {})
        if path == "/markets":
            return self._gamma_markets(query)
        if path.startswith("/markets/slug/"):
            market = self._model.by_slug.get(path.removeprefix("/markets/slug/"))
            if market is None:
                return RestResponse.error(404, "market not found")
            return RestResponse.json(self._gamma_market(market))
        if path.startswith("/markets/") and path.count("/") == 2:
            wanted = path.removeprefix("/markets/")
            for market in self._model.markets:
                if wanted in (market.market_id, market.condition_id):
                    return RestResponse.json(self._gamma_market(market))
            return RestResponse.error(404, "market not found")
        if path == "/events" or path.startswith("/events/slug/"):
            return self._gamma_events(path, query)
        if path == "/auth/api-keys":
            return self._api_keys(path, headers or {})
        if path == "/time":
            return RestResponse.json(self._now_ms() // 1000)
        token_paths = {
            "/book": self._book,
            "/price": self._price,
            "/midpoint": self._midpoint,
            "/spread": self._spread,
            "/last-trade-price": self._last_trade_price,
            "/tick-size": self._tick_size,
            "/neg-risk": self._neg_risk,
        }
        handler = token_paths.get(path)
        if handler is None:
            return None
        token = _first(query, "token_id")
        if not token:
            return RestResponse.error(400, "Invalid token id")
        if token not in self._model.by_token:
            return RestResponse.json(NO_ORDERBOOK, 404)
        return handler(token, query)

    # ------------------------------------------------------------------ Gamma

    def _gamma_market(self, market: SimMarket) -> dict[str, Any]:
        yes = self._model.book(market.token_ids[0])
        bid, ask = yes.best_bid(), yes.best_ask()
        if market.resolved:
            prices = ["1", "0"] if market.winning_token == market.token_ids[0] else ["0", "1"]
        else:
            mid = (bid + ask) / 2 if bid is not None and ask is not None else bid or ask
            mid = mid if mid is not None else Decimal("0.5")
            prices = [plain(mid), plain(1 - mid)]
        ltp = yes.last_trade_price
        return {
            "id": market.market_id,
            "question": market.question,
            "conditionId": market.condition_id,
            "slug": market.slug,
            "description": market.description,
            "endDate": market.end_date,
            "outcomes": _json_str(list(market.outcomes)),
            "outcomePrices": _json_str(prices),
            "clobTokenIds": _json_str(list(market.token_ids)),
            "active": market.active,
            "closed": market.resolved,
            "archived": False,
            "acceptingOrders": market.active and not market.resolved,
            "enableOrderBook": True,
            "orderPriceMinTickSize": float(market.tick_size),
            "orderMinSize": float(market.min_order_size),
            "negRisk": market.neg_risk,
            "bestBid": float(bid) if bid is not None else None,
            "bestAsk": float(ask) if ask is not None else None,
            "spread": float(ask - bid) if bid is not None and ask is not None else None,
            "lastTradePrice": float(ltp) if ltp is not None else 0,
            "events": [
                {"id": market.event_id, "slug": market.event_slug, "title": market.question}
            ],
        }

    def _gamma_markets(self, query: Mapping[str, list[str]]) -> RestResponse:
        markets = self._model.markets
        slugs = set(_values(query, "slug"))
        ids = set(_values(query, "id"))
        conditions = {c.lower() for c in _values(query, "condition_ids")}
        tokens = set(_values(query, "clob_token_ids"))
        # Gamma's pitfall, reproduced: ``closed`` defaults to false (resolved markets hidden).
        closed = _bool(_first(query, "closed"))
        closed = False if closed is None else closed
        active = _bool(_first(query, "active"))
        selected = [
            m
            for m in markets
            if (not slugs or m.slug in slugs)
            and (not ids or m.market_id in ids)
            and (not conditions or m.condition_id in conditions)
            and (not tokens or tokens.intersection(m.token_ids))
            and m.resolved == closed
            and (active is None or m.active == active)
        ]
        offset = _int(_first(query, "offset"), 0, low=0, high=len(selected))
        limit = _int(_first(query, "limit"), 100, low=1, high=1000)
        return RestResponse.json([self._gamma_market(m) for m in selected[offset : offset + limit]])

    def _gamma_events(self, path: str, query: Mapping[str, list[str]]) -> RestResponse:
        if path.startswith("/events/slug/"):
            slug = path.removeprefix("/events/slug/")
            for market in self._model.markets:
                if market.event_slug == slug:
                    return RestResponse.json(self._gamma_event(market))
            return RestResponse.error(404, "event not found")
        slugs = set(_values(query, "slug"))
        return RestResponse.json(
            [self._gamma_event(m) for m in self._model.markets if m.event_slug in slugs]
        )

    def _gamma_event(self, market: SimMarket) -> dict[str, Any]:
        return {
            "id": market.event_id,
            "slug": market.event_slug,
            "title": market.question,
            "active": market.active,
            "closed": market.resolved,
            "markets": [self._gamma_market(market)],
        }

    # ------------------------------------------------------------------ CLOB market data

    def _book(self, token: str, query: Mapping[str, list[str]]) -> RestResponse:
        return RestResponse.json(self._book_summary(token, self._now_ms()))

    def _price(self, token: str, query: Mapping[str, list[str]]) -> RestResponse:
        side = (_first(query, "side") or "").upper()
        if side not in ("BUY", "SELL"):
            return RestResponse.error(400, "Invalid side")
        book = self._model.book(token)
        # BUY returns the best bid, SELL the best ask (API reference; protocol-clob.md §9.2).
        price = book.best_bid() if side == "BUY" else book.best_ask()
        if price is None:
            return RestResponse.json(NO_ORDERBOOK, 404)
        return RestResponse.json({"price": plain(price)})

    def _midpoint(self, token: str, query: Mapping[str, list[str]]) -> RestResponse:
        book = self._model.book(token)
        bid, ask = book.best_bid(), book.best_ask()
        if bid is None or ask is None:
            return RestResponse.json(NO_ORDERBOOK, 404)
        return RestResponse.json({"mid": plain((bid + ask) / 2)})

    def _spread(self, token: str, query: Mapping[str, list[str]]) -> RestResponse:
        book = self._model.book(token)
        bid, ask = book.best_bid(), book.best_ask()
        if bid is None or ask is None:
            return RestResponse.json(NO_ORDERBOOK, 404)
        return RestResponse.json({"spread": plain(ask - bid)})

    def _last_trade_price(self, token: str, query: Mapping[str, list[str]]) -> RestResponse:
        price = self._model.book(token).last_trade_price
        side = self._last_trade_side(token) or ""
        return RestResponse.json(
            {"price": f"{price:.3f}" if price is not None else "", "side": side}
        )

    def _tick_size(self, token: str, query: Mapping[str, list[str]]) -> RestResponse:
        return RestResponse.json(
            {"minimum_tick_size": float(self._model.by_token[token].tick_size)}
        )

    def _neg_risk(self, token: str, query: Mapping[str, list[str]]) -> RestResponse:
        return RestResponse.json({"neg_risk": self._model.by_token[token].neg_risk})

    # ------------------------------------------------------------------ CLOB auth (L2)

    def _derive_api_key(self, headers: Mapping[str, str]) -> RestResponse:
        # L1 (EIP-712) signatures are not verified: any signer gets the demo account's key.
        if not all(headers.get(h) for h in ("POLY_ADDRESS", "POLY_SIGNATURE", "POLY_TIMESTAMP")):
            return RestResponse.error(401, "Unauthorized/Invalid L1 headers")
        return RestResponse.json(
            {"apiKey": self._api_key, "secret": self._secret, "passphrase": self._passphrase}
        )

    def _api_keys(self, path: str, headers: Mapping[str, str]) -> RestResponse:
        if not self._l2_valid("GET", path, headers):
            return RestResponse.error(401, "Unauthorized/Invalid api key")
        return RestResponse.json({"apiKeys": [self._api_key]})

    def _l2_valid(self, method: str, path: str, headers: Mapping[str, str]) -> bool:
        """Check ``POLY_*`` L2 headers: key, passphrase, fresh timestamp, HMAC-SHA256 signature."""
        key = headers.get("POLY_API_KEY")
        passphrase = headers.get("POLY_PASSPHRASE")
        timestamp = headers.get("POLY_TIMESTAMP") or ""
        signature = headers.get("POLY_SIGNATURE") or ""
        if key != self._api_key or passphrase != self._passphrase or not timestamp.isdecimal():
            return False
        if abs(int(timestamp) - self._now_ms() // 1000) > L2_WINDOW_S:
            return False
        try:
            secret = base64.urlsafe_b64decode(self._secret + "=" * (-len(self._secret) % 4))
        except (binascii.Error, ValueError):
            return False
        digest = hmac.new(secret, f"{timestamp}{method}{path}".encode(), hashlib.sha256).digest()
        expected = base64.urlsafe_b64encode(digest).decode("ascii")
        return hmac.compare_digest(expected, signature)
