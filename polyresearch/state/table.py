"""Bounded columnar ring buffers ("rolling tables") that become DataFrames on demand.

A :class:`RollingTable` keeps the newest ``max_rows`` rows of one fixed :class:`Schema` in
preallocated numpy columns. Appending a row writes one slot per column and never builds a
DataFrame; a notebook asks for :meth:`RollingTable.to_polars` / :meth:`RollingTable.to_pandas`
(or chart-ready numpy arrays) whenever it wants, and gets the rows oldest first.
(docs: jupyter-notes.md §5 and performance-notes.md Q4-Q5: per-event ``concat`` collapses to
a few hundred rows/s, column buffers with dictionary-encoded ids sustain about a million rows/s
at about 50 bytes per row.)

Column kinds and how they are stored
====================================

==========  ==========  ========================  ========================  ======================
kind        storage     null (``nullable=True``)  polars                    pandas
==========  ==========  ========================  ========================  ======================
float64     float64     NaN                       ``Float64`` (NaN->null)   ``float64`` (NaN)
int64       int64       ``NULL_INT`` (int64 min)  ``Int64``                 ``int64`` / ``Int64``
timestamp   int64 ns    ``NULL_INT`` (= NaT)      ``Datetime("ns","UTC")``  ``datetime64[ns, UTC]``
bool        int8 1/0    ``-1``                    ``Boolean``               ``bool`` / ``boolean``
category    int32 code  code ``-1``               ``Categorical``           ``category``
==========  ==========  ========================  ========================  ======================

(pandas gets the nullable ``Int64``/``boolean`` dtypes only for nullable columns.)

Nulls are sentinels, not a separate validity mask: a mask would cost a byte per nullable column
per row, while the sentinels cost nothing and are values no feed produces (NaN prices, a
timestamp in 1677, ``-1`` codes). The flip side, documented rather than checked on the hot path:
appending ``NULL_INT`` to an int column, or NaN to a float column, stores a null.

Category columns (ids: 77-digit token ids, slugs, sides, kinds, statuses) store an int32 code
per row and keep each distinct string once in a per-column dictionary. polars gets a
``Categorical`` (global categories, so ``asset_id`` columns of different tables join directly;
``.cast(pl.String)`` if you prefer plain strings) and pandas a ``category`` whose categories are
the values present in the rows returned, in first-seen order.

Bounds and what is counted
==========================

- Rows: at most ``max_rows``; the oldest row is overwritten first and counted in
  ``stats().rows_evicted``.
- Dictionaries: at most ``max_categories`` values per category column. Values of evicted rows
  stay in the dictionary until it would grow past the limit; then it is *compacted* to the values
  still used by live rows (the others are counted as ``values_evicted``). If the live rows alone
  use more than three quarters of the limit, the oldest rows are evicted until they do not
  (counted in ``rows_evicted`` and in the dictionary's ``rows_evicted``): this keeps the newest
  data, and the slack makes compaction rare (at most once per quarter-limit new values) instead of
  once per append. A column with more distinct live values than the limit (say, order ids) thus
  holds fewer than ``max_rows`` rows; raise ``max_categories`` for such tables.

Prices are float64 here: tables are for analysis and charts; exact decimal books live in the
order-book layer.

Not thread-safe: append and read from one thread (the kernel loop), or hand rows over to it.

Example:
    >>> from polyresearch.state.table import Column, RollingTable, Schema
    >>> schema = Schema("ticks", (
    ...     Column("ts_ns", "timestamp", doc="event time"),
    ...     Column("asset_id", "category", doc="token id"),
    ...     Column("price", "float64", doc="last price"),
    ...     Column("size", "float64", nullable=True, doc="shares, if known"),
    ... ))
    >>> table = RollingTable(schema, max_rows=2)
    >>> table.append(ts_ns=1, asset_id="A", price=0.48, size=10.0)
    >>> table.append_row((2, "B", 0.52, None))
    >>> table.append(ts_ns=3, asset_id="A", price=0.50)          # oldest row evicted
    >>> len(table), table.stats().rows_evicted, table.version
    (2, 1, 3)
    >>> table.to_polars()["asset_id"].to_list()
    ['B', 'A']
"""

from __future__ import annotations

import keyword
import math
import mmap
import sys
from array import array
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final, Literal, cast, get_args

import msgspec
import numpy as np
import numpy.typing as npt

from polyresearch.config import positive_int
from polyresearch.errors import ConfigError, StateError

if TYPE_CHECKING:
    # No pandas/pyarrow stubs in the dev environment; pandas-stubs would make this precise.
    import pandas as pd  # type: ignore[import-untyped]
    import polars as pl

__all__ = [
    "DEFAULT_MAX_CATEGORIES",
    "NULL_INT",
    "Column",
    "ColumnKind",
    "DictionaryStats",
    "RollingTable",
    "Schema",
    "TableSlice",
    "TableStats",
]

ColumnKind = Literal["float64", "int64", "timestamp", "bool", "category"]

#: Null marker of int64 and timestamp columns: int64's minimum, which numpy also uses for NaT.
NULL_INT: Final = -(2**63)
#: Default bound of each category column's dictionary (distinct values kept).
DEFAULT_MAX_CATEGORIES: Final = 65_536

_NULL_BOOL: Final = -1
_NULL_CODE: Final = -1
_NAN: Final = math.nan
_KINDS: Final[tuple[str, ...]] = get_args(ColumnKind)
_STORAGE: Final[Mapping[str, type[np.generic]]] = MappingProxyType(
    {
        "float64": np.float64,
        "int64": np.int64,
        "timestamp": np.int64,
        "bool": np.int8,
        "category": np.int32,
    }
)
#: Columns of at least this many bytes get their own anonymous mapping (see _lazy_zeros).
_MAP_BYTES: Final = 1 << 20


def _lazy_zeros(rows: int, dtype: type[np.generic]) -> Array:
    """A zero-filled column whose pages cost memory only once rows are written to them.

    ``np.zeros`` is ``calloc``: glibc serves a request below its mmap threshold from the heap,
    memsets it if the memory was used before, and keeps it after the column is freed. The
    threshold rises to the size of every mapped block freed (up to 32 MiB), so after the first
    feed was dropped, the next one's tables (~244 MiB at the default bounds) came out of the
    heap fully touched and stayed in the process when that feed went too: a kernel that
    re-creates feeds, or a test session, grew by that much per feed. An anonymous mapping is
    zero-filled lazily by the kernel and returned to it when the column is garbage collected.
    """
    nbytes = rows * np.dtype(dtype).itemsize
    if nbytes < _MAP_BYTES:
        return np.zeros(rows, dtype=dtype)
    return np.frombuffer(mmap.mmap(-1, nbytes), dtype=dtype, count=rows)


