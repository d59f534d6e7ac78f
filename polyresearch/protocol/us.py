"""Polymarket US WebSocket protocol, sans-I/O: frames in, normalized events out; requests out.

Two decoders, one per socket (``/v1/ws/markets`` and ``/v1/ws/private``), turn server frames
into the events of :mod:`polyresearch.protocol.events`, and a few builders write the client's
``subscribe``/``unsubscribe`` requests. Nothing here opens a socket or reads the clock.

Dispatch follows the official SDK (``polymarket-us`` 2.4.1): a frame is a flat JSON object and
the *first* known payload key present decides its event, in the SDK's order
(``docs/protocol-us.md`` §5):

- markets: ``heartbeat``, ``error`` (any value, even ``""``), ``marketData``,
  ``marketDataLite``, ``trade``;
- private: ``heartbeat``, ``error`` (only when truthy: the private gateway emits unpopulated
  fields, so ``"error": ""`` rides on good data frames), order snapshot, order update, legacy
  position snapshot, position update, balance snapshot, balance update, ``rfqEvent``.

Decoding choices where the spec is silent or UNCONFIRMED:

- Unset fields may be absent, ``null``, ``""``, ``0`` or ``[]`` anywhere; ``""`` counts as
  unset for optional text fields.
- A frame that is a JSON array (the venue sends one object per frame) is decoded item by item;
  a non-object item, or an empty array, is dropped as ``wrong_shape``.
- Books are re-sorted best-first by exact decimal comparison, never trusting wire order.
  Decimal strings are checked for decimal syntax and kept verbatim.
- A timestamp that is present but not RFC 3339 drops the frame as ``wrong_shape``.
- ``marketDataLite`` carries no event time, so its ``ts_ns`` is ``None``.
- The legacy position snapshot (``positionSubscriptionSnapshot``/``positionsSnapshot``,
  ``{"positions": {slug: UserPosition}, "eof"}``; the SDK's ``position_snapshot``) becomes one
  ``position_update`` event per position, with ``before=None``.
- A trade's or order's side comes from ``side``; when that is missing it is inferred from the
  intent (buying YES or selling NO is a ``buy`` of the YES instrument).
- Balance updates report ``currentBalance`` before and after.

Example:
    >>> decoder = UsMarketsDecoder()
    >>> [event] = decoder.receive('{"heartbeat": {}}')
    >>> event.kind
    'heartbeat'
    >>> subscribe_frame("md-1", "SUBSCRIPTION_TYPE_MARKET_DATA", ["btc-100k-2025"])
    '{"subscribe":{"requestId":"md-1","subscriptionType":"SUBSCRIPTION_TYPE_MARKET_DATA","marketSlugs":["btc-100k-2025"]}}'
"""

from __future__ import annotations

import datetime as _dt
import itertools
import logging
import re
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any, Final, Literal, TypeAlias, cast, get_args

import msgspec
from msgspec import UNSET, Raw, UnsetType

from polyresearch.config import DEFAULT_MAX_FRAME_BYTES
from polyresearch.errors import ConfigError
from polyresearch.protocol.base import FrameDecoder
from polyresearch.protocol.events import (
    Balance,
    BalanceSnapshot,
    BalanceUpdate,
    BestBidAsk,
    BookSnapshot,
    Event,
    Heartbeat,
    Level,
    OrderSnapshot,
    OrderUpdate,
    PositionUpdate,
    RfqEvent,
    Side,
    Trade,
    VenueError,
)

__all__ = [
    "MARKETS_SUBSCRIPTION_TYPES",
    "MAX_SLUGS_PER_SUBSCRIPTION",
    "PRIVATE_SUBSCRIPTION_TYPES",
    "RequestIdGenerator",
    "SubscriptionType",
    "UsMarketsDecoder",
    "UsPrivateDecoder",
    "parse_timestamp_ns",
    "subscribe",
    "subscribe_frame",
    "unsubscribe",
]

logger = logging.getLogger("polyresearch.protocol")

# ---------------------------------------------------------------- client -> server requests

#: Every subscription type the SDK knows (string enums; the server also takes numbers).
SubscriptionType: TypeAlias = Literal[
    "SUBSCRIPTION_TYPE_MARKET_DATA",
    "SUBSCRIPTION_TYPE_MARKET_DATA_LITE",
    "SUBSCRIPTION_TYPE_TRADE",
    "SUBSCRIPTION_TYPE_ORDER",
    "SUBSCRIPTION_TYPE_ORDER_SNAPSHOT",
    "SUBSCRIPTION_TYPE_POSITION",
    "SUBSCRIPTION_TYPE_ACCOUNT_BALANCE",
    "SUBSCRIPTION_TYPE_RFQ",
]
_SUBSCRIPTION_TYPES: Final[frozenset[str]] = frozenset(get_args(SubscriptionType))
#: Types served on ``/v1/ws/markets``.
MARKETS_SUBSCRIPTION_TYPES: Final[tuple[str, ...]] = (
    "SUBSCRIPTION_TYPE_MARKET_DATA",
    "SUBSCRIPTION_TYPE_MARKET_DATA_LITE",
    "SUBSCRIPTION_TYPE_TRADE",
)
#: Types served on ``/v1/ws/private``.
PRIVATE_SUBSCRIPTION_TYPES: Final[tuple[str, ...]] = (
    "SUBSCRIPTION_TYPE_ORDER",
    "SUBSCRIPTION_TYPE_ORDER_SNAPSHOT",
    "SUBSCRIPTION_TYPE_POSITION",
    "SUBSCRIPTION_TYPE_ACCOUNT_BALANCE",
    "SUBSCRIPTION_TYPE_RFQ",
)
#: The venue's documented limit of markets per subscription (D-markets, D-private).
MAX_SLUGS_PER_SUBSCRIPTION: Final = 100

_encode = msgspec.json.Encoder().encode


class RequestIdGenerator:
    """Deterministic request ids ``f"{prefix}-{n}"`` for n = 1, 2, ... (no clock, no randomness).

    Request ids name a subscription for ``unsubscribe`` and are echoed on its frames, so they
    must be unique per connection; one generator per connection (or per session) gives that.

    Args:
        prefix: the text before the counter.
        start: the first counter value.

    Example:
        >>> ids = RequestIdGenerator("md")
        >>> next(ids), next(ids)
        ('md-1', 'md-2')
    """

    def __init__(self, prefix: str = "req", *, start: int = 1) -> None:
        self.prefix = _nonempty_str(prefix, "prefix")
        if not _is_int(start) or start < 0:
            raise ConfigError(f"start must be a non-negative int, got {start!r}")
        self._counter = itertools.count(start)

    def __iter__(self) -> RequestIdGenerator:
        return self

    def __next__(self) -> str:
        return f"{self.prefix}-{next(self._counter)}"

    def __repr__(self) -> str:
        return f"RequestIdGenerator(prefix={self.prefix!r})"


