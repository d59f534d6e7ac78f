"""The exception tree: one root, the documented branches, context without secrets."""

from __future__ import annotations

import pickle

import pytest

from polyresearch import errors
from polyresearch.errors import (
    AuthError,
    ConfigError,
    CredentialsError,
    FrameDecodeError,
    FrameTooLargeError,
    PolyresearchError,
    ProtocolError,
    SimulatorError,
    StateError,
    TransportError,
    UnknownEventError,
    excerpt,
)

TREE = {
    ConfigError: PolyresearchError,
    CredentialsError: ConfigError,
    ProtocolError: PolyresearchError,
    FrameDecodeError: ProtocolError,
    FrameTooLargeError: ProtocolError,
    UnknownEventError: ProtocolError,
    TransportError: PolyresearchError,
    AuthError: TransportError,
    StateError: PolyresearchError,
    SimulatorError: PolyresearchError,
}


@pytest.mark.parametrize(("child", "parent"), TREE.items())
def test_tree_shape(child: type[Exception], parent: type[Exception]) -> None:
    """Each error derives from the parent the module docstring draws."""
    assert child.__mro__[1] is parent or issubclass(child, parent)
    assert child.__name__ in (errors.__doc__ or "")


def test_every_exported_error_is_in_the_tree() -> None:
    """No exception class escapes the one root."""
    for name in errors.__all__:
        value = getattr(errors, name)
        if isinstance(value, type) and issubclass(value, Exception):
            assert issubclass(value, PolyresearchError), name


def test_protocol_error_context_and_excerpt() -> None:
    """A protocol error names venue and channel and shows only a truncated excerpt."""
    frame = "{" + "x" * 500
    err = FrameDecodeError("not JSON", venue="us", channel="private", frame=frame)
    text = str(err)
    assert "venue=us" in text and "channel=private" in text
    assert "x" * 121 not in text
    assert "…(+" in text


def test_protocol_error_pickles() -> None:
    """Protocol errors survive pickling (multiprocessing) with their context."""
    err = UnknownEventError("unknown", venue="clob", channel="market", frame="{}")
    clone = pickle.loads(pickle.dumps(err))
    assert type(clone) is UnknownEventError
    assert str(clone) == str(err)


def test_excerpt_handles_bytes_and_none() -> None:
    """Excerpts decode bytes leniently and accept None."""
    assert excerpt(None) == ""
    assert excerpt(b"\xff\xfeok") == "\ufffd\ufffdok"
    assert excerpt("abc", limit=2) == "ab…(+1)"


def test_excerpt_escapes_lone_surrogates() -> None:
    """A str frame with lone surrogates still gives an excerpt that encodes as UTF-8."""
    text = excerpt("ok\ud800" + "x" * 200)
    text.encode("utf-8")
    assert text.startswith("ok\\ud800")
