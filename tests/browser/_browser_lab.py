"""A throwaway JupyterLab server and headless Debian Chromium, for the browser tests.

The recipe is the one measured in docs/jupyter-notes.md: JupyterLab on 127.0.0.1 with an empty
token, its own root, config, settings, runtime and workspace directories (nothing of the
developer's own Jupyter setup leaks in, nothing is left behind), kernels that import this
checkout (``PYTHONPATH``), and Playwright (Python) driving the system's ``chromium`` through
``executable_path``. Playwright's own browser download is never used.

Shutdown is belt and braces because a leaked kernel keeps streaming on a 2-core box: every
kernel is deleted through the REST API, then the server is asked to stop, then its process
group (the server and its kernels, started in a new session) is killed by id.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import httpx

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"

#: Debian's chromium wrapper; override with POLYRESEARCH_CHROMIUM.
DEFAULT_CHROMIUM = "/usr/bin/chromium"

#: The flags measured to work headless on the project's machines (docs/jupyter-notes.md).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # Headless pages are never "visible"; without these Chromium throttles the page's timers,
    # and a slow box would read as a slow chart.
    "--disable-background-timer-throttling",
    "--disable-renderer-backgrounding",
    "--disable-backgrounding-occluded-windows",
]

#: Every Plotly graph div of the visible notebook, its title and per trace: name, points, last x.
PLOTS_JS = """
() => Array.from(document.querySelectorAll(
    '.jp-NotebookPanel:not(.lm-mod-hidden) .js-plotly-plot')).map(gd => {
  const title = gd.layout && gd.layout.title ? (gd.layout.title.text ?? '') : '';
  const traces = (gd.data || []).map(t => {
    const x = t.x || [];
    const n = x.length;
    let last = n ? x[n - 1] : null;
    if (typeof last === 'string') { last = Date.parse(last); }
    return {name: String(t.name ?? ''), n: n, last: last === null ? null : Number(last)};
  });
  return {title: String(title), traces: traces};
})
"""

T = TypeVar("T")


def chromium_path() -> str | None:
    """The Chromium binary to drive, or None when it is not installed."""
    candidate = os.environ.get("POLYRESEARCH_CHROMIUM", DEFAULT_CHROMIUM)
    if Path(candidate).is_file() and os.access(candidate, os.X_OK):
        return candidate
    return shutil.which("chromium")


def missing_browser_stack() -> str | None:
    """Why a browser test cannot run here (None: it can)."""
    try:
        import jupyterlab  # noqa: F401
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        return f"{exc.name} is not installed (pip install -e '.[test]')"
    if chromium_path() is None:
        return (
            "Debian chromium is not installed (apt-get install -y chromium, or "
            "`bash scripts/setup.sh dev` as root); never `playwright install`"
        )
    return None


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for(what: str, probe: Callable[[], T | None], timeout: float, step: float = 0.2) -> T:
    """Poll ``probe`` until it returns something truthy; AssertionError naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(step)


