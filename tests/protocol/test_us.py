"""Polymarket US protocol: documented frames -> events, SDK dispatch rules, builders, bad input."""

from __future__ import annotations

import calendar
import datetime as dt
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from polyresearch.config import DEFAULT_MAX_FRAME_BYTES
from polyresearch.errors import ConfigError
from polyresearch.protocol.base import FrameDecoder
from polyresearch.protocol.events import (
    Balance,
    BalanceSnapshot,
    BalanceUpdate,
    BestBidAsk,
    BookSnapshot,
    Dropped,
    Event,
    Heartbeat,
    Level,
    OrderSnapshot,
    OrderUpdate,
    PositionUpdate,
    RfqEvent,
    Trade,
    VenueError,
)
from polyresearch.protocol.us import (
    MAX_SLUGS_PER_SUBSCRIPTION,
    RequestIdGenerator,
    UsMarketsDecoder,
    UsPrivateDecoder,
    parse_timestamp_ns,
    subscribe,
    subscribe_frame,
    unsubscribe,
)

DATA = Path(__file__).parent.parent / "data" / "us"


def load(name: str) -> str:
    return (DATA / name).read_text(encoding="utf-8")


def frame_of(name: str) -> dict[str, Any]:
    value = json.loads(load(name))
    assert isinstance(value, dict)
    return value


def one(decoder: FrameDecoder, frame: str | bytes) -> Any:
    """Decode a frame that must yield exactly one event (typed Any for terse field checks)."""
    events = decoder.receive(frame)
    assert len(events) == 1, events
    return events[0]


def dropped(decoder: FrameDecoder, frame: str | bytes, reason: str) -> Dropped:
    event = one(decoder, frame)
    assert isinstance(event, Dropped), event
    assert event.reason == reason, event
    return event


def ts(text: str, nanos: int = 0) -> int:
    """Independent check: seconds via calendar.timegm, plus the fractional nanoseconds."""
    parsed = dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S")
    return calendar.timegm(parsed.timetuple()) * 1_000_000_000 + nanos


def markets() -> UsMarketsDecoder:
    return UsMarketsDecoder()


def private() -> UsPrivateDecoder:
    return UsPrivateDecoder()


# ---------------------------------------------------------------- documented frames (markets)


def test_doc_market_data_example() -> None:
    """protocol-us.md §6.1 marketData example -> BookSnapshot with every documented field."""
    event = one(markets(), load("markets_market_data_doc.json"))
    assert event == BookSnapshot(
        kind="market_data",
        venue="us",
        market="market-slug-1",
        asset_id="market-slug-1",
        bids=(Level("0.555", "0.50"), Level("0.550", "2.50")),
        asks=(Level("0.560", "0.80"), Level("0.565", "1.50")),
        ts_ns=ts("2024-01-15T10:30:00"),
        timestamp="2024-01-15T10:30:00Z",
        last_trade_price="0.55",
        state="MARKET_STATE_OPEN",
        stats={
            "lastTradePx": {"value": "0.55", "currency": "USD"},
            "sharesTraded": "150000",
            "openInterest": "500000",
            "highPx": {"value": "0.58", "currency": "USD"},
            "lowPx": {"value": "0.52", "currency": "USD"},
        },
    )


def test_live_market_data_frame() -> None:
    """The pinned live frame (§6.1, no stats, 9 fractional digits) keeps full ns precision."""
    event = one(markets(), load("markets_market_data_live.json"))
    assert isinstance(event, BookSnapshot)
    assert event.market == event.asset_id == "atc-lal-elc-fcb-2026-08-23-fcb"
    assert event.bids == (Level("0.7300", "109118.7800"), Level("0.7200", "43767.5000"))
    assert event.asks == (Level("0.7400", "13529.6900"), Level("0.7500", "5000.0000"))
    assert event.ts_ns == ts("2026-08-23T18:15:38", 339_877_873)
    assert event.timestamp == "2026-08-23T18:15:38.339877873Z"
    assert event.stats is None
    assert event.last_trade_price is None
    assert event.state == "MARKET_STATE_OPEN"


def test_doc_market_data_lite_example() -> None:
    """protocol-us.md §6.2 marketDataLite example -> BestBidAsk."""
    event = one(markets(), load("markets_market_data_lite_doc.json"))
    assert event == BestBidAsk(
        kind="market_data_lite",
        venue="us",
        market="market-slug-1",
        asset_id="market-slug-1",
        best_bid="0.54",
        best_ask="0.56",
        last_trade_price="0.55",
        current_price="0.55",
        bid_depth=5,
        ask_depth=4,
        shares_traded="150000",
        open_interest="500000",
    )


def test_doc_trade_example() -> None:
    """protocol-us.md §6.3 trade example -> Trade with the taker's side and both intents."""
    event = one(markets(), load("markets_trade_doc.json"))
    assert event == Trade(
        kind="trade",
        venue="us",
        market="market-slug-1",
        asset_id="market-slug-1",
        price="0.555",
        size="0.50",
        side="sell",
        ts_ns=ts("2024-01-15T10:30:00"),
        maker_intent="ORDER_INTENT_BUY_LONG",
        taker_intent="ORDER_INTENT_SELL_LONG",
    )


@pytest.mark.parametrize("decoder", [markets, private])
def test_doc_heartbeat(decoder: Any) -> None:
    """§8 {"heartbeat": {}} -> Heartbeat on both sockets."""
    assert one(decoder(), load("heartbeat_doc.json")) == Heartbeat(kind="heartbeat", venue="us")


@pytest.mark.parametrize("decoder", [markets, private])
def test_doc_error_example(decoder: Any) -> None:
    """§8 error frame with requestId -> VenueError carrying the text and request id."""
    assert one(decoder(), load("error_doc.json")) == VenueError(
        kind="error", venue="us", message="<text>", request_id="..."
    )


@pytest.mark.parametrize("decoder", [markets, private])
def test_error_without_request_id(decoder: Any) -> None:
    """§8 {"error":"invalid_message"} (no requestId) -> VenueError with request_id None."""
    assert one(decoder(), load("error_invalid_message.json")) == VenueError(
        kind="error", venue="us", message="invalid_message"
    )


def test_sdk_error_frame_keeps_subscription_type() -> None:
    """The SDK test's error frame carries subscriptionType through to the event."""
    assert one(markets(), load("error_subscription_failed_sdk.json")) == VenueError(
        kind="error",
        venue="us",
        message="subscription failed",
        request_id="req-123",
        subscription_type="SUBSCRIPTION_TYPE_MARKET_DATA",
    )


# ---------------------------------------------------------------- documented frames (private)


