"""The simulator's server: one port, every venue, the model's clock and the ground truth.

:class:`Simulator` owns a single ``websockets`` server on ``127.0.0.1`` (port 0 = any free
port by default). WebSocket upgrades are routed by path to the venue front-ends
(``/ws/market`` and ``/ws/user`` to the CLOB, ``/v1/ws/markets`` and ``/v1/ws/private`` to the
US venue); plain HTTP ``GET`` requests are answered as REST through ``websockets``' own
``process_request`` hook. Serving REST that way needs no extra dependency (no aiohttp, no
second server) and keeps one port for everything, which is what a notebook, the CLI's JSON
line and the official SDKs' single base URL all want.

The front-ends are plugged in through a small registry, :data:`FRONT_ENDS` (venue → import
path), imported lazily: a venue whose module is absent is skipped with a log line, so each
venue's author works on their own file. ``docs/simulator-interfaces.md`` spells out the
contract (:class:`FrontEnd`, :class:`SimContext`, :class:`Link`).

Writes bypass ``websockets``' per-message ``send``: every front-end hands :class:`Link` the
JSON payloads, and the link frames them itself (unmasked server text frames) and writes them
straight into the connection's transport, honouring back-pressure. The per-message ``send``
path tops out near 85k frames/s (``performance-notes.md`` Q2); this one reaches several
hundred thousand, which the blast mode needs. The server runs with ``compression=None`` so
that no extension can change the framing under us.

Example:
    >>> import asyncio
    >>> async def main() -> str:
    ...     async with Simulator(seed=1, markets=2, rate=0) as sim:
    ...         return sim.http_url.split(":")[0]
    >>> asyncio.run(main())
    'http'
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import hashlib
import importlib
import inspect
import itertools
import logging
import re
import struct
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final, Protocol, runtime_checkable

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response
from websockets.protocol import State

from polyresearch.config import RedactingLogger
from polyresearch.errors import SimulatorError
from polyresearch.simulator.faults import Fault, FaultSwitchboard, LinkFaults, LinkInfo
from polyresearch.simulator.market import (
    AccountFill,
    AccountOrder,
    BookSnapshot,
    Change,
    MarketModel,
    ModelConfig,
    SimMarket,
    TradeExecuted,
    plain,
)
from polyresearch.simulator.rest import RestResponse, parse_query, to_http_response

__all__ = [
    "DEFAULT_MARKETS",
    "DEFAULT_RATE",
    "FRONT_ENDS",
    "AccountView",
    "ClobDemoCredentials",
    "FrontEnd",
    "Link",
    "SimConfig",
    "SimContext",
    "SimStats",
    "Simulator",
    "UsDemoCredentials",
    "demo_credentials",
    "text_frame",
]

logger = logging.getLogger("polyresearch.simulator")
#: A client's ``auth`` object in a subscribe frame (redacted from websockets' DEBUG lines).
_AUTH_OBJECT = re.compile(r'"auth"\s*:\s*\{[^}]*\}')

#: Live markets by default: enough to look like a venue, small enough to dump in one frame.
DEFAULT_MARKETS: Final = 24
#: Model events per second in paced mode by default (a calm, readable demo stream).
DEFAULT_RATE: Final = 50.0
#: How often the clock publishes a batch of model changes in paced mode.
CLOCK_INTERVAL_S: Final = 0.02
#: A connection whose unsent output grows past this is too slow and gets dropped.
DEFAULT_MAX_WRITE_BUFFER: Final = 64 * 1024 * 1024
#: Blast writes go to the transport in chunks of this size, with a drain after each.
BLAST_CHUNK: Final = 1024 * 1024
#: Largest frame the server accepts from clients (subscriptions are small).
MAX_CLIENT_FRAME: Final = 1024 * 1024

#: Venue front-ends: venue name → ``"module:factory"``, where ``factory`` is a class or a
#: dotted attribute path to a callable (e.g. a classmethod) called as ``factory(model, ctx)``.
#: Imported lazily when a Simulator starts; a missing module or attribute only skips that
#: venue (logged), so each venue can be built and shipped on its own.
FRONT_ENDS: dict[str, str] = {
    "clob": "polyresearch.simulator.clob:ClobFrontEnd",
    "us": "polyresearch.simulator.us:UsFrontEnd.from_context",
}


def text_frame(payload: bytes) -> bytes:
    r"""Frame ``payload`` as one unmasked, final WebSocket text frame (server → client).

    Example:
        >>> text_frame(b"PONG")
        b'\x81\x04PONG'
    """
    n = len(payload)
    if n < 126:
        return bytes((0x81, n)) + payload
    if n < 65536:
        return struct.pack("!BBH", 0x81, 126, n) + payload
    return struct.pack("!BBQ", 0x81, 127, n) + payload


def _frame_chunks(wire: memoryview, size: int) -> list[memoryview]:
    r"""Split concatenated server frames into slices that end on frame boundaries.

    Each slice but the last holds at least ``size`` bytes.

    Example:
        >>> wire = memoryview(text_frame(b"a" * 3) * 4)
        >>> [bytes(c) for c in _frame_chunks(wire, 8)]
        [b'\x81\x03aaa\x81\x03aaa', b'\x81\x03aaa\x81\x03aaa']
    """
    chunks: list[memoryview] = []
    start = pos = 0
    end = len(wire)
    while pos < end:
        length = wire[pos + 1] & 0x7F
        if length == 126:
            length, head = int.from_bytes(wire[pos + 2 : pos + 4], "big"), 4
        elif length == 127:
            length, head = int.from_bytes(wire[pos + 2 : pos + 10], "big"), 10
        else:
            head = 2
        pos += head + length
        if pos - start >= size:
            chunks.append(wire[start:pos])
            start = pos
    if start < end:
        chunks.append(wire[start:])
    return chunks


#: Non-GET requests are rewritten to ``GET {prefix}{METHOD}{path}`` (see ``_SimConnection``).
_METHOD_PREFIX: Final = "/__sim_method__/"


def _rewrite_non_get(data: bytes) -> tuple[bytes, bool]:
    """Turn a non-GET request head into a GET that ``websockets`` can parse.

    ``websockets`` parses only ``GET`` without a body and drops anything else without an HTTP
    answer. Rewriting the request line and cutting the body headers and the body itself lets
    REST handlers answer ``POST``/``DELETE`` properly, if only with 4xx, the way the real
    venues would.

    Returns:
        The bytes to feed to ``websockets`` and whether the request was rewritten (then every
        later byte of the connection, i.e. the rest of the body, is discarded).
    """
    method, sep, rest = data.partition(b" ")
    if not sep or method == b"GET" or not (method.isalpha() and method.isupper()):
        return data, False
    head, blank, _body = rest.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    target, _, version = lines[0].partition(b" ")
    lines[0] = _METHOD_PREFIX.encode() + method + target + b" " + version
    kept = [
        line
        for line in lines[1:]
        if not line.lower().startswith((b"content-length:", b"transfer-encoding:"))
    ]
    return b"GET " + b"\r\n".join([lines[0], *kept]) + blank, True


class _SimConnection(ServerConnection):
    """A server connection that lets non-GET HTTP requests reach ``process_request``."""

    _sniffed = False
    _discard = False

    def data_received(self, data: bytes) -> None:
        if self._discard:
            return  # the body of a rewritten request: never parsed as WebSocket frames
        if not self._sniffed:
            self._sniffed = True
            data, self._discard = _rewrite_non_get(data)
        super().data_received(data)


# ---------------------------------------------------------------------------- credentials


@dataclass(frozen=True, slots=True)
class ClobDemoCredentials:
    """The CLOB demo account's L2 API credentials (simulator-only; valid nowhere else)."""

    api_key: str = field(repr=False)  # identifies the account: not shown either
    secret: str = field(repr=False)
    passphrase: str = field(repr=False)
    #: The demo account's wallet address, used as ``maker_address`` in user events.
    address: str = ""


