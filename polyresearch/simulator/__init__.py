"""A local exchange simulator speaking both Polymarket venues' protocols over real WebSockets.

Written from the protocol docs, independently of :mod:`polyresearch.protocol` (an import-linter
contract forbids importing it), so that it can catch our own decoders' mistakes.
"""
