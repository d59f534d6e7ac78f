"""Ed25519 verification of Polymarket US upgrade headers, as the simulator's US venue does it.

Written from ``docs/protocol-us.md`` §2, independently of :mod:`polyresearch.protocol` (the
simulator must be able to catch our own client's mistakes). Every WebSocket upgrade to
``/v1/ws/markets`` or ``/v1/ws/private`` carries three headers:

- ``X-PM-Access-Key``: the API key id;
- ``X-PM-Timestamp``: Unix time in milliseconds, a decimal string;
- ``X-PM-Signature``: standard base64 of the 64-byte Ed25519 signature over the UTF-8 bytes of
  ``timestamp + "GET" + path`` (no host, no query).

The server accepts a timestamp within ±30 s of its own clock. All cryptography is done by the
``cryptography`` package; nothing here is hand-rolled.

Example:
    >>> key = UsApiKey.from_secret("k1", DEMO_SECRET)
    >>> ring = UsKeyring([key])
    >>> headers = sign_headers("k1", DEMO_SECRET, "GET", "/v1/ws/markets", 1_700_000_000_000)
    >>> verify_headers(headers, path="/v1/ws/markets", now_ms=1_700_000_000_500, keyring=ring).ok
    True
    >>> verify_headers({}, path="/v1/ws/markets", now_ms=0, keyring=ring).failure.value
    'missing_headers'
"""

from __future__ import annotations

import base64
import binascii
import enum
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

__all__ = [
    "ACCESS_KEY_HEADER",
    "DEMO_KEY_ID",
    "DEMO_SECRET",
    "SIGNATURE_HEADER",
    "SIGNATURE_WINDOW_MS",
    "TIMESTAMP_HEADER",
    "AuthFailure",
    "AuthResult",
    "UsApiKey",
    "UsKeyring",
    "header",
    "sign_headers",
    "verify_headers",
]

ACCESS_KEY_HEADER = "X-PM-Access-Key"
TIMESTAMP_HEADER = "X-PM-Timestamp"
SIGNATURE_HEADER = "X-PM-Signature"

#: The documented tolerance between the client's timestamp and the server clock (D-auth).
SIGNATURE_WINDOW_MS = 30_000

#: Key id of the simulator's US demo account. Not a real Polymarket key: the simulator only.
DEMO_KEY_ID = "00000000-5151-4000-8000-000000000001"

#: Secret of the demo account: the RFC 8032 §7.1 TEST 1 seed, which the official SDK's own test
#: suite also uses. Public by design, so that a notebook can connect to the simulator with no setup.
DEMO_SECRET = "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A="  # noqa: S105 - public test vector

# Millisecond timestamps are plain non-negative decimal integers; anything else is refused
# before int() can accept "+1", " 1" or "1_000".
_TIMESTAMP_RE = re.compile(r"[0-9]{1,19}")


class AuthFailure(enum.Enum):
    """Why an upgrade's headers were refused. All of them answer HTTP 401."""

    MISSING_HEADERS = "missing_headers"
    UNKNOWN_KEY = "unknown_key"
    BAD_TIMESTAMP = "bad_timestamp"
    STALE_TIMESTAMP = "stale_timestamp"
    BAD_SIGNATURE = "bad_signature"


