"""Replay: a recording (or a file of raw frames) through the live protocol → state pipeline.

:func:`replay` feeds every recorded inbound frame, with its recorded receive time, to the same
venue decoder and the same :class:`~polyresearch.state.store.MarketStore` /
:class:`~polyresearch.state.books.BookSet` a live feed uses, and applies the recorded connection
markers as the live feed does (a reconnect empties that connection's books; connect, disconnect
and stale become ``status`` rows). The result, a :class:`ReplayFeed`, has the read API of a live
feed (``tables``, ``books``, ``book(asset)``, ``stats()``), so the same charts and tables work.

Replays run as fast as possible, or paced at ``speed`` x real time. A recording cut off
mid-chunk replays up to its last whole chunk: leftover temporary or unreadable files are
skipped and counted in :attr:`ReplayFeed.notes`.

Example:
    >>> import tempfile
    >>> from polyresearch.record.recorder import Recorder
    >>> directory = tempfile.mkdtemp()
    >>> with Recorder(directory, venue="clob") as rec:
    ...     rec.on_frame(direction="in", ts_ns=1, connection="clob-market-0", epoch=1,
    ...                  data='{"event_type":"last_trade_price","market":"0xm","asset_id":"1",'
    ...                       '"price":"0.5","size":"10","side":"BUY","timestamp":"1"}')
    >>> feed = replay(directory)
    >>> feed.tables.trades.to_polars()["price"].to_list()
    [0.5]
"""

from __future__ import annotations

import importlib
import json
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import msgspec
import polars as pl
import pyarrow.parquet as pq  # type: ignore[import-untyped]

from polyresearch.config import DEFAULT_MAX_FRAME_BYTES
from polyresearch.errors import ConfigError
from polyresearch.feed import FeedStats
from polyresearch.protocol.clob import ClobMarketDecoder, ClobUserDecoder
from polyresearch.protocol.events import BookSnapshot
from polyresearch.protocol.us import UsMarketsDecoder, UsPrivateDecoder
from polyresearch.record.format import FORMAT_NAME, FORMAT_VERSION, TMP_SUFFIX
from polyresearch.state.books import BookSet, MarketParams
from polyresearch.state.schemas import Tables, make_tables
from polyresearch.state.store import MarketStore

if TYPE_CHECKING:
    from polyresearch.protocol.base import FrameDecoder
    from polyresearch.state.orderbook import OrderBook

__all__ = ["ReplayFeed", "list_chunks", "replay", "scan_recording"]

_DECODERS: Final[dict[str, dict[str, Callable[..., FrameDecoder]]]] = {
    "clob": {"market": ClobMarketDecoder, "user": ClobUserDecoder},
    "us": {"markets": UsMarketsDecoder, "private": UsPrivateDecoder},
}
_MAIN_CHANNEL: Final = {"clob": "market", "us": "markets"}
_COLUMNS: Final = ["ts_ns", "kind", "direction", "channel", "connection", "epoch", "data"]
_MARKER_COLUMNS: Final = [*_COLUMNS, "detail"]
# Module-level so that tests can drive pacing with a virtual clock.
_clock = time.perf_counter
_sleep = time.sleep


