"""Fuzzing the simulator's request parsing: bad requests get the documented answer, never a crash.

The simulator is the peer of every integration test, so a request that crashes its handler
would look like a client bug. Its documented behaviour (``polyresearch/simulator/clob.py``,
``us.py``, ``us_wire.py``, ``server.py``) for bad input:

- CLOB market socket: anything but a well-formed subscribe/unsubscribe is ignored and counted
  (``ignored_request``); the socket stays open.
- CLOB user socket: a first frame without the demo ``auth`` closes the socket without a close
  status; after auth, bad frames are ignored and counted.
- US sockets: each bad request gets one error frame (``{"error": ...}``); the socket stays open.
- US upgrades: missing, unknown, stale or badly signed ``X-PM-*`` headers get HTTP 401.
- REST: an answer (200, 400, 401, 404 or 405) for any path and query string, never a 500.

Sans-I/O tests call the parsing functions and the front-ends' request handlers directly with
hypothesis-generated frames and frames mutated from valid ones (fake links record the
answers), against a simulator running on a background loop; a smaller run sends fuzzed frames
over real sockets and checks that the simulator keeps serving a well-behaved client.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import connect
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.http11 import Request

from polyresearch.simulator import Simulator
from polyresearch.simulator import us_wire as w
from polyresearch.simulator.faults import LinkInfo
from polyresearch.simulator.us_auth import sign_headers
from tests._json_paths import json_paths as _paths
from tests._json_paths import replace_at as _replace

#: Frames (or requests) fed per test in this module, printed at the end with ``-s``.
FED: Counter[str] = Counter()

_BASE = settings(
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)


def fuzz(examples: int) -> settings:
    """Settings for ``examples`` examples with no deadline."""
    return settings(_BASE, max_examples=examples)


@pytest.fixture(scope="module", autouse=True)
def _report_volume() -> Iterator[None]:
    yield
    print(f"\nsimulator fuzz: requests fed: {sum(FED.values())} {dict(FED)}")


class LiveSim:
    """A simulator on its own loop in a background thread (the tests call into it)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        # rate=0: no model steps, so the front-ends' state only changes through our calls.
        self.sim = Simulator(seed=77, markets=3, rate=0)
        self.run(self.sim.start())
        self.clob = next(f for f in self.sim._front_ends if f.venue == "clob")
        self.us = next(f for f in self.sim._front_ends if f.venue == "us")

    def run(self, coro: Any, timeout: float = 60) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call(self, fn: Any, *args: Any) -> Any:
        """Run a plain function on the simulator's loop (its state lives there)."""

        async def call() -> Any:
            return fn(*args)

        return self.run(call())

    def close(self) -> None:
        self.run(self.sim.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture(scope="module")
def live() -> Iterator[LiveSim]:
    sim = LiveSim()
    try:
        yield sim
    finally:
        sim.close()


class FakeLink:
    """Stands in for a server ``Link``: records what the front-end answers."""

    _ids = iter(range(10_000_000, 20_000_000))

    def __init__(self, venue: str, path: str) -> None:
        self.info = LinkInfo(next(self._ids), venue, path)
        self.sent: list[tuple[str, bytes]] = []
        self.closed = False
        self.why: str | None = None

    def send(self, kind: str, payload: bytes, *, delta: bool = False) -> bool:
        # Everything the simulator sends is UTF-8 JSON text.
        json.loads(payload.decode("utf-8"))
        self.sent.append((kind, payload))
        return True

    send_heartbeat = send
    send_raw = send

    def close_without_status(self, *, why: str = "") -> None:
        self.closed = True
        self.why = why


# ---------------------------------------------------------------- seeds and strategies

ASSETS = [
    "71321045679252212594626385532706912750332728571942532289631379312455583992563",
    "52114319501245915516055106046884209969926127482827954674443846427813813222426",
]
CLOB_MARKET_SEEDS = [
    {"assets_ids": ASSETS, "type": "market"},
    {"assets_ids": ASSETS, "type": "market", "custom_feature_enabled": True},
    {"assets_ids": ASSETS[:1], "operation": "subscribe", "initial_dump": False},
    {"assets_ids": ASSETS[:1], "operation": "unsubscribe"},
]
CLOB_USER_OPERATIONS = [
    {"markets": ["0xabc"], "operation": "subscribe"},
    {"markets": ["0xabc"], "operation": "unsubscribe"},
]
US_SEEDS = [
    {"subscribe": {"requestId": "r1", "subscriptionType": t, "marketSlugs": ["SLUG"]}}
    for t in ("SUBSCRIPTION_TYPE_MARKET_DATA", "SUBSCRIPTION_TYPE_MARKET_DATA_LITE", "TRADE")
] + [
    {"subscribe": {"request_id": "r2", "subscription_type": "SUBSCRIPTION_TYPE_ORDER"}},
    {"subscribe": {"requestId": "r3", "subscriptionType": 6, "responsesDebounced": True}},
    {"unsubscribe": {"requestId": "r1"}},
]
KEYS = [
    "assets_ids", "type", "operation", "custom_feature_enabled", "initial_dump", "auth",
    "apiKey", "secret", "passphrase", "markets", "subscribe", "unsubscribe", "requestId",
    "request_id", "subscriptionType", "subscription_type", "marketSlugs", "market_slugs",
    "responsesDebounced",
]  # fmt: skip
WORDS = [
    "market", "user", "subscribe", "unsubscribe", "SUBSCRIPTION_TYPE_MARKET_DATA",
    "SUBSCRIPTION_TYPE_ORDER", "SUBSCRIPTION_TYPE_UNSPECIFIED", "PING", "\ud800", "", "0",
]  # fmt: skip

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(WORDS),
    st.text(max_size=12),
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)


