"""CLOB protocol layer: frames -> normalized events, builders -> exact JSON, bad input -> drops.

Server example frames of docs/protocol-clob.md are kept verbatim in ``tests/data/clob``
(``server_*.json``), and so are the client examples (``client_*.json``). Frames the doc only
describes (books, user events, the oldest price_change) are built here from its field tables.
"""

from __future__ import annotations

import doctest
import json
import logging
from pathlib import Path
from typing import Any

import msgspec
import pytest

from polyresearch.config import ClobCredentials
from polyresearch.errors import EXCERPT_CHARS, ConfigError
from polyresearch.protocol import clob, clob_hash
from polyresearch.protocol.base import FrameDecoder
from polyresearch.protocol.clob import (
    MAX_IDS_PER_FRAME,
    PING,
    ClobMarketDecoder,
    ClobUserDecoder,
    market_operation,
    market_subscribe,
    ping,
    timestamp_ns,
    user_operation,
    user_subscribe,
)
from polyresearch.protocol.events import (
    BestBidAsk,
    BookSnapshot,
    Dropped,
    Event,
    Level,
    LevelChange,
    MarketResolved,
    NewMarket,
    NoNewAssets,
    OrderUpdate,
    Pong,
    PriceChange,
    TickSizeChange,
    Trade,
    UserTrade,
)

DATA = Path(__file__).parent.parent / "data" / "clob"
MARKET = "0x5f65177b394277fd294cd75650044e32ba009a95022d88a0c1d565897d72f8f1"
YES = "71321045679252212594626385532706912750332728571942532289631379312455583992563"
NO = "52114319501245915516055106046884209969926127482827954674443846427813813222426"


def doc_frame(name: str) -> str:
    """A frame copied verbatim from protocol-clob.md (one per file, newline-terminated)."""
    return (DATA / f"{name}.json").read_text(encoding="utf-8").rstrip("\n")


def one(decoder: FrameDecoder, frame: str | bytes) -> Event:
    """Decode a frame that must give exactly one event."""
    events = decoder.receive(frame)
    assert len(events) == 1, events
    return events[0]


def dropped(decoder: FrameDecoder, frame: str | bytes) -> Dropped:
    """Decode a frame that must give exactly one drop."""
    event = one(decoder, frame)
    assert isinstance(event, Dropped), event
    return event


def book_frame(**fields: Any) -> str:
    """A compact book in the initial-dump key order of §4.1, ``fields`` overriding."""
    obj: dict[str, Any] = {
        "market": MARKET,
        "asset_id": YES,
        "timestamp": "1766481546776",
        "hash": "ed47eb91f3c7985fac1cb18cb7c19535eddd3c0a",
        "bids": [{"price": "0.48", "size": "30"}, {"price": "0.49", "size": "20"}],
        "asks": [{"price": "0.52", "size": "25"}, {"price": "0.51", "size": "10"}],
        "tick_size": "0.01",
        "event_type": "book",
        "last_trade_price": "0.500",
    }
    obj.update(fields)
    return json.dumps({k: v for k, v in obj.items() if v is not None}, separators=(",", ":"))


def prices(levels: tuple[Level, ...]) -> list[str]:
    return [level.price for level in levels]


# ---------------------------------------------------------------- the doc's server examples


def test_doc_price_change_current_schema() -> None:
    """§4.2 example: two entries, BUY (bid) / SELL (ask), per-entry hash and BBO, ms timestamp."""
    event = one(ClobMarketDecoder(), doc_frame("server_price_change"))
    assert isinstance(event, PriceChange)
    assert (event.kind, event.venue, event.market) == ("price_change", "clob", MARKET)
    assert event.timestamp == "1757908892351"
    assert event.ts_ns == 1_757_908_892_351_000_000
    assert event.hash is None
    assert event.changes == (
        LevelChange(
            asset_id=YES,
            side="BUY",
            price="0.5",
            size="200",
            hash="56621a121a47ed9333273e21c83b660cff37ae50",
            best_bid="0.5",
            best_ask="1",
        ),
        LevelChange(
            asset_id=NO,
            side="SELL",
            price="0.5",
            size="200",
            hash="1895759e4df7a796bf4f1c5a5950b748306923e2",
            best_bid="0",
            best_ask="0.5",
        ),
    )
    assert [c.book_side for c in event.changes] == ["bid", "ask"]


def test_doc_price_change_legacy_changes_schema() -> None:
    """§4.3.1 example: top-level asset_id and hash, ``changes`` entries without BBO."""
    event = one(ClobMarketDecoder(), doc_frame("server_price_change_legacy"))
    assert isinstance(event, PriceChange)
    assert event.market == "0x5f65…f8f1"
    assert event.hash == "3cd4d61e042c81560c9037ece0c61f3b1a8fbbdd"
    assert event.timestamp == "1729084877448"
    assert event.ts_ns == 1_729_084_877_448_000_000
    assert event.changes == (
        LevelChange(asset_id="7132…2563", side="SELL", price="0.4", size="3300"),
    )


def test_doc_tick_size_change() -> None:
    """§4.4 example: old and new tick, asset and market, ms timestamp."""
    event = one(ClobMarketDecoder(), doc_frame("server_tick_size_change"))
    assert event == TickSizeChange(
        kind="tick_size_change",
        venue="clob",
        market="0xbd31…84af",
        asset_id="6581…5422",
        old_tick_size="0.01",
        new_tick_size="0.001",
        ts_ns=1_757_908_892_351_000_000,
    )


def test_doc_last_trade_price() -> None:
    """§4.5 example: a public Trade with taker side 'buy', fee and transaction hash."""
    event = one(ClobMarketDecoder(), doc_frame("server_last_trade_price"))
    assert event == Trade(
        kind="last_trade_price",
        venue="clob",
        market="0x6a67…0347",
        asset_id="1141…1694",
        price="0.456",
        size="219.217767",
        side="buy",
        ts_ns=1_750_428_146_322_000_000,
        fee_rate_bps="0",
        transaction_hash="0xeeefffggghhh",
    )


def test_doc_best_bid_ask() -> None:
    """§4.6 example: best bid, best ask and spread as sent."""
    event = one(ClobMarketDecoder(), doc_frame("server_best_bid_ask"))
    assert event == BestBidAsk(
        kind="best_bid_ask",
        venue="clob",
        market="0x0005…f442",
        asset_id="8535…4430",
        best_bid="0.73",
        best_ask="0.77",
        spread="0.04",
        ts_ns=1_766_789_469_958_000_000,
    )


