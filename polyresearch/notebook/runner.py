"""Background jobs for notebooks: feeds, an embedded simulator, any coroutine, by name.

In a Jupyter kernel (a running event loop in the cell's thread) jobs are tasks on the kernel's
loop, so data keeps arriving between cells and while a cell awaits; nothing patches the loop.
``Runner(mode="thread")`` runs jobs on a daemon thread with its own loop instead, for users
whose cells block for long (``time.sleep``, heavy CPU work) and still want data to arrive.
Feeds and the simulator then change state on that thread: read it with :meth:`Runner.read`,
``feed.read(fn)`` or ``feed.snapshot(...)`` (they run the read on the runner's thread, between
two messages), never by touching tables from the cell's thread while they are written. Live
charts and the status panel built from a feed do this themselves (one read per tick). In a
cell, ``await runner.shutdown()`` stops the jobs and ends the thread without parking a worker
thread; ``runner.stop_all_sync()`` does the same from synchronous code.

Jobs are registered by name: running a job under a name that is taken stops the previous one,
so re-running a cell never leaks a second stream. A job that fails sets its ``state`` to
``"failed"``, keeps the exception in ``error``, logs it on ``polyresearch.notebook`` and calls
the runner's listeners (the status panel shows it); errors never vanish into an unawaited task.

Example:
    >>> runner = Runner(mode="thread")
    >>> async def work() -> None:
    ...     raise ValueError("boom")
    >>> job = runner.run("w", work)
    >>> runner.wait_until(lambda: job.state == "failed", within=5)
    >>> job.state, str(job.error)
    ('failed', 'boom')
    >>> runner.stop_all_sync()
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import logging
import threading
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

from polyresearch.feed import ThreadExit, close_thread_loop

if TYPE_CHECKING:
    from polyresearch.feed import Feed
    from polyresearch.simulator import Simulator

__all__ = ["Job", "JobState", "Runner", "get_runner"]

logger = logging.getLogger("polyresearch.notebook")

JobState = Literal["starting", "running", "stopped", "failed"]
Mode = Literal["auto", "loop", "thread"]

T = TypeVar("T")

#: Seconds between checks of a feed's fatal error by its job.
FEED_POLL = 0.25


class _Listener(Protocol):
    def __call__(self, job: Job) -> None: ...


class Job:
    """One named background job: its task, state and the error that ended it, if any.

    Attributes:
        name: the registry key.
        kind: ``"feed"``, ``"simulator"`` or ``"task"``.
        target: the feed or simulator it runs (None for a plain coroutine).
        state: ``"starting"``, ``"running"``, ``"stopped"`` or ``"failed"``.
        error: the exception that failed the job (or a feed's fatal error).
    """

    def __init__(self, runner: Runner, name: str, kind: str, target: object) -> None:
        self.runner = runner
        self.name = name
        self.kind = kind
        self.target = target
        self.state: JobState = "starting"
        self.error: BaseException | None = None
        self.stop_hook: Callable[[], Awaitable[None]] | None = None
        self.future: asyncio.Task[None] | concurrent.futures.Future[None] | None = None

    def __repr__(self) -> str:
        error = "" if self.error is None else f", error={self.error!r}"
        return f"Job({self.name!r}, {self.kind}, {self.state}{error})"

    @property
    def done(self) -> bool:
        """Whether the job has ended (stopped or failed)."""
        return self.state in ("stopped", "failed")

    async def wait_running(self, within: float = 30.0) -> Job:
        """Wait until the job runs (e.g. the simulator is bound); raise its error if it failed.

        Raises:
            TimeoutError: still starting after ``within`` seconds.
        """
        deadline = time.monotonic() + within
        while self.state == "starting":
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {self.name!r} not running within {within:g} s")
            await asyncio.sleep(0.01)
        if self.state == "failed" and self.error is not None:
            raise self.error
        return self

    def fail(self, error: BaseException) -> None:
        """Mark the job failed: keep the error, log it, tell the runner's listeners."""
        self.error = error
        self.state = "failed"
        logger.error("job %r failed: %r", self.name, error, exc_info=error)
        self.runner.notify(self)


class Runner:
    """A registry of named background jobs on the kernel's loop or on a thread of its own.

    Args:
        mode: ``"auto"`` (the running loop if the caller has one, else a thread), ``"loop"``
            (always the caller's running loop) or ``"thread"`` (a daemon thread with its own
            loop, which keeps receiving while a cell blocks).
        nested: allow :meth:`wait_until` to block on the kernel's own loop through
            ``nest_asyncio`` (it patches that loop for the rest of the session; off by default).
    """

    def __init__(self, mode: Mode = "auto", *, nested: bool = False) -> None:
        if mode not in ("auto", "loop", "thread"):
            raise ValueError(f"mode must be 'auto', 'loop' or 'thread', not {mode!r}")
        self.mode: Mode = mode
        self.nested = nested
        self.jobs: dict[str, Job] = {}
        self.listeners: list[_Listener] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopping: set[asyncio.Task[None] | concurrent.futures.Future[None]] = set()
        self._exited = ThreadExit()
        ref = weakref.ref(self)
        # A kernel shutdown stops the loop and exits the process: atexit then runs the stops
        # on the (stopped, not yet closed) kernel loop, or joins the runner's thread.
        atexit.register(_stop_at_exit, ref)

    def __repr__(self) -> str:
        return f"Runner({self.resolved_mode}, jobs={list(self.jobs)})"

    # ------------------------------------------------------------ public API

    @property
    def resolved_mode(self) -> Literal["loop", "thread", "unbound"]:
        """Where jobs run once the runner is bound: the caller's loop or a thread."""
        if self._loop is None:
            return "unbound"
        return "thread" if self._thread is not None else "loop"

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The loop jobs run on (bound on first use)."""
        return self._bind()

    def run(
        self,
        name: str,
        main: Callable[[], Awaitable[None]],
        *,
        stop: Callable[[], Awaitable[None]] | None = None,
    ) -> Job:
        """Run ``main()`` in the background under ``name``, stopping any job of that name."""

        async def body(job: Job) -> None:
            job.state = "running"
            self.notify(job)
            await main()

        return self._submit(name, "task", None, body, stop)

    def run_feed(self, name: str, feed: Feed) -> Job:
        """Start ``feed`` on the runner's loop under ``name``; its fatal error fails the job."""

        async def body(job: Job) -> None:
            feed.start()
            job.state = "running"
            self.notify(job)
            while True:
                error = feed.error
                if error is not None and job.error is not error:
                    job.fail(error)
                if not feed.running and job.state == "running":
                    job.state = "stopped"
                    self.notify(job)
                await asyncio.sleep(FEED_POLL)

        return self._submit(name, "feed", feed, body, feed.stop)

    def run_simulator(self, name: str, sim: Simulator) -> Job:
        """Start the embedded simulator on the runner's loop under ``name``."""

        async def body(job: Job) -> None:
            await sim.start()
            job.state = "running"
            self.notify(job)
            await asyncio.Event().wait()

        return self._submit(name, "simulator", sim, body, sim.stop)

    def get(self, name: str) -> Job:
        """The job registered under ``name``."""
        return self.jobs[name]

    async def stop(self, name: str) -> None:
        """Stop one job and forget it."""
        job = self.jobs.pop(name, None)
        if job is not None:
            await self._await_here(self._shutdown(job))

    async def stop_all(self) -> None:
        """Stop every job (newest first: feeds before the simulator they read)."""
        for name in reversed(list(self.jobs)):
            await self.stop(name)
        pending = list(self._stopping)
        for future in pending:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                if isinstance(future, concurrent.futures.Future):
                    await asyncio.wrap_future(future)
                else:
                    await future

    def stop_all_sync(self, timeout: float = 30.0) -> None:
        """Stop every job from synchronous code (thread mode, scripts, exit hooks).

        In loop mode from a cell (the loop runs in this thread) the stops are scheduled on the
        loop and happen as soon as the cell yields; ``await runner.stop_all()`` waits for them.
        """
        loop = self._loop
        if loop is None:
            return
        if self._thread is not None:
            if loop.is_running():
                with contextlib.suppress(Exception):
                    asyncio.run_coroutine_threadsafe(self.stop_all(), loop).result(timeout)
                with contextlib.suppress(RuntimeError):  # closed meanwhile: nothing to stop
                    loop.call_soon_threadsafe(loop.stop)
            self._thread.join(timeout)
            self._thread = None
            self._loop = None
            return
        if loop.is_closed():
            return
        if loop.is_running():
            task = loop.create_task(self.stop_all())
            self._stopping.add(task)
            task.add_done_callback(self._stopping.discard)
        else:
            loop.run_until_complete(self.stop_all())

    async def shutdown(self, within: float = 30.0) -> None:
        """Stop every job and, in thread mode, end the runner's thread, without blocking.

        The awaitable counterpart of :meth:`stop_all_sync` for a cell (``await
        runner.shutdown()``): it waits for the thread's exit signal on the caller's loop
        rather than joining through a worker thread, so nothing is left running. In loop mode
        it is :meth:`stop_all`. The runner binds again (a new thread) on its next job.
        """
        loop, thread = self._loop, self._thread
        if loop is None:
            return
        if thread is None or thread is threading.current_thread():
            await self.stop_all()
            return
        exited = self._exited
        if loop.is_running():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(
                    asyncio.wrap_future(asyncio.run_coroutine_threadsafe(self.stop_all(), loop)),
                    within,
                )
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(loop.stop)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(exited.wait(), within)
        thread.join(1.0)  # it has signalled its exit: only returning is left
        self._thread = None
        self._loop = None

    async def wait(
        self, predicate: Callable[[], object], *, within: float = 30.0, poll: float = 0.02
    ) -> None:
        """Await until ``predicate()`` is truthy (checked on the runner's loop).

        Raises:
            TimeoutError: the condition did not hold within ``within`` seconds.
        """
        deadline = time.monotonic() + within
        while not await self._await_here(_call(predicate)):
            if time.monotonic() > deadline:
                raise TimeoutError(f"condition not met within {within:g} s")
            await asyncio.sleep(poll)

    def wait_until(
        self, predicate: Callable[[], object], *, within: float = 30.0, poll: float = 0.02
    ) -> None:
        """Block until ``predicate()`` is truthy, for code that cannot ``await``.

        Example: ``runner.wait_until(lambda: len(feed.tables.trades) >= 100)``.

        Thread mode blocks the caller while the jobs keep running on their thread. In loop mode
        called from the loop's own thread (a Jupyter cell) blocking would freeze the very jobs
        being waited for: that needs ``Runner(..., nested=True)`` (nest_asyncio, explicit);
        otherwise it raises and says what to do instead.

        Raises:
            TimeoutError: the condition did not hold within ``within`` seconds.
            RuntimeError: loop mode inside the running loop without ``nested=True``.
        """
        loop = self._bind()
        if self._thread is not None:
            deadline = time.monotonic() + within
            while not asyncio.run_coroutine_threadsafe(_call(predicate), loop).result(within):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"condition not met within {within:g} s")
                time.sleep(poll)
            return
        if loop.is_running():
            if not self.nested:
                raise RuntimeError(
                    "wait_until() would block the kernel's loop that feeds the data: write "
                    "`await runner.wait(...)`, or use Runner(mode='thread'), or opt in to "
                    "nest_asyncio with Runner(nested=True)"
                )
            import nest_asyncio

            nest_asyncio.apply(loop)
        loop.run_until_complete(self.wait(predicate, within=within, poll=poll))

    def read(self, fn: Callable[[], T], *, within: float = 30.0) -> T:
        """Run ``fn()`` on the runner's loop thread and return its result.

        In thread mode the jobs' state (feed tables, books, the simulator's ground truth)
        changes on the runner's thread; ``fn`` runs there between two messages, so everything
        it reads, across several feeds and the simulator, is from one consistent instant. No
        lock is needed. In loop mode, or on the runner's own thread, it just calls ``fn()``.

        Example:
            >>> runner = Runner(mode="thread")
            >>> import threading
            >>> runner.read(lambda: threading.current_thread().name)
            'polyresearch-runner'
            >>> runner.stop_all_sync()
        """
        loop = self._bind()
        thread = self._thread
        if thread is None or thread is threading.current_thread() or not loop.is_running():
            return fn()

        async def call() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(call(), loop).result(within)

    def add_listener(self, listener: _Listener) -> None:
        """Call ``listener(job)`` on every state change of any job (on the runner's loop)."""
        self.listeners.append(listener)

    def notify(self, job: Job) -> None:
        """Tell the listeners that ``job`` changed state."""
        for listener in list(self.listeners):
            try:
                listener(job)
            except Exception:
                logger.exception("runner listener failed on %r", job.name)

    # ------------------------------------------------------------ internals

    def _bind(self) -> asyncio.AbstractEventLoop:
        if self._loop is not None:
            return self._loop
        running = _running_loop()
        if self.mode == "thread" or (self.mode == "auto" and running is None):
            self._start_thread()
        elif running is None:
            raise RuntimeError("Runner(mode='loop') needs a running event loop")
        else:
            self._loop = running
        assert self._loop is not None
        return self._loop

    def _start_thread(self) -> None:
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def main() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            try:
                loop.run_forever()
            finally:
                # Cancel leftover tasks (websockets keepalives too) and wait for the loop's
                # executor workers, so a stopped runner leaves no thread behind.
                close_thread_loop(loop)
                exited.set()

        exited = self._exited = ThreadExit()
        self._loop = loop
        self._thread = threading.Thread(target=main, name="polyresearch-runner", daemon=True)
        self._thread.start()
        ready.wait(10)

    def _submit(
        self,
        name: str,
        kind: str,
        target: object,
        body: Callable[[Job], Awaitable[None]],
        stop: Callable[[], Awaitable[None]] | None,
    ) -> Job:
        loop = self._bind()
        old = self.jobs.pop(name, None)
        if old is not None:
            logger.info("job %r replaced: stopping the previous one", name)
            self._schedule(self._shutdown(old))
        job = Job(self, name, kind, target)
        job.stop_hook = stop
        self.jobs[name] = job

        async def guarded() -> None:
            try:
                await body(job)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                job.fail(exc)
            else:
                if job.state != "failed":
                    job.state = "stopped"
                    self.notify(job)

        if self._thread is not None:
            job.future = asyncio.run_coroutine_threadsafe(guarded(), loop)
        else:
            job.future = loop.create_task(guarded(), name=f"polyresearch:{name}")
        return job

    def _schedule(self, coro: Awaitable[None]) -> None:
        loop = self._bind()
        future: asyncio.Task[None] | concurrent.futures.Future[None]
        if self._thread is not None:
            future = asyncio.run_coroutine_threadsafe(_wrap(coro), loop)
        else:
            future = loop.create_task(_wrap(coro))
        self._stopping.add(future)
        future.add_done_callback(self._stopping.discard)

    async def _await_here(self, coro: Awaitable[Any]) -> Any:
        """Await ``coro`` on the runner's loop, from the runner's loop or another one."""
        loop = self._bind()
        if self._thread is not None and _running_loop() is not loop:
            return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(_wrap(coro), loop))
        return await coro

    async def _shutdown(self, job: Job) -> None:
        try:
            if job.stop_hook is not None:
                await job.stop_hook()
        except Exception as exc:
            logger.warning("stopping job %r: %r", job.name, exc)
        future = job.future
        if future is not None and not future.done():
            future.cancel()
            if isinstance(future, asyncio.Task):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await future
        if job.state != "failed":
            job.state = "stopped"
        self.notify(job)


async def _call(predicate: Callable[[], object]) -> bool:
    return bool(predicate())


async def _wrap(coro: Awaitable[Any]) -> Any:
    return await coro


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _stop_at_exit(ref: weakref.ReferenceType[Runner]) -> None:
    runner = ref()
    if runner is not None and runner.jobs:
        with contextlib.suppress(Exception):
            runner.stop_all_sync(timeout=5)


_default: Runner | None = None


def get_runner(mode: Mode = "auto") -> Runner:
    """The session's shared runner (created on first call), so re-run cells share one registry.

    Asking for a different ``mode`` than the shared runner's replaces it after stopping its jobs.
    """
    global _default
    if _default is not None and mode not in ("auto", _default.mode):
        _default.stop_all_sync()
        _default = None
    if _default is None:
        _default = Runner(mode)
    return _default
