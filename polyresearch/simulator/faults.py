"""The simulator's fault switchboard: venue-neutral switches that break the stream on purpose.

Tests, notebooks and the CLI flip switches here; the server's per-connection links
(:class:`polyresearch.simulator.server.Link`) and the venue front-ends consult them. The same
switches serve both venues: a front-end only has to *render* the content faults (malformed
frame, unknown event, ...) in its own protocol, everything else is applied generically.

Three families of faults:

- **actions**, applied at once to every matching connection: ``drop`` (abort the TCP
  connection) and the one-shot *injections* (``malformed``, ``oversized``, ``unknown_event``,
  ``missing_event_type``, ``midstream_book``, ``no_new_assets``);
- **conditions** on matching connections, until cleared or used up: ``stall`` (data withheld,
  heartbeats continue), ``mute_heartbeat`` (no PONG / no heartbeat frames), ``skip_delta``
  (the next N delta frames silently vanish), ``skip_frames`` (the next N frames of one kind,
  e.g. the CLOB's subscription ``book_dump``, vanish), ``burst_arrays`` (the next N data events
  are grouped into JSON arrays);
- **server-wide**: ``refuse_upgrade`` (answer WebSocket upgrades with HTTP 429, or another
  status such as 401 for revoked credentials) and
  ``clock_skew`` (shift the server clock); ``restart`` is done by the server itself
  (:meth:`polyresearch.simulator.server.Simulator.restart`) and only counted here.

A :class:`Target` picks connections: by connection id, venue (``"clob"``/``"us"``) and/or
WebSocket path; the default targets every connection. Conditions set with a target that does
not name a connection id also apply to connections opened later, until :meth:`clear`.

Every fault that takes effect is counted in :attr:`FaultSwitchboard.fired` (per connection for
per-connection faults), which the simulator reports in its stats.

Example:
    >>> board = FaultSwitchboard()
    >>> board.skew_clock(1500)
    >>> board.clock_skew_ms, board.fired["clock_skew"]
    (1500, 1)
    >>> board.refuse_upgrades(count=1)
    >>> board.take_upgrade_refusal("/ws/market"), board.take_upgrade_refusal("/ws/market")
    (True, False)
"""

from __future__ import annotations

import enum
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = [
    "INJECTIONS",
    "Fault",
    "FaultSwitchboard",
    "FaultTarget",
    "LinkFaults",
    "LinkInfo",
    "Target",
]

logger = logging.getLogger("polyresearch.simulator")


class Fault(enum.StrEnum):
    """Every fault the simulator can inject; the values are the keys of the stats counters."""

    DROP = "drop"
    RESTART = "restart"
    STALL = "stall"
    MUTE_HEARTBEAT = "mute_heartbeat"
    MALFORMED = "malformed"
    OVERSIZED = "oversized"
    UNKNOWN_EVENT = "unknown_event"
    MISSING_EVENT_TYPE = "missing_event_type"
    SKIP_DELTA = "skip_delta"
    SKIP_FRAMES = "skip_frames"
    MIDSTREAM_BOOK = "midstream_book"
    BURST_ARRAYS = "burst_arrays"
    REFUSE_UPGRADE = "refuse_upgrade"
    CLOCK_SKEW = "clock_skew"
    NO_NEW_ASSETS = "no_new_assets"


#: One-shot content faults a front-end renders in its own protocol (see ``Link.inject``).
INJECTIONS: frozenset[Fault] = frozenset(
    {
        Fault.MALFORMED,
        Fault.OVERSIZED,
        Fault.UNKNOWN_EVENT,
        Fault.MISSING_EVENT_TYPE,
        Fault.MIDSTREAM_BOOK,
        Fault.NO_NEW_ASSETS,
    }
)


@dataclass(frozen=True, slots=True)
class LinkInfo:
    """What identifies a connection: its id, venue and WebSocket path."""

    conn_id: int
    venue: str
    path: str


