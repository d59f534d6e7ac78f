"""No credential leaks where a session leaves text: logs, reprs, errors, recordings, notebooks.

A session with credentials on both venues (the CLOB user channel, the US private socket) runs
against the simulator with every logger at DEBUG (ours, websockets' client and server, asyncio),
errors forced (wrong credentials on both venues, a malformed secret, bad frames, dropped
connections and reconnects) and every feed recorded. Then every log line (with tracebacks),
every repr/str of credentials, feeds, stats and tables, every exception (with chained causes and
the local variables of every frame, as IPython's verbose tracebacks show them), every recording
file (raw bytes, and the decoded Parquet values and metadata) and every notebook output is
searched for each secret in every encoding (see :mod:`tests.reliability._secret_search`).

Zero hits is the pass condition; the control tests plant a secret and see the search find it,
so the search itself can fail.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import logging
import pickle
import traceback
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import msgspec
import pyarrow.parquet as pq
import pytest

from polyresearch.config import ClobCredentials, UsCredentials
from polyresearch.errors import AuthError, CredentialsError, PolyresearchError
from polyresearch.feed import ClobFeed, Feed, UsFeed
from polyresearch.protocol.us_auth import ws_headers
from polyresearch.record import Recorder, record_feed, scan_recording
from polyresearch.simulator import Simulator, Target
from polyresearch.simulator.server import demo_credentials
from tests.conftest import wait_until
from tests.reliability._secret_search import SecretSearch

SEED = 808
NOTEBOOK_SEED = 809
LOGGERS = ("", "polyresearch", "websockets", "websockets.client", "websockets.server", "asyncio")


def _derived(label: str) -> bytes:
    return hashlib.sha256(f"polyresearch-secrets-test:{label}".encode()).digest()


#: Wrong credentials a user might type: secrets too, so they must not leak either.
WRONG_US_SECRET = base64.b64encode(_derived("us")).decode()
WRONG_CLOB_SECRET = base64.urlsafe_b64encode(_derived("clob-secret")).decode()
WRONG_CLOB_PASSPHRASE = _derived("clob-passphrase").hex()
#: Not base64: the signer refuses it (a CredentialsError that must not quote it).
MALFORMED_US_SECRET = "not*base64*" + _derived("malformed").hex()[:40]


def secrets_of(seed: int) -> tuple[dict[str, str], list[str]]:
    """Every credential value of the simulator ``seed`` and the wrong ones, and the Ed25519 keys."""
    clob, us = demo_credentials(seed)
    secrets = {
        "clob.api_key": clob.api_key,
        "clob.secret": clob.secret,
        "clob.passphrase": clob.passphrase,
        "us.key_id": us.key_id,
        "us.secret_key": us.secret_key,
        "wrong.us_secret": WRONG_US_SECRET,
        "wrong.clob_secret": WRONG_CLOB_SECRET,
        "wrong.clob_passphrase": WRONG_CLOB_PASSPHRASE,
        "malformed.us_secret": MALFORMED_US_SECRET,
    }
    return secrets, ["us.secret_key", "wrong.us_secret"]


# ---------------------------------------------------------------- capture helpers


class _Capture(logging.Handler):
    """Keeps every record fully formatted: message, traceback and stack."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@contextlib.contextmanager
def debug_logging() -> Iterator[_Capture]:
    """Every logger that matters at DEBUG, captured (websockets decides at connect time)."""
    capture = _Capture()
    loggers = [logging.getLogger(name) for name in LOGGERS]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.DEBUG)
    root = logging.getLogger()
    root.addHandler(capture)
    try:
        yield capture
    finally:
        root.removeHandler(capture)
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


TESTS = str(Path(__file__).resolve().parents[1])


