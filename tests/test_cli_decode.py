"""`python -m polyresearch decode`: raw frames in, one JSON line per event or drop out."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

DATA = Path(__file__).parent / "data"


def _one_line(path: Path) -> str:
    return json.dumps(json.loads(path.read_text()), separators=(",", ":"))


def _decode(venue: str, channel: str, text: str, *extra: str) -> tuple[list[dict], dict]:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "polyresearch",
            "decode",
            "--venue",
            venue,
            "--channel",
            channel,
            *extra,
            "-",
        ],
        input=text.encode(),
        capture_output=True,
        check=True,
        timeout=60,
    )
    lines = [json.loads(line) for line in result.stdout.decode().splitlines()]
    summary = json.loads(result.stderr.decode().strip().splitlines()[-1])
    return lines, summary


def test_us_markets_examples_and_garbage() -> None:
    """US markets examples decode to their SDK kinds; garbage lines become counted drops."""
    frames = [
        _one_line(DATA / "us" / name)
        for name in (
            "markets_market_data_doc.json",
            "markets_market_data_lite_doc.json",
            "markets_trade_doc.json",
            "heartbeat_doc.json",
        )
    ]
    text = "\n".join([*frames, "", "not json", '{"bogus": 1}']) + "\n"
    lines, summary = _decode("us", "markets", text)
    assert [(r["line"], r["kind"]) for r in lines] == [
        (1, "market_data"),
        (2, "market_data_lite"),
        (3, "trade"),
        (4, "heartbeat"),
        (6, "dropped"),
        (7, "dropped"),
    ]
    assert lines[0]["market"] == "market-slug-1"
    assert lines[0]["bids"][0] == {"price": "0.555", "size": "0.50"}
    assert "ts_ns" not in lines[3]  # unset fields are left out
    assert lines[4]["reason"] == "not_json"
    assert summary["frames_in"] == 6
    assert summary["events_out"] == 4
    assert sum(summary["dropped"].values()) == 2


def test_clob_market_examples_crlf_and_oversize() -> None:
    """CLOB examples decode; CRLF line ends are tolerated; --max-frame-bytes drops big frames."""
    change = _one_line(DATA / "clob" / "server_price_change.json")
    ltp = _one_line(DATA / "clob" / "server_last_trade_price.json")
    text = f"PONG\r\n{change}\r\n{ltp}\n"
    lines, summary = _decode("clob", "market", text, "--max-frame-bytes", "400")
    kinds = [r["kind"] for r in lines]
    assert kinds == ["pong", "dropped", "last_trade_price"]
    assert lines[1]["reason"] == "oversized"
    assert summary["dropped"] == {"oversized": 1}


def test_clob_price_change_fields_by_name() -> None:
    """A price_change line shows the event's fields by name (kind, changes, ts_ns...)."""
    change = _one_line(DATA / "clob" / "server_price_change.json")
    lines, summary = _decode("clob", "market", f"{change}\n{change}\n")
    assert lines[0] == lines[1] | {"line": 1}
    record = lines[0]
    assert (record["line"], record["kind"], record["venue"]) == (1, "price_change", "clob")
    assert record["timestamp"] == "1757908892351"
    assert record["ts_ns"] == 1_757_908_892_351_000_000
    assert [(c["side"], c["price"], c["size"]) for c in record["changes"]] == [
        ("BUY", "0.5", "200"),
        ("SELL", "0.5", "200"),
    ]
    assert record["changes"][1]["best_bid"] == "0"
    assert not {"event_type", "price_changes", "hash"} & set(record)  # no wire names, no None
    assert summary["events_by_kind"] == {"price_change": 2}


def test_non_utf8_line_is_a_drop_not_a_crash() -> None:
    """A line of invalid UTF-8 is reported as not_utf8 and decoding continues."""
    result = subprocess.run(
        [sys.executable, "-m", "polyresearch", "decode", "--venue", "clob", "--channel", "market"],
        input=b"\xff\xfe\nPONG\n",
        capture_output=True,
        check=True,
        timeout=60,
    )
    lines = [json.loads(line) for line in result.stdout.decode().splitlines()]
    assert [(r["line"], r["kind"]) for r in lines] == [(1, "dropped"), (2, "pong")]
    assert lines[0]["reason"] == "not_utf8"


def test_help_lists_options() -> None:
    """decode --help documents venue, channel, file and the frame size limit."""
    out = subprocess.run(
        [sys.executable, "-m", "polyresearch", "decode", "--help"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    for option in ("--venue", "--channel", "--max-frame-bytes", "file"):
        assert option in out
