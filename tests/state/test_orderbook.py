"""OrderBook: snapshot replace, absolute level changes, incremental best, BBO cross-check."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from polyresearch.protocol.events import BookSnapshot, Level, LevelChange, OrderSide
from polyresearch.state.orderbook import BookStatus, OrderBook


def _snapshot(bids: list[tuple[str, str]], asks: list[tuple[str, str]], **kw: str) -> BookSnapshot:
    return BookSnapshot(
        kind="book",
        venue="clob",
        market="0xm",
        asset_id="tok",
        bids=tuple(Level(p, s) for p, s in bids),
        asks=tuple(Level(p, s) for p, s in asks),
        **kw,  # type: ignore[arg-type]
    )


def _change(side: str, price: str, size: str, bb: str | None, ba: str | None) -> LevelChange:
    """A change on the book side ``side`` ("bid"/"ask"), named as the wire does (BUY/SELL)."""
    wire: OrderSide = "BUY" if side == "bid" else "SELL"
    return LevelChange(asset_id="tok", side=wire, price=price, size=size, best_bid=bb, best_ask=ba)


def test_changes_before_snapshot_are_dropped_and_counted() -> None:
    """An EMPTY book drops deltas and counts them; it does not invent levels."""
    book = OrderBook("tok")
    assert not book.apply_change(_change("bid", "0.5", "10", "0.5", "1"))
    assert book.best_bid() is None
    assert book.stats().changes_dropped_empty == 1
    assert book.status is BookStatus.EMPTY


def test_snapshot_replaces_everything_and_ignores_zero_levels() -> None:
    """A snapshot replaces both sides; zero-size levels are not levels; unsorted input is fine."""
    book = OrderBook("tok")
    book.apply_snapshot(_snapshot([("0.40", "1"), ("0.45", "2")], [("0.60", "3")]))
    book.apply_snapshot(
        _snapshot([("0.30", "1"), ("0.48", "9"), ("0.47", "0")], [("0.55", "4"), ("0.52", "5")])
    )
    assert book.levels("bid") == [("0.48", "9"), ("0.30", "1")]
    assert book.levels("ask") == [("0.52", "5"), ("0.55", "4")]
    assert book.wire_levels("bid") == [("0.30", "1"), ("0.48", "9")]
    assert book.wire_levels("ask") == [("0.55", "4"), ("0.52", "5")]
    assert book.status is BookStatus.LIVE


def test_absolute_sizes_and_removal() -> None:
    """Sizes overwrite (not add); '0' removes; removing an absent level is harmless."""
    book = OrderBook("tok")
    book.apply_snapshot(_snapshot([("0.48", "10")], [("0.52", "5")]))
    assert book.apply_change(_change("bid", "0.48", "3", "0.48", "0.52"))
    assert book.best_bid() == ("0.48", "3")
    assert book.apply_change(_change("bid", "0.48", "0", "0", "0.52"))
    assert book.best_bid() is None
    assert book.apply_change(_change("ask", "0.70", "0", "0", "0.52"))
    assert book.apply_change(_change("ask", "0.52", "0", "0", "1"))
    assert book.best_ask() is None


def test_equal_prices_in_different_spellings_are_one_level() -> None:
    """'0.5' and '0.50' are the same level (exact keys, not text keys)."""
    book = OrderBook("tok")
    book.apply_snapshot(_snapshot([("0.5", "10")], []))
    book.apply_change(_change("bid", "0.50", "0", "0", "1"))
    assert book.depth("bid") == 0


def test_bbo_mismatch_marks_suspect_and_snapshot_heals() -> None:
    """A change whose venue BBO disagrees with ours makes the book SUSPECT; a snapshot heals."""
    book = OrderBook("tok")
    book.apply_snapshot(_snapshot([("0.48", "10")], [("0.52", "5")]))
    assert not book.apply_change(_change("bid", "0.49", "1", "0.48", "0.52"))
    assert book.status is BookStatus.SUSPECT
    assert book.stats().bbo_mismatches == 1
    book.apply_snapshot(_snapshot([("0.48", "10")], [("0.52", "5")]))
    assert book.status is BookStatus.LIVE


def test_terminal_ignores_later_events() -> None:
    """After resolution, changes and snapshots are ignored and counted."""
    book = OrderBook("tok")
    book.apply_snapshot(_snapshot([("0.48", "10")], []))
    book.mark_terminal()
    assert not book.apply_change(_change("bid", "0.49", "1", None, None))
    book.apply_snapshot(_snapshot([], []))
    book.invalidate()
    assert book.best_bid() == ("0.48", "10")
    assert book.stats().changes_ignored_terminal == 2
    assert book.status is BookStatus.TERMINAL


def test_invalidate_empties_until_next_snapshot() -> None:
    """A reconnect invalidates: EMPTY, no levels, deltas dropped until a snapshot."""
    book = OrderBook("tok")
    book.apply_snapshot(_snapshot([("0.48", "10")], [("0.52", "5")]))
    book.invalidate()
    assert book.status is BookStatus.EMPTY
    assert book.best_bid() is None and book.best_ask() is None
    assert not book.apply_change(_change("bid", "0.49", "1", None, None))


def test_snapshot_keeps_tick_and_last_trade_when_absent() -> None:
    """Post-trade books carry no tick_size/last_trade_price: earlier values are kept."""
    book = OrderBook("tok")
    book.apply_snapshot(_snapshot([], [], tick_size="0.01", last_trade_price="0.500"))
    book.apply_snapshot(_snapshot([("0.4", "1")], []))
    assert (book.tick_size, book.last_trade_price) == ("0.01", "0.500")


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=2**32), st.integers(min_value=1, max_value=300))
def test_incremental_best_equals_full_scan(seed: int, steps: int) -> None:
    """Under random level changes, the tracked best bid/ask always equals a full rescan."""
    rng = random.Random(seed)
    book = OrderBook("tok")
    book.apply_snapshot(_snapshot([], []))
    model: dict[str, dict[int, int]] = {"bid": {}, "ask": {}}
    for _ in range(steps):
        side = rng.choice(["bid", "ask"])
        cents = rng.randint(1, 99)
        size = rng.choice([0, 0, rng.randint(1, 500)])
        text = f"0.{cents:02d}".rstrip("0") if cents % 10 == 0 else f"0.{cents:02d}"
        if size:
            model[side][cents] = size
        else:
            model[side].pop(cents, None)
        bb = max(model["bid"], default=None)
        ba = min(model["ask"], default=None)
        ok = book.apply_change(
            _change(
                side,
                text,
                str(size),
                "0" if bb is None else f"0.{bb:02d}",
                "1" if ba is None else f"0.{ba:02d}",
            )
        )
        assert ok
    assert book.stats().bbo_mismatches == 0
    assert book.status is BookStatus.LIVE


def test_replace_with_the_same_side_tuple_keeps_that_side_and_reports_only_real_changes() -> None:
    """A decoder may hand over the very tuple of the last snapshot for an unchanged side (the
    US one does): that side is kept, the other is diffed; a level change in between means the
    tuple no longer describes the side, so it is rebuilt."""
    book = OrderBook("tok")
    bids = (Level("0.48", "10"), Level("0.47", "5"))
    first = BookSnapshot(
        kind="market_data", venue="us", market="m", asset_id="tok", bids=bids, asks=()
    )
    assert book.replace(first) is None
    asks = (Level("0.52", "7"),)
    second = BookSnapshot(
        kind="market_data", venue="us", market="m", asset_id="tok", bids=bids, asks=asks
    )
    assert book.replace(second) == [("ask", "0.52", "7")]
    assert book.top() == (("0.48", "10"), ("0.52", "7"))
    # A change to the bids, then the old bids tuple again: the change must be undone.
    book.apply_change(_change("bid", "0.49", "3", None, None))
    assert book.best_bid() == ("0.49", "3")
    assert book.replace(second) == [("bid", "0.49", "0")]
    assert book.best_bid() == ("0.48", "10")
    book.set_level("ask", "0.51", "1")
    assert book.replace(second) == [("ask", "0.51", "0")]
    # After invalidate (reconnect) the book is EMPTY and the same tuples rebuild it fully.
    book.invalidate()
    assert book.replace(second) is None
    assert book.levels("bid") == [("0.48", "10"), ("0.47", "5")]
