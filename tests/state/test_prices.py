"""Exact price keys: every spelling of a price maps to one int key and back."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from polyresearch.errors import StateError
from polyresearch.state.prices import PRICE_SCALE, format_key, price_key


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("0.5", 50_000_000),
        ("0.50", 50_000_000),
        (".48", 48_000_000),
        ("0.7300", 73_000_000),
        ("1", PRICE_SCALE),
        ("0", 0),
        ("0.001", 100_000),
        ("109118.7800", 10_911_878_000_000),
        ("5e-1", 50_000_000),
        ("0.1234567800", 12_345_678),
    ],
)
def test_spellings_map_to_one_key(text: str, key: int) -> None:
    """Trailing zeros, missing leading zero and exponents give the same exact key."""
    assert price_key(text) == key


@pytest.mark.parametrize("bad", ["", "abc", "-0.5", "0.123456789", "nan", "inf", "1.2.3"])
def test_bad_prices_raise_state_error(bad: str) -> None:
    """Non-decimal, negative or over-precise prices raise StateError, never a float guess."""
    with pytest.raises(StateError):
        price_key(bad)


@given(st.decimals(min_value=0, max_value=10**6, places=8, allow_nan=False))
def test_round_trip_matches_decimal(value: Decimal) -> None:
    """price_key agrees with Decimal arithmetic and format_key renders the same number."""
    text = format(value, "f")
    key = price_key(text)
    assert key == int(value * PRICE_SCALE)
    assert Decimal(format_key(key)) == value
    assert not format_key(key).endswith(".") and "e" not in format_key(key).lower()
