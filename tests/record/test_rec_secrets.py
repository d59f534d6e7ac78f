"""No credential of the simulator's demo accounts ever lands in a recording, in any encoding."""

from __future__ import annotations

import base64
import binascii
from pathlib import Path

import polars as pl
import pytest

from polyresearch.record import Recorder, scan_recording, scrub
from tests.record._recordings import Recording


def _forms(secret: str) -> set[bytes]:
    """The secret as text, and its underlying bytes as hex and (urlsafe) base64."""
    raw = secret.encode()
    forms = {raw, raw.hex().encode(), base64.b64encode(raw), base64.urlsafe_b64encode(raw)}
    for decode in (base64.b64decode, base64.urlsafe_b64decode, bytes.fromhex):
        try:
            inner = decode(secret)  # type: ignore[operator]
        except (binascii.Error, ValueError):
            continue
        if len(inner) >= 8:
            forms |= {inner, inner.hex().encode(), base64.b64encode(inner)}
            forms.add(base64.urlsafe_b64encode(inner))
    return {f for f in forms if len(f) >= 8}


def _recorded_bytes(directory: Path) -> bytes:
    """Every file's raw bytes plus every decoded value (files are compressed)."""
    files = b"".join(p.read_bytes() for p in directory.rglob("*") if p.is_file())
    frame = scan_recording(directory).collect()
    values = b"\n".join(d for d in frame["data"].to_list() if d is not None)
    details = "\n".join(d for d in frame["detail"].to_list() if d is not None).encode()
    meta = b"".join(str(p).encode() for p in directory.rglob("*"))
    return files + values + details + meta


@pytest.mark.parametrize("name", ["clob_recording", "us_recording"])
def test_no_demo_secret_in_recordings(name: str, request: pytest.FixtureRequest) -> None:
    """Authenticated channels were recorded, yet no secret appears raw, hex or base64."""
    rec: Recording = request.getfixturevalue(name)
    blob = _recorded_bytes(rec.directory)
    private = "user" if rec.venue == "clob" else "private"
    frame = scan_recording(rec.directory).collect()
    assert frame.filter(pl.col("channel") == private).height > 0  # the auth'd socket is in
    for field_name, secret in rec.secrets.items():
        for form in _forms(secret):
            assert form not in blob, field_name


def test_clob_subscription_recorded_with_auth_redacted(clob_recording: Recording) -> None:
    """The user channel's subscribe frame is recorded, its auth object replaced."""
    frame = scan_recording(clob_recording.directory).collect()
    out = frame.filter((pl.col("channel") == "user") & (pl.col("direction") == "out"))
    subscribe = [d for d in out["data"].to_list() if b'"type"' in d]
    assert subscribe and all(b'"auth":"<redacted>"' in d for d in subscribe)


def test_recorder_scrubs_a_secret_a_feed_forgot(tmp_path: Path) -> None:
    """Defence in depth: an unredacted auth object or X-PM header field is scrubbed anyway."""
    leak = (
        '{"auth":{"apiKey":"K-123","secret":"S3CR3T-VALUE","passphrase":"PPPPPPPP"},"type":"user"}'
    )
    with Recorder(tmp_path, venue="clob") as rec:
        rec.on_frame(direction="out", ts_ns=1, connection="clob-user", epoch=1, data=leak)
        rec.on_marker(
            kind="disconnect",
            ts_ns=2,
            connection="us-private-1",
            epoch=1,
            detail='{"X-PM-Signature": "SIGSIGSIGSIG", "secretKey": "abcdefgh"}',
        )
    blob = _recorded_bytes(tmp_path)
    for secret in ("K-123", "S3CR3T-VALUE", "PPPPPPPP", "SIGSIGSIGSIG", "abcdefgh"):
        assert secret.encode() not in blob
    assert rec.stats().scrubbed == 3


def test_scrub_leaves_market_frames_untouched() -> None:
    """Ordinary market data passes through byte for byte (replay fidelity)."""
    frame = b'{"event_type":"book","asset_id":"1","bids":[{"price":"0.5","size":"10"}]}'
    assert scrub(frame) == (frame, 0)


def test_private_inbound_frames_scrubbed_market_frames_kept(tmp_path: Path) -> None:
    """An owner (API key) echoed on the user channel is scrubbed; market frames stay as sent."""
    user = b'{"event_type":"order","owner":"67bb40a1-f0be-480a-9260-6a2975b82317","id":"1"}'
    market = b'{"event_type":"book","owner":"not-ours","asset_id":"1"}'
    with Recorder(tmp_path, venue="clob") as rec:
        rec.on_frame(direction="in", ts_ns=1, connection="clob-user", epoch=1, data=user)
        rec.on_frame(direction="in", ts_ns=2, connection="clob-market-0", epoch=1, data=market)
    data = scan_recording(tmp_path).collect()["data"].to_list()
    assert data == [b'{"event_type":"order","owner":"<redacted>","id":"1"}', market]
