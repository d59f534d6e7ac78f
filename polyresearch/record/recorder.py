"""The recorder: a frame tap that writes raw traffic to Parquet chunks (see :mod:`.format`).

:class:`Recorder` implements the transport's ``FrameTap``: every frame in both directions and
every connect/disconnect/stale marker becomes one row, buffered in memory and written as one
Parquet chunk when ``chunk_rows`` rows or ``chunk_bytes`` bytes are buffered (or the UTC hour
changes, or :meth:`Recorder.flush`/:meth:`Recorder.close` is called). ``max_total_bytes`` caps
the recording: the oldest chunks this recorder wrote are deleted (and counted) to stay under it.

Chunks are written off the event loop: a full buffer is handed to a writer thread through a
queue bounded in bytes (``max_pending_bytes``, by default four chunks' worth), so a slow disk
never stalls the sockets. When a full chunk would push the queue past that bound the chunk is
dropped, not waited for: its rows are counted in
``rows_dropped``/``chunks_dropped``, logged, and a ``gap`` marker row goes into the next chunk
so that a replay knows the books after it cannot be trusted until their next snapshot
(blocking instead would stall every connection of the feed and let the venue drop us).
:meth:`Recorder.flush` and :meth:`Recorder.close` wait until everything queued is on disk. A
crash loses the open chunk and what is still queued (at most ``max_pending_bytes``).

Credentials never reach disk: feeds already redact outgoing frames (the CLOB ``auth`` object),
and the recorder scrubs again, defensively, any ``auth`` object and any secret-looking field
(``secret``, ``passphrase``, ``apiKey``, ``signature``, ``X-PM-*``, ``owner``...) in outgoing
frames, markers and the inbound frames of authenticated channels (public market data is kept
byte for byte).

Example:
    >>> import tempfile
    >>> with Recorder(tempfile.mkdtemp(), venue="clob") as rec:
    ...     rec.on_marker(kind="connect", ts_ns=1, connection="clob-market-0", epoch=1, detail="")
    ...     rec.on_frame(direction="in", ts_ns=2, connection="clob-market-0", epoch=1, data="PONG")
    >>> rec.stats().rows_written
    2
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import re
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import msgspec
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]

from polyresearch.errors import ConfigError
from polyresearch.record.format import SCHEMA, TMP_SUFFIX, chunk_path, file_metadata, hour_of

if TYPE_CHECKING:
    from polyresearch.feed import Feed

__all__ = ["Recorder", "RecorderStats", "channel_of", "record_feed", "scrub"]

logger = logging.getLogger("polyresearch.record")

DEFAULT_CHUNK_ROWS = 100_000
DEFAULT_CHUNK_BYTES = 32 * 1024 * 1024
#: Full chunks (of chunk_bytes each) that may wait for the writer thread, by default.
DEFAULT_PENDING_CHUNKS = 4
#: Rows per Arrow conversion call in the writer thread (each call holds the GIL throughout).
_CONVERT_ROWS = 1_000
#: Hard bound on queued chunks, however small they are.
_MAX_QUEUED_CHUNKS = 1024
#: Per-row overhead beside the frame itself, for the byte bound (an estimate, not exact).
_ROW_OVERHEAD = 64

# A JSON member whose name looks secret: its string or flat-object value is replaced.
_SECRET = re.compile(
    rb'"((?i:auth|authorization|api_?key|apikey|secret\w*|passphrase|signature|'
    rb'private_?key|x-pm-[\w-]+|(?:\w*_)?owner))"\s*:\s*("(?:[^"\\]|\\.)*"|\{[^{}]*\})'
)
# Cheap substring checks first: the regex runs only on frames that could hold a secret.
# "owner" fields of the CLOB user channel echo the account's API key: an identifier, scrubbed too.
_HINTS = (
    b"auth",
    b"ecret",
    b"assphrase",
    b"piKey",
    b"pi_key",
    b"ignature",
    b"X-PM-",
    b"x-pm-",
    b"owner",
)


#: Authenticated channels: their inbound frames are scrubbed too.
_PRIVATE_CHANNELS = frozenset({"user", "private"})


def scrub(data: bytes, values: tuple[bytes, ...] = ()) -> tuple[bytes, int]:
    """Replace secret-looking JSON members and known secret values; return (data, count).

    Args:
        data: one frame or marker detail.
        values: literal values to replace wherever they occur (e.g. a feed's key id).

    Example:
        >>> scrub(b'{"auth":{"apiKey":"k","secret":"s"},"type":"user"}')
        (b'{"auth":"<redacted>","type":"user"}', 1)
    """
    hits = 0
    for value in values:
        if value in data:
            hits += data.count(value)
            data = data.replace(value, b"<redacted>")
    if not any(hint in data for hint in _HINTS):
        return data, hits
    data, n = _SECRET.subn(rb'"\1":"<redacted>"', data)
    return data, hits + n


def channel_of(connection: str) -> str:
    """The channel of a feed's connection name (``clob-market-0`` → ``market``).

    Example:
        >>> channel_of("us-private-3"), channel_of("clob-user")
        ('private', 'user')
    """
    parts = connection.split("-")
    return parts[1] if len(parts) > 1 else connection


class RecorderStats(msgspec.Struct, frozen=True, kw_only=True):
    """Counters of a recorder: what it saw, wrote, scrubbed and rotated out."""

    frames: int
    markers: int
    rows_buffered: int
    rows_written: int
    chunks_written: int
    bytes_written: int
    #: secret-looking members replaced by the defensive scrub
    scrubbed: int
    #: chunks deleted (oldest first) to stay under max_total_bytes, and their rows and bytes
    chunks_rotated_out: int
    rows_rotated_out: int
    bytes_rotated_out: int
    write_errors: int
    #: chunks (and their rows) dropped because the writer queue was full (disk too slow)
    chunks_dropped: int
    rows_dropped: int
    #: chunks handed to the writer thread and not yet on disk
    chunks_pending: int


class Recorder:
    """Writes every frame and marker of a feed to a Parquet recording directory.

    Args:
        directory: the recording root (created if missing).
        venue: ``"clob"`` or ``"us"`` (the ``venue=`` partition).
        chunk_rows: write a chunk after this many rows.
        chunk_bytes: ... or after about this many bytes of frames.
        max_total_bytes: delete this recorder's oldest chunks to stay under this size.
        metadata: extra key-value metadata for every chunk (e.g. market parameters).
        redact: literal values (key ids, secrets) replaced wherever they appear.
        max_pending_bytes: frame bytes that may wait for the writer thread (default: four
            times ``chunk_bytes``); a chunk that would exceed it is dropped and counted (see
            the module docstring). The first pending chunk is always accepted.

    Example:
        >>> import tempfile
        >>> rec = Recorder(tempfile.mkdtemp(), venue="us", chunk_rows=1)
        >>> rec.on_frame(direction="in", ts_ns=5, connection="us-markets-0", epoch=1, data=b"{}")
        >>> rec.flush()  # waits for the writer thread
        >>> rec.stats().chunks_written
        1
        >>> rec.close()
    """

    def __init__(
        self,
        directory: str | Path,
        *,
        venue: str,
        chunk_rows: int = DEFAULT_CHUNK_ROWS,
        chunk_bytes: int = DEFAULT_CHUNK_BYTES,
        max_total_bytes: int | None = None,
        metadata: dict[str, str] | None = None,
        redact: tuple[str, ...] = (),
        max_pending_bytes: int | None = None,
    ) -> None:
        if chunk_rows <= 0 or chunk_bytes <= 0:
            raise ConfigError("chunk_rows and chunk_bytes must be positive")
        if max_pending_bytes is not None and max_pending_bytes <= 0:
            raise ConfigError("max_pending_bytes must be positive (or None for the default)")
        if max_total_bytes is not None and max_total_bytes <= 0:
            raise ConfigError("max_total_bytes must be positive (or None for no cap)")
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.venue = venue
        self.chunk_rows = chunk_rows
        self.chunk_bytes = chunk_bytes
        self.max_total_bytes = max_total_bytes
        self._metadata = file_metadata(venue, metadata)
        # Short values would redact ordinary text; credentials are long.
        self._redact = tuple(v.encode() for v in redact if len(v) >= 8)
        self._lock = threading.Lock()
        self._columns: dict[str, list[Any]] = {name: [] for name in SCHEMA.names}
        self._buffered_bytes = 0
        self._hour: int | None = None
        self._seq = 0
        self._chunk_seq = 0
        self._written: list[tuple[Path, int, int]] = []  # (path, rows, bytes), oldest first
        self._total_bytes = 0
        self._closed = False
        self._channels: dict[str, str] = {}  # connection name -> channel, parsed once
        # frames, markers, rows written, chunks, bytes, scrubbed, rotated chunks/rows/bytes,
        # errors, chunks dropped, rows dropped (the writer thread updates 2-4 and 6-9)
        self._counts = [0] * 12
        # Rows dropped since the last gap marker was written (reported in the next chunk).
        self._unreported_drop = 0
        self.max_pending_bytes = (
            DEFAULT_PENDING_CHUNKS * chunk_bytes if max_pending_bytes is None else max_pending_bytes
        )
        self._pending_bytes = 0  # frame bytes queued for the writer (under the lock)
        self._queue: queue.Queue[tuple[dict[str, list[Any]], int, int] | None] = queue.Queue(
            maxsize=_MAX_QUEUED_CHUNKS
        )
        self._writer = threading.Thread(
            target=self._write_loop, name=f"polyresearch-recorder-{venue}", daemon=True
        )
        self._writer.start()

    # FrameTap

    def on_frame(
        self,
        *,
        direction: Literal["in", "out"],
        ts_ns: int,
        connection: str,
        epoch: int,
        data: str | bytes,
    ) -> None:
        """Record one raw frame (outgoing frames arrive redacted; scrubbed again here)."""
        text = isinstance(data, str)
        raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else bytes(data)
        channel = self._channels.get(connection) or self._channel(connection)
        hits = 0
        # Public market data cannot hold our credentials: the scrub (a per-frame cost) covers
        # what we send and what authenticated channels (CLOB user, US private) send us.
        if direction == "out" or channel in _PRIVATE_CHANNELS:
            raw, hits = scrub(raw, self._redact)
        with self._lock:
            self._counts[0] += 1
            self._counts[5] += hits
            self._add(ts_ns, "frame", direction, channel, connection, epoch, raw, text, None)

    def on_marker(self, *, kind: str, ts_ns: int, connection: str, epoch: int, detail: str) -> None:
        """Record a connection marker (connect, disconnect, stale, failed)."""
        clean, hits = scrub(detail.encode("utf-8", "surrogatepass"), self._redact)
        with self._lock:
            self._counts[1] += 1
            self._counts[5] += hits
            channel = self._channels.get(connection) or self._channel(connection)
            self._add(
                ts_ns, "marker", kind, channel, connection, epoch, None, False, clean.decode()
            )

    # Public API.

    def flush(self) -> None:
        """Write the buffered rows as a chunk and wait until every queued chunk is on disk.

        Blocks the caller for as long as the disk takes: call it from a thread or a cell,
        not from a callback on the event loop.
        """
        with self._lock:
            item = self._take()
        if item is not None:
            self._queue.put(item)  # explicit flushes wait for room rather than drop
        if self._writer.is_alive():
            self._queue.join()

    def drain(self) -> None:
        """Wait until every chunk handed to the writer thread is on disk.

        Unlike :meth:`flush`, the open (partly filled) chunk stays buffered.
        """
        if self._writer.is_alive():
            self._queue.join()

    def close(self) -> None:
        """Flush, wait for the writer thread and stop recording; later frames are ignored.

        Idempotent.
        """
        with self._lock:
            if self._closed:
                return
            item = self._take()
            self._closed = True
        if item is not None:
            self._queue.put(item)
        if self._writer.is_alive():
            self._queue.put(None)  # blocks only until the writer takes the last chunks
            self._writer.join()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def stats(self) -> RecorderStats:
        """A frozen snapshot of the counters."""
        with self._lock:
            c = self._counts
            return RecorderStats(
                frames=c[0],
                markers=c[1],
                rows_buffered=len(self._columns["seq"]),
                rows_written=c[2],
                chunks_written=c[3],
                bytes_written=c[4],
                scrubbed=c[5],
                chunks_rotated_out=c[6],
                rows_rotated_out=c[7],
                bytes_rotated_out=c[8],
                write_errors=c[9],
                chunks_dropped=c[10],
                rows_dropped=c[11],
                chunks_pending=self._queue.qsize(),
            )

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # Private methods.

    def _channel(self, connection: str) -> str:
        channel = self._channels[connection] = channel_of(connection)
        return channel

    def _add(
        self,
        ts_ns: int,
        kind: str,
        direction: str,
        channel: str,
        connection: str,
        epoch: int,
        data: bytes | None,
        text: bool,
        detail: str | None,
    ) -> None:
        if self._closed:
            return
        hour = hour_of(ts_ns)
        if self._hour is not None and hour != self._hour:
            self._flush()  # one chunk never spans two hour partitions
        self._hour = hour
        if self._unreported_drop:
            self._gap(ts_ns)
        columns = self._columns
        columns["seq"].append(self._seq)
        columns["ts_ns"].append(ts_ns)
        columns["kind"].append(kind)
        columns["direction"].append(direction)
        columns["channel"].append(channel)
        columns["connection"].append(connection)
        columns["epoch"].append(epoch)
        columns["data"].append(data)
        columns["text"].append(text)
        columns["detail"].append(detail)
        self._seq += 1
        self._buffered_bytes += _ROW_OVERHEAD + (len(data) if data is not None else 0)
        if len(columns["seq"]) >= self.chunk_rows or self._buffered_bytes >= self.chunk_bytes:
            self._flush()

    def _take(self) -> tuple[dict[str, list[Any]], int, int] | None:
        """Detach the buffered rows as a chunk to write (caller holds the lock)."""
        columns = self._columns
        if not columns["seq"]:
            return None
        size = self._buffered_bytes
        self._columns = {name: [] for name in SCHEMA.names}
        self._buffered_bytes = 0
        self._hour = None
        self._chunk_seq += 1
        self._pending_bytes += size
        return columns, self._chunk_seq - 1, size

    def _flush(self) -> None:
        """Hand a full buffer to the writer thread without waiting (caller holds the lock)."""
        if not self._columns["seq"]:
            return
        rows, size = len(self._columns["seq"]), self._buffered_bytes
        if self._pending_bytes and self._pending_bytes + size > self.max_pending_bytes:
            self._drop(rows)
            return
        item = self._take()
        assert item is not None
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self._pending_bytes -= size
            self._drop(rows)

    def _drop(self, rows: int) -> None:
        # The disk is behind: drop this chunk rather than stall the event loop (module
        # docstring). A gap marker opens the next chunk so that a replay sees the hole.
        self._columns = {name: [] for name in SCHEMA.names}
        self._buffered_bytes = 0
        self._hour = None
        self._counts[10] += 1
        self._counts[11] += rows
        self._unreported_drop += rows
        logger.warning("recorder: writer queue full, %d rows dropped", rows)

    def _gap(self, ts_ns: int) -> None:
        """Buffer a ``gap`` marker for rows dropped before this one (caller holds the lock)."""
        # Cumulative: a marker may itself be lost in a later dropped chunk.
        self._unreported_drop = 0
        dropped = self._counts[11]
        columns = self._columns
        columns["seq"].append(self._seq)
        columns["ts_ns"].append(ts_ns)
        columns["kind"].append("marker")
        columns["direction"].append("gap")
        columns["channel"].append("")
        columns["connection"].append("")
        columns["epoch"].append(0)
        columns["data"].append(None)
        columns["text"].append(False)
        columns["detail"].append(f"{dropped} rows dropped so far: writer queue full")
        self._seq += 1

    def _write_loop(self) -> None:
        """The writer thread: one queued chunk at a time, until the close sentinel."""
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                self._write(*item)
            except Exception:  # never let the thread die: count and go on
                with self._lock:
                    self._counts[9] += 1
                logger.exception("recorder: writer thread failed on a chunk")
            finally:
                self._queue.task_done()

    def _write(self, columns: dict[str, list[Any]], chunk_seq: int, size_in: int) -> None:
        try:
            self._write_chunk(columns, chunk_seq)
        finally:
            with self._lock:
                self._pending_bytes -= size_in

    def _write_chunk(self, columns: dict[str, list[Any]], chunk_seq: int) -> None:
        rows = len(columns["seq"])
        # Converted in slices: converting Python objects holds the GIL for the whole call, and
        # one call over a 100k-row chunk would stall the event loop thread for its duration.
        # Between slices the loop thread gets the GIL back (bench_record_writer.py).
        batches = [
            pa.RecordBatch.from_pydict(
                {name: values[start : start + _CONVERT_ROWS] for name, values in columns.items()},
                schema=SCHEMA,
            )
            for start in range(0, rows, _CONVERT_ROWS)
        ]
        table = pa.Table.from_batches(batches, schema=SCHEMA).replace_schema_metadata(
            self._metadata
        )
        final = chunk_path(self.directory, self.venue, int(columns["ts_ns"][0]), chunk_seq)
        # Hidden temp name in the same directory, renamed into place once complete: readers
        # globbing *.parquet never see a partial file, and a crash leaves only the .tmp.
        tmp = final.with_name(f".{final.name}{TMP_SUFFIX}")
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as sink:
                pq.write_table(table, sink, compression="zstd")
                sink.flush()
                os.fsync(sink.fileno())
            os.replace(tmp, final)
        except OSError:
            # Disk full or gone: count it, keep recording (the next chunk may succeed).
            with self._lock:
                self._counts[9] += 1
            logger.exception("recorder: writing %s failed; %d rows lost", final, rows)
            with contextlib.suppress(OSError):  # the directory itself may be what failed
                tmp.unlink(missing_ok=True)
            return
        size = final.stat().st_size
        with self._lock:
            self._counts[2] += rows
            self._counts[3] += 1
            self._counts[4] += size
            self._written.append((final, rows, size))
            self._total_bytes += size
            self._rotate()

    def _rotate(self) -> None:
        cap = self.max_total_bytes
        # The newest chunk always stays, even alone above the cap.
        while cap is not None and self._total_bytes > cap and len(self._written) > 1:
            path, rows, size = self._written.pop(0)
            path.unlink(missing_ok=True)
            self._total_bytes -= size
            self._counts[6] += 1
            self._counts[7] += rows
            self._counts[8] += size


def record_feed(
    feed: Feed,
    directory: str | Path,
    **kwargs: Any,
) -> Recorder:
    """Attach a new :class:`Recorder` to a feed (call before ``feed.start()``).

    :meth:`polyresearch.feed.Feed.record` is the usual way in (it also closes the recorder
    when the feed stops); this function attaches without that ownership.

    CLOB market parameters (what the book hash needs) and ``hash_every`` go into the chunk
    metadata, so a replay verifies hashes exactly as the live feed did.

    Args:
        feed: a ClobFeed or UsFeed, not started yet.
        directory: the recording root.
        **kwargs: passed to :class:`Recorder` (``chunk_rows``, ``max_total_bytes``, ...).

    Example:
        >>> import tempfile
        >>> from polyresearch.feed import ClobFeed
        >>> feed = ClobFeed(assets=["1"], url="ws://127.0.0.1:9/ws/market")
        >>> record_feed(feed, tempfile.mkdtemp()).venue
        'clob'
    """
    if feed.running:
        raise ConfigError("attach the recorder before feed.start()")
    books = feed.store.books
    # BookSet keeps its parameters private; a public accessor would be nicer (reported).
    params = {k: msgspec.to_builtins(v) for k, v in getattr(books, "_params", {}).items()}
    metadata = {
        "polyresearch.params": json.dumps(params),
        "polyresearch.hash_every": str(books.hash_every),
        "polyresearch.verify_hashes": json.dumps(books.verify_hashes),
        **(kwargs.pop("metadata", None) or {}),
    }
    # UsFeed keeps its credentials: the key id is scrubbed literally wherever it appears (the
    # secret itself never enters a frame: it only signs the upgrade headers).
    key_id = getattr(getattr(feed, "credentials", None), "key_id", None)
    redact = tuple(kwargs.pop("redact", ()))
    if isinstance(key_id, str):
        redact += (key_id,)
    recorder = Recorder(directory, venue=feed.venue, metadata=metadata, redact=redact, **kwargs)
    feed.set_tap(recorder)  # connections added later (subscribe) pick it up from the feed
    return recorder
