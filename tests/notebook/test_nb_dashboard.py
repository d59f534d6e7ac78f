"""The composed dashboard on a live simulator feed: charts fill, the picker adds a chart."""

from __future__ import annotations

from decimal import Decimal

from _nb_helpers import frontend_click, frontend_update, py2js_updates

import polyresearch.notebook as nb
from polyresearch.feed import ClobFeed
from polyresearch.notebook.charts import MIN_INTERVAL, PriceChart
from polyresearch.notebook.dashboard import market_groups
from polyresearch.simulator import ModelConfig, Simulator
from polyresearch.state.books import MarketParams
from tests.conftest import wait_until


def _feed(sim: Simulator, count: int) -> ClobFeed:
    params = {}
    tokens: list[str] = []
    for market in sim.markets()[:count]:
        p = MarketParams(
            min_order_size=format(Decimal(market.min_order_size).normalize(), "f"),
            neg_risk=market.neg_risk,
            token_ids=market.token_ids,
        )
        params.update(dict.fromkeys(market.token_ids, p))
        tokens += market.token_ids
    return ClobFeed(assets=tokens, url=sim.clob_market_url, params=params)


async def test_dashboard_fills_adds_a_market_pauses_and_replaces() -> None:
    """One call: a chart per market fills; picker 'add' adds a chart; pause stops redraws."""
    # No market resolves mid-test: with seed 12 the model resolves the first market ~3 s in,
    # the third ~23 s and the second ~34 s; the flow must outlast the no-page waits (10 s,
    # twice), and a loaded CI box reached the pause check (which waits for 200 more quotes)
    # only after the last followed market had resolved.
    steady = ModelConfig(lifecycle_rate=0.0)
    async with Simulator(seed=12, markets=3, rate=400, model_config=steady) as sim:
        async with _feed(sim, 2) as feed:
            board = nb.dashboard(feed, rest_url=sim.http_url, interval=MIN_INTERVAL)
            first, second, third = (m.token_ids for m in sim.markets())
            assert list(board.charts) == [first, second]
            assert board.fills is False  # no private channel, no fills trace
            price = board.charts[first][0]
            assert isinstance(price, PriceChart)
            assert price.complement == {first[1]}
            await wait_until(lambda: len(price.figure.data[0].y) > 0, 20)
            assert board.depth is not None and board.depth.asset_id == first[0]

            frontend_update(board.picker.text, value=sim.markets()[2].slug)
            frontend_click(board.picker.add_button)
            await board.picker.settle()
            assert list(board.charts) == [first, second, third]
            assert len(board.chart_box.children) == 3
            added = board.charts[third][0]
            # No page answers here: after FIRST_ACK_TIMEOUT the dashboard opens figures at once.
            await wait_until(lambda: added.figure.comm is not None, 30)
            await wait_until(lambda: len(added.figure.data[0].y) > 0, 20)
            assert added.running

            frontend_update(board.controls.pause, value=True)
            assert all(c.paused for c in board.all_charts)
            sent = len(py2js_updates(added.figure))
            drawn = added.redraws
            seen = feed.tables.quotes.version
            await feed.wait_for(lambda f: f.tables.quotes.version > seen + 200)
            assert added.redraws == drawn  # paused: new data, no redraw
            assert len(py2js_updates(added.figure)) == sent

            again = nb.dashboard(feed, rest_url=sim.http_url)
            assert not price.running and not added.running  # the first board was closed
            assert board.status._task is None
            again.close()
            assert not any(c.running for c in again.all_charts)


def test_market_groups_pair_tokens_by_market_params() -> None:
    """Tokens with market parameters are grouped by market; unknown ones stand alone."""
    params = MarketParams(min_order_size="5", neg_risk=False, token_ids=("a", "b"))
    feed = ClobFeed(assets=["b", "x", "a"], url="ws://127.0.0.1:9/ws/market", params={"a": params})
    assert market_groups(feed) == [("b", "a"), ("x",)]
    assert market_groups(feed, ["a", "x"]) == [("a",), ("x",)]