# Bools go through a dict lookup: it accepts True/False/1/0/numpy bools alike, stores only
# 1/0/-1, and fails (KeyError in append, None in extend) for anything else.
_BOOL: Final[Mapping[object, int]] = MappingProxyType({True: 1, False: 0})
_BOOL_NULLABLE: Final[Mapping[object, int]] = MappingProxyType({True: 1, False: 0, None: -1})

Array = npt.NDArray[Any]


# ---------------------------------------------------------------- schema


class Column(msgspec.Struct, frozen=True):
    """One column of a :class:`Schema`.

    Attributes:
        name: a Python identifier not starting with ``_`` (it becomes a keyword of
            :meth:`RollingTable.append`).
        kind: ``"float64"``, ``"int64"``, ``"timestamp"`` (int ns since the epoch, UTC),
            ``"bool"`` or ``"category"`` (dictionary-encoded strings).
        nullable: whether the column accepts ``None`` (stored as the kind's null sentinel).
        doc: what the column holds; shown by :meth:`Schema.describe`.

    Example:
        >>> Column("price", "float64", doc="trade price").itemsize
        8
    """

    name: str
    kind: ColumnKind
    nullable: bool = False
    doc: str = ""

    def __post_init__(self) -> None:
        name: object = self.name  # checked at run time: the annotation is not enforced
        if (
            not isinstance(name, str)
            or not name.isidentifier()
            or keyword.iskeyword(name)
            or name.startswith("_")
        ):
            # The name becomes a parameter of generated code, so it must be a plain identifier;
            # a leading underscore is reserved for that code's own locals.
            raise ConfigError(
                f"column name must be an identifier not starting with '_', got {name!r}"
            )
        if self.kind not in _KINDS:
            raise ConfigError(f"column {name!r}: kind must be one of {_KINDS}, got {self.kind!r}")
        nullable: object = self.nullable
        if not isinstance(nullable, bool):
            raise ConfigError(f"column {name!r}: nullable must be a bool")

    @property
    def itemsize(self) -> int:
        """Bytes one row of this column takes in the ring (dictionary strings not included)."""
        return np.dtype(_STORAGE[self.kind]).itemsize


class Schema(msgspec.Struct, frozen=True):
    """A table's name, its ordered columns and what it is for.

    Example:
        >>> s = Schema("t", (Column("ts_ns", "timestamp"), Column("side", "category")))
        >>> s.names, s.row_bytes
        (('ts_ns', 'side'), 12)
    """

    name: str
    columns: tuple[Column, ...]
    doc: str = ""

    def __post_init__(self) -> None:
        name: object = self.name  # checked at run time: the annotations are not enforced
        columns: object = self.columns
        if not isinstance(name, str) or not name:
            raise ConfigError("schema name must be a non-empty str")
        if not isinstance(columns, tuple) or not columns:
            raise ConfigError(f"schema {name!r}: columns must be a non-empty tuple")
        seen: set[str] = set()
        for column in columns:
            if not isinstance(column, Column):
                raise ConfigError(f"schema {self.name!r}: {column!r} is not a Column")
            if column.name in seen:
                raise ConfigError(f"schema {self.name!r}: duplicate column {column.name!r}")
            seen.add(column.name)

    @property
    def names(self) -> tuple[str, ...]:
        """Column names, in order."""
        return tuple(column.name for column in self.columns)

    @property
    def row_bytes(self) -> int:
        """Bytes one row takes in the ring, over all columns (dictionaries not included)."""
        return sum(column.itemsize for column in self.columns)

    def column(self, name: str) -> Column:
        """Return the column called ``name``.

        Raises:
            ConfigError: if there is no such column.
        """
        for column in self.columns:
            if column.name == name:
                return column
        raise ConfigError(f"table {self.name!r} has no column {name!r}; columns: {self.names}")

    def describe(self) -> str:
        """One line per column: name, kind (``?`` if nullable) and doc (handy in a notebook).

        Example:
            >>> print(Schema("t", (Column("x", "int64", doc="a number"),)).describe())
            t
              x  int64  a number
        """
        kinds = [column.kind + ("?" if column.nullable else "") for column in self.columns]
        width = max(len(column.name) for column in self.columns)
        kind_width = max(len(kind) for kind in kinds)
        lines = [self.name + (f": {self.doc}" if self.doc else "")]
        for column, kind in zip(self.columns, kinds, strict=True):
            lines.append(f"  {column.name:<{width}}  {kind:<{kind_width}}  {column.doc}".rstrip())
        return "\n".join(lines)


# ---------------------------------------------------------------- stats


class DictionaryStats(msgspec.Struct, frozen=True, kw_only=True):
    """A frozen snapshot of one category column's dictionary.

    Attributes:
        size: distinct values held now (some may belong only to evicted rows).
        max_size: the bound (``max_categories``).
        values_evicted: values dropped by compactions and ``clear()``.
        compactions: how many times the dictionary was rebuilt.
        rows_evicted: rows evicted early because live rows used too many distinct values
            (also included in the table's ``rows_evicted``).
        bytes: estimated memory of the dictionary (strings, list and dict).
    """

    size: int
    max_size: int
    values_evicted: int
    compactions: int
    rows_evicted: int
    bytes: int


class TableStats(msgspec.Struct, frozen=True, kw_only=True):
    """A frozen snapshot of a :class:`RollingTable`'s counters.

    Attributes:
        name: the schema name.
        rows: rows held now.
        max_rows: the row bound.
        rows_appended: rows ever accepted (``append`` calls that succeeded plus ``extend`` rows).
        rows_evicted: rows dropped oldest-first: overwritten at the bound, evicted for a full
            dictionary, or dropped because a failed append had overwritten them.
        rows_cleared: rows dropped by ``clear()``.
        version: the table's change counter (see :attr:`RollingTable.version`).
        bytes_used: ``rows`` times the ring's row width, plus the dictionaries.
        bytes_reserved: the preallocated ring (``max_rows`` times the row width; the OS backs
            untouched pages lazily), plus the dictionaries.
        dictionaries: per category column.
    """

    name: str
    rows: int
    max_rows: int
    rows_appended: int
    rows_evicted: int
    rows_cleared: int
    version: int
    bytes_used: int
    bytes_reserved: int
    dictionaries: Mapping[str, DictionaryStats]

    @property
    def bytes_per_row(self) -> float:
        """``bytes_used / rows`` (0.0 when empty)."""
        return self.bytes_used / self.rows if self.rows else 0.0


# ---------------------------------------------------------------- dictionary


