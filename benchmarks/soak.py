"""Load and soak: minutes of paced flow across 1,000 CLOB assets (+ a US share), with faults.

    .venv/bin/python benchmarks/soak.py [--minutes 10] [--rate 20000] [--assets 1000]
        [--us-markets 20] [--max-rows 200000] [--fault-every 60] [--seed 7]

The simulator runs in its own process (this script re-run with ``--serve``), pinned to CPU 0;
this process (the feeds, on one asyncio loop as in a Jupyter kernel) is pinned to CPU 1. The
simulator host runs the model with no flow of its own and paces it here: every 20 ms it takes as
many model steps as keep the frames written to client sockets (data frames of both venues, plus
frames a ``stall`` withheld) on the target rate. It takes commands as JSON lines on stdin (faults,
pause, ground truth) and answers on stdout, so the soak drives the faults and reads the ground
truth without a second protocol.

Every ``--fault-every`` seconds the previous fault is cleared and the next one of the rotation
(:data:`ROTATION`) fires on every connection of both venues. After ``--minutes`` the faults are
cleared, the flow runs ``--settle`` more seconds (a lost delta only shows on the asset's next
messages), then the flow is paused and every book is compared with the simulator's, level by
level, until they all agree or ``--converge-timeout`` passes.

It prints human lines while it runs and one JSON object at the end, and exits 0 when it PASSES:

- RSS max <= the bound (see :func:`rss_bound`):
  ``rss_before_start + SAFETY * sum(bytes_reserved of every table) + FIXED_BYTES``, where
  ``bytes_reserved`` is what each table's ``stats()`` reports for its configured row limit
  (ring of ``max_rows`` x row width, plus its dictionaries). ``SAFETY`` covers the transient
  ``to_polars()`` copy the soak takes of every table each minute (as a notebook would) and
  allocator slack; ``FIXED_BYTES`` covers books, decoders, socket buffers and Python arenas
  whatever the row limits;
- no asyncio task and no thread alive after ``feed.stop()`` that was not alive before start;
- every live book equals the simulator's ground truth at the end;
- the feeds did not stop with an error.

It also fails when RSS grows over the second half by more than ``GROWTH_SLACK`` beyond what
the tables' own rings filled meanwhile (a leak that the bound would only catch after hours).
The baseline is taken after one ``to_polars()`` of every (empty) table: that first call imports
polars, pyarrow and pandas (~100 MiB of RSS, seconds of CPU), which a notebook has loaded anyway.

Otherwise it exits 1 and the JSON ``failures`` list says why. The achieved rate is reported as
measured (frames received by the feeds per second of soak); if the simulator or the client
cannot sustain the target on this machine the figures say so, they are never scaled.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import resource
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

# One polars thread (set before polars is imported): the other core is the simulator's.
os.environ.setdefault("POLARS_MAX_THREADS", "1")

SCRIPT = Path(__file__).resolve()
HERE = SCRIPT.parent
if str(HERE.parent) not in sys.path:  # run as a script from a checkout
    sys.path.insert(0, str(HERE.parent))

from polyresearch.config import UsCredentials  # noqa: E402
from polyresearch.feed import ClobFeed, Feed, UsFeed  # noqa: E402
from polyresearch.state.books import MarketParams  # noqa: E402
from polyresearch.state.orderbook import BookStatus  # noqa: E402
from polyresearch.state.schemas import make_tables  # noqa: E402

MIB = 1024 * 1024
PAGE = os.sysconf("SC_PAGE_SIZE")
#: Multiplier on the tables' reserved bytes: to_polars() copies plus allocator slack.
SAFETY = 2.0
#: Bytes the feeds need whatever the row limits: 1,000+ books, decoders, per-connection
#: websockets buffers (max_queue frames each), Python and polars arenas.
FIXED_BYTES = 160 * MIB
#: Seconds between flow-pacing ticks in the simulator host (its own clock uses 20 ms too).
TICK = 0.02
#: The fault rotation; one fires every --fault-every seconds, on every connection.
ROTATION: tuple[str, ...] = (
    "drop",
    "malformed",
    "skip_deltas",
    "restart",
    "oversized",
    "burst_arrays",
    "stall",
    "unknown_event",
    "mute_heartbeat",
    "midstream_book",
    "refuse_upgrade",
    "missing_event_type",
)
#: The feeds' frame limit; the ``oversized`` fault sends twice this.
MAX_FRAME_BYTES = 256 * 1024
STALL_SECONDS = 8.0
#: RSS growth over the soak's second half that the tables' fill does not explain, tolerated
#: (allocator and arena noise); more is reported as unbounded growth.
GROWTH_SLACK = 48 * MIB


def pin(cpu: int, pid: int | None = None) -> None:
    """Pin every thread of ``pid`` (default: this process) to ``cpu`` on a 2+ core machine."""
    cores = os.cpu_count() or 1
    if cores < 2 or not hasattr(os, "sched_setaffinity"):
        return
    pid = pid or os.getpid()
    tasks = Path(f"/proc/{pid}/task")
    for tid in [int(p.name) for p in tasks.iterdir()] if tasks.exists() else [pid]:
        with contextlib.suppress(ProcessLookupError):
            os.sched_setaffinity(tid, {cpu % cores})


# ============================================================================ simulator host


async def serve(args: argparse.Namespace) -> None:
    """The simulator process: paced flow, faults and ground truth over stdin/stdout lines."""
    from polyresearch.simulator import Simulator
    from polyresearch.simulator.faults import Fault
    from polyresearch.simulator.market import ModelConfig

    clob_markets = args.assets // 2
    # No lifecycle: a resolved market is replaced by a new one the soak never subscribed to,
    # and at ~10k steps/s the default rate would resolve every market within minutes.
    config = ModelConfig(lifecycle_rate=0.0, max_trade_log=100_000)
    sim = Simulator(
        seed=args.seed,
        markets=clob_markets + args.us_markets,
        rate=0,
        model_config=config,
        ping_timeout=30.0,
        heartbeat_interval=5.0,
    )
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=64 * MIB)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    out = sys.stdout

    def reply(obj: Mapping[str, Any]) -> None:
        out.write(json.dumps(obj) + "\n")
        out.flush()

    async with sim:
        markets = sim.markets()
        clob_m, us_m = markets[:clob_markets], markets[clob_markets:]
        params = {
            t: [format(m.min_order_size.normalize(), "f"), m.neg_risk, list(m.token_ids)]
            for m in clob_m
            for t in m.token_ids
        }
        creds = sim.us_credentials
        reply(
            {
                "clob_url": sim.clob_market_url,
                "ws_url": sim.ws_url,
                "assets": [t for m in clob_m for t in m.token_ids],
                "params": params,
                "us": [[m.slug, m.token_ids[0]] for m in us_m],
                "us_key_id": creds.key_id,
                "us_secret_key": creds.secret_key,
            }
        )
        state = {"rate": float(args.rate), "paused": False}

        def sent() -> int:
            s = sim.stats()
            return sum(s.frames_sent.values()) + s.frames_withheld

        async def pace() -> None:
            # Frames per model step, learned as we go (it depends on the subscriptions).
            per_step = 1.0
            base_frames, base_steps = sent(), sim.stats().model_steps
            t0 = loop.time()
            while True:
                await asyncio.sleep(TICK)
                if state["paused"]:
                    t0, base_frames = loop.time(), sent()
                    continue
                frames, steps = sent(), sim.stats().model_steps
                if steps > base_steps + 200:
                    # Every market is subscribed, so a step makes at least one frame unless a
                    # connection is down; the floor keeps a reconnect from turning into a
                    # burst of frameless steps.
                    per_step = max((frames - base_frames) / (steps - base_steps), 0.5)
                now = loop.time()
                behind = state["rate"] * (now - t0) - (frames - base_frames)
                # Catch up at most a tenth of a second of flow per tick, and never run ahead
                # of the rate while nobody receives (e.g. during a restart).
                n = int(min(max(behind, 0.0), state["rate"] * 0.1) / per_step)
                n = min(n, int(2 * state["rate"] * TICK) + 1)
                if n:
                    sim.advance(n)

        pacer = asyncio.create_task(pace())
        faults = sim.faults
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                cmd = json.loads(line)
                op = cmd["op"]
                if op == "quit":
                    reply({"ok": True})
                    break
                if op == "pause":
                    state["paused"] = True
                    reply({"ok": True})
                elif op == "resume":
                    state["paused"] = False
                    reply({"ok": True})
                elif op == "clear":
                    faults.clear()
                    reply({"ok": True})
                elif op == "fault":
                    kind = cmd["kind"]
                    hits: int | None = None
                    if kind == "drop":
                        hits = faults.drop()
                    elif kind == "restart":
                        await sim.restart(downtime=1.0)
                    elif kind == "stall":
                        faults.stall(seconds=STALL_SECONDS)
                    elif kind == "skip_deltas":
                        faults.skip_deltas(count=25)
                    elif kind == "burst_arrays":
                        faults.burst_arrays(events=300, size=5)
                    elif kind == "mute_heartbeat":
                        faults.mute_heartbeat()
                    elif kind == "refuse_upgrade":
                        # Every socket drops and the first reconnects are refused with 429.
                        faults.refuse_upgrades(count=4)
                        hits = faults.drop()
                    elif kind == "oversized":
                        hits = faults.inject(Fault.OVERSIZED, size=2 * MAX_FRAME_BYTES)
                    else:
                        hits = faults.inject(Fault(kind))
                    reply({"ok": True, "hits": hits})
                elif op == "stats":
                    s = sim.stats()
                    reply(
                        {
                            "frames_sent": sum(s.frames_sent.values()),
                            "cpu_s": time.process_time(),
                            "frames_withheld": s.frames_withheld,
                            "model_steps": s.model_steps,
                            "faults_fired": dict(s.faults_fired),
                            "connections_open": dict(s.connections_open),
                            "closes": dict(s.closes),
                        }
                    )
                elif op == "truth":
                    books: dict[str, list[list[list[str]]]] = {}
                    for token in cmd["tokens"]:
                        snap = sim.book(token)
                        books[token] = [
                            [[str(p), str(q)] for p, q in snap.bids],
                            [[str(p), str(q)] for p, q in snap.asks],
                        ]
                    reply({"books": books})
                else:
                    reply({"error": f"unknown op {op!r}"})
        finally:
            pacer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pacer


# ============================================================================ the soak


class Host:
    """The simulator process seen from the soak: one command, one JSON answer."""

    def __init__(self, proc: asyncio.subprocess.Process, log: Any) -> None:
        self.proc = proc
        self.log = log
        self.lock = asyncio.Lock()

    async def ask(self, **cmd: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        async with self.lock:
            self.proc.stdin.write((json.dumps(cmd) + "\n").encode())
            await self.proc.stdin.drain()
            line = await self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"simulator process ended:\n{self.tail()}")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def tail(self) -> str:
        self.log.seek(0)
        text: str = self.log.read()
        return text[-3000:]

    async def close(self) -> None:
        if self.proc.returncode is None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.ask(op="quit"), 10)
            try:
                await asyncio.wait_for(self.proc.wait(), 15)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        self.log.close()


async def start_host(args: argparse.Namespace) -> tuple[Host, dict[str, Any]]:
    log = tempfile.TemporaryFile(mode="w+")
    argv = [
        sys.executable,
        str(SCRIPT),
        "--serve",
        "--assets",
        str(args.assets),
        "--us-markets",
        str(args.us_markets),
        "--rate",
        str(args.rate),
        "--seed",
        str(args.seed),
    ]
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=log,
        limit=64 * MIB,  # a truth answer for 1,000 books is a few MB on one line
    )
    host = Host(proc, log)
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 120)
    if not line:
        raise RuntimeError(f"simulator failed to start:\n{host.tail()}")
    pin(0, proc.pid)
    return host, json.loads(line)


def rss() -> int:
    """This process's resident set size now, in bytes (Linux /proc; else the peak so far)."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * PAGE
    except OSError:
        return peak_rss()


