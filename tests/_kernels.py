"""The Jupyter kernels the notebook tests run in: this venv's ipykernel (7.x) and 6.x.

ipykernel 7 changed how a kernel runs its threads and event loop (peers.md §3: background
tasks, threads and ``Output`` regressed there), and many users still run 6.x (VS Code, Colab,
older JupyterHubs). ``pyproject.toml`` promises ``ipykernel>=6.29``, so every notebook test
runs in both: ``python3`` (the kernelspec of the test interpreter, so this venv's ipykernel)
and :data:`IPYKERNEL6_NAME`, a kernelspec written here for the overlay venv that
``scripts/setup.sh dev`` builds in ``.venv-ipykernel6`` (only ipykernel 6 in it; .venv's
packages, polyresearch included, importable behind it).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
IPYKERNEL6_VENV = ROOT / ".venv-ipykernel6"
IPYKERNEL6_VERSION = "6.29.5"  # keep in step with scripts/setup.sh
IPYKERNEL6_NAME = "polyresearch-ipykernel6"
#: Test ids of the kernels, in order: the venv's own, then the overlay's.
KERNELS = ("ipykernel-venv", "ipykernel6")


def use_kernel(which: str, monkeypatch: pytest.MonkeyPatch, spec_root: Path) -> str:
    """Make kernel ``which`` (one of :data:`KERNELS`) startable; return its kernelspec name.

    For ``ipykernel6`` a kernelspec pointing at the overlay's interpreter is written under
    ``spec_root`` and put first on ``JUPYTER_PATH`` for this test. A missing overlay skips
    the test on a developer's machine (with the command that builds it) and fails it under
    CI, where ``scripts/setup.sh dev`` must have built it.
    """
    if which == "ipykernel-venv":
        return "python3"
    python = IPYKERNEL6_VENV / "bin" / "python"
    ready = IPYKERNEL6_VENV / f"ready-{IPYKERNEL6_VERSION}"
    if not (python.exists() and ready.exists()):
        message = f"no ipykernel {IPYKERNEL6_VERSION} overlay: run `bash scripts/setup.sh dev`"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    spec = spec_root / "kernels" / IPYKERNEL6_NAME
    spec.mkdir(parents=True, exist_ok=True)
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": f"Python 3 (ipykernel {IPYKERNEL6_VERSION})",
                "language": "python",
            }
        )
    )
    paths = [str(spec_root), *filter(None, os.environ.get("JUPYTER_PATH", "").split(os.pathsep))]
    monkeypatch.setenv("JUPYTER_PATH", os.pathsep.join(paths))
    return IPYKERNEL6_NAME
