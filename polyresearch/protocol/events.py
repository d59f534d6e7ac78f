"""Normalized event types produced by the protocol layer, shared by both venues.

Each decoder turns raw frames into instances of these frozen msgspec structs. Where the venues
agree (a full book, a level change, a best bid/ask, a public trade, market lifecycle, orders,
positions, balances) they share one type; where they differ, a venue-specific type exists.

Conventions that hold for every event:

- ``kind`` is the venue's own name for the event: CLOB kinds are the wire ``event_type``
  names (``book``, ``price_change``, ``tick_size_change``, ``last_trade_price``,
  ``best_bid_ask``, ``new_market``, ``market_resolved``, ``trade``, ``order``); US kinds are
  the official SDK's event names (``market_data``, ``market_data_lite``, ``trade``,
  ``heartbeat``, ``error``, ``order_snapshot``, ``order_update``, ``position_update``,
  ``account_balance_snapshot``, ``account_balance_update``, ``rfq_event``); control frames
  are ``pong``, ``no_new_assets``, ``heartbeat``; a frame we could not use yields
  ``dropped``.
- ``venue`` is ``"clob"`` or ``"us"``.
- Prices and sizes are decimal **strings exactly as the venue wrote them** (exact, and the CLOB
  book hash needs the original text). The state layer turns them into exact numbers.
- ``ts_ns`` is the venue's event time in nanoseconds since the epoch, or ``None`` when the frame
  carries none. CLOB timestamps are normalised by magnitude (seconds or milliseconds);
  US RFC 3339 timestamps keep their nanoseconds.
- Book sides are given best-first: ``bids`` by descending price, ``asks`` by ascending price.
  A ``price_change`` entry (:class:`LevelChange`) names its level's side as the wire does:
  ``side`` is ``"BUY"`` for a bid level and ``"SELL"`` for an ask level (``book_side`` gives
  ``"bid"``/``"ask"``).
- Events encode (``msgspec.to_builtins``, ``msgspec.json.encode``) under their attribute names,
  except :class:`PriceChange`, which mirrors the current CLOB wire schema so the decoder reads
  it straight off the wire: its ``kind`` is encoded as ``event_type`` and ``changes`` as
  ``price_changes``.
- ``market`` is the CLOB condition id or the US market slug; ``asset_id`` is the CLOB token id
  or, on US (one instrument per market, the YES side), the market slug again.

Example:
    >>> from polyresearch.protocol.events import Level, BookSnapshot
    >>> book = BookSnapshot(kind="book", venue="clob", market="0xabc", asset_id="1",
    ...                     bids=(Level("0.48", "10"),), asks=(Level("0.52", "5"),))
    >>> book.bids[0].price, book.asks[0].size
    ('0.48', '5')
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

__all__ = [
    "Balance",
    "BalanceSnapshot",
    "BalanceUpdate",
    "BestBidAsk",
    "BookSide",
    "BookSnapshot",
    "Dropped",
    "Event",
    "Heartbeat",
    "Level",
    "LevelChange",
    "MarketResolved",
    "NewMarket",
    "NoNewAssets",
    "OrderSide",
    "OrderSnapshot",
    "OrderUpdate",
    "Pong",
    "PositionUpdate",
    "PriceChange",
    "RfqEvent",
    "Side",
    "TickSizeChange",
    "Trade",
    "UserTrade",
    "Venue",
    "VenueError",
]

Venue = Literal["clob", "us"]
#: Which side of the book a level belongs to.
BookSide = Literal["bid", "ask"]
#: Aggressor / order side.
Side = Literal["buy", "sell"]
#: The CLOB wire's side of a ``price_change`` entry: ``BUY`` is a bid level, ``SELL`` an ask level.
OrderSide = Literal["BUY", "SELL"]


class Level(msgspec.Struct, frozen=True, gc=False):
    """One aggregated price level: ``price`` and total ``size`` resting there."""

    price: str
    size: str


class _Event(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    kind: str
    venue: Venue


# ---------------------------------------------------------------- market data (both venues)


class BookSnapshot(_Event, frozen=True, kw_only=True, gc=False):
    """A full book for one asset: replaces whatever was known. CLOB ``book``, US ``market_data``.

    ``timestamp`` is the venue's timestamp text as sent (the CLOB hash is computed over it);
    ``hash`` is the CLOB book hash (``None`` on US). ``tick_size`` and ``last_trade_price`` are
    present when the frame carries them. ``state`` and ``stats`` are US-only (market state enum,
    and the stats object passed through as sent).
    """

    market: str
    asset_id: str
    bids: tuple[Level, ...] = ()
    asks: tuple[Level, ...] = ()
    ts_ns: int | None = None
    timestamp: str | None = None
    hash: str | None = None
    tick_size: str | None = None
    last_trade_price: str | None = None
    state: str | None = None
    stats: dict[str, Any] | None = None


class LevelChange(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One CLOB ``price_change`` entry: the new absolute ``size`` at ``price``; ``"0"`` removes.

    ``side`` is the venue's own word for the level's side: ``"BUY"`` for a bid level, ``"SELL"``
    for an ask level (:attr:`book_side` gives ``"bid"``/``"ask"``). ``best_bid``/``best_ask``
    are the venue's top of book after the change (``"0"``/``"1"`` mean an empty side) and
    ``hash`` its book hash after the change; all three are ``None`` in legacy schemas that lack
    them. The fields are named and ordered like the current schema's entries, so the decoder
    reads them straight off the wire.
    """

    asset_id: str
    price: str
    size: str
    side: OrderSide
    hash: str | None = None
    best_bid: str | None = None
    best_ask: str | None = None

    @property
    def book_side(self) -> BookSide:
        """The side of the book this level is on: ``"bid"`` for ``BUY``, ``"ask"`` for ``SELL``."""
        return "bid" if self.side == "BUY" else "ask"


