"""Analysis helpers on the normalized tables: prices, book imbalance, bars, pairs, summaries.

Pure functions: a table in, a new frame out, nothing mutated and nothing started. Every helper
accepts a polars ``DataFrame``, a pandas ``DataFrame`` (returned as pandas), or a live
:class:`~polyresearch.state.table.RollingTable` / ``TableSlice`` (read once with
``to_polars()``), so the same call works on ``feed.tables.quotes``, a replay's tables, or a
Parquet export read back with ``pl.read_parquet``.

Inputs follow :mod:`polyresearch.state.schemas`: ``quotes`` (``best_bid``, ``best_ask``,
``bid_size``, ``ask_size``), ``book_snapshots`` (long format: one row per sample, asset, side,
level) and ``trades`` (``price``, ``size``). Category columns come back as plain strings, so
results from different tables join without a shared string cache.

Time: helpers use the venue event time ``ts_ns`` and fall back to the receive time ``recv_ns``
on rows without one (``time="recv_ns"`` forces the local clock; ``book_snapshots`` only has its
sampling time ``ts_ns``).

Example:
    >>> import polars as pl
    >>> quotes = pl.DataFrame({"ts_ns": [1, 2], "asset_id": ["a", "a"],
    ...                        "best_bid": [0.40, 0.41], "best_ask": [0.44, 0.43],
    ...                        "bid_size": [10.0, 30.0], "ask_size": [30.0, 10.0]})
    >>> microprice(quotes)["microprice"].round(4).to_list()
    [0.41, 0.425]
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Final, Protocol, runtime_checkable

import polars as pl

from polyresearch.errors import ConfigError

__all__ = [
    "imbalance",
    "market_summary",
    "microprice",
    "mid",
    "mid_bars",
    "ohlcv",
    "pair_tokens",
    "spread",
    "time_at_spread",
    "top_of_book",
]

_TIME: Final = "time"
_KEYS: Final[tuple[str, ...]] = ("venue", "market", "asset_id")


@runtime_checkable
class _ToPolars(Protocol):
    def to_polars(self) -> pl.DataFrame: ...


#: What every helper accepts: a polars or pandas frame, or a rolling table / table slice.
TableLike = Any


# ---------------------------------------------------------------- plumbing


def _load(data: TableLike) -> tuple[pl.DataFrame, bool]:
    """(polars frame with categories as strings, whether the caller passed pandas)."""
    pandas = False
    if isinstance(data, pl.DataFrame):
        frame = data
    elif isinstance(data, pl.LazyFrame):
        frame = data.collect()
    elif isinstance(data, _ToPolars):
        frame = data.to_polars()
    elif type(data).__module__.startswith("pandas"):
        frame = pl.from_pandas(data)
        pandas = True
    else:
        raise ConfigError(f"expected a polars/pandas DataFrame or a table, got {type(data)!r}")
    categorical = [name for name, dtype in frame.schema.items() if _is_categorical(dtype)]
    if categorical:
        frame = frame.with_columns(pl.col(categorical).cast(pl.String))
    return frame, pandas


def _is_categorical(dtype: pl.DataType) -> bool:
    return isinstance(dtype, pl.Categorical | pl.Enum)


def _out(frame: pl.DataFrame, pandas: bool) -> Any:
    return frame.to_pandas() if pandas else frame


def _need(frame: pl.DataFrame, columns: tuple[str, ...], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ConfigError(f"{what} needs columns {missing}; got {frame.columns}")


def _time_expr(frame: pl.DataFrame, time: str | None) -> pl.Expr:
    """The time axis: ``time`` if named, else ts_ns with recv_ns filling its nulls."""
    if time is not None:
        _need(frame, (time,), "time=")
        column = pl.col(time)
    elif "ts_ns" in frame.columns and "recv_ns" in frame.columns:
        column = pl.coalesce("ts_ns", "recv_ns")
    elif "ts_ns" in frame.columns:
        column = pl.col("ts_ns")
    else:
        raise ConfigError(f"no time column (ts_ns/recv_ns) among {frame.columns}")
    return _as_datetime(frame, column)


def _as_datetime(frame: pl.DataFrame, column: pl.Expr) -> pl.Expr:
    # Hand-built frames may carry plain int ns; tables carry Datetime("ns", "UTC").
    dtype = frame.select(column).dtypes[0]
    if dtype.is_integer():
        return column.cast(pl.Datetime("ns", "UTC"))
    return column


def _group_keys(frame: pl.DataFrame, by: str | list[str] | None) -> list[str]:
    """Grouping columns: ``by`` if given, else those of venue/market/asset_id present."""
    if by is None:
        keys = [k for k in _KEYS if k in frame.columns]
    elif isinstance(by, str):
        keys = [by]
    else:
        keys = list(by)
    _need(frame, tuple(keys), "by=")
    return keys


def _duration(every: str | dt.timedelta) -> dt.timedelta | str:
    if isinstance(every, dt.timedelta):
        if every <= dt.timedelta(0):
            raise ConfigError("every must be positive")
        return every
    if not every or every[0] == "-" or every[0] == "0":
        raise ConfigError(f"every must be a positive polars duration like '1m', got {every!r}")
    return every


def _with_quote_columns(data: TableLike, what: str) -> tuple[pl.DataFrame, bool]:
    """A quotes-like frame: quotes as they are, book_snapshots reduced to their top level."""
    frame, pandas = _load(data)
    if "level" in frame.columns and "best_bid" not in frame.columns:
        frame = _top_of_book(frame)
    _need(frame, ("best_bid", "best_ask"), what)
    return frame, pandas


# ---------------------------------------------------------------- top of book, prices


def top_of_book(book_snapshots: TableLike) -> Any:
    """The best level of each side per sample: ``book_snapshots`` → quotes-like rows.

    One row per (``ts_ns``, asset) sample with ``best_bid``, ``best_ask``, ``bid_size``,
    ``ask_size`` (null for an empty side), so :func:`mid`, :func:`spread` and
    :func:`microprice` also work on sampled books.

    Example:
        >>> import polars as pl
        >>> snaps = pl.DataFrame({"ts_ns": [5, 5, 5], "asset_id": ["a"] * 3,
        ...                       "side": ["bid", "bid", "ask"], "level": [0, 1, 0],
        ...                       "price": [0.40, 0.39, 0.45], "size": [10.0, 7.0, 3.0]})
        >>> top_of_book(snaps).select("best_bid", "best_ask", "bid_size", "ask_size").row(0)
        (0.4, 0.45, 10.0, 3.0)
    """
    frame, pandas = _load(book_snapshots)
    return _out(_top_of_book(frame), pandas)


def _top_of_book(frame: pl.DataFrame) -> pl.DataFrame:
    _need(frame, ("ts_ns", "side", "level", "price", "size"), "top_of_book")
    keys = ["ts_ns", *(k for k in _KEYS if k in frame.columns)]
    if "book_ts_ns" in frame.columns:
        keys.append("book_ts_ns")
    best = frame.filter(pl.col("level") == 0)

    def side(name: str) -> pl.Expr:
        return pl.col("price").filter(pl.col("side") == name).first()

    def size(name: str) -> pl.Expr:
        return pl.col("size").filter(pl.col("side") == name).first()

    return (
        best.group_by(keys, maintain_order=True)
        .agg(
            side("bid").alias("best_bid"),
            side("ask").alias("best_ask"),
            size("bid").alias("bid_size"),
            size("ask").alias("ask_size"),
        )
        .sort(keys)
    )


def mid(data: TableLike) -> Any:
    """Add ``mid`` = (best_bid + best_ask) / 2, null when a side is empty.

    Accepts ``quotes`` (or any frame with ``best_bid``/``best_ask``) or ``book_snapshots``
    (reduced with :func:`top_of_book` first).

    Example:
        >>> import polars as pl
        >>> mid(pl.DataFrame({"best_bid": [0.40, None], "best_ask": [0.50, 0.6]}))["mid"].to_list()
        [0.45, None]
    """
    frame, pandas = _with_quote_columns(data, "mid")
    return _out(frame.with_columns(_mid_expr().alias("mid")), pandas)


def spread(data: TableLike) -> Any:
    """Add ``spread`` = best_ask - best_bid, null when a side is empty.

    Example:
        >>> import polars as pl
        >>> df = pl.DataFrame({"best_bid": [0.40, 0.5], "best_ask": [0.43, None]})
        >>> spread(df)["spread"].round(6).to_list()
        [0.03, None]
    """
    frame, pandas = _with_quote_columns(data, "spread")
    return _out(frame.with_columns(_spread_expr().alias("spread")), pandas)


def microprice(data: TableLike) -> Any:
    """Add ``microprice``: the size-weighted mid, leaning towards the thinner side.

    ``(best_bid * ask_size + best_ask * bid_size) / (bid_size + ask_size)``: a big bid and a
    thin ask put it near the ask, where the next trade is more likely. Null when a side or a
    size is missing or both sizes are 0.

    Example:
        >>> import polars as pl
        >>> df = pl.DataFrame({"best_bid": [0.40], "best_ask": [0.44],
        ...                    "bid_size": [30.0], "ask_size": [10.0]})
        >>> round(microprice(df)["microprice"][0], 6)
        0.43
    """
    frame, pandas = _with_quote_columns(data, "microprice")
    _need(frame, ("bid_size", "ask_size"), "microprice")
    total = pl.col("bid_size") + pl.col("ask_size")
    value = (
        pl.when(total > 0)
        .then(pl.col("best_bid") * pl.col("ask_size") + pl.col("best_ask") * pl.col("bid_size"))
        .otherwise(None)
        / total
    )
    return _out(frame.with_columns(value.alias("microprice")), pandas)


def _mid_expr() -> pl.Expr:
    return (pl.col("best_bid") + pl.col("best_ask")) / 2


def _spread_expr() -> pl.Expr:
    return pl.col("best_ask") - pl.col("best_bid")


# ---------------------------------------------------------------- imbalance


def imbalance(book_snapshots: TableLike, levels: int = 5) -> Any:
    """Order-book imbalance over the top ``levels`` of each side, per sample and asset.

    ``imbalance = (bid_depth - ask_depth) / (bid_depth + ask_depth)`` in [-1, 1], where a
    side's depth is the shares of its best ``levels`` levels: +1 is all bids (one-sided book),
    -1 all asks; null when both sides are empty.

    Args:
        book_snapshots: the ``book_snapshots`` table (long format).
        levels: how many levels of each side count (1 = top of book only).

    Example:
        >>> import polars as pl
        >>> snaps = pl.DataFrame({"ts_ns": [5] * 3, "asset_id": ["a"] * 3,
        ...                       "side": ["bid", "bid", "ask"], "level": [0, 1, 0],
        ...                       "price": [0.40, 0.39, 0.45], "size": [10.0, 20.0, 10.0]})
        >>> imbalance(snaps, levels=2)["imbalance"].to_list()
        [0.5]
    """
    if isinstance(levels, bool) or levels < 1:
        raise ConfigError(f"levels must be a positive int, got {levels!r}")
    frame, pandas = _load(book_snapshots)
    _need(frame, ("ts_ns", "side", "level", "size"), "imbalance")
    keys = ["ts_ns", *(k for k in _KEYS if k in frame.columns)]
    bid = pl.col("size").filter(pl.col("side") == "bid").sum()
    ask = pl.col("size").filter(pl.col("side") == "ask").sum()
    total = pl.col("bid_depth") + pl.col("ask_depth")
    result = (
        frame.filter(pl.col("level") < levels)
        .group_by(keys, maintain_order=True)
        .agg(bid.alias("bid_depth"), ask.alias("ask_depth"))
        .with_columns(
            pl.when(total > 0)
            .then((pl.col("bid_depth") - pl.col("ask_depth")) / total)
            .otherwise(None)
            .alias("imbalance")
        )
        .sort(keys)
    )
    return _out(result, pandas)


# ---------------------------------------------------------------- bars


def ohlcv(
    trades: TableLike,
    every: str | dt.timedelta = "1m",
    *,
    by: str | list[str] | None = None,
    time: str | None = None,
    fill_gaps: bool = False,
) -> Any:
    """OHLCV bars from trades at any interval, per asset.

    Each bar covers ``[start, start + every)`` (left-closed, labelled by its start) and has
    ``open``/``high``/``low``/``close`` trade prices, ``volume`` (shares), ``notional``
    (sum of price x size), ``vwap`` and ``trades`` (count).

    Args:
        trades: the ``trades`` table.
        every: a polars duration (``"1s"``, ``"5m"``, ``"1h"``) or a ``timedelta``.
        by: grouping columns (default: whichever of venue/market/asset_id exist).
        time: the time column (default: ts_ns, else recv_ns).
        fill_gaps: also emit bars for intervals without trades between an asset's first and
            last bar: volume and trades 0, prices null (no trade, no price).

    Example:
        >>> import polars as pl
        >>> t = pl.DataFrame({"ts_ns": [0, 30_000_000_000, 61_000_000_000],
        ...                   "asset_id": ["a"] * 3,
        ...                   "price": [0.5, 0.6, 0.55], "size": [10.0, 5.0, 2.0]})
        >>> ohlcv(t, "1m").select("open", "high", "low", "close", "volume", "trades").rows()
        [(0.5, 0.6, 0.5, 0.6, 15.0, 2), (0.55, 0.55, 0.55, 0.55, 2.0, 1)]
    """
    frame, pandas = _load(trades)
    _need(frame, ("price", "size"), "ohlcv")
    every = _duration(every)
    keys = _group_keys(frame, by)
    prepared = frame.with_columns(_time_expr(frame, time).alias(_TIME)).sort([*keys, _TIME])
    bars = prepared.group_by_dynamic(
        _TIME, every=every, group_by=keys or None, closed="left", label="left"
    ).agg(
        pl.col("price").first().alias("open"),
        pl.col("price").max().alias("high"),
        pl.col("price").min().alias("low"),
        pl.col("price").last().alias("close"),
        pl.col("size").sum().alias("volume"),
        (pl.col("price") * pl.col("size")).sum().alias("notional"),
        pl.len().cast(pl.Int64).alias("trades"),
    )
    if fill_gaps:
        bars = _fill_gaps(bars, keys, every, carry=False)
    bars = bars.with_columns(
        pl.when(pl.col("volume") > 0)
        .then(pl.col("notional") / pl.col("volume"))
        .otherwise(None)
        .alias("vwap")
    )
    return _out(bars.sort([*keys, _TIME]), pandas)


def mid_bars(
    data: TableLike,
    every: str | dt.timedelta = "1m",
    *,
    by: str | list[str] | None = None,
    time: str | None = None,
    fill_gaps: bool = False,
) -> Any:
    """OHLC bars of the mid price (from ``quotes`` or ``book_snapshots``), per asset.

    Quotes where a side is empty have no mid and are skipped. ``updates`` counts the mids in
    the bar. With ``fill_gaps``, an interval without updates gets a flat bar at the previous
    close: unlike a trade price, a mid persists until it changes.

    Example:
        >>> import polars as pl
        >>> q = pl.DataFrame({"ts_ns": [0, 1_000_000_000, 2_500_000_000],
        ...                   "asset_id": ["a"] * 3,
        ...                   "best_bid": [0.40, 0.42, 0.44], "best_ask": [0.50, 0.50, 0.46]})
        >>> bars = mid_bars(q, "2s")
        >>> bars.select(pl.col("open", "high", "low", "close").round(4), "updates").rows()
        [(0.45, 0.46, 0.45, 0.46, 2), (0.45, 0.45, 0.45, 0.45, 1)]
    """
    frame, pandas = _with_quote_columns(data, "mid_bars")
    every = _duration(every)
    keys = _group_keys(frame, by)
    prepared = (
        frame.with_columns(_time_expr(frame, time).alias(_TIME), _mid_expr().alias("mid"))
        .drop_nulls("mid")
        .sort([*keys, _TIME])
    )
    bars = prepared.group_by_dynamic(
        _TIME, every=every, group_by=keys or None, closed="left", label="left"
    ).agg(
        pl.col("mid").first().alias("open"),
        pl.col("mid").max().alias("high"),
        pl.col("mid").min().alias("low"),
        pl.col("mid").last().alias("close"),
        pl.len().cast(pl.Int64).alias("updates"),
    )
    if fill_gaps:
        bars = _fill_gaps(bars, keys, every, carry=True)
    return _out(bars.sort([*keys, _TIME]), pandas)


def _fill_gaps(
    bars: pl.DataFrame, keys: list[str], every: dt.timedelta | str, *, carry: bool
) -> pl.DataFrame:
    """Insert the missing bars between each group's first and last bar."""
    if bars.is_empty():
        return bars
    spans = bars.group_by(keys or pl.lit(0).alias("_all")).agg(
        pl.datetime_ranges(pl.col(_TIME).min(), pl.col(_TIME).max(), interval=every).alias(_TIME)
    )
    full = spans.explode(_TIME)
    if not keys:
        full = full.drop("_all")
    filled = full.join(bars, on=[*keys, _TIME], how="left", nulls_equal=True)
    counts = [c for c in ("volume", "notional", "trades", "updates") if c in filled.columns]
    filled = filled.with_columns(pl.col(counts).fill_null(0))
    if carry:
        # A flat bar at the last close: the mid held through the quiet interval.
        last_close = pl.col("close").forward_fill()
        if keys:
            last_close = last_close.over(keys)
        filled = filled.with_columns(last_close.alias("close")).with_columns(
            pl.col(c).fill_null(pl.col("close")) for c in ("open", "high", "low")
        )
    return filled.select(bars.columns)