def os_threads() -> int:
    """Threads of this process as the kernel counts them (native ones included)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Threads:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return threading.active_count()


def peak_rss() -> int:
    """The kernel's record of this process's peak RSS (catches peaks between samples).

    /proc's ``VmHWM`` belongs to this process's own memory map. ``ru_maxrss`` does not do:
    Linux carries it across fork+exec, so a soak started by a big parent (pytest, ~4.5 GB
    after the whole suite in CI) reported the parent's peak as its own.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def rss_bound(rss_before: int, reserved: int) -> int:
    """The RSS ceiling that PASS needs (see the module docstring for the reasoning)."""
    return int(rss_before + SAFETY * reserved + FIXED_BYTES)


def feeds_stat(feeds: Sequence[Feed]) -> dict[str, Any]:
    """Sum the counters the soak reports over every feed."""
    frames = events = reconnects = resyncs = 0
    dropped: dict[str, int] = {}
    evicted: dict[str, int] = {}
    books = {"live": 0, "suspect": 0, "empty": 0, "bbo_mismatches": 0, "hashes_verified": 0}
    errors: list[str] = []
    lag_max: float | None = None
    lag_p50: float | None = None
    for feed in feeds:
        s = feed.stats()
        frames += s.frames_in
        events += s.events_out
        reconnects += s.reconnects
        resyncs += s.resyncs
        for reason, n in s.dropped.items():
            dropped[reason] = dropped.get(reason, 0) + n
        for name, t in s.tables.items():
            evicted[f"{feed.venue}.{name}"] = t.rows_evicted
        for key in books:
            books[key] += getattr(s.books, key)
        if s.error:
            errors.append(s.error)
        if s.store.lag_ms_max is not None:
            lag_max = max(lag_max or 0.0, s.store.lag_ms_max)
        if s.store.lag_ms_p50 is not None:
            lag_p50 = max(lag_p50 or 0.0, s.store.lag_ms_p50)
    return {
        "frames": frames,
        "events": events,
        "reconnects": reconnects,
        "resyncs": resyncs,
        "dropped": dropped,
        "evicted": evicted,
        "books": books,
        "errors": errors,
        "lag_ms_max": lag_max,
        "lag_ms_p50": lag_p50,
    }


