"""``python -m polyresearch.simulator``: run the local exchange simulator standalone.

Once listening it prints exactly one JSON line on stdout with everything a client needs
(URLs, demo credentials, asset ids, condition ids, slugs), then runs until SIGINT or SIGTERM
and exits 0. Logs go to stderr.

Faults can be switched on from the command line with ``--fault KIND[:EVERY[:ARG]]``: without
``EVERY`` the fault is applied once at start, with it the fault fires every ``EVERY`` seconds.
``ARG`` is kind-specific (see ``--help``).

Example:
    $ python -m polyresearch.simulator --port 8765 --markets 50 --rate 200 --fault malformed:10
    {"http_url": "http://127.0.0.1:8765", "seed": 0, "clob": {...}, "us": {...}}
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass

from polyresearch.simulator.faults import INJECTIONS, Fault, FaultSwitchboard
from polyresearch.simulator.server import DEFAULT_MARKETS, DEFAULT_RATE, FRONT_ENDS, Simulator

__all__ = ["build_parser", "main"]

logger = logging.getLogger("polyresearch.simulator")

FAULT_HELP = """\
fault kinds for --fault KIND[:EVERY[:ARG]] (EVERY in seconds; ARG optional):
  drop                 abort every connection
  restart              restart the server (ARG: downtime seconds, default 0)
  stall                withhold data, heartbeats continue (ARG: seconds; default: until next
                       firing, or forever without EVERY)
  mute_heartbeat       stop answering PING / sending heartbeats
  skip_delta           drop the next ARG delta frames per connection (default 1)
  skip_frames          drop the next ARG CLOB subscription book dumps (default 1)
  burst_arrays         group the next ARG events into JSON arrays (default 30)
  refuse_upgrade       answer the next ARG upgrades with 429 (default: all, forever)
  clock_skew           shift the server clock by ARG milliseconds (default 5000)
  malformed, oversized (ARG: bytes), unknown_event, missing_event_type,
  midstream_book, no_new_assets
                       inject one such frame on every connection
"""


@dataclass(frozen=True, slots=True)
class FaultSpec:
    """One ``--fault`` switch: what, how often, and its optional argument."""

    kind: Fault
    every: float | None
    arg: float | None


def _fault_spec(text: str) -> FaultSpec:
    parts = text.split(":")
    try:
        kind = Fault(parts[0])
    except ValueError:
        kinds = ", ".join(f.value for f in Fault)
        raise argparse.ArgumentTypeError(f"unknown fault {parts[0]!r} (one of: {kinds})") from None
    try:
        every = float(parts[1]) if len(parts) > 1 and parts[1] else None
        arg = float(parts[2]) if len(parts) > 2 and parts[2] else None
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"bad fault spec {text!r}: EVERY and ARG are numbers"
        ) from None
    if every is not None and every <= 0:
        raise argparse.ArgumentTypeError("EVERY must be positive")
    return FaultSpec(kind, every, arg)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (also used by ``python -m polyresearch simulate``)."""
    parser = argparse.ArgumentParser(
        prog="python -m polyresearch.simulator",
        description=(
            "Run the local Polymarket exchange simulator (CLOB and US venues, WebSockets and "
            "REST on one port). Prints one JSON line with URLs and demo credentials once "
            "listening; stops on SIGINT/SIGTERM."
        ),
        epilog=FAULT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="interface to bind (default: %(default)s)"
    )
    parser.add_argument(
        "--port", type=int, default=0, help="port to bind; 0 = any free port (default)"
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the market model and demo keys"
    )
    parser.add_argument(
        "--markets",
        type=int,
        default=DEFAULT_MARKETS,
        help="number of live markets (default: %(default)s)",
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=DEFAULT_RATE,
        help="model events per second in paced mode (default: %(default)s)",
    )
    parser.add_argument(
        "--blast",
        action="store_true",
        help="blast mode: market subscribers get pre-encoded frames as fast as the socket allows",
    )
    parser.add_argument(
        "--blast-steps",
        type=int,
        default=20_000,
        help="model steps in the blast segment (default: %(default)s)",
    )
    parser.add_argument(
        "--blast-frames",
        type=int,
        default=None,
        help="frames per connection before a blast stops (default: until disconnect)",
    )
    parser.add_argument(
        "--ping-timeout",
        type=float,
        default=30.0,
        help="CLOB: close 1008 after this many seconds without a text PING (default: %(default)s)",
    )
    parser.add_argument(
        "--subscribe-timeout",
        type=float,
        default=None,
        help="close connections that have not subscribed after this many seconds (default: never)",
    )
    parser.add_argument(
        "--heartbeat-interval",
        type=float,
        default=10.0,
        help="US: seconds between heartbeat frames (default: %(default)s)",
    )
    parser.add_argument(
        "--venue",
        action="append",
        choices=sorted(FRONT_ENDS),
        help="serve only this venue (repeatable; default: all)",
    )
    parser.add_argument(
        "--fault",
        action="append",
        type=_fault_spec,
        default=[],
        metavar="KIND[:EVERY[:ARG]]",
        help="switch a fault on (repeatable; see the list below)",
    )
    parser.add_argument(
        "--log-level",
        default="WARNING",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="log level on stderr (default: %(default)s)",
    )
    return parser


