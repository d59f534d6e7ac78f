"""BookSet: routing, hash verification with the LTP fallbacks, resync requests, terminal books."""

from __future__ import annotations

from polyresearch.protocol.clob_hash import book_hash
from polyresearch.protocol.events import (
    BookSnapshot,
    Level,
    LevelChange,
    MarketResolved,
    PriceChange,
    TickSizeChange,
    Trade,
)
from polyresearch.state.books import BookSet, MarketParams
from polyresearch.state.orderbook import BookStatus

# The worked example of protocol-clob.md §4.2 (hashes reproduced there with these parameters).
MARKET = "0x5f65177b394277fd294cd75650044e32ba009a95022d88a0c1d565897d72f8f1"
YES = "71321045679252212594626385532706912750332728571942532289631379312455583992563"
NO = "52114319501245915516055106046884209969926127482827954674443846427813813222426"
PARAMS = MarketParams(min_order_size="20", neg_risk=False, token_ids=(YES, NO))


def _empty_book(asset: str, tick: str = "0.001") -> BookSnapshot:
    return BookSnapshot(kind="book", venue="clob", market=MARKET, asset_id=asset, tick_size=tick)


def _doc_price_change(hash_yes: str = "56621a121a47ed9333273e21c83b660cff37ae50") -> PriceChange:
    return PriceChange(
        kind="price_change",
        venue="clob",
        market=MARKET,
        timestamp="1757908892351",
        changes=(
            LevelChange(
                asset_id=YES,
                side="BUY",
                price="0.5",
                size="200",
                hash=hash_yes,
                best_bid="0.5",
                best_ask="1",
            ),
            LevelChange(
                asset_id=NO,
                side="SELL",
                price="0.5",
                size="200",
                hash="1895759e4df7a796bf4f1c5a5950b748306923e2",
                best_bid="0",
                best_ask="0.5",
            ),
        ),
    )


def test_doc_example_hashes_verify() -> None:
    """Both entries of the spec's price_change verify against our rebuilt books."""
    books = BookSet(params={YES: PARAMS, NO: PARAMS}, hash_every=1)
    books.apply(_empty_book(YES))
    books.apply(_empty_book(NO))
    books.apply(_doc_price_change())
    stats = books.stats()
    assert (stats.hashes_verified, stats.hashes_unverified) == (2, 0)
    assert stats.bbo_mismatches == 0
    assert books[YES].best_bid() == ("0.5", "200")
    assert books[NO].best_ask() == ("0.5", "200")


def test_without_params_hashes_are_unverifiable_not_failures() -> None:
    """Missing min_order_size/neg_risk: hashes are counted unverifiable; the book stays LIVE."""
    books = BookSet(hash_every=1)
    books.apply(_empty_book(YES))
    books.apply(_empty_book(NO))
    books.apply(_doc_price_change())
    stats = books.stats()
    assert stats.hashes_unverifiable == 2 and stats.hashes_unverified == 0
    assert books[YES].status is BookStatus.LIVE


def test_repeated_hash_misses_make_suspect_and_request_resync() -> None:
    """suspect_after consecutive misses → SUSPECT and a resync request; snapshot heals."""
    books = BookSet(params={YES: PARAMS, NO: PARAMS}, hash_every=1, suspect_after=2)
    books.apply(_empty_book(YES))
    books.apply(_empty_book(NO))
    books.apply(_doc_price_change(hash_yes="0" * 40))
    assert books[YES].status is BookStatus.LIVE
    books.apply(_doc_price_change(hash_yes="0" * 40))
    assert books[YES].status is BookStatus.SUSPECT
    assert books.take_resyncs() == {YES}
    assert books[YES].status is BookStatus.EMPTY
    assert books.take_resyncs() == set()
    books.apply(_empty_book(YES))
    assert books[YES].status is BookStatus.LIVE
    assert books.stats().resyncs_requested == 1


def test_bbo_mismatch_requests_resync() -> None:
    """A skipped delta shows up as a BBO mismatch on the next entry and asks for a resync."""
    books = BookSet()
    books.apply(_empty_book(YES))
    books.apply(
        PriceChange(
            kind="price_change",
            venue="clob",
            market=MARKET,
            timestamp="1",
            changes=(
                LevelChange(
                    asset_id=YES, side="BUY", price="0.4", size="1", best_bid="0.45", best_ask="1"
                ),
            ),
        )
    )
    assert books.take_resyncs() == {YES}
    assert books.stats().bbo_mismatches == 1


def test_hash_sampling_counts_skipped_checks() -> None:
    """With hash_every=4, three of four delta messages per asset are skipped and counted."""
    books = BookSet(params={YES: PARAMS, NO: PARAMS}, hash_every=4)
    books.apply(_empty_book(YES))
    books.apply(_empty_book(NO))
    for _ in range(4):
        books.apply(_doc_price_change())
    stats = books.stats()
    assert stats.hashes_skipped == 6
    assert stats.hashes_verified == 2


