"""Kernel-side cost of one chart redraw: numpy arrays vs the same update as Python lists.

Run: ``.venv/bin/python benchmarks/bench_chart.py [--repeat N]``

For 1k, 10k and 100k points it times one ``batch_update`` of a FigureWidget trace (new x and y
each time: plotly sends nothing when the same object is assigned again), including plotly's
validation, buffer extraction and the Jupyter message packing the kernel does before the
ZMQ send (``jupyter_client.Session.pack`` on every comm message). No browser, no ZMQ. It
also times ``PriceChart.tick()`` end to end (table read, per-asset filter, decimation to the
cap, batch_update) on a quotes table holding N rows.

``--browser`` measures what a page actually sees: a simulator process streams ~20k msg/s
(``--rate``) to a ``ClobFeed`` in a JupyterLab kernel, one ``PriceChart`` of the busiest asset
redraws at 4 Hz with up to 10k points, and headless Debian Chromium polls the chart every
10 ms. Each redraw stamps the kernel's send time into the chart title (inside the same
``batch_update``), so the page's latency is its clock minus the stamp (same machine, same
clock). Printed: the kernel's redraw rate (the baseline: what was sent) next to the rate the
page saw, latency p50/p90/max, and the feed's msg/s. One chart only: several FigureWidgets
created together do not update in the page (see tests/browser).
Run: ``.venv/bin/python benchmarks/bench_chart.py --browser [--seconds 20] [--rate 20000]``
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
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


BROWSER_CELL = """
import asyncio, contextlib, time
import polyresearch
from polyresearch.notebook.charts import PriceChart
feed = polyresearch.ClobFeed(assets={assets!r}, url={url!r})
feed.start()
await asyncio.sleep(3)  # let the tables fill, then chart the asset with the most rows
counts = feed.tables.quotes.to_polars()["asset_id"].value_counts(sort=True)
asset = counts["asset_id"][0]
chart = PriceChart(feed, [asset], bbo=False, trades=False, max_points={points},
                   interval={interval})
_batch = chart.figure.batch_update

@contextlib.contextmanager
def stamped():
    with _batch():
        yield
        chart.figure.layout.title.text = f"sent {{time.time() * 1000:.1f}}"

chart.figure.batch_update = stamped
chart.start()
display(chart.figure)
"""

WATCH_JS = """
() => {
  window.__seen = [];
  let last = null;
  setInterval(() => {
    const gd = document.querySelector('.jp-NotebookPanel .js-plotly-plot');
    if (!gd || !gd.layout || !gd.layout.title) return;
    const title = gd.layout.title.text || '';
    if (title !== last && title.startsWith('sent ')) {
      last = title;
      const n = gd.data && gd.data[0] && gd.data[0].x ? gd.data[0].x.length : 0;
      window.__seen.push([Date.now(), parseFloat(title.slice(5)), n]);
    }
  }, 10);
}
"""


def _kernel_eval(runtime: Path, code: str) -> str:
    """Run ``code`` in the notebook's kernel (a second client on its connection file)."""
    import jupyter_client

    files = sorted(runtime.glob("kernel-*.json"))
    client = jupyter_client.BlockingKernelClient(connection_file=str(files[-1]))
    client.load_connection_file()
    client.start_channels()
    out: list[str] = []
    try:
        client.execute_interactive(
            code,
            timeout=60,
            output_hook=lambda m: (
                out.append(m["content"].get("text", "")) if m["msg_type"] == "stream" else None
            ),
        )
    finally:
        client.stop_channels()
    return "".join(out)


