"""Fuzzing the CLOB decoders: any input gives only events or counted drops, never an exception.

Seeds are the doc's server frames (``tests/data/clob/server_*.json``) plus frames built from
the spec's field tables (books and arrays of books, user trades and orders, custom-feature
events, control texts). They are mutated by byte flips, insertions, deletions and truncations,
by swapping the type of a value at any JSON path, and complemented with random JSON built from
the protocol's own vocabulary and with random text and bytes.

Every frame goes to both decoders (market and user) and is checked against the decoder
contract: no exception, only normalized event types, drop reasons from the base's table, never
the last-resort "decoder error", events serialisable, book sides best-first, stats that add up,
and the inlined price_change fast path agreeing with the general path.

Volume: each example feeds ``FRAMES_PER_EXAMPLE`` frames (fewer for the random-JSON test), and
seeded bulk runs add 10,000 generated frames cheaply, so the default run feeds at least 10,000
mutated and 10,000 generated frames to each decoder (the last test asserts it; ``-s`` prints
the counts by test); the ``slow`` variants feed about 180,000 more, in chunks that each fit
the per-test timeout.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from polyresearch.protocol.base import DROP_REASONS, FrameDecoder
from polyresearch.protocol.clob import ClobMarketDecoder, ClobUserDecoder, timestamp_ns
from polyresearch.protocol.events import BookSnapshot, Dropped, Event
from tests._fuzz import fuzz
from tests._json_paths import json_paths as _paths
from tests._json_paths import replace_at as _replace

DATA = Path(__file__).parent.parent / "data" / "clob"
EVENT_TYPES = Event.__args__
FRAMES_PER_EXAMPLE = 10

#: Frames fed per test in this module (printed at the end with ``-s``, checked by the last test).
FED: Counter[str] = Counter()
#: Families of the default run: frames edited from seeds, and frames built from nothing
#: (``mixed`` interleaves both and counts towards neither).
MUTATED = ("bytes", "truncate", "types")
GENERATED = ("bulk_generated", "vocabulary", "random")
#: The issue's floor for the default CI run, per venue and per family.
MIN_FRAMES = 10_000


@pytest.fixture(scope="module", autouse=True)
def _report_volume() -> Iterator[None]:
    yield
    print(f"\nclob fuzz: frames fed to each decoder: {sum(FED.values())} {dict(FED)}")


# ---------------------------------------------------------------- seeds

YES = "71321045679252212594626385532706912750332728571942532289631379312455583992563"
NO = "52114319501245915516055106046884209969926127482827954674443846427813813222426"
MARKET = "0x5f65177b394277fd294cd75650044e32ba009a95022d88a0c1d565897d72f8f1"


def _book(asset: str, **extra: Any) -> dict[str, Any]:
    return {
        "market": MARKET,
        "asset_id": asset,
        "timestamp": "1766481546776",
        "hash": "ed47eb91f3c7985fac1cb18cb7c19535eddd3c0a",
        "bids": [{"price": f"0.{p}", "size": str(10 * p)} for p in range(30, 49, 3)],
        "asks": [{"price": f"0.{p}", "size": "7.5"} for p in range(70, 51, -4)],
        "tick_size": "0.01",
        "event_type": "book",
        "last_trade_price": "0.500",
        **extra,
    }


def _built_seeds() -> list[Any]:
    trade = {
        "event_type": "trade",
        "type": "TRADE",
        "id": "28c4d2eb",
        "market": MARKET,
        "asset_id": YES,
        "side": "BUY",
        "size": "10",
        "price": "0.57",
        "status": "MATCHED",
        "matchtime": "1672290701",
        "timestamp": "1672290701",
        "maker_orders": [{"order_id": "0xff", "matched_amount": "10", "price": "0.57"}],
        "trader_side": "TAKER",
    }
    order = {
        "event_type": "order",
        "type": "UPDATE",
        "id": "0xff35",
        "market": MARKET,
        "asset_id": YES,
        "side": "SELL",
        "price": "0.57",
        "original_size": "10",
        "size_matched": "4",
        "associate_trades": ["28c4d2eb"],
        "expiration": "0",
        "timestamp": "1672290687",
    }
    new_market = {
        "event_type": "new_market",
        "id": "1031769",
        "question": "Q?",
        "market": MARKET,
        "slug": "q",
        "assets_ids": [YES, NO],
        "outcomes": ["Yes", "No"],
        "timestamp": "1766790415550",
        "active": True,
        "order_price_min_tick_size": 0.01,
        "tags": ["t"],
    }
    resolved = {
        "event_type": "market_resolved",
        "id": "1031769",
        "market": MARKET,
        "assets_ids": [YES, NO],
        "winning_asset_id": YES,
        "winning_outcome": "Yes",
        "timestamp": "1766790415550",
    }
    oldest = {
        "event_type": "price_change",
        "asset_id": YES,
        "market": MARKET,
        "price": "0.61",
        "side": "SELL",
        "size": "12",
        "timestamp": "1720000000000",
    }
    untagged_book = {k: v for k, v in _book(NO).items() if k != "event_type"}
    return [
        [_book(YES), _book(NO, last_trade_price="")],
        _book(YES, bids=[{"price": ".5", "size": "1"}, {"price": "0.45", "size": "2"}]),
        untagged_book,
        trade,
        order,
        [trade, order, {"event_type": "brand_new"}],
        new_market,
        resolved,
        oldest,
    ]


def _seed_texts() -> list[str]:
    texts = [p.read_text(encoding="utf-8").rstrip("\n") for p in sorted(DATA.glob("server_*"))]
    for obj in _built_seeds():
        texts.append(json.dumps(obj, separators=(",", ":")))
        texts.append(json.dumps(obj, separators=(", ", ":")))
    texts.extend(["PONG", "NO NEW ASSETS"])
    return texts


SEEDS = _seed_texts()
JSON_SEEDS = [json.loads(t) for t in SEEDS if t[:1] in "{["]

# ---------------------------------------------------------------- the contract


class Harness:
    """Feeds frames to both decoders and checks the contract after each one."""

    def __init__(self, test: str) -> None:
        self.test = test
        self.decoders = (ClobMarketDecoder(), ClobUserDecoder())
        self.fed = 0
        self.kinds: tuple[Counter[str], Counter[str]] = (Counter(), Counter())

    def feed(self, frame: str | bytes) -> None:
        self.fed += 1
        FED[self.test] += 1
        for decoder, kinds in zip(self.decoders, self.kinds, strict=True):
            events = decoder.receive(frame)
            check_events(events)
            kinds.update(
                e.kind if not isinstance(e, Dropped) else f"drop:{e.reason}" for e in events
            )
        if isinstance(frame, str):
            # The inlined fast path must agree with the general decoder on every str frame.
            general = FrameDecoder.receive(ClobMarketDecoder(), frame)
            assert ClobMarketDecoder().receive(frame) == general

    def check_stats(self) -> None:
        for decoder, kinds in zip(self.decoders, self.kinds, strict=True):
            stats = decoder.stats()
            drops = {k[5:]: n for k, n in kinds.items() if k.startswith("drop:")}
            events = {k: n for k, n in kinds.items() if not k.startswith("drop:")}
            assert stats.frames_in == self.fed
            assert dict(stats.dropped) == drops
            assert dict(stats.events_by_kind) == events
            assert stats.events_out == sum(events.values()) == sum(stats.events_by_kind.values())


def check_events(events: list[Event]) -> None:
    assert isinstance(events, list)
    for event in events:
        assert isinstance(event, EVENT_TYPES), type(event)
        assert event.venue == "clob"
        if isinstance(event, Dropped):
            assert event.reason in DROP_REASONS
            assert not event.detail.startswith("decoder error"), event
        if isinstance(event, BookSnapshot):
            bids = [Decimal(level.price) for level in event.bids]
            asks = [Decimal(level.price) for level in event.asks]
            assert bids == sorted(bids, reverse=True)
            assert asks == sorted(asks)
    msgspec.json.encode(events)  # every event, drops included, can be written out as JSON


# ---------------------------------------------------------------- strategies

seeds = st.sampled_from(SEEDS)


@st.composite
def byte_mutants(draw: st.DrawFn) -> bytes:
    """A seed with a few bytes flipped, inserted or deleted, maybe truncated."""
    data = bytearray(draw(seeds).encode("utf-8"))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(("flip", "insert", "delete", "truncate")))
        pos = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "flip" and data:
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=4))
        elif op == "delete":
            del data[pos : pos + draw(st.integers(1, 8))]
        else:
            del data[pos:]
    return bytes(data)


JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.sampled_from(["BUY", "SELL", "0", "", "0.5", ".48", "NaN", "1766481546776", "book"]),
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
# Smaller values for objects that already draw many keys (keeps generation cheap).
SMALL_VALUES = st.recursive(JSON_SCALARS, lambda inner: st.lists(inner, max_size=2), max_leaves=3)


@st.composite
def type_swaps(draw: st.DrawFn) -> str:
    """A JSON seed with the value at one or two random paths replaced by another value/type."""
    value = draw(st.sampled_from(JSON_SEEDS))
    for _ in range(draw(st.integers(1, 2))):
        paths = list(_paths(value))
        path = draw(st.sampled_from(paths))
        value = _replace(value, path, draw(JSON_VALUES))
    spaced = draw(st.booleans())
    return json.dumps(value, separators=(", ", ":") if spaced else (",", ":"))


KEYS = [
    "event_type", "type", "market", "asset_id", "assets_ids", "price_changes", "changes",
    "bids", "asks", "buys", "sells", "price", "size", "side", "hash", "timestamp",
    "best_bid", "best_ask", "id", "status", "matchtime", "match_time", "maker_orders",
]  # fmt: skip
KINDS = [
    "book", "price_change", "tick_size_change", "last_trade_price", "best_bid_ask",
    "new_market", "market_resolved", "trade", "order", "TRADE", "PLACEMENT", "other",
]  # fmt: skip


@st.composite
def vocabulary_objects(draw: st.DrawFn) -> str:
    """A random object (or array of them) made of the protocol's keys and kinds."""

    def one_object() -> dict[str, Any]:
        obj = draw(st.dictionaries(st.sampled_from(KEYS), SMALL_VALUES, max_size=8))
        if draw(st.booleans()):
            obj["event_type"] = draw(st.sampled_from(KINDS))
        return obj

    if draw(st.booleans()):
        return json.dumps([one_object() for _ in range(draw(st.integers(0, 3)))])
    return json.dumps(one_object())


