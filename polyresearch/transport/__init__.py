"""Transport: supervised WebSocket connections (connect, heartbeat, reconnect, resubscribe).

The only package that imports websockets. Empty until the "Streams and state" issue lands; the
package exists now so that the import-linter layer contract covers it from the start.
"""