def dumps(value: Any) -> str:
    # ensure_ascii=False: lone surrogates reach the parser as such (escaped ones too, below).
    return json.dumps(value, ensure_ascii=False)


def mutate_bytes(data: bytes, rng: random.Random) -> bytes:
    """A few byte flips, insertions, deletions or a truncation."""
    out = bytearray(data)
    for _ in range(rng.randrange(1, 4)):
        at = rng.randrange(max(len(out), 1))
        op = rng.randrange(4)
        if op == 0 and out:
            out[at] ^= 1 << rng.randrange(8)
        elif op == 1:
            out[at:at] = bytes([rng.choice(b'{}[]":,\\u0x\xff')])
        elif op == 2:
            del out[at : at + rng.randrange(1, 6)]
        else:
            del out[at:]
    return bytes(out)


def frames_from(seeds: list[Any]) -> st.SearchStrategy[str | bytes]:
    """Generated and mutated frames around ``seeds``: type swaps, byte edits, random JSON."""

    @st.composite
    def swapped(draw: st.DrawFn) -> str:
        value = draw(st.sampled_from(seeds))
        for _ in range(draw(st.integers(1, 3))):
            path = draw(st.sampled_from(list(_paths(value))))
            value = _replace(value, path, draw(json_values))
        return dumps(value)

    @st.composite
    def byte_mutants(draw: st.DrawFn) -> bytes:
        seed = dumps(draw(st.sampled_from(seeds))).encode("utf-8", "surrogatepass")
        return mutate_bytes(seed, draw(st.randoms(use_true_random=False)))

    return st.one_of(
        swapped(),
        byte_mutants(),
        byte_mutants().map(lambda b: b.decode("utf-8", "replace")),
        json_values.map(dumps),
        st.sampled_from(seeds).map(lambda s: json.dumps(s)),  # valid ones, ascii-escaped
        st.text(max_size=40),
        st.binary(max_size=40),
        st.integers(1, 5000).map(lambda n: "[" * n),  # nesting bombs
        st.integers(1, 3000).map(lambda n: '{"a":' * n),
    )


# ---------------------------------------------------------------- CLOB, sans-I/O


@fuzz(500)
@given(frames=st.lists(frames_from(CLOB_MARKET_SEEDS), min_size=1, max_size=6))
def test_clob_market_socket_ignores_and_counts_bad_requests(
    live: LiveSim, frames: list[str | bytes]
) -> None:
    """Market-socket frames never raise; each is applied or counted as ignored."""
    from polyresearch.simulator.clob import _MarketConn

    clob = live.clob
    ignored = live.sim._counters.frames

    def feed() -> None:
        conn = _MarketConn(FakeLink("clob", "/ws/market"))  # type: ignore[arg-type]
        try:
            for frame in frames:
                text = frame if isinstance(frame, str) else frame.decode("utf-8", "replace")
                before = ignored["ignored_request"]
                clob._on_market_message(conn, text)
                FED["clob_market"] += 1
                if not _is_operation(text):
                    assert ignored["ignored_request"] == before + 1, text[:80]
            for kind, payload in conn.link.sent:
                assert kind == "book_dump" and payload.startswith(b"[")
        finally:
            clob._forget(conn)

    live.call(feed)


