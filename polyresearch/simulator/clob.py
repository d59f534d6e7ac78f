"""The simulator's CLOB venue: ``/ws/market`` and ``/ws/user`` plus the CLOB/Gamma REST look-ups.

Written from ``docs/protocol-clob.md`` (its §8 is the checklist), independently of
:mod:`polyresearch.protocol`: the encoders, the book hash (§6.4) and the subscription handling
below are this module's own reading of the docs, so the simulator can catch our decoders'
mistakes instead of sharing them.

What goes on the wire:

- **Subscribe** (market): ``{"type": "market", "assets_ids": [...]}`` (``type`` matched
  case-insensitively, unknown fields ignored), then ``{"operation": "subscribe" |
  "unsubscribe", "assets_ids": [...]}``. ``custom_feature_enabled`` is connection-wide and is
  applied before duplicates are dropped; assets already subscribed are silently ignored (no new
  ``book``). ``initial_dump`` (default true) sends ONE JSON array with a ``book`` per new asset,
  compact, keys ``market, asset_id, timestamp, hash, bids, asks, tick_size, event_type,
  last_trade_price``, bids ascending and asks descending.
- **price_change** per model change, one entry per level (the YES entry then its NO mirror),
  ``size`` absolute (``"0"`` removes), ``hash``/``best_bid``/``best_ask`` of that token's book
  right after the entry (``"0"``/``"1"`` for an empty side), ``event_type`` last, in the live
  style with ``", "`` separators.
- **After a trade**: the ``price_change`` of the consumed level (hashed with the new last trade
  price, as observed), then ``last_trade_price`` for the taker's token and its mirror on the
  sibling, and after the taker order's last fill a full ``book`` per token (single object,
  keys ``market, asset_id, bids, asks, hash, timestamp, event_type``).
- ``tick_size_change``; and only with ``custom_feature_enabled``: ``best_bid_ask`` (when a
  token's top of book moves), ``new_market`` (to every such connection) and
  ``market_resolved`` (to connections subscribed to either token).
- Text ``PING`` → ``PONG``; no ``PING`` for ``ping_timeout`` seconds → close 1008 "no ping
  received".
- **User channel**: the first message must carry ``auth`` matching the demo account, else the
  socket is closed with an empty close frame (no payload, as observed). Then ``order``
  (``PLACEMENT``/``UPDATE``/``CANCELLATION``) and ``trade`` (``MATCHED`` → ``MINED`` →
  ``CONFIRMED``, or via ``RETRYING`` to ``MINED``/``FAILED``) events of the ``"clob"``
  account, filtered by ``markets`` (condition ids; none = all), with ``operation``
  subscribe/unsubscribe of markets.

Example:
    >>> book_hash("0xm", "1", "100", [("0.4", "10")], [("0.6", "5")], "5", "0.01", False, "")
    '0c29d1fb39e20c592e3e922cf729453b5b9453f1'
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from bisect import bisect_left
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from polyresearch.simulator.faults import Fault
from polyresearch.simulator.market import (
    ZERO,
    AccountFill,
    AccountOrder,
    BookChanged,
    Change,
    Fill,
    FillUpdated,
    LevelSet,
    MarketModel,
    MarketOpened,
    MarketResolved,
    OrderChanged,
    SimMarket,
    TickSizeChanged,
    TradeExecuted,
    plain,
)
from polyresearch.simulator.rest import ClobRest, RestResponse
from polyresearch.simulator.server import Link, SimContext, text_frame

__all__ = ["DEFAULT_OVERSIZED_BYTES", "ClobFrontEnd", "book_hash"]

logger = logging.getLogger("polyresearch.simulator")

MARKET_PATH: Final = "/ws/market"
USER_PATH: Final = "/ws/user"
#: Size of the ``oversized`` fault frame by default: above the 1-2 MiB peers allow (§1.1).
DEFAULT_OVERSIZED_BYTES: Final = 2 * 1024 * 1024 + 1024
#: Stand-in API key and address of the other side of the demo account's trades.
_COUNTERPARTY_KEY: Final = "00000000-0000-4000-8000-00000000c1ab"
_COUNTERPARTY_ADDRESS: Final = "0x" + "c1ab" * 10
_ORDER_STATUS: Final = {
    "live": "LIVE",
    "matched": "MATCHED",
    "canceled": "CANCELED",
    "canceled_market_resolved": "CANCELED_MARKET_RESOLVED",
}
_ORDER_KIND: Final = {"placement": "PLACEMENT", "update": "UPDATE", "cancellation": "CANCELLATION"}


def book_hash(
    market: str,
    asset_id: str,
    timestamp: str,
    bids_asc: Iterable[tuple[str, str]],
    asks_desc: Iterable[tuple[str, str]],
    min_order_size: str,
    tick_size: str,
    neg_risk: bool,
    last_trade_price: str,
) -> str:
    """SHA-1 of the book summary exactly as protocol-clob.md §6.4 describes it.

    The summary is ``{"market", "asset_id", "timestamp", "hash": "", "bids", "asks",
    "min_order_size", "tick_size", "neg_risk", "last_trade_price"}`` in that key order,
    compact separators, levels ``{"price", "size"}`` as the wire strings, bids ascending and
    asks descending.
    """
    summary = {
        "market": market,
        "asset_id": asset_id,
        "timestamp": timestamp,
        "hash": "",
        "bids": [{"price": p, "size": s} for p, s in bids_asc],
        "asks": [{"price": p, "size": s} for p, s in asks_desc],
        "min_order_size": min_order_size,
        "tick_size": tick_size,
        "neg_risk": neg_risk,
        "last_trade_price": last_trade_price,
    }
    return hashlib.sha1(  # noqa: S324 - the venue's integrity hash, not security
        json.dumps(summary, separators=(",", ":")).encode()
    ).hexdigest()


_LTP_TEXT: dict[Decimal, str] = {}


def _ltp(price: Decimal | None) -> str:
    # Books carry the last trade price with three decimals ("0.500"); "" before any trade.
    # Cached like _price_text: four renders per trade, from a small set of prices.
    if price is None:
        return ""
    text = _LTP_TEXT.get(price)
    if text is None:
        if len(_LTP_TEXT) >= _PRICE_TEXT_MAX:
            _LTP_TEXT.clear()
        text = _LTP_TEXT[price] = f"{price:.3f}"
    return text


def _side_word(side: str) -> str:
    return "BUY" if side == "buy" else "SELL"


def _opposite(side: str) -> str:
    return "sell" if side == "buy" else "buy"


_PRICE_TEXT: dict[Decimal, str] = {}
#: Bound of :data:`_PRICE_TEXT`; prices sit on a 0.01 or 0.001 grid, so ~1,000 are ever used.
_PRICE_TEXT_MAX: Final = 4096


def _price_text(price: Decimal) -> str:
    # plain() costs ~1 µs a call and every entry renders two prices; prices repeat endlessly.
    text = _PRICE_TEXT.get(price)
    if text is None:
        if len(_PRICE_TEXT) >= _PRICE_TEXT_MAX:
            _PRICE_TEXT.clear()
        text = _PRICE_TEXT[price] = plain(price)
    return text


class _Side:
    """One side of a shadow book kept in wire order, with each level's hash text cached.

    ``keys`` are sort keys ascending (the price for bids, minus the price for asks), so the
    lists are in wire order (bids ascending, asks descending) and the best level is always
    the last one. A change re-renders only its own level (``texts``), and the side's joined
    text is rebuilt only when the side changed; the hash then costs one join per changed side
    instead of a sort and a render of every level.
    """

    __slots__ = ("joined", "keys", "live_joined", "prices", "sizes", "texts")

    def __init__(self) -> None:
        self.keys: list[Decimal] = []
        self.prices: list[str] = []
        self.sizes: list[str] = []
        #: ``{"price":"p","size":"s"}`` per level: the compact text of the hash and dumps.
        self.texts: list[str] = []
        self.joined: str | None = ""
        self.live_joined: str | None = ""

    def set(self, key: Decimal, price: str, size: str | None) -> None:
        """Set the level at ``key`` to ``size`` (None removes it)."""
        keys = self.keys
        i = bisect_left(keys, key)
        present = i < len(keys) and keys[i] == key
        if size is None:
            if present:
                del keys[i], self.prices[i], self.sizes[i], self.texts[i]
                self.joined = self.live_joined = None
            return
        text = f'{{"price":"{price}","size":"{size}"}}'
        if present:
            self.sizes[i] = size
            self.texts[i] = text
        else:
            keys.insert(i, key)
            self.prices.insert(i, price)
            self.sizes.insert(i, size)
            self.texts.insert(i, text)
        self.joined = self.live_joined = None

    def compact(self) -> str:
        """The levels as compact JSON objects joined by ``,`` (no brackets)."""
        joined = self.joined
        if joined is None:
            joined = self.joined = ",".join(self.texts)
        return joined

    def live(self) -> str:
        """The levels in the live style (``", "`` separators), for mid-stream books."""
        joined = self.live_joined
        if joined is None:
            joined = self.live_joined = ", ".join(
                f'{{"price":"{p}", "size":"{s}"}}'
                for p, s in zip(self.prices, self.sizes, strict=True)
            )
        return joined

    def pairs(self) -> list[tuple[str, str]]:
        return list(zip(self.prices, self.sizes, strict=True))


class _Shadow:
    """The front-end's own copy of one token's book, advanced change by change.

    Hashes and best prices must describe the book right after each entry, while the model may
    already be several steps further when a batch is published; so the front-end replays the
    change stream into these copies, exactly like a client would.
    """

    __slots__ = (
        "asks",
        "bids",
        "condition_id",
        "ltp",
        "min_size",
        "neg_risk",
        "prefix",
        "tick",
        "token_id",
    )

    def __init__(self, model: MarketModel, market: SimMarket, token_id: str) -> None:
        book = model.book(token_id)
        self.token_id = token_id
        self.condition_id = market.condition_id
        self.tick = plain(market.tick_size)
        self.min_size = plain(market.min_order_size)
        self.neg_risk = "true" if market.neg_risk else "false"
        self.ltp = _ltp(book.last_trade_price)
        # The constant head of the hash summary, built once.
        self.prefix = f'{{"market":"{self.condition_id}","asset_id":"{token_id}","timestamp":"'
        self.bids = _Side()
        self.asks = _Side()
        for p, s in book.bids.items():
            self.bids.set(p, _price_text(p), plain(s))
        for p, s in book.asks.items():
            self.asks.set(-p, _price_text(p), plain(s))

    def apply(self, level: LevelSet) -> tuple[str, str]:
        """Apply one change; return its price and size as wire strings."""
        price = _price_text(level.price)
        if level.size > ZERO:
            size = plain(level.size)
            if level.side == "bid":
                self.bids.set(level.price, price, size)
            else:
                self.asks.set(-level.price, price, size)
            return price, size
        if level.side == "bid":
            self.bids.set(level.price, price, None)
        else:
            self.asks.set(-level.price, price, None)
        return price, "0"

    def best_bid(self) -> str:
        prices = self.bids.prices
        return prices[-1] if prices else "0"

    def best_ask(self) -> str:
        prices = self.asks.prices
        return prices[-1] if prices else "1"

    def levels(self) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        """Bids ascending and asks descending: the wire (and hash) order."""
        return self.bids.pairs(), self.asks.pairs()

    def hash(self, timestamp: str) -> str:
        # Same bytes as book_hash() (a test pins that), from the cached per-side texts.
        text = (
            f'{self.prefix}{timestamp}","hash":"","bids":[{self.bids.compact()}],'
            f'"asks":[{self.asks.compact()}],"min_order_size":"{self.min_size}",'
            f'"tick_size":"{self.tick}","neg_risk":{self.neg_risk},'
            f'"last_trade_price":"{self.ltp}"}}'
        )
        return hashlib.sha1(text.encode()).hexdigest()  # noqa: S324 - venue integrity hash


@dataclass(eq=False, slots=True)
class _MarketConn:
    link: Link
    assets: set[str] = field(default_factory=set)
    custom: bool = False
    subscribed: bool = False
    last_ping: float = field(default_factory=time.monotonic)
    blast: asyncio.Task[int] | None = None


@dataclass(eq=False, slots=True)
class _UserConn:
    link: Link
    #: Lower-cased condition ids; empty = every market.
    markets: set[str] = field(default_factory=set)
    authed: bool = False
    last_ping: float = field(default_factory=time.monotonic)


@dataclass(slots=True)
class _Out:
    """One encoded frame and who gets it."""

    kind: str
    payload: bytes
    #: ``market`` / ``token`` / ``custom_token`` / ``custom_market`` / ``custom_all`` / ``user``.
    scope: str
    key: str
    delta: bool = False


class ClobFrontEnd:
    """The CLOB venue of the simulator (market and user channels, CLOB/Gamma REST).

    Built by the server as ``ClobFrontEnd(model, ctx)``; see ``docs/simulator-interfaces.md``.
    """

    venue = "clob"
    paths = (MARKET_PATH, USER_PATH)

    def __init__(self, model: MarketModel, ctx: SimContext) -> None:
        self._model = model
        self._ctx = ctx
        creds = ctx.config.clob
        self._api_key = creds.api_key
        self._secret = creds.secret
        self._passphrase = creds.passphrase
        self._address = creds.address
        self._shadows: dict[str, _Shadow] = {}
        for market in model.markets:
            self._add_shadows(market)
        self._token_subs: dict[str, set[_MarketConn]] = {}
        self._custom: set[_MarketConn] = set()
        self._users: set[_UserConn] = set()
        self._conns: dict[int, _MarketConn | _UserConn] = {}
        self._pending_ltp: dict[str, list[tuple[str, bytes]]] = {}
        self._book_due: set[str] = set()
        self._last_bba: dict[str, tuple[str, str]] = {}
        self._last_side: dict[str, str] = {}
        self._blast_segment: list[tuple[str, bytes]] = []
        self.rest = ClobRest(
            model,
            api_key=self._api_key,
            secret=self._secret,
            passphrase=self._passphrase,
            now_ms=ctx.now_ms,
            book_summary=self.book_summary,
            last_trade_side=self._last_side.get,
        )

    def _add_shadows(self, market: SimMarket) -> None:
        for token in market.token_ids:
            self._shadows[token] = _Shadow(self._model, market, token)

    # ------------------------------------------------------------------ lifecycle hooks

    async def start(self) -> None:
        """Pre-encode the blast segment when the simulator runs in blast mode."""
        if self._ctx.config.blast:
            self._build_blast_segment()

    async def aclose(self) -> None:
        """Stop every running blast."""
        for conn in list(self._conns.values()):
            if isinstance(conn, _MarketConn) and conn.blast is not None:
                conn.blast.cancel()

    # ------------------------------------------------------------------ REST

    def handle_rest(
        self,
        method: str,
        path: str,
        query: Mapping[str, list[str]],
        headers: Mapping[str, str] | None = None,
    ) -> RestResponse | None:
        """Answer CLOB and Gamma look-ups (see :mod:`polyresearch.simulator.rest`)."""
        if path.startswith("/v1/"):
            return None
        return self.rest.handle(method, path, query, headers)

    def book_summary(self, token_id: str, now_ms: int) -> dict[str, Any]:
        """The REST ``/book`` body of a token at ``now_ms`` (ground truth, hashed per §6.4)."""
        market = self._model.by_token[token_id]
        book = self._model.book(token_id)
        bids = [(plain(p), plain(s)) for p, s in sorted(book.bids.items())]
        asks = [(plain(p), plain(s)) for p, s in sorted(book.asks.items(), reverse=True)]
        ts = str(now_ms)
        tick, min_size, ltp = plain(market.tick_size), plain(market.min_order_size), ""
        ltp = _ltp(book.last_trade_price)
        return {
            "market": market.condition_id,
            "asset_id": token_id,
            "timestamp": ts,
            "hash": book_hash(
                market.condition_id, token_id, ts, bids, asks, min_size, tick, market.neg_risk, ltp
            ),
            "bids": [{"price": p, "size": s} for p, s in bids],
            "asks": [{"price": p, "size": s} for p, s in asks],
            "min_order_size": min_size,
            "tick_size": tick,
            "neg_risk": market.neg_risk,
            "last_trade_price": ltp,
        }

    # ------------------------------------------------------------------ encoding

    def _dump_book(self, token: str, ts: str, *, event_type: bool = True) -> str:
        shadow = self._shadows[token]
        event = '"event_type":"book",' if event_type else ""
        return (
            f'{{"market":"{shadow.condition_id}","asset_id":"{token}","timestamp":"{ts}",'
            f'"hash":"{shadow.hash(ts)}","bids":[{shadow.bids.compact()}],'
            f'"asks":[{shadow.asks.compact()}],"tick_size":"{shadow.tick}",{event}'
            f'"last_trade_price":"{shadow.ltp}"}}'
        )

    def _live_book(self, token: str, ts: str) -> bytes:
        shadow = self._shadows[token]
        return (
            f'{{"market":"{shadow.condition_id}", "asset_id":"{token}", '
            f'"bids":[{shadow.bids.live()}], "asks":[{shadow.asks.live()}], '
            f'"hash":"{shadow.hash(ts)}", "timestamp":"{ts}", "event_type":"book"}}'
        ).encode()

    def _wanted(self, market: SimMarket) -> bool:
        yes, no = market.token_ids
        return bool(self._token_subs.get(yes) or self._token_subs.get(no))

    def _encode(self, changes: Iterable[Change], *, everything: bool = False) -> list[_Out]:
        """Advance the shadows through ``changes`` and encode the frames subscribers need.

        Args:
            changes: One published batch, in model order.
            everything: Encode market frames for every market (the blast segment), not only
                for subscribed ones.
        """
        out: list[_Out] = []
        model = self._model
        for change in changes:
            if isinstance(change, BookChanged):
                self._encode_book_changed(change, out, everything)
            elif isinstance(change, TradeExecuted):
                self._encode_trade(change, out, everything)
            elif isinstance(change, TickSizeChanged):
                self._shadows[change.token_id].tick = plain(change.new)
                if everything or self._token_subs.get(change.token_id):
                    payload = (
                        f'{{"event_type":"tick_size_change","asset_id":"{change.token_id}",'
                        f'"market":"{change.condition_id}","old_tick_size":"{plain(change.old)}",'
                        f'"new_tick_size":"{plain(change.new)}","timestamp":"{change.ts_ms}"}}'
                    )
                    out.append(_Out("tick_size_change", payload.encode(), "token", change.token_id))
            elif isinstance(change, MarketOpened):
                market = model.by_condition[change.condition_id]
                self._add_shadows(market)
                if everything:
                    # A blast cycle replays the market's whole life: give it its opening book,
                    # so a client re-entering the cycle starts the new market from scratch.
                    ts = str(change.ts_ms)
                    for token in market.token_ids:
                        book = self._dump_book(token, ts).encode()
                        out.append(_Out("book", book, "token", token))
                if self._custom and not everything:
                    out.append(
                        _Out("new_market", self._new_market(market, change.ts_ms), "custom_all", "")
                    )
            elif isinstance(change, MarketResolved):
                if self._custom and not everything:
                    market = model.by_condition[change.condition_id]
                    resolved = self._market_resolved(market, change)
                    out.append(
                        _Out("market_resolved", resolved, "custom_market", market.condition_id)
                    )
            elif isinstance(change, OrderChanged):
                if change.account == "clob" and self._users and not everything:
                    order = self._order_event(change.order, change.kind, change.ts_ms)
                    out.append(_Out("order", order, "user", change.order.condition_id))
            elif isinstance(change, Fill | FillUpdated):
                if change.account == "clob" and self._users and not everything:
                    trade = self._trade_event(change.fill, change.ts_ms)
                    out.append(_Out("trade", trade, "user", change.fill.condition_id))
        return out

    def _encode_book_changed(self, change: BookChanged, out: list[_Out], everything: bool) -> None:
        market = self._model.by_condition[change.condition_id]
        shadows = self._shadows
        if not (everything or self._wanted(market)):
            for level in change.levels:
                shadows[level.token_id].apply(level)
            self._pending_ltp.pop(market.condition_id, None)
            self._book_due.discard(market.condition_id)
            return
        ts = str(change.ts_ms)
        entries = []
        for level in change.levels:
            shadow = shadows[level.token_id]
            price, size = shadow.apply(level)
            side = "BUY" if level.side == "bid" else "SELL"
            bids, asks = shadow.bids.prices, shadow.asks.prices
            entries.append(
                f'{{"asset_id":"{level.token_id}", "price":"{price}", '
                f'"size":"{size}", "side":"{side}", "hash":"{shadow.hash(ts)}", '
                f'"best_bid":"{bids[-1] if bids else "0"}", '
                f'"best_ask":"{asks[-1] if asks else "1"}"}}'
            )
        payload = (
            f'{{"market":"{market.condition_id}", "price_changes":[{", ".join(entries)}], '
            f'"timestamp":"{ts}", "event_type":"price_change"}}'
        )
        out.append(_Out("price_change", payload.encode(), "market", market.condition_id, True))
        for token, ltp_payload in self._pending_ltp.pop(market.condition_id, ()):
            out.append(_Out("last_trade_price", ltp_payload, "token", token))
        if market.condition_id in self._book_due:
            self._book_due.discard(market.condition_id)
            for token in market.token_ids:
                out.append(_Out("book", self._live_book(token, ts), "token", token))
        if not everything and self._custom:
            for token in market.token_ids:
                self._encode_bba(market, token, ts, out)

    def _encode_bba(self, market: SimMarket, token: str, ts: str, out: list[_Out]) -> None:
        shadow = self._shadows[token]
        top = (shadow.best_bid(), shadow.best_ask())
        if self._last_bba.get(token) == top:
            return
        self._last_bba[token] = top
        if not any(conn.custom for conn in self._token_subs.get(token, ())):
            return
        spread = plain(Decimal(top[1]) - Decimal(top[0]))
        payload = (
            f'{{"event_type":"best_bid_ask","market":"{market.condition_id}",'
            f'"asset_id":"{token}","best_bid":"{top[0]}","best_ask":"{top[1]}",'
            f'"spread":"{spread}","timestamp":"{ts}"}}'
        )
        out.append(_Out("best_bid_ask", payload.encode(), "custom_token", token))

    def _encode_trade(self, trade: TradeExecuted, out: list[_Out], everything: bool) -> None:
        model = self._model
        sibling = model.sibling(trade.token_id)
        mirror_price = 1 - trade.price
        self._shadows[trade.token_id].ltp = _ltp(trade.price)
        self._shadows[sibling].ltp = _ltp(mirror_price)
        side = _side_word(trade.taker_side)
        mirror_side = _side_word(_opposite(trade.taker_side))
        self._last_side[trade.token_id] = side
        self._last_side[sibling] = mirror_side
        market = model.by_condition[trade.condition_id]
        if not (everything or self._wanted(market)):
            return
        tx_hash = "0x" + hashlib.sha256(trade.trade_id.encode()).hexdigest()
        pending = self._pending_ltp.setdefault(trade.condition_id, [])
        for token, price, token_side in (
            (trade.token_id, trade.price, side),
            (sibling, mirror_price, mirror_side),
        ):
            payload = (
                f'{{"event_type":"last_trade_price","asset_id":"{token}",'
                f'"market":"{trade.condition_id}","price":"{_ltp(price)}",'
                f'"size":"{plain(trade.size)}","fee_rate_bps":"0","side":"{token_side}",'
                f'"timestamp":"{trade.ts_ms}","transaction_hash":"{tx_hash}"}}'
            )
            pending.append((token, payload.encode()))
        if trade.last_fill:
            self._book_due.add(trade.condition_id)

    def _new_market(self, market: SimMarket, ts_ms: int) -> bytes:
        event = {
            "id": market.market_id,
            "question": market.question,
            "market": market.condition_id,
            "slug": market.slug,
            "description": market.description,
            "assets_ids": list(market.token_ids),
            "outcomes": list(market.outcomes),
            "event_message": {
                "id": market.event_id,
                "ticker": market.event_slug,
                "slug": market.event_slug,
                "title": market.question,
                "description": market.description,
            },
            "timestamp": str(ts_ms),
            "tags": ["simulated"],
            "condition_id": market.condition_id,
            "active": market.active,
            "clob_token_ids": list(market.token_ids),
            "order_price_min_tick_size": plain(market.tick_size),
            "group_item_title": "",
            "event_type": "new_market",
        }
        return json.dumps(event, separators=(",", ":")).encode()

    def _market_resolved(self, market: SimMarket, change: MarketResolved) -> bytes:
        winner = change.winning_token
        event = {
            "id": market.market_id,
            "question": market.question,
            "market": market.condition_id,
            "slug": market.slug,
            "description": market.description,
            "assets_ids": list(market.token_ids),
            "outcomes": list(market.outcomes),
            "winning_asset_id": winner,
            "winning_outcome": market.outcomes[market.token_ids.index(winner)],
            "event_message": {"id": market.event_id, "slug": market.event_slug},
            "timestamp": str(change.ts_ms),
            "tags": ["simulated"],
            "event_type": "market_resolved",
        }
        return json.dumps(event, separators=(",", ":")).encode()

    def _outcome(self, condition_id: str, token: str) -> str:
        market = self._model.by_condition[condition_id]
        return market.outcomes[market.token_ids.index(token)]

    def _order_event(self, order: AccountOrder, kind: str, ts_ms: int) -> bytes:
        event = {
            "asset_id": order.token_id,
            "associate_trades": list(order.associate_trades) or None,
            "created_at": str(order.created_ms // 1000),
            "event_type": "order",
            "expiration": "0",
            "id": order.order_id,
            "maker_address": self._address,
            "market": order.condition_id,
            "order_owner": self._api_key,
            "order_type": order.order_type,
            "original_size": plain(order.original_size),
            "outcome": self._outcome(order.condition_id, order.token_id),
            "owner": self._api_key,
            "price": plain(order.price),
            "side": _side_word(order.side),
            "size_matched": plain(order.size_matched),
            "status": _ORDER_STATUS[order.status],
            "timestamp": str(ts_ms),
            "type": _ORDER_KIND[kind],
        }
        return json.dumps(event, separators=(",", ":")).encode()

    def _trade_event(self, fill: AccountFill, ts_ms: int) -> bytes:
        outcome = self._outcome(fill.condition_id, fill.token_id)
        maker_orders: list[dict[str, str]]
        if fill.role == "maker":
            # The taker is someone else on the same token, on the other side, at our price.
            taker_side, owner = _opposite(fill.side), _COUNTERPARTY_KEY
            maker_orders = [
                {
                    "order_id": fill.order_id,
                    "owner": self._api_key,
                    "maker_address": self._address,
                    "matched_amount": plain(fill.size),
                    "price": plain(fill.price),
                    "fee_rate_bps": "0",
                    "asset_id": fill.token_id,
                    "outcome": outcome,
                    "side": _side_word(fill.side),
                }
            ]
        else:
            taker_side, owner = fill.side, self._api_key
            maker_orders = [
                {
                    "order_id": order_id,
                    "owner": _COUNTERPARTY_KEY,
                    "maker_address": _COUNTERPARTY_ADDRESS,
                    "matched_amount": plain(size),
                    "price": plain(fill.price),
                    "fee_rate_bps": "0",
                    "asset_id": fill.token_id,
                    "outcome": outcome,
                    "side": _side_word(_opposite(fill.side)),
                }
                for order_id, size in fill.counterparties
            ]
        event = {
            "asset_id": fill.token_id,
            "bucket_index": 0,
            "event_type": "trade",
            "fee_rate_bps": "0",
            "id": fill.trade_id,
            "last_update": str(fill.updated_ms // 1000),
            "maker_address": self._address,
            "maker_orders": maker_orders,
            "market": fill.condition_id,
            "match_time": str(fill.match_ms // 1000),
            "outcome": outcome,
            "owner": owner,
            "price": plain(fill.price),
            "side": _side_word(taker_side),
            "size": plain(fill.size),
            "status": fill.status,
            "taker_order_id": fill.taker_order_id,
            "timestamp": str(ts_ms),
            "trade_owner": self._api_key,
            "trader_side": "MAKER" if fill.role == "maker" else "TAKER",
            "transaction_hash": fill.transaction_hash,
            "type": "TRADE",
        }
        return json.dumps(event, separators=(",", ":")).encode()

    # ------------------------------------------------------------------ publishing

    def publish(self, changes: list[Change]) -> None:
        """Encode a batch of model changes and send each frame to its subscribers."""
        for frame in self._encode(changes):
            for link, delta in self._route(frame):
                link.send(frame.kind, frame.payload, delta=delta)

    def _route(self, frame: _Out) -> Iterable[tuple[Link, bool]]:
        scope = frame.scope
        if scope == "market":
            market = self._model.by_condition[frame.key]
            yes, no = market.token_ids
            on_yes, on_no = self._token_subs.get(yes), self._token_subs.get(no)
            # A union only when both tokens have subscribers: most frames go to one set.
            conns = (on_yes | on_no) if on_yes and on_no else (on_yes or on_no or ())
            return [(c.link, frame.delta) for c in conns]
        if scope == "token":
            return [(c.link, False) for c in self._token_subs.get(frame.key, ())]
        if scope == "custom_token":
            return [(c.link, False) for c in self._token_subs.get(frame.key, ()) if c.custom]
        if scope == "custom_market":
            tokens = self._model.by_condition[frame.key].token_ids
            return [(c.link, False) for c in self._custom if c.assets.intersection(tokens)]
        if scope == "custom_all":
            return [(c.link, False) for c in self._custom]
        market_id = frame.key.lower()
        return [(u.link, False) for u in self._users if not u.markets or market_id in u.markets]

    # ------------------------------------------------------------------ connections

    async def handle(self, connection: ServerConnection, path: str) -> None:
        """Serve one ``/ws/market`` or ``/ws/user`` connection until it ends."""
        with self._ctx.attach(
            connection, venue=self.venue, path=path, renderer=self._render_fault
        ) as link:
            conn: _MarketConn | _UserConn = (
                _MarketConn(link) if path == MARKET_PATH else _UserConn(link)
            )
            self._conns[link.info.conn_id] = conn
            try:
                await self._read_loop(conn)
            finally:
                self._forget(conn)

    def _forget(self, conn: _MarketConn | _UserConn) -> None:
        self._conns.pop(conn.link.info.conn_id, None)
        if isinstance(conn, _MarketConn):
            if conn.blast is not None:
                conn.blast.cancel()
            for asset in conn.assets:
                subs = self._token_subs.get(asset)
                if subs is not None:
                    subs.discard(conn)
                    if not subs:
                        del self._token_subs[asset]
            self._custom.discard(conn)
        else:
            self._users.discard(conn)

    async def _read_loop(self, conn: _MarketConn | _UserConn) -> None:
        link = conn.link
        connection = link.connection
        config = self._ctx.config
        opened = time.monotonic()
        while not link.closed:
            now = time.monotonic()
            wait = config.ping_timeout - (now - conn.last_ping)
            subscribed = conn.subscribed if isinstance(conn, _MarketConn) else conn.authed
            if config.subscribe_timeout is not None and not subscribed:
                wait = min(wait, config.subscribe_timeout - (now - opened))
            try:
                async with asyncio.timeout(max(wait, 0.0)):
                    message = await connection.recv()
            except TimeoutError:
                now = time.monotonic()
                if now - conn.last_ping >= config.ping_timeout:
                    logger.info("closing connection %d: no ping received", link.info.conn_id)
                    await link.close(1008, "no ping received", why="no_ping")
                    return
                if config.subscribe_timeout is not None and not subscribed:
                    await link.close(1008, "no subscription received", why="no_subscription")
                    return
                continue
            except ConnectionClosed:
                return
            text = message if isinstance(message, str) else message.decode("utf-8", "replace")
            if text == "PING":
                conn.last_ping = time.monotonic()
                link.send_heartbeat("pong", b"PONG")
                continue
            if isinstance(conn, _MarketConn):
                self._on_market_message(conn, text)
            else:
                self._on_user_message(conn, text)

    def _on_market_message(self, conn: _MarketConn, text: str) -> None:
        msg = _json_object(text)
        if msg is None:
            self._ctx.counters.frames["ignored_request"] += 1
            return
        assets = msg.get("assets_ids")
        if not isinstance(assets, list) or not all(isinstance(a, str) for a in assets):
            self._ctx.counters.frames["ignored_request"] += 1
            return
        operation = _lower(msg.get("operation"))
        kind = _lower(msg.get("type"))
        custom = msg.get("custom_feature_enabled")
        initial_dump = msg.get("initial_dump", True) is not False
        if operation == "unsubscribe":
            self._unsubscribe(conn, assets)
        elif operation == "subscribe" or (not operation and kind == "market"):
            # The flag is connection-wide and applied before the duplicate-asset reject
            # (py-sdk market_protocol.py); the initial frame defaults it to false.
            if isinstance(custom, bool):
                self._set_custom(conn, custom)
            elif not operation:
                self._set_custom(conn, False)
            self._subscribe(conn, assets, initial_dump=initial_dump)
        else:
            self._ctx.counters.frames["ignored_request"] += 1

    def _set_custom(self, conn: _MarketConn, custom: bool) -> None:
        conn.custom = custom
        if custom:
            self._custom.add(conn)
        else:
            self._custom.discard(conn)

    def _subscribe(self, conn: _MarketConn, assets: list[str], *, initial_dump: bool) -> None:
        conn.subscribed = True
        fresh: list[str] = []
        for asset in assets:
            if asset in conn.assets:
                continue  # duplicates are rejected silently: no second book
            conn.assets.add(asset)
            self._token_subs.setdefault(asset, set()).add(conn)
            if asset in self._shadows:
                fresh.append(asset)
        if initial_dump and fresh:
            ts = str(self._ctx.now_ms())
            books = ",".join(self._dump_book(token, ts) for token in fresh)
            conn.link.send("book_dump", f"[{books}]".encode())
        if self._ctx.config.blast and conn.blast is None and conn.assets:
            conn.blast = asyncio.get_running_loop().create_task(self._run_blast(conn))

    def _unsubscribe(self, conn: _MarketConn, assets: list[str]) -> None:
        for asset in assets:
            if asset in conn.assets:
                conn.assets.discard(asset)
                subs = self._token_subs.get(asset)
                if subs is not None:
                    subs.discard(conn)
                    if not subs:
                        del self._token_subs[asset]

    def _on_user_message(self, conn: _UserConn, text: str) -> None:
        msg = _json_object(text)
        if not conn.authed:
            auth = msg.get("auth") if msg is not None else None
            valid = (
                msg is not None
                and _lower(msg.get("type")) == "user"
                and isinstance(auth, dict)
                and auth.get("apiKey") == self._api_key
                and auth.get("secret") == self._secret
                and auth.get("passphrase") == self._passphrase
            )
            if not valid or msg is None:
                logger.info("user channel %d: bad credentials, closing", conn.link.info.conn_id)
                conn.link.close_without_status(why="bad_auth")
                return
            conn.authed = True
            conn.markets = _markets(msg)
            self._users.add(conn)
            return
        if msg is None:
            self._ctx.counters.frames["ignored_request"] += 1
            return
        operation = _lower(msg.get("operation"))
        markets = _markets(msg)
        if operation == "subscribe":
            conn.markets |= markets
        elif operation == "unsubscribe":
            conn.markets -= markets
        else:
            self._ctx.counters.frames["ignored_request"] += 1

    # ------------------------------------------------------------------ faults

    def _render_fault(
        self, link: Link, kind: Fault, params: Mapping[str, Any]
    ) -> list[bytes] | None:
        conn = self._conns.get(link.info.conn_id)
        ts = str(self._ctx.now_ms())
        assets = (
            sorted(a for a in conn.assets if a in self._shadows)
            if isinstance(conn, _MarketConn)
            else []
        )
        any_token = assets[0] if assets else self._model.live_markets()[0].token_ids[0]
        if kind is Fault.MALFORMED:
            return [b'{"market":"0x', b"", b'{"event_type": "price_change", "price_changes": [']
        if kind is Fault.UNKNOWN_EVENT:
            market = self._model.by_token[any_token].condition_id
            payload = f'{{"event_type":"sim_unknown_event","market":"{market}","timestamp":"{ts}"}}'
            return [payload.encode()]
        if kind is Fault.OVERSIZED:
            size = int(params.get("size", DEFAULT_OVERSIZED_BYTES))
            book = self._dump_book(any_token, ts)
            pad = max(0, size - len(book) - len(',"padding":""'))  # exactly `size` bytes
            return [(book[:-1] + f',"padding":"{"x" * pad}"}}').encode()]
        if kind is Fault.NO_NEW_ASSETS:
            return [b"NO NEW ASSETS"] if link.info.path == MARKET_PATH else None
        if kind is Fault.MISSING_EVENT_TYPE:
            if not assets:
                return None
            return [f"[{self._dump_book(assets[0], ts, event_type=False)}]".encode()]
        if kind is Fault.MIDSTREAM_BOOK:
            if not assets:
                return None
            return [self._live_book(token, ts) for token in assets]
        return None

    # ------------------------------------------------------------------ blast mode

    def _build_blast_segment(self) -> None:
        """Pre-encode a full book of every token, then ``blast_steps`` model steps.

        Each cycle of the segment starts with full books, so a client that applies it again
        and again stays consistent (hashes and best prices match at every frame), and the
        model (ground truth) ends in the state the segment ends in.
        """
        started = time.perf_counter()
        model = self._model
        now = self._ctx.now_ms()
        ts = str(now)
        segment: list[tuple[str, bytes]] = []
        for market in model.live_markets():
            for token in market.token_ids:
                # Initial-dump style (with tick_size and last_trade_price), so that a client
                # re-entering the cycle also resets the fields a live book does not carry.
                book = self._dump_book(token, ts).encode()
                segment.append((market.condition_id, text_frame(book)))
        for step in range(self._ctx.config.blast_steps):
            for frame in self._encode(model.step(now + step), everything=True):
                if frame.scope in ("market", "token"):
                    cond = (
                        frame.key
                        if frame.scope == "market"
                        else model.by_token[frame.key].condition_id
                    )
                    segment.append((cond, text_frame(frame.payload)))
        self._blast_segment = segment
        logger.info(
            "blast segment: %d frames, %d bytes, built in %.2f s",
            len(segment),
            sum(len(w) for _, w in segment),
            time.perf_counter() - started,
        )

    async def _run_blast(self, conn: _MarketConn) -> int:
        wanted = {self._model.by_token[a].condition_id for a in conn.assets if a in self._shadows}
        frames = [wire for cond, wire in self._blast_segment if cond in wanted]
        if not frames:
            return 0
        sent = await conn.link.blast(
            b"".join(frames),
            frames_per_cycle=len(frames),
            total_frames=self._ctx.config.blast_frames,
        )
        logger.info("blast on connection %d done: %d frames", conn.link.info.conn_id, sent)
        return sent


def _json_object(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        # RecursionError: deeply nested brackets (found by fuzzing) are just an ignored frame.
        return None
    return value if isinstance(value, dict) else None


def _lower(value: object) -> str:
    """A str field lower-cased; anything else is "" (never str() of a client's nested value)."""
    return value.lower() if isinstance(value, str) else ""


def _markets(msg: Mapping[str, Any]) -> set[str]:
    markets = msg.get("markets")
    if not isinstance(markets, list):
        return set()
    return {m.lower() for m in markets if isinstance(m, str)}
