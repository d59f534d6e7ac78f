"""All local books of a feed: routes book events, verifies CLOB hashes, asks for resyncs.

:class:`BookSet` owns one :class:`~polyresearch.state.orderbook.OrderBook` per asset and applies
the book-related normalized events in arrival order (protocol-clob.md §6.2-§6.4):

- ``book`` / ``market_data`` → snapshot replace (also mid-stream: the venue's own resync);
- ``price_change`` → every entry in order, each followed by the BBO cross-check; then, per
  asset, the hash of the last entry is checked against the local book (CLOB only);
- ``tick_size_change`` → new tick, levels kept; ``last_trade_price`` → the asset's last trade
  price (part of the hash); ``market_resolved`` → both tokens TERMINAL.

Hash verification is advisory (§6.4 "Practical policy"). It needs ``min_order_size`` and
``neg_risk`` from the market look-up (:class:`MarketParams`); without them a hash is counted as
*unverifiable*, never as a failure. With them, the current last trade price is tried first, then
the sibling token's, then the entry's own price in 3-decimal form (the venue may hash a trade we
have not been told about yet); a match adopts that price. ``suspect_after`` consecutive misses
make the book SUSPECT, and so does a single miss once a hash of that book has verified since
its last snapshot (the recipe is known to work, so the book itself diverged). A SUSPECT book is
reported by :meth:`BookSet.take_resyncs` so the feed can
unsubscribe and resubscribe the asset for a fresh snapshot.

A SHA-1 over a 40-level book costs ~13 µs here, several times the rest of the per-message work,
so deltas are hash-checked on one message in ``hash_every`` per asset (a snapshot that replaces a
LIVE book counts as a delta; the first snapshot of a book and, after a miss, every message until a
match are always checked). ``hash_every=1`` checks all of them.

Example:
    >>> from polyresearch.protocol.events import BookSnapshot, Level
    >>> books = BookSet()
    >>> books.apply(BookSnapshot(kind="book", venue="clob", market="0xm", asset_id="tok",
    ...                          bids=(Level("0.48", "10"),), asks=()))
    >>> books["tok"].best_bid()
    ('0.48', '10')
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Final

import msgspec

from polyresearch.config import positive_int
from polyresearch.protocol.clob_hash import book_hash_unchecked, hash_levels
from polyresearch.protocol.events import (
    BookSnapshot,
    MarketResolved,
    PriceChange,
    TickSizeChange,
    Trade,
)
from polyresearch.state.orderbook import BookStatus, OrderBook

if TYPE_CHECKING:
    from polyresearch.protocol.events import BookSide, Event, LevelChange

__all__ = ["BookSet", "BookSetStats", "MarketParams"]

_LIVE: Final = BookStatus.LIVE
_SUSPECT: Final = BookStatus.SUSPECT
_EMPTY: Final = BookStatus.EMPTY
_TERMINAL: Final = BookStatus.TERMINAL

DEFAULT_HASH_EVERY: Final = 16
DEFAULT_SUSPECT_AFTER: Final = 3


class MarketParams(msgspec.Struct, frozen=True, kw_only=True):
    """Static CLOB market parameters the book hash needs (from REST ``/book`` or Gamma).

    Attributes:
        min_order_size: e.g. ``"5"``, as the venue writes it.
        neg_risk: whether the market is a neg-risk market.
        token_ids: the market's tokens (YES first); lets a book find its sibling early.
    """

    min_order_size: str
    neg_risk: bool
    token_ids: tuple[str, ...] = ()


class BookSetStats(msgspec.Struct, frozen=True, kw_only=True):
    """A frozen snapshot of the book set's counters (summed over its books)."""

    books: int
    live: int
    suspect: int
    empty: int
    terminal: int
    snapshots: int
    changes_applied: int
    changes_dropped_empty: int
    changes_ignored_terminal: int
    bbo_checks: int
    bbo_mismatches: int
    hashes_verified: int
    hashes_unverified: int
    hashes_unverifiable: int
    hashes_skipped: int
    resyncs_requested: int


class _Check:
    """Per-asset hash-check state."""

    __slots__ = ("misses", "since", "trusted")

    def __init__(self) -> None:
        self.since = 0  # messages since the last check
        self.misses = 0  # consecutive unverified hashes
        self.trusted = False  # a hash of this asset verified since its last snapshot