def test_doc_failed_order_snapshot_is_an_error() -> None:
    """§7.1 failed snapshot (snapshot key plus non-empty error) -> VenueError, not a snapshot."""
    assert one(private(), load("private_order_snapshot_failed_doc.json")) == VenueError(
        kind="error",
        venue="us",
        message="deadline exceeded",
        request_id="snapshot-1",
        subscription_type="SUBSCRIPTION_TYPE_ORDER_SNAPSHOT",
    )


def test_sdk_terminal_order_snapshot() -> None:
    """The SDK contract's terminal snapshot -> OrderSnapshot(orders=(), eof=True)."""
    assert one(private(), load("private_order_snapshot_terminal_sdk.json")) == OrderSnapshot(
        kind="order_snapshot", venue="us", orders=(), eof=True, request_id="snapshot-1"
    )


def test_order_snapshot_template() -> None:
    """§7.1 snapshot shape: Orders map onto OrderUpdate rows; numbers keep their text."""
    event = one(private(), load("private_order_snapshot_template.json"))
    assert isinstance(event, OrderSnapshot)
    assert event.eof is False
    assert event.request_id == "snapshot-2"
    first, second = event.orders
    assert (first.kind, first.order_id, first.market, first.asset_id) == (
        "order_update",
        "ord-1",
        "aec-nfl-kc-phi-2026-02-09",
        "aec-nfl-kc-phi-2026-02-09",
    )
    assert (first.side, first.price, first.original_size) == ("buy", "0.55", "10")
    assert (first.size_matched, first.leaves_size) == ("2.5", "7.5")
    assert first.status == "ORDER_STATE_PARTIALLY_FILLED"
    assert first.order_type == "ORDER_TYPE_LIMIT"
    assert first.outcome == "Chiefs"
    assert first.update_type is None and first.ts_ns is None
    assert first.details is not None
    assert first.details["tif"] == "TIME_IN_FORCE_GOOD_TILL_CANCEL"
    assert first.details["insertTime"] == "2026-02-09T17:00:00.123456789Z"
    assert "id" not in first.details and "quantity" not in first.details
    # An empty marketSlug falls back to the market metadata's slug.
    assert second.market == "aec-nba-ny-sa-2026-06-05"
    assert (second.side, second.size_matched, second.leaves_size) == ("sell", "0", "4")


def test_order_update_template() -> None:
    """§7.1 execution frame (with EmitUnpopulated "error": "") -> OrderUpdate."""
    event = one(private(), load("private_order_update_template.json"))
    assert isinstance(event, OrderUpdate)
    assert event.kind == "order_update"
    assert (event.order_id, event.market, event.side) == (
        "ord-1",
        "aec-nfl-kc-phi-2026-02-09",
        "buy",
    )
    assert (event.original_size, event.size_matched, event.leaves_size) == ("10", "5", "5")
    assert event.update_type == "EXECUTION_TYPE_PARTIAL_FILL"
    assert (event.last_size, event.last_price, event.trade_id) == ("2.5", "0.55", "trade-1")
    assert event.ts_ns == ts("2026-02-09T17:00:01", 1)
    assert event.details is not None
    assert event.details["execution"] == {
        "id": "exec-1",
        "text": "",
        "orderRejectReason": "",
        "aggressor": False,
        "commissionNotionalCollected": {"value": "0.00", "currency": "USD"},
    }


def test_sdk_position_frame() -> None:
    """The SDK fixture's positionSubscription (EmitUnpopulated) -> PositionUpdate."""
    raw = frame_of("private_position_subscription_sdk.json")["positionSubscription"]
    event = one(private(), load("private_position_subscription_sdk.json"))
    assert event == PositionUpdate(
        kind="position_update",
        venue="us",
        market="",  # marketMetadata is null on both sides of this fixture
        net_position="2.25",  # the exact decimal form wins over the rounded "2"
        cost="0.5",
        realized="0",
        entry_type="LEDGER_ENTRY_TYPE_UNDEFINED",
        trade_id="synthetic-trade",
        before=raw["beforePosition"],
        after=raw["afterPosition"],
    )


def test_sdk_balance_update_frame() -> None:
    """The SDK fixture's accountBalancesUpdate -> BalanceUpdate of currentBalance."""
    assert one(private(), load("private_account_balances_update_sdk.json")) == BalanceUpdate(
        kind="account_balance_update",
        venue="us",
        before=0.0,
        after=0.0,
        description="synthetic change",
        entry_type="LEDGER_ENTRY_TYPE_UNDEFINED",
    )


def test_sdk_balance_snapshot_frame() -> None:
    """The SDK fixture's accountBalancesSnapshot -> BalanceSnapshot with one Balance."""
    assert one(private(), load("private_account_balances_snapshot_sdk.json")) == BalanceSnapshot(
        kind="account_balance_snapshot",
        venue="us",
        balances=(
            Balance(
                currency="",
                current_balance=0.0,
                buying_power=100.0,
                open_orders=0.0,
                unsettled_funds=0.0,
            ),
        ),
    )


def test_rfq_event_template() -> None:
    """§7.4 rfqEvent -> RfqEvent with the payload passed through unchanged."""
    frame = frame_of("private_rfq_event_template.json")
    assert one(private(), load("private_rfq_event_template.json")) == RfqEvent(
        kind="rfq_event", venue="us", payload=frame["rfqEvent"], request_id="rfq-1"
    )


def test_legacy_position_update() -> None:
    """Legacy positionSubscriptionUpdate {marketSlug, position} -> PositionUpdate."""
    frame = frame_of("private_position_update_legacy.json")
    event = one(private(), load("private_position_update_legacy.json"))
    assert event == PositionUpdate(
        kind="position_update",
        venue="us",
        market="aec-nfl-kc-phi-2026-02-09",
        net_position="3",
        cost="1.65",
        realized="0",
        avg_price="0.55",
        ts_ns=ts("2026-02-09T17:00:01", 500_000_000),
        after=frame["positionSubscriptionUpdate"]["position"],
    )


def test_legacy_position_snapshot_becomes_position_updates() -> None:
    """Legacy positionSubscriptionSnapshot -> one position_update per market (documented)."""
    events = private().receive(load("private_positions_snapshot_legacy.json"))
    assert [(e.kind, e.market, e.net_position, e.before) for e in events] == [  # type: ignore[union-attr]
        ("position_update", "aec-nfl-kc-phi-2026-02-09", "3.5", None),
        ("position_update", "aec-nba-ny-sa-2026-06-05", "-2", None),
    ]
    assert events[1].ts_ns == ts("2026-06-05T01:02:03")  # type: ignore[union-attr]


