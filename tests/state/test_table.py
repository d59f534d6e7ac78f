"""RollingTable: ring order, eviction and dictionary bounds, nulls, version, frames, slices."""

from __future__ import annotations

import doctest
import itertools
import math
import tracemalloc
from collections import deque
from typing import Any

import numpy as np
import pandas as pd  # type: ignore[import-untyped]
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

import polyresearch.state.table as table_module
from polyresearch.errors import ConfigError, StateError
from polyresearch.state.table import NULL_INT, Column, RollingTable, Schema, TableStats
from tests._subprocess import run_python

T0 = 1_700_000_000_000_000_000  # a realistic ns timestamp

# Every kind once, nullable where it matters for the null tests.
MIXED = Schema(
    "mixed",
    (
        Column("ts_ns", "timestamp", nullable=True),
        Column("asset_id", "category", nullable=True),
        Column("price", "float64", nullable=True),
        Column("n", "int64", nullable=True),
        Column("flag", "bool", nullable=True),
    ),
)
STRICT = Schema(
    "strict",
    (
        Column("ts_ns", "timestamp"),
        Column("side", "category"),
        Column("price", "float64"),
        Column("n", "int64"),
        Column("flag", "bool"),
    ),
)
SEQ = Schema("seq", (Column("seq", "int64"),))
IDS = Schema("ids", (Column("seq", "int64"), Column("id", "category", nullable=True)))


def seqs(table: RollingTable) -> list[int]:
    (values,) = table.tail_arrays("seq")
    return [int(v) for v in values]


def strict_row(i: int) -> tuple[Any, ...]:
    return (T0 + i, "bid" if i % 2 else "ask", i / 100, i, i % 3 == 0)


# ---------------------------------------------------------------- ring and eviction


def test_ring_wraps_and_returns_oldest_first() -> None:
    """After wrapping, rows come back oldest first across the ring's seam."""
    table = RollingTable(SEQ, max_rows=4)
    for i in range(10):
        table.append(seq=i)
    assert seqs(table) == [6, 7, 8, 9]
    assert table.to_polars()["seq"].to_list() == [6, 7, 8, 9]
    assert table.to_pandas()["seq"].tolist() == [6, 7, 8, 9]


def test_evictions_are_counted() -> None:
    """rows_appended, rows_evicted and rows agree with what was appended."""
    table = RollingTable(SEQ, max_rows=3)
    for i in range(7):
        table.append(seq=i)
    stats = table.stats()
    assert (stats.rows, stats.rows_appended, stats.rows_evicted) == (3, 7, 4)
    assert len(table) == 3


def test_extend_longer_than_max_rows_keeps_the_newest() -> None:
    """A batch over max_rows keeps its newest rows; the rest count as appended and evicted."""
    table = RollingTable(SEQ, max_rows=4)
    table.append(seq=-1)
    assert table.extend({"seq": list(range(10))}) == 10
    assert seqs(table) == [6, 7, 8, 9]
    stats = table.stats()
    assert (stats.rows_appended, stats.rows_evicted) == (11, 7)


def test_extend_across_the_seam_keeps_order() -> None:
    """Batches that straddle the ring's end are written in two parts, in order."""
    table = RollingTable(SEQ, max_rows=5)
    table.extend({"seq": [0, 1, 2]})
    table.extend({"seq": [3, 4, 5, 6]})
    assert seqs(table) == [2, 3, 4, 5, 6]
    table.append_row((7,))
    assert seqs(table) == [3, 4, 5, 6, 7]


def test_clear_drops_rows_and_dictionaries() -> None:
    """clear() empties the table, counts rows_cleared and empties dictionaries."""
    table = RollingTable(IDS, max_rows=5)
    table.extend({"seq": [1, 2, 3], "id": ["a", "b", None]})
    table.clear()
    stats = table.stats()
    assert (len(table), stats.rows_cleared, stats.rows_evicted) == (0, 3, 0)
    assert stats.dictionaries["id"].size == 0
    assert stats.dictionaries["id"].values_evicted == 2
    table.append(seq=4, id="c")
    assert table.to_polars()["id"].to_list() == ["c"]


# ---------------------------------------------------------------- dictionaries


