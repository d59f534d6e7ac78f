"""The simulator's market model: deterministic, mirrored, never crossed, accounts that add up."""

from __future__ import annotations

import doctest
import re
from collections import Counter
from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polyresearch.simulator import market as market_module
from polyresearch.simulator.market import (
    TICK_COARSE,
    TICK_FINE,
    BalanceChanged,
    BookChanged,
    Fill,
    FillUpdated,
    MarketModel,
    MarketOpened,
    MarketResolved,
    ModelConfig,
    OrderChanged,
    PositionChanged,
    TickSizeChanged,
    TradeExecuted,
    plain,
)


def _assert_invariants(model: MarketModel) -> None:
    for market in model.markets:
        yes, no = (model.book(t) for t in market.token_ids)
        assert {1 - p: s for p, s in yes.bids.items()} == no.asks
        assert {1 - p: s for p, s in yes.asks.items()} == no.bids
        bid, ask = yes.best_bid(), yes.best_ask()
        if bid is not None and ask is not None:
            assert bid < ask, market.slug
        for side in (yes.bids, yes.asks):
            assert all(Decimal(0) < p < Decimal(1) for p in side)
            assert all(s > 0 for s in side.values())


def test_doc_examples_hold() -> None:
    """The module's docstring examples run and pass."""
    result = doctest.testmod(market_module)
    assert result.attempted > 0 and result.failed == 0


def test_ids_look_like_the_real_ones() -> None:
    """Token ids are 77 digits, condition ids 0x+64 hex, slugs unique and US-style."""
    model = MarketModel(seed=5, markets=300)
    tokens = [t for m in model.markets for t in m.token_ids]
    assert all(re.fullmatch(r"[1-9][0-9]{76}", t) for t in tokens)
    assert len(set(tokens)) == len(tokens)
    assert all(re.fullmatch(r"0x[0-9a-f]{64}", m.condition_id) for m in model.markets)
    slugs = [m.slug for m in model.markets]
    assert len(set(slugs)) == len(slugs)
    assert all(re.fullmatch(r"[a-z]+(-[a-z0-9]+)+", s) for s in slugs)
    assert all(m.outcomes == ("Yes", "No") for m in model.markets)


def test_same_seed_and_clock_give_the_same_changes() -> None:
    """Two models with one seed stepped with the same timestamps emit identical changes."""
    config = ModelConfig(settle_delay_ms=(3, 9), account_rate=0.2, lifecycle_rate=0.01)
    a = MarketModel(seed=11, markets=12, config=config)
    b = MarketModel(seed=11, markets=12, config=config)
    assert a.run(range(1, 4000)) == b.run(range(1, 4000))
    c = MarketModel(seed=12, markets=12, config=config)
    assert c.run(range(1, 200)) != MarketModel(seed=11, markets=12, config=config).run(
        range(1, 200)
    )


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32), steps=st.integers(1, 1500))
def test_books_stay_mirrored_and_uncrossed(seed: int, steps: int) -> None:
    """Whatever the seed, the NO book mirrors YES, books never cross, sizes stay positive."""
    model = MarketModel(seed=seed, markets=6, config=ModelConfig(volatility=0.02))
    model.run(range(steps))
    _assert_invariants(model)


def test_every_book_change_carries_the_no_mirror() -> None:
    """Each YES level change is followed by the NO level at 1-p with the same size."""
    model = MarketModel(seed=2, markets=5)
    changes = [c for c in model.run(range(3000)) if isinstance(c, BookChanged)]
    assert len(changes) > 1000
    for change in changes:
        market = model.by_condition[change.condition_id]
        assert len(change.levels) % 2 == 0
        for yes, no in zip(change.levels[::2], change.levels[1::2], strict=True):
            assert yes.token_id == market.token_ids[0] and no.token_id == market.token_ids[1]
            assert no.price == 1 - yes.price and no.size == yes.size and no.side != yes.side


def test_trades_consume_the_best_level_and_update_both_last_trade_prices() -> None:
    """A trade is followed by its level's change; the sibling's last trade price is 1-p."""
    model = MarketModel(seed=4, markets=3, config=ModelConfig(weight_trade=1, weight_add=1))
    changes = model.run(range(2000))
    trades = [(i, c) for i, c in enumerate(changes) if isinstance(c, TradeExecuted)]
    assert len(trades) > 50
    for i, trade in trades:
        follow = changes[i + 1]
        assert isinstance(follow, BookChanged) and follow.condition_id == trade.condition_id
        traded = {lv.token_id: lv.price for lv in follow.levels}
        assert traded[trade.token_id] == trade.price
    last = trades[-1][1]
    sibling = model.sibling(last.token_id)
    assert model.book(last.token_id).last_trade_price is not None
    assert list(model.trades)[-1] == last
    assert model.book(sibling).last_trade_price == 1 - model.book(last.token_id).last_trade_price  # type: ignore[operator]