@pytest.mark.parametrize("path", sorted(DATA.glob("server_*.json")), ids=lambda p: p.stem)
def test_user_decoder_also_decodes_market_examples(path: Path) -> None:
    """Both decoders understand every kind: the user decoder gives the market decoder's events."""
    frame = path.read_text(encoding="utf-8").rstrip("\n")
    assert ClobUserDecoder().receive(frame) == ClobMarketDecoder().receive(frame)
    assert ClobUserDecoder().receive(frame)[0].kind != "dropped"


# ---------------------------------------------------------------- price_change schemas


def test_oldest_price_change_one_level_per_message() -> None:
    """§4.3.2 (before Oct 2024): top-level price/side/size become one LevelChange."""
    frame = json.dumps(
        {
            "event_type": "price_change",
            "asset_id": YES,
            "market": MARKET,
            "price": "0.61",
            "side": "BUY",
            "size": "0",
            "timestamp": "1720000000000",
        }
    )
    event = one(ClobMarketDecoder(), frame)
    assert isinstance(event, PriceChange)
    assert event.changes == (LevelChange(asset_id=YES, side="BUY", price="0.61", size="0"),)
    assert event.ts_ns == 1_720_000_000_000_000_000
    assert event.hash is None


def test_price_change_spaced_style_with_event_type_last() -> None:
    """The ', ' member style of live captures (§3.6) decodes like the compact one."""
    compact = doc_frame("server_price_change")
    spaced = json.dumps(json.loads(compact), separators=(", ", ":"))
    assert ", " in spaced
    assert ClobMarketDecoder().receive(spaced) == ClobMarketDecoder().receive(compact)


def test_price_change_unknown_side_is_wrong_shape() -> None:
    """A side other than BUY/SELL cannot be placed in a book: the message is dropped."""
    frame = doc_frame("server_price_change").replace('"side":"SELL"', '"side":"HOLD"')
    drop = dropped(ClobMarketDecoder(), frame)
    assert drop.reason == "wrong_shape"
    assert "HOLD" in drop.detail


def test_price_change_lowercase_side_tolerated() -> None:
    """Lower-case 'buy'/'sell' map like upper case (cheap tolerance, UNCONFIRMED upstream)."""
    frame = doc_frame("server_price_change").replace('"side":"BUY"', '"side":"buy"')
    event = one(ClobMarketDecoder(), frame)
    assert isinstance(event, PriceChange)
    assert [c.side for c in event.changes] == ["BUY", "SELL"]
    assert [c.book_side for c in event.changes] == ["bid", "ask"]


def test_price_change_without_any_level_schema_is_wrong_shape() -> None:
    """A price_change with neither price_changes, changes nor price/side/size is dropped."""
    frame = '{"event_type":"price_change","market":"0xm","asset_id":"1","timestamp":"1"}'
    assert dropped(ClobMarketDecoder(), frame).reason == "wrong_shape"


def test_unknown_payload_keys_are_ignored() -> None:
    """Schema drift: extra keys at any level change nothing (fast and general paths)."""
    plain = doc_frame("server_price_change")
    drifted = plain.replace('"market":', '"new_flag":{"x":[1,2]},"market":', 1).replace(
        '"best_ask":"1"', '"best_ask":"1","fee":"0.1"'
    )
    assert drifted != plain
    assert ClobMarketDecoder().receive(drifted) == ClobMarketDecoder().receive(plain)
    book_plain = book_frame()
    book_drifted = book_frame(extra="x", min_order_size="5")
    assert ClobMarketDecoder().receive(book_drifted) == ClobMarketDecoder().receive(book_plain)


# ---------------------------------------------------------------- books


def test_initial_dump_array_of_books() -> None:
    """§3.1: the initial dump is an array of books; every book decodes, sides best-first."""
    frame = f"[{book_frame()},{book_frame(asset_id=NO, last_trade_price='')}]"
    first, second = ClobMarketDecoder().receive(frame)
    assert isinstance(first, BookSnapshot) and isinstance(second, BookSnapshot)
    assert first.bids == (Level("0.49", "20"), Level("0.48", "30"))
    assert first.asks == (Level("0.51", "10"), Level("0.52", "25"))
    assert (first.tick_size, first.last_trade_price) == ("0.01", "0.500")
    assert (first.timestamp, first.ts_ns) == ("1766481546776", 1_766_481_546_776_000_000)
    assert first.hash == "ed47eb91f3c7985fac1cb18cb7c19535eddd3c0a"
    assert (second.asset_id, second.last_trade_price) == (NO, "")


def test_post_trade_book_without_tick_or_last_trade_price() -> None:
    """§4.1 live book (key order market, asset_id, bids, asks, hash, timestamp, event_type)."""
    obj = {
        "market": MARKET,
        "asset_id": YES,
        "bids": [{"price": "0.3", "size": "5"}],
        "asks": [{"price": "0.7", "size": "6"}],
        "hash": "ab" * 20,
        "timestamp": "1766481546999",
        "event_type": "book",
    }
    event = one(ClobMarketDecoder(), json.dumps(obj, separators=(", ", ":")))
    assert isinstance(event, BookSnapshot)
    assert (event.tick_size, event.last_trade_price) == (None, None)
    assert event.bids == (Level("0.3", "5"),) and event.asks == (Level("0.7", "6"),)


def test_book_without_event_type_is_inferred() -> None:
    """§3.4: asset_id + bids + asks and no event_type is a book."""
    frame = book_frame(event_type=None)
    assert '"event_type"' not in frame
    event = one(ClobMarketDecoder(), frame)
    assert isinstance(event, BookSnapshot)
    assert prices(event.bids) == ["0.49", "0.48"]


def test_book_buys_sells_aliases() -> None:
    """Old docs' 'buys'/'sells' are accepted as bids/asks (§4.1)."""
    frame = book_frame(
        bids=None,
        asks=None,
        buys=[{"price": "0.2", "size": "1"}, {"price": "0.25", "size": "2"}],
        sells=[{"price": "0.9", "size": "3"}],
    )
    event = one(ClobMarketDecoder(), frame)
    assert isinstance(event, BookSnapshot)
    assert prices(event.bids) == ["0.25", "0.2"]
    assert prices(event.asks) == ["0.9"]


def test_book_with_empty_sides() -> None:
    """Empty sides occur near resolution and decode to empty tuples."""
    event = one(ClobMarketDecoder(), book_frame(asks=[], bids=[]))
    assert isinstance(event, BookSnapshot)
    assert event.bids == () and event.asks == ()


def test_book_without_a_side_is_wrong_shape() -> None:
    """A book object missing its asks entirely is not a full snapshot: dropped."""
    drop = dropped(ClobMarketDecoder(), book_frame(asks=None))
    assert drop.reason == "wrong_shape"
    assert "asks" in drop.detail


