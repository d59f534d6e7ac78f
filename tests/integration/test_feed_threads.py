"""Stopping a thread-mode feed or runner leaves no thread behind, however it is stopped.

A feed started where no loop runs gets a thread of its own; a ``Runner(mode="thread")`` runs
its jobs on one. Each cycle below starts one, lets real data flow from the simulator over
loopback, stops it, and compares the set of live threads with the set before it started: a
join through ``asyncio.to_thread`` (one parked executor worker per stop) or a loop closed
without waiting for its executor would show up as an extra thread.
"""

from __future__ import annotations

import threading
import time

from polyresearch.feed import ClobFeed
from polyresearch.notebook.runner import Runner
from polyresearch.simulator import ModelConfig, Simulator
from tests.conftest import UNIT

CYCLES = 3


def _threads() -> set[threading.Thread]:
    return set(threading.enumerate())


def _sim(seed: int) -> Simulator:
    # No market resolves (lifecycle_rate=0): on a loaded machine a market could otherwise
    # resolve before the feed subscribes, and the quotes each cycle waits for never come.
    return Simulator(seed=seed, markets=1, rate=300, model_config=ModelConfig(lifecycle_rate=0))


def _feed(url: str, assets: list[str]) -> ClobFeed:
    return ClobFeed(assets=assets, url=url)


async def test_async_stop_of_a_thread_mode_feed_leaves_no_thread() -> None:
    """await feed.stop() on a loop joins the feed's thread without parking a worker thread."""
    async with _sim(11) as sim:
        assets = list(sim.markets()[0].token_ids)
        for _ in range(CYCLES):
            before = _threads()
            feed = _feed(sim.clob_market_url, assets)
            # Started from a thread without a loop: the feed runs its own thread (thread mode).
            starter = threading.Thread(target=feed.start)
            starter.start()
            starter.join()
            assert feed._thread is not None and feed._thread.is_alive()
            await feed.wait_for(lambda f: len(f.tables.quotes) >= 3, within=20 * UNIT)
            await feed.stop()
            assert not feed.running
            # Immediately after stop: no waiting, polling or joining by the test.
            assert _threads() == before


def test_stop_sync_of_a_thread_mode_feed_leaves_no_thread() -> None:
    """feed.stop_sync() from a script (no loop) ends the feed's thread, cycle after cycle."""
    runner = Runner(mode="thread")
    sim = _sim(12)
    runner.run_simulator("sim", sim)
    runner.wait_until(lambda: runner.get("sim").state == "running", within=20 * UNIT)
    assets = list(sim.markets()[0].token_ids)
    try:
        for _ in range(CYCLES):
            before = _threads()
            feed = _feed(sim.clob_market_url, assets).start()
            deadline = time.monotonic() + 20 * UNIT
            while feed.read(lambda f=feed: len(f.tables.quotes)) < 3:
                assert time.monotonic() < deadline, "no quotes arrived"
                time.sleep(0.02)
            feed.stop_sync()
            assert not feed.running
            assert _threads() == before
    finally:
        runner.stop_all_sync()


def test_runner_stop_all_sync_leaves_no_thread() -> None:
    """A thread-mode runner with a simulator and a feed: stop_all_sync() ends every thread."""
    for seed in range(CYCLES):
        before = _threads()
        runner = Runner(mode="thread")
        sim = _sim(20 + seed)
        runner.run_simulator("sim", sim)
        runner.wait_until(lambda r=runner: r.get("sim").state == "running", within=20 * UNIT)
        feed = _feed(sim.clob_market_url, list(sim.markets()[0].token_ids))
        runner.run_feed("clob", feed)
        runner.wait_until(lambda f=feed: len(f.tables.quotes) >= 3, within=20 * UNIT)
        runner.stop_all_sync()
        assert not feed.running
        assert runner.resolved_mode == "unbound"
        assert _threads() == before


async def test_runner_shutdown_from_a_loop_leaves_no_thread() -> None:
    """await runner.shutdown() ends the runner's thread from a cell's loop, no worker left."""
    for seed in range(CYCLES):
        before = _threads()
        runner = Runner(mode="thread")
        sim = _sim(30 + seed)
        await runner.run_simulator("sim", sim).wait_running(within=20 * UNIT)
        feed = _feed(sim.clob_market_url, list(sim.markets()[0].token_ids))
        runner.run_feed("clob", feed)
        await runner.wait(lambda f=feed: len(f.tables.quotes) >= 3, within=20 * UNIT)
        await runner.shutdown()
        assert not feed.running
        assert runner.resolved_mode == "unbound"
        assert _threads() == before
    # The loop this test runs on kept no executor worker either.
    assert not any(t.name.startswith("asyncio_") for t in _threads())
