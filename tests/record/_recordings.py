"""Shared recordings for the record/replay tests: a real feed against the simulator, recorded."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl

from polyresearch.config import ClobCredentials, UsCredentials
from polyresearch.feed import ClobFeed, Feed, UsFeed
from polyresearch.record import Recorder
from polyresearch.simulator import Simulator
from polyresearch.state.books import MarketParams

#: Tables compared row for row between the live feed and its replay.
DATA_TABLES = ("trades", "quotes", "book_updates", "orders", "positions", "balances")


@dataclass
class Recording:
    """A finished recording and what the live feed that made it ended with."""

    directory: Path
    venue: str
    books: dict[str, tuple[list[tuple[str, str]], list[tuple[str, str]], str]]
    tables: dict[str, pl.DataFrame]
    stats: Any
    recorder: Any
    secrets: dict[str, str] = field(default_factory=dict)
    status: pl.DataFrame = field(default_factory=pl.DataFrame)


def clob_params(sim: Simulator) -> dict[str, MarketParams]:
    params = {}
    for market in sim.markets():
        p = MarketParams(
            min_order_size=format(Decimal(market.min_order_size).normalize(), "f"),
            neg_risk=market.neg_risk,
            token_ids=market.token_ids,
        )
        for token in market.token_ids:
            params[token] = p
    return params


def book_state(feed: Any) -> dict[str, tuple[list[tuple[str, str]], list[tuple[str, str]], str]]:
    return {
        asset: (
            list(feed.books[asset].levels("bid")),
            list(feed.books[asset].levels("ask")),
            feed.books[asset].status.value,
        )
        for asset in feed.books
    }


def table_frames(feed: Any) -> dict[str, pl.DataFrame]:
    return {name: feed.tables[name].to_polars() for name in DATA_TABLES}


async def _run(feed: Feed, sim: Simulator, directory: Path, enough: int, **kwargs: Any) -> Recorder:
    recorder = feed.record(directory, **kwargs)
    async with feed:
        await feed.wait_for(lambda f: f.stats().store.events >= enough, within=30)
        sim.pause()
        await asyncio.sleep(0.3)  # let in-flight frames land (recorded and applied alike)
    # Feed.record hands the recorder to the feed: stopping it flushed and closed it.
    assert recorder.closed and feed.tap is None
    return recorder


def record_clob(directory: Path, *, chunk_rows: int = 500) -> Recording:
    """Record a ClobFeed (market + user channels, hash_every=1) from the simulator."""

    async def main() -> Recording:
        async with Simulator(seed=31, markets=4, rate=600) as sim:
            c = sim.clob_credentials
            feed = ClobFeed(
                assets=[t for m in sim.markets() for t in m.token_ids],
                url=sim.clob_market_url,
                user_url=sim.clob_user_url,
                credentials=ClobCredentials(
                    api_key=c.api_key, secret=c.secret, passphrase=c.passphrase
                ),
                params=clob_params(sim),
                hash_every=1,
            )
            recorder = await _run(feed, sim, directory, 1500, chunk_rows=chunk_rows)
            return Recording(
                directory,
                "clob",
                book_state(feed),
                table_frames(feed),
                feed.stats(),
                recorder,
                {"api_key": c.api_key, "secret": c.secret, "passphrase": c.passphrase},
                feed.tables.status.to_polars(),
            )

    return asyncio.run(main())


def record_us(directory: Path, *, chunk_rows: int = 500) -> Recording:
    """Record a UsFeed (markets + private sockets) from the simulator."""

    async def main() -> Recording:
        async with Simulator(seed=32, markets=4, rate=600, heartbeat_interval=0.5) as sim:
            c = sim.us_credentials
            feed = UsFeed(
                slugs=[m.slug for m in sim.markets()],
                credentials=UsCredentials(key_id=c.key_id, secret_key=c.secret_key),
                base_url=sim.ws_url,
                private=True,
            )
            recorder = await _run(feed, sim, directory, 800, chunk_rows=chunk_rows)
            return Recording(
                directory,
                "us",
                book_state(feed),
                table_frames(feed),
                feed.stats(),
                recorder,
                {"key_id": c.key_id, "secret_key": c.secret_key},
                feed.tables.status.to_polars(),
            )

    return asyncio.run(main())
