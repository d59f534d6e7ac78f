"""Feeds: the composition root that wires protocol, transport and state for one venue.

A feed owns its connections (sharded: at most ``max_assets_per_connection`` assets each, both
tokens of a CLOB market on the same connection), a decoder per connection, and one
:class:`~polyresearch.state.store.MarketStore` (books, rolling tables, account state).

In a Jupyter kernel (a running event loop) :meth:`Feed.start` schedules the connections as
tasks on that loop and returns at once; the cell finishes and data keeps arriving between
cells. In a plain script (no running loop) it starts a daemon thread with its own loop; use
:meth:`Feed.read` to look at state from the main thread safely. ``async with`` / ``with`` scope
a feed; :meth:`Feed.stop` leaves no task, thread or socket behind.

Example:
    >>> feed = ClobFeed(assets=["1"], url="ws://127.0.0.1:9/ws/market")
    >>> feed.subscribed
    ('1',)
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import re
import threading
import time
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, Literal, TypeVar

import msgspec

from polyresearch.config import ClobCredentials, Secret, UsCredentials, positive_int
from polyresearch.errors import ConfigError, PolyresearchError
from polyresearch.protocol import clob as clob_protocol
from polyresearch.protocol import us as us_protocol
from polyresearch.protocol.events import MarketResolved, NewMarket
from polyresearch.protocol.us_auth import ws_headers
from polyresearch.state.books import BookSet, MarketParams
from polyresearch.state.orderbook import BookStatus
from polyresearch.state.schemas import Tables, make_tables
from polyresearch.state.store import MarketStore
from polyresearch.transport.connection import (
    DEFAULT_RATE_LIMIT_DELAY,
    Connection,
    ConnectionStats,
    FrameTap,
)

if TYPE_CHECKING:
    from pathlib import Path

    from polyresearch.protocol.base import FrameDecoder
    from polyresearch.protocol.events import Event
    from polyresearch.record.recorder import Recorder
    from polyresearch.state.orderbook import OrderBook

__all__ = ["ClobFeed", "Feed", "FeedStats", "UsFeed", "aclob", "clob", "us"]

logger = logging.getLogger("polyresearch.feed")

T = TypeVar("T")

CLOB_MARKET_URL: Final = "wss://ws-subscriptions-clob.polymarket.com/ws/market"
CLOB_USER_URL: Final = "wss://ws-subscriptions-clob.polymarket.com/ws/user"
US_BASE_URL: Final = "wss://api.polymarket.us"
#: Seconds a stop waits for a feed's own thread to end.
THREAD_JOIN_TIMEOUT: Final = 10.0
DEFAULT_MAX_ASSETS_PER_CONNECTION: Final = 200
#: Seconds between connection starts, so a big feed does not open a storm of sockets at once.
DEFAULT_CONNECT_STAGGER: Final = 0.05

_AUTH = re.compile(r'"auth"\s*:\s*\{[^}]*\}')
#: Events that prove a socket alive but carry no market data.
_CONTROL_KINDS: Final = frozenset({"pong", "heartbeat", "no_new_assets", "dropped"})
DEFAULT_SNAPSHOT_TIMEOUT: Final = 30.0
DEFAULT_DATA_TIMEOUT: Final = 120.0
DEFAULT_MAX_REDRIVES: Final = 3


class FeedStats(msgspec.Struct, frozen=True, kw_only=True):
    """A frozen snapshot of a feed: connections, decoders, books, tables, drops."""

    venue: str
    running: bool
    connections: tuple[ConnectionStats, ...]
    frames_in: int
    events_out: int
    dropped: Mapping[str, int]
    reconnects: int
    resyncs: int
    books: Any
    tables: Mapping[str, Any]
    store: Any
    error: str | None


class _Channel:
    """One connection's hooks: its subscription set, decoder and routing into the store."""

    def __init__(
        self,
        feed: Feed,
        name: str,
        channel: str,
        decoder: FrameDecoder,
        on_open: Callable[[_Channel], list[str]],
        headers: Callable[[], Mapping[str, str] | None] = lambda: None,
        secrets: Sequence[str | Secret] = (),
    ) -> None:
        self.feed = feed
        self.name = name
        self.channel = channel
        self.decoder = decoder
        self.assets: list[str] = []
        #: US: live subscriptions of this connection, request id -> (type, slugs)
        self.subs: dict[str, tuple[str, tuple[str, ...]]] = {}
        #: monotonic time of the last data event (not PONG/heartbeat) on this connection
        self.last_data = time.monotonic()
        self._on_open = on_open
        self._headers = headers
        # Credential values (and key ids) replaced wherever they appear in a redacted text;
        # short ones would replace ordinary text, and credentials are long.
        wrapped = [s if isinstance(s, Secret) else Secret(s) for s in secrets]
        self._secrets = tuple(s for s in wrapped if len(s.reveal()) >= 8)
        self.connection: Connection | None = None

    # ChannelHooks

    def headers(self) -> Mapping[str, str] | None:
        return self._headers()

    def on_open(self) -> list[str]:
        return self._on_open(self)

    def on_frame(self, data: str | bytes, recv_ns: int) -> None:
        feed = self.feed
        apply = feed.store.apply
        events = self.decoder.receive(data)
        for event in events:
            if event.kind not in _CONTROL_KINDS:
                self.last_data = time.monotonic()
            try:
                apply(event, recv_ns=recv_ns, channel=self.channel)
            except Exception:
                # A store bug costs only this event, not the rest of the frame.
                feed._state_error(self, event)
        if feed._watched_kinds:  # apart from the loop: a feed that watches nothing pays a test
            for event in events:
                if event.kind in feed._watched_kinds:
                    feed._on_watched(event)
        feed._after_frame(self)

    def on_state(self, state: str, detail: str) -> None:
        self.feed._on_state(self, state, detail)

    def redact(self, frame: str) -> str:
        frame = _AUTH.sub('"auth":"<redacted>"', frame)
        for secret in self._secrets:
            value = secret.reveal()
            if value in frame:
                frame = frame.replace(value, "<redacted>")
        return frame