def test_book_unsorted_wire_order_comes_out_best_first() -> None:
    """The wire order is not trusted: levels are sorted, bids descending, asks ascending."""
    bids = [("0.45", "1"), ("0.5", "2"), ("0.405", "3"), ("0.1", "4")]
    asks = [("0.61", "1"), ("0.6", "2"), ("0.9", "3"), ("0.605", "4")]
    frame = book_frame(
        bids=[{"price": p, "size": s} for p, s in bids],
        asks=[{"price": p, "size": s} for p, s in asks],
    )
    event = one(ClobMarketDecoder(), frame)
    assert isinstance(event, BookSnapshot)
    assert prices(event.bids) == ["0.5", "0.45", "0.405", "0.1"]
    assert prices(event.asks) == ["0.6", "0.605", "0.61", "0.9"]
    assert event.bids[0].size == "2"


@pytest.mark.parametrize(
    ("wire_bids", "best_first"),
    [
        # Equal as floats, different as decimals: a float comparison would keep wire order.
        (["0.1", "0.1000000000000000000001"], ["0.1000000000000000000001", "0.1"]),
        ([".1", "0.1000000000000000000001"], ["0.1000000000000000000001", ".1"]),
        # No leading zero (§3.7), trailing zeros, a whole number: compared as numbers.
        ([".48", "0.5", "0.475"], ["0.5", ".48", "0.475"]),
        (["0.50", "0.6", "1", "0.05"], ["1", "0.6", "0.50", "0.05"]),
        (["0.09", "0.1"], ["0.1", "0.09"]),
    ],
)
def test_book_prices_compared_exactly(wire_bids: list[str], best_first: list[str]) -> None:
    """Book prices are ordered by exact decimal value, never as floats or plain text."""
    frame = book_frame(bids=[{"price": p, "size": "1"} for p in wire_bids], asks=[])
    event = one(ClobMarketDecoder(), frame)
    assert isinstance(event, BookSnapshot)
    assert prices(event.bids) == best_first


@pytest.mark.parametrize("bad_price", ["abc", "NaN", "Infinity", "", "0.1.2"])
def test_book_price_that_is_not_a_number_is_wrong_shape(bad_price: str) -> None:
    """A book level whose price is not a finite number cannot be ordered: dropped."""
    frame = book_frame(bids=[{"price": bad_price, "size": "1"}, {"price": "0.4", "size": "1"}])
    assert dropped(ClobMarketDecoder(), frame).reason == "wrong_shape"


# ---------------------------------------------------------------- custom-feature events


def test_new_market_fields_and_details() -> None:
    """§4.7: required fields map to NewMarket; optional ones are kept as sent in details."""
    frame = json.dumps(
        {
            "event_type": "new_market",
            "id": "1031769",
            "question": "Will it rain?",
            "market": MARKET,
            "slug": "will-it-rain",
            "assets_ids": [YES, NO],
            "outcomes": ["Yes", "No"],
            "timestamp": "1766790415550",
            "active": False,
            "tags": ["weather"],
            "order_price_min_tick_size": "0.01",
            "event_message": {"id": "1", "slug": "rain"},
            "fees_enabled": True,
        }
    )
    event = one(ClobMarketDecoder(), frame)
    assert event == NewMarket(
        kind="new_market",
        venue="clob",
        market=MARKET,
        market_id="1031769",
        question="Will it rain?",
        slug="will-it-rain",
        asset_ids=(YES, NO),
        outcomes=("Yes", "No"),
        ts_ns=1_766_790_415_550_000_000,
        active=False,
        tick_size="0.01",
        details={
            "event_message": {"id": "1", "slug": "rain"},
            "tags": ["weather"],
            "order_price_min_tick_size": "0.01",
            "fees_enabled": True,
        },
    )


def test_market_resolved() -> None:
    """§4.8: the winner is identified by asset id; the outcome label is passed through."""
    frame = json.dumps(
        {
            "event_type": "market_resolved",
            "id": 1031769,
            "market": MARKET,
            "assets_ids": [YES, NO],
            "winning_asset_id": YES,
            "winning_outcome": "Up",
            "timestamp": "1766790415550",
        }
    )
    event = one(ClobMarketDecoder(), frame)
    assert event == MarketResolved(
        kind="market_resolved",
        venue="clob",
        market=MARKET,
        market_id="1031769",
        asset_ids=(YES, NO),
        winning_asset_id=YES,
        winning_outcome="Up",
        ts_ns=1_766_790_415_550_000_000,
    )


# ---------------------------------------------------------------- user channel


def trade_obj(**fields: Any) -> dict[str, Any]:
    """A user-channel trade built from the §5.1 field table."""
    obj: dict[str, Any] = {
        "asset_id": YES,
        "event_type": "trade",
        "fee_rate_bps": "0",
        "id": "28c4d2eb-bbea-40e7-a9f0-b2fdb56b2c2e",
        "last_update": "1672290701",
        "maker_orders": [
            {
                "asset_id": YES,
                "matched_amount": "10",
                "order_id": "0xff354cd7ca7539dfa9c28d90943ab5779a4eac34b9b37a757d7b32bdfb11790b",
                "outcome": "YES",
                "owner": "9180014b-33c8-9240-a14b-bdca11c0a465",
                "price": "0.57",
            }
        ],
        "market": "0xbd31dc8a20211944f6b70f31557f1001557b59905b7738480ca09bd4532f84af",
        "matchtime": "1672290701",
        "outcome": "YES",
        "owner": "9180014b-33c8-9240-a14b-bdca11c0a465",
        "price": "0.57",
        "side": "BUY",
        "size": "10",
        "status": "MATCHED",
        "taker_order_id": "0x06bc63e346ed4ceddce9efd6b3af37c8f8f440c92fe7da6b2d0f9e4ccbc50c42",
        "timestamp": "1672290701",
        "trade_owner": "9180014b-33c8-9240-a14b-bdca11c0a465",
        "trader_side": "TAKER",
        "type": "TRADE",
    }
    obj.update(fields)
    return {k: v for k, v in obj.items() if v is not None}


