"""cawire.asyncio: the asyncio Channel Access client.

Built on the same sans-I/O core (``cawire.protocol``) as the threading
client and sharing its non-I/O pieces (search schedule engine, keep-alive,
timeouts).  The public API is in :mod:`cawire.asyncio.client` (caproto's
asyncio client API).
"""
