"""Export tables and book snapshots to CSV and Parquet, from a live feed or a replay.

:func:`export` writes every non-empty table of a feed (``trades``, ``quotes``,
``book_updates``, ``book_snapshots``, ...) plus ``books``: the top levels of every live book
right now, in the ``book_snapshots`` schema. Parquet keeps the table types (categories as
dictionary strings, UTC nanosecond timestamps); CSV writes categories as plain strings and
times as ISO-8601 UTC. Writers are polars' (CSV) and pyarrow's Parquet writer fed by polars,
in row batches, so a big export shows progress (tqdm, notebook-aware) and never holds a
second copy of a table in memory beyond one batch.

CLOB token ids are 77-digit numbers: read exported CSVs with ids as text, e.g.
``pl.read_csv(path, schema_overrides={"asset_id": pl.String})`` (or ``infer_schema=False``),
or they turn into (lossy) numbers. Parquet has no such problem.

Example:
    >>> import tempfile
    >>> from polyresearch.record.replay import ReplayFeed
    >>> feed = ReplayFeed("clob")
    >>> _ = feed.tables.trades.append(ts_ns=1, recv_ns=2, venue="clob", market="m",
    ...     asset_id="a", price=0.5, size=3.0, side="buy", kind="last_trade_price",
    ...     fee_rate_bps=None)
    >>> written = export(feed, tempfile.mkdtemp(), formats=("csv",))
    >>> [path.name for path in written["trades"]]
    ['trades.csv']
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Final, Literal, Protocol, TypeVar

import polars as pl
import pyarrow.parquet as pq  # type: ignore[import-untyped]

from polyresearch.errors import ConfigError
from polyresearch.state.books import BookSet
from polyresearch.state.schemas import Tables, make_tables
from polyresearch.state.store import MarketStore

__all__ = ["BOOKS", "book_frame", "export", "export_frame"]

Format = Literal["csv", "parquet"]
FORMATS: Final[tuple[Format, ...]] = ("csv", "parquet")
#: The name under which :func:`export` writes the current books.
BOOKS: Final = "books"
#: Rows per write batch (one progress step).
BATCH_ROWS: Final = 250_000
#: Exports at least this many rows show a progress bar when ``progress`` is None.
PROGRESS_ROWS: Final = 1_000_000

T = TypeVar("T")


class _FeedLike(Protocol):
    """A live Feed or a ReplayFeed: tables, books and a venue."""

    venue: str

    @property
    def tables(self) -> Tables: ...

    @property
    def books(self) -> BookSet: ...


def book_frame(source: _FeedLike, depth: int = 10, *, ts_ns: int | None = None) -> pl.DataFrame:
    """The top ``depth`` levels of every LIVE book now, in the ``book_snapshots`` schema.

    One row per (asset, side, level), sampled exactly as a feed's ``snapshot_interval``
    sampler does (same code), so :func:`polyresearch.analysis.imbalance` and friends apply.

    Args:
        source: a live feed or a :class:`~polyresearch.record.ReplayFeed`.
        depth: levels per side.
        ts_ns: the sample time (default: now for a live feed; for a replay, the last recorded
            receive time seen).

    Example:
        >>> from polyresearch.record.replay import ReplayFeed
        >>> book_frame(ReplayFeed("clob")).height
        0
    """
    if depth < 1:
        raise ConfigError(f"depth must be positive, got {depth}")

    def sample() -> pl.DataFrame:
        books = source.books
        live = sum(1 for a in books if books[a].status.value == "LIVE")
        # A throwaway store around the same BookSet: the sampler writes only to its own table.
        store = MarketStore(
            source.venue,
            "",
            tables=make_tables(max_rows=max(1, live * 2 * depth)),
            books=books,
        )
        when = ts_ns if ts_ns is not None else _now_ns(source)
        store.sample_books(depth=depth, ts_ns=when)
        return store.tables.book_snapshots.to_polars()

    return _read(source, sample)


def export(
    source: _FeedLike,
    directory: str | Path,
    *,
    formats: Sequence[Format] = ("parquet",),
    tables: Iterable[str] | None = None,
    book_depth: int | None = 10,
    progress: bool | None = None,
) -> dict[str, list[Path]]:
    """Write a feed's tables (and its current books) as CSV and/or Parquet files.

    Files are ``DIR/<table>.parquet`` / ``DIR/<table>.csv``; empty tables are skipped.

    Args:
        source: a live feed (read where its state lives) or a replay.
        directory: created if missing; existing files of the same names are replaced.
        formats: any of ``"csv"``, ``"parquet"``.
        tables: table names to write (default: all).
        book_depth: also write ``books`` (:func:`book_frame` at this depth); None: skip.
        progress: show a progress bar (tqdm); None: only for exports of a million rows or more.

    Returns:
        The files written, by table name.

    Raises:
        ConfigError: an unknown format or table name.
    """
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown or not formats:
        raise ConfigError(f"formats must be some of {FORMATS}, got {list(formats)}")
    names = list(source.tables) if tables is None else list(tables)
    bad = sorted(set(names) - set(source.tables))
    if bad:
        raise ConfigError(f"unknown tables {bad}; tables: {list(source.tables)}")
    frames: dict[str, pl.DataFrame] = _read(
        source, lambda: {name: source.tables[name].to_polars() for name in names}
    )
    if book_depth is not None:
        frames[BOOKS] = book_frame(source, book_depth)
    frames = {name: frame for name, frame in frames.items() if frame.height}
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    total = sum(frame.height for frame in frames.values()) * len(formats)
    bar = _progress(total, progress, "export")
    written: dict[str, list[Path]] = {}
    try:
        for name, frame in frames.items():
            for fmt in formats:
                path = out / f"{name}.{fmt}"
                export_frame(frame, path, on_batch=None if bar is None else bar.update)
                written.setdefault(name, []).append(path)
    finally:
        if bar is not None:
            bar.close()
    return written


def export_frame(
    frame: pl.DataFrame,
    path: str | Path,
    *,
    batch_rows: int = BATCH_ROWS,
    on_batch: Callable[[int], object] | None = None,
) -> Path:
    """Write one frame as CSV or Parquet (by the path's suffix), in row batches.

    Args:
        frame: any polars frame (a table's ``to_polars()``, an analysis result).
        path: ``*.csv`` or ``*.parquet``.
        batch_rows: rows per batch.
        on_batch: called with each batch's row count (a progress bar's ``update``).

    Example:
        >>> import pathlib, tempfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "x.csv"
        >>> _ = export_frame(pl.DataFrame({"a": [1, 2]}), path)
        >>> path.read_text().split()
        ['a', '1', '2']
    """
    target = Path(path)
    fmt = target.suffix.removeprefix(".")
    if fmt not in FORMATS:
        raise ConfigError(f"{target}: export writes .csv or .parquet files")
    if batch_rows < 1:
        raise ConfigError("batch_rows must be positive")
    tmp = target.with_name(f".{target.name}.tmp")
    try:
        if fmt == "csv":
            _write_csv(_csv_ready(frame), tmp, batch_rows, on_batch)
        else:
            _write_parquet(frame, tmp, batch_rows, on_batch)
        tmp.replace(target)  # readers never see a half-written export
    finally:
        tmp.unlink(missing_ok=True)
    return target


def _csv_ready(frame: pl.DataFrame) -> pl.DataFrame:
    # CSV has no dictionary or timezone types: categories as text, times as ISO-8601 UTC.
    casts = [
        pl.col(name).cast(pl.String)
        for name, dtype in frame.schema.items()
        if isinstance(dtype, pl.Categorical | pl.Enum)
    ]
    return frame.with_columns(casts) if casts else frame


def _write_csv(
    frame: pl.DataFrame, path: Path, batch_rows: int, on_batch: Callable[[int], object] | None
) -> None:
    with open(path, "wb") as sink:
        if frame.height == 0:
            frame.write_csv(sink)
        for start in range(0, frame.height, batch_rows):
            batch = frame.slice(start, batch_rows)
            batch.write_csv(sink, include_header=start == 0)
            if on_batch is not None:
                on_batch(batch.height)


def _write_parquet(
    frame: pl.DataFrame, path: Path, batch_rows: int, on_batch: Callable[[int], object] | None
) -> None:
    first = frame.slice(0, batch_rows).to_arrow()
    with pq.ParquetWriter(path, first.schema, compression="zstd") as writer:
        writer.write_table(first)
        if on_batch is not None:
            on_batch(first.num_rows)
        for start in range(batch_rows, frame.height, batch_rows):
            batch = frame.slice(start, batch_rows).to_arrow()
            writer.write_table(batch.cast(first.schema))
            if on_batch is not None:
                on_batch(batch.num_rows)


def _read(source: object, fn: Callable[[], T]) -> T:
    # A feed in thread mode owns its state on its loop thread: read it there.
    read = getattr(source, "read", None)
    return read(fn) if callable(read) else fn()


def _now_ns(source: object) -> int:
    last = getattr(source, "last_recv_ns", None)
    return last if isinstance(last, int) else time.time_ns()


def _progress(total: int, wanted: bool | None, desc: str) -> Any:
    """A tqdm bar (the notebook widget in Jupyter), or None when not wanted."""
    if wanted is False or (wanted is None and total < PROGRESS_ROWS):
        return None
    # tqdm ships no type information; tqdm.auto picks the widget in a notebook.
    auto = importlib.import_module("tqdm.auto")
    return auto.tqdm(total=total, unit="row", unit_scale=True, desc=desc)