@pytest.mark.parametrize("status", ["MATCHED", "MINED", "CONFIRMED", "RETRYING", "FAILED"])
def test_user_trade_every_status(status: str) -> None:
    """§5.1: each lifecycle status decodes; seconds timestamps become ns; side 'buy'."""
    event = one(ClobUserDecoder(), json.dumps(trade_obj(status=status)))
    assert isinstance(event, UserTrade)
    assert event.status == status
    assert (event.trade_id, event.side, event.price, event.size) == (
        "28c4d2eb-bbea-40e7-a9f0-b2fdb56b2c2e",
        "buy",
        "0.57",
        "10",
    )
    assert event.ts_ns == event.match_ts_ns == 1_672_290_701_000_000_000
    assert event.trader_side == "TAKER"
    assert event.taker_order_id is not None and event.taker_order_id.startswith("0x06bc")
    assert event.maker_orders[0]["matched_amount"] == "10"


def test_user_trade_match_time_spelling() -> None:
    """'match_time' (most peers) is read like 'matchtime' (the English guide)."""
    frame = json.dumps(trade_obj(matchtime=None, match_time="1672290702000", side="SELL"))
    event = one(ClobUserDecoder(), frame)
    assert isinstance(event, UserTrade)
    assert event.match_ts_ns == 1_672_290_702_000_000_000
    assert event.side == "sell"


def test_user_trade_without_event_type_recognised_by_type() -> None:
    """Beyond the spec: a user object without event_type but with type TRADE is a trade."""
    event = one(ClobUserDecoder(), json.dumps(trade_obj(event_type=None)))
    assert isinstance(event, UserTrade)
    assert event.status == "MATCHED"


def order_obj(**fields: Any) -> dict[str, Any]:
    """A user-channel order built from the §5.2 field table."""
    obj: dict[str, Any] = {
        "asset_id": YES,
        "associate_trades": None,
        "created_at": "1672290687",
        "event_type": "order",
        "expiration": "0",
        "id": "0xff354cd7ca7539dfa9c28d90943ab5779a4eac34b9b37a757d7b32bdfb11790b",
        "maker_address": "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266",
        "market": "0xbd31dc8a20211944f6b70f31557f1001557b59905b7738480ca09bd4532f84af",
        "order_owner": "9180014b-33c8-9240-a14b-bdca11c0a465",
        "order_type": "GTC",
        "original_size": "10",
        "outcome": "YES",
        "owner": "9180014b-33c8-9240-a14b-bdca11c0a465",
        "price": "0.57",
        "side": "SELL",
        "size_matched": "0",
        "status": "LIVE",
        "timestamp": "1672290687",
        "type": "PLACEMENT",
    }
    obj.update(fields)
    return obj


@pytest.mark.parametrize(
    ("update_type", "status", "size_matched"),
    [("PLACEMENT", "LIVE", "0"), ("UPDATE", "LIVE", "4"), ("CANCELLATION", "CANCELED", "4")],
)
def test_user_order_every_type(update_type: str, status: str, size_matched: str) -> None:
    """§5.2: PLACEMENT/UPDATE/CANCELLATION land in update_type; the rest is kept in details."""
    frame = json.dumps(order_obj(type=update_type, status=status, size_matched=size_matched))
    event = one(ClobUserDecoder(), frame)
    assert isinstance(event, OrderUpdate)
    assert (event.update_type, event.status, event.size_matched) == (
        update_type,
        status,
        size_matched,
    )
    assert (event.side, event.price, event.original_size, event.order_type) == (
        "sell",
        "0.57",
        "10",
        "GTC",
    )
    assert event.order_id.startswith("0xff354c")
    assert event.ts_ns == 1_672_290_687_000_000_000
    assert event.details is not None
    assert event.details["expiration"] == "0"
    assert event.details["associate_trades"] is None
    assert event.details["order_owner"] == "9180014b-33c8-9240-a14b-bdca11c0a465"


def test_user_order_without_event_type_recognised_by_type() -> None:
    """Beyond the spec: an object without event_type and type UPDATE is an order."""
    obj = order_obj(type="UPDATE")
    del obj["event_type"]
    event = one(ClobUserDecoder(), json.dumps(obj))
    assert isinstance(event, OrderUpdate)
    assert event.update_type == "UPDATE"


def test_market_decoder_tolerates_user_events() -> None:
    """A user event on the market socket still decodes (kinds never collide)."""
    assert isinstance(one(ClobMarketDecoder(), json.dumps(trade_obj())), UserTrade)
    assert isinstance(one(ClobMarketDecoder(), json.dumps(order_obj())), OrderUpdate)


# ---------------------------------------------------------------- envelopes and control texts


def test_array_of_mixed_events_with_bad_items_in_place() -> None:
    """§3.1/§3.5: each array item decodes alone; bad items become drops at their position."""
    frame = (
        f"[{book_frame()},{doc_frame('server_price_change')},"
        '{"event_type":"shiny_new"},42,'
        f"{doc_frame('server_last_trade_price')},"
        '{"event_type":"book","asset_id":"1"},'
        f"{json.dumps(order_obj())}]"
    )
    decoder = ClobMarketDecoder()
    events = decoder.receive(frame)
    assert [e.kind for e in events] == [
        "book",
        "price_change",
        "dropped",
        "dropped",
        "last_trade_price",
        "dropped",
        "order",
    ]
    reasons = [e.reason for e in events if isinstance(e, Dropped)]
    assert reasons == ["unknown_event", "wrong_shape", "wrong_shape"]
    stats = decoder.stats()
    assert (stats.frames_in, stats.events_out, stats.dropped_total) == (1, 4, 3)
    assert dict(stats.dropped) == {"unknown_event": 1, "wrong_shape": 2}


def test_empty_array_gives_no_events() -> None:
    """An empty array is a valid, empty envelope: no events, no drops."""
    decoder = ClobMarketDecoder()
    assert decoder.receive("[]") == []
    assert decoder.stats().dropped_total == 0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("PONG", Pong(kind="pong", venue="clob")),
        ("NO NEW ASSETS", NoNewAssets(kind="no_new_assets", venue="clob")),
        (" pong\n", Pong(kind="pong", venue="clob")),
        (b"PONG", Pong(kind="pong", venue="clob")),
    ],
)
def test_control_texts(text: str | bytes, expected: Event) -> None:
    """The bare texts PONG and NO NEW ASSETS become Pong / NoNewAssets (§3.2)."""
    decoder = ClobMarketDecoder()
    assert decoder.receive(text) == [expected]
    assert dict(decoder.stats().events_by_kind) == {expected.kind: 1}


def test_bytes_frames_decode_like_str() -> None:
    """UTF-8 bytes (e.g. from picows) decode to the same events as the str frame."""
    frame = doc_frame("server_price_change")
    assert ClobMarketDecoder().receive(frame.encode()) == ClobMarketDecoder().receive(frame)


