"""Small keyword-only value objects: credentials (self-redacting) and limits.

Credentials never show their secret: not in ``repr``, ``str``, ``format``, error messages or
pickles (pickling is refused, so a secret cannot leak into a saved notebook state or a
multiprocessing queue by accident).

Example:
    >>> from polyresearch.config import UsCredentials
    >>> creds = UsCredentials(key_id="k-123456", secret_key="c2VjcmV0")
    >>> creds
    UsCredentials(key_id='k-12…', secret_key=<redacted>)
    >>> creds.secret_key.reveal()
    'c2VjcmV0'
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, NoReturn

from polyresearch.errors import ConfigError, CredentialsError

__all__ = [
    "DEFAULT_MAX_FRAME_BYTES",
    "SENSITIVE_HEADERS",
    "ClobCredentials",
    "RedactingLogger",
    "Secret",
    "UsCredentials",
]

#: Default largest frame the decoders accept. Peers configure 1-2 MiB for full books
#: (protocol-clob.md §1.1); initial dumps of many assets are arrays, so we allow 16 MiB.
DEFAULT_MAX_FRAME_BYTES: Final = 16 * 1024 * 1024

REDACTED: Final = "<redacted>"

#: HTTP headers whose values are credentials or signatures (lower case). websockets logs every
#: handshake header at DEBUG; these are shown as ``<redacted>``. (``X-PM-Timestamp`` stays
#: visible: it is what one checks when a clock skew gets the upgrade refused.)
SENSITIVE_HEADERS: Final = frozenset(
    {
        "authorization",
        "cookie",
        "set-cookie",
        "x-pm-access-key",
        "x-pm-signature",
        "poly_api_key",
        "poly_signature",
        "poly_passphrase",
        "poly_address",
    }
)


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
        wrong_type = _type_error(value)
        if wrong_type is not None:
            # Verbose tracebacks (IPython %xmode Verbose) print every frame's locals.
            del value
            raise wrong_type
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


def _secret(value: str | Secret, name: str) -> Secret | CredentialsError:
    """The value as a :class:`Secret`, or the error to raise (by a caller that drops the value).

    Returning the error instead of raising keeps the plain value out of the frames of the
    traceback: verbose tracebacks show every frame's local variables.
    """
    if isinstance(value, Secret):
        secret = value
    else:
        wrong_type = _type_error(value, name)
        if wrong_type is not None:
            return wrong_type
        secret = Secret(value)
    return secret if secret else CredentialsError(f"{name} is empty")


def _type_error(value: object, name: str = "a secret") -> CredentialsError | None:
    """The error for a secret that is not a str (naming only its type), else None."""
    if isinstance(value, str):
        return None
    return CredentialsError(f"{name} must be a str, not {type(value).__name__}")


def _shortened(obj: object, name: str) -> str:
    """An identifier's first 4 characters, for reprs (``'<unset>'`` mid-construction).

    Key ids and API keys are not secret on their own, but they name the account and are half
    of what a venue checks, so reprs, logs and tracebacks show only enough to tell keys apart.
    A repr must also never fail: verbose tracebacks (IPython ``%xmode Verbose``,
    ``traceback`` with ``capture_locals``) call it on objects whose ``__init__`` raised.
    """
    value = getattr(obj, name, None)
    return repr(value[:4] + "…") if isinstance(value, str) else "<unset>"


def _require(value: object, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise CredentialsError(f"{name} must be a non-empty str")
    return value


@dataclass(frozen=True, slots=True, repr=False)
class UsCredentials:
    """Polymarket US API key: the key id and its Ed25519 secret key (base64).

    The key id is shown shortened and the secret never (see :class:`Secret`).

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
        secret = _secret(secret_key, "secret_key")
        del secret_key  # see _secret: no plain secret in a frame that raises
        if isinstance(secret, CredentialsError):
            raise secret
        object.__setattr__(self, "secret_key", secret)
        object.__setattr__(self, "key_id", _require(key_id, "key_id"))

    def __repr__(self) -> str:
        return f"UsCredentials(key_id={_shortened(self, 'key_id')}, secret_key={REDACTED})"

    __str__ = __repr__

    def __reduce__(self) -> NoReturn:
        raise CredentialsError("credentials cannot be pickled; pass them again where needed")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> UsCredentials:
        """Read ``POLYMARKET_US_KEY_ID`` and ``POLYMARKET_US_SECRET_KEY``.

        Raises:
            CredentialsError: naming the missing variable (never its value).
        """
        values = _env(environ, "POLYMARKET_US_KEY_ID", "POLYMARKET_US_SECRET_KEY")
        del environ  # see _env
        if isinstance(values, CredentialsError):
            raise values
        return cls(key_id=values[0], secret_key=values[1])


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
        checked = (_secret(secret, "secret"), _secret(passphrase, "passphrase"))
        del secret, passphrase  # see _secret: no plain secret in a frame that raises
        for value in checked:
            if isinstance(value, CredentialsError):
                raise value
        object.__setattr__(self, "secret", checked[0])
        object.__setattr__(self, "passphrase", checked[1])
        object.__setattr__(self, "api_key", _require(api_key, "api_key"))

    def __repr__(self) -> str:
        return (
            f"ClobCredentials(api_key={_shortened(self, 'api_key')}, "
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
        values = _env(
            environ,
            "POLYMARKET_CLOB_API_KEY",
            "POLYMARKET_CLOB_SECRET",
            "POLYMARKET_CLOB_PASSPHRASE",
        )
        del environ  # see _env
        if isinstance(values, CredentialsError):
            raise values
        return cls(api_key=values[0], secret=values[1], passphrase=values[2])


def _env(environ: Mapping[str, str] | None, *names: str) -> tuple[str, ...] | CredentialsError:
    """The values of ``names``, or the error naming the first one missing or empty.

    The error is returned, not raised: the caller drops the environment (it holds secrets)
    before raising it, since verbose tracebacks print every frame's locals.
    """
    env = os.environ if environ is None else environ
    values: list[str] = []
    for name in names:
        value = env.get(name)
        if not value:
            return CredentialsError(f"environment variable {name} is not set")
        values.append(value)
    return tuple(values)


class RedactingLogger(logging.LoggerAdapter[logging.Logger]):
    """A logger that takes credentials out of every line before it is formatted.

    Meant for websockets' ``logger=`` argument: at DEBUG websockets logs every handshake
    header and every frame, which for us includes signed US upgrade headers and the CLOB user
    channel's ``auth`` object. Header values named in :data:`SENSITIVE_HEADERS` become
    ``<redacted>``; every str argument and the text of every frame object goes through
    ``redact`` first (before websockets cuts long frames to their head and tail, so no part
    of a secret survives the cut). The cost is paid only when the level is enabled.

    Args:
        logger: the logger to write to (e.g. ``logging.getLogger("websockets.client")``).
        redact: maps a text to its redacted form (e.g. known credential values replaced).

    Example:
        >>> log = RedactingLogger(logging.getLogger("demo"), lambda s: s.replace("pw1", "<x>"))
        >>> log.clean_args(("X-PM-Signature", "c2lnbmF0dXJl"))
        ('X-PM-Signature', '<redacted>')
        >>> log.clean_args(("pw1 and more",))
        ('<x> and more',)
    """

    def __init__(self, logger: logging.Logger, redact: Callable[[str], str]) -> None:
        super().__init__(logger, {})
        self._redact = redact

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        """Log with every argument cleaned (only when ``level`` is enabled)."""
        if self.isEnabledFor(level):
            clean = self._redact(msg) if isinstance(msg, str) else msg
            kwargs.setdefault("stacklevel", 2)
            self.logger.log(level, clean, *self.clean_args(args), **kwargs)

    def clean_args(self, args: tuple[object, ...]) -> tuple[object, ...]:
        """The arguments of one log call with credentials taken out."""
        if (
            len(args) == 2
            and isinstance(args[0], str)
            and args[0].strip().lower() in SENSITIVE_HEADERS
        ):
            return (args[0], REDACTED)
        return tuple(self._clean(arg) for arg in args)

    def _clean(self, arg: object) -> object:
        if isinstance(arg, str):
            return self._redact(arg)
        data = getattr(arg, "data", None)
        if dataclasses.is_dataclass(arg) and isinstance(data, bytes | bytearray | memoryview):
            # A websockets Frame: redact its text before its __str__ elides the middle.
            try:
                text = bytes(data).decode("utf-8")
            except UnicodeDecodeError:
                return arg
            clean = self._redact(text)
            if clean != text:
                return dataclasses.replace(arg, data=clean.encode())  # type: ignore[type-var]
        return arg


def positive_int(value: object, name: str) -> int:
    """Validate a user-set limit: a positive int, or a :class:`ConfigError` naming it."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"{name} must be a positive int, got {value!r}")
    return value
