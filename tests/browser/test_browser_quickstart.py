"""The quickstart in a real browser: JupyterLab + headless Debian Chromium driven by Playwright.

What a user does and sees, checked from the page itself (Plotly's trace data read from the
DOM, not the kernel's idea of it). One JupyterLab and one page serve the module's tests:

- the dashboard renders (every chart with its title and traces: this caught FigureWidgets
  rendered empty for good, see ``charts._FigureWidget``), pause/resume round-trips through the
  kernel, and a market added by slug through the picker gets its own chart;
- the price traces advance, pause freezes them while data keeps arriving, resume moves them
  again.

Findings (issue 6): the charts that "never applied later updates" were anywidget models that
had died. anywidget 0.11 gives each model 2 s from its ``comm_open`` in the page to load its ES
module (``AbortSignal.timeout(2000)`` in its Runtime); a model that misses it rejects its
``ready`` promise, and its ``_handle_comm_msg`` awaits that promise, so every later message of
the model (all ``_py2js_update``s) is dropped for good and its view never acks. Every Plotly
FigureWidget ships the ~5 MB widget bundle as its own module; five of them loading together
on a loaded box miss the 2 s (the page logs ``pageerror: [anywidget] Failed to initialize
model.``, once per dead chart: seen 3 times of 5 with the console captured here). A single
chart loads in time, which is why "display in one cell, update from the next" worked. Fix:
the dashboard opens its figures' comms one at a time, each after the page drew the previous
one (``charts.deferred_comms``, ``Dashboard._open_in_turn``). Second finding: with the
simulator's default ``lifecycle_rate`` the two followed markets resolved within about a
minute, so the flow (and the quickstart's "wait for 20 trades" cell, which holds the kernel's
shell so widget clicks wait) could stop; the quickstart turns resolution off. Residual: on
this box (8 sessions, 2 cores) a single figure's module was still seen once to miss the 2 s
(one "Failed to initialize model" in a run where every test passed); only a smaller bundle
per figure, or one module shared by all figures, would remove that. When that happened to the
first figure, the opener took the silence for "no page" and opened the rest at once (all
dead); it now gives the first figure one new widget first (``LiveChart.renew_figure``).

Pause/resume (was xfail, "round trip sometimes > 45 s"): measured with the click's page time
and the kernel handler's time, the click reached the kernel in 0.1-7 s but the kernel's
relabel reached the page 100-110 s later. The kernel sent redraws faster than the page drew
them, and everything else on iopub queued behind the backlog. Each chart now keeps at most
one redraw the page has not confirmed (Plotly's ``_js2py_traceDeltas``, see
``charts.LiveChart._page_busy``): relabel 0.04-4 s, whole round trip 0.1-10 s on the same box.
The date axis: the page showed epoch ms (1.795T) because Plotly.js re-guesses an axis' type
when an update replaces its data; every update now restates ``xaxis.type``.

Waits are conditions with generous limits (a loaded 2-core box), never fixed sleeps; the only
interval is "the chart stayed still for several status refreshes", which is what paused means.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from _browser_lab import (
    ROOT,
    LabServer,
    capture_console,
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


@dataclass
class Session:
    lab: LabServer
    page: Any
    outdir: Path
    console: list[str]  # every console line and page error (capture_console)


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    """JupyterLab with the quickstart, headless Chromium on it, Run All done."""
    reason = missing_browser_stack()
    if reason is not None:
        if os.environ.get("CI"):  # CI must run it: a missing browser is a broken install
            pytest.fail(f"browser test cannot run in CI: {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    outdir = tmp_path_factory.mktemp("browser")
    server = LabServer(outdir, [NOTEBOOK])
    errors: list[str] = []
    try:
        server.start()
        with sync_playwright() as p:
            context = launch_chromium(p, outdir / "chromium-profile")
            try:
                page = context.pages[0] if context.pages else context.new_page()
                capture_console(page, errors, outdir / "console.log")
                open_notebook(page, server, NOTEBOOK, timeout=LONG)
                run_all(page)
                yield Session(server, page, outdir, errors)
                # What the page looked like at the end (a failed wait included).
                page.screenshot(path=str(outdir / "last.png"))
                # Errors of the page (widget views fail silently otherwise): in the test log.
                for line in errors:
                    if "error" in line.lower() or "warn" in line.lower():
                        print(line[:2000])
            finally:
                context.close()
    finally:
        server.stop()


def _screenshot(s: Session, name: str) -> Path:
    """Save a screenshot in the test's output dir and copy it to build/browser/ for humans."""
    chart = s.page.locator(".jp-NotebookPanel .js-plotly-plot").first
    chart.scroll_into_view_if_needed(timeout=LONG * 1000)  # a live chart is rarely "stable"
    path = s.outdir / f"{name}.png"
    s.page.screenshot(path=str(path))
    stable = STABLE_SCREENSHOT.with_name(f"{name}.png")
    stable.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, stable)
    print(f"screenshot: {path} (copied to {stable})")
    return path