def _nonempty_str(value: object, name: str) -> str:
    # Callers may not run a type checker; a wrong type is a ConfigError, not a bad frame.
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{name} must be a non-empty str")
    return value


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _checked_slugs(market_slugs: Iterable[str]) -> list[str]:
    if isinstance(market_slugs, str | bytes):
        # A lone slug would otherwise be split into one-letter "slugs".
        raise ConfigError("market_slugs must be a list of slugs, not a single str")
    slugs: list[str] = []
    seen: set[str] = set()
    for item in market_slugs:
        slug = _nonempty_str(item, f"market slug {item!r}")
        # Repeating a slug gains nothing and may get the whole request rejected (§8, 3P).
        if slug not in seen:
            seen.add(slug)
            slugs.append(slug)
    return slugs


def _checked_type(subscription_type: str, has_slugs: bool) -> str:
    if subscription_type not in _SUBSCRIPTION_TYPES:
        choices = ", ".join(sorted(_SUBSCRIPTION_TYPES))
        raise ConfigError(
            f"unknown subscription type {subscription_type!r}; choose one of {choices}"
        )
    if has_slugs and subscription_type == "SUBSCRIPTION_TYPE_RFQ":
        raise ConfigError("SUBSCRIPTION_TYPE_RFQ takes no market slugs")
    return subscription_type


def subscribe_frame(
    request_id: str,
    subscription_type: SubscriptionType,
    market_slugs: Sequence[str] = (),
    *,
    responses_debounced: bool = False,
) -> str:
    """Build one ``subscribe`` request as compact JSON, keys in the SDK's order.

    ``marketSlugs`` is omitted when empty, as the SDK does (on the private socket that means
    "all markets"). Repeated slugs are sent once.

    Args:
        request_id: the client-chosen id; it names the subscription for :func:`unsubscribe`.
        subscription_type: one of :data:`SubscriptionType`.
        market_slugs: at most :data:`MAX_SLUGS_PER_SUBSCRIPTION` market slugs.
        responses_debounced: ask the markets socket to batch updates (sent only when true).

    Returns:
        The text frame to send.

    Raises:
        ConfigError: on an empty request id, unknown type, bad slug, slugs on an RFQ
            subscription, or more than 100 slugs (use :func:`subscribe` to split).

    Example:
        >>> subscribe_frame("o-1", "SUBSCRIPTION_TYPE_ORDER")
        '{"subscribe":{"requestId":"o-1","subscriptionType":"SUBSCRIPTION_TYPE_ORDER"}}'
    """
    slugs = _checked_slugs(market_slugs)
    body: dict[str, Any] = {
        "requestId": _nonempty_str(request_id, "request_id"),
        "subscriptionType": _checked_type(subscription_type, bool(slugs)),
    }
    if len(slugs) > MAX_SLUGS_PER_SUBSCRIPTION:
        raise ConfigError(
            f"{len(slugs)} market slugs in one subscription; the venue allows at most "
            f"{MAX_SLUGS_PER_SUBSCRIPTION} (use subscribe() to split)"
        )
    if slugs:
        body["marketSlugs"] = slugs
    if responses_debounced:
        body["responsesDebounced"] = True
    return _encode({"subscribe": body}).decode()


def subscribe(
    subscription_type: SubscriptionType,
    market_slugs: Sequence[str] = (),
    *,
    request_ids: Iterable[str],
    responses_debounced: bool = False,
) -> list[tuple[str, str]]:
    """Build the ``subscribe`` requests for any number of slugs, 100 per request.

    Each request takes the next id from ``request_ids``; keep the returned ids to unsubscribe
    later. No slugs gives one request without ``marketSlugs``.

    Args:
        subscription_type: one of :data:`SubscriptionType`.
        market_slugs: the market slugs (repeats are sent once).
        request_ids: where request ids come from, e.g. a :class:`RequestIdGenerator`.
        responses_debounced: see :func:`subscribe_frame`.

    Returns:
        ``(request_id, frame)`` pairs, in slug order.

    Raises:
        ConfigError: as :func:`subscribe_frame`, or when ``request_ids`` runs out.

    Example:
        >>> ids = RequestIdGenerator("t")
        >>> [rid for rid, _ in subscribe("SUBSCRIPTION_TYPE_TRADE", ["a", "b"], request_ids=ids)]
        ['t-1']
    """
    slugs = _checked_slugs(market_slugs)
    _checked_type(subscription_type, bool(slugs))
    ids = iter(request_ids)
    chunks = [
        slugs[start : start + MAX_SLUGS_PER_SUBSCRIPTION]
        for start in range(0, len(slugs), MAX_SLUGS_PER_SUBSCRIPTION)
    ] or [[]]
    pairs: list[tuple[str, str]] = []
    for chunk in chunks:
        request_id = next(ids, None)
        if request_id is None:
            raise ConfigError("request_ids ran out of ids")
        frame = subscribe_frame(
            request_id, subscription_type, chunk, responses_debounced=responses_debounced
        )
        pairs.append((request_id, frame))
    return pairs


def unsubscribe(request_id: str) -> str:
    """Build an ``unsubscribe`` request for the subscription named ``request_id``.

    Raises:
        ConfigError: on an empty request id.

    Example:
        >>> unsubscribe("md-1")
        '{"unsubscribe":{"requestId":"md-1"}}'
    """
    body = {"requestId": _nonempty_str(request_id, "request_id")}
    return _encode({"unsubscribe": body}).decode()


# ---------------------------------------------------------------- timestamps

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
    r"(?:[Zz]|([+-])(\d{2}):(\d{2}))",
    re.ASCII,
)
_EPOCH_ORDINAL: Final = _dt.date(1970, 1, 1).toordinal()