def exception_texts(exc: BaseException) -> str:
    """What a user can see of an exception: str, repr, the chained traceback, frame locals.

    Frame locals are what verbose tracebacks (IPython ``%xmode Verbose``, pytest
    ``--showlocals``, error trackers) print; polyresearch's frames and those of the libraries
    it calls must hold no plain secret. The test's own frames are left out: they hold the
    plain demo values on purpose.
    """
    plain = "".join(traceback.format_exception(exc))
    verbose = traceback.TracebackException.from_exception(exc, capture_locals=True)
    seen: set[int] = set()
    todo = [verbose]
    while todo:
        te = todo.pop()
        if id(te) in seen:
            continue
        seen.add(id(te))
        for frame in te.stack:
            if frame.filename.startswith(TESTS):
                frame.locals = None
        todo += [t for t in (te.__cause__, te.__context__) if t is not None]
        todo += list(te.exceptions or ())
    return "\n".join([str(exc), repr(exc), plain, "".join(verbose.format())])


def recording_texts(directory: Path) -> dict[str, bytes]:
    """Every file's raw bytes, every decoded value and every file's Parquet metadata."""
    out: dict[str, bytes] = {}
    files = [p for p in directory.rglob("*") if p.is_file()]
    if not files:  # a feed refused before any socket opened records nothing
        return out
    for path in files:
        out[f"file {path.relative_to(directory)}"] = path.read_bytes() + str(path).encode()
        if path.suffix == ".parquet":
            table = pq.read_table(path)
            metadata = repr(table.schema.metadata).encode()
            out[f"parquet {path.name}"] = metadata + repr(table.to_pylist()).encode()
    frame = scan_recording(directory).collect()
    values = [v for v in frame["data"].to_list() if v is not None]
    out[f"decoded {directory.name}"] = b"\n".join(values) + repr(frame.rows()).encode()
    return out


def _loose(obj: Any) -> Any:
    return dict(obj) if isinstance(obj, Mapping) else repr(obj)


def feed_texts(name: str, feed: Feed) -> dict[str, str]:
    """Reprs of the feed, its stats (and their JSON), its tables and its error."""
    stats = feed.stats()
    out = {
        f"{name} repr": repr(feed) + str(feed),
        f"{name} stats": repr(stats) + msgspec.json.encode(stats, enc_hook=_loose).decode(),
        f"{name} connections": repr([c.connection.stats() for c in feed._channels if c.connection]),
        f"{name} store": repr(feed.store.stats()) + repr(feed.store.account),
    }
    for table in feed.tables:
        frame = feed.tables[table].to_polars()
        out[f"{name} table {table}"] = frame.write_csv() + repr(frame.rows())
    if feed.error is not None:
        out[f"{name} error"] = exception_texts(feed.error)
    return out


def credential_texts(*objects: Any) -> str:
    parts = []
    for obj in objects:
        parts += [repr(obj), str(obj), f"{obj}", f"{obj!r:>10}", format(obj, "")]
        with contextlib.suppress(Exception):
            parts.append(repr(vars(obj)))
    return "\n".join(parts)


def caught(fn: Any) -> str:
    """Run ``fn``, which must raise a PolyresearchError, and return what its error shows."""
    with pytest.raises(PolyresearchError) as info:
        fn()
    return exception_texts(info.value)


# ---------------------------------------------------------------- the search itself works


def test_search_finds_a_planted_secret_in_every_encoding() -> None:
    """Control: each secret, planted in any of its forms, is found; clean text is not."""
    secrets, ed25519 = secrets_of(SEED)
    search = SecretSearch(secrets, ed25519=ed25519)
    clob, us = demo_credentials(SEED)
    seed = base64.b64decode(us.secret_key)
    planted = {
        "raw": f"log: secret={clob.secret}",
        "cut": f'> TEXT \'{{"auth":{{"secret":"{clob.passphrase[:20]}...',
        "hex of the text": clob.secret.encode().hex(),
        "seed bytes repr": repr(seed),
        "seed hex": seed.hex().upper(),
        "seed urlsafe unpadded": base64.urlsafe_b64encode(seed).decode().rstrip("="),
        "private key b64": base64.b64encode(seed + _public(seed)).decode(),
        "passphrase bytes b64": base64.b64encode(bytes.fromhex(clob.passphrase)).decode(),
        "wrong secret": f"AuthError(... {WRONG_US_SECRET})",
    }
    for name, text in planted.items():
        assert search.hits(text), name
    assert search.hits(b"\x00" + seed + b"\x00")
    assert search.report({"clean": "UsCredentials(key_id='abcd…', secret_key=<redacted>)"}) == {}