# ---------------------------------------------------------------- timestamps


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1766481546776", 1_766_481_546_776_000_000),  # market channel: ms
        ("1672290701", 1_672_290_701_000_000_000),  # user doc examples: seconds
        ("1672290701.5", 1_672_290_701_500_000_000),
        ("1672290701123456", 1_672_290_701_123_456_000),  # microseconds
        ("1672290701123456789", 1_672_290_701_123_456_789),  # nanoseconds
        ("123456789000", 123_456_789_000_000_000),  # doc nonsense example, still ms
        ("100000000", 100_000_000_000_000_000),  # doc nonsense example, seconds
        (1766481546776, 1_766_481_546_776_000_000),
        (1672290701.25, 1_672_290_701_250_000_000),
        ("2024-01-01T00:00:00Z", 1_704_067_200_000_000_000),
        ("2024-01-01T00:00:00.5+01:00", 1_704_063_600_500_000_000),
        # Integer text beyond the JSON grammar reads as int() reads it.
        (" 1766481546776\n", 1_766_481_546_776_000_000),
        ("+1766481546776", 1_766_481_546_776_000_000),
        ("01766481546776", 1_766_481_546_776_000_000),
        ("1_766_481_546_776", 1_766_481_546_776_000_000),
        ("\u00a01766481546776", 1_766_481_546_776_000_000),
        ("0", None),
        ("", None),
        (" ", None),
        (None, None),
        (0, None),
        ("-5", None),
        ("soon", None),
        ("NaN", None),
        ("1e999999999", None),
        ("9" * 30, None),
        ("12345678901", None),  # seconds (below 1e11) past the int64 ns range: year 2361
        ("0.0000000001", None),  # rounds to 0 ns
        ("1e-999999999", None),
        (True, None),
    ],
)
def test_timestamp_ns_normalises_by_magnitude(value: Any, expected: int | None) -> None:
    """Seconds/ms/µs/ns are told apart by magnitude; '0', empty and junk give None."""
    assert timestamp_ns(value) == expected


def test_odd_timestamp_keeps_raw_text() -> None:
    """A price_change with a seconds timestamp keeps the raw text and scales correctly."""
    frame = doc_frame("server_price_change").replace("1757908892351", "1757908892")
    event = one(ClobMarketDecoder(), frame)
    assert isinstance(event, PriceChange)
    assert (event.timestamp, event.ts_ns) == ("1757908892", 1_757_908_892_000_000_000)


# ---------------------------------------------------------------- bad input


TRUNCATED = doc_frame("server_price_change")[:150]

BAD_FRAMES: list[tuple[str, str | bytes, str]] = [
    ("plain text", "hello there", "not_json"),
    ("empty", "", "not_json"),
    ("PING from server", "PING", "not_json"),
    ("truncated object", TRUNCATED, "not_json"),
    ("truncated array", "[" + book_frame()[:-30], "not_json"),
    ("trailing garbage", doc_frame("server_best_bid_ask") + "}", "not_json"),
    (
        "wrong field type",
        '{"event_type":"price_change","market":5,"price_changes":[]}',
        "wrong_shape",
    ),
    (
        "wrong level type",
        book_frame(bids=[{"price": 0.5, "size": "1"}]),
        "wrong_shape",
    ),
    ("side as list", book_frame(bids="nope"), "wrong_shape"),
    ("missing required", '{"event_type":"tick_size_change","asset_id":"1"}', "wrong_shape"),
    ("number", "42", "wrong_shape"),
    ("string", '"PONG"', "wrong_shape"),
    ("null", "null", "wrong_shape"),
    ("empty object", "{}", "wrong_shape"),
    ("tag not a string", '{"event_type":7}', "wrong_shape"),
    ("unknown event", '{"event_type":"comment_created","body":"hi"}', "unknown_event"),
    ("deep nesting", "[" * 5000 + "]" * 5000, "wrong_shape"),
    ("not utf-8", b'{"event_type":"book"\xff}', "not_utf8"),
    ("lone surrogate", '{"event_type":"book","market":"\ud800"}', "not_utf8"),
]


@pytest.mark.parametrize(
    ("frame", "reason"), [b[1:] for b in BAD_FRAMES], ids=[b[0] for b in BAD_FRAMES]
)
def test_bad_input_becomes_a_counted_drop(frame: str | bytes, reason: str) -> None:
    """Bad frames never raise: one Dropped with a reason, a short excerpt, counted in stats."""
    for decoder in (ClobMarketDecoder(), ClobUserDecoder()):
        drop = dropped(decoder, frame)
        assert drop.reason == reason
        assert drop.detail
        assert len(drop.excerpt) <= EXCERPT_CHARS + len("…(+99999)")
        msgspec.json.encode(drop)  # the drop itself is printable/serialisable
        stats = decoder.stats()
        assert (stats.frames_in, stats.events_out, dict(stats.dropped)) == (1, 0, {reason: 1})


def test_long_bad_frame_excerpt_is_truncated() -> None:
    """A huge non-JSON frame is dropped with an excerpt cut to EXCERPT_CHARS and marked."""
    drop = dropped(ClobMarketDecoder(), "x" * 50_000)
    assert drop.reason == "not_json"
    assert drop.excerpt == "x" * EXCERPT_CHARS + f"…(+{50_000 - EXCERPT_CHARS})"


@pytest.mark.parametrize("as_bytes", [False, True])
def test_frame_over_user_set_limit_is_oversized(as_bytes: bool) -> None:
    """A frame larger than max_frame_bytes is dropped unread, even a valid price_change."""
    frame = doc_frame("server_price_change")
    decoder = ClobMarketDecoder(max_frame_bytes=len(frame) - 1)
    drop = dropped(decoder, frame.encode() if as_bytes else frame)
    assert drop.reason == "oversized"
    assert dict(decoder.stats().dropped) == {"oversized": 1}
    assert one(ClobMarketDecoder(max_frame_bytes=len(frame)), frame).kind == "price_change"


def test_max_frame_bytes_is_keyword_only_and_validated() -> None:
    """The limit is keyword-only and must be a positive int."""
    with pytest.raises(ConfigError):
        ClobMarketDecoder(max_frame_bytes=0)
    with pytest.raises(TypeError):
        ClobUserDecoder(1024)  # type: ignore[call-arg]