def test_legacy_balance_snapshot() -> None:
    """Legacy accountBalanceSubscriptionSnapshot {balance, buyingPower} -> one Balance."""
    event = one(private(), load("private_account_balance_snapshot_legacy.json"))
    assert event == BalanceSnapshot(
        kind="account_balance_snapshot",
        venue="us",
        balances=(Balance(currency="", current_balance=250.5, buying_power=200.0),),
    )


# ---------------------------------------------------------------- documented client frames


def test_doc_subscribe_example() -> None:
    """§4.1 subscribe example is what subscribe_frame builds (compact, same keys and order)."""
    expected = json.loads(load("client_subscribe_doc.json"))
    built = subscribe_frame(
        "md-sub-1", "SUBSCRIPTION_TYPE_MARKET_DATA", ["market-slug-1", "market-slug-2"]
    )
    assert json.loads(built) == expected
    assert built == json.dumps(expected, separators=(",", ":"))


def test_sdk_subscribe_output_matches() -> None:
    """Re-serialized with the SDK's json.dumps defaults, our frame is the SDK's text exactly."""
    built = subscribe_frame("book", "SUBSCRIPTION_TYPE_MARKET_DATA", ["btc-100k-2025"])
    assert json.dumps(json.loads(built)) == load("client_subscribe_sdk_output.json").strip()


def test_doc_unsubscribe_example() -> None:
    """§4.2 unsubscribe example is exactly unsubscribe("md-sub-1")."""
    assert unsubscribe("md-sub-1") == load("client_unsubscribe_doc.json").strip().replace(" ", "")


# ---------------------------------------------------------------- SDK dispatch cross-check

_SDK_SECRET = "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A="
_SDK_EVENTS = (
    "heartbeat",
    "error",
    "market_data",
    "market_data_lite",
    "trade",
    "order_snapshot",
    "order_update",
    "position_snapshot",
    "position_update",
    "account_balance_snapshot",
    "account_balance_update",
    "rfq_event",
)


def sdk_event(channel: str, text: str) -> str | None:
    """The named event the official SDK emits for a frame (None: only 'message')."""
    websocket = pytest.importorskip("polymarket_us.websocket")
    cls = websocket.MarketsWebSocket if channel == "markets" else websocket.PrivateWebSocket
    ws = cls(key_id="offline", secret_key=_SDK_SECRET)
    seen: list[str] = []
    for name in _SDK_EVENTS:
        ws.on(name, lambda *args, name=name: seen.append(name))
    ws._handle_message(text)
    assert len(seen) <= 1
    return seen[0] if seen else None


_DISPATCH_FRAMES = [
    ("markets", name)
    for name in (
        "heartbeat_doc.json",
        "error_doc.json",
        "error_invalid_message.json",
        "error_subscription_failed_sdk.json",
        "markets_market_data_doc.json",
        "markets_market_data_live.json",
        "markets_market_data_lite_doc.json",
        "markets_trade_doc.json",
    )
] + [
    ("private", path.name)
    for path in sorted(DATA.glob("private_*.json"))
    if path.name != "private_positions_snapshot_legacy.json"
]


@pytest.mark.parametrize(("channel", "name"), _DISPATCH_FRAMES)
def test_kind_matches_official_sdk_event(channel: str, name: str) -> None:
    """For every data file, our event kind is the SDK's event name for the same frame."""
    decoder = markets() if channel == "markets" else private()
    assert one(decoder, load(name)).kind == sdk_event(channel, load(name))


def test_legacy_position_snapshot_is_sdk_position_snapshot() -> None:
    """The SDK calls the legacy snapshot position_snapshot; we emit position_update rows."""
    text = load("private_positions_snapshot_legacy.json")
    assert sdk_event("private", text) == "position_snapshot"
    assert {event.kind for event in private().receive(text)} == {"position_update"}


_PRIVATE_ALIASES = [
    ("orderSubscriptionSnapshot", {"orders": [], "eof": True}, "order_snapshot"),
    ("ordersSnapshot", {"orders": [], "eof": True}, "order_snapshot"),
    ("orderSubscriptionUpdate", {"execution": {"order": {"id": "o"}}}, "order_update"),
    ("orderUpdate", {"execution": {"order": {"id": "o"}}}, "order_update"),
    ("positionSubscription", {"afterPosition": None}, "position_update"),
    ("positionSubscriptionUpdate", {"marketSlug": "m", "position": {}}, "position_update"),
    ("positionUpdate", {"beforePosition": None}, "position_update"),
    (
        "accountBalanceSubscriptionSnapshot",
        {"balance": 1, "buyingPower": 1},
        "account_balance_snapshot",
    ),
    ("accountBalancesSnapshot", {"balances": []}, "account_balance_snapshot"),
    ("accountBalancesUpdate", {"balanceChange": {}}, "account_balance_update"),
    ("accountBalanceSubscriptionUpdate", {"balance": 3}, "account_balance_update"),
    ("accountBalanceUpdate", {"balanceChange": None}, "account_balance_update"),
    ("rfqEvent", {}, "rfq_event"),
]


@pytest.mark.parametrize(("key", "payload", "kind"), _PRIVATE_ALIASES)
def test_private_alias_keys(key: str, payload: dict[str, Any], kind: str) -> None:
    """Every alias key of doc §5 dispatches to the SDK's event, in both SDK and decoder."""
    text = json.dumps({"requestId": "r", key: payload})
    assert one(private(), text).kind == kind == sdk_event("private", text)


# ---------------------------------------------------------------- dispatch rules (doc §5)


@pytest.mark.parametrize(
    ("error", "message"), [("", ""), (None, ""), ("boom", "boom"), (0, "0"), ({}, "{}")]
)
def test_markets_any_error_key_is_an_error(error: object, message: str) -> None:
    """On the markets socket an error key of any value wins over data, as in the SDK."""
    frame = frame_of("markets_market_data_doc.json") | {"error": error}
    event = one(markets(), json.dumps(frame))
    assert isinstance(event, VenueError)
    assert event.request_id == "md-sub-1"
    assert event.message == message
    assert sdk_event("markets", json.dumps(frame)) == "error"


@pytest.mark.parametrize("error", ["", None, 0, False, {}, []])
def test_private_empty_error_does_not_hide_data(error: object) -> None:
    """On the private socket a falsy error (EmitUnpopulated) is no error; the data decodes."""
    frame = frame_of("private_account_balances_snapshot_sdk.json") | {"error": error}
    assert one(private(), json.dumps(frame)).kind == "account_balance_snapshot"
    assert sdk_event("private", json.dumps(frame)) == "account_balance_snapshot"