def test_books_replacing_live_books_are_hash_checked_on_the_schedule() -> None:
    """A book's first snapshot is always checked; later ones count as deltas (hash_every)."""
    from polyresearch.protocol.clob_hash import book_hash_best_first

    books = BookSet(params={YES: PARAMS, NO: PARAMS}, hash_every=3)
    bids = (Level("0.5", "200"),)
    for i in range(7):
        digest = book_hash_best_first(
            market=MARKET,
            asset_id=YES,
            timestamp=str(i),
            bids=bids,
            asks=(),
            min_order_size=PARAMS.min_order_size,
            tick_size="0.001",
            neg_risk=False,
            last_trade_price="",
        )
        snapshot = BookSnapshot(
            kind="book",
            venue="clob",
            market=MARKET,
            asset_id=YES,
            bids=bids,
            tick_size="0.001",
            timestamp=str(i),
            hash=digest,
        )
        books.apply(snapshot)
    stats = books.stats()
    # Checked: the first, then one in three of the six that replaced a LIVE book.
    assert (stats.hashes_verified, stats.hashes_skipped, stats.hashes_unverified) == (3, 4, 0)
    books.invalidate_all()  # a reconnect: the next book is a first book again
    books.apply(snapshot)
    assert books.stats().hashes_verified == 4


def test_ltp_fallback_to_sibling_and_trade_price() -> None:
    """A hash computed with a last trade price we have not seen yet is found and adopted."""
    books = BookSet(params={YES: PARAMS, NO: PARAMS}, hash_every=1)
    books.apply(_empty_book(YES))
    books.apply(_empty_book(NO))
    books.apply(
        Trade(
            kind="last_trade_price",
            venue="clob",
            market=MARKET,
            asset_id=NO,
            price="0.490",
            size="5",
        )
    )
    expected = book_hash(
        market=MARKET,
        asset_id=YES,
        timestamp="7",
        bids=[("0.5", "200")],
        asks=[],
        min_order_size="20",
        tick_size="0.001",
        neg_risk=False,
        last_trade_price="0.490",
    )
    books.apply(
        PriceChange(
            kind="price_change",
            venue="clob",
            market=MARKET,
            timestamp="7",
            changes=(
                LevelChange(
                    asset_id=YES,
                    side="BUY",
                    price="0.5",
                    size="200",
                    hash=expected,
                    best_bid="0.5",
                    best_ask="1",
                ),
            ),
        )
    )
    assert books.stats().hashes_verified == 1
    assert books[YES].last_trade_price == "0.490"


def test_market_resolved_terminates_both_tokens_and_tick_change_keeps_levels() -> None:
    """tick_size_change keeps levels; market_resolved makes both tokens TERMINAL."""
    books = BookSet()
    books.apply(
        BookSnapshot(
            kind="book",
            venue="clob",
            market=MARKET,
            asset_id=YES,
            bids=(Level("0.97", "3"),),
            tick_size="0.01",
        )
    )
    books.apply(_empty_book(NO))
    books.apply(
        TickSizeChange(
            kind="tick_size_change",
            venue="clob",
            market=MARKET,
            asset_id=YES,
            old_tick_size="0.01",
            new_tick_size="0.001",
        )
    )
    assert books[YES].tick_size == "0.001"
    assert books[YES].best_bid() == ("0.97", "3")
    books.apply(
        MarketResolved(
            kind="market_resolved",
            venue="clob",
            market=MARKET,
            market_id="1",
            asset_ids=(YES,),
            winning_asset_id=YES,
            winning_outcome="Yes",
        )
    )
    assert books[YES].status is BookStatus.TERMINAL
    assert books[NO].status is BookStatus.TERMINAL
    assert books.stats().terminal == 2


def test_invalidate_all_drops_deltas_until_snapshot() -> None:
    """After a reconnect every book is EMPTY and deltas are dropped and counted."""
    books = BookSet()
    books.apply(_empty_book(YES))
    books.invalidate_all()
    books.apply(_doc_price_change())
    stats = books.stats()
    assert stats.changes_dropped_empty == 2
    assert stats.empty == 2


def test_take_gapped_names_only_books_that_dropped_deltas() -> None:
    """The feed's gap marking reads this set instead of walking every book."""
    books = BookSet()
    books.apply(_empty_book(YES))
    books.apply(_empty_book("other"))
    assert books.take_gapped() == set()
    books.invalidate_all()
    books.apply(_doc_price_change())  # entries for YES and NO, both EMPTY now
    assert books.take_gapped() == {YES, NO}
    assert books.take_gapped() == set()  # taken: reported once
    books.apply(_empty_book(YES))
    books.apply(_empty_book(NO))
    books.apply(_doc_price_change())  # applied on LIVE books: no gap
    assert books.take_gapped() == set()


def test_market_view_lists_both_tokens_yes_first() -> None:
    """BookSet.market() shows both tokens of a market together, YES first when known."""
    books = BookSet(params={YES: PARAMS, NO: PARAMS})
    books.apply(_empty_book(NO))
    books.apply(_empty_book(YES))
    assert [b.asset_id for b in books.market(MARKET)] == [YES, NO]
    assert books.market("0xunknown") == []
