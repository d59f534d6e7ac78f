"""One supervised WebSocket connection: connect, subscribe, read, heartbeat, reconnect.

The transport knows no venue. A feed gives each :class:`Connection` a :class:`ChannelHooks`
object that supplies the upgrade headers (re-signed on every connect for Polymarket US), the
frames to send after each connect (the subscriptions: resubscribing is just ``on_open``), and
receives every inbound frame with its receive time. Reconnects use websockets' own machinery:
``async for ws in connect(...)`` with its exponential backoff and jitter (tunable through
websockets' ``WEBSOCKETS_BACKOFF_*`` environment variables) and a ``process_exception`` policy
that tells transient failures from fatal ones:

- HTTP 401/403 on the upgrade → :class:`~polyresearch.errors.AuthError`, fatal (retrying
  cannot help; the message names the status, never a secret);
- HTTP 429 → transient, with an extra pause before the next attempt: the response's
  ``Retry-After`` (seconds or an HTTP date) when it has a valid one, capped at
  :data:`MAX_RETRY_AFTER`, else ``rate_limit_delay``;
- network errors, timeouts, 5xx → transient.

Receive path: websockets parses frames (sans-I/O), but complete, unfragmented TEXT/BINARY
frames go from its protocol callback straight to ``hooks.on_frame`` (:class:`_DirectConnection`)
instead of through its message queue, a future and a task switch per message; that queue
(websockets' own ``Assembler``, bounded by ``max_queue`` with its read pause) is still used for
fragmented messages, frames that arrive before the connection is served and frames with
invalid UTF-8 (so websockets closes with 1007 as before); order is kept, as nothing takes the
direct path while that queue holds frames. Fairness: all connections on a loop share a budget
of :data:`BURST_FRAMES` frames per loop iteration, so a huge burst cannot starve the event loop
(a Jupyter kernel's): past it, frames wait in a per-connection backlog and are delivered, in
order and the same cheap way, over the next iterations; a connection stops reading from its
socket while its backlog holds :data:`BACKLOG_FRAMES` frames (bounded: that plus one read). The
reader task of websockets' queue also yields while the budget is spent.

Liveness: if ``heartbeat`` is set (CLOB: ``"PING"``) it is sent every ``heartbeat_interval``
seconds. Any inbound frame (a ``PONG``, a US ``heartbeat``, data) proves the socket alive;
``stale_after`` seconds without one closes the socket (counted as a stale reconnect), because a
dead heartbeat with a live reader is the silent stall peers complain about most.

Example:
    >>> import asyncio
    >>> class Hooks:
    ...     def headers(self): return None
    ...     def on_open(self): return ['{"assets_ids":["1"],"type":"market"}']
    ...     def on_frame(self, data, recv_ns): print(data)
    ...     def on_state(self, state, detail): pass
    ...     def redact(self, frame): return frame
    >>> conn = Connection("clob-market-0", "ws://127.0.0.1:1/ws/market", Hooks())
    >>> conn.stats().state
    'idle'
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import datetime
import email.utils
import logging
import time
import weakref
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol

import msgspec
from websockets.asyncio.client import ClientConnection, connect
from websockets.client import backoff
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.frames import Frame, Opcode

from polyresearch.config import RedactingLogger
from polyresearch.errors import AuthError, ConfigError

if TYPE_CHECKING:
    from collections.abc import Generator

    from websockets.protocol import Event

__all__ = [
    "ChannelHooks",
    "Connection",
    "ConnectionState",
    "ConnectionStats",
    "FrameTap",
]

logger = logging.getLogger("polyresearch.transport")
#: websockets' own client logger: its DEBUG lines (handshake headers, every frame) go through
#: a :class:`~polyresearch.config.RedactingLogger` with the channel's ``redact``.
_WS_LOGGER = logging.getLogger("websockets.client")

ConnectionState = Literal["idle", "connecting", "connected", "backoff", "stopped", "failed"]

DEFAULT_HEARTBEAT_INTERVAL: Final = 10.0
DEFAULT_STALE_AFTER: Final = 30.0
DEFAULT_RATE_LIMIT_DELAY: Final = 30.0
#: The longest pause a 429's ``Retry-After`` can impose (a bogus huge value must not park a
#: feed for days).
MAX_RETRY_AFTER: Final = 600.0
#: A connection that dropped sooner than this after opening counts as a failed attempt, so a
#: server that accepts and drops at once cannot put us in a tight reconnect loop.
MIN_HEALTHY_SECONDS: Final = 5.0
#: Frames handed to consumers straight from the protocol per event-loop iteration (shared by
#: every connection on the loop). A 256 KiB read holds ~700 CLOB price changes, so one busy
#: connection stays on the direct path; 50 backlogged ones at ~30 µs a frame would otherwise
#: hold the loop for over a second per iteration.
BURST_FRAMES: Final = 512
#: Frames a connection may hold back (past the budget) before it stops reading from its
#: socket: its backlog holds at most this plus one read (256 KiB), well under 1 MB of CLOB frames.
BACKLOG_FRAMES: Final = 512

_TEXT: Final = Opcode.TEXT
_BINARY: Final = Opcode.BINARY
_CONT: Final = Opcode.CONT


class _Budget:
    """Frames that may still go the direct way in this event-loop iteration."""

    __slots__ = ("armed", "left", "loop", "size")

    def __init__(self, loop: asyncio.AbstractEventLoop, size: int) -> None:
        # Weakly: this object is the value of _BUDGETS, a WeakKeyDictionary keyed by the
        # loop; a strong reference here kept every loop (and whatever its queue still held)
        # alive forever, one per asyncio.run() or thread-mode feed.
        self.loop = weakref.ref(loop)
        self.size = size
        self.left = size
        self.armed = False

    def arm(self) -> None:
        """Refill at the start of the next iteration (call_soon runs before its I/O callbacks)."""
        loop = self.loop()
        if not self.armed and loop is not None:
            self.armed = True
            loop.call_soon(self._refill)

    def _refill(self) -> None:
        self.left = self.size
        self.armed = False


_BUDGETS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Budget] = (
    weakref.WeakKeyDictionary()
)


def _loop_budget() -> _Budget:
    loop = asyncio.get_running_loop()
    budget = _BUDGETS.get(loop)
    if budget is None:
        budget = _BUDGETS[loop] = _Budget(loop, BURST_FRAMES)
    return budget


class ChannelHooks(Protocol):
    """What a feed supplies to one connection (the seam between transport and the rest)."""

    def headers(self) -> Mapping[str, str] | None:
        """Upgrade headers for the next connect attempt (called on every attempt)."""

    def on_open(self) -> list[str]:
        """Frames to send right after each (re)connect: the full current subscription."""

    def on_frame(self, data: str | bytes, recv_ns: int) -> None:
        """One inbound frame and its receive time (ns since the epoch).

        The time is taken once per socket read (frames that arrived together share it). This
        is called from the socket's protocol callback: it must not block, and may schedule
        tasks on the running loop.
        """

    def on_state(self, state: str, detail: str) -> None:
        """Connection state changes: ``connected``, ``disconnected``, ``stale``, ``failed``."""

    def redact(self, frame: str) -> str:
        """A frame or log text without credentials (what a tap or a DEBUG log line may see)."""


class FrameTap(Protocol):
    """Observes raw traffic (a recorder), so the transport never imports one."""

    def on_frame(
        self,
        *,
        direction: Literal["in", "out"],
        ts_ns: int,
        connection: str,
        epoch: int,
        data: str | bytes,
    ) -> None:
        """One frame in either direction, outgoing ones already redacted."""

    def on_marker(self, *, kind: str, ts_ns: int, connection: str, epoch: int, detail: str) -> None:
        """A connect/disconnect/stale/failed marker."""


class ConnectionStats(msgspec.Struct, frozen=True, kw_only=True):
    """A frozen snapshot of one connection's counters."""

    name: str
    url: str
    state: str
    epoch: int
    connects: int
    reconnects: int
    stale_reconnects: int
    failed_attempts: int
    rate_limited: int
    frames_in: int
    bytes_in: int
    frames_out: int
    #: inbound frames that went through websockets' queue instead of the direct path
    #: (fragmented messages, frames before the connection was served, invalid UTF-8)
    frames_queued: int = 0
    #: inbound frames held back to a later loop iteration because the burst budget was spent
    frames_deferred: int = 0
    hook_errors: int
    last_frame_ns: int | None
    last_error: str | None


