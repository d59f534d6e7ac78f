"""The runs engine of replay() leaves exactly what the events engine (frame by frame) leaves.

Both engines replay the same recordings, and everything a user can read is compared: every
table row for row (all columns, in order), every book (levels, status, timestamp, last trade
price, counters), ``stats()`` (decoder, book, table and store counters, lags), the events by
kind, the notes. The recordings: a clean simulator recording, the same traffic mutated to hit
every case where the runs engine must hand a frame back (BBO and hash mismatches inside a
multi-entry frame, unknown assets, EMPTY books after a reconnect or a recorder gap, malformed
and array frames, legacy price changes), a recording of the simulator's own faults, the US
venue (which takes the events path only) and a plain frame file.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from polyresearch.errors import ConfigError
from polyresearch.feed import ClobFeed
from polyresearch.record import Recorder, list_chunks, replay
from polyresearch.record.replay import ReplayFeed
from polyresearch.simulator import Simulator
from polyresearch.state.books import MarketParams
from polyresearch.state.store import MarketStore
from tests.record._recordings import Recording, clob_params

# The module: ``polyresearch.record.replay`` names the function (re-exported by the package).
replay_module = sys.modules[replay.__module__]


def _book_state(feed: ReplayFeed) -> dict[str, Any]:
    state = {}
    for asset in feed.books:
        book = feed.books[asset]
        state[asset] = (
            book.levels("bid"),
            book.levels("ask"),
            book.status,
            book.timestamp,
            book.last_trade_price,
            book.tick_size,
            book.market,
            book.stats(),
        )
    return state


def assert_same(events: ReplayFeed, runs: ReplayFeed) -> None:
    """Everything readable from two replays is equal."""
    assert list(events.tables) == list(runs.tables)
    for name, table in events.tables.items():
        mine, theirs = runs.tables[name].to_polars(), table.to_polars()
        assert mine.columns == theirs.columns, name
        assert mine.equals(theirs, null_equal=True), name
    assert _book_state(runs) == _book_state(events)
    assert runs.stats() == events.stats()
    assert runs.events_by_kind() == events.events_by_kind()
    assert runs.notes == events.notes
    assert runs.last_recv_ns == events.last_recv_ns
    assert runs.store.account.open_orders == events.store.account.open_orders


class _RunSpy:
    """Counts the events the store's run loop applied (so a test cannot pass vacuously)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.applied = 0
        self.refused = 0
        original = MarketStore.apply_run

        def spy(store: MarketStore, events: Any, recv_ns: Any, start: int = 0) -> int:
            end = original(store, events, recv_ns, start)
            self.applied += end - start
            self.refused += end == start
            return end

        monkeypatch.setattr(MarketStore, "apply_run", spy)


def _both(source: Path, monkeypatch: pytest.MonkeyPatch, **kwargs: Any) -> _RunSpy:
    events = replay(source, engine="events", **kwargs)
    spy = _RunSpy(monkeypatch)
    runs = replay(source, **kwargs)  # the default engine
    assert_same(events, runs)
    return spy


def test_clean_recording(clob_recording: Recording, monkeypatch: pytest.MonkeyPatch) -> None:
    """A simulator recording (market + user channels, every hash checked): identical."""
    spy = _both(clob_recording.directory, monkeypatch)
    stats = replay(clob_recording.directory).stats()
    assert stats.books.hashes_verified > 0
    assert spy.applied > 100  # the price changes went through the run loop


