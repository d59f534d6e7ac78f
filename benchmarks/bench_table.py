"""RollingTable throughput and memory vs the plain-Python ways of collecting rows.

Rows follow the ``book_updates`` schema (9 columns: two ns timestamps, venue, a ``0x``+64-hex
market, a 77-digit asset id, side, price on a 0.01 grid, size, snapshot flag), over 50 markets
/ 100 assets, prebuilt as tuples of Python values (what a store has in hand after decoding an
event), with id strings shared from a pool as a parser's interned ids would be.

Measured in the same run, in alternating passes (median reported, GC left enabled as in a
notebook, ``gc.collect()`` between contenders):

- append throughput, one row per call:
  ``RollingTable.append_row(row)``, ``RollingTable.append(**row)`` and ``extend`` of 10,000-row
  column batches, against a list of dicts (``out.append({...})``) and per-column Python lists
  (one bound ``list.append`` per column: the fastest pure-Python buffer);
- building the frame from 1,000,000 stored rows: ``to_polars()`` against ``pl.DataFrame`` from
  the column lists (plain String ids, and with the same Categorical/Datetime dtypes as ours);
  ``to_pandas()`` against ``pd.DataFrame`` from the same lists;
- memory: ``stats().bytes_used`` per stored row (goal <= 64 B, performance-notes.md Q5), and
  the list-of-dicts buffer measured with tracemalloc for comparison.

Run:
    .venv/bin/python benchmarks/bench_table.py [--rows 1000000] [--passes 5]
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import time
import tracemalloc
from collections.abc import Callable
from functools import partial
from typing import Any

import pandas as pd
import polars as pl

from polyresearch.state.schemas import BOOK_UPDATES
from polyresearch.state.table import RollingTable

T0 = 1_766_481_546_776_000_000
N_MARKETS = 50
BATCH = 10_000
NAMES = BOOK_UPDATES.names


def make_rows(n: int, seed: int = 7) -> list[tuple[Any, ...]]:
    """Format-faithful book_updates rows as tuples, in schema order."""
    rng = random.Random(seed)
    markets = [
        "0x" + "".join(rng.choice("0123456789abcdef") for _ in range(64)) for _ in range(N_MARKETS)
    ]
    assets = [str(rng.randrange(10**76, 10**77)) for _ in range(2 * N_MARKETS)]
    rows = []
    ts = T0
    for i in range(n):
        a = rng.randrange(2 * N_MARKETS)
        ts += rng.randrange(0, 4_000_000)
        rows.append(
            (
                ts,
                ts + rng.randrange(200_000, 5_000_000),
                "clob",
                markets[a // 2],
                assets[a],
                "bid" if rng.random() < 0.5 else "ask",
                rng.randrange(1, 100) / 100,
                rng.randrange(0, 2_000_000) / 100,
                i < 2 * N_MARKETS * 20,  # the initial books
            )
        )
    return rows


# ---------------------------------------------------------------- append contenders


def run_list_of_dicts(rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    push = out.append
    for ts_ns, recv_ns, venue, market, asset_id, side, price, size, is_snapshot in rows:
        push(
            {
                "ts_ns": ts_ns,
                "recv_ns": recv_ns,
                "venue": venue,
                "market": market,
                "asset_id": asset_id,
                "side": side,
                "price": price,
                "size": size,
                "is_snapshot": is_snapshot,
            }
        )
    return out


def run_column_lists(rows: list[tuple[Any, ...]]) -> dict[str, list[Any]]:
    columns: dict[str, list[Any]] = {name: [] for name in NAMES}
    a0, a1, a2, a3, a4, a5, a6, a7, a8 = (columns[name].append for name in NAMES)
    for ts_ns, recv_ns, venue, market, asset_id, side, price, size, is_snapshot in rows:
        a0(ts_ns)
        a1(recv_ns)
        a2(venue)
        a3(market)
        a4(asset_id)
        a5(side)
        a6(price)
        a7(size)
        a8(is_snapshot)
    return columns


def run_append_row(rows: list[tuple[Any, ...]], max_rows: int) -> RollingTable:
    table = RollingTable(BOOK_UPDATES, max_rows=max_rows)
    append_row = table.append_row
    for row in rows:
        append_row(row)
    return table


def run_append_kw(rows: list[tuple[Any, ...]], max_rows: int) -> RollingTable:
    table = RollingTable(BOOK_UPDATES, max_rows=max_rows)
    append = table.append
    for ts_ns, recv_ns, venue, market, asset_id, side, price, size, is_snapshot in rows:
        append(
            ts_ns=ts_ns,
            recv_ns=recv_ns,
            venue=venue,
            market=market,
            asset_id=asset_id,
            side=side,
            price=price,
            size=size,
            is_snapshot=is_snapshot,
        )
    return table


def run_extend(batches: list[dict[str, list[Any]]], max_rows: int) -> RollingTable:
    table = RollingTable(BOOK_UPDATES, max_rows=max_rows)
    for batch in batches:
        table.extend(batch)
    return table


def make_column_lists_appender() -> tuple[dict[str, list[Any]], Callable[[tuple[Any, ...]], None]]:
    """Per-column lists behind one call per row, as a store would use them (closure-bound)."""
    columns: dict[str, list[Any]] = {name: [] for name in NAMES}
    a0, a1, a2, a3, a4, a5, a6, a7, a8 = (columns[name].append for name in NAMES)

    def append_row(row: tuple[Any, ...]) -> None:
        ts_ns, recv_ns, venue, market, asset_id, side, price, size, is_snapshot = row
        a0(ts_ns)
        a1(recv_ns)
        a2(venue)
        a3(market)
        a4(asset_id)
        a5(side)
        a6(price)
        a7(size)
        a8(is_snapshot)

    return columns, append_row


def run_column_lists_call(rows: list[tuple[Any, ...]]) -> dict[str, list[Any]]:
    columns, append_row = make_column_lists_appender()
    for row in rows:
        append_row(row)
    return columns


# ---------------------------------------------------------------- helpers


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    gc.collect()
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def polars_from_lists(columns: dict[str, list[Any]], typed: bool) -> pl.DataFrame:
    if not typed:
        return pl.DataFrame(columns)
    frame = pl.DataFrame(
        columns,
        schema={
            "ts_ns": pl.Int64,
            "recv_ns": pl.Int64,
            "venue": pl.Categorical,
            "market": pl.Categorical,
            "asset_id": pl.Categorical,
            "side": pl.Categorical,
            "price": pl.Float64,
            "size": pl.Float64,
            "is_snapshot": pl.Boolean,
        },
    )
    return frame.with_columns(pl.col("ts_ns", "recv_ns").cast(pl.Datetime("ns", "UTC")))


def report(
    title: str, results: dict[str, list[float]], n: int, base: list[str]
) -> dict[str, float]:
    """Print best-of-passes (interference only adds time) and median; return the bests."""
    print(f"\n{title}")
    best = {name: min(times) for name, times in results.items()}
    print(
        f"  {'contender':<46} {'best':>8} {'median':>8} {'rows/s':>8}"
        + "".join(f"  {'vs ' + b:>14}" for b in base)
    )
    for name, times in results.items():
        ratios = "".join(f"  {best[b] / best[name]:>13.2f}x" for b in base)
        print(
            f"  {name:<46} {best[name] * 1000:>6.0f}ms {statistics.median(times) * 1000:>6.0f}ms"
            f" {n / best[name] / 1e6:>6.2f} M{ratios}"
        )
    return best


def bytes_per_row(build: Callable[[], Any], n: int) -> float:
    gc.collect()
    tracemalloc.start()
    kept = build()
    size = tracemalloc.get_traced_memory()[0] / n
    tracemalloc.stop()
    del kept
    return size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--passes", type=int, default=5)
    args = parser.parse_args()
    n, passes = args.rows, args.passes

    print(f"building {n:,} book_updates rows ...")
    rows = make_rows(n)
    batches = [
        {name: [row[j] for row in rows[i : i + BATCH]] for j, name in enumerate(NAMES)}
        for i in range(0, n, BATCH)
    ]
    dicts_name = "list of dicts, inline loop (baseline)"
    lists_name = "per-column lists, inline loop (baseline)"
    call_name = "per-column lists, one call per row"
    appenders: dict[str, Callable[[], Any]] = {
        dicts_name: partial(run_list_of_dicts, rows),
        lists_name: partial(run_column_lists, rows),
        call_name: partial(run_column_lists_call, rows),
        "RollingTable.append_row(tuple)": partial(run_append_row, rows, n),
        "RollingTable.append(**row)": partial(run_append_kw, rows, n),
        "RollingTable.append_row, ring wrapping (n/10)": partial(
            run_append_row, rows, max(1, n // 10)
        ),
        f"RollingTable.extend, {BATCH:,}-row batches": partial(run_extend, batches, n),
    }
    append_times: dict[str, list[float]] = {name: [] for name in appenders}
    frame_names = [
        "pl.DataFrame(list of dicts)",
        "pl.DataFrame(column lists), String ids",
        "pl.DataFrame(column lists), same dtypes",
        "RollingTable.to_polars()",
        "pd.DataFrame(column lists), object ids",
        "RollingTable.to_pandas()",
    ]
    frame_times: dict[str, list[float]] = {name: [] for name in frame_names}
    for p in range(passes):
        # Alternate the order so drift (other load, page cache) does not favour one side.
        order = list(appenders) if p % 2 == 0 else list(reversed(appenders))
        built: dict[str, Any] = {}
        for name in order:
            seconds, built[name] = timed(appenders[name])
            append_times[name].append(seconds)
        table: RollingTable = built["RollingTable.append_row(tuple)"]
        columns: dict[str, list[Any]] = built[lists_name]
        dicts: list[dict[str, Any]] = built[dicts_name]
        builders: dict[str, Callable[[], Any]] = {
            "pl.DataFrame(list of dicts)": partial(pl.DataFrame, dicts),
            "pl.DataFrame(column lists), String ids": partial(polars_from_lists, columns, False),
            "pl.DataFrame(column lists), same dtypes": partial(polars_from_lists, columns, True),
            "RollingTable.to_polars()": table.to_polars,
            "pd.DataFrame(column lists), object ids": partial(pd.DataFrame, columns),
            "RollingTable.to_pandas()": table.to_pandas,
        }
        for name in frame_names if p % 2 == 0 else reversed(frame_names):
            seconds, frame = timed(builders[name])
            assert len(frame) == n
            frame_times[name].append(seconds)
        stats = table.stats()
        del built, table, columns, dicts, builders, frame
        print(f"  pass {p + 1}/{passes} done")

    append_best = report(
        f"append {n:,} rows ({passes} passes, wall clock)",
        append_times,
        n,
        [dicts_name, lists_name, call_name],
    )
    frame_best = report(
        f"build one DataFrame of {n:,} stored rows",
        frame_times,
        n,
        ["pl.DataFrame(list of dicts)", "pl.DataFrame(column lists), String ids"],
    )
    pandas_ratio = (
        frame_best["pd.DataFrame(column lists), object ids"]
        / frame_best["RollingTable.to_pandas()"]
    )
    print(f"  to_pandas() vs pd.DataFrame(column lists): {pandas_ratio:.2f}x")
    print(
        "\nend to end: append every row, then build one polars frame (best times added;"
        " a live view rebuilds the frame at every redraw, so the frame cost recurs)"
    )
    ends = {
        "list of dicts + pl.DataFrame": append_best[dicts_name]
        + frame_best["pl.DataFrame(list of dicts)"],
        "column lists (one call/row) + pl.DataFrame": append_best[call_name]
        + frame_best["pl.DataFrame(column lists), String ids"],
        "RollingTable.append_row + to_polars()": append_best["RollingTable.append_row(tuple)"]
        + frame_best["RollingTable.to_polars()"],
    }
    ours = ends["RollingTable.append_row + to_polars()"]
    for name, seconds in ends.items():
        print(f"  {name:<46} {seconds * 1000:>6.0f}ms  = {seconds / ours:.2f}x ours")

    print(f"\nmemory, book_updates, {stats.rows:,} rows stored (goal <= 64 B/row)")
    print(f"  ring row width                 {BOOK_UPDATES.row_bytes} B")
    print(
        f"  dictionaries                   {sum(d.bytes for d in stats.dictionaries.values()):,} B "
        f"({', '.join(f'{k}={d.size}' for k, d in stats.dictionaries.items())} values)"
    )
    goal = "meets" if stats.bytes_per_row <= 64 else "MISSES"
    print(f"  RollingTable bytes_used/row    {stats.bytes_per_row:.2f} B ({goal} the goal)")
    sample = rows[: min(n, 200_000)]
    for name, build in (
        ("list of dicts", partial(run_list_of_dicts, sample)),
        ("per-column lists", partial(run_column_lists, sample)),
    ):
        size = bytes_per_row(build, len(sample))
        print(
            f"  {name + ' (tracemalloc)':<30} {size:.0f} B = {size / stats.bytes_per_row:.1f}x "
            "ours (id strings shared, so a floor)"
        )


if __name__ == "__main__":
    main()
