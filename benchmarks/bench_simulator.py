"""Blast-mode throughput of the simulator vs a per-message ``send`` loop, measured side by side.

    .venv/bin/python benchmarks/bench_simulator.py [--frames 1000000] [--baseline-frames 200000]

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

from polyresearch.simulator.server import Simulator


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
    header = bytes((0x81, 0x80 | n)) if n < 126 else struct.pack("!BBH", 0x81, 0xFE, n)
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


async def _main(args: argparse.Namespace) -> None:
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
    asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