def test_clean_recording_default_schedule(
    clob_recording: Recording, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Also with hashes checked 1 in 16 (skipped ones counted alike) and small tables."""
    spy = _both(clob_recording.directory, monkeypatch, hash_every=16, max_rows=300)
    assert replay(clob_recording.directory, hash_every=16).stats().books.hashes_skipped > 0
    assert spy.applied > 100


def _inbound(directory: Path) -> pl.DataFrame:
    frames = pl.concat([pl.read_parquet(p) for p in list_chunks(directory)[0]])
    return frames.filter((pl.col("kind") == "frame") & (pl.col("direction") == "in"))


def _mutate(frames: pl.DataFrame, directory: Path, meta: dict[str, str]) -> dict[str, int]:
    """Write the market frames again with every kind of trouble mixed in; count the kinds."""
    done: dict[str, int] = {}
    market = frames.filter(pl.col("channel") == "market")
    with Recorder(directory, venue="clob", metadata=meta, chunk_rows=400) as rec:

        def put(ts: int, data: str | bytes, epoch: int = 1) -> None:
            rec.on_frame(direction="in", ts_ns=ts, connection="clob-market-0", epoch=epoch,
                         data=data)  # fmt: skip

        rec.on_marker(kind="connect", ts_ns=0, connection="clob-market-0", epoch=1, detail="")
        pcs = 0
        for ts, data in zip(market["ts_ns"].to_list(), market["data"].to_list(), strict=True):
            text = data.decode()
            msg = json.loads(text)
            if not isinstance(msg, dict) or msg.get("event_type") != "price_change":
                put(ts, data)
                continue
            pcs += 1
            changes = msg["price_changes"]
            case = pcs % 23
            name = None
            if case == 3 and len(changes) > 1:
                changes[-1]["best_bid"] = "0.001"  # BBO mismatch after the first entry applied
                name = "bbo_mismatch_last_entry"
            elif case == 5:
                changes[0]["best_ask"] = "0.999"  # BBO mismatch on the first entry
                name = "bbo_mismatch_first_entry"
            elif case == 7:
                changes[-1]["hash"] = "0" * 40  # a hash miss: resync after this frame
                name = "hash_miss"
            elif case == 9 and len(changes) > 1:
                changes[-1]["asset_id"] = "12345"  # an unknown asset after a known one
                name = "unknown_asset"
            elif case == 11:
                changes[0]["size"] = "lots"  # applied as is; its row says NaN
                name = "bad_size"
            elif case == 13:
                put(ts, text[: len(text) // 2])  # malformed JSON
                name = "malformed"
            elif case == 15:
                put(ts, "[" + text + "," + text + "]")  # an array frame: events path
                name = "array"
            elif case == 17:
                msg["hash"] = "f" * 40  # a legacy top-level hash: the general decode path
                name = "legacy_hash"
            elif case == 19:
                continue  # a lost frame: the next change of that book may mismatch
            elif case == 21 and pcs % 3 == 0:
                # A recorder gap or a reconnect: every book EMPTY until its next snapshot.
                if pcs % 2:
                    rec.on_marker(
                        kind="gap", ts_ns=ts, connection="clob-market-0", epoch=1,
                        detail="7 rows dropped",
                    )  # fmt: skip
                    name = "gap"
                else:
                    rec.on_marker(
                        kind="connect", ts_ns=ts, connection="clob-market-0", epoch=2, detail=""
                    )
                    name = "reconnect"
            if name is not None:
                done[name] = done.get(name, 0) + 1
            if case not in (13, 15):
                put(ts, json.dumps(msg, separators=(",", ":")))
        rec.on_marker(kind="disconnect", ts_ns=2**62, connection="clob-market-0", epoch=2,
                      detail="bye")  # fmt: skip
    return done


def test_mutated_recording(
    clob_recording: Recording, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every hand-back case of the run loop, many times over: still identical."""
    meta = {k: v for k, v in list_chunks(clob_recording.directory)[2].items()
            if k in ("polyresearch.params", "polyresearch.hash_every",
                     "polyresearch.verify_hashes")}  # fmt: skip
    done = _mutate(_inbound(clob_recording.directory), tmp_path / "mutated", meta)
    assert set(done) >= {
        "bbo_mismatch_last_entry",
        "bbo_mismatch_first_entry",
        "hash_miss",
        "unknown_asset",
        "bad_size",
        "malformed",
        "array",
        "legacy_hash",
    }, done
    spy = _both(tmp_path / "mutated", monkeypatch)
    stats = replay(tmp_path / "mutated").stats()
    # The trouble really happened, and the run loop handed frames back.
    assert stats.books.bbo_mismatches > 0
    assert stats.books.hashes_unverified > 0
    assert stats.books.changes_dropped_empty > 0
    assert stats.resyncs > 0
    assert stats.dropped
    assert spy.refused > 0
    assert spy.applied > 100


def test_recording_with_simulator_faults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A live recording of the simulator's faults (lost deltas, junk, arrays, a restart)."""

    async def main() -> None:
        async with Simulator(seed=41, markets=3, rate=500) as sim:
            feed = ClobFeed(
                assets=[t for m in sim.markets() for t in m.token_ids],
                url=sim.clob_market_url,
                params=clob_params(sim),
            )
            recorder = feed.record(tmp_path / "faults", chunk_rows=300)
            async with feed:
                await feed.wait_for(lambda f: f.stats().store.events >= 300, within=30)
                sim.faults.skip_deltas(count=3)
                for kind in ("malformed", "unknown_event", "missing_event_type", "midstream_book"):
                    sim.faults.inject(kind)
                sim.faults.burst_arrays()
                await feed.wait_for(lambda f: f.stats().store.events >= 900, within=30)
                await sim.restart()
                await feed.wait_for(lambda f: f.stats().reconnects >= 1, within=30)
                await feed.wait_for(lambda f: f.stats().store.events >= 1500, within=30)
            assert recorder.closed

    asyncio.run(main())
    spy = _both(tmp_path / "faults", monkeypatch)
    stats = replay(tmp_path / "faults").stats()
    assert stats.reconnects >= 1
    assert stats.dropped
    assert spy.applied > 100


def test_us_recording(us_recording: Recording, monkeypatch: pytest.MonkeyPatch) -> None:
    """The US venue takes the events path under either engine: identical, no runs."""
    spy = _both(us_recording.directory, monkeypatch)
    assert spy.applied == 0
    assert len(replay(us_recording.directory).tables.quotes) > 0


@pytest.mark.parametrize("max_run", [4096, 5])
def test_frame_file(
    clob_recording: Recording, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, max_run: int
) -> None:
    """A plain text file of frames (with junk lines) replays identically too.

    A frame file is one stream: its runs are cut at ``_MAX_RUN`` events (also tried small).
    """
    monkeypatch.setattr(replay_module, "_MAX_RUN", max_run)
    market = _inbound(clob_recording.directory).filter(pl.col("channel") == "market")
    lines = [data.decode() for data in market["data"].to_list()]
    lines[len(lines) // 3 : len(lines) // 3] = ["PONG", "{oops", '{"event_type":"mystery"}']
    path = tmp_path / "frames.txt"
    path.write_text("\n".join(lines) + "\n")
    token = next(iter(clob_recording.books))
    params = MarketParams(min_order_size="5", neg_risk=False)
    spy = _both(path, monkeypatch, venue="clob", default_params=params)
    assert spy.applied > 100
    assert replay(path, default_params=params).book(token).status.value == "LIVE"


def test_bad_price_alike(tmp_path: Path) -> None:
    """A price the books cannot key is a counted drop in both engines, alike, not a crash.

    The decoder passes price text through; the store drops the event ("bad_value") and resyncs
    its book. The runs engine must not swallow, reorder or duplicate that: it hands the frame
    to the general path.
    """
    book = (
        '{"event_type":"book","market":"0xm","asset_id":"1","bids":[{"price":"0.4","size":"5"}],'
        '"asks":[],"timestamp":"1757908892350","hash":"x"}'
    )
    change = (
        '{"market":"0xm","price_changes":[{"asset_id":"1","price":"0.5.5","size":"2",'
        '"side":"BUY"}],"timestamp":"1757908892351","event_type":"price_change"}'
    )
    path = tmp_path / "frames.txt"
    path.write_text(f"{book}\n{change}\n")
    feeds = [replay(path, engine=engine) for engine in ("events", "runs")]
    assert feeds[0].stats() == feeds[1].stats()
    stats = feeds[0].stats()
    assert stats.store.drops_recorded == 1
    assert stats.books.resyncs_requested == 1
    for feed in feeds:
        status = feed.tables.status.to_polars()
        details = status.filter(status["event"] == "drop")["detail"].to_list()
        assert details == ["bad_value: not a decimal price: '0.5.5'"]
        assert feed.book("1").status.value != "LIVE"  # no longer trusted: resynced


def test_unknown_engine(tmp_path: Path) -> None:
    """A typo in the engine name is a ConfigError, not a silent fallback."""
    path = tmp_path / "frames.txt"
    path.write_text("PONG\n")
    with pytest.raises(ConfigError, match="engine"):
        replay(path, engine="fast")