def test_dictionary_round_trip() -> None:
    """Strings come back unchanged through every output, nulls included."""
    long_id = "7" * 77
    values = [long_id, "bid", None, "ask", long_id, "bid"]
    table = RollingTable(IDS, max_rows=10)
    for i, value in enumerate(values[:3]):
        table.append(seq=i, id=value)
    table.extend({"seq": [3, 4, 5], "id": values[3:]})
    assert table.to_polars()["id"].to_list() == values
    assert table.to_pandas()["id"].tolist() == [v if v is not None else np.nan for v in values]
    assert table.tail_arrays("id")[0].tolist() == values
    assert table.stats().dictionaries["id"].size == 3


def test_dictionary_compaction_drops_values_of_evicted_rows() -> None:
    """A full dictionary is rebuilt from live rows; values only old rows used are counted out."""
    table = RollingTable(IDS, max_rows=2, max_categories=4)
    for i, value in enumerate(["a", "b", "c", "d"]):
        table.append(seq=i, id=value)
    # Dictionary full: the live rows (c, d; c is overwritten only after the lookup) and the
    # new e are kept, a and b are dropped.
    table.append(seq=4, id="e")
    stats = table.stats().dictionaries["id"]
    assert (stats.size, stats.values_evicted, stats.compactions, stats.rows_evicted) == (
        3,
        2,
        1,
        0,
    )
    assert table.to_polars()["id"].to_list() == ["d", "e"]


def test_dictionary_pressure_evicts_oldest_rows() -> None:
    """More distinct live values than the bound allows evicts the oldest rows, counted."""
    table = RollingTable(IDS, max_rows=100, max_categories=4)  # compacts down to 3 values
    for i in range(5):
        table.append(seq=i, id=f"id{i}")
    assert seqs(table) == [2, 3, 4]
    stats = table.stats()
    assert stats.dictionaries["id"].rows_evicted == 2
    assert stats.rows_evicted == 2
    assert stats.dictionaries["id"].size == 3
    assert table.to_polars()["id"].to_list() == ["id2", "id3", "id4"]


def test_extend_with_too_many_distinct_values_trims_the_batch() -> None:
    """A batch alone over the bound keeps its newest rows with at most 3/4 of it distinct."""
    table = RollingTable(IDS, max_rows=100, max_categories=4)
    table.extend({"seq": [100, 101], "id": ["old", None]})
    table.extend({"seq": list(range(8)), "id": ["a", "b", "c", "d", "e", "f", "f", None]})
    assert seqs(table) == [3, 4, 5, 6, 7]
    assert table.tail_arrays("id")[0].tolist() == ["d", "e", "f", "f", None]
    stats = table.stats()
    assert stats.rows_evicted == 2 + 3
    assert stats.dictionaries["id"].size == 3


def test_dictionary_never_exceeds_its_bound() -> None:
    """Under a stream of new ids the dictionary stays within max_categories."""
    table = RollingTable(IDS, max_rows=50, max_categories=16)
    for i in range(2_000):
        table.append(seq=i, id=f"order-{i % 37}" if i % 5 else f"unique-{i}")
        assert table.stats().dictionaries["id"].size <= 16
    assert table.stats().dictionaries["id"].compactions > 0


def test_compaction_keeps_codes_of_live_rows_consistent() -> None:
    """Rows written before a compaction still decode to their own values after it."""
    table = RollingTable(IDS, max_rows=6, max_categories=8)
    expected: deque[tuple[int, str]] = deque(maxlen=6)
    for i in range(200):
        value = f"v{(i * 7) % 11}"
        table.append(seq=i, id=value)
        expected.append((i, value))
        got = list(zip(seqs(table), table.tail_arrays("id")[0].tolist(), strict=True))
        assert got == list(expected)[-len(got) :]


# ---------------------------------------------------------------- nulls and validation


def test_nullable_values_in_every_output() -> None:
    """None is stored as each kind's null and comes back as null/NaN/NaT/NA."""
    table = RollingTable(MIXED, max_rows=5)
    table.append(ts_ns=T0, asset_id="A", price=0.5, n=7, flag=True)
    table.append()  # every column nullable: all omitted
    table.append_row((None, None, None, None, None))
    frame = table.to_polars()
    assert frame.null_count().row(0) == (2, 2, 2, 2, 2)
    assert frame.row(0) == (frame["ts_ns"][0], "A", 0.5, 7, True)
    pdf = table.to_pandas()
    assert pdf.isna().sum().tolist() == [2, 2, 2, 2, 2]
    ts, asset, price, n, flag = table.tail_arrays()
    assert np.isnat(ts[1:]).all()
    assert asset.tolist() == ["A", None, None]
    assert math.isnan(price[2])
    assert n.dtype == np.float64 and math.isnan(n[1])
    assert flag.tolist()[0] == 1.0 and math.isnan(flag[1])


