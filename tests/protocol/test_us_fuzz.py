"""Fuzzing the US decoders: any input gives only events or counted drops, never an exception.

Inputs are the golden frames of ``tests/data/us`` mutated (byte flips, insertions, deletions,
truncations, value and type swaps at any JSON path) and random JSON objects built from the
protocol's own keys. Each frame is checked for the decoder contract: no exception, only
normalized event types, drop reasons from the base's table, no last-resort "decoder error", and
stats that add up. Well-formed books additionally keep their sides best-first.

Volume: the default run feeds at least 10,000 mutated and 10,000 generated frames, each to
both decoders (the last test asserts it; ``-s`` prints the counts by test); the ``slow``
variants feed about 770,000 more, in chunks that each fit the per-test timeout.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from polyresearch.protocol.base import DROP_REASONS, FrameDecoder
from polyresearch.protocol.events import BookSnapshot, Dropped, Event, Level
from polyresearch.protocol.us import UsMarketsDecoder, UsPrivateDecoder, parse_timestamp_ns
from tests._fuzz import fuzz

DATA = Path(__file__).parent.parent / "data" / "us"
SEEDS: list[bytes] = [
    path.read_bytes() for path in sorted(DATA.glob("*.json")) if not path.name.startswith("client_")
]
EVENT_TYPES = Event.__args__
DECODERS: tuple[Callable[[], FrameDecoder], ...] = (UsMarketsDecoder, UsPrivateDecoder)

#: Frames fed in this module, by test (each to both decoders); printed at the end with -s and
#: checked by the last test against the CI floor.
FED: Counter[str] = Counter()
#: Families of the default run: frames edited from golden ones, and frames built from nothing.
MUTATED = ("bulk_mutations", "byte_mutations", "truncations", "type_swaps")
GENERATED = ("bulk_generated", "known_key_objects", "json_values", "books")
#: The issue's floor for the default CI run, per venue and per family.
MIN_FRAMES = 10_000


@pytest.fixture(scope="module", autouse=True)
def _report_count() -> Iterator[None]:
    yield
    print(f"\nus fuzz: frames fed to both decoders: {sum(FED.values())} {dict(FED)}")


class Harness:
    """Fresh decoders for one example, checking the contract on every frame fed."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.decoders = [make() for make in DECODERS]
        self.outputs = [0 for _ in self.decoders]
        self.fed = 0

    def feed(self, frame: str | bytes) -> list[Event]:
        everything: list[Event] = []
        for index, decoder in enumerate(self.decoders):
            events = decoder.receive(frame)  # must not raise
            for event in events:
                check_event(event)
            self.outputs[index] += len(events)
            everything += events
            stats = decoder.stats()
            assert stats.events_out + stats.dropped_total == self.outputs[index]
            assert sum(stats.events_by_kind.values()) == stats.events_out
        self.fed += 1
        FED[self.name] += 1
        for decoder in self.decoders:
            assert decoder.stats().frames_in == self.fed
        return everything


def check_event(event: Event) -> None:
    assert isinstance(event, EVENT_TYPES), event
    assert event.venue == "us"
    msgspec.json.encode(event)  # every event can be recorded / printed by the CLI
    if isinstance(event, Dropped):
        assert event.reason in DROP_REASONS
        assert not event.detail.startswith("decoder error"), event  # the base's last resort
        assert len(event.excerpt) <= 200
        return
    assert event.kind != "dropped"
    if isinstance(event, BookSnapshot):
        check_sorted(event.bids, descending=True)
        check_sorted(event.asks, descending=False)


def check_sorted(levels: tuple[Level, ...], *, descending: bool) -> None:
    prices = [Decimal(level.price) for level in levels]
    for level in levels:
        assert Decimal(level.size).is_finite()
    assert prices == sorted(prices, reverse=descending)


# ---------------------------------------------------------------- strategies