class LabServer:
    """JupyterLab on 127.0.0.1 serving ``notebooks`` copied into ``workdir / 'root'``.

    Example:
        >>> with LabServer(tmp_path, ["01_quickstart.ipynb"]) as lab:  # doctest: +SKIP
        ...     page.goto(lab.notebook_url("01_quickstart.ipynb"))
    """

    def __init__(
        self,
        workdir: Path,
        notebooks: Sequence[str | Path] = (),
        *,
        extra_files: dict[str, str] | None = None,
    ) -> None:
        self.workdir = workdir
        self.root = workdir / "root"
        self.log_path = workdir / "jupyterlab.log"
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: Any = None
        self.root.mkdir(parents=True, exist_ok=True)
        for notebook in notebooks:
            source = Path(notebook) if Path(notebook).is_absolute() else NOTEBOOKS / notebook
            shutil.copy(source, self.root / source.name)
        for name, text in (extra_files or {}).items():
            (self.root / name).write_text(text)

    @property
    def url(self) -> str:
        """The server's base URL."""
        return f"http://127.0.0.1:{self.port}"

    def notebook_url(self, name: str, workspace: str | None = None) -> str:
        """A fresh-workspace URL that opens ``name`` (no restored tabs from earlier runs)."""
        workspace = workspace or f"t{os.getpid()}-{time.monotonic_ns()}"
        return f"{self.url}/lab/workspaces/{workspace}/tree/{name}?reset"

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        jupyter = self.workdir / "jupyter"
        settings = jupyter / "lab-settings"
        notification = settings / "@jupyterlab" / "apputils-extension"
        notification.mkdir(parents=True, exist_ok=True)
        # No "news?" toast over the charts, no update check (no network here anyway).
        (notification / "notification.jupyterlab-settings").write_text(
            json.dumps({"fetchNews": "false", "checkForUpdates": False})
        )
        env.update(
            JUPYTER_CONFIG_DIR=str(jupyter / "config"),
            JUPYTER_DATA_DIR=str(jupyter / "data"),
            JUPYTER_RUNTIME_DIR=str(jupyter / "runtime"),
            JUPYTERLAB_SETTINGS_DIR=str(settings),
            JUPYTERLAB_WORKSPACES_DIR=str(jupyter / "workspaces"),
            JUPYTER_PLATFORM_DIRS="1",
            # Kernels import this checkout, whichever venv runs them.
            PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p),
            NO_PROXY="127.0.0.1,localhost",
        )
        return env

    def start(self, timeout: float = 90.0) -> LabServer:
        """Start the server and wait until its REST API answers."""
        self.port = free_port()
        self._log = self.log_path.open("ab")
        command = [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",
            f"--ServerApp.root_dir={self.root}",
            "--IdentityProvider.token=",
            "--ServerApp.password=",
            # Loopback, empty token, throwaway server: REST DELETE without the _xsrf dance.
            "--ServerApp.disable_check_xsrf=True",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            command.append("--allow-root")  # CI machines run as root
        self.proc = subprocess.Popen(
            command,
            cwd=self.root,
            env=self._env(),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: kernels included in the kill
        )

        def ready() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"jupyterlab exited early:\n{self.log_tail()}")
            try:
                return httpx.get(f"{self.url}/api/status", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for("the JupyterLab server", ready, timeout)
        return self

    def kernels(self) -> list[dict[str, Any]]:
        """The running kernels (REST)."""
        answer: list[dict[str, Any]] = httpx.get(f"{self.url}/api/kernels", timeout=5).json()
        return answer

    def stop(self) -> None:
        """Delete every kernel, stop the server, kill its process group if still there."""
        if self.proc is None:
            return
        try:
            if self.proc.poll() is None:
                for kernel in self.kernels():
                    httpx.delete(f"{self.url}/api/kernels/{kernel['id']}", timeout=15)
                httpx.post(f"{self.url}/api/shutdown", timeout=5)
                self.proc.wait(timeout=20)
        except (httpx.HTTPError, subprocess.TimeoutExpired, ValueError):
            pass
        finally:
            try:  # whatever is left of the group: the server, a kernel that ignored shutdown
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(timeout=10)
            self.proc = None
            if self._log is not None:
                self._log.close()

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of the server's log (kernel stderr included)."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> LabServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def launch_chromium(playwright: Any, profile: Path, **kwargs: Any) -> Any:
    """A headless Debian Chromium context (persistent profile in ``profile``)."""
    return playwright.chromium.launch_persistent_context(
        str(profile),
        executable_path=chromium_path(),
        headless=True,
        args=CHROMIUM_ARGS,
        viewport={"width": 1400, "height": 1000},
        **kwargs,
    )


def open_notebook(page: Any, lab: LabServer, name: str, timeout: float = 90.0) -> Any:
    """Open ``name`` in a fresh workspace; wait for its kernel to be idle; return the panel."""
    page.goto(lab.notebook_url(name), timeout=timeout * 1000)
    panel = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
    panel.wait_for(state="visible", timeout=timeout * 1000)
    idle = page.locator(
        ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook-ExecutionIndicator[data-status='idle']"
    )
    dialog = page.locator(".jp-Dialog .jp-mod-accept")

    def ready() -> bool:
        # Lab may ask "Select Kernel" even with a kernelspec in the metadata (seen with 4.6):
        # accept its preselected Python 3, as a user would.
        if dialog.count():
            dialog.first.click()
            return False
        # The indicator reads "idle" before any kernel exists: also wait for the kernel itself.
        return bool(idle.count()) and bool(lab.kernels())

    wait_for("the notebook's kernel to be idle", ready, timeout, step=0.5)
    return panel


def run_all(page: Any) -> None:
    """Run > Run All Cells through JupyterLab's menu bar (what a user clicks)."""
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel").get_by_text("Run All Cells", exact=True).first.click()


def capture_console(page: Any, sink: list[str], log: Path | None = None) -> None:
    """Record the page's console messages and uncaught errors in ``sink`` (and ``log``).

    JupyterLab swallows errors raised inside widget views (a Plotly view failing to apply an
    update only shows here), so every browser test keeps this record and prints it on failure.
    """

    def record(line: str) -> None:
        sink.append(line)
        if log is not None:
            with log.open("a") as out:
                out.write(line + "\n")

    page.on("console", lambda m: record(f"console.{m.type}: {m.text}"))
    page.on("pageerror", lambda e: record(f"pageerror: {e}"))


def plots(page: Any) -> list[dict[str, Any]]:
    """Every Plotly chart of the visible notebook, read from the DOM (see PLOTS_JS)."""
    result: list[dict[str, Any]] = page.evaluate(PLOTS_JS)
    return result
