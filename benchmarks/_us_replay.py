"""A blast server for Polymarket US ``marketData`` frames (helper of ``bench_ingest.py``).

The simulator's blast mode covers the CLOB market channel only; its US venue is paced (one
``marketData`` full book per changed market per model batch, a few thousand frames/s at most),
which would measure event-loop wake-ups rather than parsing. So this process:

1. starts an in-process :class:`~polyresearch.simulator.Simulator` with only the US venue
   (``rate=0``), subscribes to ``SUBSCRIPTION_TYPE_MARKET_DATA`` over a real, signed socket
   and records ``--frames`` genuine full-book frames while stepping the model one step at a
   time (so every frame is a consistent full book of one market);
2. stops the simulator and serves ``/v1/ws/markets`` itself: after a client's first message
   (its subscription) it writes the recorded frames, pre-framed, over and over into the
   transport in chunks of about 1 MiB (cut on frame boundaries) with back-pressure, like the
   simulator's CLOB blast.

Every US client (our ``UsFeed``, the official ``polymarket-us`` SDK, a bare loop) therefore
receives byte-identical frames. Upgrade signatures are not checked (the frames are what is
measured). Prints one JSON line (port, slugs, demo key, frame and byte counts) once listening,
then serves until SIGTERM/SIGINT.

Run:
    .venv/bin/python benchmarks/_us_replay.py [--markets 50] [--frames 5000] [--seed 3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import time

from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from polyresearch.config import UsCredentials
from polyresearch.protocol import us as us_protocol
from polyresearch.protocol.us_auth import ws_headers
from polyresearch.simulator import Simulator
from polyresearch.simulator.server import text_frame

CHUNK = 1024 * 1024


async def capture(
    markets: int, frames: int, seed: int
) -> tuple[list[str], list[str], dict[str, str]]:
    """Record ``frames`` marketData frames from the simulator's US venue, one model step apart."""
    async with Simulator(
        seed=seed, markets=markets, rate=0, venues=["us"], heartbeat_interval=3600
    ) as sim:
        slugs = [m.slug for m in sim.markets()]
        creds = sim.us_credentials
        credentials = UsCredentials(key_id=creds.key_id, secret_key=creds.secret_key)
        headers = ws_headers(credentials, "markets", timestamp_ms=time.time_ns() // 10**6)
        recorded: list[str] = []
        async with connect(sim.us_markets_url, additional_headers=headers, compression=None) as ws:
            ids = us_protocol.RequestIdGenerator("bench")
            for _, frame in us_protocol.subscribe(
                "SUBSCRIPTION_TYPE_MARKET_DATA", slugs, request_ids=ids
            ):
                await ws.send(frame)

            async def read() -> None:
                async for message in ws:
                    text = message if isinstance(message, str) else message.decode()
                    if '"marketData"' in text:
                        recorded.append(text)

            reader = asyncio.create_task(read())
            deadline = time.monotonic() + 120
            while len(recorded) < frames:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"captured only {len(recorded)} frames")
                sim.advance(1)
                await asyncio.sleep(0)
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        return recorded[:frames], slugs, {"key_id": creds.key_id, "secret_key": creds.secret_key}


def chunked(frames: list[str]) -> list[bytes]:
    """The frames, WebSocket-framed and joined into chunks of about ``CHUNK`` bytes.

    Chunks end on frame boundaries, so that what websockets itself writes between two chunks
    (its keepalive pings, a close frame) never lands inside a frame.
    """
    chunks: list[bytes] = []
    pending: list[bytes] = []
    size = 0
    for frame in frames:
        wire = text_frame(frame.encode())
        pending.append(wire)
        size += len(wire)
        if size >= CHUNK:
            chunks.append(b"".join(pending))
            pending, size = [], 0
    if pending:
        chunks.append(b"".join(pending))
    return chunks


async def serve_frames(
    chunks: list[bytes], frames_per_cycle: int, summary: dict[str, object]
) -> None:
    """Serve the chunks, cyclically, to every markets-socket client after its first message."""

    async def handler(ws: ServerConnection) -> None:
        if ws.request is None or ws.request.path.partition("?")[0] != "/v1/ws/markets":
            await ws.close(1008, "unknown path")
            return
        try:
            await ws.recv()  # the subscription
        except ConnectionClosed:
            return

        async def drain_reads() -> None:  # keep reading so closing handshakes complete
            with contextlib.suppress(ConnectionClosed):
                async for _ in ws:
                    pass

        reader = asyncio.create_task(drain_reads())
        transport = ws.transport
        try:
            while not transport.is_closing():
                for chunk in chunks:
                    if transport.is_closing():
                        break
                    transport.write(chunk)
                    await ws.drain()
                await asyncio.sleep(0)
        except (ConnectionClosed, ConnectionError):
            pass
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with serve(handler, "127.0.0.1", 0, compression=None) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        summary = {**summary, "port": port, "frames_per_cycle": frames_per_cycle}
        sys.stdout.write(json.dumps(summary) + "\n")
        sys.stdout.flush()
        await stop.wait()


async def main_async(args: argparse.Namespace) -> None:
    started = time.perf_counter()
    frames, slugs, creds = await capture(args.markets, args.frames, args.seed)
    chunks = chunked(frames)
    summary: dict[str, object] = {
        "slugs": slugs,
        **creds,
        "frames": len(frames),
        "bytes": sum(len(c) for c in chunks),
        "mean_frame_bytes": round(sum(len(f) for f in frames) / len(frames)),
        "capture_s": round(time.perf_counter() - started, 2),
    }
    await serve_frames(chunks, len(frames), summary)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markets", type=int, default=50)
    parser.add_argument("--frames", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=3)
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
