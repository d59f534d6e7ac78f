"""Runner: named jobs on the test's loop (the kernel's stand-in) or on a thread of their own."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import textwrap
import threading

import pytest

from polyresearch.feed import ClobFeed
from polyresearch.notebook.runner import Job, Runner
from polyresearch.simulator import ModelConfig, Simulator
from tests.conftest import UNIT, wait_until

#: A hang guard for the tests that run a script in a fresh interpreter, not a speed limit.
#: Importing polyresearch.notebook costs ~3 s of CPU (plotly.io imports nbformat, whose
#: jsonschema builds rfc3987_syntax's Earley parser at import time), which took 45-50 s of
#: wall time on the shared 2-core box at load 13: the old 60 s limit failed there.
FRESH_PROCESS_LIMIT = 240 * UNIT
FRESH_PROCESS = pytest.mark.timeout(FRESH_PROCESS_LIMIT + 60)


def _feed(sim: Simulator) -> ClobFeed:
    return ClobFeed(assets=[t for m in sim.markets() for t in m.token_ids], url=sim.clob_market_url)


async def test_feed_and_simulator_run_on_the_callers_loop() -> None:
    """In loop mode both jobs are tasks of the running loop and data arrives in the background."""
    runner = Runner()
    sim = Simulator(seed=1, markets=2, rate=400)
    await runner.run_simulator("sim", sim).wait_running()
    feed = _feed(sim)
    job = runner.run_feed("clob", feed)
    assert runner.resolved_mode == "loop"
    await runner.wait(lambda: len(feed.tables.trades) >= 5, within=20 * UNIT)
    assert job.state == "running"
    assert isinstance(job.future, asyncio.Task)
    assert job.future.get_loop() is asyncio.get_running_loop()
    await runner.stop_all()
    assert not feed.running
    assert runner.jobs == {}
    assert job.state == "stopped"


async def test_rerunning_a_name_stops_the_previous_stream() -> None:
    """Running a second feed under a name stops the first: one live stream per name."""
    runner = Runner()
    # No market resolves mid-test (with seed 2 the only market resolves ~19 s in).
    steady = ModelConfig(lifecycle_rate=0.0)
    async with Simulator(seed=2, markets=1, rate=300, model_config=steady) as sim:
        first, second = _feed(sim), _feed(sim)
        runner.run_feed("clob", first)
        await runner.wait(lambda: first.running and len(first.tables.quotes) > 0)
        old = runner.get("clob")
        runner.run_feed("clob", second)
        await wait_until(lambda: not first.running, 10)
        await runner.wait(lambda: len(second.tables.quotes) > 0, within=10 * UNIT)
        assert list(runner.jobs) == ["clob"]
        assert runner.get("clob").target is second
        assert old.state == "stopped"
        await runner.stop_all()
        assert not second.running


async def test_background_error_is_logged_kept_and_announced(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A failing job: state 'failed', the exception kept, a log line, the listener called."""
    runner = Runner()
    seen: list[tuple[str, str]] = []
    runner.add_listener(lambda job: seen.append((job.name, job.state)))

    async def broken() -> None:
        await asyncio.sleep(0)
        raise ValueError("decoder exploded")

    with caplog.at_level(logging.ERROR, logger="polyresearch.notebook"):
        job = runner.run("bad", broken)
        await runner.wait(lambda: job.done)
    assert job.state == "failed"
    assert isinstance(job.error, ValueError)
    assert ("bad", "failed") in seen
    assert any("decoder exploded" in r.getMessage() for r in caplog.records)
    with pytest.raises(ValueError, match="decoder exploded"):
        await job.wait_running()
    await runner.stop_all()


async def test_blocking_wait_refuses_to_freeze_the_kernel_loop() -> None:
    """wait_until() inside the running loop without the nested opt-in raises with guidance."""
    runner = Runner()
    runner.run("idle", asyncio.Event().wait)
    with pytest.raises(RuntimeError, match=r"await runner\.wait"):
        runner.wait_until(lambda: True)
    await runner.stop_all()


def test_thread_mode_receives_while_the_caller_blocks() -> None:
    """Thread mode: a blocking wait for N trades returns, and stop leaves no thread behind."""
    runner = Runner(mode="thread")
    sim = Simulator(seed=3, markets=2, rate=400)
    sim_job = runner.run_simulator("sim", sim)
    runner.wait_until(lambda: sim_job.state == "running", within=20 * UNIT)
    feed = _feed(sim)
    runner.run_feed("clob", feed)
    runner.wait_until(lambda: len(feed.tables.trades) >= 5, within=20 * UNIT)
    assert runner.resolved_mode == "thread"
    assert len(feed.tables.trades) >= 5
    runner.stop_all_sync()
    assert not feed.running
    assert not any(t.name == "polyresearch-runner" for t in threading.enumerate())


@FRESH_PROCESS
def test_nested_opt_in_blocks_inside_a_running_loop() -> None:
    """Runner(nested=True): a blocking wait inside a running loop works (in a fresh process)."""
    script = textwrap.dedent(
        """
        import asyncio
        from polyresearch.notebook.runner import Runner

        async def main():
            runner = Runner(nested=True)
            ticks = []

            async def tick():
                while True:
                    ticks.append(1)
                    await asyncio.sleep(0.005)

            runner.run("tick", tick)
            runner.wait_until(lambda: len(ticks) >= 20, within=20)  # no await: blocking
            print("ticks", len(ticks) >= 20)
            await runner.stop_all()

        asyncio.run(main())
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=FRESH_PROCESS_LIMIT,
        check=True,
    )
    assert "ticks True" in out.stdout
    assert "Task was destroyed" not in out.stderr


@FRESH_PROCESS
def test_exit_stops_thread_jobs_cleanly() -> None:
    """A script that exits with jobs running stops them at exit, with no pending-task warning."""
    script = textwrap.dedent(
        """
        import asyncio
        import atexit
        from polyresearch.notebook.runner import Runner
        stopped = []
        atexit.register(lambda: print("stopped", stopped))  # runs last (atexit is LIFO)
        runner = Runner(mode="thread")

        async def forever():
            await asyncio.Event().wait()

        async def on_stop():
            stopped.append(1)

        job = runner.run("forever", forever, stop=on_stop)
        runner.wait_until(lambda: job.state == "running")
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=FRESH_PROCESS_LIMIT,
        check=True,
    )
    assert "stopped [1]" in out.stdout
    assert "Task was destroyed" not in out.stderr


def test_job_repr_names_state() -> None:
    """A job's repr says its name, kind and state."""
    assert repr(Job(Runner(mode="thread"), "x", "task", None)) == "Job('x', task, starting)"


@FRESH_PROCESS
def test_exit_stops_loop_jobs_on_the_stopped_kernel_loop() -> None:
    """Loop mode: at exit (kernel shutdown: loop stopped, not closed) the stop hooks run."""
    script = textwrap.dedent(
        """
        import asyncio
        import atexit
        from polyresearch.notebook.runner import Runner
        stopped = []
        atexit.register(lambda: print("stopped", stopped))  # runs last (atexit is LIFO)
        loop = asyncio.new_event_loop()
        holder = []

        async def cell():
            runner = Runner()
            holder.append(runner)

            async def on_stop():
                stopped.append(1)

            job = runner.run("forever", asyncio.Event().wait, stop=on_stop)
            await job.wait_running()

        loop.run_until_complete(cell())  # the loop stops with the job pending, as at shutdown
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=FRESH_PROCESS_LIMIT,
        check=True,
    )
    assert "stopped [1]" in out.stdout
    assert "Task was destroyed" not in out.stderr
