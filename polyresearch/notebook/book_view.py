"""A live view of one order book: cumulative depth, or a price ladder.

Like the other charts it is one figure updated in place on a timer (see
:class:`~polyresearch.notebook.charts.LiveChart`); a tick redraws only when the book's top
``depth`` levels differ from those last drawn. Given a feed, it reads the book through
``feed.read`` (one call per tick for both sides), so in thread mode the levels drawn come from
one instant of the book on the feed's thread: bids and asks never cross in the drawing.

Example:
    >>> from polyresearch.state.orderbook import OrderBook
    >>> book = OrderBook("yes")
    >>> book.set_level("bid", "0.48", "100"); book.set_level("bid", "0.47", "50")
    >>> book.set_level("ask", "0.52", "30")
    >>> view = DepthChart(book, widget=False)
    >>> view.tick(), view.tick()
    (True, False)
    >>> view.figure.data[0].y.tolist(), view.figure.data[1].y.tolist()
    ([100.0, 150.0], [30.0])
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import plotly.graph_objects as go

from polyresearch.notebook.charts import FloatArray, LiveChart, reader_of
from polyresearch.state.books import BookSet
from polyresearch.state.orderbook import OrderBook

__all__ = ["DepthChart"]

Levels = tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]]


class DepthChart(LiveChart):
    """Cumulative depth (``kind="depth"``) or a price ladder (``kind="ladder"``) of one book.

    Args:
        book: an :class:`OrderBook`, a :class:`BookSet` (``feed.books``) with ``asset_id``, or
            a feed with ``asset_id`` (its ``books``, read through ``feed.read``).
        asset_id: the asset to show when ``book`` is a BookSet (it may appear later).
        depth: levels per side.
        kind: ``"depth"`` (cumulative size by price, bids left, asks right) or ``"ladder"``
            (size at each price, horizontal bars).
        **kwargs: ``interval``, ``widget`` and ``reader``, see :class:`LiveChart`.
    """

    def __init__(
        self,
        book: OrderBook | BookSet | Any,
        asset_id: str | None = None,
        *,
        depth: int = 20,
        kind: Literal["depth", "ladder"] = "depth",
        **kwargs: Any,
    ) -> None:
        if not isinstance(book, OrderBook | BookSet):
            books = getattr(book, "books", None)
            if not isinstance(books, BookSet):
                raise TypeError(f"expected an OrderBook, a BookSet or a feed, got {type(book)}")
            kwargs.setdefault("reader", reader_of(book))
            book = books
        if isinstance(book, BookSet) and asset_id is None:
            raise ValueError("asset_id is required with a BookSet")
        if kind not in ("depth", "ladder"):
            raise ValueError(f"kind must be 'depth' or 'ladder', not {kind!r}")
        self.book = book
        self.asset_id = asset_id if asset_id is not None else getattr(book, "asset_id", "")
        self.depth = depth
        self.kind = kind
        self._levels: Levels | None = None
        super().__init__((), **kwargs)

    def _current(self) -> OrderBook | None:
        if isinstance(self.book, OrderBook):
            return self.book
        return self.book[self.asset_id] if self.asset_id in self.book else None

    def tick(self) -> bool:
        """Redraw if the top levels changed since the last redraw; return whether it drew."""
        # Unlike tables, a book has no version counter: the levels themselves are compared,
        # so the copy runs every tick (through the reader: both sides at one instant).
        levels = self.read(self._copy_levels)
        if levels == self._levels:
            return False
        (bx, by), (ax, ay) = _arrays(levels[0]), _arrays(levels[1])
        if self.kind == "depth":
            by, ay = np.cumsum(by), np.cumsum(ay)
        with self.figure.batch_update():
            bids, asks = self.figure.data
            if self.kind == "depth":
                bids.x, bids.y, asks.x, asks.y = bx, by, ax, ay
            else:
                bids.y, bids.x, asks.y, asks.x = bx, by, ax, ay
        self._levels = levels
        self.redraws += 1
        return True

    def invalidate(self) -> None:
        """Force a redraw at the next tick."""
        self._levels = None

    def _copy_levels(self) -> Levels:
        book = self._current()
        if book is None:
            return ((), ())
        return (tuple(book.levels("bid", self.depth)), tuple(book.levels("ask", self.depth)))

    def _traces(self) -> list[Any]:
        if self.kind == "depth":
            return [
                go.Scatter(
                    x=[], y=[], name="bids", line_shape="hv", fill="tozeroy", line_color="green"
                ),
                go.Scatter(
                    x=[], y=[], name="asks", line_shape="hv", fill="tozeroy", line_color="red"
                ),
            ]
        return [
            go.Bar(x=[], y=[], name="bids", orientation="h", marker_color="green"),
            go.Bar(x=[], y=[], name="asks", orientation="h", marker_color="red"),
        ]

    def _layout(self) -> dict[str, Any]:
        name = self.asset_id if len(self.asset_id) <= 12 else f"{self.asset_id[:4]}…"
        if self.kind == "depth":
            axes = {"xaxis": {"title": "price"}, "yaxis": {"title": "cumulative size"}}
        else:
            axes = {"xaxis": {"title": "size"}, "yaxis": {"title": "price"}}
        return {
            "title": {"text": f"Book {name}"},
            "margin": {"l": 50, "r": 10, "t": 40, "b": 40},
            "height": 320,
            **axes,
        }


def _arrays(levels: tuple[tuple[str, str], ...]) -> tuple[FloatArray, FloatArray]:
    if not levels:
        return np.empty(0), np.empty(0)
    table = np.array(levels, dtype=np.float64)
    return table[:, 0], table[:, 1]