def test_private_truthy_error_wins_over_data() -> None:
    """A non-empty error on a private data frame is an error (request id kept)."""
    frame = frame_of("private_position_subscription_sdk.json") | {"error": "subscription failed"}
    event = one(private(), json.dumps(frame))
    assert event == VenueError(
        kind="error",
        venue="us",
        message="subscription failed",
        request_id="positions-test",
        subscription_type="SUBSCRIPTION_TYPE_POSITION",
    )


def test_private_non_string_error_is_shown_as_json() -> None:
    """A truthy non-string error value becomes its compact JSON text."""
    event = one(private(), '{"error": {"code": 7}}')
    assert isinstance(event, VenueError)
    assert event.message == '{"code":7}'


@pytest.mark.parametrize("decoder", [markets, private])
def test_heartbeat_wins_first(decoder: Any) -> None:
    """heartbeat is checked before error and data, whatever its value."""
    assert one(decoder(), '{"error": "x", "heartbeat": null, "trade": 5}').kind == "heartbeat"


def test_first_match_wins_in_sdk_order() -> None:
    """With several payload keys, the SDK's first key decides (snapshot > update > position)."""
    text = json.dumps(
        {
            "positionSubscription": {"afterPosition": None},
            "orderSubscriptionUpdate": {"execution": {"order": {"id": "o"}}},
            "ordersSnapshot": {"orders": [], "eof": False},
        }
    )
    assert one(private(), text).kind == "order_snapshot" == sdk_event("private", text)
    text = json.dumps({"trade": {}, "marketDataLite": {"marketSlug": "m"}})
    assert one(markets(), text).kind == "market_data_lite" == sdk_event("markets", text)


def test_malformed_key_that_loses_dispatch_is_ignored() -> None:
    """Only the winning payload is decoded: a broken later key costs nothing."""
    text = '{"marketDataLite": {"marketSlug": "m"}, "trade": [1, 2, 3]}'
    assert one(markets(), text).kind == "market_data_lite"


def test_channels_do_not_share_payload_keys() -> None:
    """A private payload on the markets socket (and vice versa) is an unknown event."""
    dropped(markets(), load("private_rfq_event_template.json"), "unknown_event")
    dropped(private(), load("markets_trade_doc.json"), "unknown_event")


def test_private_frame_with_only_empty_error_is_unknown() -> None:
    """An envelope with a falsy error and no payload key is an unknown event, not an error."""
    dropped(private(), '{"requestId": "r", "error": ""}', "unknown_event")


# ---------------------------------------------------------------- market data semantics


def book_frame(**fields: Any) -> str:
    return json.dumps({"marketData": {"marketSlug": "m", **fields}})


def level(px: Any, qty: Any) -> dict[str, Any]:
    return {"px": {"value": px, "currency": "USD"}, "qty": qty}


def test_book_sides_sorted_exactly_whatever_wire_order() -> None:
    """Unsorted sides come back best-first by exact decimal order (never floats), stably."""
    text = book_frame(
        bids=[
            level("0.3", "1"),
            level("0.50", "2"),
            level("0.30000000000000001", "3"),
            level("0.5", "4"),
        ],
        offers=[
            level("0.7", "1"),
            level("0.6000", "2"),
            level("0.60000000000000001", "3"),
            level("0.6", "4"),
        ],
    )
    event = one(markets(), text)
    # 0.3 and 0.30000000000000001 are the same float; exact order still separates them, and
    # equal values ("0.50"/"0.5", "0.6000"/"0.6") keep their wire order.
    assert event.bids == (
        Level("0.50", "2"),
        Level("0.5", "4"),
        Level("0.30000000000000001", "3"),
        Level("0.3", "1"),
    )
    assert event.asks == (
        Level("0.6000", "2"),
        Level("0.6", "4"),
        Level("0.60000000000000001", "3"),
        Level("0.7", "1"),
    )


@pytest.mark.parametrize("value", [None, []])
def test_empty_or_missing_sides(value: Any) -> None:
    """Absent, null or empty bids/offers are empty sides (one-sided books happen)."""
    fields = {} if value is None else {"bids": value, "offers": value}
    event = one(markets(), book_frame(**fields))
    assert (event.bids, event.asks) == ((), ())
    event = one(markets(), book_frame(bids=None, offers=[level("0.6", "1")]))
    assert (event.bids, event.asks) == ((), (Level("0.6", "1"),))


def test_absent_and_null_stats_and_time() -> None:
    """stats/transactTime/state may be absent or null: the fields are None."""
    for text in (book_frame(), book_frame(stats=None, transactTime=None, state=None)):
        event = one(markets(), text)
        assert (event.stats, event.ts_ns, event.timestamp, event.state) == (None, None, None, None)


def test_malformed_stats_price_costs_only_that_field() -> None:
    """A non-decimal stats.lastTradePx leaves last_trade_price None but keeps the book."""
    event = one(markets(), book_frame(stats={"lastTradePx": {"value": "n/a"}}))
    assert event.kind == "market_data"
    assert event.last_trade_price is None
    assert event.stats == {"lastTradePx": {"value": "n/a"}}


@pytest.mark.parametrize(
    "fields",
    [
        {"bids": [{"qty": "1"}]},
        {"bids": [{"px": None, "qty": "1"}]},
        {"offers": [{"px": {"value": "0.5"}}]},
        {"offers": [level("NaN", "1")]},
        {"bids": [level("0.5", "Infinity")]},
        {"bids": [level("1_000", "1")]},
        {"bids": [level(" 0.5", "1")]},
        {"bids": [level("", "1")]},
        {"bids": [level(0.5, "1")]},
        {"bids": [level("0.5", 1)]},
        {"bids": "0.5"},
        {"transactTime": "2024-01-15 10:30"},
        {"transactTime": 1705314600},
        {"marketSlug": ""},
        {"marketSlug": None},
        {"stats": [1]},
    ],
)
def test_bad_book_fields_are_wrong_shape(fields: dict[str, Any]) -> None:
    """Levels without px/qty, non-decimal numbers, bad types or time, no slug -> wrong_shape."""
    drop = dropped(markets(), book_frame(**fields), "wrong_shape")
    assert drop.excerpt.startswith('{"marketData"')


def test_null_payload_is_wrong_shape() -> None:
    """A payload key whose value is null carries nothing: wrong_shape."""
    dropped(markets(), '{"marketData": null}', "wrong_shape")
    dropped(private(), '{"rfqEvent": null}', "wrong_shape")