# ---------------------------------------------------------------- both tokens of a market


def pair_tokens(
    quotes: TableLike,
    yes: str,
    no: str,
    *,
    time: str | None = None,
) -> Any:
    """Both tokens of a CLOB market side by side: YES against the YES implied by NO.

    Every quote of either token becomes one row carrying the latest quote of both (forward
    filled), with ``yes_bid``/``yes_ask``/``yes_mid``, ``no_bid``/``no_ask``/``no_mid`` and
    the NO book flipped into YES terms: ``implied_bid = 1 - no_ask``, ``implied_ask =
    1 - no_bid``, ``implied_mid = 1 - no_mid``. ``parity_gap = yes_mid - implied_mid`` is 0
    when the two books agree (the CLOB mirrors orders across the pair, so a persistent gap
    points at a stale or broken book). Rows before a token's first quote hold nulls for it.

    Args:
        quotes: the ``quotes`` table (or ``book_snapshots``).
        yes: the YES token id (``Market.token_ids[0]``).
        no: the NO token id (``Market.token_ids[1]``).
        time: the time column (default: ts_ns, else recv_ns).

    Example:
        >>> import polars as pl
        >>> q = pl.DataFrame({"ts_ns": [1, 2], "asset_id": ["Y", "N"],
        ...                   "best_bid": [0.60, 0.38], "best_ask": [0.62, 0.41]})
        >>> pair = pair_tokens(q, "Y", "N")
        >>> pair.select(pl.col("yes_mid", "implied_bid", "implied_ask").round(4)).rows()
        [(0.61, None, None), (0.61, 0.59, 0.62)]
    """
    frame, pandas = _with_quote_columns(quotes, "pair_tokens")
    _need(frame, ("asset_id",), "pair_tokens")
    if yes == no:
        raise ConfigError("yes and no must be different token ids")
    prepared = frame.with_columns(_time_expr(frame, time).alias(_TIME)).filter(
        pl.col("asset_id").is_in([yes, no])
    )

    def side(token: str, prefix: str) -> pl.Expr:
        # The token's quote as one struct on its own rows, null on the other token's rows;
        # forward filling the struct carries its last quote while keeping a quote's own empty
        # side (a null field inside a non-null struct) empty.
        quote = pl.struct(
            pl.col("best_bid").alias(f"{prefix}_bid"), pl.col("best_ask").alias(f"{prefix}_ask")
        )
        return pl.when(pl.col("asset_id") == token).then(quote).forward_fill().alias(prefix)

    filled = (
        prepared.with_row_index("_order")
        .sort([_TIME, "_order"])
        .select(_TIME, "asset_id", side(yes, "yes"), side(no, "no"))
        .unnest("yes", "no")
    )
    result = filled.with_columns(
        ((pl.col("yes_bid") + pl.col("yes_ask")) / 2).alias("yes_mid"),
        ((pl.col("no_bid") + pl.col("no_ask")) / 2).alias("no_mid"),
        (1 - pl.col("no_ask")).alias("implied_bid"),
        (1 - pl.col("no_bid")).alias("implied_ask"),
    ).with_columns(
        (1 - pl.col("no_mid")).alias("implied_mid"),
    )
    result = result.with_columns((pl.col("yes_mid") - pl.col("implied_mid")).alias("parity_gap"))
    return _out(result, pandas)


