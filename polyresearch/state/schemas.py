"""The normalized table schemas: one per kind of data, shared by both venues.

Each schema is what a :class:`~polyresearch.state.table.RollingTable` stores for one stream of
:mod:`polyresearch.protocol.events`. Columns are chosen so that routing an event is one cheap
``append``: every value is a scalar the event already carries (or the store knows: the receive
time, a top-of-book it tracks), in the event's own vocabulary.

Conventions shared by every table:

- ``ts_ns`` is the venue's event time and ``recv_ns`` the local receive time of the frame, both
  UTC nanoseconds since the epoch, exposed as ``Datetime("ns", "UTC")``. ``ts_ns`` is null when
  the frame carries no time. Prefer it for analysis: ``recv_ns`` lags whenever a notebook cell
  blocked the kernel loop (jupyter-notes.md §2).
- ``venue`` is ``"clob"`` or ``"us"``; ``market`` is the CLOB condition id or the US market
  slug; ``asset_id`` is the CLOB token id (77 digits) or, on US, the market slug again.
- ``kind`` (where present) is the source event's ``kind``, so rows from different event types in
  one table stay distinguishable.
- Prices, sizes and amounts are float64, converted from the venue's decimal strings. Tables are
  for analysis and charts; exact decimal books live in the order-book layer.
- Strings are dictionary-encoded ``category`` columns. Unique-per-row strings that would defeat
  the encoding (transaction hashes, book hashes, free-form stats) are left to recordings.

Tables (see each schema's :meth:`~polyresearch.state.table.Schema.describe`):

==================  ================================================  ==============================
table               one row per                                       from (events)
==================  ================================================  ==============================
``trades``          public trade                                      ``Trade``
``quotes``          change of best bid/ask                            ``BestBidAsk``, or the local
                                                                      book after a change
``book_updates``    level change (or level of a full snapshot)        ``PriceChange``,
                                                                      ``BookSnapshot``
``book_snapshots``  level of the top-N of a book, sampled every       the local books (sampler)
                    user-set interval
``orders``          order change or own fill                          ``OrderUpdate``,
                                                                      ``OrderSnapshot``,
                                                                      ``UserTrade``
``positions``       position change                                   ``PositionUpdate``
``balances``        balance (snapshot) or balance change              ``BalanceSnapshot``,
                                                                      ``BalanceUpdate``
``status``          connection / data-quality marker                  transport, books, decoders
==================  ================================================  ==============================

Example:
    >>> from polyresearch.state.schemas import make_tables
    >>> tables = make_tables(max_rows=1_000, per_table={"status": 100})
    >>> tables.status.max_rows, len(tables)
    (100, 8)
    >>> tables.status.append(ts_ns=1, venue="clob", channel="market", event="connect", count=1)
    >>> tables.status.to_polars()["event"].to_list()
    ['connect']
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from polyresearch.config import positive_int
from polyresearch.errors import ConfigError
from polyresearch.state.table import (
    DEFAULT_MAX_CATEGORIES,
    Column,
    RollingTable,
    Schema,
    TableStats,
)

__all__ = [
    "BALANCES",
    "BOOK_SNAPSHOTS",
    "BOOK_UPDATES",
    "DEFAULT_MAX_ROWS",
    "ORDERS",
    "POSITIONS",
    "QUOTES",
    "SCHEMAS",
    "STATUS",
    "STATUS_EVENTS",
    "TRADES",
    "Tables",
    "make_tables",
]


# ---------------------------------------------------------------- shared columns


_TS = Column(
    "ts_ns",
    "timestamp",
    nullable=True,
    doc="Venue event time (UTC ns); null when the frame carries none.",
)

_RECV = Column(
    "recv_ns",
    "timestamp",
    doc="Local receive time of the frame (UTC ns); late after a blocking cell.",
)
_VENUE = Column("venue", "category", doc='"clob" or "us".')
_MARKET = Column("market", "category", doc="CLOB condition id, or US market slug.")
_ASSET = Column("asset_id", "category", doc="CLOB token id (77 digits), or US market slug.")
_BOOK_SIDE = Column("side", "category", doc='Book side: "bid" or "ask".')


# ---------------------------------------------------------------- market data

TRADES: Final = Schema(
    "trades",
    (
        _TS,
        _RECV,
        _VENUE,
        _MARKET,
        _ASSET,
        Column("price", "float64", doc="Trade price (probability units, 0-1)."),
        Column("size", "float64", doc="Traded shares."),
        Column(
            "side",
            "category",
            nullable=True,
            doc='Taker (aggressor) side, "buy" or "sell"; null when the venue does not say.',
        ),
        Column(
            "kind",
            "category",
            doc='Source event: "last_trade_price" (CLOB) or "trade" (US).',
        ),
        Column(
            "fee_rate_bps",
            "float64",
            nullable=True,
            doc="CLOB fee rate in basis points; null on US.",
        ),
    ),
    doc="Public trades, one row each (Trade events).",
)

QUOTES: Final = Schema(
    "quotes",
    (
        _TS,
        _RECV,
        _VENUE,
        _MARKET,
        _ASSET,
        Column("best_bid", "float64", nullable=True, doc="Best bid; null when no bids."),
        Column("best_ask", "float64", nullable=True, doc="Best ask; null when no asks."),
        Column(
            "bid_size",
            "float64",
            nullable=True,
            doc="Shares at the best bid, when the source or the local book knows them.",
        ),
        Column(
            "ask_size",
            "float64",
            nullable=True,
            doc="Shares at the best ask, when the source or the local book knows them.",
        ),
        Column(
            "mid",
            "float64",
            nullable=True,
            doc="(best_bid + best_ask) / 2, written with the row; null unless both sides exist.",
        ),
        Column(
            "spread",
            "float64",
            nullable=True,
            doc="best_ask - best_bid (the venue's value when it sends one); null if a side "
            "is empty.",
        ),
        Column(
            "kind",
            "category",
            doc='Source: "best_bid_ask", "market_data_lite", or the book event that moved the top '
            '("price_change", "book", "market_data").',
        ),
    ),
    doc="Top-of-book changes, one row per change of best bid/ask or their sizes.",
)

BOOK_UPDATES: Final = Schema(
    "book_updates",
    (
        _TS,
        _RECV,
        _VENUE,
        _MARKET,
        _ASSET,
        _BOOK_SIDE,
        Column("price", "float64", doc="Level price."),
        Column("size", "float64", doc="New total shares at the level; 0 removes it."),
        Column(
            "is_snapshot",
            "bool",
            doc="True for the levels of a full book (BookSnapshot) that starts the asset's "
            "book (first book, or after a reconnect, resync or SUSPECT book): a run of snapshot "
            "rows for an asset resets it (tardis isSnapshot). False for incremental changes "
            "(PriceChange) and for a full book that replaces a LIVE book, which writes only "
            "the levels it changed (a removed level as size 0).",
        ),
    ),
    doc="Level changes, tardis book_change style: absolute sizes, 0 removes, snapshots flagged. "
    "49 bytes per row in the ring.",
)

BOOK_SNAPSHOTS: Final = Schema(
    "book_snapshots",
    (
        Column(
            "ts_ns",
            "timestamp",
            doc="Sampling time (local clock, UTC ns): when the top-N levels were read from the "
            "local book; every row of one sample shares it.",
        ),
        Column(
            "book_ts_ns",
            "timestamp",
            nullable=True,
            doc="Venue time of the last event applied to that book before the sample.",
        ),
        _VENUE,
        _MARKET,
        _ASSET,
        _BOOK_SIDE,
        Column("level", "int64", doc="Depth index: 0 is the best level of its side."),
        Column("price", "float64", doc="Level price."),
        Column("size", "float64", doc="Total shares at the level."),
    ),
    doc="Top-N levels of each book every user-set interval, long format: one row per "
    "(sample, asset, side, level). Long rather than wide because N stays a sampler setting "
    "(a wide table would need 4N columns fixed at creation), thin books simply have fewer rows "
    "instead of null padding, and every column keeps one dtype; pl.DataFrame.pivot turns it "
    "wide in one call when a chart wants level k as a column.",
)

# ---------------------------------------------------------------- private data

ORDERS: Final = Schema(
    "orders",
    (
        _TS,
        _RECV,
        _VENUE,
        _MARKET,
        _ASSET,
        Column(
            "kind",
            "category",
            doc='Source event: "order" (CLOB), "order_update" / "order_snapshot" (US), or '
            '"trade" for a CLOB own fill (UserTrade).',
        ),
        Column(
            "order_id",
            "category",
            doc="Order id (for a UserTrade: the taker order id). High-cardinality: the "
            "dictionary bound (max_categories) also bounds how many orders the table spans.",
        ),
        Column("side", "category", nullable=True, doc='"buy" or "sell".'),
        Column("price", "float64", nullable=True, doc="Limit price."),
        Column("original_size", "float64", nullable=True, doc="Shares ordered."),
        Column("size_matched", "float64", nullable=True, doc="Cumulative shares filled."),
        Column("leaves_size", "float64", nullable=True, doc="Shares still open (US)."),
        Column(
            "status",
            "category",
            nullable=True,
            doc="Venue status as sent: CLOB order status or US order state; for a UserTrade "
            "its trade status (MATCHED, MINED, CONFIRMED, RETRYING, FAILED).",
        ),
        Column(
            "update_type",
            "category",
            nullable=True,
            doc="CLOB PLACEMENT/UPDATE/CANCELLATION, or the US execution type.",
        ),
        Column("order_type", "category", nullable=True, doc="GTC, FOK, ... as sent."),
        Column("outcome", "category", nullable=True, doc="Outcome label (e.g. Yes/No)."),
        Column(
            "last_price",
            "float64",
            nullable=True,
            doc="Price of this execution (US last_price; UserTrade price).",
        ),
        Column(
            "last_size",
            "float64",
            nullable=True,
            doc="Shares of this execution (US last_size; UserTrade size).",
        ),
        Column("trade_id", "category", nullable=True, doc="Trade id of this execution."),
    ),
    doc="The account's order changes and own fills, one row per event.",
)

POSITIONS: Final = Schema(
    "positions",
    (
        _TS,
        _RECV,
        _VENUE,
        _MARKET,
        Column(
            "asset_id",
            "category",
            nullable=True,
            doc="Asset, when the source names one (US positions are per market).",
        ),
        Column(
            "net_position",
            "float64",
            nullable=True,
            doc="Net shares after the change; null when the venue omits it (closed).",
        ),
        Column("cost", "float64", nullable=True, doc="Position cost after the change."),
        Column("realized", "float64", nullable=True, doc="Realized PnL after the change."),
        Column("avg_price", "float64", nullable=True, doc="Average entry price."),
        Column("entry_type", "category", nullable=True, doc="US entry type, as sent."),
        Column("trade_id", "category", nullable=True, doc="Trade that changed the position."),
    ),
    doc="Position changes (PositionUpdate), one row each.",
)

BALANCES: Final = Schema(
    "balances",
    (
        _TS,
        _RECV,
        _VENUE,
        Column(
            "kind",
            "category",
            doc='"account_balance_snapshot" (one row per currency) or "account_balance_update".',
        ),
        Column("currency", "category", nullable=True, doc="Currency, when the venue names it."),
        Column(
            "current_balance",
            "float64",
            nullable=True,
            doc="Balance now (snapshot), or after the change (update).",
        ),
        Column(
            "previous_balance",
            "float64",
            nullable=True,
            doc="Balance before the change (updates only).",
        ),
        Column("buying_power", "float64", nullable=True, doc="Buying power (snapshots)."),
        Column("open_orders", "float64", nullable=True, doc="Held by open orders (snapshots)."),
        Column(
            "unsettled_funds",
            "float64",
            nullable=True,
            doc="Funds not yet settled (snapshots).",
        ),
        Column("entry_type", "category", nullable=True, doc="US entry type of a change."),
        Column("description", "category", nullable=True, doc="US description of a change."),
    ),
    doc="Account balances: snapshots and changes (BalanceSnapshot, BalanceUpdate).",
)

# ---------------------------------------------------------------- status markers

#: The status ``event`` values the library writes (the column accepts others).
STATUS_EVENTS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "connect": "a connection (re)opened and its subscriptions were sent",
        "disconnect": "a connection closed; detail has the close code or error",
        "subscribe": "assets were added to a live connection",
        "unsubscribe": "assets were removed from a live connection",
        "resync": "a book was reset from a fresh snapshot (after a gap, hash or crossed check)",
        "stale": "no data or heartbeat for longer than the stale limit",
        "gap": "a sequence or hash check failed; data between the markers is suspect",
        "drop": "frames were dropped by a decoder; detail is the drop reason",
        "error": "the venue reported an error (VenueError); detail has its message",
    }
)

STATUS: Final = Schema(
    "status",
    (
        Column(
            "ts_ns",
            "timestamp",
            doc="When it happened (local clock, UTC ns; status rows are local observations).",
        ),
        _VENUE,
        Column(
            "channel",
            "category",
            doc='Channel: "market"/"user" (CLOB), "markets"/"private" (US).',
        ),
        Column(
            "asset_id",
            "category",
            nullable=True,
            doc="The asset concerned; null for connection-wide events.",
        ),
        Column(
            "event",
            "category",
            doc="What happened: " + ", ".join(STATUS_EVENTS) + " (see STATUS_EVENTS).",
        ),
        Column(
            "detail",
            "category",
            nullable=True,
            doc="Reason or detail: drop reason, close code, error message (bounded by "
            "max_categories like any category).",
        ),
        Column(
            "count",
            "int64",
            doc="How many things the row stands for (frames dropped, assets subscribed); 1 for a "
            "single occurrence.",
        ),
    ),
    doc="Connection and data-quality markers (tardis-style disconnect/resync rows), so a "
    "chart or analysis can see where data is missing or suspect.",
)

#: Every schema by table name, in the order of :class:`Tables`.
SCHEMAS: Final[Mapping[str, Schema]] = MappingProxyType(
    {
        schema.name: schema
        for schema in (
            TRADES,
            QUOTES,
            BOOK_UPDATES,
            BOOK_SNAPSHOTS,
            ORDERS,
            POSITIONS,
            BALANCES,
            STATUS,
        )
    }
)

#: Default row bound per table: the high-rate market tables keep a million rows (about 49 MB
#: for book_updates; pages are only touched as rows arrive), the account and status tables less.
DEFAULT_MAX_ROWS: Final[Mapping[str, int]] = MappingProxyType(
    {
        "trades": 1_000_000,
        "quotes": 1_000_000,
        "book_updates": 1_000_000,
        "book_snapshots": 1_000_000,
        "orders": 100_000,
        "positions": 100_000,
        "balances": 100_000,
        "status": 100_000,
    }
)


# ---------------------------------------------------------------- the container


@dataclass(frozen=True, slots=True, eq=False)
class Tables(Mapping[str, RollingTable]):
    """One :class:`RollingTable` per schema, as attributes and as a read-only mapping.

    Build it with :func:`make_tables`.

    Example:
        >>> tables = make_tables(max_rows=10)
        >>> tables["trades"] is tables.trades, list(tables)[:2]
        (True, ['trades', 'quotes'])
    """

    trades: RollingTable
    quotes: RollingTable
    book_updates: RollingTable
    book_snapshots: RollingTable
    orders: RollingTable
    positions: RollingTable
    balances: RollingTable
    status: RollingTable

    def __getitem__(self, name: str) -> RollingTable:
        if name not in SCHEMAS:
            raise KeyError(name)
        table: RollingTable = getattr(self, name)
        return table

    def __iter__(self) -> Iterator[str]:
        return iter(SCHEMAS)

    def __len__(self) -> int:
        return len(SCHEMAS)

    def stats(self) -> dict[str, TableStats]:
        """Every table's :meth:`~RollingTable.stats`, by name."""
        return {name: table.stats() for name, table in self.items()}

    def clear(self) -> None:
        """Clear every table (counted in each table's ``rows_cleared``)."""
        for table in self.values():
            table.clear()