def test_tick_size_switches_at_the_ends_of_the_range() -> None:
    """Crossing 0.96/0.04 switches both tokens to 0.001 (one change each), and back later."""
    model = MarketModel(seed=8, markets=4, config=ModelConfig(volatility=0.03))
    changes = model.run(range(20000))
    ticks = [c for c in changes if isinstance(c, TickSizeChanged)]
    assert {(t.old, t.new) for t in ticks} == {(TICK_COARSE, TICK_FINE), (TICK_FINE, TICK_COARSE)}
    for first, second in zip(ticks[::2], ticks[1::2], strict=True):
        market = model.by_condition[first.condition_id]
        assert (first.token_id, second.token_id) == market.token_ids
        assert first.new == second.new
    _assert_invariants(model)


def test_markets_resolve_and_are_replaced() -> None:
    """A resolving market names a winner, leaves the live set, and a new market opens."""
    model = MarketModel(seed=9, markets=5, config=ModelConfig(lifecycle_rate=0.02))
    changes = model.run(range(3000))
    resolved = [c for c in changes if isinstance(c, MarketResolved)]
    opened = [c for c in changes if isinstance(c, MarketOpened)]
    assert resolved and len(opened) == len(resolved)
    assert len(model.live_markets()) == 5
    for change in resolved:
        market = model.by_condition[change.condition_id]
        assert market.resolved and change.winning_token in market.token_ids
        assert market not in model.live_markets()
    for change in opened:
        assert model.by_condition[change.condition_id] in model.markets


def test_accounts_trade_and_their_books_balance() -> None:
    """Positions and cash equal the sum of non-failed fills; orders add up to their fills."""
    config = ModelConfig(account_rate=0.25, settle_delay_ms=(2, 6), retry_rate=0.3, fail_rate=0.5)
    model = MarketModel(seed=21, markets=4, config=config)
    changes = model.run(range(1, 15000))
    kinds = Counter(type(c).__name__ for c in changes)
    assert kinds["Fill"] > 20 and kinds["OrderChanged"] > 50 and kinds["FillUpdated"] > 20
    for name, account in model.accounts.items():
        positions: Counter[str] = Counter()
        cash = config.initial_balance
        for fill in account.fills.values():
            if fill.status == "FAILED":
                continue
            signed = fill.size if fill.side == "buy" else -fill.size
            positions[fill.token_id] += signed
            cash -= signed * fill.price
        for market in model.markets:
            if market.resolved:
                for token in market.token_ids:
                    if token == market.winning_token:
                        cash += positions[token]
                    positions[token] = Decimal(0)
        held = {t: q for t, q in account.positions.items() if q}
        assert held == {t: q for t, q in positions.items() if q}, name
        assert account.balance == cash, name
        for order in account.orders.values():
            filled = sum(
                (f.size for f in account.fills.values() if f.order_id == order.order_id), Decimal(0)
            )
            assert order.size_matched == filled
            assert order.size_matched <= order.original_size
    us_tokens = {f.token_id for f in model.accounts["us"].fills.values()}
    assert all(model.by_token[t].token_ids[0] == t for t in us_tokens)


def test_fills_settle_through_the_documented_lifecycle() -> None:
    """Fills go MATCHED -> (RETRYING ->) MINED -> CONFIRMED, or RETRYING -> FAILED, reverted."""
    config = ModelConfig(account_rate=0.3, settle_delay_ms=(1, 3), retry_rate=0.5, fail_rate=0.5)
    model = MarketModel(seed=3, markets=3, config=config)
    changes = model.run(range(1, 20000))
    paths: dict[tuple[str, str], list[str]] = {}
    for change in changes:
        if isinstance(change, Fill | FillUpdated):
            key = (change.account, change.fill.trade_id)
            paths.setdefault(key, []).append(change.fill.status)
    allowed = {
        ("MATCHED", "MINED", "CONFIRMED"),
        ("MATCHED", "RETRYING", "MINED", "CONFIRMED"),
        ("MATCHED", "RETRYING", "FAILED"),
    }
    complete = [tuple(p) for p in paths.values() if p[-1] in ("CONFIRMED", "FAILED")]
    assert set(complete) == allowed
    assert all(tuple(p) in allowed or p[-1] not in ("CONFIRMED", "FAILED") for p in paths.values())
    reverted = [c for c in changes if isinstance(c, PositionChanged) and c.reason == "trade_failed"]
    assert reverted
    mined = [c.fill for c in changes if isinstance(c, FillUpdated) and c.fill.status == "MINED"]
    assert all(re.fullmatch(r"0x[0-9a-f]{64}", f.transaction_hash) for f in mined)


