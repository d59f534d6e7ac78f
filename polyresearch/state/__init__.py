"""State: synchronous, loop-free order books and bounded rolling tables fed by protocol events.

Empty until the "Streams and state" issue lands; the package exists now so that the
import-linter layer contract covers it from the start.
"""
