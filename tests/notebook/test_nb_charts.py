"""Chart binders: one batch_update per tick, idle tables cost nothing, caps and decimation."""

from __future__ import annotations

import asyncio
import doctest

import numpy as np
import plotly.graph_objects as go
import pytest
from _nb_helpers import py2js_updates

from polyresearch.feed import ClobFeed
from polyresearch.notebook import charts, runner
from polyresearch.notebook.charts import MIN_INTERVAL, PriceChart, SpreadChart, downsample
from polyresearch.notebook.dashboard import Dashboard
from polyresearch.simulator import ModelConfig, Simulator
from polyresearch.state.schemas import Tables, make_tables
from tests.conftest import UNIT, wait_until

T0 = 1_700_000_000_000_000_000


def _quotes(tables: Tables, asset: str, mids: list[float], start: int = 0) -> None:
    n = len(mids)
    tables.quotes.extend(
        {
            "ts_ns": [T0 + (start + i) * 1_000_000 for i in range(n)],
            "recv_ns": [T0 + (start + i) * 1_000_000 for i in range(n)],
            "venue": ["clob"] * n,
            "market": ["m"] * n,
            "asset_id": [asset] * n,
            "best_bid": [m - 0.01 for m in mids],
            "best_ask": [m + 0.01 for m in mids],
            "mid": mids,
            "spread": [0.02] * n,
            "kind": ["book"] * n,
        }
    )


def test_one_batch_update_per_tick_and_none_when_idle() -> None:
    """A changed table gives exactly one _py2js_update message; an unchanged one gives none."""
    tables = make_tables(max_rows=1000)
    chart = PriceChart(tables, ["yes"], bbo=True, trades=True)
    _quotes(tables, "yes", [0.5, 0.51, 0.52])
    before = len(py2js_updates(chart.figure))
    assert chart.tick() is True
    assert len(py2js_updates(chart.figure)) == before + 1
    assert chart.tick() is False
    assert chart.tick() is False
    assert len(py2js_updates(chart.figure)) == before + 1
    _quotes(tables, "yes", [0.53], start=3)
    assert chart.tick() is True
    assert len(py2js_updates(chart.figure)) == before + 2
    assert chart.redraws == 2


def test_updates_travel_as_binary_numpy_buffers() -> None:
    """The update message carries dtype/shape descriptors and binary buffers, not JSON lists."""
    tables = make_tables(max_rows=1000)
    chart = PriceChart(tables, ["yes"], bbo=False, trades=False)
    _quotes(tables, "yes", [0.4, 0.6])
    chart.tick()
    update = py2js_updates(chart.figure)[-1]
    assert update["style_data"]["y"] == [{"dtype": "float64", "shape": (2,)}]
    message = chart.figure.comm.messages[-2]
    assert len(message["buffers"]) == 2  # x and y


def test_point_cap_honoured_and_newest_point_kept() -> None:
    """10k rows under a 500-point cap: every trace has at most 500 points, the newest included."""
    tables = make_tables(max_rows=20_000)
    rng = np.random.default_rng(0)
    mids = (0.5 + rng.normal(0, 0.01, 10_000).cumsum() / 100).tolist()
    _quotes(tables, "yes", mids)
    for method in ("minmax", "stride"):
        chart = PriceChart(tables, ["yes"], max_points=500, method=method, widget=False)
        chart.tick()
        for trace in chart.figure.data[:3]:
            assert 0 < len(trace.y) <= 500
        mid = chart.figure.data[0]
        assert mid.y[-1] == pytest.approx(mids[-1])
        assert mid.x[-1] == pytest.approx((T0 + 9_999 * 1_000_000) / 1e6)


def test_minmax_keeps_spikes_and_last_point() -> None:
    """Min/max decimation keeps a one-sample spike that a stride would drop."""
    y = np.full(10_001, 0.5)
    y[4_321] = 0.99
    y[-1] = 0.42
    x = np.arange(len(y), dtype=np.float64)
    dx, dy = downsample(x, y, 100, "minmax")
    assert len(dy) <= 100
    assert 0.99 in dy.tolist()
    assert (dx[-1], dy[-1]) == (10_000.0, 0.42)
    assert np.all(np.diff(dx) > 0)
    sx, sy = downsample(x, y, 100, "stride")
    assert len(sy) <= 100 and sx[-1] == 10_000.0