def mismatches(
    clob: ClobFeed,
    us: UsFeed | None,
    pairs: Sequence[tuple[str, str, str]],
    truth: Mapping[str, Any],
) -> list[str]:
    """Keys whose local book is not LIVE or differs from the truth at any level."""
    bad: list[str] = []
    for venue, key, token in pairs:
        feed: Feed | None = clob if venue == "clob" else us
        assert feed is not None
        if key not in feed.books or feed.books[key].status is not BookStatus.LIVE:
            bad.append(f"{venue}:{key}")
            continue
        book = feed.books[key]
        bids, asks = truth[token]
        ours_b = [(Decimal(p), Decimal(s)) for p, s in book.levels("bid")]
        ours_a = [(Decimal(p), Decimal(s)) for p, s in book.levels("ask")]
        if ours_b != [(Decimal(p), Decimal(s)) for p, s in bids] or ours_a != [
            (Decimal(p), Decimal(s)) for p, s in asks
        ]:
            bad.append(f"{venue}:{key}")
    return bad


def used(feeds: Sequence[Feed]) -> int:
    """Bytes the tables' rows use now (their touched share of the reserved rings)."""
    return sum(t.stats().bytes_used for f in feeds for t in f.tables.values())


def materialize(feeds: Sequence[Feed]) -> int:
    """to_polars() of every table, as a notebook cell would; returns the rows built."""
    rows = 0
    for feed in feeds:
        for table in feed.tables.values():
            rows += table.to_polars().height
    return rows