def test_null_sentinels_are_documented_values() -> None:
    """NULL_INT in an int column and NaN in a float column read back as null (documented)."""
    table = RollingTable(MIXED, max_rows=5)
    table.append(n=NULL_INT, price=math.nan)
    assert table.to_polars().select("n", "price").row(0) == (None, None)


@pytest.mark.parametrize(
    ("column", "bad"),
    [
        ("ts_ns", None),
        ("ts_ns", 1.5),
        ("side", None),
        ("side", 5),
        ("side", ["unhashable"]),
        ("price", None),
        ("price", "0.5"),
        ("n", 2**63),
        ("flag", None),
        ("flag", "yes"),
    ],
)
def test_bad_values_are_refused_and_nothing_is_appended(column: str, bad: object) -> None:
    """A value the column cannot store raises StateError naming it; the table is unchanged."""
    table = RollingTable(STRICT, max_rows=5)
    table.append_row(strict_row(1))
    before = (table.version, len(table), table.to_polars())
    row = dict(zip(STRICT.names, strict_row(2), strict=True))
    row[column] = bad
    where = f"column '{column}'"
    with pytest.raises(StateError, match=where):
        table.append(**row)
    with pytest.raises(StateError, match=where):
        table.append_row(tuple(row.values()))
    with pytest.raises(StateError, match=where):
        table.extend({name: [value] for name, value in row.items()})
    assert (table.version, len(table)) == before[:2]
    assert_frame_equal(table.to_polars(), before[2])


def test_failed_append_on_a_full_table_evicts_the_half_written_row() -> None:
    """A write that fails midway drops the oldest row it overwrote instead of corrupting it."""
    table = RollingTable(STRICT, max_rows=3)
    for i in range(3):
        table.append_row(strict_row(i))
    version = table.version
    with pytest.raises(StateError, match="price"):
        table.append_row((T0 + 9, "bid", "bad", 9, True))  # ts_ns and side written first
    assert table.tail_arrays("n")[0].tolist() == [1, 2]
    assert table.stats().rows_evicted == 1
    assert table.version > version
    assert table.to_polars().row(0)[1:] == ("bid", 0.01, 1, False)  # row 1, intact


def test_refused_first_column_on_a_full_table_evicts_nothing() -> None:
    """If nothing was written before the refused value, the oldest row survives."""
    table = RollingTable(STRICT, max_rows=2)
    table.append_row(strict_row(0))
    table.append_row(strict_row(1))
    with pytest.raises(StateError, match="ts_ns"):
        table.append_row((None, "bid", 0.5, 1, True))
    assert table.tail_arrays("n")[0].tolist() == [0, 1]
    assert (table.stats().rows_evicted, table.version) == (0, 2)


def test_append_accepts_numeric_lookalikes() -> None:
    """ints in float columns, numpy scalars and numpy bools are stored as their values."""
    table = RollingTable(STRICT, max_rows=3)
    table.append(ts_ns=np.int64(T0), side="bid", price=1, n=np.int32(5), flag=np.True_)
    assert table.to_polars().row(0)[1:] == ("bid", 1.0, 5, True)


def test_append_row_needs_one_value_per_column() -> None:
    """append_row with the wrong number of values raises StateError listing the columns."""
    table = RollingTable(SEQ, max_rows=3)
    with pytest.raises(StateError, match=r"1 values \('seq',\)"):
        table.append_row((1, 2))
    with pytest.raises(StateError):
        table.append_row(7)  # type: ignore[arg-type]
    assert len(table) == 0


def test_append_rejects_unknown_and_missing_keywords() -> None:
    """append(**row) has the schema's exact signature: unknown or missing keywords fail."""
    table = RollingTable(STRICT, max_rows=3)
    row = dict(zip(STRICT.names, strict_row(1), strict=True))
    with pytest.raises(TypeError):
        table.append(**row, extra=1)
    del row["side"]
    with pytest.raises(TypeError):
        table.append(**row)
    assert len(table) == 0


