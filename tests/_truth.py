"""Ground-truth helpers shared by the integration and reliability tests.

Two things every test against the simulator repeats: the CLOB market parameters the book hash
needs (from :meth:`Simulator.market_params`), and "the local book equals the simulator's, level
by level". They live here once, with the trade comparison the fault suite uses ("no row that
arrived intact is lost").
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from decimal import Decimal

import msgspec

from polyresearch.feed import Feed
from polyresearch.simulator import Simulator
from polyresearch.state.books import MarketParams
from polyresearch.state.orderbook import BookStatus

__all__ = [
    "book_diff",
    "clob_converged",
    "market_params",
    "missing_trades",
    "us_converged",
]


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


def missing_trades(
    feed: Feed, sim: Simulator, *, since_ms: int, until_ms: int | None = None
) -> int:
    """How many trades the simulator executed in ``[since_ms, until_ms]`` the feed lacks.

    Only markets the feed follows count. A CLOB trade is looked up as the taker token's
    ``last_trade_price`` row, a US trade as its market's trade row in YES terms; matching is
    by (asset or slug, venue ms, price, size) as a multiset, so a duplicate does not hide a loss.
    """
    followed = set(feed.subscribed)
    frame = feed.tables.trades.to_polars()
    if feed.venue == "clob":
        keys = frame["asset_id"].cast(str).to_list()
    else:
        keys = frame["market"].cast(str).to_list()
    have = Counter(
        (key, ts // 1_000_000, round(price, 6), round(size, 6))
        for key, ts, price, size in zip(
            keys,
            frame["ts_ns"].dt.epoch("ns").to_list(),
            frame["price"].to_list(),
            frame["size"].to_list(),
            strict=True,
        )
        if ts is not None
    )
    want: Counter[tuple[str, int, float, float]] = Counter()
    by_token = {t: m for m in sim.markets(include_resolved=True) for t in m.token_ids}
    for trade in sim.trades():
        if trade.ts_ms < since_ms or (until_ms is not None and trade.ts_ms > until_ms):
            continue
        market = by_token[trade.token_id]
        if feed.venue == "clob":
            key, price = trade.token_id, trade.price
        else:
            yes = trade.token_id == market.token_ids[0]
            key, price = market.slug, trade.price if yes else 1 - trade.price
        if key not in followed:
            continue
        want[(key, trade.ts_ms, round(float(price), 6), round(float(trade.size), 6))] += 1
    return sum((want - have).values())