@dataclass(frozen=True, slots=True)
class Target:
    """Which connections a fault applies to; ``None`` fields match anything.

    Example:
        >>> Target(venue="clob").matches(LinkInfo(3, "clob", "/ws/user"))
        True
        >>> Target(conn_id=4).matches(LinkInfo(3, "clob", "/ws/user"))
        False
    """

    conn_id: int | None = None
    venue: str | None = None
    path: str | None = None

    def matches(self, info: LinkInfo) -> bool:
        """Whether the connection described by ``info`` is targeted."""
        return (
            (self.conn_id is None or self.conn_id == info.conn_id)
            and (self.venue is None or self.venue == info.venue)
            and (self.path is None or self.path == info.path)
        )


@dataclass(slots=True)
class LinkFaults:
    """The fault conditions currently applied to one connection (read on its hot path)."""

    stalled: bool = False
    #: ``time.monotonic()`` deadline of a timed stall, or None for "until cleared".
    stall_until: float | None = None
    muted: bool = False
    skip_deltas: int = 0
    burst_events: int = 0
    burst_size: int = 3
    #: frame kind (as a front-end names it, e.g. ``"book_dump"``) -> how many to swallow
    skip_kinds: dict[str, int] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        """Whether any condition is set (the cheap check done for every frame)."""
        return (
            self.stalled
            or self.muted
            or self.skip_deltas > 0
            or self.burst_events > 0
            or bool(self.skip_kinds)
        )

    def take_skip(self, kind: str) -> bool:
        """Whether to swallow this frame of ``kind`` (uses up one of its ``skip_frames``)."""
        left = self.skip_kinds.get(kind, 0)
        if left <= 0:
            return False
        if left == 1:
            del self.skip_kinds[kind]
        else:
            self.skip_kinds[kind] = left - 1
        return True

    def is_stalled(self) -> bool:
        """Whether data is withheld right now (a timed stall ends by itself)."""
        if not self.stalled:
            return False
        if self.stall_until is not None and time.monotonic() >= self.stall_until:
            self.stalled = False
            self.stall_until = None
            return False
        return True


class FaultTarget(Protocol):
    """What the switchboard needs from a connection (implemented by ``server.Link``)."""

    @property
    def info(self) -> LinkInfo:
        """Connection id, venue and path."""
        ...

    @property
    def faults(self) -> LinkFaults:
        """The connection's mutable fault conditions."""
        ...

    def abort(self) -> None:
        """Drop the TCP connection without a closing handshake."""

    def inject(self, kind: Fault, params: Mapping[str, Any]) -> bool:
        """Send one injected frame; return whether the venue supports ``kind``."""
        ...


@dataclass(slots=True)
class _Sticky:
    target: Target
    kind: Fault
    params: dict[str, Any] = field(default_factory=dict)


