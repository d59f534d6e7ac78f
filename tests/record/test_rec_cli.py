"""`python -m polyresearch record` / `replay` end to end, in subprocesses, on the simulator."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from polyresearch.record import scan_recording


def _cli(*args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "polyresearch", *args],
        capture_output=True,
        check=True,
        timeout=120,
    )
    return result.stdout.decode()


@pytest.mark.parametrize("venue", ["clob", "us"])
def test_record_then_replay_stats(venue: str, tmp_path: Path) -> None:
    """record --simulator writes a recording; replay --stats reports every inbound frame."""
    out = tmp_path / "rec"
    recorded = json.loads(
        _cli(
            "record",
            "--venue",
            venue,
            "--simulator",
            "--out",
            str(out),
            "--duration",
            "2",
            "--chunk-rows",
            "300",
            "--markets",
            "3",
            "--rate",
            "300",
        )
    )
    assert recorded["rows_written"] == recorded["frames"] + recorded["markers"] > 0
    stats = json.loads(_cli("replay", str(out), "--venue", venue, "--stats"))
    inbound = scan_recording(out).filter(pl.col("direction") == "in").collect().height
    assert stats["frames"] == inbound
    assert set(stats) >= {
        "frames",
        "events",
        "dropped",
        "books",
        "bbo_mismatches",
        "hashes_verified",
        "hashes_unverified",
    }
    assert stats["books"] and stats["notes"] == {
        "frames_out_seen": stats["notes"]["frames_out_seen"]
    }
    live = [b for b in stats["books"].values() if b["status"] == "LIVE"]
    assert live
    # A live book may have an empty side (no best); where both exist they do not cross.
    both = [b for b in live if b["best_bid"] is not None and b["best_ask"] is not None]
    assert all(float(b["best_bid"]) < float(b["best_ask"]) for b in both)


def test_frame_file_replays_to_the_same_books_as_the_recording(tmp_path: Path) -> None:
    """The recording's inbound frames as a plain file give the same books via --stats."""
    out = tmp_path / "rec"
    _cli(
        "record",
        "--venue",
        "clob",
        "--simulator",
        "--out",
        str(out),
        "--duration",
        "2",
        "--markets",
        "2",
        "--rate",
        "300",
    )
    frames = scan_recording(out).filter(pl.col("direction") == "in").collect()["data"]
    text = tmp_path / "frames.txt"
    text.write_bytes(b"\n".join(frames.to_list()) + b"\n")
    from_dir = json.loads(_cli("replay", str(out), "--stats"))
    from_file = json.loads(
        _cli(
            "replay",
            str(text),
            "--venue",
            "clob",
            "--channel",
            "market",
            "--stats",
            "--min-order-size",
            "5",
        )
    )
    assert from_file["frames"] == from_dir["frames"] == len(frames)
    assert from_file["books"] == from_dir["books"]
    assert from_file["events"] == from_dir["events"]
