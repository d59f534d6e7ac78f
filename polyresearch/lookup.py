"""Market look-up over REST: slug, URL, CLOB token id or condition id → one :class:`Market`.

Researchers name markets the way they meet them: a ``polymarket.com`` URL or its slug, a CLOB
token id (77 digits) or a condition id (``0x…``). :func:`lookup` turns any of these into a
frozen :class:`Market` with what a feed needs: the token ids (YES first), the tick size, and
the hash parameters (:meth:`Market.params` → :class:`~polyresearch.state.books.MarketParams`).
:func:`lookup_many` does the same for many keys in few requests; :func:`alookup` and
:func:`alookup_many` are the ``asyncio`` twins (one :class:`httpx.AsyncClient`, requests of a
round in parallel).

Where the data comes from (``protocol-clob.md`` §9, ``protocol-us.md`` §10):

- CLOB venue: Gamma ``GET /markets`` (``slug=``, ``clob_token_ids=``, ``condition_ids=`` or
  ``id=``, repeated, at most :data:`MAX_IDS_PER_REQUEST` per request). Gamma hides closed
  markets unless asked (``closed`` defaults to false), so keys not found among open markets
  are asked again with ``closed=true``. A slug that names no market is tried as an *event*
  slug (``polymarket.com/event/<slug>``): an event with one market resolves to it, an event
  with several is reported with their slugs. Then CLOB ``GET /book`` of each market's YES token.
- US venue: gateway ``GET /v1/markets?slug=…`` (batched), then ``GET /v1/market/slug/{slug}``
  for slugs the list did not return (closed ones, whatever the list's default filter is).

**Which tick size and minimum order size win: CLOB ``/book``.** The CLOB book hash is taken
over the venue's own *text* of ``min_order_size``, ``tick_size`` and ``neg_risk`` (§6.4), and
WS books do not carry the first and last of these. Gamma gives numbers (``orderMinSize: 5``,
``orderPriceMinTickSize: 0.01``) whose text we can only guess at (``5`` or ``5.0``?) and which
may lag a ``tick_size_change``; ``/book`` gives the exact strings the hash uses, as of now. So
whenever ``/book`` answers, its ``min_order_size``, ``tick_size`` and ``neg_risk`` win, and
:attr:`Market.params_source` says ``"book"``. When it has no book (404: closed or resolved
markets) or ``clob_book=False``, Gamma's numbers are rendered as plain decimal text
(``5`` → ``"5"``, ``0.001`` → ``"0.001"``) and ``params_source`` is ``"gamma"``.

Against the local simulator, every REST path shares one port: pass ``base_url=sim.http_url``
(it sets the Gamma, CLOB and US gateway URLs at once).

Errors: an unknown market raises :class:`MarketNotFoundError` (also a :class:`LookupError`)
naming the key; HTTP failures and timeouts raise :class:`RestError` (a
:class:`~polyresearch.errors.TransportError`) with the status (``None`` for a timeout or a
connection failure); a body that is not the JSON we expect raises
:class:`~polyresearch.errors.FrameDecodeError` (a :class:`~polyresearch.errors.ProtocolError`);
bad arguments raise :class:`~polyresearch.errors.ConfigError`. GET requests are idempotent, so
429, 5xx, timeouts and dropped connections are retried ``retries`` times with a short, capped
backoff (``Retry-After`` honoured up to :data:`MAX_RETRY_AFTER` seconds): Gamma rate-limits
bursts and the CDN in front of it drops the odd request, so one 502 should not fail a notebook
cell. The caps (attempts, backoff, ``Retry-After``) and per-request timeouts keep a look-up
bounded: it never hangs. US markets have no CLOB hash, so theirs are just the gateway's numbers.

Example:
    >>> from polyresearch.lookup import Market
    >>> m = Market(venue="clob", slug="s", question="q?", condition_id="0xc", market_id="1",
    ...            token_ids=("11", "22"), outcomes=("Yes", "No"), tick_size="0.01",
    ...            min_order_size="5", neg_risk=False, active=True, closed=False)
    >>> m.token("no"), m.params()["11"].min_order_size
    ('22', '5')
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import time
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Final, Literal, TypeVar
from urllib.parse import quote, urlsplit

import httpx
import msgspec

from polyresearch import __version__
from polyresearch.errors import (
    ConfigError,
    FrameDecodeError,
    PolyresearchError,
    ProtocolError,
    TransportError,
    excerpt,
)
from polyresearch.state.books import MarketParams

__all__ = [
    "CLOB_URL",
    "GAMMA_URL",
    "MAX_IDS_PER_REQUEST",
    "US_GATEWAY_URL",
    "Market",
    "MarketNotFoundError",
    "RestError",
    "alookup",
    "alookup_many",
    "lookup",
    "lookup_many",
]

logger = logging.getLogger("polyresearch.lookup")

GAMMA_URL: Final = "https://gamma-api.polymarket.com"
CLOB_URL: Final = "https://clob.polymarket.com"
US_GATEWAY_URL: Final = "https://gateway.polymarket.us"

#: Ids per Gamma or gateway list request; long query strings get refused by proxies and CDNs.
MAX_IDS_PER_REQUEST: Final = 20
DEFAULT_TIMEOUT: Final = 10.0
DEFAULT_RETRIES: Final = 2
#: Longest ``Retry-After`` we wait; a longer one fails the look-up instead of freezing a cell.
MAX_RETRY_AFTER: Final = 5.0
#: Parallel requests of one round in the async look-up: polite to Gamma's rate limits.
MAX_CONCURRENCY: Final = 8
#: Statuses worth retrying for a GET: rate limit, timeout, and the server side's transient errors.
RETRY_STATUSES: Final = frozenset({408, 429, 500, 502, 503, 504})

_BACKOFF_BASE = 0.25
_BACKOFF_MAX = 2.0
_USER_AGENT = f"polyresearch/{__version__}"

Venue = Literal["clob", "us"]
ParamsSource = Literal["book", "gamma", "gateway"]


# ---------------------------------------------------------------------------------- errors


class MarketNotFoundError(PolyresearchError, LookupError):
    """No market matches a key (or several keys, in a batch look-up).

    Args:
        keys: the key or keys that matched nothing, as the caller wrote them.
        venue: ``"clob"`` or ``"us"``.
        candidates: per key that turned out to be an event slug with several markets, their
            market slugs (pick one and look it up).

    Example:
        >>> err = MarketNotFoundError("no-such-market")
        >>> str(err), isinstance(err, LookupError)
        ("no clob market found for 'no-such-market'", True)
    """

    def __init__(
        self,
        keys: str | Sequence[str],
        venue: str = "clob",
        candidates: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        self.keys: tuple[str, ...] = (keys,) if isinstance(keys, str) else tuple(keys)
        self.venue = venue
        self.candidates: dict[str, tuple[str, ...]] = {
            key: tuple(slugs) for key, slugs in (candidates or {}).items()
        }
        super().__init__(self._message())

    @property
    def key(self) -> str:
        """The first key that matched nothing."""
        return self.keys[0] if self.keys else ""

    def _message(self) -> str:
        plain = [k for k in self.keys if k not in self.candidates]
        parts = []
        if plain:
            noun = "market" if len(plain) == 1 else "markets"
            parts.append(f"no {self.venue} {noun} found for {', '.join(map(repr, plain))}")
        for key, slugs in self.candidates.items():
            parts.append(
                f"{key!r} is an event with {len(slugs)} markets; look up one of: "
                + ", ".join(slugs)
            )
        return "; ".join(parts)

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.keys, self.venue, self.candidates))


class RestError(TransportError):
    """A REST request that failed: an HTTP error status, a timeout or no connection.

    Args:
        message: what went wrong.
        status: the HTTP status, or ``None`` when no response arrived (timeout, connection).
        url: the requested URL (without query string).

    Example:
        >>> RestError("HTTP 503", status=503, url="https://x/markets").status
        503
    """

    def __init__(self, message: str, status: int | None = None, url: str | None = None) -> None:
        self.message = message
        self.status = status
        self.url = url
        super().__init__(message)

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.message, self.status, self.url))


# ---------------------------------------------------------------------------------- Market


class Market(msgspec.Struct, frozen=True, kw_only=True):
    """One market as the venue describes it, with what feeds and book hashes need.

    Attributes:
        venue: ``"clob"`` or ``"us"``.
        slug: the market slug (``polymarket.com/event/<event>/<slug>``).
        question: the market's question.
        condition_id: CLOB condition id (``0x…``; the user channel's ``markets``); ``""`` on US.
        market_id: the venue's numeric market id, as text.
        token_ids: CLOB token ids in Gamma's order, which pairs with ``outcomes`` (YES first);
            empty on US, where a market is one instrument addressed by its slug.
        outcomes: outcome names (``("Yes", "No")``), same order as ``token_ids``.
        tick_size: minimum price increment as the venue writes it (``"0.01"``); ``""`` if unknown.
        min_order_size: minimum order size as the venue writes it (``"5"``); ``""`` if unknown.
        neg_risk: whether the CLOB market is neg-risk (always False on US).
        active: whether the venue lists the market as active.
        closed: whether the market is closed (resolved or delisted).
        event_slug: slug of the event the market belongs to, when the venue says.
        end_date: the scheduled end, as the venue writes it, when known.
        params_source: where ``tick_size``/``min_order_size``/``neg_risk`` come from: ``"book"``
            (CLOB ``/book``, the hash's own text), ``"gamma"`` (Gamma's numbers as text) or
            ``"gateway"`` (US gateway).

    Example:
        >>> m = Market(venue="us", slug="aec-nba-ny-sa-2026-06-05", question="?",
        ...            condition_id="", market_id="7", token_ids=(), outcomes=("NY", "SA"),
        ...            tick_size="0.01", min_order_size="1", neg_risk=False, active=True,
        ...            closed=False, params_source="gateway")
        >>> m.asset_ids, m.params()
        (('aec-nba-ny-sa-2026-06-05',), {})
    """

    venue: Venue
    slug: str
    question: str
    condition_id: str
    market_id: str
    token_ids: tuple[str, ...]
    outcomes: tuple[str, ...]
    tick_size: str
    min_order_size: str
    neg_risk: bool
    active: bool
    closed: bool
    event_slug: str = ""
    end_date: str | None = None
    params_source: ParamsSource = "book"

    @property
    def asset_ids(self) -> tuple[str, ...]:
        """What a feed subscribes to: the token ids on CLOB, the slug on US."""
        return self.token_ids if self.venue == "clob" else (self.slug,)

    def params(self) -> dict[str, MarketParams]:
        """Hash parameters for each token, ready for ``BookSet(params=...)``/``ClobFeed``.

        Empty for US markets (their books carry no hash) and when the minimum order size is
        unknown (a guessed value would only turn every hash into a false alarm).

        Example:
            >>> m = Market(venue="clob", slug="s", question="", condition_id="0xc",
            ...            market_id="1", token_ids=("11", "22"), outcomes=("Yes", "No"),
            ...            tick_size="0.01", min_order_size="5", neg_risk=True, active=True,
            ...            closed=False)
            >>> sorted(m.params()), m.params()["22"].token_ids
            (['11', '22'], ('11', '22'))
        """
        if self.venue != "clob" or not self.min_order_size or not self.token_ids:
            return {}
        shared = MarketParams(
            min_order_size=self.min_order_size, neg_risk=self.neg_risk, token_ids=self.token_ids
        )
        return dict.fromkeys(self.token_ids, shared)

    def token(self, outcome: str | int = 0) -> str:
        """The token id of an outcome, by name (case-insensitive) or by index (0 = YES).

        Raises:
            ConfigError: no such outcome, or a US market (one instrument: use ``slug``).

        Example:
            >>> m = Market(venue="clob", slug="s", question="", condition_id="0xc",
            ...            market_id="1", token_ids=("11", "22"), outcomes=("Yes", "No"),
            ...            tick_size="0.01", min_order_size="5", neg_risk=False, active=True,
            ...            closed=False)
            >>> m.token(), m.token("NO"), m.token(1)
            ('11', '22', '22')
        """
        if not self.token_ids:
            raise ConfigError(f"market {self.slug!r} on {self.venue} has no token ids")
        if isinstance(outcome, bool) or not isinstance(outcome, str | int):
            raise ConfigError(f"outcome must be a name or an index, not {outcome!r}")
        if isinstance(outcome, int):
            if not 0 <= outcome < len(self.token_ids):
                raise ConfigError(f"market {self.slug!r} has no outcome #{outcome}")
            return self.token_ids[outcome]
        wanted = outcome.strip().casefold()
        for name, token in zip(self.outcomes, self.token_ids, strict=False):
            if name.casefold() == wanted:
                return token
        raise ConfigError(
            f"market {self.slug!r} has no outcome {outcome!r} "
            f"(outcomes: {', '.join(self.outcomes)})"
        )


# ---------------------------------------------------------------------------------- wire types
# Lenient on purpose: every field optional, unknown fields ignored, numbers accepted as JSON
# numbers or strings (venues drift; protocol-clob.md §7.3).

_Num = Decimal | None


class _GammaEventRef(msgspec.Struct):
    slug: str | None = None


class _GammaMarket(msgspec.Struct, rename="camel"):
    id: str | int | None = None
    question: str | None = None
    condition_id: str | None = None
    slug: str | None = None
    outcomes: str | list[str] | None = None
    clob_token_ids: str | list[str] | None = None
    active: bool | None = None
    closed: bool | None = None
    order_price_min_tick_size: _Num = None
    order_min_size: _Num = None
    neg_risk: bool | None = None
    end_date: str | None = None
    events: list[_GammaEventRef] | None = None


class _GammaEvent(msgspec.Struct):
    slug: str | None = None
    markets: list[_GammaMarket] | None = None


class _ClobBook(msgspec.Struct):
    market: str | None = None
    asset_id: str | None = None
    min_order_size: str | int | float | None = None
    tick_size: str | int | float | None = None
    neg_risk: bool | None = None


class _UsMarketSide(msgspec.Struct):
    description: str | None = None
    long: bool | None = None


class _UsMarket(msgspec.Struct, rename="camel"):
    id: str | int | None = None
    slug: str | None = None
    question: str | None = None
    title: str | None = None
    active: bool | None = None
    closed: bool | None = None
    order_price_min_tick_size: _Num = None
    minimum_trade_qty: _Num = None
    market_sides: list[_UsMarketSide] | None = None
    event_slug: str | None = None
    end_date: str | None = None


class _UsMarketList(msgspec.Struct):
    markets: list[_UsMarket] | None = None


class _UsMarketOne(msgspec.Struct):
    market: _UsMarket


# ---------------------------------------------------------------------------------- plans
# A look-up is a sans-I/O *plan*: a generator that yields a round of GET requests and is sent
# back their replies, so one plan serves both the sync and the async driver (and the async
# driver can run a round's requests in parallel).


@dataclass(frozen=True, slots=True)
class _Request:
    url: str
    params: tuple[tuple[str, str], ...] = ()
    #: Statuses handed to the plan instead of raised (a 404 that means "no such thing").
    allow: frozenset[int] = frozenset()
    venue: Venue = "clob"


@dataclass(frozen=True, slots=True)
class _Reply:
    request: _Request
    status: int
    body: bytes


_Plan = Generator[list[_Request], list[_Reply], dict[str, Market]]
_T = TypeVar("_T")

_HEX_ID = re.compile(r"0x[0-9a-fA-F]+")
_URL = re.compile(r"^(?:https?://|(?:www\.)?polymarket\.(?:com|us)/)", re.IGNORECASE)
_BAD_SLUG = re.compile(r"[\s/?#]")
#: A CLOB token id is a 77-digit number; Gamma's own market ids are short.
_TOKEN_MIN_DIGITS = 21


def _classify(key: object, venue: Venue) -> tuple[str, str]:
    """``(Gamma query field, value)`` of a key: slug, clob_token_ids, condition_ids or id."""
    if not isinstance(key, str):
        raise ConfigError(f"a market key must be a str, not {type(key).__name__}")
    text = key.strip()
    if _URL.match(text):
        text = _slug_from_url(text)
    if not text:
        raise ConfigError(f"empty market key {key!r}")
    if _HEX_ID.fullmatch(text):
        field, value = "condition_ids", text.lower()
    elif text.isascii() and text.isdigit():
        field = "clob_token_ids" if len(text) >= _TOKEN_MIN_DIGITS else "id"
        value = text
    elif _BAD_SLUG.search(text):
        raise ConfigError(f"{key!r} is not a slug, URL, token id or condition id")
    else:
        field, value = "slug", text
    if venue == "us" and field != "slug":
        raise ConfigError(f"the US venue names markets by slug; {key!r} is not one")
    return field, value


def _slug_from_url(text: str) -> str:
    # polymarket.com/event/<event>/<market>, /market/<market>, /event/<event>, locale prefixes:
    # the last path segment is the most specific slug (an event slug falls back to its market).
    parts = urlsplit(text if "://" in text else f"https://{text}")
    segments = [s for s in parts.path.split("/") if s]
    if not segments:
        raise ConfigError(f"URL {text!r} names no market")
    return segments[-1]


def _chunks(values: Sequence[_T], size: int = MAX_IDS_PER_REQUEST) -> list[Sequence[_T]]:
    return [values[i : i + size] for i in range(0, len(values), size)]


def _text(value: str | int | float | Decimal | None) -> str:
    """The venue's number as plain decimal text: ``5.0`` → ``"5"``, ``1E-5`` → ``"0.00001"``."""
    if value is None or isinstance(value, bool):
        return ""
    if isinstance(value, str):
        return value.strip()
    if not isinstance(value, Decimal):
        # repr() is the shortest text that round-trips: 0.001 → "0.001", not 0.00100000000000000002.
        value = Decimal(repr(value))
    if not value.is_finite():
        return ""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


def _decode(reply: _Reply, kind: type[_T], what: str) -> _T:
    try:
        return msgspec.json.decode(reply.body, type=kind)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise FrameDecodeError(
            f"malformed {what} response from {reply.request.url}: {exc}",
            venue=reply.request.venue,
            channel="rest",
            frame=reply.body,
        ) from None


def _json_list(value: str | list[str] | None, what: str, slug: str) -> tuple[str, ...]:
    # Gamma's pitfall: outcomes and clobTokenIds are JSON documents inside strings.
    if value is None or value == "":
        return ()
    if isinstance(value, list):
        return tuple(value)
    try:
        items = msgspec.json.decode(value, type=list[str | int])
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise FrameDecodeError(
            f"Gamma market {slug!r}: {what} is not a JSON list of strings: {exc}",
            venue="clob",
            channel="rest",
            frame=value,
        ) from None
    return tuple(str(item) for item in items)


def _gamma_to_market(raw: _GammaMarket) -> Market:
    slug = raw.slug or ""
    tokens = _json_list(raw.clob_token_ids, "clobTokenIds", slug)
    outcomes = _json_list(raw.outcomes, "outcomes", slug)
    if tokens and outcomes and len(tokens) != len(outcomes):
        raise FrameDecodeError(
            f"Gamma market {slug!r} has {len(tokens)} token ids but {len(outcomes)} outcomes",
            venue="clob",
            channel="rest",
        )
    events = raw.events or []
    return Market(
        venue="clob",
        slug=slug,
        question=raw.question or "",
        condition_id=(raw.condition_id or "").lower(),
        market_id="" if raw.id is None else str(raw.id),
        token_ids=tokens,
        outcomes=outcomes,
        tick_size=_text(raw.order_price_min_tick_size),
        min_order_size=_text(raw.order_min_size),
        neg_risk=bool(raw.neg_risk),
        active=bool(raw.active),
        closed=bool(raw.closed),
        event_slug=(events[0].slug or "") if events else "",
        end_date=raw.end_date,
        params_source="gamma",
    )


def _us_to_market(raw: _UsMarket) -> Market:
    # The long (YES) side first, like CLOB token order.
    sides = sorted(raw.market_sides or [], key=lambda side: not side.long)
    return Market(
        venue="us",
        slug=raw.slug or "",
        question=raw.question or raw.title or "",
        condition_id="",
        market_id="" if raw.id is None else str(raw.id),
        token_ids=(),
        outcomes=tuple(side.description or "" for side in sides),
        tick_size=_text(raw.order_price_min_tick_size),
        min_order_size=_text(raw.minimum_trade_qty),
        neg_risk=False,
        active=bool(raw.active),
        closed=bool(raw.closed),
        event_slug=raw.event_slug or "",
        end_date=raw.end_date,
        params_source="gateway",
    )


def _index(markets: Iterable[Market]) -> dict[tuple[str, str], Market]:
    """Markets by each ``(query field, value)`` that names them; the first one wins."""
    # Match on the field we asked for: Gamma ignores filters it does not know and answers with
    # its default list, which must never be mistaken for the market we wanted.
    index: dict[tuple[str, str], Market] = {}
    for market in markets:
        names = [("slug", market.slug), ("condition_ids", market.condition_id)]
        names += [("clob_token_ids", token) for token in market.token_ids]
        names.append(("id", market.market_id))
        for name in names:
            if name[1]:
                index.setdefault(name, market)
    return index


def _gamma_requests(gamma: str, wanted: Iterable[tuple[str, str]], closed: str) -> list[_Request]:
    by_field: dict[str, list[str]] = {}
    for field, value in wanted:
        values = by_field.setdefault(field, [])
        if value not in values:
            values.append(value)
    return [
        _Request(
            f"{gamma}/markets",
            (
                *((field, value) for value in chunk),
                ("closed", closed),
                # Each id matches at most one market: the page can never cut a match off.
                ("limit", str(len(chunk))),
            ),
        )
        for field, values in by_field.items()
        for chunk in _chunks(values)
    ]


def _clob_plan(keys: Sequence[str], urls: _Urls, *, missing: str, clob_book: bool) -> _Plan:
    wanted = {key: _classify(key, "clob") for key in keys}
    found: dict[str, Market] = {}

    # Open markets first, then closed ones: Gamma's `closed` defaults to false.
    for closed in ("false", "true"):
        todo = [key for key in wanted if key not in found]
        if not todo:
            break
        replies = yield _gamma_requests(urls.gamma, (wanted[k] for k in todo), closed)
        markets = [
            _gamma_to_market(raw)
            for reply in replies
            for raw in _decode(reply, list[_GammaMarket], "Gamma /markets")
        ]
        index = _index(markets)
        for key in todo:
            match = index.get(wanted[key])
            if match is not None:
                found[key] = match

    # A slug that is no market may be an event slug (polymarket.com/event/<slug>).
    candidates: dict[str, list[str]] = {}
    todo = [key for key in wanted if key not in found and wanted[key][0] == "slug"]
    if todo:
        slugs = list(dict.fromkeys(wanted[key][1] for key in todo))
        requests = [
            _Request(
                f"{urls.gamma}/events",
                (*(("slug", s) for s in chunk), ("closed", closed), ("limit", str(len(chunk)))),
            )
            for chunk in _chunks(slugs)
            for closed in ("false", "true")
        ]
        replies = yield requests
        events: dict[str, list[Market]] = {}
        for reply in replies:
            for event in _decode(reply, list[_GammaEvent], "Gamma /events"):
                if event.slug and event.slug not in events:
                    events[event.slug] = [_gamma_to_market(m) for m in event.markets or []]
        for key in todo:
            markets = events.get(wanted[key][1], [])
            if len(markets) == 1:
                found[key] = markets[0]
            elif markets:
                candidates[key] = [m.slug for m in markets]

    unknown = [key for key in wanted if key not in found]
    if unknown and missing == "raise":
        raise MarketNotFoundError(unknown, "clob", candidates)

    if clob_book:
        found = yield from _with_books(found, urls.clob)
    return found


def _with_books(found: dict[str, Market], clob: str) -> _Plan:
    # One /book per distinct market (tick and minimum size are per market): the YES token's.
    tokens = list(dict.fromkeys(m.token_ids[0] for m in found.values() if m.token_ids))
    if not tokens:
        return found
    replies = yield [
        _Request(f"{clob}/book", (("token_id", token),), allow=frozenset({404})) for token in tokens
    ]
    books: dict[str, _ClobBook] = {}
    for token, reply in zip(tokens, replies, strict=True):
        if reply.status == 404:
            continue  # no book (closed or resolved market): Gamma's numbers stay
        books[token] = _decode(reply, _ClobBook, "CLOB /book")
    updated: dict[str, Market] = {}
    for key, market in found.items():
        book = books.get(market.token_ids[0]) if market.token_ids else None
        updated[key] = market if book is None else _apply_book(market, book)
    return updated


def _apply_book(market: Market, book: _ClobBook) -> Market:
    if (book.market and book.market.lower() != market.condition_id) or (
        book.asset_id and book.asset_id != market.token_ids[0]
    ):
        raise ProtocolError(
            f"CLOB /book for {market.token_ids[0][:12]}… names market {book.market}, "
            f"but Gamma says {market.slug!r} is {market.condition_id}",
            venue="clob",
            channel="rest",
        )
    # The book's text wins: it is what the venue hashes (module docstring).
    tick = _text(book.tick_size) or market.tick_size
    size = _text(book.min_order_size) or market.min_order_size
    neg_risk = market.neg_risk if book.neg_risk is None else book.neg_risk
    if (tick, size, neg_risk) != (market.tick_size, market.min_order_size, market.neg_risk):
        logger.debug(
            "market %s: Gamma says tick %s, min size %s, neg_risk %s; /book says %s, %s, %s",
            market.slug,
            market.tick_size,
            market.min_order_size,
            market.neg_risk,
            tick,
            size,
            neg_risk,
        )
    return msgspec.structs.replace(
        market, tick_size=tick, min_order_size=size, neg_risk=neg_risk, params_source="book"
    )


def _us_plan(keys: Sequence[str], urls: _Urls, *, missing: str) -> _Plan:
    wanted = {key: _classify(key, "us")[1] for key in keys}
    slugs = list(dict.fromkeys(wanted.values()))
    by_slug: dict[str, Market] = {}
    replies = yield [
        _Request(
            f"{urls.us}/v1/markets",
            (*(("slug", s) for s in chunk), ("limit", str(len(chunk)))),
            venue="us",
        )
        for chunk in _chunks(slugs)
    ]
    asked = set(slugs)
    for reply in replies:
        for raw in _decode(reply, _UsMarketList, "US /v1/markets").markets or []:
            market = _us_to_market(raw)
            if market.slug in asked:
                by_slug.setdefault(market.slug, market)
    # The list may filter by status; the by-slug path answers for any market or 404s.
    todo = [slug for slug in slugs if slug not in by_slug]
    if todo:
        replies = yield [
            _Request(
                f"{urls.us}/v1/market/slug/{quote(slug, safe='')}",
                allow=frozenset({404}),
                venue="us",
            )
            for slug in todo
        ]
        for slug, reply in zip(todo, replies, strict=True):
            if reply.status == 404:
                continue
            market = _us_to_market(_decode(reply, _UsMarketOne, "US /v1/market/slug").market)
            if market.slug == slug:
                by_slug[slug] = market
    unknown = [key for key, slug in wanted.items() if slug not in by_slug]
    if unknown and missing == "raise":
        raise MarketNotFoundError(unknown, "us")
    return {key: by_slug[slug] for key, slug in wanted.items() if slug in by_slug}


# ---------------------------------------------------------------------------------- drivers


@dataclass(frozen=True, slots=True)
class _Urls:
    gamma: str
    clob: str
    us: str


@dataclass(frozen=True, slots=True)
class _Options:
    venue: Venue
    urls: _Urls
    timeout: float
    retries: int
    missing: str
    clob_book: bool

    def plan(self, keys: Sequence[str]) -> _Plan:
        if self.venue == "us":
            return _us_plan(keys, self.urls, missing=self.missing)
        return _clob_plan(keys, self.urls, missing=self.missing, clob_book=self.clob_book)


def _url(value: object, name: str) -> str:
    if not isinstance(value, str) or not value.lower().startswith(("http://", "https://")):
        raise ConfigError(f"{name} must be an http(s) URL, got {value!r}")
    return value.rstrip("/")


def _options(
    *,
    venue: object,
    base_url: str | None,
    gamma_url: str,
    clob_url: str,
    us_url: str,
    timeout: object,
    retries: object,
    missing: str = "raise",
    clob_book: bool = True,
) -> _Options:
    if venue not in ("clob", "us"):
        raise ConfigError(f"venue must be 'clob' or 'us', got {venue!r}")
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
        raise ConfigError(f"timeout must be a positive number of seconds, got {timeout!r}")
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ConfigError(f"retries must be a non-negative int, got {retries!r}")
    if missing not in ("raise", "skip"):
        raise ConfigError(f"missing must be 'raise' or 'skip', got {missing!r}")
    if base_url is not None:
        gamma_url = clob_url = us_url = base_url
    urls = _Urls(
        gamma=_url(gamma_url, "gamma_url"),
        clob=_url(clob_url, "clob_url"),
        us=_url(us_url, "us_url"),
    )
    return _Options(
        venue=venue,
        urls=urls,
        timeout=float(timeout),
        retries=retries,
        missing=missing,
        clob_book=clob_book,
    )


def _keys(keys: Iterable[str]) -> list[str]:
    if isinstance(keys, str | bytes):
        raise ConfigError("keys must be an iterable of keys, not one str (use lookup())")
    return list(keys)


def _outcome(
    request: _Request, response: httpx.Response | None, error: Exception | None
) -> tuple[_Reply | None, RestError | None, float]:
    """Judge one attempt: a reply to hand back, or an error and how long to wait before retrying.

    A negative wait means the error is final (not worth retrying).
    """
    url = request.url
    if error is not None:
        if isinstance(error, httpx.UnsupportedProtocol | httpx.InvalidURL):
            raise ConfigError(f"cannot request {url}: {error}") from error
        if isinstance(error, httpx.TimeoutException):
            return None, RestError(f"GET {url} timed out ({type(error).__name__})", None, url), 0
        if isinstance(error, httpx.TransportError):
            return None, RestError(f"GET {url} failed: {error!r}", None, url), 0
        return None, RestError(f"GET {url} failed: {error!r}", None, url), -1
    assert response is not None
    status = response.status_code
    if 200 <= status < 300 or status in request.allow:
        return _Reply(request, status, response.content), None, 0
    failure = RestError(
        f"GET {url} answered HTTP {status}: {excerpt(response.content)}", status, url
    )
    if status not in RETRY_STATUSES:
        return None, failure, -1
    return None, failure, _retry_after(response.headers.get("Retry-After"))


def _retry_after(header: str | None) -> float:
    if header is None:
        return 0
    try:
        seconds = float(header)
    except ValueError:
        return 0  # an HTTP date: rare here; use our own backoff
    if seconds > MAX_RETRY_AFTER:
        return -1  # the venue wants us gone for longer than a look-up should block
    return max(seconds, 0.0)


def _backoff(attempt: int, hinted: float) -> float:
    if hinted > 0:
        return hinted
    # Exponential with full jitter, capped: spreads a notebook's parallel look-ups apart.
    return random.uniform(0, min(_BACKOFF_MAX, _BACKOFF_BASE * 2**attempt))


def _get_sync(client: httpx.Client, request: _Request, opts: _Options) -> _Reply:
    for attempt in range(opts.retries + 1):
        response: httpx.Response | None = None
        error: Exception | None = None
        try:
            response = client.get(request.url, params=request.params, timeout=opts.timeout)
        except httpx.HTTPError as exc:
            error = exc
        reply, failure, wait = _outcome(request, response, error)
        if reply is not None:
            return reply
        assert failure is not None
        if wait < 0 or attempt == opts.retries:
            raise failure
        time.sleep(_backoff(attempt, wait))
    raise AssertionError("unreachable")  # pragma: no cover


async def _get_async(
    client: httpx.AsyncClient, request: _Request, opts: _Options, gate: asyncio.Semaphore
) -> _Reply:
    for attempt in range(opts.retries + 1):
        response: httpx.Response | None = None
        error: Exception | None = None
        async with gate:
            try:
                response = await client.get(
                    request.url, params=request.params, timeout=opts.timeout
                )
            except httpx.HTTPError as exc:
                error = exc
        reply, failure, wait = _outcome(request, response, error)
        if reply is not None:
            return reply
        assert failure is not None
        if wait < 0 or attempt == opts.retries:
            raise failure
        await asyncio.sleep(_backoff(attempt, wait))
    raise AssertionError("unreachable")  # pragma: no cover


def _drive_sync(plan: _Plan, client: httpx.Client, opts: _Options) -> dict[str, Market]:
    try:
        batch = next(plan)
        while True:
            batch = plan.send([_get_sync(client, request, opts) for request in batch])
    except StopIteration as done:
        result: dict[str, Market] = done.value
        return result


async def _drive_async(plan: _Plan, client: httpx.AsyncClient, opts: _Options) -> dict[str, Market]:
    gate = asyncio.Semaphore(MAX_CONCURRENCY)
    try:
        batch = next(plan)
        while True:
            # Wait for the whole round (each request is bounded by timeout x retries), then
            # raise the first failure in request order: deterministic and no orphan tasks.
            results = await asyncio.gather(
                *(_get_async(client, request, opts, gate) for request in batch),
                return_exceptions=True,
            )
            replies: list[_Reply] = []
            for result in results:
                if isinstance(result, BaseException):
                    raise result
                replies.append(result)
            batch = plan.send(replies)
    except StopIteration as done:
        found: dict[str, Market] = done.value
        return found


def _new_client(kind: Callable[..., _T], timeout: float) -> _T:
    return kind(
        timeout=timeout,
        follow_redirects=True,
        headers={"User-Agent": _USER_AGENT, "Accept": "application/json"},
    )


def _run_sync(
    keys: Sequence[str], opts: _Options, client: httpx.Client | None
) -> dict[str, Market]:
    if client is not None and not isinstance(client, httpx.Client):
        raise ConfigError(f"client must be an httpx.Client, not {type(client).__name__}")
    plan = opts.plan(keys)
    if client is not None:
        return _drive_sync(plan, client, opts)
    with _new_client(httpx.Client, opts.timeout) as own:
        return _drive_sync(plan, own, opts)


async def _run_async(
    keys: Sequence[str], opts: _Options, client: httpx.AsyncClient | None
) -> dict[str, Market]:
    if client is not None and not isinstance(client, httpx.AsyncClient):
        raise ConfigError(f"client must be an httpx.AsyncClient, not {type(client).__name__}")
    plan = opts.plan(keys)
    if client is not None:
        return await _drive_async(plan, client, opts)
    async with _new_client(httpx.AsyncClient, opts.timeout) as own:
        return await _drive_async(plan, own, opts)


# ---------------------------------------------------------------------------------- public API


def lookup(
    key: str,
    *,
    venue: Venue = "clob",
    base_url: str | None = None,
    gamma_url: str = GAMMA_URL,
    clob_url: str = CLOB_URL,
    us_url: str = US_GATEWAY_URL,
    client: httpx.Client | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    retries: int = DEFAULT_RETRIES,
    clob_book: bool = True,
) -> Market:
    """Look one market up by slug, polymarket URL, CLOB token id or condition id.

    Args:
        key: a market slug, a ``polymarket.com`` URL (its last path segment is the slug; an
            event slug with a single market resolves to it), a CLOB token id (77 digits), a
            condition id (``0x…``) or Gamma's numeric market id. US: a slug or URL only.
        venue: ``"clob"`` (Gamma + CLOB) or ``"us"`` (US gateway).
        base_url: one URL for all three services (the simulator: ``sim.http_url``); overrides
            ``gamma_url``, ``clob_url`` and ``us_url``.
        gamma_url: Gamma API base URL.
        clob_url: CLOB REST base URL (``/book``).
        us_url: Polymarket US public gateway base URL.
        client: an ``httpx.Client`` to use (kept open); by default one is made and closed.
        timeout: seconds allowed for each phase (connect, read, ...) of each request.
        retries: extra attempts after a 429, 5xx, timeout or dropped connection.
        clob_book: ask CLOB ``/book`` for the exact hash parameters (see the module docs).

    Returns:
        The market.

    Raises:
        MarketNotFoundError: nothing matches ``key``.
        RestError: an HTTP error status (after retries), a timeout, no connection.
        ProtocolError: a response that is not the JSON the venue documents.
        ConfigError: a malformed key or argument.

    Example:
        >>> market = lookup("will-it-rain-tomorrow")  # doctest: +SKIP
        >>> feed = ClobFeed(assets=market.token_ids, params=market.params())  # doctest: +SKIP
    """
    opts = _options(
        venue=venue,
        base_url=base_url,
        gamma_url=gamma_url,
        clob_url=clob_url,
        us_url=us_url,
        timeout=timeout,
        retries=retries,
        clob_book=clob_book,
    )
    return _run_sync([key], opts, client)[key]


async def alookup(
    key: str,
    *,
    venue: Venue = "clob",
    base_url: str | None = None,
    gamma_url: str = GAMMA_URL,
    clob_url: str = CLOB_URL,
    us_url: str = US_GATEWAY_URL,
    client: httpx.AsyncClient | None = None,
    # Per-request httpx timeout (each phase of each attempt), not a deadline for the call.
    timeout: float = DEFAULT_TIMEOUT,  # noqa: ASYNC109
    retries: int = DEFAULT_RETRIES,
    clob_book: bool = True,
) -> Market:
    """The ``asyncio`` twin of :func:`lookup` (``client`` is an ``httpx.AsyncClient``).

    Example:
        >>> market = await alookup("will-it-rain-tomorrow", base_url=sim.http_url)  # doctest: +SKIP
    """
    opts = _options(
        venue=venue,
        base_url=base_url,
        gamma_url=gamma_url,
        clob_url=clob_url,
        us_url=us_url,
        timeout=timeout,
        retries=retries,
        clob_book=clob_book,
    )
    return (await _run_async([key], opts, client))[key]


def lookup_many(
    keys: Iterable[str],
    *,
    venue: Venue = "clob",
    base_url: str | None = None,
    gamma_url: str = GAMMA_URL,
    clob_url: str = CLOB_URL,
    us_url: str = US_GATEWAY_URL,
    client: httpx.Client | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    retries: int = DEFAULT_RETRIES,
    clob_book: bool = True,
    missing: Literal["raise", "skip"] = "raise",
) -> dict[str, Market]:
    """Look many markets up in few requests; keys may mix slugs, URLs, token and condition ids.

    Gamma (or the gateway) is asked for up to :data:`MAX_IDS_PER_REQUEST` ids of one kind per
    request (open markets, then closed ones for the rest), then ``/book`` once per market.
    Keys naming the same market map to the same :class:`Market`.

    Args:
        keys: the keys, as for :func:`lookup`.
        venue: see :func:`lookup` (as are ``base_url`` … ``clob_book``).
        base_url: see :func:`lookup`.
        gamma_url: see :func:`lookup`.
        clob_url: see :func:`lookup`.
        us_url: see :func:`lookup`.
        client: see :func:`lookup`.
        timeout: see :func:`lookup`.
        retries: see :func:`lookup`.
        clob_book: see :func:`lookup`.
        missing: ``"raise"`` a :class:`MarketNotFoundError` naming every unknown key, or
            ``"skip"`` them (they are then absent from the result).

    Returns:
        ``{key: Market}`` in the order of ``keys`` (duplicates once).

    Example:
        >>> found = lookup_many([slug, token_id, "0xabc…"], base_url=sim.http_url)  # doctest: +SKIP
        >>> params = {t: p for m in found.values() for t, p in m.params().items()}  # doctest: +SKIP
    """
    opts = _options(
        venue=venue,
        base_url=base_url,
        gamma_url=gamma_url,
        clob_url=clob_url,
        us_url=us_url,
        timeout=timeout,
        retries=retries,
        missing=missing,
        clob_book=clob_book,
    )
    return _run_sync(_keys(keys), opts, client)


async def alookup_many(
    keys: Iterable[str],
    *,
    venue: Venue = "clob",
    base_url: str | None = None,
    gamma_url: str = GAMMA_URL,
    clob_url: str = CLOB_URL,
    us_url: str = US_GATEWAY_URL,
    client: httpx.AsyncClient | None = None,
    timeout: float = DEFAULT_TIMEOUT,  # noqa: ASYNC109  (per request, as in alookup)
    retries: int = DEFAULT_RETRIES,
    clob_book: bool = True,
    missing: Literal["raise", "skip"] = "raise",
) -> dict[str, Market]:
    """The ``asyncio`` twin of :func:`lookup_many`; a round's requests run in parallel.

    Example:
        >>> found = await alookup_many(slugs, base_url=sim.http_url)  # doctest: +SKIP
    """
    opts = _options(
        venue=venue,
        base_url=base_url,
        gamma_url=gamma_url,
        clob_url=clob_url,
        us_url=us_url,
        timeout=timeout,
        retries=retries,
        missing=missing,
        clob_book=clob_book,
    )
    return await _run_async(_keys(keys), opts, client)