def test_extend_checks_its_columns() -> None:
    """extend() refuses unknown/missing columns and unequal lengths before storing anything."""
    table = RollingTable(STRICT, max_rows=3)
    good = {name: [value] for name, value in zip(STRICT.names, strict_row(1), strict=True)}
    with pytest.raises(StateError, match="no columns"):
        table.extend({**good, "nope": [1]})
    with pytest.raises(StateError, match="missing"):
        table.extend({k: v for k, v in good.items() if k != "price"})
    with pytest.raises(StateError, match="different lengths"):
        table.extend({**good, "n": [1, 2]})
    with pytest.raises(StateError, match="dtype"):
        table.extend({**good, "n": np.array([1.5])})
    assert table.extend({name: [] for name in STRICT.names}) == 0
    assert (len(table), table.version) == (0, 0)


def test_extend_takes_numpy_columns() -> None:
    """Typed numpy inputs: datetime64, unsigned ints, bools and str arrays are converted."""
    table = RollingTable(STRICT, max_rows=5)
    table.extend(
        {
            "ts_ns": np.array([T0, T0 + 1], dtype="datetime64[ns]"),
            "side": np.array(["bid", "ask"]),
            "price": np.array([1, 2], dtype=np.uint8),
            "n": np.array([3, 4], dtype=np.uint32),
            "flag": np.array([True, False]),
        }
    )
    ts, side, price, n, flag = table.tail_arrays()
    assert ts.view(np.int64).tolist() == [T0, T0 + 1]
    assert (side.tolist(), price.tolist(), n.tolist(), flag.tolist()) == (
        ["bid", "ask"],
        [1.0, 2.0],
        [3, 4],
        [True, False],
    )


def test_columns_may_shadow_builtins() -> None:
    """Column names like 'count' or 'TypeError' do not break the generated appenders."""
    schema = Schema("odd", (Column("TypeError", "int64"), Column("count", "float64")))
    table = RollingTable(schema, max_rows=2)
    table.append(TypeError=1, count=2.0)
    with pytest.raises(StateError, match="count"):
        table.append(TypeError=1, count=None)
    assert table.to_polars().row(0) == (1, 2.0)


@pytest.mark.parametrize("bad", [0, -1, True, 1.5, "10", None])
def test_limits_are_validated(bad: object) -> None:
    """max_rows and max_categories must be positive ints (ConfigError)."""
    with pytest.raises(ConfigError, match="max_rows"):
        RollingTable(SEQ, max_rows=bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="max_categories"):
        RollingTable(SEQ, max_rows=1, max_categories=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["_x", "class", "1a", "a-b", ""])
def test_column_names_must_be_plain_identifiers(name: str) -> None:
    """Column names become keywords of generated code, so odd names are refused."""
    with pytest.raises(ConfigError):
        Column(name, "int64")


def test_schema_is_validated() -> None:
    """Unknown kinds, duplicate or missing columns and non-Schema arguments are refused."""
    with pytest.raises(ConfigError, match="kind"):
        Column("x", "decimal")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="duplicate"):
        Schema("s", (Column("x", "int64"), Column("x", "bool")))
    with pytest.raises(ConfigError, match="non-empty"):
        Schema("s", ())
    with pytest.raises(ConfigError, match="Schema"):
        RollingTable("trades", max_rows=1)  # type: ignore[arg-type]


# ---------------------------------------------------------------- version and stats


def test_version_grows_on_every_change_and_only_then() -> None:
    """append, extend and clear bump the version; reads and refused appends do not."""
    table = RollingTable(SEQ, max_rows=2)
    seen = [table.version]
    table.append(seq=1)
    seen.append(table.version)
    table.extend({"seq": [2, 3, 4]})
    seen.append(table.version)
    table.to_polars()
    table.stats()
    table.last(1)
    seen.append(table.version)
    with pytest.raises(StateError):
        table.append(seq=None)
    seen.append(table.version)
    table.clear()
    seen.append(table.version)
    table.append_row((5,))
    seen.append(table.version)
    assert seen == sorted(seen)
    assert [b > a for a, b in itertools.pairwise(seen)] == [
        True,
        True,
        False,
        False,
        True,
        True,
    ]