def test_own_auth_frame_fed_back_leaks_no_secret(caplog: pytest.LogCaptureFixture) -> None:
    """Our user subscription fed to a decoder is dropped with credentials scrubbed, in logs too."""
    creds = ClobCredentials(api_key="key-1234", secret="S3CRET-value", passphrase="PASS-phrase")
    decoder = ClobUserDecoder()
    with caplog.at_level(logging.DEBUG, logger="polyresearch.protocol"):
        events = decoder.receive(user_subscribe(creds, markets=["0xabc"])[0])
        events += decoder.receive(f"[{user_subscribe(creds)[0]}]")
        events += decoder.receive(user_subscribe(creds)[0].encode() + b"\xff")
    assert [e.kind for e in events] == ["dropped"] * 3
    for event in events:
        assert isinstance(event, Dropped)
        assert "<redacted>" in event.excerpt
        for secret in ("S3CRET-value", "PASS-phrase", "key-1234"):
            assert secret not in event.excerpt and secret not in event.detail
    assert caplog.records
    assert "S3CRET-value" not in caplog.text and "PASS-phrase" not in caplog.text


def test_drops_log_warning_once_per_reason(caplog: pytest.LogCaptureFixture) -> None:
    """The first drop of a reason warns on 'polyresearch.protocol'; repeats only debug."""
    decoder = ClobMarketDecoder()
    with caplog.at_level(logging.DEBUG, logger="polyresearch.protocol"):
        for _ in range(3):
            decoder.receive("garbage")
    levels = [r.levelno for r in caplog.records if r.name == "polyresearch.protocol"]
    assert levels == [logging.WARNING, logging.DEBUG, logging.DEBUG]


# ---------------------------------------------------------------- stats and the fast path


def test_stats_add_up_across_fast_and_general_paths() -> None:
    """Frames in, events out by kind and drops by reason add up, fast-path frames included."""
    decoder = ClobMarketDecoder()
    frames: list[str | bytes] = [
        doc_frame("server_price_change"),  # fast path
        doc_frame("server_price_change").encode(),  # bytes: fast path too
        doc_frame("server_price_change_legacy"),
        doc_frame("server_last_trade_price"),
        doc_frame("server_last_trade_price").encode(),  # bytes, tag first: fast path
        _LTP_TAG_LAST,  # tag last: fast path
        _LTP_TAG_LAST.replace("1750428146322", "1750428146"),  # seconds: general path
        book_frame(),  # the union, inline
        f"[{book_frame()},{book_frame(asset_id=NO)}]",
        "PONG",
        "nope",
        '{"event_type":"mystery"}',
    ]
    for frame in frames:
        decoder.receive(frame)
    stats = decoder.stats()
    assert stats.frames_in == len(frames)
    assert stats.bytes_in == sum(len(f) for f in frames)
    assert dict(stats.events_by_kind) == {
        "price_change": 3,
        "last_trade_price": 4,
        "book": 3,
        "pong": 1,
    }
    assert stats.events_out == 11
    assert dict(stats.dropped) == {"not_json": 1, "unknown_event": 1}
    assert decoder.stats() == stats  # taking a snapshot does not count anything twice
    decoder.receive(doc_frame("server_price_change"))
    decoder.receive(_LTP_TAG_LAST)
    again = decoder.stats()
    by_kind = again.events_by_kind
    assert (by_kind["price_change"], by_kind["last_trade_price"]) == (4, 5)
    assert again.frames_in == len(frames) + 2
    added = len(doc_frame("server_price_change")) + len(_LTP_TAG_LAST)
    assert again.bytes_in == stats.bytes_in + added


_LTP_TAG_LAST = (
    '{"asset_id":"1","market":"0xm","price":"0.456","size":"219.2","fee_rate_bps":"0",'
    '"side":"BUY","timestamp":"1750428146322","transaction_hash":"0xeee",'
    '"event_type":"last_trade_price"}'
)

_LTP_SORTED = json.dumps(dict(sorted(json.loads(_LTP_TAG_LAST).items())), separators=(",", ":"))

