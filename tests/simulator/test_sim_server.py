"""The simulator's server: one port for REST and WebSockets, ground truth, control, and the CLI."""

from __future__ import annotations

import asyncio
import base64
import doctest
import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from decimal import Decimal

import httpx
import pytest
from _sim_helpers import fence, recipe_hash, wait_until, ws_connect
from websockets.exceptions import InvalidStatus

from polyresearch.errors import SimulatorError
from polyresearch.simulator import __main__ as cli
from polyresearch.simulator import rest as rest_module
from polyresearch.simulator import server as server_module
from polyresearch.simulator.market import ModelConfig
from polyresearch.simulator.server import FRONT_ENDS, Simulator, demo_credentials


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator(seed=4, markets=5, rate=0, venues=["clob"]) as s:
        s.advance(300)
        yield s


@pytest.fixture
async def http(sim: Simulator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sim.http_url, trust_env=False) as client:
        yield client


def _l2_headers(sim: Simulator, path: str, *, secret: str | None = None) -> dict[str, str]:
    creds = sim.clob_credentials
    timestamp = str(int(time.time()))
    raw = base64.urlsafe_b64decode(secret or creds.secret)
    digest = hmac.new(raw, f"{timestamp}GET{path}".encode(), hashlib.sha256).digest()
    return {
        "POLY_ADDRESS": "0x" + "11" * 20,
        "POLY_API_KEY": creds.api_key,
        "POLY_PASSPHRASE": creds.passphrase,
        "POLY_TIMESTAMP": timestamp,
        "POLY_SIGNATURE": base64.urlsafe_b64encode(digest).decode(),
    }


@pytest.mark.parametrize("module", [server_module, rest_module])
def test_doc_examples_hold(module: object) -> None:
    """The modules' docstring examples run and pass."""
    result = doctest.testmod(module)  # type: ignore[arg-type]
    assert result.attempted > 0 and result.failed == 0