def test_stats_is_a_frozen_snapshot() -> None:
    """stats() reports rows, bounds and bytes, and later appends do not change it."""
    table = RollingTable(STRICT, max_rows=10, max_categories=100)
    for i in range(4):
        table.append_row(strict_row(i))
    stats = table.stats()
    table.append_row(strict_row(4))
    assert isinstance(stats, TableStats)
    assert (stats.name, stats.rows, stats.max_rows, stats.version) == ("strict", 4, 10, 4)
    assert stats.dictionaries["side"].size == 2
    assert stats.dictionaries["side"].max_size == 100
    dict_bytes = stats.dictionaries["side"].bytes
    assert stats.bytes_used == 4 * STRICT.row_bytes + dict_bytes
    assert stats.bytes_reserved == 10 * STRICT.row_bytes + dict_bytes
    assert stats.bytes_per_row == stats.bytes_used / 4
    with pytest.raises(AttributeError):
        stats.rows = 0  # type: ignore[misc]
    with pytest.raises(TypeError):
        stats.dictionaries["x"] = stats.dictionaries["side"]  # type: ignore[index]


def test_row_width_of_every_kind() -> None:
    """The ring stores 8+4+8+8+1 bytes per STRICT row (timestamp, code, float, int, bool)."""
    assert STRICT.row_bytes == 29


# ---------------------------------------------------------------- frames


def _frame_rows(n: int) -> dict[str, list[Any]]:
    return {
        "ts_ns": [T0 + i if i % 4 else None for i in range(n)],
        "asset_id": [None if i % 5 == 0 else f"asset-{i % 3}" for i in range(n)],
        "price": [None if i % 6 == 0 else i / 7 for i in range(n)],
        "n": [None if i % 7 == 0 else i * 1_000_003 for i in range(n)],
        "flag": [None if i % 3 == 0 else i % 2 == 0 for i in range(n)],
    }


def test_to_polars_matches_a_frame_built_from_lists() -> None:
    """to_polars() equals the polars frame built from the same Python lists, dtypes included."""
    rows = _frame_rows(23)
    table = RollingTable(MIXED, max_rows=16)
    table.extend({k: v[:5] for k, v in rows.items()})
    for i in range(5, 23):
        table.append(**{k: v[i] for k, v in rows.items()})
    kept = {k: v[-16:] for k, v in rows.items()}
    expected = pl.DataFrame(
        {
            "ts_ns": pl.Series(kept["ts_ns"], dtype=pl.Int64).cast(pl.Datetime("ns", "UTC")),
            "asset_id": pl.Series(kept["asset_id"], dtype=pl.Categorical),
            "price": pl.Series(kept["price"], dtype=pl.Float64),
            "n": pl.Series(kept["n"], dtype=pl.Int64),
            "flag": pl.Series(kept["flag"], dtype=pl.Boolean),
        }
    )
    actual = table.to_polars()
    assert actual.schema == expected.schema
    assert_frame_equal(actual, expected, check_exact=True, categorical_as_str=True)


def test_to_pandas_matches_a_frame_built_from_lists() -> None:
    """to_pandas() equals the pandas frame built from the same lists, dtypes included."""
    rows = _frame_rows(12)
    table = RollingTable(MIXED, max_rows=20)
    table.extend(rows)
    present = [v for v in dict.fromkeys(rows["asset_id"]) if v is not None]
    expected = pd.DataFrame(
        {
            "ts_ns": pd.to_datetime(
                pd.array(rows["ts_ns"], dtype="Int64"), unit="ns", utc=True
            ).as_unit("ns"),
            "asset_id": pd.Categorical(rows["asset_id"], categories=present),
            "price": np.array([np.nan if v is None else v for v in rows["price"]]),
            "n": pd.array(rows["n"], dtype="Int64"),
            "flag": pd.array(rows["flag"], dtype="boolean"),
        }
    )
    pd.testing.assert_frame_equal(table.to_pandas(), expected)


def test_non_nullable_columns_get_plain_dtypes() -> None:
    """Non-nullable int/bool columns become plain int64/bool in pandas and polars."""
    table = RollingTable(STRICT, max_rows=4)
    table.extend({name: [v] for name, v in zip(STRICT.names, strict_row(3), strict=True)})
    assert [str(d) for d in table.to_pandas().dtypes] == [
        "datetime64[ns, UTC]",
        "category",
        "float64",
        "int64",
        "bool",
    ]
    assert table.to_polars().schema == pl.Schema(
        {
            "ts_ns": pl.Datetime("ns", "UTC"),
            "side": pl.Categorical(),
            "price": pl.Float64(),
            "n": pl.Int64(),
            "flag": pl.Boolean(),
        }
    )


def test_empty_frames_keep_the_schema_dtypes() -> None:
    """An empty table still yields frames with every column and its dtype."""
    table = RollingTable(MIXED, max_rows=4)
    assert table.to_polars().schema == pl.Schema(
        {
            "ts_ns": pl.Datetime("ns", "UTC"),
            "asset_id": pl.Categorical(),
            "price": pl.Float64(),
            "n": pl.Int64(),
            "flag": pl.Boolean(),
        }
    )
    assert table.to_pandas().shape == (0, 5)


