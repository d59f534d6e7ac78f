"""Small keyword-only value objects: credentials (self-redacting) and limits.

Credentials never show their secret: not in ``repr``, ``str``, ``format``, error messages or
pickles (pickling is refused, so a secret cannot leak into a saved notebook state or a
multiprocessing queue by accident).

Example:
    >>> from polyresearch.config import UsCredentials
    >>> creds = UsCredentials(key_id="k-1", secret_key="c2VjcmV0")
    >>> creds
    UsCredentials(key_id='k-1', secret_key=<redacted>)
    >>> creds.secret_key.reveal()
    'c2VjcmV0'
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, NoReturn

from polyresearch.errors import ConfigError, CredentialsError

__all__ = [
    "DEFAULT_MAX_FRAME_BYTES",
    "ClobCredentials",
    "Secret",
    "UsCredentials",
]

#: Default largest frame the decoders accept. Peers configure 1-2 MiB for full books
#: (protocol-clob.md §1.1); initial dumps of many assets are arrays, so we allow 16 MiB.
DEFAULT_MAX_FRAME_BYTES: Final = 16 * 1024 * 1024

REDACTED: Final = "<redacted>"


class Secret:
    """A string that refuses to show itself. Call :meth:`reveal` where the value is needed.

    Example:
        >>> s = Secret("hunter2")
        >>> str(s), repr(s), f"{s}"
        ('<redacted>', '<redacted>', '<redacted>')
        >>> s.reveal()
        'hunter2'
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise CredentialsError(f"a secret must be a str, not {type(value).__name__}")
        self._value = value

    def reveal(self) -> str:
        """Return the secret value. Use only where it is sent or signed."""
        return self._value

    def __repr__(self) -> str:
        return REDACTED

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return REDACTED

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash((Secret, self._value))

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self) -> NoReturn:
        raise CredentialsError("secrets cannot be pickled; pass credentials again where needed")

    def __getstate__(self) -> NoReturn:
        # Python 3.11's default __getstate__ returns the slots, i.e. the plain secret, to any
        # serializer that asks for state directly instead of through __reduce_ex__.
        raise CredentialsError("secrets cannot be pickled; pass credentials again where needed")


def _secret(value: str | Secret, name: str) -> Secret:
    secret = value if isinstance(value, Secret) else Secret(value)
    if not secret:
        raise CredentialsError(f"{name} is empty")
    return secret


def _require(value: object, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise CredentialsError(f"{name} must be a non-empty str")
    return value


@dataclass(frozen=True, slots=True, repr=False)
class UsCredentials:
    """Polymarket US API key: the key id (public) and its Ed25519 secret key (base64).

    Args:
        key_id: the API key id (a UUID string from polymarket.us/developer).
        secret_key: the base64 secret, 32-byte seed or 64-byte seed+public form.

    Example:
        >>> UsCredentials(key_id="k", secret_key="c2VjcmV0").key_id
        'k'
    """

    key_id: str
    secret_key: Secret

    def __init__(self, *, key_id: str, secret_key: str | Secret) -> None:
        object.__setattr__(self, "key_id", _require(key_id, "key_id"))
        object.__setattr__(self, "secret_key", _secret(secret_key, "secret_key"))

    def __repr__(self) -> str:
        return f"UsCredentials(key_id={self.key_id!r}, secret_key={REDACTED})"

    __str__ = __repr__

    def __reduce__(self) -> NoReturn:
        raise CredentialsError("credentials cannot be pickled; pass them again where needed")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> UsCredentials:
        """Read ``POLYMARKET_US_KEY_ID`` and ``POLYMARKET_US_SECRET_KEY``.

        Raises:
            CredentialsError: naming the missing variable (never its value).
        """
        env = os.environ if environ is None else environ
        return cls(
            key_id=_env(env, "POLYMARKET_US_KEY_ID"),
            secret_key=_env(env, "POLYMARKET_US_SECRET_KEY"),
        )


@dataclass(frozen=True, slots=True, repr=False)
class ClobCredentials:
    """Polymarket CLOB L2 API credentials for the user channel.

    The API key is shown shortened (it appears in trade frames as ``owner`` anyway); the
    secret and passphrase are never shown.

    Example:
        >>> ClobCredentials(api_key="abcd-1234", secret="s", passphrase="p")
        ClobCredentials(api_key='abcd…', secret=<redacted>, passphrase=<redacted>)
    """

    api_key: str
    secret: Secret
    passphrase: Secret

    def __init__(self, *, api_key: str, secret: str | Secret, passphrase: str | Secret) -> None:
        object.__setattr__(self, "api_key", _require(api_key, "api_key"))
        object.__setattr__(self, "secret", _secret(secret, "secret"))
        object.__setattr__(self, "passphrase", _secret(passphrase, "passphrase"))

    def __repr__(self) -> str:
        return (
            f"ClobCredentials(api_key={self.api_key[:4] + '…'!r}, "
            f"secret={REDACTED}, passphrase={REDACTED})"
        )

    __str__ = __repr__

    def __reduce__(self) -> NoReturn:
        raise CredentialsError("credentials cannot be pickled; pass them again where needed")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ClobCredentials:
        """Read ``POLYMARKET_CLOB_API_KEY``, ``…_SECRET`` and ``…_PASSPHRASE``.

        Raises:
            CredentialsError: naming the missing variable (never its value).
        """
        env = os.environ if environ is None else environ
        return cls(
            api_key=_env(env, "POLYMARKET_CLOB_API_KEY"),
            secret=_env(env, "POLYMARKET_CLOB_SECRET"),
            passphrase=_env(env, "POLYMARKET_CLOB_PASSPHRASE"),
        )


def _env(environ: Mapping[str, str], name: str) -> str:
    value = environ.get(name)
    if not value:
        raise CredentialsError(f"environment variable {name} is not set")
    return value


def positive_int(value: object, name: str) -> int:
    """Validate a user-set limit: a positive int, or a :class:`ConfigError` naming it."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"{name} must be a positive int, got {value!r}")
    return value
