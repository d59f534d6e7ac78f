"""The sink of a feed: applies normalized events to books, tables and account state.

:class:`MarketStore` is synchronous and loop-free. A feed hands it each decoded event with the
frame's receive time; the store

- applies book events to its :class:`~polyresearch.state.books.BookSet`,
- appends rows to the rolling tables (``trades``, ``quotes`` on every change of the top of a
  book, ``book_updates``, ``orders``, ``positions``, ``balances``),
- keeps the account's open orders, positions and balances (:class:`AccountState`),
- writes ``status`` rows for drops, venue errors and the markers a feed reports (connect,
  disconnect, resync, stale, gap), so an analyst can see where not to trust the data.

Example:
    >>> from polyresearch.protocol.events import Trade
    >>> from polyresearch.state.schemas import make_tables
    >>> store = MarketStore("clob", "market", tables=make_tables(max_rows=1000))
    >>> store.apply(Trade(kind="last_trade_price", venue="clob", market="0xm", asset_id="1",
    ...                   price="0.5", size="10", side="buy"), recv_ns=1)
    >>> store.tables.trades.to_polars()["price"].to_list()
    [0.5]
"""

from __future__ import annotations

import logging
import math
from collections import deque
from typing import TYPE_CHECKING, Final

import msgspec

from polyresearch.errors import StateError
from polyresearch.protocol.events import (
    BalanceSnapshot,
    BalanceUpdate,
    BestBidAsk,
    BookSnapshot,
    Dropped,
    MarketResolved,
    OrderSnapshot,
    OrderUpdate,
    PositionUpdate,
    PriceChange,
    TickSizeChange,
    Trade,
    UserTrade,
    VenueError,
)
from polyresearch.state.books import BookSet
from polyresearch.state.schemas import Tables, make_tables

if TYPE_CHECKING:
    from polyresearch.protocol.events import Event
    from polyresearch.state.orderbook import OrderBook

__all__ = ["AccountState", "MarketStore", "StoreStats"]

logger = logging.getLogger("polyresearch.state")

#: How many recent events the lag figures of :meth:`MarketStore.stats` cover.
LAG_WINDOW: Final = 1024

#: Order statuses/states after which an order is no longer open.
_CLOSED_ORDER_STATES: Final = frozenset(
    {
        "MATCHED",
        "CANCELED",
        "CANCELLED",
        "INVALID",
        "ORDER_STATE_FILLED",
        "ORDER_STATE_CANCELED",
        "ORDER_STATE_REJECTED",
        "ORDER_STATE_EXPIRED",
        "ORDER_STATE_REPLACED",
    }
)


def _f(text: str | None) -> float:
    """A decimal string as float for the analysis tables; missing or bad → NaN."""
    if not text:
        return math.nan
    try:
        return float(text)
    except ValueError:
        return math.nan


_NAN_PAIR: Final = (math.nan, math.nan)


def _floats(price: str, size: str) -> tuple[float, float]:
    """A level's price and size as floats (``float()`` inline; bad text → NaN as in _f)."""
    try:
        return float(price), float(size)
    except (ValueError, TypeError):
        return _f(price), _f(size)


#: The wire's price_change sides, as book_updates writes them.
_BOOK_SIDES: Final = {"BUY": "bid", "SELL": "ask"}


def _book_side(side: str) -> str:
    # Normalized level changes say "bid"/"ask"; accept the wire's BUY/SELL too.
    return "bid" if side in ("bid", "BUY", "buy") else "ask"