class _Dictionary:
    """One category column's code <-> string dictionary."""

    __slots__ = (
        "compactions",
        "mapping",
        "nullable",
        "rows_evicted",
        "string_bytes",
        "values",
        "values_evicted",
    )

    def __init__(self, nullable: bool) -> None:
        self.nullable = nullable
        # The generated append reads `mapping` through a closure, so it is mutated in place;
        # `values` is replaced instead, so a TableSlice can keep the list it was built with.
        self.mapping: dict[str | None, int] = {}
        self.values: list[str] = []
        self.string_bytes = 0
        self.values_evicted = 0
        self.compactions = 0
        self.rows_evicted = 0
        self._reset_mapping()

    def _reset_mapping(self) -> None:
        self.mapping.clear()
        if self.nullable:
            # None is a regular key, so a null costs the hot path no extra branch.
            self.mapping[None] = _NULL_CODE

    def add(self, value: str) -> int:
        code = len(self.values)
        self.values.append(value)
        self.mapping[value] = code
        self.string_bytes += sys.getsizeof(value)
        return code

    def replace(self, values: list[str], evicted: int) -> None:
        self.values_evicted += evicted
        self.values = values
        self._reset_mapping()
        self.mapping.update(zip(values, range(len(values)), strict=True))
        self.string_bytes = sum(sys.getsizeof(value) for value in values)

    def nbytes(self) -> int:
        return self.string_bytes + sys.getsizeof(self.values) + sys.getsizeof(self.mapping)


# ---------------------------------------------------------------- the table