class _DirectConnection(ClientConnection):
    """websockets' client connection that hands complete data frames to a sink synchronously.

    ``_sink`` is set by :meth:`Connection._serve` once it consumes frames; until then (the
    handshake, frames in the same read as the upgrade response) everything takes websockets'
    queue. Control frames, close handling, max_size and fragmentation stay websockets' own.

    Fairness: once this loop iteration's budget is spent, data frames wait in ``_backlog``
    and a ``call_soon`` drain delivers them over the next iterations, the same cheap way, in
    order. Reading pauses while the backlog holds :data:`BACKLOG_FRAMES` frames, so it holds at
    most that plus one read.
    """

    _sink: Connection | None = None
    _chunk_ns = 0
    _chunk_mono = 0.0
    _backlog: collections.deque[tuple[Frame, int, float]] | None = None
    _draining = False
    _paused = False  # reading paused by us because the backlog reached BACKLOG_FRAMES

    def data_received(self, data: bytes) -> None:
        sink = self._sink
        if sink is not None:
            # One receive time per read: every frame in it arrived together.
            self._chunk_ns = time.time_ns()
            self._chunk_mono = time.monotonic()
            sink._budget.arm()
        super().data_received(data)
        backlog = self._backlog
        if backlog is not None and len(backlog) >= BACKLOG_FRAMES:
            # Only a long backlog stops reading. Pausing at the first deferred frame (and
            # resuming after each drain) cost 10-12% of the CPU per message with 50 saturated
            # connections sharing the budget (bench_ingest, 5,000 assets). Paused again even
            # if websockets' own flow control resumed reading meanwhile.
            self._paused = True
            self.transport.pause_reading()

    def process_event(self, event: Event) -> None:
        sink = self._sink
        # With a sink the handshake is over, so every event is a Frame.
        if sink is None:
            super().process_event(event)
            return
        frame: Frame = event  # type: ignore[assignment]
        opcode = frame.opcode
        if opcode is not _TEXT and opcode is not _BINARY and opcode is not _CONT:
            super().process_event(event)  # control frames: order does not matter
        elif sink._budget.left > 0 and not self._backlog:
            self._route(sink, frame, self._chunk_ns, self._chunk_mono)
        else:
            self._defer(sink, frame)

    def _route(self, sink: Connection, frame: Frame, recv_ns: int, mono: float) -> None:
        opcode = frame.opcode
        if (
            frame.fin
            and (opcode is _TEXT or opcode is _BINARY)
            and not self.recv_messages.frames.queue  # keep order behind queued frames
        ):
            raw = frame.data  # bytes from websockets' parser
            data: str | bytes | None
            if opcode is _BINARY:
                data = raw if type(raw) is bytes else bytes(raw)
            else:
                try:
                    data = str(raw, "utf-8")
                except UnicodeDecodeError:
                    data = None  # websockets' recv() fails the connection with 1007, as before
            if data is not None:
                sink._budget.left -= 1
                sink._receive(data, recv_ns, mono)
                return
        try:
            super().process_event(frame)  # fragments, and whatever must follow them
        except EOFError:  # the queue closed with the connection: a message never completed
            pass

    def _defer(self, sink: Connection, frame: Frame) -> None:
        backlog = self._backlog
        if backlog is None:
            backlog = self._backlog = collections.deque()
        backlog.append((frame, self._chunk_ns, self._chunk_mono))
        sink._counts[11] += 1
        if not self._draining:
            self._draining = True
            sink._budget.arm()
            self.loop.call_soon(self._drain)

    def _drain(self) -> None:
        self._draining = False
        sink, backlog = self._sink, self._backlog
        if sink is None or not backlog:
            return
        budget = sink._budget
        while backlog and budget.left > 0:
            self._route(sink, *backlog.popleft())
        if backlog:
            self._draining = True
            budget.arm()  # the refill runs first in the next iteration, then this drain
            self.loop.call_soon(self._drain)
        if self._paused and len(backlog) < BACKLOG_FRAMES:
            self._paused = False
            if not self.recv_messages.paused:  # websockets' own pause is its to lift
                self.transport.resume_reading()

    def flush(self) -> None:
        """Deliver whatever waits in the backlog now (the connection is ending)."""
        sink, backlog = self._sink, self._backlog
        while sink is not None and backlog:
            self._route(sink, *backlog.popleft())