def test_downsample_drops_nan_and_rejects_bad_cap() -> None:
    """NaN values (no mid) are not drawn; a cap below 1 is refused."""
    x = np.arange(4.0)
    assert downsample(x, np.array([0.1, np.nan, 0.3, 0.4]), 10)[1].tolist() == [0.1, 0.3, 0.4]
    with pytest.raises(ValueError, match="max_points"):
        downsample(x, x, 0)


def test_complement_draws_no_side_as_one_minus_p() -> None:
    """The NO token drawn as 1-p: mid 0.3 shows as 0.7, its bid is 1 - its ask."""
    tables = make_tables(max_rows=100)
    _quotes(tables, "no", [0.3])
    chart = PriceChart(tables, ["no"], complement=["no"], trades=False, widget=False)
    chart.tick()
    mid, bid, ask = chart.figure.data
    assert mid.y.tolist() == pytest.approx([0.7])
    assert bid.y.tolist() == pytest.approx([0.69])
    assert ask.y.tolist() == pytest.approx([0.71])
    assert mid.name == "no (1-p) mid"


def test_window_and_settings_force_a_redraw() -> None:
    """Changing the window redraws at the next tick and shows only the recent rows."""
    tables = make_tables(max_rows=10_000)
    _quotes(tables, "yes", [0.5] * 5_000)  # 1 ms apart: 5 s of data
    chart = SpreadChart(tables, ["yes"], widget=False)
    assert chart.tick() is True
    assert len(chart.figure.data[0].y) == 5_000
    chart.window = 1.0
    assert chart.tick() is True
    assert len(chart.figure.data[0].y) == 1_001
    chart.interval = 0.001
    assert chart.interval == MIN_INTERVAL


def test_static_figure_is_a_plain_figure_with_the_data() -> None:
    """static() gives a go.Figure (not a widget) carrying the current traces."""
    tables = make_tables(max_rows=100)
    _quotes(tables, "yes", [0.5, 0.6])
    fig = PriceChart(tables, ["yes"]).static()
    assert type(fig) is go.Figure
    assert list(fig.data[0].y) == pytest.approx([0.5, 0.6])


async def test_timer_redraws_live_data_then_idles() -> None:
    """On a live feed the timer redraws; once the feed stops, the redraw count stays put."""
    # No market resolves mid-test: with seed 5 the only market resolved ~1 s in, so on a slow
    # start the chart's feed subscribed to a market with no more data.
    steady = ModelConfig(lifecycle_rate=0.0)
    async with Simulator(seed=5, markets=1, rate=400, model_config=steady) as sim:
        market = sim.markets()[0]
        feed = ClobFeed(assets=market.token_ids, url=sim.clob_market_url)
        async with feed:
            chart = PriceChart(feed, market.token_ids, complement=[market.token_ids[1]])
            chart.interval = MIN_INTERVAL
            chart.start()
            await wait_until(lambda: chart.redraws >= 3, 20)
            assert len(chart.figure.data[0].y) > 0
        idle = chart.redraws
        for _ in range(10):  # ten timer periods with unchanged tables
            await asyncio.sleep(MIN_INTERVAL)
        assert chart.redraws <= idle + 1  # at most the tick that saw the final rows
        settled = chart.redraws
        for _ in range(10):
            await asyncio.sleep(MIN_INTERVAL)
        assert chart.redraws == settled
        assert chart.running
        chart.stop()
        assert not chart.running


async def test_redraw_error_is_logged_and_timer_survives(caplog: pytest.LogCaptureFixture) -> None:
    """A failing redraw is logged once and kept in .error; the timer keeps running."""
    tables = make_tables(max_rows=100)
    chart = SpreadChart(tables, ["yes"], widget=False)
    chart.interval = MIN_INTERVAL

    def broken(raw: object) -> list[tuple[np.ndarray, np.ndarray]]:
        raise RuntimeError("bad data")

    chart._series = broken  # type: ignore[method-assign]
    _quotes(tables, "yes", [0.5])
    chart.start()
    await wait_until(lambda: chart.error is not None, 10 * UNIT)
    assert chart.running
    assert sum("chart redraw failed" in r.getMessage() for r in caplog.records) == 1
    chart.stop()