@dataclass(frozen=True, slots=True)
class UsDemoCredentials:
    """The US demo account's Ed25519 API key (simulator-only; valid nowhere else)."""

    key_id: str = field(repr=False)  # identifies the account: not shown either
    #: Base64 of the 32-byte Ed25519 seed, the format both official US SDKs take.
    secret_key: str = field(repr=False)
    #: Base64 of the raw 32-byte public key (what the venue stores).
    public_key: str = ""


def demo_credentials(seed: int) -> tuple[ClobDemoCredentials, UsDemoCredentials]:
    """Derive both demo accounts' credentials deterministically from ``seed``.

    Example:
        >>> clob, us = demo_credentials(1)
        >>> clob == demo_credentials(1)[0], len(clob.passphrase), us.key_id.count("-")
        (True, 64, 4)
    """

    def derive(label: str) -> bytes:
        return hashlib.sha256(f"polyresearch-simulator:{seed}:{label}".encode()).digest()

    clob = ClobDemoCredentials(
        api_key=str(uuid.UUID(bytes=derive("clob-key")[:16], version=4)),
        secret=base64.urlsafe_b64encode(derive("clob-secret")).decode("ascii"),
        passphrase=derive("clob-passphrase").hex(),
        address="0x" + derive("clob-address")[:20].hex(),
    )
    seed_bytes = derive("us-secret")
    public = (
        Ed25519PrivateKey.from_private_bytes(seed_bytes)
        .public_key()
        .public_bytes(Encoding.Raw, PublicFormat.Raw)
    )
    us = UsDemoCredentials(
        key_id=str(uuid.UUID(bytes=derive("us-key")[:16], version=4)),
        secret_key=base64.b64encode(seed_bytes).decode("ascii"),
        public_key=base64.b64encode(public).decode("ascii"),
    )
    return clob, us


# ---------------------------------------------------------------------------- configuration


@dataclass(frozen=True, slots=True)
class SimConfig:
    """The server's configuration, as front-ends see it (``ctx.config``)."""

    seed: int
    host: str
    #: CLOB: close with 1008 "no ping received" after this long without a text ``PING``.
    ping_timeout: float
    #: Close a connection that has not subscribed after this long (None = never).
    subscribe_timeout: float | None
    #: US: send ``{"heartbeat": {}}`` this often.
    heartbeat_interval: float
    clob: ClobDemoCredentials
    us: UsDemoCredentials
    #: Blast mode: market subscribers get pre-encoded frames as fast as the socket takes them.
    blast: bool = False
    #: Blast mode: model steps pre-encoded into the repeated segment.
    blast_steps: int = 20_000
    #: Blast mode: frames per connection before the blast stops (None = until disconnect).
    blast_frames: int | None = None
    max_write_buffer: int = DEFAULT_MAX_WRITE_BUFFER


class _Counters:
    """Mutable counters behind :class:`SimStats` (one per simulator)."""

    def __init__(self) -> None:
        self.frames: Counter[str] = Counter()
        self.bytes_sent = 0
        self.withheld = 0
        self.closes: Counter[str] = Counter()
        self.connections_total: Counter[str] = Counter()
        self.rest_requests = 0
        self.clock_ticks = 0