TOP_KEYS = [
    "requestId",
    "subscriptionType",
    "heartbeat",
    "error",
    "marketData",
    "marketDataLite",
    "trade",
    "orderSubscriptionSnapshot",
    "ordersSnapshot",
    "orderSubscriptionUpdate",
    "orderUpdate",
    "positionSubscriptionSnapshot",
    "positionsSnapshot",
    "positionSubscription",
    "positionSubscriptionUpdate",
    "positionUpdate",
    "accountBalanceSubscriptionSnapshot",
    "accountBalancesSnapshot",
    "accountBalancesUpdate",
    "accountBalanceSubscriptionUpdate",
    "accountBalanceUpdate",
    "rfqEvent",
]
INNER_KEYS = [
    "marketSlug", "bids", "offers", "px", "value", "currency", "qty", "state", "stats",
    "lastTradePx", "transactTime", "bestBid", "bestAsk", "bidDepth", "askDepth", "currentPx",
    "longQuote", "shortQuote", "sharesTraded", "openInterest", "bidShares", "askShares", "price",
    "quantity", "tradeTime", "maker", "taker", "side", "intent", "orders", "eof", "execution",
    "order", "id", "cumQuantity", "leavesQuantity", "lastShares", "lastPx", "type", "tradeId",
    "marketMetadata", "slug", "outcome", "beforePosition", "afterPosition", "position",
    "positions", "netPosition", "netPositionDecimal", "cost", "realized", "avgPx", "updateTime",
    "entryType", "balances", "balance", "buyingPower", "currentBalance", "balanceChange",
    "beforeBalance", "afterBalance", "description", "lastUpdated",
]  # fmt: skip
INTERESTING_TEXT = [
    "",
    "0",
    "0.5",
    "0.555",
    "-1",
    "1e3",
    ".5",
    "5.",
    "NaN",
    "Infinity",
    "1_000",
    " 0.5",
    "0x10",
    "2024-01-15T10:30:00Z",
    "2026-08-23T18:15:38.339877873Z",
    "2024-02-30T00:00:00Z",
    "2024-01-15T10:30:00.1234567890Z",
    "ORDER_SIDE_BUY",
    "ORDER_SIDE_SELL",
    "ORDER_INTENT_BUY_SHORT",
    "MARKET_STATE_OPEN",
    "USD",
    "\ud800",
    "\x00",
    "é",
]

leaves = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from(INTERESTING_TEXT)
    | st.text(max_size=12)
)
keys = st.sampled_from(TOP_KEYS + INNER_KEYS) | st.text(max_size=6)
json_values = st.recursive(
    leaves,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=5),
    max_leaves=20,
)
top_objects = st.dictionaries(
    st.sampled_from(TOP_KEYS) | st.text(max_size=6), json_values, max_size=4
)


