"""Reading an executed notebook's cells: what the notebook tests assert on."""

from __future__ import annotations

from typing import Any

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def cell_text(cell: Any) -> str:
    """Everything a cell printed or showed as plain text, in order."""
    parts = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            parts.append(output["text"])
        elif "data" in output:
            parts.append(output["data"].get("text/plain", ""))
    return "".join(parts)


def cell_errors(cell: Any) -> list[str]:
    """``"Name: value"`` of every error output of a cell (empty: it ran cleanly)."""
    return [
        output.get("ename", "") + ": " + output.get("evalue", "")
        for output in cell.get("outputs", [])
        if output.get("output_type") == "error"
    ]
