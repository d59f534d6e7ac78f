"""What reading through a feed costs a chart tick: direct vs ``feed.read`` (loop and thread mode).

Run: ``.venv/bin/python benchmarks/bench_chart_reader.py [--rows N] [--repeat N]``

Charts copy each redraw's data in one call of their reader (``feed.read`` when drawn from a
feed). In loop mode that call must cost nothing measurable next to the redraw; in thread mode
it is one round trip to the feed's thread per tick. A live feed runs against the embedded
simulator with no flow (``rate=0``), once on this loop (loop mode) and once on a
``Runner(mode="thread")``; new quote rows are appended through the feed's own thread (untimed)
so that every timed tick redraws (after an untimed warm-up; the best of three interleaved
medians of each path, as the machine is shared). Printed: the median ``PriceChart.tick()``
(plain figure, ``--rows`` rows in the table) with no reader, with ``feed.read`` in loop mode
and in thread mode, each as a ratio to the no-reader baseline of the same run, and the bare
per-call cost of the three paths.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Callable

from polyresearch.feed import ClobFeed
from polyresearch.notebook.charts import PriceChart, Reader
from polyresearch.notebook.runner import Runner
from polyresearch.simulator import Simulator
from polyresearch.state.schemas import Tables

ASSET = "bench-asset"


def _append(tables: Tables, n: int, start: int) -> None:
    for i in range(n):
        ts = 10**18 + (start + i) * 10**6
        tables.quotes.append(
            ts_ns=ts,
            recv_ns=ts,
            venue="clob",
            market="m",
            asset_id=ASSET,
            best_bid=0.4,
            best_ask=0.6,
            mid=0.5,
            spread=0.2,
            kind="book",
        )


def _median_tick_ms(feed: ClobFeed, reader: Reader | None, repeat: int) -> float:
    chart = PriceChart(feed.tables, [ASSET], widget=False, trades=False, reader=reader)
    times = []
    for i in range(repeat):
        feed.read(lambda i=i: _append(feed.tables, 1, 10**7 + i))  # untimed: a new row
        start = time.perf_counter()
        drew = chart.tick()
        times.append(time.perf_counter() - start)
        assert drew
    return statistics.median(times) * 1e3


def _per_call_us(call: Callable[[Callable[[], int]], int], n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        call(int)
    return (time.perf_counter() - start) / n * 1e6


async def main(rows: int, repeat: int) -> None:
    async with Simulator(seed=1, markets=1, rate=0) as sim:
        tokens = list(sim.markets()[0].token_ids)
        async with ClobFeed(assets=tokens, url=sim.clob_market_url, max_rows=2 * rows) as feed:
            await feed.wait_for(lambda f: len(f.tables.quotes) > 0)
            _append(feed.tables, rows, 0)
            _median_tick_ms(feed, None, 20)  # warm-up (plotly validators, numpy), untimed
            # Interleaved rounds, best median of each: the machine is shared and noisy.
            direct = loop_mode = float("inf")
            for _ in range(3):
                direct = min(direct, _median_tick_ms(feed, None, repeat))
                loop_mode = min(loop_mode, _median_tick_ms(feed, feed.read, repeat))
            direct_call = _per_call_us(lambda fn: fn(), 20_000)
            loop_call = _per_call_us(feed.read, 20_000)

    runner = Runner(mode="thread")
    try:
        sim = Simulator(seed=1, markets=1, rate=0)
        await runner.run_simulator("sim", sim).wait_running()
        tokens = list(sim.markets()[0].token_ids)
        threaded = ClobFeed(assets=tokens, url=sim.clob_market_url, max_rows=2 * rows)
        runner.run_feed("clob", threaded)
        await runner.wait(lambda: len(threaded.tables.quotes) > 0)
        threaded.read(lambda: _append(threaded.tables, rows, 0))
        thread_mode = min(_median_tick_ms(threaded, threaded.read, repeat) for _ in range(3))
        thread_call = _per_call_us(threaded.read, 2_000)
    finally:
        await runner.shutdown()

    print(f"PriceChart.tick() on {rows} rows, median of {repeat} (ms; ratio to no reader)")
    print(f"  no reader            {direct:8.3f}  x1.000")
    print(f"  feed.read loop mode  {loop_mode:8.3f}  x{loop_mode / direct:.3f}")
    print(f"  feed.read thread     {thread_mode:8.3f}  x{thread_mode / direct:.3f}")
    print("one read of a trivial fn (us)")
    print(f"  direct call          {direct_call:8.3f}")
    print(f"  feed.read loop mode  {loop_call:8.3f}")
    print(f"  feed.read thread     {thread_call:8.1f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    asyncio.run(main(args.rows, args.repeat))
