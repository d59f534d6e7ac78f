"""Simulator speed: paced-mode CPU per frame, and blast-mode throughput vs a ``send`` loop.

    .venv/bin/python benchmarks/bench_simulator.py [--frames 1000000] [--baseline-frames 200000]
        [--paced-frames 200000] [--paced-markets 500] [--skip-blast] [--skip-paced]

**Paced mode** (what ``benchmarks/soak.py`` and every integration test run): the simulator
steps its model and encodes and writes each frame as it happens. One raw client in another
process subscribes to every token of ``--paced-markets`` CLOB markets (1,000 assets by
default) and only counts frames; the simulator is driven with ``Simulator.advance()`` in
batches as fast as the client drains. The figure is the simulator process's CPU time
(``time.process_time``) per frame written, over ``--paced-frames`` frames. Baselines
measured in the same run, same seed and markets: the bare model step (no encoding, no
sockets) per frame it gives rise to, and ``json.dumps`` (stdlib, compact) of the same
frames' parsed objects, i.e. what merely serialising the frames costs; the ratios print the
simulator's cost in units of those. (The simulator cannot be compared with its own older
code in one run; run this script with ``PYTHONPATH`` at an older checkout to get that
figure.)

**Blast mode**:

The simulator in blast mode writes pre-encoded CLOB frames (fresh books, then price_change /
last_trade_price / book frames of a pre-run model segment) straight into the connection's
transport in 1 MiB chunks, draining after each (docs/performance-notes.md Q2). The baseline is
the usual way to write a test server with websockets: ``await ws.send(text)`` per message, with
the same payloads. Both are read by the same minimal raw-socket client in another process
(pinned to another core when there is one) that only splits frames, so the server side is
what is measured. Prints frames/s of each and their ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import multiprocessing as mp
import os
import socket
import struct
import sys
import time
from typing import Any

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from polyresearch.simulator.clob import _MarketConn
from polyresearch.simulator.market import MarketModel, ModelConfig
from polyresearch.simulator.server import Simulator

#: No market lifecycle in the paced run: a resolved market would be replaced by one nobody
#: subscribed to (as in benchmarks/soak.py), and the flow would thin out as the run goes on.
PACED_MODEL = ModelConfig(lifecycle_rate=0.0, max_trade_log=100_000)
#: Model steps per ``advance()`` call: the soak's pacer takes a few hundred every 20 ms.
PACED_BATCH = 100


def _pin(cpu: int) -> None:
    """Pin this process to one core (server on 0, client on 1) when there are two or more."""
    cores = os.cpu_count() or 1
    if cores > 1 and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {cpu % cores})


def _client(host: str, port: int, path: str, subscribe: bytes, frames: int, out: Any) -> None:
    """Raw WebSocket client: upgrade, subscribe, count ``frames`` server frames, report rate."""
    _pin(1)
    sock = socket.create_connection((host, port))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += sock.recv(65536)
    head, _, rest = buf.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101"), head[:40]
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(subscribe))
    n = len(subscribe)
    if n < 126:
        header = bytes((0x81, 0x80 | n))
    elif n < 65536:
        header = struct.pack("!BBH", 0x81, 0xFE, n)
    else:  # 1,000 token ids make an ~80 kB subscribe frame
        header = struct.pack("!BBQ", 0x81, 0xFF, n)
    sock.sendall(header + mask + masked)
    data = bytearray(rest)
    pos = 0
    count = 0
    chunk = bytearray(4 * 1024 * 1024)
    view = memoryview(chunk)
    started = time.perf_counter()
    while count < frames:
        got = sock.recv_into(view)
        if not got:
            break
        data += view[:got]
        size = len(data)
        while True:  # split frames: server frames are unmasked
            if size - pos < 2:
                break
            length = data[pos + 1] & 0x7F
            offset = 2
            if length == 126:
                if size - pos < 4:
                    break
                length = (data[pos + 2] << 8) | data[pos + 3]
                offset = 4
            elif length == 127:
                if size - pos < 10:
                    break
                length = int.from_bytes(data[pos + 2 : pos + 10], "big")
                offset = 10
            if size - pos < offset + length:
                break
            pos += offset + length
            count += 1
        if pos > 1 << 22:
            del data[:pos]
            pos = 0
    elapsed = time.perf_counter() - started
    sock.close()
    out.put((count, elapsed))


def _measure(port: int, path: str, subscribe: bytes, frames: int) -> float:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    process = ctx.Process(target=_client, args=("127.0.0.1", port, path, subscribe, frames, queue))
    process.start()
    try:
        count, elapsed = queue.get(timeout=300)
    finally:
        process.join(timeout=30)
    return float(count) / float(elapsed)


def _split(wire: bytes) -> list[bytes]:
    """Payloads of concatenated unmasked frames."""
    out: list[bytes] = []
    pos = 0
    while pos < len(wire):
        length = wire[pos + 1] & 0x7F
        offset = 2
        if length == 126:
            length = struct.unpack_from("!H", wire, pos + 2)[0]
            offset = 4
        elif length == 127:
            length = struct.unpack_from("!Q", wire, pos + 2)[0]
            offset = 10
        out.append(wire[pos + offset : pos + offset + length])
        pos += offset + length
    return out


class _Capture:
    """A stand-in link that keeps the payloads a front-end sends (for the json baseline)."""

    def __init__(self) -> None:
        self.payloads: list[bytes] = []

    def send(self, kind: str, payload: bytes, *, delta: bool = False) -> bool:
        self.payloads.append(payload)
        return True


async def _paced(args: argparse.Namespace) -> None:
    _pin(0)
    loop = asyncio.get_running_loop()
    frames_wanted = args.paced_frames
    async with Simulator(
        seed=3, markets=args.paced_markets, rate=0, model_config=PACED_MODEL, venues=["clob"]
    ) as sim:
        tokens = [t for m in sim.markets() for t in m.token_ids]
        subscribe = json.dumps({"type": "market", "assets_ids": tokens}).encode()
        # The client counts the initial dump (one array frame) and then frames_wanted frames.
        client = loop.run_in_executor(
            None, _measure, sim.port, "/ws/market", subscribe, frames_wanted + 1
        )

        def sent() -> int:
            return sum(sim.stats().frames_sent.values())

        while sent() < 1:  # noqa: ASYNC110 - the initial dump is out: the client subscribed
            await asyncio.sleep(0.01)
        (link,) = sim._ctx.links.values()  # type: ignore[attr-defined]
        transport = link._transport
        base_frames, base_steps = sent(), sim.stats().model_steps
        cpu = time.process_time()
        while sent() - base_frames < frames_wanted:
            sim.advance(PACED_BATCH)
            # Let the loop flush, and stay under the slow-consumer limit while the client
            # catches up (the waiting costs no CPU, so it does not count).
            await asyncio.sleep(0)
            while transport.get_write_buffer_size() > 1 << 20:  # noqa: ASYNC110 - no event
                await asyncio.sleep(0.001)
        cpu = time.process_time() - cpu
        frames = sent() - base_frames
        steps = sim.stats().model_steps - base_steps
        await client

    # Baseline 1: the bare model, same seed and markets, same number of steps.
    model = MarketModel(seed=3, markets=args.paced_markets, config=PACED_MODEL)
    bare = time.process_time()
    for i in range(steps):
        model.step(1_000_000 + i)
    bare = time.process_time() - bare

    # Baseline 2: stdlib json.dumps of frames of the same flow (captured without sockets).
    async with Simulator(
        seed=3, markets=args.paced_markets, rate=0, model_config=PACED_MODEL, venues=["clob"]
    ) as sim:
        front_end = sim._front_ends[0]  # type: ignore[attr-defined]
        capture = _Capture()
        conn = _MarketConn(capture)  # type: ignore[arg-type]
        front_end._subscribe(conn, tokens, initial_dump=False)
        while len(capture.payloads) < min(frames, 50_000):
            sim.advance(PACED_BATCH)
    objects = [json.loads(p) for p in capture.payloads]
    dumps = time.process_time()
    for obj in objects:
        json.dumps(obj, separators=(",", ":")).encode()
    dumps = (time.process_time() - dumps) / len(objects)

    per_frame = cpu / frames
    bare_per_frame = bare / frames
    print(
        f"paced: {args.paced_markets * 2:,} assets, {frames:,} frames from {steps:,} model "
        f"steps ({frames / steps:.2f} frames/step), batches of {PACED_BATCH} steps"
    )
    print(f"simulator CPU       : {per_frame * 1e6:9.1f} us/frame (model + encode + write)")
    print(f"bare model step     : {bare_per_frame * 1e6:9.1f} us/frame (same steps, no output)")
    print(f"json.dumps baseline : {dumps * 1e6:9.1f} us/frame (stdlib, same kind of frames)")
    print(f"ratio sim / json    : {per_frame / dumps:9.1f}x")
    print(f"ratio sim / model   : {per_frame / bare_per_frame:9.1f}x")


async def _blast(args: argparse.Namespace) -> None:
    _pin(0)
    loop = asyncio.get_running_loop()
    async with Simulator(
        seed=1, markets=args.markets, rate=0, blast=True, blast_steps=args.steps, venues=["clob"]
    ) as sim:
        tokens = [t for m in sim.markets() for t in m.token_ids]
        subscribe = json.dumps({"type": "market", "assets_ids": tokens}).encode()
        segment = sim._front_ends[0]._blast_segment  # type: ignore[attr-defined]
        payloads = [p.decode() for p in _split(b"".join(w for _, w in segment))]
        mean = sum(map(len, payloads)) / len(payloads)
        blast_rate = await loop.run_in_executor(
            None, _measure, sim.port, "/ws/market", subscribe, args.frames
        )

    async def per_message(ws: ServerConnection) -> None:
        await ws.recv()
        with contextlib.suppress(ConnectionClosed):  # the client hangs up once it has counted
            while True:
                for payload in payloads:
                    await ws.send(payload)

    async with serve(per_message, "127.0.0.1", 0, compression=None) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        send_rate = await loop.run_in_executor(
            None, _measure, port, "/", subscribe, args.baseline_frames
        )
    print(f"segment: {len(payloads):,} frames, mean payload {mean:.0f} B, {args.markets} markets")
    print(f"blast mode          : {blast_rate:12,.0f} frames/s ({args.frames:,} frames)")
    print(f"per-message send()  : {send_rate:12,.0f} frames/s ({args.baseline_frames:,} frames)")
    print(f"ratio blast / send  : {blast_rate / send_rate:12.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=1_000_000, help="frames read in blast mode")
    parser.add_argument("--baseline-frames", type=int, default=200_000, help="frames via send()")
    parser.add_argument("--markets", type=int, default=50)
    parser.add_argument("--steps", type=int, default=20_000, help="model steps in the segment")
    parser.add_argument("--paced-frames", type=int, default=200_000, help="frames, paced mode")
    parser.add_argument("--paced-markets", type=int, default=500, help="CLOB markets, paced")
    parser.add_argument("--skip-blast", action="store_true", help="only the paced figure")
    parser.add_argument("--skip-paced", action="store_true", help="only the blast figure")
    args = parser.parse_args()
    if not args.skip_paced:
        asyncio.run(_paced(args))
    if not args.skip_blast:
        asyncio.run(_blast(args))


if __name__ == "__main__":
    sys.exit(main())
