"""Live ingest on one core: our feeds vs a bare websockets loop and the official SDKs.

    .venv/bin/python benchmarks/bench_ingest.py [--frames N] [--windows W] [--runs R] [--quick]
        [--only a,b] [--baseline-tree DIR]

``--baseline-tree DIR`` (e.g. an unpacked ``git archive <base> polyresearch``) also runs the
feeds, the receive-only client and the (c) pair with DIR's ``polyresearch``, interleaved in
the same rounds, and prints this tree vs that one.

Setup (performance-notes.md method): the simulator runs in blast mode in its own process
(``python -m polyresearch.simulator --blast``), pinned to CPU 0 once it is listening; every
measured client runs in a fresh process pinned to CPU 1 (``benchmarks/_ingest_clients.py``), so
"one core" means one core and the server is not what is measured. The CLOB blast replays a
pre-encoded, self-consistent segment (fresh books, then ``blast_steps`` model steps: mostly
``price_change``, some ``last_trade_price``, books at cycle starts) as fast as the socket takes
it; every client of a comparison subscribes to the same assets and so receives the same frames.

The simulator's blast does not cover the US venue, so US is measured against
``benchmarks/_us_replay.py`` (also pinned to CPU 0): it records genuine ``marketData`` full books
from the simulator's US venue over a signed socket, then blasts them the same way.

A client's numbers come from windows of ``--frames`` messages after a warm-up (see
``_ingest_clients.py``): messages/s (wall clock) and CPU µs per message (``getrusage``
user + system of the client process). Every ratio is taken between contenders measured in the
same run, in interleaved order, as medians over all windows; ratios use CPU µs per message
(a client's capacity on one core), and the wall-clock rates are printed too. Machines are
noisy: never compare absolute numbers across runs.

Contenders:

- (a) ``ClobFeed`` (socket → decode → books with hash and BBO checks → table rows) with the
  default ``hash_every=16`` (every book snapshot and 1 in 16 deltas per asset hash-checked;
  after a miss every delta until a match), and with ``hash_every=1`` (every message), vs
  ``websockets`` ``async for`` + ``json.loads`` and nothing else;
- receive only (info): ``websockets`` ``async for`` vs our ``Connection`` (the feeds'
  transport: frames handed over from websockets' protocol callback) with a no-op hook;
- (b) the official SDKs only parse and dispatch to a no-op consumer: ``polymarket-client`` on
  the CLOB blast (mostly price changes), ``polymarket-us`` on US full books;
- (c) ``ClobFeed`` per-message cost with 5,000 subscribed assets (2,500 markets, 50
  connections) vs 1 asset, on one simulator. The 1-asset run subscribes to a "focus" market,
  whose long share of the blast has the same kinds of message in the same proportions as the
  whole segment (the "books" and "ltp" columns print each run's shares of ``book`` and
  ``last_trade_price`` messages). The 5,000-asset run also gets every asset's opening book
  once per cycle of the blast segment, so the segment is long (40 steps per market) to keep
  those books a small share (books 19.4-20.3% vs the focus market's 19.2%; with 10 steps per
  market they were 27%, and that alone made the 5,000-asset messages dearer);
- (d) bytes per stored row of the tables the ``hash_every=16`` run filled;
- (e) ``RollingTable.to_polars()`` of 1,000,000 rows vs ``pl.DataFrame`` from per-column lists.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CLIENTS = HERE / "_ingest_clients.py"
US_REPLAY = HERE / "_us_replay.py"
PYTHON = sys.executable

#: Simulator A: one connection's worth of markets for (a) and (b).
SMALL_MARKETS = 50
#: Simulator B for (c): 5,000 assets.
BIG_MARKETS = 2500
#: The simulator's first markets get a bigger share of the flow ("focus" markets); the 1-asset
#: run of (c) subscribes to one of them: its long run of frames has the blast's message mix.
FOCUS_MARKETS = 3


def pin_process(pid: int, cpu: int) -> None:
    """Pin every thread of ``pid`` to ``cpu`` (when the machine has two cores or more)."""
    cores = os.cpu_count() or 1
    if cores < 2 or not hasattr(os, "sched_setaffinity"):
        return
    tasks = Path(f"/proc/{pid}/task")
    tids = [int(p.name) for p in tasks.iterdir()] if tasks.exists() else [pid]
    for tid in tids:
        with contextlib.suppress(ProcessLookupError):
            os.sched_setaffinity(tid, {cpu % cores})


class Server:
    """A server process (simulator or US replay) that prints one JSON line once listening."""

    def __init__(self, name: str, argv: list[str]) -> None:
        self.name = name
        # stderr goes to a file: a pipe nobody reads could fill up and block the server.
        self.log = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self.log, text=True)
        self.info: dict[str, Any] = {}

    def ready(self) -> dict[str, Any]:
        """Wait for the JSON line, then pin the server to CPU 0 (it built its data unpinned)."""
        if not self.info:
            assert self.proc.stdout is not None
            line = self.proc.stdout.readline()
            if not line:
                self.log.seek(0)
                err = self.log.read()
                raise RuntimeError(f"{self.name} failed to start:\n{err[-3000:]}")
            self.info = json.loads(line)
            pin_process(self.proc.pid, 0)
        return self.info

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def simulator(markets: int, steps: int, seed: int) -> Server:
    return Server(
        f"simulator({markets} markets)",
        [
            PYTHON,
            "-m",
            "polyresearch.simulator",
            "--blast",
            "--venue",
            "clob",
            "--markets",
            str(markets),
            "--blast-steps",
            str(steps),
            "--seed",
            str(seed),
            "--ping-timeout",
            "3600",
        ],
    )


def gamma_params(http_url: str) -> dict[str, tuple[str, bool, list[str]]]:
    """Hash parameters of every market (min_order_size, neg_risk, tokens) from Gamma REST."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    params: dict[str, tuple[str, bool, list[str]]] = {}
    for closed in ("false", "true"):
        offset = 0
        while True:
            url = f"{http_url}/markets?limit=1000&offset={offset}&closed={closed}"
            with opener.open(url, timeout=30) as response:
                page = json.load(response)
            for market in page:
                tokens = json.loads(market["clobTokenIds"])
                size = format(Decimal(repr(market["orderMinSize"])).normalize(), "f")
                for token in tokens:
                    params[token] = (size, bool(market["negRisk"]), tokens)
            if len(page) < 1000:
                break
            offset += 1000
    return params