class PriceChange(_Event, frozen=True, kw_only=True, gc=False):
    """CLOB ``price_change``: level changes to apply in order (current and both legacy schemas).

    ``hash`` is the message-level hash of the 2024-2025 legacy schema; the current schema carries
    one hash per entry instead.

    The struct mirrors the current wire schema, so the decoder reads such frames straight into
    it: ``kind`` is written ``event_type`` and ``changes`` is written ``price_changes`` when
    encoded (``msgspec.to_builtins``/``msgspec.json.encode``; the attribute names are unchanged),
    and ``venue`` defaults to ``"clob"``.
    """

    kind: Literal["price_change"] = msgspec.field(name="event_type")
    venue: Literal["clob"] = "clob"
    market: str
    changes: tuple[LevelChange, ...] = msgspec.field(name="price_changes")
    timestamp: str | None = None
    ts_ns: int | None = None
    hash: str | None = None


class BestBidAsk(_Event, frozen=True, kw_only=True, gc=False):
    """Top of book. CLOB ``best_bid_ask`` and US ``market_data_lite``.

    Missing sides are ``None``. US-only fields (depth in levels, resting shares, last/current
    price, open interest, shares traded, long/short quotes, state) are ``None`` on CLOB.
    """

    market: str
    asset_id: str
    best_bid: str | None = None
    best_ask: str | None = None
    spread: str | None = None
    ts_ns: int | None = None
    last_trade_price: str | None = None
    current_price: str | None = None
    bid_depth: int | None = None
    ask_depth: int | None = None
    bid_shares: str | None = None
    ask_shares: str | None = None
    shares_traded: str | None = None
    open_interest: str | None = None
    long_quote: str | None = None
    short_quote: str | None = None
    state: str | None = None


class Trade(_Event, frozen=True, kw_only=True, gc=False):
    """A public trade. CLOB ``last_trade_price`` and US ``trade``.

    ``side`` is the taker's (aggressor's) side. ``maker_intent``/``taker_intent`` are US order
    intents (``ORDER_INTENT_BUY_LONG`` …); ``fee_rate_bps``/``transaction_hash`` are CLOB-only.
    """

    market: str
    asset_id: str
    price: str
    size: str
    side: Side | None = None
    ts_ns: int | None = None
    fee_rate_bps: str | None = None
    transaction_hash: str | None = None
    maker_intent: str | None = None
    taker_intent: str | None = None


class TickSizeChange(_Event, frozen=True, kw_only=True, gc=False):
    """CLOB ``tick_size_change``: the minimum tick of an asset changed."""

    market: str
    asset_id: str
    old_tick_size: str
    new_tick_size: str
    ts_ns: int | None = None


class NewMarket(_Event, frozen=True, kw_only=True, gc=False):
    """CLOB ``new_market`` (custom feature): a market was created.

    ``asset_ids[i]`` pairs with ``outcomes[i]``. ``details`` keeps the optional fields as sent.
    """

    market: str
    market_id: str
    question: str
    slug: str
    asset_ids: tuple[str, ...]
    outcomes: tuple[str, ...]
    ts_ns: int | None = None
    active: bool | None = None
    tick_size: str | None = None
    details: dict[str, Any] | None = None


class MarketResolved(_Event, frozen=True, kw_only=True, gc=False):
    """CLOB ``market_resolved`` (custom feature): books of ``asset_ids`` are now terminal.

    Grade by ``winning_asset_id``; ``winning_outcome`` is a free label.
    """

    market: str
    market_id: str
    asset_ids: tuple[str, ...]
    winning_asset_id: str
    winning_outcome: str
    ts_ns: int | None = None


# ---------------------------------------------------------------- private / user data