def _is_operation(text: str) -> bool:
    """An independent reading of what the CLOB market socket accepts (clob.py docstring)."""
    try:
        msg = json.loads(text)
    except (ValueError, RecursionError):
        return False
    if not isinstance(msg, dict):
        return False
    assets = msg.get("assets_ids")
    if not isinstance(assets, list) or not all(isinstance(a, str) for a in assets):
        return False
    op = msg.get("operation")
    op = op.lower() if isinstance(op, str) else ""
    kind = msg.get("type")
    kind = kind.lower() if isinstance(kind, str) else ""
    return op in ("subscribe", "unsubscribe") or (not op and kind == "market")


@fuzz(400)
@given(data=st.data())
def test_clob_user_socket_closes_on_bad_auth_and_ignores_bad_operations(
    live: LiveSim, data: st.DataObject
) -> None:
    """A first frame without the demo auth closes the socket; later bad frames are ignored."""
    from polyresearch.simulator.clob import _UserConn

    creds = live.sim.clob_credentials
    auth = {"apiKey": creds.api_key, "secret": creds.secret, "passphrase": creds.passphrase}
    good = {"auth": auth, "markets": [], "type": "user"}
    first = data.draw(frames_from([good]))
    later = data.draw(st.lists(frames_from([good, *CLOB_USER_OPERATIONS]), max_size=4))
    clob = live.clob

    def feed() -> None:
        conn = _UserConn(FakeLink("clob", "/ws/user"))  # type: ignore[arg-type]
        link: FakeLink = conn.link  # type: ignore[assignment]
        try:
            text = first if isinstance(first, str) else first.decode("utf-8", "replace")
            clob._on_user_message(conn, text)
            FED["clob_user_auth"] += 1
            assert conn.authed != link.closed  # exactly one of: let in, closed
            if link.closed:
                assert link.why == "bad_auth"
                assert not _has_demo_auth(text, auth)
                return
            assert _has_demo_auth(text, auth)
            for frame in later:
                text = frame if isinstance(frame, str) else frame.decode("utf-8", "replace")
                clob._on_user_message(conn, text)
                FED["clob_user_operation"] += 1
            assert not link.closed and link.sent == []
        finally:
            clob._forget(conn)

    live.call(feed)


def _has_demo_auth(text: str, auth: dict[str, str]) -> bool:
    try:
        msg = json.loads(text)
    except (ValueError, RecursionError):
        return False
    if not isinstance(msg, dict) or not isinstance(msg.get("auth"), dict):
        return False
    kind = msg.get("type")
    same = all(msg["auth"].get(k) == v for k, v in auth.items())
    return same and isinstance(kind, str) and kind.lower() == "user"


# ---------------------------------------------------------------- US, sans-I/O


@fuzz(1000)
@given(frame=frames_from(US_SEEDS), channel=st.sampled_from([w.MARKETS, w.PRIVATE]))
def test_us_parse_request_returns_a_request_or_a_bad_request(
    live: LiveSim, frame: str | bytes, channel: w.Channel
) -> None:
    """parse_request is total: Subscribe, Unsubscribe or BadRequest, and the error encodes."""
    slug = live.sim.markets()[0].slug
    if isinstance(frame, str):
        frame = frame.replace("SLUG", slug)
    result = w.parse_request(frame, channel)
    FED["us_parse"] += 1
    assert isinstance(result, w.Subscribe | w.Unsubscribe | w.BadRequest)
    if isinstance(result, w.BadRequest):
        assert "error" in json.loads(result.frame().encode("utf-8"))