class _Connect(connect):
    """websockets' connect with per-attempt headers and a rate-limit pause.

    ``additional_headers`` is read at each handshake, so refreshing it in ``create_connection``
    re-signs every attempt without replacing websockets' reconnect loop.
    """

    def __init__(self, owner: Connection, *args: Any, **kwargs: Any) -> None:
        self._owner = owner
        super().__init__(*args, **kwargs)

    async def create_connection(self) -> _DirectConnection:
        owner = self._owner
        if owner._rate_limited:
            owner._rate_limited = False
            await asyncio.sleep(owner._rate_limit_wait)
        owner._set_state("connecting")
        self.additional_headers = owner.hooks.headers()
        connection = await super().create_connection()
        assert isinstance(connection, _DirectConnection)
        return connection


class Connection:
    """A supervised connection to one venue channel URL.

    Args:
        name: a short label (appears in stats, logs, the status table and recordings).
        url: the WebSocket URL.
        hooks: the feed's side of the seam (see :class:`ChannelHooks`).
        heartbeat: text to send every ``heartbeat_interval`` seconds (CLOB ``"PING"``), or None.
        heartbeat_interval: seconds between heartbeats.
        stale_after: seconds without any inbound frame before the socket is recycled.
        max_frame_bytes: frames up to twice this size reach the decoder (which drops what is
            over its own limit, counted); larger ones close the socket (1009) and reconnect, so
            memory stays bounded.
        rate_limit_delay: extra seconds to wait after an HTTP 429 without a valid Retry-After.
        open_timeout: seconds allowed for one connect + handshake.
        tap: an optional observer of raw frames.
    """

    def __init__(
        self,
        name: str,
        url: str,
        hooks: ChannelHooks,
        *,
        heartbeat: str | None = None,
        heartbeat_interval: float = DEFAULT_HEARTBEAT_INTERVAL,
        stale_after: float = DEFAULT_STALE_AFTER,
        max_frame_bytes: int = 16 * 1024 * 1024,
        rate_limit_delay: float = DEFAULT_RATE_LIMIT_DELAY,
        open_timeout: float = 10.0,
        tap: FrameTap | None = None,
    ) -> None:
        if heartbeat_interval <= 0 or stale_after <= 0:
            raise ConfigError("heartbeat_interval and stale_after must be positive")
        self.name = name
        self.url = url
        self.hooks = hooks
        self.heartbeat = heartbeat
        self.heartbeat_interval = heartbeat_interval
        self.stale_after = stale_after
        self.max_frame_bytes = max_frame_bytes
        self.rate_limit_delay = rate_limit_delay
        self.open_timeout = open_timeout
        self.tap = tap
        self._state: ConnectionState = "idle"
        self._ws: ClientConnection | None = None
        self._stopping = False
        self._rate_limited = False
        #: The pause before the attempt after a 429 (Retry-After, or rate_limit_delay).
        self._rate_limit_wait = rate_limit_delay
        # epoch, connects, reconnects, stale, failed, rate_limited, frames_in, bytes_in,
        # frames_out, hook_errors, frames_queued, frames_deferred
        self._counts = [0] * 12
        self._budget: _Budget  # the running loop's, set by run()
        self._last_frame_ns: int | None = None
        self._last_frame_mono = 0.0
        self._last_error: str | None = None
        self._connected = asyncio.Event()

    # Public API.

    @property
    def state(self) -> ConnectionState:
        """``idle``, ``connecting``, ``connected``, ``backoff``, ``stopped`` or ``failed``."""
        return self._state

    @property
    def epoch(self) -> int:
        """How many times this connection has opened (1 after the first connect)."""
        return self._counts[0]

    async def run(self) -> None:
        """Connect and keep the connection up until :meth:`stop` or a fatal error.

        Raises:
            AuthError: the venue refused the credentials (HTTP 401/403).
        """
        delays: Generator[float] | None = None
        self._budget = _loop_budget()
        try:
            async for ws in _Connect(
                self,
                self.url,
                process_exception=self._process_exception,
                open_timeout=self.open_timeout,
                max_size=2 * self.max_frame_bytes,
                compression=None,
                proxy=None,
                logger=RedactingLogger(_WS_LOGGER, self.hooks.redact),
                create_connection=_DirectConnection,
            ):
                if self._stopping:  # stop() arrived while websockets was reconnecting
                    await ws.close()
                    break
                assert isinstance(ws, _DirectConnection)
                opened = time.monotonic()
                await self._serve(ws)
                if self.stopping:
                    break
                # A connection that died young gets websockets' backoff too.
                if time.monotonic() - opened < MIN_HEALTHY_SECONDS:
                    delays = delays or backoff()
                    self._counts[4] += 1
                    self._set_state("backoff")
                    await asyncio.sleep(next(delays))
                else:
                    delays = None
        except AuthError as exc:
            self._last_error = str(exc)
            self._set_state("failed", str(exc))
            # A fresh error without the cause chain: websockets' handshake frames hold the
            # signed upgrade headers in their locals, which verbose tracebacks would print.
            raise AuthError(str(exc)) from None
        except asyncio.CancelledError:
            self._set_state("stopped")
            raise
        self._set_state("stopped")

    @property
    def stopping(self) -> bool:
        """Whether :meth:`stop` was called."""
        return self._stopping

    async def stop(self) -> None:
        """Close the socket and end :meth:`run` (idempotent)."""
        self._stopping = True
        ws = self._ws
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.close()

    async def send(self, frame: str) -> bool:
        """Send one text frame now; False if not connected (it will go out with ``on_open``)."""
        ws = self._ws
        if ws is None or self._state != "connected":
            return False
        try:
            await ws.send(frame)
        except ConnectionClosed:
            return False
        self._sent(frame)
        return True

    async def wait_connected(self) -> None:
        """Wait until the connection is open (wrap in ``asyncio.timeout`` to bound it)."""
        await self._connected.wait()

    async def drop(self) -> None:
        """Close the current socket abruptly; the supervisor reconnects (a test/fault helper)."""
        ws = self._ws
        if ws is not None:
            ws.transport.abort()

    def stats(self) -> ConnectionStats:
        """A frozen snapshot of this connection's counters."""
        c = self._counts
        return ConnectionStats(
            name=self.name,
            url=self.url,
            state=self._state,
            epoch=c[0],
            connects=c[1],
            reconnects=c[2],
            stale_reconnects=c[3],
            failed_attempts=c[4],
            rate_limited=c[5],
            frames_in=c[6],
            bytes_in=c[7],
            frames_out=c[8],
            frames_queued=c[10],
            frames_deferred=c[11],
            hook_errors=c[9],
            last_frame_ns=self._last_frame_ns,
            last_error=self._last_error,
        )

    # Private methods.

    def _process_exception(self, exc: Exception) -> Exception | None:
        self._last_error = f"{type(exc).__name__}: {exc}"
        self._counts[4] += 1
        if isinstance(exc, InvalidStatus):
            status = exc.response.status_code
            if status in (401, 403):
                return AuthError(
                    f"{self.name}: the venue refused the credentials (HTTP {status}"
                    f"{_venue_reason(exc.response.body)}); check the key id and secret, and "
                    "the machine's clock (signatures are valid for 30 s)"
                )
            if status == 429:
                self._counts[5] += 1
                self._rate_limited = True
                wait = retry_after_seconds(exc.response.headers.get("Retry-After"))
                self._rate_limit_wait = self.rate_limit_delay if wait is None else wait
                self._set_state("backoff", f"HTTP 429, retrying in {self._rate_limit_wait:g} s")
                return None
            if status >= 500:
                self._set_state("backoff", f"HTTP {status}")
                return None
            return exc
        if isinstance(exc, OSError | TimeoutError | EOFError | ConnectionClosed):
            self._set_state("backoff", type(exc).__name__)
            return None
        # websockets wraps an EOF during the handshake in InvalidMessage; treat as transient.
        if isinstance(exc.__cause__, EOFError | OSError):
            self._set_state("backoff", type(exc).__name__)
            return None
        return exc

    async def _serve(self, ws: _DirectConnection) -> None:
        self._ws = ws
        self._counts[0] += 1
        self._counts[1] += 1
        if self._counts[0] > 1:
            self._counts[2] += 1
        self._last_frame_mono = time.monotonic()
        self._marker("connect", "")
        self._set_state("connected")
        self._connected.set()
        watchdog = asyncio.create_task(self._keepalive(ws), name=f"{self.name}-keepalive")
        reason = "closed"
        budget = self._budget
        counts = self._counts
        try:
            # From here on complete frames reach the hooks from the protocol callback; frames
            # queued before (and the rest of _DirectConnection's fallbacks) come out below, in
            # order, and the loop ends as websockets ends it (ConnectionClosed on errors).
            ws._sink = self
            for frame in self.hooks.on_open():
                await ws.send(frame)
                self._sent(frame)
            async for message in ws:
                counts[10] += 1
                self._receive(message, time.time_ns(), time.monotonic())
                budget.left -= 1
                if budget.left <= 0:
                    # A burst spent this iteration's budget: let the loop run other work first.
                    budget.arm()
                    await asyncio.sleep(0)
        except ConnectionClosed as exc:
            # When we closed first (e.g. 1009: a frame over max_size, or 4000: stale) the
            # venue may never answer; the code we sent is then the only true reason.
            close = exc.rcvd if exc.rcvd is not None else exc.sent
            reason = f"closed {close.code if close else 'abnormally'}"
            if close and close.reason:
                reason += f" {close.reason!r}"
            if exc.rcvd is None and close is not None:
                reason += " (by us)"
            self._last_error = reason
        except OSError as exc:
            reason = f"{type(exc).__name__}: {exc}"
            self._last_error = reason
        finally:
            ws.flush()  # frames held back by the burst budget were received: deliver them
            ws._sink = None
            watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watchdog
            self._ws = None
            self._connected.clear()
            self._marker("disconnect", reason)
            if not self._stopping:
                self._set_state("backoff", reason)
                try:
                    self.hooks.on_state("disconnected", reason)
                except Exception:
                    self._counts[9] += 1
                    logger.exception("%s: state hook failed", self.name)

    def _receive(self, data: str | bytes, recv_ns: int, mono: float) -> None:
        """One complete inbound message: count it, show it to the tap, hand it to the hooks."""
        counts = self._counts
        counts[6] += 1
        counts[7] += len(data)
        self._last_frame_ns = recv_ns
        self._last_frame_mono = mono
        if self.tap is not None:
            self._tap_frame("in", recv_ns, data)
        try:
            self.hooks.on_frame(data, recv_ns)
        except Exception:
            # A consumer bug must not kill the stream; it is counted and logged.
            counts[9] += 1
            logger.exception("%s: frame handler failed", self.name)

    async def _keepalive(self, ws: ClientConnection) -> None:
        tick = min(self.heartbeat_interval, self.stale_after / 3)
        next_beat = time.monotonic() + self.heartbeat_interval
        while True:
            await asyncio.sleep(tick)
            now = time.monotonic()
            if self.heartbeat is not None and now >= next_beat:
                next_beat = now + self.heartbeat_interval
                try:
                    await ws.send(self.heartbeat)
                except ConnectionClosed:
                    return
                self._sent(self.heartbeat)
            if now - self._last_frame_mono > self.stale_after:
                self._counts[3] += 1
                detail = f"no frame for {self.stale_after:g} s"
                logger.warning("%s: stale (%s); reconnecting", self.name, detail)
                self._marker("stale", detail)
                self.hooks.on_state("stale", detail)
                await ws.close(code=4000, reason="stale")
                return

    def _sent(self, frame: str) -> None:
        self._counts[8] += 1
        if self.tap is not None:
            self._tap_frame("out", time.time_ns(), self.hooks.redact(frame))

    def _tap_frame(self, direction: Literal["in", "out"], ts_ns: int, data: str | bytes) -> None:
        assert self.tap is not None
        try:
            self.tap.on_frame(
                direction=direction, ts_ns=ts_ns, connection=self.name, epoch=self.epoch, data=data
            )
        except Exception:
            self._counts[9] += 1
            logger.exception("%s: frame tap failed", self.name)

    def _marker(self, kind: str, detail: str) -> None:
        if self.tap is None:
            return
        try:
            self.tap.on_marker(
                kind=kind,
                ts_ns=time.time_ns(),
                connection=self.name,
                epoch=self.epoch,
                detail=detail,
            )
        except Exception:
            self._counts[9] += 1
            logger.exception("%s: frame tap failed", self.name)

    def _set_state(self, state: ConnectionState, detail: str = "") -> None:
        if state == self._state:
            return
        self._state = state
        logger.debug("%s: %s %s", self.name, state, detail)
        if state in ("connected", "failed"):
            try:
                self.hooks.on_state(state, detail)
            except Exception:
                self._counts[9] += 1
                logger.exception("%s: state hook failed", self.name)


