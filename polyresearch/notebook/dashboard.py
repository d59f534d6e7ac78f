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
)
from polyresearch.notebook.controls import ChartControls, StatusPanel, SubscriptionPicker

if TYPE_CHECKING:
    from polyresearch.feed import ClobFeed, Feed, UsFeed
    from polyresearch.notebook.runner import Runner

__all__ = ["Dashboard", "dashboard", "market_groups"]

logger = logging.getLogger("polyresearch.notebook")

_registry: dict[str, Dashboard] = {}


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
        groups = [tuple(g) for g in markets] if markets is not None else market_groups(feed)
        for group in groups[:max_markets]:
            self._add_market(group)
        self.depth: DepthChart | None = None
        if depth and groups:
            # Given the feed (not feed.books), its ticks read through feed.read.
            self.depth = DepthChart(feed, groups[0][0], interval=interval)
            self.controls.add(self.depth)
        parts: list[Any] = [self.status.widget, self.controls.widget, self.chart_box]
        if self.depth is not None:
            parts.append(self.depth.figure)
        parts.append(w.Accordion(children=[self.picker.widget], titles=("markets",)))
        self.widget = w.VBox(parts)

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    @property
    def all_charts(self) -> list[LiveChart]:
        """Every live chart of the dashboard."""
        out = [c for charts in self.charts.values() for c in charts]
        return out if self.depth is None else [*out, self.depth]

    def start(self) -> Dashboard:
        """Start the chart and status timers on the running loop (the kernel's)."""
        self._started = True
        for chart in self.all_charts:
            chart.start()
        self.status.start()
        return self

    def close(self) -> None:
        """Stop every timer and close the widgets (re-running the cell calls this)."""
        self._started = False
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
        self.chart_box.children = [
            *self.chart_box.children,
            w.VBox([chart.figure for chart in charts]),
        ]

    def _remove_market(self, group: tuple[str, ...]) -> None:
        charts = self.charts.pop(group, [])
        figures = {id(chart.figure) for chart in charts}
        for chart in charts:
            chart.stop()
            if chart in self.controls.charts:
                self.controls.charts.remove(chart)
        self.chart_box.children = [
            box
            for box in self.chart_box.children
            if not any(id(child) in figures for child in box.children)
        ]
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