@fuzz(400)
@given(
    frames=st.lists(frames_from(US_SEEDS), min_size=1, max_size=6),
    channel=st.sampled_from([w.MARKETS, w.PRIVATE]),
)
def test_us_socket_answers_every_bad_request_with_one_error_frame(
    live: LiveSim, frames: list[str | bytes], channel: w.Channel
) -> None:
    """Each request is served or answered by exactly one error frame; nothing raises."""
    from polyresearch.simulator.us import _Client

    us = live.us
    slug = live.sim.markets()[0].slug
    key = us.keyring.get(live.sim.us_credentials.key_id)

    def feed() -> None:
        link = FakeLink("us", f"/v1/ws/{channel}")
        client = _Client(link, channel, key)  # type: ignore[arg-type]
        for frame in frames:
            if isinstance(frame, str):
                frame = frame.replace("SLUG", slug)
            before = len(link.sent)
            errors_before = us.stats().get("error_frames", 0)
            us._on_message(client, frame)
            FED["us_socket"] += 1
            new = [json.loads(p) for _, p in link.sent[before:]]
            errors = [
                m
                for m in new
                if "error" in m and set(m) <= {"requestId", "subscriptionType", "error"}
            ]
            if isinstance(w.parse_request(frame, channel), w.BadRequest):
                assert len(errors) == 1 and len(new) == 1, new
            assert us.stats().get("error_frames", 0) == errors_before + len(errors)
        assert not link.closed

    live.call(feed)


HEADER_NAMES = ["X-PM-Access-Key", "X-PM-Timestamp", "X-PM-Signature"]


@fuzz(400)
@given(data=st.data(), path=st.sampled_from(["/v1/ws/markets", "/v1/ws/private"]))
def test_us_malformed_auth_headers_get_401(live: LiveSim, data: st.DataObject, path: str) -> None:
    """Missing, mangled, stale or foreign X-PM-* headers: HTTP 401, never an exception."""
    creds = live.sim.us_credentials
    now = live.sim.now_ms()
    valid = sign_headers(creds.key_id, creds.secret_key, "GET", path, now)
    headers = dict(valid)
    for _ in range(data.draw(st.integers(1, 3))):
        name = data.draw(st.sampled_from(HEADER_NAMES))
        action = data.draw(
            st.sampled_from(["drop", "text", "mutate", "stale", "case", "duplicate"])
        )
        if action == "drop":
            headers.pop(name, None)
        elif action == "text":
            headers[name] = data.draw(st.text(max_size=80))
        elif action == "stale":
            headers["X-PM-Timestamp"] = str(now - data.draw(st.integers(31_000, 10**12)))
        elif action == "case" and name in headers:
            headers[name.lower()] = headers.pop(name)  # header names are case-insensitive
        elif action == "duplicate" and name in headers:
            headers[name.lower()] = data.draw(st.sampled_from([headers[name], "x"]))
        elif name in headers:
            rng = data.draw(st.randoms(use_true_random=False))
            raw = mutate_bytes(headers[name].encode(), rng)
            headers[name] = raw.decode("latin-1")
    ok = _same_headers(headers, valid)

    def check() -> Any:
        answer = live.us.check_upgrade(path, _headers(headers))
        live.us._admitted.clear()  # no socket follows: do not count it against the key
        return answer

    answer = live.call(check)
    FED["us_auth_headers"] += 1
    if ok:
        assert answer is None
    else:
        assert answer is not None and answer.status == 401
        body = json.loads(answer.body)
        assert body["status"] == 401 and isinstance(body["message"], str)


def _same_headers(headers: dict[str, str], valid: dict[str, str]) -> bool:
    """Each valid header present exactly once (any case) with its value."""
    for name, value in valid.items():
        found = [v for k, v in headers.items() if k.lower() == name.lower()]
        if found != [value]:
            return False
    return True


def _headers(values: dict[str, str]) -> Headers:
    headers = Headers()
    for name, value in values.items():
        headers[name] = value
    return headers


# ---------------------------------------------------------------- REST, sans-I/O

REST_PATHS = [
    "/markets", "/markets/slug/SLUG", "/markets/1", "/events", "/events/slug/x", "/book",
    "/price", "/midpoint", "/spread", "/last-trade-price", "/tick-size", "/neg-risk", "/time",
    "/auth/derive-api-key", "/auth/api-keys", "/v1/markets", "/v1/market/slug/SLUG",
    "/v1/market/id/1", "/v1/markets/SLUG/book", "/v1/markets/SLUG/bbo",
    "/v1/markets/SLUG/settlement", "/v1/events", "/v1/events/slug/x", "/v1/events/1", "/nope",
]  # fmt: skip
QUERY_KEYS = [
    "token_id", "side", "slug", "id", "limit", "offset", "active", "closed", "archived",
    "condition_ids", "clob_token_ids", "order", "ascending", "tag", "", "a[]",
]  # fmt: skip
query_values = st.one_of(
    st.text(max_size=20),
    st.integers(-(10**30), 10**30).map(str),
    st.sampled_from(["true", "false", "1", "", "BUY", "SELL", "TOKEN", "9" * 5000, "%", "%zz"]),
)


