"""Notebooks run top to bottom in a real kernel; their outputs show live data kept arriving."""

from __future__ import annotations

import re
import sys
import time
from importlib import metadata
from pathlib import Path

import pytest

import polyresearch
from tests._kernels import IPYKERNEL6_NAME, IPYKERNEL6_VENV, IPYKERNEL6_VERSION
from tests._nb_outputs import WIDGET_VIEW
from tests._nb_outputs import cell_errors as _errors
from tests._nb_outputs import cell_text as _text

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"


@pytest.mark.notebook
def test_quickstart_streams_and_keeps_receiving_between_cells(kernel_name: str) -> None:
    """01_quickstart in a real kernel: a dashboard widget, quotes grew while the kernel idled."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.read(NOTEBOOKS / "01_quickstart.ipynb", as_version=4)
    client = nbclient.NotebookClient(
        nb,
        kernel_name=kernel_name,
        timeout=120,
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    code = [i for i, cell in enumerate(nb.cells) if cell.cell_type == "code"]
    assert len(code) == 3
    with client.setup_kernel():
        for index in code:
            client.execute_cell(nb.cells[index], index)
            # Host-side pause with no request in flight: the kernel is idle, its loop runs on.
            time.sleep(0.5)
    cells = [nb.cells[i] for i in code]
    for cell in cells:
        assert _errors(cell) == []

    assert re.search(r"simulator on ws://127\.0\.0\.1:\d+/ws/market", _text(cells[0]))

    second = cells[1]
    assert any(WIDGET_VIEW in o.get("data", {}) for o in second.outputs)
    match = re.search(r"following 4 assets; quotes so far: (\d+)", _text(second))
    assert match is not None
    before = int(match.group(1))

    third = _text(cells[2])
    now = re.search(r"quotes now: (\d+)", third)
    trades = re.search(r"trades: (\d+); chart redraws: (\d+)", third)
    assert now is not None and trades is not None
    assert int(now.group(1)) > before  # arrived between cells 2 and 3
    assert int(trades.group(1)) >= 20
    assert int(trades.group(2)) > 0  # the dashboard's timers redrew in the kernel
    assert "shape: (5, 10)" in third  # the polars table of the last trades


@pytest.mark.notebook
def test_quickstart_rerunning_the_stream_cell_leaks_nothing(kernel_name: str) -> None:
    """Re-running cell 2 in a real kernel: one feed and one live dashboard remain, not two."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.read(NOTEBOOKS / "01_quickstart.ipynb", as_version=4)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    keep = nbformat.v4.new_code_cell("first_feed, first_board = feed, board")
    check = nbformat.v4.new_code_cell(
        "await runner.wait(lambda: not first_feed.running)\n"
        "print(sorted(runner.jobs), first_feed.running, feed.running, feed is first_feed,\n"
        "      any(c.running for c in first_board.all_charts),\n"
        "      all(c.running for c in board.all_charts))"
    )
    rerun = nbformat.v4.new_code_cell(code[1].source)
    nb.cells = [code[0], code[1], keep, rerun, check]
    client = nbclient.NotebookClient(
        nb, kernel_name=kernel_name, timeout=120, resources={"metadata": {"path": str(NOTEBOOKS)}}
    )
    client.execute()
    for cell in nb.cells:
        assert _errors(cell) == []
    assert _text(nb.cells[-1]).strip() == "['clob', 'sim'] False True False False True"


@pytest.mark.notebook
def test_each_kernel_runs_the_ipykernel_it_stands_for(kernel_name: str) -> None:
    """The ipykernel-6 kernelspec really runs ipykernel 6 (and the same polyresearch as here).

    The overlay venv sees .venv's packages, ipykernel 7 included, behind its own: were the
    order wrong, every ipykernel6 run above would silently test 7.x again.
    """
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            "import sys, ipykernel, polyresearch\n"
            "print(ipykernel.__version__, sys.prefix, polyresearch.__file__)"
        )
    ]
    nbclient.NotebookClient(nb, kernel_name=kernel_name, timeout=60).execute()
    version, prefix, package = _text(nb.cells[0]).split()
    if kernel_name == IPYKERNEL6_NAME:
        assert (version, Path(prefix)) == (IPYKERNEL6_VERSION, IPYKERNEL6_VENV)
    else:
        assert (version, Path(prefix)) == (metadata.version("ipykernel"), Path(sys.prefix))
        assert version.split(".")[0] == "7"  # the two runs cover both major versions
    assert Path(package) == Path(polyresearch.__file__)