def make_tables(
    *,
    max_rows: int | None = None,
    per_table: Mapping[str, int] | None = None,
    max_categories: int = DEFAULT_MAX_CATEGORIES,
) -> Tables:
    """Create one empty :class:`RollingTable` per schema.

    Args:
        max_rows: row bound for every table; ``None`` uses :data:`DEFAULT_MAX_ROWS`.
        per_table: row bounds for some tables by name, overriding ``max_rows``.
        max_categories: dictionary bound of every category column.

    Raises:
        ConfigError: a bound that is not a positive int, or an unknown table name.

    Example:
        >>> t = make_tables(per_table={"orders": 500})
        >>> t.orders.max_rows, t.trades.max_rows
        (500, 1000000)
    """
    overrides = dict(per_table or {})
    unknown = sorted(set(overrides) - set(SCHEMAS))
    if unknown:
        raise ConfigError(f"unknown tables {unknown}; tables: {list(SCHEMAS)}")
    if max_rows is not None:
        positive_int(max_rows, "max_rows")
    built: dict[str, RollingTable] = {}
    for name, schema in SCHEMAS.items():
        rows = overrides.get(name, DEFAULT_MAX_ROWS[name] if max_rows is None else max_rows)
        built[name] = RollingTable(
            schema,
            max_rows=positive_int(
                rows, f"per_table[{name!r}]" if name in overrides else "max_rows"
            ),
            max_categories=max_categories,
        )
    return Tables(**built)