def parse_timestamp_ns(text: str) -> int:
    """Parse an RFC 3339 timestamp into integer nanoseconds since the epoch, exactly.

    ``datetime`` keeps only microseconds, and the venue sends up to nine fractional digits,
    so the arithmetic is done on integers. Accepts ``Z`` or a numeric offset, 0-9 fractional
    digits and a leap second (``:60``, counted as the next second's start).

    Args:
        text: e.g. ``"2026-08-23T18:15:38.339877873Z"``.

    Returns:
        Nanoseconds since 1970-01-01T00:00:00Z.

    Raises:
        ValueError: when ``text`` is not an RFC 3339 date-time.

    Example:
        >>> parse_timestamp_ns("1970-01-01T00:00:01.5Z")
        1500000000
    """
    match = _RFC3339.fullmatch(text)
    if match is None:
        raise ValueError(f"not an RFC 3339 timestamp: {text[:64]!r}")
    year, month, day, hour, minute, second = (int(part) for part in match.group(1, 2, 3, 4, 5, 6))
    fraction, sign, off_hour, off_minute = match.group(7, 8, 9, 10)
    if hour > 23 or minute > 59 or second > 60:
        raise ValueError(f"time out of range: {text[:64]!r}")
    days = _dt.date(year, month, day).toordinal() - _EPOCH_ORDINAL  # validates the date
    seconds = days * 86_400 + hour * 3_600 + minute * 60 + second
    if sign is not None:
        if int(off_hour) > 23 or int(off_minute) > 59:
            raise ValueError(f"offset out of range: {text[:64]!r}")
        offset = int(off_hour) * 3_600 + int(off_minute) * 60
        seconds -= offset if sign == "+" else -offset
    nanos = int(fraction.ljust(9, "0")) if fraction else 0
    return seconds * 1_000_000_000 + nanos


# ---------------------------------------------------------------- wire schemas (private)
#
# Typed msgspec schemas of the payloads, camelCase on the wire. Every field is optional because
# unset fields may be absent or null; the decoders below decide what a usable payload needs.
# Unknown keys are ignored (msgspec's default), so new venue fields never break decoding.


class _Reject(Exception):
    """A payload that parsed but cannot be used; it becomes a ``wrong_shape`` drop."""


class _Amount(msgspec.Struct, gc=False):
    value: str | None = None
    currency: str | None = None


class _Px(msgspec.Struct, gc=False):
    # Only the value: the currency of every book level is left unparsed (one string less each).
    value: str | None = None


class _BookEntry(msgspec.Struct, gc=False):
    px: _Px | None = None
    qty: str | None = None


class _MarketData(msgspec.Struct, rename="camel", gc=False):
    market_slug: str | None = None
    bids: list[_BookEntry] | None = None
    offers: list[_BookEntry] | None = None
    state: str | None = None
    stats: dict[str, Any] | None = None
    transact_time: str | None = None


_NULL: Final = Raw(b"null")


class _MarketDataSides(msgspec.Struct, rename="camel", gc=False):
    # The hot path's view of a marketData payload: each book side left as raw JSON, so a side
    # byte-identical to the one last seen for its market is recognised with one comparison
    # and not parsed again (most full books change one side, or nothing).
    market_slug: str | None = None
    bids: Raw = _NULL
    offers: Raw = _NULL
    state: str | None = None
    stats: dict[str, Any] | None = None
    transact_time: str | None = None


class _MarketDataLite(msgspec.Struct, rename="camel", gc=False):
    market_slug: str | None = None
    current_px: _Amount | None = None
    last_trade_px: _Amount | None = None
    best_bid: _Amount | None = None
    best_ask: _Amount | None = None
    long_quote: _Amount | None = None
    short_quote: _Amount | None = None
    bid_depth: int | None = None
    ask_depth: int | None = None
    bid_shares: str | None = None
    ask_shares: str | None = None
    shares_traded: str | None = None
    open_interest: str | None = None
    state: str | None = None


class _TradeParty(msgspec.Struct, gc=False):
    side: str | None = None
    intent: str | None = None


class _Trade(msgspec.Struct, rename="camel", gc=False):
    market_slug: str | None = None
    price: _Amount | None = None
    quantity: _Amount | None = None
    trade_time: str | None = None
    maker: _TradeParty | None = None
    taker: _TradeParty | None = None


class _MarketMetadata(msgspec.Struct, gc=False):
    slug: str | None = None
    outcome: str | None = None


class _Order(msgspec.Struct, rename="camel", gc=False):
    id: str | None = None
    market_slug: str | None = None
    side: str | None = None
    type: str | None = None
    price: _Amount | None = None
    # Order quantities are JSON numbers (possibly fractional); Raw keeps their exact text.
    quantity: Raw | UnsetType = UNSET
    cum_quantity: Raw | UnsetType = UNSET
    leaves_quantity: Raw | UnsetType = UNSET
    intent: str | None = None
    market_metadata: _MarketMetadata | None = None
    state: str | None = None


# Order keys mapped onto OrderUpdate fields; every other key goes to ``details`` as sent.
_ORDER_MAPPED: Final = frozenset(
    (
        "id",
        "marketSlug",
        "side",
        "type",
        "price",
        "quantity",
        "cumQuantity",
        "leavesQuantity",
        "state",
    )
)


class _OrderSnapshot(msgspec.Struct, gc=False):
    orders: list[Raw] | None = None
    eof: bool | None = None


class _Execution(msgspec.Struct, rename="camel", gc=False):
    order: Raw | UnsetType = UNSET
    last_shares: Raw | UnsetType = UNSET
    last_px: _Amount | None = None
    type: str | None = None
    transact_time: str | None = None
    trade_id: str | None = None


_EXECUTION_MAPPED: Final = frozenset(
    ("order", "lastShares", "lastPx", "type", "transactTime", "tradeId")
)


class _OrderUpdate(msgspec.Struct, gc=False):
    execution: Raw | UnsetType = UNSET


class _UserPosition(msgspec.Struct, rename="camel", gc=False):
    net_position: str | None = None
    net_position_decimal: str | None = None
    cost: _Amount | None = None
    realized: _Amount | None = None
    avg_px: _Amount | None = None
    update_time: str | None = None
    market_metadata: _MarketMetadata | None = None


class _PositionChange(msgspec.Struct, rename="camel", gc=False):
    # Current shape (positionSubscription) ...
    before_position: Raw | UnsetType = UNSET
    after_position: Raw | UnsetType = UNSET
    update_time: str | None = None
    entry_type: str | None = None
    trade_id: str | None = None
    # ... and the legacy flat one (positionSubscriptionUpdate {marketSlug, position}).
    market_slug: str | None = None
    position: Raw | UnsetType = UNSET


#: A decoded position and the same position as sent (for ``before``/``after``).
_PositionSide: TypeAlias = tuple[_UserPosition | None, dict[str, Any] | None]


class _PositionSnapshot(msgspec.Struct, gc=False):
    positions: dict[str, Raw] | None = None
    eof: bool | None = None


class _UserBalance(msgspec.Struct, rename="camel", gc=False):
    currency: str | None = None
    current_balance: float | None = None
    buying_power: float | None = None
    open_orders: float | None = None
    unsettled_funds: float | None = None
    last_updated: str | None = None


class _BalancesSnapshot(msgspec.Struct, rename="camel", gc=False):
    balances: list[_UserBalance] | None = None
    # Legacy accountBalanceSubscriptionSnapshot {balance, buyingPower}.
    balance: float | None = None
    buying_power: float | None = None