def test_lite_with_quotes_and_shares() -> None:
    """Lite fields beyond the doc example (quotes, shares, state) map onto BestBidAsk."""
    text = json.dumps(
        {
            "marketDataLite": {
                "marketSlug": "cpc-btc-updown-15m",
                "bestAsk": {"value": "0.1100", "currency": "USD"},
                "bestBid": {"value": "0.1000", "currency": "USD"},
                "longQuote": {"value": "0.1100", "currency": "USD"},
                "shortQuote": {"value": "0.9", "currency": "USD"},
                "bidShares": "1200",
                "askShares": "35",
                "state": "MARKET_STATE_OPEN",
                "settlementPx": {"value": "0", "currency": "USD"},
            }
        }
    )
    event = one(markets(), text)
    assert (event.best_bid, event.best_ask) == ("0.1000", "0.1100")
    assert (event.long_quote, event.short_quote) == ("0.1100", "0.9")
    assert (event.bid_shares, event.ask_shares, event.state) == ("1200", "35", "MARKET_STATE_OPEN")
    assert (event.bid_depth, event.spread, event.ts_ns) == (None, None, None)


def trade_frame(**fields: Any) -> str:
    base: dict[str, Any] = {
        "marketSlug": "m",
        "price": {"value": "0.4", "currency": "USD"},
        "quantity": {"value": "3"},
    }
    return json.dumps({"trade": base | fields})


@pytest.mark.parametrize(
    ("taker", "side"),
    [
        ({"side": "ORDER_SIDE_BUY", "intent": "ORDER_INTENT_BUY_SHORT"}, "buy"),
        ({"side": "ORDER_SIDE_SELL"}, "sell"),
        ({"intent": "ORDER_INTENT_BUY_LONG"}, "buy"),
        ({"intent": "ORDER_INTENT_SELL_SHORT"}, "buy"),
        ({"intent": "ORDER_INTENT_SELL_LONG"}, "sell"),
        ({"intent": "ORDER_INTENT_BUY_SHORT"}, "sell"),
        ({"side": "ORDER_SIDE_UNSPECIFIED"}, None),
        (None, None),
    ],
)
def test_trade_side_is_the_takers(taker: Any, side: str | None) -> None:
    """side = taker side; without one it follows the intent on the YES instrument."""
    assert one(markets(), trade_frame(taker=taker)).side == side


@pytest.mark.parametrize("missing", ["price", "quantity", "marketSlug"])
def test_trade_without_price_size_or_slug_is_wrong_shape(missing: str) -> None:
    """A trade needs a market, a price and a quantity."""
    dropped(markets(), trade_frame(**{missing: None}), "wrong_shape")


# ---------------------------------------------------------------- private semantics


def test_bad_order_in_snapshot_is_dropped_alone() -> None:
    """One unusable order is a counted drop placed before the snapshot of the others."""
    decoder = private()
    text = json.dumps(
        {
            "ordersSnapshot": {
                "orders": [{"marketSlug": "m"}, {"id": "ok", "quantity": 2}],
                "eof": True,
            }
        }
    )
    drop, snapshot = decoder.receive(text)
    assert isinstance(drop, Dropped) and drop.reason == "wrong_shape"
    assert isinstance(snapshot, OrderSnapshot)
    assert [order.order_id for order in snapshot.orders] == ["ok"]
    assert snapshot.orders[0].market == ""  # unknown market stays ""
    assert decoder.stats().dropped == {"wrong_shape": 1}


@pytest.mark.parametrize(
    ("quantity", "text"),
    [("2.50", "2.50"), ("1e2", "1e2"), ('"7.25"', "7.25"), ("null", None), ('""', None)],
)
def test_order_quantities_keep_exact_text(quantity: str, text: str | None) -> None:
    """Order quantities (JSON numbers or strings) keep their exact text, never float repr."""
    raw = '{"orderUpdate": {"execution": {"order": {"id": "o", "cumQuantity": @@}}}}'
    raw = raw.replace("@@", quantity)
    assert one(private(), raw).size_matched == text


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"execution": None},
        {"execution": {"order": None}},
        {"execution": {"lastShares": "1"}},
        {"execution": {"order": {"id": ""}}},
        {"execution": {"order": {"id": "o", "quantity": True}}},
        {"execution": {"order": {"id": "o"}, "lastShares": "abc"}},
        {"execution": {"order": {"id": "o"}, "transactTime": "yesterday"}},
    ],
)
def test_bad_order_updates_are_wrong_shape(payload: dict[str, Any]) -> None:
    """An update without execution/order/id, or with bad numbers or time -> wrong_shape."""
    dropped(private(), json.dumps({"orderSubscriptionUpdate": payload}), "wrong_shape")


def test_closed_position_uses_before_for_market() -> None:
    """afterPosition null (closed): after fields None, market from beforePosition metadata."""
    text = json.dumps(
        {
            "positionSubscription": {
                "beforePosition": {"netPosition": "1", "marketMetadata": {"slug": "m-1"}},
                "afterPosition": None,
                "updateTime": "2026-01-02T03:04:05.000000006Z",
                "entryType": "LEDGER_ENTRY_TYPE_RESOLUTION",
                "tradeId": "",
            }
        }
    )
    event = one(private(), text)
    assert (event.market, event.net_position, event.after, event.trade_id) == (
        "m-1",
        None,
        None,
        None,
    )
    assert event.before == {"netPosition": "1", "marketMetadata": {"slug": "m-1"}}
    assert event.ts_ns == ts("2026-01-02T03:04:05", 6)
    assert event.entry_type == "LEDGER_ENTRY_TYPE_RESOLUTION"


def test_emit_unpopulated_everything_null() -> None:
    """An all-unset private frame (nulls, "", 0, []) still decodes to empty fields."""
    text = json.dumps(
        {
            "requestId": "",
            "subscriptionType": "",
            "error": "",
            "positionSubscription": {
                "beforePosition": None,
                "afterPosition": None,
                "updateTime": None,
                "entryType": "",
                "tradeId": "",
                "referenceId": "",
                "transferReferenceTradeIds": [],
                "shortTransfer": False,
            },
        }
    )
    assert one(private(), text) == PositionUpdate(kind="position_update", venue="us", market="")


def test_balance_update_after_null() -> None:
    """A balance change with afterBalance null reports after=None and the before currency."""
    text = json.dumps(
        {
            "accountBalancesUpdate": {
                "balanceChange": {
                    "beforeBalance": {"currentBalance": 12.5, "currency": "USD"},
                    "afterBalance": None,
                    "updateTime": "2026-01-02T03:04:05Z",
                }
            }
        }
    )
    event = one(private(), text)
    assert (event.before, event.after, event.currency) == (12.5, None, "USD")
    assert event.ts_ns == ts("2026-01-02T03:04:05")