any_text = st.text(max_size=60)
any_frame = st.one_of(
    byte_mutants(),
    byte_mutants().map(lambda b: b.decode("utf-8", "replace")),
    seeds.flatmap(lambda s: st.integers(0, len(s)).map(lambda k: s[:k])),
    type_swaps(),
    vocabulary_objects(),
    any_text,
    st.binary(max_size=60),
)


# ---------------------------------------------------------------- tests


def _run(test: str, frames: list[str | bytes]) -> Harness:
    harness = Harness(test)
    for frame in frames:
        harness.feed(frame)
    harness.check_stats()
    return harness


@fuzz(500)
@given(st.lists(byte_mutants(), min_size=FRAMES_PER_EXAMPLE, max_size=FRAMES_PER_EXAMPLE))
def test_byte_mutations_never_raise(frames: list[str | bytes]) -> None:
    """Flipped, inserted, deleted and truncated bytes give only events or counted drops."""
    _run("bytes", frames)


@fuzz(500)
@given(
    st.lists(
        seeds.flatmap(lambda s: st.integers(0, len(s)).map(lambda k: s[:k])),
        min_size=FRAMES_PER_EXAMPLE,
        max_size=FRAMES_PER_EXAMPLE,
    )
)
def test_truncations_never_raise(frames: list[str | bytes]) -> None:
    """Every prefix of a seed frame gives only events or counted drops."""
    _run("truncate", frames)


