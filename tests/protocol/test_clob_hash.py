"""The CLOB book hash (protocol-clob.md §6.4): recipe byte layout and the doc's real hashes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from polyresearch.errors import ConfigError
from polyresearch.protocol.clob import ClobMarketDecoder
from polyresearch.protocol.clob_hash import (
    book_hash,
    book_hash_best_first,
    book_hash_unchecked,
    hash_levels,
)
from polyresearch.protocol.events import BookSnapshot, Level, PriceChange

DATA = Path(__file__).parent.parent / "data" / "clob"
MARKET = "0x5f65177b394277fd294cd75650044e32ba009a95022d88a0c1d565897d72f8f1"


def doc_price_change() -> PriceChange:
    frame = (DATA / "server_price_change.json").read_text(encoding="utf-8").rstrip("\n")
    (event,) = ClobMarketDecoder().receive(frame)
    assert isinstance(event, PriceChange)
    return event


def test_doc_price_change_hashes_reproduce() -> None:
    """Both entry hashes of the §4.2 example reproduce from the entry alone.

    Each entry's best bid/ask says its book holds only the changed level (the other side is
    empty, "0"/"1"). The summary parameters are not in the doc: min_order_size "20", tick
    "0.001", neg_risk false, and no last_trade_price key (the Sep-2025 definition, §6.4) were
    found by trying the usual values, and the same set reproduces both entries.
    """
    event = doc_price_change()
    for change in event.changes:
        assert event.timestamp is not None
        level = [(change.price, change.size)]
        computed = book_hash(
            market=event.market,
            asset_id=change.asset_id,
            timestamp=event.timestamp,
            bids=level if change.book_side == "bid" else [],
            asks=level if change.book_side == "ask" else [],
            min_order_size="20",
            tick_size="0.001",
            neg_risk=False,
            last_trade_price=None,
        )
        assert computed == change.hash


def test_doc_hash_depends_on_every_summary_field() -> None:
    """Changing any one input of the reproduced example changes the hash (nothing ignored)."""
    event = doc_price_change()
    change = event.changes[0]
    assert event.timestamp is not None
    base = {
        "market": event.market,
        "asset_id": change.asset_id,
        "timestamp": event.timestamp,
        "bids": [(change.price, change.size)],
        "asks": [],
        "min_order_size": "20",
        "tick_size": "0.001",
        "neg_risk": False,
        "last_trade_price": None,
    }
    assert book_hash(**base) == change.hash  # type: ignore[arg-type]
    variants = {
        "market": MARKET[:-1] + "0",
        "asset_id": change.asset_id + "0",
        "timestamp": str(int(event.timestamp) + 1),
        "bids": [(change.price, "201")],
        "asks": [("0.6", "1")],
        "min_order_size": "5",
        "tick_size": "0.01",
        "neg_risk": True,
        "last_trade_price": "",
    }
    for name, value in variants.items():
        assert book_hash(**{**base, name: value}) != change.hash, name  # type: ignore[arg-type]


def test_recipe_byte_layout() -> None:
    """SHA-1 of exactly the §6.4 text: fixed key order, compact, hash "", bool literal."""
    text = (
        '{"market":"0xm","asset_id":"7","timestamp":"1766481546776","hash":"",'
        '"bids":[{"price":"0.48","size":"30"},{"price":"0.49","size":"20"}],'
        '"asks":[{"price":"0.52","size":"25"},{"price":"0.51","size":"10"}],'
        '"min_order_size":"5","tick_size":"0.01","neg_risk":false,"last_trade_price":"0.500"}'
    )
    expected = hashlib.sha1(text.encode("utf-8")).hexdigest()
    computed = book_hash(
        market="0xm",
        asset_id="7",
        timestamp="1766481546776",
        bids=[("0.48", "30"), ("0.49", "20")],
        asks=[("0.52", "25"), ("0.51", "10")],
        min_order_size="5",
        tick_size="0.01",
        neg_risk=False,
        last_trade_price="0.500",
    )
    assert computed == expected
    assert len(computed) == 40 and int(computed, 16) >= 0


def test_recipe_without_last_trade_price_key() -> None:
    """last_trade_price=None leaves the key out (pre-Dec-2025); "" keeps it, empty."""
    text = (
        '{"market":"m","asset_id":"a","timestamp":"1","hash":"","bids":[],"asks":[],'
        '"min_order_size":"5","tick_size":"0.01","neg_risk":true}'
    )
    kwargs = {"market": "m", "asset_id": "a", "timestamp": "1", "bids": [], "asks": []}
    common = {"min_order_size": "5", "tick_size": "0.01", "neg_risk": True}
    without = book_hash(**kwargs, **common, last_trade_price=None)  # type: ignore[arg-type]
    empty = book_hash(**kwargs, **common, last_trade_price="")  # type: ignore[arg-type]
    assert without == hashlib.sha1(text.encode()).hexdigest()
    assert empty == hashlib.sha1((text[:-1] + ',"last_trade_price":""}').encode()).hexdigest()


def test_matches_json_dumps_reference() -> None:
    """Same digest as the SDK helper's json.dumps(separators=(",", ":")) on the same dict."""
    summary = {
        "market": MARKET,
        "asset_id": "1",
        "timestamp": "1786604072222",
        "hash": "",
        "bids": [{"price": "0.01", "size": "3149725.72"}, {"price": "0.07", "size": "182528.55"}],
        "asks": [{"price": "0.99", "size": "156606.14"}, {"price": "0.08", "size": "228198.28"}],
        "min_order_size": "5",
        "tick_size": "0.01",
        "neg_risk": False,
        "last_trade_price": "0.920",
    }
    reference = hashlib.sha1(json.dumps(summary, separators=(",", ":")).encode()).hexdigest()
    computed = book_hash(
        market=MARKET,
        asset_id="1",
        timestamp="1786604072222",
        bids=[("0.01", "3149725.72"), ("0.07", "182528.55")],
        asks=[("0.99", "156606.14"), ("0.08", "228198.28")],
        min_order_size="5",
        tick_size="0.01",
        neg_risk=False,
        last_trade_price="0.920",
    )
    assert computed == reference


