"""Sans-I/O protocol layer: raw frames in, typed normalized events out; messages to send out.

Nothing here opens a socket, awaits, or reads the clock: timestamps are arguments. An
import-linter contract keeps asyncio, sockets and websockets out of this package.
"""
