"""One asset's local order book: exact levels, incremental best bid/ask, venue cross-checks.

Synchronous and loop-free. The book applies normalized protocol events (``BookSnapshot``,
``LevelChange``) following protocol-clob.md §6.2: a snapshot replaces everything, a level change
sets the new absolute size (``"0"`` removes), and after every change the local best bid/ask is
checked against the venue's ``best_bid``/``best_ask`` (``"0"``/``"1"`` mean an empty side).

Prices are keyed exactly (:func:`~polyresearch.state.prices.price_key`), and each level keeps
the venue's own price and size text, because the CLOB book hash is computed over that text.

Status:

- ``EMPTY``: no snapshot yet (or invalidated by a reconnect/resubscribe); changes are dropped
  and counted.
- ``LIVE``: built from a snapshot and consistent so far.
- ``SUSPECT``: a cross-check failed (BBO mismatch, or repeated unverifiable hashes); the owner
  should resync. A fresh snapshot makes it ``LIVE`` again.
- ``TERMINAL``: the market resolved; later changes are ignored and counted.

Example:
    >>> from polyresearch.protocol.events import BookSnapshot, Level, LevelChange
    >>> book = OrderBook("tok")
    >>> book.apply_snapshot(BookSnapshot(kind="book", venue="clob", market="0xm", asset_id="tok",
    ...     bids=(Level("0.48", "10"), Level("0.47", "5")), asks=(Level("0.52", "7"),)))
    >>> book.apply_change(LevelChange(asset_id="tok", side="BUY", price="0.48", size="0",
    ...     best_bid="0.47", best_ask="0.52"))
    True
    >>> book.best_bid(), book.status.value
    (('0.47', '5'), 'LIVE')
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Final

import msgspec

from polyresearch.state.prices import KEYS as _KEYS
from polyresearch.state.prices import PRICE_SCALE, price_key

if TYPE_CHECKING:
    from polyresearch.protocol.events import BookSide, BookSnapshot, Level, LevelChange

__all__ = ["BookStats", "BookStatus", "OrderBook"]

#: The venue reports an empty bid side as best_bid "0" and an empty ask side as best_ask "1".
_EMPTY_BID: Final = 0
_EMPTY_ASK: Final = PRICE_SCALE


class BookStatus(enum.Enum):
    """Whether a local book can be trusted."""

    EMPTY = "EMPTY"
    LIVE = "LIVE"
    SUSPECT = "SUSPECT"
    TERMINAL = "TERMINAL"


class BookStats(msgspec.Struct, frozen=True, kw_only=True):
    """A frozen snapshot of one book's counters."""

    snapshots: int
    changes_applied: int
    changes_dropped_empty: int
    changes_ignored_terminal: int
    bbo_checks: int
    bbo_mismatches: int


# A side: exact price key -> (price text, size text) as the venue wrote them.
_Side = dict[int, tuple[str, str]]


