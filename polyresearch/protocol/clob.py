"""Polymarket CLOB WebSocket protocol, sans-I/O: frames in, normalized events out; frames to send.

Two decoders, one per channel, turn the server's text frames into the shared events of
:mod:`polyresearch.protocol.events`, and a few pure builders produce the client's frames.
Nothing here touches a socket or the clock. The wire protocol is written down in
``docs/protocol-clob.md`` (sections quoted as §N below).

What the decoders accept (both channels, see :class:`ClobMarketDecoder`):

- one JSON object or a JSON array of objects (§3.1); a bad item of an array becomes one
  ``Dropped`` in its place and the other items still decode;
- every ``event_type`` of both channels: ``book``, ``price_change`` (the current schema and
  both legacy ones, §4.3), ``tick_size_change``, ``last_trade_price``, ``best_bid_ask``,
  ``new_market``, ``market_resolved``, ``trade`` and ``order``. Both decoders decode all of
  them: the kinds never collide, so a user event seen on the market socket (or the reverse)
  is still information, and refusing it would cost code, not save it;
- objects without ``event_type``: a book when ``asset_id`` and both sides are present (§3.4),
  and, beyond the spec, a user ``trade``/``order`` recognised by its ``type``
  (``TRADE``/``PLACEMENT``/``UPDATE``/``CANCELLATION``), as peers' fixtures omit the tag;
- the bare texts ``PONG`` and ``NO NEW ASSETS`` (surrounding whitespace and case ignored).

Conventions: prices and sizes stay the venue's decimal strings; book sides come out best-first
whatever the wire order (§4.1), ordered by exact decimal comparison; ``price_change`` sides
stay the wire's ``"BUY"``/``"SELL"`` (upper-cased; ``LevelChange.book_side`` gives
``"bid"``/``"ask"``), trade sides become ``"buy"``/``"sell"``; timestamps
become ``ts_ns`` by magnitude (see :func:`timestamp_ns`), and books and price changes keep the
raw ``timestamp`` text because the book hash is computed over it (§6.4). Unknown keys are
ignored (schema drift is common, §7.3). The decoder checks types, not numeric content, except
book prices, which it must parse to order the levels.

Example:
    >>> from polyresearch.protocol.clob import ClobMarketDecoder, market_subscribe
    >>> market_subscribe(["123"])
    ['{"assets_ids":["123"],"type":"market","initial_dump":true}']
    >>> decoder = ClobMarketDecoder()
    >>> (event,) = decoder.receive(
    ...     '{"market":"0xm","price_changes":[{"asset_id":"1","price":"0.5","size":"20",'
    ...     '"side":"BUY","hash":"ab","best_bid":"0.5","best_ask":"1"}],'
    ...     '"timestamp":"1757908892351","event_type":"price_change"}'
    ... )
    >>> event.changes[0].side, event.changes[0].book_side, event.changes[0].size, event.ts_ns
    ('BUY', 'bid', '20', 1757908892351000000)
    >>> decoder.receive("PONG")[0].kind
    'pong'
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from operator import attrgetter
from typing import Annotated, Any, Final, Literal, TypeAlias

import msgspec

from polyresearch.config import DEFAULT_MAX_FRAME_BYTES, ClobCredentials
from polyresearch.errors import ConfigError
from polyresearch.protocol.base import DecoderStats, DropReason, FrameDecoder
from polyresearch.protocol.events import (
    BestBidAsk,
    BookSnapshot,
    Dropped,
    Event,
    Level,
    LevelChange,
    MarketResolved,
    NewMarket,
    NoNewAssets,
    OrderSide,
    OrderUpdate,
    Pong,
    PriceChange,
    Side,
    TickSizeChange,
    Trade,
    UserTrade,
)

__all__ = [
    "MAX_IDS_PER_FRAME",
    "PING",
    "ClobMarketDecoder",
    "ClobUserDecoder",
    "market_operation",
    "market_subscribe",
    "ping",
    "timestamp_ns",
    "user_operation",
    "user_subscribe",
]

logger = logging.getLogger("polyresearch.protocol")

#: The client's heartbeat text, sent every 10 s on both channels (§1.4).
PING: Final = "PING"

#: Most ids put in one subscription frame. A frame with thousands of ids makes the server close
#: the connection; the official Rust client chunks at 100 (§1.1, rs-clob-client-v2 PR #117).
MAX_IDS_PER_FRAME: Final = 100

Operation: TypeAlias = Literal["subscribe", "unsubscribe"]

# ---------------------------------------------------------------------------- builders

_encode = msgspec.json.Encoder().encode


def _dumps(obj: dict[str, Any]) -> str:
    # msgspec writes compact JSON (no spaces) in dict insertion order, so key order is ours.
    return _encode(obj).decode("utf-8")


def _ids(ids: Iterable[object], what: str) -> list[str]:
    """Validate and de-duplicate ids, keeping first-seen order."""
    if isinstance(ids, str | bytes):
        # A bare string would be iterated character by character: a silent, costly mistake.
        raise ConfigError(f"{what} must be a list of id strings, not a single {type(ids).__name__}")
    out: dict[str, None] = {}
    for item in ids:
        if not isinstance(item, str) or not item:
            raise ConfigError(f"{what} must hold non-empty strings, got {item!r}")
        out[item] = None
    return list(out)


def _chunks(ids: list[str]) -> list[list[str]]:
    return [ids[i : i + MAX_IDS_PER_FRAME] for i in range(0, len(ids), MAX_IDS_PER_FRAME)]


def _level(level: object) -> int | None:
    if level is None:
        return None
    if isinstance(level, int) and not isinstance(level, bool) and level in (1, 2, 3):
        return level
    raise ConfigError(f"level must be 1, 2 or 3, got {level!r}")


def _operation(operation: str) -> Operation:
    if operation == "subscribe":
        return "subscribe"
    if operation == "unsubscribe":
        return "unsubscribe"
    raise ConfigError(f"operation must be 'subscribe' or 'unsubscribe', got {operation!r}")


def market_subscribe(
    asset_ids: Iterable[str],
    *,
    custom_feature_enabled: bool = False,
    level: int | None = None,
) -> list[str]:
    """Build the market channel's initial subscription: the first frame after connecting.

    ``initial_dump`` is always ``true``: without it, a peer saw many assets never get a
    ``book`` (§2.1). ``custom_feature_enabled`` is written only when true (``best_bid_ask``,
    ``new_market`` and ``market_resolved`` need it); ``level`` only when given. Ids are
    de-duplicated in order; past :data:`MAX_IDS_PER_FRAME`, the rest follow as ``operation``
    subscribe frames (send them all, in order). No ids gives the "discovery" frame that still
    receives ``new_market`` events (§2.1).

    Args:
        asset_ids: token ids (decimal strings).
        custom_feature_enabled: ask for the custom-feature events.
        level: the subscription level 1-3 (semantics undocumented; omitted by default).

    Returns:
        The frames to send, in order.

    Raises:
        ConfigError: an id that is not a non-empty string, a bare string, a bad level.

    Example:
        >>> market_subscribe(["111", "222"], custom_feature_enabled=True)
        ['{"assets_ids":["111","222"],"type":"market","initial_dump":true,"custom_feature_enabled":true}']
        >>> market_subscribe([], level=2)
        ['{"assets_ids":[],"type":"market","initial_dump":true,"level":2}']
        >>> len(market_subscribe([str(i) for i in range(250)]))
        3
    """
    ids = _ids(asset_ids, "asset_ids")
    level = _level(level)
    chunks = _chunks(ids) or [[]]
    first: dict[str, Any] = {"assets_ids": chunks[0], "type": "market", "initial_dump": True}
    if custom_feature_enabled:
        first["custom_feature_enabled"] = True
    if level is not None:
        first["level"] = level
    frames = [_dumps(first)]
    for chunk in chunks[1:]:
        frames.append(
            _market_operation_frame("subscribe", chunk, custom_feature_enabled or None, level)
        )
    return frames


def _market_operation_frame(
    operation: Operation, ids: list[str], custom_feature_enabled: bool | None, level: int | None
) -> str:
    frame: dict[str, Any] = {"operation": operation, "assets_ids": ids}
    if operation == "subscribe":
        # §6.5: a resubscribe is how a client asks for a fresh book; say so explicitly.
        frame["initial_dump"] = True
    if custom_feature_enabled is not None:
        frame["custom_feature_enabled"] = custom_feature_enabled
    if level is not None:
        frame["level"] = level
    return _dumps(frame)


def market_operation(
    operation: Operation,
    asset_ids: Iterable[str],
    *,
    custom_feature_enabled: bool | None = None,
    level: int | None = None,
) -> list[str]:
    """Build market-channel ``subscribe``/``unsubscribe`` frames for an open connection (§2.2).

    Subscribe frames carry ``"initial_dump":true`` so the new assets get a ``book`` (also the
    way to resync a book, §6.5). ``custom_feature_enabled`` is connection-wide on the server
    and an operation frame toggles it (§2.2), so it is written only when given. Ids are
    de-duplicated and chunked by :data:`MAX_IDS_PER_FRAME`; no ids gives no frames.

    Args:
        operation: ``"subscribe"`` or ``"unsubscribe"``.
        asset_ids: token ids.
        custom_feature_enabled: written when not ``None``.
        level: written when not ``None``.

    Returns:
        The frames to send, in order (empty when there are no ids).

    Raises:
        ConfigError: a bad operation, id or level.

    Example:
        >>> market_operation("subscribe", ["111"])
        ['{"operation":"subscribe","assets_ids":["111"],"initial_dump":true}']
        >>> market_operation("unsubscribe", ["111", "222"])
        ['{"operation":"unsubscribe","assets_ids":["111","222"]}']
    """
    op = _operation(operation)
    ids = _ids(asset_ids, "asset_ids")
    level = _level(level)
    return [
        _market_operation_frame(op, chunk, custom_feature_enabled, level) for chunk in _chunks(ids)
    ]


def user_subscribe(credentials: ClobCredentials, *, markets: Iterable[str] = ()) -> list[str]:
    """Build the user channel's first frame: L2 API credentials and optional markets (§2.3).

    The secrets are revealed only into the returned string: never log it. ``markets`` are
    **condition ids** (not token ids); none means events of every market. Past
    :data:`MAX_IDS_PER_FRAME`, the remaining markets follow as ``operation`` frames.

    Args:
        credentials: the CLOB API key, secret and passphrase.
        markets: condition ids to restrict the events to.

    Returns:
        The frames to send, in order.

    Raises:
        ConfigError: a market id that is not a non-empty string, or a bare string.

    Example:
        >>> from polyresearch.config import ClobCredentials
        >>> creds = ClobCredentials(api_key="k", secret="s", passphrase="p")
        >>> user_subscribe(creds, markets=["0xabc"])
        ['{"auth":{"apiKey":"k","secret":"s","passphrase":"p"},"markets":["0xabc"],"type":"user"}']
        >>> user_subscribe(creds)
        ['{"auth":{"apiKey":"k","secret":"s","passphrase":"p"},"type":"user"}']
    """
    if not isinstance(credentials, ClobCredentials):
        raise ConfigError(f"credentials must be ClobCredentials, not {type(credentials).__name__}")
    ids = _ids(markets, "markets")
    chunks = _chunks(ids)
    frame: dict[str, Any] = {
        "auth": {
            "apiKey": credentials.api_key,
            "secret": credentials.secret.reveal(),
            "passphrase": credentials.passphrase.reveal(),
        }
    }
    if chunks:
        frame["markets"] = chunks[0]
    frame["type"] = "user"
    frames = [_dumps(frame)]
    frames.extend(_dumps({"operation": "subscribe", "markets": chunk}) for chunk in chunks[1:])
    logger.debug("built %d user subscription frame(s) for %d market(s)", len(frames), len(ids))
    return frames


def user_operation(operation: Operation, markets: Iterable[str]) -> list[str]:
    """Build user-channel ``subscribe``/``unsubscribe`` frames by condition id (§2.3).

    Args:
        operation: ``"subscribe"`` or ``"unsubscribe"``.
        markets: condition ids; chunked by :data:`MAX_IDS_PER_FRAME`; none gives no frames.

    Returns:
        The frames to send, in order.

    Raises:
        ConfigError: a bad operation or market id.

    Example:
        >>> user_operation("unsubscribe", ["0xabc"])
        ['{"operation":"unsubscribe","markets":["0xabc"]}']
    """
    op = _operation(operation)
    ids = _ids(markets, "markets")
    return [_dumps({"operation": op, "markets": chunk}) for chunk in _chunks(ids)]


def ping() -> str:
    """Return the heartbeat frame, the text ``PING`` (the server answers ``PONG``).

    Example:
        >>> ping()
        'PING'
    """
    return PING


# ---------------------------------------------------------------------------- timestamps

# Magnitude bands: a Unix time below 1e11 is seconds (until the year 5138), below 1e14
# milliseconds, below 1e17 microseconds, else nanoseconds (§3.8: "normalise by magnitude").
_SECONDS_BELOW: Final = 100_000_000_000
_MILLIS_BELOW: Final = 100_000_000_000_000
_MICROS_BELOW: Final = 100_000_000_000_000_000
_NS_MAX: Final = 2**63 - 1
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
# Decodes the JSON integer grammar (optional "-", no leading zeros, JSON whitespace around) to
# the same int as int(); refuses the rest, which int() then reads as before.
_decode_int = msgspec.json.Decoder(int).decode
_INT_ERRORS: Final = (msgspec.DecodeError, UnicodeEncodeError)
_ONE_US: Final = timedelta(microseconds=1)


def _scale(value: int | Decimal) -> int | None:
    # Compare before converting: int(Decimal("1e999999999")) would build a huge integer.
    if value <= 0 or value > _NS_MAX:
        return None
    if value < _SECONDS_BELOW:
        ns = value * 1_000_000_000
    elif value < _MILLIS_BELOW:
        ns = value * 1_000_000
    elif value < _MICROS_BELOW:
        ns = value * 1_000
    else:
        ns = value
    ns = int(ns)
    return ns if 0 < ns <= _NS_MAX else None


def timestamp_ns(value: str | int | float | None) -> int | None:
    """Normalise a CLOB timestamp to nanoseconds since the epoch, or ``None``.

    Market-channel timestamps are milliseconds as strings; user-channel examples carry seconds,
    and ``"0"`` or ``""`` mean "none" (§3.8). The unit is chosen by magnitude: below 1e11 is
    seconds, below 1e14 milliseconds, below 1e17 microseconds, else nanoseconds. Fractional
    values are converted exactly. Tolerated beyond the spec: JSON numbers and RFC 3339 text
    (seen in peers' fixtures). Anything else, zero and negative values give ``None``.

    Example:
        >>> timestamp_ns("1766481546776"), timestamp_ns("1672290701"), timestamp_ns("0")
        (1766481546776000000, 1672290701000000000, None)
        >>> timestamp_ns("2024-01-01T00:00:00Z")
        1704067200000000000
    """
    if value.__class__ is str:  # the usual case first: a decimal integer string
        try:
            number = _decode_int(value)  # a JSON integer: same value as int(), cheaper
        except _INT_ERRORS:
            try:
                number = int(value)  # also "+1", "0123", "1_000", other spaces and digits
            except ValueError:
                return _text_ns(value)
        if _SECONDS_BELOW <= number < _MILLIS_BELOW:
            return number * 1_000_000
        return _scale(number)
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return _scale(value)
    if isinstance(value, float):
        return _text_ns(repr(value))
    return _text_ns(value)


def _text_ns(text: str) -> int | None:
    """Timestamps that are not plain integers: fractions, exponents, RFC 3339, junk."""
    text = text.strip()
    if not text:
        return None
    try:
        number = Decimal(text)
    except InvalidOperation:
        return _iso_ns(text)
    return _scale(number) if number.is_finite() else None


def _iso_ns(text: str) -> int | None:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    # Integer arithmetic: float timestamps would lose the microseconds.
    ns = (moment - _EPOCH) // _ONE_US * 1_000
    return ns if 0 < ns <= _NS_MAX else None


# ---------------------------------------------------------------------------- wire schemas
#
# Private msgspec structs that mirror the wire. ``gc=False`` because they never form cycles and
# are thrown away at once; unknown keys are ignored by msgspec. One struct per ``event_type``
# tag, so one tagged-union decoder reads any known event in one C pass.

_Ts: TypeAlias = str | int | float | None
_Unset = msgspec.UnsetType
_UNSET = msgspec.UNSET


class _WBook(msgspec.Struct, gc=False, tag_field="event_type", tag="book"):
    asset_id: str
    market: str
    bids: tuple[Level, ...] | None = None
    asks: tuple[Level, ...] | None = None
    buys: tuple[Level, ...] | None = None  # old docs' names for the sides (§4.1)
    sells: tuple[Level, ...] | None = None
    timestamp: _Ts = None
    hash: str | None = None
    tick_size: str | None = None
    last_trade_price: str | None = None


class _WChange(msgspec.Struct, gc=False):
    asset_id: str
    price: str
    size: str
    side: str
    hash: str | None = None
    best_bid: str | None = None
    best_ask: str | None = None


class _WLegacyChange(msgspec.Struct, gc=False):
    price: str
    size: str
    side: str


class _WPriceChange(msgspec.Struct, gc=False, tag_field="event_type", tag="price_change"):
    # All three schemas (§4.3) share the tag; the converter dispatches on which keys are set.
    market: str
    price_changes: list[_WChange] | None = None  # current (since 2025-09-15)
    changes: list[_WLegacyChange] | None = None  # Oct 2024 - Sep 2025
    asset_id: str | None = None  # legacy and oldest: top level
    price: str | None = None  # oldest: one level per message
    size: str | None = None
    side: str | None = None
    hash: str | None = None
    timestamp: _Ts = None


class _WTickSizeChange(msgspec.Struct, gc=False, tag_field="event_type", tag="tick_size_change"):
    asset_id: str
    market: str
    old_tick_size: str
    new_tick_size: str
    timestamp: _Ts = None


class _LastTradePriceFields(msgspec.Struct, gc=False):
    asset_id: str
    market: str
    price: str
    size: str
    side: str | None = None
    timestamp: _Ts = None
    fee_rate_bps: str | None = None
    transaction_hash: str | None = None


class _WLastTradePrice(_LastTradePriceFields, tag_field="event_type", tag="last_trade_price"):
    pass


class _WFastLastTradePrice(_LastTradePriceFields, kw_only=True):
    # _WLastTradePrice for the fast path in receive(): a single tagged struct would accept a
    # missing tag, which the union (the general path) refuses, so the tag is a required field
    # here, checked wherever it appears (as the PriceChange fast path does).
    event_type: Literal["last_trade_price"]


class _WBestBidAsk(msgspec.Struct, gc=False, tag_field="event_type", tag="best_bid_ask"):
    asset_id: str
    market: str
    best_bid: str | None = None
    best_ask: str | None = None
    spread: str | None = None
    timestamp: _Ts = None


class _WNewMarket(msgspec.Struct, gc=False, tag_field="event_type", tag="new_market"):
    id: str | int
    market: str
    question: str
    slug: str
    assets_ids: tuple[str, ...]
    outcomes: tuple[str, ...]
    timestamp: _Ts = None
    active: Any = _UNSET
    order_price_min_tick_size: Any = _UNSET
    # Optional fields kept as sent in ``details`` (§4.7, including those observed in 2026).
    description: Any = _UNSET
    event_message: Any = _UNSET
    tags: Any = _UNSET
    condition_id: Any = _UNSET
    clob_token_ids: Any = _UNSET
    sports_market_type: Any = _UNSET
    line: Any = _UNSET
    game_start_time: Any = _UNSET
    group_item_title: Any = _UNSET
    taker_base_fee: Any = _UNSET
    fees_enabled: Any = _UNSET
    fee_schedule: Any = _UNSET


_NEW_MARKET_DETAILS: Final = (
    "description",
    "event_message",
    "tags",
    "condition_id",
    "clob_token_ids",
    "sports_market_type",
    "line",
    "game_start_time",
    "order_price_min_tick_size",
    "group_item_title",
    "taker_base_fee",
    "fees_enabled",
    "fee_schedule",
)


class _WMarketResolved(msgspec.Struct, gc=False, tag_field="event_type", tag="market_resolved"):
    id: str | int
    market: str
    assets_ids: tuple[str, ...]
    winning_asset_id: str
    winning_outcome: str
    timestamp: _Ts = None


class _WTrade(msgspec.Struct, gc=False, tag_field="event_type", tag="trade"):
    id: str
    market: str
    asset_id: str
    price: str
    size: str
    status: str
    side: str | None = None
    timestamp: _Ts = None
    matchtime: _Ts = None  # the English guide's spelling
    match_time: _Ts = None  # everyone else's (§5.1)
    taker_order_id: str | None = None
    outcome: str | None = None
    trader_side: str | None = None
    fee_rate_bps: str | None = None
    transaction_hash: str | None = None
    maker_orders: tuple[dict[str, Any], ...] | None = None


class _WOrder(msgspec.Struct, gc=False, tag_field="event_type", tag="order"):
    id: str
    market: str
    asset_id: str
    type: str | None = None
    side: str | None = None
    price: str | None = None
    original_size: str | None = None
    size_matched: str | None = None
    status: str | None = None
    order_type: str | None = None
    outcome: str | None = None
    timestamp: _Ts = None
    # Kept as sent in ``details``.
    owner: Any = _UNSET
    order_owner: Any = _UNSET
    maker_address: Any = _UNSET
    associate_trades: Any = _UNSET
    created_at: Any = _UNSET
    expiration: Any = _UNSET


_ORDER_DETAILS: Final = (
    "owner",
    "order_owner",
    "maker_address",
    "associate_trades",
    "created_at",
    "expiration",
)

_Wire: TypeAlias = (
    _WBook
    | _WPriceChange
    | _WTickSizeChange
    | _WLastTradePrice
    | _WBestBidAsk
    | _WNewMarket
    | _WMarketResolved
    | _WTrade
    | _WOrder
)
_KNOWN_KINDS: Final = frozenset(
    {"book", "price_change", "tick_size_change", "last_trade_price", "best_bid_ask"}
    | {"new_market", "market_resolved", "trade", "order"}
)
_ORDER_TYPES: Final = frozenset({"PLACEMENT", "UPDATE", "CANCELLATION"})


class _Probe(msgspec.Struct, gc=False):
    """What is left to know about an object the union refused: its tag and tell-tale keys."""

    event_type: Any = None
    type: Any = None
    asset_id: Any = _UNSET
    bids: Any = _UNSET
    asks: Any = _UNSET
    buys: Any = _UNSET
    sells: Any = _UNSET


# The hot path (§3.6: ``event_type`` comes last in real price_change frames, so the union has
# to scan for it): frames of exactly the current price_change schema are decoded straight into
# the public ``PriceChange``, which mirrors that schema (its ``kind`` is the wire's required
# ``event_type``, so every ``event_type`` key of the frame is checked). Anything this decoder
# refuses goes the general way.
_decode_fast_pc = msgspec.json.Decoder(PriceChange).decode
# The timestamp as JSON integer text in the millisecond band of timestamp_ns(), else an error.
_decode_ms = msgspec.json.Decoder(
    Annotated[int, msgspec.Meta(ge=_SECONDS_BELOW, lt=_MILLIS_BELOW)]
).decode
# The fast paths' look at a frame's fourth-last character (two before '"}'): g in
# "price_change", c in "last_trade_price", o in "book". One comparison picks the one decoder
# likely to accept the frame; a wrong guess (e.g. "tick_size_change" also ends in "ge") only
# costs a refusal, then the union decides. Bytes frames index to an int, mapped back to its
# character here (only ASCII bytes frames take the fast paths).
_ASCII: Final = tuple(map(chr, range(128)))
_LTP_STR: Final = '"last_trade_price"'
_LTP_BYTES: Final = b'"last_trade_price"'
_OPEN: Final = frozenset({"{", ord("{")})
_force_setattr = msgspec.structs.force_setattr
_decode_event = msgspec.json.Decoder(_Wire).decode
# A single tagged struct checks the tag when present and accepts it missing: the general path
# infers such an object to be a book too (§3.4) when its fields make one.
_decode_book = msgspec.json.Decoder(_WBook).decode
_decode_fast_ltp = msgspec.json.Decoder(_WFastLastTradePrice).decode
_decode_items = msgspec.json.Decoder(list[msgspec.Raw]).decode
_decode_probe = msgspec.json.Decoder(_Probe).decode
_decode_any = msgspec.json.Decoder().decode
# Decoders for the same structs without requiring the tag (a single tagged struct accepts a
# missing tag), for the inferred kinds of §3.4.
_decode_untagged: Final[dict[str, Callable[[str | bytes], Any]]] = {
    "book": _decode_book,
    "trade": msgspec.json.Decoder(_WTrade).decode,
    "order": msgspec.json.Decoder(_WOrder).decode,
}

# Everything msgspec may raise on hostile input: bad JSON or types, a str frame with lone
# surrogates (not encodable to UTF-8), nesting too deep for the C recursion guard.
_DECODE_ERRORS: Final = (msgspec.DecodeError, UnicodeEncodeError, RecursionError)
# TypeError: a timestamp that is not text (null, a number) given to _decode_ms.
_FAST_ERRORS: Final = (*_DECODE_ERRORS, TypeError)
# KeyError: a trade side that is not exactly "BUY"/"SELL" (None included).
_FAST_LTP_ERRORS: Final = (*_FAST_ERRORS, KeyError)

# Values of credential keys, scrubbed from drop excerpts (only the excerpt's head is shown).
_CREDENTIAL_VALUE: Final = re.compile(
    r'("(?:secret|passphrase|api_?key|key)"\s*:\s*")((?:[^"\\]|\\.)*)', re.IGNORECASE
)
_REDACT_CHARS: Final = 1024


# ---------------------------------------------------------------------------- conversion


class _BadEvent(Exception):
    """A well-typed object whose values still make no sense (a side of ``"UP"``, ...)."""


_BOOK_SIDES: Final[dict[str, OrderSide]] = {"BUY": "BUY", "SELL": "SELL"}
_TRADE_SIDES: Final[dict[str, Side]] = {"BUY": "buy", "SELL": "sell"}


def _book_side(side: str) -> OrderSide:
    found = _BOOK_SIDES.get(side) or _BOOK_SIDES.get(side.upper())
    if found is None:
        raise _BadEvent(f"unknown price_change side {side[:20]!r}")
    return found


def _trade_side(side: str | None) -> Side | None:
    found = _TRADE_SIDES.get(side)  # type: ignore[arg-type]
    if found is None and side is not None:
        found = _TRADE_SIDES.get(side.upper())
        if found is None:
            raise _BadEvent(f"unknown trade side {side[:20]!r}")
    return found


def _text(value: _Ts) -> str | None:
    """The timestamp text as sent (numbers, tolerated, are rendered back to text)."""
    if value is None or isinstance(value, str):
        return value
    return repr(value)


_PRICE: Final = attrgetter("price")


def _decimal_keys(prices: list[str]) -> list[Decimal]:
    try:
        keys = list(map(Decimal, prices))
    except InvalidOperation:
        raise _BadEvent("a book price is not a number") from None
    if not all(map(Decimal.is_finite, keys)):
        raise _BadEvent("a book price is not a finite number")
    return keys


_DIGITS: Final = b"0123456789"


def _best_first(levels: tuple[Level, ...], *, descending: bool) -> tuple[Level, ...]:
    """Order book levels best-first by exact price, whatever the wire order.

    Prices are compared as text when that is exact (every price ``0.`` followed by ASCII
    digits, what the venue sends), else as Decimals (``".48"``, ``"1"``). Real books arrive
    worst-first (bids ascending, asks descending, §4.1): one run that the sort reverses in
    linear time. The sort is stable: equal prices keep their wire order.

    Raises:
        _BadEvent: a price that is not a finite number.
    """
    n = len(levels)
    if n < 2:
        if levels:
            _decimal_keys([levels[0].price])  # still refuse a junk price
        return levels
    prices = [level.price for level in levels]  # cheaper than map(attrgetter) on a struct
    # The text check, in a few C-level passes over the joined prices instead of a Decimal per
    # level (a book has ~40), inlined (a call costs ~5% of a side). For such prices, comparing
    # the text is comparing the numbers: same integer part, then digit by digit, a prefix
    # being the smaller. Once the ASCII digits are deleted, exactly ".|.|...|." must be left
    # (each price is digits, one ".", digits, and none holds a "|"), and "0." must start the
    # first price and follow each of the n-1 separators (so every integer part is "0"). One
    # bytes.translate pass costs less than the str.replace and str.isdigit passes it replaced.
    joined = "|".join(prices)
    if (
        joined[:2] == "0."
        and joined.isascii()  # O(1) on str; also makes the ASCII encode below safe
        and joined.count("|0.") == n - 1
        and joined.encode("ascii").translate(None, _DIGITS) == b".|" * (n - 1) + b"."
    ):
        # A run in wire order (worst-first, §4.1) costs the sort one linear pass. (Checking
        # for it first costs as much: the prices must also be checked for ties, which a
        # stable sort keeps in wire order; callgrind: 24.7k vs 24.7k instructions a side.)
        return tuple(sorted(levels, key=_PRICE, reverse=descending))
    keys = _decimal_keys(prices)
    order = sorted(range(n), key=keys.__getitem__, reverse=descending)
    return tuple([levels[i] for i in order])


def _side_levels(
    primary: tuple[Level, ...] | None, alias: tuple[Level, ...] | None, name: str
) -> tuple[Level, ...]:
    levels = primary if primary is not None else alias
    if levels is None:
        raise _BadEvent(f"book without {name}")
    return levels


def _book(w: _WBook) -> BookSnapshot:
    bids = _side_levels(w.bids, w.buys, "bids")
    asks = _side_levels(w.asks, w.sells, "asks")
    return BookSnapshot(
        kind="book",
        venue="clob",
        market=w.market,
        asset_id=w.asset_id,
        bids=_best_first(bids, descending=True),
        asks=_best_first(asks, descending=False),
        ts_ns=timestamp_ns(w.timestamp),
        timestamp=_text(w.timestamp),
        hash=w.hash,
        tick_size=w.tick_size,
        last_trade_price=w.last_trade_price,
    )


def _price_change(w: _WPriceChange) -> PriceChange:
    if w.price_changes is not None:  # current schema: one entry per level, per-entry hash
        changes = tuple(
            [
                LevelChange(
                    asset_id=c.asset_id,
                    price=c.price,
                    size=c.size,
                    side=_book_side(c.side),
                    hash=c.hash,
                    best_bid=c.best_bid,
                    best_ask=c.best_ask,
                )
                for c in w.price_changes
            ]
        )
        message_hash = None
    else:
        if w.asset_id is None:
            raise _BadEvent("legacy price_change without asset_id")
        asset_id = w.asset_id
        if w.changes is not None:  # 2024-2025: top-level asset_id and hash
            changes = tuple(
                [
                    LevelChange(
                        asset_id=asset_id, side=_book_side(c.side), price=c.price, size=c.size
                    )
                    for c in w.changes
                ]
            )
        elif w.price is not None and w.side is not None and w.size is not None:  # before Oct 2024
            changes = (
                LevelChange(asset_id=asset_id, side=_book_side(w.side), price=w.price, size=w.size),
            )
        else:
            raise _BadEvent("price_change without price_changes, changes or price/side/size")
        message_hash = w.hash
    return PriceChange(
        kind="price_change",
        venue="clob",
        market=w.market,
        changes=changes,
        ts_ns=timestamp_ns(w.timestamp),
        timestamp=_text(w.timestamp),
        hash=message_hash,
    )


def _tick_size_change(w: _WTickSizeChange) -> TickSizeChange:
    return TickSizeChange(
        kind="tick_size_change",
        venue="clob",
        market=w.market,
        asset_id=w.asset_id,
        old_tick_size=w.old_tick_size,
        new_tick_size=w.new_tick_size,
        ts_ns=timestamp_ns(w.timestamp),
    )


def _last_trade_price(w: _WLastTradePrice | _WFastLastTradePrice) -> Trade:
    try:  # inlined usual case of timestamp_ns(): a millisecond JSON integer string
        ts_ns = _decode_ms(w.timestamp) * 1_000_000  # type: ignore[arg-type]
    except _FAST_ERRORS:
        ts_ns = timestamp_ns(w.timestamp)
    return Trade(
        kind="last_trade_price",
        venue="clob",
        market=w.market,
        asset_id=w.asset_id,
        price=w.price,
        size=w.size,
        # The usual "BUY"/"SELL" by one lookup; anything else (None, case, junk) by _trade_side.
        side=_TRADE_SIDES.get(w.side) or _trade_side(w.side),  # type: ignore[arg-type]
        ts_ns=ts_ns,
        fee_rate_bps=w.fee_rate_bps,
        transaction_hash=w.transaction_hash,
    )


def _best_bid_ask(w: _WBestBidAsk) -> BestBidAsk:
    return BestBidAsk(
        kind="best_bid_ask",
        venue="clob",
        market=w.market,
        asset_id=w.asset_id,
        best_bid=w.best_bid,
        best_ask=w.best_ask,
        spread=w.spread,
        ts_ns=timestamp_ns(w.timestamp),
    )


def _details(w: msgspec.Struct, names: tuple[str, ...]) -> dict[str, Any] | None:
    found = {name: value for name in names if (value := getattr(w, name)) is not _UNSET}
    return found or None


def _new_market(w: _WNewMarket) -> NewMarket:
    tick = w.order_price_min_tick_size
    if isinstance(tick, int | float) and not isinstance(tick, bool):
        tick = repr(tick)  # Gamma writes this as a number; keep our str convention
    return NewMarket(
        kind="new_market",
        venue="clob",
        market=w.market,
        market_id=str(w.id),
        question=w.question,
        slug=w.slug,
        asset_ids=w.assets_ids,
        outcomes=w.outcomes,
        ts_ns=timestamp_ns(w.timestamp),
        active=w.active if isinstance(w.active, bool) else None,
        tick_size=tick if isinstance(tick, str) else None,
        details=_details(w, _NEW_MARKET_DETAILS),
    )


def _market_resolved(w: _WMarketResolved) -> MarketResolved:
    return MarketResolved(
        kind="market_resolved",
        venue="clob",
        market=w.market,
        market_id=str(w.id),
        asset_ids=w.assets_ids,
        winning_asset_id=w.winning_asset_id,
        winning_outcome=w.winning_outcome,
        ts_ns=timestamp_ns(w.timestamp),
    )


def _trade(w: _WTrade) -> UserTrade:
    match_time = w.matchtime if w.matchtime is not None else w.match_time
    return UserTrade(
        kind="trade",
        venue="clob",
        trade_id=w.id,
        market=w.market,
        asset_id=w.asset_id,
        side=_trade_side(w.side),
        price=w.price,
        size=w.size,
        status=w.status,
        ts_ns=timestamp_ns(w.timestamp),
        match_ts_ns=timestamp_ns(match_time),
        taker_order_id=w.taker_order_id,
        outcome=w.outcome,
        trader_side=w.trader_side,
        fee_rate_bps=w.fee_rate_bps,
        transaction_hash=w.transaction_hash,
        maker_orders=w.maker_orders or (),
    )


def _order(w: _WOrder) -> OrderUpdate:
    return OrderUpdate(
        kind="order",
        venue="clob",
        order_id=w.id,
        market=w.market,
        asset_id=w.asset_id,
        side=_trade_side(w.side),
        price=w.price,
        original_size=w.original_size,
        size_matched=w.size_matched,
        status=w.status,
        update_type=w.type,
        order_type=w.order_type,
        outcome=w.outcome,
        ts_ns=timestamp_ns(w.timestamp),
        details=_details(w, _ORDER_DETAILS),
    )


_CONVERT: Final[dict[type, Callable[[Any], Event]]] = {
    _WBook: _book,
    _WPriceChange: _price_change,
    _WTickSizeChange: _tick_size_change,
    _WLastTradePrice: _last_trade_price,
    _WBestBidAsk: _best_bid_ask,
    _WNewMarket: _new_market,
    _WMarketResolved: _market_resolved,
    _WTrade: _trade,
    _WOrder: _order,
}

_CONTROL_TEXTS: Final[dict[str, Callable[[], Event]]] = {
    "PONG": lambda: Pong(kind="pong", venue="clob"),
    "NO NEW ASSETS": lambda: NoNewAssets(kind="no_new_assets", venue="clob"),
}


# ---------------------------------------------------------------------------- decoders


class _ClobDecoder(FrameDecoder):
    """Shared by both channels; see :class:`ClobMarketDecoder`."""

    def __init__(self, channel: str, *, max_frame_bytes: int) -> None:
        super().__init__("clob", channel, max_frame_bytes=max_frame_bytes)
        # Frames taken by the fast paths in receive(), folded into the base counters by
        # stats(). Plain ints, one pair per hot kind: a small-int add is the cheapest update
        # there is, and these are the two kinds of ~99% of a stream's frames.
        self._pc_frames = 0
        self._pc_chars = 0
        self._ltp_frames = 0
        self._ltp_chars = 0
        # Other single-object frames (books, rarer kinds), by kind: [frames, characters].
        self._fast_kinds: dict[str, list[int]] = {}

    def receive(self, frame: str | bytes) -> list[Event]:
        """Decode one raw frame into events, in wire order. Never raises for bad input.

        Args:
            frame: a text frame as ``str``, or its UTF-8 ``bytes``.

        Returns:
            The frame's events, with a ``Dropped`` in place of each part that could not be used.
        """
        # Fast paths for a frame holding one JSON object (nearly every frame of a stream), as
        # str or as ASCII bytes (what a recording replays; msgspec reads bytes directly, and
        # ASCII bytes are valid UTF-8, so no frame the general path would drop as not_utf8
        # gets through here). Inlined here on purpose: a helper call costs as much as what it
        # would save (performance-notes.md Q1), and every bytecode counts at ~2 us a frame.
        # They must produce exactly what the general path produces (tests compare them);
        # anything unusual (other buffers, arrays, control texts, drops, odd timestamps or
        # sides, ...) takes the general path, which then does all the work and counting
        # itself. A str of n chars is at most 4n UTF-8 bytes, so it cannot be oversized when
        # 4n fits (_max_str_chars); bytes are held to the same bound.
        size = len(frame)
        if 3 < size <= self._max_str_chars:
            # type() and a str comparison: both specialised by the interpreter, unlike
            # frame.__class__ or a dict lookup.
            cls = type(frame)
            if cls is str:
                tail = frame[-4]
            elif cls is bytes and frame.isascii():
                tail = _ASCII[frame[-4]]  # type: ignore[index]
            else:  # other buffers, non-ASCII bytes: the general path checks them
                return FrameDecoder.receive(self, frame)
            if tail == "g":  # likely a price_change
                try:
                    event = _decode_fast_pc(frame)
                    # Milliseconds, the usual unit; else (or null) timestamp_ns() decides.
                    ts_ns = _decode_ms(event.timestamp) * 1_000_000  # type: ignore[arg-type]
                except _FAST_ERRORS:
                    pass  # not the current price_change schema: try the union
                else:
                    # A top-level hash is the legacy schema's; ts_ns is ours to set,
                    # whatever the frame said.
                    if event.hash is None:
                        _force_setattr(event, "ts_ns", ts_ns)
                        self._pc_frames += 1
                        self._pc_chars += size
                        return [event]
            elif tail == "c" or (
                # A trade whose tag is not last (the doc's example puts it first): the key
                # name, checked by one substring search, before a decode that would fail.
                tail != "o" and (_LTP_STR in frame if cls is str else _LTP_BYTES in frame)
            ):
                try:
                    w = _decode_fast_ltp(frame)
                    # Only the usual case: a millisecond timestamp and an upper-case side
                    # (KeyError for anything else, None included); _last_trade_price() on the
                    # general path handles the rest.
                    trade = Trade(
                        kind="last_trade_price",
                        venue="clob",
                        market=w.market,
                        asset_id=w.asset_id,
                        price=w.price,
                        size=w.size,
                        side=_TRADE_SIDES[w.side],  # type: ignore[index]
                        ts_ns=_decode_ms(w.timestamp) * 1_000_000,  # type: ignore[arg-type]
                        fee_rate_bps=w.fee_rate_bps,
                        transaction_hash=w.transaction_hash,
                    )
                except _FAST_LTP_ERRORS:
                    pass
                else:
                    self._ltp_frames += 1
                    self._ltp_chars += size
                    return [trade]
            if frame[0] in _OPEN:  # any other object: the union (or the book)
                try:
                    # A live book ends with its tag, which the union would scan for.
                    wire = (_decode_book if tail == "o" else _decode_event)(frame)
                    other = _CONVERT[wire.__class__](wire)
                except Exception:  # refused, unknown or odd: the general path sorts it out
                    return FrameDecoder.receive(self, frame)
                counts = self._fast_kinds.get(other.kind)
                if counts is None:
                    self._fast_kinds[other.kind] = [1, size]
                else:
                    counts[0] += 1
                    counts[1] += size
                return [other]
        return FrameDecoder.receive(self, frame)

    def stats(self) -> DecoderStats:
        """Return a frozen snapshot of this decoder's counters (see ``FrameDecoder.stats``)."""
        # The fast paths count frames (one event each) by kind, and characters; fold them
        # into the base counters so the snapshot adds up.
        counts = self._fast_kinds
        self._fast_kinds = {}
        if self._pc_frames:
            counts.setdefault("price_change", [0, 0])
            counts["price_change"][0] += self._pc_frames
            counts["price_change"][1] += self._pc_chars
            self._pc_frames = self._pc_chars = 0
        if self._ltp_frames:
            counts.setdefault("last_trade_price", [0, 0])
            counts["last_trade_price"][0] += self._ltp_frames
            counts["last_trade_price"][1] += self._ltp_chars
            self._ltp_frames = self._ltp_chars = 0
        by_kind = self._by_kind
        for kind, (frames, chars) in counts.items():
            self._frames_in += frames
            self._bytes_in += chars
            self._events_out += frames
            by_kind[kind] = by_kind.get(kind, 0) + frames
        return super().stats()

    def drop(self, reason: DropReason, detail: str, frame: str | bytes | None) -> Dropped:
        """Count, log and return a drop, with credential values scrubbed from the excerpt.

        Server frames carry no secrets, but our own user subscription frame does, and it is
        the likeliest stray frame to be fed back to a decoder (e.g. from a recording).
        """
        if frame is not None:
            if not isinstance(frame, str):
                frame = bytes(frame).decode("utf-8", "replace")
            # Only the head can reach the excerpt. Lone surrogates become "?" so that the
            # Dropped event can itself be encoded as JSON (e.g. by the decode CLI).
            head = frame[:_REDACT_CHARS].encode("utf-8", "replace").decode("utf-8")
            scrubbed = _CREDENTIAL_VALUE.sub(r"\1<redacted>", head)
            # After a scrub the tail is left out: it could hold the rest of a very long value.
            frame = scrubbed if scrubbed != head else head + frame[_REDACT_CHARS:]
        return super().drop(reason, detail, frame)

    def _decode(self, text: str) -> list[Event]:
        first = text[:1]
        if first == "{":  # one object; the common case is inlined, errors go to _object()
            try:
                wire = _decode_event(text)
            except _DECODE_ERRORS:
                return [self._object(text)]
            try:
                return [_CONVERT[wire.__class__](wire)]
            except _BadEvent as exc:
                return [self.drop("wrong_shape", str(exc), text)]
        if first == "[":
            return self._array(text)
        return self._other(text)

    def _failed(self, exc: Exception, data: str | bytes) -> Dropped:
        """Drop for a msgspec failure on ``data``: malformed JSON, bad types, too deep."""
        if isinstance(exc, UnicodeEncodeError):  # a str frame with lone surrogates
            return self.drop("not_utf8", str(exc), data)
        if isinstance(exc, RecursionError):  # valid JSON maybe, but no event nests this deep
            return self.drop("wrong_shape", "JSON nested too deeply", data)
        if isinstance(exc, msgspec.ValidationError):
            return self.drop("wrong_shape", str(exc), data)
        return self.drop("not_json", str(exc), data)

    def _object(self, data: str | bytes) -> Event:
        """Decode one JSON object: the whole frame, or one item of an array."""
        try:
            wire = _decode_event(data)
        except msgspec.ValidationError as exc:
            return self._refused(data, exc)
        except _DECODE_ERRORS as exc:
            return self._failed(exc, data)
        try:
            return _CONVERT[wire.__class__](wire)
        except _BadEvent as exc:
            return self.drop("wrong_shape", str(exc), data)

    def _refused(self, data: str | bytes, exc: msgspec.ValidationError) -> Event:
        """Classify an object the union refused: unknown kind, untagged kind, or bad shape."""
        try:
            probe = _decode_probe(data)
        except _DECODE_ERRORS as probe_exc:  # e.g. truncated after a bad tag
            return self._failed(probe_exc, data)
        kind = probe.event_type
        if kind is None:
            inferred = _infer_kind(probe)
            if inferred is None:
                return self.drop("wrong_shape", "object without event_type", data)
            try:
                wire = _decode_untagged[inferred](data)
                return _CONVERT[wire.__class__](wire)
            except msgspec.ValidationError as untagged_exc:
                return self.drop("wrong_shape", f"{inferred}: {untagged_exc}", data)
            except _BadEvent as bad:
                return self.drop("wrong_shape", str(bad), data)
        if isinstance(kind, str) and kind not in _KNOWN_KINDS:
            return self.drop("unknown_event", f"event_type {kind[:40]!r}", data)
        return self.drop("wrong_shape", str(exc), data)

    def _array(self, text: str) -> list[Event]:
        try:
            items = _decode_items(text)
        except _DECODE_ERRORS as exc:
            return [self._failed(exc, text)]
        # Item by item, so a bad item becomes one drop in its place (§3.5).
        events: list[Event] = []
        for item in items:
            raw = bytes(item)
            if raw[:1] == b"{":
                events.append(self._object(raw))
            else:
                events.append(self.drop("wrong_shape", "array item is not an object", raw))
        return events

    def _other(self, text: str) -> list[Event]:
        stripped = text.strip()
        control = _CONTROL_TEXTS.get(stripped.upper())
        if control is not None:
            return [control()]
        if stripped[:1] in ("{", "["):  # JSON after leading whitespace
            return self._decode(stripped)
        try:
            _decode_any(stripped)
        except _DECODE_ERRORS as exc:
            return [self._failed(exc, text)]
        return [self.drop("wrong_shape", "JSON value is not an object or array", text)]


def _infer_kind(probe: _Probe) -> str | None:
    """Kind of an object without ``event_type`` (§3.4, and user events by their ``type``)."""
    if (
        probe.asset_id is not _UNSET
        and (probe.bids is not _UNSET or probe.buys is not _UNSET)
        and (probe.asks is not _UNSET or probe.sells is not _UNSET)
    ):
        return "book"
    kind = probe.type
    if not isinstance(kind, str):
        return None
    if kind == "TRADE":
        return "trade"
    if kind in _ORDER_TYPES:
        return "order"
    return None


class ClobMarketDecoder(_ClobDecoder):
    """Decoder for the CLOB market channel (``/ws/market``).

    ``receive(frame)`` returns the frame's events in wire order and never raises for bad input:
    a frame (or array item) it cannot use becomes a :class:`~polyresearch.protocol.events.Dropped`
    counted in :meth:`stats` under ``oversized``, ``not_utf8``, ``not_json``, ``wrong_shape``
    or ``unknown_event``. It also decodes the user channel's ``trade``/``order`` events (the
    kinds never collide). Event kinds are the wire names: ``book`` → ``BookSnapshot``,
    ``price_change`` → ``PriceChange``, ``last_trade_price`` → ``Trade``, ``best_bid_ask`` →
    ``BestBidAsk``, ``tick_size_change``, ``new_market``, ``market_resolved``; ``PONG`` →
    ``Pong``, ``NO NEW ASSETS`` → ``NoNewAssets``.

    Args:
        max_frame_bytes: frames larger than this are dropped as ``oversized``.

    Example:
        >>> decoder = ClobMarketDecoder()
        >>> frame = (
        ...     '[{"market":"0xm","asset_id":"1","bids":[{"price":"0.4","size":"5"},'
        ...     '{"price":"0.45","size":"2"}],"asks":[],"event_type":"book"},{"event_type":"x"}]'
        ... )
        >>> book, dropped = decoder.receive(frame)
        >>> [level.price for level in book.bids], dropped.reason
        (['0.45', '0.4'], 'unknown_event')
        >>> stats = decoder.stats()
        >>> stats.frames_in, dict(stats.events_by_kind), dict(stats.dropped)
        (1, {'book': 1}, {'unknown_event': 1})
    """

    def __init__(self, *, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> None:
        super().__init__("market", max_frame_bytes=max_frame_bytes)


class ClobUserDecoder(_ClobDecoder):
    """Decoder for the CLOB user channel (``/ws/user``): ``trade`` and ``order`` events.

    ``trade`` → :class:`~polyresearch.protocol.events.UserTrade` (every status; ``matchtime``
    or ``match_time``), ``order`` → :class:`~polyresearch.protocol.events.OrderUpdate`
    (``PLACEMENT``/``UPDATE``/``CANCELLATION`` in ``update_type``). Market events are decoded
    too, exactly as by :class:`ClobMarketDecoder`.

    Args:
        max_frame_bytes: frames larger than this are dropped as ``oversized``.

    Example:
        >>> decoder = ClobUserDecoder()
        >>> (order,) = decoder.receive(
        ...     '{"event_type":"order","type":"PLACEMENT","id":"0xo","market":"0xm",'
        ...     '"asset_id":"1","side":"SELL","price":"0.57","timestamp":"1672290687"}'
        ... )
        >>> order.update_type, order.side, order.ts_ns
        ('PLACEMENT', 'sell', 1672290687000000000)
    """

    def __init__(self, *, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> None:
        super().__init__("user", max_frame_bytes=max_frame_bytes)