class BookSet:
    """The local books of one feed, keyed by asset id (CLOB token id or US slug).

    Args:
        params: CLOB market parameters by **token id** (both tokens of a market may share one
            object); needed for hash verification.
        hash_every: check the hash of one delta message in this many per asset (1 = all).
        suspect_after: consecutive unverified hashes that make a book SUSPECT.
        verify_hashes: turn CLOB hash checks off entirely (BBO checks stay on).
    """

    def __init__(
        self,
        *,
        params: Mapping[str, MarketParams] | None = None,
        hash_every: int = DEFAULT_HASH_EVERY,
        suspect_after: int = DEFAULT_SUSPECT_AFTER,
        verify_hashes: bool = True,
    ) -> None:
        self._books: dict[str, OrderBook] = {}
        self._params: dict[str, MarketParams] = dict(params or {})
        self._siblings: dict[str, str] = {}
        self._market_tokens: dict[str, list[str]] = {}
        self._checks: dict[str, _Check] = {}
        self.hash_every = positive_int(hash_every, "hash_every")
        self.suspect_after = positive_int(suspect_after, "suspect_after")
        self.verify_hashes = verify_hashes
        self._resyncs: set[str] = set()
        # Assets that dropped a delta on an EMPTY book since take_gapped(): the feed marks
        # gaps from this set, so its periodic pass costs the gapped books, not every book.
        self._gapped: set[str] = set()
        # verified, unverified, unverifiable, skipped, resyncs requested
        self._hash_counts = [0, 0, 0, 0, 0]
        for params_ in self._params.values():
            self._pair(params_.token_ids)

    # Public methods for applying events.

    def set_params(self, token_id: str, params: MarketParams) -> None:
        """Record a market's hash parameters (e.g. after a REST look-up)."""
        self._params[token_id] = params
        self._pair(params.token_ids)

    def apply(self, event: Event) -> None:
        """Apply one normalized event; events that are not about books are ignored."""
        if isinstance(event, PriceChange):
            self.apply_price_change(event)
        elif isinstance(event, BookSnapshot):
            self.apply_snapshot(event)
        elif isinstance(event, Trade):
            if event.venue == "clob":
                self.note_trade(event.asset_id, event.market, event.price)
        elif isinstance(event, TickSizeChange):
            self.book(event.asset_id, market=event.market).tick_size = event.new_tick_size
        elif isinstance(event, MarketResolved):
            for asset_id in {*event.asset_ids, *self._market_tokens.get(event.market, ())}:
                self.book(asset_id, market=event.market).mark_terminal()
                self._resyncs.discard(asset_id)

    def note_trade(self, asset_id: str, market: str, price: str) -> None:
        """A CLOB trade: its price becomes the asset's last trade price (part of the hash)."""
        book = self._books.get(asset_id)
        if book is None or book.market is None:
            book = self.book(asset_id, market=market)
        book.last_trade_price = price

    def invalidate_all(self) -> None:
        """A reconnect: every book is EMPTY until its fresh snapshot (terminal ones stay)."""
        for book in self._books.values():
            book.invalidate()
        self._resyncs.clear()

    def distrust(self, asset_id: str) -> None:
        """Mark a book SUSPECT and queue its resync (see :meth:`take_resyncs`).

        For input that could not be applied to it (the store's bad-value drops); unknown and
        TERMINAL books are left alone.
        """
        book = self._books.get(asset_id)
        if book is not None and book.status is not _TERMINAL:
            book.status = _SUSPECT
            self._resyncs.add(asset_id)

    def take_resyncs(self) -> set[str]:
        """Return and forget the assets whose books went bad since the last call.

        The caller resubscribes them; their books are invalidated here so that deltas arriving
        before the fresh snapshot are dropped and counted instead of applied to a bad book.
        """
        assets = self._resyncs
        if not assets:  # the usual case: called after every frame
            return set()
        self._resyncs = set()
        for asset_id in assets:
            self._books[asset_id].invalidate()
        self._hash_counts[4] += len(assets)
        return assets

    def take_gapped(self) -> set[str]:
        """Return and forget the assets that dropped deltas on an EMPTY book since the last call.

        Their counts are in each book's ``stats().changes_dropped_empty``; this set only says
        which books to look at, so a periodic reader does work proportional to the gaps.

        Example:
            >>> BookSet().take_gapped()
            set()
        """
        gapped = self._gapped
        if not gapped:
            return set()
        self._gapped = set()
        return gapped

    # Public methods for reading books.

    def book(self, asset_id: str, *, market: str | None = None) -> OrderBook:
        """The book of ``asset_id``, created EMPTY on first use."""
        book = self._books.get(asset_id)
        if book is None:
            book = self._books[asset_id] = OrderBook(asset_id, market=market)
            self._checks[asset_id] = _Check()
        if market is not None and book.market is None:
            book.market = market
        if market is not None and asset_id not in self._siblings:
            tokens = self._market_tokens.setdefault(market, [])
            if asset_id not in tokens:
                tokens.append(asset_id)
                if len(tokens) == 2:
                    self._pair(tokens)
        return book

    def market(self, market: str) -> list[OrderBook]:
        """Every known book of one market (CLOB: both tokens, YES first when known)."""
        books = [b for b in self._books.values() if b.market == market]
        params = self._params.get(books[0].asset_id) if books else None
        if params is not None and params.token_ids:
            order = {token: i for i, token in enumerate(params.token_ids)}
            books.sort(key=lambda b: order.get(b.asset_id, len(order)))
        return books

    def sibling(self, asset_id: str) -> OrderBook | None:
        """The other token of the same binary market, if known."""
        other = self._siblings.get(asset_id)
        return None if other is None else self._books.get(other)

    def __getitem__(self, asset_id: str) -> OrderBook:
        return self._books[asset_id]

    def __contains__(self, asset_id: object) -> bool:
        return asset_id in self._books

    def __iter__(self) -> Iterator[str]:
        return iter(self._books)

    def __len__(self) -> int:
        return len(self._books)

    def stats(self) -> BookSetStats:
        """A frozen snapshot summed over all books."""
        totals = [0] * 6
        status = dict.fromkeys(BookStatus, 0)
        for book in self._books.values():
            status[book.status] += 1
            for index, value in enumerate(msgspec.structs.astuple(book.stats())):
                totals[index] += value
        verified, unverified, unverifiable, skipped, resyncs = self._hash_counts
        return BookSetStats(
            books=len(self._books),
            live=status[BookStatus.LIVE],
            suspect=status[BookStatus.SUSPECT],
            empty=status[BookStatus.EMPTY],
            terminal=status[BookStatus.TERMINAL],
            snapshots=totals[0],
            changes_applied=totals[1],
            changes_dropped_empty=totals[2],
            changes_ignored_terminal=totals[3],
            bbo_checks=totals[4],
            bbo_mismatches=totals[5],
            hashes_verified=verified,
            hashes_unverified=unverified,
            hashes_unverifiable=unverifiable,
            hashes_skipped=skipped,
            resyncs_requested=resyncs,
        )

    # Private methods.

    def _pair(self, tokens: tuple[str, ...] | list[str]) -> None:
        if len(tokens) == 2:
            self._siblings[tokens[0]] = tokens[1]
            self._siblings[tokens[1]] = tokens[0]

    def apply_snapshot(self, snapshot: BookSnapshot) -> list[tuple[BookSide, str, str]] | None:
        """Apply a full book; return the levels it changed (see :meth:`OrderBook.replace`).

        The first snapshot of a book that was not LIVE (initial, after a resync or a
        reconnect) always has its hash checked; a snapshot that replaces a LIVE book is a delta
        like any other and is checked on the ``hash_every`` schedule.
        """
        asset = snapshot.asset_id
        book = self._books.get(asset)
        if book is None or book.market is None:
            book = self.book(asset, market=snapshot.market)
        status = book.status
        changed = book.replace(snapshot)
        if status is _TERMINAL:
            return None  # ignored (and counted) by the book
        self._resyncs.discard(asset)
        check = self._checks[asset]
        check.misses = 0
        check.trusted = False
        if snapshot.hash is not None and snapshot.timestamp is not None and self.verify_hashes:
            if status is _LIVE:
                check.since += 1
                if check.since < self.hash_every:
                    self._hash_counts[3] += 1
                    return changed
            check.since = 0
            # A book that carries no last_trade_price still hashes with the asset's one (§6.4).
            self._verify(book, snapshot.hash, snapshot.timestamp, None)
        return changed

    def apply_price_change(self, message: PriceChange) -> list[OrderBook]:
        """Apply every entry of a ``price_change`` in order; return the books it touched.

        Each entry is followed by its BBO cross-check; then the hash of each asset's last entry
        is checked on the ``hash_every`` schedule. The books come back in first-touched order
        (the store writes a quote for each whose top changed).
        """
        books = self._books
        timestamp = message.timestamp
        touched: list[OrderBook] = []
        # Each asset's last applied entry, for the hash check.
        last: dict[str, LevelChange] = {}
        for change in message.changes:
            asset = change.asset_id
            book = books.get(asset)
            if book is None:
                book = self.book(asset, market=message.market)
            if book not in touched:
                touched.append(book)
            if book.apply_change(change, timestamp=timestamp):
                last[asset] = change
            elif book.status is _SUSPECT:
                self._resyncs.add(asset)
                last.pop(asset, None)
            elif book.status is _EMPTY:
                self._gapped.add(asset)
        if not last or not self.verify_hashes or timestamp is None:
            return touched
        if message.hash is not None:
            # Legacy schema: one message-level hash for its single asset.
            asset = message.changes[-1].asset_id
            if asset in last:
                last[asset] = msgspec.structs.replace(last[asset], hash=message.hash)
        checks = self._checks
        every = self.hash_every
        for asset, change in last.items():
            if change.hash is None:
                continue
            check = checks[asset]
            since = check.since + 1
            if check.misses == 0 and since < every:
                check.since = since
                self._hash_counts[3] += 1
                continue
            check.since = 0
            self._verify(books[asset], change.hash, timestamp, change.price)
        return touched

    def _verify(self, book: OrderBook, expected: str, timestamp: str, price: str | None) -> None:
        if not self.verify_hashes:
            return
        params = self._params.get(book.asset_id)
        market, tick_size = book.market, book.tick_size
        if params is None or market is None or tick_size is None:
            self._hash_counts[2] += 1
            return
        # The levels are the venue's own text already checked by the decoder: encode them
        # without book_hash()'s argument checks (hash_levels), once for every candidate.
        bids, asks = hash_levels(book.wire_levels("bid")), hash_levels(book.wire_levels("ask"))
        # Candidates are built lazily: the asset's own last trade price matches nearly always,
        # and the fallbacks cost a Decimal each (§6.4 practical policy).
        for candidate in self._ltp_candidates(book, price):
            digest = book_hash_unchecked(
                market=market,
                asset_id=book.asset_id,
                timestamp=timestamp,
                bids=bids,
                asks=asks,
                min_order_size=params.min_order_size,
                tick_size=tick_size,
                neg_risk=params.neg_risk,
                last_trade_price=candidate,
            )
            if digest == expected:
                book.last_trade_price = candidate
                check = self._checks[book.asset_id]
                check.misses = 0
                check.trusted = True
                self._hash_counts[0] += 1
                return
        self._hash_counts[1] += 1
        check = self._checks[book.asset_id]
        check.misses += 1
        # Once the recipe has verified for this book, a miss means the book diverged (e.g. a
        # lost delta behind an unchanged top of book): resync now. Before that, a miss may
        # only mean unknown parameters or a changed recipe, so it takes several.
        bad = check.trusted or check.misses >= self.suspect_after
        if bad and book.status is BookStatus.LIVE:
            book.mark_suspect()
            self._resyncs.add(book.asset_id)

    def _ltp_candidates(self, book: OrderBook, price: str | None) -> Iterator[str | None]:
        """Last trade prices to hash with, in order of likelihood, each once (lazily)."""
        first = book.last_trade_price or ""
        yield first
        seen: set[str | None] = {first}
        sibling = self.sibling(book.asset_id)
        candidates: list[str | None] = []
        if sibling is not None and sibling.last_trade_price:
            candidates.append(sibling.last_trade_price)
        candidates.append(_three_decimals(book.last_trade_price))
        candidates.append(_three_decimals(price))
        for candidate in candidates:
            if candidate is not None and candidate not in seen:
                seen.add(candidate)
                yield candidate
        if None not in seen:
            yield None  # the pre-December-2025 summary without the key


def _three_decimals(text: str | None) -> str | None:
    # Books carry last_trade_price with 3 decimals ("0.500") while trades say "0.5".
    if not text:
        return None
    try:
        return f"{Decimal(text):.3f}"
    except (InvalidOperation, ValueError):
        return None