class AccountState:
    """One venue account as seen on its private stream.

    Attributes:
        open_orders: order id → the latest update of every order still open.
        positions: market → the latest position update.
        balances: currency → current balance.
        fills: the account's trades seen, each counted once: the CLOB re-sends a trade on
            every status change (``MATCHED``, ``MINED``, ``CONFIRMED``…), and those
            settlement updates are counted in ``fill_updates`` instead.
        fill_updates: trade messages for a trade already counted (status changes).
        continuous: False once a reconnect happened: venues replay no history, so orders,
            fills or balance changes during the gap are not in this state (reconcile over REST).
    """

    #: Trade ids remembered to count each trade once.
    MAX_TRADE_IDS: Final = 100_000

    def __init__(self) -> None:
        self.open_orders: dict[str, OrderUpdate] = {}
        self.positions: dict[str, PositionUpdate] = {}
        self.balances: dict[str, float | None] = {}
        self.fills: int = 0
        self.fill_updates: int = 0
        self.continuous = True
        # Trade ids already counted, oldest first; bounded (an id evicted and re-sent much
        # later would count twice, which needs MAX_TRADE_IDS newer trades in between).
        self._trade_ids: dict[str, None] = {}

    def apply(self, event: Event) -> None:
        """Apply one private event."""
        if isinstance(event, OrderUpdate):
            self._order(event)
        elif isinstance(event, OrderSnapshot):
            for order in event.orders:
                self._order(order)
        elif isinstance(event, UserTrade):
            ids = self._trade_ids
            if event.trade_id in ids:
                self.fill_updates += 1
            else:
                if len(ids) >= self.MAX_TRADE_IDS:
                    del ids[next(iter(ids))]
                ids[event.trade_id] = None
                self.fills += 1
        elif isinstance(event, PositionUpdate):
            self.positions[event.market] = event
        elif isinstance(event, BalanceSnapshot):
            for balance in event.balances:
                self.balances[balance.currency] = balance.current_balance
        elif isinstance(event, BalanceUpdate):
            self.balances[event.currency or "USD"] = event.after

    def _order(self, order: OrderUpdate) -> None:
        status = (order.status or "").upper()
        if status in _CLOSED_ORDER_STATES or order.update_type == "CANCELLATION":
            self.open_orders.pop(order.order_id, None)
        else:
            self.open_orders[order.order_id] = order


class StoreStats(msgspec.Struct, frozen=True, kw_only=True):
    """Counts of what the store did with the events it was given."""

    events: int
    rows_appended: int
    status_rows: int
    drops_recorded: int
    #: Receive time minus venue time over the last LAG_WINDOW timestamped events (ms);
    #: None before any. Includes clock offset between the venue and this machine.
    lag_ms_p50: float | None
    lag_ms_max: float | None