class UserTrade(_Event, frozen=True, kw_only=True, gc=False):
    """CLOB user-channel ``trade``: one of the account's fills, re-sent on each status change.

    ``status`` is ``MATCHED``, ``MINED``, ``CONFIRMED``, ``RETRYING`` or ``FAILED`` (others pass
    through). ``trader_side`` is ``TAKER`` or ``MAKER``. ``maker_orders`` is passed through.
    """

    trade_id: str
    market: str
    asset_id: str
    side: Side | None
    price: str
    size: str
    status: str
    ts_ns: int | None = None
    match_ts_ns: int | None = None
    taker_order_id: str | None = None
    outcome: str | None = None
    trader_side: str | None = None
    fee_rate_bps: str | None = None
    transaction_hash: str | None = None
    maker_orders: tuple[dict[str, Any], ...] = ()


class OrderUpdate(_Event, frozen=True, kw_only=True, gc=False):
    """An order changed. CLOB user ``order`` and US ``order_update`` (an execution report).

    ``update_type`` is the CLOB ``type`` (``PLACEMENT``/``UPDATE``/``CANCELLATION``) or the US
    execution type (``EXECUTION_TYPE_FILL`` …). ``status`` is the CLOB status or US order state.
    ``size_matched`` is the cumulative filled quantity; ``last_*`` describe this execution (US).
    ``details`` keeps the venue's remaining fields as sent.
    """

    order_id: str
    market: str
    asset_id: str
    side: Side | None = None
    price: str | None = None
    original_size: str | None = None
    size_matched: str | None = None
    leaves_size: str | None = None
    status: str | None = None
    update_type: str | None = None
    order_type: str | None = None
    outcome: str | None = None
    last_size: str | None = None
    last_price: str | None = None
    trade_id: str | None = None
    ts_ns: int | None = None
    details: dict[str, Any] | None = None


class OrderSnapshot(_Event, frozen=True, kw_only=True, gc=False):
    """US ``order_snapshot``: the account's open orders (``eof`` marks the last frame)."""

    orders: tuple[OrderUpdate, ...]
    eof: bool
    request_id: str | None = None


class PositionUpdate(_Event, frozen=True, kw_only=True, gc=False):
    """US ``position_update``: a position changed (``after`` fields; ``None`` when closed)."""

    market: str
    net_position: str | None = None
    cost: str | None = None
    realized: str | None = None
    avg_price: str | None = None
    entry_type: str | None = None
    trade_id: str | None = None
    ts_ns: int | None = None
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None


class Balance(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One account balance (US ``UserBalance``); numbers as the venue sent them."""

    currency: str
    current_balance: float | None = None
    buying_power: float | None = None
    open_orders: float | None = None
    unsettled_funds: float | None = None
    ts_ns: int | None = None


class BalanceSnapshot(_Event, frozen=True, kw_only=True, gc=False):
    """US ``account_balance_snapshot``: every balance of the account."""

    balances: tuple[Balance, ...]


class BalanceUpdate(_Event, frozen=True, kw_only=True, gc=False):
    """US ``account_balance_update``: one balance changed from ``before`` to ``after``."""

    before: float | None
    after: float | None
    description: str | None = None
    entry_type: str | None = None
    ts_ns: int | None = None
    currency: str | None = None


class RfqEvent(_Event, frozen=True, kw_only=True, gc=False):
    """US ``rfq_event``, passed through as sent (out of a research toolkit's scope)."""

    payload: dict[str, Any]
    request_id: str | None = None


# ---------------------------------------------------------------- control and errors


class Heartbeat(_Event, frozen=True, kw_only=True, gc=False):
    """US ``{"heartbeat": {}}``: the server is alive."""


class Pong(_Event, frozen=True, kw_only=True, gc=False):
    """CLOB ``PONG``: the answer to our text ``PING``."""


class NoNewAssets(_Event, frozen=True, kw_only=True, gc=False):
    """CLOB ``NO NEW ASSETS`` text, sent periodically with custom features enabled."""


class VenueError(_Event, frozen=True, kw_only=True, gc=False):
    """US ``error`` frame: a subscription request failed (``request_id`` names it when known)."""

    message: str
    request_id: str | None = None
    subscription_type: str | None = None


class Dropped(_Event, frozen=True, kw_only=True, gc=False):
    """A frame (or part of one) we could not use: counted under ``reason``, never raised.

    ``excerpt`` is a truncated copy of the offending input, free of secrets.
    """

    reason: str
    detail: str = ""
    excerpt: str = ""


Event = (
    BookSnapshot
    | PriceChange
    | BestBidAsk
    | Trade
    | TickSizeChange
    | NewMarket
    | MarketResolved
    | UserTrade
    | OrderUpdate
    | OrderSnapshot
    | PositionUpdate
    | BalanceSnapshot
    | BalanceUpdate
    | RfqEvent
    | Heartbeat
    | Pong
    | NoNewAssets
    | VenueError
    | Dropped
)
