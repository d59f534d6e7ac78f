"""Module-wide recordings (one simulator run per venue), shared by the record/replay tests."""

from __future__ import annotations

import pytest

from tests.record._recordings import Recording, record_clob, record_us


@pytest.fixture(scope="package")
def clob_recording(tmp_path_factory: pytest.TempPathFactory) -> Recording:
    return record_clob(tmp_path_factory.mktemp("clob-rec"))


@pytest.fixture(scope="package")
def us_recording(tmp_path_factory: pytest.TempPathFactory) -> Recording:
    return record_us(tmp_path_factory.mktemp("us-rec"))
