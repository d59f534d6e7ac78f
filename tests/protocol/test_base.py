"""FrameDecoder: size limit, UTF-8 check, drop accounting, the never-raise guarantee."""

from __future__ import annotations

import logging

import pytest

from polyresearch.errors import ConfigError
from polyresearch.protocol.base import FrameDecoder
from polyresearch.protocol.events import Event, Pong


class _EchoDecoder(FrameDecoder):
    """Decodes 'PONG' and raises on 'BOOM' to exercise the last line of defence."""

    def __init__(self, *, max_frame_bytes: int = 64) -> None:
        super().__init__("clob", "market", max_frame_bytes=max_frame_bytes)

    def _decode(self, text: str) -> list[Event]:
        if text == "BOOM":
            raise KeyError("secret-looking internals")
        if text == "PONG":
            return [Pong(kind="pong", venue="clob")]
        return [self.drop("not_json", "not JSON", text)]


def test_oversized_frame_is_dropped_and_counted() -> None:
    """A frame over max_frame_bytes becomes one 'oversized' drop; nothing is decoded."""
    decoder = _EchoDecoder(max_frame_bytes=8)
    events = decoder.receive("P" * 9)
    assert [e.kind for e in events] == ["dropped"]
    assert events[0].reason == "oversized"  # type: ignore[union-attr]
    assert decoder.stats().dropped == {"oversized": 1}


def test_multibyte_str_measured_in_utf8_bytes() -> None:
    """A str whose UTF-8 form exceeds the limit is oversized even if len() is under it."""
    decoder = _EchoDecoder(max_frame_bytes=8)
    assert decoder.receive("é" * 5)[0].reason == "oversized"  # type: ignore[union-attr]


def test_non_utf8_bytes_dropped() -> None:
    """Invalid UTF-8 bytes are dropped as not_utf8 with an excerpt."""
    decoder = _EchoDecoder()
    (event,) = decoder.receive(b"\xffPONG")
    assert event.kind == "dropped"
    assert event.reason == "not_utf8"  # type: ignore[union-attr]
    assert "PONG" in event.excerpt  # type: ignore[union-attr]


def test_decoder_bug_becomes_a_drop_not_an_exception(caplog: pytest.LogCaptureFixture) -> None:
    """An unexpected exception inside _decode is caught, logged and counted as wrong_shape."""
    decoder = _EchoDecoder()
    with caplog.at_level(logging.ERROR, logger="polyresearch.protocol"):
        (event,) = decoder.receive("BOOM")
    assert event.kind == "dropped"
    assert event.reason == "wrong_shape"  # type: ignore[union-attr]
    assert "KeyError" in event.detail  # type: ignore[union-attr]
    assert decoder.stats().dropped == {"wrong_shape": 1}
    assert caplog.records


def test_stats_snapshot_is_frozen_and_adds_up() -> None:
    """stats() counts frames, bytes, events by kind and drops; the snapshot does not change."""
    decoder = _EchoDecoder()
    decoder.receive("PONG")
    decoder.receive(b"PONG")
    decoder.receive("nope")
    snapshot = decoder.stats()
    decoder.receive("PONG")
    assert snapshot.frames_in == 3
    assert snapshot.bytes_in == 12
    assert snapshot.events_out == 2
    assert dict(snapshot.events_by_kind) == {"pong": 2}
    assert snapshot.dropped_total == 1
    assert decoder.stats().events_out == 3
    with pytest.raises(TypeError):
        snapshot.dropped["x"] = 1  # type: ignore[index]


def test_first_drop_of_a_reason_warns_then_debug(caplog: pytest.LogCaptureFixture) -> None:
    """The first drop of each reason logs at WARNING, repeats at DEBUG (no log floods)."""
    decoder = _EchoDecoder()
    with caplog.at_level(logging.DEBUG, logger="polyresearch.protocol"):
        decoder.receive("a")
        decoder.receive("b")
    levels = [r.levelno for r in caplog.records]
    assert levels == [logging.WARNING, logging.DEBUG]


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "10"])
def test_limit_must_be_positive_int(bad: object) -> None:
    """max_frame_bytes is validated with a ConfigError."""
    with pytest.raises(ConfigError):
        _EchoDecoder(max_frame_bytes=bad)  # type: ignore[arg-type]
