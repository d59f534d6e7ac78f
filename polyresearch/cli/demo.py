"""``python -m polyresearch demo``: the main job, on the embedded simulator, in a terminal.

Starts the local exchange simulator in-process, streams both venues from it (CLOB market and
user channels, US markets and private sockets, with the simulator's demo credentials), prints
a live one-line summary every second, then writes every rolling table as CSV and Parquet and a
standalone HTML chart (mid price and trades of the busiest markets) into ``--out``, and exits
cleanly after ``--seconds`` or on Ctrl-C. No network and no account are needed.

(The notebook version with live widgets is ``notebooks/01_quickstart.ipynb``.)
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from polyresearch.feed import ClobFeed, Feed, UsFeed
    from polyresearch.simulator import Simulator

__all__ = ["add_parser", "run_demo"]


def add_parser(subparsers: Any) -> None:
    """Register the ``demo`` sub-command."""
    parser = subparsers.add_parser(
        "demo",
        help="stream both venues from the embedded simulator; export tables and a chart",
        description=(__doc__ or "").split("\n\n")[1],
    )
    parser.add_argument("--seconds", type=float, default=20.0, help="how long to stream")
    parser.add_argument("--markets", type=int, default=12, help="simulated markets")
    parser.add_argument("--rate", type=float, default=400.0, help="simulated events per second")
    parser.add_argument("--seed", type=int, default=7, help="simulator seed")
    parser.add_argument(
        "--resolve-every",
        type=float,
        default=60.0,
        help="seconds between market resolutions, on average (0: none)",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("demo-output"), help="directory for exports and the chart"
    )
    parser.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    try:
        asyncio.run(
            run_demo(
                args.seconds,
                args.markets,
                args.rate,
                args.seed,
                args.out,
                resolve_every=args.resolve_every,
            )
        )
    except KeyboardInterrupt:
        sys.stdout.write("\ninterrupted\n")
    return 0


async def run_demo(
    seconds: float,
    markets: int,
    rate: float,
    seed: int,
    out: Path,
    *,
    resolve_every: float = 60.0,
) -> None:
    """Run the demo; see the module docstring."""
    from polyresearch.simulator import ModelConfig, Simulator

    # The model resolves a market with a probability per step; at the default (1 in 2,000)
    # and the demo's rate, a market resolved every ~5 s, so a few minutes' run had lost most
    # of the markets it follows (new ones open unsubscribed). Once a minute by default.
    lifecycle = 1 / (resolve_every * rate) if resolve_every > 0 and rate > 0 else 0.0
    config = ModelConfig(lifecycle_rate=min(lifecycle, 1.0))
    async with Simulator(seed=seed, markets=markets, rate=rate, model_config=config) as sim:
        clob, us = _feeds(sim)
        sys.stdout.write(
            f"simulator on {sim.http_url}: {markets} markets, {rate:g} events/s; "
            f"streaming for {seconds:g} s (Ctrl-C stops)\n"
        )
        async with clob, us:
            try:
                await _summaries(clob, us, seconds)
            finally:
                _export(clob, us, out)


def _feeds(sim: Simulator) -> tuple[ClobFeed, UsFeed]:
    import msgspec

    from polyresearch.config import ClobCredentials, UsCredentials
    from polyresearch.feed import ClobFeed, UsFeed
    from polyresearch.state.books import MarketParams

    # The simulator hands out plain values (it never imports our state layer).
    params = {k: msgspec.convert(v, MarketParams) for k, v in sim.market_params().items()}
    c = sim.clob_credentials
    clob = ClobFeed(
        assets=list(params),
        url=sim.clob_market_url,
        user_url=sim.clob_user_url,
        credentials=ClobCredentials(api_key=c.api_key, secret=c.secret, passphrase=c.passphrase),
        params=params,
        custom_features=True,  # market_resolved: a resolved market's books go TERMINAL
    )
    u = sim.us_credentials
    us = UsFeed(
        slugs=[m.slug for m in sim.markets()],
        credentials=UsCredentials(key_id=u.key_id, secret_key=u.secret_key),
        base_url=sim.ws_url,
        private=True,
    )
    return clob, us


async def _summaries(clob: Feed, us: Feed, seconds: float) -> None:
    start = time.monotonic()
    last_frames = 0
    while (elapsed := time.monotonic() - start) < seconds:
        await asyncio.sleep(min(1.0, max(0.0, seconds - elapsed)))
        cs, us_stats = clob.stats(), us.stats()
        frames = cs.frames_in + us_stats.frames_in
        books = cs.books
        sys.stdout.write(
            f"[{time.monotonic() - start:5.1f}s] {frames - last_frames:6d} msg/s | "
            f"CLOB books live {books.live}/{books.books} resolved {books.terminal} "
            f"trades {len(clob.tables.trades)} "
            f"bbo mismatches {books.bbo_mismatches} hashes ok {books.hashes_verified} | "
            f"US books {us_stats.books.live} trades {len(us.tables.trades)} "
            f"open orders {len(us.store.account.open_orders)} | "
            f"drops {sum(cs.dropped.values()) + sum(us_stats.dropped.values())}\n"
        )
        sys.stdout.flush()
        last_frames = frames


def _export(clob: Feed, us: Feed, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    written = 0
    for venue, feed in (("clob", clob), ("us", us)):
        for name, table in feed.tables.items():
            if not len(table):
                continue
            frame = table.to_polars()
            frame.write_parquet(out / f"{venue}_{name}.parquet")
            # CSV has no categorical or timezone types: write plain strings and UTC times.
            frame.with_columns(
                [frame[c].cast(str) for c, t in frame.schema.items() if str(t) == "Categorical"]
            ).write_csv(out / f"{venue}_{name}.csv")
            written += 1
    chart = out / "chart.html"
    _chart(clob).write_html(chart, include_plotlyjs=True, full_html=True)
    sys.stdout.write(f"wrote {written} tables as CSV + Parquet and {chart} into {out}/\n")


def _chart(feed: Feed) -> Any:
    import plotly.graph_objects as go
    import polars as pl

    quotes = feed.tables.quotes.to_polars().with_columns(pl.col("asset_id").cast(pl.String))
    trades = feed.tables.trades.to_polars().with_columns(pl.col("asset_id").cast(pl.String))
    busiest = (
        quotes.group_by("asset_id").len().sort("len", descending=True)["asset_id"].head(4).to_list()
    )
    figure = go.Figure()
    for asset in busiest:
        q = quotes.filter(pl.col("asset_id") == asset).drop_nulls("mid")
        t = trades.filter(pl.col("asset_id") == asset)
        label = f"…{asset[-6:]}"
        figure.add_scatter(x=q["recv_ns"].to_numpy(), y=q["mid"].to_numpy(), name=f"mid {label}")
        figure.add_scatter(
            x=t["recv_ns"].to_numpy(),
            y=t["price"].to_numpy(),
            mode="markers",
            name=f"trades {label}",
            marker={"size": 5},
        )
    figure.update_layout(
        title="polyresearch demo: CLOB mid price and trades (embedded simulator)",
        xaxis_title="time (UTC)",
        yaxis_title="price",
        template="plotly_white",
    )
    return figure
