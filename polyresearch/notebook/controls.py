"""ipywidgets controls: subscription picker, chart settings, and a status panel.

Each piece works alone and takes what it drives as an argument (a feed, charts); none of them
imports the feed or the look-up: the picker gets an optional ``resolve`` coroutine (the
dashboard passes :func:`polyresearch.lookup.alookup`). Widget callbacks run on the kernel's
loop (measured: JupyterLab and Notebook 7 deliver comm messages on the main thread), so the
picker schedules its subscribe/unsubscribe coroutines there and keeps the task references.
"""

from __future__ import annotations

import asyncio
import html
import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, Protocol

import ipywidgets as w

from polyresearch.notebook.charts import DEFAULT_INTERVAL, MIN_INTERVAL, LiveChart, reader_of

__all__ = ["ChartControls", "StatusPanel", "SubscriptionPicker", "is_token_id"]

logger = logging.getLogger("polyresearch.notebook")

#: A CLOB token id: a long decimal number (77 digits on Polymarket, shorter in tests).
_TOKEN_ID = re.compile(r"^\d{20,}$")

Resolve = Callable[[str, str], Awaitable[Sequence[str]]]


class SubscribableFeed(Protocol):
    """What the picker needs of a feed."""

    @property
    def venue(self) -> str: ...

    @property
    def subscribed(self) -> tuple[str, ...]: ...

    async def subscribe(self, assets: Iterable[str]) -> None: ...

    async def unsubscribe(self, assets: Iterable[str]) -> None: ...


def is_token_id(text: str) -> bool:
    """Whether ``text`` is a CLOB token id (subscribed as is, without a look-up).

    Example:
        >>> is_token_id("1" * 77), is_token_id("will-it-rain"), is_token_id("0xabc")
        (True, False, False)
    """
    return bool(_TOKEN_ID.match(text))


