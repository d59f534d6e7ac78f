"""The simulator's Polymarket US venue: ``/v1/ws/markets``, ``/v1/ws/private`` and public REST.

A front-end over the venue-neutral :class:`~polyresearch.simulator.market.MarketModel`
(``docs/simulator-interfaces.md``): the server (:mod:`polyresearch.simulator.server`) hands it
upgrade requests (:meth:`UsFrontEnd.check_upgrade`), WebSocket connections
(:meth:`UsFrontEnd.handle`), REST requests (:meth:`UsFrontEnd.handle_rest`) and every batch of
model changes (:meth:`UsFrontEnd.publish`), and it answers in the Polymarket US wire format of
``docs/protocol-us.md`` (its §12 checklist is implemented here). It is written from the docs,
never from :mod:`polyresearch.protocol` (an import-linter contract forbids it), and the official
``polymarket-us`` SDK works against it unchanged.

What a client sees:

- The upgrade must carry valid ``X-PM-*`` Ed25519 headers (HTTP 401 otherwise, also when the
  server clock is skewed past the 30 s window) and one key may hold at most
  ``max_connections_per_key`` sockets (HTTP 429 beyond).
- US markets are the model's markets, one instrument each (the YES token), addressed by slug.
- Markets socket: ``marketData`` full books on subscribe and on every change, ``marketDataLite``
  quotes on subscribe and whenever they move, ``trade`` prints; private socket: order execution
  reports, a one-shot open-order snapshot, position changes and balance snapshot/changes of the
  simulator's US demo account (the model's ``"us"`` account).
- ``{"heartbeat": {}}`` on both sockets every ``heartbeat_interval`` seconds.

Example:
    >>> from polyresearch.simulator.market import MarketModel
    >>> venue = UsFrontEnd(MarketModel(seed=1, markets=2))
    >>> slug = venue.model.markets[0].slug
    >>> venue.handle_rest("GET", f"/v1/market/slug/{slug}", {}).status
    200
    >>> venue.handle_rest("GET", "/markets", {}) is None
    True
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final, TypeVar
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from polyresearch.errors import SimulatorError
from polyresearch.simulator import us_wire as w
from polyresearch.simulator.faults import Fault
from polyresearch.simulator.market import (
    Account,
    AccountFill,
    AccountOrder,
    BalanceChanged,
    BookChanged,
    Change,
    Fill,
    MarketModel,
    MarketOpened,
    MarketResolved,
    OrderChanged,
    PositionChanged,
    SimMarket,
    TradeExecuted,
)
from polyresearch.simulator.rest import RestResponse
from polyresearch.simulator.server import Link, SimContext
from polyresearch.simulator.us_auth import (
    SIGNATURE_HEADER,
    SIGNATURE_WINDOW_MS,
    UsApiKey,
    UsKeyring,
    header,
    verify_headers,
)

__all__ = [
    "MARKETS_PATH",
    "PRIVATE_PATH",
    "UsFrontEnd",
    "UsSettings",
]

log = logging.getLogger("polyresearch.simulator")

_T = TypeVar("_T")

MARKETS_PATH: Final = "/v1/ws/markets"
PRIVATE_PATH: Final = "/v1/ws/private"
_CHANNELS: Final[dict[str, w.Channel]] = {MARKETS_PATH: w.MARKETS, PRIVATE_PATH: w.PRIVATE}

_ZERO: Final = Decimal(0)
_ONE: Final = Decimal(1)
#: An admitted upgrade that has not reached :meth:`UsFrontEnd.handle` after this long failed
#: its handshake; it stops counting against the key's connection limit.
_ADMISSION_TTL_S: Final = 15.0
#: Default size of the ``oversized`` fault frame: past the SDK's 1 MiB ``max_size``.
DEFAULT_OVERSIZED_BYTES: Final = 2**20 + 4096


@dataclass(frozen=True)
class UsSettings:
    """Knobs of the US venue. Every default follows the live venue or protocol-us.md §12.

    Example:
        >>> UsSettings(max_connections_per_key=2).max_slugs_per_subscription
        100
    """

    #: Seconds between heartbeats; None uses the server's ``heartbeat_interval`` (10 s default).
    heartbeat_interval_s: float | None = None
    #: Simultaneous sockets (markets + private) one API key may hold; the next upgrade gets 429.
    max_connections_per_key: int = 8
    #: Allowed distance between ``X-PM-Timestamp`` and the server clock, both directions.
    signature_window_ms: int = SIGNATURE_WINDOW_MS
    #: Documented cap on markets per subscription.
    max_slugs_per_subscription: int = w.MAX_SLUGS_PER_SUBSCRIPTION
    #: Refuse a subscribe naming a slug already covered by a same-type subscription (3P report).
    reject_duplicate_slugs: bool = True
    #: Interval of ``responsesDebounced`` subscriptions (UNCONFIRMED on the live venue).
    debounce_interval_s: float = 0.5
    #: Orders per ``orderSubscriptionSnapshot`` frame; the last frame carries ``eof: true``.
    snapshot_page_size: int = 50
    #: Put the unpopulated ``"error": ""`` on private data frames, as EmitUnpopulated does.
    private_empty_error: bool = True
    #: The model account the private stream reports (the simulator's US demo account).
    account: str = "us"


# ---------------------------------------------------------------------------- per-connection


@dataclass(eq=False)
class _Subscription:
    request_id: str
    subscription_type: str
    #: Markets filter; empty on the private socket means every market.
    slugs: frozenset[str]
    debounced: bool = False
    #: Slugs with changes not yet sent (debounced subscriptions only).
    dirty: set[str] = field(default_factory=set)

    def covers(self, slug: str) -> bool:
        return not self.slugs or slug in self.slugs


@dataclass(eq=False)
class _Client:
    link: Link
    channel: w.Channel
    key: UsApiKey
    subscriptions: dict[str, _Subscription] = field(default_factory=dict)


@dataclass
class _MarketStats:
    last_trade_px: Decimal | None = None
    shares_traded: Decimal = _ZERO
    high_px: Decimal | None = None
    low_px: Decimal | None = None
    last_change_ms: int | None = None


@dataclass
class _Position:
    """Per-market position bookkeeping the model does not keep (bought, sold, cost, P&L).

    Average-cost method over a ledger of (trade id, signed quantity, price) entries, so that a
    fill that fails settlement later can be taken out exactly (the ledger is replayed).
    """

    net: Decimal = _ZERO
    bought: Decimal = _ZERO
    sold: Decimal = _ZERO
    #: Signed cost of the open position.
    cost: Decimal = _ZERO
    realized: Decimal = _ZERO
    update_ms: int | None = None
    ledger: list[tuple[str, Decimal, Decimal]] = field(default_factory=list)

    def apply(self, trade_id: str, delta: Decimal, price: Decimal) -> None:
        """Book a position change of ``delta`` contracts at ``price``."""
        self.ledger.append((trade_id, delta, price))
        self._book(delta, price)

    def revert(self, trade_id: str) -> None:
        """Take a failed fill out of the ledger and recompute everything from the rest."""
        for n, entry in enumerate(self.ledger):
            if entry[0] == trade_id and trade_id:
                del self.ledger[n]
                break
        self.net = self.bought = self.sold = self.cost = self.realized = _ZERO
        for _, delta, price in self.ledger:
            self._book(delta, price)

    def _book(self, delta: Decimal, price: Decimal) -> None:
        before = self.net
        if delta > 0:
            self.bought += delta
        else:
            self.sold -= delta
        if before == 0 or (before > 0) == (delta > 0):
            self.cost += delta * price
        else:
            closing = min(abs(delta), abs(before))
            sign = 1 if before > 0 else -1
            avg = self.cost / before
            self.cost -= avg * closing * sign
            self.realized += closing * (price - avg) * sign
            rest = abs(delta) - closing
            if rest > 0:
                self.cost = rest * (1 if delta > 0 else -1) * price
        self.net = before + delta
        if self.net == 0:
            self.cost = _ZERO


# ---------------------------------------------------------------------------- the front-end


class UsFrontEnd:
    """The Polymarket US venue of the simulator.

    Built by the server as ``UsFrontEnd(model, ctx)``. Without a ``ctx`` it still answers REST
    and follows :meth:`publish` (handy for tests), but cannot serve sockets.

    Args:
        model: The shared market model (read only here).
        ctx: The server context: config (demo key, heartbeat interval), clock, faults, links.
        settings: Venue knobs; defaults follow protocol-us.md §12.

    Example:
        >>> from polyresearch.simulator.market import MarketModel
        >>> venue = UsFrontEnd(MarketModel(seed=3, markets=1))
        >>> venue.stats()["connections_open"], venue.paths
        (0, ('/v1/ws/markets', '/v1/ws/private'))
    """

    venue = "us"
    paths = (MARKETS_PATH, PRIVATE_PATH)

    def __init__(
        self,
        model: MarketModel,
        ctx: SimContext | None = None,
        settings: UsSettings | None = None,
    ) -> None:
        self.model = model
        self._ctx = ctx
        self.settings = settings or UsSettings()
        #: Keys allowed to connect: the server's demo key (add more with ``keyring.add``).
        self.keyring = UsKeyring()
        if ctx is not None:
            creds = ctx.config.us
            self.keyring.add(
                UsApiKey.from_public_key(creds.key_id, creds.public_key)
                if creds.public_key
                else UsApiKey.from_secret(creds.key_id, creds.secret_key)
            )
        self._counters: Counter[str] = Counter()
        self._clients: dict[int, _Client] = {}
        #: Upgrades that passed :meth:`check_upgrade` and have not reached :meth:`handle` yet:
        #: (signature, key id, monotonic admission time). They count against the connection
        #: limit, and :meth:`handle` serves only a socket whose signature was admitted here.
        self._admitted: list[tuple[str, str, float]] = []
        self._market_stats: dict[str, _MarketStats] = {}
        self._last_lite: dict[str, str] = {}
        self._positions: dict[str, _Position] = {}
        #: Fills seen in the current batch, by order id, for the next execution report.
        self._pending_fills: dict[str, AccountFill] = {}
        self._order_notional: dict[str, Decimal] = {}
        self._exec_seq = itertools.count(1)
        self._change_seq = itertools.count(1)

    #: Settings :meth:`from_context` builds with (the server passes no venue settings, so tests
    #: and notebooks that need other limits set this class attribute before starting).
    default_settings: UsSettings = UsSettings()

    @classmethod
    def from_context(cls, model: MarketModel, ctx: SimContext) -> UsFrontEnd:
        """The server's factory (``FRONT_ENDS["us"]``): build with :attr:`default_settings`.

        Example:
            >>> UsFrontEnd.default_settings.max_connections_per_key
            8
        """
        return cls(model, ctx, cls.default_settings)

    # ------------------------------------------------------------------ stats and clock

    def stats(self) -> dict[str, int]:
        """The venue's own counters (auth refusals, requests, subscriptions, REST, ...).

        Frames are counted by the server per kind (``marketData``, ``heartbeat``, ...); these
        counters appear in ``Simulator.stats().venues["us"]``.
        """
        out = dict(self._counters)
        out["connections_open"] = len(self._clients)
        return out

    def _count(self, name: str, n: int = 1) -> None:
        self._counters[name] += n

    def now_ms(self) -> int:
        """The server clock (Unix ms, ``clock_skew`` fault included) the venue checks auth with."""
        if self._ctx is not None:
            return self._ctx.now_ms()
        return time.time_ns() // 1_000_000

    @property
    def heartbeat_interval(self) -> float:
        """Seconds between heartbeats on every socket."""
        if self.settings.heartbeat_interval_s is not None:
            return self.settings.heartbeat_interval_s
        return self._ctx.config.heartbeat_interval if self._ctx is not None else 10.0

    # ------------------------------------------------------------------ upgrades

    def check_upgrade(self, path: str, headers: Mapping[str, str]) -> RestResponse | None:
        """Authenticate an upgrade to ``/v1/ws/markets`` or ``/v1/ws/private``.

        Returns:
            None to let the handshake go on, or the HTTP 401 (missing, unknown, stale or bad
            signature) or 429 (too many sockets for the key) response that refuses it.
        """
        path = urlsplit(path).path
        if path not in _CHANNELS:
            return None
        result = verify_headers(
            headers,
            path=path,
            now_ms=self.now_ms(),
            keyring=self.keyring,
            window_ms=self.settings.signature_window_ms,
        )
        if not result.ok or result.key is None:
            reason = result.failure.value if result.failure is not None else "unknown"
            self._count("upgrades_refused_401")
            self._count(f"auth_{reason}")
            # The key id is not secret; the signature never appears in logs.
            log.info("US upgrade to %s refused: %s", path, reason)
            return RestResponse.json({"status": 401, "message": result.detail}, 401)
        key = result.key
        if self._connections_of(key.key_id) >= self.settings.max_connections_per_key:
            self._count("upgrades_refused_429")
            log.info(
                "US upgrade to %s refused: key %s… at its connection limit", path, key.key_id[:4]
            )
            return RestResponse(
                429,
                w.dumps({"status": 429, "message": "Too Many Requests"}).encode(),
                headers=(("Retry-After", "1"),),
            )
        signature = header(headers, SIGNATURE_HEADER) or ""
        self._admitted.append((signature, key.key_id, time.monotonic()))
        return None

    def _connections_of(self, key_id: str) -> int:
        horizon = time.monotonic() - _ADMISSION_TTL_S
        self._admitted = [entry for entry in self._admitted if entry[2] >= horizon]
        pending = sum(1 for _, k, _ in self._admitted if k == key_id)
        return pending + sum(1 for c in self._clients.values() if c.key.key_id == key_id)

    def _take_admission(self, signature: str) -> UsApiKey | None:
        """Consume the admission of an upgrade with this signature; its key, or None."""
        for n, (admitted, key_id, _) in enumerate(self._admitted):
            if admitted == signature:
                del self._admitted[n]
                return self.keyring.get(key_id)
        return None

    # ------------------------------------------------------------------ connections

    async def handle(self, connection: ServerConnection, path: str) -> None:
        """Serve one accepted WebSocket on ``/v1/ws/markets`` or ``/v1/ws/private``.

        Raises:
            SimulatorError: the front-end was built without a server context.
        """
        if self._ctx is None:
            raise SimulatorError("UsFrontEnd needs a server context to serve sockets")
        path = urlsplit(path).path
        channel = _CHANNELS[path]
        headers = connection.request.headers if connection.request is not None else {}
        key = self._take_admission(headers.get(SIGNATURE_HEADER) or "")
        if key is None:
            # Not admitted by check_upgrade (a server that skipped it, or an admission that
            # expired): past the handshake only a close code can still refuse.
            self._count("connections_refused_unadmitted")
            await connection.close(1008, "unauthorized")
            return
        with self._ctx.attach(
            connection, venue=self.venue, path=path, renderer=self._render_fault
        ) as link:
            client = _Client(link, channel, key)
            self._clients[link.info.conn_id] = client
            self._count("connections_accepted")
            # Only the head of the key id: logs never name a whole credential.
            log.info("US %s socket %d open (key %s…)", channel, link.info.conn_id, key.key_id[:4])
            beats = asyncio.create_task(self._heartbeats(client))
            try:
                async for message in connection:
                    self._on_message(client, message)
            except ConnectionClosed:
                pass
            finally:
                self._clients.pop(link.info.conn_id, None)
                beats.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await beats
                log.info("US %s socket %d closed", channel, link.info.conn_id)

    async def _heartbeats(self, client: _Client) -> None:
        """Send heartbeats, and the books of debounced subscriptions at their own interval."""
        loop = asyncio.get_running_loop()
        interval = self.heartbeat_interval
        debounce = self.settings.debounce_interval_s
        next_beat = loop.time() + interval
        next_flush = loop.time() + debounce
        while not client.link.closed:
            debounced = any(s.debounced for s in client.subscriptions.values())
            wake = min(next_beat, next_flush) if debounced else next_beat
            await asyncio.sleep(max(wake - loop.time(), 0.0))
            now = loop.time()
            if now >= next_flush:
                self._flush_debounced(client)
                next_flush = now + debounce
            if now >= next_beat:
                client.link.send_heartbeat("heartbeat", w.HEARTBEAT_FRAME.encode())
                next_beat += interval
                # After a long stall of the loop, do not fire a burst of catch-up heartbeats.
                next_beat = max(next_beat, now)

    def _send(self, client: _Client, kind: str, frame: str, *, delta: bool = False) -> None:
        """Send one frame through the link (which applies stall/skip/burst faults)."""
        client.link.send(kind, frame.encode(), delta=delta)

    async def aclose(self) -> None:
        """Close every US socket with 1001 "going away" (the simulator is stopping)."""
        await self.close_all(1001, "going away")

    async def close_all(self, code: int = 1000, reason: str = "normal closure") -> None:
        """Close every US socket with ``code``: 1000 for a normal shutdown, 1001 going away."""
        clients = list(self._clients.values())
        await asyncio.gather(
            *(c.link.close(code, reason, why=f"us_{code}") for c in clients),
            return_exceptions=True,
        )

    # ------------------------------------------------------------------ faults

    def _render_fault(
        self, link: Link, kind: Fault, params: Mapping[str, Any]
    ) -> list[bytes] | None:
        """Render an injected content fault as US frames on one socket."""
        client = self._clients.get(link.info.conn_id)
        sub = next(iter(client.subscriptions.values()), None) if client is not None else None
        rid = sub.request_id if sub is not None else "sim-fault"
        markets = client is not None and client.channel == w.MARKETS
        sub_type = (
            sub.subscription_type
            if sub is not None
            else (w.SUB_MARKET_DATA if markets else w.SUB_ORDER)
        )
        slug = next(iter(sorted(sub.slugs)), None) if sub is not None else None
        slug = slug or self.model.live_markets()[0].slug
        if kind is Fault.MALFORMED:
            # Truncated JSON (in the socket's own vocabulary), an empty frame, an array opener.
            key = "marketData" if markets else "orderSubscriptionUpdate"
            head = f'{{"requestId":{w.dumps(rid)},"{key}":{{"marketSlug":'
            return [head.encode(), b"", b"["]
        if kind is Fault.UNKNOWN_EVENT:
            # A well-formed envelope whose single payload key no SDK knows.
            key = "marketDataV2" if markets else "orderSubscriptionAudit"
            payload = w.dumps({"marketSlug": slug, "transactTime": w.rfc3339(self.now_ms())})
            return [w.envelope(rid, sub_type, key, payload).encode()]
        if kind is Fault.MISSING_EVENT_TYPE:
            # An envelope with no payload key at all.
            return [w.dumps({"requestId": rid, "subscriptionType": sub_type}).encode()]
        if kind is Fault.OVERSIZED:
            size = int(params.get("size", DEFAULT_OVERSIZED_BYTES))
            # A heartbeat padded past the limit: harmless if a client does accept it.
            pad = max(0, size - 30)
            return [f'{{"heartbeat":{{}},"padding":"{"x" * pad}"}}'.encode()]
        if kind is Fault.MIDSTREAM_BOOK:
            if client is None or not markets:
                return None
            frames = [
                self._book_frame(s, self._book_json(slug_))
                for s in client.subscriptions.values()
                if s.subscription_type == w.SUB_MARKET_DATA
                for slug_ in sorted(s.slugs)
            ]
            return [f.encode() for f in frames] or None
        return None

    # ------------------------------------------------------------------ requests

    def _on_message(self, client: _Client, message: str | bytes) -> None:
        self._count("requests")
        request = w.parse_request(message, client.channel)
        if isinstance(request, w.BadRequest):
            self._error(client, request)
        elif isinstance(request, w.Unsubscribe):
            if client.subscriptions.pop(request.request_id, None) is None:
                self._error(client, w.BadRequest("subscription not found", request.request_id))
            else:
                self._count("unsubscribes")
        else:
            self._subscribe(client, request)

    def _error(self, client: _Client, bad: w.BadRequest) -> None:
        self._count("error_frames")
        self._send(client, "error", bad.frame())

    def _subscribe(self, client: _Client, request: w.Subscribe) -> None:
        rid, kind = request.request_id, request.subscription_type
        slugs = list(dict.fromkeys(request.market_slugs))  # protojson keeps repeats; we dedupe

        def refuse(text: str) -> None:
            self._error(client, w.BadRequest(text, rid, kind))

        if rid in client.subscriptions:
            return refuse("duplicate request id")
        limit = self.settings.max_slugs_per_subscription
        if len(request.market_slugs) > limit:
            return refuse(f"too many market slugs: {len(request.market_slugs)} > {limit}")
        if client.channel == w.MARKETS and not slugs:
            return refuse("market slugs required")
        if kind in {w.SUB_ACCOUNT_BALANCE, w.SUB_RFQ} and slugs:
            return refuse("market slugs not allowed for this subscription type")
        unknown = [s for s in slugs if s not in self.model.by_slug]
        if unknown:
            return refuse(f"unknown market slug: {unknown[0]}")
        if self.settings.reject_duplicate_slugs and client.channel == w.MARKETS:
            taken = {
                s for sub in client.subscriptions.values() if sub.subscription_type == kind
                for s in sub.slugs
            }  # fmt: skip
            clash = [s for s in slugs if s in taken]
            if clash:
                return refuse(f"market already subscribed: {clash[0]}")
        self._count("subscribes")
        self._count(f"subscribes_{kind}")
        sub = _Subscription(rid, kind, frozenset(slugs), request.debounced)
        if kind == w.SUB_ORDER_SNAPSHOT:
            # One-shot: the snapshot is the whole answer, nothing follows.
            self._send_order_snapshot(client, sub)
            return None
        client.subscriptions[rid] = sub
        if kind == w.SUB_MARKET_DATA:
            for slug in slugs:
                self._send(client, "marketData", self._book_frame(sub, self._book_json(slug)))
        elif kind == w.SUB_MARKET_DATA_LITE:
            for slug in slugs:
                self._send(client, "marketDataLite", self._lite_frame(sub, self._lite_json(slug)))
        elif kind == w.SUB_ACCOUNT_BALANCE:
            payload = w.account_balances_snapshot_payload(self._balance(self._account().balance))
            self._send_private(client, sub, "accountBalancesSnapshot", w.dumps(payload))
        return None

    # ------------------------------------------------------------------ markets frames

    def _state(self, market: SimMarket) -> str:
        if market.resolved:
            return w.MARKET_STATE_EXPIRED
        return w.MARKET_STATE_OPEN if market.active else w.MARKET_STATE_PREOPEN

    def _stats_of(self, slug: str) -> _MarketStats:
        stats = self._market_stats.get(slug)
        if stats is None:
            stats = self._market_stats[slug] = _MarketStats()
        return stats

    def _book_payload(self, slug: str) -> dict[str, Any]:
        market = self.model.by_slug[slug]
        book = self.model.book(market.token_ids[0])
        stats = self._stats_of(slug)
        last = stats.last_trade_px if stats.last_trade_px is not None else book.last_trade_price
        return w.market_data_payload(
            slug,
            bids=book.bids_desc(),
            offers=book.asks_asc(),
            state=self._state(market),
            transact_time_ms=stats.last_change_ms
            if stats.last_change_ms is not None
            else market.opened_ms,
            stats=w.market_stats(
                last_trade_px=last,
                shares_traded=stats.shares_traded,
                high_px=stats.high_px,
                low_px=stats.low_px,
            ),
        )

    def _book_json(self, slug: str) -> str:
        return w.dumps(self._book_payload(slug))

    def _lite_payload(self, slug: str) -> dict[str, Any]:
        market = self.model.by_slug[slug]
        book = self.model.book(market.token_ids[0])
        stats = self._stats_of(slug)
        last = stats.last_trade_px if stats.last_trade_px is not None else book.last_trade_price
        return w.lite_payload(
            slug,
            bids=book.bids_desc(),
            offers=book.asks_asc(),
            state=self._state(market),
            last_trade_px=last,
            shares_traded=stats.shares_traded,
        )

    def _lite_json(self, slug: str) -> str:
        return w.dumps(self._lite_payload(slug))

    @staticmethod
    def _book_frame(sub: _Subscription, payload_json: str) -> str:
        return w.envelope(sub.request_id, sub.subscription_type, "marketData", payload_json)

    @staticmethod
    def _lite_frame(sub: _Subscription, payload_json: str) -> str:
        return w.envelope(sub.request_id, sub.subscription_type, "marketDataLite", payload_json)

    def _flush_debounced(self, client: _Client) -> None:
        for sub in client.subscriptions.values():
            if not sub.dirty:
                continue
            dirty, sub.dirty = sub.dirty, set()
            for slug in sorted(dirty):
                if sub.subscription_type == w.SUB_MARKET_DATA:
                    frame = self._book_frame(sub, self._book_json(slug))
                    self._send(client, "marketData", frame, delta=True)
                elif sub.subscription_type == w.SUB_MARKET_DATA_LITE:
                    frame = self._lite_frame(sub, self._lite_json(slug))
                    self._send(client, "marketDataLite", frame, delta=True)

    # ------------------------------------------------------------------ model changes

    def publish(self, changes: Sequence[Change]) -> None:
        """Fan one batch of model changes out to the subscribed sockets as US frames.

        Books are sent once per changed market per batch, after the batch (the model's state is
        already the batch's end state), so every ``marketData`` frame is a consistent full book.
        """
        touched: dict[str, int] = {}
        trades: list[tuple[str, str]] = []
        for change in changes:
            if isinstance(change, BookChanged | MarketResolved | MarketOpened):
                market = self.model.by_condition[change.condition_id]
                touched[market.slug] = change.ts_ms
            elif isinstance(change, TradeExecuted):
                market = self.model.by_condition[change.condition_id]
                trades.append((market.slug, self._trade_json(market, change)))
                touched[market.slug] = change.ts_ms
            elif getattr(change, "account", None) == self.settings.account:
                self._private_change(change)
        for slug, ts_ms in touched.items():
            self._stats_of(slug).last_change_ms = ts_ms
        markets_clients = [c for c in self._clients.values() if c.channel == w.MARKETS]
        for slug, payload_json in trades:
            for client in markets_clients:
                for sub in client.subscriptions.values():
                    if sub.subscription_type == w.SUB_TRADE and slug in sub.slugs:
                        frame = w.envelope(sub.request_id, w.SUB_TRADE, "trade", payload_json)
                        self._send(client, "trade", frame)
        if not touched or not markets_clients:
            return
        for slug in touched:
            book_json: str | None = None
            lite_json: str | None = None
            lite_changed = False
            for client in markets_clients:
                for sub in client.subscriptions.values():
                    if slug not in sub.slugs:
                        continue
                    if sub.subscription_type == w.SUB_MARKET_DATA:
                        if sub.debounced:
                            sub.dirty.add(slug)
                            continue
                        if book_json is None:
                            book_json = self._book_json(slug)
                        self._send(
                            client, "marketData", self._book_frame(sub, book_json), delta=True
                        )
                    elif sub.subscription_type == w.SUB_MARKET_DATA_LITE:
                        if lite_json is None:
                            lite_json = self._lite_json(slug)
                            # Lite quotes go out when something in them moved, not on every
                            # change deep in the book.
                            lite_changed = self._last_lite.get(slug) != lite_json
                            self._last_lite[slug] = lite_json
                        if not lite_changed:
                            continue
                        if sub.debounced:
                            sub.dirty.add(slug)
                            continue
                        self._send(
                            client, "marketDataLite", self._lite_frame(sub, lite_json), delta=True
                        )

    def _trade_json(self, market: SimMarket, trade: TradeExecuted) -> str:
        # US quotes everything in YES terms (protocol-us.md §11); a NO-token print at p is a YES
        # print at 1-p with the sides swapped, and its taker acted on the short side.
        yes = trade.token_id == market.token_ids[0]
        price = trade.price if yes else _ONE - trade.price
        taker_buys_yes = (trade.taker_side == "buy") == yes
        if yes:
            taker_intent = "ORDER_INTENT_BUY_LONG" if taker_buys_yes else "ORDER_INTENT_SELL_LONG"
        else:
            taker_intent = "ORDER_INTENT_SELL_SHORT" if taker_buys_yes else "ORDER_INTENT_BUY_SHORT"
        maker_intent = "ORDER_INTENT_SELL_LONG" if taker_buys_yes else "ORDER_INTENT_BUY_LONG"
        stats = self._stats_of(market.slug)
        stats.last_trade_px = price
        stats.shares_traded += trade.size
        stats.high_px = price if stats.high_px is None else max(stats.high_px, price)
        stats.low_px = price if stats.low_px is None else min(stats.low_px, price)
        return w.dumps(
            w.trade_payload(
                market.slug,
                price=price,
                quantity=trade.size,
                trade_time_ms=trade.ts_ms,
                maker_side="ORDER_SIDE_SELL" if taker_buys_yes else "ORDER_SIDE_BUY",
                maker_intent=maker_intent,
                taker_side="ORDER_SIDE_BUY" if taker_buys_yes else "ORDER_SIDE_SELL",
                taker_intent=taker_intent,
            )
        )

    # ------------------------------------------------------------------ private stream

    def _account_name(self) -> str:
        return self.settings.account

    def _account(self) -> Account:
        return self.model.accounts[self._account_name()]

    def _private_clients(self) -> list[_Client]:
        return [c for c in self._clients.values() if c.channel == w.PRIVATE]

    def _send_private(self, client: _Client, sub: _Subscription, key: str, payload: str) -> None:
        frame = w.private_envelope(
            sub.request_id,
            sub.subscription_type,
            key,
            payload,
            empty_error=self.settings.private_empty_error,
        )
        self._send(client, key, frame)

    def _fan_private(self, kind: str, slug: str | None, key: str, payload_json: str) -> None:
        for client in self._private_clients():
            for sub in client.subscriptions.values():
                if sub.subscription_type == kind and (slug is None or sub.covers(slug)):
                    self._send_private(client, sub, key, payload_json)

    def _private_change(self, change: Change) -> None:
        if isinstance(change, Fill):
            fill = change.fill
            self._pending_fills[fill.order_id] = fill
            self._order_notional[fill.order_id] = (
                self._order_notional.get(fill.order_id, _ZERO) + fill.size * fill.price
            )
        elif isinstance(change, OrderChanged):
            self._order_change(change)
        elif isinstance(change, PositionChanged):
            self._position_change(change)
        elif isinstance(change, BalanceChanged):
            self._balance_change(change)

    def _wire_order(self, order: AccountOrder) -> w.WireOrder:
        market = self.model.by_condition[order.condition_id]
        yes = order.token_id == market.token_ids[0]
        buys_yes = (order.side == "buy") == yes
        if yes:
            intent = "ORDER_INTENT_BUY_LONG" if order.side == "buy" else "ORDER_INTENT_SELL_LONG"
        else:
            intent = "ORDER_INTENT_BUY_SHORT" if order.side == "buy" else "ORDER_INTENT_SELL_SHORT"
        matched = order.size_matched
        notional = self._order_notional.get(order.order_id)
        avg = notional / matched if notional is not None and matched else None
        if avg is not None and not yes:
            avg = _ONE - avg
        if order.status == "live":
            state = "ORDER_STATE_PARTIALLY_FILLED" if matched else "ORDER_STATE_NEW"
        elif order.status == "matched":
            state = "ORDER_STATE_FILLED"
        elif order.status == "canceled_market_resolved":
            state = "ORDER_STATE_EXPIRED"
        else:
            state = "ORDER_STATE_CANCELED"
        return w.WireOrder(
            order_id=order.order_id,
            slug=market.slug,
            title=market.question,
            side="ORDER_SIDE_BUY" if buys_yes else "ORDER_SIDE_SELL",
            intent=intent,
            price=order.price if yes else _ONE - order.price,
            quantity=order.original_size,
            cum_quantity=matched,
            state=state,
            created_ms=order.created_ms,
            avg_px=avg,
            tif="TIME_IN_FORCE_FILL_OR_KILL"
            if order.order_type == "FOK"
            else "TIME_IN_FORCE_GOOD_TILL_CANCEL",
            event_slug=market.event_slug,
        )

    def _order_change(self, change: OrderChanged) -> None:
        order = change.order
        wire = self._wire_order(order)
        fill = self._pending_fills.pop(order.order_id, None) if change.kind == "update" else None
        if change.kind == "placement":
            exec_type = "EXECUTION_TYPE_NEW"
        elif change.kind == "update":
            exec_type = (
                "EXECUTION_TYPE_FILL"
                if order.status == "matched"
                else "EXECUTION_TYPE_PARTIAL_FILL"
            )
        elif order.status == "canceled_market_resolved":
            exec_type = "EXECUTION_TYPE_EXPIRED"
        else:
            exec_type = "EXECUTION_TYPE_CANCELED"
        market = self.model.by_condition[order.condition_id]
        yes = order.token_id == market.token_ids[0]
        last_px = None
        if fill is not None:
            last_px = fill.price if yes else _ONE - fill.price
        execution = w.WireExecution(
            execution_id=f"{order.order_id[:18]}-{next(self._exec_seq)}",
            order=wire,
            exec_type=exec_type,
            transact_ms=change.ts_ms,
            last_shares=fill.size if fill is not None else _ZERO,
            last_px=last_px,
            trade_id=fill.trade_id if fill is not None else "",
            aggressor=fill is not None and fill.role == "taker",
            text="market resolved" if exec_type == "EXECUTION_TYPE_EXPIRED" else "",
        )
        payload = w.dumps(w.order_update_payload(execution))
        self._fan_private(w.SUB_ORDER, market.slug, "orderSubscriptionUpdate", payload)
        if order.status != "live":
            # Done orders get no more reports; keep the bookkeeping bounded on long runs.
            self._order_notional.pop(order.order_id, None)
            self._pending_fills.pop(order.order_id, None)

    def _send_order_snapshot(self, client: _Client, sub: _Subscription) -> None:
        orders = [
            self._wire_order(o)
            for o in self._account().open_orders()
            if sub.covers(self.model.by_condition[o.condition_id].slug)
        ]
        size = max(1, self.settings.snapshot_page_size)
        pages = [orders[i : i + size] for i in range(0, len(orders), size)] or [[]]
        for n, page in enumerate(pages):
            payload = w.order_snapshot_payload(page, eof=n == len(pages) - 1)
            self._send_private(client, sub, "orderSubscriptionSnapshot", w.dumps(payload))

    def _wire_position(self, market: SimMarket, pos: _Position, net: Decimal) -> w.WirePosition:
        return w.WirePosition(
            slug=market.slug,
            title=market.question,
            net=net,
            bought=pos.bought,
            sold=pos.sold,
            cost=pos.cost,
            realized=pos.realized,
            update_ms=pos.update_ms,
            event_slug=market.event_slug,
            position_id=f"{self._account_name()}:{market.slug}",
        )

    def _position_change(self, change: PositionChanged) -> None:
        market = self.model.by_condition[change.condition_id]
        yes = change.token_id == market.token_ids[0]
        existed = market.slug in self._positions
        pos = self._positions.setdefault(market.slug, _Position())
        before = self._wire_position(market, pos, pos.net) if existed else None
        # The US account only holds the YES instrument; a NO holding would be a short YES.
        before_net = change.before if yes else -change.before
        after_net = change.after if yes else -change.after
        if change.reason == "resolution":
            won = market.winning_token == market.token_ids[0]
            price = _ONE if won else _ZERO
            entry = "LEDGER_ENTRY_TYPE_RESOLUTION"
        else:
            fill = self._account().fills.get(change.trade_id)
            price = fill.price if fill is not None else _ZERO
            if fill is not None and not yes:
                price = _ONE - price
            entry = "LEDGER_ENTRY_TYPE_ORDER_EXECUTION"
        if change.reason == "trade_failed":
            pos.revert(change.trade_id)
        else:
            pos.apply(change.trade_id, after_net - before_net, price)
        if pos.net != after_net:
            # The model is the ground truth for the quantity; bookkeeping only adds cost/P&L.
            log.warning("US position bookkeeping drifted in %s; resynced", market.slug)
            pos.net = after_net
        pos.update_ms = change.ts_ms
        after = self._wire_position(market, pos, pos.net)
        payload = w.position_subscription_payload(
            before,
            after,
            update_ms=change.ts_ms,
            trade_id=change.trade_id,
            entry_type=entry,
            description=change.reason,
        )
        self._fan_private(w.SUB_POSITION, market.slug, "positionSubscription", w.dumps(payload))

    def _balance(self, cash: Decimal, update_ms: int | None = None) -> w.WireBalance:
        reserved = sum(
            (o.remaining * o.price for o in self._account().open_orders() if o.side == "buy"),
            _ZERO,
        )
        return w.WireBalance(
            current_balance=cash,
            buying_power=cash - reserved,
            open_orders=reserved,
            update_ms=update_ms,
        )

    def _balance_change(self, change: BalanceChanged) -> None:
        payload = w.account_balances_update_payload(
            self._balance(change.before),
            self._balance(change.after, change.ts_ms),
            update_ms=change.ts_ms,
            change_id=f"bal-{next(self._change_seq)}",
            account_name=self._account_name(),
            description=change.reason,
            entry_type="LEDGER_ENTRY_TYPE_RESOLUTION"
            if change.reason == "resolution"
            else "LEDGER_ENTRY_TYPE_ORDER_EXECUTION",
            security=change.trade_id,
        )
        self._fan_private(w.SUB_ACCOUNT_BALANCE, None, "accountBalancesUpdate", w.dumps(payload))

    # ------------------------------------------------------------------ ground truth

    def position_of(self, slug: str) -> Decimal:
        """The demo account's YES position in a market, as the private stream reports it."""
        pos = self._positions.get(slug)
        return pos.net if pos is not None else _ZERO

    # ------------------------------------------------------------------ REST

    def handle_rest(
        self, method: str, path: str, query: Mapping[str, Sequence[str]] | str
    ) -> RestResponse | None:
        """Answer a public REST request of the US gateway, or ``None`` when it is not ours.

        Args:
            method: HTTP method.
            path: Request path (a query string on it is merged into ``query``).
            query: Parsed query (``{"slug": ["a", "b"]}``) or the raw query string.

        Example:
            >>> from polyresearch.simulator.market import MarketModel
            >>> venue = UsFrontEnd(MarketModel(seed=1, markets=3))
            >>> r = venue.handle_rest("GET", "/v1/markets", "limit=2")
            >>> import json
            >>> r.status, len(json.loads(r.body)["markets"])
            (200, 2)
        """
        parts = urlsplit(path)
        path = parts.path
        if not path.startswith("/v1/") or path in self.paths:
            return None
        params = _parse_query(query)
        if parts.query:
            for name, values in parse_qs(parts.query, keep_blank_values=True).items():
                params.setdefault(name, []).extend(values)
        if method.upper() not in {"GET", "HEAD"}:
            return _json(405, {"status": 405, "message": "Method Not Allowed"})
        self._count("rest_requests")
        try:
            response = self._route(path.rstrip("/") or "/", params)
        except _BadParam as exc:
            response = _json(400, {"status": 400, "message": str(exc)})
        if response is None:
            response = _json(404, {"status": 404, "message": "Not Found"})
        self._count(f"rest_{response.status}")
        return response

    def _route(self, path: str, params: dict[str, list[str]]) -> RestResponse | None:
        segments = path.split("/")[2:]  # after "", "v1"
        match segments:
            case ["markets"]:
                return _json(200, {"markets": self._list_markets(params)})
            case ["market", "slug", slug]:
                market = self.model.by_slug.get(slug)
                return _json(200, {"market": self._market_json(market)}) if market else None
            case ["market", "id", market_id]:
                found = next((m for m in self.model.markets if m.market_id == market_id), None)
                return _json(200, {"market": self._market_json(found)}) if found else None
            case ["markets", slug, "book"]:
                if slug not in self.model.by_slug:
                    return None
                return _json(200, {"marketData": self._book_payload(slug)})
            case ["markets", slug, "bbo"]:
                if slug not in self.model.by_slug:
                    return None
                return _json(200, {"marketData": self._lite_payload(slug)})
            case ["markets", slug, "settlement"]:
                market = self.model.by_slug.get(slug)
                if market is None or not market.resolved:
                    return None
                won = market.winning_token == market.token_ids[0]
                return _json(200, {"slug": slug, "settlement": 1.0 if won else 0.0})
            case ["events"]:
                return _json(200, {"events": self._list_events(params)})
            case ["events", "slug", slug]:
                event = self._events().get(slug)
                return _json(200, {"event": self._event_json(slug, event)}) if event else None
            case ["events", event_id]:
                for slug, markets in self._events().items():
                    if _event_id(markets) == event_id:
                        return _json(200, {"event": self._event_json(slug, markets)})
                return None
            case _:
                return None

    def _market_json(self, market: SimMarket) -> dict[str, Any]:
        book = self.model.book(market.token_ids[0])
        best_bid, best_ask = book.best_bid(), book.best_ask()
        stats = self._stats_of(market.slug)
        if market.resolved:
            status = "MARKET_STATUS_RESOLVED"
        elif market.active:
            status = "MARKET_STATUS_OPEN"
        else:
            status = "MARKET_STATUS_UNSPECIFIED"
        body: dict[str, Any] = {
            "id": market.market_id,
            "question": market.question,
            "slug": market.slug,
            "title": market.question,
            "description": market.description,
            "category": _category(market.slug),
            "endDate": market.end_date,
            "startDate": w.rfc3339(market.opened_ms),
            "active": market.active,
            "closed": market.resolved,
            "archived": False,
            "status": status,
            "orderPriceMinTickSize": float(market.tick_size),
            "minimumTradeQty": float(_ONE),
            "marketSides": [_market_side(market, n, best_bid, best_ask) for n in (0, 1)],
            "volume": float(stats.shares_traded),
            "eventSlug": market.event_slug,
        }
        if best_bid is not None:
            body["bestBidQuote"] = w.amount(best_bid)
        if best_ask is not None:
            body["bestAskQuote"] = w.amount(best_ask)
        return body

    def _list_markets(self, params: dict[str, list[str]]) -> list[dict[str, Any]]:
        markets: Iterable[SimMarket] = self.model.markets
        slugs = params.get("slug")
        if slugs:
            wanted = set(slugs)
            markets = [m for m in markets if m.slug in wanted]
        ids = params.get("id")
        if ids:
            wanted_ids = set(ids)
            markets = [m for m in markets if m.market_id in wanted_ids]
        event_slugs = params.get("eventSlug")
        if event_slugs:
            wanted_events = set(event_slugs)
            markets = [m for m in markets if m.event_slug in wanted_events]
        active = _bool_param(params, "active")
        if active is not None:
            markets = [m for m in markets if m.active == active]
        closed = _bool_param(params, "closed")
        if closed is not None:
            markets = [m for m in markets if m.resolved == closed]
        return [self._market_json(m) for m in _page(list(markets), params)]

    def _events(self) -> dict[str, list[SimMarket]]:
        events: dict[str, list[SimMarket]] = {}
        for market in self.model.markets:
            events.setdefault(market.event_slug or market.slug, []).append(market)
        return events

    def _event_json(self, slug: str, markets: list[SimMarket]) -> dict[str, Any]:
        active = any(m.active for m in markets)
        closed = all(m.resolved for m in markets)
        return {
            "id": _event_id(markets),
            "slug": slug,
            "title": markets[0].question,
            "description": markets[0].description,
            "startDate": w.rfc3339(min(m.opened_ms for m in markets)),
            "endDate": max(m.end_date for m in markets),
            "active": active,
            "closed": closed,
            "archived": False,
            "category": _category(markets[0].slug),
            "volume": float(sum((self._stats_of(m.slug).shares_traded for m in markets), _ZERO)),
            "markets": [self._market_json(m) for m in markets],
        }

    def _list_events(self, params: dict[str, list[str]]) -> list[dict[str, Any]]:
        events = list(self._events().items())
        slugs = params.get("slug")
        if slugs:
            wanted = set(slugs)
            events = [(s, ms) for s, ms in events if s in wanted]
        ids = params.get("id")
        if ids:
            wanted_ids = set(ids)
            events = [(s, ms) for s, ms in events if _event_id(ms) in wanted_ids]
        active = _bool_param(params, "active")
        if active is not None:
            events = [(s, ms) for s, ms in events if any(m.active for m in ms) == active]
        closed = _bool_param(params, "closed")
        if closed is not None:
            events = [(s, ms) for s, ms in events if all(m.resolved for m in ms) == closed]
        return [self._event_json(s, ms) for s, ms in _page(events, params)]


# ---------------------------------------------------------------------------- helpers


def _json(status: int, body: object) -> RestResponse:
    return RestResponse(status, w.dumps(body).encode())


class _BadParam(ValueError):
    """A query parameter that cannot be parsed (HTTP 400)."""


def _parse_query(query: Mapping[str, Sequence[str]] | str) -> dict[str, list[str]]:
    if isinstance(query, str):
        return {k: list(v) for k, v in parse_qs(query, keep_blank_values=True).items()}
    return {k: [v] if isinstance(v, str) else list(v) for k, v in query.items()}


def _bool_param(params: Mapping[str, list[str]], name: str) -> bool | None:
    values = params.get(name)
    if not values:
        return None
    value = values[-1].lower()
    if value not in {"true", "false"}:
        raise _BadParam(f"{name} must be true or false")
    return value == "true"


def _int_param(params: Mapping[str, list[str]], name: str, default: int) -> int:
    values = params.get(name)
    if not values:
        return default
    try:
        value = int(values[-1])
    except ValueError:
        raise _BadParam(f"{name} must be an integer") from None
    if value < 0:
        raise _BadParam(f"{name} must not be negative")
    return value


def _page(items: list[_T], params: Mapping[str, list[str]]) -> list[_T]:
    # No limit (or 0) means every item: the simulator lists few enough markets.
    offset = _int_param(params, "offset", 0)
    limit = _int_param(params, "limit", 0)
    return items[offset : offset + limit] if limit else items[offset:]


def _market_side(
    market: SimMarket, n: int, best_bid: Decimal | None, best_ask: Decimal | None
) -> dict[str, Any]:
    """One ``marketSides`` entry: the long (YES) side quotes the ask, the short side 1 - bid."""
    side: dict[str, Any] = {
        "id": f"{market.market_id}-{n}",
        "identifier": market.token_ids[n],
        "description": market.outcomes[n],
        "long": n == 0,
        "marketId": int(market.market_id),
        "tradable": market.active and not market.resolved,
    }
    quote = best_ask if n == 0 else (None if best_bid is None else _ONE - best_bid)
    if quote is not None:
        side["quote"] = w.amount(quote)
    return side


def _event_id(markets: list[SimMarket]) -> str:
    return markets[0].event_id or markets[0].market_id


def _category(slug: str) -> str:
    return "crypto" if slug.startswith("cpc-") else "sports"
