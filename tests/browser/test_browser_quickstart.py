"""The quickstart in a real browser: JupyterLab + headless Debian Chromium driven by Playwright.

What a user does and sees, checked from the page itself (Plotly's trace data read from the
DOM, not the kernel's idea of it): Run All, the price chart's traces advance, the pause
button freezes them while data keeps arriving (the status panel keeps refreshing), resume
moves them again, and a market added through the picker gets its own chart with data.

Waits are conditions with generous limits (a loaded 2-core box), never fixed sleeps; the only
interval is "the chart stayed still for several status refreshes", which is what paused means.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _browser_lab import (
    ROOT,
    LabServer,
    launch_chromium,
    missing_browser_stack,
    open_notebook,
    plots,
    run_all,
    wait_for,
)

pytestmark = pytest.mark.browser

NOTEBOOK = "01_quickstart.ipynb"
#: Where the last screenshot is copied for humans (build/ is gitignored).
STABLE_SCREENSHOT = ROOT / "build" / "browser" / "quickstart.png"
#: Generous limits for a loaded 2-core box (scaled like the other tests' waits).
UNIT = float(os.environ.get("POLYRESEARCH_TEST_UNIT", "1"))
LONG = 90.0 * UNIT
SHORT = 45.0 * UNIT


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[LabServer]:
    reason = missing_browser_stack()
    if reason is not None:
        if os.environ.get("CI"):  # CI must run it: a missing browser is a broken install
            pytest.fail(f"browser test cannot run in CI: {reason}")
        pytest.skip(reason)
    server = LabServer(tmp_path, [NOTEBOOK])
    try:
        server.start()
        yield server
    finally:
        server.stop()


def _price_plots(page: Any) -> list[dict[str, Any]]:
    return [p for p in plots(page) if p["title"] == "Price"]


def _state(page: Any) -> tuple[tuple[str, int, float | None], ...]:
    """Every price trace's (name, points, last x): equal states mean nothing was redrawn."""
    return tuple(
        (t["name"], t["n"], t["last"]) for p in _price_plots(page) for t in p["traces"]
    )


def _newest(page: Any) -> float:
    """The newest x (epoch ms) over the price charts' traces; 0 when none has data."""
    return max((t["last"] or 0.0 for p in _price_plots(page) for t in p["traces"]), default=0.0)


def _status(page: Any) -> str:
    text: str = page.locator(".jp-NotebookPanel .polyresearch-status").first.inner_text()
    return text


def _advances(page: Any, since: float, what: str) -> float:
    return wait_for(what, lambda: (n := _newest(page)) > since and n, LONG)


def _output_text(page: Any) -> str:
    texts: list[str] = page.locator(".jp-NotebookPanel .jp-OutputArea-output").all_inner_texts()
    return "\n".join(texts)


def test_quickstart_live_chart_pause_resume_and_picker(lab: LabServer, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    screenshot = tmp_path / "quickstart.png"
    console_errors: list[str] = []
    with sync_playwright() as p:
        context = launch_chromium(p, tmp_path / "chromium-profile")
        page = context.pages[0] if context.pages else context.new_page()
        page.on(
            "console",
            lambda m: console_errors.append(m.text) if m.type == "error" else None,
        )
        try:
            open_notebook(page, lab, NOTEBOOK, timeout=LONG)
            run_all(page)

            # 1. Live: two price charts with data, and their newest point moves on twice.
            wait_for("two price charts with data", lambda: len(_price_plots(page)) >= 2, LONG)
            first = _advances(page, 0.0, "price traces to get data")
            second = _advances(page, first, "the price traces to advance")
            _advances(page, second, "the price traces to advance again")
            initial_names = {t["name"] for p in _price_plots(page) for t in p["traces"]}

            # 2. Pause: the chart freezes while the feed goes on (the status panel refreshes).
            pause = page.locator(".jp-NotebookPanel .polyresearch-pause button").or_(
                page.locator(".jp-NotebookPanel button.polyresearch-pause")
            )
            pause.first.click()
            wait_for("the pause button to read 'resume'", lambda: "resume" in _pause_text(page), SHORT)
            _status_refreshes(page, 1)  # the redraw in flight when pause landed has arrived
            frozen = _state(page)
            _status_refreshes(page, 3)  # >= 3 s at 1 s per refresh: >= 12 chart ticks
            assert _state(page) == frozen, "the chart kept redrawing while paused"
            assert re.search(r"\b[1-9]\d* msgs/s", _status(page)), _status(page)

            # 3. Resume: it moves again.
            pause.first.click()
            wait_for("the button to read 'pause'", lambda: "pause" in _pause_text(page), SHORT)
            _advances(page, max(t[2] or 0.0 for t in frozen), "the chart to move after resume")

            # 4. Add a market by slug through the picker: its chart appears and gets data.
            match = re.search(r"more to add in the picker \(markets\): (\S+)", _output_text(page))
            assert match is not None, _output_text(page)
            slug = match.group(1)
            picker = page.locator(".jp-NotebookPanel .polyresearch-picker").first
            if not picker.is_visible():  # the "markets" accordion starts collapsed
                page.locator(".jp-NotebookPanel").get_by_text("markets", exact=True).first.click()
            picker.wait_for(state="visible", timeout=SHORT * 1000)
            key = page.locator(".jp-NotebookPanel .polyresearch-picker-key input").first
            key.fill(slug)
            page.locator(".jp-NotebookPanel button.polyresearch-picker-add").first.click()
            wait_for(
                "the picker to confirm the add",
                lambda: f"added 2 asset(s) for '{slug}'"
                in page.locator(".jp-NotebookPanel .polyresearch-picker-status").first.inner_text(),
                LONG,
            )

            def new_price_chart() -> dict[str, Any] | None:
                for chart in _price_plots(page):
                    names = {t["name"] for t in chart["traces"]}
                    if names and not names & initial_names and any(
                        t["n"] > 0 for t in chart["traces"]
                    ):
                        return chart
                return None

            added = wait_for("the added market's price trace with data", new_price_chart, LONG)
            assert len(_price_plots(page)) == 3
            assert any(t["name"].endswith(" mid") and t["n"] > 0 for t in added["traces"])

            # No cell raised (an error output is what a user would see of a failure).
            errors = page.locator(".jp-NotebookPanel [data-mime-type='application/vnd.jupyter.error']")
            assert errors.count() == 0, errors.all_inner_texts()
            page.locator(".jp-NotebookPanel .js-plotly-plot").first.scroll_into_view_if_needed()
        finally:
            page.screenshot(path=str(screenshot))
            context.close()

    STABLE_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(screenshot, STABLE_SCREENSHOT)
    print(f"screenshot: {screenshot} (copied to {STABLE_SCREENSHOT})")
    assert screenshot.stat().st_size > 10_000
    assert not [e for e in console_errors if "polyresearch" in e.lower()], console_errors


def _pause_text(page: Any) -> str:
    text: str = (
        page.locator(".jp-NotebookPanel .polyresearch-pause").first.inner_text().strip().lower()
    )
    return text


def _status_refreshes(page: Any, count: int) -> None:
    """Wait until the status panel (refreshed by a kernel timer every second) changed ``count`` times."""
    last = _status(page)
    for _ in range(count):
        last = wait_for(
            "the status panel to refresh",
            lambda last=last: (s := _status(page)) != last and s,
            LONG,
        )