class OrderBook:
    """The local book of one asset (a CLOB token, or a US market's YES side).

    Args:
        asset_id: the token id (CLOB) or market slug (US).
        market: the CLOB condition id or US slug, when known.
    """

    __slots__ = (
        "_ask_best",
        "_ask_src",
        "_asks",
        "_bid_best",
        "_bid_src",
        "_bids",
        "_counts",
        "asset_id",
        "last_trade_price",
        "market",
        "status",
        "tick_size",
        "timestamp",
    )

    def __init__(self, asset_id: str, *, market: str | None = None) -> None:
        self.asset_id = asset_id
        self.market = market
        self.status = BookStatus.EMPTY
        #: Tick size and last trade price as the venue wrote them (part of the CLOB hash).
        self.tick_size: str | None = None
        self.last_trade_price: str | None = None
        #: The venue timestamp text of the last event applied.
        self.timestamp: str | None = None
        self._bids: _Side = {}
        self._asks: _Side = {}
        # Best keys tracked incrementally: a rescan happens only when the best level goes away.
        self._bid_best: int | None = None
        self._ask_best: int | None = None
        # The snapshot level tuples each side was last built from, while nothing else changed
        # it: a decoder that hands over the same tuple again (the US decoder does for a side
        # identical to the last one) gets that side kept as is, with nothing to diff.
        self._bid_src: tuple[Level, ...] | None = None
        self._ask_src: tuple[Level, ...] | None = None
        # snapshots, applied, dropped_empty, ignored_terminal, bbo_checks, bbo_mismatches
        self._counts = [0, 0, 0, 0, 0, 0]

    # Public methods for applying events.

    def apply_snapshot(self, snapshot: BookSnapshot) -> None:
        """Replace both sides with ``snapshot``'s levels; the book becomes LIVE.

        A snapshot after resolution is ignored (the book stays TERMINAL).
        """
        self.replace(snapshot)

    def replace(self, snapshot: BookSnapshot) -> list[tuple[BookSide, str, str]] | None:
        """Like :meth:`apply_snapshot`, and say which levels changed.

        Returns:
            When the book was LIVE: the levels the snapshot changed, as ``(side, price,
            size)`` with the venue's text (``size`` ``"0"`` for a level that went away), bids
            then asks. ``None`` when the book was not LIVE (EMPTY, SUSPECT or TERMINAL): there
            was no trusted book to compare with, so every level of the snapshot is new.

        Example:
            >>> from polyresearch.protocol.events import BookSnapshot, Level
            >>> book = OrderBook("tok")
            >>> def snap(*bids):
            ...     return BookSnapshot(kind="book", venue="clob", market="0xm", asset_id="tok",
            ...                         bids=tuple(Level(p, s) for p, s in bids))
            >>> book.replace(snap(("0.48", "10"), ("0.47", "5"))) is None
            True
            >>> book.replace(snap(("0.48", "12"), ("0.46", "1")))
            [('bid', '0.48', '12'), ('bid', '0.46', '1'), ('bid', '0.47', '0')]
        """
        status = self.status
        if status is _TERMINAL:
            self._counts[3] += 1
            return None
        bid_levels, ask_levels = snapshot.bids, snapshot.asks
        changed: list[tuple[BookSide, str, str]] | None = None
        if status is _LIVE:
            changed = []
            if bid_levels is not self._bid_src:
                bids = _side(bid_levels)
                changed += _diff("bid", self._bids, bids)
                self._bids = bids
                self._bid_best = max(bids) if bids else None
            if ask_levels is not self._ask_src:
                asks = _side(ask_levels)
                changed += _diff("ask", self._asks, asks)
                self._asks = asks
                self._ask_best = min(asks) if asks else None
        else:
            self._bids = bids = _side(bid_levels)
            self._asks = asks = _side(ask_levels)
            self._bid_best = max(bids) if bids else None
            self._ask_best = min(asks) if asks else None
        self._bid_src = bid_levels
        self._ask_src = ask_levels
        if snapshot.market:
            self.market = snapshot.market
        if snapshot.tick_size is not None:
            self.tick_size = snapshot.tick_size
        if snapshot.last_trade_price is not None:
            self.last_trade_price = snapshot.last_trade_price
        self.timestamp = snapshot.timestamp
        self.status = _LIVE
        self._counts[0] += 1
        return changed

    def apply_change(self, change: LevelChange, *, timestamp: str | None = None) -> bool:
        """Apply one level change and cross-check the venue's best bid/ask after it.

        Returns:
            ``True`` if the change was applied and the cross-check (when the change carries
            ``best_bid``/``best_ask``) passed; ``False`` if it was dropped (EMPTY), ignored
            (TERMINAL) or the cross-check failed (the book is then SUSPECT).
        """
        # The hot path of a feed (one call per price_change entry): set_level() and
        # check_bbo() are inlined, and prices are looked up in the price_key memo first.
        status = self.status
        counts = self._counts
        if status is not _LIVE and status is not _SUSPECT:
            counts[2 if status is _EMPTY else 3] += 1
            return False
        price = change.price
        size = change.size
        key = _KEYS.get(price)
        if key is None:
            key = price_key(price)
        # The change names its side as the wire does: BUY is a bid level, SELL an ask level.
        if change.side == "BUY":
            book = self._bids
            self._bid_src = None  # the side no longer is the last snapshot's
            if size == "0" or (size[:1] in "0." and _is_zero(size)):
                if book.pop(key, None) is not None and key == self._bid_best:
                    self._bid_best = max(book) if book else None
            else:
                book[key] = (price, size)
                best = self._bid_best
                if best is None or key > best:
                    self._bid_best = key
        else:
            book = self._asks
            self._ask_src = None
            if size == "0" or (size[:1] in "0." and _is_zero(size)):
                if book.pop(key, None) is not None and key == self._ask_best:
                    self._ask_best = min(book) if book else None
            else:
                book[key] = (price, size)
                best = self._ask_best
                if best is None or key < best:
                    self._ask_best = key
        counts[1] += 1
        if timestamp is not None:
            self.timestamp = timestamp
        best_bid = change.best_bid
        best_ask = change.best_ask
        if best_bid is None and best_ask is None:
            return True
        counts[4] += 1
        if best_bid is not None:
            key = _KEYS.get(best_bid)
            if key is None:
                key = price_key(best_bid)
            if key != (_EMPTY_BID if self._bid_best is None else self._bid_best):
                counts[5] += 1
                self.status = _SUSPECT
                return False
        if best_ask is not None:
            key = _KEYS.get(best_ask)
            if key is None:
                key = price_key(best_ask)
            if key != (_EMPTY_ASK if self._ask_best is None else self._ask_best):
                counts[5] += 1
                self.status = _SUSPECT
                return False
        return True

    def set_level(self, side: BookSide, price: str, size: str) -> None:
        """Set the absolute size at ``price`` (``"0"`` removes the level; absent is fine)."""
        key = price_key(price)
        if side == "bid":
            book, best = self._bids, self._bid_best
            self._bid_src = None
            if _is_zero(size):
                if book.pop(key, None) is not None and key == best:
                    self._bid_best = max(book) if book else None
            else:
                book[key] = (price, size)
                if best is None or key > best:
                    self._bid_best = key
        else:
            book, best = self._asks, self._ask_best
            self._ask_src = None
            if _is_zero(size):
                if book.pop(key, None) is not None and key == best:
                    self._ask_best = min(book) if book else None
            else:
                book[key] = (price, size)
                if best is None or key < best:
                    self._ask_best = key

    def check_bbo(self, best_bid: str | None, best_ask: str | None) -> bool:
        """Compare the local best bid/ask with the venue's; a mismatch makes the book SUSPECT."""
        self._counts[4] += 1
        local_bid = _EMPTY_BID if self._bid_best is None else self._bid_best
        local_ask = _EMPTY_ASK if self._ask_best is None else self._ask_best
        ok = (best_bid is None or price_key(best_bid) == local_bid) and (
            best_ask is None or price_key(best_ask) == local_ask
        )
        if not ok:
            self._counts[5] += 1
            self.status = BookStatus.SUSPECT
        return ok

    def mark_suspect(self) -> None:
        """Flag the book as untrustworthy until the next snapshot (e.g. failed hash checks)."""
        if self.status is BookStatus.LIVE:
            self.status = BookStatus.SUSPECT

    def mark_terminal(self) -> None:
        """The market resolved: keep the last levels, ignore everything after."""
        self.status = BookStatus.TERMINAL

    def invalidate(self) -> None:
        """Forget the levels (reconnect/resubscribe): EMPTY until a fresh snapshot."""
        if self.status is BookStatus.TERMINAL:
            return
        self._bids.clear()
        self._asks.clear()
        self._bid_best = self._ask_best = None
        self._bid_src = self._ask_src = None
        self.status = BookStatus.EMPTY

    # Public methods for reading the book.

    def best_bid(self) -> tuple[str, str] | None:
        """The best bid as (price, size) text, or ``None`` if there are no bids."""
        return None if self._bid_best is None else self._bids[self._bid_best]

    def best_ask(self) -> tuple[str, str] | None:
        """The best ask as (price, size) text, or ``None`` if there are no asks."""
        return None if self._ask_best is None else self._asks[self._ask_best]

    def top(self) -> tuple[tuple[str, str] | None, tuple[str, str] | None]:
        """``(best_bid(), best_ask())`` in one call: what a quotes row is made of."""
        bid, ask = self._bid_best, self._ask_best
        return (
            None if bid is None else self._bids[bid],
            None if ask is None else self._asks[ask],
        )

    def levels(self, side: BookSide, depth: int | None = None) -> list[tuple[str, str]]:
        """Levels of one side best-first (bids descending, asks ascending), as (price, size)."""
        book = self._bids if side == "bid" else self._asks
        keys = sorted(book, reverse=side == "bid")
        if depth is not None:
            keys = keys[:depth]
        return [book[k] for k in keys]

    def wire_levels(self, side: BookSide) -> list[tuple[str, str]]:
        """Levels in the CLOB wire order the book hash uses: bids ascending, asks descending."""
        book = self._bids if side == "bid" else self._asks
        return [book[k] for k in sorted(book, reverse=side == "ask")]

    def depth(self, side: BookSide) -> int:
        """Number of price levels on one side."""
        return len(self._bids if side == "bid" else self._asks)

    def stats(self) -> BookStats:
        """A frozen snapshot of this book's counters."""
        snapshots, applied, dropped, ignored, checks, mismatches = self._counts
        return BookStats(
            snapshots=snapshots,
            changes_applied=applied,
            changes_dropped_empty=dropped,
            changes_ignored_terminal=ignored,
            bbo_checks=checks,
            bbo_mismatches=mismatches,
        )

    def __repr__(self) -> str:
        bid, ask = self.best_bid(), self.best_ask()
        return (
            f"OrderBook({self.asset_id[:12]!r}, status={self.status.value}, "
            f"bid={bid[0] if bid else None}, ask={ask[0] if ask else None}, "
            f"levels={len(self._bids)}/{len(self._asks)})"
        )


