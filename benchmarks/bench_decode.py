"""Decode throughput: ``ClobMarketDecoder.receive`` vs ``json.loads`` on the same CLOB frames.

Generates a format-faithful mixed market stream (docs/performance-notes.md, "Messages"): a
``book`` per asset first (initial-dump key order), then 1% post-trade ``book`` (~20 levels a
side), 7% ``last_trade_price`` and 92% ``price_change`` with two entries (one per token of the
market, mirrored prices), ``event_type`` last; 77-digit asset ids, ``0x`` + 64-hex markets,
40-hex hashes, prices on a 0.01 grid; half the frames compact, half with ``", "`` between
members like the Dec-2025/May-2026 captures. Timestamps advance 0-4 ms per message.

Both contenders see the same list of ``str`` frames in the same run, in alternating passes;
the median pass is reported. ``json.loads`` only parses; the decoder also validates, converts to
normalized events, orders book levels and counts stats, so the ratio is a floor on its lead.
On a shared machine, ``--runs N`` repeats each measurement N times (a fresh decoder each time)
and also prints the median of the N ratios.

``--callgrind`` counts instructions instead of time (valgrind's callgrind, on the same frames:
every 10th frame of the mixed stream, and up to 1,500 of each kind): repeatable to a few parts
in ten thousand however loaded the machine is, so small changes can be compared. Each contender
runs inside its own ``functools.reduce`` call, the only code callgrind counts; the script re-runs
itself under valgrind (``apt-get install valgrind``) and prints instructions per frame and their
ratio. Instructions are not time (a cache miss costs more than an add), so the timed ratio is
the goal's measure; the two moved together in our measurements.

Run:
    .venv/bin/python benchmarks/bench_decode.py [--messages 50000] [--passes 7] [--by-kind]
        [--runs 1] [--callgrind]
"""

from __future__ import annotations

import argparse
import functools
import gc
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from polyresearch.protocol.clob import ClobMarketDecoder

N_MARKETS = 25