@dataclass(frozen=True, slots=True)
class SimStats:
    """A frozen snapshot of the simulator's counters (``Simulator.stats()``)."""

    #: Frames written per kind (``book``, ``price_change``, ``pong``, ``fault:malformed``, ...).
    frames_sent: Mapping[str, int]
    bytes_sent: int
    #: Open connections per venue.
    connections_open: Mapping[str, int]
    #: Connections ever accepted per venue.
    connections_total: Mapping[str, int]
    #: Faults that took effect, per kind (see :class:`polyresearch.simulator.faults.Fault`).
    faults_fired: Mapping[str, int]
    #: Data frames held back by a stall or skipped by ``skip_delta``.
    frames_withheld: int
    #: Server-initiated closes per reason (``no_ping``, ``bad_auth``, ``slow_consumer``, ...).
    closes: Mapping[str, int]
    rest_requests: int
    model_steps: int
    #: Iterations of the paced-mode clock (it keeps ticking while the flow is paused).
    clock_ticks: int = 0
    #: Each front-end's own counters (its ``stats()`` hook), by venue.
    venues: Mapping[str, Mapping[str, int]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AccountView:
    """An immutable copy of one simulated account (ground truth)."""

    name: str
    balance: Any
    positions: Mapping[str, Any]
    orders: tuple[AccountOrder, ...]
    fills: tuple[AccountFill, ...]
    #: Finished orders and settled fills dropped to hold ``ModelConfig.max_account_history``.
    evicted_orders: int = 0
    evicted_fills: int = 0

    @property
    def open_orders(self) -> tuple[AccountOrder, ...]:
        """Orders still resting in a book."""
        return tuple(o for o in self.orders if o.status == "live")


# ---------------------------------------------------------------------------- links

#: ``renderer(link, fault, params)`` → payloads to send for an injected fault, or None when the
#: venue has no such frame. Payloads are complete JSON (or text) frame bodies.
Renderer = Callable[["Link", Fault, Mapping[str, Any]], "list[bytes] | None"]

_ids = itertools.count(1)


class Link:
    """One WebSocket connection as the simulator sees it: identity, fault state, fast writes.

    Front-ends get a link from :meth:`SimContext.attach` and send through it; the link applies
    the fault conditions (stall, skip, burst, mute) and keeps the counters.

    Attributes:
        info: Connection id, venue and path (what fault targets match on).
        faults: The fault conditions currently applied to this connection.
        connection: The ``websockets`` connection (for reading and for closing).
    """

    def __init__(
        self,
        ctx: SimContext,
        connection: ServerConnection,
        *,
        venue: str,
        path: str,
        renderer: Renderer | None = None,
    ) -> None:
        self.info = LinkInfo(next(_ids), venue, path)
        self.faults = LinkFaults()
        self.connection = connection
        self._ctx = ctx
        self._renderer = renderer
        self._transport = connection.transport
        self._burst: list[bytes] = []
        self._burst_kinds: list[str] = []
        self.closed = False

    def __repr__(self) -> str:
        return f"Link({self.info.conn_id}, {self.info.venue}, {self.info.path})"

    # ------------------------------------------------------------------ sending

    def is_open(self) -> bool:
        """Whether frames can still be written (open, and not closed or dropped by us)."""
        return not self.closed and self.connection.state is State.OPEN

    def _write(self, data: bytes) -> bool:
        if not self.is_open():
            return False
        self._transport.write(data)
        self._ctx.counters.bytes_sent += len(data)
        if self._transport.get_write_buffer_size() > self._ctx.config.max_write_buffer:
            logger.warning("connection %d is too slow to keep up; dropping it", self.info.conn_id)
            self._ctx.counters.closes["slow_consumer"] += 1
            self.abort()
        return True

    def send(self, kind: str, payload: bytes, *, delta: bool = False) -> bool:
        """Send one data frame, subject to the link's fault conditions.

        Args:
            kind: The frame's kind for the stats (``"price_change"``, ``"book"``, ...).
            payload: The frame body (JSON text, UTF-8).
            delta: Whether the frame is an incremental update that ``skip_delta`` may eat.

        Returns:
            Whether the frame went out now (False when withheld, buffered or closed).
        """
        faults = self.faults
        if faults.active:
            if faults.is_stalled():
                self._ctx.counters.withheld += 1
                return False
            if faults.skip_kinds and faults.take_skip(kind):
                self._ctx.counters.withheld += 1
                return False
            if delta and faults.skip_deltas > 0:
                faults.skip_deltas -= 1
                self._ctx.counters.withheld += 1
                return False
            if faults.burst_events > 0 and payload[:1] == b"{":
                faults.burst_events -= 1
                if not self._burst:
                    asyncio.get_running_loop().call_soon(self._flush_burst)
                self._burst.append(payload)
                self._burst_kinds.append(kind)
                if len(self._burst) >= faults.burst_size:
                    self._flush_burst()
                return False
        # A frame that does not join a pending burst must not overtake it: order is the
        # protocol's only sequencing (protocol-clob.md §6.3).
        if self._burst:
            self._flush_burst()
        if self._write(text_frame(payload)):
            self._ctx.counters.frames[kind] += 1
            return True
        return False

    def _flush_burst(self) -> None:
        if not self._burst:
            return
        payload = b"[" + b",".join(self._burst) + b"]"
        kinds = self._burst_kinds
        self._burst = []
        self._burst_kinds = []
        if self._write(text_frame(payload)):
            self._ctx.counters.frames["array"] += 1
            for kind in kinds:
                self._ctx.counters.frames[f"in_array:{kind}"] += 1

    def send_heartbeat(self, kind: str, payload: bytes) -> bool:
        """Send a liveness frame (CLOB ``PONG``, US heartbeat): only ``mute_heartbeat`` stops it."""
        if self.faults.muted:
            self._ctx.counters.withheld += 1
            return False
        if self._write(text_frame(payload)):
            self._ctx.counters.frames[kind] += 1
            return True
        return False

    def send_raw(self, kind: str, payload: bytes) -> bool:
        """Send a frame that ignores every fault condition (injected frames, dumps on demand)."""
        if self._burst:
            self._flush_burst()
        if self._write(text_frame(payload)):
            self._ctx.counters.frames[kind] += 1
            return True
        return False

    async def blast(self, wire: bytes, *, frames_per_cycle: int, total_frames: int | None) -> int:
        """Write pre-framed ``wire`` bytes over and over, draining after each chunk.

        Args:
            wire: Complete WebSocket frames, concatenated.
            frames_per_cycle: How many frames ``wire`` holds (for the counters).
            total_frames: Stop after about this many frames (None = until the connection ends).

        Returns:
            The number of frames written.
        """
        sent = 0
        # Chunks end on frame boundaries: anything else written between two chunks (a PONG, a
        # dump after a resubscribe) must not land inside a frame and corrupt the stream.
        chunks = _frame_chunks(memoryview(wire), BLAST_CHUNK)
        while self.is_open():
            for chunk in chunks:
                if not self.is_open():
                    return sent
                self._transport.write(chunk)
                self._ctx.counters.bytes_sent += len(chunk)
                await self._drain()
            sent += frames_per_cycle
            self._ctx.counters.frames["blast"] += frames_per_cycle
            if total_frames is not None and sent >= total_frames:
                break
            # Let readers (PING) and other connections run between cycles.
            await asyncio.sleep(0)
        return sent

    async def _drain(self) -> None:
        drain: Callable[[], Awaitable[None]] | None = getattr(self.connection, "drain", None)
        if drain is not None:
            await drain()
            return
        # Fallback for a websockets without Connection.drain(): poll the buffer down. There is
        # no event to wait on from outside the protocol, hence the short sleeps.
        while self._transport.get_write_buffer_size() > BLAST_CHUNK and not self.closed:  # noqa: ASYNC110
            await asyncio.sleep(0.001)

    # ------------------------------------------------------------------ faults and closing

    def inject(self, kind: Fault, params: Mapping[str, Any]) -> bool:
        """Send the injected frame(s) for ``kind`` as rendered by the venue front-end."""
        payloads = self._renderer(self, kind, params) if self._renderer is not None else None
        if payloads is None:
            return False
        for payload in payloads:
            self.send_raw(f"fault:{kind.value}", payload)
        return True

    def abort(self) -> None:
        """Drop the TCP connection at once, without a closing handshake."""
        self.closed = True
        self._transport.abort()

    async def close(self, code: int, reason: str, *, why: str) -> None:
        """Close with a closing handshake and count the reason (``why``) in the stats."""
        self._ctx.counters.closes[why] += 1
        self.closed = True
        await self.connection.close(code, reason)

    def close_without_status(self, *, why: str) -> None:
        """Send a close frame with an empty payload and hang up (the CLOB's bad-auth behaviour)."""
        self._ctx.counters.closes[why] += 1
        if self.connection.state is State.OPEN and not self.closed:
            self._transport.write(b"\x88\x00")
        self.closed = True
        self._transport.close()


# ---------------------------------------------------------------------------- context and seam


class SimContext:
    """What a venue front-end gets from the server besides the model (``cls(model, ctx)``).

    Attributes:
        config: The server configuration (credentials, timeouts, blast settings).
        faults: The fault switchboard shared by all venues.
        counters: Frame/close counters (use :class:`Link` methods rather than touching them).
    """

    def __init__(
        self,
        config: SimConfig,
        faults: FaultSwitchboard,
        clock: Callable[[], int],
        counters: _Counters,
    ) -> None:
        self.config = config
        self.faults = faults
        self.counters = counters
        self._clock = clock
        self.links: dict[int, Link] = {}

    def now_ms(self) -> int:
        """The simulator clock in Unix milliseconds, ``clock_skew`` fault included."""
        return self._clock()

    @contextlib.contextmanager
    def attach(
        self,
        connection: ServerConnection,
        *,
        venue: str,
        path: str,
        renderer: Renderer | None = None,
    ) -> Iterator[Link]:
        """Register a connection for the duration of a ``with`` block and yield its link."""
        link = Link(self, connection, venue=venue, path=path, renderer=renderer)
        self.links[link.info.conn_id] = link
        self.faults.register(link)
        self.counters.connections_total[venue] += 1
        logger.debug("connection %d opened on %s", link.info.conn_id, path)
        try:
            yield link
        finally:
            link.closed = True
            self.links.pop(link.info.conn_id, None)
            self.faults.unregister(link)
            logger.debug("connection %d closed", link.info.conn_id)


@runtime_checkable
class FrontEnd(Protocol):
    """A venue front-end, built by its :data:`FRONT_ENDS` factory as ``factory(model, ctx)``.

    See ``docs/simulator-interfaces.md``. Optional extras, looked up with ``getattr``:

    - ``ws_paths`` is accepted instead of ``paths``.
    - ``check_upgrade(path, headers) -> RestResponse | None``: refuse an upgrade (e.g. US
      Ed25519 auth → 401) by returning a response; None lets it proceed. Alternatively
      ``process_request(connection, request) -> websockets Response | None`` with the same
      meaning (called only for upgrades to the front-end's own paths).
    - ``handle_rest`` may take a ``headers`` keyword (case-insensitive mapping) to see the
      request headers (e.g. for authenticated REST). It may return a :class:`RestResponse` or
      any object with ``status``, ``headers`` and a ``text()`` method returning the body.
    - ``async def start() -> None`` and ``async def aclose() -> None`` (or ``close_all()``):
      called when the simulator starts / stops.
    - ``stats() -> Mapping[str, int]``: venue counters, reported in ``SimStats.venues``.
    """

    venue: str
    #: WebSocket paths this front-end serves, e.g. ``("/ws/market", "/ws/user")``.
    paths: tuple[str, ...]

    async def handle(self, connection: ServerConnection, path: str) -> None:
        """Serve one WebSocket connection until it ends."""

    def publish(self, changes: list[Change]) -> None:
        """Fan a batch of model changes out to the subscribed connections."""

    def handle_rest(
        self, method: str, path: str, query: Mapping[str, list[str]]
    ) -> RestResponse | None:
        """Answer a REST request, or return None when the path is not this venue's."""


def _load_front_end(venue: str) -> Callable[[MarketModel, SimContext], FrontEnd] | None:
    """Import a venue's factory from :data:`FRONT_ENDS`; None when it is not available yet."""
    module_name, _, attribute = FRONT_ENDS[venue].partition(":")
    try:
        factory: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        logger.info("simulator venue %r is not available (%s missing)", venue, module_name)
        return None
    for name in attribute.split("."):
        factory = getattr(factory, name, None)
        if factory is None:
            logger.info("simulator venue %r is not available (%s missing)", venue, attribute)
            return None
    built: Callable[[MarketModel, SimContext], FrontEnd] = factory
    return built


def _ws_paths(front_end: FrontEnd) -> tuple[str, ...]:
    # ``ws_paths`` is accepted as a synonym of ``paths``.
    paths: Any = getattr(front_end, "paths", None)
    if not paths:
        paths = getattr(front_end, "ws_paths", ())
    return tuple(str(p) for p in paths)


def _as_rest_response(answer: Any) -> RestResponse:
    """Accept :class:`RestResponse` or any object with ``status``, ``headers`` and ``text()``."""
    if isinstance(answer, RestResponse):
        return answer
    headers = tuple(getattr(answer, "headers", ()) or ())
    return RestResponse(int(answer.status), answer.text().encode(), headers=headers)


def _takes_headers(func: Callable[..., Any]) -> bool:
    try:
        params = inspect.signature(func).parameters
    except (TypeError, ValueError):
        return False
    return "headers" in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


# ---------------------------------------------------------------------------- the simulator


class Simulator:
    """A local exchange speaking both Polymarket venues over real WebSockets, on one port.

    Use it as an async context manager. Everything is on the running event loop; ground-truth
    accessors are plain methods returning immutable copies.

    Args:
        seed: Seeds the market model and the demo credentials.
        markets: Number of live markets.
        rate: Model events per second in paced mode (0 = no flow until :meth:`advance`).
        host: Interface to bind (loopback by default).
        port: Port to bind; 0 picks a free one.
        blast: Blast mode: market subscribers receive a pre-encoded, self-consistent segment
            (fresh books, then ``blast_steps`` model steps) over and over, as fast as the
            socket takes it, instead of the paced flow.
        blast_steps: Model steps in the blast segment.
        blast_frames: Frames per connection before a blast stops (None = until disconnect).
        ping_timeout: CLOB: seconds without a text ``PING`` before closing with 1008.
        subscribe_timeout: Close connections that have not subscribed after this many seconds.
        heartbeat_interval: US: seconds between ``{"heartbeat": {}}`` frames.
        model_config: Flow/account knobs of the market model.
        venues: Which front-ends to load (default: every entry of :data:`FRONT_ENDS`).
        max_write_buffer: Drop a connection whose unsent output exceeds this many bytes.

    Example:
        >>> import asyncio
        >>> async def main() -> bool:
        ...     async with Simulator(seed=3, markets=2, rate=0) as sim:
        ...         token = sim.markets()[0].token_ids[0]
        ...         before = sim.book(token)
        ...         sim.advance(50)
        ...         return sim.stats().model_steps == 50 and before.token_id == token
        >>> asyncio.run(main())
        True
    """

    def __init__(
        self,
        *,
        seed: int = 0,
        markets: int = DEFAULT_MARKETS,
        rate: float = DEFAULT_RATE,
        host: str = "127.0.0.1",
        port: int = 0,
        blast: bool = False,
        blast_steps: int = 20_000,
        blast_frames: int | None = None,
        ping_timeout: float = 30.0,
        subscribe_timeout: float | None = None,
        heartbeat_interval: float = 10.0,
        model_config: ModelConfig | None = None,
        venues: Sequence[str] | None = None,
        max_write_buffer: int = DEFAULT_MAX_WRITE_BUFFER,
    ) -> None:
        if markets < 1:
            raise SimulatorError("markets must be at least 1")
        if rate < 0:
            raise SimulatorError("rate must not be negative")
        unknown = set(venues or ()) - set(FRONT_ENDS)
        if unknown:
            raise SimulatorError(f"unknown venue(s): {', '.join(sorted(unknown))}")
        clob, us = demo_credentials(seed)
        self.config = SimConfig(
            seed=seed,
            host=host,
            ping_timeout=ping_timeout,
            subscribe_timeout=subscribe_timeout,
            heartbeat_interval=heartbeat_interval,
            clob=clob,
            us=us,
            blast=blast,
            blast_steps=blast_steps,
            blast_frames=blast_frames,
            max_write_buffer=max_write_buffer,
        )
        self._markets = markets
        self._rate = rate
        self._port = port
        self._venues = tuple(venues) if venues is not None else tuple(FRONT_ENDS)
        self._model_config = model_config
        #: The fault switchboard (``sim.faults.drop()``, ``.stall()``, ``.inject()``, ...).
        self.faults = FaultSwitchboard()
        self._counters = _Counters()
        self._ctx = SimContext(self.config, self.faults, self.now_ms, self._counters)
        self._model: MarketModel | None = None
        self._front_ends: list[FrontEnd] = []
        self._ws_routes: dict[str, FrontEnd] = {}
        self._rest_with_headers: dict[int, bool] = {}
        self._server: Server | None = None
        self._clock_task: asyncio.Task[None] | None = None
        self._restart_tasks: set[asyncio.Task[None]] = set()
        self._paused = False

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> Simulator:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Build the model and the front-ends, bind the port, start the clock.

        Raises:
            SimulatorError: already started, or the port cannot be bound.
        """
        if self._server is not None:
            raise SimulatorError("the simulator is already running")
        self._model = MarketModel(
            seed=self.config.seed,
            markets=self._markets,
            config=self._model_config,
            start_ms=self.now_ms(),
        )
        self._front_ends = []
        self._ws_routes = {}
        for venue in self._venues:
            factory = _load_front_end(venue)
            if factory is None:
                continue
            front_end = factory(self._model, self._ctx)
            self._front_ends.append(front_end)
            self._rest_with_headers[id(front_end)] = _takes_headers(front_end.handle_rest)
            for path in _ws_paths(front_end):
                self._ws_routes[path] = front_end
        for front_end in self._front_ends:
            start = getattr(front_end, "start", None)
            if start is not None:
                await start()
        await self._serve()
        self.faults.on_restart = self._schedule_restart
        if not self.config.blast:
            self._clock_task = asyncio.create_task(self._clock(), name="simulator-clock")
        logger.info("simulator listening on %s (venues: %s)", self.http_url, self.venues)

    async def _serve(self) -> None:
        try:
            self._server = await serve(
                self._handler,
                self.config.host,
                self._port,
                process_request=self._process_request,
                create_connection=_SimConnection,
                compression=None,
                max_size=MAX_CLIENT_FRAME,
                logger=RedactingLogger(logging.getLogger("websockets.server"), self._redact_log),
            )
        except OSError as exc:
            raise SimulatorError(
                f"cannot listen on {self.config.host}:{self._port}: {exc}"
            ) from exc
        if self._port == 0:
            self._port = next(iter(self._server.sockets)).getsockname()[1]

    def _redact_log(self, text: str) -> str:
        """Redact a websockets DEBUG line: every client's ``auth`` object, demo credentials.

        Any client's ``auth`` object (wrong ones included) and the demo account's values (e.g.
        the API key echoed as ``owner``) are replaced.
        """
        text = _AUTH_OBJECT.sub('"auth":"<redacted>"', text)
        clob, us = self.config.clob, self.config.us
        for value in (clob.api_key, clob.secret, clob.passphrase, us.key_id, us.secret_key):
            if value in text:
                text = text.replace(value, "<redacted>")
        return text

    async def stop(self) -> None:
        """Stop the clock, close every connection and the listening socket. Idempotent."""
        if self._clock_task is not None:
            self._clock_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._clock_task
            self._clock_task = None
        for task in list(self._restart_tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for front_end in self._front_ends:
            aclose = getattr(front_end, "aclose", None) or getattr(front_end, "close_all", None)
            if aclose is not None:
                await aclose()
        if self._server is not None:
            self._server.close(close_connections=True)
            await self._server.wait_closed()
            self._server = None
        self.faults.on_restart = None

    async def restart(self, *, downtime: float = 0.0) -> None:
        """Restart the server: drop every connection, stop listening, listen again.

        The model keeps its state (an exchange restart does not reset its books); clients must
        reconnect, resubscribe and resync. Counted as the ``restart`` fault.

        Args:
            downtime: Seconds to stay down (connections are refused meanwhile).
        """
        if self._server is None:
            raise SimulatorError("the simulator is not running")
        self.faults.count(Fault.RESTART)
        logger.info("fault: restarting the server (downtime %.3f s)", downtime)
        for link in list(self._ctx.links.values()):
            link.abort()
        self._server.close(close_connections=False)
        await self._server.wait_closed()
        self._server = None
        if downtime > 0:
            await asyncio.sleep(downtime)
        await self._serve()

    def _schedule_restart(self, downtime: float) -> None:
        task = asyncio.get_running_loop().create_task(self.restart(downtime=downtime))
        self._restart_tasks.add(task)
        task.add_done_callback(self._restart_tasks.discard)

    # ------------------------------------------------------------------ clock and flow

    def now_ms(self) -> int:
        """The simulator clock: Unix milliseconds plus the ``clock_skew`` fault's offset."""
        return time.time_ns() // 1_000_000 + self.faults.clock_skew_ms

    def pause(self) -> None:
        """Stop the order flow (connections, heartbeats and REST keep working)."""
        self._paused = True

    def resume(self) -> None:
        """Resume the order flow after :meth:`pause`."""
        self._paused = False

    @property
    def paused(self) -> bool:
        """Whether the flow is paused."""
        return self._paused

    def advance(self, steps: int = 1) -> list[Change]:
        """Run ``steps`` model steps now and publish them (works while paused, too).

        Returns:
            The changes, as the front-ends received them.
        """
        model = self.model
        now = self.now_ms()
        changes: list[Change] = []
        for _ in range(steps):
            changes.extend(model.step(now))
        self._publish(changes)
        return changes

    def _publish(self, changes: list[Change]) -> None:
        if not changes:
            return
        for front_end in self._front_ends:
            try:
                front_end.publish(changes)
            except Exception:
                logger.exception("front-end %s failed to publish", front_end.venue)

    async def _clock(self) -> None:
        loop = asyncio.get_running_loop()
        last = loop.time()
        carry = 0.0
        while True:
            await asyncio.sleep(CLOCK_INTERVAL_S)
            now = loop.time()
            elapsed, last = now - last, now
            self._counters.clock_ticks += 1
            if self._paused or self._rate <= 0:
                carry = 0.0
                continue
            # Never try to catch up more than half a second of flow after a hiccup.
            due = min(self._rate * elapsed, self._rate * 0.5 + 1) + carry
            steps = int(due)
            carry = due - steps
            if steps:
                self.advance(steps)

    # ------------------------------------------------------------------ routing

    async def _handler(self, connection: ServerConnection) -> None:
        path = connection.request.path.partition("?")[0] if connection.request else ""
        front_end = self._ws_routes.get(path)
        if front_end is None:  # process_request already answered 404; belt and braces
            await connection.close(1008, "unknown path")
            return
        try:
            await front_end.handle(connection, path)
        except Exception:
            logger.exception("front-end %s failed on %s", front_end.venue, path)

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        path, _, raw_query = request.path.partition("?")
        method = "GET"
        if path.startswith(_METHOD_PREFIX):
            method, _, rest = path.removeprefix(_METHOD_PREFIX).partition("/")
            path = "/" + rest
        upgrade = method == "GET" and request.headers.get("Upgrade", "").lower() == "websocket"
        if upgrade:
            front_end = self._ws_routes.get(path)
            if front_end is None:
                return to_http_response(RestResponse.error(404, "not found"))
            if self.faults.take_upgrade_refusal(path):
                status = self.faults.refusal_status
                if status != 429:  # e.g. 401: the key was revoked
                    return to_http_response(RestResponse.error(status, "upgrade refused"))
                return to_http_response(
                    RestResponse(
                        429, b'{"error":"Too Many Requests"}', headers=(("Retry-After", "1"),)
                    )
                )
            check = getattr(front_end, "check_upgrade", None)
            if check is not None:
                refusal = check(path, request.headers)
                if refusal is not None:
                    return to_http_response(_as_rest_response(refusal))
            hook = getattr(front_end, "process_request", None)
            if hook is not None:
                verdict: Response | None = hook(connection, request)
                return verdict
            return None
        self._counters.rest_requests += 1
        query = parse_query(raw_query)
        for front_end in self._front_ends:
            try:
                if self._rest_with_headers.get(id(front_end)):
                    answer = front_end.handle_rest(method, path, query, headers=request.headers)  # type: ignore[call-arg]
                else:
                    answer = front_end.handle_rest(method, path, query)
            except Exception:
                logger.exception("front-end %s failed on REST %s", front_end.venue, path)
                return to_http_response(RestResponse.error(500, "internal error"))
            if answer is not None:
                return to_http_response(_as_rest_response(answer))
        if method != "GET":
            return to_http_response(RestResponse.error(405, "method not allowed"))
        return to_http_response(RestResponse.error(404, "not found"))

    # ------------------------------------------------------------------ addresses

    def _require_port(self) -> int:
        if self._server is None and self._model is None:
            raise SimulatorError("the simulator is not running; use `async with Simulator()`")
        return self._port

    @property
    def port(self) -> int:
        """The bound port."""
        return self._require_port()

    @property
    def http_url(self) -> str:
        """Base URL of every REST endpoint (CLOB, Gamma and US gateway share it)."""
        return f"http://{self.config.host}:{self._require_port()}"

    @property
    def ws_url(self) -> str:
        """Base WebSocket URL (append a venue path)."""
        return f"ws://{self.config.host}:{self._require_port()}"

    @property
    def clob_market_url(self) -> str:
        """CLOB market channel (public)."""
        return f"{self.ws_url}/ws/market"

    @property
    def clob_user_url(self) -> str:
        """CLOB user channel (``auth`` in the first message)."""
        return f"{self.ws_url}/ws/user"

    @property
    def us_markets_url(self) -> str:
        """Polymarket US markets stream (Ed25519-signed upgrade)."""
        return f"{self.ws_url}/v1/ws/markets"

    @property
    def us_private_url(self) -> str:
        """Polymarket US private stream (Ed25519-signed upgrade)."""
        return f"{self.ws_url}/v1/ws/private"

    @property
    def clob_credentials(self) -> ClobDemoCredentials:
        """The CLOB demo account's API key, secret and passphrase."""
        return self.config.clob

    @property
    def us_credentials(self) -> UsDemoCredentials:
        """The US demo account's key id and base64 Ed25519 secret."""
        return self.config.us

    @property
    def venues(self) -> tuple[str, ...]:
        """Venues whose front-end is loaded."""
        return tuple(f.venue for f in self._front_ends)

    # ------------------------------------------------------------------ ground truth

    @property
    def model(self) -> MarketModel:
        """The live market model (mutable; prefer the copying accessors below)."""
        if self._model is None:
            raise SimulatorError("the simulator is not running; use `async with Simulator()`")
        return self._model

    def markets(self, *, include_resolved: bool = False) -> list[SimMarket]:
        """Copies of the markets (live ones by default), in listing order."""
        source = self.model.markets if include_resolved else self.model.live_markets()
        return [dataclasses.replace(m) for m in source]

    def market_params(self, *, include_resolved: bool = False) -> dict[str, dict[str, Any]]:
        """Per token id, the static market parameters a client's book hash needs.

        Plain values in the shape of ``polyresearch.state.books.MarketParams``
        (``min_order_size`` as the venue writes it, ``neg_risk``, ``token_ids`` YES first), so
        that the simulator stays independent of our state layer: a caller converts them with
        ``msgspec.convert(value, MarketParams)``. Both tokens of a market share one mapping.

        Example:
            >>> import asyncio
            >>> async def main() -> tuple[str, bool]:
            ...     async with Simulator(seed=3, markets=1, rate=0) as sim:
            ...         params = sim.market_params()
            ...         yes = sim.markets()[0].token_ids[0]
            ...         return params[yes]["min_order_size"], len(params) == 2
            >>> asyncio.run(main())
            ('5', True)
        """
        params: dict[str, dict[str, Any]] = {}
        for market in self.markets(include_resolved=include_resolved):
            shared = {
                "min_order_size": plain(market.min_order_size),
                "neg_risk": market.neg_risk,
                "token_ids": market.token_ids,
            }
            params.update(dict.fromkeys(market.token_ids, shared))
        return params

    def book(self, token_id: str) -> BookSnapshot:
        """An immutable copy of one token's book right now.

        Raises:
            SimulatorError: unknown token id.
        """
        model = self.model
        market = model.by_token.get(token_id)
        if market is None:
            raise SimulatorError(f"unknown token id {token_id[:20]}…")
        return model.book(token_id).snapshot(market.tick_size)

    def books(self) -> dict[str, BookSnapshot]:
        """Immutable copies of every token's book, keyed by token id."""
        model = self.model
        return {
            token: model.book(token).snapshot(market.tick_size)
            for market in model.markets
            for token in market.token_ids
        }

    def trades(self) -> list[TradeExecuted]:
        """Every trade so far, oldest first (bounded by ``ModelConfig.max_trade_log``)."""
        return list(self.model.trades)

    def account(self, name: str) -> AccountView:
        """An immutable copy of a simulated account (``"clob"`` or ``"us"``).

        Raises:
            SimulatorError: unknown account.
        """
        account = self.model.accounts.get(name)
        if account is None:
            raise SimulatorError(f"unknown account {name!r} (use 'clob' or 'us')")
        return AccountView(
            name=account.name,
            balance=account.balance,
            positions=MappingProxyType(dict(account.positions)),
            orders=tuple(account.orders.values()),
            fills=tuple(account.fills.values()),
            evicted_orders=account.evicted_orders,
            evicted_fills=account.evicted_fills,
        )

    def accounts(self) -> dict[str, AccountView]:
        """Immutable copies of every simulated account."""
        return {name: self.account(name) for name in self.model.accounts}

    def connections(self) -> list[LinkInfo]:
        """Open WebSocket connections (id, venue, path), oldest first."""
        return [link.info for link in self._ctx.links.values()]

    def stats(self) -> SimStats:
        """A frozen snapshot of the counters: frames per kind, connections, faults fired."""
        venues: dict[str, Mapping[str, int]] = {}
        for front_end in self._front_ends:
            extra = getattr(front_end, "stats", None)
            if extra is not None:
                venues[front_end.venue] = MappingProxyType(dict(extra()))
        open_by_venue = Counter(link.info.venue for link in self._ctx.links.values())
        return SimStats(
            frames_sent=MappingProxyType(dict(self._counters.frames)),
            bytes_sent=self._counters.bytes_sent,
            connections_open=MappingProxyType(dict(open_by_venue)),
            connections_total=MappingProxyType(dict(self._counters.connections_total)),
            faults_fired=MappingProxyType(dict(self.faults.fired)),
            frames_withheld=self._counters.withheld,
            closes=MappingProxyType(dict(self._counters.closes)),
            rest_requests=self._counters.rest_requests,
            model_steps=self._model.steps if self._model is not None else 0,
            clock_ticks=self._counters.clock_ticks,
            venues=MappingProxyType(venues),
        )

    def summary(self) -> dict[str, Any]:
        """Everything a client needs to connect: URLs, demo credentials, ids (the CLI's line).

        Example:
            >>> import asyncio
            >>> async def main() -> list[str]:
            ...     async with Simulator(markets=1, rate=0) as sim:
            ...         return sorted(sim.summary())
            >>> asyncio.run(main())
            ['clob', 'http_url', 'seed', 'us']
        """
        live = self.model.live_markets()
        clob, us = self.config.clob, self.config.us
        return {
            "http_url": self.http_url,
            "seed": self.config.seed,
            "clob": {
                "market_url": self.clob_market_url,
                "user_url": self.clob_user_url,
                "rest_url": self.http_url,
                "gamma_url": self.http_url,
                "api_key": clob.api_key,
                "secret": clob.secret,
                "passphrase": clob.passphrase,
                "asset_ids": [t for m in live for t in m.token_ids],
                "condition_ids": [m.condition_id for m in live],
            },
            "us": {
                "markets_url": self.us_markets_url,
                "private_url": self.us_private_url,
                "rest_url": self.http_url,
                "key_id": us.key_id,
                "secret_key": us.secret_key,
                "slugs": [m.slug for m in live],
            },
        }
