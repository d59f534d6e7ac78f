"""Exact price keys: decimal strings to scaled integers, never floats as dict keys.

Venues send prices as decimal strings written in different ways (``"0.5"``, ``"0.50"``,
``".48"``, ``"0.7300"``). A book keyed by the raw text would hold ``"0.5"`` and ``"0.50"`` as
two levels; a book keyed by float would be inexact. We key levels by the price in units of
10⁻⁸ (``PRICE_SCALE``), an ``int``: exact for every tick either venue uses (0.01 … 0.0001),
cheap to hash and compare.

Example:
    >>> price_key("0.5") == price_key("0.50") == price_key(".5") == 50_000_000
    True
    >>> format_key(50_000_000)
    '0.5'
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Final

from polyresearch.errors import StateError

__all__ = ["PRICE_DECIMALS", "PRICE_SCALE", "format_key", "price_key"]

PRICE_DECIMALS: Final = 8
PRICE_SCALE: Final = 10**PRICE_DECIMALS

#: Most price texts remembered by :func:`price_key`. Prices live on a tick grid, so a stream
#: uses a few hundred distinct texts; the bound only matters for hostile input.
MAX_CACHED_KEYS: Final = 1 << 16

# text -> key of every price seen (bounded: emptied when full). The order-book hot path reads
# it directly (``KEYS.get(text)``) and calls price_key() only on a miss: the parse costs ~1 µs
# of Python per call, a dict hit ~30 ns, and a book update parses 1-3 prices.
KEYS: Final[dict[str, int]] = {}


def price_key(text: str) -> int:
    """Return ``text`` (a non-negative decimal string) in units of 10⁻⁸ as an exact int.

    Results are memoised (at most :data:`MAX_CACHED_KEYS` texts).

    Raises:
        StateError: if the text is not a plain decimal or has more than 8 decimals.
    """
    key = KEYS.get(text)
    if key is None:
        key = _parse(text)
        if len(KEYS) >= MAX_CACHED_KEYS:
            KEYS.clear()
        KEYS[text] = key
    return key


def _parse(text: str) -> int:
    whole, dot, frac = text.partition(".")
    if (whole.isdigit() or (not whole and dot)) and (not frac or frac.isdigit()):
        if len(frac) > PRICE_DECIMALS:
            stripped = frac.rstrip("0")
            if len(stripped) > PRICE_DECIMALS:
                raise StateError(f"price {text!r} has more than {PRICE_DECIMALS} decimals")
            frac = stripped
        return int(whole or "0") * PRICE_SCALE + int(frac.ljust(PRICE_DECIMALS, "0") or "0")
    # Rare spellings (exponents, signs, whitespace): go through Decimal, still exact.
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise StateError(f"not a decimal price: {text[:40]!r}") from None
    scaled = value * PRICE_SCALE
    if not value.is_finite() or value < 0 or scaled != scaled.to_integral_value():
        raise StateError(f"unsupported price: {text[:40]!r}")
    return int(scaled)


def format_key(key: int) -> str:
    """Render a price key as the shortest decimal string (no trailing zeros, no exponent)."""
    whole, frac = divmod(key, PRICE_SCALE)
    if not frac:
        return str(whole)
    return f"{whole}.{str(frac).rjust(PRICE_DECIMALS, '0').rstrip('0')}"
