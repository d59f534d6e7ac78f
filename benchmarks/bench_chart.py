"""Kernel-side cost of one chart redraw: numpy arrays vs the same update as Python lists.

Run: ``.venv/bin/python benchmarks/bench_chart.py [--repeat N]``

For 1k, 10k and 100k points it times one ``batch_update`` of a FigureWidget trace (new x and y
each time: plotly sends nothing when the same object is assigned again), including plotly's
validation, buffer extraction and the Jupyter message packing the kernel does before the
ZMQ send (``jupyter_client.Session.pack`` on every comm message). No browser, no ZMQ. It
also times ``PriceChart.tick()`` end to end (table read, per-asset filter, decimation to the
cap, batch_update) on a quotes table holding N rows.

The browser side (update rate and latency a page sees) needs JupyterLab + Chromium and is not
measured here.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import comm
import numpy as np
from jupyter_client.session import Session

SIZES = (1_000, 10_000, 100_000)


class PackingComm:
    """A comm that packs each message as the kernel would (JSON + binary buffers), then drops it."""

    kernel = "bench"

    def __init__(self, **kwargs: Any) -> None:
        self.comm_id = "bench"
        self.session = Session()
        self.bytes = 0

    def open(self, *args: Any, **kwargs: Any) -> None:
        pass

    def on_msg(self, *args: Any, **kwargs: Any) -> None:
        pass

    def close(self, *args: Any, **kwargs: Any) -> None:
        pass

    def send(self, data: Any = None, metadata: Any = None, buffers: Any = None) -> None:
        content = {"comm_id": self.comm_id, "data": data}
        self.bytes += len(self.session.pack(content))
        self.bytes += sum(memoryview(b).nbytes for b in buffers or [])


def _median_ms(
    fn: Callable[[int], None], repeat: int, setup: Callable[[int], None] | None = None
) -> float:
    times = []
    for i in range(repeat):
        if setup is not None:
            setup(i)
        start = time.perf_counter()
        fn(i)
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def bench_batch_update(n: int, repeat: int) -> tuple[float, float]:
    import plotly.graph_objects as go

    fig = go.FigureWidget(data=[go.Scatter(x=[], y=[], mode="lines")])
    rng = np.random.default_rng(n)
    xs = [np.arange(n, dtype=np.float64) + i for i in range(repeat)]
    ys = [rng.random(n) for _ in range(repeat)]

    def numpy_update(i: int) -> None:
        with fig.batch_update():
            fig.data[0].x = xs[i]
            fig.data[0].y = ys[i]

    xl = [x.tolist() for x in xs]
    yl = [y.tolist() for y in ys]

    def list_update(i: int) -> None:
        with fig.batch_update():
            fig.data[0].x = xl[i]
            fig.data[0].y = yl[i]

    numpy_update(0)  # warm-up
    return _median_ms(numpy_update, repeat), _median_ms(list_update, repeat)


def bench_tick(n: int, repeat: int, max_points: int) -> float:
    from polyresearch.notebook.charts import PriceChart
    from polyresearch.state.schemas import make_tables

    tables = make_tables(max_rows=n + 10 * repeat + 10)
    t0 = 1_700_000_000_000_000_000

    def add(rows: int, start: int) -> None:
        ts = [t0 + (start + k) * 1_000_000 for k in range(rows)]
        mids = (0.5 + 0.1 * np.sin(np.arange(start, start + rows) / 500)).tolist()
        tables.quotes.extend(
            {
                "ts_ns": ts,
                "recv_ns": ts,
                "venue": ["clob"] * rows,
                "market": ["m"] * rows,
                "asset_id": ["yes"] * rows,
                "best_bid": [m - 0.01 for m in mids],
                "best_ask": [m + 0.01 for m in mids],
                "mid": mids,
                "spread": [0.02] * rows,
                "kind": ["book"] * rows,
            }
        )

    add(n, 0)
    chart = PriceChart(tables, ["yes"], bbo=True, trades=False, max_points=max_points)

    def rows(i: int) -> None:
        add(10, n + 10 * i)  # new rows (untimed) so that every tick redraws

    def tick(i: int) -> None:
        assert chart.tick()

    return _median_ms(tick, repeat, setup=rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=9)
    args = parser.parse_args()
    comm.create_comm = lambda **kwargs: PackingComm(**kwargs)
    print("one batch_update of one trace (x and y), median ms; tick() = PriceChart redraw of")
    print("mid/bid/ask from a quotes table of N rows, uncapped and capped at 5,000 points")
    head = f"{'points':>8} {'numpy':>8} {'lists':>8} {'lists/numpy':>12}"
    print(f"{head} {'tick() all':>11} {'tick() 5k':>10}")
    for n in SIZES:
        numpy_ms, list_ms = bench_batch_update(n, args.repeat)
        full = bench_tick(n, args.repeat, max_points=n + 10 * args.repeat + 10)
        capped = bench_tick(n, args.repeat, max_points=5_000)
        ratio = list_ms / numpy_ms
        row = f"{n:>8} {numpy_ms:>8.2f} {list_ms:>8.2f} {ratio:>11.1f}x"
        print(f"{row} {full:>11.2f} {capped:>10.2f}")


if __name__ == "__main__":
    main()
