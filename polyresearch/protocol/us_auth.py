"""Polymarket US request signing: the Ed25519 ``X-PM-*`` headers, as a pure function.

Every authenticated request, including both WebSocket upgrades, carries three headers
(``docs/protocol-us.md`` §2): the key id, the time in milliseconds, and the standard base64
Ed25519 signature of ``timestamp + METHOD + path`` (no separators, no host, no query for the
WebSocket paths). The secret is a base64 32-byte seed, or the 64-byte seed+public-key form, of
which the first 32 bytes are the seed (as the official SDK does).

The clock is an argument, so the same inputs always give the same headers (Ed25519 is
deterministic) and the published test vectors can be checked exactly. Signing uses
``cryptography``; nothing here is hand-rolled. The secret never appears in an error message,
and the cached key objects do not show it either.

Example:
    >>> from polyresearch.config import UsCredentials
    >>> creds = UsCredentials(
    ...     key_id="test-key", secret_key="nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A="
    ... )
    >>> headers = ws_headers(creds, "markets", timestamp_ms=1700000000000)
    >>> headers["X-PM-Timestamp"], headers["X-PM-Signature"][:12]
    ('1700000000000', 'RPjv8kz5nw9A')
"""

from __future__ import annotations

import base64
import binascii
import functools
from typing import Final, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from polyresearch.config import Secret, UsCredentials
from polyresearch.errors import ConfigError, CredentialsError

__all__ = [
    "MARKETS_PATH",
    "PRIVATE_PATH",
    "auth_headers",
    "public_key_b64",
    "ws_headers",
]

#: Path of the markets socket; it is also the signed path.
MARKETS_PATH: Final = "/v1/ws/markets"
#: Path of the private socket; it is also the signed path.
PRIVATE_PATH: Final = "/v1/ws/private"
_WS_PATHS: Final = {"markets": MARKETS_PATH, "private": PRIVATE_PATH}

_SEED_BYTES: Final = 32
_KEYPAIR_BYTES: Final = 64
# A small bound: a session holds one or two keys; the cache only saves re-parsing per connect.
_KEY_CACHE_SIZE: Final = 16


def _decoded_secret(secret: Secret) -> bytes | None:
    """The secret's bytes, or ``None`` when it is not base64 (the error is not kept)."""
    try:
        # Strict alphabet: a lenient decode silently drops stray characters and signs with a
        # different key, which the venue would answer with a bare 401.
        return base64.b64decode(secret.reveal().strip(), validate=True)
    except (binascii.Error, ValueError):
        return None


@functools.lru_cache(maxsize=_KEY_CACHE_SIZE)
def _signing_key(secret: Secret) -> Ed25519PrivateKey:
    # Keyed by the Secret (hashable, redacted repr), so the cache shows nothing of the key.
    # Error paths keep neither the secret text nor its bytes in local variables, so even a
    # traceback rendered with locals (pytest --showlocals, rich) cannot show them.
    raw = _decoded_secret(secret)
    if raw is None:
        raise CredentialsError("secret_key is not valid base64") from None
    size = len(raw)
    if size not in (_SEED_BYTES, _KEYPAIR_BYTES):
        del raw
        raise CredentialsError(
            f"secret_key must decode to {_SEED_BYTES} or {_KEYPAIR_BYTES} bytes, got {size}"
        )
    return Ed25519PrivateKey.from_private_bytes(raw[:_SEED_BYTES])


def auth_headers(
    credentials: UsCredentials, method: str, path: str, *, timestamp_ms: int
) -> dict[str, str]:
    """Return the ``X-PM-*`` headers that authenticate one request.

    Args:
        credentials: the API key id and its base64 Ed25519 secret.
        method: the HTTP method (upper-cased before signing: the venue signs ``GET``).
        path: the request path as sent, starting with ``/`` (e.g. ``/v1/ws/private``).
        timestamp_ms: Unix time in milliseconds; the venue accepts 30 s of skew, so pass the
            current time when connecting (and sign again on every reconnect).

    Returns:
        ``X-PM-Access-Key``, ``X-PM-Timestamp`` and ``X-PM-Signature``, in that order.

    Raises:
        CredentialsError: when the secret is not base64 of 32 or 64 bytes (the message never
            contains the secret).
        ConfigError: on an empty method, a path without a leading ``/``, or a negative or
            non-int timestamp.

    Example:
        >>> from polyresearch.config import UsCredentials
        >>> creds = UsCredentials(
        ...     key_id="k", secret_key="nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A="
        ... )
        >>> sorted(auth_headers(creds, "GET", "/v1/ws/private", timestamp_ms=1))
        ['X-PM-Access-Key', 'X-PM-Signature', 'X-PM-Timestamp']
    """
    if not isinstance(credentials, UsCredentials):
        raise ConfigError(f"credentials must be UsCredentials, not {type(credentials).__name__}")
    verb = _checked_method(method)
    target = _checked_path(path)
    stamp = _checked_timestamp(timestamp_ms)
    signature = _signing_key(credentials.secret_key).sign(f"{stamp}{verb}{target}".encode())
    return {
        "X-PM-Access-Key": credentials.key_id,
        "X-PM-Timestamp": stamp,
        "X-PM-Signature": base64.b64encode(signature).decode("ascii"),
    }


def ws_headers(
    credentials: UsCredentials, channel: Literal["markets", "private"], *, timestamp_ms: int
) -> dict[str, str]:
    """Return the upgrade headers for the ``markets`` or ``private`` WebSocket.

    The same as :func:`auth_headers` with ``GET`` and the socket's path.

    Raises:
        ConfigError: for an unknown channel; see :func:`auth_headers` for the rest.

    Example:
        >>> from polyresearch.config import UsCredentials
        >>> creds = UsCredentials(
        ...     key_id="k", secret_key="nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A="
        ... )
        >>> ws_headers(creds, "private", timestamp_ms=1700000000000)["X-PM-Signature"][:8]
        'iRm0TQwq'
    """
    path = _WS_PATHS.get(channel)
    if path is None:
        raise ConfigError(f"channel must be 'markets' or 'private', got {channel!r}")
    return auth_headers(credentials, "GET", path, timestamp_ms=timestamp_ms)


def public_key_b64(credentials: UsCredentials) -> str:
    """Return the base64 raw Ed25519 public key of the credentials (safe to share).

    A local simulator keeps a key id -> public key table to verify our signatures.

    Raises:
        CredentialsError: when the secret is malformed.

    Example:
        >>> from polyresearch.config import UsCredentials
        >>> creds = UsCredentials(
        ...     key_id="k", secret_key="nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A="
        ... )
        >>> public_key_b64(creds)
        '11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo='
    """
    public = _signing_key(credentials.secret_key).public_key().public_bytes_raw()
    return base64.b64encode(public).decode("ascii")


def _checked_method(method: object) -> str:
    if not isinstance(method, str) or not method.strip():
        raise ConfigError("method must be a non-empty str such as 'GET'")
    return method.strip().upper()


def _checked_path(path: object) -> str:
    if not isinstance(path, str) or not path.startswith("/"):
        raise ConfigError(f"path must be a str starting with '/', got {path!r}")
    return path


def _checked_timestamp(timestamp_ms: object) -> str:
    if isinstance(timestamp_ms, bool) or not isinstance(timestamp_ms, int) or timestamp_ms < 0:
        raise ConfigError(
            f"timestamp_ms must be a non-negative int (Unix milliseconds), got {timestamp_ms!r}"
        )
    return str(timestamp_ms)
