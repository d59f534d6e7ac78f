"""Polymarket US wire format, as the simulator writes and reads it (``docs/protocol-us.md``).

Pure functions, no I/O and no model types: :mod:`polyresearch.simulator.us` turns the market
model into the plain values taken here. Written from the protocol notes, independently of
:mod:`polyresearch.protocol` (an import-linter contract forbids importing it).

Conventions reproduced here (protocol-us.md §3):

- lowerCamelCase keys, enums as strings, decimals as strings, prices as ``Amount``
  ``{"value": "0.5500", "currency": "USD"}``, timestamps RFC 3339 UTC with ``Z`` and nanoseconds;
- the **markets** stream omits unset fields (protojson default: no empty lists, no ``error``
  key on data frames);
- the **private** stream is protojson *EmitUnpopulated*: every field present, unset messages
  ``null``, strings ``""``, numbers ``0``, lists ``[]``.

Client requests are parsed leniently the way a protojson server does: camelCase or snake_case
keys, enum names or numbers.

Example:
    >>> from decimal import Decimal
    >>> payload = market_data_payload(
    ...     "aec-x", bids=[(Decimal("0.55"), Decimal("10"))], offers=[], state=MARKET_STATE_OPEN,
    ...     transact_time_ms=0)
    >>> envelope("r1", SUB_MARKET_DATA, "marketData", dumps(payload))[:60]
    '{"requestId":"r1","subscriptionType":"SUBSCRIPTION_TYPE_MARK'
    >>> parse_request('{"subscribe":{"request_id":"a","subscription_type":3,'
    ...               '"market_slugs":["s"]}}', MARKETS)
    Subscribe(request_id='a', subscription_type='SUBSCRIPTION_TYPE_TRADE', market_slugs=('s',), debounced=False)
"""  # noqa: E501

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import Any, Final, Literal

import msgspec

__all__ = [
    "ERROR_INVALID_MESSAGE",
    "HEARTBEAT_FRAME",
    "MARKETS",
    "MARKET_STATE_EXPIRED",
    "MARKET_STATE_OPEN",
    "MARKET_STATE_PREOPEN",
    "MAX_SLUGS_PER_SUBSCRIPTION",
    "PRIVATE",
    "SUB_ACCOUNT_BALANCE",
    "SUB_MARKET_DATA",
    "SUB_MARKET_DATA_LITE",
    "SUB_ORDER",
    "SUB_ORDER_SNAPSHOT",
    "SUB_POSITION",
    "SUB_RFQ",
    "SUB_TRADE",
    "BadRequest",
    "Channel",
    "Subscribe",
    "Unsubscribe",
    "WireBalance",
    "WireExecution",
    "WireOrder",
    "WirePosition",
    "account_balances_snapshot_payload",
    "account_balances_update_payload",
    "amount",
    "dec_str",
    "dumps",
    "envelope",
    "error_frame",
    "lite_payload",
    "market_data_payload",
    "order_snapshot_payload",
    "order_update_payload",
    "parse_request",
    "position_subscription_payload",
    "rfc3339",
    "trade_payload",
]

Channel = Literal["markets", "private"]
MARKETS: Final = "markets"
PRIVATE: Final = "private"

SUB_MARKET_DATA: Final = "SUBSCRIPTION_TYPE_MARKET_DATA"
SUB_MARKET_DATA_LITE: Final = "SUBSCRIPTION_TYPE_MARKET_DATA_LITE"
SUB_TRADE: Final = "SUBSCRIPTION_TYPE_TRADE"
SUB_ORDER: Final = "SUBSCRIPTION_TYPE_ORDER"
SUB_ORDER_SNAPSHOT: Final = "SUBSCRIPTION_TYPE_ORDER_SNAPSHOT"
SUB_POSITION: Final = "SUBSCRIPTION_TYPE_POSITION"
SUB_ACCOUNT_BALANCE: Final = "SUBSCRIPTION_TYPE_ACCOUNT_BALANCE"
SUB_RFQ: Final = "SUBSCRIPTION_TYPE_RFQ"
SUB_UNSPECIFIED: Final = "SUBSCRIPTION_TYPE_UNSPECIFIED"