@st.composite
def query_strings(draw: st.DrawFn) -> str:
    if draw(st.booleans()):
        return draw(st.text(alphabet=st.sampled_from("a=&;%2F?#+ \x00é[]tokn_id0"), max_size=60))
    pairs = draw(st.lists(st.tuples(st.sampled_from(QUERY_KEYS), query_values), max_size=6))
    quoted = draw(st.booleans())
    return "&".join(
        f"{quote(k) if quoted else k}={quote(v, safe='') if quoted else v}" for k, v in pairs
    )


@fuzz(500)
@given(
    path=st.sampled_from(REST_PATHS) | st.text(max_size=30).map(lambda t: "/" + quote(t)),
    query=query_strings(),
    method=st.sampled_from(["GET", "GET", "HEAD", "POST", "DELETE"]),
)
def test_rest_requests_never_get_a_500(live: LiveSim, path: str, query: str, method: str) -> None:
    """Any path and query string: 200, 400, 401, 404 or 405 with a JSON body, never a 500."""
    sim = live.sim
    token = sim.markets()[0].token_ids[0]
    path = path.replace("SLUG", sim.markets()[0].slug)
    query = query.replace("TOKEN", token)
    target = f"{path}?{query}" if query else path
    if method != "GET":
        target = "/__sim_method__/" + method + target  # how the server's rewrite marks it
    request = Request(target, Headers())
    response = live.call(sim._process_request, None, request)
    FED["rest"] += 1
    assert response is not None
    # 401: the CLOB key endpoints without L1 headers.
    assert response.status_code in (200, 400, 401, 404, 405), (target, response.status_code)
    if response.body:
        json.loads(response.body)


# ---------------------------------------------------------------- over real sockets