def test_best_first_convenience_matches_wire_order() -> None:
    """Best-first Levels (a decoded BookSnapshot's order) hash like the reversed wire order."""
    wire_bids = [("0.3", "1"), ("0.4", "2"), ("0.45", "3")]
    wire_asks = [("0.7", "4"), ("0.6", "5")]
    kwargs = {"market": "m", "asset_id": "a", "timestamp": "9", "min_order_size": "5"}
    rest = {"tick_size": "0.01", "neg_risk": False, "last_trade_price": "0.450"}
    wire = book_hash(bids=wire_bids, asks=wire_asks, **kwargs, **rest)  # type: ignore[arg-type]
    best_first = book_hash_best_first(
        bids=[Level(p, s) for p, s in reversed(wire_bids)],
        asks=[Level(p, s) for p, s in reversed(wire_asks)],
        **kwargs,  # type: ignore[arg-type]
        **rest,  # type: ignore[arg-type]
    )
    assert best_first == wire
    swapped = book_hash(bids=wire_bids[::-1], asks=wire_asks, **kwargs, **rest)  # type: ignore[arg-type]
    assert swapped != wire  # order matters: the recipe needs the wire order


def test_decoded_book_verifies_with_best_first_helper() -> None:
    """A book decoded from the wire hashes back to the hash the venue would send."""
    bids = [("0.48", "30"), ("0.49", "20")]
    asks = [("0.52", "25"), ("0.51", "10")]
    params = {"min_order_size": "5", "tick_size": "0.01", "neg_risk": False}
    venue_hash = book_hash(
        market=MARKET,
        asset_id="7",
        timestamp="1766481546776",
        bids=bids,
        asks=asks,
        last_trade_price="0.500",
        **params,  # type: ignore[arg-type]
    )
    frame = json.dumps(
        {
            "market": MARKET,
            "asset_id": "7",
            "timestamp": "1766481546776",
            "hash": venue_hash,
            "bids": [{"price": p, "size": s} for p, s in bids],
            "asks": [{"price": p, "size": s} for p, s in asks],
            "tick_size": "0.01",
            "event_type": "book",
            "last_trade_price": "0.500",
        }
    )
    (book,) = ClobMarketDecoder().receive(frame)
    assert isinstance(book, BookSnapshot) and book.timestamp is not None
    recomputed = book_hash_best_first(
        market=book.market,
        asset_id=book.asset_id,
        timestamp=book.timestamp,
        bids=book.bids,
        asks=book.asks,
        last_trade_price=book.last_trade_price,
        **params,  # type: ignore[arg-type]
    )
    assert recomputed == book.hash


@pytest.mark.parametrize(
    "bad",
    [
        {"bids": [(0.5, "1")]},
        {"asks": [("0.5", 1)]},
        {"bids": [("0.5",)]},
        {"bids": ["0.5"]},
        {"timestamp": 1766481546776},
        {"neg_risk": "false"},
        {"tick_size": 0.01},
        {"last_trade_price": 0.5},
    ],
)
def test_non_text_inputs_are_refused(bad: dict[str, object]) -> None:
    """Numbers where the venue's text is needed would hash wrong silently: ConfigError."""
    kwargs: dict[str, object] = {
        "market": "m",
        "asset_id": "a",
        "timestamp": "1",
        "bids": [],
        "asks": [],
        "min_order_size": "5",
        "tick_size": "0.01",
        "neg_risk": False,
        "last_trade_price": "",
    }
    with pytest.raises(ConfigError):
        book_hash(**{**kwargs, **bad})  # type: ignore[arg-type]


@given(
    bids=st.lists(st.tuples(st.text(max_size=6), st.text(max_size=6)), max_size=5),
    asks=st.lists(st.tuples(st.text(max_size=6), st.text(max_size=6)), max_size=5),
    ltp=st.one_of(st.none(), st.text(max_size=6)),
    neg_risk=st.booleans(),
)
def test_unchecked_hash_equals_checked_hash(
    bids: list[tuple[str, str]], asks: list[tuple[str, str]], ltp: str | None, neg_risk: bool
) -> None:
    """The books' fast variant (no argument checks) hashes exactly what book_hash hashes."""
    common = {
        "market": "0xm",
        "asset_id": "1",
        "timestamp": "1757908892351",
        "min_order_size": "5",
        "tick_size": "0.01",
        "neg_risk": neg_risk,
        "last_trade_price": ltp,
    }
    fast = book_hash_unchecked(bids=hash_levels(bids), asks=hash_levels(asks), **common)
    assert fast == book_hash(bids=bids, asks=asks, **common)  # type: ignore[arg-type]
