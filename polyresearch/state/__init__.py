"""State: synchronous, loop-free order books, bounded rolling tables and account state.

Consumes normalized protocol events only (an import-linter contract keeps asyncio and
websockets out). Main pieces: :class:`~polyresearch.state.orderbook.OrderBook` and
:class:`~polyresearch.state.books.BookSet` (verified books),
:class:`~polyresearch.state.table.RollingTable` and :func:`~polyresearch.state.schemas.make_tables`
(bounded columnar tables), :class:`~polyresearch.state.store.MarketStore` (the feed's sink).
"""