def run_client(spec: Mapping[str, Any], timeout: float = 600) -> dict[str, Any]:
    """Run one measured client process (pinned to CPU 1) and return its JSON result."""
    env = None
    if spec.get("tree"):  # a baseline checkout: its polyresearch is the one imported
        env = {**os.environ, "PYTHONPATH": str(spec["tree"])}
    done = subprocess.run(
        [PYTHON, str(CLIENTS), "-"],
        input=json.dumps(spec),
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"client {spec['kind']} failed:\n{done.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


# --------------------------------------------------------------------------- statistics


def med(windows: list[dict[str, Any]], key: str) -> float:
    return float(statistics.median(w[key] for w in windows))


class Results:
    """Windows and reports per contender."""

    def __init__(self) -> None:
        self.windows: dict[str, list[dict[str, Any]]] = {}
        self.reports: dict[str, list[dict[str, Any]]] = {}
        self.extra: dict[str, list[dict[str, Any]]] = {}
        self.breakdowns: dict[str, dict[str, Any]] = {}

    def add(self, name: str, result: Mapping[str, Any]) -> None:
        self.windows.setdefault(name, []).extend(result["windows"])
        if "feed" in result:
            self.reports.setdefault(name, []).append(result["feed"])
        for key in ("sdk", "polars"):
            if key in result:
                self.extra.setdefault(f"{name}:{key}", []).append(result[key])

    def cpu(self, name: str) -> float:
        return med(self.windows[name], "cpu_us_per_msg")

    def rate(self, name: str) -> float:
        return med(self.windows[name], "msg_per_s")

    def book_share(self, name: str) -> float | None:
        return self.kind_share(name, "book", "market_data")

    def kind_share(self, name: str, *kinds_wanted: str) -> float | None:
        """Median share of messages of the first of ``kinds_wanted`` a window has."""
        shares = []
        for w in self.windows[name]:
            kinds = w.get("kinds")
            if kinds:
                total = sum(kinds.values())
                found = next((kinds[k] for k in kinds_wanted if k in kinds), 0)
                shares.append(found / max(total, 1))
        return statistics.median(shares) if shares else None


def rounds(names: list[str], runs: int) -> Iterator[str]:
    """Interleave contenders, rotating the order every round."""
    for r in range(runs):
        k = r % len(names)
        yield from names[k:] + names[:k]


# --------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description="Live ingest benchmark (see module docstring).")
    parser.add_argument("--frames", type=int, default=None, help="messages per window")
    parser.add_argument("--windows", type=int, default=None, help="windows per client process")
    parser.add_argument("--runs", type=int, default=None, help="client processes per contender")
    parser.add_argument("--quick", action="store_true", help="small windows, one run (< ~60 s)")
    parser.add_argument(
        "--polars-rows", type=int, default=1_000_000, help="rows for the to_polars comparison"
    )
    parser.add_argument(
        "--breakdown",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also time each pipeline stage offline on recorded frames (default: not in --quick)",
    )
    parser.add_argument(
        "--baseline-tree",
        type=Path,
        default=None,
        help="another checkout (e.g. main): also run the feeds and the receive-only client "
        "with its polyresearch, in the same interleaved rounds, for before/after ratios",
    )
    parser.add_argument(
        "--only",
        default=None,
        help="comma-separated contenders to run (e.g. one_asset,5000_assets); default: all",
    )
    args = parser.parse_args()
    frames = args.frames or (8_000 if args.quick else 100_000)
    runs = args.runs or (1 if args.quick else 3)
    windows = args.windows or (2 if args.quick else 3)
    started = time.perf_counter()
    cores = os.cpu_count() or 1
    if cores < 2:
        print("warning: one core only; client and servers share it", file=sys.stderr)
    pin_process(os.getpid(), 0)

    # Build all server data in parallel (unpinned), then pin each server to CPU 0.
    # Long enough that the 5,000 opening books per blast cycle are a small share (see (c)).
    big_steps = (4 if args.quick else 40) * BIG_MARKETS
    servers = {
        "small": simulator(SMALL_MARKETS, 20_000, seed=1),
        "big": simulator(BIG_MARKETS, big_steps, seed=2),
        "us": Server(
            "us replay",
            [
                PYTHON,
                str(US_REPLAY),
                "--markets",
                str(SMALL_MARKETS),
                "--frames",
                "3000" if args.quick else "5000",
            ],
        ),
    }
    results = Results()
    try:
        small = servers["small"].ready()
        us = servers["us"].ready()
        big = servers["big"].ready()
        setup_s = time.perf_counter() - started
        small_params = gamma_params(small["http_url"])
        big_params = gamma_params(big["http_url"])

        clob = small["clob"]
        assets = clob["asset_ids"]
        base = {"warmup": max(3_000, frames // 5), "frames": frames, "windows": windows}
        clob_base = {
            **base,
            "url": clob["market_url"],
            "http_url": small["http_url"],
            "assets": assets,
            "params": {a: small_params[a] for a in assets if a in small_params},
        }
        us_base = {
            **base,
            "ws_url": f"ws://127.0.0.1:{us['port']}",
            "slugs": us["slugs"],
            "key_id": us["key_id"],
            "secret_key": us["secret_key"],
        }
        big_assets = big["clob"]["asset_ids"]

        def one_asset(run: int) -> dict[str, Any]:
            # The 1-asset run must see the 5,000-asset run's message mix, not fewer or cheaper
            # messages. An average market's share of the blast segment is ~16 frames per cycle
            # (its 2 opening books and a dozen steps, often no trade), so a client subscribed
            # to it replays the same handful of frames: no last_trade_price, hardly a quote
            # row. A focus market (the first FOCUS_MARKETS listed) gets thousands of frames
            # per cycle with the segment's kinds in the segment's proportions (measured at
            # seed 2, 25,000 steps: books 19%, price_change 55%, last_trade_price 25%, vs
            # 18% / 55% / 27% over all markets' steps), so it is the representative one. Each
            # run takes another focus market (YES token).
            one = big_assets[2 * (run % FOCUS_MARKETS)]
            return {"assets": [one], "params": {t: big_params[t] for t in big_params[one][2]}}

        # (c) windows stay short: a saturated 50-connection feed lags its sockets by tens of
        # seconds of buffered blast, and websockets' keepalive (20 s ping timeout, both ends)
        # then closes them; a window must end before that.
        big_base = {
            **base,
            "frames": min(frames, 30_000),
            "url": big["clob"]["market_url"],
            "hash_every": 16,
            "params": big_params,
        }
        specs: dict[str, dict[str, Any]] = {
            "feed16": {**clob_base, "kind": "clob_feed", "hash_every": 16},
            "feed1": {**clob_base, "kind": "clob_feed", "hash_every": 1},
            "bare": {**clob_base, "kind": "clob_bare"},
            "sdk": {**clob_base, "kind": "clob_sdk"},
            "recv_ws": {**clob_base, "kind": "clob_recv_ws"},
            "recv": {**clob_base, "kind": "clob_recv"},
            "us_feed": {**us_base, "kind": "us_feed"},
            "us_bare": {**us_base, "kind": "us_bare"},
            "us_sdk": {**us_base, "kind": "us_sdk"},
            "one_asset": {**big_base, "kind": "clob_feed", **one_asset(0)},
            # 100 per connection, not the default 200: the simulator's blast fixes a
            # connection's markets at its first subscribe frame, and ClobFeed sends 100 ids per
            # frame, so with 200 half of the assets would get books but no blast flow.
            "5000_assets": {
                **big_base,
                "kind": "clob_feed",
                "assets": big_assets,
                "max_assets_per_connection": 100,
                "warmup": max(5_000, frames // 5),
            },
        }
        if args.baseline_tree is not None:
            tree = str(args.baseline_tree.resolve())
            for name in ("feed16", "us_feed", "recv", "one_asset", "5000_assets"):
                specs[f"{name}@base"] = {**specs[name], "tree": tree}
        if args.only:
            wanted = set(args.only.split(","))
            specs = {k: v for k, v in specs.items() if k.split("@")[0] in wanted}
        print(
            f"servers ready in {setup_s:.1f} s; CLOB: {len(assets)} assets, "
            f"US: {len(us['slugs'])} markets, {us['frames']} recorded full books "
            f"(mean {us['mean_frame_bytes']} B); big: {len(big_assets)} assets",
            flush=True,
        )
        first_feed16 = True
        seen: dict[str, int] = {}
        for name in rounds(list(specs), runs):
            spec = dict(specs[name])
            seen[name] = seen.get(name, 0) + 1
            if name.startswith("one_asset"):
                spec.update(one_asset(seen[name] - 1))
            if name == "feed16" and first_feed16:
                spec["polars_rows"] = args.polars_rows
                spec["polars_passes"] = 3 if args.quick else 5
                first_feed16 = False
            t0 = time.perf_counter()
            result = run_client(spec)
            results.add(name, result)
            w = result["windows"]
            print(
                f"  {name:<12} {med(w, 'msg_per_s'):>9,.0f} msg/s {med(w, 'cpu_us_per_msg'):>7.2f}"
                f" µs/msg  cpu {med(w, 'cpu_share'):.0%}  ({time.perf_counter() - t0:.1f} s)",
                flush=True,
            )
        if args.breakdown if args.breakdown is not None else not args.quick:
            record = 8_000 if args.quick else 30_000
            for name, spec in (
                ("clob", {**clob_base, "kind": "breakdown_clob", "record": record}),
                ("us", {**us_base, "kind": "breakdown_us", "record": min(record, us["frames"])}),
            ):
                results.breakdowns[name] = run_client(spec)
    finally:
        for server in servers.values():
            server.stop()
    report(results, frames=frames, windows=windows, runs=runs, argv=sys.argv[1:])
    print(f"\ntotal {time.perf_counter() - started:.1f} s")


def report(results: Results, *, frames: int, windows: int, runs: int, argv: list[str]) -> None:
    labels = {
        "feed16": "ClobFeed hash_every=16 (default)",
        "feed1": "ClobFeed hash_every=1",
        "bare": "websockets + json.loads (CLOB)",
        "sdk": "polymarket-client, no-op consumer",
        "recv_ws": "receive only: websockets async for",
        "recv": "receive only: our Connection",
        "us_feed": "UsFeed",
        "us_bare": "websockets + json.loads (US)",
        "us_sdk": "polymarket-us, no-op listener",
        "feed16@base": "ClobFeed h=16, baseline tree",
        "us_feed@base": "UsFeed, baseline tree",
        "recv@base": "receive only: Connection, baseline tree",
        "one_asset@base": "ClobFeed, 1 asset, baseline tree",
        "5000_assets@base": "ClobFeed, 5,000 assets, baseline tree",
        "one_asset": "ClobFeed, 1 asset",
        "5000_assets": "ClobFeed, 5,000 assets",
    }
    n = len(next(iter(results.windows.values())))
    print(
        f"\nmedians over {n} windows of {frames:,} messages each "
        f"({runs} process(es) x {windows} windows); command: "
        f"benchmarks/bench_ingest.py {' '.join(argv)}"
    )
    print(f"{'contender':<36} {'msg/s':>9} {'CPU µs/msg':>10} {'CPU':>5} {'books':>6} {'ltp':>6}")
    for name, label in labels.items():
        if name not in results.windows:
            continue
        share = results.book_share(name)
        ltp = results.kind_share(name, "last_trade_price")
        print(
            f"{label:<36} {results.rate(name):>9,.0f} {results.cpu(name):>10.2f}"
            f" {med(results.windows[name], 'cpu_share'):>5.0%}"
            f" {'' if share is None else f'{share:.1%}':>6}"
            f" {'' if ltp is None or share is None else f'{ltp:.1%}':>6}"
        )

    def ratio(base: str, ours: str) -> tuple[float, float]:
        return results.cpu(base) / results.cpu(ours), results.rate(ours) / results.rate(base)

    print("\nratios (CPU capacity = their CPU µs/msg / ours; wall = our msg/s / theirs)")
    rows: list[tuple[str, float, str, bool]] = []
    for label, base, ours, goal in (
        ("(a) ClobFeed h=16 vs websockets+json.loads", "bare", "feed16", 1.0),
        ("(a) ClobFeed h=1  vs websockets+json.loads", "bare", "feed1", 1.0),
        ("(b) ClobFeed h=16 vs polymarket-client", "sdk", "feed16", 2.5),
        ("(b) UsFeed vs polymarket-us (full books)", "us_sdk", "us_feed", 1.5),
        ("    UsFeed vs websockets+json.loads (US)", "us_bare", "us_feed", 0.0),
        ("    receive only: Connection vs websockets", "recv_ws", "recv", 0.0),
        ("    ClobFeed h=16: this tree vs baseline tree", "feed16@base", "feed16", 0.0),
        ("    UsFeed: this tree vs baseline tree", "us_feed@base", "us_feed", 0.0),
        ("    receive only: this tree vs baseline tree", "recv@base", "recv", 0.0),
    ):
        if base in results.windows and ours in results.windows:
            cap, wall = ratio(base, ours)
            met = cap >= goal
            goal_text = f"goal >= {goal:.1f}x {'met' if met else 'MISSED'}" if goal else "(info)"
            print(f"  {label:<46} {cap:>5.2f}x  (wall {wall:.2f}x)  {goal_text}")
            rows.append((label, cap, goal_text, met))
    for tag, suffix in (("", ""), (", baseline tree", "@base")):
        one, many = f"one_asset{suffix}", f"5000_assets{suffix}"
        if one in results.windows and many in results.windows:
            scale = results.cpu(many) / results.cpu(one)
            met = scale <= 1.2
            label = f"(c) CPU/msg at 5,000 assets / at 1 asset{tag}"
            print(f"  {label:<46} {scale:>5.2f}x  goal <= 1.2x {'met' if met else 'MISSED'}")
    feed = results.reports.get("feed16", [])
    if feed:
        tables = feed[0]["tables"]
        used = sum(t["bytes_used"] for t in tables.values())
        rows_n = sum(t["rows"] for t in tables.values())
        per = used / rows_n
        detail = ", ".join(
            f"{k} {t['bytes_per_row']:.1f} B x {t['rows']:,}" for k, t in tables.items()
        )
        print(
            f"  {'(d) bytes per stored row (h=16 run, all tables)':<46} {per:>5.1f} B"
            f"   goal <= 64 B {'met' if per <= 64 else 'MISSED'}  [{detail}]"
        )
    polars = results.extra.get("feed16:polars")
    if polars and polars[0]:
        p = polars[0]
        speed = p["from_lists_s"] / p["to_polars_s"]
        print(
            f"  {'(e) to_polars() vs pl.DataFrame(lists)':<46} {speed:>5.2f}x  "
            f"({p['rows']:,} rows: to_polars {p['to_polars_s'] * 1000:.0f} ms, from lists "
            f"{p['from_lists_s'] * 1000:.0f} ms, same frame: {p['same_frame']}, "
            f"polars threads {p['polars_threads']} on one core)"
        )
    for venue, bare in (("clob", "bare"), ("us", "us_bare")):
        found = results.breakdowns.get(venue)
        if not found:
            continue
        stages = found["breakdown"]
        print(
            f"\nwhere the time goes, {venue.upper()} (offline: {found['frames']:,} recorded frames "
            "through each stage in order, fresh state per pass; CPU µs per message)"
        )
        if bare in results.windows:
            receive = results.cpu(bare) - stages["json.loads"]
            print(f"  {'websockets receive (live bare - offline json.loads)':<52} {receive:>7.2f}")
        if venue == "clob":
            for name, label in (
                ("recv_ws", "live receive only, websockets async for"),
                ("recv", "live receive only, our Connection (feeds' path)"),
            ):
                if name in results.windows:
                    print(f"  {label:<52} {results.cpu(name):>7.2f}")
        for stage, micros in stages.items():
            print(f"  {stage:<52} {micros:>7.2f}")
        budgets(results, venue, stages)
    print("\ncorrectness of the feed runs (summed over processes)")
    for name, reps in results.reports.items():
        if any(r["reconnects"] for r in reps):
            print(f"  WARNING: {labels.get(name, name)} reconnected during the run")
        keys = ("bbo_checks", "bbo_mismatches", "hashes_verified", "hashes_unverified")
        sums = {k: sum(r[k] for r in reps) for k in keys}
        extra = {
            "resyncs": sum(r["resyncs"] for r in reps),
            "reconnects": sum(r["reconnects"] for r in reps),
            "dropped": sum(sum(r["dropped"].values()) for r in reps),
            "frames queued": sum(r.get("queued", 0) for r in reps),
            "deferred": sum(r.get("deferred", 0) for r in reps),
            "connections": reps[0]["connections"],
            "live books": reps[0]["live"],
        }
        text = ", ".join(f"{k} {v:,}" for k, v in {**sums, **extra}.items())
        print(f"  {labels.get(name, name):<36} {text}")
    for name, extras in results.extra.items():
        if name.endswith(":sdk"):
            print(f"  {labels.get(name.split(':')[0], name):<36} {extras}")


def budgets(results: Results, venue: str, stages: Mapping[str, float]) -> None:
    """What each speed goal leaves for the state layer (books, checks, rows), per message.

    A goal of ``k``x against a baseline costing ``B`` µs/msg allows ``B / k`` in all. Our
    receive (live, the feeds' path; CLOB only, as the US has no receive-only run) and our
    decode (offline) come off first: both sit at their library's floor (websockets' parser;
    msgspec). What is left is the budget of the state layer, printed next to what ours costs
    (feed on_frame offline minus decode). A budget under the state layer's cost is a goal this
    pipeline cannot meet whatever the state layer does short of that cost; a negative one is
    a goal out of reach even with no state layer at all.
    """
    decode = stages.get("decode")
    on_frame = stages.get("feed on_frame (h=16)", stages.get("feed on_frame"))
    if decode is None or on_frame is None:
        return
    receive = results.cpu("recv") if venue == "clob" and "recv" in results.windows else 0.0
    goals = (
        (("(a) vs websockets+json.loads", "bare", 1.0), ("(b) vs polymarket-client", "sdk", 2.5))
        if venue == "clob"
        else (("(b) vs polymarket-us", "us_sdk", 1.5),)
    )
    state = on_frame - decode
    print(
        f"  goal budgets for the state layer (ours: feed on_frame - decode = {state:.2f} µs;"
        f" receive {receive:.2f}{'' if receive else ' (not measured)'}, decode {decode:.2f})"
    )
    for label, base, goal in goals:
        if base not in results.windows:
            continue
        allowed = results.cpu(base) / goal
        budget = allowed - receive - decode
        print(
            f"    {label} >= {goal:.1f}x: {allowed:6.2f} µs in all -> state budget"
            f" {budget:6.2f} µs ({budget / state:.2f} of ours)"
        )


if __name__ == "__main__":
    main()
