"""Recorder: how long a frame tap call can stall the event loop, writer thread vs inline writes.

The recorder's ``on_frame`` runs on the feed's event loop. Every ``chunk_rows`` frames a chunk
is written (Arrow conversion, zstd Parquet, fsync, rename). Written inline, that whole write
is one stall of the loop, during which no socket is read. With the writer thread the call
only hands the buffer over.

Measured in the same run, alternating passes (median of the per-pass numbers reported):

- ``threaded``: :class:`polyresearch.record.Recorder` as shipped;
- ``inline`` (baseline): the same class with the chunk written in the caller (what the
  recorder did before the writer thread);
- ``no-write`` (noise floor): one chunk bigger than the run, so no call writes anything; its
  worst call is what the machine's scheduling and GC alone cost.

For each: the worst single ``on_frame`` call (the stall a flush causes), the 99.9th percentile
call, and frames/s through the tap including ``close()`` (all data on disk). The ratio
``inline worst / threaded worst`` is the claim: how much shorter the longest loop stall gets.
Frames are CLOB ``price_change`` messages of ~330 bytes, as on the market channel.

Run:
    .venv/bin/python benchmarks/bench_record_writer.py [--frames 200000] [--chunk-rows 20000]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from polyresearch.record import Recorder

FRAME = (
    '{"event_type":"price_change","market":"0x%064x","price_changes":[{"asset_id":"%077d",'
    '"price":"0.%02d","size":"%d.5","side":"BUY","hash":"%040x","best_bid":"0.48",'
    '"best_ask":"0.52"}],"timestamp":"%d"}'
)


class InlineRecorder(Recorder):
    """Baseline: writes each chunk in the caller, as a recorder without a writer thread."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lock = threading.RLock()  # _write takes the lock again for its counters

    def _flush(self) -> None:
        item = self._take()
        if item is not None:
            self._write(*item)


def frames(n: int) -> list[str]:
    return [FRAME % (i % 50, i % 100, i % 99 + 1, i, i, 1_795_000_000_000 + i) for i in range(n)]


def run(cls: type[Recorder], data: list[str], chunk_rows: int) -> tuple[float, float, float]:
    """(worst call, p99.9 call, frames/s including close) of one pass."""
    directory = Path(tempfile.mkdtemp(prefix="bench-rec-"))
    try:
        rec = cls(directory, venue="clob", chunk_rows=chunk_rows, chunk_bytes=1 << 40)
        on_frame = rec.on_frame
        calls: list[float] = []
        clock = time.perf_counter
        start = clock()
        ts = 1_795_000_000_000_000_000
        for i, frame in enumerate(data):
            t0 = clock()
            on_frame(direction="in", ts_ns=ts + i, connection="clob-market-0", epoch=1, data=frame)
            calls.append(clock() - t0)
        rec.close()
        elapsed = clock() - start
        stats = rec.stats()
        assert stats.rows_written == len(data), stats
        calls.sort()
        return calls[-1], calls[int(len(calls) * 0.999)], len(data) / elapsed
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=200_000)
    parser.add_argument("--chunk-rows", type=int, default=20_000)
    parser.add_argument("--passes", type=int, default=3)
    args = parser.parse_args()
    data = frames(args.frames)
    results: dict[str, list[tuple[float, float, float]]] = {
        "threaded": [],
        "inline": [],
        "no-write": [],
    }
    for _ in range(args.passes):
        results["inline"].append(run(InlineRecorder, data, args.chunk_rows))
        results["threaded"].append(run(Recorder, data, args.chunk_rows))
        results["no-write"].append(run(Recorder, data, len(data) + 1))
    summary = {}
    for name, runs in results.items():
        worst = statistics.median(r[0] for r in runs)
        p999 = statistics.median(r[1] for r in runs)
        rate = statistics.median(r[2] for r in runs)
        summary[name] = (worst, p999, rate)
        print(
            f"{name:9s} worst on_frame {worst * 1e3:8.2f} ms   p99.9 {p999 * 1e6:7.1f} us   "
            f"{rate:10,.0f} frames/s incl. close"
        )
    ratio = summary["inline"][0] / summary["threaded"][0]
    print(f"longest loop stall, inline / threaded: {ratio:.1f}x shorter with the writer thread")
    print(
        f"throughput, threaded / inline: {summary['threaded'][2] / summary['inline'][2]:.2f}x "
        f"({args.frames:,} frames, chunks of {args.chunk_rows:,}, {args.passes} passes)"
    )


if __name__ == "__main__":
    main()