def _public(seed: bytes) -> bytes:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    key = Ed25519PrivateKey.from_private_bytes(seed).public_key()
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


# ---------------------------------------------------------------- the session


async def _session(tmp_path: Path, capture: _Capture) -> dict[str, str | bytes]:
    """Run the whole session; return every haystack by name."""
    haystacks: dict[str, str | bytes] = {}
    async with Simulator(seed=SEED, markets=3, rate=300, heartbeat_interval=0.5) as sim:
        c, u = sim.clob_credentials, sim.us_credentials
        clob_creds = ClobCredentials(api_key=c.api_key, secret=c.secret, passphrase=c.passphrase)
        us_creds = UsCredentials(key_id=u.key_id, secret_key=u.secret_key)
        slugs = [m.slug for m in sim.markets()]
        feeds: dict[str, Feed] = {
            "clob": ClobFeed(
                assets=[t for m in sim.markets() for t in m.token_ids],
                url=sim.clob_market_url,
                user_url=sim.clob_user_url,
                credentials=clob_creds,
            ),
            "us": UsFeed(slugs=slugs, credentials=us_creds, base_url=sim.ws_url, private=True),
            # Wrong secret and passphrase: the server closes the user channel; we reconnect.
            "bad_clob": ClobFeed(
                url=sim.clob_market_url,
                user_url=sim.clob_user_url,
                credentials=ClobCredentials(
                    api_key=c.api_key, secret=WRONG_CLOB_SECRET, passphrase=WRONG_CLOB_PASSPHRASE
                ),
            ),
            # A well-formed but wrong key: the upgrade is refused with 401 (fatal AuthError).
            "bad_us": UsFeed(
                slugs=slugs[:1],
                credentials=UsCredentials(key_id=u.key_id, secret_key=WRONG_US_SECRET),
                base_url=sim.ws_url,
                private=True,
            ),
            # Not base64 at all: signing fails before any connect (fatal CredentialsError).
            "malformed_us": UsFeed(
                slugs=slugs[:1],
                credentials=UsCredentials(key_id=u.key_id, secret_key=MALFORMED_US_SECRET),
                base_url=sim.ws_url,
            ),
        }
        recorders: dict[str, Recorder] = {
            name: record_feed(feed, tmp_path / name) for name, feed in feeds.items()
        }
        async with contextlib.AsyncExitStack() as stack:
            for feed in feeds.values():
                await stack.enter_async_context(feed)
            clob_feed, us_feed = feeds["clob"], feeds["us"]
            await clob_feed.wait_for(lambda f: len(f.tables.orders) > 0, within=40)
            private = ("orders", "positions", "balances")
            await us_feed.wait_for(lambda f: any(len(f.tables[t]) for t in private), within=40)

            # Bad frames on every socket, the authenticated ones included.
            assert sim.faults.inject("malformed") >= 4
            assert sim.faults.inject("unknown_event", Target(venue="clob")) >= 2
            await clob_feed.wait_for(lambda f: sum(f.stats().dropped.values()) >= 2, within=20)
            await us_feed.wait_for(lambda f: sum(f.stats().dropped.values()) >= 2, within=20)

            # Reconnects: every socket dropped; the feeds re-sign and re-authenticate.
            assert sim.faults.drop() >= 4
            for feed in (clob_feed, us_feed):
                await feed.wait_for(lambda f: f.stats().reconnects >= 2, within=30)
            user = next(ch.connection for ch in clob_feed._channels if ch.channel == "user")
            assert user is not None
            await wait_until(lambda: user.epoch >= 2 and user.state == "connected", 30)

            # The wrong credentials failed in the ways they must.
            with pytest.raises(AuthError) as refused:
                await feeds["bad_us"].wait_for(lambda f: False, within=30)
            with pytest.raises(CredentialsError) as malformed:
                await feeds["malformed_us"].wait_for(lambda f: False, within=30)
            await feeds["bad_clob"].wait_for(
                lambda f: f.tables.status.to_polars()["event"].to_list().count("disconnect") >= 2,
                within=30,
            )
            assert "401" in str(refused.value)
            haystacks["AuthError"] = exception_texts(refused.value)
            haystacks["CredentialsError"] = exception_texts(malformed.value)
            sim.pause()
            await asyncio.sleep(0.2)
        for name, recorder in recorders.items():
            recorder.close()
            haystacks[f"{name} recorder"] = repr(recorder.stats())
        for name, feed in feeds.items():
            haystacks.update(feed_texts(name, feed))
        haystacks["credentials"] = credential_texts(
            clob_creds,
            us_creds,
            clob_creds.secret,
            clob_creds.passphrase,
            us_creds.secret_key,
            feeds["bad_us"].credentials,  # type: ignore[attr-defined]
        )
        haystacks["simulator"] = repr(sim.config) + repr(sim.stats()) + repr(c) + repr(u)

    # Errors a user provokes with credentials in hand.
    haystacks["missing env"] = caught(
        lambda: ClobCredentials.from_env(
            {"POLYMARKET_CLOB_API_KEY": c.api_key, "POLYMARKET_CLOB_SECRET": c.secret}
        )
    )
    haystacks["empty key id"] = caught(lambda: UsCredentials(key_id="", secret_key=u.secret_key))
    haystacks["pickle"] = caught(lambda: pickle.dumps(clob_creds)) + caught(
        lambda: pickle.dumps(us_creds.secret_key)
    )
    haystacks["bad signer"] = caught(
        lambda: ws_headers(
            UsCredentials(key_id=u.key_id, secret_key=MALFORMED_US_SECRET),
            "private",
            timestamp_ms=1,
        )
    )
    for name in feeds:
        haystacks.update(recording_texts(tmp_path / name))
    # The authenticated sockets (and the refused CLOB one) really were recorded.
    for name in ("clob", "us", "bad_clob"):
        assert any(key.startswith(f"decoded {name}") for key in haystacks), name
    haystacks["logs"] = "\n".join(capture.lines)
    return haystacks


