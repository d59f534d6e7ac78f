"""The normalized table schemas, the Tables container and make_tables()."""

from __future__ import annotations

import dataclasses
import doctest

import polars as pl
import pytest

import polyresearch.state.schemas as schemas_module
from polyresearch.errors import ConfigError
from polyresearch.protocol.events import (
    Balance,
    BalanceSnapshot,
    BalanceUpdate,
    BestBidAsk,
    BookSnapshot,
    Level,
    LevelChange,
    OrderUpdate,
    PositionUpdate,
    PriceChange,
    Trade,
    UserTrade,
)
from polyresearch.state.schemas import (
    BOOK_UPDATES,
    DEFAULT_MAX_ROWS,
    SCHEMAS,
    STATUS_EVENTS,
    Tables,
    make_tables,
)
from polyresearch.state.table import RollingTable

RECV = 1_700_000_000_500_000_000
TOKEN = "7" * 77
MARKET = "0x" + "ab" * 32


def _f(text: str | None) -> float | None:
    return None if text is None else float(text)


# ---------------------------------------------------------------- schema shape


def test_every_column_and_table_is_documented() -> None:
    """Each schema and each of its columns carries a docstring."""
    for schema in SCHEMAS.values():
        assert schema.doc, schema.name
        for column in schema.columns:
            assert column.doc, (schema.name, column.name)
        assert all(name in schema.describe() for name in schema.names)


def test_shared_columns_agree_across_tables() -> None:
    """Same-named columns have one kind everywhere, and identity columns are never null."""
    kinds: dict[str, str] = {}
    for schema in SCHEMAS.values():
        for column in schema.columns:
            assert kinds.setdefault(column.name, column.kind) == column.kind, (
                schema.name,
                column.name,
            )
        assert schema.names[0] == "ts_ns"
        assert schema.column("ts_ns").kind == "timestamp"
        for name in ("recv_ns", "venue", "market"):
            if name in schema.names:
                assert not schema.column(name).nullable, (schema.name, name)


def test_core_market_schemas_are_pinned() -> None:
    """The market tables keep the column order analysis code relies on."""
    assert SCHEMAS["trades"].names == (
        "ts_ns",
        "recv_ns",
        "venue",
        "market",
        "asset_id",
        "price",
        "size",
        "side",
        "kind",
        "fee_rate_bps",
    )
    assert SCHEMAS["quotes"].names[5:11] == (
        "best_bid",
        "best_ask",
        "bid_size",
        "ask_size",
        "mid",
        "spread",
    )
    assert BOOK_UPDATES.names == (
        "ts_ns",
        "recv_ns",
        "venue",
        "market",
        "asset_id",
        "side",
        "price",
        "size",
        "is_snapshot",
    )
    assert SCHEMAS["book_snapshots"].names[-4:] == ("side", "level", "price", "size")


def test_book_updates_fit_the_memory_goal() -> None:
    """book_updates stores 49 bytes per row in the ring (goal: <= 64, performance-notes Q5)."""
    assert BOOK_UPDATES.row_bytes == 49
    assert "49 bytes" in BOOK_UPDATES.doc


def test_status_events_cover_the_tardis_style_markers() -> None:
    """The documented status events include the connection and data-quality markers."""
    assert {"connect", "disconnect", "resync", "stale", "drop", "gap"} <= set(STATUS_EVENTS)
    assert SCHEMAS["status"].column("asset_id").nullable
    assert not SCHEMAS["status"].column("count").nullable


# ---------------------------------------------------------------- make_tables and Tables


def test_make_tables_uses_the_default_bounds() -> None:
    """Without arguments every table gets its DEFAULT_MAX_ROWS bound and its schema."""
    tables = make_tables()
    assert {name: t.max_rows for name, t in tables.items()} == dict(DEFAULT_MAX_ROWS)
    assert all(tables[name].schema is SCHEMAS[name] for name in SCHEMAS)