class SubscriptionPicker:
    """Add or remove markets by slug, token id or condition id.

    Args:
        feed: the feed to drive (``subscribe``/``unsubscribe``/``subscribed``).
        resolve: ``await resolve(key, venue)`` -> the asset ids of the market named by ``key``
            (slug, condition id, URL). Without it every key is taken as an asset id.
        on_change: called with ``(added, removed)`` asset ids after each change.

    Attributes:
        widget: the composed box to display.
        message: the last outcome, as plain text.
    """

    def __init__(
        self,
        feed: SubscribableFeed,
        *,
        resolve: Resolve | None = None,
        on_change: Callable[[tuple[str, ...], tuple[str, ...]], None] | None = None,
    ) -> None:
        self.feed = feed
        self.resolve = resolve
        self.on_change = on_change
        self.message = ""
        self._tasks: set[asyncio.Task[None]] = set()
        self.text = w.Text(placeholder="slug, token id or condition id", description="market")
        self.venue = w.ToggleButtons(options=["clob", "us"], value=feed.venue, description="venue")
        self.add_button = w.Button(description="add", icon="plus")
        self.remove_button = w.Button(description="remove", icon="minus")
        self.subscribed = w.SelectMultiple(options=feed.subscribed, rows=6, description="following")
        self.status = w.HTML()
        self.add_button.on_click(lambda _b: self._spawn(self.add(self.text.value)))
        self.remove_button.on_click(lambda _b: self._spawn(self._remove_clicked()))
        self.widget = w.VBox(
            [
                w.HBox([self.text, self.add_button, self.remove_button]),
                self.venue,
                self.subscribed,
                self.status,
            ]
        )
        # Stable hooks for the browser test and for users' CSS (descriptions may change).
        self.widget.add_class("polyresearch-picker")
        self.text.add_class("polyresearch-picker-key")
        self.add_button.add_class("polyresearch-picker-add")
        self.remove_button.add_class("polyresearch-picker-remove")
        self.status.add_class("polyresearch-picker-status")

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    async def add(self, key: str) -> tuple[str, ...]:
        """Look ``key`` up (unless it is an asset id) and subscribe to its assets."""
        key = key.strip()
        if not key:
            return ()
        try:
            assets = await self._assets(key)
            new = tuple(a for a in assets if a not in self.feed.subscribed)
            await self._on_feed_loop(self.feed.subscribe(new))
        except Exception as exc:
            self._say(f"could not add {key!r}: {exc}", error=True)
            return ()
        self._refresh()
        self._say(f"added {len(new)} asset(s) for {key!r}" if new else f"{key!r}: already followed")
        if new and self.on_change is not None:
            self.on_change(new, ())
        self.text.value = ""
        return new

    async def remove(self, keys: Iterable[str]) -> tuple[str, ...]:
        """Unsubscribe assets (asset ids, or keys to look up)."""
        gone: list[str] = []
        try:
            for key in keys:
                if key in self.feed.subscribed:
                    gone.append(key)
                else:
                    gone.extend(a for a in await self._assets(key) if a in self.feed.subscribed)
            await self._on_feed_loop(self.feed.unsubscribe(gone))
        except Exception as exc:
            self._say(f"could not remove: {exc}", error=True)
            return ()
        self._refresh()
        self._say(f"removed {len(gone)} asset(s)")
        if gone and self.on_change is not None:
            self.on_change((), tuple(gone))
        return tuple(gone)

    async def settle(self) -> None:
        """Wait for the add/remove operations started by clicks."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _remove_clicked(self) -> None:
        keys = list(self.subscribed.value) or [self.text.value.strip()]
        await self.remove([k for k in keys if k])

    async def _on_feed_loop(self, coro: Awaitable[None]) -> None:
        """Await ``coro`` on the loop the feed's connections live on (a runner's thread)."""
        # Adapter: feed.py keeps its loop private (``_loop``); in thread mode it is not ours.
        loop = getattr(self.feed, "_loop", None)
        if isinstance(loop, asyncio.AbstractEventLoop) and loop is not _running_loop():
            await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(_awaited(coro), loop))
        else:
            await coro

    async def _assets(self, key: str) -> Sequence[str]:
        if self.resolve is None or is_token_id(key) or key in self.feed.subscribed:
            return (key,)
        return tuple(await self.resolve(key, self.venue.value))

    def _spawn(self, coro: Awaitable[Any]) -> None:
        async def run() -> None:
            await coro

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _refresh(self) -> None:
        self.subscribed.options = self.feed.subscribed

    def _say(self, text: str, *, error: bool = False) -> None:
        self.message = text
        color = "#b00" if error else "#070"
        self.status.value = f'<span style="color:{color}">{html.escape(text)}</span>'
        if error:
            logger.warning("picker: %s", text)


class ChartControls:
    """Window length, refresh period and pause/resume for one or more live charts.

    Args:
        charts: the charts to drive (more can be added to ``charts`` later).
        window: initial window in seconds (0: everything the tables hold).
        interval: initial refresh period in seconds.
    """

    def __init__(
        self,
        charts: Sequence[LiveChart],
        *,
        window: float = 0.0,
        interval: float = DEFAULT_INTERVAL,
    ) -> None:
        self.charts: list[LiveChart] = list(charts)
        self.window = w.BoundedFloatText(
            value=window, min=0, max=86_400, step=10, description="window s"
        )
        self.refresh_ms = w.BoundedIntText(
            value=round(interval * 1000),
            min=round(MIN_INTERVAL * 1000),
            max=10_000,
            step=50,
            description="refresh ms",
        )
        self.pause = w.ToggleButton(value=False, description="pause", icon="pause")
        self.window.observe(lambda _c: self.apply(), names="value")
        self.refresh_ms.observe(lambda _c: self.apply(), names="value")
        self.pause.observe(self._on_pause, names="value")
        self.widget = w.HBox([self.window, self.refresh_ms, self.pause])
        self.pause.add_class("polyresearch-pause")  # a stable hook (its description toggles)
        self.apply()

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    def add(self, chart: LiveChart) -> None:
        """Drive one more chart with the current settings."""
        self.charts.append(chart)
        self.apply()

    def apply(self) -> None:
        """Push the widgets' values to every chart."""
        window = float(self.window.value) or None
        for chart in self.charts:
            if chart.window != window:
                chart.window = window
            chart.interval = self.refresh_ms.value / 1000
            chart.paused = bool(self.pause.value)

    def _on_pause(self, change: dict[str, Any]) -> None:
        paused = bool(change["new"])
        self.pause.description = "resume" if paused else "pause"
        self.pause.icon = "play" if paused else "pause"
        self.apply()