def test_account_orders_rest_in_the_book_until_the_flow_reaches_them() -> None:
    """A maker fill happens only after the size queued ahead of it has traded."""
    config = ModelConfig(account_rate=0.2, focus_share=0.8)
    model = MarketModel(seed=13, markets=2, config=config)
    changes = model.run(range(1, 20000))
    placed: dict[str, int] = {}
    for i, change in enumerate(changes):
        if isinstance(change, OrderChanged) and change.kind == "placement":
            placed[change.order.order_id] = i
        if isinstance(change, Fill) and change.fill.role == "maker":
            start = placed[change.fill.order_id]
            assert any(isinstance(c, TradeExecuted) for c in changes[start:i])
    assert any(isinstance(c, Fill) and c.fill.role == "maker" for c in changes)
    assert any(isinstance(c, BalanceChanged) for c in changes)


def test_thousands_of_markets_are_supported() -> None:
    """Three thousand markets build and step, with every token's book in place."""
    model = MarketModel(seed=1, markets=3000)
    model.run(range(3000))
    assert len(model.by_token) >= 6000
    assert sum(1 for m in model.markets if model.book(m.token_ids[0]).bids) > 2900


def test_plain_renders_decimals_like_the_clob() -> None:
    """Prices and sizes are trimmed decimal strings without exponents."""
    assert [plain(Decimal(v)) for v in ("0.50", "200.00", "1E+3", "0.001", "0")] == [
        "0.5",
        "200",
        "1000",
        "0.001",
        "0",
    ]


def test_bad_market_count_is_refused() -> None:
    """A model needs at least one market."""
    with pytest.raises(ValueError, match="at least 1"):
        MarketModel(seed=0, markets=0)


def test_open_orders_index_equals_a_scan_of_every_order() -> None:
    """The live-order index gives what a scan of all orders gives, in the same order."""
    model = MarketModel(
        seed=11, markets=4, config=ModelConfig(account_rate=0.5, lifecycle_rate=0.01)
    )
    checked = 0
    for ts in range(0, 12_000, 3):
        model.step(ts)
        for account in model.accounts.values():
            scan = [o for o in account.orders.values() if o.status == "live"]
            assert account.open_orders() == scan
            checked += len(scan)
    statuses = Counter(o.status for a in model.accounts.values() for o in a.orders.values())
    # The run placed, filled, cancelled and resolved orders, and some were live at checks.
    assert checked > 0 and {"live", "matched", "canceled"} <= set(statuses)
    account = model.accounts["clob"]
    order_id, order = next(iter(account.orders.items()))
    del account.orders[order_id]
    assert order_id not in account.orders.live
    account.orders.update({order_id: order})
    assert (order_id in account.orders.live) == (order.status == "live")


def test_account_history_is_bounded_and_evictions_are_counted() -> None:
    """Past ``max_account_history`` the oldest finished orders and settled fills go, counted.

    Live orders and fills still settling stay (a failing fill needs its order), and the same
    run with a big limit keeps every one of them: the bound changes what is kept, not the flow.
    """
    config = ModelConfig(account_rate=0.3, settle_delay_ms=(1, 40), retry_rate=0.5, fail_rate=0.5)
    small = MarketModel(seed=3, markets=3, config=replace(config, max_account_history=50))
    big = MarketModel(seed=3, markets=3, config=config)
    assert small.run(range(1, 20000)) == big.run(range(1, 20000))
    for name, account in small.accounts.items():
        full = big.accounts[name]
        assert len(full.fills) > 100 and len(full.orders) > 100  # the bound had work to do
        assert len(account.fills) <= 50 and len(account.orders) <= 50
        assert account.evicted_fills == len(full.fills) - len(account.fills)
        assert account.evicted_orders == len(full.orders) - len(account.orders)
        # What is kept is what the unbounded run has, and the newest of it.
        assert all(full.fills[t] == f for t, f in account.fills.items())
        assert list(account.fills)[-1] == list(full.fills)[-1]
        assert account.orders.live == full.orders.live
        settling = [f for f in full.fills.values() if f.status not in ("CONFIRMED", "FAILED")]
        assert all(account.fills[f.trade_id] == f for f in settling)