# Proto numbers per channel (protocol-us.md §4.1). The two channels number their enums
# independently, so 1 means MARKET_DATA on one socket and ORDER on the other. The RFQ number is
# not documented, so only its name is accepted.
_TYPES_BY_CHANNEL: Final[dict[str, dict[str | int, str]]] = {
    MARKETS: {
        SUB_MARKET_DATA: SUB_MARKET_DATA,
        SUB_MARKET_DATA_LITE: SUB_MARKET_DATA_LITE,
        SUB_TRADE: SUB_TRADE,
        1: SUB_MARKET_DATA,
        2: SUB_MARKET_DATA_LITE,
        3: SUB_TRADE,
    },
    PRIVATE: {
        SUB_ORDER: SUB_ORDER,
        SUB_ORDER_SNAPSHOT: SUB_ORDER_SNAPSHOT,
        SUB_POSITION: SUB_POSITION,
        SUB_ACCOUNT_BALANCE: SUB_ACCOUNT_BALANCE,
        SUB_RFQ: SUB_RFQ,
        1: SUB_ORDER,
        2: SUB_ORDER_SNAPSHOT,
        3: SUB_POSITION,
        4: SUB_ACCOUNT_BALANCE,
    },
}

MARKET_STATE_OPEN: Final = "MARKET_STATE_OPEN"
MARKET_STATE_PREOPEN: Final = "MARKET_STATE_PREOPEN"
MARKET_STATE_EXPIRED: Final = "MARKET_STATE_EXPIRED"

#: Documented cap (D-markets, D-private): "a maximum of 100 markets per subscription".
MAX_SLUGS_PER_SUBSCRIPTION: Final = 100

#: Error text for frames that are not a well-formed request (3P observation, no requestId).
ERROR_INVALID_MESSAGE: Final = "invalid_message"

HEARTBEAT_FRAME: Final = '{"heartbeat":{}}'

_USD: Final = "USD"
_FOUR_PLACES = Decimal("0.0001")

_encoder = msgspec.json.Encoder()


def dumps(obj: object) -> str:
    """Compact JSON text, keys in insertion order (the live feed sends compact JSON)."""
    return _encoder.encode(obj).decode("utf-8")


# ---------------------------------------------------------------- scalars


def dec_str(value: Decimal) -> str:
    """Format a decimal like the live feed: at least four places, zero-padded, never exponent.

    Values finer than four places keep every digit, so no precision is ever lost.

    Example:
        >>> dec_str(Decimal("0.55")), dec_str(Decimal("109118.78")), dec_str(Decimal("0.00125"))
        ('0.5500', '109118.7800', '0.00125')
    """
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent >= -4:
        return format(value.quantize(_FOUR_PLACES), "f")
    return format(value, "f")


def amount(value: Decimal) -> dict[str, str]:
    """An ``Amount`` object: ``{"value": "<decimal>", "currency": "USD"}``."""
    return {"value": dec_str(value), "currency": _USD}


def rfc3339(ms: int, *, nanos: int = 0) -> str:
    """RFC 3339 UTC with ``Z`` and nine fractional digits, from Unix milliseconds.

    Args:
        ms: Unix time in milliseconds.
        nanos: Extra nanoseconds below the millisecond (0-999999), for distinct timestamps.

    Example:
        >>> rfc3339(1_755_972_938_339, nanos=877_873)
        '2025-08-23T18:15:38.339877873Z'
    """
    seconds, millis = divmod(ms, 1000)
    stamp = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{millis * 1_000_000 + nanos:09d}Z"


def _rounded_int_str(value: Decimal) -> str:
    # The legacy integer position fields are "rounded"; half-up keeps 1.5 -> "2" like the docs.
    return str(int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP)))


