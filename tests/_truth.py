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
from polyresearch.simulator.faults import Target
from polyresearch.simulator.market import BookChanged
from polyresearch.state.books import MarketParams
from polyresearch.state.orderbook import BookStatus

__all__ = [
    "book_diff",
    "clob_converged",
    "clob_diverged",
    "market_params",
    "missing_trades",
    "settled",
    "skip_deltas_until_detected",
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


async def settled(feed: Feed, sim: Simulator, within: float = 20) -> None:
    """Wait until a one-connection feed has taken in every frame the simulator sent."""
    await feed.wait_for(
        lambda f: f.stats().frames_in >= sum(sim.stats().frames_sent.values()), within=within
    )


def clob_diverged(feed: Feed, sim: Simulator) -> set[str]:
    """The CLOB tokens whose local book differs from ground truth (or is not LIVE)."""
    tokens = [t for m in sim.markets() for t in m.token_ids]
    return feed.read(lambda: {t for t in tokens if book_diff(feed, sim, t, t) is not None})


async def skip_deltas_until_detected(
    feed: Feed,
    sim: Simulator,
    target: Target,
    *,
    at_once: bool,
    rounds: int = 40,
    steps: int = 500,
) -> int:
    """Lose one price_change at a time until a lasting divergence is detected (a resync).

    For a CLOB feed on one connection to a simulator built with ``rate=0``: the model is
    stepped by hand and the feed takes in every frame after each step, so each lost delta is
    seen to end one of three ways. Healed: the venue's own repair made it harmless before
    anything could see it (a post-trade ``book`` right after a fill's price_change, or a later
    entry that sets the same level: sizes are absolute), and the next round skips again.
    Detected: the feed asked for a resync. Undetected: AssertionError. With ``at_once`` (a
    feed with ``hash_every=1``) a step whose price_change touches a diverged market must heal
    or detect it on that very message; otherwise a divergence may last up to ``steps`` steps
    (the hash schedule) but no longer.

    Returns:
        How many lost deltas healed before the detected one.
    """
    healed = 0
    for _ in range(rounds):
        withheld = sim.stats().frames_withheld
        sim.faults.skip_deltas(target, count=1)
        for _step in range(steps):
            if sim.stats().frames_withheld > withheld:
                break
            sim.advance(1)
        assert sim.stats().frames_withheld == withheld + 1, "no delta to skip"
        await settled(feed, sim)
        diverged = clob_diverged(feed, sim)
        if not diverged:
            healed += 1  # e.g. a post-trade book right after the lost delta
            continue
        markets = {m.condition_id for m in sim.markets() if diverged & set(m.token_ids)}
        resyncs = feed.stats().resyncs
        for _step in range(steps):
            changes = sim.advance(1)
            await settled(feed, sim)
            if feed.stats().resyncs > resyncs:
                return healed
            still = clob_diverged(feed, sim)
            if not still:
                break
            touched = any(isinstance(c, BookChanged) and c.condition_id in markets for c in changes)
            assert not (at_once and touched), f"a message for {sorted(still)} did not detect it"
        else:
            raise AssertionError(f"{sorted(diverged)} diverged for {steps} steps, undetected")
        healed += 1  # a later entry rewrote the lost level
    raise AssertionError(f"{rounds} lost deltas, {healed} healed, none detected")
