"""Transport: supervised WebSocket connections (connect, heartbeat, reconnect, resubscribe).

The only package that imports websockets, and it knows no venue: a feed plugs venue behaviour
in through :class:`~polyresearch.transport.connection.ChannelHooks`.
"""