def list_chunks(
    directory: str | Path, *, venue: str | None = None
) -> tuple[list[Path], dict[str, int], dict[str, str]]:
    """The readable chunks of a recording in replay order, counted notes, and their metadata.

    Args:
        directory: the recording root.
        venue: keep only this venue's partition.

    Returns:
        ``(paths, notes, metadata)``: ``notes`` counts skipped files
        (``partial_chunks_skipped`` for leftover temp files of an interrupted write,
        ``unreadable_chunks_skipped`` for truncated or foreign Parquet files); ``metadata`` is
        the key-value metadata of the first chunk, decoded.

    Raises:
        ConfigError: a chunk of an unknown format version.
    """
    root = Path(directory)
    pattern = f"venue={venue}/**/*" if venue else "**/*"
    notes: dict[str, int] = {}
    partial = [p for p in root.glob(pattern + TMP_SUFFIX) if p.is_file()]
    if partial:
        notes["partial_chunks_skipped"] = len(partial)
    paths: list[Path] = []
    metadata: dict[str, str] = {}
    for path in sorted(root.glob(pattern + ".parquet")):
        try:
            raw = pq.read_metadata(path).metadata or {}
        except Exception:  # a truncated file has no footer: pyarrow raises ArrowInvalid/OSError
            notes["unreadable_chunks_skipped"] = notes.get("unreadable_chunks_skipped", 0) + 1
            continue
        meta = {k.decode(): v.decode() for k, v in raw.items()}
        if meta.get("polyresearch.format") != FORMAT_NAME:
            notes["unreadable_chunks_skipped"] = notes.get("unreadable_chunks_skipped", 0) + 1
            continue
        if int(meta.get("polyresearch.format_version", "0")) > FORMAT_VERSION:
            raise ConfigError(
                f"{path}: recording format version {meta['polyresearch.format_version']} is "
                f"newer than this polyresearch reads ({FORMAT_VERSION}); upgrade polyresearch"
            )
        metadata = metadata or meta
        paths.append(path)
    return paths, notes, metadata


def scan_recording(directory: str | Path, *, venue: str | None = None) -> pl.LazyFrame:
    """A lazy polars frame over a whole recording, with ``venue``/``date``/``hour`` columns.

    Example:
        >>> import tempfile
        >>> from polyresearch.record.recorder import Recorder
        >>> d = tempfile.mkdtemp()
        >>> with Recorder(d, venue="us") as rec:
        ...     rec.on_frame(direction="in", ts_ns=1, connection="us-markets-0", epoch=1, data="{}")
        >>> scan_recording(d).select("venue", "channel").collect().row(0)
        ('us', 'markets')
    """
    paths, _, _ = list_chunks(directory, venue=venue)
    if not paths:
        raise ConfigError(f"no recording chunks under {directory}")
    return pl.scan_parquet(
        [str(p) for p in paths],
        hive_partitioning=True,
        hive_schema={"venue": pl.String, "date": pl.String, "hour": pl.String},
    )


class _Pipe:
    """One recorded connection's decoder, channel and the books its snapshots built."""

    __slots__ = ("assets", "channel", "decoder")

    def __init__(self, decoder: FrameDecoder, channel: str) -> None:
        self.decoder = decoder
        self.channel = channel
        self.assets: set[str] = set()


