"""The simulator's US wire encoders and request parser, checked against protocol-us.md."""

from __future__ import annotations

import doctest
import json
import re
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from polyresearch.simulator import us_wire as w

D = Decimal
RFC3339_NS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$")


def test_doc_examples_hold() -> None:
    """The module's docstring examples run and pass."""
    result = doctest.testmod(w)
    assert result.attempted > 0
    assert result.failed == 0


# ---------------------------------------------------------------- scalars


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (D("0.55"), "0.5500"),
        (D("0.5"), "0.5000"),
        (D("1"), "1.0000"),
        (D("109118.78"), "109118.7800"),
        (D("0.0025"), "0.0025"),
        (D("0.00125"), "0.00125"),
        (D("1E+2"), "100.0000"),
        (D("0"), "0.0000"),
    ],
)
def test_dec_str(value: Decimal, text: str) -> None:
    """Decimals are 4-place zero-padded strings like the live feed, never exponent, never lossy."""
    assert w.dec_str(value) == text


@given(st.decimals(min_value=0, max_value=10**9, places=6, allow_nan=False))
def test_dec_str_round_trips(value: Decimal) -> None:
    """Parsing the string back gives the same number."""
    assert Decimal(w.dec_str(value)) == value


def test_amount_shape() -> None:
    """Amount is value + currency USD."""
    assert w.amount(D("0.7")) == {"value": "0.7000", "currency": "USD"}


def test_rfc3339_nanoseconds() -> None:
    """Timestamps are RFC 3339 UTC with Z and nine fractional digits."""
    assert w.rfc3339(0) == "1970-01-01T00:00:00.000000000Z"
    assert w.rfc3339(1_755_972_938_339) == "2025-08-23T18:15:38.339000000Z"
    assert RFC3339_NS.match(w.rfc3339(1_700_000_000_001, nanos=5))


# ---------------------------------------------------------------- markets frames


def test_market_data_frame_matches_live_shape() -> None:
    """A marketData frame has the live feed's keys, order and formats; no error key."""
    payload = w.market_data_payload(
        "atc-lal-elc-fcb-2026-08-23-fcb",
        bids=[(D("0.73"), D("109118.78")), (D("0.72"), D("5"))],
        offers=[(D("0.74"), D("10"))],
        state=w.MARKET_STATE_OPEN,
        transact_time_ms=1_755_972_938_339,
    )
    frame = w.envelope("p", w.SUB_MARKET_DATA, "marketData", w.dumps(payload))
    assert frame.startswith(
        '{"requestId":"p","subscriptionType":"SUBSCRIPTION_TYPE_MARKET_DATA","marketData":'
        '{"marketSlug":"atc-lal-elc-fcb-2026-08-23-fcb","bids":[{"px":{"value":"0.7300",'
        '"currency":"USD"},"qty":"109118.7800"}'
    )
    msg = json.loads(frame)
    assert "error" not in msg
    md = msg["marketData"]
    assert list(md) == ["marketSlug", "bids", "offers", "state", "transactTime"]
    assert md["state"] == "MARKET_STATE_OPEN"
    assert RFC3339_NS.match(md["transactTime"])
    assert [b["px"]["value"] for b in md["bids"]] == ["0.7300", "0.7200"]


def test_market_data_empty_side_absent() -> None:
    """An empty side and unset stats/transactTime are absent, not empty or null."""
    payload = w.market_data_payload(
        "s", bids=[], offers=[(D("0.5"), D("1"))], state="MARKET_STATE_OPEN", transact_time_ms=None
    )
    assert "bids" not in payload
    assert "stats" not in payload
    assert "transactTime" not in payload
    assert payload["offers"] == [{"px": {"value": "0.5000", "currency": "USD"}, "qty": "1.0000"}]


def test_market_stats_only_set_fields() -> None:
    """stats carries only what is known."""
    assert w.market_stats(last_trade_px=None, shares_traded=D(0), high_px=None, low_px=None) == {}
    stats = w.market_stats(
        last_trade_px=D("0.5"), shares_traded=D("12"), high_px=D("0.6"), low_px=D("0.4")
    )
    assert stats["lastTradePx"] == {"value": "0.5000", "currency": "USD"}
    assert stats["sharesTraded"] == "12.0000"


