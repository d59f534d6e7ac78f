"""Credentials secrecy: Secret, UsCredentials and ClobCredentials never show their secrets."""

from __future__ import annotations

import base64
import copy
import dataclasses
import logging
import pickle

import msgspec
import pytest

from polyresearch.config import ClobCredentials, Secret, UsCredentials
from polyresearch.errors import CredentialsError
from polyresearch.protocol.us_auth import ws_headers

SECRET = "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A="
CLOB_SECRET = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0"
PASSPHRASE = "correct-horse-battery-staple"


def forms(secret: str) -> list[str]:
    """The secret as text plus its decoded bytes in hex, repr and unpadded base64 forms."""
    out = [secret]
    try:
        raw = base64.b64decode(secret)
    except ValueError:
        raw = secret.encode()
    out += [raw.hex(), repr(raw)[2:-1], secret.rstrip("="), base64.b64encode(raw).decode()]
    return [form for form in out if len(form) >= 8]


def assert_hidden(text: str, *secrets: str) -> None:
    for secret in secrets:
        for form in forms(secret):
            assert form not in text, f"secret form {form[:6]}… shown"


def renderings(value: object) -> list[str]:
    return [
        repr(value),
        str(value),
        format(value),
        f"{value}",
        f"{value!r}",
        f"{value!s}",
        f"{value!a}",
        "%s %r" % (value, value),  # noqa: UP031 - %-formatting is what logging uses
        ascii(value),
        repr([value]),
        repr({"creds": value}),
    ]


# Secret.


def test_secret_renders_redacted_everywhere() -> None:
    """Every way of turning a Secret into text gives '<redacted>'."""
    secret = Secret(SECRET)
    for text in [*renderings(secret), format(secret, ">80"), f"{secret:.3}"]:
        assert "<redacted>" in text
        assert_hidden(text, SECRET)


def test_secret_reveal_returns_value() -> None:
    """reveal() is the one way to get the value back."""
    assert Secret(SECRET).reveal() == SECRET


def test_secret_equality_and_hash_without_showing_it() -> None:
    """Equal secrets compare and hash equal, so credentials can be dict keys."""
    assert Secret(SECRET) == Secret(SECRET)
    assert Secret(SECRET) != Secret(SECRET + "x")
    assert hash(Secret(SECRET)) == hash(Secret(SECRET))
    assert Secret(SECRET) != SECRET


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_secret_pickling_refused(protocol: int) -> None:
    """Pickling a Secret raises CredentialsError at every protocol, without the value."""
    with pytest.raises(CredentialsError) as info:
        pickle.dumps(Secret(SECRET), protocol=protocol)
    assert_hidden(str(info.value), SECRET)


@pytest.mark.parametrize(
    "leak",
    [copy.copy, copy.deepcopy, lambda s: s.__getstate__(), lambda s: s.__reduce_ex__(2)],
    ids=["copy", "deepcopy", "getstate", "reduce_ex"],
)
def test_secret_state_is_not_handed_out(leak: object) -> None:
    """copy, deepcopy and direct state requests (as serializers make) are refused too."""
    with pytest.raises(CredentialsError) as info:
        leak(Secret(SECRET))  # type: ignore[operator]
    assert_hidden(str(info.value), SECRET)


def test_secret_of_wrong_type_error_hides_value() -> None:
    """A non-str secret is refused by type name only."""
    with pytest.raises(CredentialsError, match="not bytes") as info:
        Secret(SECRET.encode())  # type: ignore[arg-type]
    assert_hidden(str(info.value), SECRET)


def test_secret_does_not_encode_to_json() -> None:
    """msgspec refuses to serialize a Secret, and says so without the value."""
    with pytest.raises(TypeError) as info:
        msgspec.json.encode(Secret(SECRET))
    assert_hidden(str(info.value), SECRET)


# UsCredentials.


def test_us_credentials_render_key_id_shortened_never_the_secret() -> None:
    """repr/str/format/f-strings show the key id's head and '<redacted>', never the secret."""
    creds = UsCredentials(key_id="key-123", secret_key=SECRET)
    assert repr(creds) == "UsCredentials(key_id='key-…', secret_key=<redacted>)"
    for text in renderings(creds):
        assert "key-" in text
        assert "key-123" not in text
        assert_hidden(text, SECRET)


