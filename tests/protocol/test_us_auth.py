"""Polymarket US Ed25519 upgrade headers: published vectors, the SDK cross-check, no leaks."""

from __future__ import annotations

import base64
import binascii
import traceback
import types

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from polyresearch.config import UsCredentials
from polyresearch.errors import ConfigError, CredentialsError
from polyresearch.protocol import us_auth
from polyresearch.protocol.us_auth import (
    MARKETS_PATH,
    PRIVATE_PATH,
    auth_headers,
    public_key_b64,
    ws_headers,
)

# protocol-us.md §2: the SDK test suite's public key (RFC 8032 §7.1 TEST 1 seed).
SEED_B64 = "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A="
KEYPAIR_B64 = (
    "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2DXWpgBgrEKt9VL/tPJZAc6DuFy89qmIyWvAhpo9wdRGg=="
)
PUBLIC_B64 = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
TS = 1700000000000
VECTORS = {
    MARKETS_PATH: (
        "RPjv8kz5nw9An7FO+MV9l3iktZXvd9m4w/o+JGWarYesmixWgdUsCqolkUic1xtDLE1K7yAVZ+Re2D6Zll38CA=="
    ),
    PRIVATE_PATH: (
        "iRm0TQwqG76YaGtU18UQO81tLkw1Jyr1qqP9TjklrUuzlXe0+gQKlk/v/21RQVNUjARn4vdXy7IURJeSXeReDw=="
    ),
}


def creds(secret: str = SEED_B64, key_id: str = "test-key") -> UsCredentials:
    return UsCredentials(key_id=key_id, secret_key=secret)


@pytest.mark.parametrize("path", [MARKETS_PATH, PRIVATE_PATH])
def test_published_vectors(path: str) -> None:
    """Both protocol-us.md §2 vectors are reproduced exactly from the 32-byte seed."""
    headers = auth_headers(creds(), "GET", path, timestamp_ms=TS)
    assert headers == {
        "X-PM-Access-Key": "test-key",
        "X-PM-Timestamp": "1700000000000",
        "X-PM-Signature": VECTORS[path],
    }


@pytest.mark.parametrize("path", [MARKETS_PATH, PRIVATE_PATH])
def test_published_vectors_from_64_byte_secret(path: str) -> None:
    """The 64-byte seed+public form signs identically (only its first 32 bytes are the seed)."""
    headers = auth_headers(creds(KEYPAIR_B64), "GET", path, timestamp_ms=TS)
    assert headers["X-PM-Signature"] == VECTORS[path]


@pytest.mark.parametrize(
    ("channel", "path"), [("markets", MARKETS_PATH), ("private", PRIVATE_PATH)]
)
def test_ws_headers_sign_get_on_the_socket_path(channel: str, path: str) -> None:
    """ws_headers(channel) is auth_headers with GET and the channel's path."""
    assert ws_headers(creds(), channel, timestamp_ms=TS) == auth_headers(  # type: ignore[arg-type]
        creds(), "GET", path, timestamp_ms=TS
    )


def test_header_order_and_names() -> None:
    """Headers come in the SDK's order: access key, timestamp, signature."""
    assert list(ws_headers(creds(), "markets", timestamp_ms=TS)) == [
        "X-PM-Access-Key",
        "X-PM-Timestamp",
        "X-PM-Signature",
    ]


def test_signature_verifies_over_timestamp_method_path() -> None:
    """The signature is Ed25519 over ts+METHOD+path, verifiable with the published public key."""
    headers = auth_headers(creds(), "POST", "/v1/orders", timestamp_ms=1234567890123)
    public = Ed25519PublicKey.from_public_bytes(base64.b64decode(PUBLIC_B64))
    signature = base64.b64decode(headers["X-PM-Signature"], validate=True)
    assert len(signature) == 64
    public.verify(signature, b"1234567890123POST/v1/orders")  # raises if wrong


def test_method_is_upper_cased() -> None:
    """A lower-case method signs as the upper-case verb the venue verifies."""
    lower = auth_headers(creds(), "get", MARKETS_PATH, timestamp_ms=TS)
    assert lower["X-PM-Signature"] == VECTORS[MARKETS_PATH]


def test_timestamp_changes_signature() -> None:
    """A different timestamp gives a different signature (the timestamp is signed)."""
    one = ws_headers(creds(), "markets", timestamp_ms=TS)
    two = ws_headers(creds(), "markets", timestamp_ms=TS + 1)
    assert one["X-PM-Signature"] != two["X-PM-Signature"]
    assert two["X-PM-Timestamp"] == "1700000000001"


def test_secret_with_surrounding_whitespace_is_accepted() -> None:
    """A trailing newline (common when read from a file or env) does not change the key."""
    headers = ws_headers(creds(f" {SEED_B64}\n"), "markets", timestamp_ms=TS)
    assert headers["X-PM-Signature"] == VECTORS[MARKETS_PATH]


