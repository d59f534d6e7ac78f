"""The short soak (benchmarks/soak.py) as CI runs it: 2 minutes with a fault every 9 s.

The soak runs as a subprocess (its simulator in a third process) and the test asserts on the
JSON object it prints last. The target rate is 4,000 msg/s, not the benchmark's 20,000: the
simulator's paced flow costs ~70 µs of CPU per frame (model step, encoding, book hash; it was
~107 µs when the target was 3,000) and the feeds ~80 µs, so on a CI box shared with other
jobs 20,000 msg/s cannot be produced, and a target far above what is produced would only
measure the box. 4,000 asks for the same CPU as 3,000 did before the simulator got cheaper
(~0.6 of a core for both processes). The faults, the bounds and the checks are the full
soak's; rows are limited to 20,000 per big table so that eviction happens within minutes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOAK = ROOT / "benchmarks" / "soak.py"
MINUTES = 2.0
MAX_ROWS = 20_000
#: Target msg/s (see the module docstring for why not 20,000).
RATE = 4_000


@pytest.fixture(scope="module")
def soak() -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [
            sys.executable,
            str(SOAK),
            "--minutes",
            str(MINUTES),
            "--rate",
            str(RATE),
            "--fault-every",
            "9",
            "--max-rows",
            str(MAX_ROWS),
            "--print-every",
            "30",
        ],
        capture_output=True,
        text=True,
        timeout=480,
        env=env,
        check=False,
        cwd=ROOT,
    )
    lines = done.stdout.strip().splitlines()
    assert lines, f"soak printed nothing (exit {done.returncode}):\n{done.stderr[-3000:]}"
    result: dict[str, Any] = json.loads(lines[-1])
    result["_exit"] = done.returncode
    result["_stdout"] = done.stdout[-4000:]
    return result


pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def test_soak_passes_and_exit_code_agrees(soak: dict[str, Any]) -> None:
    """PASS means RSS under its bound, no leaks and books equal truth; exit code 0 with it."""
    assert soak["failures"] == [], soak["_stdout"]
    assert soak["pass"] is True
    assert soak["_exit"] == 0


def test_rss_stays_under_the_bound_from_the_table_limits(soak: dict[str, Any]) -> None:
    rss = soak["rss_mib"]
    assert rss["start"] <= rss["max"] <= rss["bound"]
    assert rss["end"] <= rss["max"]
    # The bound is start + SAFETY x reserved + fixed, so it depends on the configured limits.
    assert "tables reserved" in rss["bound_formula"]


def test_no_task_or_thread_outlives_the_feeds(soak: dict[str, Any]) -> None:
    leaks = soak["leaks"]
    assert leaks["leaked_tasks"] == []
    assert leaks["leaked_threads"] == []
    assert leaks["threads_after"] <= leaks["threads_before"]


def test_every_book_equals_ground_truth_at_the_end(soak: dict[str, Any]) -> None:
    books = soak["books"]
    assert books["compared"] == soak["config"]["clob_assets"] + soak["config"]["us_markets"]
    assert books["differ_at_end"] == 0, books["differ_examples"]
    assert books["live"] == books["compared"]
    assert books["hashes_verified"] > 0


def test_faults_fired_and_left_their_marks(soak: dict[str, Any]) -> None:
    """Each kind of fault shows in the feed's counters: reconnects, drops, resyncs."""
    kinds = [f["kind"] for f in soak["faults"]]
    assert len(kinds) >= 10
    for kind in ("drop", "restart", "malformed", "oversized", "skip_deltas", "stall"):
        assert kind in kinds
    assert soak["reconnects"] >= 3  # drop, restart, refused upgrades: every socket each time
    assert soak["drops"].get("not_json", 0) >= 1
    assert soak["drops"].get("oversized", 0) >= 1
    assert soak["resyncs"] >= 1


def test_tables_evicted_at_their_limits_and_flow_was_measured(soak: dict[str, Any]) -> None:
    """Rows beyond the configured limit are evicted and counted; the rate is measured, not set."""
    assert soak["config"]["max_rows"]["book_updates"] == MAX_ROWS
    assert soak["rows_evicted"]["clob.book_updates"] > 0
    rate = soak["rate"]
    assert rate["received"] > 0 and rate["sent"] > 0
    assert rate["achieved_msg_per_s"] > 0
    assert rate["sim_cpu_us_per_frame"] > 0 and rate["client_cpu_us_per_frame"] > 0