@pytest.mark.parametrize("cls", [UsCredentials, ClobCredentials])
def test_repr_of_half_built_credentials_does_not_raise(cls: type) -> None:
    """Verbose tracebacks repr ``self`` of an ``__init__`` that raised: that must not fail."""
    half = object.__new__(cls)
    assert "<unset>" in repr(half)
    assert "<redacted>" in repr(half)


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_us_credentials_pickling_refused(protocol: int) -> None:
    """UsCredentials cannot be pickled (no secret in saved notebook state or queues)."""
    with pytest.raises(CredentialsError) as info:
        pickle.dumps(UsCredentials(key_id="k", secret_key=SECRET), protocol=protocol)
    assert_hidden(str(info.value), SECRET)


@pytest.mark.parametrize(
    "leak",
    [copy.copy, copy.deepcopy, dataclasses.asdict, dataclasses.astuple, msgspec.to_builtins],
    ids=["copy", "deepcopy", "asdict", "astuple", "to_builtins"],
)
def test_us_credentials_do_not_serialize(leak: object) -> None:
    """Generic serializers fail on the secret field, with messages free of it."""
    creds = UsCredentials(key_id="k", secret_key=SECRET)
    with pytest.raises((CredentialsError, TypeError)) as info:
        leak(creds)  # type: ignore[operator]
    assert_hidden(str(info.value), SECRET)


def test_us_credentials_state_is_redacted() -> None:
    """The dataclass's own __getstate__ only holds the redacting Secret."""
    creds = UsCredentials(key_id="k", secret_key=SECRET)
    assert_hidden(repr(creds.__getstate__()), SECRET)


def test_us_credentials_frozen_error_hides_secret() -> None:
    """Assigning to a field fails without printing the value."""
    creds = UsCredentials(key_id="k", secret_key=SECRET)
    with pytest.raises(dataclasses.FrozenInstanceError) as info:
        creds.secret_key = Secret("other")  # type: ignore[misc]
    assert_hidden(str(info.value), SECRET)


def test_us_credentials_accept_secret_object() -> None:
    """A Secret can be passed as is and is kept, not wrapped again."""
    secret = Secret(SECRET)
    assert UsCredentials(key_id="k", secret_key=secret).secret_key is secret


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"key_id": "", "secret_key": SECRET}, "key_id"),
        ({"key_id": "k", "secret_key": ""}, "secret_key is empty"),
        ({"key_id": 7, "secret_key": SECRET}, "key_id"),
        ({"key_id": "k", "secret_key": SECRET.encode()}, "not bytes"),
    ],
)
def test_us_credentials_validation_errors_hide_secret(
    kwargs: dict[str, object], message: str
) -> None:
    """Bad key ids or secrets raise CredentialsError naming the field, not the value."""
    with pytest.raises(CredentialsError, match=message) as info:
        UsCredentials(**kwargs)  # type: ignore[arg-type]
    assert_hidden(str(info.value), SECRET)


def test_us_from_env_reads_both_variables() -> None:
    """from_env takes the key id and secret from the two documented variables."""
    creds = UsCredentials.from_env(
        {"POLYMARKET_US_KEY_ID": "key-9", "POLYMARKET_US_SECRET_KEY": SECRET}
    )
    assert creds.key_id == "key-9"
    assert creds.secret_key.reveal() == SECRET