class _BalanceChange(msgspec.Struct, rename="camel", gc=False):
    before_balance: _UserBalance | None = None
    after_balance: _UserBalance | None = None
    description: str | None = None
    update_time: str | None = None
    entry_type: str | None = None


class _BalancesUpdate(msgspec.Struct, rename="camel", gc=False):
    balance_change: _BalanceChange | None = None
    # Legacy shapes are undocumented; accept the change fields flat, or a bare balance.
    before_balance: _UserBalance | None = None
    after_balance: _UserBalance | None = None
    description: str | None = None
    update_time: str | None = None
    entry_type: str | None = None
    balance: float | None = None


class _MarketsEnvelope(msgspec.Struct, rename="camel", gc=False):
    # Payloads stay Raw: only the key that wins dispatch is decoded, so a malformed key that
    # the SDK would never look at cannot cost us the frame.
    request_id: str | None = None
    subscription_type: str | None = None
    heartbeat: Raw | UnsetType = UNSET
    error: Raw | UnsetType = UNSET
    market_data: Raw | UnsetType = UNSET
    market_data_lite: Raw | UnsetType = UNSET
    trade: Raw | UnsetType = UNSET


class _MarketsBookEnvelope(msgspec.Struct, rename="camel", gc=False):
    # The hot path: a marketData frame decoded in one pass. Any error falls back to the
    # two-pass _MarketsEnvelope path, which decides what the frame is and how it drops.
    request_id: str | None = None
    subscription_type: str | None = None
    heartbeat: Raw | UnsetType = UNSET
    error: Raw | UnsetType = UNSET
    market_data: _MarketDataSides | UnsetType | None = UNSET


class _PrivateEnvelope(msgspec.Struct, rename="camel", gc=False):
    request_id: str | None = None
    subscription_type: str | None = None
    heartbeat: Raw | UnsetType = UNSET
    error: Raw | UnsetType = UNSET
    order_subscription_snapshot: Raw | UnsetType = UNSET
    orders_snapshot: Raw | UnsetType = UNSET
    order_subscription_update: Raw | UnsetType = UNSET
    order_update: Raw | UnsetType = UNSET
    position_subscription_snapshot: Raw | UnsetType = UNSET
    positions_snapshot: Raw | UnsetType = UNSET
    position_subscription: Raw | UnsetType = UNSET
    position_subscription_update: Raw | UnsetType = UNSET
    position_update: Raw | UnsetType = UNSET
    account_balance_subscription_snapshot: Raw | UnsetType = UNSET
    account_balances_snapshot: Raw | UnsetType = UNSET
    account_balances_update: Raw | UnsetType = UNSET
    account_balance_subscription_update: Raw | UnsetType = UNSET
    account_balance_update: Raw | UnsetType = UNSET
    rfq_event: Raw | UnsetType = UNSET


# ---------------------------------------------------------------- field helpers

# Decimal text as the venue writes it ("0.555", "109118.7800"); also signs and exponents,
# which Decimal() reads exactly. Excludes what Decimal() would also take: "NaN", "Infinity",
# "1_000" and surrounding spaces.
_DECIMAL = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_DECIMAL_TEXT = re.compile(_DECIMAL, re.ASCII)
# Many decimals joined by newlines: one C-level match checks a whole book side.
_DECIMAL_LINES = re.compile(rf"(?:{_DECIMAL}\n)*{_DECIMAL}", re.ASCII)
_JSON_NUMBER_START: Final = frozenset(b"-0123456789")
_SIDES: Final[dict[str, Side]] = {"ORDER_SIDE_BUY": "buy", "ORDER_SIDE_SELL": "sell"}
# One instrument per market (YES): buying YES or selling NO lifts YES offers.
_INTENT_SIDES: Final[dict[str, Side]] = {
    "ORDER_INTENT_BUY_LONG": "buy",
    "ORDER_INTENT_SELL_SHORT": "buy",
    "ORDER_INTENT_SELL_LONG": "sell",
    "ORDER_INTENT_BUY_SHORT": "sell",
}

_decode_any = msgspec.json.Decoder().decode
_decode_dict = msgspec.json.Decoder(dict[str, Any]).decode
_decode_raw_list = msgspec.json.Decoder(list[Raw]).decode
_decode_str = msgspec.json.Decoder(str).decode


def _text(value: str | None) -> str | None:
    """Optional text: ``""`` is protojson's unset string."""
    return value or None


def _decimal(text: str | None, what: str) -> str | None:
    """Optional decimal text, syntax-checked and kept verbatim (``""`` counts as unset)."""
    if not text:
        return None
    if _DECIMAL_TEXT.fullmatch(text) is None:
        raise _Reject(f"{what} is not a decimal: {text[:40]!r}")
    return text


def _amount(amount: _Amount | None, what: str) -> str | None:
    return None if amount is None else _decimal(amount.value, what)


def _required(text: str | None, what: str) -> str:
    if not text:
        raise _Reject(f"missing {what}")
    return text


def _number_text(raw: Raw | UnsetType, what: str) -> str | None:
    """A quantity sent as a JSON number or decimal string, as exact text."""
    if raw is UNSET:
        return None
    data = bytes(raw)
    if data[:1] == b'"':
        return _decimal(_decode_str(data), what)
    if data == b"null":
        return None
    if data[:1] and data[0] in _JSON_NUMBER_START:
        return data.decode()  # msgspec has already checked it is a JSON number
    raise _Reject(f"{what} is not a number")


#: Whole seconds (ns) of the venue's timestamp form, by its first 19 characters
#: ("2026-08-23T18:15:38"): frames in the same second share them, so the hot path only reads
#: the nine fraction digits. Bounded: cleared when full.
_SECONDS: dict[str, int] = {}
_SECONDS_MAX: Final = 4096


def _timestamp(text: str | None, what: str) -> int | None:
    if not text:
        return None
    # The venue's own form, "YYYY-MM-DDTHH:MM:SS.fffffffffZ", once its second is known.
    venue_form = len(text) == 30 and text[19] == "." and text[29] == "Z"
    if venue_form:
        fraction = text[20:29]
        if fraction.isdigit() and fraction.isascii():
            seconds = _SECONDS.get(text[:19])  # get(): another thread may clear meanwhile
            if seconds is not None:
                return seconds + int(fraction)
        else:
            venue_form = False
    try:
        ns = parse_timestamp_ns(text)
    except ValueError:
        raise _Reject(f"{what} is not an RFC 3339 timestamp: {text[:40]!r}") from None
    if venue_form:
        if len(_SECONDS) >= _SECONDS_MAX:
            _SECONDS.clear()
        _SECONDS[text[:19]] = ns - int(text[20:29])
    return ns


