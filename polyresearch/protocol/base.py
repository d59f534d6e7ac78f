"""What every venue decoder shares: the size limit, drop accounting and the stats snapshot.

A decoder's ``receive(frame)`` never raises for bad input. A frame it cannot use becomes a
:class:`~polyresearch.protocol.events.Dropped` event in the returned list, is counted under its
reason in :meth:`FrameDecoder.stats`, and is logged (the first drop of each reason at WARNING,
later ones at DEBUG, so a bad stream cannot flood a notebook's output).

Drop reasons (stable strings, used as table values and counter keys):

===================  ==============================================================
``oversized``        the frame is larger than ``max_frame_bytes``
``not_utf8``         a bytes frame that is not valid UTF-8
``not_json``         text that is neither JSON nor a known control text
``wrong_shape``      JSON whose shape or types do not match the event's schema
``unknown_event``    a well-formed object of an event kind we do not know
``unknown_text``     an unknown non-JSON control text (reserved for venues that send them)
===================  ==============================================================
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final, Literal

import msgspec

from polyresearch.config import positive_int
from polyresearch.errors import excerpt
from polyresearch.protocol.events import Dropped, Event, Venue

__all__ = [
    "DROP_REASONS",
    "DecoderStats",
    "FrameDecoder",
]

logger = logging.getLogger("polyresearch.protocol")

DropReason = Literal[
    "oversized", "not_utf8", "not_json", "wrong_shape", "unknown_event", "unknown_text"
]
DROP_REASONS: Final[tuple[str, ...]] = (
    "oversized",
    "not_utf8",
    "not_json",
    "wrong_shape",
    "unknown_event",
    "unknown_text",
)

# Built once: ``bytes | bytearray | memoryview`` in an isinstance() call builds a union per call.
_BINARY: Final = (bytes, bytearray, memoryview)


class DecoderStats(msgspec.Struct, frozen=True, kw_only=True):
    """A frozen snapshot of one decoder's counters.

    Attributes:
        venue: ``"clob"`` or ``"us"``.
        channel: the channel decoded (``market``/``user`` on CLOB, ``markets``/``private`` on US).
        frames_in: frames given to ``receive``.
        bytes_in: their total ``len()`` as given (characters for str frames, so approximate
            for non-ASCII text; exact UTF-8 size is computed only near the size limit).
        events_out: events returned, not counting drops.
        events_by_kind: events returned, by ``kind``.
        dropped: drops by reason (a frame may contribute several drops, e.g. one per bad item
            of an array).
    """

    venue: str
    channel: str
    frames_in: int
    bytes_in: int
    events_out: int
    events_by_kind: Mapping[str, int]
    dropped: Mapping[str, int]

    @property
    def dropped_total(self) -> int:
        """All drops, whatever the reason."""
        return sum(self.dropped.values())


class FrameDecoder:
    """Base of the venue decoders: size limit, UTF-8 check, drop accounting, stats.

    Subclasses implement :meth:`_decode` on a frame that passed the size and UTF-8 checks.

    Args:
        venue: ``"clob"`` or ``"us"``.
        channel: the channel name.
        max_frame_bytes: frames larger than this are dropped as ``oversized``.
    """

    def __init__(self, venue: Venue, channel: str, *, max_frame_bytes: int) -> None:
        self.venue: Venue = venue
        self.channel = channel
        self.max_frame_bytes = max_frame_bytes
        self._frames_in = 0
        self._bytes_in = 0
        self._events_out = 0
        # Plain dicts counted with get(): a Counter is a dict subclass whose missing keys go
        # through a Python-level __missing__.
        self._by_kind: dict[str, int] = {}
        self._dropped: dict[str, int] = {}

    @property
    def max_frame_bytes(self) -> int:
        """Frames larger than this many bytes are dropped as ``oversized``."""
        return self._max_frame_bytes

    @max_frame_bytes.setter
    def max_frame_bytes(self, value: int) -> None:
        self._max_frame_bytes = positive_int(value, "max_frame_bytes")
        # A str of n chars is at most 4n UTF-8 bytes: up to this many, it fits unmeasured.
        self._max_str_chars = self._max_frame_bytes // 4

    # Public methods for receiving data.

    def receive(self, frame: str | bytes) -> list[Event]:
        """Decode one raw frame into events, in wire order. Never raises for bad input.

        Args:
            frame: a text frame as ``str``, or its UTF-8 ``bytes``.

        Returns:
            The events of the frame, with a ``Dropped`` event for each part that could not be
            used (in place, so wire order is kept).
        """
        self._frames_in += 1
        size = len(frame)
        if size > self._max_str_chars and isinstance(frame, str):
            size = len(frame.encode("utf-8", "surrogatepass"))
        self._bytes_in += size
        if size > (limit := self._max_frame_bytes):
            return [self.drop("oversized", f"{size} bytes > max_frame_bytes={limit}", frame[:200])]
        if isinstance(frame, _BINARY):
            try:
                text = bytes(frame).decode("utf-8")
            except UnicodeDecodeError as exc:
                return [self.drop("not_utf8", str(exc), bytes(frame))]
        else:
            text = frame
        try:
            events = self._decode(text)
        except Exception as exc:  # the decoder's last line of defence: never crash a stream
            logger.exception("decoder bug on a %s/%s frame", self.venue, self.channel)
            return [self.drop("wrong_shape", f"decoder error: {type(exc).__name__}", text)]
        by_kind = self._by_kind
        for event in events:
            kind = event.kind
            if kind != "dropped":
                by_kind[kind] = by_kind.get(kind, 0) + 1
                self._events_out += 1
        return events

    def stats(self) -> DecoderStats:
        """Return a frozen snapshot of this decoder's counters."""
        return DecoderStats(
            venue=self.venue,
            channel=self.channel,
            frames_in=self._frames_in,
            bytes_in=self._bytes_in,
            events_out=self._events_out,
            events_by_kind=MappingProxyType(dict(self._by_kind)),
            dropped=MappingProxyType(dict(self._dropped)),
        )

    # Helpers for subclasses.

    def drop(self, reason: DropReason, detail: str, frame: str | bytes | None) -> Dropped:
        """Count, log and return a drop. ``frame`` is kept only as a truncated excerpt."""
        count = self._dropped.get(reason, 0)
        first = count == 0
        self._dropped[reason] = count + 1
        cut = excerpt(frame)
        logger.log(
            logging.WARNING if first else logging.DEBUG,
            "dropped %s/%s frame (%s): %s; frame=%r",
            self.venue,
            self.channel,
            reason,
            detail,
            cut,
        )
        return Dropped(kind="dropped", venue=self.venue, reason=reason, detail=detail, excerpt=cut)

    def _decode(self, text: str) -> list[Event]:  # pragma: no cover - abstract
        raise NotImplementedError
