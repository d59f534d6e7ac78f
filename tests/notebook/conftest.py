"""Every widget made in a notebook test talks to a DummyComm (no front-end); teardown."""

from __future__ import annotations

import importlib
from collections.abc import Iterator

import comm
import pytest
from _nb_helpers import DummyComm


@pytest.fixture(autouse=True)
def dummy_comm(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every widget made in a notebook test gets a DummyComm."""
    monkeypatch.setattr(comm, "create_comm", lambda **kwargs: DummyComm(**kwargs))
    yield


@pytest.fixture(autouse=True)
def forget_dashboards() -> Iterator[None]:
    """Close the dashboards a test registered and forget them.

    ``nb.dashboard()`` keeps the last board of each name (to close it when the cell re-runs),
    and with it the board's feed and tables: without this the last test's board outlived it.
    """
    yield
    # The module, not the function of the same name that polyresearch.notebook exports.
    module = importlib.import_module("polyresearch.notebook.dashboard")
    for board in module._registry.values():
        board.close()
    module._registry.clear()
