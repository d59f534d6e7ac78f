"""Notebook test helpers: ipywidgets' DummyComm pattern and front-end-shaped messages."""

from __future__ import annotations

import itertools
from typing import Any

_ids = itertools.count()


class DummyComm:
    """A comm with no front-end: ``messages`` holds every ``send`` (kernel -> front-end)."""

    kernel = "Truthy"

    def __init__(self, **kwargs: Any) -> None:
        self.comm_id = f"dummy-{next(_ids)}"
        self.opened_with = kwargs
        self.messages: list[dict[str, Any]] = []

    def open(self, *args: Any, **kwargs: Any) -> None:
        pass

    def on_msg(self, *args: Any, **kwargs: Any) -> None:
        pass

    def send(self, data: Any = None, metadata: Any = None, buffers: Any = None) -> None:
        self.messages.append({"data": data, "buffers": buffers or []})

    def close(self, *args: Any, **kwargs: Any) -> None:
        pass


def frontend_update(widget: Any, **state: Any) -> None:
    """Deliver a front-end 'update' message (a user edit) to ``widget``."""
    widget._handle_msg({"content": {"data": {"method": "update", "state": state}}, "buffers": []})


def frontend_click(button: Any) -> None:
    """Deliver a front-end click to a Button."""
    button._handle_msg(
        {"content": {"data": {"method": "custom", "content": {"event": "click"}}}, "buffers": []}
    )


def py2js_updates(widget: Any) -> list[dict[str, Any]]:
    """The non-empty ``_py2js_update`` payloads a FigureWidget sent (one per batch_update)."""
    out = []
    for message in widget.comm.messages:
        state = (message["data"] or {}).get("state", {})
        if state.get("_py2js_update"):
            out.append(state["_py2js_update"])
    return out