async def test_full_session_leaks_no_secret(tmp_path: Path) -> None:
    """Logs, reprs, stats, tables, errors and recordings of a faulty session: zero hits."""
    secrets, ed25519 = secrets_of(SEED)
    search = SecretSearch(secrets, ed25519=ed25519)
    with debug_logging() as capture:
        haystacks = await _session(tmp_path, capture)
    # The session really ran at DEBUG through the places secrets pass.
    logs = str(haystacks["logs"])
    assert "> GET /v1/ws/private HTTP/1.1" in logs  # websockets' client handshake lines
    assert "< GET /v1/ws/private HTTP/1.1" in logs  # ... and the server's
    assert "> TEXT" in logs and "< TEXT" in logs  # frames both ways
    assert len(capture.lines) > 200
    # Control: the same search over the same haystacks plus one planted secret finds it.
    planted = dict(haystacks, planted=str(haystacks["logs"]) + secrets["clob.secret"])
    assert "planted" in search.report(planted)
    assert search.report(haystacks) == {}, search.explain(haystacks)
    print(f"\nsecrets e2e: {len(haystacks)} haystacks, {len(capture.lines)} log lines, 0 hits")


# ---------------------------------------------------------------- the notebook

NOTEBOOK_CELLS = [
    """\
import asyncio, base64, hashlib, logging, sys
logging.basicConfig(level=logging.DEBUG, stream=sys.stdout, force=True,
                    format="%(name)s %(levelname)s %(message)s")
from polyresearch.config import ClobCredentials, Secret, UsCredentials
from polyresearch.feed import ClobFeed, UsFeed
from polyresearch.simulator import Simulator
sim = Simulator(seed=SEED, markets=2, rate=200, heartbeat_interval=0.5)
await sim.start()
c, u = sim.clob_credentials, sim.us_credentials
clob_creds = ClobCredentials(api_key=c.api_key, secret=c.secret, passphrase=c.passphrase)
us_creds = UsCredentials(key_id=u.key_id, secret_key=u.secret_key)
del c, u  # the simulator's plain strings are not needed past here
print(clob_creds, us_creds, clob_creds.secret, us_creds.secret_key)
clob_creds""",
    """\
us_creds""",
    """\
clob = ClobFeed(assets=[t for m in sim.markets() for t in m.token_ids],
                url=sim.clob_market_url, user_url=sim.clob_user_url, credentials=clob_creds)
us = UsFeed(slugs=[m.slug for m in sim.markets()], credentials=us_creds,
            base_url=sim.ws_url, private=True)
clob.start(); us.start()
await clob.wait_for(lambda f: len(f.tables.orders) > 0, within=40)
await us.wait_for(lambda f: len(f.tables.balances) + len(f.tables.orders) > 0, within=40)
print(clob.stats()); print(us.stats())
display(clob, us, clob.tables.status.to_polars(), us.tables.status.to_polars())""",
    """\
sim.faults.inject("malformed"); sim.faults.drop()
await clob.wait_for(lambda f: f.stats().reconnects >= 1, within=30)
await us.wait_for(lambda f: f.stats().reconnects >= 1, within=30)
print(clob.stats().dropped, us.stats().dropped)""",
    """\
%xmode Verbose""",
    """\
digest = hashlib.sha256(b"polyresearch-secrets-test:us").digest
wrong = Secret(base64.b64encode(digest()).decode())
del digest
bad = UsFeed(slugs=[], credentials=UsCredentials(key_id=us_creds.key_id, secret_key=wrong),
             base_url=sim.ws_url, private=True)
bad.start()
await bad.wait_for(lambda f: False, within=30)  # raises AuthError (401)""",
    """\
display(bad.error); print(repr(bad.error)); print(bad.stats())""",
    """\
from polyresearch.protocol.us_auth import ws_headers
ws_headers(bad.credentials, "private", timestamp_ms=1)  # fine: signs with the wrong key
hexdigest = hashlib.sha256(b"polyresearch-secrets-test:malformed").hexdigest
bad_format = Secret("not*base64*" + hexdigest()[:40])
del hexdigest
malformed = UsCredentials(key_id=us_creds.key_id, secret_key=bad_format)
ws_headers(malformed, "private", timestamp_ms=1)""",
    """\
await bad.stop(); await clob.stop(); await us.stop(); await sim.stop()
# Quiet from here: DEBUG lines written while the kernel shuts its streams down are noise.
logging.basicConfig(force=True, level=logging.WARNING, handlers=[logging.NullHandler()])
print("done")""",
]


