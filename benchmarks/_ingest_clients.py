"""Measured clients of ``bench_ingest.py``: one client kind per process, pinned to CPU 1.

Run by the orchestrator as ``python benchmarks/_ingest_clients.py '<json spec>'``; prints one
JSON line with the measured windows (and feed statistics where there are some).

Every client is measured the same way: a poller task on the client's own event loop reads a
message counter every few milliseconds; once the counter passes ``warmup`` (connection set up,
initial books in, caches warm) it takes a snapshot (count, ``perf_counter``, process CPU from
``getrusage(RUSAGE_SELF)``: user + system, all threads), then one more snapshot every
``frames`` messages, ``windows`` times. A window's numbers are the differences between two
snapshots, so setup, imports and the initial dump never count, and polling costs the same for
every client (a few µs every 5 ms). Garbage collection stays on (realistic).

Client kinds (``spec["kind"]``):

- ``clob_feed``: our :class:`~polyresearch.feed.ClobFeed` (socket → decode → books with hash
  and BBO checks → rows in the rolling tables), counter = frames the connections received;
- ``clob_bare``: ``websockets`` ``async for`` + ``json.loads`` and nothing else;
- ``clob_recv_ws`` / ``clob_recv``: receive only, ``websockets`` ``async for`` vs our
  :class:`~polyresearch.transport.connection.Connection` with a counting frame hook;
- ``clob_sdk``: the official ``polymarket-client`` ``AsyncPublicClient``, pointed at the
  simulator exactly as ``tests/simulator/test_sim_clob_sdk.py`` does, iterated by a no-op
  consumer; counter = events consumed + events the SDK dropped (its parse work is done either
  way);
- ``us_feed``, ``us_bare``, ``us_sdk``: the same three on the US markets socket (the official
  ``polymarket-us`` ``PolymarketUS`` built as in ``tests/simulator/test_us_sdk.py``, a no-op
  ``market_data`` listener).
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import itertools
import json
import os
import resource
import statistics
import sys
import time
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

POLL_S = 0.005


def pin(cpu: int) -> None:
    """Pin this process to one core (when the machine has it)."""
    cores = os.cpu_count() or 1
    if hasattr(os, "sched_setaffinity") and cores > 1:
        os.sched_setaffinity(0, {cpu % cores})


def cpu_seconds() -> float:
    """User + system CPU time of this process (all threads)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclasses.dataclass
class Snapshot:
    count: int
    wall: float
    cpu: float
    extra: Any = None


class Meter:
    """Snapshots a message counter: after ``warmup`` messages, then every ``frames`` messages."""

    def __init__(
        self,
        count: Callable[[], int],
        *,
        warmup: int,
        frames: int,
        windows: int,
        ready: Callable[[], bool] | None = None,
        extra: Callable[[], Any] | None = None,
        timeout: float = 120.0,
    ) -> None:
        self.count = count
        self.warmup = warmup
        self.frames = frames
        self.windows = windows
        self.ready = ready
        self.extra = extra
        self.timeout = timeout

    def _snap(self) -> Snapshot:
        # The counter first: the CPU and wall readings then include no message past it.
        count = self.count()
        return Snapshot(
            count, time.perf_counter(), cpu_seconds(), self.extra() if self.extra else None
        )

    async def run(self) -> list[dict[str, Any]]:
        deadline = time.monotonic() + self.timeout
        while self.count() < self.warmup or (self.ready is not None and not self.ready()):
            if time.monotonic() > deadline:
                raise TimeoutError(f"warm-up not reached: {self.count()} messages")
            await asyncio.sleep(POLL_S)
        self.warm_at = time.perf_counter()
        snaps = [self._snap()]
        for _ in range(self.windows):
            target = snaps[-1].count + self.frames
            while self.count() < target:
                if time.monotonic() > deadline + self.timeout:
                    raise TimeoutError(f"stalled at {self.count()} messages")
                await asyncio.sleep(POLL_S)
            snaps.append(self._snap())
        return [_window(a, b) for a, b in itertools.pairwise(snaps)]