def test_balance_with_wrong_number_type_is_wrong_shape() -> None:
    """A balance amount that is not a JSON number -> wrong_shape."""
    text = '{"accountBalancesSnapshot": {"balances": [{"currentBalance": "lots"}]}}'
    dropped(private(), text, "wrong_shape")


def test_rfq_event_non_object_is_wrong_shape() -> None:
    """rfqEvent must be an object to be passed through."""
    dropped(private(), '{"rfqEvent": [1]}', "wrong_shape")


# ---------------------------------------------------------------- timestamps


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1970-01-01T00:00:00Z", 0),
        ("1970-01-01T00:00:00.1Z", 100_000_000),
        ("1970-01-01T00:00:00.12Z", 120_000_000),
        ("1970-01-01T00:00:00.123456Z", 123_456_000),
        ("1970-01-01T00:00:00.1234567Z", 123_456_700),
        ("1970-01-01T00:00:00.000000001Z", 1),
        ("1970-01-01T00:00:00.999999999Z", 999_999_999),
        ("1969-12-31T23:59:59.5Z", -500_000_000),
        ("2024-01-15T10:30:00Z", 1_705_314_600_000_000_000),
        ("2024-01-15t10:30:00z", 1_705_314_600_000_000_000),
        ("2024-01-15T12:30:00+02:00", 1_705_314_600_000_000_000),
        ("2024-01-15T05:00:00.5-05:30", 1_705_314_600_500_000_000),
        ("2016-12-31T23:59:60Z", 1_483_228_800_000_000_000),
        ("2024-02-29T00:00:00Z", 1_709_164_800_000_000_000),
    ],
)
def test_parse_timestamp_ns_exact(text: str, expected: int) -> None:
    """RFC 3339 with 0-9 fractional digits, Z or offsets, parses to exact integer ns."""
    assert parse_timestamp_ns(text) == expected


def test_parse_timestamp_agrees_with_datetime_to_the_microsecond() -> None:
    """For microsecond inputs the result equals datetime's (our extra digits are exact)."""
    text = "2026-08-23T18:15:38.339877Z"
    parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    micros = (parsed - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(microseconds=1)
    assert parse_timestamp_ns(text) == micros * 1000
    assert parse_timestamp_ns("2026-08-23T18:15:38.339877873Z") - micros * 1000 == 873


@pytest.mark.parametrize(
    "text",
    [
        "",
        "2024-01-15",
        "2024-01-15T10:30:00",
        "2024-01-15T10:30:00.Z",
        "2024-01-15T10:30:00.1234567890Z",
        "2024-02-30T00:00:00Z",
        "2023-02-29T00:00:00Z",
        "2024-13-01T00:00:00Z",
        "2024-01-15T24:00:00Z",
        "2024-01-15T10:60:00Z",
        "2024-01-15T10:30:61Z",
        "2024-01-15T10:30:00+24:00",
        "2024-01-15T10:30:00+0200",
        " 2024-01-15T10:30:00Z",
        "2024-01-15T10:30:00Z\n",
        "\uff12\uff10\uff12\uff14-01-15T10:30:00Z",  # full-width digits
        "1705314600",
    ],
)
def test_parse_timestamp_rejects_non_rfc3339(text: str) -> None:
    """Anything but an RFC 3339 date-time raises ValueError (frames then drop as wrong_shape)."""
    with pytest.raises(ValueError):
        parse_timestamp_ns(text)


# ---------------------------------------------------------------- builders


@pytest.mark.parametrize(
    ("stype", "slugs", "expected"),
    [
        (
            "SUBSCRIPTION_TYPE_MARKET_DATA",
            ["a"],
            '{"subscribe":{"requestId":"r","subscriptionType":"SUBSCRIPTION_TYPE_MARKET_DATA",'
            '"marketSlugs":["a"]}}',
        ),
        (
            "SUBSCRIPTION_TYPE_MARKET_DATA_LITE",
            ["a", "b"],
            '{"subscribe":{"requestId":"r","subscriptionType":"SUBSCRIPTION_TYPE_MARKET_DATA_LITE",'
            '"marketSlugs":["a","b"]}}',
        ),
        (
            "SUBSCRIPTION_TYPE_TRADE",
            ["a"],
            '{"subscribe":{"requestId":"r","subscriptionType":"SUBSCRIPTION_TYPE_TRADE",'
            '"marketSlugs":["a"]}}',
        ),
        (
            "SUBSCRIPTION_TYPE_ORDER",
            [],
            '{"subscribe":{"requestId":"r","subscriptionType":"SUBSCRIPTION_TYPE_ORDER"}}',
        ),
        (
            "SUBSCRIPTION_TYPE_ORDER_SNAPSHOT",
            [],
            '{"subscribe":{"requestId":"r","subscriptionType":"SUBSCRIPTION_TYPE_ORDER_SNAPSHOT"}}',
        ),
        (
            "SUBSCRIPTION_TYPE_POSITION",
            ["m"],
            '{"subscribe":{"requestId":"r","subscriptionType":"SUBSCRIPTION_TYPE_POSITION",'
            '"marketSlugs":["m"]}}',
        ),
        (
            "SUBSCRIPTION_TYPE_ACCOUNT_BALANCE",
            (),
            '{"subscribe":{"requestId":"r","subscriptionType":"SUBSCRIPTION_TYPE_ACCOUNT_BALANCE"}}',
        ),
        (
            "SUBSCRIPTION_TYPE_RFQ",
            [],
            '{"subscribe":{"requestId":"r","subscriptionType":"SUBSCRIPTION_TYPE_RFQ"}}',
        ),
    ],
)
def test_subscribe_frame_exact_json(stype: Any, slugs: list[str], expected: str) -> None:
    """Each subscription type builds compact camelCase JSON; empty slugs are omitted."""
    assert subscribe_frame("r", stype, slugs) == expected


def test_subscribe_frame_matches_sdk_request_dict() -> None:
    """Our frame parses to the dict the SDK's subscribe() sends (W-base)."""
    expected = {
        "subscribe": {
            "requestId": "live-1",
            "subscriptionType": "SUBSCRIPTION_TYPE_ORDER",
            "marketSlugs": ["x", "y"],
        }
    }
    assert json.loads(subscribe_frame("live-1", "SUBSCRIPTION_TYPE_ORDER", ["x", "y"])) == expected


def test_subscribe_frame_debounce_and_dedupe() -> None:
    """responsesDebounced is sent only when asked; repeated slugs are sent once, in order."""
    frame = subscribe_frame(
        "r", "SUBSCRIPTION_TYPE_MARKET_DATA", ["b", "a", "b"], responses_debounced=True
    )
    assert frame == (
        '{"subscribe":{"requestId":"r","subscriptionType":"SUBSCRIPTION_TYPE_MARKET_DATA",'
        '"marketSlugs":["b","a"],"responsesDebounced":true}}'
    )


def test_subscribe_frame_keeps_unicode_slugs() -> None:
    """Non-ASCII slugs are written as UTF-8 text (valid JSON either way)."""
    frame = subscribe_frame("r", "SUBSCRIPTION_TYPE_TRADE", ["é-market"])
    assert json.loads(frame)["subscribe"]["marketSlugs"] == ["é-market"]


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        (("", "SUBSCRIPTION_TYPE_TRADE", ["a"]), {}),
        (("r", "SUBSCRIPTION_TYPE_BOOK", ["a"]), {}),
        (("r", "subscription_type_trade", ["a"]), {}),
        (("r", "SUBSCRIPTION_TYPE_RFQ", ["a"]), {}),
        (("r", "SUBSCRIPTION_TYPE_TRADE", "slug-as-str"), {}),
        (("r", "SUBSCRIPTION_TYPE_TRADE", ["a", ""]), {}),
        (("r", "SUBSCRIPTION_TYPE_TRADE", ["a", 3]), {}),
        (("r", "SUBSCRIPTION_TYPE_TRADE", [f"s{i}" for i in range(101)]), {}),
    ],
)
def test_subscribe_frame_rejects_bad_arguments(args: tuple[Any, ...], kwargs: Any) -> None:
    """Empty id, unknown type, slugs on RFQ, a bare str, bad slugs or >100 slugs -> ConfigError."""
    with pytest.raises(ConfigError):
        subscribe_frame(*args, **kwargs)


