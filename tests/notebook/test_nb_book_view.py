"""Depth view of a book: cumulative sizes equal the book's, idle books are not redrawn."""

from __future__ import annotations

import doctest

import numpy as np
import pytest
from _nb_helpers import py2js_updates

from polyresearch.feed import ClobFeed
from polyresearch.notebook import book_view
from polyresearch.notebook.book_view import DepthChart
from polyresearch.simulator import Simulator
from polyresearch.state.orderbook import BookStatus, OrderBook
from tests.conftest import wait_until


async def test_depth_of_a_live_book_matches_the_book() -> None:
    """Cumulative depth drawn from feed.books equals the cumulative sizes of the local book."""
    async with Simulator(seed=6, markets=1, rate=0) as sim:
        token = sim.markets()[0].token_ids[0]
        async with ClobFeed(assets=[token], url=sim.clob_market_url) as feed:
            view = DepthChart(feed.books, token, depth=5)
            assert view.tick() is True  # the book is not there yet: empty traces
            assert len(view.figure.data[0].x) == 0
            await wait_until(
                lambda: token in feed.books and feed.books[token].status is BookStatus.LIVE, 20
            )
            assert view.tick() is True
            bids = feed.books[token].levels("bid", 5)
            drawn = view.figure.data[0]
            assert drawn.x.tolist() == [float(p) for p, _ in bids]
            assert drawn.y.tolist() == pytest.approx(np.cumsum([float(s) for _, s in bids]))
            sent = len(py2js_updates(view.figure))
            assert view.tick() is False  # the simulator is paused (rate 0): nothing changed
            assert len(py2js_updates(view.figure)) == sent


def test_ladder_puts_price_on_the_vertical_axis() -> None:
    """The ladder shows size per price level as horizontal bars (not cumulated)."""
    book = OrderBook("yes")
    book.set_level("bid", "0.40", "10")
    book.set_level("bid", "0.39", "20")
    book.set_level("ask", "0.45", "5")
    view = DepthChart(book, kind="ladder", widget=False)
    view.tick()
    bids, asks = view.figure.data
    assert bids.y.tolist() == [0.40, 0.39] and bids.x.tolist() == [10.0, 20.0]
    assert asks.y.tolist() == [0.45] and asks.x.tolist() == [5.0]
    book.set_level("bid", "0.39", "0")
    assert view.tick() is True
    assert view.figure.data[0].x.tolist() == [10.0]


def test_bookset_needs_an_asset_and_doctest_runs() -> None:
    """A BookSet without asset_id is refused; the module example runs as written."""
    with pytest.raises(ValueError, match="asset_id"):
        DepthChart(ClobFeed(assets=["1"], url="ws://127.0.0.1:9/ws/market").books)
    assert doctest.testmod(book_view).failed == 0
