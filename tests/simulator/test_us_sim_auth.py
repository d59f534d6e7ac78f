"""The simulator's US header verification: published vectors, the SDK's headers, every refusal."""

from __future__ import annotations

import base64
import doctest

import pytest

from polyresearch.simulator import us_auth
from polyresearch.simulator.us_auth import (
    DEMO_KEY_ID,
    DEMO_SECRET,
    AuthFailure,
    UsApiKey,
    UsKeyring,
    sign_headers,
    verify_headers,
)

# protocol-us.md §2: verified vectors for the SDK test key (RFC 8032 §7.1 TEST 1 seed).
KEYPAIR_B64 = (
    "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2DXWpgBgrEKt9VL/tPJZAc6DuFy89qmIyWvAhpo9wdRGg=="
)
PUBLIC_B64 = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
TS = 1_700_000_000_000
VECTORS = {
    "/v1/ws/markets": (
        "RPjv8kz5nw9An7FO+MV9l3iktZXvd9m4w/o+JGWarYesmixWgdUsCqolkUic1xtDLE1K7yAVZ+Re2D6Zll38CA=="
    ),
    "/v1/ws/private": (
        "iRm0TQwqG76YaGtU18UQO81tLkw1Jyr1qqP9TjklrUuzlXe0+gQKlk/v/21RQVNUjARn4vdXy7IURJeSXeReDw=="
    ),
}


def _ring() -> UsKeyring:
    return UsKeyring([UsApiKey.from_public_key("k1", PUBLIC_B64)])


def test_doc_examples_hold() -> None:
    """The module's docstring examples run and pass."""
    result = doctest.testmod(us_auth)
    assert result.attempted > 0
    assert result.failed == 0


@pytest.mark.parametrize("path", sorted(VECTORS))
def test_published_vectors_verify(path: str) -> None:
    """The documented signatures verify with the documented public key, at the documented time."""
    headers = {"X-PM-Access-Key": "k1", "X-PM-Timestamp": str(TS), "X-PM-Signature": VECTORS[path]}
    result = verify_headers(headers, path=path, now_ms=TS, keyring=_ring())
    assert result.ok, result.detail
    assert result.key is not None and result.key.key_id == "k1"


@pytest.mark.parametrize("secret", [DEMO_SECRET, KEYPAIR_B64])
@pytest.mark.parametrize("path", sorted(VECTORS))
def test_sign_headers_reproduces_vectors(secret: str, path: str) -> None:
    """Our signer yields the published signature for both secret forms (seed and seed‖public)."""
    assert sign_headers("k1", secret, "GET", path, TS)["X-PM-Signature"] == VECTORS[path]


def test_public_key_derived_from_secret() -> None:
    """The demo secret's public key is the documented one."""
    assert UsApiKey.from_secret(DEMO_KEY_ID, DEMO_SECRET).public_key_b64() == PUBLIC_B64


def test_sdk_headers_verify(monkeypatch: pytest.MonkeyPatch) -> None:
    """Headers made by the official SDK's own create_auth_headers are accepted."""
    from polymarket_us import auth as sdk_auth

    monkeypatch.setattr(sdk_auth.time, "time", lambda: TS / 1000)
    headers = sdk_auth.create_auth_headers("k1", DEMO_SECRET, "GET", "/v1/ws/private")
    result = verify_headers(headers, path="/v1/ws/private", now_ms=TS + 29_000, keyring=_ring())
    assert result.ok, result.detail


def test_header_names_case_insensitive() -> None:
    """Lower-case header names (as HTTP allows) are found in a plain dict."""
    headers = {k.lower(): v for k, v in sign_headers("k1", DEMO_SECRET, "GET", "/p", TS).items()}
    assert verify_headers(headers, path="/p", now_ms=TS, keyring=_ring()).ok


@pytest.mark.parametrize("missing", ["X-PM-Access-Key", "X-PM-Timestamp", "X-PM-Signature"])
def test_missing_header_refused(missing: str) -> None:
    """Any one of the three headers missing is MISSING_HEADERS."""
    headers = sign_headers("k1", DEMO_SECRET, "GET", "/v1/ws/markets", TS)
    del headers[missing]
    result = verify_headers(headers, path="/v1/ws/markets", now_ms=TS, keyring=_ring())
    assert not result.ok
    assert result.failure is AuthFailure.MISSING_HEADERS


def test_unknown_key_refused() -> None:
    """A key id not in the keyring is UNKNOWN_KEY, even with a valid signature."""
    headers = sign_headers("other", DEMO_SECRET, "GET", "/v1/ws/markets", TS)
    result = verify_headers(headers, path="/v1/ws/markets", now_ms=TS, keyring=_ring())
    assert result.failure is AuthFailure.UNKNOWN_KEY


@pytest.mark.parametrize("delta_ms", [30_001, -30_001, 3_600_000])
def test_stale_timestamp_refused(delta_ms: int) -> None:
    """A timestamp more than 30 s away from the server clock, either side, is STALE_TIMESTAMP."""
    headers = sign_headers("k1", DEMO_SECRET, "GET", "/v1/ws/markets", TS)
    result = verify_headers(headers, path="/v1/ws/markets", now_ms=TS + delta_ms, keyring=_ring())
    assert result.failure is AuthFailure.STALE_TIMESTAMP