@fuzz(250)
@given(st.lists(type_swaps(), min_size=FRAMES_PER_EXAMPLE, max_size=FRAMES_PER_EXAMPLE))
def test_type_swaps_never_raise(frames: list[str | bytes]) -> None:
    """Any value of any seed replaced by any JSON value gives only events or counted drops."""
    _run("types", frames)


@fuzz(180)
@given(st.lists(vocabulary_objects(), min_size=FRAMES_PER_EXAMPLE, max_size=FRAMES_PER_EXAMPLE))
def test_random_protocol_objects_never_raise(frames: list[str | bytes]) -> None:
    """Random objects made of the protocol's keys and kinds give only events or drops."""
    _run("vocabulary", frames)


@fuzz(200)
@given(
    st.lists(
        st.one_of(any_text, st.binary(max_size=60), JSON_VALUES.map(json.dumps)),
        min_size=1,
        max_size=FRAMES_PER_EXAMPLE,
    )
)
def test_random_text_bytes_and_json_never_raise(frames: list[str | bytes]) -> None:
    """Random text, bytes and JSON values give only events or counted drops."""
    _run("random", frames)


@fuzz(200)
@given(st.lists(st.one_of(st.sampled_from(SEEDS), any_frame), min_size=1, max_size=12))
def test_mixed_stream_stats_add_up(frames: list[str | bytes]) -> None:
    """Good and bad frames interleaved on one decoder: counts match what receive returned."""
    _run("mixed", frames)


DECIMAL_TEXT = st.one_of(
    st.decimals(min_value=0, max_value=1, places=4, allow_nan=False).map(str),
    st.integers(1, 999).map(lambda n: f"0.{n}"),
    st.integers(1, 99).map(lambda n: f".{n}"),
    st.sampled_from(["0", "1", "0.50", "0.5", "1.0", "0.1000000000000000000001"]),
)


