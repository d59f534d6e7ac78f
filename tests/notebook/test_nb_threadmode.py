"""Live views in thread mode: every tick reads on the feed's thread, every redraw is whole.

With ``Runner(mode="thread")`` the simulator and the feed run on the runner's thread and write
the tables and books there, while the views' timers tick on this test's loop (the kernel's
stand-in). The data-structure methods the views read through (``RollingTable.tail_arrays``,
``OrderBook.levels``, ``Feed.stats``) are instrumented to record the thread that calls them;
each view's reader is wrapped to count its calls and check that what it copied is one instant
(columns of equal length, bid <= ask, book sides not crossed); and between ticks the drawn
figures are checked (x and y of equal length, the drawn depth never crossed). Small tables
(``max_rows``) make the ring buffers wrap constantly, where a torn read would show.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any, TypeVar

import numpy as np
import pytest

import polyresearch.notebook as nb
from polyresearch.feed import ClobFeed, Feed
from polyresearch.notebook.book_view import DepthChart
from polyresearch.notebook.charts import MIN_INTERVAL, LiveChart, PriceChart, SpreadChart
from polyresearch.notebook.runner import Runner
from polyresearch.simulator import ModelConfig, Simulator
from polyresearch.state.books import MarketParams
from polyresearch.state.orderbook import OrderBook
from polyresearch.state.table import RollingTable
from tests.conftest import UNIT, wait_until

T = TypeVar("T")

TICKS = 25  # redraws every view must make while data flows


class Calls:
    """The threads that called the instrumented read methods (one entry per call)."""

    def __init__(self) -> None:
        self.threads: list[threading.Thread] = []
        self.lock = threading.Lock()

    def record(self) -> None:
        with self.lock:
            self.threads.append(threading.current_thread())

    def seen(self) -> set[threading.Thread]:
        with self.lock:
            return set(self.threads)


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[Calls]:
    """Record the calling thread of every table, book and stats read."""
    seen = Calls()
    for owner, name in (
        (RollingTable, "tail_arrays"),
        (OrderBook, "levels"),
        (Feed, "stats"),
    ):
        original = getattr(owner, name)

        def wrapped(*args: Any, __original: Any = original, **kwargs: Any) -> Any:
            seen.record()
            return __original(*args, **kwargs)

        monkeypatch.setattr(owner, name, wrapped)
    yield seen


def _sim(seed: int, markets: int, rate: int) -> Simulator:
    # No market resolves (lifecycle_rate=0): a resolved market's books stop changing, and the
    # views must keep receiving data for as many ticks as the test counts.
    return Simulator(
        seed=seed, markets=markets, rate=rate, model_config=ModelConfig(lifecycle_rate=0)
    )


def _feed(sim: Simulator, max_rows: int = 400) -> ClobFeed:
    params = {}
    tokens: list[str] = []
    for market in sim.markets():
        p = MarketParams(
            min_order_size=format(Decimal(market.min_order_size).normalize(), "f"),
            neg_risk=market.neg_risk,
            token_ids=market.token_ids,
        )
        params.update(dict.fromkeys(market.token_ids, p))
        tokens += market.token_ids
    return ClobFeed(assets=tokens, url=sim.clob_market_url, params=params, max_rows=max_rows)


class Checked:
    """Wraps a view's reader: counts calls and checks that each copy is self-consistent."""

    def __init__(self, chart: LiveChart) -> None:
        assert chart.reader is not None
        self.inner = chart.reader
        self.chart = chart
        self.reads = 0
        self.problems: list[str] = []
        chart.reader = self

    def __call__(self, fn: Callable[[], T], /) -> T:
        result = self.inner(fn)
        self.reads += 1
        self._check(result)
        return result

    def _check(self, result: Any) -> None:
        if isinstance(self.chart, DepthChart):
            bids, asks = result
            if bids and asks and float(bids[0][0]) >= float(asks[0][0]):
                self.problems.append(f"crossed book copied: {bids[0]} / {asks[0]}")
            return
        _versions, raw = result
        groups = raw.values() if isinstance(raw, dict) else [raw]
        for arrays in groups:
            if len({len(a) for a in arrays}) != 1:
                self.problems.append(f"columns of unequal length: {[len(a) for a in arrays]}")
        if isinstance(raw, dict):  # PriceChart: quotes are ts, recv, asset, mid, bid, ask
            bid, ask = raw["quotes"][4], raw["quotes"][5]
            both = ~(np.isnan(bid) | np.isnan(ask))
            if np.any(bid[both] > ask[both]):
                self.problems.append("a copied quote row has bid > ask")


def _drawn_problems(chart: LiveChart) -> list[str]:
    """What is wrong with the figure as drawn now (empty: whole and uncrossed)."""
    problems = []
    for trace in chart.figure.data:
        x = () if trace.x is None else trace.x
        y = () if trace.y is None else trace.y
        if len(x) != len(y):
            problems.append(f"{trace.name}: {len(x)} x vs {len(y)} y")
    if isinstance(chart, DepthChart) and chart.kind == "depth":
        bids, asks = chart.figure.data
        if bids.x is not None and asks.x is not None and len(bids.x) and len(asks.x):
            if max(bids.x) >= min(asks.x):
                problems.append(f"drawn book crossed: bid {max(bids.x)} >= ask {min(asks.x)}")
    return problems