def dumps(value: Any) -> str:
    # ensure_ascii=False so lone surrogates reach the decoder as such, not as \\ud800 escapes.
    return json.dumps(value, ensure_ascii=False)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path into a JSON value (the root excluded)."""
    children: Any = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for key, child in children:
        yield (*prefix, key)
        yield from paths(child, (*prefix, key))


def swapped(value: Any, path: tuple[Any, ...], replacement: Any, delete: bool) -> Any:
    """A copy of value with the node at path replaced (or deleted)."""
    if not path:
        return replacement
    copy = json.loads(json.dumps(value))
    node = copy
    for key in path[:-1]:
        node = node[key]
    if delete:
        del node[path[-1]]
    else:
        node[path[-1]] = replacement
    return copy


def mutate(frame: bytes, rng: random.Random) -> bytes:
    """One random byte-level edit: flip, set, insert, delete or duplicate a span."""
    data = bytearray(frame)
    if not data:
        return bytes([rng.randrange(256)])
    at = rng.randrange(len(data))
    op = rng.randrange(5)
    if op == 0:
        data[at] ^= 1 << rng.randrange(8)
    elif op == 1:
        data[at] = rng.choice(b'{}[]":,0123456789.-eEnulltrfas \\\xff\xc3')
    elif op == 2:
        data.insert(at, rng.randrange(256))
    elif op == 3:
        del data[at : at + rng.randrange(1, 8)]
    else:
        end = min(len(data), at + rng.randrange(1, 16))
        data[at:at] = data[at:end]
    return bytes(data)


# ---------------------------------------------------------------- fuzz tests (default run)


def test_seed_frames_decode_cleanly() -> None:
    """Every golden frame decodes on its own channel without a drop (the fuzz starting points)."""
    for path in sorted(DATA.glob("*.json")):
        if path.name.startswith("client_"):
            continue
        decoder = UsPrivateDecoder() if path.name.startswith("private_") else UsMarketsDecoder()
        events = decoder.receive(path.read_bytes())
        assert events and not any(isinstance(e, Dropped) for e in events), path.name


def bulk_mutations(name: str, seed: int, rounds: int, max_edits: int) -> Harness:
    """Seeded random byte edits, fed as bytes and as str (with lone surrogates if not UTF-8)."""
    rng = random.Random(seed)
    harness = Harness(name)
    for _ in range(rounds):
        frame = rng.choice(SEEDS)
        for _ in range(rng.randrange(1, max_edits + 1)):
            frame = mutate(frame, rng)
        harness.feed(frame)
        harness.feed(frame.decode("utf-8", "surrogateescape"))
    return harness


def test_random_byte_mutations_bulk() -> None:
    """10,000 seeded random byte edits of golden frames: only events or counted drops."""
    assert bulk_mutations("bulk_mutations", 20260823, 5_000, 3).fed == 10_000


def random_json(rng: random.Random, depth: int = 0) -> Any:
    """A seeded random JSON value built from the protocol's keys and interesting values."""
    roll = rng.random()
    if depth < 4 and roll < 0.3:
        keys = TOP_KEYS + INNER_KEYS if depth == 0 else INNER_KEYS
        return {
            rng.choice(keys) if rng.random() < 0.85 else rng.choice(INTERESTING_TEXT): random_json(
                rng, depth + 1
            )
            for _ in range(rng.randrange(6))
        }
    if depth < 4 and roll < 0.4:
        return [random_json(rng, depth + 1) for _ in range(rng.randrange(4))]
    return rng.choice(
        [
            None,
            rng.random() < 0.5,
            rng.randrange(-(2**70), 2**70),
            rng.uniform(-1e9, 1e9),
            rng.choice(INTERESTING_TEXT),
            rng.choice(INTERESTING_TEXT),
            str(rng.randrange(10**6) / 10 ** rng.randrange(7)),
            "".join(chr(rng.randrange(0x20, 0x2FFF)) for _ in range(rng.randrange(8))),
        ]
    )


def _decimal(rng: random.Random) -> str:
    return str(rng.randrange(0, 10_000) / rng.choice([1, 10, 100, 1000]))


def _rfc3339(rng: random.Random) -> str:
    nanos = str(rng.randrange(10**9)).rjust(9, "0")[: rng.randrange(10)]
    day = f"2026-0{rng.randrange(1, 10)}-1{rng.randrange(10)}"
    return f"{day}T1{rng.randrange(10)}:3{rng.randrange(10)}:00" + (f".{nanos}Z" if nanos else "Z")