def test_over_sockets_bad_frames_get_the_documented_answer_and_others_stay_served(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Fuzzed frames on all four sockets and bad upgrades; a good client is served meanwhile."""
    rng = random.Random(20261124)
    caplog.set_level(logging.WARNING, logger="polyresearch.simulator")

    async def main() -> dict[str, int]:
        counts: Counter[str] = Counter()
        async with Simulator(seed=78, markets=2, rate=50) as sim:
            slug = sim.markets()[0].slug
            tokens = list(sim.markets()[0].token_ids)
            creds = sim.us_credentials
            clob_creds = sim.clob_credentials
            auth = {
                "apiKey": clob_creds.api_key,
                "secret": clob_creds.secret,
                "passphrase": clob_creds.passphrase,
            }

            def us_headers(path: str) -> dict[str, str]:
                return sign_headers(creds.key_id, creds.secret_key, "GET", path, sim.now_ms())

            async def control() -> None:
                """A well-behaved client subscribes and gets its book."""
                async with connect(sim.clob_market_url, compression=None) as ws:
                    await ws.send(json.dumps({"assets_ids": tokens, "type": "market"}))
                    async with asyncio.timeout(10):
                        first = json.loads(await ws.recv())
                    assert first and first[0]["event_type"] == "book"
                counts["control_ok"] += 1

            # CLOB market socket: bad frames are ignored; PING still answered at the end.
            async with connect(sim.clob_market_url, compression=None) as ws:
                for _ in range(150):
                    frame = _mutated(rng, CLOB_MARKET_SEEDS)
                    await ws.send(frame)
                    counts["clob_market"] += 1
                await ws.send("PING")
                async with asyncio.timeout(10):
                    while await ws.recv() != "PONG":
                        pass
            await control()

            # CLOB user socket: a bad first frame closes it without a status.
            for _ in range(15):
                async with connect(sim.clob_user_url, compression=None) as ws:
                    first = _mutated(rng, [{"auth": auth, "type": "user"}], force=True)
                    await ws.send(first)
                    counts["clob_user"] += 1
                    if _has_demo_auth(first, auth):  # an edit that kept it valid ("usEr")
                        continue
                    with pytest.raises(ConnectionClosed) as closed:
                        async with asyncio.timeout(10):
                            await ws.recv()
                    # An empty close frame (no status): websockets reports it as 1005.
                    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1005
                    counts["clob_user_closed"] += 1
            await control()

            # US markets socket: one error frame per bad request; the socket stays open.
            path = "/v1/ws/markets"
            async with connect(
                sim.us_markets_url, additional_headers=us_headers(path), compression=None
            ) as ws:
                for _ in range(150):
                    frame = _mutated(rng, US_SEEDS).replace("SLUG", slug)
                    await ws.send(frame)
                    counts["us_markets"] += 1
                probe = {
                    "subscribe": {
                        "requestId": "probe",
                        "subscriptionType": "SUBSCRIPTION_TYPE_MARKET_DATA",
                        # Another market: fuzzed frames may hold the first one (no duplicates).
                        "marketSlugs": [sim.markets()[1].slug],
                    }
                }
                await ws.send(json.dumps(probe))
                async with asyncio.timeout(10):
                    while True:
                        msg = json.loads(await ws.recv())
                        if msg.get("requestId") == "probe":
                            assert "marketData" in msg, msg
                            break
            # Malformed upgrade headers: 401, and the server keeps answering.
            for _ in range(15):
                headers = us_headers(path)
                name = rng.choice(HEADER_NAMES)
                headers[name] = mutate_bytes(headers[name].encode(), rng).decode("latin-1")
                with pytest.raises(InvalidStatus) as refused:
                    async with connect(
                        sim.us_markets_url, additional_headers=headers, compression=None
                    ):
                        pass
                assert refused.value.response.status_code == 401
                counts["us_bad_upgrade"] += 1
            await control()
            venue = sim.stats().venues["us"]
            assert venue["error_frames"] >= 1 and venue["upgrades_refused_401"] >= 15
        return dict(counts)

    counts = asyncio.run(main())
    FED.update({f"socket_{k}": v for k, v in counts.items()})
    assert counts["control_ok"] == 3
    assert counts["clob_user_closed"] >= 10
    # No front-end crashed on the way ("front-end ... failed" is logged at ERROR).
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


def _mutated(rng: random.Random, seeds: list[Any], *, force: bool = False) -> str:
    """A seed re-encoded with random byte edits or a random value swapped in (as text)."""
    seed = json.dumps(rng.choice(seeds))
    if rng.random() < 0.5 or force:
        raw = mutate_bytes(seed.encode(), rng)
        return raw.decode("utf-8", "replace")
    value = json.loads(seed)
    path = rng.choice(list(_paths(value)))
    junk = rng.choice([None, 1, -1.5, "", "x" * rng.randrange(300), [], {}, [[[]]], "\ud800"])
    return json.dumps(_replace(value, path, junk))


def test_nesting_bombs_are_malformed_requests() -> None:
    """Regression: deeply nested brackets crashed both venues' request parsers."""
    from polyresearch.simulator.clob import _json_object

    bomb = "[" * 100_000
    assert w.parse_request(bomb, w.MARKETS) == w.BadRequest(w.ERROR_INVALID_MESSAGE)
    assert _json_object(bomb) is None
    assert _json_object('{"a":' * 50_000) is None


def test_lone_surrogate_ids_are_malformed_requests() -> None:
    """Regression: an escaped lone surrogate in a request id crashed the US error frame."""
    frame = '{"subscribe":{"requestId":"\\ud800","subscriptionType":"SUBSCRIPTION_TYPE_ORDER"}}'
    assert w.parse_request(frame, w.MARKETS) == w.BadRequest(w.ERROR_INVALID_MESSAGE)
    slugs = '{"subscribe":{"requestId":"r","subscriptionType":1,"marketSlugs":["\\udfff"]}}'
    assert w.parse_request(slugs, w.MARKETS) == w.BadRequest(w.ERROR_INVALID_MESSAGE)


def test_duplicated_auth_headers_are_refused_not_a_crash(live: LiveSim) -> None:
    """Regression: an X-PM-* header sent twice raised MultipleValuesError (a 500)."""
    creds = live.sim.us_credentials
    valid = sign_headers(creds.key_id, creds.secret_key, "GET", "/v1/ws/markets", 0)
    headers = _headers(valid)
    headers["x-pm-signature"] = valid["X-PM-Signature"]  # the same value, twice
    answer = live.call(live.us.check_upgrade, "/v1/ws/markets", headers)
    assert answer is not None and answer.status == 401