def test_pandas_categories_are_the_values_present() -> None:
    """pandas categories list only values in the rows returned, in first-seen order."""
    table = RollingTable(IDS, max_rows=2)
    for i, value in enumerate(["a", "b", "c", "a"]):  # the dictionary holds a, b, c
        table.append(seq=i, id=value)
    assert table.to_pandas()["id"].cat.categories.tolist() == ["a", "c"]
    assert table.to_pandas()["id"].tolist() == ["c", "a"]


def test_frames_select_columns() -> None:
    """to_polars/to_pandas take a column subset in the order asked; unknown names fail."""
    table = RollingTable(STRICT, max_rows=4)
    table.append_row(strict_row(1))
    assert table.to_polars(["n", "side"]).columns == ["n", "side"]
    assert table.to_pandas(["price"]).columns.tolist() == ["price"]
    with pytest.raises(ConfigError, match="no column"):
        table.to_polars(["nope"])


def test_frames_are_copies() -> None:
    """A frame taken earlier does not change when the ring is overwritten."""
    table = RollingTable(SEQ, max_rows=2)
    table.extend({"seq": [1, 2]})
    frame, pdf = table.to_polars(), table.to_pandas()
    table.extend({"seq": [3, 4]})
    assert frame["seq"].to_list() == [1, 2]
    assert pdf["seq"].tolist() == [1, 2]


def test_results_of_one_slice_never_share_memory() -> None:
    """Frames and arrays made from the same slice are independent copies."""
    table = RollingTable(MIXED, max_rows=4)
    table.extend({"price": [1.0, 2.0], "n": [1, 2]})
    tail = table.last(2)
    (price,) = tail.arrays("price")
    frame, pdf = tail.to_polars(), tail.to_pandas()
    price[0] = 99.0
    pdf.loc[1, "n"] = 42
    assert frame["price"].to_list() == [1.0, 2.0]
    assert tail.to_pandas()["price"].tolist() == [1.0, 2.0]
    assert tail.to_polars()["n"].to_list() == [1, 2]


def test_category_columns_join_across_tables() -> None:
    """Categorical ids from two tables compare and join directly (global categories)."""
    a = RollingTable(IDS, max_rows=4)
    b = RollingTable(IDS, max_rows=4)
    a.extend({"seq": [1, 2], "id": ["x", "y"]})
    b.extend({"seq": [3, 4], "id": ["y", "z"]})
    joined = a.to_polars().join(b.to_polars(), on="id")
    assert joined.select("seq", "seq_right").rows() == [(2, 3)]


# ---------------------------------------------------------------- slices and arrays


def test_last_copies_only_the_newest_rows() -> None:
    """last(n) returns the newest n rows, unaffected by later appends."""
    table = RollingTable(SEQ, max_rows=5)
    table.extend({"seq": list(range(8))})
    tail = table.last(2)
    table.extend({"seq": [100, 101, 102]})
    assert (len(tail), tail.arrays("seq")[0].tolist()) == (2, [6, 7])
    assert tail.to_polars()["seq"].to_list() == [6, 7]
    assert tail.to_pandas()["seq"].tolist() == [6, 7]
    assert len(table.last(0)) == 0
    assert table.last(99).arrays("seq")[0].tolist() == [5, 6, 7, 100, 101, 102][-5:]
    with pytest.raises(ConfigError):
        table.last(-1)


def test_since_filters_by_time_without_assuming_order() -> None:
    """since(ts) keeps rows at or after ts in table order, skipping nulls, across the seam."""
    table = RollingTable(MIXED, max_rows=5)
    for ts in [T0 + 5, T0 + 1, None, T0 + 9, T0 + 3, T0 + 7, T0 + 2]:
        table.append(ts_ns=ts)
    picked = table.since(T0 + 3)
    assert picked.arrays("ts_ns")[0].view(np.int64).tolist() == [T0 + 9, T0 + 3, T0 + 7]
    assert len(table.since(T0 + 100)) == 0
    with pytest.raises(ConfigError):
        table.since(T0, column="price")


def test_since_on_an_int_column() -> None:
    """since() also works on an int64 column named explicitly."""
    table = RollingTable(SEQ, max_rows=3)
    table.extend({"seq": [1, 5, 2, 8]})
    assert table.since(3, column="seq").to_polars()["seq"].to_list() == [5, 8]


