"""Shared test helpers: polling waits with one scalable time unit, fast websockets backoff."""

from __future__ import annotations

import asyncio
import inspect
import os
import sys
import time
from collections.abc import Awaitable, Callable, Iterator

import pytest

from tests._kernels import KERNELS, use_kernel

# websockets reads its reconnect backoff from these variables when first imported. Tests run
# the real reconnect machinery, only faster (the defaults start at up to 5 s of jitter).
os.environ.setdefault("WEBSOCKETS_BACKOFF_INITIAL_DELAY", "0.05")
os.environ.setdefault("WEBSOCKETS_BACKOFF_MIN_DELAY", "0.05")
os.environ.setdefault("WEBSOCKETS_BACKOFF_MAX_DELAY", "0.5")
# A developer's proxy settings must never route loopback test traffic.
os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")

#: The time unit of waits; raise it on a slow machine (e.g. POLYRESEARCH_TEST_UNIT=3).
UNIT = float(os.environ.get("POLYRESEARCH_TEST_UNIT", "1"))


async def wait_until(
    predicate: Callable[[], object | Awaitable[object]], within: float = 10.0, step: float = 0.01
) -> None:
    """Poll ``predicate`` until it is truthy; AssertionError after ``within`` times UNIT seconds."""
    deadline = time.monotonic() + within * UNIT
    while True:
        result = predicate()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within * UNIT:g} s")
        await asyncio.sleep(step)


@pytest.fixture(autouse=True)
def close_widgets() -> Iterator[None]:
    """Close every ipywidgets widget a test opened.

    ipywidgets keeps each open widget in a module-level registry until ``close()``: a test's
    widgets (FigureWidgets with their trace data, the feed behind a dashboard) outlived it for
    the whole session, and at interpreter exit their ``__del__`` ran after the registry was torn
    down ("Exception ignored in: Widget.__del__ ... 'NoneType' object has no attribute 'pop'").
    Nothing is imported here: a test that never touched ipywidgets has nothing to close.
    """
    yield
    module = sys.modules.get("ipywidgets.widgets.widget")
    if module is not None:
        module.Widget.close_all()


@pytest.fixture(params=KERNELS)
def kernel_name(
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path_factory: pytest.TempPathFactory,
) -> str:
    """The kernelspec a notebook test runs in: once with this venv's ipykernel, once with 6.x."""
    return use_kernel(request.param, monkeypatch, tmp_path_factory.mktemp("jupyter"))
