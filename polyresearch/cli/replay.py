"""``python -m polyresearch replay``: replay a recording or a frame file into books and tables.

PATH is a recording directory (``record`` writes one) or a text file of raw frames, one per
line (as ``decode`` reads). Frames go through the same decoders, books and tables as a live
feed. ``--stats`` prints one JSON object: ``frames``, ``events`` (by kind), ``dropped`` (by
reason), ``books`` (per asset or slug: ``status``, ``best_bid``, ``best_ask``),
``bbo_mismatches``, ``hashes_verified``, ``hashes_unverified`` and ``notes`` (skipped chunks).
For a frame file, the CLOB hash parameters come from ``--min-order-size`` and ``--neg-risk``.
``--export DIR`` writes the replayed tables and books as ``--format csv parquet`` files.

Example:
    $ python -m polyresearch replay rec --venue clob --stats
    {"frames":5321,"events":{"book":16,...},...}
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:
    from polyresearch.record import ReplayFeed

__all__ = ["add_parser", "summary"]


def add_parser(subparsers: Any) -> None:
    """Register the ``replay`` sub-command."""
    parser = subparsers.add_parser(
        "replay",
        help="replay a recording (or a file of raw frames) into books and tables",
        description=(__doc__ or "").split("\n\n")[1],
    )
    parser.add_argument("path", type=Path, help="a recording directory or a frame file")
    parser.add_argument("--venue", choices=["clob", "us"], default=None)
    parser.add_argument(
        "--channel", default=None, help="clob: market|user; us: markets|private (default: all)"
    )
    parser.add_argument("--stats", action="store_true", help="print one JSON object of results")
    parser.add_argument("--speed", type=float, default=None, help="pace at k x real time")
    parser.add_argument(
        "--min-order-size",
        default=None,
        help='CLOB hash parameter for tokens without recorded ones (frame file default "5")',
    )
    parser.add_argument(
        "--neg-risk", action="store_true", help="CLOB hash parameter: neg-risk markets"
    )
    parser.add_argument("--hash-every", type=int, default=None, help="check 1 hash in N")
    parser.add_argument("--progress", action="store_true", help="show a progress bar (tqdm)")
    parser.add_argument(
        "--export", type=Path, default=None, help="write the replayed tables into this directory"
    )
    parser.add_argument(
        "--format",
        nargs="+",
        choices=["csv", "parquet"],
        default=["parquet"],
        help="export formats (default: parquet)",
    )
    parser.add_argument(
        "--snapshot-interval",
        type=float,
        default=None,
        help="sample the books into book_snapshots every S seconds of recorded time",
    )
    parser.add_argument(
        "--book-depth", type=int, default=10, help="levels per side in book samples and exports"
    )
    parser.set_defaults(func=_main)


def summary(feed: ReplayFeed) -> dict[str, Any]:
    """The ``--stats`` object of a replayed feed.

    Example:
        >>> from polyresearch.record import ReplayFeed
        >>> summary(ReplayFeed("clob"))["frames"]
        0
    """
    stats = feed.stats()
    books: dict[str, dict[str, Any]] = {}
    for asset in feed.books:
        book = feed.books[asset]
        bid, ask = book.best_bid(), book.best_ask()
        books[asset] = {
            "status": book.status.value,
            "best_bid": None if bid is None else bid[0],
            "best_ask": None if ask is None else ask[0],
        }
    return {
        "frames": stats.frames_in,
        "events": feed.events_by_kind(),
        "dropped": dict(stats.dropped),
        "books": books,
        "bbo_mismatches": stats.books.bbo_mismatches,
        "hashes_verified": stats.books.hashes_verified,
        "hashes_unverified": stats.books.hashes_unverified,
        "notes": dict(feed.notes),
    }


def _main(args: argparse.Namespace) -> int:
    from polyresearch.record import replay
    from polyresearch.state.books import MarketParams

    default = None
    if args.min_order_size is not None or args.neg_risk or not args.path.is_dir():
        default = MarketParams(min_order_size=args.min_order_size or "5", neg_risk=args.neg_risk)
    feed = replay(
        args.path,
        venue=args.venue,
        channel=args.channel,
        speed=args.speed,
        default_params=default,
        hash_every=args.hash_every,
        progress=args.progress or None,
        snapshot_interval=args.snapshot_interval,
        snapshot_depth=args.book_depth,
    )
    result = summary(feed)
    if args.export is not None:
        from polyresearch.record.export import export

        written = export(
            feed,
            args.export,
            formats=args.format,
            book_depth=args.book_depth,
            progress=args.progress or None,
        )
        result["exported"] = {name: [str(p) for p in paths] for name, paths in written.items()}
    if args.stats:
        sys.stdout.write(msgspec.json.encode(result).decode() + "\n")
    else:
        sys.stdout.write(
            f"replayed {result['frames']} frames into {len(result['books'])} books, "
            f"{sum(result['events'].values())} events, {sum(result['dropped'].values())} dropped\n"
        )
        if args.export is not None:
            files = sum(len(paths) for paths in result["exported"].values())
            sys.stdout.write(f"exported {files} files into {args.export}/\n")
    return 0