def test_tail_arrays_are_aligned_and_chart_ready() -> None:
    """tail_arrays gives the same rows for each column, with chart-friendly dtypes."""
    table = RollingTable(STRICT, max_rows=4)
    for i in range(6):
        table.append_row(strict_row(i))
    ts, price, side, flag = table.tail_arrays("ts_ns", "price", "side", "flag", n=3)
    assert ts.dtype == np.dtype("datetime64[ns]")
    assert ts.view(np.int64).tolist() == [T0 + 3, T0 + 4, T0 + 5]
    assert price.tolist() == [0.03, 0.04, 0.05]
    assert side.dtype == object and side.tolist() == ["bid", "ask", "bid"]
    assert flag.dtype == bool and flag.tolist() == [True, False, False]
    assert [len(a) for a in table.tail_arrays()] == [4] * 5
    with pytest.raises(ConfigError):
        table.tail_arrays("nope")
    with pytest.raises(ConfigError):
        table.tail_arrays("price", n=-1)


# ---------------------------------------------------------------- hot path and imports


def test_append_keeps_no_memory_per_row() -> None:
    """Appending into the preallocated ring retains no Python objects per row."""
    table = RollingTable(STRICT, max_rows=50_000)
    rows = [strict_row(i) for i in range(50_000)]
    table.append_row(rows[0])  # first-touch allocations outside the measurement
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for row in rows[1:]:
            table.append_row(row)
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 2_000  # bytes, for 49,999 rows: nothing kept per row


def test_dropped_tables_give_their_memory_back() -> None:
    """Tables made and dropped one after another do not grow the process (fresh interpreter).

    Freeing a 32 MB block raises glibc's mmap threshold above the columns' 8 MB, so plain
    ``np.zeros`` columns came from the heap, were zeroed (touched) when it was reused and stayed
    resident after each table was dropped: +45 MB over four 48 MB tables measured before the
    columns got their own mappings (~244 MB per feed at the default bounds in the test suite).
    """
    code = (
        "import gc\n"
        "import numpy as np\n"
        "from polyresearch.state.table import Column, RollingTable, Schema\n"
        "def rss_kb():\n"
        "    with open('/proc/self/status') as f:\n"
        "        return next(int(x.split()[1]) for x in f if x.startswith('VmRSS'))\n"
        "schema = Schema('w', tuple(Column(f'c{i}', 'float64') for i in range(6)))\n"
        "block = np.ones(4_000_000)\n"
        "del block\n"
        "before = rss_kb()\n"
        "for _ in range(4):\n"
        "    t = RollingTable(schema, max_rows=1_000_000)\n"
        "    t.append_row([1.0] * 6)\n"
        "    assert len(t) == 1\n"
        "    del t\n"
        "    gc.collect()\n"
        "print((rss_kb() - before) // 1024)\n"
    )
    assert int(run_python(code)) < 16  # MB


def test_importing_the_state_layer_stays_light() -> None:
    """Importing table and schemas loads neither pandas, polars, pyarrow nor asyncio."""
    code = (
        "import sys\n"
        "import polyresearch.state.table, polyresearch.state.schemas\n"
        "heavy = [m for m in ('pandas', 'polars', 'pyarrow', 'asyncio') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    assert run_python(code) == "[]"


def test_to_polars_imports_neither_pandas_nor_pyarrow() -> None:
    """The first to_polars() of a session imports polars only (pyarrow's pa.array() used to
    pull in pandas: seconds of stall on a kernel's loop), nulls of every kind included."""
    code = (
        "import sys\n"
        "from polyresearch.state.table import Column, RollingTable, Schema\n"
        "kinds = ('timestamp', 'category', 'float64', 'int64', 'bool')\n"
        "schema = Schema('t', tuple(Column(k, k, nullable=True) for k in kinds))\n"
        "table = RollingTable(schema, max_rows=10)\n"
        "table.append_row((1, 'a', 0.5, 7, True))\n"
        "table.append_row((None, None, None, None, None))\n"
        "frame = table.to_polars()\n"
        "print(frame.null_count().row(0) == (1,) * 5,\n"
        "      [m for m in ('pandas', 'pyarrow') if m in sys.modules])\n"
    )
    assert run_python(code) == "True []"


def test_docstring_examples_run() -> None:
    """The examples in the module's docstrings are correct."""
    failures, tried = doctest.testmod(table_module, raise_on_error=False)
    assert tried > 10
    assert failures == 0


# ---------------------------------------------------------------- property tests

_ROW = st.tuples(
    st.one_of(st.none(), st.integers(T0, T0 + 10**12)),
    st.one_of(st.none(), st.sampled_from(["a", "b", "7" * 77, "é"])),
    st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=True, width=64)),
    st.one_of(st.none(), st.integers(NULL_INT + 1, 2**63 - 1)),
    st.one_of(st.none(), st.booleans()),
)
_OPS = st.lists(
    st.one_of(
        st.tuples(st.just("append"), _ROW),
        st.tuples(st.just("append_row"), _ROW),
        st.tuples(st.just("extend"), st.lists(_ROW, max_size=12)),
        st.tuples(st.just("clear"), st.none()),
    ),
    max_size=40,
)


