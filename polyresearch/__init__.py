"""polyresearch: live Polymarket market data for research in Jupyter and scripts.

Example:
    >>> import polyresearch
    >>> polyresearch.ClobFeed.__name__
    'ClobFeed'

Feeds and the simulator are imported on first use (``polyresearch.ClobFeed``), so that
``import polyresearch`` stays light and starts nothing: no loop, no thread, no websockets.
"""

from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any

from polyresearch.config import ClobCredentials, Secret, UsCredentials
from polyresearch.errors import (
    AuthError,
    ConfigError,
    CredentialsError,
    FrameDecodeError,
    FrameTooLargeError,
    PolyresearchError,
    ProtocolError,
    SimulatorError,
    StateError,
    TransportError,
    UnknownEventError,
)

if _TYPE_CHECKING:
    from polyresearch.feed import ClobFeed, UsFeed, aclob, clob, us
    from polyresearch.lookup import Market, MarketNotFoundError, alookup, lookup
    from polyresearch.record import Recorder, ReplayFeed, export, replay, scan_recording
    from polyresearch.simulator import Simulator

__version__ = "0.1.0"

#: Public names imported on first access: name -> module.
_LAZY = {
    "ClobFeed": "polyresearch.feed",
    "UsFeed": "polyresearch.feed",
    "aclob": "polyresearch.feed",
    "clob": "polyresearch.feed",
    "us": "polyresearch.feed",
    "Market": "polyresearch.lookup",
    "MarketNotFoundError": "polyresearch.lookup",
    "alookup": "polyresearch.lookup",
    "lookup": "polyresearch.lookup",
    "Simulator": "polyresearch.simulator",
    "Recorder": "polyresearch.record",
    "ReplayFeed": "polyresearch.record",
    "export": "polyresearch.record",
    "replay": "polyresearch.record",
    "scan_recording": "polyresearch.record",
    # A whole module: polyresearch.analysis.ohlcv(...), the helpers on the tables.
    "analysis": "polyresearch.analysis",
}


def __getattr__(name: str) -> _Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'polyresearch' has no attribute {name!r}")
    import importlib

    imported = importlib.import_module(module)
    value = imported if module == f"polyresearch.{name}" else getattr(imported, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "AuthError",
    "ClobCredentials",
    "ClobFeed",
    "ConfigError",
    "CredentialsError",
    "FrameDecodeError",
    "FrameTooLargeError",
    "Market",
    "MarketNotFoundError",
    "PolyresearchError",
    "ProtocolError",
    "Recorder",
    "ReplayFeed",
    "Secret",
    "Simulator",
    "SimulatorError",
    "StateError",
    "TransportError",
    "UnknownEventError",
    "UsCredentials",
    "UsFeed",
    "__version__",
    "aclob",
    "alookup",
    "analysis",
    "clob",
    "export",
    "lookup",
    "replay",
    "scan_recording",
    "us",
]