@pytest.mark.parametrize("delta_ms", [30_000, -30_000, 0])
def test_window_edges_accepted(delta_ms: int) -> None:
    """Exactly ±30 s is still inside the window."""
    headers = sign_headers("k1", DEMO_SECRET, "GET", "/v1/ws/markets", TS)
    assert verify_headers(headers, path="/v1/ws/markets", now_ms=TS + delta_ms, keyring=_ring()).ok


def test_window_configurable() -> None:
    """A narrower window refuses what the default accepts."""
    headers = sign_headers("k1", DEMO_SECRET, "GET", "/v1/ws/markets", TS)
    result = verify_headers(
        headers, path="/v1/ws/markets", now_ms=TS + 5_000, keyring=_ring(), window_ms=1_000
    )
    assert result.failure is AuthFailure.STALE_TIMESTAMP


@pytest.mark.parametrize("timestamp", ["", "abc", "1.7e12", "-5", "+1700000000000", " 17"])
def test_bad_timestamp_refused(timestamp: str) -> None:
    """A timestamp that is not plain integer milliseconds is refused before verification."""
    headers = sign_headers("k1", DEMO_SECRET, "GET", "/v1/ws/markets", TS)
    headers["X-PM-Timestamp"] = timestamp
    result = verify_headers(headers, path="/v1/ws/markets", now_ms=TS, keyring=_ring())
    assert not result.ok
    assert result.failure in {AuthFailure.BAD_TIMESTAMP, AuthFailure.MISSING_HEADERS}


def test_signature_over_other_path_refused() -> None:
    """A signature over "/" (a known client mistake) does not open /v1/ws/markets."""
    headers = sign_headers("k1", DEMO_SECRET, "GET", "/", TS)
    result = verify_headers(headers, path="/v1/ws/markets", now_ms=TS, keyring=_ring())
    assert result.failure is AuthFailure.BAD_SIGNATURE


def test_signature_with_other_method_refused() -> None:
    """A POST signature does not authorize a GET upgrade."""
    headers = sign_headers("k1", DEMO_SECRET, "POST", "/v1/ws/markets", TS)
    result = verify_headers(headers, path="/v1/ws/markets", now_ms=TS, keyring=_ring())
    assert result.failure is AuthFailure.BAD_SIGNATURE


def test_signature_by_other_key_refused() -> None:
    """A signature by a different secret under our key id is BAD_SIGNATURE."""
    other = base64.b64encode(bytes(range(32))).decode()
    headers = sign_headers("k1", other, "GET", "/v1/ws/markets", TS)
    result = verify_headers(headers, path="/v1/ws/markets", now_ms=TS, keyring=_ring())
    assert result.failure is AuthFailure.BAD_SIGNATURE


@pytest.mark.parametrize(
    "signature", ["not base64!", base64.b64encode(b"short").decode(), "A" * 88 + "=="]
)
def test_malformed_signature_refused(signature: str) -> None:
    """Non-base64, wrong-length or garbage signatures are BAD_SIGNATURE, never an exception."""
    headers = sign_headers("k1", DEMO_SECRET, "GET", "/v1/ws/markets", TS)
    headers["X-PM-Signature"] = signature
    result = verify_headers(headers, path="/v1/ws/markets", now_ms=TS, keyring=_ring())
    assert result.failure is AuthFailure.BAD_SIGNATURE


def test_tampered_timestamp_refused() -> None:
    """Changing the timestamp after signing (replay with a fresh clock) breaks the signature."""
    headers = sign_headers("k1", DEMO_SECRET, "GET", "/v1/ws/markets", TS)
    headers["X-PM-Timestamp"] = str(TS + 1)
    result = verify_headers(headers, path="/v1/ws/markets", now_ms=TS, keyring=_ring())
    assert result.failure is AuthFailure.BAD_SIGNATURE


def test_details_never_contain_the_signature() -> None:
    """Failure details are safe to log: no signature, no secret."""
    headers = sign_headers("k1", DEMO_SECRET, "GET", "/", TS)
    result = verify_headers(headers, path="/v1/ws/markets", now_ms=TS, keyring=_ring())
    assert headers["X-PM-Signature"] not in result.detail
    assert DEMO_SECRET not in repr(result)
    assert headers["X-PM-Signature"] not in repr(result)


@pytest.mark.parametrize("bad", ["%%%", base64.b64encode(b"x" * 31).decode()])
def test_bad_key_material_rejected(bad: str) -> None:
    """Malformed secrets and public keys raise ValueError when building a key."""
    with pytest.raises(ValueError):
        UsApiKey.from_secret("k", bad)
    with pytest.raises(ValueError):
        UsApiKey.from_public_key("k", bad)


def test_demo_keyring() -> None:
    """The demo keyring knows exactly the demo key, mapped to the "us" account."""
    ring = UsKeyring.demo()
    key = ring.get(DEMO_KEY_ID)
    assert len(ring) == 1
    assert key is not None and key.account == "us"
    assert key.public_key_b64() == PUBLIC_B64