def test_subscribe_frame_accepts_exactly_100_slugs() -> None:
    """The documented limit itself is allowed in one request."""
    slugs = [f"s{i}" for i in range(MAX_SLUGS_PER_SUBSCRIPTION)]
    frame = subscribe_frame("r", "SUBSCRIPTION_TYPE_MARKET_DATA", slugs)
    assert json.loads(frame)["subscribe"]["marketSlugs"] == slugs


def test_subscribe_splits_into_100_slug_requests() -> None:
    """250 slugs -> three requests of 100/100/50, each with its own deterministic id."""
    slugs = [f"market-{i:03d}" for i in range(250)]
    pairs = subscribe("SUBSCRIPTION_TYPE_MARKET_DATA", slugs, request_ids=RequestIdGenerator("md"))
    assert [request_id for request_id, _ in pairs] == ["md-1", "md-2", "md-3"]
    bodies = [json.loads(frame)["subscribe"] for _, frame in pairs]
    assert [len(body["marketSlugs"]) for body in bodies] == [100, 100, 50]
    assert [body["requestId"] for body in bodies] == ["md-1", "md-2", "md-3"]
    assert [slug for body in bodies for slug in body["marketSlugs"]] == slugs
    assert all(body["subscriptionType"] == "SUBSCRIPTION_TYPE_MARKET_DATA" for body in bodies)
    assert all(isinstance(frame, str) for _, frame in pairs)


@pytest.mark.parametrize(
    ("count", "sizes"), [(1, [1]), (100, [100]), (101, [100, 1]), (200, [100, 100])]
)
def test_subscribe_chunk_boundaries(count: int, sizes: list[int]) -> None:
    """Chunks split exactly at 100 slugs."""
    pairs = subscribe(
        "SUBSCRIPTION_TYPE_TRADE",
        [f"s{i}" for i in range(count)],
        request_ids=RequestIdGenerator("t"),
    )
    assert [len(json.loads(frame)["subscribe"]["marketSlugs"]) for _, frame in pairs] == sizes


def test_subscribe_without_slugs_is_one_request() -> None:
    """No slugs (private: all markets) -> one request without marketSlugs."""
    assert subscribe("SUBSCRIPTION_TYPE_POSITION", request_ids=iter(["p-9"])) == [
        ("p-9", '{"subscribe":{"requestId":"p-9","subscriptionType":"SUBSCRIPTION_TYPE_POSITION"}}')
    ]


def test_subscribe_dedupes_before_splitting() -> None:
    """101 slugs with one repeat fit in one request."""
    slugs = [f"s{i}" for i in range(100)] + ["s0"]
    assert len(subscribe("SUBSCRIPTION_TYPE_TRADE", slugs, request_ids=RequestIdGenerator())) == 1


def test_subscribe_runs_out_of_ids() -> None:
    """A finite id source that runs out is a ConfigError, not a silent partial list."""
    with pytest.raises(ConfigError, match="ran out"):
        subscribe("SUBSCRIPTION_TYPE_TRADE", [f"s{i}" for i in range(150)], request_ids=["a"])


def test_subscribe_validates_before_using_ids() -> None:
    """A bad type is rejected before any id is consumed."""
    ids = RequestIdGenerator("x")
    with pytest.raises(ConfigError):
        subscribe("SUBSCRIPTION_TYPE_RFQ", ["a"], request_ids=ids)
    assert next(ids) == "x-1"


def test_request_id_generator_is_deterministic() -> None:
    """Two generators with the same prefix and start give the same ids; no clock involved."""
    one_ids, two_ids = RequestIdGenerator("sub", start=5), RequestIdGenerator("sub", start=5)
    assert [next(one_ids) for _ in range(3)] == [next(two_ids) for _ in range(3)]
    assert next(RequestIdGenerator()) == "req-1"
    assert repr(RequestIdGenerator("q")) == "RequestIdGenerator(prefix='q')"


@pytest.mark.parametrize(("prefix", "start"), [("", 1), ("p", -1), ("p", True)])
def test_request_id_generator_rejects_bad_arguments(prefix: str, start: int) -> None:
    """An empty prefix or a negative/bool start is a ConfigError."""
    with pytest.raises(ConfigError):
        RequestIdGenerator(prefix, start=start)


def test_unsubscribe_exact_and_validated() -> None:
    """unsubscribe builds the compact camelCase request and refuses an empty id."""
    assert unsubscribe("md-2") == '{"unsubscribe":{"requestId":"md-2"}}'
    with pytest.raises(ConfigError):
        unsubscribe("")


# ---------------------------------------------------------------- bad input and accounting