_EMPTY: Final = BookStatus.EMPTY
_LIVE: Final = BookStatus.LIVE
_SUSPECT: Final = BookStatus.SUSPECT
_TERMINAL: Final = BookStatus.TERMINAL


def _side(levels: tuple[Level, ...]) -> _Side:
    """One side of a snapshot as a book side, zero-size levels left out (they are no level)."""
    side: _Side = {}
    get = _KEYS.get
    for level in levels:
        price = level.price
        size = level.size
        if size == "0" or (size[:1] in "0." and _is_zero(size)):
            continue
        key = get(price)
        side[price_key(price) if key is None else key] = (price, size)
    return side


def _diff(name: BookSide, old: _Side, new: _Side) -> list[tuple[BookSide, str, str]]:
    """Levels of ``new`` that differ from ``old`` (price or size text), then removed ones."""
    out = [
        (name, price, size) for key, (price, size) in new.items() if old.get(key) != (price, size)
    ]
    if len(old) + len(out) > len(new):  # some old level is not in the new side
        out += [(name, level[0], "0") for key, level in old.items() if key not in new]
    return out


def _is_zero(size: str) -> bool:
    # Fast path for the venue's usual "0"; anything else that parses to zero counts too.
    if size == "0":
        return True
    return size.strip("0.") == "" and any(c == "0" for c in size)