class Feed:
    """Common machinery of :class:`ClobFeed` and :class:`UsFeed` (not used directly)."""

    venue: Literal["clob", "us"]

    def __init__(
        self,
        *,
        tables: Tables | None,
        max_rows: int | None,
        books: BookSet,
        tap: FrameTap | None,
        max_frame_bytes: int,
        heartbeat_interval: float,
        stale_after: float,
        channel: str,
        snapshot_interval: float | None = None,
        snapshot_depth: int = 10,
        rate_limit_delay: float = DEFAULT_RATE_LIMIT_DELAY,
    ) -> None:
        if snapshot_interval is not None and snapshot_interval <= 0:
            raise ConfigError("snapshot_interval must be positive (or None for no sampling)")
        self.snapshot_interval = snapshot_interval
        self.snapshot_depth = positive_int(snapshot_depth, "snapshot_depth")
        self.store = MarketStore(
            self.venue,
            channel,
            tables=tables if tables is not None else make_tables(max_rows=max_rows),
            books=books,
        )
        self.tap = tap
        self.max_frame_bytes = max_frame_bytes
        self.heartbeat_interval = heartbeat_interval
        self.stale_after = stale_after
        if rate_limit_delay < 0:
            raise ConfigError("rate_limit_delay must not be negative")
        self.rate_limit_delay = rate_limit_delay
        self._channels: list[_Channel] = []
        #: Event kinds passed to :meth:`_on_watched` after the store applied them (an instance
        #: attribute: the frame loop reads it once per frame).
        self._watched_kinds: frozenset[str] = frozenset()
        self._tasks: list[asyncio.Task[None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        #: The thread that runs ``_loop`` (the kernel's, ours, or a thread-mode runner's).
        self._owner: threading.Thread | None = None
        self._error: BaseException | None = None
        self._resyncs = 0
        #: Events the store raised on (a bug): counted as drops ("state_error") and logged.
        self._state_errors = 0
        self._ready = threading.Event()
        self._recorder: Recorder | None = None  # closed by stop() (see record())
        #: Set by the feed's own thread (thread mode) as its very last act.
        self._exited = ThreadExit()

    # Public API: lifecycle.

    def start(self) -> Feed:
        """Start streaming in the background and return at once (idempotent).

        Inside a running loop (Jupyter) the connections become tasks on it; otherwise a daemon
        thread runs them on its own loop.
        """
        if self.running:
            return self
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._start_thread()
        else:
            self._launch(loop)
        return self

    async def stop(self) -> None:
        """Stop every connection and task; in thread mode, stop and join the thread."""
        if self._thread is not None and self._loop is not None:
            loop, thread, exited = self._loop, self._thread, self._exited
            if threading.current_thread() is not thread:
                future = asyncio.run_coroutine_threadsafe(self._stop_tasks(), loop)
                await asyncio.wrap_future(future)
                loop.call_soon_threadsafe(loop.stop)
                # Wait for the thread's own "I am done" signal on this loop instead of joining
                # through asyncio.to_thread: that would park a worker thread in the caller's
                # default executor for good (one leaked thread per stop). Once the signal
                # fires the thread has nothing left but to return, so the join is immediate.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(exited.wait(), THREAD_JOIN_TIMEOUT)
                thread.join(1.0)
                self._thread = None
                self._loop = None
                return
        await self._stop_tasks()
        self._loop = None

    def stop_sync(self) -> None:
        """:meth:`stop` for scripts without a running loop (thread mode)."""
        if self._thread is None or self._loop is None:
            return
        loop, thread = self._loop, self._thread
        asyncio.run_coroutine_threadsafe(self._stop_tasks(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(THREAD_JOIN_TIMEOUT)
        self._thread = None
        self._loop = None

    @property
    def running(self) -> bool:
        """Whether the feed has live tasks."""
        return any(not task.done() for task in self._tasks)

    @property
    def error(self) -> BaseException | None:
        """The fatal error that ended a connection (e.g. an AuthError), if any."""
        return self._error

    async def __aenter__(self) -> Feed:
        return self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def __enter__(self) -> Feed:
        if _running_loop() is not None:
            raise ConfigError("inside a running event loop use `async with feed:`")
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop_sync()

    async def wait_for(
        self, predicate: Callable[[Feed], object], *, within: float = 30.0, poll: float = 0.02
    ) -> None:
        """Wait until ``predicate(feed)`` is truthy, e.g. ``lambda f: len(f.trades) >= 10``.

        The predicate runs on the feed's own loop thread (see :meth:`read`), awaited from any
        loop without blocking it.

        Raises:
            TimeoutError: the condition did not hold within ``within`` seconds.
            PolyresearchError: a connection failed fatally meanwhile (e.g. bad credentials).
        """
        deadline = time.monotonic() + within
        while not await self._aread(lambda: bool(predicate(self))):
            if self._error is not None:
                raise self._error
            if time.monotonic() > deadline:
                raise TimeoutError(f"condition not met within {within:g} s")
            await asyncio.sleep(poll)

    def read(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` where the feed's state lives and return its result.

        The feed's books and tables change only on the thread of the loop it runs on. When
        that is another thread (a script's feed thread, or a ``Runner(mode="thread")`` in a
        notebook), ``fn`` runs on that thread between two frames, so everything it reads is
        from one consistent instant; from the loop's own thread it just calls ``fn()``.

        Example:
            >>> feed = ClobFeed(assets=["1"], url="ws://127.0.0.1:9/ws/market")
            >>> feed.read(lambda: len(feed.tables.trades))
            0
        """
        loop = self._foreign_loop()
        if loop is None:
            return fn()

        async def call() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(call(), loop).result(30)

    def snapshot(self, *names: str, kind: Literal["polars", "pandas"] = "polars") -> dict[str, Any]:
        """Copies of rolling tables as DataFrames, all taken at the same instant.

        Safe from any thread without a lock (built through :meth:`read`); the frames are the
        caller's to keep, later rows never change them.

        Args:
            *names: table names (``"trades"``, ``"quotes"``, ...); none means every table.
            kind: ``"polars"`` or ``"pandas"`` frames.

        Example:
            >>> feed = ClobFeed(assets=["1"], url="ws://127.0.0.1:9/ws/market")
            >>> feed.snapshot("trades")["trades"].height
            0
        """
        if kind not in ("polars", "pandas"):
            raise ConfigError(f"kind must be 'polars' or 'pandas', not {kind!r}")
        tables = self.store.tables
        wanted = names or tuple(tables)
        unknown = [n for n in wanted if n not in tables]
        if unknown:
            raise ConfigError(f"no such table(s): {', '.join(unknown)} (have {', '.join(tables)})")

        def build() -> dict[str, Any]:
            if kind == "polars":
                return {n: tables[n].to_polars() for n in wanted}
            return {n: tables[n].to_pandas() for n in wanted}

        return self.read(build)

    async def _aread(self, fn: Callable[[], T]) -> T:
        """:meth:`read` for a coroutine: awaits the feed's thread instead of blocking."""
        loop = self._foreign_loop()
        if loop is None:
            return fn()

        async def call() -> T:
            return fn()

        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(call(), loop))

    def _foreign_loop(self) -> asyncio.AbstractEventLoop | None:
        """The feed's loop if it runs on a thread other than the caller's, else None."""
        loop, owner = self._loop, self._owner
        if loop is None or owner is None or owner is threading.current_thread():
            return None
        if loop.is_closed() or not loop.is_running() or not owner.is_alive():
            return None  # stopped: nothing mutates the state any more
        return loop

    # Public API: state.

    @property
    def tables(self) -> Tables:
        """The rolling tables (``trades``, ``quotes``, ``book_updates``, ``status``, …)."""
        return self.store.tables

    @property
    def books(self) -> BookSet:
        """Every local book, by asset id."""
        return self.store.books

    def book(self, asset_id: str) -> OrderBook:
        """The local book of one asset."""
        return self.store.books[asset_id]

    @property
    def subscribed(self) -> tuple[str, ...]:
        """The assets (CLOB token ids) or slugs (US) this feed follows."""
        return tuple(a for channel in self._channels for a in channel.assets)

    def stats(self) -> FeedStats:
        """A frozen snapshot of the whole feed."""
        connections = tuple(c.connection.stats() for c in self._channels if c.connection)
        dropped: dict[str, int] = {}
        frames = events = 0
        for channel in self._channels:
            decoder_stats = channel.decoder.stats()
            frames += decoder_stats.frames_in
            events += decoder_stats.events_out
            for reason, n in decoder_stats.dropped.items():
                dropped[reason] = dropped.get(reason, 0) + n
        if self._state_errors:
            dropped["state_error"] = self._state_errors
        return FeedStats(
            venue=self.venue,
            running=self.running,
            connections=connections,
            frames_in=frames,
            events_out=events,
            dropped=dropped,
            reconnects=sum(c.reconnects for c in connections),
            resyncs=self._resyncs,
            books=self.store.books.stats(),
            tables={name: table.stats() for name, table in self.store.tables.items()},
            store=self.store.stats(),
            error=None if self._error is None else str(self._error),
        )

    # Public API: recording.

    def set_tap(self, tap: FrameTap | None) -> None:
        """Attach a raw-frame observer to every connection, present and future (None detaches).

        The tap sees every frame in both directions (outgoing ones redacted) and the connection
        markers; :meth:`record` uses it. Its methods run on the event loop: they must not block.

        Example:
            >>> feed = ClobFeed(assets=["1"], url="ws://127.0.0.1:9/ws/market")
            >>> feed.set_tap(None)
            >>> feed.tap is None
            True
        """
        self.tap = tap
        for channel in self._channels:
            if channel.connection is not None:
                channel.connection.tap = tap

    def record(self, directory: str | Path, **kwargs: Any) -> Recorder:
        """Record this feed's raw traffic to a Parquet directory (call before :meth:`start`).

        Returns the :class:`~polyresearch.record.Recorder` (``.stats()`` for its counters);
        it is flushed and closed when the feed stops. Replay the directory with
        :func:`polyresearch.record.replay`.

        Args:
            directory: the recording root (created if missing).
            **kwargs: passed to the Recorder (``chunk_rows``, ``max_total_bytes``, ...).

        Raises:
            ConfigError: the feed is already running, or already has a tap.

        Example:
            >>> import tempfile
            >>> feed = ClobFeed(assets=["1"], url="ws://127.0.0.1:9/ws/market")
            >>> recorder = feed.record(tempfile.mkdtemp())
            >>> recorder.stats().frames
            0
            >>> recorder.close()
        """
        from polyresearch.record.recorder import record_feed

        if self.running:
            # A recording must open with the snapshots the subscription sends; started late it
            # would replay deltas onto books it never saw.
            raise ConfigError("call record() before start()")
        if self.tap is not None:
            raise ConfigError("this feed already has a tap (a recorder); one at a time")
        self._recorder = record_feed(self, directory, **kwargs)
        return self._recorder

    # Private methods.

    def _start_thread(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop

        exited = self._exited = ThreadExit()

        def main() -> None:
            asyncio.set_event_loop(loop)
            self._launch(loop)
            self._ready.set()
            try:
                loop.run_forever()
            finally:
                close_thread_loop(loop)
                exited.set()

        self._thread = threading.Thread(target=main, name=f"polyresearch-{self.venue}", daemon=True)
        self._ready.clear()
        self._thread.start()
        self._ready.wait(10)

    def _launch(self, loop: asyncio.AbstractEventLoop) -> None:
        # Called on the loop's own thread: that thread alone mutates the feed's state.
        self._owner = threading.current_thread()
        if self._thread is None:
            self._loop = loop
        self._error = None
        for index, channel in enumerate(self._channels):
            self._tasks.append(loop.create_task(self._run_channel(channel, index)))
        self._tasks.extend(self._background(loop))
        if self.snapshot_interval is not None:
            self._tasks.append(loop.create_task(self._sample_books(self.snapshot_interval)))

    async def _sample_books(self, interval: float) -> None:
        # The top-N of every live book into `book_snapshots`, on a timer (not per event).
        while True:
            await asyncio.sleep(interval)
            self.store.sample_books(depth=self.snapshot_depth, ts_ns=time.time_ns())

    def _background(self, loop: asyncio.AbstractEventLoop) -> list[asyncio.Task[None]]:
        """Extra tasks a venue runs beside its connections (e.g. a watchdog)."""
        return []

    async def _run_channel(self, channel: _Channel, index: int) -> None:
        await asyncio.sleep(index * DEFAULT_CONNECT_STAGGER)
        connection = channel.connection
        assert connection is not None
        try:
            await connection.run()
        except PolyresearchError as exc:
            # Fatal (e.g. AuthError): surface it to wait_for()/stats() and the status table.
            self._error = exc
            logger.error("%s stopped: %s", channel.name, exc)
            self.store.status(
                "error", ts_ns=time.time_ns(), detail=str(exc)[:200], channel=channel.channel
            )
            self._stop_if_all_failed()
        except Exception as exc:
            self._error = exc
            logger.exception("%s crashed", channel.name)

    def _stop_if_all_failed(self) -> None:
        # With every connection failed fatally nothing can recover: end the helper tasks too
        # (watchdog, sampler), so that `running` turns False and the error is the final state.
        if any(
            c.connection is not None and c.connection.state not in ("failed", "stopped")
            for c in self._channels
        ):
            return
        current = asyncio.current_task()
        for task in self._tasks:
            if task is not current:
                task.cancel()

    async def _stop_tasks(self) -> None:
        for channel in self._channels:
            if channel.connection is not None:
                await channel.connection.stop()
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        recorder, self._recorder = self._recorder, None
        if recorder is not None:
            # Everything recorded reaches disk before stop() returns (off the loop: the
            # writer thread may still be busy with the last chunks).
            self.set_tap(None)
            await asyncio.to_thread(recorder.close)

    def _new_connection(self, channel: _Channel, url: str, *, heartbeat: str | None) -> None:
        channel.connection = Connection(
            channel.name,
            url,
            channel,
            heartbeat=heartbeat,
            heartbeat_interval=self.heartbeat_interval,
            stale_after=self.stale_after,
            max_frame_bytes=self.max_frame_bytes,
            rate_limit_delay=self.rate_limit_delay,
            tap=self.tap,
        )
        self._channels.append(channel)

    def _on_state(self, channel: _Channel, state: str, detail: str) -> None:
        now = time.time_ns()
        if state == "connected":
            # Nothing is replayed after a reconnect: every book of this connection is EMPTY
            # until its fresh snapshot, and the account loses continuity.
            connection = channel.connection
            if connection is not None and connection.epoch > 1:
                for asset in channel.assets:
                    if asset in self.store.books:
                        self.store.books[asset].invalidate()
                if channel.channel in ("user", "private"):
                    self.store.account.continuous = False
            channel.last_data = time.monotonic()
            self._on_connected(channel)
            self.store.status("connect", ts_ns=now, detail=channel.name, channel=channel.channel)
        elif state in ("disconnected", "stale"):
            event = "disconnect" if state == "disconnected" else "stale"
            self.store.status(event, ts_ns=now, detail=detail[:200], channel=channel.channel)

    def _state_error(self, channel: _Channel, event: Event) -> None:
        """Count and log a store exception on ``event`` (a bug) as a ``state_error`` drop.

        The stream goes on with the next event; :meth:`stats` shows the count.
        """
        self._state_errors += 1
        logger.exception("%s: applying a %s event failed", channel.name, event.kind)

    def _after_frame(self, channel: _Channel) -> None:
        """Hook after each frame: venues override to act on resync requests."""

    def _on_watched(self, event: Any) -> None:
        """Hook per event of ``_watched_kinds``, after the store applied it (venues override)."""

    def _on_connected(self, channel: _Channel) -> None:
        """Hook after each (re)connect."""


class ClobFeed(Feed):
    """A Polymarket CLOB market-channel feed (and optionally the user channel).

    Args:
        assets: token ids to follow.
        url: the market channel URL (the simulator's ``clob_market_url`` offline).
        user_url: the user channel URL; used when ``credentials`` are given.
        credentials: CLOB L2 API credentials for the user channel.
        markets: condition ids to restrict the user channel to (default: all).
        params: per token id, the market parameters the book hash needs.
        max_assets_per_connection: shard size (both tokens of a market stay together).
        custom_features: ask for ``best_bid_ask``/``new_market``/``market_resolved``.
        follow_new_markets: subscribe to markets the venue announces after the start (``True``
            for all, or a predicate on the :class:`~polyresearch.protocol.events.NewMarket`
            event, e.g. ``lambda m: m.slug.startswith("btc-updown-15m")``); turns on
            ``custom_features``. A followed market is unsubscribed once it resolves, so the
            followed set stays as small as the number of its live markets. Their books are
            checked against every delta's best bid/ask; hashes need the market parameters,
            which ``new_market`` does not carry (counted as unverifiable).
        hash_every: check one delta hash in this many per asset (1 = every one).
        max_rows: row bound of every table (see :func:`~polyresearch.state.schemas.make_tables`).
        tables: tables to fill instead of new ones.
        tap: a raw-frame observer (a recorder).
        rate_limit_delay: extra seconds to wait before reconnecting after an HTTP 429.

    Example:
        >>> feed = ClobFeed(assets=["1", "2", "3"], url="ws://x/ws/market",
        ...                 max_assets_per_connection=2)
        >>> [c.assets for c in feed._channels]
        [['1', '2'], ['3']]
    """

    venue = "clob"

    def __init__(
        self,
        *,
        assets: Iterable[str] = (),
        url: str = CLOB_MARKET_URL,
        user_url: str = CLOB_USER_URL,
        credentials: ClobCredentials | None = None,
        markets: Iterable[str] = (),
        params: Mapping[str, MarketParams] | None = None,
        max_assets_per_connection: int = DEFAULT_MAX_ASSETS_PER_CONNECTION,
        custom_features: bool = False,
        follow_new_markets: bool | Callable[[NewMarket], bool] = False,
        hash_every: int = 16,
        max_rows: int | None = None,
        tables: Tables | None = None,
        tap: FrameTap | None = None,
        max_frame_bytes: int = 16 * 1024 * 1024,
        heartbeat_interval: float = 10.0,
        stale_after: float = 30.0,
        snapshot_timeout: float = DEFAULT_SNAPSHOT_TIMEOUT,
        data_timeout: float = DEFAULT_DATA_TIMEOUT,
        max_redrives: int = DEFAULT_MAX_REDRIVES,
        snapshot_interval: float | None = None,
        snapshot_depth: int = 10,
        rate_limit_delay: float = DEFAULT_RATE_LIMIT_DELAY,
    ) -> None:
        super().__init__(
            tables=tables,
            max_rows=max_rows,
            books=BookSet(params=params, hash_every=hash_every),
            tap=tap,
            max_frame_bytes=max_frame_bytes,
            heartbeat_interval=heartbeat_interval,
            stale_after=stale_after,
            channel="market",
            snapshot_interval=snapshot_interval,
            snapshot_depth=snapshot_depth,
            rate_limit_delay=rate_limit_delay,
        )
        self.url = url
        self.custom_features = custom_features or bool(follow_new_markets)
        #: Which announced markets to follow (None: none).
        self._follow: Callable[[NewMarket], bool] | None = (
            (lambda _m: True) if follow_new_markets is True else (follow_new_markets or None)
        )
        if self._follow is not None:
            self._watched_kinds = frozenset({"new_market", "market_resolved"})
        #: condition id -> tokens of the markets followed so far and not yet resolved
        self._followed: dict[str, tuple[str, ...]] = {}
        self.max_assets_per_connection = positive_int(
            max_assets_per_connection, "max_assets_per_connection"
        )
        self._params = dict(params or {})
        self._counter = itertools.count()
        self._pending: set[asyncio.Task[None]] = set()
        #: (market keys, REST base URL) that :func:`clob` left to resolve at start.
        self._deferred_lookup: tuple[list[str], str | None] | None = None
        if snapshot_timeout <= 0 or data_timeout <= 0:
            raise ConfigError("snapshot_timeout and data_timeout must be positive")
        self.snapshot_timeout = snapshot_timeout
        self.data_timeout = data_timeout
        self.max_redrives = max_redrives
        # asset -> (monotonic time it was (re)subscribed, redrives so far), only while the
        # asset awaits its snapshot: the watchdog drops an entry once the book is no longer
        # EMPTY, so a tick costs the pending assets, not every subscribed one.
        self._watch: dict[str, tuple[float, int]] = {}
        # asset -> the market channel that carries it (the watchdog's redrive target)
        self._asset_channel: dict[str, _Channel] = {}
        self._watchdog_counts = [0, 0]  # asset redrives, connection-wide redrives
        # asset -> deltas dropped on its EMPTY book already written to `status`
        self._gaps_marked: dict[str, int] = {}
        for group in _shard(
            list(dict.fromkeys(assets)), self._params, self.max_assets_per_connection
        ):
            self._add_market_channel(group)
        if credentials is not None:
            user = _Channel(
                self,
                "clob-user",
                "user",
                clob_protocol.ClobUserDecoder(max_frame_bytes=max_frame_bytes),
                lambda _c: clob_protocol.user_subscribe(credentials, markets=tuple(markets)),
                # The API key comes back in trade frames as ``owner``.
                secrets=(credentials.api_key, credentials.secret, credentials.passphrase),
            )
            self._new_connection(user, user_url, heartbeat=clob_protocol.ping())

    async def subscribe(self, assets: Iterable[str]) -> None:
        """Follow more assets without reconnecting (``operation`` frames on live sockets)."""
        new = [a for a in dict.fromkeys(assets) if a not in self.subscribed]
        for group in _shard(new, self._params, self.max_assets_per_connection):
            channel = next(
                (
                    c
                    for c in self._market_channels()
                    if len(c.assets) + len(group) <= self.max_assets_per_connection
                ),
                None,
            )
            if channel is None:
                channel = self._add_market_channel(group)
                self._watch_assets(group)
                if self.running and self._loop is not None:
                    index = len(self._channels)
                    self._tasks.append(self._loop.create_task(self._run_channel(channel, index)))
                continue
            channel.assets.extend(group)
            for asset in group:
                self._asset_channel[asset] = channel
            self._watch_assets(group)
            assert channel.connection is not None
            for frame in clob_protocol.market_operation("subscribe", group):
                await channel.connection.send(frame)
            self.store.status("subscribe", ts_ns=time.time_ns(), detail=str(len(group)))

    async def unsubscribe(self, assets: Iterable[str]) -> None:
        """Stop following assets; their books are forgotten (EMPTY)."""
        gone = set(assets)
        for channel in self._market_channels():
            removed = [a for a in channel.assets if a in gone]
            if not removed:
                continue
            channel.assets = [a for a in channel.assets if a not in gone]
            for asset in removed:
                self._watch.pop(asset, None)
                self._asset_channel.pop(asset, None)
            assert channel.connection is not None
            for frame in clob_protocol.market_operation("unsubscribe", removed):
                await channel.connection.send(frame)
            for asset in removed:
                if asset in self.store.books:
                    self.store.books[asset].invalidate()
            self.store.status("unsubscribe", ts_ns=time.time_ns(), detail=str(len(removed)))

    @property
    def followed_markets(self) -> tuple[str, ...]:
        """Condition ids of the announced markets followed now (see ``follow_new_markets``)."""
        return tuple(self._followed)

    def _on_watched(self, event: Any) -> None:
        # On the feed's loop, from a frame callback: the (un)subscribe frames go out in a task.
        if isinstance(event, NewMarket):
            if event.market in self._followed or not event.asset_ids:
                return
            try:
                wanted = self._follow is not None and bool(self._follow(event))
            except Exception:
                # A user's predicate must not break the stream: that market is not followed.
                logger.exception("follow_new_markets predicate failed on %s", event.slug)
                return
            if not wanted:
                return
            self._followed[event.market] = event.asset_ids
            self._spawn(self.subscribe(event.asset_ids))
        elif isinstance(event, MarketResolved):
            tokens = self._followed.pop(event.market, None)
            if tokens is not None:
                self._spawn(self.unsubscribe(tokens))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        # Held in _pending until done: the loop keeps only a weak reference to a task.
        task = asyncio.get_running_loop().create_task(work)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    @property
    def watchdog_redrives(self) -> tuple[int, int]:
        """(assets resubscribed for lack of a snapshot, connections resubscribed for silence)."""
        return self._watchdog_counts[0], self._watchdog_counts[1]

    def _watch_assets(self, assets: Iterable[str]) -> None:
        now = time.monotonic()
        for asset in assets:
            self._watch[asset] = (now, 0)

    def _background(self, loop: asyncio.AbstractEventLoop) -> list[asyncio.Task[None]]:
        tasks = [loop.create_task(self._watchdog())]
        if self._deferred_lookup is not None:
            tasks.append(loop.create_task(self._resolve_deferred()))
        return tasks

    async def _resolve_deferred(self) -> None:
        """Look the markets :func:`clob` was given up without blocking the loop, subscribe."""
        from polyresearch.lookup import alookup_many

        assert self._deferred_lookup is not None
        keys, rest_url = self._deferred_lookup
        try:
            found = await alookup_many(keys, venue="clob", base_url=rest_url)
        except Exception as exc:
            # Kept for a retry on the next start(); surfaced like a fatal connection error.
            self._error = exc
            logger.error("market look-up failed: %s", exc)
            self.store.status("error", ts_ns=time.time_ns(), detail=str(exc)[:200])
            return
        self._deferred_lookup = None
        tokens: list[str] = []
        for market in found.values():
            tokens += list(market.token_ids)
            for token, params in market.params().items():
                self._params[token] = params
                self.store.books.set_params(token, params)
        await self.subscribe(tokens)

    async def _watchdog(self) -> None:
        """Per-asset staleness: heartbeats prove the socket, not the subscription.

        - An asset still EMPTY ``snapshot_timeout`` s after its (re)subscription is redriven
          (unsubscribe + subscribe, at most ``max_redrives`` times, counted): peers report
          subscriptions that silently never deliver.
        - A connection whose sockets answer PING but carried no data for ``data_timeout`` s
          gets all its assets resubscribed. A quiet market only costs a fresh snapshot; a
          stalled one comes back.
        """
        tick = min(self.snapshot_timeout, self.data_timeout) / 4
        while True:
            await asyncio.sleep(tick)
            self._mark_gaps()
            now = time.monotonic()
            redrives: dict[_Channel, list[str]] = {}
            silent: set[_Channel] = set()
            for channel in self._market_channels():
                connection = channel.connection
                if connection is None or connection.state != "connected" or not channel.assets:
                    continue
                if now - channel.last_data > self.data_timeout:
                    redrives[channel] = list(channel.assets)
                    silent.add(channel)
                    channel.last_data = now
                    self._watchdog_counts[1] += 1
                    self.store.status(
                        "stale",
                        ts_ns=time.time_ns(),
                        channel="market",
                        detail=f"{channel.name}: no data for {self.data_timeout:g} s",
                    )
            for asset in self._due_for_redrive(now):
                channel = self._asset_channel[asset]
                if channel in silent:
                    continue  # already resubscribed whole
                tries = self._watch[asset][1]
                redrives.setdefault(channel, []).append(asset)
                self._watch[asset] = (now, tries + 1)
                self._watchdog_counts[0] += 1
                self.store.status(
                    "stale",
                    ts_ns=time.time_ns(),
                    asset_id=asset,
                    channel="market",
                    detail="no snapshot; resubscribed",
                )
            for channel, assets in redrives.items():
                assert channel.connection is not None
                await _send_all(channel.connection, _resubscribe_frames(assets))

    def _due_for_redrive(self, now: float) -> list[str]:
        """Assets still EMPTY ``snapshot_timeout`` s after (re)subscription, on a live socket.

        Walks the pending assets only: an asset whose book left EMPTY has its snapshot and
        leaves the watch list (it is watched again on its next resubscription).
        """
        books = self.store.books
        due: list[str] = []
        for asset, (since, tries) in list(self._watch.items()):
            if asset in books and books[asset].status is not BookStatus.EMPTY:
                del self._watch[asset]
                continue
            if now - since <= self.snapshot_timeout or tries >= self.max_redrives:
                continue
            channel = self._asset_channel.get(asset)
            if channel is None:  # no longer subscribed
                del self._watch[asset]
                continue
            connection = channel.connection
            if connection is not None and connection.state == "connected":
                due.append(asset)
        return due

    def _mark_gaps(self) -> None:
        """A ``gap`` status row per asset that dropped deltas on an EMPTY book since the last tick.

        Deltas before a snapshot (a lost or late book) are counted by the books; here, off the
        hot path, they also become visible in ``status`` (count = deltas dropped).
        """
        now = time.time_ns()
        books = self.store.books
        # Only the books that dropped deltas since the last tick (not every book).
        for asset in sorted(books.take_gapped()):
            dropped = books[asset].stats().changes_dropped_empty
            marked = self._gaps_marked.get(asset, 0)
            if dropped > marked:
                self._gaps_marked[asset] = dropped
                self.store.status(
                    "gap",
                    ts_ns=now,
                    asset_id=asset,
                    channel="market",
                    detail="deltas before a snapshot dropped",
                    count=dropped - marked,
                )

    def _market_channels(self) -> list[_Channel]:
        return [c for c in self._channels if c.channel == "market"]

    def _add_market_channel(self, assets: list[str]) -> _Channel:
        channel = _Channel(
            self,
            f"clob-market-{next(self._counter)}",
            "market",
            clob_protocol.ClobMarketDecoder(max_frame_bytes=self.max_frame_bytes),
            lambda c: clob_protocol.market_subscribe(
                c.assets, custom_feature_enabled=self.custom_features
            ),
        )
        channel.assets = list(assets)
        for asset in channel.assets:
            self._asset_channel[asset] = channel
        self._new_connection(channel, self.url, heartbeat=clob_protocol.ping())
        return channel

    def _on_connected(self, channel: _Channel) -> None:
        self._watch_assets(channel.assets)

    def _after_frame(self, channel: _Channel) -> None:
        resyncs = self.store.books.take_resyncs()
        if not resyncs or channel.connection is None:
            return
        # A bad book: unsubscribe + subscribe on the same connection for a fresh snapshot.
        mine = [a for a in resyncs if a in channel.assets]
        others = resyncs.difference(mine)
        now = time.time_ns()
        for asset in resyncs:
            self.store.status("resync", ts_ns=now, asset_id=asset, channel="market")
        self._watch_assets(resyncs)
        self._resyncs += len(resyncs)
        for target in self._market_channels():
            wanted = mine if target is channel else [a for a in others if a in target.assets]
            if wanted and target.connection is not None:
                frames = _resubscribe_frames(wanted)
                self._spawn(_send_all(target.connection, frames))


class UsFeed(Feed):
    """A Polymarket US feed: the markets socket, and the private socket when asked.

    Args:
        slugs: market slugs to follow.
        credentials: the US API key (required: both sockets need signed upgrades).
        base_url: ``wss://api.polymarket.us`` or the simulator's ``ws://127.0.0.1:<port>``.
        market_types: markets-socket subscription types (default: book, lite BBO, trades).
        private: also open the private socket (orders, positions, balances).
        max_assets_per_connection: slugs per markets connection.
        rate_limit_delay: extra seconds to wait before reconnecting after an HTTP 429.
        data_timeout: seconds a markets connection may go without data (heartbeats do not
            count) before its subscriptions are renewed for fresh books (counted, ``stale``).
    """

    venue = "us"

    def __init__(
        self,
        *,
        slugs: Iterable[str] = (),
        credentials: UsCredentials,
        base_url: str = US_BASE_URL,
        market_types: Sequence[str] = us_protocol.MARKETS_SUBSCRIPTION_TYPES,
        private: bool = False,
        max_assets_per_connection: int = DEFAULT_MAX_ASSETS_PER_CONNECTION,
        max_rows: int | None = None,
        tables: Tables | None = None,
        tap: FrameTap | None = None,
        max_frame_bytes: int = 16 * 1024 * 1024,
        stale_after: float = 45.0,
        snapshot_interval: float | None = None,
        snapshot_depth: int = 10,
        rate_limit_delay: float = DEFAULT_RATE_LIMIT_DELAY,
        data_timeout: float = DEFAULT_DATA_TIMEOUT,
    ) -> None:
        if not isinstance(credentials, UsCredentials):
            raise ConfigError(
                "UsFeed needs UsCredentials (both US sockets require signed upgrades)"
            )
        if data_timeout <= 0:
            raise ConfigError("data_timeout must be positive")
        self.data_timeout = data_timeout
        self._silent_redrives = 0
        super().__init__(
            tables=tables,
            max_rows=max_rows,
            books=BookSet(verify_hashes=False),
            tap=tap,
            max_frame_bytes=max_frame_bytes,
            heartbeat_interval=stale_after / 3,
            stale_after=stale_after,
            channel="markets",
            snapshot_interval=snapshot_interval,
            snapshot_depth=snapshot_depth,
            rate_limit_delay=rate_limit_delay,
        )
        self.credentials = credentials
        self.base_url = base_url.rstrip("/")
        self.market_types = tuple(market_types)
        self._ids = us_protocol.RequestIdGenerator("pr")
        limit = positive_int(max_assets_per_connection, "max_assets_per_connection")
        self.max_assets_per_connection = limit
        slugs = list(dict.fromkeys(slugs))
        for start in range(0, len(slugs), limit):
            self._add_channel("markets", slugs[start : start + limit])
        if private:
            self._add_channel("private", [])

    def _add_channel(self, kind: Literal["markets", "private"], slugs: list[str]) -> _Channel:
        decoder: FrameDecoder = (
            us_protocol.UsMarketsDecoder(max_frame_bytes=self.max_frame_bytes)
            if kind == "markets"
            else us_protocol.UsPrivateDecoder(max_frame_bytes=self.max_frame_bytes)
        )
        types = self.market_types if kind == "markets" else _PRIVATE_TYPES

        def on_open(channel: _Channel) -> list[str]:
            # A new socket has no subscriptions: subscribe everything under fresh request ids.
            channel.subs.clear()
            if kind == "markets" and not channel.assets:
                return []
            return self._subscribe_frames(channel, channel.assets, types)

        channel = _Channel(
            self,
            f"us-{kind}-{len(self._channels)}",
            kind,
            decoder,
            on_open,
            headers=lambda: ws_headers(
                self.credentials, kind, timestamp_ms=time.time_ns() // 10**6
            ),
            secrets=(self.credentials.key_id,),
        )
        channel.assets = slugs
        # The US server sends heartbeats; we send none (no client heartbeat is defined).
        self._new_connection(channel, f"{self.base_url}/v1/ws/{kind}", heartbeat=None)
        return channel

    def _subscribe_frames(
        self, channel: _Channel, slugs: Sequence[str], types: Sequence[str]
    ) -> list[str]:
        frames: list[str] = []
        for subscription_type in types:
            for request_id, frame in us_protocol.subscribe(
                subscription_type,  # type: ignore[arg-type]
                slugs,
                request_ids=self._ids,
            ):
                channel.subs[request_id] = (subscription_type, tuple(slugs))
                frames.append(frame)
        return frames

    async def subscribe(self, slugs: Iterable[str]) -> None:
        """Follow more markets without reconnecting (new subscriptions by request id)."""
        new = [s for s in dict.fromkeys(slugs) if s not in self.subscribed]
        limit = self.max_assets_per_connection
        while new:
            channel = next((c for c in self._markets_channels() if len(c.assets) < limit), None)
            if channel is None:
                channel = self._add_channel("markets", [])
                if self.running and self._loop is not None:
                    index = len(self._channels)
                    self._tasks.append(self._loop.create_task(self._run_channel(channel, index)))
            room = limit - len(channel.assets)
            batch, new = new[:room], new[room:]
            channel.assets.extend(batch)
            if channel.connection is not None and channel.connection.state == "connected":
                for frame in self._subscribe_frames(channel, batch, self.market_types):
                    await channel.connection.send(frame)
            self.store.status(
                "subscribe", ts_ns=time.time_ns(), detail=str(len(batch)), channel="markets"
            )

    async def unsubscribe(self, slugs: Iterable[str]) -> None:
        """Stop following markets: their subscriptions are dropped by request id."""
        gone = set(slugs)
        for channel in self._markets_channels():
            removed = [s for s in channel.assets if s in gone]
            if not removed:
                continue
            channel.assets = [s for s in channel.assets if s not in gone]
            frames: list[str] = []
            for request_id, (subscription_type, subscribed) in list(channel.subs.items()):
                if not gone.intersection(subscribed):
                    continue
                del channel.subs[request_id]
                frames.append(us_protocol.unsubscribe(request_id))
                keep = [s for s in subscribed if s not in gone]
                if keep:  # a subscription covers up to 100 slugs: re-add the ones we keep
                    frames += self._subscribe_frames(channel, keep, (subscription_type,))
            if channel.connection is not None:
                for frame in frames:
                    await channel.connection.send(frame)
            for slug in removed:
                if slug in self.store.books:
                    self.store.books[slug].invalidate()
            self.store.status(
                "unsubscribe", ts_ns=time.time_ns(), detail=str(len(removed)), channel="markets"
            )

    def _markets_channels(self) -> list[_Channel]:
        return [c for c in self._channels if c.channel == "markets"]

    @property
    def watchdog_redrives(self) -> tuple[int, int]:
        """(always 0: US books are full snapshots, connections resubscribed for silence)."""
        return 0, self._silent_redrives

    def _background(self, loop: asyncio.AbstractEventLoop) -> list[asyncio.Task[None]]:
        return [loop.create_task(self._watchdog())]

    async def _watchdog(self) -> None:
        """Heartbeats prove the socket, not the subscriptions (the silent stall peers report).

        A markets connection that carried no data for ``data_timeout`` s while connected gets
        its subscriptions renewed under fresh request ids: the venue answers with full books.
        A quiet market only costs those books; a stalled subscription comes back.
        """
        while True:
            await asyncio.sleep(self.data_timeout / 4)
            now = time.monotonic()
            for channel in self._markets_channels():
                connection = channel.connection
                if connection is None or connection.state != "connected" or not channel.assets:
                    continue
                if now - channel.last_data <= self.data_timeout:
                    continue
                channel.last_data = now
                self._silent_redrives += 1
                self.store.status(
                    "stale",
                    ts_ns=time.time_ns(),
                    channel="markets",
                    detail=f"{channel.name}: no data for {self.data_timeout:g} s; resubscribed",
                )
                frames = [us_protocol.unsubscribe(request_id) for request_id in channel.subs]
                channel.subs.clear()
                frames += self._subscribe_frames(channel, channel.assets, self.market_types)
                await _send_all(connection, frames)


_PRIVATE_TYPES: Final = (
    "SUBSCRIPTION_TYPE_ORDER_SNAPSHOT",
    "SUBSCRIPTION_TYPE_ORDER",
    "SUBSCRIPTION_TYPE_POSITION",
    "SUBSCRIPTION_TYPE_ACCOUNT_BALANCE",
)


def _shard(assets: list[str], params: Mapping[str, MarketParams], limit: int) -> list[list[str]]:
    """Split assets into groups of at most ``limit``, keeping a market's tokens together."""
    groups: list[list[str]] = []
    seen: set[str] = set()
    units: list[list[str]] = []
    wanted = set(assets)  # not `in assets`: a list scan per token made 5,000 assets take ~1 s
    for asset in assets:
        if asset in seen:
            continue
        unit = [asset]
        tokens = params[asset].token_ids if asset in params else ()
        unit += [t for t in tokens if t != asset and t in wanted and t not in seen]
        seen.update(unit)
        units.append(unit)
    for unit in units:
        if groups and len(groups[-1]) + len(unit) <= limit:
            groups[-1].extend(unit)
        else:
            groups.append(list(unit))
    return groups


def _resubscribe_frames(assets: list[str]) -> list[str]:
    """Unsubscribe + subscribe on the same socket: the venue's way to a fresh ``book``."""
    return clob_protocol.market_operation("unsubscribe", assets) + clob_protocol.market_operation(
        "subscribe", assets
    )


async def _send_all(connection: Connection, frames: list[str]) -> None:
    for frame in frames:
        await connection.send(frame)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def clob(
    assets: Iterable[str] = (),
    *,
    markets: Iterable[str] = (),
    url: str = CLOB_MARKET_URL,
    rest_url: str | None = None,
    **kwargs: Any,
) -> ClobFeed:
    """Build a :class:`ClobFeed` from token ids and/or markets named by slug or condition id.

    Markets are resolved with :func:`polyresearch.lookup.lookup_many` (both tokens of each
    market are followed, and the market parameters enable book-hash verification);
    ``rest_url`` points every look-up at one base URL (e.g. the simulator's ``http_url``).

    Called on a running event loop (a Jupyter cell) it does not block that loop with a
    synchronous HTTP request: the look-up of ``markets`` runs asynchronously when the feed
    starts, and the markets' tokens are subscribed as soon as it answers (a failed look-up
    becomes the feed's :attr:`~Feed.error`, raised by :meth:`~Feed.wait_for`). The loop may be
    the very one serving the look-up, such as an embedded simulator's. ``await aclob(...)``
    resolves first and returns a feed that already lists its assets.

    Example:
        >>> feed = clob(["123"], url="ws://127.0.0.1:9/ws/market")
        >>> feed.subscribed
        ('123',)
    """
    from polyresearch.lookup import lookup_many

    params: dict[str, MarketParams] = dict(kwargs.pop("params", None) or {})
    tokens = list(assets)
    keys = list(markets)
    if keys and _running_loop() is not None:
        feed = ClobFeed(assets=tokens, url=url, params=params or None, **kwargs)
        feed._deferred_lookup = (keys, rest_url)
        return feed
    if keys:
        for market in lookup_many(keys, venue="clob", base_url=rest_url).values():
            tokens += list(market.token_ids)
            params.update(market.params())
    return ClobFeed(assets=tokens, url=url, params=params or None, **kwargs)


async def aclob(
    assets: Iterable[str] = (),
    *,
    markets: Iterable[str] = (),
    url: str = CLOB_MARKET_URL,
    rest_url: str | None = None,
    **kwargs: Any,
) -> ClobFeed:
    """The awaitable :func:`clob`: markets are looked up (asynchronously) before it returns.

    Example:
        >>> feed = await aclob(markets=["will-it-rain"], url=sim.clob_market_url,
        ...                    rest_url=sim.http_url)  # doctest: +SKIP
        >>> len(feed.subscribed)  # doctest: +SKIP
        2
    """
    from polyresearch.lookup import alookup_many

    params: dict[str, MarketParams] = dict(kwargs.pop("params", None) or {})
    tokens = list(assets)
    keys = list(markets)
    if keys:
        found = await alookup_many(keys, venue="clob", base_url=rest_url)
        for market in found.values():
            tokens += list(market.token_ids)
            params.update(market.params())
    return ClobFeed(assets=tokens, url=url, params=params or None, **kwargs)


def us(
    slugs: Iterable[str] = (),
    *,
    credentials: UsCredentials | None = None,
    base_url: str = US_BASE_URL,
    **kwargs: Any,
) -> UsFeed:
    """Build a :class:`UsFeed`; credentials default to ``POLYMARKET_US_KEY_ID``/``…_SECRET_KEY``.

    Raises:
        CredentialsError: no credentials given and none in the environment.
    """
    creds = credentials if credentials is not None else UsCredentials.from_env()
    return UsFeed(slugs=slugs, credentials=creds, base_url=base_url, **kwargs)


class ThreadExit:
    """A one-shot signal a thread sets when it ends, awaitable from any loop or thread.

    Awaiting it parks no thread (unlike ``asyncio.to_thread(thread.join)``, which keeps a worker
    of the caller's default executor alive afterwards): each waiter gets a future on its own
    loop, resolved through ``call_soon_threadsafe`` by :meth:`set`.

    Example:
        >>> done = ThreadExit()
        >>> t = threading.Thread(target=done.set); t.start()
        >>> asyncio.run(done.wait()); t.join(); done.is_set()
        True
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._set = False
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []

    def is_set(self) -> bool:
        """Whether :meth:`set` was called."""
        return self._set

    def set(self) -> None:
        """Mark the thread ended and wake every waiter (call it from the ending thread)."""
        with self._lock:
            self._set = True
            waiters, self._waiters = self._waiters, []
        for loop, future in waiters:
            with contextlib.suppress(RuntimeError):  # that waiter's loop is closed: nobody waits
                loop.call_soon_threadsafe(_resolve, future)

    async def wait(self) -> None:
        """Return once :meth:`set` was called (at once if it already was)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with self._lock:
            if self._set:
                return
            self._waiters.append((loop, future))
        try:
            await future
        finally:
            with self._lock, contextlib.suppress(ValueError):
                self._waiters.remove((loop, future))


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def close_thread_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Finish and close the loop of a thread we own, leaving no task or helper thread behind.

    Cancels leftover tasks (e.g. websockets keepalives), closes async generators, and shuts the
    loop's default executor down *waiting* for its workers (``loop.close()`` alone does not wait,
    so a resolver or ``to_thread`` worker could outlive the stop).
    """
    with contextlib.suppress(Exception):
        leftovers = asyncio.all_tasks(loop)
        for task in leftovers:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*leftovers, return_exceptions=True))
    with contextlib.suppress(Exception):
        loop.run_until_complete(loop.shutdown_asyncgens())
    with contextlib.suppress(Exception):
        loop.run_until_complete(loop.shutdown_default_executor())
    loop.close()