def retry_after_seconds(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header, capped at :data:`MAX_RETRY_AFTER`.

    Takes delta-seconds (``"120"``) or an HTTP date (RFC 9110 §10.2.3); a date in the past
    means 0. Returns ``None`` for a missing or malformed value (the caller's default applies).

    Example:
        >>> retry_after_seconds("7"), retry_after_seconds("99999"), retry_after_seconds("soon")
        (7.0, 600.0, None)
    """
    if value is None:
        return None
    text = value.strip()
    if text.isdigit() and text.isascii():
        seconds = float(text)
    else:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:  # RFC 9110 dates are GMT
            when = when.replace(tzinfo=datetime.UTC)
        seconds = when.timestamp() - (time.time() if now is None else now)
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def _venue_reason(body: bytes | None) -> str:
    """The venue's own words from a refused upgrade (JSON ``message``/``error``), bounded.

    They tell a stale timestamp (clock skew) from a wrong key. The body is the venue's text:
    our secret never travels, so it cannot be echoed here.

    Example:
        >>> _venue_reason(b'{"status": 401, "message": "timestamp outside the allowed window"}')
        ': timestamp outside the allowed window'
        >>> _venue_reason(b"")
        ''
    """
    if not body:
        return ""
    try:
        value = msgspec.json.decode(body)
    except msgspec.DecodeError:
        value = body.decode("utf-8", "replace")
    if isinstance(value, dict):
        value = value.get("message") or value.get("error") or ""
    text = " ".join(str(value).split())[:120]
    return f": {text}" if text.isprintable() and text else ""
