"""Controls driven by front-end-shaped comm messages: exact widget and feed state out."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence

import pytest
from _nb_helpers import frontend_click, frontend_update

from polyresearch.feed import ClobFeed
from polyresearch.lookup import alookup
from polyresearch.notebook.charts import MIN_INTERVAL, SpreadChart
from polyresearch.notebook.controls import ChartControls, StatusPanel, SubscriptionPicker
from polyresearch.notebook.runner import Runner
from polyresearch.simulator import Simulator
from polyresearch.state.orderbook import BookStatus
from polyresearch.state.schemas import make_tables
from tests.conftest import wait_until


def _resolver(sim: Simulator):  # type: ignore[no-untyped-def]
    async def resolve(key: str, venue: str) -> Sequence[str]:
        market = await alookup(key, venue=venue, base_url=sim.http_url)  # type: ignore[arg-type]
        return market.asset_ids

    return resolve


async def test_picker_adds_by_slug_and_removes_by_selection() -> None:
    """Text + click 'add' subscribes both tokens of a slug; selecting one + 'remove' drops it."""
    async with Simulator(seed=7, markets=3, rate=200) as sim:
        first, second = sim.markets()[0], sim.markets()[1]
        changes: list[tuple[tuple[str, ...], tuple[str, ...]]] = []
        async with ClobFeed(assets=first.token_ids, url=sim.clob_market_url) as feed:
            picker = SubscriptionPicker(
                feed, resolve=_resolver(sim), on_change=lambda a, r: changes.append((a, r))
            )
            frontend_update(picker.text, value=second.slug)
            frontend_click(picker.add_button)
            await picker.settle()
            assert feed.subscribed == first.token_ids + second.token_ids
            assert picker.subscribed.options == feed.subscribed
            assert picker.text.value == ""
            assert picker.message == f"added 2 asset(s) for {second.slug!r}"
            assert changes == [(second.token_ids, ())]
            new = second.token_ids[0]
            await wait_until(
                lambda: new in feed.books and feed.books[new].status is BookStatus.LIVE, 20
            )
            frontend_update(picker.subscribed, index=[0])  # the front-end sends indices
            assert picker.subscribed.value == (first.token_ids[0],)
            frontend_click(picker.remove_button)
            await picker.settle()
            assert feed.subscribed == (first.token_ids[1], *second.token_ids)
            assert picker.message == "removed 1 asset(s)"
            assert changes[-1] == ((), (first.token_ids[0],))


async def test_picker_token_id_needs_no_lookup_and_errors_show() -> None:
    """A token id is subscribed as typed; an unknown slug leaves a red message, no change."""
    async with Simulator(seed=8, markets=2, rate=0) as sim:
        token = sim.markets()[1].token_ids[1]
        async with ClobFeed(assets=[], url=sim.clob_market_url) as feed:

            async def no_lookup(key: str, venue: str) -> Sequence[str]:
                raise AssertionError("a token id must not be looked up")

            picker = SubscriptionPicker(feed, resolve=no_lookup)
            frontend_update(picker.text, value=f"  {token} ")
            frontend_click(picker.add_button)
            await picker.settle()
            assert feed.subscribed == (token,)
            picker.resolve = _resolver(sim)
            frontend_update(picker.text, value="no-such-market")
            frontend_click(picker.add_button)
            await picker.settle()
            assert feed.subscribed == (token,)
            assert picker.message.startswith("could not add 'no-such-market'")
            assert "color:#b00" in picker.status.value
            assert picker.text.value == "no-such-market"  # kept so the user can fix it


def test_chart_controls_pause_window_and_refresh_from_the_front_end() -> None:
    """Pause click, window and refresh edits reach every chart; refresh is clamped at 20 Hz."""
    tables = make_tables(max_rows=10)
    charts = [SpreadChart(tables, ["a"], widget=False), SpreadChart(tables, ["b"], widget=False)]
    controls = ChartControls(charts)
    frontend_update(controls.pause, value=True)
    assert [c.paused for c in charts] == [True, True]
    assert controls.pause.description == "resume"
    frontend_update(controls.pause, value=False)
    assert [c.paused for c in charts] == [False, False]
    assert controls.pause.description == "pause"
    frontend_update(controls.window, value=30.0)
    assert [c.window for c in charts] == [30.0, 30.0]
    frontend_update(controls.window, value=0.0)
    assert [c.window for c in charts] == [None, None]
    frontend_update(controls.refresh_ms, value=10)
    assert controls.refresh_ms.value == round(MIN_INTERVAL * 1000)
    assert [c.interval for c in charts] == [MIN_INTERVAL, MIN_INTERVAL]
    frontend_update(controls.refresh_ms, value=500)
    later = SpreadChart(tables, ["c"], widget=False)
    controls.add(later)
    assert later.interval == 0.5


async def test_status_panel_counts_rate_and_shows_job_errors() -> None:
    """msgs/s is the frame delta over the time given; channel states and job errors shown."""
    async with Simulator(seed=9, markets=1, rate=300) as sim:
        async with ClobFeed(assets=sim.markets()[0].token_ids, url=sim.clob_market_url) as feed:
            runner = Runner()

            async def broken() -> None:
                raise RuntimeError("kaput")

            job = runner.run("bad", broken)
            panel = StatusPanel(feed, runner=runner)
            await feed.wait_for(lambda f: f.stats().frames_in >= 5)
            await wait_until(lambda: job.done)
            first = panel.refresh(now=100.0)["frames_in"]
            await feed.wait_for(lambda f: f.stats().frames_in >= first + 5)
            summary = panel.refresh(now=102.0)
            assert summary["msgs_per_s"] == pytest.approx((summary["frames_in"] - first) / 2)
            assert set(summary["channels"].values()) == {"connected"}
            assert summary["errors"] == ["bad: RuntimeError('kaput')"]
            assert summary["not_live"] == 0
            assert "kaput" in panel.html.value and "connected" in panel.html.value
            panel.interval = 0.02
            panel.start()
            before = panel.html.value
            await wait_until(lambda: panel.html.value != before, 10)
            panel.stop()
            await runner.stop_all()
            await asyncio.sleep(0)


async def test_picker_drives_a_feed_on_a_runner_thread() -> None:
    """Thread mode: the picker's subscribe runs on the feed's own loop and data arrives."""
    runner = Runner(mode="thread")
    sim = Simulator(seed=10, markets=2, rate=300)
    await runner.run_simulator("sim", sim).wait_running()
    first, second = sim.markets()[0].token_ids, sim.markets()[1].token_ids
    feed = ClobFeed(assets=first, url=sim.clob_market_url)
    await runner.run_feed("clob", feed).wait_running()
    loops: list[asyncio.AbstractEventLoop] = []
    subscribe = feed.subscribe

    async def recording_subscribe(assets: Iterable[str]) -> None:
        loops.append(asyncio.get_running_loop())
        await subscribe(assets)

    feed.subscribe = recording_subscribe  # type: ignore[method-assign]
    try:
        picker = SubscriptionPicker(feed)
        frontend_update(picker.text, value=second[0])
        frontend_click(picker.add_button)
        await picker.settle()
        assert picker.message == "added 1 asset(s) for " + repr(second[0])
        assert loops == [runner.loop]
        assert runner.loop is not asyncio.get_running_loop()
        await runner.wait(
            lambda: second[0] in feed.books and feed.books[second[0]].status is BookStatus.LIVE,
            within=20,
        )
    finally:
        await runner.stop_all()
        runner.stop_all_sync()
    assert not feed.running