def _window(a: Snapshot, b: Snapshot) -> dict[str, Any]:
    n = b.count - a.count
    wall, cpu = b.wall - a.wall, b.cpu - a.cpu
    out: dict[str, Any] = {
        "messages": n,
        "wall_s": wall,
        "cpu_s": cpu,
        "msg_per_s": n / wall,
        "cpu_us_per_msg": cpu / n * 1e6,
        "cpu_share": cpu / wall,
    }
    if isinstance(a.extra, Mapping) and isinstance(b.extra, Mapping):
        out["kinds"] = {k: b.extra.get(k, 0) - a.extra.get(k, 0) for k in b.extra}
    return out


# --------------------------------------------------------------------------- CLOB


def clob_params(spec: Mapping[str, Any]) -> dict[str, Any]:
    from polyresearch.state.books import MarketParams

    params: dict[str, MarketParams] = {}
    for token, (min_size, neg_risk, tokens) in spec["params"].items():
        params[token] = MarketParams(
            min_order_size=min_size, neg_risk=neg_risk, token_ids=tuple(tokens)
        )
    return params


def feed_report(feed: Any) -> dict[str, Any]:
    """Correctness and memory counters of a feed after its windows."""
    stats = feed.stats()
    books = stats.books
    tables = {}
    for name, table in stats.tables.items():
        if table.rows:
            tables[name] = {
                "rows": table.rows,
                "rows_appended": table.rows_appended,
                "bytes_used": table.bytes_used,
                "bytes_per_row": table.bytes_per_row,
            }
    return {
        "connections": len(stats.connections),
        "reconnects": stats.reconnects,
        "dropped": dict(stats.dropped),
        "resyncs": stats.resyncs,
        "books": books.books,
        "live": books.live,
        "bbo_checks": books.bbo_checks,
        "bbo_mismatches": books.bbo_mismatches,
        "hashes_verified": books.hashes_verified,
        "hashes_unverified": books.hashes_unverified,
        "hashes_unverifiable": books.hashes_unverifiable,
        "hashes_skipped": books.hashes_skipped,
        "tables": tables,
        "error": stats.error,
        # transport: frames that missed the direct path (websockets' queue), or waited for a
        # later loop iteration (burst budget); getattr: a baseline tree may not count them
        "queued": sum(getattr(c, "frames_queued", 0) for c in stats.connections),
        "deferred": sum(getattr(c, "frames_deferred", 0) for c in stats.connections),
    }


def _kinds(feed: Any) -> dict[str, int]:
    totals: dict[str, int] = {}
    for channel in feed._channels:
        for kind, n in channel.decoder.stats().events_by_kind.items():
            totals[kind] = totals.get(kind, 0) + n
    return totals


async def run_clob_feed(spec: Mapping[str, Any]) -> dict[str, Any]:
    from polyresearch.feed import ClobFeed

    feed = ClobFeed(
        assets=spec["assets"],
        url=spec["url"],
        params=clob_params(spec),
        hash_every=spec["hash_every"],
        max_assets_per_connection=spec.get("max_assets_per_connection", 200),
    )
    connections = [c.connection for c in feed._channels if c.connection is not None]

    def count() -> int:
        return sum(c._counts[6] for c in connections)  # frames received

    def ready() -> bool:  # every connection is up and past its initial dump
        return all(c._counts[6] >= 2 for c in connections)

    meter = Meter(
        count,
        warmup=spec["warmup"],
        frames=spec["frames"],
        windows=spec["windows"],
        ready=ready,
        extra=lambda: _kinds(feed),
    )
    feed.start()
    windows = await meter.run()
    result: dict[str, Any] = {"windows": windows, "feed": feed_report(feed)}
    if spec.get("polars_rows"):
        await feed.stop()  # nothing else may run on this core while polars is timed
        result["polars"] = polars_vs_lists(
            feed.tables.book_updates, spec["polars_rows"], spec.get("polars_passes", 5)
        )
    return result