def _price_plots(page: Any) -> list[dict[str, Any]]:
    return [p for p in plots(page) if p["title"] == "Price"]


def _state(page: Any) -> tuple[tuple[str, int, float | None], ...]:
    """Every price trace's (name, points, last x): equal states mean nothing was redrawn."""
    return tuple((t["name"], t["n"], t["last"]) for p in _price_plots(page) for t in p["traces"])


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


@pytest.mark.timeout(600)
def test_quickstart_price_charts_advance_in_the_page(session: Session) -> None:
    """Issue 6: the page applies the kernel's later updates (runs first: no pause clicked)."""
    page = session.page
    first = _advances(page, 0.0, "price traces to get data")
    second = _advances(page, first, "the price traces to advance")
    _advances(page, second, "the price traces to advance again")
    # The time axis shows times (Plotly.js re-guessed it as "linear" after the first update,
    # showing 1.795T: see charts._FigureWidget._send_update_msg).
    axes = wait_for(
        "every time chart's x axis to be a date axis with data",
        lambda: (a := _time_axes(page)) and all(x["n"] for x in a) and a,
        LONG,
    )
    for axis in axes:
        assert axis["type"] == "date", axis
        assert axis["ticks"] and all(re.search(r"\d:\d\d", t) for t in axis["ticks"]), axis
    _screenshot(session, "quickstart-advancing")


# One scenario on a loaded 2-core box: server, kernel, Chromium and ~25 MB of widget bundles.
@pytest.mark.timeout(600)
def test_quickstart_dashboard_renders_and_its_controls_work(session: Session) -> None:
    page = session.page
    # Every chart arrives with its title and traces (2 markets: price + spread each, 1 depth).
    wait_for("the dashboard's five charts", lambda: len(plots(page)) >= 5, LONG)
    titles = wait_for(
        "every chart's title and traces",
        lambda: (
            (t := [p["title"] for p in plots(page)])
            and all(p["title"] and p["traces"] for p in plots(page))
            and t
        ),
        LONG,
    )
    assert titles.count("Price") == 2 and titles.count("Spread") == 2, titles
    assert any(t.startswith("Book ") for t in titles), titles
    names = {t["name"] for p in _price_plots(page) for t in p["traces"]}
    match = re.search(r"more to add in the picker \(markets\): (\S+)", _output_text(page))
    assert match is not None, _output_text(page)
    assert any(n.endswith(" mid") for n in names), names
    # The status panel is refreshed by a kernel timer: it changes in the page.
    _status_refreshes(page, 2)
    assert "clob-market-0: connected" in _status(page)

    # Pause and resume: the click reaches the kernel, whose observer relabels the button.
    # Clicked once the charts draw data (the dashboard opens its figures one at a time).
    _advances(page, 0.0, "price traces to get data")
    _set_paused(page, True)
    _set_paused(page, False)

    # Add the third market by slug through the picker: the look-up runs against the
    # simulator's REST, the feed subscribes, the dashboard adds its price and spread charts.
    slug = match.group(1)
    picker = page.locator(".jp-NotebookPanel .polyresearch-picker").first
    header = page.locator(".jp-NotebookPanel .jupyter-widget-Collapse-header", has_text="markets")

    def expanded() -> bool:
        if picker.is_visible():
            return True
        header.first.click()  # the "markets" accordion starts collapsed
        return False

    wait_for("the picker to show", expanded, SHORT, step=2.0)
    page.locator(".jp-NotebookPanel .polyresearch-picker-key input").first.fill(slug)
    page.locator(".jp-NotebookPanel .polyresearch-picker-add").first.click()
    status = page.locator(".jp-NotebookPanel .polyresearch-picker-status").first
    wait_for(
        "the picker to confirm the add",
        lambda: f"added 2 asset(s) for '{slug}'" in status.inner_text(),
        LONG,
    )

    def new_price_chart() -> dict[str, Any] | None:
        for chart in _price_plots(page):
            new = {t["name"] for t in chart["traces"]}
            if new and not new & names:
                return chart
        return None

    added = wait_for("the added market's price chart", new_price_chart, LONG)
    assert any(t["name"].endswith(" mid") for t in added["traces"]), added
    assert len(_price_plots(page)) == 3
    errors = page.locator(".jp-NotebookPanel [data-mime-type='application/vnd.jupyter.error']")
    assert errors.count() == 0, errors.all_inner_texts()
    # anywidget's sign of a chart that will never update (see the module's findings). Not
    # asserted: one figure's 5 MB module alone can still take > 2 s on a box this loaded
    # (seen once: the picker's new charts), which only a smaller widget bundle would fix.
    dead = [e for e in session.console if "Failed to initialize model" in e]
    print(f"anywidget models that failed to initialize: {len(dead)}")
    assert _screenshot(session, "quickstart").stat().st_size > 10_000


