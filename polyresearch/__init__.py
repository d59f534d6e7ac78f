"""polyresearch: live Polymarket market data for research in Jupyter and scripts."""

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

__version__ = "0.1.0"

__all__ = [
    "AuthError",
    "ClobCredentials",
    "ConfigError",
    "CredentialsError",
    "FrameDecodeError",
    "FrameTooLargeError",
    "PolyresearchError",
    "ProtocolError",
    "Secret",
    "SimulatorError",
    "StateError",
    "TransportError",
    "UnknownEventError",
    "UsCredentials",
    "__version__",
]