class StreamGenerator:
    """Seeded generator of CLOB market-channel frames (str), with realistic ids and sizes."""

    def __init__(self, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        self.ts = 1_766_481_546_776
        self.markets = [
            ("0x" + self._hex(64), self._asset_id(), self._asset_id()) for _ in range(N_MARKETS)
        ]

    def _hex(self, n: int) -> str:
        return "".join(self.rng.choice("0123456789abcdef") for _ in range(n))

    def _asset_id(self) -> str:
        return str(self.rng.randrange(10**76, 10**77))

    def _size(self) -> str:
        return f"{self.rng.randrange(1, 2_000_000) / 100:g}"

    def _price(self, cents: int) -> str:
        return f"{cents / 100:g}"  # trimmed like the venue: "0.5", "0.48"

    @staticmethod
    def _dumps(obj: dict[str, Any], spaced: bool) -> str:
        return json.dumps(obj, separators=(", ", ":") if spaced else (",", ":"))

    def _levels(self, cents: Sequence[int]) -> list[dict[str, str]]:
        return [{"price": self._price(c), "size": self._size()} for c in cents]

    def book(self, market: str, asset: str, *, initial: bool, spaced: bool) -> str:
        mid = self.rng.randrange(25, 75)
        bids = self._levels(sorted(self.rng.sample(range(1, mid), min(20, mid - 1))))
        asks = self._levels(sorted(self.rng.sample(range(mid + 1, 100), 20), reverse=True))
        ts = str(self.ts)
        obj: dict[str, Any]
        if initial:  # initial-dump key order (protocol-clob.md §4.1)
            obj = {"market": market, "asset_id": asset, "timestamp": ts, "hash": self._hex(40)}
            obj |= {"bids": bids, "asks": asks, "tick_size": "0.01", "event_type": "book"}
            obj["last_trade_price"] = f"{mid / 100:.3f}"
        else:  # post-trade live book key order
            obj = {"market": market, "asset_id": asset, "bids": bids, "asks": asks}
            obj |= {"hash": self._hex(40), "timestamp": ts, "event_type": "book"}
        return self._dumps(obj, spaced)

    def last_trade_price(self, market: str, asset: str, spaced: bool) -> str:
        obj = {
            "asset_id": asset,
            "event_type": "last_trade_price",
            "fee_rate_bps": "0",
            "market": market,
            "price": self._price(self.rng.randrange(1, 100)),
            "side": self.rng.choice(("BUY", "SELL")),
            "size": self._size(),
            "timestamp": str(self.ts),
            "transaction_hash": "0x" + self._hex(64),
        }
        return self._dumps(obj, spaced)

    def price_change(self, market: str, yes: str, no: str, spaced: bool) -> str:
        cents = self.rng.randrange(1, 100)
        size = str(self.rng.randrange(0, 5000))
        buy = self.rng.random() < 0.5
        bid, ask = self.rng.randrange(1, 50), self.rng.randrange(50, 100)
        entries = [
            {
                "asset_id": yes,
                "price": self._price(cents),
                "size": size,
                "side": "BUY" if buy else "SELL",
                "hash": self._hex(40),
                "best_bid": self._price(bid),
                "best_ask": self._price(ask),
            },
            {  # the mirrored level on the sibling token (§4)
                "asset_id": no,
                "price": self._price(100 - cents),
                "size": size,
                "side": "SELL" if buy else "BUY",
                "hash": self._hex(40),
                "best_bid": self._price(100 - ask),
                "best_ask": self._price(100 - bid),
            },
        ]
        obj = {"market": market, "price_changes": entries, "timestamp": str(self.ts)}
        obj["event_type"] = "price_change"
        return self._dumps(obj, spaced)

    def mixed(self, n: int) -> tuple[list[str], list[str]]:
        """Return ``n`` frames and their kinds: initial books, then 1% / 7% / 92%."""
        frames: list[str] = []
        kinds: list[str] = []
        for market, yes, no in self.markets:
            for asset in (yes, no):
                frames.append(self.book(market, asset, initial=True, spaced=False))
                kinds.append("book")
        while len(frames) < n:
            self.ts += self.rng.randrange(0, 5)
            market, yes, no = self.rng.choice(self.markets)
            spaced = self.rng.random() < 0.5
            r = self.rng.random()
            if r < 0.01:
                frames.append(self.book(market, yes, initial=False, spaced=spaced))
                kinds.append("book")
            elif r < 0.08:
                frames.append(self.last_trade_price(market, yes, spaced))
                kinds.append("last_trade_price")
            else:
                frames.append(self.price_change(market, yes, no, spaced))
                kinds.append("price_change")
        return frames[:n], kinds[:n]


def time_passes(
    contenders: dict[str, Callable[[str], object]], frames: list[str], passes: int
) -> dict[str, float]:
    """Median seconds per pass for each contender, passes interleaved to share any drift."""
    results: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(passes):
        for name, fn in contenders.items():
            gc.collect()
            start = time.perf_counter()
            for frame in frames:
                fn(frame)
            results[name].append(time.perf_counter() - start)
    return {name: statistics.median(times) for name, times in results.items()}


def report(title: str, frames: list[str], passes: int, runs: int = 1) -> float:
    """Print the median-pass rates of both contenders (``runs`` times); return the ratio.

    With several runs, the returned ratio is the median of the runs' ratios.
    """
    n = len(frames)
    mean = sum(map(len, frames)) / n
    print(f"{title}: {n:,} frames, mean {mean:,.0f} B, median of {passes} passes")
    ratios: list[float] = []
    for _ in range(runs):
        decoder = ClobMarketDecoder()
        medians = time_passes(
            {"json.loads": json.loads, "receive": decoder.receive}, frames, passes
        )
        stats = decoder.stats()
        if stats.dropped_total:
            raise SystemExit(f"decoder dropped frames: {dict(stats.dropped)}")
        base, ours = n / medians["json.loads"], n / medians["receive"]
        ratios.append(ours / base)
        print(f"  json.loads                  {base:>12,.0f} msgs/s  {1e9 / base:>7,.0f} ns/msg")
        print(f"  ClobMarketDecoder.receive   {ours:>12,.0f} msgs/s  {1e9 / ours:>7,.0f} ns/msg")
        print(f"  ratio receive / json.loads  {ratios[-1]:>12.2f}x")
    ratio = statistics.median(ratios)
    if runs > 1:
        listed = " ".join(f"{r:.2f}" for r in ratios)
        print(f"  median ratio of {runs} runs    {ratio:>12.2f}x  ({listed})")
    return ratio


CALLGRIND_KIND_FRAMES = 1_500


def callgrind_sets(frames: list[str], kinds: list[str]) -> dict[str, list[str]]:
    """The frames counted by ``--callgrind``: a tenth of the mixed stream, then each kind."""
    sets = {"mixed": frames[::10]}
    for kind in ("price_change", "last_trade_price", "book"):
        sets[kind] = [f for f, k in zip(frames, kinds, strict=True) if k == kind]
        sets[kind] = sets[kind][:CALLGRIND_KIND_FRAMES]
    return sets


def callgrind_child(sets: dict[str, list[str]]) -> None:
    """Under callgrind: each (set, contender) in one reduce() call, its label on stdout."""
    decoder = ClobMarketDecoder()
    contenders: dict[str, Callable[[str], object]] = {
        "json.loads": json.loads,
        "receive": decoder.receive,
    }
    for frames in sets.values():  # warm up: specialisation, caches, lazy imports
        for frame in frames[:30]:
            for fn in contenders.values():
                fn(frame)
    for name, frames in sets.items():
        for contender, fn in contenders.items():
            print(f"{name}\t{contender}\t{len(frames)}", flush=True)
            functools.reduce(lambda _, frame, fn=fn: fn(frame), frames, None)  # type: ignore[misc]
    if decoder.stats().dropped_total:
        raise SystemExit(f"decoder dropped frames: {dict(decoder.stats().dropped)}")


def callgrind_report(sets: dict[str, list[str]]) -> None:
    """Re-run this script under callgrind and print instructions per frame and the ratios."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise SystemExit("--callgrind needs valgrind (apt-get install valgrind)")
    with tempfile.TemporaryDirectory() as tmp:
        # The frames go to the child in a file: generating them under valgrind takes minutes.
        frames_file = Path(tmp) / "frames.json"
        frames_file.write_text(json.dumps(sets))
        out = Path(tmp) / "cg.out"
        cmd = [valgrind, "--tool=callgrind", "--collect-atstart=no"]
        cmd += ["--toggle-collect=functools_reduce", "--dump-after=functools_reduce"]
        cmd += [f"--callgrind-out-file={out}", sys.executable, __file__]
        cmd += ["--cg-child", str(frames_file)]
        # A fixed hash seed: str hashes (dict and set lookups) then cost the same every run.
        env = os.environ | {"PYTHONHASHSEED": "0"}
        child = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
        if child.returncode:
            raise SystemExit(f"callgrind run failed:\n{child.stderr[-2000:]}")
        labels = [line.split("\t") for line in child.stdout.splitlines() if "\t" in line]
        # One dump per reduce() call, numbered in call order.
        dumps = sorted(Path(tmp).glob("cg.out.*"), key=lambda p: int(p.suffix[1:]))
        counts = []
        for dump in dumps:
            found = re.search(r"^(?:summary|totals): (\d+)", dump.read_text(), re.MULTILINE)
            counts.append(int(found.group(1)) if found else 0)
    if len(counts) != len(labels):
        raise SystemExit(f"expected {len(labels)} callgrind dumps, found {len(counts)}")
    per_frame: dict[str, dict[str, float]] = {}
    for (name, contender, n), count in zip(labels, counts, strict=True):
        per_frame.setdefault(name, {})[contender] = count / int(n)
    print("callgrind instructions per frame (the loop's own reduce/lambda cost included in both)")
    for name, ir in per_frame.items():
        base, ours = ir["json.loads"], ir["receive"]
        print(
            f"  {name:<17} json.loads {base:>9,.0f}  receive {ours:>9,.0f}"
            f"  ratio {base / ours:.2f}x"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--passes", type=int, default=7)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--by-kind", action="store_true", help="also time each kind alone")
    parser.add_argument("--runs", type=int, default=1, help="repeat each measurement N times")
    parser.add_argument(
        "--callgrind", action="store_true", help="count instructions (valgrind) instead of time"
    )
    parser.add_argument("--cg-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.cg_child:
        callgrind_child(json.loads(Path(args.cg_child).read_text()))
        return
    frames, kinds = StreamGenerator(args.seed).mixed(args.messages)
    if args.callgrind:
        callgrind_report(callgrind_sets(frames, kinds))
        return
    title = "mixed stream (1% book, 7% last_trade_price, 92% price_change)"
    report(title, frames, args.passes, args.runs)
    if args.by_kind:
        for kind in ("price_change", "last_trade_price", "book"):
            subset = [f for f, k in zip(frames, kinds, strict=True) if k == kind]
            report(kind, subset, args.passes, args.runs)


if __name__ == "__main__":
    main()
