"""MarketStore: book_updates rows are enough to rebuild every local book, quotes follow the top."""

from __future__ import annotations

import random

import msgspec
import pytest

from polyresearch.protocol.events import BookSnapshot, Level, LevelChange, PriceChange, Trade
from polyresearch.state.books import BookSet
from polyresearch.state.orderbook import BookStatus
from polyresearch.state.schemas import make_tables
from polyresearch.state.store import MarketStore

MARKET = "0xm"
TOKENS = ("yes", "no")


def _store() -> MarketStore:
    return MarketStore("clob", "market", tables=make_tables(max_rows=100_000), books=BookSet())


def _snapshot(asset: str, bids: dict[int, str], asks: dict[int, str], ts: int) -> BookSnapshot:
    # Worst-first as the venue sends them is the decoder's business; events are best-first.
    return BookSnapshot(
        kind="book",
        venue="clob",
        market=MARKET,
        asset_id=asset,
        bids=tuple(Level(f"0.{c:02d}", s) for c, s in sorted(bids.items(), reverse=True)),
        asks=tuple(Level(f"0.{c:02d}", s) for c, s in sorted(asks.items())),
        ts_ns=ts,
        timestamp=str(ts),
    )


def _rebuild(store: MarketStore) -> dict[str, dict[str, dict[float, float]]]:
    """Replay the book_updates table: a run of snapshot rows resets the asset's book."""
    frame = store.tables.book_updates.to_polars()
    books: dict[str, dict[str, dict[float, float]]] = {}
    previous_snapshot: dict[str, bool] = {}
    for row in frame.iter_rows(named=True):
        asset = row["asset_id"]
        if row["is_snapshot"] and not previous_snapshot.get(asset, False):
            books[asset] = {"bid": {}, "ask": {}}
        previous_snapshot[asset] = row["is_snapshot"]
        side = books.setdefault(asset, {"bid": {}, "ask": {}})[row["side"]]
        if row["size"] == 0:
            side.pop(row["price"], None)
        else:
            side[row["price"]] = row["size"]
    return books


def _local(store: MarketStore, asset: str) -> dict[str, dict[float, float]]:
    book = store.book(asset)
    return {
        side: {float(p): float(s) for p, s in book.levels(side)}  # type: ignore[arg-type]
        for side in ("bid", "ask")
    }


def test_book_replacing_a_live_book_writes_only_changed_levels() -> None:
    """First book: every level, flagged; a later book: its changes and removals, unflagged."""
    store = _store()
    store.apply(_snapshot("yes", {48: "10", 47: "5"}, {52: "7"}, 1), recv_ns=1)
    store.apply(_snapshot("yes", {48: "12", 46: "1"}, {52: "7"}, 2), recv_ns=2)
    rows = store.tables.book_updates.to_polars()
    assert rows.select("side", "price", "size", "is_snapshot").rows() == [
        ("bid", 0.48, 10.0, True),
        ("bid", 0.47, 5.0, True),
        ("ask", 0.52, 7.0, True),
        ("bid", 0.48, 12.0, False),
        ("bid", 0.46, 1.0, False),
        ("bid", 0.47, 0.0, False),
    ]
    assert store.stats().rows_appended == 6 + len(store.tables.quotes)
    # The top changed (bid size 10 -> 12): two quotes, the second with the new size.
    assert store.tables.quotes.to_polars()["bid_size"].to_list() == [10.0, 12.0]


def test_book_on_a_suspect_book_is_written_whole() -> None:
    """After a BBO mismatch the table's copy may be wrong too: the next book resets it."""
    store = _store()
    store.apply(_snapshot("yes", {48: "10"}, {52: "7"}, 1), recv_ns=1)
    change = LevelChange(asset_id="yes", side="BUY", price="0.40", size="1", best_bid="0.45")
    store.apply(
        PriceChange(kind="price_change", venue="clob", market=MARKET, changes=(change,)),
        recv_ns=2,
    )
    assert store.book("yes").status is BookStatus.SUSPECT
    store.apply(_snapshot("yes", {48: "10"}, {52: "7"}, 3), recv_ns=3)
    flags = store.tables.book_updates.to_polars()["is_snapshot"].to_list()
    assert flags == [True, True, False, True, True]