def test_make_tables_overrides() -> None:
    """max_rows sets every table; per_table overrides single ones; max_categories passes on."""
    tables = make_tables(max_rows=50, per_table={"status": 7, "orders": 9}, max_categories=11)
    bounds = {name: t.max_rows for name, t in tables.items()}
    assert bounds == {**dict.fromkeys(SCHEMAS, 50), "status": 7, "orders": 9}
    assert {t.max_categories for t in tables.values()} == {11}


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"per_table": {"tradez": 5}}, "tradez"),
        ({"max_rows": 0}, "max_rows"),
        ({"per_table": {"trades": -1}}, "trades"),
        ({"per_table": {"trades": True}}, "trades"),
        ({"max_categories": 0}, "max_categories"),
    ],
)
def test_make_tables_validates(kwargs: dict[str, object], match: str) -> None:
    """Unknown table names and non-positive bounds raise ConfigError naming them."""
    with pytest.raises(ConfigError, match=match):
        make_tables(**kwargs)  # type: ignore[arg-type]


def test_tables_is_a_read_only_mapping_with_attributes() -> None:
    """Tables maps names to tables in SCHEMAS order, also as attributes, and is frozen."""
    tables = make_tables(max_rows=5)
    assert [f.name for f in dataclasses.fields(Tables)] == list(SCHEMAS)
    assert list(tables) == list(SCHEMAS) and len(tables) == 8
    assert tables["quotes"] is tables.quotes
    assert isinstance(tables.trades, RollingTable)
    with pytest.raises(KeyError):
        tables["nope"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        tables.trades = tables.quotes  # type: ignore[misc]


def test_tables_stats_and_clear() -> None:
    """stats() reports every table; clear() empties them all and counts the rows."""
    tables = make_tables(max_rows=5)
    tables.status.append(ts_ns=RECV, venue="clob", channel="market", event="connect", count=1)
    assert tables.stats()["status"].rows == 1
    assert set(tables.stats()) == set(SCHEMAS)
    tables.clear()
    assert tables.stats()["status"].rows_cleared == 1
    assert all(len(t) == 0 for t in tables.values())


def test_docstring_examples_run() -> None:
    """The examples in the module's docstrings are correct."""
    failures, tried = doctest.testmod(schemas_module, raise_on_error=False)
    assert tried >= 5
    assert failures == 0


# ---------------------------------------------------------------- routing events is an append


def test_trade_events_route_with_scalar_appends() -> None:
    """A protocol Trade becomes one trades row from its own fields."""
    trades = make_tables(max_rows=10).trades
    event = Trade(
        kind="last_trade_price",
        venue="clob",
        market=MARKET,
        asset_id=TOKEN,
        price="0.48",
        size="12.5",
        side="buy",
        ts_ns=RECV - 1,
        fee_rate_bps="0",
    )
    trades.append(
        ts_ns=event.ts_ns,
        recv_ns=RECV,
        venue=event.venue,
        market=event.market,
        asset_id=event.asset_id,
        price=float(event.price),
        size=float(event.size),
        side=event.side,
        kind=event.kind,
        fee_rate_bps=_f(event.fee_rate_bps),
    )
    row = trades.to_polars().row(0, named=True)
    assert (row["asset_id"], row["price"], row["side"], row["fee_rate_bps"]) == (
        TOKEN,
        0.48,
        "buy",
        0.0,
    )


def test_book_events_route_with_scalar_appends() -> None:
    """BookSnapshot levels and PriceChange entries become book_updates rows, plus quotes."""
    tables = make_tables(max_rows=20)
    book = BookSnapshot(
        kind="book",
        venue="clob",
        market=MARKET,
        asset_id=TOKEN,
        bids=(Level("0.48", "10"), Level("0.47", "5")),
        asks=(Level("0.52", "7"),),
        ts_ns=RECV - 5,
    )
    for side, levels in (("bid", book.bids), ("ask", book.asks)):
        for level in levels:
            tables.book_updates.append_row(
                (
                    book.ts_ns,
                    RECV,
                    book.venue,
                    book.market,
                    book.asset_id,
                    side,
                    float(level.price),
                    float(level.size),
                    True,
                )
            )
    change = PriceChange(
        kind="price_change",
        venue="clob",
        market=MARKET,
        changes=(LevelChange(asset_id=TOKEN, side="BUY", price="0.48", size="0", best_bid="0.47"),),
        ts_ns=None,
    )
    for entry in change.changes:
        tables.book_updates.append(
            ts_ns=change.ts_ns,
            recv_ns=RECV,
            venue=change.venue,
            market=change.market,
            asset_id=entry.asset_id,
            side=entry.side,
            price=float(entry.price),
            size=float(entry.size),
            is_snapshot=False,
        )
    bba = BestBidAsk(
        kind="best_bid_ask", venue="clob", market=MARKET, asset_id=TOKEN, best_bid="0.47"
    )
    bid, ask = _f(bba.best_bid), _f(bba.best_ask)
    tables.quotes.append(
        ts_ns=bba.ts_ns,
        recv_ns=RECV,
        venue=bba.venue,
        market=bba.market,
        asset_id=bba.asset_id,
        best_bid=bid,
        best_ask=ask,
        kind=bba.kind,
    )
    updates = tables.book_updates.to_polars()
    assert updates["is_snapshot"].to_list() == [True, True, True, False]
    assert updates["size"].to_list() == [10.0, 5.0, 7.0, 0.0]
    assert updates["ts_ns"].null_count() == 1
    quote = tables.quotes.to_polars().row(0, named=True)
    assert (quote["best_bid"], quote["best_ask"], quote["mid"]) == (0.47, None, None)


def test_private_events_route_with_scalar_appends() -> None:
    """Order updates, own fills, positions and balances each become rows of their tables."""
    tables = make_tables(max_rows=10)
    order = OrderUpdate(
        kind="order",
        venue="clob",
        order_id="0xorder",
        market=MARKET,
        asset_id=TOKEN,
        side="buy",
        price="0.5",
        original_size="10",
        size_matched="0",
        status="LIVE",
        update_type="PLACEMENT",
    )
    fill = UserTrade(
        kind="trade",
        venue="clob",
        trade_id="t-1",
        market=MARKET,
        asset_id=TOKEN,
        side="buy",
        price="0.5",
        size="4",
        status="MATCHED",
        taker_order_id="0xorder",
    )
    tables.orders.append(
        ts_ns=order.ts_ns,
        recv_ns=RECV,
        venue=order.venue,
        market=order.market,
        asset_id=order.asset_id,
        kind=order.kind,
        order_id=order.order_id,
        side=order.side,
        price=_f(order.price),
        original_size=_f(order.original_size),
        size_matched=_f(order.size_matched),
        status=order.status,
        update_type=order.update_type,
    )
    tables.orders.append(
        ts_ns=fill.ts_ns,
        recv_ns=RECV,
        venue=fill.venue,
        market=fill.market,
        asset_id=fill.asset_id,
        kind=fill.kind,
        order_id=fill.taker_order_id,
        side=fill.side,
        status=fill.status,
        last_price=float(fill.price),
        last_size=float(fill.size),
        trade_id=fill.trade_id,
    )
    position = PositionUpdate(kind="position_update", venue="us", market="slug", cost="4.2")
    tables.positions.append(
        ts_ns=position.ts_ns,
        recv_ns=RECV,
        venue=position.venue,
        market=position.market,
        cost=_f(position.cost),
    )
    snapshot = BalanceSnapshot(
        kind="account_balance_snapshot",
        venue="us",
        balances=(Balance(currency="USD", current_balance=100.0, buying_power=90.0),),
    )
    update = BalanceUpdate(kind="account_balance_update", venue="us", before=100.0, after=95.5)
    for balance in snapshot.balances:
        tables.balances.append(
            ts_ns=balance.ts_ns,
            recv_ns=RECV,
            venue=snapshot.venue,
            kind=snapshot.kind,
            currency=balance.currency,
            current_balance=balance.current_balance,
            buying_power=balance.buying_power,
        )
    tables.balances.append(
        ts_ns=update.ts_ns,
        recv_ns=RECV,
        venue=update.venue,
        kind=update.kind,
        currency=update.currency,
        current_balance=update.after,
        previous_balance=update.before,
    )
    orders = tables.orders.to_polars()
    assert orders["order_id"].to_list() == ["0xorder", "0xorder"]
    assert orders.select("kind", "status", "last_size").rows() == [
        ("order", "LIVE", None),
        ("trade", "MATCHED", 4.0),
    ]
    assert tables.positions.to_polars()["cost"].to_list() == [4.2]
    balances = tables.balances.to_polars()
    assert balances.select("current_balance", "previous_balance").rows() == [
        (100.0, None),
        (95.5, 100.0),
    ]
    assert balances.schema["currency"] == pl.Categorical()