class StatusPanel:
    """Connection state per channel, msgs/s, drops, resyncs, assets not live, lag, job errors.

    Args:
        feed: anything with ``stats()`` returning a feed's stats, and ``subscribed``.
        runner: a :class:`~polyresearch.notebook.runner.Runner` whose failed jobs to show.
        interval: seconds between refreshes when started.
    """

    def __init__(self, feed: Any, *, runner: Any = None, interval: float = 1.0) -> None:
        self.feed = feed
        self.runner = runner
        self.interval = interval
        self.html = w.HTML()
        self.html.add_class("polyresearch-status")
        self.widget = self.html
        self.summary: dict[str, Any] = {}
        self._last: tuple[float, int] | None = None
        self._task: asyncio.Task[None] | None = None
        self.refresh()

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    def refresh(self, now: float | None = None) -> dict[str, Any]:
        """Read the feed's stats, update the panel, and return the figures shown."""
        now = time.monotonic() if now is None else now
        # One read through the feed (on its own thread in thread mode): stats() walks live
        # books and tables that the feed's thread is writing.
        read = reader_of(self.feed)
        gather = self._gather
        stats, subscribed = gather() if read is None else read(gather)
        rate = 0.0
        if self._last is not None and now > self._last[0]:
            rate = (stats.frames_in - self._last[1]) / (now - self._last[0])
        self._last = (now, stats.frames_in)
        books = stats.books
        errors = [] if stats.error is None else [f"feed: {stats.error}"]
        if self.runner is not None:
            errors += [f"{j.name}: {j.error!r}" for j in self.runner.jobs.values() if j.error]
        self.summary = {
            "running": stats.running,
            "channels": {c.name: c.state for c in stats.connections},
            "msgs_per_s": rate,
            "frames_in": stats.frames_in,
            "drops": sum(stats.dropped.values()),
            "reconnects": stats.reconnects,
            "resyncs": stats.resyncs,
            "not_live": max(0, subscribed - books.live),
            "lag_ms_p50": stats.store.lag_ms_p50,
            "errors": errors,
        }
        self.html.value = _render(self.summary)
        return self.summary

    def _gather(self) -> tuple[Any, int]:
        return self.feed.stats(), len(self.feed.subscribed)

    def start(self) -> StatusPanel:
        """Refresh every ``interval`` seconds on the running loop; idempotent."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._timer())
        return self

    def stop(self) -> None:
        """Stop refreshing."""
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _timer(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                self.refresh()
            except Exception:
                logger.exception("status panel refresh failed")


async def _awaited(coro: Awaitable[None]) -> None:
    await coro


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _render(s: dict[str, Any]) -> str:
    channels = " ".join(
        f'<span style="color:{"#070" if state == "connected" else "#b60"}">'
        f"{html.escape(name)}: {html.escape(state)}</span>"
        for name, state in s["channels"].items()
    )
    lag = "n/a" if s["lag_ms_p50"] is None else f"{s['lag_ms_p50']:.0f} ms"
    line = (
        f"{'running' if s['running'] else 'stopped'} | {channels or 'no connection'} | "
        f"{s['msgs_per_s']:.0f} msgs/s | drops {s['drops']} | reconnects {s['reconnects']} | "
        f"resyncs {s['resyncs']} | not live {s['not_live']} | lag p50 {lag}"
    )
    errors = "".join(f'<div style="color:#b00">{html.escape(e)}</div>' for e in s["errors"])
    return f"<div style='font-family:monospace'>{line}</div>{errors}"
