"""caproto's synchronous client API on cawire: see :mod:`cawire.sync.client`."""