def _two_sig_figs_down(value: Decimal) -> Decimal:
    """Round down to two significant figures (the documented rule for ``bidShares``)."""
    if value <= 0:
        return Decimal(0)
    exponent = value.adjusted() - 1
    quantum = Decimal(1).scaleb(exponent)
    return value.quantize(quantum, rounding=ROUND_DOWN)


# ---------------------------------------------------------------- envelopes


def envelope(request_id: str, subscription_type: str, key: str, payload_json: str) -> str:
    """One data frame: ``requestId``, ``subscriptionType`` and exactly one payload key.

    The payload is passed already encoded so that one encoding serves every subscriber.
    """
    return (
        f'{{"requestId":{dumps(request_id)},"subscriptionType":"{subscription_type}",'
        f'"{key}":{payload_json}}}'
    )


def private_envelope(
    request_id: str, subscription_type: str, key: str, payload_json: str, *, empty_error: bool
) -> str:
    """A private data frame; with ``empty_error`` it carries the unpopulated ``"error": ""``.

    EmitUnpopulated serializes the envelope's empty ``error`` string too; SDK 2.4.1 ignores it
    on the private socket, and clients must as well.
    """
    frame = envelope(request_id, subscription_type, key, payload_json)
    if empty_error:
        return f'{frame[:-1]},"error":""}}'
    return frame


def error_frame(
    error: str, request_id: str | None = None, subscription_type: str | None = None
) -> str:
    """An error frame: ``{"requestId"?, "subscriptionType"?, "error"}``.

    Example:
        >>> error_frame(ERROR_INVALID_MESSAGE)
        '{"error":"invalid_message"}'
    """
    body: dict[str, str] = {}
    if request_id is not None:
        body["requestId"] = request_id
    if subscription_type is not None:
        body["subscriptionType"] = subscription_type
    body["error"] = error
    return dumps(body)


# ---------------------------------------------------------------- markets payloads


def _levels(levels: Iterable[tuple[Decimal, Decimal]]) -> list[dict[str, Any]]:
    return [{"px": amount(price), "qty": dec_str(size)} for price, size in levels]


