"""Does a feed's per-message cost grow with the number of books it keeps? (offline, one core)

    .venv/bin/python benchmarks/bench_book_count.py [--frames N] [--passes P]

Part of issue 5's "(c) per-message cost at 5,000 subscribed assets vs 1" investigation
(``bench_ingest.py --only one_asset,5000_assets`` measures it live). That live pair differs
in more than the book count: the frames (another market's mix and book sizes) and the
transport (50 connections vs 1). This script holds the frames fixed and varies only the
state: the simulator's blast (the same one ``bench_ingest.py`` runs, 2,500 markets) is
recorded for a few subscriptions (one asset's market; one 100-asset connection), then each
recording goes through ``ClobFeed``'s ``on_frame`` (decode, books with hash and BBO checks,
table rows) twice, in alternating passes with fresh state: subscribed to that subscription
only, and subscribed to all 5,000 assets with all 5,000 books LIVE first (the initial dump).
It prints CPU µs per message of both and their ratio (goal: ~1.0x, i.e. the state layer does
work per changed book, not per book), then how much more a 100-asset connection's frames cost
than a 1-asset subscription's with the same state (the message mix's share of the live ratio).
Watchdog and sampler timers do not run here; their per-tick cost is proportional to
pending/gapped assets (see ``ClobFeed._watchdog``).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _ingest_clients as clients  # noqa: E402
import bench_ingest as ingest  # noqa: E402

from polyresearch.feed import ClobFeed  # noqa: E402
from polyresearch.protocol import clob as clob_protocol  # noqa: E402


def cpu_us_per_msg(feed: ClobFeed, frames: list[str], dump: str | None) -> float:
    on_frame = feed._channels[0].on_frame
    if dump is not None:
        on_frame(dump, 1)  # every book LIVE before the measured frames
    gc.collect()
    start = time.process_time()
    for frame in frames:
        on_frame(frame, 1)
    return (time.process_time() - start) / len(frames) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=15_000, help="recorded frames per stream")
    parser.add_argument("--passes", type=int, default=3, help="passes per stream and state")
    args = parser.parse_args()
    ingest.pin_process(os.getpid(), 1)  # this process on CPU 1, the simulator on CPU 0
    server = ingest.simulator(ingest.BIG_MARKETS, 10 * ingest.BIG_MARKETS, seed=2)
    try:
        info = server.ready()
        spec_params = ingest.gamma_params(info["http_url"])
        assets: list[str] = info["clob"]["asset_ids"]
        url: str = info["clob"]["market_url"]
        params = clients.clob_params({"params": spec_params})
        subs: dict[str, list[str]] = {}
        for run in range(2):  # the YES tokens bench_ingest's one_asset runs pick (focus markets)
            one = assets[2 * (run % ingest.FOCUS_MARKETS)]
            subs[f"1 asset ({one[:8]}…)"] = [one]
        for k in (0, 25):
            subs[f"100 assets (conn {k})"] = assets[100 * k : 100 * (k + 1)]

        async def record() -> tuple[str, dict[str, list[str]]]:
            dump = (await clients._record(url, clob_protocol.market_subscribe(assets), 1))[0]
            streams = {}
            for name, sub in subs.items():
                frames = await clients._record(
                    url, clob_protocol.market_subscribe(sub), args.frames + 1
                )
                streams[name] = frames[1:]  # past this subscription's own initial dump
            return dump, streams

        dump, streams = asyncio.run(record())
    finally:
        server.stop()

    def feed(sub: list[str]) -> ClobFeed:
        return ClobFeed(
            assets=sub,
            url="ws://127.0.0.1:9",
            params=params,
            hash_every=16,
            max_assets_per_connection=len(assets),
        )

    print(f"{'stream':<28}{'own state':>10}{'5,000 books':>13}{'ratio':>8}")
    ratios = []
    with_all: dict[str, float] = {}
    for name, frames in streams.items():
        small: list[float] = []
        big: list[float] = []
        for _ in range(args.passes):  # alternate, so load drifts hit both alike
            small.append(cpu_us_per_msg(feed(subs[name]), frames, None))
            big.append(cpu_us_per_msg(feed(assets), frames, dump))
        s, b = statistics.median(small), statistics.median(big)
        ratios.append(b / s)
        with_all[name] = b
        print(f"{name:<28}{s:>10.2f}{b:>13.2f}{b / s:>7.2f}x", flush=True)
    result: dict[str, Any] = {"median_ratio": statistics.median(ratios)}
    print(
        f"\nCPU/msg with 5,000 live books / with the subscription's own books, same frames: "
        f"{result['median_ratio']:.2f}x (median over streams)"
    )
    # The same state (5,000 live books), different frames: what the message mix alone does to
    # bench_ingest's (c) ratio (a 100-asset connection's share of the blast also carries every
    # one of its markets' opening books once per cycle); the live ratio's remainder is the
    # transport's (50 connections).
    one = statistics.median(v for k, v in with_all.items() if k.startswith("1 asset"))
    many = statistics.median(v for k, v in with_all.items() if k.startswith("100 assets"))
    print(
        f"CPU/msg of a 100-asset connection's frames / a 1-asset subscription's frames, both "
        f"with 5,000 live books: {many / one:.2f}x (the message mix's part of the (c) ratio)"
    )


if __name__ == "__main__":
    main()