def test_public_key_matches_published_key() -> None:
    """public_key_b64 derives the RFC 8032 TEST 1 public key from either secret form."""
    assert public_key_b64(creds()) == PUBLIC_B64
    assert public_key_b64(creds(KEYPAIR_B64)) == PUBLIC_B64


def test_signing_key_is_cached_per_secret() -> None:
    """The parsed key is reused for equal secrets, and its repr shows nothing of the seed."""
    first = us_auth._signing_key(creds().secret_key)
    again = us_auth._signing_key(creds(key_id="other").secret_key)
    assert first is again
    assert SEED_B64 not in repr(first)
    assert "9d61b19d" not in repr(first)


@pytest.mark.parametrize(
    ("method", "path", "timestamp"),
    [
        ("", MARKETS_PATH, TS),
        ("GET", "v1/ws/markets", TS),
        ("GET", MARKETS_PATH, -1),
        ("GET", MARKETS_PATH, True),
        ("GET", MARKETS_PATH, 1.7e12),
        ("GET", MARKETS_PATH, "1700000000000"),
    ],
)
def test_bad_request_arguments_raise_config_error(method: str, path: str, timestamp: int) -> None:
    """An empty method, a relative path or a non-int/negative timestamp is a ConfigError."""
    with pytest.raises(ConfigError):
        auth_headers(creds(), method, path, timestamp_ms=timestamp)


def test_unknown_channel_raises_config_error() -> None:
    """ws_headers only knows the two sockets."""
    with pytest.raises(ConfigError, match="markets"):
        ws_headers(creds(), "user", timestamp_ms=TS)  # type: ignore[arg-type]


def test_wrong_credentials_type_raises_config_error() -> None:
    """Passing CLOB-style or raw values instead of UsCredentials fails clearly."""
    with pytest.raises(ConfigError, match="UsCredentials"):
        auth_headers("key", "GET", MARKETS_PATH, timestamp_ms=TS)  # type: ignore[arg-type]


# Malformed secrets: each case names every form of the secret that must not leak.
_SHORT = base64.b64encode(b"\x9d" * 16).decode()
_LONG = base64.b64encode(bytes(range(33))).decode()
_NOT_B64 = "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A!"
_UNPADDED = "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"
_NON_ASCII = "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2é="


def _secret_forms(secret: str) -> list[str]:
    forms = [secret, secret.strip()]
    try:
        raw = base64.b64decode(secret, validate=False)
    except (binascii.Error, ValueError):
        return forms
    if raw:
        forms += [raw.hex(), repr(raw)[2:-1], base64.b64encode(raw).decode().rstrip("=")]
    return [form for form in forms if len(form) >= 8]


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        (_SHORT, "got 16"),
        (_LONG, "got 33"),
        (_NOT_B64, "not valid base64"),
        (_UNPADDED, "not valid base64"),
        (_NON_ASCII, "not valid base64"),
    ],
)
def test_malformed_secret_raises_without_showing_it(secret: str, message: str) -> None:
    """A bad secret raises CredentialsError whose text, repr and traceback hold no secret form."""
    with pytest.raises(CredentialsError, match=message) as info:
        ws_headers(creds(secret), "markets", timestamp_ms=TS)
    exc = info.value
    assert exc.__cause__ is None
    assert exc.__suppress_context__ or exc.__context__ is None
    # Tracebacks rendered with local variables (pytest --showlocals, rich) must be clean too:
    # only our own frames are checked, the test's locals hold the secret by construction.
    rendered = traceback.TracebackException.from_exception(exc, capture_locals=True)
    ours = [frame for frame in rendered.stack if "/polyresearch/" in frame.filename]
    assert ours, "the error should come from polyresearch"
    texts = [str(exc), repr(exc), *(" ".join((frame.locals or {}).values()) for frame in ours)]
    for form in _secret_forms(secret):
        for text in texts:
            assert form not in text


def test_sdk_auth_helper_agrees(monkeypatch: pytest.MonkeyPatch) -> None:
    """The official SDK's create_auth_headers gives our exact headers for a pinned clock."""
    sdk_auth = pytest.importorskip("polymarket_us.auth")
    # Replace the SDK module's view of `time` only, not the global clock.
    monkeypatch.setattr(sdk_auth, "time", types.SimpleNamespace(time=lambda: TS / 1000))
    for method, path in [
        ("GET", MARKETS_PATH),
        ("GET", PRIVATE_PATH),
        ("POST", "/v1/orders"),
        ("DELETE", "/v1/orders/ord-1"),
    ]:
        for secret in (SEED_B64, KEYPAIR_B64):
            expected = sdk_auth.create_auth_headers("test-key", secret, method, path)
            assert auth_headers(creds(secret), method, path, timestamp_ms=TS) == expected
