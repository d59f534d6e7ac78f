"""One call composes the live dashboard of a feed: status, settings, picker, charts.

``dashboard(feed)`` returns a :class:`Dashboard` (display it as the last expression of a cell).
It builds, per market, a price chart (both tokens of a CLOB market on one chart, the NO token
as 1-p) and a spread chart, plus a depth view of the first market's book; a subscription
picker that adds a market's charts when it is added; chart settings (window, refresh,
pause/resume); and a status panel. Timers run on the kernel's loop; every chart and the status
panel read the feed through ``feed.read`` (one call per tick), so with ``Runner(mode="thread")``
the data is copied on the feed's thread and drawn on the kernel's. Dashboards are registered
by ``name``: re-running the cell stops the previous one's timers and closes its widgets.

Example (in a notebook cell)::

    feed = polyresearch.clob(markets=[...]); feed.start()
    polyresearch.notebook.dashboard(feed)
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from polyresearch.notebook.book_view import DepthChart
from polyresearch.notebook.charts import (
    DEFAULT_INTERVAL,
    DEFAULT_MAX_POINTS,
    LiveChart,
    PriceChart,
    SpreadChart,
    deferred_comms,
)
from polyresearch.notebook.controls import ChartControls, StatusPanel, SubscriptionPicker

if TYPE_CHECKING:
    from polyresearch.feed import ClobFeed, Feed, UsFeed
    from polyresearch.notebook.runner import Runner

__all__ = ["Dashboard", "dashboard", "market_groups"]

logger = logging.getLogger("polyresearch.notebook")

_registry: dict[str, Dashboard] = {}

#: Seconds to wait for the page's first answer (a rendered figure's trace deltas) before
#: concluding there is no front end (nbclient, a console) and opening every figure at once.
FIRST_ACK_TIMEOUT = 10.0
#: Seconds to wait for each later figure's answer before opening the next one anyway.
NEXT_ACK_TIMEOUT = 10.0


def market_groups(feed: Feed, assets: Sequence[str] | None = None) -> list[tuple[str, ...]]:
    """Group a feed's assets by market (both tokens of a CLOB market together).

    Uses the market parameters the feed was built with (``polyresearch.clob(markets=...)``);
    assets with none are their own group.
    """
    # Adapter: feed.py keeps the per-token market parameters private (``_params``).
    params: dict[str, Any] = dict(getattr(feed, "_params", None) or {})
    siblings: dict[str, tuple[str, ...]] = {}
    for market in params.values():
        for token in getattr(market, "token_ids", ()) or ():
            siblings[token] = tuple(market.token_ids)
    groups: list[tuple[str, ...]] = []
    seen: set[str] = set()
    wanted = list(feed.read(lambda: feed.subscribed) if assets is None else assets)
    for asset in wanted:
        if asset in seen:
            continue
        tokens = siblings.get(asset, ())
        group = (asset, *(t for t in tokens if t != asset and t in wanted and t not in seen))
        seen.update(group)
        groups.append(group)
    return groups


class Dashboard:
    """The composed dashboard; see :func:`dashboard`.

    Attributes:
        widget: the whole thing, to display.
        picker, controls, status: the pieces (each usable alone).
        charts: per market group, its price and spread charts.
        depth: the depth view (None when disabled or nothing to show).
    """

    def __init__(
        self,
        feed: ClobFeed | UsFeed,
        *,
        runner: Runner | None = None,
        markets: Sequence[Sequence[str]] | None = None,
        rest_url: str | None = None,
        max_markets: int = 4,
        interval: float = DEFAULT_INTERVAL,
        max_points: int = DEFAULT_MAX_POINTS,
        window: float = 0.0,
        complement: bool = True,
        spread: bool = True,
        depth: bool = True,
        fills: bool | None = None,
        labels: dict[str, str] | None = None,
    ) -> None:
        self.feed = feed
        self._started = False
        self.rest_url = rest_url
        self.complement = complement
        self.spread = spread
        self.labels = dict(labels or {})
        self.max_points = max_points
        if fills is None:  # the account's fills when the feed has a private channel
            names = [c.name for c in feed.read(feed.stats).connections]
            fills = any("user" in n or "private" in n for n in names)
        self.fills = fills
        self.charts: dict[tuple[str, ...], list[LiveChart]] = {}
        self.status = StatusPanel(feed, runner=runner)
        self.controls = ChartControls([], window=window, interval=interval)
        self.picker = SubscriptionPicker(feed, resolve=self._resolve, on_change=self._changed)
        self.chart_box = w.VBox([])
        self._boxes: dict[tuple[str, ...], w.VBox] = {}
        # Figures whose comm is not open yet, each with the box that will show it.
        self._pending: list[tuple[LiveChart, w.Box]] = []
        self._opener: asyncio.Task[None] | None = None
        self._frontend: bool | None = None  # did the page answer a figure? (None: not known)
        groups = [tuple(g) for g in markets] if markets is not None else market_groups(feed)
        for group in groups[:max_markets]:
            self._add_market(group)
        self.depth: DepthChart | None = None
        depth_slot: w.Box | None = None
        if depth and groups:
            # Given the feed (not feed.books), its ticks read through feed.read.
            with deferred_comms():
                self.depth = DepthChart(feed, groups[0][0], interval=interval)
            self.controls.add(self.depth)
            depth_slot = self._slot(self.depth)
        parts: list[Any] = [self.status.widget, self.controls.widget, self.chart_box]
        if depth_slot is not None:
            parts.append(depth_slot)
        parts.append(w.Accordion(children=[self.picker.widget], titles=("markets",)))
        self.widget = w.VBox(parts)

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        if not self._started:  # no loop to open them in turn: open them all now
            self.open_figures()
        return self.widget._repr_mimebundle_(**kwargs)

    def open_figures(self) -> None:
        """Open every figure not opened yet, all at once (no waiting for the page)."""
        while self._pending:
            self._open(*self._pending.pop(0))

    async def _open_in_turn(self) -> None:
        """Open the pending figures one at a time, each after the page answered the previous.

        See ``charts.deferred_comms`` for why: anywidget drops every message of a model whose
        ~5 MB Plotly module took more than 2 s to load, which happens when several figures
        load together. The page's answer is the trace deltas a Plotly view sends once it has
        drawn. Without an answer to the first figure within :data:`FIRST_ACK_TIMEOUT`, also
        after one new widget for it, there is taken to be no front end, and the rest open at
        once.
        """
        while self._pending:
            chart, slot = self._pending.pop(0)
            renewed = False
            while not await self._open_and_wait(chart, slot):
                if self._frontend is None and not renewed:
                    # The first figure, unanswered: either there is no page, or its model
                    # missed anywidget's 2 s module-load window (a loaded box) and will never
                    # draw. Concluding "no page" then would open every other figure at once,
                    # and they would die the same way: one new widget gets a second chance.
                    # Later figures are not renewed: a page known to be there may just be slow,
                    # and another 5 MB module would slow it further (measured).
                    logger.info("first chart not drawn by the page; opening a new widget for it")
                    chart.renew_figure()
                    slot.children = []
                    renewed = True
                    continue
                if self._frontend is None:
                    self._frontend = False
                    logger.info("no front end answered a chart; opening the rest at once")
                else:
                    logger.warning("a chart was not drawn by the page in %.0f s", NEXT_ACK_TIMEOUT)
                break

    async def _open_and_wait(self, chart: LiveChart, slot: w.Box) -> bool:
        """Open ``chart``'s figure and wait for the page's answer; whether it came.

        True without waiting when there is known to be no page.
        """
        answered = asyncio.Event()

        def on_answer(change: dict[str, Any]) -> None:
            answered.set()

        names = ["_js2py_traceDeltas", "_js2py_layoutDelta"]
        figure = chart.figure
        figure.observe(on_answer, names=names)
        try:
            self._open(chart, slot)
            if self._frontend is False:
                return True
            timeout = FIRST_ACK_TIMEOUT if self._frontend is None else NEXT_ACK_TIMEOUT
            try:
                await asyncio.wait_for(answered.wait(), timeout)
            except TimeoutError:
                return False
            self._frontend = True
            return True
        finally:
            figure.unobserve(on_answer, names=names)

    def _open(self, chart: LiveChart, slot: w.Box) -> None:
        chart.figure.open()
        slot.children = [chart.figure]
        chart.invalidate()  # the page's model starts from the figure's first data: redraw

    def _slot(self, chart: LiveChart) -> w.Box:
        """The box showing ``chart``: filled when its comm opens (in turn, see start())."""
        slot = w.VBox([])
        self._pending.append((chart, slot))
        if self._started:
            self._ensure_opener()
        return slot

    def _ensure_opener(self) -> None:
        if self._opener is None or self._opener.done():
            self._opener = asyncio.get_running_loop().create_task(self._open_in_turn())

    @property
    def all_charts(self) -> list[LiveChart]:
        """Every live chart of the dashboard."""
        out = [c for charts in self.charts.values() for c in charts]
        return out if self.depth is None else [*out, self.depth]

    def start(self) -> Dashboard:
        """Start the chart and status timers on the running loop (the kernel's)."""
        self._started = True
        self._ensure_opener()
        for chart in self.all_charts:
            chart.start()
        self.status.start()
        return self

    def close(self) -> None:
        """Stop every timer and close the widgets (re-running the cell calls this)."""
        self._started = False
        if self._opener is not None:
            self._opener.cancel()
            self._opener = None
        self._pending.clear()
        for chart in self.all_charts:
            chart.stop()
            _close_figure(chart)
        self.status.stop()
        self.widget.close()

    def tick(self) -> int:
        """Redraw every chart whose data changed now; return how many drew."""
        return sum(chart.tick() for chart in self.all_charts)

    # ------------------------------------------------------------ internals

    def _add_market(self, group: tuple[str, ...]) -> None:
        complement = group[1:2] if self.complement and len(group) == 2 else ()
        with deferred_comms():  # opened one at a time by _open_in_turn
            charts: list[LiveChart] = [
                PriceChart(
                    self.feed,
                    group,
                    complement=complement,
                    fills=self.fills,
                    labels=self.labels,
                    max_points=self.max_points,
                )
            ]
            if self.spread:
                charts.append(SpreadChart(self.feed, group[:1], max_points=self.max_points))
        self.charts[group] = charts
        for chart in charts:
            self.controls.add(chart)
            if self._started:
                chart.start()
        box = w.VBox([self._slot(chart) for chart in charts])
        self._boxes[group] = box
        self.chart_box.children = [*self.chart_box.children, box]

    def _remove_market(self, group: tuple[str, ...]) -> None:
        charts = self.charts.pop(group, [])
        box = self._boxes.pop(group, None)
        self._pending = [(c, slot) for c, slot in self._pending if c not in charts]
        for chart in charts:
            chart.stop()
            if chart in self.controls.charts:
                self.controls.charts.remove(chart)
        self.chart_box.children = [b for b in self.chart_box.children if b is not box]
        for chart in charts:
            _close_figure(chart)

    def _changed(self, added: tuple[str, ...], removed: tuple[str, ...]) -> None:
        if added:
            self._add_market(added)
        for group in [g for g in self.charts if set(g) <= set(removed)]:
            self._remove_market(group)

    async def _resolve(self, key: str, venue: str) -> Sequence[str]:
        from polyresearch.lookup import alookup

        market = await alookup(key, venue="us" if venue == "us" else "clob", base_url=self.rest_url)
        return market.asset_ids


def _close_figure(chart: LiveChart) -> None:
    close = getattr(chart.figure, "close", None)
    if close is not None:
        close()


def dashboard(
    feed: ClobFeed | UsFeed, *, name: str = "default", start: bool = True, **kwargs: Any
) -> Dashboard:
    """Compose (and by default start) the live dashboard of ``feed``.

    Args:
        feed: a running (or about to run) feed.
        name: registry key; a second dashboard under the same name closes the first.
        start: start the timers now (needs a running loop: a notebook cell).
        **kwargs: see :class:`Dashboard` (``rest_url`` for look-ups against the simulator,
            ``markets`` to group tokens explicitly, ``interval``, ``max_points``, ``window``).
    """
    old = _registry.pop(name, None)
    if old is not None:
        old.close()
    board = Dashboard(feed, **kwargs)
    _registry[name] = board
    if start:
        board.start()
    return board
