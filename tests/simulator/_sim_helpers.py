"""Shared helpers of the simulator tests: waiting, a raw CLOB client, an independent book rebuild.

The rebuild and hash here are written again from protocol-clob.md §6.2/§6.4 on purpose: they
must not share code with the simulator they check.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import json
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

#: One time unit for waits; scale up on slow machines with SIM_TEST_TIME_SCALE.
UNIT = float(os.environ.get("SIM_TEST_TIME_SCALE", "1"))

_PROXY_KW: dict[str, Any] = (
    {"proxy": None} if "proxy" in inspect.signature(connect).parameters else {}
)
if not _PROXY_KW:  # websockets < 15 has no proxy support to disable
    os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")


async def wait_until(
    predicate: Callable[[], bool | Awaitable[bool]], within: float = 5.0, interval: float = 0.01
) -> None:
    """Poll ``predicate`` until it is true; fail the test after ``within`` (scaled) seconds."""
    deadline = time.monotonic() + within * UNIT
    while True:
        result = predicate()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within * UNIT:.1f} s")
        await asyncio.sleep(interval)


def ws_connect(url: str, **kwargs: Any) -> connect:
    """``websockets.asyncio.client.connect`` without any proxy, with a roomy frame limit."""
    kwargs.setdefault("max_size", 8 * 1024 * 1024)
    kwargs.setdefault("open_timeout", 5 * UNIT)
    return connect(url, **_PROXY_KW, **kwargs)


def items(frame: str) -> list[dict[str, Any]]:
    """A frame's events: arrays are flattened, objects returned as a one-element list."""
    value = json.loads(frame)
    return value if isinstance(value, list) else [value]


async def fence(ws: ClientConnection, frames: list[str]) -> None:
    """Send ``PING`` and collect every frame until its ``PONG`` (everything sent before it)."""
    await ws.send("PING")
    while True:
        frame = await asyncio.wait_for(ws.recv(), 10 * UNIT)
        assert isinstance(frame, str)
        if frame == "PONG":
            return
        frames.append(frame)


def recipe_hash(summary: dict[str, Any]) -> str:
    """protocol-clob.md §6.4: SHA-1 of the compact JSON summary with ``hash`` set to ``""``."""
    ordered = {
        "market": summary["market"],
        "asset_id": summary["asset_id"],
        "timestamp": summary["timestamp"],
        "hash": "",
        "bids": [{"price": lv["price"], "size": lv["size"]} for lv in summary["bids"]],
        "asks": [{"price": lv["price"], "size": lv["size"]} for lv in summary["asks"]],
        "min_order_size": summary["min_order_size"],
        "tick_size": summary["tick_size"],
        "neg_risk": summary["neg_risk"],
        "last_trade_price": summary["last_trade_price"],
    }
    text = json.dumps(ordered, separators=(",", ":"))
    return hashlib.sha1(text.encode()).hexdigest()


@dataclass
class LocalBook:
    """One token's book rebuilt from frames alone (prices/sizes kept as the wire strings)."""

    market: str
    bids: dict[Decimal, str] = field(default_factory=dict)
    asks: dict[Decimal, str] = field(default_factory=dict)
    ltp: str = ""
    tick: str = "0.01"

    def replace(self, event: dict[str, Any]) -> None:
        self.bids = {Decimal(lv["price"]): lv["size"] for lv in event["bids"]}
        self.asks = {Decimal(lv["price"]): lv["size"] for lv in event["asks"]}
        self.tick = event.get("tick_size", self.tick)
        self.ltp = event.get("last_trade_price", self.ltp)

    def best_bid(self) -> str:
        return _plain(max(self.bids)) if self.bids else "0"

    def best_ask(self) -> str:
        return _plain(min(self.asks)) if self.asks else "1"

    def summary(
        self, asset_id: str, timestamp: str, min_size: str, neg_risk: bool, ltp: str
    ) -> dict[str, Any]:
        return {
            "market": self.market,
            "asset_id": asset_id,
            "timestamp": timestamp,
            "bids": [{"price": _plain(p), "size": self.bids[p]} for p in sorted(self.bids)],
            "asks": [
                {"price": _plain(p), "size": self.asks[p]} for p in sorted(self.asks, reverse=True)
            ],
            "min_order_size": min_size,
            "tick_size": self.tick,
            "neg_risk": neg_risk,
            "last_trade_price": ltp,
        }


def _plain(value: Decimal) -> str:
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


@dataclass
class Rebuild:
    """Applies CLOB market-channel events (§6.2) and checks every hash and best price (§6.4).

    ``static`` maps token id → (min_order_size, neg_risk), which WS books do not carry.
    """

    static: dict[str, tuple[str, bool]]
    books: dict[str, LocalBook] = field(default_factory=dict)
    hashes_ok: int = 0
    hashes_via_trade_price: int = 0
    hash_mismatches: list[str] = field(default_factory=list)
    bbo_mismatches: list[str] = field(default_factory=list)
    dropped_entries: int = 0
    kinds: dict[str, int] = field(default_factory=dict)

    def apply_frame(self, frame: str) -> None:
        if frame in ("PONG", "NO NEW ASSETS"):
            return
        for event in items(frame):
            self.apply(event)

    def apply(self, event: dict[str, Any]) -> None:
        kind = event.get("event_type") or ("book" if "bids" in event else "?")
        self.kinds[kind] = self.kinds.get(kind, 0) + 1
        if kind == "book":
            asset = event["asset_id"]
            book = self.books.setdefault(asset, LocalBook(event["market"]))
            book.replace(event)
            self._check(asset, event["timestamp"], event["hash"], None)
        elif kind == "price_change":
            for entry in event["price_changes"]:
                asset = entry["asset_id"]
                book = self.books.get(asset)
                if book is None:
                    self.dropped_entries += 1
                    continue
                side = book.bids if entry["side"] == "BUY" else book.asks
                price = Decimal(entry["price"])
                if Decimal(entry["size"]) == 0:
                    side.pop(price, None)
                else:
                    side[price] = entry["size"]
                if (book.best_bid(), book.best_ask()) != (entry["best_bid"], entry["best_ask"]):
                    self.bbo_mismatches.append(f"{asset[:8]} {entry}")
                self._check(asset, event["timestamp"], entry["hash"], entry["price"])
        elif kind == "last_trade_price":
            book = self.books.get(event["asset_id"])
            if book is not None:
                book.ltp = event["price"]
        elif kind == "tick_size_change":
            book = self.books.get(event["asset_id"])
            if book is not None:
                book.tick = event["new_tick_size"]

    def _check(self, asset: str, timestamp: str, expected: str, entry_price: str | None) -> None:
        book = self.books[asset]
        min_size, neg_risk = self.static[asset]
        if recipe_hash(book.summary(asset, timestamp, min_size, neg_risk, book.ltp)) == expected:
            self.hashes_ok += 1
            return
        # §6.4 policy: the hash may already include the trade's price as last trade price.
        if entry_price is not None:
            trade_ltp = f"{Decimal(entry_price):.3f}"
            if (
                recipe_hash(book.summary(asset, timestamp, min_size, neg_risk, trade_ltp))
                == expected
            ):
                book.ltp = trade_ltp
                self.hashes_via_trade_price += 1
                return
        self.hash_mismatches.append(f"{asset[:8]}@{timestamp}")