@fuzz(300)
@given(st.lists(DECIMAL_TEXT, max_size=25), st.lists(DECIMAL_TEXT, max_size=25))
def test_book_levels_are_ordered_exactly(bids: list[str], asks: list[str]) -> None:
    """Whatever the wire order and notation, sides come out best-first by exact value."""
    frame = json.dumps(
        {
            "event_type": "book",
            "market": MARKET,
            "asset_id": YES,
            "bids": [{"price": p, "size": str(i)} for i, p in enumerate(bids)],
            "asks": [{"price": p, "size": str(i)} for i, p in enumerate(asks)],
        }
    )
    (book,) = ClobMarketDecoder().receive(frame)
    assert isinstance(book, BookSnapshot)
    assert sorted(map(Decimal, bids), reverse=True) == [Decimal(x.price) for x in book.bids]
    assert sorted(map(Decimal, asks)) == [Decimal(x.price) for x in book.asks]
    assert Counter(x.size for x in book.bids) == Counter(str(i) for i in range(len(bids)))


@fuzz(500)
@given(st.one_of(st.text(max_size=40), st.integers(), st.floats(), st.none(), st.booleans()))
def test_timestamp_ns_never_raises(value: Any) -> None:
    """timestamp_ns takes any text or number and gives None or a positive int64."""
    result = timestamp_ns(value)
    assert result is None or 0 < result < 2**63


def random_json(rng: random.Random, depth: int = 0) -> Any:
    """A seeded random JSON value built from the protocol's keys, kinds and values."""
    roll = rng.random()
    if depth < 4 and roll < 0.3:
        obj = {
            rng.choice(KEYS) if rng.random() < 0.85 else rng.choice(KINDS): random_json(
                rng, depth + 1
            )
            for _ in range(rng.randrange(7))
        }
        if rng.random() < 0.6:
            obj["event_type"] = rng.choice(KINDS)
        return obj
    if depth < 4 and roll < 0.4:
        return [random_json(rng, depth + 1) for _ in range(rng.randrange(4))]
    return rng.choice(
        [
            None,
            rng.random() < 0.5,
            rng.randrange(-(2**70), 2**70),
            rng.uniform(-1e9, 1e9),
            rng.choice(["BUY", "SELL", "0", "", "0.5", ".48", "NaN", "1766481546776", YES]),
            rng.choice(KINDS),
            str(rng.randrange(10**6) / 10 ** rng.randrange(7)),
            "".join(chr(rng.randrange(0x20, 0x2FFF)) for _ in range(rng.randrange(8))),
        ]
    )


def _price(rng: random.Random) -> str:
    return f"0.{rng.randrange(1, 100):02d}" if rng.random() < 0.9 else str(rng.randrange(2))


#: Fresh values by field name, used to fill the seeds' shapes (the spec's field tables).
FIELD_VALUES: dict[str, Any] = {
    "price": _price,
    "best_bid": _price,
    "best_ask": _price,
    "last_trade_price": _price,
    "old_tick_size": lambda rng: rng.choice(["0.01", "0.001"]),
    "new_tick_size": lambda rng: rng.choice(["0.01", "0.001"]),
    "tick_size": lambda rng: rng.choice(["0.01", "0.001"]),
    "size": lambda rng: str(rng.randrange(0, 10_000) / rng.choice([1, 10, 100])),
    "original_size": lambda rng: str(rng.randrange(1, 500)),
    "size_matched": lambda rng: str(rng.randrange(0, 500)),
    "matched_amount": lambda rng: str(rng.randrange(0, 500)),
    "side": lambda rng: rng.choice(["BUY", "SELL", "buy", "SELL"]),
    "asset_id": lambda rng: rng.choice([YES, NO, YES, str(rng.randrange(10**20))]),
    "winning_asset_id": lambda rng: rng.choice([YES, NO]),
    "market": lambda rng: rng.choice([MARKET, MARKET, "0x" + f"{rng.randrange(16**64):064x}"]),
    "timestamp": lambda rng: str(rng.randrange(1_600_000_000_000, 1_900_000_000_000)),
    "matchtime": lambda rng: str(rng.randrange(1_600_000_000, 1_900_000_000)),
    "hash": lambda rng: f"{rng.randrange(16**40):040x}",
    "status": lambda rng: rng.choice(["MATCHED", "MINED", "CONFIRMED", "RETRYING", "FAILED"]),
    "type": lambda rng: rng.choice(["TRADE", "PLACEMENT", "UPDATE", "CANCELLATION"]),
}