def _decode_secret(secret_b64: str) -> Ed25519PrivateKey:
    """Turn the SDK's base64 secret (32-byte seed, or 64-byte seed‖public) into a private key."""
    try:
        raw = base64.b64decode(secret_b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("secret is not valid base64") from exc
    # Same rule as both official SDKs: a 64-byte key is seed followed by public key.
    if len(raw) == 64:
        raw = raw[:32]
    if len(raw) != 32:
        raise ValueError("secret must decode to a 32-byte seed or a 64-byte key")
    return Ed25519PrivateKey.from_private_bytes(raw)


@dataclass(frozen=True)
class UsApiKey:
    """One API key the simulator's US venue knows: its id, public key and account.

    Only the public key is kept; the simulator never needs the secret to verify.

    Example:
        >>> UsApiKey.from_secret("k", DEMO_SECRET).public_key_b64()
        '11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo='
    """

    key_id: str
    public_key: Ed25519PublicKey = field(repr=False)
    #: Which model account the key trades as (the simulator's US demo account is ``"us"``).
    account: str = "us"

    @classmethod
    def from_secret(cls, key_id: str, secret_b64: str, *, account: str = "us") -> UsApiKey:
        """Derive the public key from a base64 secret in the SDK's format."""
        return cls(key_id, _decode_secret(secret_b64).public_key(), account)

    @classmethod
    def from_public_key(cls, key_id: str, public_b64: str, *, account: str = "us") -> UsApiKey:
        """Build from a base64 32-byte raw Ed25519 public key."""
        try:
            raw = base64.b64decode(public_b64, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError("public key is not valid base64") from exc
        if len(raw) != 32:
            raise ValueError("an Ed25519 public key is 32 bytes")
        return cls(key_id, Ed25519PublicKey.from_public_bytes(raw), account)

    def public_key_b64(self) -> str:
        """Return the raw public key, base64."""
        raw = self.public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
        return base64.b64encode(raw).decode("ascii")


class UsKeyring:
    """The key id → public key table of the simulator's US venue.

    Example:
        >>> ring = UsKeyring.demo()
        >>> ring.get(DEMO_KEY_ID).account, ring.get("nope")
        ('us', None)
    """

    def __init__(self, keys: Iterable[UsApiKey] = ()) -> None:
        self._keys: dict[str, UsApiKey] = {}
        for key in keys:
            self.add(key)

    @classmethod
    def demo(cls) -> UsKeyring:
        """Return a keyring holding only the demo account's key."""
        return cls([UsApiKey.from_secret(DEMO_KEY_ID, DEMO_SECRET)])

    def add(self, key: UsApiKey) -> None:
        """Add or replace a key."""
        self._keys[key.key_id] = key

    def get(self, key_id: str) -> UsApiKey | None:
        """Return the key with that id, or None."""
        return self._keys.get(key_id)

    def __len__(self) -> int:
        return len(self._keys)


@dataclass(frozen=True)
class AuthResult:
    """The outcome of :func:`verify_headers`: the key on success, else the failure."""

    key: UsApiKey | None
    failure: AuthFailure | None = None
    #: A short human-readable reason, safe to log and to send back (never the signature).
    detail: str = ""

    @property
    def ok(self) -> bool:
        """Whether the headers were accepted."""
        return self.failure is None and self.key is not None


def header(headers: Mapping[str, str], name: str) -> str | None:
    """Look a header up case-insensitively (websockets' ``Headers`` is; a plain dict is not).

    Example:
        >>> header({"x-pm-timestamp": "1"}, TIMESTAMP_HEADER)
        '1'
        >>> from websockets.datastructures import Headers
        >>> header(Headers([("X-PM-Timestamp", "1"), ("x-pm-timestamp", "2")]), TIMESTAMP_HEADER)
    """
    lowered = name.lower()
    raw_items = getattr(headers, "raw_items", None)  # websockets' Headers: every value
    pairs = raw_items() if raw_items is not None else headers.items()
    values = [item for key, item in pairs if key.lower() == lowered]
    # A header sent twice is ambiguous: treated as missing (HTTP 401), where websockets'
    # ``Headers[name]`` would raise MultipleValuesError and fail the handshake with a 500
    # (found by fuzzing).
    return values[0] if len(values) == 1 else None


def verify_headers(
    headers: Mapping[str, str],
    *,
    path: str,
    now_ms: int,
    keyring: UsKeyring,
    method: str = "GET",
    window_ms: int = SIGNATURE_WINDOW_MS,
) -> AuthResult:
    """Check a request's ``X-PM-*`` headers against ``keyring`` and the server clock.

    Args:
        headers: The request headers (case-insensitive lookup is done here if needed).
        path: The request path without query (the signed path, e.g. ``/v1/ws/markets``).
        now_ms: The server's clock, Unix milliseconds (the simulator may skew it on purpose).
        keyring: Known keys.
        method: The HTTP method that was signed (``GET`` for upgrades).
        window_ms: Allowed distance between the timestamp and ``now_ms``, both directions.

    Returns:
        An :class:`AuthResult`; ``ok`` is true only for a known key, a fresh timestamp and a
        valid signature.

    Example:
        >>> ring = UsKeyring.demo()
        >>> h = sign_headers(DEMO_KEY_ID, DEMO_SECRET, "GET", "/v1/ws/private", 1_000_000)
        >>> verify_headers(h, path="/v1/ws/private", now_ms=1_031_000, keyring=ring).failure
        <AuthFailure.STALE_TIMESTAMP: 'stale_timestamp'>
    """
    key_id = header(headers, ACCESS_KEY_HEADER)
    timestamp = header(headers, TIMESTAMP_HEADER)
    signature = header(headers, SIGNATURE_HEADER)
    if not key_id or not timestamp or not signature:
        return AuthResult(None, AuthFailure.MISSING_HEADERS, "missing X-PM-* headers")
    key = keyring.get(key_id)
    if key is None:
        return AuthResult(None, AuthFailure.UNKNOWN_KEY, "unknown access key")
    if not _TIMESTAMP_RE.fullmatch(timestamp):
        return AuthResult(key, AuthFailure.BAD_TIMESTAMP, "timestamp is not integer milliseconds")
    if abs(now_ms - int(timestamp)) > window_ms:
        return AuthResult(key, AuthFailure.STALE_TIMESTAMP, "timestamp outside the allowed window")
    try:
        raw_signature = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        return AuthResult(key, AuthFailure.BAD_SIGNATURE, "signature is not base64")
    if len(raw_signature) != 64:
        return AuthResult(key, AuthFailure.BAD_SIGNATURE, "signature is not 64 bytes")
    message = f"{timestamp}{method}{path}".encode()
    try:
        key.public_key.verify(raw_signature, message)
    except InvalidSignature:
        return AuthResult(key, AuthFailure.BAD_SIGNATURE, "invalid signature")
    return AuthResult(key)


def sign_headers(
    key_id: str, secret_b64: str, method: str, path: str, timestamp_ms: int
) -> dict[str, str]:
    """Build the three ``X-PM-*`` headers the way the official SDK does, at a given time.

    The simulator never needs this; tests and raw clients that talk to it do.

    Example:
        >>> sign_headers(DEMO_KEY_ID, DEMO_SECRET, "GET", "/v1/ws/markets", 1_700_000_000_000)[
        ...     "X-PM-Signature"
        ... ][:16]
        'RPjv8kz5nw9An7FO'
    """
    timestamp = str(timestamp_ms)
    signature = _decode_secret(secret_b64).sign(f"{timestamp}{method}{path}".encode())
    return {
        ACCESS_KEY_HEADER: key_id,
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: base64.b64encode(signature).decode("ascii"),
    }
