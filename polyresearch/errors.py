"""The one exception tree of polyresearch.

Every exception polyresearch raises on purpose derives from :class:`PolyresearchError`, so
``except polyresearch.PolyresearchError`` catches all of them and nothing else::

    PolyresearchError
    ├── ConfigError                 bad arguments, limits or settings
    │   └── CredentialsError        missing/malformed credentials (never shows the secret)
    ├── ProtocolError               a frame or message that does not follow the venue's protocol
    │   ├── FrameDecodeError        not UTF-8, not JSON, or JSON of the wrong shape or types
    │   ├── FrameTooLargeError      a frame over the user-set size limit
    │   └── UnknownEventError       a well-formed frame of a kind we do not know
    ├── TransportError              connecting, heartbeats, reconnects
    │   └── AuthError               the venue refused our credentials (e.g. US upgrade 401/403)
    ├── StateError                  a book or table that cannot accept an event
    └── SimulatorError              the local exchange simulator was misused or failed

Errors carry context (venue, channel, a truncated excerpt of the offending frame) but never a
secret: excerpts are made with :func:`excerpt`, and credentials redact themselves.

Example:
    >>> from polyresearch.errors import FrameDecodeError, PolyresearchError
    >>> err = FrameDecodeError("not JSON", venue="clob", channel="market", frame="PONGX")
    >>> isinstance(err, PolyresearchError), str(err)
    (True, "not JSON (venue=clob, channel=market, frame='PONGX')")
"""

from __future__ import annotations

__all__ = [
    "AuthError",
    "ConfigError",
    "CredentialsError",
    "FrameDecodeError",
    "FrameTooLargeError",
    "PolyresearchError",
    "ProtocolError",
    "SimulatorError",
    "StateError",
    "TransportError",
    "UnknownEventError",
    "excerpt",
]

#: How many characters of an offending frame an error message or drop record shows.
EXCERPT_CHARS = 120


def excerpt(frame: str | bytes | None, limit: int = EXCERPT_CHARS) -> str:
    """Return a short, printable excerpt of a frame for error messages and drop records.

    Bytes are decoded leniently (invalid UTF-8 shown as replacement characters), and anything
    past ``limit`` characters is cut and marked with ``…(+N)``.

    Example:
        >>> excerpt("x" * 130, limit=4)
        'xxxx…(+126)'
    """
    if frame is None:
        return ""
    text = frame.decode("utf-8", "replace") if isinstance(frame, bytes | bytearray) else frame
    cut = text[:limit]
    # Lone surrogates (possible in str frames) cannot be written as UTF-8 or JSON: escape them.
    cut = cut.encode("utf-8", "backslashreplace").decode("utf-8")
    if len(text) <= limit:
        return cut
    return f"{cut}…(+{len(text) - limit})"


class PolyresearchError(Exception):
    """Root of every exception polyresearch raises on purpose."""


class ConfigError(PolyresearchError, ValueError):
    """A bad argument, limit or setting."""


class CredentialsError(ConfigError):
    """Missing or malformed credentials. The message never contains the secret."""


class ProtocolError(PolyresearchError):
    """A frame or message that does not follow the venue's protocol.

    Args:
        message: what is wrong.
        venue: ``"clob"`` or ``"us"`` when known.
        channel: the channel the frame arrived on when known.
        frame: the offending frame; only a truncated excerpt is kept.
    """

    def __init__(
        self,
        message: str,
        *,
        venue: str | None = None,
        channel: str | None = None,
        frame: str | bytes | None = None,
    ) -> None:
        self.message = message
        self.venue = venue
        self.channel = channel
        self.excerpt = excerpt(frame)
        super().__init__(message)

    def __str__(self) -> str:
        context = [
            f"{name}={value}"
            for name, value in (("venue", self.venue), ("channel", self.channel))
            if value
        ]
        if self.excerpt:
            context.append(f"frame={self.excerpt!r}")
        return f"{self.message} ({', '.join(context)})" if context else self.message

    def __reduce__(self) -> tuple[object, ...]:
        # Keep pickling (multiprocessing, ipyparallel) working with keyword-only context.
        return (
            _rebuild_protocol_error,
            (type(self), self.message, self.venue, self.channel, self.excerpt),
        )


def _rebuild_protocol_error(
    cls: type[ProtocolError], message: str, venue: str | None, channel: str | None, frame: str
) -> ProtocolError:
    return cls(message, venue=venue, channel=channel, frame=frame or None)


class FrameDecodeError(ProtocolError):
    """A frame that is not UTF-8, not JSON, or JSON of the wrong shape or types."""


class FrameTooLargeError(ProtocolError):
    """A frame larger than the user-set ``max_frame_bytes`` limit."""


class UnknownEventError(ProtocolError):
    """A well-formed frame whose event kind we do not know."""


class TransportError(PolyresearchError):
    """Connecting, heartbeats, reconnects."""


class AuthError(TransportError):
    """The venue refused our credentials. Fatal: retrying cannot help."""


class StateError(PolyresearchError):
    """A book or table that cannot accept an event."""


class SimulatorError(PolyresearchError):
    """The local exchange simulator was misused or failed."""