def _side(side: str | None, intent: str | None) -> Side | None:
    if side in _SIDES:
        return _SIDES[side]
    return _INTENT_SIDES.get(intent) if intent else None


def _error_message(raw: Raw) -> str:
    value = _decode_any(raw)
    if value is None:
        return ""
    return value if isinstance(value, str) else _encode(value).decode()


class _Checked:
    """Decimal texts one decoder has already checked, each with an exact sort key.

    Book levels repeat the same prices (a tick grid) and mostly the same sizes frame after
    frame, so one C-level set test replaces a regex pass and ``Decimal()`` per level. The key
    is a float when the text has at most 15 digits and no exponent: such decimals convert to
    distinct floats in the same order (IEEE 754 doubles hold 15 significant digits exactly),
    and floats compare much faster; longer texts keep a ``Decimal`` key and are listed in
    ``long``, so a side holding one is ordered by ``Decimal`` throughout. One per decoder
    (decoders may run in different threads); bounded: cleared when full, it refills from the
    next frames and nothing but the speed-up is lost.
    """

    __slots__ = ("keys", "long", "texts")

    MAX: Final = 1 << 14

    def __init__(self) -> None:
        self.keys: dict[str, float | Decimal] = {}
        self.texts: set[str] = set()
        self.long: set[str] = set()

    def learn(self, texts: list[str | None], side: str) -> None:
        """Check texts not seen before (None: a level without px or qty) and remember them."""
        if None in texts:
            raise _Reject(f"{side} level without px or qty")
        keys = self.keys
        fresh = [text for text in cast(list[str], texts) if text not in keys]
        if _DECIMAL_LINES.fullmatch("\n".join(fresh)) is None:
            bad = next(text for text in fresh if _DECIMAL_TEXT.fullmatch(text) is None)
            raise _Reject(f"{side} px/qty is not a decimal: {bad[:40]!r}")
        if len(keys) + len(fresh) > self.MAX:
            keys.clear()
            self.texts.clear()
            self.long.clear()
        for text in fresh:
            # The regex passed, so the text is [+-]digits[.digits][e[+-]digits].
            digits = len(text) - ("." in text) - (text[0] in "+-")
            if digits <= 15 and "e" not in text and "E" not in text:
                keys[text] = float(text)
            else:
                keys[text] = Decimal(text)
                self.long.add(text)
        self.texts.update(fresh)


def _levels(
    entries: list[_BookEntry] | None, side: str, checked: _Checked, *, descending: bool
) -> tuple[Level, ...]:
    """Validate one book side and return it best-first.

    This is the markets socket's hot path (a full book per change): texts seen before are
    known good (one set test for the side, see :class:`_Checked`), new ones are checked with
    one regex over all of them, ``Decimal`` keys give the exact order, and there is no re-sort
    when the wire order is already right (the documented case).
    """
    if not entries:
        return ()
    try:
        maybe_prices = [entry.px.value for entry in entries]  # type: ignore[union-attr]
    except AttributeError:  # px absent or null
        raise _Reject(f"{side} level without px or qty") from None
    maybe_sizes = [entry.qty for entry in entries]
    texts = maybe_prices + maybe_sizes
    if not checked.texts.issuperset(texts):
        checked.learn(texts, side)
    prices, sizes = cast(list[str], maybe_prices), cast(list[str], maybe_sizes)
    keys: list[Any]
    if checked.long and not checked.long.isdisjoint(prices):
        keys = list(map(Decimal, prices))  # one long text: every key exact as Decimal
    else:
        keys = list(map(checked.keys.__getitem__, prices))
    # Never trust wire order: compare exactly, keep equal prices in wire order (stable sort).
    ranked = sorted(keys, reverse=descending)
    if ranked != keys:
        order = sorted(range(len(keys)), key=keys.__getitem__, reverse=descending)
        prices = [prices[i] for i in order]
        sizes = [sizes[i] for i in order]
    return tuple(map(Level, prices, sizes))


# ---------------------------------------------------------------- decoders


class _UsDecoder(FrameDecoder):
    """Shared frame handling: JSON/array/shape classification, then per-channel dispatch."""

    def __init__(self, channel: str, *, max_frame_bytes: int) -> None:
        super().__init__("us", channel, max_frame_bytes=max_frame_bytes)

    def _decode(self, text: str) -> list[Event]:
        if text.lstrip(" \t\r\n").startswith("["):
            return self._decode_array(text)
        return self._decode_object(text)

    def _decode_array(self, text: str) -> list[Event]:
        try:
            items = _decode_raw_list(text)
        except msgspec.DecodeError as exc:
            return [self._classify(text, exc)]
        except RecursionError:
            return [self.drop("wrong_shape", "JSON nested too deeply", text)]
        except UnicodeEncodeError:
            return [self._surrogates(text)]
        if not items:
            return [self.drop("wrong_shape", "empty JSON array", text)]
        events: list[Event] = []
        for item in items:
            item_text = bytes(item).decode()
            if item_text.startswith("{"):
                events.extend(self._decode_object(item_text))
            else:
                events.append(self.drop("wrong_shape", "array item is not an object", item_text))
        return events

    def _decode_object(self, text: str) -> list[Event]:
        try:
            return self._dispatch(text)
        except msgspec.DecodeError as exc:  # includes ValidationError
            return [self._classify(text, exc)]
        except _Reject as exc:
            return [self.drop("wrong_shape", str(exc), text)]
        except RecursionError:
            return [self.drop("wrong_shape", "JSON nested too deeply", text)]
        except UnicodeEncodeError:
            return [self._surrogates(text)]

    def _surrogates(self, text: str) -> Event:
        # A str frame can hold lone surrogates (e.g. from a surrogateescape decode); it is not
        # UTF-8, and the excerpt must not carry them on (no JSON encoder would accept it).
        cleaned = text.encode("utf-8", "surrogatepass")
        return self.drop("not_utf8", "text with lone surrogates", cleaned)

    def _classify(self, text: str, exc: msgspec.DecodeError) -> Event:
        if isinstance(exc, msgspec.ValidationError):
            # msgspec validates while it parses, so a type error can be reported before a
            # syntax error further on; only well-formed JSON is "wrong shape".
            try:
                _decode_any(text)
            except msgspec.DecodeError as syntax:
                return self.drop("not_json", str(syntax), text)
            except RecursionError:
                pass
            return self.drop("wrong_shape", str(exc), text)
        return self.drop("not_json", str(exc), text)

    def _dispatch(self, text: str) -> list[Event]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _payload(self, raw: Raw, key: str, decoder: msgspec.json.Decoder[Any]) -> Any:
        """Decode one payload, naming it in errors; a null payload carries nothing usable."""
        try:
            value = decoder.decode(raw)
        except msgspec.ValidationError as exc:
            raise _Reject(f"{key}: {exc}") from None
        if value is None:
            raise _Reject(f"{key} is null")
        return value

    def _error(self, raw: Raw, request_id: str | None, subscription_type: str | None) -> Event:
        return VenueError(
            kind="error",
            venue="us",
            message=_error_message(raw),
            request_id=request_id,
            subscription_type=subscription_type,
        )

    def _unknown(self, text: str) -> list[Event]:
        return [self.drop("unknown_event", "no known payload key", text)]