class RollingTable:
    """A bounded columnar ring buffer with a fixed schema; see the module docstring.

    Args:
        schema: the columns.
        max_rows: how many rows to keep; the oldest are evicted first.
        max_categories: bound of each category column's dictionary.

    Raises:
        ConfigError: if a limit is not a positive int or ``schema`` is not a :class:`Schema`.

    Appending (the hot path; each call writes one slot per column, no allocation beyond the
    call itself):

    - ``append(**row)``: one keyword per column; nullable columns may be omitted (null).
    - ``append_row(row)``: a sequence with one value per column, in schema order.

    Both raise :class:`~polyresearch.errors.StateError` for a value the column cannot store
    (``None`` in a non-nullable column, a str in a numeric one, a non-str category value, an int
    out of int64 range); nothing is appended then. Floats accept ints, bools and anything with
    ``__float__`` (``Decimal``); ints and timestamps accept ints (and numpy integers); bools
    accept True/False, 1/0 and numpy bools.

    ``append`` and ``append_row`` are generated per schema (like :mod:`dataclasses` does) so
    that the hot path has no loop over columns (measured during development: about twice the
    rate of a generic per-column loop over numpy arrays; see benchmarks/bench_table.py).

    Example:
        >>> from polyresearch.state.table import Column, RollingTable, Schema
        >>> t = RollingTable(Schema("q", (Column("ts_ns", "timestamp"),
        ...                               Column("bid", "float64", nullable=True))), max_rows=10)
        >>> t.append(ts_ns=1_700_000_000_000_000_000, bid=0.5)
        >>> t.append(ts_ns=1_700_000_000_000_000_001)
        >>> t.to_polars()["bid"].to_list()
        [0.5, None]
    """

    __slots__ = (
        "__weakref__",
        "_arrays",
        "_cap",
        "_cleared",
        "_dicts",
        "_floor",
        "_max_categories",
        "_mutations",
        "_schema",
        "_target",
        "_written",
        "append",
        "append_row",
    )

    #: Append one row given as keywords, one per column (nullable ones may be omitted).
    append: Callable[..., None]
    #: Append one row given as a sequence of values in schema order.
    append_row: Callable[[Sequence[Any]], None]

    def __init__(
        self,
        schema: Schema,
        *,
        max_rows: int,
        max_categories: int = DEFAULT_MAX_CATEGORIES,
    ) -> None:
        if not isinstance(schema, Schema):
            raise ConfigError(f"schema must be a Schema, not {type(schema).__name__}")
        self._schema = schema
        self._cap = positive_int(max_rows, "max_rows")
        self._max_categories = positive_int(max_categories, "max_categories")
        # After a compaction the dictionary holds at most this many values (see module doc).
        self._target = max(1, self._max_categories - self._max_categories // 4)
        # Zeroed pages mapped lazily: a large max_rows costs memory only as rows arrive.
        self._arrays: tuple[Array, ...] = tuple(
            _lazy_zeros(self._cap, _STORAGE[column.kind]) for column in schema.columns
        )
        self._dicts: dict[int, _Dictionary] = {
            j: _Dictionary(column.nullable)
            for j, column in enumerate(schema.columns)
            if column.kind == "category"
        }
        # Rows are numbered by absolute append index; row r lives in slot r % max_rows.
        # Live rows are [max(_floor, _written - max_rows), _written). Every counter in stats()
        # is derived from these, so the hot path updates a single attribute.
        self._written = 0
        self._floor = 0
        self._cleared = 0
        self._mutations = 0
        self.append, self.append_row = _compile_appenders(self)

    # ------------------------------------------------------------ properties

    @property
    def schema(self) -> Schema:
        """The table's schema."""
        return self._schema

    @property
    def name(self) -> str:
        """The schema name."""
        return self._schema.name

    @property
    def max_rows(self) -> int:
        """The row bound."""
        return self._cap

    @property
    def max_categories(self) -> int:
        """The bound of each category column's dictionary."""
        return self._max_categories

    @property
    def version(self) -> int:
        """A counter that grows on every append, extend and clear (and never otherwise).

        Views compare it with the value they last drew to skip redraws cheaply.
        """
        return self._written + self._mutations

    def __len__(self) -> int:
        start, end = self._live_range()
        return end - start

    def __repr__(self) -> str:
        return f"RollingTable({self.name!r}, rows={len(self)}/{self._cap}, version={self.version})"

    # ------------------------------------------------------------ writing

    def extend(self, columns: Mapping[str, Sequence[Any] | Array]) -> int:
        """Append many rows given column-wise (lists, tuples or numpy arrays of equal length).

        Nullable columns may be omitted (all null). Numpy inputs are taken by dtype: floats for
        float columns, integers for int columns, integers (ns) or ``datetime64`` for timestamps,
        bools for bool columns, str/object arrays for category columns. Python sequences follow
        the same rules as :meth:`append`. The whole batch is checked before anything is stored:
        on error nothing is appended. If the batch is longer than ``max_rows`` only its newest
        ``max_rows`` rows are kept (the others count as appended and evicted).

        Args:
            columns: column name -> values.

        Returns:
            The number of rows appended (the batch length).

        Raises:
            StateError: unknown or missing columns, unequal lengths, or a value a column
                cannot store.

        Example:
            >>> from polyresearch.state.table import Column, RollingTable, Schema
            >>> t = RollingTable(Schema("x", (Column("side", "category"),
            ...                               Column("size", "float64"))), max_rows=4)
            >>> t.extend({"side": ["bid", "ask", "bid"], "size": [1.0, 2.0, 3.0]})
            3
            >>> t.tail_arrays("side", n=2)[0].tolist()
            ['ask', 'bid']
        """
        schema = self._schema
        unknown = sorted(set(columns) - set(schema.names))
        if unknown:
            raise StateError(f"table {self.name!r} has no columns {unknown}")
        lengths = {name: len(values) for name, values in columns.items()}
        if len(set(lengths.values())) > 1:
            raise StateError(f"table {self.name!r}: columns have different lengths {lengths}")
        missing = [
            column.name
            for column in schema.columns
            if not column.nullable and column.name not in columns
        ]
        if missing:
            raise StateError(f"table {self.name!r}: extend() is missing columns {missing}")
        k = next(iter(lengths.values()), 0)
        if k == 0:
            return 0
        cap = self._cap
        skip = max(0, k - cap)  # the batch's own oldest rows, which could never be stored
        n = k - skip

        # Phase 1: convert and check every column; nothing is changed yet.
        data: list[Array | None] = []
        pending: list[tuple[int, list[Any], Array | None, set[str]]] = []
        for j, column in enumerate(schema.columns):
            given = columns.get(column.name)
            if given is None:
                data.append(_null_array(column, n))
                continue
            part = given[skip:] if skip else given
            if column.kind == "category":
                values, codes, new = self._check_category(j, column, part)
                pending.append((j, values, codes, new))
                data.append(None)
            else:
                data.append(self._convert(column, part, n))

        # Phase 2: dictionaries. This may compact them and evict old rows, and cannot fail.
        w = self._written
        trim = 0  # rows cut off the front of the batch by a dictionary compaction
        for j, values, codes, new in pending:
            d = self._dicts[j]
            if codes is not None:
                # Every value was known in phase 1, and only this column's own compaction
                # could have changed its codes since.
                data[j] = codes[trim:]
                continue
            if len(d.values) + len(new) > self._max_categories:
                trim += self._compact(
                    j, values[trim:], batch_start=w + skip + trim, survivors_from=w + k - cap
                )
            else:
                for value in values:
                    if value not in d.mapping:
                        d.add(value)
            data[j] = np.fromiter(map(d.mapping.__getitem__, values[trim:]), np.int32)

        # Phase 3: write the newest n - trim rows; every array ends at the batch's end.
        m = n - trim
        first = w + k - m
        for j, values_array in enumerate(data):
            assert values_array is not None
            self._put(j, first, values_array[len(values_array) - m :])
        self._written = w + k
        return k

    def clear(self) -> None:
        """Drop every row (counted in ``rows_cleared``) and empty the dictionaries."""
        start, end = self._live_range()
        self._cleared += end - start
        self._floor = self._written
        self._mutations += 1
        for d in self._dicts.values():
            d.replace([], evicted=len(d.values))

    # ------------------------------------------------------------ reading

    def stats(self) -> TableStats:
        """Return a frozen snapshot of the table's counters and memory use.

        Example:
            >>> from polyresearch.state.table import Column, RollingTable, Schema
            >>> t = RollingTable(Schema("x", (Column("v", "int64"),)), max_rows=1)
            >>> t.extend({"v": [1, 2, 3]})
            3
            >>> s = t.stats()
            >>> s.rows, s.rows_appended, s.rows_evicted, s.bytes_used
            (1, 3, 2, 8)
        """
        start, end = self._live_range()
        dictionaries = {
            self._schema.columns[j].name: DictionaryStats(
                size=len(d.values),
                max_size=self._max_categories,
                values_evicted=d.values_evicted,
                compactions=d.compactions,
                rows_evicted=d.rows_evicted,
                bytes=d.nbytes(),
            )
            for j, d in self._dicts.items()
        }
        dict_bytes = sum(s.bytes for s in dictionaries.values())
        row_bytes = self._schema.row_bytes
        return TableStats(
            name=self.name,
            rows=end - start,
            max_rows=self._cap,
            rows_appended=self._written,
            rows_evicted=start - self._cleared,
            rows_cleared=self._cleared,
            version=self.version,
            bytes_used=(end - start) * row_bytes + dict_bytes,
            bytes_reserved=self._cap * row_bytes + dict_bytes,
            dictionaries=MappingProxyType(dictionaries),
        )

    def last(self, n: int) -> TableSlice:
        """Copy out the newest ``n`` rows (all rows if fewer); only those rows are copied.

        Example:
            >>> from polyresearch.state.table import Column, RollingTable, Schema
            >>> t = RollingTable(Schema("x", (Column("v", "int64"),)), max_rows=5)
            >>> t.extend({"v": [1, 2, 3]})
            3
            >>> t.last(2).to_polars()["v"].to_list()
            [2, 3]
        """
        n = _count(n, "n")
        start, end = self._live_range()
        return self._slice(max(start, end - n), end, self._schema.names)

    def since(self, ts_ns: int, *, column: str = "ts_ns") -> TableSlice:
        """Copy out the rows whose ``column`` is at least ``ts_ns`` (nulls excluded).

        A filter, not a binary search, because venue timestamps need not be monotonic across
        assets; only the mask and the selected rows are allocated.

        Args:
            ts_ns: the lower bound, in the column's unit (ns since the epoch for timestamps).
            column: an int64 or timestamp column.

        Raises:
            ConfigError: if ``column`` is missing or not int64/timestamp.

        Example:
            >>> from polyresearch.state.table import Column, RollingTable, Schema
            >>> t = RollingTable(Schema("x", (Column("ts_ns", "timestamp"),)), max_rows=5)
            >>> t.extend({"ts_ns": [10, 30, 20]})
            3
            >>> t.since(20).to_polars()["ts_ns"].dt.epoch("ns").to_list()
            [30, 20]
        """
        spec = self._schema.column(column)
        if spec.kind not in ("int64", "timestamp"):
            raise ConfigError(
                f"since() needs an int64 or timestamp column, {column!r} is {spec.kind}"
            )
        bound: object = ts_ns
        if isinstance(bound, bool) or not isinstance(bound, int | np.integer):
            raise ConfigError(f"ts_ns must be an int, got {ts_ns!r}")
        j = self._schema.names.index(column)
        start, end = self._live_range()
        keys = self._arrays[j]
        masks = [keys[part] >= ts_ns for part in self._parts(start, end)]
        if spec.nullable:
            # NULL_INT is the smallest int64, so it only passes for ts_ns == NULL_INT.
            masks = [
                mask & (keys[part] != NULL_INT)
                for mask, part in zip(masks, self._parts(start, end), strict=True)
            ]
        arrays = {
            name: _concat(
                [
                    self._arrays[i][part][mask]
                    for part, mask in zip(self._parts(start, end), masks, strict=True)
                ],
                self._arrays[i].dtype,
            )
            for i, name in enumerate(self._schema.names)
        }
        return TableSlice(self._schema, arrays, self._values_now(), self.version)

    def to_polars(self, columns: Sequence[str] | None = None) -> pl.DataFrame:
        """Build a polars DataFrame of the live rows, oldest first, in one bulk step.

        Args:
            columns: a subset of columns, in the order wanted (default: all).

        Example:
            >>> from polyresearch.state.table import Column, RollingTable, Schema
            >>> t = RollingTable(Schema("x", (Column("ts_ns", "timestamp"),)), max_rows=5)
            >>> t.append(ts_ns=0)
            >>> t.to_polars().schema["ts_ns"]
            Datetime(time_unit='ns', time_zone='UTC')
        """
        start, end = self._live_range()
        return self._slice(start, end, self._names(columns), one_shot=True).to_polars()

    def to_pandas(self, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """Build a pandas DataFrame of the live rows, oldest first, in one bulk step.

        pandas is imported here, not when the state layer is imported.

        Args:
            columns: a subset of columns, in the order wanted (default: all).

        Example:
            >>> from polyresearch.state.table import Column, RollingTable, Schema
            >>> t = RollingTable(Schema("x", (Column("side", "category"),)), max_rows=5)
            >>> t.extend({"side": ["bid", "ask"]})
            2
            >>> str(t.to_pandas()["side"].dtype)
            'category'
        """
        start, end = self._live_range()
        return self._slice(start, end, self._names(columns), one_shot=True).to_pandas()

    def tail_arrays(self, *columns: str, n: int | None = None) -> tuple[Array, ...]:
        """Copy the newest ``n`` values of each column (all if ``None``) as chart-ready arrays.

        With no columns named, every column is returned, in schema order. All arrays come from
        the same rows, so ``x`` and ``y`` stay aligned. See :meth:`TableSlice.arrays` for the
        dtypes.

        Example:
            >>> from polyresearch.state.table import Column, RollingTable, Schema
            >>> t = RollingTable(Schema("x", (Column("ts_ns", "timestamp"),
            ...                               Column("price", "float64"))), max_rows=5)
            >>> t.extend({"ts_ns": [1, 2, 3], "price": [0.1, 0.2, 0.3]})
            3
            >>> ts, price = t.tail_arrays("ts_ns", "price", n=2)
            >>> ts.dtype, price.tolist()
            (dtype('<M8[ns]'), [0.2, 0.3])
        """
        names = self._names(columns) if columns else self._schema.names
        start, end = self._live_range()
        if n is not None:
            start = max(start, end - _count(n, "n"))
        return self._slice(start, end, names, one_shot=True).arrays(*names)

    # ------------------------------------------------------------ internals

    def _live_range(self) -> tuple[int, int]:
        end = self._written
        start = min(end, max(self._floor, end - self._cap))
        return start, end

    def _parts(self, start: int, end: int) -> list[slice]:
        """The ring slots of absolute rows [start, end), as at most two slices, in order."""
        n = end - start
        if n <= 0:
            return []
        p = start % self._cap
        if p + n <= self._cap:
            return [slice(p, p + n)]
        return [slice(p, self._cap), slice(0, p + n - self._cap)]

    def _take(self, j: int, start: int, end: int) -> Array:
        """A fresh copy of column j for absolute rows [start, end), oldest first."""
        arr = self._arrays[j]
        return _concat([arr[part] for part in self._parts(start, end)], arr.dtype)

    def _put(self, j: int, start: int, values: Array) -> None:
        offset = 0
        for part in self._parts(start, start + len(values)):
            size = part.stop - part.start
            self._arrays[j][part] = values[offset : offset + size]
            offset += size

    def _names(self, columns: Sequence[str] | None) -> tuple[str, ...]:
        if columns is None:
            return self._schema.names
        if isinstance(columns, str):
            columns = (columns,)
        for name in columns:
            self._schema.column(name)  # raises ConfigError naming the table's columns
        return tuple(columns)

    def _values_now(self) -> dict[str, list[str]]:
        return {self._schema.columns[j].name: d.values for j, d in self._dicts.items()}

    def _slice(
        self, start: int, end: int, names: Sequence[str], *, one_shot: bool = False
    ) -> TableSlice:
        index = {name: j for j, name in enumerate(self._schema.names)}
        arrays = {name: self._take(index[name], start, end) for name in names}
        result = TableSlice(self._schema, arrays, self._values_now(), self.version)
        # Used for exactly one frame/arrays call and then dropped: no defensive copies.
        result._one_shot = one_shot
        return result

    def _convert(self, column: Column, values: Sequence[Any] | Array, n: int) -> Array:
        """Turn one non-category input column into its storage dtype, or raise StateError."""
        kind = column.kind
        where = f"table {self.name!r}, column {column.name!r} ({kind})"
        if isinstance(values, np.ndarray) and values.dtype != object:
            return _convert_numpy(values, kind, where)
        items = _as_list(values)
        # Convert first and look for None only if that fails: scanning a list of numbers for
        # None costs two failed comparisons per item, more than the conversion itself.
        if kind == "bool":
            lookup = _BOOL_NULLABLE if column.nullable else _BOOL
            try:
                return np.fromiter(map(lookup.get, items), np.int8, len(items))
            except TypeError:  # lookup gave None: not a bool (or None where not allowed)
                bad = next(item for item in items if lookup.get(item) is None)
                raise StateError(f"{where} cannot store {bad!r}") from None
        code = "d" if kind == "float64" else "q"
        try:
            # array.array converts with the same rules as the memoryviews of append().
            buffer = array(code, items)
        except TypeError:
            if not column.nullable or None not in items:
                raise StateError(
                    f"{where} cannot store these values: {_first_refused(code, items)}"
                ) from None
            null = _NAN if kind == "float64" else NULL_INT
            try:
                buffer = array(code, [null if item is None else item for item in items])
            except (TypeError, ValueError, OverflowError):
                raise StateError(
                    f"{where} cannot store these values: {_first_refused(code, items, null)}"
                ) from None
        except (ValueError, OverflowError):
            raise StateError(
                f"{where} cannot store these values: {_first_refused(code, items)}"
            ) from None
        result = np.frombuffer(buffer, dtype=_STORAGE[kind])
        assert len(result) == n
        return result

    def _check_category(
        self, j: int, column: Column, values: Sequence[Any] | Array
    ) -> tuple[list[Any], Array | None, set[str]]:
        """Return the values as a list, their codes (None if some are new) and the new strings."""
        items = _as_list(values)
        mapping = self._dicts[j].mapping
        try:
            # A new value maps to None, which int32 refuses: the common all-known case costs
            # one lookup and one conversion per value.
            return items, np.fromiter(map(mapping.get, items), np.int32, len(items)), set()
        except TypeError:
            pass
        try:
            codes = list(map(mapping.get, items))
        except TypeError:  # unhashable
            bad = next(item for item in items if not isinstance(item, str | None))
            raise StateError(self._category_error(column, bad)) from None
        new = {item for item, code in zip(items, codes, strict=True) if code is None}
        for item in new:
            if not isinstance(item, str):
                raise StateError(self._category_error(column, item))
        return items, None, cast(set[str], new)

    def _category_error(self, column: Column, value: object) -> str:
        want = "a str or None" if column.nullable else "a str"
        return f"table {self.name!r}, column {column.name!r} (category) needs {want}, got {value!r}"

    def _encode_slow(self, values: tuple[Any, ...]) -> tuple[int, ...]:
        """Slow path of append(): some category value is new (or invalid).

        Args:
            values: the row's category values, in schema order.

        Returns:
            Their codes, adding new values to the dictionaries (compacting them if full).
        """
        out: list[int] = []
        for j, value in zip(self._dicts, values, strict=True):
            column = self._schema.columns[j]
            if not isinstance(value, str | None):
                raise StateError(self._category_error(column, value))
            code = self._dicts[j].mapping.get(value)
            out.append(self._encode_miss(j, value) if code is None else code)
        return tuple(out)

    def _encode_miss(self, j: int, value: object) -> int:
        """A value not in column j's dictionary yet: validate and add it."""
        column = self._schema.columns[j]
        if not isinstance(value, str):
            raise StateError(self._category_error(column, value))
        d = self._dicts[j]
        if len(d.values) < self._max_categories:
            return d.add(value)
        start, _ = self._live_range()
        self._compact(j, [value], batch_start=self._written, survivors_from=start)
        return d.mapping[value]

    def _compact(self, j: int, batch: list[Any], *, batch_start: int, survivors_from: int) -> int:
        """Rebuild column j's dictionary from the values still needed; evict if too many.

        The values needed are those of the live rows from absolute row ``survivors_from`` on
        (rows before it are about to be overwritten by the batch) and of ``batch``, the rows
        about to be written at absolute rows ``batch_start``... (None allowed for nulls). If
        more than ``_target`` distinct values are needed, the oldest rows are evicted (ring
        rows first, then batch rows) until ``_target`` remain.

        Returns:
            How many rows to cut off the front of ``batch``.
        """
        d = self._dicts[j]
        start, end = self._live_range()
        s = min(end, max(start, survivors_from))
        ring = self._take(j, s, end)
        n_ring = len(ring)
        old = d.values
        # Last logical position of each old code (ring rows, then batch rows).
        last = np.full(len(old), -1, dtype=np.int64)
        valid = np.flatnonzero(ring >= 0)
        if len(valid):
            np.maximum.at(last, ring[valid], valid)
        new_last: dict[str, int] = {}  # values not in the dictionary, in first-seen order
        for i, value in enumerate(batch):
            if value is None:
                continue
            code = d.mapping.get(value)
            if code is None:
                new_last[value] = n_ring + i
            else:
                last[code] = n_ring + i
        kept_old = np.flatnonzero(last >= 0)
        cut = 0
        total = len(kept_old) + len(new_last)
        if total > self._target:
            positions = np.concatenate(
                (last[kept_old], np.fromiter(new_last.values(), np.int64, len(new_last)))
            )
            positions[::-1].sort()  # descending
            cut = int(positions[self._target]) + 1  # rows before this position are evicted
            kept_old = kept_old[last[kept_old] >= cut]
            new_last = {value: pos for value, pos in new_last.items() if pos >= cut}
        trim = 0
        if cut:
            if cut <= n_ring:
                self._floor = max(self._floor, s + cut)
            else:
                trim = cut - n_ring
                self._floor = max(self._floor, batch_start + trim)
            d.rows_evicted += cut
            self._mutations += 1
        # Remap the codes of every live row; codes of values that were dropped become null,
        # which only affects rows that are about to be overwritten.
        remap = np.full(len(old) + 1, _NULL_CODE, dtype=np.int32)  # [-1] maps null to null
        remap[kept_old] = np.arange(len(kept_old), dtype=np.int32)
        start, end = self._live_range()
        if end > start:
            self._put(j, start, remap[self._take(j, start, end)])
        d.replace(
            [old[code] for code in kept_old.tolist()] + list(new_last),
            evicted=len(old) - len(kept_old),
        )
        d.compactions += 1
        return trim

    def _append_failed(self, w: int, row: tuple[Any, ...]) -> None:
        """Handle a value a column refused while append() was writing slot ``w % max_rows``."""
        culprit, message = len(row), f"table {self.name!r} cannot store row {row!r}"
        for j, (column, value) in enumerate(zip(self._schema.columns, row, strict=True)):
            if column.kind == "category":
                continue  # validated before anything was written
            try:
                self._convert(column, [value], 1)
            except StateError:
                culprit = j
                message = (
                    f"table {self.name!r}, column {column.name!r} ({column.kind}"
                    f"{', nullable' if column.nullable else ''}) cannot store {value!r}"
                )
                break
        # Columns are written in schema order, so those before the culprit were written. If
        # the slot held the oldest live row (table full), that row is now mixed: evict it
        # rather than leave it corrupt.
        start, _ = self._live_range()
        if culprit > 0 and w - self._cap >= start:
            self._floor = w - self._cap + 1
            self._mutations += 1
        raise StateError(message)

    def _bad_row(self, row: object) -> None:
        size = len(row) if isinstance(row, Sequence) else type(row).__name__
        raise StateError(
            f"table {self.name!r}: append_row() needs a sequence of {len(self._schema.columns)} "
            f"values {self._schema.names}, got {size}"
        )


# ---------------------------------------------------------------- slices and conversion


class TableSlice:
    """Rows copied out of a :class:`RollingTable` at one moment (oldest first).

    Unaffected by later appends, and every frame or array it returns is a copy of its own (so
    changing one never changes another). Returned by :meth:`RollingTable.last` and
    :meth:`RollingTable.since`; the table's ``to_polars``/``to_pandas``/``tail_arrays`` go
    through a slice too, without the extra copy.

    Example:
        >>> from polyresearch.state.table import Column, RollingTable, Schema
        >>> t = RollingTable(Schema("x", (Column("v", "float64"),)), max_rows=5)
        >>> t.extend({"v": [1.0, 2.0, 3.0]})
        3
        >>> s = t.last(2)
        >>> t.append(v=4.0)
        >>> len(s), s.arrays("v")[0].tolist(), s.version
        (2, [2.0, 3.0], 3)
    """

    __slots__ = ("_arrays", "_one_shot", "_schema", "_values", "_version")

    def __init__(
        self,
        schema: Schema,
        arrays: Mapping[str, Array],
        values: Mapping[str, list[str]],
        version: int,
    ) -> None:
        self._schema = schema
        self._arrays = dict(arrays)
        # The table replaces a dictionary's list on compaction and only appends to it
        # otherwise, so the codes copied here stay valid against the list kept here.
        self._values = dict(values)
        self._version = version
        # polars, pandas and arrays() may use the arrays without copying, so each result
        # gets its own copy, except from the table's internal slices, which are used once.
        self._one_shot = False

    @property
    def schema(self) -> Schema:
        """The schema of the table the rows came from."""
        return self._schema

    @property
    def version(self) -> int:
        """The table's version when the rows were copied."""
        return self._version

    @property
    def columns(self) -> tuple[str, ...]:
        """The columns copied, in order."""
        return tuple(self._arrays)

    def __len__(self) -> int:
        return len(next(iter(self._arrays.values()))) if self._arrays else 0

    def __repr__(self) -> str:
        return f"TableSlice({self._schema.name!r}, rows={len(self)}, version={self._version})"

    def arrays(self, *columns: str) -> tuple[Array, ...]:
        """Chart-ready numpy arrays of the given columns (all if none given).

        =============  ==================================================================
        kind           array
        =============  ==================================================================
        float64        float64 (NaN for null)
        int64          int64; float64 with NaN if the column is nullable
        timestamp      ``datetime64[ns]`` (UTC, naive; NaT for null; ``.view("int64")``
                       gives the ns)
        bool           bool; float64 1.0/0.0/NaN if the column is nullable
        category       object array of str (None for null)
        =============  ==================================================================

        Raises:
            ConfigError: for a column that is not in the slice.
        """
        names = columns or self.columns
        for name in names:
            self._column(name)
            self._raw(name)  # ConfigError before anything is handed out
        arrays = self._hand_out()
        return tuple(_chart_array(self._column(name), arrays[name], self._values) for name in names)

    def to_polars(self) -> pl.DataFrame:
        """Build a polars DataFrame (dtypes in the module docstring) in one bulk step."""
        import polars as pl

        return pl.DataFrame(
            [
                _polars_series(self._column(name), raw, self._values)
                for name, raw in self._hand_out().items()
            ]
        )

    def to_pandas(self) -> pd.DataFrame:
        """Build a pandas DataFrame (dtypes in the module docstring) in one bulk step."""
        import pandas as pd

        return pd.DataFrame(
            {
                name: _pandas_array(self._column(name), raw, self._values)
                for name, raw in self._hand_out().items()
            },
            copy=False,  # the arrays are copies made for this frame
        )

    def _hand_out(self) -> dict[str, Array]:
        if self._one_shot:
            return self._arrays
        return {name: raw.copy() for name, raw in self._arrays.items()}

    def _column(self, name: str) -> Column:
        return self._schema.column(name)

    def _raw(self, name: str) -> Array:
        try:
            return self._arrays[name]
        except KeyError:
            raise ConfigError(f"column {name!r} is not in this slice {self.columns}") from None


def _count(value: object, name: str) -> int:
    """Validate a row count argument: a non-negative int, or a ConfigError naming it."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{name} must be a non-negative int, got {value!r}")
    return value


def _as_list(values: Sequence[Any] | Array) -> list[Any]:
    if isinstance(values, list):
        return values
    return values.tolist() if isinstance(values, np.ndarray) else list(values)


def _first_refused(code: str, items: list[Any], null: float | None = None) -> str:
    """Name the first item array(code) refuses (slow path of error messages)."""
    for item in items:
        try:
            array(code, [null if item is None and null is not None else item])
        except (TypeError, ValueError, OverflowError) as exc:
            return f"{item!r} ({exc})"
    return "?"  # pragma: no cover - only called after a refusal


def _concat(parts: list[Array], dtype: np.dtype[Any]) -> Array:
    if not parts:
        return np.empty(0, dtype=dtype)
    if len(parts) == 1:
        return parts[0].copy()
    return np.concatenate(parts)


def _null_array(column: Column, n: int) -> Array:
    null: float | int
    if column.kind == "float64":
        null = _NAN
    elif column.kind == "bool":
        null = _NULL_BOOL
    elif column.kind == "category":
        null = _NULL_CODE
    else:
        null = NULL_INT
    return np.full(n, null, dtype=_STORAGE[column.kind])


def _convert_numpy(values: Array, kind: str, where: str) -> Array:
    """Convert a typed numpy input column to the storage dtype, or raise StateError."""
    char = values.dtype.kind
    if kind == "float64" and char in "fiub":
        return values.astype(np.float64, copy=False)
    if kind == "int64" and char in "iub":
        if char == "u" and len(values) and values.max() > np.iinfo(np.int64).max:
            raise StateError(f"{where}: values exceed int64")
        return values.astype(np.int64, copy=False)
    if kind == "timestamp" and char == "M":
        return values.astype("datetime64[ns]").view(np.int64)
    if kind == "timestamp" and char in "iu":
        return values.astype(np.int64, copy=False)
    if kind == "bool" and char == "b":
        return values.astype(np.int8)
    raise StateError(f"{where} cannot take a numpy array of dtype {values.dtype}")


def _categories(raw: Array, values: list[str]) -> tuple[Array, list[str]]:
    """Re-code ``raw`` against only the values it uses (first-seen order kept)."""
    used = np.zeros(len(values) + 1, dtype=bool)  # the extra slot absorbs null codes (-1)
    used[raw] = True
    keep = np.flatnonzero(used[:-1])
    if len(keep) == len(values):
        return raw, values
    remap = np.full(len(values) + 1, _NULL_CODE, dtype=np.int32)
    remap[keep] = np.arange(len(keep), dtype=np.int32)
    return remap[raw], [values[i] for i in keep.tolist()]


def _chart_array(column: Column, raw: Array, values: Mapping[str, list[str]]) -> Array:
    kind = column.kind
    if kind == "float64":
        return raw
    if kind == "timestamp":
        return raw.view("datetime64[ns]")
    if kind == "int64":
        if not column.nullable:
            return raw
        out = raw.astype(np.float64)
        out[raw == NULL_INT] = _NAN
        return out
    if kind == "bool":
        if not column.nullable:
            return raw > 0
        out = raw.astype(np.float64)
        out[raw < 0] = _NAN
        return out
    lookup = np.empty(len(values[column.name]) + 1, dtype=object)  # [-1] stays None
    lookup[:-1] = values[column.name]
    return lookup[raw]


def _polars_series(column: Column, raw: Array, values: Mapping[str, list[str]]) -> pl.Series:
    # polars only, no pyarrow: pyarrow's pa.array() imports pandas on first use (its pandas
    # shim), which made the first to_polars() of a session stall the kernel's loop for seconds.
    import polars as pl

    name, kind = column.name, column.kind
    if kind == "float64":
        return pl.Series(name, raw, nan_to_null=column.nullable)
    if kind == "timestamp":
        # NaT (= NULL_INT) becomes null on the way in.
        return pl.Series(name, raw.view("datetime64[ns]")).dt.replace_time_zone("UTC")
    if kind == "category":
        codes, categories = _categories(raw, values[name])
        return pl.Series(name, categories, dtype=pl.Categorical).gather(
            _with_nulls(codes, codes < 0)
        )
    if kind == "int64":
        nulls = raw == NULL_INT
        plain = raw
    else:
        nulls = raw < 0
        plain = raw > 0
    if not column.nullable:
        return pl.Series(name, plain)
    return _with_nulls(plain, nulls).alias(name)


def _with_nulls(values: Array, nulls: npt.NDArray[np.bool_]) -> pl.Series:
    """A polars Series of ``values`` with nulls where ``nulls`` is set."""
    import polars as pl

    series = pl.Series(values)
    where = np.flatnonzero(nulls)
    return series.scatter(where, None) if len(where) else series


def _pandas_array(column: Column, raw: Array, values: Mapping[str, list[str]]) -> Any:
    import pandas as pd

    kind = column.kind
    if kind == "float64":
        return raw
    if kind == "timestamp":
        return pd.DatetimeIndex(raw.view("datetime64[ns]")).tz_localize("UTC").array
    if kind == "category":
        codes, categories = _categories(raw, values[column.name])
        return pd.Categorical.from_codes(codes, categories=categories)
    if kind == "int64":
        return pd.arrays.IntegerArray(raw, raw == NULL_INT) if column.nullable else raw
    if column.nullable:
        return pd.arrays.BooleanArray(raw > 0, raw < 0)
    return raw > 0


# ---------------------------------------------------------------- generated appenders


def _compile_appenders(
    table: RollingTable,
) -> tuple[Callable[..., None], Callable[[Sequence[Any]], None]]:
    """Generate ``append(**row)`` and ``append_row(row)`` for the table's schema.

    One unrolled statement per column, with every array, dictionary and constant bound as a
    closure variable of a generated factory: no loop over columns and no attribute lookups
    besides the write counter. Writes go through memoryviews of the numpy columns, which set an
    item about twice as fast as numpy indexing and refuse wrong types (None, or str in numeric
    columns) with TypeError/ValueError. The source is built only from column names, which
    :class:`Column` validated as identifiers not starting with ``_``; the generated code's own
    names all start with ``_``, so a column cannot shadow them.
    """
    columns = table.schema.columns
    names = [column.name for column in columns]
    env: dict[str, Any] = {
        "_t": table,
        "_cap": table.max_rows,
        "_NULL_INT": NULL_INT,
        "_NAN": _NAN,
        "_encode": table._encode_slow,
        "_failed": table._append_failed,
        "_bad_row": table._bad_row,
        "_BOOL": dict(_BOOL),
        "_BOOL_N": dict(_BOOL_NULLABLE),
        "_Refused": (TypeError, ValueError, OverflowError, KeyError),
        "_Unpack": (TypeError, ValueError),
        "_Missed": (KeyError, TypeError),
    }
    lookups: list[str] = []
    codes: list[str] = []
    category_values: list[str] = []
    writes: list[str] = []
    for j, column in enumerate(columns):
        name = column.name
        env[f"_v{j}"] = table._arrays[j].data  # a memoryview of the column
        if column.kind == "category":
            env[f"_m{j}"] = table._dicts[j].mapping
            # A subscript, not .get(): CPython specializes dict subscripts, and a miss (a new
            # value, or None where not allowed) is rare enough to pay for an exception.
            lookups.append(f"            _k{j} = _m{j}[{name}]")
            codes.append(f"_k{j}")
            category_values.append(name)
            value = f"_k{j}"
        elif column.kind == "bool":
            # KeyError for anything but True/False/1/0 (and None where nullable).
            value = f"{'_BOOL_N' if column.nullable else '_BOOL'}[{name}]"
        elif column.nullable:
            null = "_NAN" if column.kind == "float64" else "_NULL_INT"
            value = f"{null} if {name} is None else {name}"
        else:
            value = name
        writes.append(f"            _v{j}[_i] = {value}")
    row = f"({', '.join(names)},)"
    # Category codes are looked up (and new values validated and added) before anything is
    # written, so a bad category value never leaves a half-written slot.
    encode = (
        [
            "        try:",
            *lookups,
            "        except _Missed:",
            f"            {', '.join(codes)}, = _encode(({', '.join(category_values)},))",
        ]
        if lookups
        else []
    )
    body = [
        *encode,
        "        _w = _t._written",
        "        _i = _w % _cap",
        "        try:",
        *writes,
        "        except _Refused:",
        f"            _failed(_w, {row})",
        "        _t._written = _w + 1",
    ]
    params = ", ".join(f"{c.name}=None" if c.nullable else c.name for c in columns)
    source = "\n".join(
        [
            f"def _factory({', '.join(env)}):",
            f"    def append(*, {params}):",
            *body,
            "    def append_row(_row):",
            "        try:",
            f"            {', '.join(names)}, = _row",
            "        except _Unpack:",
            "            _bad_row(_row)",
            *body,
            "    return append, append_row",
        ]
    )
    namespace: dict[str, Any] = {"__builtins__": {}}
    exec(compile(source, f"<RollingTable {table.name!r} appenders>", "exec"), namespace)  # noqa: S102
    append, append_row = namespace["_factory"](**env)
    append.__qualname__ = "RollingTable.append"
    append_row.__qualname__ = "RollingTable.append_row"
    append.__doc__ = (
        f"Append one row to {table.name!r}: one keyword per column "
        f"({', '.join(names)}); nullable columns may be omitted."
    )
    append_row.__doc__ = (
        f"Append one row to {table.name!r} given as a sequence ({', '.join(names)})."
    )
    return cast(Callable[..., None], append), cast(Callable[[Sequence[Any]], None], append_row)