async def soak(args: argparse.Namespace) -> dict[str, Any]:
    pin(1)
    load_start = os.getloadavg()
    gc.collect()
    host, info = await start_host(args)
    failures: list[str] = []
    try:
        params = {
            t: MarketParams(min_order_size=p[0], neg_risk=p[1], token_ids=tuple(p[2]))
            for t, p in info["params"].items()
        }
        per_table = dict.fromkeys(("trades", "quotes", "book_updates"), args.max_rows)
        per_table |= {"book_snapshots": args.max_rows, "status": args.max_rows // 10}
        per_table |= dict.fromkeys(("orders", "positions", "balances"), 1000)
        clob = ClobFeed(
            assets=info["assets"],
            url=info["clob_url"],
            params=params,
            tables=make_tables(per_table=per_table),
            max_frame_bytes=MAX_FRAME_BYTES,
            snapshot_interval=5.0,
        )
        feeds: list[Feed] = [clob]
        us: UsFeed | None = None
        if info["us"]:
            us = UsFeed(
                slugs=[slug for slug, _ in info["us"]],
                credentials=UsCredentials(
                    key_id=info["us_key_id"], secret_key=info["us_secret_key"]
                ),
                base_url=info["ws_url"],
                tables=make_tables(per_table=per_table),
                max_frame_bytes=MAX_FRAME_BYTES,
            )
            feeds.append(us)
        pairs = [("clob", t, t) for t in info["assets"]] + [
            ("us", slug, token) for slug, token in info["us"]
        ]
        reserved = sum(t.stats().bytes_reserved for f in feeds for t in f.tables.values())
        # The first to_polars() imports polars, pyarrow and pandas (~100 MiB of RSS, seconds
        # of CPU): a notebook has them loaded anyway, so they belong to the baseline, not to
        # what the feed grows by.
        warm = time.perf_counter()
        materialize(feeds)
        import_s = time.perf_counter() - warm

        gc.collect()
        me = asyncio.current_task()
        tasks_before = {t for t in asyncio.all_tasks() if t is not me}
        threads_before = {t.ident for t in threading.enumerate()}
        os_threads_before = os_threads()
        rss_start = rss()
        bound = rss_bound(rss_start, reserved)
        print(
            f"soak: {len(info['assets'])} CLOB assets on {len(clob._channels)} connections, "
            f"{len(info['us'])} US markets; target {args.rate:,.0f} msg/s for "
            f"{args.minutes:g} min, fault every {args.fault_every:g} s; tables reserve "
            f"{reserved / MIB:.0f} MiB; RSS {rss_start / MIB:.0f} MiB, bound "
            f"{bound / MIB:.0f} MiB",
            flush=True,
        )
        for feed in feeds:
            feed.start()
        t_start = time.monotonic()
        await clob.wait_for(lambda f: f.stats().books.live >= len(info["assets"]), within=120)
        if us is not None:
            await us.wait_for(lambda f: f.stats().books.live >= len(info["us"]), within=120)
        print(f"all books live after {time.monotonic() - t_start:.1f} s", flush=True)

        sim0 = await host.ask(op="stats")
        s0 = feeds_stat(feeds)
        t0 = time.monotonic()
        cpu0 = time.process_time()
        end = t0 + args.minutes * 60
        rss_max = rss_min = rss()
        samples: list[tuple[float, int, int]] = []  # (t, RSS, bytes the tables use)
        fired: list[dict[str, Any]] = []
        next_fault = t0 + args.fault_every
        next_print = t0 + args.print_every
        next_polars = t0 + 60
        last_t, last_frames, last_sent = t0, s0["frames"], sim0["frames_sent"]
        rotation = 0
        tasks_max = 0
        rotation_kinds = [k for k in args.faults.split(",") if k]
        unknown = set(rotation_kinds) - set(ROTATION)
        if unknown:
            raise ValueError(f"unknown faults {sorted(unknown)}; known: {ROTATION}")
        while (now := time.monotonic()) < end:
            await asyncio.sleep(min(1.0, max(end - now, 0.0)))
            now = time.monotonic()
            value = rss()
            rss_max, rss_min = max(rss_max, value), min(rss_min, value)
            samples.append((now - t0, value, used(feeds)))
            tasks_max = max(tasks_max, len(asyncio.all_tasks()))
            if now >= next_fault and now < end - 1:
                await host.ask(op="clear")
                kind = rotation_kinds[rotation % len(rotation_kinds)]
                rotation += 1
                answer = await host.ask(op="fault", kind=kind)
                fired.append({"t": round(now - t0, 1), "kind": kind, "hits": answer.get("hits")})
                print(f"  [{now - t0:6.0f} s] fault {kind} (hits {answer.get('hits')})", flush=True)
                next_fault += args.fault_every
            if now >= next_polars:
                # What a notebook does now and then; its copies are part of the RSS bound.
                before_polars = rss()
                built = materialize(feeds)
                print(
                    f"  [{now - t0:6.0f} s] to_polars() of every table: {built:,} rows, RSS "
                    f"{before_polars / MIB:.0f} -> {rss() / MIB:.0f} MiB",
                    flush=True,
                )
                next_polars += 60
            if now >= next_print:
                s = feeds_stat(feeds)
                sim = await host.ask(op="stats")
                dt = now - last_t
                print(
                    f"  [{now - t0:6.0f} s] recv {(s['frames'] - last_frames) / dt:8,.0f} msg/s"
                    f"  sent {(sim['frames_sent'] - last_sent) / dt:8,.0f} msg/s"
                    f"  RSS {value / MIB:6.0f} MiB (max {rss_max / MIB:.0f})"
                    f"  reconnects {s['reconnects']}  resyncs {s['resyncs']}"
                    f"  drops {sum(s['dropped'].values())}  live {s['books']['live']}"
                    f"  lag max {s['lag_ms_max'] or 0:,.0f} ms  tasks {len(asyncio.all_tasks())}",
                    flush=True,
                )
                last_t, last_frames, last_sent = now, s["frames"], sim["frames_sent"]
                next_print += args.print_every
        t_end = time.monotonic()
        cpu_client = time.process_time() - cpu0
        s_end = feeds_stat(feeds)
        sim_end = await host.ask(op="stats")
        elapsed = t_end - t0
        received = s_end["frames"] - s0["frames"]
        sent = sim_end["frames_sent"] - sim0["frames_sent"]

        # Settle: no faults, flow on (a lost delta shows only on later messages), then pause
        # and compare every book with the simulator's, level by level.
        await host.ask(op="clear")
        print(
            f"faults cleared; {args.settle:g} s of clean flow, then pause and compare", flush=True
        )
        await asyncio.sleep(args.settle)
        await host.ask(op="pause")
        deadline = time.monotonic() + args.converge_timeout
        tokens = [token for _, _, token in pairs]
        while True:
            await asyncio.sleep(1.0)
            truth = (await host.ask(op="truth", tokens=tokens))["books"]
            bad = mismatches(clob, us, pairs, truth)
            if not bad or time.monotonic() > deadline:
                break
        converge_s = args.converge_timeout - max(deadline - time.monotonic(), 0.0)
        s_final = feeds_stat(feeds)
        rss_end = rss()
        rss_max = max(rss_max, rss_end, peak_rss())

        for feed in feeds:
            await feed.stop()
        await asyncio.sleep(0.5)  # let cancelled callbacks and closing transports run
        gc.collect()
        tasks_after = {t for t in asyncio.all_tasks() if t is not me and not t.done()}
        leaked_tasks = sorted(repr(t.get_coro()) for t in tasks_after - tasks_before)
        leaked_threads = sorted(
            t.name for t in threading.enumerate() if t.ident not in threads_before
        )
        rss_after_stop = rss()

        # Growth over the second half (tables are full long before): a leak shows here even
        # when it stays under the bound.
        # Growth over the second half, less what the tables' own rings filled meanwhile (their
        # pages are touched as rows arrive): what is left is growth nothing bounds.
        first = [(v, u) for t, v, u in samples if t < elapsed / 2]
        second = [(v, u) for t, v, u in samples if t >= elapsed / 2]
        growth = unexplained = 0
        if first and second:
            growth = max(v for v, _ in second) - max(v for v, _ in first)
            filled = max(u for _, u in second) - max(u for _, u in first)
            unexplained = growth - max(filled, 0)

        if rss_max > bound:
            failures.append(f"RSS max {rss_max / MIB:.0f} MiB > bound {bound / MIB:.0f} MiB")
        if args.minutes >= 1 and unexplained > GROWTH_SLACK:
            failures.append(
                f"RSS grew {unexplained / MIB:.0f} MiB over the second half beyond the tables'"
                f" own fill (slack {GROWTH_SLACK / MIB:.0f} MiB)"
            )
        if leaked_tasks:
            failures.append(f"{len(leaked_tasks)} asyncio task(s) leaked: {leaked_tasks[:5]}")
        if leaked_threads:
            failures.append(f"{len(leaked_threads)} thread(s) leaked: {leaked_threads[:5]}")
        if bad:
            failures.append(
                f"{len(bad)} book(s) differ from ground truth after {args.converge_timeout:g} s:"
                f" {bad[:5]}"
            )
        if s_final["errors"]:
            failures.append(f"feed error: {s_final['errors']}")

        result: dict[str, Any] = {
            "pass": not failures,
            "failures": failures,
            "config": {
                "minutes": args.minutes,
                "target_msg_per_s": args.rate,
                "clob_assets": len(info["assets"]),
                "clob_connections": len(clob._channels),
                "us_markets": len(info["us"]),
                "max_rows": per_table,
                "fault_every_s": args.fault_every,
                "cpus": os.cpu_count(),
                "loadavg_at_start": [round(x, 1) for x in load_start],
                "loadavg_at_end": [round(x, 1) for x in os.getloadavg()],
            },
            "rate": {
                "target_msg_per_s": args.rate,
                "achieved_msg_per_s": round(received / elapsed, 1),
                "sent_msg_per_s": round(sent / elapsed, 1),
                "received": received,
                "sent": sent,
                "backlog_at_end": sent - received,
                "events": s_end["events"] - s0["events"],
                "lag_ms_max": s_end["lag_ms_max"],
                "lag_ms_p50": s_end["lag_ms_p50"],
                # CPU per frame of each side over the soak: 1e6 / this = what one free core
                # could sustain; the simulator's paced flow is the expensive side.
                "client_cpu_us_per_frame": round(cpu_client / max(received, 1) * 1e6, 1),
                "sim_cpu_us_per_frame": round(
                    (sim_end["cpu_s"] - sim0["cpu_s"]) / max(sent, 1) * 1e6, 1
                ),
                "client_cpu_share": round(cpu_client / elapsed, 2),
                "sim_cpu_share": round((sim_end["cpu_s"] - sim0["cpu_s"]) / elapsed, 2),
            },
            "rss_mib": {
                "start": round(rss_start / MIB, 1),
                "end": round(rss_end / MIB, 1),
                "max": round(rss_max / MIB, 1),
                "min_during": round(rss_min / MIB, 1),
                "after_stop": round(rss_after_stop / MIB, 1),
                "bound": round(bound / MIB, 1),
                "bound_formula": (
                    f"start {rss_start / MIB:.1f} + {SAFETY:g} x tables reserved "
                    f"{reserved / MIB:.1f} + fixed {FIXED_BYTES / MIB:.0f} MiB"
                ),
                "growth_second_half": round(growth / MIB, 1),
                "growth_unexplained": round(unexplained / MIB, 1),
                "first_to_polars_import_s": round(import_s, 1),
                "samples": len(samples),
            },
            "rows_evicted": s_final["evicted"],
            "drops": s_final["dropped"],
            "reconnects": s_final["reconnects"],
            "resyncs": s_final["resyncs"],
            "books": {
                **s_final["books"],
                "compared": len(pairs),
                "differ_at_end": len(bad),
                "differ_examples": bad[:10],
                "converge_s": round(converge_s, 1),
            },
            "faults": fired,
            "faults_fired_sim": sim_end["faults_fired"],
            "leaks": {
                "tasks_before": len(tasks_before),
                "tasks_after": len(tasks_after),
                "leaked_tasks": leaked_tasks,
                "threads_before": len(threads_before),
                "threads_after": threading.active_count(),
                # Native threads too (polars' pool was started by the warm-up, before this).
                "os_threads_before": os_threads_before,
                "os_threads_after": os_threads(),
                "tasks_max_during_run": tasks_max,
                "leaked_threads": leaked_threads,
            },
        }
        return result
    finally:
        await host.close()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Load and soak (see module docstring).")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=20_000, help="target msg/s (frames)")
    parser.add_argument("--assets", type=int, default=1_000, help="CLOB assets (2 per market)")
    parser.add_argument("--us-markets", type=int, default=20, help="US markets (0 = none)")
    parser.add_argument("--max-rows", type=int, default=200_000, help="row limit, big tables")
    parser.add_argument("--fault-every", type=float, default=60.0, help="seconds between faults")
    parser.add_argument("--settle", type=float, default=20.0, help="clean flow before compare")
    parser.add_argument("--converge-timeout", type=float, default=60.0)
    parser.add_argument("--print-every", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--faults",
        default=",".join(ROTATION),
        help="comma-separated fault rotation (default: all of ROTATION)",
    )
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.serve:
        asyncio.run(serve(args))
        return 0
    started = time.monotonic()
    try:
        result = asyncio.run(soak(args))
    except Exception as exc:  # report, in the same JSON shape, why the soak could not finish
        result = {"pass": False, "failures": [f"soak crashed: {type(exc).__name__}: {exc}"]}
    result["wall_s"] = round(time.monotonic() - started, 1)
    result["command"] = "benchmarks/soak.py " + " ".join(argv if argv is not None else sys.argv[1:])
    print(json.dumps(result, sort_keys=True), flush=True)
    return 0 if result["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
