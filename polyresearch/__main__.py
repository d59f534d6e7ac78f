"""``python -m polyresearch``: the command-line interface.

Commands:
    decode      decode raw frames (one per line) into normalized events
    simulate    run the local exchange simulator (same as ``python -m polyresearch.simulator``)
    demo        the main job: stream from the embedded simulator (see README)
    record      record raw frames of a feed to Parquet
    replay      replay a recording (or a frame file) into books and tables
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code."""
    argv = sys.argv[1:] if argv is None else argv
    # `simulate` hands its arguments straight to the simulator's own parser (one source of truth).
    if argv[:1] == ["simulate"]:
        from polyresearch.simulator.__main__ import main as simulate

        code: int = simulate(argv[1:])
        return code
    parser = argparse.ArgumentParser(prog="python -m polyresearch", description=__doc__)
    subparsers = parser.add_subparsers(dest="command", required=True)
    from polyresearch.cli import decode, demo

    decode.add_parser(subparsers)
    subparsers.add_parser(
        "simulate", help="run the local exchange simulator (see: simulate --help)"
    )
    demo.add_parser(subparsers)
    from polyresearch.cli import record, replay

    record.add_parser(subparsers)
    replay.add_parser(subparsers)
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
