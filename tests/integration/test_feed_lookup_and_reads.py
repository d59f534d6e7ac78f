"""Notebook-shaped use of feeds: look-ups on the kernel's loop, reads from another thread.

- ``polyresearch.clob(markets=...)`` called on a running loop that also runs the simulator it
  asks (a Jupyter cell with an embedded simulator) must not block that loop with a synchronous
  HTTP request: the simulator could never answer it.
- With ``Runner(mode="thread")`` the feed's state changes on the runner's thread; reads from the
  caller's thread go through :meth:`Feed.read` / :meth:`Feed.snapshot` without a user lock.
"""

from __future__ import annotations

import threading

import pytest

import polyresearch
from polyresearch.feed import ClobFeed
from polyresearch.lookup import MarketNotFoundError
from polyresearch.notebook.runner import Runner
from polyresearch.simulator import Simulator


async def test_clob_markets_on_the_simulators_own_loop_resolve_without_blocking_it() -> None:
    """clob(markets=...) returns at once; the look-up runs on start; both tokens get books."""
    async with Simulator(seed=5, markets=4, rate=200) as sim:
        markets = sim.markets()[:2]
        feed = polyresearch.clob(
            markets=[markets[0].slug, markets[1].condition_id],
            url=sim.clob_market_url,
            rest_url=sim.http_url,
            hash_every=1,
        )
        # Nothing was asked yet: the loop (which serves the REST look-up) never blocked.
        assert feed.subscribed == ()
        assert sim.stats().rest_requests == 0
        wanted = {t for m in markets for t in m.token_ids}
        async with feed:
            await feed.wait_for(
                lambda f: (
                    set(f.subscribed) == wanted
                    and all(a in f.books and f.books[a].status.value == "LIVE" for a in wanted)
                ),
                within=30,
            )
            # The look-up's market parameters reached the books: hashes verify.
            await feed.wait_for(lambda f: f.books.stats().hashes_verified > 0, within=30)
            stats = feed.stats()
        assert sim.stats().rest_requests > 0
        assert stats.error is None
        assert stats.books.hashes_unverified == 0
        assert feed.books.sibling(markets[0].token_ids[0]) is feed.books[markets[0].token_ids[1]]


async def test_a_failed_deferred_look_up_is_the_feeds_error() -> None:
    """An unknown market named on a running loop surfaces from wait_for(), not silently."""
    async with Simulator(seed=5, markets=2, rate=0) as sim:
        feed = polyresearch.clob(
            markets=["no-such-market-anywhere"], url=sim.clob_market_url, rest_url=sim.http_url
        )
        async with feed:
            with pytest.raises(MarketNotFoundError):
                await feed.wait_for(lambda f: bool(f.subscribed), within=20)
        assert feed.subscribed == ()
        events = feed.tables.status.to_polars()["event"].cast(str).to_list()
        assert "error" in events


async def test_aclob_resolves_before_it_returns() -> None:
    """The awaitable path: the feed lists both tokens of each market when it is built."""
    async with Simulator(seed=6, markets=3, rate=0) as sim:
        market = sim.markets()[2]
        feed = await polyresearch.aclob(
            markets=[market.slug], url=sim.clob_market_url, rest_url=sim.http_url
        )
        assert set(feed.subscribed) == set(market.token_ids)
        assert not feed.running


@pytest.mark.slow
def test_thread_mode_reads_are_consistent_without_a_user_lock() -> None:
    """Runner(mode="thread"): reads from this thread run on the runner's, at one instant."""
    runner = Runner(mode="thread")
    sim = Simulator(seed=7, markets=4, rate=400)
    try:
        job = runner.run_simulator("sim", sim)
        runner.wait_until(lambda: job.state == "running", within=20)
        assets = [t for m in sim.markets()[:3] for t in m.token_ids]
        feed = ClobFeed(assets=assets, url=sim.clob_market_url, max_rows=500)
        runner.run_feed("clob", feed)
        runner.wait_until(lambda: len(feed.tables.quotes) >= 50, within=30)

        where: set[threading.Thread] = set()

        def probe() -> tuple[int, int, int, int]:
            where.add(threading.current_thread())
            quotes = feed.tables.quotes
            return len(quotes), quotes.to_polars().height, quotes.version, len(feed.tables.trades)

        versions = []
        for _ in range(200):
            rows, height, version, _trades = feed.read(probe)
            assert rows == height  # no row appended between the count and the frame
            versions.append(version)
            frames = feed.snapshot("quotes", "book_updates")
            assert set(frames) == {"quotes", "book_updates"}
            assert frames["quotes"].height <= 500  # bounded: the table evicts
        assert where == {runner._thread}  # never this (the caller's) thread
        assert versions[-1] > versions[0]  # data kept arriving during the reads
        # The runner reads the feed and the simulator's ground truth at one instant.
        thread, rows, height, truth_books, listed_tokens = runner.read(
            lambda: (
                threading.current_thread(),
                len(feed.tables.book_updates),
                feed.tables.book_updates.to_polars().height,
                len(sim.books()),
                sum(len(m.token_ids) for m in sim.markets(include_resolved=True)),
            )
        )
        assert thread is runner._thread
        assert rows == height
        # One book per listed token, counted at the same instant (markets open as the model
        # runs: 4 markets at the start, more later).
        assert truth_books == listed_tokens >= 8
        pandas = feed.snapshot("trades", kind="pandas")["trades"]
        assert list(pandas.columns) == list(feed.tables.trades.schema.names)
        with pytest.raises(polyresearch.ConfigError):
            feed.snapshot("nope")
    finally:
        runner.stop_all_sync()
    # Stopped: reads fall back to the caller's thread and still work.
    assert feed.read(lambda: threading.current_thread()) is threading.current_thread()