@pytest.mark.timeout(600)
def test_quickstart_chart_data_advances_pauses_and_resumes(session: Session) -> None:
    page = session.page
    first = _advances(page, 0.0, "price traces to get data")
    second = _advances(page, first, "the price traces to advance")
    _advances(page, second, "the price traces to advance again")

    _set_paused(page, True)
    _status_refreshes(page, 1)  # the redraw in flight when pause landed has arrived
    frozen = _state(page)
    _status_refreshes(page, 3)  # >= 3 s at 1 s per refresh: >= 12 chart ticks
    assert _state(page) == frozen, "the chart kept redrawing while paused"
    assert re.search(r"\b[1-9]\d* msgs/s", _status(page)), _status(page)

    _set_paused(page, False)
    _advances(page, max(t[2] or 0.0 for t in frozen), "the chart to move after resume")
    _screenshot(session, "quickstart-live")


#: Per Price/Spread chart: the x axis type Plotly.js resolved, tick labels, first trace's points.
TIME_AXES_JS = """
() => Array.from(document.querySelectorAll(
    '.jp-NotebookPanel:not(.lm-mod-hidden) .js-plotly-plot')).filter(gd =>
      gd.layout && gd.layout.title && ['Price', 'Spread'].includes(gd.layout.title.text)
    ).map(gd => ({
      title: gd.layout.title.text,
      type: gd._fullLayout && gd._fullLayout.xaxis ? gd._fullLayout.xaxis.type : null,
      ticks: Array.from(gd.querySelectorAll('.xtick text')).map(t => t.textContent),
      n: gd.data && gd.data[0] && gd.data[0].x ? gd.data[0].x.length : 0,
    }))
"""


def _time_axes(page: Any) -> list[dict[str, Any]]:
    axes: list[dict[str, Any]] = page.evaluate(TIME_AXES_JS)
    return axes


def _set_paused(page: Any, paused: bool) -> None:
    """Click pause (or resume) unless the page's toggle already has that value; then wait for
    the kernel's answer: its observer relabels the button (a round trip through the kernel).

    The toggle's value (``mod-active``) changes in the page at the click; its label only when
    the kernel handled it. Deciding on the value keeps a slow round trip from a previous click
    from being undone by a second click.
    """
    pause = page.locator(".jp-NotebookPanel .polyresearch-pause").first
    if ("mod-active" in (pause.get_attribute("class") or "")) != paused:
        pause.click()
    want = "resume" if paused else "pause"
    wait_for(f"the button to read {want!r}", lambda: want in _pause_text(page), LONG)


def _pause_text(page: Any) -> str:
    text: str = (
        page.locator(".jp-NotebookPanel .polyresearch-pause").first.inner_text().strip().lower()
    )
    return text


def _status_refreshes(page: Any, count: int) -> None:
    """Wait for ``count`` changes of the status panel (a kernel timer refreshes it every second)."""
    last = _status(page)
    for _ in range(count):
        last = wait_for(
            "the status panel to refresh",
            lambda last=last: (s := _status(page)) != last and s,
            LONG,
        )
