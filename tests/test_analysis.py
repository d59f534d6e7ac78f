"""polyresearch.analysis against values worked out by hand in the comments.

Small tables are built by hand (most through the real RollingTable, so categories and
Datetime("ns", "UTC") columns are exercised as a feed produces them); the expected numbers
are computed in the comments, never by calling the code under test.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import polars as pl
import pytest

from polyresearch import analysis
from polyresearch.errors import ConfigError
from polyresearch.state.schemas import make_tables

S = 1_000_000_000  # one second in ns
UTC = dt.UTC


def at(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, tz=UTC)


def quotes_table(rows: list[tuple[int, str, float | None, float | None, float, float]]) -> object:
    """A real quotes RollingTable from (ts_s, asset, bid, ask, bid_size, ask_size) rows."""
    tables = make_tables(max_rows=100)
    for ts, asset, bid, ask, bid_size, ask_size in rows:
        tables.quotes.append(
            ts_ns=ts * S,
            recv_ns=ts * S + 5,
            venue="clob",
            market="m",
            asset_id=asset,
            best_bid=bid,
            best_ask=ask,
            bid_size=bid_size,
            ask_size=ask_size,
            mid=None,
            spread=None,
            kind="best_bid_ask",
        )
    return tables.quotes


def trades_table(rows: list[tuple[float, str, float, float]]) -> object:
    """A real trades RollingTable from (ts_s, asset, price, size) rows."""
    tables = make_tables(max_rows=100)
    for ts, asset, price, size in rows:
        tables.trades.append(
            ts_ns=int(ts * S),
            recv_ns=int(ts * S) + 5,
            venue="clob",
            market="m",
            asset_id=asset,
            price=price,
            size=size,
            side="buy",
            kind="last_trade_price",
            fee_rate_bps=0.0,
        )
    return tables.trades


def snapshots_table(rows: list[tuple[int, str, str, int, float, float]]) -> object:
    """A real book_snapshots table from (ts_s, asset, side, level, price, size) rows."""
    tables = make_tables(max_rows=100)
    for ts, asset, side, level, price, size in rows:
        tables.book_snapshots.append(
            ts_ns=ts * S,
            book_ts_ns=ts * S - 1,
            venue="clob",
            market="m",
            asset_id=asset,
            side=side,
            level=level,
            price=price,
            size=size,
        )
    return tables.book_snapshots


# ---------------------------------------------------------------- mid, spread, microprice


def test_mid_spread_microprice_on_quotes() -> None:
    table = quotes_table(
        [
            (1, "a", 0.40, 0.44, 30.0, 10.0),
            (2, "a", 0.40, None, 30.0, 0.0),  # ask side empty
            (3, "a", 0.20, 0.30, 0.0, 0.0),  # both sizes 0
        ]
    )
    out = analysis.microprice(analysis.spread(analysis.mid(table)))
    # mid: (0.40 + 0.44) / 2 = 0.42; no ask -> null; (0.20 + 0.30) / 2 = 0.25
    assert out["mid"].round(9).to_list() == [0.42, None, 0.25]
    # spread: 0.44 - 0.40 = 0.04; null; 0.30 - 0.20 = 0.10
    assert out["spread"].round(9).to_list() == [0.04, None, 0.1]
    # microprice: (0.40 * 10 + 0.44 * 30) / 40 = (4 + 13.2) / 40 = 0.43 (leans to the thin ask);
    # one-sided -> null; sizes sum to 0 -> null (no weights)
    assert out["microprice"].round(9).to_list() == [0.43, None, None]
    # categories come back as strings, times as UTC datetimes
    assert out.schema["asset_id"] == pl.String
    assert out["ts_ns"][0] == at(1)


def test_prices_from_book_snapshots_use_the_top_level() -> None:
    table = snapshots_table(
        [
            (10, "a", "bid", 0, 0.50, 20.0),
            (10, "a", "bid", 1, 0.49, 99.0),  # deeper level: ignored for the top of book
            (10, "a", "ask", 0, 0.53, 60.0),
            (11, "a", "bid", 0, 0.51, 5.0),  # one-sided sample: no asks at all
        ]
    )
    top = analysis.top_of_book(table)
    assert top.select("best_bid", "best_ask", "bid_size", "ask_size").rows() == [
        (0.50, 0.53, 20.0, 60.0),
        (0.51, None, 5.0, None),
    ]
    out = analysis.microprice(analysis.mid(table))
    # mid (0.50 + 0.53) / 2 = 0.515; microprice (0.50 * 60 + 0.53 * 20) / 80 = (30 + 10.6) / 80
    # = 0.5075; the one-sided sample has neither
    assert out["mid"].round(9).to_list() == [0.515, None]
    assert out["microprice"].round(9).to_list() == [0.5075, None]


def test_pandas_in_pandas_out() -> None:
    frame = pd.DataFrame({"best_bid": [0.1, 0.2], "best_ask": [0.3, 0.6]})
    out = analysis.mid(frame)
    assert isinstance(out, pd.DataFrame)
    # (0.1 + 0.3) / 2 = 0.2; (0.2 + 0.6) / 2 = 0.4
    assert [round(v, 9) for v in out["mid"]] == [0.2, 0.4]


def test_bad_input_is_a_typed_error() -> None:
    with pytest.raises(ConfigError, match="best_bid"):
        analysis.mid(pl.DataFrame({"price": [1.0]}))
    with pytest.raises(ConfigError, match="DataFrame"):
        analysis.mid([1, 2, 3])
    with pytest.raises(ConfigError, match="levels"):
        analysis.imbalance(pl.DataFrame(), levels=0)
    with pytest.raises(ConfigError, match="every"):
        analysis.ohlcv(trades_table([]), "0s")


# ---------------------------------------------------------------- imbalance


def test_imbalance_at_n_levels() -> None:
    table = snapshots_table(
        [
            # t=1, asset a: bids 10, 20, 30 (levels 0-2); asks 40, 50 (levels 0-1)
            (1, "a", "bid", 0, 0.50, 10.0),
            (1, "a", "bid", 1, 0.49, 20.0),
            (1, "a", "bid", 2, 0.48, 30.0),
            (1, "a", "ask", 0, 0.52, 40.0),
            (1, "a", "ask", 1, 0.53, 50.0),
            # t=1, asset b: bids only (one-sided)
            (1, "b", "bid", 0, 0.30, 7.0),
            # t=2, asset b: asks only
            (2, "b", "ask", 0, 0.35, 3.0),
        ]
    )
    one = analysis.imbalance(table, levels=1)
    # a, 1 level: (10 - 40) / 50 = -0.6; b bids only: +1; b asks only: -1
    assert one.select("asset_id", "bid_depth", "ask_depth", "imbalance").rows() == [
        ("a", 10.0, 40.0, -0.6),
        ("b", 7.0, 0.0, 1.0),
        ("b", 0.0, 3.0, -1.0),
    ]
    two = analysis.imbalance(table, levels=2)
    # a, 2 levels: bids 10 + 20 = 30, asks 40 + 50 = 90 -> (30 - 90) / 120 = -0.5
    assert two["imbalance"].to_list()[0] == pytest.approx(-0.5)
    three = analysis.imbalance(table, levels=3)
    # a, 3 levels: bids 60, asks 90 (only two ask levels) -> (60 - 90) / 150 = -0.2
    assert three["imbalance"].to_list()[0] == pytest.approx(-0.2)


def test_imbalance_of_an_empty_table_is_empty() -> None:
    out = analysis.imbalance(snapshots_table([]), levels=5)
    assert out.height == 0
    assert "imbalance" in out.columns


# ---------------------------------------------------------------- OHLCV


def test_ohlcv_from_trades_per_asset_with_gaps() -> None:
    table = trades_table(
        [
            (0.0, "a", 0.50, 10.0),
            (20.0, "a", 0.60, 5.0),
            (59.999, "a", 0.40, 5.0),  # still the first minute (bars are [start, start+1m))
            (60.0, "a", 0.45, 2.0),  # exactly on the boundary: second bar
            (185.0, "a", 0.70, 1.0),  # minutes 2 has no trade; this is minute 3
            (30.0, "b", 0.10, 100.0),
        ]
    )
    bars = analysis.ohlcv(table, "1m")
    rows = bars.select("asset_id", "time", "open", "high", "low", "close", "volume", "trades")
    # a, minute 0: open 0.50, high 0.60, low 0.40, close 0.40, volume 10 + 5 + 5 = 20, 3 trades
    # a, minute 1: the 60 s trade alone; a, minute 3: the 185 s trade; b, minute 0: one trade
    assert rows.rows() == [
        ("a", at(0), 0.50, 0.60, 0.40, 0.40, 20.0, 3),
        ("a", at(60), 0.45, 0.45, 0.45, 0.45, 2.0, 1),
        ("a", at(180), 0.70, 0.70, 0.70, 0.70, 1.0, 1),
        ("b", at(0), 0.10, 0.10, 0.10, 0.10, 100.0, 1),
    ]
    # vwap minute 0: (0.50 * 10 + 0.60 * 5 + 0.40 * 5) / 20 = (5 + 3 + 2) / 20 = 0.5
    assert bars["vwap"][0] == pytest.approx(0.5)

    filled = analysis.ohlcv(table, dt.timedelta(minutes=1), fill_gaps=True)
    a = filled.filter(pl.col("asset_id") == "a")
    # the empty minute 2 appears with no prices and zero volume; b has one bar, nothing to fill
    assert a["time"].to_list() == [at(0), at(60), at(120), at(180)]
    assert a.row(2, named=True)["close"] is None
    assert a.row(2, named=True)["volume"] == 0.0
    assert a.row(2, named=True)["trades"] == 0
    assert a.row(2, named=True)["vwap"] is None
    assert filled.filter(pl.col("asset_id") == "b").height == 1


def test_ohlcv_other_interval_and_recv_time() -> None:
    table = trades_table([(0.0, "a", 0.5, 1.0), (4.0, "a", 0.6, 1.0), (5.0, "a", 0.7, 1.0)])
    # 5 s bars: [0, 5) holds the first two trades, [5, 10) the third
    bars = analysis.ohlcv(table, "5s")
    assert bars["trades"].to_list() == [2, 1]
    assert bars["close"].to_list() == [0.6, 0.7]
    # on the receive clock (5 ns later) the bars are the same here
    assert analysis.ohlcv(table, "5s", time="recv_ns")["trades"].to_list() == [2, 1]


def test_ohlcv_of_no_trades() -> None:
    bars = analysis.ohlcv(trades_table([]), "1m", fill_gaps=True)
    assert bars.height == 0
    assert {"open", "close", "volume", "vwap"} <= set(bars.columns)


def test_mid_bars_carry_the_mid_through_quiet_intervals() -> None:
    table = quotes_table(
        [
            (0, "a", 0.40, 0.50, 1.0, 1.0),  # mid 0.45
            (1, "a", 0.42, 0.50, 1.0, 1.0),  # mid 0.46
            (2, "a", 0.42, None, 1.0, 0.0),  # no mid: skipped
            (3, "a", 0.44, 0.46, 1.0, 1.0),  # mid 0.45
            (9, "a", 0.30, 0.40, 1.0, 1.0),  # mid 0.35
        ]
    )
    bars = analysis.mid_bars(table, "3s")
    # [0, 3): mids 0.45, 0.46 -> O 0.45 H 0.46 L 0.45 C 0.46, 2 updates
    # [3, 6): 0.45 alone; [9, 12): 0.35 alone; [6, 9) has no quote at all
    assert bars.select(pl.col("open", "high", "low", "close").round(9), "updates").rows() == [
        (0.45, 0.46, 0.45, 0.46, 2),
        (0.45, 0.45, 0.45, 0.45, 1),
        (0.35, 0.35, 0.35, 0.35, 1),
    ]
    filled = analysis.mid_bars(table, "3s", fill_gaps=True)
    # the quiet [6, 9) bar is flat at the previous close 0.45, with 0 updates
    gap = filled.row(2, named=True)
    assert gap["time"] == at(6)
    assert [round(gap[c], 9) for c in ("open", "high", "low", "close")] == [0.45] * 4
    assert gap["updates"] == 0


# ---------------------------------------------------------------- both tokens of a market


def test_pair_tokens_yes_against_one_minus_no() -> None:
    table = quotes_table(
        [
            (1, "Y", 0.60, 0.62, 1.0, 1.0),
            (2, "N", 0.37, 0.41, 1.0, 1.0),
            (3, "Y", 0.58, None, 1.0, 0.0),  # YES asks vanish
            (4, "X", 0.01, 0.99, 1.0, 1.0),  # another market: ignored
            (5, "N", 0.40, 0.42, 1.0, 1.0),
        ]
    )
    pair = analysis.pair_tokens(table, yes="Y", no="N")
    cols = ("time", "asset_id", "yes_bid", "yes_ask", "no_bid", "no_ask")
    assert pair.select(cols).rows() == [
        (at(1), "Y", 0.60, 0.62, None, None),  # no NO quote yet
        (at(2), "N", 0.60, 0.62, 0.37, 0.41),  # YES carried forward
        (at(3), "Y", 0.58, None, 0.37, 0.41),  # YES's empty ask stays empty
        (at(5), "N", 0.58, None, 0.40, 0.42),
    ]
    # row 2: implied YES bid = 1 - 0.41 = 0.59, ask = 1 - 0.37 = 0.63, mid = 1 - 0.39 = 0.61;
    # yes_mid = 0.61, so parity_gap = 0
    row = pair.row(1, named=True)
    assert row["implied_bid"] == pytest.approx(0.59)
    assert row["implied_ask"] == pytest.approx(0.63)
    assert row["implied_mid"] == pytest.approx(0.61)
    assert row["parity_gap"] == pytest.approx(0.0)
    # row 4: no mid 0.41 -> implied 0.59; yes has no ask so no yes_mid and no gap
    last = pair.row(3, named=True)
    assert last["implied_mid"] == pytest.approx(0.59)
    assert last["yes_mid"] is None
    assert last["parity_gap"] is None
    with pytest.raises(ConfigError):
        analysis.pair_tokens(table, yes="Y", no="Y")


# ---------------------------------------------------------------- summaries


def test_time_at_spread_and_twa_spread() -> None:
    table = quotes_table(
        [
            (0, "a", 0.40, 0.42, 1.0, 1.0),  # spread 0.02 for 4 s (until t=4)
            (4, "a", 0.41, 0.42, 1.0, 1.0),  # spread 0.01 for 2 s
            (6, "a", 0.41, None, 1.0, 0.0),  # one-sided for 2 s
            (8, "a", 0.40, 0.42, 1.0, 1.0),  # spread 0.02 until end=10: 2 s
            (5, "b", 0.10, 0.20, 1.0, 1.0),  # b: spread 0.10 from 5 to end=10: 5 s
        ]
    )
    out = analysis.time_at_spread(table, by="asset_id", end=10 * S)
    # a: 0.01 -> 2 s, 0.02 -> 4 + 2 = 6 s, null -> 2 s; total 10 s -> shares 0.2, 0.6, 0.2
    assert out.select("asset_id", "spread", "seconds", "share").rows() == [
        ("a", 0.01, 2.0, 0.2),
        ("a", 0.02, 6.0, 0.6),
        ("a", None, 2.0, 0.2),
        ("b", 0.1, 5.0, 1.0),
    ]
    trades = trades_table([(1.0, "a", 0.41, 10.0), (7.0, "a", 0.43, 30.0)])
    summary = analysis.market_summary(trades, table, by="asset_id", end=at(10))
    a = summary.row(0, named=True)
    # trades 2, volume 40, notional 0.41 * 10 + 0.43 * 30 = 4.1 + 12.9 = 17.0, vwap 0.425
    assert (a["asset_id"], a["trades"], a["volume"]) == ("a", 2, 40.0)
    assert a["notional"] == pytest.approx(17.0)
    assert a["vwap"] == pytest.approx(0.425)
    assert a["last_price"] == 0.43
    assert (a["first_trade"], a["last_trade"]) == (at(1), at(7))
    # quoted 8 s, one-sided 2 s; twa spread = (0.02 * 4 + 0.01 * 2 + 0.02 * 2) / 8 = 0.14 / 8
    # = 0.0175
    assert a["quoted_seconds"] == pytest.approx(8.0)
    assert a["one_sided_seconds"] == pytest.approx(2.0)
    assert a["twa_spread"] == pytest.approx(0.0175)
    # b quoted but never traded: present with 0 trades and its own spread
    b = summary.row(1, named=True)
    assert (b["asset_id"], b["trades"], b["volume"]) == ("b", 0, 0.0)
    assert b["twa_spread"] == pytest.approx(0.1)


def test_time_at_spread_default_end_is_the_last_quote() -> None:
    table = quotes_table([(0, "a", 0.40, 0.42, 1.0, 1.0), (3, "a", 0.40, 0.41, 1.0, 1.0)])
    out = analysis.time_at_spread(table)
    # the first quote holds 3 s; the last one holds until the last quote time: 0 s
    assert out.select("spread", "seconds").rows() == [(0.01, 0.0), (0.02, 3.0)]


def test_summaries_of_empty_tables() -> None:
    summary = analysis.market_summary(trades_table([]), quotes_table([]))
    assert summary.height == 0
    assert analysis.time_at_spread(quotes_table([])).height == 0
    assert analysis.pair_tokens(quotes_table([]), "Y", "N").height == 0


def test_time_at_spread_end_in_exact_nanoseconds() -> None:
    # One quote at t = 1_700_000_000 s held until end = t + 1_501 ns: 1.501e-6 s exactly
    # (through a float of seconds since the epoch it would round to whole microseconds).
    t0 = 1_700_000_000 * S
    frame = pl.DataFrame({"ts_ns": [t0], "best_bid": [0.40], "best_ask": [0.42]})
    out = analysis.time_at_spread(frame, end=t0 + 1_501)
    assert out["seconds"].to_list() == [pytest.approx(1.501e-6, abs=1e-12)]