class _Count:
    __slots__ = ("n",)

    def __init__(self) -> None:
        self.n = 0


async def _bare(
    url: str, frames: list[str], spec: Mapping[str, Any], *, parse: bool = True, **kwargs: Any
) -> Any:
    from websockets.asyncio.client import connect

    state = _Count()
    loads = json.loads

    ws = await connect(url, compression=None, max_size=None, **kwargs)
    for frame in frames:
        await ws.send(frame)

    async def read() -> None:
        if parse:
            async for message in ws:
                loads(message)
                state.n += 1
        else:
            async for _ in ws:
                state.n += 1

    reader = asyncio.create_task(read())
    meter = Meter(
        lambda: state.n, warmup=spec["warmup"], frames=spec["frames"], windows=spec["windows"]
    )
    windows = await meter.run()
    reader.cancel()
    return {"windows": windows}


async def run_clob_bare(spec: Mapping[str, Any]) -> dict[str, Any]:
    from polyresearch.protocol import clob as clob_protocol

    # The same subscription frames ClobFeed sends (so the server sends the same frames).
    frames = clob_protocol.market_subscribe(spec["assets"])
    return await _bare(spec["url"], frames, spec)  # type: ignore[no-any-return]


async def run_clob_recv_ws(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Receive only: websockets ``async for``, nothing done with the messages."""
    from polyresearch.protocol import clob as clob_protocol

    frames = clob_protocol.market_subscribe(spec["assets"])
    return await _bare(spec["url"], frames, spec, parse=False)  # type: ignore[no-any-return]


async def run_clob_recv(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Receive only: our :class:`~polyresearch.transport.connection.Connection` (the feeds'
    transport) with a frame hook that only counts."""
    from polyresearch.protocol import clob as clob_protocol
    from polyresearch.transport.connection import Connection

    state = _Count()
    frames = clob_protocol.market_subscribe(spec["assets"])

    class Hooks:
        def headers(self) -> None:
            return None

        def on_open(self) -> list[str]:
            return list(frames)

        def on_frame(self, data: str | bytes, recv_ns: int) -> None:
            state.n += 1

        def on_state(self, state: str, detail: str) -> None:
            pass

        def redact(self, frame: str) -> str:
            return frame

    conn = Connection("recv", spec["url"], Hooks())
    runner = asyncio.create_task(conn.run())
    meter = Meter(
        lambda: state.n, warmup=spec["warmup"], frames=spec["frames"], windows=spec["windows"]
    )
    windows = await meter.run()
    runner.cancel()
    return {"windows": windows, "queued": getattr(conn.stats(), "frames_queued", None)}


async def run_clob_sdk(spec: Mapping[str, Any]) -> dict[str, Any]:
    from polymarket import AsyncPublicClient
    from polymarket._internal.environment import PRODUCTION_CONFIG, create_environment
    from polymarket.streams import MarketSpec

    http, market_url = spec["http_url"], spec["url"]
    config = dataclasses.replace(
        PRODUCTION_CONFIG,
        clob_url=http,
        gamma_url=http,
        data_url=http,
        relayer_url=http,
        clob_market_ws_url=market_url,
        clob_user_ws_url=market_url.replace("/ws/market", "/ws/user"),
    )
    client = AsyncPublicClient(environment=create_environment(name="simulator", config=config))
    state = _Count()
    # The concrete AsyncSubscriptionHandle (its `dropped` counter is not on the protocol).
    handle: Any = await client.subscribe(MarketSpec(asset_ids=spec["assets"]))
    manager = client._get_market_manager()

    async def consume() -> None:  # the no-op consumer
        async for _ in handle:
            state.n += 1

    consumer = asyncio.create_task(consume())
    meter = Meter(
        lambda: state.n + handle.dropped + manager.dropped_events,
        warmup=spec["warmup"],
        frames=spec["frames"],
        windows=spec["windows"],
    )
    windows = await meter.run()
    sdk = {"consumed": state.n, "dropped": handle.dropped, "malformed": manager.dropped_events}
    consumer.cancel()
    return {"windows": windows, "sdk": sdk}


# --------------------------------------------------------------------------- US


async def run_us_feed(spec: Mapping[str, Any]) -> dict[str, Any]:
    from polyresearch.config import UsCredentials
    from polyresearch.feed import UsFeed

    feed = UsFeed(
        slugs=spec["slugs"],
        credentials=UsCredentials(key_id=spec["key_id"], secret_key=spec["secret_key"]),
        base_url=spec["ws_url"],
        market_types=("SUBSCRIPTION_TYPE_MARKET_DATA",),
    )
    connections = [c.connection for c in feed._channels if c.connection is not None]
    meter = Meter(
        lambda: sum(c._counts[6] for c in connections),
        warmup=spec["warmup"],
        frames=spec["frames"],
        windows=spec["windows"],
        extra=lambda: _kinds(feed),
    )
    feed.start()
    windows = await meter.run()
    return {"windows": windows, "feed": feed_report(feed)}


async def run_us_bare(spec: Mapping[str, Any]) -> dict[str, Any]:
    from polyresearch.protocol import us as us_protocol

    ids = us_protocol.RequestIdGenerator("bare")
    frames = [
        f
        for _, f in us_protocol.subscribe(
            "SUBSCRIPTION_TYPE_MARKET_DATA", spec["slugs"], request_ids=ids
        )
    ]
    return await _bare(spec["ws_url"] + "/v1/ws/markets", frames, spec)  # type: ignore[no-any-return]


async def run_us_sdk(spec: Mapping[str, Any]) -> dict[str, Any]:
    from polymarket_us import PolymarketUS

    http = spec["ws_url"].replace("ws://", "http://")
    client = PolymarketUS(
        key_id=spec["key_id"],
        secret_key=spec["secret_key"],
        api_base_url=http,
        gateway_base_url=http,
    )
    ws = client.ws.markets()
    state = _Count()

    def on_book(_message: Any) -> None:  # the no-op consumer
        state.n += 1

    ws.on("market_data", on_book)
    await ws.connect()
    await ws.subscribe_market_data("md", spec["slugs"])
    meter = Meter(
        lambda: state.n, warmup=spec["warmup"], frames=spec["frames"], windows=spec["windows"]
    )
    windows = await meter.run()
    return {"windows": windows}


# --------------------------------------------------------------------------- breakdown


async def _record(url: str, frames: list[str], count: int, **kwargs: Any) -> list[str]:
    """The first ``count`` frames a subscription receives, in order (str, as websockets gives)."""
    from websockets.asyncio.client import connect

    recorded: list[str] = []
    ws = await connect(url, compression=None, max_size=None, **kwargs)
    for frame in frames:
        await ws.send(frame)
    async for message in ws:
        recorded.append(message if isinstance(message, str) else message.decode())
        if len(recorded) >= count:
            break
    ws.transport.abort()
    return recorded


def _stage(frames: list[str], make: Callable[[], Callable[[str], object]], passes: int) -> float:
    """CPU µs per frame of ``make()`` (fresh state every pass) over ``frames``, in order."""
    times = []
    for _ in range(passes):
        handle = make()
        gc.collect()
        start = time.process_time()
        for frame in frames:
            handle(frame)
        times.append(time.process_time() - start)
    return statistics.median(times) / len(frames) * 1e6


def _through(decoder: Any, sink: Callable[[Any], object]) -> Callable[[str], None]:
    receive = decoder.receive

    def handle(frame: str) -> None:
        for event in receive(frame):
            sink(event)

    return handle


async def run_breakdown_clob(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Where the time goes: the recorded blast through each stage of our pipeline, offline."""
    from polyresearch.feed import ClobFeed
    from polyresearch.protocol import clob as clob_protocol
    from polyresearch.protocol.clob import ClobMarketDecoder
    from polyresearch.state.books import BookSet
    from polyresearch.state.store import MarketStore

    frames = await _record(
        spec["url"], clob_protocol.market_subscribe(spec["assets"]), spec["record"]
    )
    frames = frames[1:]  # the initial dump array: once per connection, not per message
    params = clob_params(spec)
    passes = spec.get("passes", 3)

    def books(**kwargs: Any) -> Callable[[], Callable[[str], None]]:
        return lambda: _through(ClobMarketDecoder(), BookSet(params=params, **kwargs).apply)

    def store() -> Callable[[str], None]:
        st = MarketStore("clob", "market", books=BookSet(params=params, hash_every=16))
        return _through(ClobMarketDecoder(), lambda e: st.apply(e, recv_ns=1))

    def feed(hash_every: int) -> Callable[[], Callable[[str], None]]:
        def make() -> Callable[[str], None]:
            fd = ClobFeed(
                assets=spec["assets"], url="ws://127.0.0.1:9", params=params, hash_every=hash_every
            )
            on_frame = fd._channels[0].on_frame
            return lambda frame: on_frame(frame, 1)

        return make

    stages = {
        "json.loads": _stage(frames, lambda: json.loads, passes),
        "decode": _stage(frames, lambda: ClobMarketDecoder().receive, passes),
        "+ books, no hash": _stage(frames, books(verify_hashes=False), passes),
        "+ books, hash_every=16": _stage(frames, books(hash_every=16), passes),
        "+ books, hash_every=1": _stage(frames, books(hash_every=1), passes),
        "+ store rows (MarketStore, h=16)": _stage(frames, store, passes),
        "feed on_frame (h=16)": _stage(frames, feed(16), passes),
        "feed on_frame (h=1)": _stage(frames, feed(1), passes),
    }
    return {"windows": [], "breakdown": stages, "frames": len(frames)}


async def run_breakdown_us(spec: Mapping[str, Any]) -> dict[str, Any]:
    from polyresearch.config import UsCredentials
    from polyresearch.feed import UsFeed
    from polyresearch.protocol import us as us_protocol
    from polyresearch.protocol.us import UsMarketsDecoder
    from polyresearch.state.books import BookSet
    from polyresearch.state.store import MarketStore

    ids = us_protocol.RequestIdGenerator("rec")
    subscribe = [
        f
        for _, f in us_protocol.subscribe(
            "SUBSCRIPTION_TYPE_MARKET_DATA", spec["slugs"], request_ids=ids
        )
    ]
    frames = await _record(spec["ws_url"] + "/v1/ws/markets", subscribe, spec["record"])
    passes = spec.get("passes", 3)

    def books() -> Callable[[str], None]:
        return _through(UsMarketsDecoder(), BookSet(verify_hashes=False).apply)

    def store() -> Callable[[str], None]:
        st = MarketStore("us", "markets", books=BookSet(verify_hashes=False))
        return _through(UsMarketsDecoder(), lambda e: st.apply(e, recv_ns=1))

    def feed() -> Callable[[str], None]:
        fd = UsFeed(
            slugs=spec["slugs"],
            credentials=UsCredentials(key_id=spec["key_id"], secret_key=spec["secret_key"]),
            base_url="ws://127.0.0.1:9",
            market_types=("SUBSCRIPTION_TYPE_MARKET_DATA",),
        )
        on_frame = fd._channels[0].on_frame
        return lambda frame: on_frame(frame, 1)

    stages = {
        "json.loads": _stage(frames, lambda: json.loads, passes),
        "decode": _stage(frames, lambda: UsMarketsDecoder().receive, passes),
        "+ books": _stage(frames, books, passes),
        "+ store rows (MarketStore)": _stage(frames, store, passes),
        "feed on_frame": _stage(frames, feed, passes),
    }
    return {"windows": [], "breakdown": stages, "frames": len(frames)}


# --------------------------------------------------------------------------- to_polars


def polars_vs_lists(source: Any, rows: int, passes: int = 5) -> dict[str, Any]:
    """``to_polars()`` of ``rows`` rows vs ``pl.DataFrame`` from per-column Python lists.

    The rows are the live run's own ``book_updates`` rows, tiled up to ``rows``; both sides end
    with the same frame (same dtypes: ``Datetime("ns","UTC")``, ``Categorical``, ``Float64``,
    ``Boolean``), checked with ``DataFrame.equals``.
    """
    import polars as pl

    from polyresearch.state.table import RollingTable

    live = source.to_polars()
    n = live.height
    if n == 0:
        return {}
    reps = -(-rows // n)
    lists: dict[str, list[Any]] = {}
    for column in source.schema.columns:
        series = live[column.name]
        if column.kind == "timestamp":
            values = series.dt.epoch("ns").to_list()
        elif column.kind == "category":
            values = series.cast(pl.String).to_list()
        else:
            values = series.to_list()
        lists[column.name] = (values * reps)[:rows]
    table = RollingTable(source.schema, max_rows=rows)
    table.extend(lists)
    schema: dict[str, Any] = {}
    timestamps: list[str] = []
    for column in source.schema.columns:
        kind = column.kind
        if kind == "timestamp":
            schema[column.name] = pl.Int64
            timestamps.append(column.name)
        else:
            schema[column.name] = {
                "float64": pl.Float64,
                "int64": pl.Int64,
                "bool": pl.Boolean,
                "category": pl.Categorical,
            }[kind]

    def from_lists() -> Any:
        frame = pl.DataFrame(lists, schema=schema)
        return frame.with_columns(pl.col(*timestamps).cast(pl.Datetime("ns", "UTC")))

    def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
        gc.collect()
        start = time.perf_counter()
        out = fn()
        return time.perf_counter() - start, out

    ours_t: list[float] = []
    lists_t: list[float] = []
    ours = theirs = None
    for _ in range(passes):
        t, ours = timed(table.to_polars)
        ours_t.append(t)
        t, theirs = timed(from_lists)
        lists_t.append(t)
    assert ours is not None and theirs is not None
    same = ours.with_columns(pl.col(pl.Categorical).cast(pl.String)).equals(
        theirs.with_columns(pl.col(pl.Categorical).cast(pl.String))
    )
    return {
        "rows": table.stats().rows,
        "source_rows": n,
        "to_polars_s": statistics.median(ours_t),
        "from_lists_s": statistics.median(lists_t),
        "same_frame": bool(same),
        "polars_threads": pl.thread_pool_size(),
    }


RUNNERS = {
    "clob_feed": run_clob_feed,
    "clob_bare": run_clob_bare,
    "clob_sdk": run_clob_sdk,
    "clob_recv_ws": run_clob_recv_ws,
    "clob_recv": run_clob_recv,
    "us_feed": run_us_feed,
    "us_bare": run_us_bare,
    "us_sdk": run_us_sdk,
    "breakdown_clob": run_breakdown_clob,
    "breakdown_us": run_breakdown_us,
}


def main() -> None:
    spec = json.loads(sys.argv[1]) if sys.argv[1] != "-" else json.loads(sys.stdin.read())
    pin(spec.get("cpu", 1))
    # Loopback traffic must never go through a developer's proxy (the SDKs honour the variables).
    os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
    os.environ.setdefault("no_proxy", "127.0.0.1,localhost")
    asyncio.run(_measure_and_exit(spec))


async def _measure_and_exit(spec: Mapping[str, Any]) -> None:
    result = await RUNNERS[spec["kind"]](spec)
    result["kind"] = spec["kind"]
    sys.stdout.write(json.dumps(result, default=_json_default) + "\n")
    sys.stdout.flush()
    # No graceful teardown: closing handshakes behind a blast take long, and nothing is
    # measured any more. The servers see a reset connection, as after a client crash.
    os._exit(0)


def _json_default(value: object) -> object:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(type(value).__name__)


if __name__ == "__main__":
    main()
