"""Every widget made in a notebook test talks to a DummyComm (no front-end)."""

from __future__ import annotations

from collections.abc import Iterator

import comm
import pytest
from _nb_helpers import DummyComm


@pytest.fixture(autouse=True)
def dummy_comm(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every widget made in a notebook test gets a DummyComm."""
    monkeypatch.setattr(comm, "create_comm", lambda **kwargs: DummyComm(**kwargs))
    yield