def market_data_payload(
    slug: str,
    *,
    bids: Iterable[tuple[Decimal, Decimal]],
    offers: Iterable[tuple[Decimal, Decimal]],
    state: str,
    transact_time_ms: int | None,
    stats: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``marketData`` payload: a full book, bids highest first, offers lowest first.

    The caller passes levels already sorted. Unset fields are absent (protojson omits empty
    repeated fields, so an empty side has no key at all).
    """
    payload: dict[str, Any] = {"marketSlug": slug}
    bid_list = _levels(bids)
    offer_list = _levels(offers)
    if bid_list:
        payload["bids"] = bid_list
    if offer_list:
        payload["offers"] = offer_list
    payload["state"] = state
    if stats:
        payload["stats"] = dict(stats)
    if transact_time_ms is not None:
        payload["transactTime"] = rfc3339(transact_time_ms)
    return payload


def market_stats(
    *,
    last_trade_px: Decimal | None,
    shares_traded: Decimal,
    high_px: Decimal | None,
    low_px: Decimal | None,
) -> dict[str, Any]:
    """The optional ``stats`` object of ``marketData`` (only the fields that are set)."""
    stats: dict[str, Any] = {}
    if last_trade_px is not None:
        stats["lastTradePx"] = amount(last_trade_px)
    if shares_traded:
        stats["sharesTraded"] = dec_str(shares_traded)
    if high_px is not None:
        stats["highPx"] = amount(high_px)
    if low_px is not None:
        stats["lowPx"] = amount(low_px)
    return stats


def lite_payload(
    slug: str,
    *,
    bids: Sequence[tuple[Decimal, Decimal]],
    offers: Sequence[tuple[Decimal, Decimal]],
    state: str,
    last_trade_px: Decimal | None,
    shares_traded: Decimal,
) -> dict[str, Any]:
    """The ``marketDataLite`` payload (§6.2): BBO, depth in levels, shares per side.

    ``bids``/``offers`` are full sorted sides (best first). ``longQuote`` is the cost of buying
    YES (best ask), ``shortQuote`` the cost of buying NO (1 - best bid); ``currentPx`` is the
    midpoint when both sides exist, else the last trade (the simulator's reading: the docs do not
    define it). Unset fields are absent.
    """
    payload: dict[str, Any] = {"marketSlug": slug}
    best_bid = bids[0][0] if bids else None
    best_ask = offers[0][0] if offers else None
    current = (best_bid + best_ask) / 2 if best_bid is not None and best_ask is not None else None
    if current is None:
        current = last_trade_px
    if current is not None:
        payload["currentPx"] = amount(current)
    if last_trade_px is not None:
        payload["lastTradePx"] = amount(last_trade_px)
    if best_bid is not None:
        payload["bestBid"] = amount(best_bid)
    if best_ask is not None:
        payload["bestAsk"] = amount(best_ask)
    if best_ask is not None:
        payload["longQuote"] = amount(best_ask)
    if best_bid is not None:
        payload["shortQuote"] = amount(1 - best_bid)
    # protojson omits int32 zero, so an empty side has no depth key.
    if bids:
        payload["bidDepth"] = len(bids)
    if offers:
        payload["askDepth"] = len(offers)
    if shares_traded:
        payload["sharesTraded"] = dec_str(shares_traded)
    if bids:
        payload["bidShares"] = dec_str(_two_sig_figs_down(sum((s for _, s in bids), Decimal(0))))
    if offers:
        payload["askShares"] = dec_str(_two_sig_figs_down(sum((s for _, s in offers), Decimal(0))))
    payload["state"] = state
    return payload


def trade_payload(
    slug: str,
    *,
    price: Decimal,
    quantity: Decimal,
    trade_time_ms: int,
    maker_side: str,
    maker_intent: str,
    taker_side: str,
    taker_intent: str,
) -> dict[str, Any]:
    """The ``trade`` payload (§6.3): YES price, quantity as an Amount, maker and taker."""
    return {
        "marketSlug": slug,
        "price": amount(price),
        "quantity": amount(quantity),
        "tradeTime": rfc3339(trade_time_ms),
        "maker": {"side": maker_side, "intent": maker_intent},
        "taker": {"side": taker_side, "intent": taker_intent},
    }


# ---------------------------------------------------------------- private payloads


@dataclass(frozen=True)
class WireOrder:
    """What the private stream says about one order (already in YES terms)."""

    order_id: str
    slug: str
    title: str
    side: str  # ORDER_SIDE_BUY | ORDER_SIDE_SELL
    intent: str  # ORDER_INTENT_*
    price: Decimal
    quantity: Decimal
    cum_quantity: Decimal
    state: str  # ORDER_STATE_*
    created_ms: int
    avg_px: Decimal | None = None
    tif: str = "TIME_IN_FORCE_GOOD_TILL_CANCEL"
    order_type: str = "ORDER_TYPE_LIMIT"
    outcome: str = "Yes"
    event_slug: str = ""

    @property
    def leaves_quantity(self) -> Decimal:
        """Open quantity; zero once the order is done."""
        done = self.state in {
            "ORDER_STATE_FILLED",
            "ORDER_STATE_CANCELED",
            "ORDER_STATE_REJECTED",
            "ORDER_STATE_EXPIRED",
            "ORDER_STATE_REPLACED",
        }
        return Decimal(0) if done else max(self.quantity - self.cum_quantity, Decimal(0))


@dataclass(frozen=True)
class WireExecution:
    """One execution report: the order after the event, and the fill if there was one."""

    execution_id: str
    order: WireOrder
    exec_type: str  # EXECUTION_TYPE_*
    transact_ms: int
    last_shares: Decimal = Decimal(0)
    last_px: Decimal | None = None
    trade_id: str = ""
    aggressor: bool = False
    text: str = ""


@dataclass(frozen=True)
class WirePosition:
    """One position of the account in one market (YES contracts; negative = short)."""

    slug: str
    title: str
    net: Decimal
    bought: Decimal
    sold: Decimal
    cost: Decimal
    realized: Decimal
    update_ms: int | None
    event_slug: str = ""
    position_id: str = ""


@dataclass(frozen=True)
class WireBalance:
    """The account's balance as the private stream shows it (JSON numbers)."""

    current_balance: Decimal
    buying_power: Decimal
    open_orders: Decimal = Decimal(0)
    asset_notional: Decimal = Decimal(0)
    update_ms: int | None = None
    extra: Mapping[str, Decimal] = field(default_factory=dict)


def _num(value: Decimal) -> float | int:
    # Private-stream quantities and balances are JSON numbers (W-types, R-tests fixture).
    as_int = int(value)
    return as_int if value == as_int else float(value)


def _market_metadata(slug: str, title: str, outcome: str, event_slug: str) -> dict[str, Any]:
    return {
        "slug": slug,
        "icon": "",
        "title": title,
        "outcome": outcome,
        "eventSlug": event_slug,
        "teamId": 0,
        "team": None,
        "subject": None,
        "eventId": "",
    }


def _order(order: WireOrder) -> dict[str, Any]:
    return {
        "id": order.order_id,
        "marketSlug": order.slug,
        "side": order.side,
        "type": order.order_type,
        "price": amount(order.price),
        "quantity": _num(order.quantity),
        "cumQuantity": _num(order.cum_quantity),
        "leavesQuantity": _num(order.leaves_quantity),
        "tif": order.tif,
        "goodTillTime": None,
        "intent": order.intent,
        "marketMetadata": _market_metadata(
            order.slug, order.title, order.outcome, order.event_slug
        ),
        "state": order.state,
        "avgPx": amount(order.avg_px) if order.avg_px is not None else None,
        "cashOrderQty": None,
        "insertTime": rfc3339(order.created_ms),
        "createTime": rfc3339(order.created_ms),
        "commissionNotionalTotalCollected": amount(Decimal(0)),
        "commissionsBasisPoints": "0",
        "makerCommissionsBasisPoints": "0",
    }


def order_snapshot_payload(orders: Iterable[WireOrder], *, eof: bool) -> dict[str, Any]:
    """``orderSubscriptionSnapshot``: one page of open orders; the last page has ``eof``."""
    return {"orders": [_order(order) for order in orders], "eof": eof}


def order_update_payload(execution: WireExecution) -> dict[str, Any]:
    """``orderSubscriptionUpdate``: one execution report."""
    return {
        "execution": {
            "id": execution.execution_id,
            "order": _order(execution.order),
            "lastShares": dec_str(execution.last_shares),
            "lastPx": amount(execution.last_px) if execution.last_px is not None else None,
            "type": execution.exec_type,
            "text": execution.text,
            "orderRejectReason": "",
            "transactTime": rfc3339(execution.transact_ms),
            "tradeId": execution.trade_id,
            "aggressor": execution.aggressor,
            "commissionNotionalCollected": amount(Decimal(0)),
        }
    }


def _position(position: WirePosition | None) -> dict[str, Any] | None:
    if position is None:
        return None
    net = position.net
    avg = position.cost / abs(net) if net else None
    return {
        "netPosition": _rounded_int_str(net),
        "qtyBought": _rounded_int_str(position.bought),
        "qtySold": _rounded_int_str(position.sold),
        "cost": amount(position.cost),
        "realized": amount(position.realized),
        "bodPosition": "0",
        "expired": False,
        "updateTime": rfc3339(position.update_ms) if position.update_ms is not None else None,
        "marketMetadata": _market_metadata(
            position.slug, position.title, "Yes", position.event_slug
        ),
        "cashValue": None,
        "qtyAvailable": _rounded_int_str(net),
        "avgPx": amount(avg) if avg is not None else None,
        "fees": amount(Decimal(0)),
        "baseCost": amount(position.cost),
        "costPerShare": amount(avg) if avg is not None else None,
        "netPositionDecimal": dec_str(net),
        "qtyBoughtDecimal": dec_str(position.bought),
        "qtySoldDecimal": dec_str(position.sold),
        "bodPositionDecimal": dec_str(Decimal(0)),
        "qtyAvailableDecimal": dec_str(net),
        "comboLegDetails": [],
        "positionId": position.position_id,
    }


def position_subscription_payload(
    before: WirePosition | None,
    after: WirePosition | None,
    *,
    update_ms: int,
    trade_id: str = "",
    entry_type: str = "LEDGER_ENTRY_TYPE_ORDER_EXECUTION",
    description: str = "",
) -> dict[str, Any]:
    """``positionSubscription``: one position change (the gateway sends changes only)."""
    return {
        "beforePosition": _position(before),
        "afterPosition": _position(after),
        "updateTime": rfc3339(update_ms),
        "entryType": entry_type,
        "tradeId": trade_id,
        "referenceId": "",
        "description": description,
        "allocationGroupId": "",
        "transferReferenceTradeIds": [],
        "shortTransfer": False,
        "updateTradeDate": None,
    }


_BALANCE_OPTIONAL: Final = (
    "balanceReservation",
    "depositReservation",
    "bonusReservation",
    "displayedBonus",
    "displayedAvailableSoon",
    "displayedCash",
    "availableToWithdraw",
    "bonusHold",
)


def _balance(balance: WireBalance | None) -> dict[str, Any] | None:
    if balance is None:
        return None
    body: dict[str, Any] = {
        "currentBalance": _num(balance.current_balance),
        "currency": _USD,
        "lastUpdated": rfc3339(balance.update_ms) if balance.update_ms is not None else None,
        "buyingPower": _num(balance.buying_power),
        "assetNotional": _num(balance.asset_notional),
        "assetAvailable": _num(balance.asset_notional),
        "pendingCredit": 0,
        "openOrders": _num(balance.open_orders),
        "unsettledFunds": 0,
        "pendingWithdrawals": [],
        "marginRequirement": 0,
    }
    for name in _BALANCE_OPTIONAL:
        body[name] = _num(balance.extra.get(name, Decimal(0)))
    if "availableToWithdraw" not in balance.extra:
        body["availableToWithdraw"] = _num(balance.buying_power)
    if "displayedCash" not in balance.extra:
        body["displayedCash"] = _num(balance.current_balance)
    return body


def account_balances_snapshot_payload(balance: WireBalance) -> dict[str, Any]:
    """``accountBalancesSnapshot``: the account's balances, sent once on subscribe."""
    return {"balances": [_balance(balance)]}


def account_balances_update_payload(
    before: WireBalance | None,
    after: WireBalance | None,
    *,
    update_ms: int,
    change_id: str,
    account_name: str,
    description: str = "Order execution",
    entry_type: str = "LEDGER_ENTRY_TYPE_ORDER_EXECUTION",
    security: str = "",
) -> dict[str, Any]:
    """``accountBalancesUpdate``: one balance change with before and after."""
    return {
        "balanceChange": {
            "beforeBalance": _balance(before),
            "afterBalance": _balance(after),
            "description": description,
            "updateTime": rfc3339(update_ms),
            "modifiedSecurityId": security,
            "entryType": entry_type,
            "accountName": account_name,
            "id": change_id,
        }
    }


# ---------------------------------------------------------------- client requests


@dataclass(frozen=True)
class Subscribe:
    """A parsed ``subscribe`` request (subscription type normalized to its enum name)."""

    request_id: str
    subscription_type: str
    market_slugs: tuple[str, ...]
    debounced: bool = False


@dataclass(frozen=True)
class Unsubscribe:
    """A parsed ``unsubscribe`` request."""

    request_id: str


@dataclass(frozen=True)
class BadRequest:
    """A request the server answers with an error frame (and otherwise ignores)."""

    error: str
    request_id: str | None = None
    subscription_type: str | None = None

    def frame(self) -> str:
        """The error frame to send back."""
        return error_frame(self.error, self.request_id, self.subscription_type)


_INVALID = BadRequest(ERROR_INVALID_MESSAGE)


def _field(body: Mapping[str, Any], camel: str, snake: str) -> Any:
    # protojson accepts both the JSON name and the proto field name.
    if camel in body:
        return body[camel]
    return body.get(snake)


def _utf8(text: str) -> bool:
    """Whether ``text`` is valid Unicode (no lone surrogates).

    JSON escapes can smuggle lone surrogates into a str; protojson refuses them, and no UTF-8
    error frame could echo them back.
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def parse_request(data: str | bytes, channel: Channel) -> Subscribe | Unsubscribe | BadRequest:
    """Parse one client frame on ``channel`` (``"markets"`` or ``"private"``).

    Anything that is not a JSON object with exactly one ``subscribe`` or ``unsubscribe`` key of
    the right types is ``invalid_message`` with no requestId. A well-formed request with an
    enum of the other channel, or unknown to both, is an error carrying the requestId.

    Example:
        >>> parse_request("hello", MARKETS)
        BadRequest(error='invalid_message', request_id=None, subscription_type=None)
        >>> parse_request('{"unsubscribe":{"requestId":"x"}}', PRIVATE)
        Unsubscribe(request_id='x')
    """
    try:
        message = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError):
        # RecursionError: a frame of deeply nested brackets (found by fuzzing) is malformed
        # JSON to protojson too, not a reason to drop the connection.
        return _INVALID
    if not isinstance(message, dict) or len(message) != 1:
        return _INVALID
    ((kind, body),) = message.items()
    if kind not in {"subscribe", "unsubscribe"} or not isinstance(body, dict):
        return _INVALID
    request_id = _field(body, "requestId", "request_id")
    if not isinstance(request_id, str) or not request_id or not _utf8(request_id):
        return _INVALID
    if kind == "unsubscribe":
        return Unsubscribe(request_id)

    raw_type = _field(body, "subscriptionType", "subscription_type")
    raw_slugs = _field(body, "marketSlugs", "market_slugs")
    debounced = _field(body, "responsesDebounced", "responses_debounced")
    if raw_slugs is None:
        raw_slugs = []
    if not isinstance(raw_slugs, list) or not all(
        isinstance(s, str) and _utf8(s) for s in raw_slugs
    ):
        return _INVALID
    if debounced is not None and not isinstance(debounced, bool):
        return _INVALID
    # bool is an int in Python; true/false is not an enum.
    if isinstance(raw_type, bool) or not isinstance(raw_type, str | int | None):
        return _INVALID
    if isinstance(raw_type, str) and not _utf8(raw_type):
        return _INVALID
    if raw_type is None or raw_type in {SUB_UNSPECIFIED, 0}:
        return BadRequest("subscription type is required", request_id, SUB_UNSPECIFIED)
    subscription_type = _TYPES_BY_CHANNEL[channel].get(raw_type)
    if subscription_type is None:
        # An enum name of the other channel: a clean per-request error; anything else is not a
        # value of the enum at all, which protojson refuses as a malformed message.
        other = PRIVATE if channel == MARKETS else MARKETS
        if isinstance(raw_type, str) and raw_type in _TYPES_BY_CHANNEL[other]:
            return BadRequest(
                f"subscription type not available on the {channel} stream", request_id, raw_type
            )
        return _INVALID
    return Subscribe(request_id, subscription_type, tuple(raw_slugs), bool(debounced))
