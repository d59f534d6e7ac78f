"""The US markets decoder's hot-path caches: checked decimal texts, float sort keys, seconds.

The decoder remembers decimal texts it has checked (with a float or Decimal sort key) and the
whole seconds of the venue's timestamp form. These tests pin down that the caches never change
an answer: the same decoder instance sees texts again, long decimals next to short ones,
invalid texts after valid ones, a full cache, and timestamps sharing a second.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from polyresearch.protocol import us
from polyresearch.protocol.events import BookSnapshot, Dropped
from polyresearch.protocol.us import UsMarketsDecoder, parse_timestamp_ns


def frame(bids: list[tuple[str, str]], offers: list[tuple[str, str]], **extra: Any) -> str:
    def side(levels: list[tuple[str, str]]) -> list[dict[str, Any]]:
        return [{"px": {"value": p, "currency": "USD"}, "qty": q} for p, q in levels]

    return json.dumps(
        {"marketData": {"marketSlug": "m", "bids": side(bids), "offers": side(offers), **extra}}
    )


def book(decoder: UsMarketsDecoder, text: str) -> BookSnapshot:
    [event] = decoder.receive(text)
    assert isinstance(event, BookSnapshot), event
    return event


def pairs(levels: tuple[Any, ...]) -> list[tuple[str, str]]:
    return [(level.price, level.size) for level in levels]


def test_long_decimal_orders_exactly_after_short_one_was_cached() -> None:
    """0.1 and 0.1000000000000000001 are one float: once the long text is in a side, the side
    is ordered by Decimal, even though 0.1 was cached with a float key before."""
    decoder = UsMarketsDecoder()
    book(decoder, frame([("0.1", "1"), ("0.09", "2")], []))  # 0.1 cached as a float
    event = book(decoder, frame([("0.1", "1"), ("0.1000000000000000001", "2")], []))
    assert pairs(event.bids) == [("0.1000000000000000001", "2"), ("0.1", "1")]
    event = book(decoder, frame([], [("0.1000000000000000001", "2"), ("0.1", "1")]))
    assert pairs(event.asks) == [("0.1", "1"), ("0.1000000000000000001", "2")]


def test_equal_values_keep_wire_order_and_text() -> None:
    """0.5 and 0.50 are equal: a stable sort keeps their wire order and both texts verbatim."""
    decoder = UsMarketsDecoder()
    for _ in range(2):  # the second pass runs on cached keys
        event = book(decoder, frame([("0.50", "1"), ("0.6", "3"), ("0.5", "2")], []))
        assert pairs(event.bids) == [("0.6", "3"), ("0.50", "1"), ("0.5", "2")]


@pytest.mark.parametrize("bad", ["NaN", "Infinity", "1_0", " 1", "1 ", "\u0661", "0x1", ".", ""])
def test_invalid_texts_drop_even_with_a_warm_cache(bad: str) -> None:
    """A warm cache never lets an invalid price or size through."""
    decoder = UsMarketsDecoder()
    book(decoder, frame([("0.5", "1")], [("0.6", "1")]))
    for levels in ([(bad, "1")], [("0.5", bad)]):
        [event] = decoder.receive(frame(levels, [("0.6", "1")]))
        assert isinstance(event, Dropped)
        assert event.reason == "wrong_shape"


def test_missing_px_or_qty_drops() -> None:
    decoder = UsMarketsDecoder()
    book(decoder, frame([("0.5", "1")], []))
    for entry in ({"qty": "1"}, {"px": None, "qty": "1"}, {"px": {"value": "0.5"}}):
        text = json.dumps({"marketData": {"marketSlug": "m", "bids": [entry]}})
        [event] = decoder.receive(text)
        assert isinstance(event, Dropped)
        assert "without px or qty" in event.detail


def test_full_cache_is_cleared_and_answers_stay_right(monkeypatch: pytest.MonkeyPatch) -> None:
    """The checked-text cache stays within its bound; a clear only costs speed."""
    monkeypatch.setattr(us._Checked, "MAX", 8)
    decoder = UsMarketsDecoder()
    for i in range(50):
        bids = [(f"0.{i % 7 + 1}", f"{i}.5"), (f"0.0{i % 9 + 1}", f"{i + 1}")]
        event = book(decoder, frame(bids[::-1], []))
        assert pairs(event.bids) == bids
        assert len(decoder._checked.keys) <= 8
        assert decoder._checked.texts == set(decoder._checked.keys)


def test_timestamps_sharing_a_second_are_exact() -> None:
    """After the first timestamp of a second, the others of that second read only their
    fraction: every result equals the full parse, and a bad fraction still drops."""
    decoder = UsMarketsDecoder()
    for fraction in ("000000000", "339877873", "999999999", "000000001"):
        text = f"2026-08-23T18:15:38.{fraction}Z"
        event = book(decoder, frame([("0.5", "1")], [], transactTime=text))
        assert event.ts_ns == parse_timestamp_ns(text)
    leap = "2016-12-31T23:59:60.500000000Z"
    for _ in range(2):
        assert book(decoder, frame([], [], transactTime=leap)).ts_ns == parse_timestamp_ns(leap)
    for bad in ("2026-08-23T18:15:38.33987787xZ", "2026-08-23T18:15:38.\u0663\u0663\u0663339877Z"):
        [event] = decoder.receive(frame([], [], transactTime=bad))
        assert isinstance(event, Dropped)


def test_one_pass_and_general_paths_agree_on_precedence() -> None:
    """heartbeat and error win over marketData (the SDK's order); a null book drops."""
    decoder = UsMarketsDecoder()
    data = {"marketSlug": "m", "bids": [{"px": {"value": "0.5"}, "qty": "1"}]}
    assert decoder.receive(json.dumps({"heartbeat": {}, "marketData": data}))[0].kind == "heartbeat"
    assert decoder.receive(json.dumps({"error": "x", "marketData": data}))[0].kind == "error"
    [event] = decoder.receive(json.dumps({"marketData": None}))
    assert isinstance(event, Dropped)
    assert "null" in event.detail
    # A malformed book behind a heartbeat is not looked at (as the SDK would not).
    bad = {"marketSlug": "m", "bids": "nope"}
    assert decoder.receive(json.dumps({"heartbeat": {}, "marketData": bad}))[0].kind == "heartbeat"


_digits = st.text("0123456789", min_size=1, max_size=22)
decimals = st.one_of(
    st.builds(lambda a, b: f"{a}.{b}", _digits, _digits),
    _digits,
    st.builds(lambda a, e: f"{a}e{e}", _digits, st.integers(-30, 30)),
    st.sampled_from(["0.1", "0.10", "0.1000000000000000001", "-0.5", "+0.5", ".5", "5."]),
)
levels = st.lists(st.tuples(decimals, decimals), max_size=12)
_DECODER = UsMarketsDecoder()  # one instance across examples: its caches warm up and fill


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bids=levels, offers=levels)
def test_sides_equal_an_exact_stable_decimal_sort(
    bids: list[tuple[str, str]], offers: list[tuple[str, str]]
) -> None:
    """Whatever the texts, each side comes back as a stable Decimal sort of the wire order."""
    event = book(_DECODER, frame(bids, offers))
    assert pairs(event.bids) == sorted(bids, key=lambda lv: Decimal(lv[0]), reverse=True)
    assert pairs(event.asks) == sorted(offers, key=lambda lv: Decimal(lv[0]))