class MarketStore:
    """Books + tables + account for one venue feed.

    Args:
        venue: ``"clob"`` or ``"us"``.
        channel: the main channel name, used for status rows without a better one.
        tables: the rolling tables to fill (default: :func:`make_tables` defaults).
        books: the book set (default: a new one).
    """

    def __init__(
        self,
        venue: str,
        channel: str,
        *,
        tables: Tables | None = None,
        books: BookSet | None = None,
    ) -> None:
        self.venue = venue
        self.channel = channel
        self.tables = tables if tables is not None else make_tables()
        self.books = books if books is not None else BookSet()
        self.account = AccountState()
        # asset -> the book's top ((price, size) of best bid and ask) last written to `quotes`
        self._tops: dict[str, tuple[tuple[str, str] | None, tuple[str, str] | None]] = {}
        # Bound once: the table objects of a Tables never change (clear() empties them).
        self._append_update = self.tables.book_updates.append_row
        self._append_trade = self.tables.trades.append_row
        self._append_quote = self.tables.quotes.append_row
        self._counts = [0, 0, 0, 0]  # events, rows, status rows, drops
        self._bad_values = 0  # events dropped by _reject (a WARNING for the first only)
        self._lags: deque[int] = deque(maxlen=LAG_WINDOW)

    # Public methods.

    def apply(self, event: Event, *, recv_ns: int, channel: str | None = None) -> None:
        """Apply one event received at ``recv_ns`` (local ns since the epoch)."""
        self._counts[0] += 1
        ts = getattr(event, "ts_ns", None)
        if ts is not None:
            self._lags.append(recv_ns - ts)
        try:
            # The market-data kinds by exact class first (one comparison each), the rest by
            # isinstance.
            cls = event.__class__
            if cls is PriceChange:
                self._price_change(event, recv_ns)  # type: ignore[arg-type]
            elif cls is Trade:
                self._trade(event, recv_ns)  # type: ignore[arg-type]
            elif cls is BookSnapshot:
                self._snapshot(event, recv_ns)  # type: ignore[arg-type]
            elif isinstance(event, PriceChange):
                self._price_change(event, recv_ns)
            elif isinstance(event, BookSnapshot):
                self._snapshot(event, recv_ns)
            elif isinstance(event, Trade):
                self._trade(event, recv_ns)
            elif isinstance(event, BestBidAsk):
                self._bbo(event, recv_ns)
            elif isinstance(event, TickSizeChange | MarketResolved):
                self.books.apply(event)
            elif isinstance(event, OrderUpdate | OrderSnapshot | UserTrade):
                self.account.apply(event)
                orders = event.orders if isinstance(event, OrderSnapshot) else (event,)
                for order in orders:
                    self._order_row(order, recv_ns, event.kind)
            elif isinstance(event, PositionUpdate):
                self.account.apply(event)
                self.tables.positions.append_row(
                    (
                        event.ts_ns,
                        recv_ns,
                        event.venue,
                        event.market,
                        None,
                        _f(event.net_position),
                        _f(event.cost),
                        _f(event.realized),
                        _f(event.avg_price),
                        event.entry_type or None,
                        event.trade_id or None,
                    )
                )
                self._counts[1] += 1
            elif isinstance(event, BalanceSnapshot | BalanceUpdate):
                self._balance(event, recv_ns)
            elif isinstance(event, Dropped):
                self._counts[3] += 1
                self.status("drop", detail=event.reason, ts_ns=recv_ns, channel=channel)
            elif isinstance(event, VenueError):
                self.status("error", detail=event.message[:200], ts_ns=recv_ns, channel=channel)
        except StateError as exc:
            # A value the state cannot hold (a price that is no decimal, or finer than
            # PRICE_DECIMALS), which the decoder passed through as text: a counted drop, and
            # the books it names resync (it may have been half applied).
            self._reject(event, exc, recv_ns, channel)

    def _reject(self, event: Event, exc: StateError, recv_ns: int, channel: str | None) -> None:
        self._counts[3] += 1
        self.status("drop", detail=f"bad_value: {exc}"[:200], ts_ns=recv_ns, channel=channel)
        assets = [c.asset_id for c in event.changes] if isinstance(event, PriceChange) else []
        asset = getattr(event, "asset_id", None)
        if isinstance(asset, str):
            assets.append(asset)
        for asset_id in dict.fromkeys(assets):
            self.books.distrust(asset_id)
        # As the decoders log their drops: the first at WARNING, the rest at DEBUG, so a
        # stream of bad values cannot flood a notebook's output (the count and the status
        # rows keep every one).
        self._bad_values += 1
        level = logging.WARNING if self._bad_values == 1 else logging.DEBUG
        logger.log(level, "dropped a %s event: %s", event.kind, exc)

    def status(
        self,
        event: str,
        *,
        ts_ns: int,
        detail: str | None = None,
        asset_id: str | None = None,
        channel: str | None = None,
        count: int = 1,
    ) -> None:
        """Write a ``status`` row (connect, disconnect, resync, stale, gap, drop, error)."""
        self.tables.status.append_row(
            (ts_ns, self.venue, channel or self.channel, asset_id, event, detail, count)
        )
        self._counts[2] += 1

    def sample_books(self, *, depth: int, ts_ns: int) -> int:
        """Append the top ``depth`` levels of every LIVE book to ``book_snapshots``.

        Returns:
            The number of rows written.
        """
        append = self.tables.book_snapshots.append_row
        rows = 0
        for asset in self.books:
            book = self.books[asset]
            if book.status.value != "LIVE":
                continue
            market = book.market or ""
            book_ts = _ts_ns(book.timestamp)
            for side in ("bid", "ask"):
                for level, (price, size) in enumerate(book.levels(side, depth)):
                    append(
                        (
                            ts_ns,
                            book_ts,
                            self.venue,
                            market,
                            asset,
                            side,
                            level,
                            _f(price),
                            _f(size),
                        )
                    )
                    rows += 1
        self._counts[1] += rows
        return rows

    def book(self, asset_id: str) -> OrderBook:
        """The local book of an asset (KeyError if never seen)."""
        return self.books[asset_id]

    def stats(self) -> StoreStats:
        """A frozen snapshot of the store's counters."""
        events, rows, status_rows, drops = self._counts
        lags = sorted(self._lags)
        return StoreStats(
            events=events,
            rows_appended=rows,
            status_rows=status_rows,
            drops_recorded=drops,
            lag_ms_p50=lags[len(lags) // 2] / 1e6 if lags else None,
            lag_ms_max=lags[-1] / 1e6 if lags else None,
        )

    # Private methods.

    def _trade(self, event: Trade, recv_ns: int) -> None:
        if event.venue == "clob":  # the asset's last trade price is part of the CLOB hash
            self.books.note_trade(event.asset_id, event.market, event.price)
        fee = event.fee_rate_bps
        try:
            price, size = float(event.price), float(event.size)
            fee_rate = float(fee) if fee else math.nan
        except (ValueError, TypeError):
            price, size, fee_rate = _f(event.price), _f(event.size), _f(fee)
        self._append_trade(
            (
                event.ts_ns,
                recv_ns,
                event.venue,
                event.market,
                event.asset_id,
                price,
                size,
                event.side,
                event.kind,
                fee_rate,
            )
        )
        self._counts[1] += 1

    def _snapshot(self, event: BookSnapshot, recv_ns: int) -> None:
        changed = self.books.apply_snapshot(event)
        append = self._append_update
        ts, venue, market, asset = event.ts_ns, event.venue, event.market, event.asset_id
        if changed is None:
            # No trusted book before (or a TERMINAL one): every level, flagged as a snapshot.
            rows = 0
            for side, levels in (("bid", event.bids), ("ask", event.asks)):
                for level in levels:
                    price, size = _floats(level.price, level.size)
                    append((ts, recv_ns, venue, market, asset, side, price, size, True))
                rows += len(levels)
        else:
            # The snapshot replaced a LIVE book: only the levels it changed are new
            # information (a removed level is a size-0 row), as if they came as changes.
            for side, price_text, size_text in changed:
                price, size = _floats(price_text, size_text)
                append((ts, recv_ns, venue, market, asset, side, price, size, False))
            rows = len(changed)
        self._counts[1] += rows
        top = self.books.book(asset).top()
        if self._tops.get(asset) != top:
            self._tops[asset] = top
            self._quote(top, asset, market, ts, recv_ns, event.kind)

    def _price_change(self, event: PriceChange, recv_ns: int) -> None:
        # The feed's hot path (most frames are price changes): one pass to apply the entries,
        # one to write their rows, then a quote per touched book whose top changed. float()
        # is inlined (a helper call per value costs more than the conversion).
        touched = self.books.apply_price_change(event)
        append = self._append_update
        ts, market = event.ts_ns, event.market
        changes = event.changes
        for change in changes:
            side = _BOOK_SIDES.get(change.side) or _book_side(change.side)
            try:
                price, size = float(change.price), float(change.size)
            except (ValueError, TypeError):
                price, size = _f(change.price), _f(change.size)
            append((ts, recv_ns, "clob", market, change.asset_id, side, price, size, False))
        self._counts[1] += len(changes)
        tops = self._tops
        for book in touched:
            top = book.top()
            asset = book.asset_id
            if tops.get(asset) != top:
                tops[asset] = top
                self._quote(top, asset, market, ts, recv_ns, "price_change")

    def _quote(
        self,
        top: tuple[tuple[str, str] | None, tuple[str, str] | None],
        asset: str,
        market: str,
        ts: int | None,
        recv_ns: int,
        kind: str,
    ) -> None:
        """Write a quotes row for a book's top ((price, size) of best bid and ask, or None)."""
        bid, ask = top
        nan = math.nan
        if bid is not None and ask is not None:
            try:
                best_bid, bid_size = float(bid[0]), float(bid[1])
                best_ask, ask_size = float(ask[0]), float(ask[1])
            except (ValueError, TypeError):
                best_bid, bid_size = _f(bid[0]), _f(bid[1])
                best_ask, ask_size = _f(ask[0]), _f(ask[1])
            mid, spread = (best_bid + best_ask) / 2, best_ask - best_bid
        else:
            best_bid, bid_size = _floats(bid[0], bid[1]) if bid is not None else _NAN_PAIR
            best_ask, ask_size = _floats(ask[0], ask[1]) if ask is not None else _NAN_PAIR
            mid = spread = nan
        self._append_quote(
            (
                ts,
                recv_ns,
                self.venue,
                market,
                asset,
                best_bid,
                best_ask,
                bid_size,
                ask_size,
                mid,
                spread,
                kind,
            )
        )
        self._counts[1] += 1

    def _bbo(self, event: BestBidAsk, recv_ns: int) -> None:
        bid, ask = _f(event.best_bid), _f(event.best_ask)
        both = not (math.isnan(bid) or math.isnan(ask))
        spread = _f(event.spread) if event.spread else (ask - bid if both else math.nan)
        self.tables.quotes.append_row(
            (
                event.ts_ns,
                recv_ns,
                event.venue,
                event.market,
                event.asset_id,
                bid,
                ask,
                math.nan,
                math.nan,
                (bid + ask) / 2 if both else math.nan,
                spread,
                event.kind,
            )
        )
        self._counts[1] += 1

    def _order_row(self, order: OrderUpdate | UserTrade, recv_ns: int, kind: str) -> None:
        row: tuple[object, ...]
        if isinstance(order, UserTrade):
            row = (
                order.ts_ns,
                recv_ns,
                order.venue,
                order.market,
                order.asset_id,
                "trade",
                order.taker_order_id or order.trade_id,
                order.side,
                _f(order.price),
                math.nan,
                math.nan,
                math.nan,
                order.status,
                order.trader_side,
                None,
                order.outcome,
                _f(order.price),
                _f(order.size),
                order.trade_id,
            )
        else:
            row = (
                order.ts_ns,
                recv_ns,
                order.venue,
                order.market,
                order.asset_id,
                kind,
                order.order_id,
                order.side,
                _f(order.price),
                _f(order.original_size),
                _f(order.size_matched),
                _f(order.leaves_size),
                order.status or None,
                order.update_type or None,
                order.order_type or None,
                order.outcome or None,
                _f(order.last_price),
                _f(order.last_size),
                order.trade_id or None,
            )
        self.tables.orders.append_row(row)
        self._counts[1] += 1

    def _balance(self, event: BalanceSnapshot | BalanceUpdate, recv_ns: int) -> None:
        self.account.apply(event)
        nan = math.nan
        append = self.tables.balances.append_row
        if isinstance(event, BalanceSnapshot):
            for b in event.balances:
                append(
                    (
                        b.ts_ns,
                        recv_ns,
                        event.venue,
                        event.kind,
                        b.currency,
                        _num(b.current_balance),
                        nan,
                        _num(b.buying_power),
                        _num(b.open_orders),
                        _num(b.unsettled_funds),
                        None,
                        None,
                    )
                )
            self._counts[1] += len(event.balances)
        else:
            append(
                (
                    event.ts_ns,
                    recv_ns,
                    event.venue,
                    event.kind,
                    event.currency or None,
                    _num(event.after),
                    _num(event.before),
                    nan,
                    nan,
                    nan,
                    event.entry_type or None,
                    (event.description or None) and event.description[:200],
                )
            )
            self._counts[1] += 1


def _ts_ns(text: str | None) -> int | None:
    # Book timestamps are kept as the venue's text; CLOB sends ms since the epoch.
    if text and text.isdigit():
        return int(text) * 1_000_000
    return None


def _num(value: float | None) -> float:
    return math.nan if value is None else float(value)
