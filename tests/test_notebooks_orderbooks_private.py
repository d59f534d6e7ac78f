"""02_orderbooks and 04_private_account run top to bottom in a real kernel (nbclient).

The assertions read the cells' outputs: books printed equal to the simulator's ground truth,
counts that must be positive, data that kept arriving between cells, live widgets displayed, and
no credential secret anywhere in any output (stdout, stderr, rich outputs, tracebacks).
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest

from polyresearch.simulator.server import demo_credentials
from tests._nb_outputs import WIDGET_VIEW
from tests._nb_outputs import cell_text as _text

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"

PLOTLY = "application/vnd.plotly.v1+json"


def _run(name: str, kernel_name: str) -> tuple[Any, list[Any]]:
    """Execute a notebook cell by cell with idle pauses between cells; return it and its code."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = nbclient.NotebookClient(
        nb, kernel_name=kernel_name, timeout=90, resources={"metadata": {"path": str(NOTEBOOKS)}}
    )
    code = [i for i, cell in enumerate(nb.cells) if cell.cell_type == "code"]
    with client.setup_kernel():
        for index in code:
            client.execute_cell(nb.cells[index], index)
            # Host-side pause with no request in flight: the kernel idles, its loop runs on.
            time.sleep(0.3)
    return nb, [nb.cells[i] for i in code]


def _errors(cells: list[Any]) -> list[str]:
    return [
        f"{o.get('ename')}: {o.get('evalue')}"
        for cell in cells
        for o in cell.get("outputs", [])
        if o.get("output_type") == "error"
    ]


def _has(cell: Any, mime: str) -> bool:
    return any(mime in o.get("data", {}) for o in cell.get("outputs", []))


def _seed(nb: Any) -> int:
    match = re.search(r"Simulator\(seed=(\d+)", "".join(c.source for c in nb.cells))
    assert match is not None
    return int(match.group(1))


def _assert_no_secrets(nb: Any) -> None:
    """No secret of either demo account appears in any output of any cell."""
    clob, us = demo_credentials(_seed(nb))
    outputs = json.dumps([cell.get("outputs", []) for cell in nb.cells])
    for secret in (clob.secret, clob.passphrase, us.secret_key):
        assert len(secret) >= 32
        assert secret not in outputs
        assert secret not in outputs.replace("\\/", "/")


def _number(pattern: str, text: str, group: int = 1) -> int:
    match = re.search(pattern, text)
    assert match is not None, f"{pattern!r} not in {text!r}"
    return int(match.group(group))


@pytest.mark.notebook
def test_orderbooks_notebook_books_equal_ground_truth(kernel_name: str) -> None:
    """02: books equal the simulator's level by level, YES mirrors 1-NO, hashes verify, US too."""
    nb, cells = _run("02_orderbooks.ipynb", kernel_name)
    assert _errors(cells) == []
    start, follow, compare, top, both, live, status, us, stop = cells

    assert re.search(r"simulator on ws://127\.0\.0\.1:\d+/ws/market", _text(start))
    assert "following 6 tokens of 3 markets; live books: 6" in _text(follow)

    assert "books equal ground truth: True (6 books, " in _text(compare)
    assert _number(r"\((?:\d+) books, (\d+) levels compared\)", _text(compare)) >= 12
    assert "shape: (" in _text(top)  # the side-by-side DataFrame of one book's top

    mirror = re.search(r"YES bids mirror NO asks: (\w+); .*, equal: (\w+)", _text(both))
    assert mirror is not None
    assert mirror.groups() == ("True", "True")

    assert _has(live, WIDGET_VIEW)  # the live depth + price charts
    assert _has(live, PLOTLY)  # the static ladder figure
    assert "cumulative size" in _text(live)

    text = _text(status)
    assert _number(r"changes applied since the comparison: (\d+)", text) > 0  # kept arriving
    assert "books live 6, suspect 0, empty 0, terminal 0" in text
    assert _number(r"hashes verified (\d+)", text) > 0
    assert "unverified 0" in text
    assert _number(r"BBO checks (\d+)", text) > 0
    assert "mismatches 0" in text
    assert text.count("LIVE") == 6

    assert "US books equal the YES ground truth: True" in _text(us)
    assert "secret_key=<redacted>" in _text(us)
    assert "stopped: clob running=False, us running=False" in _text(stop)
    _assert_no_secrets(nb)


@pytest.mark.notebook
def test_private_account_notebook_state_equals_the_simulators_account(kernel_name: str) -> None:
    """04: CLOB + US private state equal the accounts; fills drawn; no secret in any output."""
    nb, cells = _run("04_private_account.ipynb", kernel_name)
    assert _errors(cells) == []
    start, creds, feeds, clob, clob_fills, us, chart, grow, stop = cells

    assert re.search(r"simulator on ws://127\.0\.0\.1:\d+; the accounts trade in 3", _text(start))
    assert re.search(
        r"ClobCredentials\(api_key='.{4}…', secret=<redacted>, passphrase=<redacted>\)",
        _text(creds),
    )
    assert "secret_key=<redacted>" in _text(creds)
    assert _number(r"CLOB: (\d+) order/trade rows", _text(feeds)) > 0
    assert _number(r"US: (\d+) order rows", _text(feeds)) > 0

    text = _text(clob)
    assert "CLOB open orders equal the account: True" in text
    assert _number(r"\((\d+) open, \d+ fills\)", text) >= 1
    assert _number(r"\(\d+ open, (\d+) fills\)", text) >= 8
    assert "status" in _text(clob_fills)

    text = _text(us)
    assert "US orders, positions and balance equal the account: True" in text
    assert _number(r"\((\d+) open orders", text) >= 1
    assert _number(r"(\d+) positions", text) >= 1

    assert _has(chart, WIDGET_VIEW)
    assert _number(r"chart redraws (\d+)", _text(chart)) > 0
    assert _number(r"own fills drawn (\d+)", _text(chart)) > 0

    text = _text(grow)
    assert _number(r"private rows since the chart cell: (\d+)", text) > 0  # kept arriving
    assert "account continuous: True" in text
    assert "stopped: clob running=False, us running=False" in _text(stop)
    _assert_no_secrets(nb)