class ReplayFeed:
    """The result of a replay: a feed's read API over replayed state.

    Attributes:
        venue: ``"clob"`` or ``"us"``.
        store: the MarketStore the frames went through.
        notes: counted notes (skipped partial/unreadable chunks, outgoing frames seen, ...).

    Example:
        >>> feed = ReplayFeed("us")
        >>> feed.stats().frames_in
        0
    """

    def __init__(
        self,
        venue: str,
        *,
        params: Mapping[str, MarketParams] | None = None,
        default_params: MarketParams | None = None,
        hash_every: int = 16,
        verify_hashes: bool | None = None,
        max_rows: int | None = None,
        tables: Tables | None = None,
        max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
        snapshot_interval: float | None = None,
        snapshot_depth: int = 10,
    ) -> None:
        if venue not in _DECODERS:
            raise ConfigError(f"unknown venue {venue!r}; choose clob or us")
        if snapshot_interval is not None and snapshot_interval <= 0:
            raise ConfigError("snapshot_interval must be positive (or None for no sampling)")
        if snapshot_depth < 1:
            raise ConfigError("snapshot_depth must be positive")
        self.venue = venue
        # The same construction as ClobFeed/UsFeed: US books carry no CLOB hash.
        verify = venue == "clob" if verify_hashes is None else verify_hashes
        books = (
            BookSet(params=params, hash_every=hash_every)
            if verify
            else BookSet(verify_hashes=False)
        )
        self.store = MarketStore(
            venue,
            _MAIN_CHANNEL[venue],
            tables=tables if tables is not None else make_tables(max_rows=max_rows),
            books=books,
        )
        self.notes: dict[str, int] = {}
        self.max_frame_bytes = max_frame_bytes
        self._default_params = default_params
        self._pipes: dict[str, _Pipe] = {}
        self._reconnects = 0
        self._resyncs = 0
        #: Receive time (ns) of the last replayed frame; None before the first.
        self.last_recv_ns: int | None = None
        # Book sampling on the recorded clock, as a live feed's snapshot_interval sampler.
        self._sample_every = None if snapshot_interval is None else int(snapshot_interval * 1e9)
        self._sample_depth = snapshot_depth
        self._next_sample: int | None = None

    # Read API of a live feed.

    @property
    def tables(self) -> Tables:
        """The tables (``trades``, ``quotes``, ``book_updates``, ``status``, …)."""
        return self.store.tables

    @property
    def books(self) -> BookSet:
        """Every replayed book, by asset id."""
        return self.store.books

    def book(self, asset_id: str) -> OrderBook:
        """The replayed book of one asset."""
        return self.store.books[asset_id]

    def stats(self) -> FeedStats:
        """A frozen snapshot, as :meth:`polyresearch.feed.Feed.stats` (no connections)."""
        dropped: dict[str, int] = {}
        frames = events = 0
        for pipe in self._pipes.values():
            decoder_stats = pipe.decoder.stats()
            frames += decoder_stats.frames_in
            events += decoder_stats.events_out
            for reason, n in decoder_stats.dropped.items():
                dropped[reason] = dropped.get(reason, 0) + n
        return FeedStats(
            venue=self.venue,
            running=False,
            connections=(),
            frames_in=frames,
            events_out=events,
            dropped=dropped,
            reconnects=self._reconnects,
            resyncs=self._resyncs,
            books=self.store.books.stats(),
            tables={name: table.stats() for name, table in self.store.tables.items()},
            store=self.store.stats(),
            error=None,
        )

    def events_by_kind(self) -> dict[str, int]:
        """Decoded events counted by kind, over every replayed connection."""
        counts: dict[str, int] = {}
        for pipe in self._pipes.values():
            for kind, n in pipe.decoder.stats().events_by_kind.items():
                counts[kind] = counts.get(kind, 0) + n
        return counts

    # Feeding.

    def frame(self, connection: str, channel: str, data: str | bytes, recv_ns: int) -> None:
        """Apply one inbound frame, as the live feed's channel does."""
        if self._sample_every is not None:
            self._sample_until(recv_ns)
        self.last_recv_ns = recv_ns
        pipe = self._pipes.get(connection)
        if pipe is None:
            pipe = self._pipe(connection, channel)
        store = self.store
        default = self._default_params
        for event in pipe.decoder.receive(data):
            if isinstance(event, BookSnapshot):
                pipe.assets.add(event.asset_id)
                if default is not None and event.asset_id not in store.books:
                    store.books.set_params(event.asset_id, default)
            store.apply(event, recv_ns=recv_ns, channel=pipe.channel)
        if self.venue == "clob":
            # ClobFeed._after_frame: bad books are invalidated and a resync status written
            # (live, a resubscribe follows; in the recording its fresh snapshot is just there).
            resyncs = store.books.take_resyncs()
            for asset in resyncs:
                store.status("resync", ts_ns=recv_ns, asset_id=asset, channel="market")
            self._resyncs += len(resyncs)

    def marker(
        self, connection: str, channel: str, kind: str, epoch: int, detail: str, ts_ns: int
    ) -> None:
        """Apply one connection marker, as the live feed's state hook does."""
        if kind == "gap":
            # The recorder dropped rows here (its writer queue was full): no book can be
            # trusted until its next snapshot, exactly as after a reconnect.
            self.store.books.invalidate_all()
            self.store.status(
                "gap", ts_ns=ts_ns, detail=detail[:200], channel=_MAIN_CHANNEL[self.venue]
            )
            self.notes["recorder_gaps"] = self.notes.get("recorder_gaps", 0) + 1
            return
        pipe = self._pipes.get(connection)
        if pipe is None:
            pipe = self._pipe(connection, channel)
        store = self.store
        if kind == "connect":
            if epoch > 1:
                self._reconnects += 1
                for asset in pipe.assets:
                    if asset in store.books:
                        store.books[asset].invalidate()
                if channel in ("user", "private"):
                    store.account.continuous = False
            store.status("connect", ts_ns=ts_ns, detail=connection, channel=channel)
        elif kind in ("disconnect", "stale"):
            store.status(kind, ts_ns=ts_ns, detail=detail[:200], channel=channel)

    def _sample_until(self, recv_ns: int) -> None:
        """Sample the books at every interval boundary up to this frame (before applying it)."""
        every = self._sample_every
        assert every is not None
        due = self._next_sample
        if due is None:
            self._next_sample = recv_ns + every
            return
        if due > recv_ns:
            return
        # A long silence: the books did not change, one sample stands for it (as the state
        # read at the last boundary), then the schedule resumes from here.
        last_due = due + (recv_ns - due) // every * every
        self.store.sample_books(depth=self._sample_depth, ts_ns=due)
        if last_due != due:
            self.store.sample_books(depth=self._sample_depth, ts_ns=last_due)
        self._next_sample = last_due + every

    def _pipe(self, connection: str, channel: str) -> _Pipe:
        try:
            factory = _DECODERS[self.venue][channel]
        except KeyError:
            raise ConfigError(f"unknown channel {channel!r} for venue {self.venue}") from None
        pipe = self._pipes[connection] = _Pipe(
            factory(max_frame_bytes=self.max_frame_bytes), channel
        )
        return pipe