def test_lite_payload_fields() -> None:
    """Lite: BBO, depth as level counts, shares rounded down to 2 significant figures, quotes."""
    payload = w.lite_payload(
        "s",
        bids=[(D("0.10"), D("1234")), (D("0.09"), D("10"))],
        offers=[(D("0.11"), D("5"))],
        state=w.MARKET_STATE_OPEN,
        last_trade_px=D("0.1"),
        shares_traded=D("150000"),
    )
    assert payload["bestBid"]["value"] == "0.1000"
    assert payload["bestAsk"]["value"] == "0.1100"
    assert payload["bidDepth"] == 2 and payload["askDepth"] == 1
    assert payload["bidShares"] == "1200.0000"  # 1244 -> 1200
    assert payload["askShares"] == "5.0000"
    assert payload["longQuote"]["value"] == "0.1100"
    assert payload["shortQuote"]["value"] == "0.9000"
    assert payload["currentPx"]["value"] == "0.1050"
    assert payload["lastTradePx"]["value"] == "0.1000"
    assert payload["sharesTraded"] == "150000.0000"


def test_lite_payload_empty_book() -> None:
    """An empty book has no BBO, no depth keys, and no current price without trades."""
    payload = w.lite_payload(
        "s", bids=[], offers=[], state="MARKET_STATE_OPEN", last_trade_px=None, shares_traded=D(0)
    )
    assert payload == {"marketSlug": "s", "state": "MARKET_STATE_OPEN"}


def test_trade_payload_shape() -> None:
    """Trade: price and quantity are Amounts; maker/taker carry side and intent."""
    payload = w.trade_payload(
        "s",
        price=D("0.555"),
        quantity=D("0.5"),
        trade_time_ms=0,
        maker_side="ORDER_SIDE_BUY",
        maker_intent="ORDER_INTENT_BUY_LONG",
        taker_side="ORDER_SIDE_SELL",
        taker_intent="ORDER_INTENT_SELL_LONG",
    )
    assert payload["quantity"] == {"value": "0.5000", "currency": "USD"}
    assert payload["price"] == {"value": "0.5550", "currency": "USD"}
    assert payload["taker"] == {"side": "ORDER_SIDE_SELL", "intent": "ORDER_INTENT_SELL_LONG"}
    assert RFC3339_NS.match(payload["tradeTime"])


def test_heartbeat_and_error_frames() -> None:
    """Heartbeat is {"heartbeat": {}}; errors carry requestId/subscriptionType only when known."""
    assert json.loads(w.HEARTBEAT_FRAME) == {"heartbeat": {}}
    assert json.loads(w.error_frame("invalid_message")) == {"error": "invalid_message"}
    assert json.loads(w.error_frame("x", "r", w.SUB_TRADE)) == {
        "requestId": "r",
        "subscriptionType": "SUBSCRIPTION_TYPE_TRADE",
        "error": "x",
    }


def test_envelope_escapes_request_id() -> None:
    """A request id with quotes or non-ASCII survives as JSON."""
    frame = w.envelope('a"b\\ü', w.SUB_TRADE, "trade", "{}")
    assert json.loads(frame)["requestId"] == 'a"b\\ü'


# ---------------------------------------------------------------- private frames

ORDER = w.WireOrder(
    order_id="o1",
    slug="s",
    title="T",
    side="ORDER_SIDE_BUY",
    intent="ORDER_INTENT_BUY_LONG",
    price=D("0.55"),
    quantity=D("10"),
    cum_quantity=D("2.5"),
    state="ORDER_STATE_PARTIALLY_FILLED",
    created_ms=1_000,
)
ORDER_FIELDS = {
    "id", "marketSlug", "side", "type", "price", "quantity", "cumQuantity", "leavesQuantity",
    "tif", "goodTillTime", "intent", "marketMetadata", "state", "avgPx", "cashOrderQty",
    "insertTime", "createTime", "commissionNotionalTotalCollected", "commissionsBasisPoints",
    "makerCommissionsBasisPoints",
}  # fmt: skip
POSITION_FIELDS = {
    "netPosition", "qtyBought", "qtySold", "cost", "realized", "bodPosition", "expired",
    "updateTime", "marketMetadata", "cashValue", "qtyAvailable", "avgPx", "fees", "baseCost",
    "costPerShare", "netPositionDecimal", "qtyBoughtDecimal", "qtySoldDecimal",
    "bodPositionDecimal", "qtyAvailableDecimal", "comboLegDetails", "positionId",
}  # fmt: skip
BALANCE_FIELDS = {
    "currentBalance", "currency", "lastUpdated", "buyingPower", "assetNotional", "assetAvailable",
    "pendingCredit", "openOrders", "unsettledFunds", "pendingWithdrawals", "marginRequirement",
    "balanceReservation", "depositReservation", "bonusReservation", "displayedBonus",
    "displayedAvailableSoon", "displayedCash", "availableToWithdraw", "bonusHold",
}  # fmt: skip