FAST_PATH_VARIANTS = {
    "doc": doc_frame("server_price_change"),
    "spaced": json.dumps(json.loads(doc_frame("server_price_change")), separators=(", ", ":")),
    "no optional entry fields": json.dumps(
        {
            "market": MARKET,
            "price_changes": [{"asset_id": YES, "price": "0.5", "size": "1", "side": "BUY"}],
            "timestamp": "1757908892351",
            "event_type": "price_change",
        }
    ),
    "null hash": doc_frame("server_price_change").replace(
        '"hash":"56621a121a47ed9333273e21c83b660cff37ae50"', '"hash":null'
    ),
    "lower-case side": doc_frame("server_price_change").replace('"BUY"', '"buy"'),
    "seconds": doc_frame("server_price_change").replace("1757908892351", "1757908892"),
    "bad side": doc_frame("server_price_change").replace('"BUY"', '"LONG"'),
    "tag value elsewhere": (
        '{"market":"0xm","price_changes":[],"timestamp":"1757908892351",'
        '"event_type":"book","note":"price_change"}'
    ),
    "no tag": '{"market":"0xm","price_changes":[],"timestamp":"1","note":"price_change"}',
    "empty entries": (
        '{"market":"0xm","price_changes":[],"timestamp":"1757908892351",'
        '"event_type":"price_change"}'
    ),
    # The fast decoder reads straight into PriceChange: keys that name its other fields, or
    # the tag twice, must not leak into (or past) it.
    "top-level hash": doc_frame("server_price_change").replace(
        '{"market"', '{"hash":"ab","market"'
    ),
    "kind, venue and ts_ns keys": doc_frame("server_price_change").replace(
        '{"market"', '{"kind":"price_change","venue":"clob","ts_ns":5,"market"'
    ),
    "other venue": doc_frame("server_price_change").replace('{"market"', '{"venue":"us","market"'),
    "tag twice": doc_frame("server_price_change").replace(
        '{"market"', '{"event_type":"book","market"'
    ),
    "escaped tag key": doc_frame("server_price_change").replace(
        '{"market"', '{"event\\u005ftype":"book","market"'
    ),
    "tag first": doc_frame("server_price_change")
    .replace(',"event_type":"price_change"}', "}")
    .replace('{"market"', '{"event_type":"price_change","market"'),
    "timestamp null": doc_frame("server_price_change").replace('"1757908892351"', "null"),
    "timestamp number": doc_frame("server_price_change").replace(
        '"1757908892351"', "1757908892351"
    ),
    "timestamp missing": doc_frame("server_price_change").replace(
        ',"timestamp":"1757908892351"', ""
    ),
    "timestamp with underscores": doc_frame("server_price_change").replace(
        "1757908892351", "1_757_908_892_351"
    ),
    "legacy schema": doc_frame("server_price_change_legacy"),
    "price_changes null": (
        '{"market":"0xm","price_changes":null,"asset_id":"1","price":"0.5","size":"1",'
        '"side":"BUY","timestamp":"1757908892351","event_type":"price_change"}'
    ),
    "ends like a price_change but is a trade": doc_frame("server_last_trade_price").replace(
        '"0xeeefffggghhh"', '"0xabcde"'
    ),
    # Other single objects take the union (or, for a live book, the book decoder) inline.
    "trade": doc_frame("server_last_trade_price"),
    # A last_trade_price with its tag last takes its own decoder (the frame ends in "ce"}).
    "trade, tag last": _LTP_TAG_LAST,
    "trade, tag last, spaced": json.dumps(json.loads(_LTP_TAG_LAST), separators=(", ", ":")),
    "trade, tag last, lower-case side": _LTP_TAG_LAST.replace('"BUY"', '"buy"'),
    "trade, tag last, bad side": _LTP_TAG_LAST.replace('"BUY"', '"LONG"'),
    "trade, tag last, no side": _LTP_TAG_LAST.replace('"side":"BUY",', ""),
    "trade, tag last, seconds": _LTP_TAG_LAST.replace("1750428146322", "1750428146"),
    "trade, tag last, timestamp null": _LTP_TAG_LAST.replace('"1750428146322"', "null"),
    "trade, tag last, tag twice": _LTP_TAG_LAST.replace(
        '{"asset_id"', '{"event_type":"book","asset_id"'
    ),
    "trade, tag last, no price": _LTP_TAG_LAST.replace('"price":"0.456",', ""),
    "untagged trade, ends in ce": _LTP_TAG_LAST.replace('"event_type"', '"note"'),
    # A trade whose tag is not last (keys sorted, as the benchmark writes them): found by the
    # key name instead of the frame's tail, then the same trade decoder.
    "trade, keys sorted": _LTP_SORTED,
    "trade, keys sorted, spaced": json.dumps(json.loads(_LTP_SORTED), separators=(", ", ":")),
    "trade, keys sorted, lower-case side": _LTP_SORTED.replace('"BUY"', '"buy"'),
    "trade, keys sorted, seconds": _LTP_SORTED.replace("1750428146322", "1750428146"),
    "trade, keys sorted, no side": _LTP_SORTED.replace('"side":"BUY",', ""),
    "trade, keys sorted, no tag": _LTP_SORTED.replace('"event_type":"last_trade_price",', ""),
    "other kind naming last_trade_price": (
        '{"event_type":"best_bid_ask","asset_id":"1","market":"0xm","last_trade_price":"0.5",'
        '"note":"x"}'
    ),
    "other kind, ends in ce": (
        '{"event_type":"best_bid_ask","asset_id":"1","market":"0xm","note":"last_trade_price"}'
    ),
    "tick size change": doc_frame("server_tick_size_change"),
    "best bid/ask": doc_frame("server_best_bid_ask"),
    "initial book": book_frame(),
    "live book (tag last)": json.dumps(
        {k: v for k, v in json.loads(book_frame()).items() if k != "event_type"}
        | {"event_type": "book"}
    ),
    "untagged book": json.dumps(
        {k: v for k, v in json.loads(book_frame()).items() if k != "event_type"}
    ),
    "untagged book without asks, ends in k": json.dumps(
        {k: v for k, v in json.loads(book_frame()).items() if k not in ("event_type", "asks")}
        | {"note": "book"}
    ),
    "not a book, ends in k": json.dumps(
        json.loads(doc_frame("server_tick_size_change")) | {"x": "k"}
    ),
    "book with a bad price": book_frame(bids=[{"price": "x", "size": "1"}]),
    "mystery kind": '{"event_type":"mystery","note":"book"}',
    "object with leading space": " " + doc_frame("server_price_change"),
}


@pytest.mark.parametrize("as_bytes", [False, True], ids=["str", "bytes"])
@pytest.mark.parametrize("frame", FAST_PATH_VARIANTS.values(), ids=FAST_PATH_VARIANTS.keys())
def test_fast_path_matches_general_path(frame: str, as_bytes: bool) -> None:
    """receive()'s inlined fast paths give exactly what the general decoder gives.

    Both as str (live frames) and as UTF-8 bytes (what a recording replays).
    """
    data: str | bytes = frame.encode() if as_bytes else frame
    fast, general = ClobMarketDecoder(), ClobMarketDecoder()
    assert fast.receive(data) == FrameDecoder.receive(general, data)
    assert fast.stats() == general.stats()


@pytest.mark.parametrize(
    "frame",
    [
        # Non-UTF-8 bytes in a key the decoder ignores: msgspec skips such a value unread,
        # so only the ASCII check keeps the fast path from accepting the frame.
        doc_frame("server_price_change").encode().replace(b'{"market"', b'{"x":"\xff","market"'),
        doc_frame("server_last_trade_price").encode().replace(b'"0xeeefffggghhh"', b'"\xc3\x28"'),
        # Valid UTF-8 but not ASCII: the general path decodes it (same events, same stats).
        doc_frame("server_price_change")
        .encode()
        .replace(b'{"market"', b'{"x":"\xc3\xa9","market"'),
    ],
    ids=["invalid utf-8 in an ignored key", "invalid utf-8 in a field", "non-ascii utf-8"],
)
def test_bytes_fast_path_leaves_non_ascii_to_the_general_path(frame: bytes) -> None:
    """Non-ASCII bytes frames decode (or drop as not_utf8) exactly as on the general path."""
    fast, general = ClobMarketDecoder(), ClobMarketDecoder()
    assert fast.receive(frame) == FrameDecoder.receive(general, frame)
    assert fast.stats() == general.stats()


# ---------------------------------------------------------------- builders


def test_market_subscribe_matches_doc_example_with_custom_features() -> None:
    """Byte-identical to the §2.1 example with initial_dump and custom_feature_enabled."""
    expected = doc_frame("client_market_subscribe_custom")
    assert market_subscribe(["<token_id>"], custom_feature_enabled=True) == [expected]


def test_market_discovery_subscription_matches_doc() -> None:
    """No assets + custom features gives the §2.1 "discovery" frame byte for byte."""
    expected = doc_frame("client_market_discovery")
    assert market_subscribe([], custom_feature_enabled=True) == [expected]


def test_market_subscribe_always_asks_for_the_initial_dump() -> None:
    """The minimal §2.1 example plus initial_dump: true, compact, doc key order."""
    doc = doc_frame("client_market_subscribe")
    (frame,) = market_subscribe(json.loads(doc)["assets_ids"])
    assert frame == doc[:-1] + ',"initial_dump":true}'
    assert ": " not in frame and ", " not in frame


def test_market_subscribe_level_is_written_when_given() -> None:
    """The optional level goes last; a bad level is refused."""
    assert market_subscribe(["1"], level=3) == [
        '{"assets_ids":["1"],"type":"market","initial_dump":true,"level":3}'
    ]
    with pytest.raises(ConfigError):
        market_subscribe(["1"], level=0)