def test_axes_skip_plotly_js_label_measuring(monkeypatch: pytest.MonkeyPatch) -> None:
    """Charts turn off what makes plotly.js measure every tick label on every redraw.

    Found in a profile of the page (benchmarks/bench_chart.py --browser --trace): label
    overflow hiding, automargin (and its second replot when the labels' width changes), and
    the default template's axis title standoff cost ~40% of a redraw at 10k points.
    """
    import plotly.io as pio

    for chart in (
        PriceChart(make_tables(max_rows=10), ["yes"], widget=False),
        SpreadChart(make_tables(max_rows=10), ["yes"], widget=False),
    ):
        layout = chart.figure.layout
        for axis in (layout.xaxis, layout.yaxis):
            assert axis.automargin is False and axis.ticklabeloverflow == "allow"
            assert axis.title.text is None  # a titled axis measures its labels too
        template = layout.template.layout
        assert template.xaxis.title.standoff is None and template.yaxis.title.standoff is None
        # The rest of the user's default template is kept (colours, fonts, grid).
        default = pio.templates[pio.templates.default].layout
        assert template.colorway == default.colorway and template.font == default.font
        assert default.xaxis.title.standoff is not None  # the shared template is untouched
    monkeypatch.setattr(pio.templates, "default", None)
    chart = PriceChart(make_tables(max_rows=10), ["yes"], widget=False)
    assert not chart.figure.layout.template.layout.colorway  # no default template: none added


def test_charts_follow_edits_of_the_default_template(monkeypatch: pytest.MonkeyPatch) -> None:
    """The kept standoff-free copy of a template is rebuilt when the user changes it.

    A template edited in place or registered again under the same name shows in the next
    chart (a cache keyed by name alone kept the first version for the whole session).
    """
    import plotly.io as pio

    def chart_colorway() -> tuple[str, ...]:
        chart = PriceChart(make_tables(max_rows=10), ["yes"], widget=False)
        template = chart.figure.layout.template.layout
        assert template.xaxis.title.standoff is None
        return tuple(template.colorway)

    def plotly_with(colorway: list[str]) -> go.layout.Template:
        template = go.layout.Template(pio.templates["plotly"])
        template.layout.colorway = colorway
        return template

    # Registered by hand: monkeypatch.setitem needs a get() that TemplatesConfig lacks.
    pio.templates["polyresearch_test"] = plotly_with(["#111111", "#222222"])
    monkeypatch.setattr(pio.templates, "default", "polyresearch_test")
    try:
        assert chart_colorway() == ("#111111", "#222222")
        assert chart_colorway() == ("#111111", "#222222")  # unchanged: the copy is reused
        pio.templates["polyresearch_test"].layout.colorway = ["#333333"]  # edited in place
        assert chart_colorway() == ("#333333",)
        pio.templates["polyresearch_test"] = plotly_with(["#444444"])  # registered again
        assert chart_colorway() == ("#444444",)
    finally:
        del pio.templates["polyresearch_test"]


def test_module_doctests_pass() -> None:
    """The examples in the notebook modules' docstrings run as written."""
    for module in (charts, runner):
        result = doctest.testmod(module)
        assert result.failed == 0 and result.attempted > 0


async def test_own_fills_from_the_user_channel_overlay_the_price() -> None:
    """fills=True: the account's executions (user channel) appear as markers at their price."""
    from polyresearch.config import ClobCredentials

    async with Simulator(seed=13, markets=3, rate=0) as sim:
        c = sim.clob_credentials
        tokens = [t for m in sim.markets() for t in m.token_ids]
        feed = ClobFeed(
            assets=tokens,
            url=sim.clob_market_url,
            user_url=sim.clob_user_url,
            credentials=ClobCredentials(
                api_key=c.api_key, secret=c.secret, passphrase=c.passphrase
            ),
        )
        async with feed:
            await wait_until(lambda: len(sim.connections()) >= 2, 20)
            chart = PriceChart(feed, tokens, bbo=False, trades=False, fills=True, widget=False)

            def executed() -> bool:
                sim.advance(50)
                orders = feed.tables.orders
                _, size = orders.tail_arrays("last_price", "last_size")
                return bool((size > 0).any())

            await wait_until(executed, 30)
            chart.tick()
            price, size, asset = feed.tables.orders.tail_arrays(
                "last_price", "last_size", "asset_id"
            )
            done = (size > 0) & np.isin(asset, tokens)
            expected = sorted(price[done].tolist())
            drawn = sorted(
                p for trace in chart.figure.data if "my fills" in trace.name for p in trace.y
            )
            assert drawn == pytest.approx(expected)
            assert len(drawn) > 0
            board = Dashboard(feed, markets=[tokens[:2]], depth=False)  # a private channel
            assert board.fills is True
            assert any("my fills" in t.name for t in board.charts[tuple(tokens[:2])][0].figure.data)
            board.close()