def test_rows_rebuild_the_local_books_over_a_random_stream() -> None:
    """Books, changes, trades in random order: the table's rows always rebuild the books."""
    rng = random.Random(3)
    store = _store()
    for asset in TOKENS:
        store.apply(_snapshot(asset, {40: "1"}, {60: "1"}, 0), recv_ns=0)
    ts = changes = books = 0
    for _ in range(600):
        ts += 1
        asset = rng.choice(TOKENS)
        if rng.random() < 0.15:
            books += 1
            mid = rng.randrange(20, 80)
            bids = {c: str(rng.randrange(1, 50)) for c in rng.sample(range(1, mid), 4)}
            asks = {c: str(rng.randrange(1, 50)) for c in rng.sample(range(mid + 1, 99), 4)}
            store.apply(_snapshot(asset, bids, asks, ts), recv_ns=ts)
        elif rng.random() < 0.1:
            trade = Trade(
                kind="last_trade_price",
                venue="clob",
                market=MARKET,
                asset_id=asset,
                price="0.5",
                size="3",
                side="buy",
            )
            store.apply(trade, recv_ns=ts)
        else:
            book = store.book(asset)
            side = rng.choice(("BUY", "SELL"))
            levels = book.levels("bid" if side == "BUY" else "ask")
            cents = rng.randrange(1, 99)
            if levels and rng.random() < 0.4:
                cents = round(float(rng.choice(levels)[0]) * 100)
            change = LevelChange(
                asset_id=asset,
                side=side,  # type: ignore[arg-type]
                price=f"0.{cents:02d}",
                size=rng.choice(("0", str(rng.randrange(1, 50)))),
            )
            message = PriceChange(
                kind="price_change", venue="clob", market=MARKET, changes=(change,), ts_ns=ts
            )
            store.apply(message, recv_ns=ts)
            changes += 1
    rebuilt = _rebuild(store)
    for asset in TOKENS:
        assert rebuilt[asset] == _local(store, asset)
    assert store.books.stats().snapshots == books + 2
    assert store.books.stats().changes_applied == changes


def test_account_fills_count_trades_not_their_settlement_updates(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The CLOB re-sends a trade on every status change: 3 trades x 4 statuses are 3 fills."""
    from polyresearch.protocol.events import UserTrade
    from polyresearch.state.store import AccountState

    def trade(trade_id: str, status: str) -> UserTrade:
        return UserTrade(
            kind="trade",
            venue="clob",
            trade_id=trade_id,
            market="0xm",
            asset_id="tok",
            side="buy",
            price="0.5",
            size="10",
            status=status,
        )

    account = AccountState()
    for status in ("MATCHED", "MINED", "CONFIRMED"):
        for trade_id in ("t1", "t2", "t3"):
            account.apply(trade(trade_id, status))
    account.apply(trade("t2", "RETRYING"))
    assert (account.fills, account.fill_updates) == (3, 7)
    # Bounded memory: the oldest ids are forgotten past the limit, and counting goes on.
    monkeypatch.setattr(AccountState, "MAX_TRADE_IDS", 2)
    small = AccountState()
    for trade_id in ("a", "b", "c", "c", "b"):
        small.apply(trade(trade_id, "MATCHED"))
    assert (small.fills, small.fill_updates, len(small._trade_ids)) == (3, 2, 2)


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        ("price", "not a decimal price: '0.5.5'"),
        ("best_bid", "not a decimal price: 'high'"),
        ("book", "price '0.123456789' has more than 8 decimals"),
    ],
)
def test_a_value_the_books_cannot_hold_is_a_counted_drop_and_a_resync(bad: str, why: str) -> None:
    """Price text the decoder passes through but no book can key: no exception out of apply()
    (a replay would die of it), a counted 'drop' status row, and the book resyncs."""
    store = _store()
    store.apply(_snapshot("yes", {40: "5"}, {60: "5"}, 1), recv_ns=1)
    if bad == "book":
        event: BookSnapshot | PriceChange = msgspec.structs.replace(
            _snapshot("yes", {40: "5"}, {60: "5"}, 2),
            bids=(Level("0.123456789", "1"), Level("0.40", "5")),
        )
    else:
        change = LevelChange(asset_id="yes", price="0.41", size="2", side="BUY", best_bid="0.41")
        change = msgspec.structs.replace(change, **{bad: "0.5.5" if bad == "price" else "high"})
        event = PriceChange(kind="price_change", market=MARKET, changes=(change,), ts_ns=2)
    store.apply(event, recv_ns=2, channel="market")
    assert store.stats().drops_recorded == 1
    status = store.tables.status.to_polars()
    assert status["event"].cast(str).to_list() == ["drop"]
    assert status["detail"].to_list() == [f"bad_value: {why}"]
    assert store.books.book("yes").status is BookStatus.SUSPECT
    assert store.books.take_resyncs() == {"yes"}
    # The stream goes on: the fresh snapshot makes the book LIVE again.
    store.apply(_snapshot("yes", {40: "5"}, {60: "5"}, 3), recv_ns=3)
    assert store.books.book("yes").status is BookStatus.LIVE