class FaultSwitchboard:
    """The switches. One per simulator; shared by every venue front-end.

    Example:
        >>> board = FaultSwitchboard()
        >>> board.stall(Target(venue="us"))
        >>> board.clear()
        >>> dict(board.fired)
        {}
    """

    def __init__(self) -> None:
        self._links: dict[int, FaultTarget] = {}
        self._sticky: list[_Sticky] = []
        self._refuse_count: int | None = 0
        self._refuse_until: float | None = None
        #: The HTTP status upgrades are refused with (see :meth:`refuse_upgrades`).
        self.refusal_status = 429
        #: How many times each fault took effect (per connection for per-connection faults).
        self.fired: Counter[str] = Counter()
        #: Offset added to the simulator's clock, in milliseconds.
        self.clock_skew_ms = 0
        #: Called by :meth:`request_restart`; the server installs its restart coroutine here.
        self.on_restart: Callable[[float], object] | None = None

    # ------------------------------------------------------------------ registry (server side)

    def register(self, link: FaultTarget) -> None:
        """Track a new connection and apply the sticky conditions that target it."""
        self._links[link.info.conn_id] = link
        for sticky in self._sticky:
            if sticky.target.matches(link.info):
                self._apply_condition(link, sticky.kind, sticky.params)

    def unregister(self, link: FaultTarget) -> None:
        """Forget a closed connection."""
        self._links.pop(link.info.conn_id, None)

    def links(self, target: Target | None = None) -> list[FaultTarget]:
        """Open connections matching ``target`` (all when None), oldest first."""
        target = target or Target()
        return [link for link in self._links.values() if target.matches(link.info)]

    def count(self, kind: Fault, n: int = 1) -> None:
        """Count a fault that took effect."""
        self.fired[kind.value] += n

    # ------------------------------------------------------------------ actions

    def drop(self, target: Target | None = None) -> int:
        """Abort every matching connection (TCP reset, no closing handshake).

        Returns:
            The number of connections dropped.
        """
        links = self.links(target)
        for link in links:
            logger.info("fault: dropping connection %d (%s)", link.info.conn_id, link.info.path)
            link.abort()
            self.count(Fault.DROP)
        return len(links)

    def inject(self, kind: Fault | str, target: Target | None = None, **params: Any) -> int:
        """Send one injected frame of ``kind`` on every matching connection.

        Args:
            kind: One of :data:`INJECTIONS` (``malformed``, ``oversized``, ``unknown_event``,
                ``missing_event_type``, ``midstream_book``, ``no_new_assets``).
            target: Which connections (all when None).
            **params: Kind-specific options, e.g. ``size=`` (bytes) for ``oversized``.

        Returns:
            How many connections received the frame (venues that have no such frame, e.g.
            ``no_new_assets`` on the US venue, do not count).

        Raises:
            ValueError: ``kind`` is not an injection.
        """
        fault = Fault(kind)
        if fault not in INJECTIONS:
            raise ValueError(f"{fault.value} is not an injectable frame fault")
        sent = 0
        for link in self.links(target):
            if link.inject(fault, params):
                self.count(fault)
                sent += 1
        return sent

    def request_restart(self, downtime: float = 0.0) -> None:
        """Ask the server to restart (for callers without an event loop handle, e.g. the CLI)."""
        if self.on_restart is None:
            raise RuntimeError("no server is attached to this switchboard")
        self.on_restart(downtime)

    # ------------------------------------------------------------------ conditions

    def stall(self, target: Target | None = None, *, seconds: float | None = None) -> None:
        """Withhold data frames (heartbeats continue) on matching connections.

        Args:
            target: Which connections (all, including later ones, when None).
            seconds: End the stall by itself after this long; None = until :meth:`clear`.
        """
        self._condition(target, Fault.STALL, {"seconds": seconds})

    def mute_heartbeat(self, target: Target | None = None) -> None:
        """Stop answering PING (CLOB) / stop sending heartbeats (US) on matching connections."""
        self._condition(target, Fault.MUTE_HEARTBEAT, {})

    def skip_deltas(self, target: Target | None = None, *, count: int = 1) -> None:
        """Silently drop the next ``count`` delta frames (e.g. CLOB ``price_change``)."""
        self._condition(target, Fault.SKIP_DELTA, {"count": count})

    def skip_frames(self, target: Target | None = None, *, kind: str, count: int = 1) -> None:
        """Silently drop the next ``count`` data frames of ``kind`` on matching connections.

        ``kind`` is the front-end's name for the frame as counted in ``SimStats.frames_sent``
        (e.g. the CLOB's ``"book_dump"``, the answer to a subscription): losing it leaves the
        client with deltas for books it never received.

        Example:
            >>> board = FaultSwitchboard()
            >>> board.skip_frames(kind="book_dump", count=2)
            >>> board.fired["skip_frames"]
            0
        """
        self._condition(target, Fault.SKIP_FRAMES, {"kind": kind, "count": count})

    def burst_arrays(
        self, target: Target | None = None, *, events: int = 30, size: int = 3
    ) -> None:
        """Send the next ``events`` data events grouped into JSON arrays of up to ``size``."""
        self._condition(target, Fault.BURST_ARRAYS, {"events": events, "size": size})

    def clear(self, target: Target | None = None) -> None:
        """Lift every condition on matching connections (and forget matching sticky ones)."""
        target = target or Target()
        self._sticky = [s for s in self._sticky if not _covers(target, s.target)]
        for link in self.links(target):
            state = link.faults
            state.stalled = False
            state.stall_until = None
            state.muted = False
            state.skip_deltas = 0
            state.burst_events = 0
            state.skip_kinds.clear()
        if target == Target():
            self._refuse_count = 0
            self._refuse_until = None
            self.refusal_status = 429
            self.clock_skew_ms = 0

    def _condition(self, target: Target | None, kind: Fault, params: dict[str, Any]) -> None:
        target = target or Target()
        if target.conn_id is None:
            self._sticky.append(_Sticky(target, kind, params))
        for link in self.links(target):
            self._apply_condition(link, kind, params)

    def _apply_condition(self, link: FaultTarget, kind: Fault, params: Mapping[str, Any]) -> None:
        state = link.faults
        if kind is Fault.STALL:
            seconds = params.get("seconds")
            state.stalled = True
            state.stall_until = None if seconds is None else time.monotonic() + float(seconds)
        elif kind is Fault.MUTE_HEARTBEAT:
            state.muted = True
        elif kind is Fault.SKIP_DELTA:
            state.skip_deltas += int(params["count"])
        elif kind is Fault.BURST_ARRAYS:
            state.burst_events += int(params["events"])
            state.burst_size = max(1, int(params["size"]))
        elif kind is Fault.SKIP_FRAMES:
            frame_kind = str(params["kind"])
            state.skip_kinds[frame_kind] = state.skip_kinds.get(frame_kind, 0) + int(
                params["count"]
            )
        self.count(kind)
        logger.info(
            "fault: %s on connection %d (%s)", kind.value, link.info.conn_id, link.info.path
        )

    # ------------------------------------------------------------------ server-wide

    def refuse_upgrades(
        self, *, count: int | None = None, seconds: float | None = None, status: int = 429
    ) -> None:
        """Answer WebSocket upgrades with an HTTP error (429 by default).

        Args:
            count: Refuse this many upgrades, then accept again.
            seconds: Refuse for this long. With neither, refuse until :meth:`clear`.
            status: The HTTP status: 429 (rate limited, transient) or e.g. 401/403 (the
                credentials were revoked: fatal for a client).

        Example:
            >>> board = FaultSwitchboard()
            >>> board.refuse_upgrades(count=1, status=401)
            >>> board.refusal_status, board.take_upgrade_refusal("/v1/ws/markets")
            (401, True)
        """
        if not 400 <= status <= 599:
            raise ValueError(f"an upgrade refusal needs an HTTP error status, not {status}")
        self.refusal_status = status
        self._refuse_count = count
        self._refuse_until = None if seconds is None else time.monotonic() + seconds
        if count is None and seconds is None:
            self._refuse_count = None

    def take_upgrade_refusal(self, path: str) -> bool:
        """Decide (and count) whether to refuse the upgrade now being processed."""
        if self._refuse_until is not None:
            if time.monotonic() < self._refuse_until:
                self.count(Fault.REFUSE_UPGRADE)
                logger.info("fault: refusing upgrade to %s with %d", path, self.refusal_status)
                return True
            self._refuse_until = None
            self._refuse_count = 0
            return False
        if self._refuse_count is None:
            self.count(Fault.REFUSE_UPGRADE)
            return True
        if self._refuse_count > 0:
            self._refuse_count -= 1
            self.count(Fault.REFUSE_UPGRADE)
            logger.info("fault: refusing upgrade to %s with %d", path, self.refusal_status)
            return True
        return False

    def skew_clock(self, ms: int) -> None:
        """Shift the server clock (frame timestamps, auth windows) by ``ms`` milliseconds."""
        self.clock_skew_ms = int(ms)
        self.count(Fault.CLOCK_SKEW)


def _covers(outer: Target, inner: Target) -> bool:
    """Whether clearing ``outer`` should also remove a sticky condition set for ``inner``."""
    return all(
        o is None or o == i
        for o, i in (
            (outer.conn_id, inner.conn_id),
            (outer.venue, inner.venue),
            (outer.path, inner.path),
        )
    )


def parse_targets(values: Iterable[str]) -> Target:
    """Build a :class:`Target` from ``key=value`` strings (``conn=3``, ``venue=clob``, ``path=``).

    Example:
        >>> parse_targets(["venue=clob", "conn=2"])
        Target(conn_id=2, venue='clob', path=None)
    """
    fields: dict[str, Any] = {}
    for item in values:
        key, _, value = item.partition("=")
        if key == "conn":
            fields["conn_id"] = int(value)
        elif key in ("venue", "path"):
            fields[key] = value
        else:
            raise ValueError(f"unknown target key {key!r} (use conn=, venue=, path=)")
    return Target(**fields)