# ---------------------------------------------------------------- summaries


def time_at_spread(
    quotes: TableLike,
    *,
    by: str | list[str] | None = None,
    time: str | None = None,
    end: dt.datetime | int | None = None,
    decimals: int = 6,
) -> Any:
    """How long each asset's book spent at each spread: seconds and share of quoted time.

    A quote's spread holds from its time until the asset's next quote. The last quote holds
    until ``end`` (a datetime or UTC ns; default: the last quote time in the whole table, so
    the newest quote of the busiest asset counts for nothing). Time with an empty side (null
    spread) is reported under a null ``spread``. Spreads are rounded to ``decimals`` so float
    noise (0.43 - 0.42) does not split one tick into two rows.

    Example:
        >>> import polars as pl
        >>> s = 1_000_000_000
        >>> q = pl.DataFrame({"ts_ns": [0, 3 * s, 4 * s], "asset_id": ["a"] * 3,
        ...                   "best_bid": [0.40, 0.41, 0.40], "best_ask": [0.42, 0.42, 0.42]})
        >>> time_at_spread(q).select("spread", "seconds", "share").rows()
        [(0.01, 1.0, 0.25), (0.02, 3.0, 0.75)]
    """
    frame, pandas = _with_quote_columns(quotes, "time_at_spread")
    keys = _group_keys(frame, by)
    held = _held(frame, keys, time, end).with_columns(
        _spread_expr().round(decimals).alias("spread")
    )
    result = (
        held.group_by([*keys, "spread"])
        .agg(pl.col("_held").sum().alias("seconds"))
        .with_columns(
            (pl.col("seconds") / pl.col("seconds").sum().over(keys or pl.lit(0))).alias("share")
        )
        .sort([*keys, "spread"], nulls_last=True)
    )
    return _out(result, pandas)