def replay(
    source: str | Path,
    *,
    venue: str | None = None,
    channel: str | None = None,
    speed: float | None = None,
    params: Mapping[str, MarketParams] | None = None,
    default_params: MarketParams | None = None,
    hash_every: int | None = None,
    max_rows: int | None = None,
    progress: bool | None = None,
    snapshot_interval: float | None = None,
    snapshot_depth: int = 10,
) -> ReplayFeed:
    r"""Replay a recording directory or a plain file of raw frames into a :class:`ReplayFeed`.

    Args:
        source: a recording directory, or a text file with one raw frame per line.
        venue: the venue (a directory holding one venue's recording can omit it; a frame file
            defaults to ``"clob"``).
        channel: replay only this channel (a frame file: the channel its frames belong to).
        speed: None for as fast as possible; ``k`` to pace at kx the recorded real time.
        params: CLOB hash parameters by token id (default: those the recording stored).
        default_params: parameters for any token without its own (e.g. a frame file).
        hash_every: as the live feed's (default: the recorded value, else 16).
        max_rows: row bound of every table.
        progress: show a progress bar (tqdm, notebook-aware); None: only for big replays.
        snapshot_interval: sample the top ``snapshot_depth`` levels of every book into
            ``book_snapshots`` every this many seconds of recorded time, as a live feed's
            sampler does (None: no sampling).
        snapshot_depth: levels per side in each sample.

    Returns:
        The replayed feed; :attr:`ReplayFeed.notes` counts what was skipped.

    Example:
        >>> import pathlib, tempfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "frames.txt"
        >>> _ = path.write_text("PONG\n")
        >>> replay(path, venue="clob", channel="market").events_by_kind()
        {'pong': 1}
    """
    if speed is not None and speed <= 0:
        raise ConfigError("speed must be positive (or None for as fast as possible)")
    path = Path(source)
    sampling: dict[str, Any] = {
        "snapshot_interval": snapshot_interval,
        "snapshot_depth": snapshot_depth,
    }
    if path.is_dir():
        return _replay_directory(
            path,
            venue,
            channel,
            speed,
            params,
            default_params,
            hash_every,
            max_rows,
            progress,
            sampling,
        )
    venue = venue or "clob"
    feed = ReplayFeed(
        venue,
        params=params,
        default_params=default_params,
        hash_every=hash_every or 16,
        max_rows=max_rows,
        **sampling,
    )
    channel = channel or _MAIN_CHANNEL[venue]
    connection = f"{venue}-{channel}-0"
    with open(path, "rb") as stream:
        # No receive times in a frame file: the line number stands in (monotonic, deterministic).
        for number, line in enumerate(stream, start=1):
            frame = line.rstrip(b"\n").removesuffix(b"\r")
            if frame.strip():
                feed.frame(connection, channel, frame, number)
    return feed