def fill(template: Any, rng: random.Random, key: str = "") -> Any:
    """A fresh value shaped like ``template``: lists get 0-7 items shaped like their first,
    known fields get fresh plausible values, and one leaf in ten anything at all."""
    if isinstance(template, dict):
        return {k: fill(v, rng, k) for k, v in template.items() if rng.random() < 0.97}
    if isinstance(template, list):
        if not template:
            return []
        return [fill(template[0], rng, key) for _ in range(rng.randrange(8))]
    if rng.random() < 0.1:
        return random_json(rng, 2)
    make = FIELD_VALUES.get(key)
    return make(rng) if make is not None else template


def bulk_generated(test: str, seed: int, count: int) -> Harness:
    """Seeded frames built fresh: the seeds' shapes (the spec's field tables) filled with new
    values, random vocabulary objects, and arrays of them."""
    rng = random.Random(seed)
    frames: list[str | bytes] = []
    for _ in range(count):
        roll = rng.random()
        if roll < 0.7:
            frame: Any = fill(rng.choice(JSON_SEEDS), rng)
        elif roll < 0.9:
            frame = {key: random_json(rng, 2) for key in rng.sample(KEYS, rng.randrange(8))}
            frame["event_type"] = rng.choice(KINDS)
        else:
            frame = random_json(rng)
        frames.append(json.dumps(frame, ensure_ascii=rng.random() < 0.5))
    return _run(test, frames)


def test_random_protocol_objects_bulk() -> None:
    """10,000 seeded random protocol-vocabulary frames: only events or counted drops."""
    harness = bulk_generated("bulk_generated", 20261124, 10_000)
    assert harness.fed == 10_000
    # Not only drops: fresh values in the spec's shapes decode to every kind of event.
    decoded = {kind for kind in harness.kinds[0] if not kind.startswith("drop:")}
    assert {"book", "price_change", "last_trade_price", "tick_size_change"} <= decoded
    assert {"trade", "order"} <= {k for k in harness.kinds[1] if not k.startswith("drop:")}


# ---------------------------------------------------------------- larger runs
# Split into chunks so that each test stays inside the 120 s per-test timeout.


@pytest.mark.slow
@pytest.mark.parametrize("chunk", range(8))
@fuzz(250)
@given(frames=st.lists(any_frame, min_size=FRAMES_PER_EXAMPLE, max_size=FRAMES_PER_EXAMPLE))
def test_slow_any_frame_never_raises(chunk: int, frames: list[str | bytes]) -> None:
    """Slow variant: every mutation family mixed, 8 x 2,500 more frames."""
    _run("slow-any", frames)


@pytest.mark.slow
@pytest.mark.parametrize("chunk", range(5))
@fuzz(200)
@given(frames=st.lists(type_swaps(), min_size=FRAMES_PER_EXAMPLE, max_size=FRAMES_PER_EXAMPLE))
def test_slow_type_swaps_never_raise(chunk: int, frames: list[str | bytes]) -> None:
    """Slow variant of the type-swap fuzz, 5 x 2,000 more frames."""
    _run("slow-types", frames)


@pytest.mark.slow
@pytest.mark.parametrize("chunk", range(10))
def test_slow_random_protocol_objects_bulk(chunk: int) -> None:
    """Slow variant of the generated bulk run: 10 x 15,000 more frames."""
    assert bulk_generated("slow-bulk-generated", 1000 + chunk, 15_000).fed == 15_000


def test_seeds_decode_without_drops() -> None:
    """The fuzz seeds themselves are good frames (except the one unknown kind)."""
    rng = random.Random(0)
    frames = rng.sample(SEEDS, len(SEEDS))
    decoder = ClobMarketDecoder()
    for frame in frames:
        decoder.receive(frame)
    stats = decoder.stats()
    assert dict(stats.dropped) == {"unknown_event": 2}  # compact and spaced copies
    assert stats.events_out > len(SEEDS)


def test_default_run_reaches_the_fuzz_floor() -> None:
    """Runs last: the default run fed >= 10,000 mutated and >= 10,000 generated frames.

    Skipped when a -k/-m selection left a default fuzz test out, since the floor is about the
    whole default run.
    """
    missing = [name for name in MUTATED + GENERATED if FED[name] == 0]
    if missing:
        pytest.skip(f"not every default fuzz test ran: {missing}")
    mutated = sum(FED[name] for name in MUTATED)
    generated = sum(FED[name] for name in GENERATED)
    print(f"\nclob fuzz default run: {mutated} mutated + {generated} generated frames")
    assert mutated >= MIN_FRAMES, dict(FED)
    assert generated >= MIN_FRAMES, dict(FED)