def _held(
    frame: pl.DataFrame, keys: list[str], time: str | None, end: dt.datetime | int | None
) -> pl.DataFrame:
    """Each quote with ``_held``: seconds until the asset's next quote (or ``end``)."""
    prepared = frame.with_columns(_time_expr(frame, time).alias(_TIME)).sort([*keys, _TIME])
    if prepared.is_empty():
        return prepared.with_columns(pl.lit(None, pl.Float64).alias("_held"))
    ns = pl.Datetime("ns", "UTC")
    if end is None:
        stop = pl.lit(prepared[_TIME].max()).cast(ns)
    elif isinstance(end, int):
        stop = pl.lit(end, pl.Int64).cast(ns)  # exact ns (a float would round to us)
    else:
        stop = pl.lit(end).cast(ns)
    upto = pl.col(_TIME).shift(-1)
    if keys:
        upto = upto.over(keys)
    until = upto.fill_null(stop)
    seconds = (until - pl.col(_TIME)).dt.total_nanoseconds() / 1e9
    return prepared.with_columns(seconds.clip(lower_bound=0).alias("_held"))


def market_summary(
    trades: TableLike,
    quotes: TableLike | None = None,
    *,
    by: str | list[str] | None = None,
    time: str | None = None,
    end: dt.datetime | int | None = None,
) -> Any:
    """One row per asset: trades, volume, notional, VWAP, last price, and quoted spread.

    From ``trades``: ``trades`` (count), ``volume`` (shares), ``notional`` (sum of price x
    size), ``vwap``, ``first_trade``/``last_trade`` times and ``last_price``. With ``quotes``:
    ``quoted_seconds`` (time with both sides quoted), ``one_sided_seconds`` and the
    time-weighted spread ``twa_spread`` over the quoted time (see :func:`time_at_spread` for
    how a quote's duration is counted). Assets with quotes but no trades appear with 0 trades.

    Example:
        >>> import polars as pl
        >>> t = pl.DataFrame({"ts_ns": [1, 2], "asset_id": ["a", "a"],
        ...                   "price": [0.5, 0.6], "size": [10.0, 10.0]})
        >>> market_summary(t).select("trades", "volume", "vwap", "last_price").row(0)
        (2, 20.0, 0.55, 0.6)
    """
    frame, pandas = _load(trades)
    _need(frame, ("price", "size"), "market_summary")
    keys = _group_keys(frame, by)
    prepared = frame.with_columns(_time_expr(frame, time).alias(_TIME)).sort([*keys, _TIME])
    aggregations = [
        pl.len().cast(pl.Int64).alias("trades"),
        pl.col("size").sum().alias("volume"),
        (pl.col("price") * pl.col("size")).sum().alias("notional"),
        pl.col(_TIME).min().alias("first_trade"),
        pl.col(_TIME).max().alias("last_trade"),
        pl.col("price").last().alias("last_price"),
    ]
    if keys:
        summary = prepared.group_by(keys, maintain_order=True).agg(aggregations)
    else:
        summary = prepared.select(aggregations)
    summary = summary.with_columns(
        pl.when(pl.col("volume") > 0)
        .then(pl.col("notional") / pl.col("volume"))
        .otherwise(None)
        .alias("vwap")
    )
    if quotes is not None:
        quoted, _ = _with_quote_columns(quotes, "market_summary(quotes=)")
        held = _held(quoted, keys, time, end).with_columns(_spread_expr().alias("_spread"))
        both = pl.col("_spread").is_not_null()
        weighted = (
            held.group_by(keys or pl.lit(0).alias("_all"))
            .agg(
                pl.col("_held").filter(both).sum().alias("quoted_seconds"),
                pl.col("_held").filter(~both).sum().alias("one_sided_seconds"),
                (pl.col("_held") * pl.col("_spread")).filter(both).sum().alias("_weighted"),
            )
            .with_columns(
                pl.when(pl.col("quoted_seconds") > 0)
                .then(pl.col("_weighted") / pl.col("quoted_seconds"))
                .otherwise(None)
                .alias("twa_spread")
            )
            .drop("_weighted")
        )
        if keys:
            summary = summary.join(weighted, on=keys, how="full", coalesce=True)
            summary = summary.with_columns(
                pl.col("trades", "volume", "notional").fill_null(0)
            ).sort(keys)
        else:
            summary = pl.concat([summary, weighted.drop("_all")], how="horizontal")
    return _out(summary, pandas)