async def test_dashboard_in_thread_mode_reads_on_the_feeds_thread_and_draws_whole_frames(
    calls: Calls,
) -> None:
    """Many ticks with data flowing: all reads on the runner's thread, one per redraw."""
    runner = Runner(mode="thread")
    try:
        sim = _sim(41, 2, 400)
        await runner.run_simulator("sim", sim).wait_running(within=20 * UNIT)
        feed = _feed(sim)
        runner.run_feed("clob", feed)
        await runner.wait(lambda: len(feed.tables.quotes) >= 50, within=20 * UNIT)
        board = nb.dashboard(feed, runner=runner, interval=MIN_INTERVAL, max_points=100_000)
        board.status.interval = MIN_INTERVAL
        views = board.all_charts
        assert {type(v) for v in views} == {PriceChart, SpreadChart, DepthChart}
        checked = [Checked(v) for v in views]
        drawn: list[str] = []
        status_refreshes = 0
        try:
            while min(v.redraws for v in views) < TICKS:
                await asyncio.sleep(MIN_INTERVAL / 2)
                for view in views:
                    drawn += _drawn_problems(view)
                if board.status.summary.get("frames_in"):
                    status_refreshes += 1
                assert all(v.error is None for v in views), [v.error for v in views]
        finally:
            board.close()
        owner = runner._thread
        assert owner is not None and owner is not threading.current_thread()
        # Every table, book and stats read made by the views (and the feed) ran on the owner.
        assert calls.seen() == {owner}
        assert drawn == []
        for check in checked:
            assert check.problems == []
            if isinstance(check.chart, DepthChart):
                assert check.reads >= check.chart.redraws  # levels compared every tick
            else:
                assert check.reads == check.chart.redraws  # one read per redraw, not per column
        price = board.charts[next(iter(board.charts))][0]
        assert len(price.figure.data[0].y) > 0
        assert board.status.summary["channels"]  # the panel saw the connections
        assert status_refreshes > 0
    finally:
        await runner.shutdown()


async def test_tables_chart_with_runner_read_ticks_consistently_by_hand(calls: Calls) -> None:
    """A chart on bare tables with ``reader=runner.read``: manual ticks stay on the owner."""
    runner = Runner(mode="thread")
    try:
        sim = _sim(42, 1, 400)
        await runner.run_simulator("sim", sim).wait_running(within=20 * UNIT)
        feed = _feed(sim, max_rows=100)
        runner.run_feed("clob", feed)
        await runner.wait(lambda: len(feed.tables.quotes) >= 20, within=20 * UNIT)
        chart = PriceChart(
            feed.tables, list(sim.markets()[0].token_ids), reader=runner.read, widget=False
        )
        check = Checked(chart)
        drew = 0
        while drew < 2 * TICKS:
            drew += chart.tick()
            assert _drawn_problems(chart) == []
            await asyncio.sleep(0.005)
        assert check.problems == []
        assert check.reads == chart.redraws == drew
        assert calls.seen() == {runner._thread}
    finally:
        await runner.shutdown()


async def test_the_check_sees_a_view_that_reads_from_the_wrong_thread(calls: Calls) -> None:
    """The instrumentation can fail: a chart with no reader reads from the caller's thread."""
    runner = Runner(mode="thread")
    try:
        sim = _sim(43, 1, 500)
        await runner.run_simulator("sim", sim).wait_running(within=20 * UNIT)
        feed = _feed(sim)
        runner.run_feed("clob", feed)
        await runner.wait(lambda: len(feed.tables.quotes) >= 5, within=20 * UNIT)
        unsafe = SpreadChart(feed.tables, [sim.markets()[0].token_ids[0]], widget=False)
        assert unsafe.reader is None
        assert unsafe.tick()
        assert threading.current_thread() in calls.seen()
    finally:
        await runner.shutdown()


async def test_loop_mode_reads_directly_without_a_thread_hop(
    calls: Calls, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On the feed's own loop the views' reads are plain calls: no cross-thread submission."""
    hops: list[object] = []
    submit = asyncio.run_coroutine_threadsafe

    def counting(coro: Any, loop: asyncio.AbstractEventLoop) -> Any:
        hops.append(coro)
        return submit(coro, loop)

    async with _sim(44, 2, 400) as sim:
        async with _feed(sim) as feed:
            await feed.wait_for(lambda f: len(f.tables.quotes) >= 20, within=20 * UNIT)
            board = nb.dashboard(feed, interval=MIN_INTERVAL)
            try:
                views = board.all_charts
                assert all(v.reader == feed.read for v in views)
                monkeypatch.setattr(asyncio, "run_coroutine_threadsafe", counting)
                await wait_until(lambda: min(v.redraws for v in views) >= 5, 20)
                monkeypatch.undo()
            finally:
                board.close()
    assert hops == []
    assert calls.seen() == {threading.current_thread()}
