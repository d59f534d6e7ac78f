"""``python -m polyresearch demo``: the main job, on the embedded simulator.

Until the notebook layer lands (issue "Notebook layer"), the demo is a placeholder that says so.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

__all__ = ["add_parser"]

PLACEHOLDER = (
    "polyresearch demo: not built yet. The live demo (embedded simulator -> live books, "
    "tables and charts) arrives with the 'Notebook layer' issue.\n"
    "Meanwhile: `python -m polyresearch decode --help` decodes captured frames.\n"
)


def add_parser(subparsers: Any) -> None:
    """Register the ``demo`` sub-command."""
    parser = subparsers.add_parser("demo", help="run the demo on the embedded simulator")
    parser.add_argument("--seconds", type=float, default=30.0, help="how long to run")
    parser.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    sys.stdout.write(PLACEHOLDER)
    return 0
