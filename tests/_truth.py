"""Ground-truth helpers shared by the integration and reliability tests.

Two things every test against the simulator repeats: the CLOB market parameters the book hash
needs (from :meth:`Simulator.market_params`), and "the local book equals the simulator's, level
by level". They live here once.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

import msgspec

from polyresearch.feed import Feed
from polyresearch.simulator import Simulator
from polyresearch.state.books import MarketParams
from polyresearch.state.orderbook import BookStatus

__all__ = ["book_diff", "clob_converged", "market_params", "us_converged"]


def market_params(sim: Simulator) -> dict[str, MarketParams]:
    """Per token id, the hash parameters of every live simulated market."""
    return {k: msgspec.convert(v, MarketParams) for k, v in sim.market_params().items()}


def book_diff(feed: Feed, sim: Simulator, key: str, token: str) -> str | None:
    """Why the local book ``key`` differs from the simulator's book of ``token`` (None = equal).

    ``key`` is the CLOB token id or the US slug; ``token`` the simulator's token id (the YES
    token for a US market).
    """
    if key not in feed.books:
        return f"{key[:12]}: no local book"
    book = feed.books[key]
    if book.status is not BookStatus.LIVE:
        return f"{key[:12]}: {book.status.value}"
    truth = sim.book(token)
    for side, theirs in (("bid", list(truth.bids)), ("ask", list(truth.asks))):
        ours = [(Decimal(p), Decimal(s)) for p, s in book.levels(side)]  # type: ignore[arg-type]
        if ours != theirs:
            return f"{key[:12]} {side}s: local {ours[:3]}… != truth {theirs[:3]}…"
    return None


def clob_converged(feed: Feed, sim: Simulator, tokens: Iterable[str]) -> bool:
    """Whether every CLOB token's local book is LIVE and equals ground truth."""
    return all(book_diff(feed, sim, t, t) is None for t in tokens)


def us_converged(feed: Feed, sim: Simulator, slugs: Iterable[str] | None = None) -> bool:
    """Whether every followed US market's book is LIVE and equals the model's YES book."""
    wanted = set(slugs) if slugs is not None else None
    return all(
        book_diff(feed, sim, m.slug, m.token_ids[0]) is None
        for m in sim.markets()
        if wanted is None or m.slug in wanted
    )