def test_an_unchanged_side_is_the_same_tuple_and_a_changed_one_is_parsed() -> None:
    """Per market, a side byte-identical to its last one comes back as the same levels object
    (nothing parsed again); any change, another market or another decoder parses afresh."""
    decoder = UsMarketsDecoder()
    bids, offers = [("0.48", "10"), ("0.47", "5")], [("0.52", "7")]
    first = book(decoder, frame(bids, offers))
    again = book(decoder, frame(bids, offers))
    assert again.bids is first.bids and again.asks is first.asks
    moved = book(decoder, frame(bids, [("0.51", "2"), ("0.52", "7")]))
    assert moved.bids is first.bids
    assert pairs(moved.asks) == [("0.51", "2"), ("0.52", "7")]
    back = book(decoder, frame(bids, offers))
    assert pairs(back.asks) == [("0.52", "7")] and back.bids is first.bids
    other = json.loads(frame(bids, offers))
    other["marketData"]["marketSlug"] = "other"
    elsewhere = book(decoder, json.dumps(other))
    assert elsewhere.bids is not first.bids and pairs(elsewhere.bids) == bids
    assert book(UsMarketsDecoder(), frame(bids, offers)).bids is not first.bids


def test_the_side_cache_never_hides_a_bad_frame_or_changes_a_drop() -> None:
    """A cached side does not make a bad frame good: a broken other side, slug or time still
    drops it, with the same reason and detail a fresh decoder gives."""
    bids = [("0.48", "10")]
    good = frame(bids, [("0.52", "7")])
    bad_frames = [
        frame(bids, [("0.52", "7")], transactTime="yesterday"),
        json.dumps(
            {
                "marketData": {
                    "marketSlug": "m",
                    "bids": [{"px": {"value": "0.48"}, "qty": "10"}],
                    "offers": "nope",
                }
            }
        ),
        json.dumps(
            {
                "marketData": {
                    "marketSlug": "m",
                    "bids": [{"px": {"value": "0.48"}, "qty": "10"}],
                    "offers": [{"qty": "1"}],
                }
            }
        ),
        json.dumps(
            {
                "marketData": {
                    "marketSlug": "m",
                    "bids": [{"px": {"value": "x"}, "qty": "10"}],
                    "offers": [{"px": {"value": "0.5"}, "qty": [1]}],
                }
            }
        ),
        json.dumps({"marketData": {"bids": [{"px": {"value": "0.48"}, "qty": "10"}]}}),
    ]
    for bad in bad_frames:
        warm = UsMarketsDecoder()
        book(warm, good)  # bids of "m" cached
        [cached] = warm.receive(bad)
        [fresh] = UsMarketsDecoder().receive(bad)
        assert isinstance(cached, Dropped) and isinstance(fresh, Dropped), bad
        assert (cached.reason, cached.detail) == (fresh.reason, fresh.detail), bad
        assert pairs(book(warm, good).bids) == bids  # and the good book still decodes


def test_the_side_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(UsMarketsDecoder, "MAX_CACHED_MARKETS", 4)
    decoder = UsMarketsDecoder()
    for i in range(10):
        data = json.loads(frame([("0.4", str(i + 1))], []))
        data["marketData"]["marketSlug"] = f"m{i}"
        assert pairs(book(decoder, json.dumps(data)).bids) == [("0.4", str(i + 1))]
    assert len(decoder._last_bids) <= 4 and len(decoder._last_offers) <= 4