def test_demo_credentials_are_deterministic_and_usable() -> None:
    """Same seed, same keys; the US secret is a 32-byte Ed25519 seed matching its public key."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    clob, us = demo_credentials(9)
    assert (clob, us) == demo_credentials(9) and clob != demo_credentials(10)[0]
    seed = base64.b64decode(us.secret_key)
    public = Ed25519PrivateKey.from_private_bytes(seed).public_key()
    assert (
        base64.b64encode(public.public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()
        == us.public_key
    )
    assert len(base64.urlsafe_b64decode(clob.secret)) == 32
    assert clob.secret not in repr(clob) and us.secret_key not in repr(us)


async def test_one_port_serves_rest_and_every_websocket_path(sim: Simulator) -> None:
    """REST and both CLOB channels live on one port; unknown paths get 404 both ways."""
    ports = {sim.http_url.rsplit(":", 1)[1], sim.clob_market_url.split(":")[2].split("/")[0]}
    assert ports == {str(sim.port)}
    async with httpx.AsyncClient(trust_env=False) as client:
        assert (await client.get(f"{sim.http_url}/nope")).status_code == 404
        assert (await client.post(f"{sim.http_url}/books", json=[])).status_code == 405
    with pytest.raises(InvalidStatus) as excinfo:
        async with ws_connect(f"{sim.ws_url}/ws/nope"):
            pass
    assert excinfo.value.response.status_code == 404
    async with ws_connect(sim.clob_user_url) as ws:
        await ws.send("PING")
        assert await asyncio.wait_for(ws.recv(), 5) == "PONG"


async def test_gamma_markets_by_slug_use_double_encoded_fields(
    sim: Simulator, http: httpx.AsyncClient
) -> None:
    """/markets?slug= returns Gamma markets whose outcomes/prices/token ids are JSON strings."""
    market = sim.markets()[1]
    response = await http.get("/markets", params={"slug": market.slug})
    assert response.status_code == 200
    (gamma,) = response.json()
    assert gamma["conditionId"] == market.condition_id and gamma["id"] == market.market_id
    assert isinstance(gamma["clobTokenIds"], str)
    assert json.loads(gamma["clobTokenIds"]) == list(market.token_ids)
    assert json.loads(gamma["outcomes"]) == ["Yes", "No"]
    prices = [Decimal(p) for p in json.loads(gamma["outcomePrices"])]
    assert sum(prices) == 1
    assert gamma["orderPriceMinTickSize"] == float(market.tick_size)
    assert gamma["orderMinSize"] == 5 and gamma["negRisk"] is market.neg_risk
    assert gamma["events"][0]["slug"] == market.event_slug


async def test_gamma_lookups_by_ids_slug_path_and_events(
    sim: Simulator, http: httpx.AsyncClient
) -> None:
    """condition_ids=, clob_token_ids=, /markets/slug/{slug}, /markets/{id}, /events/slug/."""
    first, second = sim.markets()[0], sim.markets()[2]
    by_condition = await http.get(
        "/markets",
        params=[("condition_ids", first.condition_id), ("condition_ids", second.condition_id)],
    )
    assert {m["slug"] for m in by_condition.json()} == {first.slug, second.slug}
    by_token = await http.get("/markets", params={"clob_token_ids": second.token_ids[1]})
    assert [m["slug"] for m in by_token.json()] == [second.slug]
    assert (await http.get(f"/markets/slug/{first.slug}")).json()[
        "conditionId"
    ] == first.condition_id
    assert (await http.get(f"/markets/{first.market_id}")).json()["slug"] == first.slug
    assert (await http.get("/markets/slug/no-such-market")).status_code == 404
    event = (await http.get(f"/events/slug/{first.event_slug}")).json()
    assert event["markets"][0]["slug"] == first.slug
    listed = (await http.get("/markets", params={"limit": 2, "offset": 1})).json()
    assert [m["slug"] for m in listed] == [m.slug for m in sim.markets()[1:3]]


async def test_resolved_markets_need_closed_true() -> None:
    """Like Gamma, /markets hides closed markets unless closed=true."""
    config = ModelConfig(lifecycle_rate=0.05)
    async with Simulator(seed=2, markets=3, rate=0, model_config=config, venues=["clob"]) as sim:
        sim.advance(400)
        resolved = [m for m in sim.markets(include_resolved=True) if m.resolved]
        assert resolved
        async with httpx.AsyncClient(base_url=sim.http_url, trust_env=False) as http:
            hidden = (await http.get("/markets", params={"slug": resolved[0].slug})).json()
            shown = (
                await http.get("/markets", params={"slug": resolved[0].slug, "closed": "true"})
            ).json()
    assert hidden == [] and shown[0]["closed"] is True
    assert json.loads(shown[0]["outcomePrices"]) in (["1", "0"], ["0", "1"])


async def test_clob_book_matches_truth_and_hash(sim: Simulator, http: httpx.AsyncClient) -> None:
    """/book: §9.2 keys, strings, bids ascending/asks descending, §6.4 hash, equal to truth."""
    market = sim.markets()[3]
    token = market.token_ids[0]
    body = (await http.get("/book", params={"token_id": token})).json()
    assert list(body) == [
        "market",
        "asset_id",
        "timestamp",
        "hash",
        "bids",
        "asks",
        "min_order_size",
        "tick_size",
        "neg_risk",
        "last_trade_price",
    ]
    assert body["min_order_size"] == "5" and body["neg_risk"] is market.neg_risk
    assert recipe_hash(body) == body["hash"]
    truth = sim.book(token)
    assert [(Decimal(b["price"]), Decimal(b["size"])) for b in reversed(body["bids"])] == list(
        truth.bids
    )
    assert [(Decimal(a["price"]), Decimal(a["size"])) for a in reversed(body["asks"])] == list(
        truth.asks
    )
    missing = await http.get("/book", params={"token_id": "1" * 77})
    assert missing.status_code == 404
    assert missing.json() == {"error": "No orderbook exists for the requested token id"}


async def test_clob_prices_follow_the_documented_sides(
    sim: Simulator, http: httpx.AsyncClient
) -> None:
    """/price BUY = best bid, SELL = best ask; /midpoint, /spread, /tick-size, /last-trade-price."""
    token = sim.markets()[0].token_ids[1]
    truth = sim.book(token)
    bid, ask = truth.bids[0][0], truth.asks[0][0]
    assert (
        Decimal(
            (await http.get("/price", params={"token_id": token, "side": "BUY"})).json()["price"]
        )
        == bid
    )
    assert (
        Decimal(
            (await http.get("/price", params={"token_id": token, "side": "SELL"})).json()["price"]
        )
        == ask
    )
    assert (
        Decimal((await http.get("/midpoint", params={"token_id": token})).json()["mid"])
        == (bid + ask) / 2
    )
    assert (
        Decimal((await http.get("/spread", params={"token_id": token})).json()["spread"])
        == ask - bid
    )
    tick = (await http.get("/tick-size", params={"token_id": token})).json()
    assert Decimal(str(tick["minimum_tick_size"])) == truth.tick_size
    last = (await http.get("/last-trade-price", params={"token_id": token})).json()
    if truth.last_trade_price is not None:
        assert Decimal(last["price"]) == truth.last_trade_price and last["side"] in ("BUY", "SELL")
    assert (await http.get("/price", params={"token_id": token})).status_code == 400


async def test_api_keys_require_valid_l2_headers(sim: Simulator, http: httpx.AsyncClient) -> None:
    """/auth/api-keys: 401 without or with wrongly signed headers; the key list with valid ones."""
    assert (await http.get("/auth/api-keys")).status_code == 401
    bad = _l2_headers(sim, "/auth/api-keys", secret=base64.urlsafe_b64encode(b"x" * 32).decode())
    assert (await http.get("/auth/api-keys", headers=bad)).status_code == 401
    good = await http.get("/auth/api-keys", headers=_l2_headers(sim, "/auth/api-keys"))
    assert good.status_code == 200 and good.json() == {"apiKeys": [sim.clob_credentials.api_key]}


async def test_ground_truth_accessors_return_copies(sim: Simulator) -> None:
    """books(), trades(), accounts() and markets() are immutable or detached copies."""
    books = sim.books()
    token = sim.markets()[0].token_ids[0]
    assert books[token] == sim.book(token)
    trades = sim.trades()
    sim.advance(200)
    assert len(sim.trades()) >= len(trades)
    account = sim.account("clob")
    with pytest.raises(TypeError):
        account.positions["x"] = Decimal(1)  # type: ignore[index]
    copy = sim.markets()[0]
    copy.slug = "changed"
    assert sim.markets()[0].slug != "changed"
    assert set(sim.accounts()) == {"clob", "us"}
    with pytest.raises(SimulatorError):
        sim.account("nobody")
    with pytest.raises(SimulatorError):
        sim.book("123")


async def test_paused_flow_keeps_time_but_not_steps() -> None:
    """pause(): the clock keeps ticking while no model step runs; resume() restarts the flow."""
    async with Simulator(seed=1, markets=2, rate=2000, venues=["clob"]) as sim:
        await wait_until(lambda: sim.stats().model_steps > 0, within=20)
        sim.pause()
        steps, ticks = sim.stats().model_steps, sim.stats().clock_ticks
        await wait_until(lambda: sim.stats().clock_ticks >= ticks + 3, within=20)
        assert sim.stats().model_steps == steps and sim.paused
        sim.resume()
        await wait_until(lambda: sim.stats().model_steps > steps, within=20)


async def test_paced_flow_reaches_subscribers() -> None:
    """With a rate, price changes flow to a subscriber without any manual stepping."""
    async with Simulator(seed=3, markets=2, rate=500, venues=["clob"]) as sim:
        async with ws_connect(sim.clob_market_url) as ws:
            tokens = [t for m in sim.markets() for t in m.token_ids]
            await ws.send(json.dumps({"type": "market", "assets_ids": tokens}))
            frames: list[str] = []

            async def got_changes() -> bool:
                await fence(ws, frames)
                return any('"price_change"' in f for f in frames)

            await wait_until(got_changes, within=20)
        stats = sim.stats()
        assert stats.frames_sent["price_change"] > 0 and stats.connections_total["clob"] == 1


async def test_connections_and_stats_track_clients(sim: Simulator) -> None:
    """connections() lists open sockets; stats count them per venue, and REST requests."""
    async with ws_connect(sim.clob_market_url) as a, ws_connect(sim.clob_user_url) as b:
        await a.send("PING")
        await b.send("PING")
        await asyncio.wait_for(a.recv(), 5)
        await asyncio.wait_for(b.recv(), 5)
        paths = sorted(c.path for c in sim.connections())
        assert paths == ["/ws/market", "/ws/user"]
        assert sim.stats().connections_open == {"clob": 2}
    await wait_until(lambda: sim.connections() == [])
    async with httpx.AsyncClient(trust_env=False) as client:
        await client.get(f"{sim.http_url}/time")
    assert sim.stats().rest_requests >= 1 and sim.stats().frames_sent["pong"] == 2


async def test_summary_has_every_key_a_client_needs(sim: Simulator) -> None:
    """summary(): nested http_url/clob/us keys, ids of the live markets."""
    summary = sim.summary()
    assert {
        "market_url",
        "user_url",
        "api_key",
        "secret",
        "passphrase",
        "asset_ids",
        "condition_ids",
    } <= set(summary["clob"])
    assert {"markets_url", "private_url", "key_id", "secret_key", "slugs"} <= set(summary["us"])
    assert summary["clob"]["asset_ids"] == [t for m in sim.markets() for t in m.token_ids]
    assert summary["us"]["slugs"] == [m.slug for m in sim.markets()]
    json.dumps(summary)


async def test_every_registered_venue_loads_or_is_skipped() -> None:
    """The default Simulator serves the CLOB and loads whichever other venues are plugged in."""
    async with Simulator(seed=1, markets=2, rate=0) as sim:
        assert "clob" in sim.venues and set(sim.venues) <= set(FRONT_ENDS)
        async with ws_connect(sim.clob_market_url) as ws:
            await ws.send("PING")
            assert await asyncio.wait_for(ws.recv(), 5) == "PONG"


async def test_misuse_raises_simulator_error() -> None:
    """Bad arguments and use before start raise SimulatorError."""
    with pytest.raises(SimulatorError):
        Simulator(markets=0)
    with pytest.raises(SimulatorError):
        Simulator(venues=["nasdaq"])
    with pytest.raises(SimulatorError):
        Simulator().http_url  # noqa: B018
    async with Simulator(markets=1, rate=0, venues=["clob"]) as sim:
        with pytest.raises(SimulatorError):
            await sim.start()


# ---------------------------------------------------------------------------- CLI


def test_help_lists_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    """--help documents every option of the parser and the fault kinds."""
    with pytest.raises(SystemExit) as excinfo:
        cli.main(["--help"])
    assert excinfo.value.code == 0
    text = capsys.readouterr().out
    for action in cli.build_parser()._actions:
        for option in action.option_strings:
            assert option in text
    for kind in ("drop", "restart", "stall", "oversized", "refuse_upgrade", "clock_skew"):
        assert kind in text


def test_bad_fault_spec_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown fault kind is a usage error."""
    with pytest.raises(SystemExit) as excinfo:
        cli.main(["--fault", "meteor"])
    assert excinfo.value.code == 2
    assert "unknown fault" in capsys.readouterr().err


def test_cli_prints_one_json_line_and_stops_on_sigterm() -> None:
    """The standalone simulator prints one JSON line once listening and exits 0 on SIGTERM."""
    env = {**os.environ, "NO_PROXY": "127.0.0.1"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "polyresearch.simulator",
            "--markets",
            "3",
            "--rate",
            "20",
            "--seed",
            "5",
            "--fault",
            "malformed:30",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        info = json.loads(line)
        assert {"http_url", "clob", "us"} <= set(info)
        assert len(info["clob"]["asset_ids"]) == 6 and len(info["us"]["slugs"]) == 3
        assert info["clob"]["api_key"] == demo_credentials(5)[0].api_key
        with httpx.Client(trust_env=False) as client:
            book = client.get(
                f"{info['http_url']}/book", params={"token_id": info["clob"]["asset_ids"][0]}
            )
        assert book.status_code == 200
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0
    assert out == ""  # exactly one line in total: the one read above
