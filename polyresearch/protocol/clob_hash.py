"""The CLOB book ``hash``: SHA-1 of a compact JSON book summary (protocol-clob.md §6.4).

Every ``book`` and every ``price_change`` entry carries the 40-hex ``hash`` of that asset's
whole book (after the change). It is reproducible client-side, which turns it into an
integrity check of a locally maintained book. The recipe (Polymarket's
``generate_orderbook_summary_hash``, verified against captured frames in §6.4)::

    sha1(compact JSON of
      {"market":M,"asset_id":A,"timestamp":T,"hash":"",
       "bids":[{"price":p,"size":s},…],"asks":[…],
       "min_order_size":"5","tick_size":"0.01","neg_risk":false,"last_trade_price":"0.500"}
    ).hexdigest()

with bids **ascending** and asks **descending** (the wire order), every value the venue's exact
text, ``neg_risk`` a JSON boolean, separators ``,`` and ``:``, UTF-8. ``min_order_size`` and
``neg_risk`` are not in WebSocket frames (take them from REST ``/book`` or Gamma).

The definition changed over time: the last three fields appeared on 2025-07-23 and
``last_trade_price`` around December 2025. Pass ``last_trade_price=None`` for the older form
without that key (it reproduces the September 2025 example of §4.2). Treat a mismatch as
advisory (§6.4, "Practical policy"), never as proof of corruption on its own.

Example:
    >>> book_hash(
    ...     market="0x5f65177b394277fd294cd75650044e32ba009a95022d88a0c1d565897d72f8f1",
    ...     asset_id="7132104567925221259462638553270691275033272857194253228963"
    ...     "1379312455583992563",
    ...     timestamp="1757908892351",
    ...     bids=[("0.5", "200")],
    ...     asks=[],
    ...     min_order_size="20",
    ...     tick_size="0.001",
    ...     neg_risk=False,
    ...     last_trade_price=None,
    ... )
    '56621a121a47ed9333273e21c83b660cff37ae50'
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import msgspec

from polyresearch.errors import ConfigError
from polyresearch.protocol.events import Level

__all__ = ["book_hash", "book_hash_best_first", "book_hash_unchecked", "hash_levels"]

LevelLike = tuple[str, str] | Level


class _Summary(msgspec.Struct, gc=False):
    """The hashed object; msgspec encodes fields in this order, compactly."""

    market: str
    asset_id: str
    timestamp: str
    hash: str
    bids: list[Level]
    asks: list[Level]
    min_order_size: str
    tick_size: str
    neg_risk: bool
    # UNSET fields are left out of the encoding: the pre-December-2025 summary had no such key.
    last_trade_price: str | msgspec.UnsetType = msgspec.UNSET


_encode = msgspec.json.Encoder().encode


def _levels(levels: Iterable[object], name: str) -> list[Level]:
    out: list[Level] = []
    for level in levels:
        price: object
        size: object
        if isinstance(level, Level):
            price, size = level.price, level.size
        else:
            try:
                price, size = level  # type: ignore[misc]
            except (TypeError, ValueError):
                raise ConfigError(f"{name} must hold (price, size) pairs or Levels") from None
        if not isinstance(price, str) or not isinstance(size, str):
            # A number would hash differently from the venue's text ("0.5" vs 0.5): refuse it.
            raise ConfigError(f"{name} prices and sizes must be the venue's strings")
        out.append(level if isinstance(level, Level) else Level(price, size))
    return out


def _text(value: object, name: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{name} must be a str (the venue's text), got {type(value).__name__}")
    return value


def book_hash(
    *,
    market: str,
    asset_id: str,
    timestamp: str,
    bids: Iterable[LevelLike],
    asks: Iterable[LevelLike],
    min_order_size: str,
    tick_size: str,
    neg_risk: bool,
    last_trade_price: str | None,
) -> str:
    """Return the venue's book hash for one asset's book, levels given in wire order.

    Args:
        market: the condition id.
        asset_id: the token id.
        timestamp: the event's timestamp text (the ``price_change`` timestamp for a delta).
        bids: ``(price, size)`` pairs or :class:`~polyresearch.protocol.events.Level`, by
            **ascending** price, as the venue's exact strings.
        asks: the same, by **descending** price.
        min_order_size: e.g. ``"5"`` (from REST ``/book`` or Gamma).
        tick_size: e.g. ``"0.01"``.
        neg_risk: whether the market is a neg-risk market.
        last_trade_price: e.g. ``"0.500"``, ``""`` when the asset never traded, or ``None``
            for the summary without that key (hashes from before December 2025).

    Returns:
        The 40-character lowercase hex SHA-1.

    Raises:
        ConfigError: a value that is not the venue's text (e.g. a float price).

    Example:
        >>> book_hash(market="0xm", asset_id="1", timestamp="1", bids=[("0.4", "5")],
        ...           asks=[("0.6", "5")], min_order_size="5", tick_size="0.01",
        ...           neg_risk=False, last_trade_price="")
        'fb229ec1d0d56e0e191e5340c250bb1f254bd797'
    """
    if not isinstance(neg_risk, bool):
        raise ConfigError(f"neg_risk must be a bool, got {type(neg_risk).__name__}")
    summary = _Summary(
        market=_text(market, "market"),
        asset_id=_text(asset_id, "asset_id"),
        timestamp=_text(timestamp, "timestamp"),
        hash="",
        bids=_levels(bids, "bids"),
        asks=_levels(asks, "asks"),
        min_order_size=_text(min_order_size, "min_order_size"),
        tick_size=_text(tick_size, "tick_size"),
        neg_risk=neg_risk,
        last_trade_price=(
            msgspec.UNSET
            if last_trade_price is None
            else _text(last_trade_price, "last_trade_price")
        ),
    )
    # hashlib, not a hand-rolled SHA-1; usedforsecurity=False: an integrity check, not crypto.
    return hashlib.sha1(_encode(summary), usedforsecurity=False).hexdigest()


def book_hash_best_first(
    *,
    market: str,
    asset_id: str,
    timestamp: str,
    bids: Iterable[LevelLike],
    asks: Iterable[LevelLike],
    min_order_size: str,
    tick_size: str,
    neg_risk: bool,
    last_trade_price: str | None,
) -> str:
    """Like :func:`book_hash`, with levels best-first (bids descending, asks ascending).

    That is the order of :class:`~polyresearch.protocol.events.BookSnapshot` sides, so a
    decoded book can be checked directly (``min_order_size`` and ``neg_risk`` come from REST).

    Example:
        >>> from polyresearch.protocol.events import BookSnapshot, Level
        >>> book = BookSnapshot(kind="book", venue="clob", market="0xm", asset_id="1",
        ...                     bids=(Level("0.4", "5"),), asks=(Level("0.6", "5"),),
        ...                     timestamp="1", last_trade_price="")
        >>> book_hash_best_first(market=book.market, asset_id=book.asset_id,
        ...                      timestamp=book.timestamp, bids=book.bids, asks=book.asks,
        ...                      min_order_size="5", tick_size="0.01", neg_risk=False,
        ...                      last_trade_price=book.last_trade_price)
        'fb229ec1d0d56e0e191e5340c250bb1f254bd797'
    """
    return book_hash(
        market=market,
        asset_id=asset_id,
        timestamp=timestamp,
        bids=list(bids)[::-1],
        asks=list(asks)[::-1],
        min_order_size=min_order_size,
        tick_size=tick_size,
        neg_risk=neg_risk,
        last_trade_price=last_trade_price,
    )


def hash_levels(levels: Iterable[tuple[str, str]]) -> list[Level]:
    """``(price, size)`` text pairs as the levels :func:`book_hash_unchecked` takes.

    Example:
        >>> hash_levels([("0.4", "5")])
        [Level(price='0.4', size='5')]
    """
    return [Level(price, size) for price, size in levels]


def book_hash_unchecked(
    *,
    market: str,
    asset_id: str,
    timestamp: str,
    bids: list[Level],
    asks: list[Level],
    min_order_size: str,
    tick_size: str,
    neg_risk: bool,
    last_trade_price: str | None,
) -> str:
    """:func:`book_hash` without its argument checks, for callers whose values are known good.

    A book that verifies hashes calls this with levels it already holds as the venue's text
    (:func:`hash_levels`), several times per check when the last trade price is uncertain;
    the checks would cost more than the hash. Wrong types give a wrong hash or a msgspec
    error, never a silently different recipe: prefer :func:`book_hash` elsewhere.

    Example:
        >>> book_hash_unchecked(market="0xm", asset_id="1", timestamp="1",
        ...                     bids=hash_levels([("0.4", "5")]), asks=hash_levels([("0.6", "5")]),
        ...                     min_order_size="5", tick_size="0.01", neg_risk=False,
        ...                     last_trade_price="")
        'fb229ec1d0d56e0e191e5340c250bb1f254bd797'
    """
    summary = _Summary(
        market=market,
        asset_id=asset_id,
        timestamp=timestamp,
        hash="",
        bids=bids,
        asks=asks,
        min_order_size=min_order_size,
        tick_size=tick_size,
        neg_risk=neg_risk,
        last_trade_price=msgspec.UNSET if last_trade_price is None else last_trade_price,
    )
    return hashlib.sha1(_encode(summary), usedforsecurity=False).hexdigest()