def _rows(table: RollingTable) -> list[tuple[Any, ...]]:
    """Rows as Python values, from the chart arrays (int column n taken from polars: the
    chart array of a nullable int is float64, which would round big ints)."""
    ts, asset, price, flag = table.tail_arrays("ts_ns", "asset_id", "price", "flag")
    return list(
        zip(
            [None if v == NULL_INT else v for v in ts.view(np.int64).tolist()],
            asset.tolist(),
            [None if math.isnan(v) else v for v in price.tolist()],
            table.to_polars(["n"])["n"].to_list(),
            [None if math.isnan(v) else bool(v) for v in flag.tolist()],
            strict=True,
        )
    )


@settings(max_examples=150, deadline=None)
@given(max_rows=st.integers(1, 9), ops=_OPS)
def test_matches_a_deque_model(max_rows: int, ops: list[tuple[str, Any]]) -> None:
    """Under random appends, extends and clears the table equals a bounded deque, counters too."""
    table = RollingTable(MIXED, max_rows=max_rows)
    model: deque[tuple[Any, ...]] = deque(maxlen=max_rows)
    appended = cleared = 0
    last_version = table.version
    for op, arg in ops:
        if op == "append":
            table.append(**dict(zip(MIXED.names, arg, strict=True)))
            batch = [arg]
        elif op == "append_row":
            table.append_row(arg)
            batch = [arg]
        elif op == "extend":
            table.extend({name: [row[j] for row in arg] for j, name in enumerate(MIXED.names)})
            batch = arg
        else:
            table.clear()
            cleared += len(model)
            model.clear()
            batch = []
        model.extend(batch)
        appended += len(batch)
        assert table.version >= last_version
        last_version = table.version
        assert _rows(table) == list(model)
    stats = table.stats()
    assert (stats.rows, stats.rows_appended, stats.rows_cleared) == (
        len(model),
        appended,
        cleared,
    )
    assert stats.rows_evicted == appended - cleared - len(model)


@settings(max_examples=150, deadline=None)
@given(
    max_rows=st.integers(1, 30),
    max_categories=st.integers(1, 6),
    batches=st.lists(
        st.lists(st.one_of(st.none(), st.sampled_from("abcdefghij")), min_size=1, max_size=8),
        max_size=25,
    ),
)
def test_dictionary_bound_keeps_a_suffix(
    max_rows: int, max_categories: int, batches: list[list[str | None]]
) -> None:
    """With a tiny dictionary bound the table holds the newest rows, as many as the bound allows."""
    target = max(1, max_categories - max_categories // 4)
    table = RollingTable(IDS, max_rows=max_rows, max_categories=max_categories)
    history: list[tuple[int, str | None]] = []
    for batch in batches:
        if len(batch) == 1:
            table.append(seq=len(history), id=batch[0])
        else:
            table.extend({"seq": range(len(history), len(history) + len(batch)), "id": batch})
        history += [(len(history) + i, value) for i, value in enumerate(batch)]
        kept = list(zip(seqs(table), table.tail_arrays("id")[0].tolist(), strict=True))
        assert kept == history[len(history) - len(kept) :]  # a suffix, decoded correctly
        # At least the longest suffix with <= target distinct values (capped by max_rows).
        distinct: set[str] = set()
        longest = 0
        for _, value in reversed(history):
            if value is not None and value not in distinct:
                if len(distinct) == target:
                    break
                distinct.add(value)
            longest += 1
        assert len(kept) >= min(max_rows, longest)
        assert table.stats().dictionaries["id"].size <= max_categories
