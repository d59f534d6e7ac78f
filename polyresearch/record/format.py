"""The on-disk format of a recording: versioned, self-describing Parquet chunks.

A recording is a directory of Parquet files partitioned hive-style::

    DIR/venue=clob/date=2026-11-23/hour=22/part-<first ts ns, 20 digits>-<seq, 6 digits>.parquet

so that polars ``scan_parquet(..., hive_partitioning=True)``, DuckDB
``read_parquet('DIR/**/*.parquet', hive_partitioning=true)``, Spark or Dask read it unchanged.
``venue``, ``date`` and ``hour`` live only in the path (hive columns); each file's rows have the
columns of :data:`SCHEMA`, and its Parquet key-value metadata names the format
(``polyresearch.format`` = :data:`FORMAT_NAME`, ``polyresearch.format_version`` =
:data:`FORMAT_VERSION`), the venue, and the schema as JSON, so one file alone explains itself.

Chunks are written to a hidden temporary file and renamed into place, so a reader never sees a
half-written ``.parquet`` file; a crash leaves at most one ``.tmp`` file, which readers skip
and count.

Example:
    >>> chunk_path("/rec", "clob", 1_700_000_000_000_000_000, 3).as_posix()
    '/rec/venue=clob/date=2023-11-14/hour=22/part-01700000000000000000-000003.parquet'
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Final

import pyarrow as pa  # type: ignore[import-untyped]

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "SCHEMA",
    "TMP_SUFFIX",
    "chunk_path",
    "file_metadata",
    "hour_of",
]

FORMAT_NAME: Final = "polyresearch-recording"
#: Bump on any incompatible change of SCHEMA or layout; readers refuse versions they do not know.
FORMAT_VERSION: Final = 1
TMP_SUFFIX: Final = ".tmp"
NS_PER_HOUR: Final = 3_600_000_000_000

#: One row per raw frame (``kind == "frame"``) or per connection marker (``kind == "marker"``).
SCHEMA: Final = pa.schema(
    [
        # Order of the row within the recorder's life: ties on ts_ns keep arrival order.
        pa.field("seq", pa.int64(), nullable=False),
        pa.field("ts_ns", pa.int64(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),
        # "in" / "out" for frames; the marker kind (connect, disconnect, stale, ...) for markers.
        pa.field("direction", pa.string(), nullable=False),
        pa.field("channel", pa.string(), nullable=False),
        pa.field("connection", pa.string(), nullable=False),
        pa.field("epoch", pa.int64(), nullable=False),
        # The frame exactly as received (UTF-8 of text frames); null for markers.
        pa.field("data", pa.large_binary(), nullable=True),
        # Whether the frame was a text frame (str) rather than binary.
        pa.field("text", pa.bool_(), nullable=False),
        # Marker detail (e.g. the close reason); null for frames.
        pa.field("detail", pa.string(), nullable=True),
    ]
)


def hour_of(ts_ns: int) -> int:
    """The hour bucket (hours since the epoch, UTC) of a timestamp in ns."""
    return ts_ns // NS_PER_HOUR


def chunk_path(directory: str | Path, venue: str, first_ts_ns: int, seq: int) -> Path:
    """The final path of a chunk whose first row was recorded at ``first_ts_ns``."""
    # Whole seconds by integer division: a float would round 3 ns before an hour into it.
    when = dt.datetime.fromtimestamp(first_ts_ns // 1_000_000_000, tz=dt.UTC)
    return (
        Path(directory)
        / f"venue={venue}"
        / f"date={when:%Y-%m-%d}"
        / f"hour={when:%H}"
        / f"part-{first_ts_ns:020d}-{seq:06d}.parquet"
    )


def file_metadata(venue: str, extra: dict[str, str] | None = None) -> dict[bytes, bytes]:
    """The key-value metadata written into every chunk (format, version, venue, schema)."""
    fields = [{"name": f.name, "type": str(f.type), "nullable": f.nullable} for f in SCHEMA]
    meta = {
        "polyresearch.format": FORMAT_NAME,
        "polyresearch.format_version": str(FORMAT_VERSION),
        "polyresearch.venue": venue,
        "polyresearch.schema": json.dumps(fields),
        **(extra or {}),
    }
    return {k.encode(): v.encode() for k, v in meta.items()}