#: Fresh values by field name, used to fill the golden frames' shapes (the docs' field tables).
FIELD_VALUES: dict[str, Any] = {
    "value": _decimal,
    "qty": _decimal,
    "quantity": _decimal,
    "cumQuantity": _decimal,
    "leavesQuantity": _decimal,
    "lastShares": _decimal,
    "netPosition": lambda rng: str(rng.randrange(-500, 500)),
    "currency": lambda rng: "USD",
    "marketSlug": lambda rng: rng.choice(["m", "aec-nba-ny-sa-2026-06-05", "x"]),
    "transactTime": _rfc3339,
    "tradeTime": _rfc3339,
    "updateTime": _rfc3339,
    "lastUpdated": _rfc3339,
    "side": lambda rng: rng.choice(["ORDER_SIDE_BUY", "ORDER_SIDE_SELL"]),
    "requestId": lambda rng: rng.choice(["r1", "pr-7", ""]),
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


JSON_SEEDS = [json.loads(seed) for seed in SEEDS]


def bulk_generated(name: str, seed: int, count: int) -> Harness:
    """Seeded frames built fresh: the golden frames' shapes filled with new values, and
    random objects of the protocol's keys."""
    rng = random.Random(seed)
    harness = Harness(name)
    for _ in range(count):
        roll = rng.random()
        if roll < 0.7:
            frame: Any = fill(rng.choice(JSON_SEEDS), rng)
        elif roll < 0.9:
            frame = {rng.choice(TOP_KEYS): random_json(rng, 1)}
        else:
            frame = random_json(rng)
        harness.feed(dumps(frame))
    return harness


def test_random_objects_bulk() -> None:
    """10,000 seeded random objects of the protocol's keys: only events or counted drops."""
    harness = bulk_generated("bulk_generated", 20261124, 10_000)
    assert harness.fed == 10_000
    # Not only drops: fresh values in the documented shapes decode on both sockets.
    markets, private = (decoder.stats().events_by_kind for decoder in harness.decoders)
    assert markets["market_data"] and markets["trade"] and markets["market_data_lite"]
    assert private["order_snapshot"] and private["position_update"]


@fuzz(500)
@given(
    seed=st.sampled_from(SEEDS),
    edits=st.lists(st.randoms(use_true_random=False), min_size=1, max_size=6),
)
def test_byte_mutations(seed: bytes, edits: list[random.Random]) -> None:
    """Chains of byte flips/insertions/deletions of a golden frame never raise."""
    harness = Harness("byte_mutations")
    frame = seed
    for rng in edits:
        frame = mutate(frame, rng)
        harness.feed(frame)


@fuzz(250)
@given(seed=st.sampled_from(SEEDS), cuts=st.lists(st.floats(0, 1), min_size=1, max_size=12))
def test_truncations(seed: bytes, cuts: list[float]) -> None:
    """Any prefix of a golden frame (also cut inside a UTF-8 sequence) is one clean drop."""
    harness = Harness("truncations")
    body = seed.rstrip()
    for cut in cuts:
        end = int(cut * (len(body) - 1))  # a proper prefix: the closing brace is always cut
        events = harness.feed(body[:end])
        assert all(isinstance(event, Dropped) for event in events)


@fuzz(600)
@given(data=st.data(), seed=st.sampled_from(SEEDS))
def test_value_and_type_swaps(data: st.DataObject, seed: bytes) -> None:
    """Replacing or deleting any node of a golden frame with any JSON value never raises."""
    swap_values(Harness("type_swaps"), data, seed)


def swap_values(harness: Harness, data: st.DataObject, seed: bytes) -> None:
    value = json.loads(seed)
    for _ in range(data.draw(st.integers(1, 4))):
        every = list(paths(value))
        if not every:
            break
        path = data.draw(st.sampled_from(every))
        replacement = data.draw(json_values)
        value = swapped(value, path, replacement, delete=data.draw(st.booleans()))
        harness.feed(dumps(value))


def feed_object(harness: Harness, obj: dict[str, Any]) -> None:
    """The object, each of its keys alone, and the object with an unpopulated error."""
    harness.feed(dumps(obj))
    for key, value in obj.items():
        harness.feed(dumps({key: value}))
    harness.feed(dumps(obj | {"error": ""}))


@fuzz(600)
@given(obj=top_objects)
def test_random_objects_with_known_keys(obj: dict[str, Any]) -> None:
    """Random JSON objects built from the protocol's keys decode or drop, never raise."""
    feed_object(Harness("known_key_objects"), obj)


@fuzz(300)
@given(value=json_values)
def test_random_json_values(value: Any) -> None:
    """Any JSON value (arrays, scalars, nested objects) decodes or drops, never raises."""
    harness = Harness("json_values")
    harness.feed(dumps(value))
    harness.feed(dumps([value, {"heartbeat": {}}]))


decimals = st.decimals(min_value=0, max_value=10**6, allow_nan=False, places=4).map(
    str
) | st.sampled_from(
    ["0.5", "0.50", "0.500", "0.30000000000000001", "0.3", "1", "0", "1e-2", "12.5"]
)
book_levels = st.lists(st.tuples(decimals, decimals), max_size=12)


@fuzz(300)
@given(bids=book_levels, offers=book_levels)
def test_well_formed_books_are_kept_and_sorted(
    bids: list[tuple[str, str]], offers: list[tuple[str, str]]
) -> None:
    """Books in any wire order decode to the same levels, best-first (exact, stable)."""
    text = json.dumps(
        {
            "marketData": {
                "marketSlug": "m",
                "bids": [{"px": {"value": p, "currency": "USD"}, "qty": q} for p, q in bids],
                "offers": [{"px": {"value": p}, "qty": q} for p, q in offers],
                "transactTime": "2026-08-23T18:15:38.339877873Z",
            }
        }
    )
    (event,) = Harness("books").feed(text)[:1]
    assert isinstance(event, BookSnapshot)
    expected_bids = sorted(bids, key=lambda level: Decimal(level[0]), reverse=True)
    expected_asks = sorted(offers, key=lambda level: Decimal(level[0]))
    assert [(level.price, level.size) for level in event.bids] == expected_bids
    assert [(level.price, level.size) for level in event.asks] == expected_asks


@fuzz(300)
@given(
    moment=st.datetimes(),
    nanos=st.integers(0, 999_999_999),
    digits=st.integers(0, 9),
    offset_minutes=st.integers(-23 * 60 - 59, 23 * 60 + 59),
)
def test_timestamps_round_trip(moment: Any, nanos: int, digits: int, offset_minutes: int) -> None:
    """Formatted RFC 3339 times with 0-9 digits and any offset parse to the exact ns."""
    whole = moment.replace(microsecond=0)
    fraction = str(nanos).rjust(9, "0")[:digits]
    kept = int(fraction.ljust(9, "0")) if digits else 0
    sign = "+" if offset_minutes >= 0 else "-"
    hours, minutes = divmod(abs(offset_minutes), 60)
    zone = "Z" if offset_minutes == 0 else f"{sign}{hours:02d}:{minutes:02d}"
    stamp = f"{whole.year:04d}-{whole:%m-%dT%H:%M:%S}"  # strftime does not pad years < 1000
    text = stamp + (f".{fraction}" if digits else "") + zone
    days = whole.toordinal() - 719_163
    seconds = days * 86_400 + whole.hour * 3_600 + whole.minute * 60 + whole.second
    assert parse_timestamp_ns(text) == (seconds - offset_minutes * 60) * 1_000_000_000 + kept


# ---------------------------------------------------------------- bigger runs


# Slow runs are split into chunks so that each test stays inside the 120 s per-test timeout.


@pytest.mark.slow
@pytest.mark.parametrize("chunk", range(10))
def test_random_byte_mutations_bulk_slow(chunk: int) -> None:
    """5 x 50,000 seeded random byte edits of up to 5 edits each (slow run)."""
    assert bulk_mutations("bulk_mutations_slow", 7 + chunk, 25_000, 5).fed == 50_000


@pytest.mark.slow
@pytest.mark.parametrize("chunk", range(5))
def test_random_objects_bulk_slow(chunk: int) -> None:
    """5 x 50,000 seeded random protocol-vocabulary objects (slow run)."""
    assert bulk_generated("bulk_generated_slow", 1000 + chunk, 50_000).fed == 50_000


@pytest.mark.slow
@pytest.mark.parametrize("chunk", range(6))
@fuzz(500)
@given(data=st.data(), seed=st.sampled_from(SEEDS))
def test_value_and_type_swaps_slow(chunk: int, data: st.DataObject, seed: bytes) -> None:
    """More value/type swaps (slow run, 6 x 500 examples)."""
    swap_values(Harness("type_swaps_slow"), data, seed)


@pytest.mark.slow
@pytest.mark.parametrize("chunk", range(6))
@fuzz(500)
@given(obj=top_objects)
def test_random_objects_with_known_keys_slow(chunk: int, obj: dict[str, Any]) -> None:
    """More random known-key objects (slow run, 6 x 500 examples)."""
    feed_object(Harness("known_key_objects_slow"), obj)


def test_default_run_reaches_the_fuzz_floor() -> None:
    """Runs last: the default run fed >= 10,000 mutated and >= 10,000 generated frames.

    Counted frames (each goes to both decoders) by family; skipped when a -k/-m selection left
    a default fuzz test out, since the floor is about the whole default run.
    """
    missing = [name for name in MUTATED + GENERATED if FED[name] == 0]
    if missing:
        pytest.skip(f"not every default fuzz test ran: {missing}")
    mutated = sum(FED[name] for name in MUTATED)
    generated = sum(FED[name] for name in GENERATED)
    print(f"\nus fuzz default run: {mutated} mutated + {generated} generated frames")
    assert mutated >= MIN_FRAMES, dict(FED)
    assert generated >= MIN_FRAMES, dict(FED)
