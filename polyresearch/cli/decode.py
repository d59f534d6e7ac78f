"""``python -m polyresearch decode``: look inside a capture of raw frames.

Reads raw frames, one per line, exactly as received (from a file or stdin), and writes one JSON
line per normalized event, ``{"line": N, "kind": ..., <the event's fields>}``, or per drop,
``{"line": N, "kind": "dropped", "reason": ...}``, then a summary of counts on stderr. Users
paste frames from their browser's devtools or a log into it.

Example:
    $ echo 'PONG' | python -m polyresearch decode --venue clob --channel market
    {"line":1,"kind":"pong","venue":"clob"}
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any

import msgspec

from polyresearch.config import DEFAULT_MAX_FRAME_BYTES
from polyresearch.protocol.base import FrameDecoder
from polyresearch.protocol.clob import ClobMarketDecoder, ClobUserDecoder
from polyresearch.protocol.events import Event
from polyresearch.protocol.us import UsMarketsDecoder, UsPrivateDecoder

__all__ = ["add_parser", "decoder_for", "run"]

CHANNELS: dict[str, dict[str, Callable[..., FrameDecoder]]] = {
    "clob": {"market": ClobMarketDecoder, "user": ClobUserDecoder},
    "us": {"markets": UsMarketsDecoder, "private": UsPrivateDecoder},
}


def decoder_for(venue: str, channel: str, *, max_frame_bytes: int) -> FrameDecoder:
    """Return a fresh decoder for a venue's channel.

    Raises:
        ConfigError: for an unknown venue/channel pair.
    """
    from polyresearch.errors import ConfigError

    try:
        cls = CHANNELS[venue][channel]
    except KeyError:
        choices = ", ".join(f"{v}/{c}" for v, cs in CHANNELS.items() for c in cs)
        message = f"unknown venue/channel {venue}/{channel}; choose one of {choices}"
        raise ConfigError(message) from None
    return cls(max_frame_bytes=max_frame_bytes)


def add_parser(subparsers: Any) -> None:
    """Register the ``decode`` sub-command."""
    parser = subparsers.add_parser(
        "decode",
        help="decode raw frames (one per line) into normalized events, as JSON lines",
        description=(__doc__ or "").split("\n\n")[1],
    )
    parser.add_argument("--venue", choices=sorted(CHANNELS), required=True)
    parser.add_argument(
        "--channel",
        required=True,
        choices=sorted({c for cs in CHANNELS.values() for c in cs}),
        help="clob: market|user; us: markets|private",
    )
    parser.add_argument(
        "file", nargs="?", default="-", help="a file of raw frames, one per line; - for stdin"
    )
    parser.add_argument(
        "--max-frame-bytes",
        type=int,
        default=DEFAULT_MAX_FRAME_BYTES,
        help="drop frames larger than this (default: %(default)s)",
    )
    parser.set_defaults(func=_main)


def _lines(stream: IO[bytes]) -> Iterator[tuple[int, bytes]]:
    for number, line in enumerate(stream, start=1):
        frame = line.rstrip(b"\n").removesuffix(b"\r")
        if frame.strip():
            yield number, frame


def _builtins(value: Any) -> Any:
    """``value`` as JSON-ready builtins, structs keyed by their attribute names.

    ``msgspec.to_builtins`` keys a struct by its encoded names, and ``PriceChange`` encodes
    ``kind``/``changes`` under their wire names; the output documents the events' fields.
    """
    if isinstance(value, msgspec.Struct):
        return {name: _builtins(getattr(value, name)) for name in value.__struct_fields__}
    if isinstance(value, tuple | list):
        return [_builtins(item) for item in value]
    return msgspec.to_builtins(value)


def _record(line: int, event: Event) -> dict[str, Any]:
    fields = _builtins(event)
    # Unset optional fields are left out: the output shows what the frame actually said.
    return {"line": line, **{k: v for k, v in fields.items() if v is not None}}


def run(decoder: FrameDecoder, frames: Iterable[tuple[int, bytes]], out: IO[str]) -> dict[str, Any]:
    """Decode numbered frames into JSON lines on ``out``; return the decoder's stats as a dict."""
    encoder = msgspec.json.Encoder()
    for number, frame in frames:
        for event in decoder.receive(frame):
            out.write(encoder.encode(_record(number, event)).decode())
            out.write("\n")
    stats = decoder.stats()
    return {
        "frames_in": stats.frames_in,
        "bytes_in": stats.bytes_in,
        "events_out": stats.events_out,
        "events_by_kind": dict(stats.events_by_kind),
        "dropped": dict(stats.dropped),
    }


def _main(args: argparse.Namespace) -> int:
    decoder = decoder_for(args.venue, args.channel, max_frame_bytes=args.max_frame_bytes)
    if args.file == "-":
        summary = run(decoder, _lines(sys.stdin.buffer), sys.stdout)
    else:
        with open(args.file, "rb") as stream:
            summary = run(decoder, _lines(stream), sys.stdout)
    sys.stdout.flush()
    sys.stderr.write(msgspec.json.encode(summary).decode() + "\n")
    return 0