class UsMarketsDecoder(_UsDecoder):
    """Decoder for the markets socket (``/v1/ws/markets``): books, lite BBO, trades.

    Args:
        max_frame_bytes: frames larger than this are dropped as ``oversized``.

    Example:
        >>> decoder = UsMarketsDecoder(max_frame_bytes=1 << 20)
        >>> [book] = decoder.receive(
        ...     '{"marketData": {"marketSlug": "m", "bids": [{"px": {"value": "0.4"},'
        ...     ' "qty": "5"}, {"px": {"value": "0.45"}, "qty": "1"}]}}'
        ... )
        >>> book.kind, [level.price for level in book.bids]
        ('market_data', ['0.45', '0.4'])
    """

    def __init__(self, *, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> None:
        super().__init__("markets", max_frame_bytes=max_frame_bytes)
        # Decoders are built once: msgspec caches the schema work in them.
        self._envelope = msgspec.json.Decoder(_MarketsEnvelope)
        self._market_data = msgspec.json.Decoder(_MarketData | None)
        self._market_data_lite = msgspec.json.Decoder(_MarketDataLite | None)
        self._trade = msgspec.json.Decoder(_Trade | None)
        self._book_envelope = msgspec.json.Decoder(_MarketsBookEnvelope)
        self._book_side = msgspec.json.Decoder(list[_BookEntry] | None)
        self._checked = _Checked()
        # Per market slug, each side's last raw JSON and its levels: the levels are a pure
        # function of the raw text, so an identical side reuses them (the very same tuple, which
        # also lets the book skip that side). Bounded: cleared when full.
        self._last_bids: dict[str, tuple[Raw, tuple[Level, ...]]] = {}
        self._last_offers: dict[str, tuple[Raw, tuple[Level, ...]]] = {}

    def _dispatch(self, text: str) -> list[Event]:
        try:
            # Only frames that name the key try the one-pass decode (bad ones parse twice).
            fast = self._book_envelope.decode(text) if '"marketData"' in text else None
        except msgspec.DecodeError:
            fast = None  # malformed somewhere: the general path below finds out where
        if fast is not None:
            data = fast.market_data
            if (
                data is not UNSET
                and data is not None
                and fast.heartbeat is UNSET
                and fast.error is UNSET
            ):
                book = self._book_fast(data)
                if book is not None:
                    return [book]
        env = self._envelope.decode(text)
        # The SDK's order (W-mkts): heartbeat, error (key present, any value), data keys.
        if env.heartbeat is not UNSET:
            return [Heartbeat(kind="heartbeat", venue="us")]
        if env.error is not UNSET:
            return [self._error(env.error, env.request_id, env.subscription_type)]
        if env.market_data is not UNSET:
            payload = self._payload(env.market_data, "marketData", self._market_data)
            return [self._book(payload, self._checked)]
        if env.market_data_lite is not UNSET:
            payload = self._payload(env.market_data_lite, "marketDataLite", self._market_data_lite)
            return [self._lite(payload)]
        if env.trade is not UNSET:
            return [self._public_trade(self._payload(env.trade, "trade", self._trade))]
        return self._unknown(text)

    #: Markets remembered per side before the side caches are cleared.
    MAX_CACHED_MARKETS: Final = 1 << 14

    def _book_fast(self, data: _MarketDataSides) -> BookSnapshot | None:
        """The hot path: a book whose sides are parsed only when they changed.

        Returns ``None`` when the payload needs the general path (which finds and reports
        exactly what is wrong with it, as before this shortcut existed): both sides are
        type-checked before either is validated further, as one decode of the whole payload
        does.
        """
        slug = data.market_slug
        if not slug:
            return None
        bids_raw, offers_raw = data.bids, data.offers
        last_bids = self._last_bids.get(slug)
        last_offers = self._last_offers.get(slug)
        bids = last_bids[1] if last_bids is not None and last_bids[0] == bids_raw else None
        asks = last_offers[1] if last_offers is not None and last_offers[0] == offers_raw else None
        if bids is None or asks is None:
            try:
                bid_entries = None if bids is not None else self._book_side.decode(bids_raw)
                ask_entries = None if asks is not None else self._book_side.decode(offers_raw)
            except msgspec.DecodeError:
                return None
            if bids is None:
                bids = _levels(bid_entries, "bid", self._checked, descending=True)
                self._remember(self._last_bids, slug, bids_raw, bids)
            if asks is None:
                asks = _levels(ask_entries, "offer", self._checked, descending=False)
                self._remember(self._last_offers, slug, offers_raw, asks)
        return self._snapshot(data, slug, bids, asks)

    def _remember(
        self,
        cache: dict[str, tuple[Raw, tuple[Level, ...]]],
        slug: str,
        raw: Raw,
        levels: tuple[Level, ...],
    ) -> None:
        if len(cache) >= self.MAX_CACHED_MARKETS and slug not in cache:
            cache.clear()
        cache[slug] = (raw, levels)

    @staticmethod
    def _book(data: _MarketData, checked: _Checked) -> BookSnapshot:
        slug = _required(data.market_slug, "marketData.marketSlug")
        return UsMarketsDecoder._snapshot(
            data,
            slug,
            _levels(data.bids, "bid", checked, descending=True),
            _levels(data.offers, "offer", checked, descending=False),
        )

    @staticmethod
    def _snapshot(
        data: _MarketData | _MarketDataSides,
        slug: str,
        bids: tuple[Level, ...],
        asks: tuple[Level, ...],
    ) -> BookSnapshot:
        stats = data.stats
        # stats is passed through as sent; its last trade price is surfaced when well formed,
        # and a malformed one costs only that field, not the book.
        last = stats.get("lastTradePx") if stats else None
        last_value = last.get("value") if isinstance(last, dict) else None
        if not isinstance(last_value, str) or _DECIMAL_TEXT.fullmatch(last_value) is None:
            last_value = None
        return BookSnapshot(
            kind="market_data",
            venue="us",
            market=slug,
            asset_id=slug,
            bids=bids,
            asks=asks,
            ts_ns=_timestamp(data.transact_time, "transactTime"),
            timestamp=_text(data.transact_time),
            last_trade_price=last_value,
            state=_text(data.state),
            stats=stats,
        )

    @staticmethod
    def _lite(data: _MarketDataLite) -> BestBidAsk:
        slug = _required(data.market_slug, "marketDataLite.marketSlug")
        return BestBidAsk(
            kind="market_data_lite",
            venue="us",
            market=slug,
            asset_id=slug,
            best_bid=_amount(data.best_bid, "bestBid"),
            best_ask=_amount(data.best_ask, "bestAsk"),
            last_trade_price=_amount(data.last_trade_px, "lastTradePx"),
            current_price=_amount(data.current_px, "currentPx"),
            bid_depth=data.bid_depth,
            ask_depth=data.ask_depth,
            bid_shares=_decimal(data.bid_shares, "bidShares"),
            ask_shares=_decimal(data.ask_shares, "askShares"),
            shares_traded=_decimal(data.shares_traded, "sharesTraded"),
            open_interest=_decimal(data.open_interest, "openInterest"),
            long_quote=_amount(data.long_quote, "longQuote"),
            short_quote=_amount(data.short_quote, "shortQuote"),
            state=_text(data.state),
        )

    @staticmethod
    def _public_trade(data: _Trade) -> Trade:
        slug = _required(data.market_slug, "trade.marketSlug")
        price = _required(_amount(data.price, "trade.price"), "trade.price")
        size = _required(_amount(data.quantity, "trade.quantity"), "trade.quantity")
        taker = data.taker or _TradeParty()
        maker = data.maker or _TradeParty()
        return Trade(
            kind="trade",
            venue="us",
            market=slug,
            asset_id=slug,
            price=price,
            size=size,
            side=_side(taker.side, taker.intent),  # the taker is the aggressor
            ts_ns=_timestamp(data.trade_time, "tradeTime"),
            maker_intent=_text(maker.intent),
            taker_intent=_text(taker.intent),
        )


class UsPrivateDecoder(_UsDecoder):
    """Decoder for the private socket (``/v1/ws/private``): orders, positions, balances, RFQ.

    Args:
        max_frame_bytes: frames larger than this are dropped as ``oversized``.

    Example:
        >>> decoder = UsPrivateDecoder()
        >>> [event] = decoder.receive(
        ...     '{"requestId": "b", "error": "", "accountBalancesSnapshot": {"balances": []}}'
        ... )
        >>> event.kind
        'account_balance_snapshot'
    """

    def __init__(self, *, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> None:
        super().__init__("private", max_frame_bytes=max_frame_bytes)
        self._envelope = msgspec.json.Decoder(_PrivateEnvelope)
        self._order_snapshot = msgspec.json.Decoder(_OrderSnapshot | None)
        self._order_update = msgspec.json.Decoder(_OrderUpdate | None)
        self._execution = msgspec.json.Decoder(_Execution | None)
        self._order = msgspec.json.Decoder(_Order)
        self._position_snapshot = msgspec.json.Decoder(_PositionSnapshot | None)
        self._position_change = msgspec.json.Decoder(_PositionChange | None)
        self._position = msgspec.json.Decoder(_UserPosition | None)
        self._balances_snapshot = msgspec.json.Decoder(_BalancesSnapshot | None)
        self._balances_update = msgspec.json.Decoder(_BalancesUpdate | None)
        self._object_or_null = msgspec.json.Decoder(dict[str, Any] | None)

    def _dispatch(self, text: str) -> list[Event]:
        env = self._envelope.decode(text)
        rid, stype = env.request_id, env.subscription_type
        # The SDK's order (W-priv 2.4.1); within a group the first alias present wins.
        if env.heartbeat is not UNSET:
            return [Heartbeat(kind="heartbeat", venue="us")]
        if env.error is not UNSET and _decode_any(env.error):
            return [self._error(env.error, rid, stype)]
        for key, raw in (
            ("orderSubscriptionSnapshot", env.order_subscription_snapshot),
            ("ordersSnapshot", env.orders_snapshot),
        ):
            if raw is not UNSET:
                return self._orders(raw, key, rid)
        for key, raw in (
            ("orderSubscriptionUpdate", env.order_subscription_update),
            ("orderUpdate", env.order_update),
        ):
            if raw is not UNSET:
                return [self._execution_report(raw, key)]
        for key, raw in (
            ("positionSubscriptionSnapshot", env.position_subscription_snapshot),
            ("positionsSnapshot", env.positions_snapshot),
        ):
            if raw is not UNSET:
                return self._legacy_positions(raw, key)
        for key, raw in (
            ("positionSubscription", env.position_subscription),
            ("positionSubscriptionUpdate", env.position_subscription_update),
            ("positionUpdate", env.position_update),
        ):
            if raw is not UNSET:
                return [self._position_update(raw, key)]
        for key, raw in (
            ("accountBalanceSubscriptionSnapshot", env.account_balance_subscription_snapshot),
            ("accountBalancesSnapshot", env.account_balances_snapshot),
        ):
            if raw is not UNSET:
                return [self._balances(raw, key)]
        for key, raw in (
            ("accountBalancesUpdate", env.account_balances_update),
            ("accountBalanceSubscriptionUpdate", env.account_balance_subscription_update),
            ("accountBalanceUpdate", env.account_balance_update),
        ):
            if raw is not UNSET:
                return [self._balance_change(raw, key)]
        if env.rfq_event is not UNSET:
            payload = self._payload(env.rfq_event, "rfqEvent", self._object_or_null)
            return [RfqEvent(kind="rfq_event", venue="us", payload=payload, request_id=rid)]
        return self._unknown(text)

    # Orders.

    def _order_fields(self, raw: Raw, what: str) -> tuple[_Order, dict[str, Any]]:
        order = self._order.decode(raw)
        details = {k: v for k, v in _decode_dict(raw).items() if k not in _ORDER_MAPPED}
        _required(order.id, f"{what}.id")
        return order, details

    @staticmethod
    def _order_event(
        order: _Order, what: str, details: dict[str, Any], **execution: Any
    ) -> OrderUpdate:
        meta = order.market_metadata or _MarketMetadata()
        # The slug is on the order, or only in its market metadata; unknown stays "".
        slug = order.market_slug or meta.slug or ""
        return OrderUpdate(
            kind="order_update",
            venue="us",
            order_id=order.id or "",
            market=slug,
            asset_id=slug,
            side=_side(order.side, order.intent),
            price=_amount(order.price, f"{what}.price"),
            original_size=_number_text(order.quantity, f"{what}.quantity"),
            size_matched=_number_text(order.cum_quantity, f"{what}.cumQuantity"),
            leaves_size=_number_text(order.leaves_quantity, f"{what}.leavesQuantity"),
            status=_text(order.state),
            order_type=_text(order.type),
            outcome=_text(meta.outcome),
            details=details,
            **execution,
        )

    def _orders(self, raw: Raw, key: str, request_id: str | None) -> list[Event]:
        snapshot = self._payload(raw, key, self._order_snapshot)
        orders: list[OrderUpdate] = []
        # One bad order is dropped on its own (counted, before the snapshot): the others
        # are still the account's open orders.
        drops: list[Event] = []
        what = f"{key}.orders[]"
        for item in snapshot.orders or ():
            try:
                order, details = self._order_fields(item, what)
                orders.append(self._order_event(order, what, details))
            except (msgspec.ValidationError, _Reject) as exc:
                drops.append(self.drop("wrong_shape", f"{what}: {exc}", bytes(item).decode()))
        event = OrderSnapshot(
            kind="order_snapshot",
            venue="us",
            orders=tuple(orders),
            eof=bool(snapshot.eof),
            request_id=request_id,
        )
        return [*drops, event]

    def _execution_report(self, raw: Raw, key: str) -> OrderUpdate:
        update = self._payload(raw, key, self._order_update)
        if update.execution is UNSET:
            raise _Reject(f"{key} without execution")
        execution = self._payload(update.execution, f"{key}.execution", self._execution)
        if execution.order is UNSET:
            raise _Reject(f"{key}.execution without order")
        order, details = self._order_fields(execution.order, f"{key}.execution.order")
        extra = {
            k: v for k, v in _decode_dict(update.execution).items() if k not in _EXECUTION_MAPPED
        }
        details["execution"] = extra
        return self._order_event(
            order,
            f"{key}.execution.order",
            details,
            update_type=_text(execution.type),
            last_size=_number_text(execution.last_shares, f"{key}.execution.lastShares"),
            last_price=_amount(execution.last_px, f"{key}.execution.lastPx"),
            trade_id=_text(execution.trade_id),
            ts_ns=_timestamp(execution.transact_time, f"{key}.execution.transactTime"),
        )

    # Positions.

    def _position_side(self, raw: Raw | UnsetType) -> _PositionSide:
        if raw is UNSET:
            return None, None
        position = self._position.decode(raw)
        if position is None:
            return None, None
        return position, _decode_dict(raw)

    @staticmethod
    def _position_event(
        market: str,
        before: _PositionSide,
        after: _PositionSide,
        *,
        what: str,
        ts_ns: int | None = None,
        entry_type: str | None = None,
        trade_id: str | None = None,
    ) -> PositionUpdate:
        now = after[0]
        return PositionUpdate(
            kind="position_update",
            venue="us",
            market=market,
            # The exact decimal form is preferred; the legacy field is rounded.
            net_position=(
                _decimal(now.net_position_decimal, f"{what}.netPositionDecimal")
                or _decimal(now.net_position, f"{what}.netPosition")
            )
            if now
            else None,
            cost=_amount(now.cost, f"{what}.cost") if now else None,
            realized=_amount(now.realized, f"{what}.realized") if now else None,
            avg_price=_amount(now.avg_px, f"{what}.avgPx") if now else None,
            entry_type=entry_type,
            trade_id=trade_id,
            ts_ns=ts_ns,
            before=before[1],
            after=after[1],
        )

    def _position_update(self, raw: Raw, key: str) -> PositionUpdate:
        change = self._payload(raw, key, self._position_change)
        before = self._position_side(change.before_position)
        after = self._position_side(change.after_position)
        if after[0] is None and before[0] is None and change.position is not UNSET:
            after = self._position_side(change.position)
        # marketMetadata carries the only market id of the current shape (and may be null).
        market = change.market_slug or next(
            (
                side.market_metadata.slug
                for side in (after[0], before[0])
                if side and side.market_metadata and side.market_metadata.slug
            ),
            "",
        )
        ts_ns = _timestamp(change.update_time, f"{key}.updateTime")
        if ts_ns is None and after[0] is not None:
            ts_ns = _timestamp(after[0].update_time, f"{key}.afterPosition.updateTime")
        return self._position_event(
            market,
            before,
            after,
            what=f"{key}.afterPosition",
            ts_ns=ts_ns,
            entry_type=_text(change.entry_type),
            trade_id=_text(change.trade_id),
        )

    def _legacy_positions(self, raw: Raw, key: str) -> list[Event]:
        snapshot = self._payload(raw, key, self._position_snapshot)
        events: list[Event] = []
        for slug, item in (snapshot.positions or {}).items():
            after = self._position_side(item)
            ts_ns = _timestamp(after[0].update_time, "updateTime") if after[0] else None
            events.append(
                self._position_event(
                    slug, (None, None), after, what=f"{key}.positions[]", ts_ns=ts_ns
                )
            )
        logger.debug("legacy %s with %d positions", key, len(events))
        return events

    # Balances.

    @staticmethod
    def _balance(balance: _UserBalance) -> Balance:
        return Balance(
            currency=balance.currency or "",
            current_balance=balance.current_balance,
            buying_power=balance.buying_power,
            open_orders=balance.open_orders,
            unsettled_funds=balance.unsettled_funds,
            ts_ns=_timestamp(balance.last_updated, "lastUpdated"),
        )

    def _balances(self, raw: Raw, key: str) -> BalanceSnapshot:
        snapshot = self._payload(raw, key, self._balances_snapshot)
        if snapshot.balances is not None:
            balances = tuple(self._balance(item) for item in snapshot.balances)
        elif snapshot.balance is not None or snapshot.buying_power is not None:
            # Legacy flat shape: one balance, currency not sent.
            balances = (
                Balance(
                    currency="",
                    current_balance=snapshot.balance,
                    buying_power=snapshot.buying_power,
                ),
            )
        else:
            balances = ()
        return BalanceSnapshot(kind="account_balance_snapshot", venue="us", balances=balances)

    def _balance_change(self, raw: Raw, key: str) -> BalanceUpdate:
        update = self._payload(raw, key, self._balances_update)
        change = update.balance_change or _BalanceChange(
            before_balance=update.before_balance,
            after_balance=update.after_balance,
            description=update.description,
            update_time=update.update_time,
            entry_type=update.entry_type,
        )
        before, after = change.before_balance, change.after_balance
        after_value = after.current_balance if after else update.balance
        currency = (after.currency if after else None) or (before.currency if before else None)
        return BalanceUpdate(
            kind="account_balance_update",
            venue="us",
            before=before.current_balance if before else None,
            after=after_value,
            description=_text(change.description),
            entry_type=_text(change.entry_type),
            ts_ns=_timestamp(change.update_time, f"{key}.updateTime"),
            currency=_text(currency),
        )