def test_market_operation_subscribe_matches_doc_plus_initial_dump() -> None:
    """§2.2 subscribe example, with initial_dump so the new asset gets a book (§6.5)."""
    doc = doc_frame("client_market_operation_subscribe")
    (frame,) = market_operation("subscribe", json.loads(doc)["assets_ids"])
    assert frame == doc[:-1] + ',"initial_dump":true}'


def test_market_operation_custom_feature_matches_doc_semantically() -> None:
    """§2.2 example with custom_feature_enabled: same members (ours adds initial_dump)."""
    doc = json.loads(doc_frame("client_market_operation_subscribe_custom"))
    (frame,) = market_operation("subscribe", doc["assets_ids"], custom_feature_enabled=True)
    assert frame == (
        '{"operation":"subscribe","assets_ids":["new_asset_id_1","new_asset_id_2"],'
        '"initial_dump":true,"custom_feature_enabled":true}'
    )
    assert json.loads(frame) == {**doc, "initial_dump": True}


def test_market_operation_unsubscribe_matches_doc_semantically() -> None:
    """§2.2 unsubscribe example: same JSON object; ours puts operation first."""
    doc = doc_frame("client_market_operation_unsubscribe")
    (frame,) = market_operation("unsubscribe", ["asset_id_to_remove"])
    assert frame == '{"operation":"unsubscribe","assets_ids":["asset_id_to_remove"]}'
    assert json.loads(frame) == json.loads(doc)


def test_market_operation_without_ids_sends_nothing() -> None:
    """No ids means nothing to send; a bad operation name is refused."""
    assert market_operation("unsubscribe", []) == []
    with pytest.raises(ConfigError):
        market_operation("resubscribe", ["1"])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("markets", "name"),
    [
        (["0x1234...condition_id"], "client_user_subscribe_markets"),
        ([], "client_user_subscribe_all"),
    ],
)
def test_user_subscribe_matches_doc(markets: list[str], name: str) -> None:
    """§2.3 examples byte for byte, with credentials taken from ClobCredentials."""
    expected = doc_frame(name)
    api_key = json.loads(expected)["auth"]["apiKey"]
    creds = ClobCredentials(api_key=api_key, secret="your-api-secret", passphrase="your-passphrase")
    assert user_subscribe(creds, markets=markets) == [expected]


def test_user_operation_matches_doc() -> None:
    """§2.3 dynamic subscribe example byte for byte; unsubscribe has the same shape."""
    assert user_operation("subscribe", ["0x5f65…f8f1"]) == [
        doc_frame("client_user_operation_subscribe")
    ]
    assert user_operation("unsubscribe", ["0xa"]) == [
        '{"operation":"unsubscribe","markets":["0xa"]}'
    ]


def test_user_subscribe_reveals_secrets_only_in_the_frame(caplog: pytest.LogCaptureFixture) -> None:
    """The returned frame holds the secrets; logs and the credentials' repr never do."""
    creds = ClobCredentials(api_key="k-1", secret="very-secret", passphrase="pass-phrase")
    with caplog.at_level(logging.DEBUG, logger="polyresearch.protocol"):
        (frame,) = user_subscribe(creds)
    assert json.loads(frame)["auth"] == {
        "apiKey": "k-1",
        "secret": "very-secret",
        "passphrase": "pass-phrase",
    }
    assert "very-secret" not in caplog.text and "pass-phrase" not in caplog.text
    assert "very-secret" not in repr(creds)


def test_user_subscribe_refuses_non_credentials() -> None:
    """Credentials must be a ClobCredentials (which redacts itself), not a dict."""
    with pytest.raises(ConfigError):
        user_subscribe({"apiKey": "k", "secret": "s", "passphrase": "p"})  # type: ignore[arg-type]


@pytest.mark.parametrize(("n", "sizes"), [(100, [100]), (101, [100, 1]), (250, [100, 100, 50])])
def test_market_subscribe_chunks_at_100_ids(n: int, sizes: list[int]) -> None:
    """At most 100 ids a frame: the first is the subscription, the rest operation frames."""
    ids = [str(10**76 + i) for i in range(n)]
    frames = [json.loads(f) for f in market_subscribe(ids, custom_feature_enabled=True)]
    assert [len(f["assets_ids"]) for f in frames] == sizes
    assert MAX_IDS_PER_FRAME == 100
    assert frames[0]["type"] == "market" and frames[0]["initial_dump"] is True
    for extra in frames[1:]:
        assert extra["operation"] == "subscribe"
        assert extra["initial_dump"] is True and extra["custom_feature_enabled"] is True
    assert [i for f in frames for i in f["assets_ids"]] == ids


@pytest.mark.parametrize(("n", "sizes"), [(100, [100]), (101, [100, 1]), (201, [100, 100, 1])])
def test_operations_and_user_frames_chunk_at_100(n: int, sizes: list[int]) -> None:
    """Operation frames and the user subscription are chunked the same way, order kept."""
    ids = [f"0x{i:064x}" for i in range(n)]
    for frames in (market_operation("unsubscribe", ids), user_operation("subscribe", ids)):
        loaded = [json.loads(f) for f in frames]
        assert [len(f.get("assets_ids", f.get("markets", []))) for f in loaded] == sizes
    creds = ClobCredentials(api_key="k", secret="s", passphrase="p")
    user = [json.loads(f) for f in user_subscribe(creds, markets=ids)]
    assert [len(f["markets"]) for f in user] == sizes
    assert "auth" in user[0] and all("auth" not in f for f in user[1:])
    assert all(f["operation"] == "subscribe" for f in user[1:])


def test_builders_deduplicate_and_validate_ids() -> None:
    """Duplicate ids are sent once (first-seen order); non-strings and bare strings refused."""
    assert market_operation("subscribe", ["2", "1", "2"]) == [
        '{"operation":"subscribe","assets_ids":["2","1"],"initial_dump":true}'
    ]
    for bad in ("123", ["1", 2], [""], [None]):
        with pytest.raises(ConfigError):
            market_subscribe(bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        user_operation("subscribe", "0xabc")


def test_ping() -> None:
    """The heartbeat is the 4-byte text PING (§1.4)."""
    assert ping() == PING == "PING"


# ---------------------------------------------------------------- docstring examples


@pytest.mark.parametrize("module", [clob, clob_hash], ids=lambda m: m.__name__)
def test_docstring_examples_run(module: Any) -> None:
    """Every example in the public docstrings runs and prints what it claims."""
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
