"""Connection against a real local websockets server: reconnect, resubscribe, liveness, auth."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import weakref
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Literal

import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from polyresearch.errors import AuthError
from polyresearch.transport import connection as connection_module
from polyresearch.transport.connection import Connection
from tests.conftest import wait_until


@dataclass
class Peer:
    """A small loopback server whose behaviour each test sets."""

    received: list[str] = field(default_factory=list)
    connections: list[ServerConnection] = field(default_factory=list)
    headers_seen: list[Headers] = field(default_factory=list)
    refuse_with: int | None = None
    retry_after: str | None = None
    answer_ping: bool = True
    greeting: str | None = None
    port: int = 0

    def process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        self.headers_seen.append(request.headers)
        if self.refuse_with is not None:
            status = HTTPStatus(self.refuse_with)
            response = conn.respond(status, f"{status.phrase}\n")
            if self.retry_after is not None:
                response.headers["Retry-After"] = self.retry_after
            return response
        return None

    async def handler(self, ws: ServerConnection) -> None:
        self.connections.append(ws)
        if self.greeting:
            await ws.send(self.greeting)
        async for message in ws:
            assert isinstance(message, str)
            self.received.append(message)
            if message == "PING" and self.answer_ping:
                await ws.send("PONG")


@pytest.fixture
async def peer() -> AsyncIterator[Peer]:
    p = Peer()
    async with serve(p.handler, "127.0.0.1", 0, process_request=p.process_request) as server:
        p.port = server.sockets[0].getsockname()[1]
        yield p


@dataclass
class Hooks:
    """Records what the connection hands to the feed."""

    subscription: list[str] = field(default_factory=lambda: ['{"sub":1}'])
    frames: list[str | bytes] = field(default_factory=list)
    states: list[tuple[str, str]] = field(default_factory=list)
    signed: int = 0
    fail_on: str | None = None

    def headers(self) -> Mapping[str, str] | None:
        self.signed += 1
        return {"X-Attempt": str(self.signed)}

    def on_open(self) -> list[str]:
        return list(self.subscription)

    def on_frame(self, data: str | bytes, recv_ns: int) -> None:
        assert recv_ns > 0
        if data == self.fail_on:
            raise RuntimeError("consumer bug")
        self.frames.append(data)

    def on_state(self, state: str, detail: str) -> None:
        self.states.append((state, detail))

    def redact(self, frame: str) -> str:
        return frame.replace("secret", "<redacted>")


@dataclass
class Tap:
    frames: list[tuple[str, str | bytes]] = field(default_factory=list)
    markers: list[str] = field(default_factory=list)

    def on_frame(
        self,
        *,
        direction: Literal["in", "out"],
        ts_ns: int,
        connection: str,
        epoch: int,
        data: str | bytes,
    ) -> None:
        self.frames.append((direction, data))

    def on_marker(self, *, kind: str, ts_ns: int, connection: str, epoch: int, detail: str) -> None:
        self.markers.append(kind)


@contextlib.asynccontextmanager
async def running(conn: Connection) -> AsyncIterator[asyncio.Task[Any]]:
    task = asyncio.create_task(conn.run())
    try:
        yield task
    finally:
        await conn.stop()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


def _url(peer: Peer) -> str:
    return f"ws://127.0.0.1:{peer.port}/ws/market"


async def test_subscribes_on_open_and_delivers_frames(peer: Peer) -> None:
    """After connect the on_open frames go out and inbound frames reach the hook."""
    peer.greeting = "hello"
    hooks = Hooks()
    conn = Connection("t", _url(peer), hooks)
    async with running(conn):
        await wait_until(lambda: hooks.frames == ["hello"] and peer.received == ['{"sub":1}'])
        stats = conn.stats()
        assert (stats.state, stats.epoch, stats.frames_in, stats.frames_out) == (
            "connected",
            1,
            1,
            1,
        )
    assert conn.stats().state == "stopped"


async def test_reconnects_resubscribes_and_resigns_after_drop(peer: Peer) -> None:
    """A dropped socket reconnects, re-signs headers and sends the subscription again."""
    hooks = Hooks()
    conn = Connection("t", _url(peer), hooks)
    async with running(conn):
        await wait_until(lambda: len(peer.received) == 1)
        peer.connections[0].transport.abort()
        await wait_until(lambda: len(peer.received) == 2 and conn.epoch == 2)
        assert peer.received == ['{"sub":1}', '{"sub":1}']
        assert [h["X-Attempt"] for h in peer.headers_seen] == ["1", "2"]
        assert ("disconnected", "closed abnormally") in hooks.states
        assert conn.stats().reconnects == 1


async def test_auth_refusal_is_fatal_auth_error(peer: Peer) -> None:
    """HTTP 401 on the upgrade ends run() with AuthError and no retry."""
    peer.refuse_with = 401
    hooks = Hooks()
    conn = Connection("us-private", _url(peer), hooks)
    with pytest.raises(AuthError, match="HTTP 401"):
        await asyncio.wait_for(conn.run(), 10)
    assert len(peer.headers_seen) == 1
    assert conn.stats().state == "failed"
    assert hooks.states[-1][0] == "failed"


async def test_rate_limit_backs_off_then_connects(peer: Peer) -> None:
    """HTTP 429 is transient: counted, an extra pause, then a successful connect."""
    peer.refuse_with = 429
    hooks = Hooks()
    conn = Connection("t", _url(peer), hooks, rate_limit_delay=0.2)
    async with running(conn):
        await wait_until(lambda: conn.stats().rate_limited >= 1)
        peer.refuse_with = None
        await wait_until(lambda: conn.state == "connected")
        assert conn.stats().rate_limited >= 1


@pytest.mark.parametrize(
    ("retry_after", "delay", "pause"),
    [("1", 3600.0, 1.0), ("soon", 0.2, 0.2), (None, 0.2, 0.2)],
)
async def test_rate_limit_honours_retry_after(
    peer: Peer, retry_after: str | None, delay: float, pause: float
) -> None:
    """A 429's valid Retry-After sets the pause (an hour-long rate_limit_delay would otherwise
    never let it connect within the test); a missing or malformed one falls back to
    rate_limit_delay."""
    peer.refuse_with = 429
    peer.retry_after = retry_after
    hooks = Hooks()
    conn = Connection("t", _url(peer), hooks, rate_limit_delay=delay)
    async with running(conn):
        await wait_until(lambda: conn.stats().rate_limited >= 1)
        peer.refuse_with = None
        assert conn._rate_limit_wait == pause
        await wait_until(lambda: conn.state == "connected", within=60)


def test_retry_after_values() -> None:
    """Delta-seconds and HTTP dates, clamped to [0, MAX_RETRY_AFTER]; junk is None."""
    from polyresearch.transport.connection import MAX_RETRY_AFTER, retry_after_seconds

    now = 1_700_000_000.0
    assert retry_after_seconds("0") == 0.0
    assert retry_after_seconds(" 12 ") == 12.0
    assert retry_after_seconds("10" * 20) == MAX_RETRY_AFTER
    assert retry_after_seconds("Tue, 14 Nov 2023 22:13:40 GMT", now=now) == 20.0
    assert retry_after_seconds("Tue, 14 Nov 2023 22:12:00 GMT", now=now) == 0.0
    assert retry_after_seconds("Tue, 14 Nov 2099 22:12:00 GMT", now=now) == MAX_RETRY_AFTER
    for junk in (None, "", "-5", "1.5", "soon", "Tue, 99 Foo 2023", "\u0663"):
        assert retry_after_seconds(junk) is None, junk


async def test_heartbeat_sent_and_stale_socket_recycled(peer: Peer) -> None:
    """PING goes out on schedule; when nothing comes back the socket is recycled as stale."""
    peer.answer_ping = False
    hooks = Hooks()
    conn = Connection(
        "t", _url(peer), hooks, heartbeat="PING", heartbeat_interval=0.05, stale_after=0.3
    )
    async with running(conn):
        await wait_until(lambda: peer.received.count("PING") >= 2)
        await wait_until(lambda: conn.stats().stale_reconnects >= 1 and conn.epoch >= 2)
        assert any(state == "stale" for state, _ in hooks.states)


async def test_pongs_keep_a_quiet_socket_alive(peer: Peer) -> None:
    """A market with no data is not stale while PONGs keep arriving."""
    hooks = Hooks()
    conn = Connection(
        "t", _url(peer), hooks, heartbeat="PING", heartbeat_interval=0.05, stale_after=0.4
    )
    async with running(conn):
        await wait_until(lambda: hooks.frames.count("PONG") >= 15)
        assert conn.stats().stale_reconnects == 0
        assert conn.epoch == 1


async def test_consumer_error_is_counted_not_fatal(peer: Peer) -> None:
    """An exception in the frame hook is counted and logged; later frames still arrive."""
    hooks = Hooks(fail_on="boom")
    conn = Connection("t", _url(peer), hooks)
    async with running(conn):
        await wait_until(lambda: len(peer.connections) == 1)
        await peer.connections[0].send("boom")
        await peer.connections[0].send("after")
        await wait_until(lambda: hooks.frames == ["after"])
        assert conn.stats().hook_errors == 1
        assert conn.epoch == 1


async def test_tap_sees_redacted_out_frames_and_markers(peer: Peer) -> None:
    """The tap observes both directions, outgoing frames redacted, plus connect markers."""
    hooks = Hooks(subscription=['{"auth":"secret"}'])
    tap = Tap()
    conn = Connection("t", _url(peer), hooks, tap=tap)
    async with running(conn):
        await wait_until(lambda: len(peer.connections) == 1 and peer.received)
        await peer.connections[0].send("data")
        await wait_until(lambda: ("in", "data") in tap.frames)
    assert ("out", '{"auth":"<redacted>"}') in tap.frames
    assert all("secret" not in str(data) for _, data in tap.frames)
    assert peer.received == ['{"auth":"secret"}']
    assert tap.markers[:2] == ["connect", "disconnect"]


async def test_runtime_send_and_not_connected(peer: Peer) -> None:
    """send() delivers while connected and reports False when there is no socket."""
    hooks = Hooks()
    conn = Connection("t", _url(peer), hooks)
    assert await conn.send("early") is False
    async with running(conn):
        async with asyncio.timeout(10):
            await conn.wait_connected()
        assert await conn.send('{"operation":"subscribe"}') is True
        await wait_until(lambda: '{"operation":"subscribe"}' in peer.received)


async def test_fragmented_and_whole_frames_keep_their_order(peer: Peer) -> None:
    """Whole frames take the direct path, fragmented ones websockets' queue; order is kept."""
    hooks = Hooks()
    conn = Connection("t", _url(peer), hooks)
    async with running(conn):
        await wait_until(lambda: len(peer.connections) == 1 and peer.received)
        server = peer.connections[0]
        await server.send("one")
        await server.send(["fr", "ag", "ment"])  # a fragmented text message
        await server.send(b"\x00bin")
        await server.send("two")
        await wait_until(lambda: len(hooks.frames) == 4)
        assert hooks.frames == ["one", "fragment", b"\x00bin", "two"]
        stats = conn.stats()
        assert stats.frames_in == 4
        assert stats.frames_queued >= 1  # at least the fragmented message went the queue way