@pytest.mark.parametrize("decoder", [markets, private])
@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        ("", "not_json"),
        ("hello", "not_json"),
        ("PONG", "not_json"),
        ('{"heartbeat": {}', "not_json"),
        ('{"heartbeat": {}}}', "not_json"),
        ("{'heartbeat': {}}", "not_json"),
        ('{"requestId": 5, "heartbeat": {}}', "wrong_shape"),
        ('{"requestId": 5, "heartbeat": ', "not_json"),
        ("42", "wrong_shape"),
        ('"heartbeat"', "wrong_shape"),
        ("null", "wrong_shape"),
        ("true", "wrong_shape"),
        ("[]", "wrong_shape"),
        ("[1, 2", "not_json"),
        ("{}", "unknown_event"),
        (
            '{"requestId": "r", "subscriptionType": "SUBSCRIPTION_TYPE_NEW", "newThing": {}}',
            "unknown_event",
        ),
        (b"\xff\xfe{}", "not_utf8"),
        ('{"x": "\ud800"}', "not_utf8"),
        ("[" * 5000 + "]" * 5000, "wrong_shape"),
        ('{"heartbeat": ' + "[" * 5000 + "]" * 5000 + "}", "wrong_shape"),
    ],
)
def test_bad_frames_become_counted_drops(
    decoder: Any, frame: str | bytes, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Non-JSON, truncated, wrong shape, unknown, non-UTF-8, too deep -> one drop, no crash."""
    instance = decoder()
    with caplog.at_level(logging.DEBUG, logger="polyresearch.protocol"):
        drop = dropped(instance, frame, reason)
    assert instance.stats().dropped == {reason: 1}
    assert instance.stats().events_out == 0
    assert len(drop.excerpt) <= 200
    # The decoder's last-resort handler (logged at ERROR) must never be needed.
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


@pytest.mark.parametrize("cut", [1, 10, 50, 100, 200, 300, 400])
def test_truncated_doc_frame_is_not_json(cut: int) -> None:
    """Any prefix of a real frame is dropped as not_json, never half-decoded."""
    text = load("markets_market_data_doc.json")
    dropped(markets(), text[:cut], "not_json")


def test_unknown_keys_are_ignored() -> None:
    """New top-level and payload keys do not change the decoded event."""
    frame = frame_of("markets_trade_doc.json")
    frame["futureEnvelopeField"] = {"a": [1, 2]}
    frame["trade"]["futureTradeField"] = "x"
    frame["trade"]["maker"]["futureSideField"] = 1
    assert one(markets(), json.dumps(frame)) == one(markets(), load("markets_trade_doc.json"))


def test_bytes_and_str_decode_alike() -> None:
    """A UTF-8 bytes frame (binary WebSocket message) decodes like the same text."""
    text = load("markets_market_data_live.json")
    assert one(markets(), text.encode()) == one(markets(), text)


def test_oversized_frame_with_user_limit() -> None:
    """A frame over the user-set max_frame_bytes is dropped as oversized; at the limit it passes."""
    text = load("heartbeat_doc.json")
    size = len(text.encode())
    assert one(UsMarketsDecoder(max_frame_bytes=size), text).kind == "heartbeat"
    decoder = UsMarketsDecoder(max_frame_bytes=size - 1)
    drop = dropped(decoder, text, "oversized")
    assert str(size - 1) in drop.detail
    assert decoder.stats().dropped == {"oversized": 1}


def test_excerpt_is_truncated_and_nothing_past_it_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Drops keep a short excerpt; text far into a bad frame appears in no event or log line."""
    marker = "TAIL-MARKER-do-not-show"
    frame = '{"marketData": {"marketSlug": "m", "bids": [' + "x" * 1000 + marker
    decoder = markets()
    with caplog.at_level(logging.DEBUG, logger="polyresearch.protocol"):
        drop = dropped(decoder, frame, "not_json")
    assert drop.excerpt.startswith('{"marketData"')
    assert "…(+" in drop.excerpt
    assert marker not in drop.excerpt + drop.detail
    assert marker not in caplog.text


def test_array_frame_is_decoded_item_by_item() -> None:
    """A JSON array (unusual on US) yields each object's event, dropping non-object items."""
    text = "[" + load("heartbeat_doc.json") + ", 7, " + load("markets_trade_doc.json") + "]"
    decoder = markets()
    events = decoder.receive(text)
    assert [event.kind for event in events] == ["heartbeat", "dropped", "trade"]
    assert events[1].reason == "wrong_shape"  # type: ignore[union-attr]
    stats = decoder.stats()
    assert stats.events_by_kind == {"heartbeat": 1, "trade": 1}
    assert stats.dropped == {"wrong_shape": 1}


def test_stats_add_up() -> None:
    """frames_in, bytes_in, events_out, kinds and drop reasons are all counted."""
    decoder = markets()
    frames: list[str | bytes] = [
        load("heartbeat_doc.json"),
        load("markets_trade_doc.json"),
        load("markets_market_data_live.json").encode(),
        "nope",
        "{}",
        '{"trade": null}',
    ]
    outputs = [event for frame in frames for event in decoder.receive(frame)]
    stats = decoder.stats()
    assert (stats.venue, stats.channel) == ("us", "markets")
    assert stats.frames_in == 6
    assert stats.bytes_in == sum(len(f.encode() if isinstance(f, str) else f) for f in frames)
    assert stats.events_out == 3
    assert stats.events_by_kind == {"heartbeat": 1, "trade": 1, "market_data": 1}
    assert stats.dropped == {"not_json": 1, "unknown_event": 1, "wrong_shape": 1}
    assert stats.events_out + stats.dropped_total == len(outputs)


def test_private_stats_channel() -> None:
    """The private decoder reports venue us, channel private."""
    stats = private().stats()
    assert (stats.venue, stats.channel, stats.frames_in) == ("us", "private", 0)


@pytest.mark.parametrize("cls", [UsMarketsDecoder, UsPrivateDecoder])
def test_constructor_is_keyword_only_with_default_limit(cls: Any) -> None:
    """max_frame_bytes is keyword-only, defaults to DEFAULT_MAX_FRAME_BYTES and is validated."""
    assert cls().max_frame_bytes == DEFAULT_MAX_FRAME_BYTES
    with pytest.raises(TypeError):
        cls(1024)
    for bad in (0, -1, True, 1.5):
        with pytest.raises(ConfigError):
            cls(max_frame_bytes=bad)


def test_decoders_return_only_event_types() -> None:
    """Every event decoded from the data files is one of the normalized event structs."""
    allowed = Event.__args__
    for path in sorted(DATA.glob("*.json")):
        if path.name.startswith("client_"):
            continue
        decoder = private() if path.name.startswith("private_") else markets()
        for event in decoder.receive(path.read_text(encoding="utf-8")):
            assert isinstance(event, allowed)
            assert event.venue == "us"
            assert event.kind != "dropped", (path.name, event)