def bench_browser(seconds: float, rate: float, points: int, interval: float) -> None:
    root = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(root / "tests" / "browser"))
    import nbformat
    from _browser_lab import (
        LabServer,
        launch_chromium,
        missing_browser_stack,
        open_notebook,
        run_all,
        wait_for,
    )
    from playwright.sync_api import sync_playwright

    reason = missing_browser_stack()
    if reason is not None:
        raise SystemExit(f"--browser needs the browser stack: {reason}")
    log = tempfile.TemporaryFile(mode="w+")
    sim = subprocess.Popen(
        [sys.executable, "-m", "polyresearch.simulator", "--venue", "clob", "--markets", "4",
         "--rate", str(rate), "--ping-timeout", "3600"],
        stdout=subprocess.PIPE, stderr=log, text=True,
        env={**os.environ, "PYTHONPATH": str(root)},
    )  # fmt: skip
    try:
        assert sim.stdout is not None
        info = json.loads(sim.stdout.readline())["clob"]  # only URLs and ids are used
        work = Path(tempfile.mkdtemp(prefix="bench_chart_browser_"))
        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
        cell = BROWSER_CELL.format(
            assets=info["asset_ids"], url=info["market_url"], points=points, interval=interval
        )
        nb.cells = [nbformat.v4.new_code_cell(cell)]
        nbformat.write(nb, work / "bench.ipynb")
        with LabServer(work, [work / "bench.ipynb"]) as lab, sync_playwright() as p:
            context = launch_chromium(p, work / "profile")
            try:
                page = context.pages[0]
                open_notebook(page, lab, "bench.ipynb", timeout=180)
                run_all(page)
                page.evaluate(WATCH_JS)
                seen = lambda: page.evaluate("window.__seen.length")  # noqa: E731
                wait_for("the chart's first stamped redraw", seen, 240, step=0.5)
                wait_for(f"{points} points in the page", lambda: page.evaluate(
                    f"window.__seen.length && window.__seen[window.__seen.length-1][2] >= {points}"
                ), 240, step=0.5)  # fmt: skip
                runtime = work / "jupyter" / "runtime"
                probe = "print(chart.redraws, feed.stats().frames_in, time.time())"
                r0, f0, t0 = (float(v) for v in _kernel_eval(runtime, probe).split())
                start = page.evaluate("window.__seen.length")
                time.sleep(seconds)
                r1, f1, t1 = (float(v) for v in _kernel_eval(runtime, probe).split())
                rows = page.evaluate("window.__seen")[start:]
            finally:
                context.close()
    finally:
        sim.send_signal(signal.SIGTERM)
        sim.wait(10)
        log.close()
    elapsed = t1 - t0
    latencies = sorted(now - sent for now, sent, _n in rows)
    sent_hz = (r1 - r0) / elapsed
    seen_hz = len(rows) / seconds
    print(f"browser: one PriceChart, {points:,} points cap, redraw every {interval * 1000:.0f} ms")
    print(f"  feed in the kernel: {(f1 - f0) / elapsed:,.0f} msg/s (simulator --rate {rate:,.0f})")
    print(f"  points per update in the page: {rows[-1][2] if rows else 0:,}")
    print(f"  updates sent by the kernel: {sent_hz:.2f}/s (baseline)")
    print(f"  updates seen by the page:   {seen_hz:.2f}/s  ({seen_hz / sent_hz:.2f}x of sent)")
    if latencies:
        p50 = statistics.median(latencies)
        p90 = latencies[int(0.9 * (len(latencies) - 1))]
        print(f"  latency kernel send -> page: p50 {p50:.0f} ms, p90 {p90:.0f} ms, "
              f"max {latencies[-1]:.0f} ms")  # fmt: skip
        print(f"  goals: >= 4 Hz seen: {'met' if seen_hz >= 4 else 'NOT met'}; "
              f"p50 <= 100 ms: {'met' if p50 <= 100 else 'NOT met'}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--browser", action="store_true", help="measure what a page sees")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rate", type=float, default=20_000.0)
    parser.add_argument("--points", type=int, default=10_000)
    parser.add_argument("--interval", type=float, default=0.25)
    args = parser.parse_args()
    if args.browser:
        bench_browser(args.seconds, args.rate, args.points, args.interval)
        return
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