async def test_burst_over_budget_is_delivered_in_order_and_yields(
    peer: Peer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A burst larger than the per-iteration budget arrives complete and in order, and other
    tasks on the loop run while it is being delivered."""
    _small_budget(monkeypatch, 8)
    ticks = 0
    seen_ticks: list[int] = []

    class Counting(Hooks):
        def on_frame(self, data: str | bytes, recv_ns: int) -> None:
            seen_ticks.append(ticks)
            super().on_frame(data, recv_ns)

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    hooks = Counting()
    conn = Connection("t", _url(peer), hooks)
    async with running(conn):
        await wait_until(lambda: len(peer.connections) == 1 and peer.received)
        server = peer.connections[0]
        burst = [f"m{i}" for i in range(2_000)]
        # One write: the frames reach the client in a few large reads, far over the budget.
        server.transport.write(b"".join(_server_frame(m) for m in burst))
        task = asyncio.create_task(ticker())
        try:
            await wait_until(lambda: len(hooks.frames) == len(burst))
        finally:
            task.cancel()
        assert hooks.frames == burst
        assert conn.stats().frames_deferred > 0
        assert conn.stats().frames_in == len(burst)
        # The ticker advanced between the first and the last frame of the burst.
        assert seen_ticks[-1] > seen_ticks[0]


async def test_backlog_past_the_budget_is_bounded_by_pausing_reads(
    peer: Peer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A burst far over the budget waits in a backlog that stops reading once it holds
    BACKLOG_FRAMES frames (so it never grows past that plus one read), and still arrives
    complete and in order."""
    from polyresearch.transport import connection as connection_module

    _small_budget(monkeypatch, 8)
    monkeypatch.setattr(connection_module, "BACKLOG_FRAMES", 32)
    longest = 0
    paused_seen = False
    conn: Connection

    class Watching(Hooks):
        def on_frame(self, data: str | bytes, recv_ns: int) -> None:
            nonlocal longest, paused_seen
            ws = conn._ws
            if ws is not None:
                longest = max(longest, len(ws._backlog or ()))
                paused_seen = paused_seen or ws._paused
            super().on_frame(data, recv_ns)

    hooks = Watching()
    conn = Connection("t", _url(peer), hooks)
    async with running(conn):
        await wait_until(lambda: len(peer.connections) == 1 and peer.received)
        # 1 KiB frames, 4 MiB in one write: a read holds at most 256 KiB (~256 frames).
        burst = [f"{i:08d}" + "x" * 1016 for i in range(4_000)]
        peer.connections[0].transport.write(b"".join(_server_frame(m) for m in burst))
        await wait_until(lambda: len(hooks.frames) == len(burst), within=60)
        assert hooks.frames == burst
        assert paused_seen
        assert 32 <= longest <= 32 + 300, longest
        assert conn.stats().frames_deferred > 0


async def test_budget_backlog_keeps_order_around_a_fragmented_message(
    peer: Peer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Held-back frames, a fragmented message (websockets' queue) and later frames arrive in
    wire order, whichever path each one takes."""
    from websockets.frames import Frame, Opcode

    _small_budget(monkeypatch, 4)
    hooks = Hooks()
    conn = Connection("t", _url(peer), hooks)
    async with running(conn):
        await wait_until(lambda: len(peer.connections) == 1 and peer.received)
        before = [f"a{i}" for i in range(30)]
        after = [f"b{i}" for i in range(30)]
        wire = b"".join(_server_frame(m) for m in before)
        wire += Frame(Opcode.TEXT, b"frag", fin=False).serialize(mask=False, extensions=[])
        wire += Frame(Opcode.CONT, b"ment", fin=True).serialize(mask=False, extensions=[])
        wire += b"".join(_server_frame(m) for m in after)
        peer.connections[0].transport.write(wire)
        await wait_until(lambda: len(hooks.frames) == 61)
        assert hooks.frames == [*before, "fragment", *after]
        stats = conn.stats()
        assert stats.frames_deferred > 0
        assert stats.frames_queued >= 1


async def test_invalid_utf8_text_closes_1007_and_reconnects(peer: Peer) -> None:
    """A text frame that is not UTF-8 fails the connection (1007) as websockets does; the
    supervisor reconnects and later frames arrive."""
    hooks = Hooks()
    conn = Connection("t", _url(peer), hooks)
    async with running(conn):
        await wait_until(lambda: len(peer.connections) == 1 and peer.received)
        peer.connections[0].transport.write(_server_frame(b"\xff\xfe"))
        await wait_until(lambda: conn.epoch == 2 and len(peer.connections) == 2)
        assert any("1007" in detail for state, detail in hooks.states if state == "disconnected")
        await peer.connections[1].send("after")
        await wait_until(lambda: hooks.frames == ["after"])


def _small_budget(monkeypatch: pytest.MonkeyPatch, frames: int) -> None:
    """A per-iteration budget of ``frames`` frames, with fresh per-loop budgets to hold it."""
    from polyresearch.transport import connection as connection_module

    monkeypatch.setattr(connection_module, "BURST_FRAMES", frames)
    fresh: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()
    monkeypatch.setattr(connection_module, "_BUDGETS", fresh)


def _server_frame(payload: str | bytes) -> bytes:
    """One unmasked server TEXT frame, written raw (bypassing the server's own checks)."""
    from websockets.frames import Frame, Opcode

    data = payload.encode() if isinstance(payload, str) else payload
    return Frame(Opcode.TEXT, data).serialize(mask=False, extensions=[])


def test_the_per_loop_frame_budget_does_not_keep_its_loop_alive() -> None:
    """A finished event loop is collectable once a connection took its frame budget.

    The budget is the value of a WeakKeyDictionary keyed by the loop; it held the loop
    strongly, so each asyncio.run() or thread-mode feed leaked its loop for good.
    """

    async def take_budget() -> weakref.ref[asyncio.AbstractEventLoop]:
        budget = connection_module._loop_budget()
        budget.left = 0
        budget.arm()  # the refill callback is queued on the loop
        await asyncio.sleep(0)
        assert budget.left == budget.size  # and it ran
        return weakref.ref(asyncio.get_running_loop())

    loop_ref = asyncio.run(take_budget())
    gc.collect()
    assert loop_ref() is None