def test_order_snapshot_emits_unpopulated() -> None:
    """Snapshot orders carry every field; quantities are JSON numbers; unset is null."""
    payload = w.order_snapshot_payload([ORDER], eof=True)
    order = payload["orders"][0]
    assert payload["eof"] is True
    assert set(order) == ORDER_FIELDS
    assert order["quantity"] == 10 and order["cumQuantity"] == 2.5
    assert order["leavesQuantity"] == 7.5
    assert order["goodTillTime"] is None and order["avgPx"] is None
    assert order["price"] == {"value": "0.5500", "currency": "USD"}


def test_done_order_has_no_leaves() -> None:
    """A cancelled order's leavesQuantity is 0."""
    payload = w.order_snapshot_payload(
        [w.WireOrder(**{**ORDER.__dict__, "state": "ORDER_STATE_CANCELED"})], eof=True
    )
    assert payload["orders"][0]["leavesQuantity"] == 0


def test_order_update_execution() -> None:
    """An execution report: lastShares is a string, lastPx an Amount, every field present."""
    execution = w.WireExecution(
        execution_id="e1",
        order=ORDER,
        exec_type="EXECUTION_TYPE_PARTIAL_FILL",
        transact_ms=2_000,
        last_shares=D("2.5"),
        last_px=D("0.55"),
        trade_id="t1",
        aggressor=True,
    )
    ex = w.order_update_payload(execution)["execution"]
    assert ex["lastShares"] == "2.5000"
    assert ex["lastPx"] == {"value": "0.5500", "currency": "USD"}
    assert ex["text"] == "" and ex["orderRejectReason"] == ""
    assert set(ex["order"]) == ORDER_FIELDS


def test_position_subscription_shape() -> None:
    """positionSubscription carries before/after UserPositions with every field; null before."""
    after = w.WirePosition(
        slug="s",
        title="T",
        net=D("1.5"),
        bought=D("1.5"),
        sold=D(0),
        cost=D("0.825"),
        realized=D(0),
        update_ms=5,
    )
    payload = w.position_subscription_payload(None, after, update_ms=5, trade_id="t")
    assert payload["beforePosition"] is None
    assert set(payload["afterPosition"]) == POSITION_FIELDS
    assert payload["afterPosition"]["netPosition"] == "2"
    assert payload["afterPosition"]["netPositionDecimal"] == "1.5000"
    assert payload["afterPosition"]["marketMetadata"]["slug"] == "s"
    assert payload["transferReferenceTradeIds"] == [] and payload["shortTransfer"] is False
    assert payload["updateTradeDate"] is None


def test_balance_payloads() -> None:
    """Balances are JSON numbers with every field; the update carries before and after."""
    before = w.WireBalance(current_balance=D("1000"), buying_power=D("850.5"))
    after = w.WireBalance(current_balance=D("990"), buying_power=D("840"), update_ms=9)
    snap = w.account_balances_snapshot_payload(before)
    assert set(snap["balances"][0]) == BALANCE_FIELDS
    assert snap["balances"][0]["buyingPower"] == 850.5
    assert snap["balances"][0]["lastUpdated"] is None
    change = w.account_balances_update_payload(
        before, after, update_ms=9, change_id="c1", account_name="us"
    )["balanceChange"]
    assert change["afterBalance"]["currentBalance"] == 990
    assert change["beforeBalance"]["currentBalance"] == 1000
    assert set(change) == {
        "beforeBalance", "afterBalance", "description", "updateTime", "modifiedSecurityId",
        "entryType", "accountName", "id",
    }  # fmt: skip


def test_private_envelope_empty_error() -> None:
    """Private frames may carry the unpopulated "error": "" after the payload."""
    frame = w.private_envelope("r", w.SUB_ORDER, "orderSubscriptionUpdate", "{}", empty_error=True)
    assert json.loads(frame) == {
        "requestId": "r",
        "subscriptionType": "SUBSCRIPTION_TYPE_ORDER",
        "orderSubscriptionUpdate": {},
        "error": "",
    }
    plain = w.private_envelope("r", w.SUB_ORDER, "x", "{}", empty_error=False)
    assert "error" not in json.loads(plain)


# ---------------------------------------------------------------- requests


def test_sdk_subscribe_text_parses() -> None:
    """The SDK's exact subscribe text (protocol-us.md §4.1) parses."""
    text = (
        '{"subscribe": {"requestId": "book", "subscriptionType": "SUBSCRIPTION_TYPE_MARKET_DATA",'
        ' "marketSlugs": ["btc-100k-2025"]}}'
    )
    assert w.parse_request(text, w.MARKETS) == w.Subscribe(
        "book", w.SUB_MARKET_DATA, ("btc-100k-2025",)
    )


