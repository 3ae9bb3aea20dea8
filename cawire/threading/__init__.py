"""cawire's threading client; the public API is in :mod:`cawire.threading.client`."""