@pytest.mark.notebook
def test_notebook_outputs_leak_no_secret(tmp_path: Path) -> None:
    """A generated notebook uses credentials, prints reprs, raises: no output holds a secret."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    cells = [cell.replace("SEED", str(NOTEBOOK_SEED)) for cell in NOTEBOOK_CELLS]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(src) for src in cells])
    path = tmp_path / "secrets.ipynb"
    nbformat.write(nb, path)
    client = nbclient.NotebookClient(
        nb, kernel_name="python3", timeout=90, allow_errors=True,
        resources={"metadata": {"path": str(tmp_path)}},
    )  # fmt: skip
    client.execute()
    nbformat.write(nb, path)

    outputs = [cell.get("outputs", []) for cell in nb.cells]
    errors = {
        i: o["ename"] for i, out in enumerate(outputs) for o in out if o["output_type"] == "error"
    }
    # Exactly the two cells meant to raise did, with our typed errors.
    assert errors == {5: "AuthError", 7: "CredentialsError"}, [
        (o["ename"], o["evalue"][:200]) for out in outputs for o in out if "ename" in o
    ]
    text = json.dumps(outputs, ensure_ascii=False)
    assert "<redacted>" in text and "ClobCredentials(" in text and "UsCredentials(" in text
    assert "HTTP 401" in text
    assert "websockets.client DEBUG > GET /v1/ws/private" in text  # DEBUG logs are in the outputs
    assert "done" in json.dumps(outputs[-1])

    secrets, ed25519 = secrets_of(NOTEBOOK_SEED)
    search = SecretSearch(secrets, ed25519=ed25519)
    haystacks: dict[str, str | bytes] = {
        f"cell {i}": json.dumps(out) for i, out in enumerate(outputs)
    }
    haystacks["cell outputs (unescaped)"] = text
    haystacks["notebook file"] = path.read_bytes()
    assert "planted" in search.report({"planted": text + secrets["us.secret_key"]})
    assert search.report(haystacks) == {}, search.explain(haystacks)
    print(f"\nsecrets notebook: {len(text)} characters of outputs, 0 hits")