def _replay_directory(
    path: Path,
    venue: str | None,
    channel: str | None,
    speed: float | None,
    params: Mapping[str, MarketParams] | None,
    default_params: MarketParams | None,
    hash_every: int | None,
    max_rows: int | None,
    progress: bool | None,
    sampling: dict[str, Any],
) -> ReplayFeed:
    if venue is None:
        venues = sorted(p.name.removeprefix("venue=") for p in path.glob("venue=*"))
        if len(venues) != 1:
            raise ConfigError(f"{path} holds venues {venues}; pass venue=")
        venue = venues[0]
    paths, notes, meta = list_chunks(path, venue=venue)
    if params is None and "polyresearch.params" in meta:
        stored = json.loads(meta["polyresearch.params"])
        params = {k: msgspec.convert(v, MarketParams) for k, v in stored.items()}
    feed = ReplayFeed(
        venue,
        params=params,
        default_params=default_params,
        hash_every=hash_every or int(meta.get("polyresearch.hash_every", "16")),
        verify_hashes=json.loads(meta["polyresearch.verify_hashes"])
        if "polyresearch.verify_hashes" in meta
        else None,
        max_rows=max_rows,
        **sampling,
    )
    feed.notes.update(notes)
    total = sum(pq.read_metadata(p).num_rows for p in paths)
    bar = _progress(total, progress)
    pacer = _Pacer(speed)
    outgoing = 0
    try:
        for chunk in _chunks(paths, channel):
            outgoing += _apply_chunk(feed, chunk, pacer)
            if bar is not None:
                bar.update(chunk.height)
    finally:
        if bar is not None:
            bar.close()
    feed.notes["frames_out_seen"] = outgoing
    return feed


def _chunks(paths: list[Path], channel: str | None) -> Iterator[pl.DataFrame]:
    # One chunk at a time keeps memory bounded by the chunk size, not the recording's.
    for path in paths:
        frame = pl.read_parquet(path, columns=_MARKER_COLUMNS)
        if channel is not None:
            frame = frame.filter(pl.col("channel") == channel)
        yield frame


def _apply_chunk(feed: ReplayFeed, chunk: pl.DataFrame, pacer: _Pacer) -> int:
    outgoing = 0
    frame, marker = feed.frame, feed.marker
    rows = zip(
        chunk["ts_ns"].to_list(),
        chunk["kind"].to_list(),
        chunk["direction"].to_list(),
        chunk["channel"].to_list(),
        chunk["connection"].to_list(),
        chunk["epoch"].to_list(),
        chunk["data"].to_list(),
        chunk["detail"].to_list(),
        strict=True,
    )
    for index, (ts, kind, direction, channel, connection, epoch, data, detail) in enumerate(rows):
        if pacer.speed is not None and index % 64 == 0:
            pacer.wait(ts)
        if kind == "frame":
            if direction == "in":
                frame(connection, channel, data, ts)
            else:
                outgoing += 1
        else:
            marker(connection, channel, direction, epoch, detail or "", ts)
    return outgoing


class _Pacer:
    """Sleeps so recorded time advances at ``speed`` x wall time."""

    def __init__(self, speed: float | None) -> None:
        self.speed = speed
        self._start_ts: int | None = None
        self._start_wall = 0.0

    def wait(self, ts_ns: int) -> None:
        assert self.speed is not None
        if self._start_ts is None:
            self._start_ts, self._start_wall = ts_ns, _clock()
            return
        due = (ts_ns - self._start_ts) / 1e9 / self.speed
        ahead = due - (_clock() - self._start_wall)
        if ahead > 0.001:
            _sleep(ahead)


def _progress(total: int, wanted: bool | None) -> Any:
    if wanted is False or (wanted is None and total < 1_000_000):
        return None
    # tqdm.auto picks the notebook widget in Jupyter (tqdm ships no type information).
    auto = importlib.import_module("tqdm.auto")
    return auto.tqdm(total=total, unit="row", unit_scale=True, desc="replay")