def _fire(sim: Simulator, spec: FaultSpec) -> None:
    """Apply one fault switch now."""
    faults: FaultSwitchboard = sim.faults
    kind, arg = spec.kind, spec.arg
    actions: dict[Fault, Callable[[], object]] = {
        Fault.DROP: lambda: faults.drop(),
        Fault.RESTART: lambda: faults.request_restart(arg or 0.0),
        Fault.STALL: lambda: faults.stall(seconds=arg if arg is not None else spec.every),
        Fault.MUTE_HEARTBEAT: lambda: faults.mute_heartbeat(),
        Fault.SKIP_DELTA: lambda: faults.skip_deltas(count=int(arg or 1)),
        Fault.SKIP_FRAMES: lambda: faults.skip_frames(kind="book_dump", count=int(arg or 1)),
        Fault.BURST_ARRAYS: lambda: faults.burst_arrays(events=int(arg or 30)),
        Fault.REFUSE_UPGRADE: lambda: faults.refuse_upgrades(count=int(arg) if arg else None),
        Fault.CLOCK_SKEW: lambda: faults.skew_clock(int(arg if arg is not None else 5000)),
    }
    if kind in INJECTIONS:
        if kind is Fault.OVERSIZED and arg:
            faults.inject(kind, size=int(arg))
        else:
            faults.inject(kind)
    else:
        actions[kind]()


async def _repeat(sim: Simulator, spec: FaultSpec) -> None:
    assert spec.every is not None
    while True:
        await asyncio.sleep(spec.every)
        try:
            _fire(sim, spec)
        except Exception:
            logger.exception("fault %s failed", spec.kind.value)


async def _run(args: argparse.Namespace) -> int:
    sim = Simulator(
        seed=args.seed,
        markets=args.markets,
        rate=args.rate,
        host=args.host,
        port=args.port,
        blast=args.blast,
        blast_steps=args.blast_steps,
        blast_frames=args.blast_frames,
        ping_timeout=args.ping_timeout,
        subscribe_timeout=args.subscribe_timeout,
        heartbeat_interval=args.heartbeat_interval,
        venues=args.venue,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    tasks: list[asyncio.Task[None]] = []
    async with sim:
        for spec in args.fault:
            if spec.every is None:
                _fire(sim, spec)
            else:
                tasks.append(asyncio.create_task(_repeat(sim, spec)))
        sys.stdout.write(json.dumps(sim.summary()) + "\n")
        sys.stdout.flush()
        await stop.wait()
        logger.info("stopping on signal")
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the simulator CLI; returns the exit code (0 after SIGINT/SIGTERM)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return asyncio.run(_run(args))
    except KeyboardInterrupt:  # a second Ctrl-C while shutting down
        return 0


if __name__ == "__main__":
    sys.exit(main())