@pytest.mark.parametrize(
    ("text", "channel", "expected"),
    [
        (
            '{"subscribe":{"request_id":"a","subscription_type":1,"market_slugs":["x","y"]}}',
            w.MARKETS,
            w.Subscribe("a", w.SUB_MARKET_DATA, ("x", "y")),
        ),
        (
            '{"subscribe":{"requestId":"a","subscriptionType":2,"marketSlugs":["x"]}}',
            w.MARKETS,
            w.Subscribe("a", w.SUB_MARKET_DATA_LITE, ("x",)),
        ),
        (
            '{"subscribe":{"request_id":"a","subscription_type":"SUBSCRIPTION_TYPE_TRADE"}}',
            w.MARKETS,
            w.Subscribe("a", w.SUB_TRADE, ()),
        ),
        ('{"subscribe":{"requestId":"p","subscriptionType":1}}', w.PRIVATE,
         w.Subscribe("p", w.SUB_ORDER, ())),
        ('{"subscribe":{"requestId":"p","subscriptionType":2}}', w.PRIVATE,
         w.Subscribe("p", w.SUB_ORDER_SNAPSHOT, ())),
        ('{"subscribe":{"requestId":"p","subscriptionType":3}}', w.PRIVATE,
         w.Subscribe("p", w.SUB_POSITION, ())),
        ('{"subscribe":{"requestId":"p","subscriptionType":4}}', w.PRIVATE,
         w.Subscribe("p", w.SUB_ACCOUNT_BALANCE, ())),
        ('{"subscribe":{"requestId":"p","subscriptionType":"SUBSCRIPTION_TYPE_RFQ"}}', w.PRIVATE,
         w.Subscribe("p", w.SUB_RFQ, ())),
        (
            '{"subscribe":{"requestId":"d","subscriptionType":1,"marketSlugs":["x"],'
            '"responsesDebounced":true}}',
            w.MARKETS,
            w.Subscribe("d", w.SUB_MARKET_DATA, ("x",), debounced=True),
        ),
        ('{"unsubscribe":{"request_id":"z"}}', w.MARKETS, w.Unsubscribe("z")),
        (b'{"unsubscribe":{"requestId":"z"}}', w.PRIVATE, w.Unsubscribe("z")),
    ],
)  # fmt: skip
def test_requests_accepted(
    text: str | bytes, channel: w.Channel, expected: w.Subscribe | w.Unsubscribe
) -> None:
    """camelCase and snake_case keys, enum names and numbers, text and bytes all parse."""
    assert w.parse_request(text, channel) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not json",
        "[]",
        '"subscribe"',
        "{}",
        '{"subscribe":{"requestId":"a","subscriptionType":1},"unsubscribe":{"requestId":"a"}}',
        '{"ping":{}}',
        '{"subscribe":[]}',
        '{"subscribe":{"subscriptionType":1,"marketSlugs":["x"]}}',
        '{"subscribe":{"requestId":"","subscriptionType":1}}',
        '{"subscribe":{"requestId":5,"subscriptionType":1}}',
        '{"subscribe":{"requestId":"a","subscriptionType":1,"marketSlugs":"x"}}',
        '{"subscribe":{"requestId":"a","subscriptionType":1,"marketSlugs":[1]}}',
        '{"subscribe":{"requestId":"a","subscriptionType":"NOPE"}}',
        '{"subscribe":{"requestId":"a","subscriptionType":99}}',
        '{"subscribe":{"requestId":"a","subscriptionType":true}}',
        '{"subscribe":{"requestId":"a","subscriptionType":1,"responsesDebounced":"yes"}}',
        '{"requestId":"a","subscriptionType":1,"marketSlugs":["x"]}',
        b"\xff\xfe",
    ],
)
def test_malformed_requests_are_invalid_message(text: str | bytes) -> None:
    """Malformed frames answer {"error": "invalid_message"} without a requestId."""
    result = w.parse_request(text, w.MARKETS)
    assert isinstance(result, w.BadRequest)
    assert json.loads(result.frame()) == {"error": "invalid_message"}


def test_other_channel_type_is_error_with_request_id() -> None:
    """A private type on the markets socket is an error carrying the requestId."""
    result = w.parse_request(
        '{"subscribe":{"requestId":"a","subscriptionType":"SUBSCRIPTION_TYPE_ORDER"}}', w.MARKETS
    )
    assert isinstance(result, w.BadRequest)
    assert result.request_id == "a"
    assert json.loads(result.frame())["requestId"] == "a"


def test_missing_type_is_error_with_request_id() -> None:
    """A subscribe without a type is refused with the requestId and UNSPECIFIED."""
    result = w.parse_request('{"subscribe":{"requestId":"a"}}', w.PRIVATE)
    assert isinstance(result, w.BadRequest)
    assert (result.request_id, result.subscription_type) == ("a", "SUBSCRIPTION_TYPE_UNSPECIFIED")
