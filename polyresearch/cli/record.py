"""``python -m polyresearch record``: record a venue's raw traffic to a Parquet directory.

Attaches a :class:`~polyresearch.record.Recorder` to a feed and streams for ``--duration``
seconds (or until Ctrl-C), then flushes and prints the recorder's counters as one JSON object.
``--simulator`` records from an embedded local simulator (offline; its demo credentials). Live
CLOB markets given by slug are resolved over REST; Polymarket US reads its credentials from
``POLYMARKET_US_KEY_ID``/``POLYMARKET_US_SECRET_KEY``. Credentials never reach the recording.

Example:
    $ python -m polyresearch record --venue clob --simulator --out rec --duration 10
    {"frames":5321,"markers":1,...}
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:
    from polyresearch.feed import Feed
    from polyresearch.record import RecorderStats
    from polyresearch.simulator import Simulator

__all__ = ["add_parser", "record"]


def add_parser(subparsers: Any) -> None:
    """Register the ``record`` sub-command."""
    parser = subparsers.add_parser(
        "record",
        help="record raw frames of a feed to hive-partitioned Parquet chunks",
        description=(__doc__ or "").split("\n\n")[1],
    )
    parser.add_argument("--venue", choices=["clob", "us"], required=True)
    parser.add_argument("--assets", nargs="*", default=[], help="CLOB token ids")
    parser.add_argument(
        "--slugs", nargs="*", default=[], help="market slugs (CLOB: resolved over REST)"
    )
    parser.add_argument("--url", default=None, help="CLOB market URL or US base URL")
    parser.add_argument("--rest-url", default=None, help="CLOB look-up base URL")
    parser.add_argument("--out", type=Path, required=True, help="recording directory")
    parser.add_argument("--duration", type=float, default=None, help="seconds (default: Ctrl-C)")
    parser.add_argument("--chunk-rows", type=int, default=100_000, help="rows per chunk")
    parser.add_argument("--chunk-bytes", type=int, default=32 * 1024 * 1024)
    parser.add_argument("--max-bytes", type=int, default=None, help="total size cap (bytes)")
    parser.add_argument(
        "--simulator", action="store_true", help="record from an embedded simulator (offline)"
    )
    parser.add_argument("--markets", type=int, default=8, help="simulated markets")
    parser.add_argument("--rate", type=float, default=400.0, help="simulated events per second")
    parser.add_argument("--seed", type=int, default=7, help="simulator seed")
    parser.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    try:
        stats = asyncio.run(record(args))
    except KeyboardInterrupt:  # asyncio.run re-raises it after cancelling: already flushed
        return 130
    sys.stdout.write(msgspec.json.encode(stats).decode() + "\n")
    return 0


async def record(args: argparse.Namespace) -> RecorderStats:
    """Record as the parsed arguments say; return the recorder's final counters."""
    if args.simulator:
        from polyresearch.simulator import Simulator

        async with Simulator(seed=args.seed, markets=args.markets, rate=args.rate) as sim:
            return await _stream(_simulated_feed(args, sim), args)
    return await _stream(await asyncio.to_thread(_live_feed, args), args)


async def _stream(feed: Feed, args: argparse.Namespace) -> RecorderStats:
    recorder = feed.record(
        args.out,
        chunk_rows=args.chunk_rows,
        chunk_bytes=args.chunk_bytes,
        max_total_bytes=args.max_bytes,
    )
    try:
        async with feed:
            deadline = None if args.duration is None else time.monotonic() + args.duration
            while deadline is None or time.monotonic() < deadline:
                await asyncio.sleep(
                    0.1 if deadline is None else min(0.1, deadline - time.monotonic())
                )
                if feed.error is not None:
                    raise feed.error
    finally:
        recorder.close()  # the feed's stop closed it; this covers a failed start too
    return recorder.stats()


def _simulated_feed(args: argparse.Namespace, sim: Simulator) -> Feed:
    from polyresearch.config import UsCredentials
    from polyresearch.feed import ClobFeed, UsFeed
    from polyresearch.state.books import MarketParams

    if args.venue == "us":
        c = sim.us_credentials
        return UsFeed(
            slugs=args.slugs or [m.slug for m in sim.markets()],
            credentials=UsCredentials(key_id=c.key_id, secret_key=c.secret_key),
            base_url=sim.ws_url,
        )
    params: dict[str, MarketParams] = {}
    for market in sim.markets():
        p = MarketParams(
            min_order_size=format(market.min_order_size.normalize(), "f"),
            neg_risk=market.neg_risk,
            token_ids=market.token_ids,
        )
        params.update(dict.fromkeys(market.token_ids, p))
    return ClobFeed(assets=args.assets or list(params), url=sim.clob_market_url, params=params)


def _live_feed(args: argparse.Namespace) -> Feed:
    from polyresearch.feed import CLOB_MARKET_URL, US_BASE_URL, clob, us

    if args.venue == "us":
        return us(args.slugs, base_url=args.url or US_BASE_URL)
    return clob(
        args.assets, markets=args.slugs, url=args.url or CLOB_MARKET_URL, rest_url=args.rest_url
    )
