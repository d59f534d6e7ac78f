"""A local exchange simulator speaking both Polymarket venues' protocols over real WebSockets.

Written from the protocol docs, independently of :mod:`polyresearch.protocol` (an import-linter
contract forbids importing it), so that it can catch our own decoders' mistakes.

Example:
    >>> import asyncio
    >>> from polyresearch.simulator import Simulator
    >>> async def main() -> str:
    ...     async with Simulator(seed=1, markets=3, rate=0) as sim:
    ...         return sim.clob_market_url.rsplit("/", 2)[-2:] == ["ws", "market"] and "ok"
    >>> asyncio.run(main())
    'ok'
"""

from polyresearch.simulator.faults import Fault, FaultSwitchboard, Target
from polyresearch.simulator.market import MarketModel, ModelConfig
from polyresearch.simulator.server import (
    AccountView,
    ClobDemoCredentials,
    SimStats,
    Simulator,
    UsDemoCredentials,
)

__all__ = [
    "AccountView",
    "ClobDemoCredentials",
    "Fault",
    "FaultSwitchboard",
    "MarketModel",
    "ModelConfig",
    "SimStats",
    "Simulator",
    "Target",
    "UsDemoCredentials",
]
