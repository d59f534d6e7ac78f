"""Run a snippet in a fresh interpreter (import-time and memory checks need a clean process)."""

from __future__ import annotations

import subprocess
import sys


def run_python(code: str) -> str:
    """Run ``code`` with this interpreter in a new process; return its stdout, stripped.

    Fails the calling test, with the child's stderr, when the child exits non-zero.
    """
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()