def test_us_from_env_defaults_to_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a mapping, from_env reads the process environment."""
    monkeypatch.setenv("POLYMARKET_US_KEY_ID", "key-env")
    monkeypatch.setenv("POLYMARKET_US_SECRET_KEY", SECRET)
    assert UsCredentials.from_env().key_id == "key-env"


@pytest.mark.parametrize(
    ("environ", "missing"),
    [
        ({"POLYMARKET_US_SECRET_KEY": SECRET}, "POLYMARKET_US_KEY_ID"),
        ({"POLYMARKET_US_KEY_ID": "k"}, "POLYMARKET_US_SECRET_KEY"),
        ({"POLYMARKET_US_KEY_ID": "k", "POLYMARKET_US_SECRET_KEY": ""}, "POLYMARKET_US_SECRET_KEY"),
    ],
)
def test_us_from_env_missing_variable(environ: dict[str, str], missing: str) -> None:
    """A missing or empty variable is named in the error; no value is shown."""
    with pytest.raises(CredentialsError, match=missing) as info:
        UsCredentials.from_env(environ)
    assert_hidden(str(info.value), SECRET)


def test_bad_secret_from_env_fails_signing_without_showing_it() -> None:
    """A malformed secret read from the environment fails at signing; the error hides it."""
    bad = "not-base64-but-long-enough-to-spot!"
    creds = UsCredentials.from_env({"POLYMARKET_US_KEY_ID": "k", "POLYMARKET_US_SECRET_KEY": bad})
    with pytest.raises(CredentialsError, match="base64") as info:
        ws_headers(creds, "markets", timestamp_ms=1)
    assert_hidden(str(info.value), bad)
    assert_hidden(repr(info.value), bad)


def test_logging_credentials_is_redacted(caplog: pytest.LogCaptureFixture) -> None:
    """Logging credentials with %s/%r (ruff G style) writes no secret."""
    creds = UsCredentials(key_id="k", secret_key=SECRET)
    with caplog.at_level(logging.DEBUG, logger="polyresearch.test"):
        logging.getLogger("polyresearch.test").debug("creds %s %r", creds, creds.secret_key)
    assert "<redacted>" in caplog.text
    assert_hidden(caplog.text, SECRET)


# ClobCredentials.


def test_clob_credentials_render_short_key_only() -> None:
    """repr shows four characters of the API key and neither secret nor passphrase."""
    creds = ClobCredentials(api_key="abcd-1234-efgh", secret=CLOB_SECRET, passphrase=PASSPHRASE)
    assert repr(creds) == (
        "ClobCredentials(api_key='abcd…', secret=<redacted>, passphrase=<redacted>)"
    )
    for text in renderings(creds):
        assert "1234-efgh" not in text
        assert_hidden(text, CLOB_SECRET, PASSPHRASE)


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_clob_credentials_pickling_refused(protocol: int) -> None:
    """ClobCredentials cannot be pickled either."""
    creds = ClobCredentials(api_key="abcd-1234", secret=CLOB_SECRET, passphrase=PASSPHRASE)
    with pytest.raises(CredentialsError) as info:
        pickle.dumps(creds, protocol=protocol)
    assert_hidden(str(info.value), CLOB_SECRET, PASSPHRASE)


@pytest.mark.parametrize(
    "leak",
    [copy.deepcopy, dataclasses.asdict, msgspec.to_builtins],
    ids=["deepcopy", "asdict", "to_builtins"],
)
def test_clob_credentials_do_not_serialize(leak: object) -> None:
    """Generic serializers fail on the secrets, with messages free of them."""
    creds = ClobCredentials(api_key="abcd-1234", secret=CLOB_SECRET, passphrase=PASSPHRASE)
    with pytest.raises((CredentialsError, TypeError)) as info:
        leak(creds)  # type: ignore[operator]
    assert_hidden(str(info.value), CLOB_SECRET, PASSPHRASE)


def test_clob_from_env_reads_three_variables() -> None:
    """from_env takes key, secret and passphrase from the documented variables."""
    creds = ClobCredentials.from_env(
        {
            "POLYMARKET_CLOB_API_KEY": "abcd-1234",
            "POLYMARKET_CLOB_SECRET": CLOB_SECRET,
            "POLYMARKET_CLOB_PASSPHRASE": PASSPHRASE,
        }
    )
    assert creds.api_key == "abcd-1234"
    assert creds.secret.reveal() == CLOB_SECRET
    assert creds.passphrase.reveal() == PASSPHRASE


@pytest.mark.parametrize(
    "missing",
    ["POLYMARKET_CLOB_API_KEY", "POLYMARKET_CLOB_SECRET", "POLYMARKET_CLOB_PASSPHRASE"],
)
def test_clob_from_env_missing_variable(missing: str) -> None:
    """A missing variable is named; the ones present are not echoed."""
    environ = {
        "POLYMARKET_CLOB_API_KEY": "abcd-1234",
        "POLYMARKET_CLOB_SECRET": CLOB_SECRET,
        "POLYMARKET_CLOB_PASSPHRASE": PASSPHRASE,
    }
    del environ[missing]
    with pytest.raises(CredentialsError, match=missing) as info:
        ClobCredentials.from_env(environ)
    assert_hidden(str(info.value), CLOB_SECRET, PASSPHRASE)


@pytest.mark.parametrize("field", ["secret", "passphrase"])
def test_clob_empty_secret_is_named(field: str) -> None:
    """An empty secret or passphrase raises naming the field."""
    kwargs = {"api_key": "abcd", "secret": CLOB_SECRET, "passphrase": PASSPHRASE, field: ""}
    with pytest.raises(CredentialsError, match=f"{field} is empty") as info:
        ClobCredentials(**kwargs)
    assert_hidden(str(info.value), CLOB_SECRET, PASSPHRASE)


# Verbose tracebacks print every frame's locals: no plain secret in a frame that raised.


def _frame_locals(exc: BaseException) -> str:
    import traceback

    summary = traceback.TracebackException.from_exception(exc, capture_locals=True)
    here = __file__
    return "\n".join(
        repr(frame.locals) for frame in summary.stack if frame.filename != here and frame.locals
    )


@pytest.mark.parametrize(
    "build",
    [
        lambda: UsCredentials(key_id="", secret_key=SECRET),
        lambda: UsCredentials(key_id=5, secret_key=SECRET),  # type: ignore[arg-type]
        lambda: ClobCredentials(api_key="", secret=SECRET, passphrase=SECRET + "p"),
        lambda: ClobCredentials(api_key="k", secret=SECRET, passphrase=""),
        lambda: Secret(SECRET.encode()),  # type: ignore[arg-type]
        lambda: UsCredentials(key_id="k", secret_key=SECRET.encode()),  # type: ignore[arg-type]
        lambda: UsCredentials.from_env({"POLYMARKET_US_SECRET_KEY": SECRET}),
        lambda: ClobCredentials.from_env(
            {"POLYMARKET_CLOB_API_KEY": "api-key-1", "POLYMARKET_CLOB_SECRET": SECRET}
        ),
    ],
    ids=["empty-key", "int-key", "empty-api-key", "empty-pass", "bytes", "bytes-us", "env", "env2"],
)
def test_failing_constructors_keep_no_plain_secret_in_frame_locals(build: object) -> None:
    """The frames between the call and the raise hold the secret only as a redacted Secret."""
    with pytest.raises(CredentialsError) as info:
        build()  # type: ignore[operator]
    shown = _frame_locals(info.value) + str(info.value)
    assert_hidden(shown, SECRET)
    assert SECRET.encode().hex() not in shown
    assert repr(SECRET.encode()) not in shown


def test_redacting_logger_hides_headers_and_frame_text(caplog: pytest.LogCaptureFixture) -> None:
    """Sensitive handshake headers and frame text are redacted before websockets formats them."""
    from websockets.frames import OP_TEXT, Frame

    from polyresearch.config import RedactingLogger

    log = RedactingLogger(logging.getLogger("websockets.test"), lambda s: s.replace(SECRET, "<x>"))
    frame = Frame(OP_TEXT, ('{"auth":{"secret":"' + SECRET + '"},' + " " * 200 + "}").encode())
    with caplog.at_level(logging.DEBUG, logger="websockets.test"):
        log.debug("> %s: %s", "X-PM-Signature", "c2lnbmF0dXJlc2lnbmF0dXJl")
        log.debug("> %s: %s", "Host", "127.0.0.1")
        log.debug("> %s", frame)
        log.info("plain %s", SECRET)
    text = caplog.text
    assert "c2lnbmF0dXJl" not in text and "X-PM-Signature: <redacted>" in text
    assert "Host: 127.0.0.1" in text
    assert '{"auth":{"secret":"<x>"}' in text  # redacted first, then cut by websockets
    assert_hidden(text, SECRET)
    assert SECRET[:12] not in text
