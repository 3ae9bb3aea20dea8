"""Fault injection on loopback: a lossy/slow proxy and hostile CA peers.

Everything here listens on and talks to 127.0.0.1 only, on ports from
:func:`cawire.testing.epics.free_port`, runs its threads as daemons with
bounded waits, and stops them (closing every socket) on ``close()`` or at
the end of a ``with`` block.

* :class:`FaultProxy` (:mod:`.fault_proxy`) stands between CA clients and
  one server: drops a fraction of search datagrams, delays or throttles
  TCP, pauses one direction of every circuit, or cuts all circuits.
* :class:`HostileServer` (:mod:`.hostile_server`) is a fake CA server:
  correct handshake, then the attack it was built with (:data:`ATTACKS`).
* :class:`HostileClient` (:mod:`.hostile_client`) is a raw CA client that
  misbehaves against a server: garbage, lying sizes, never reading,
  thousands of channels.
* :func:`open_fds` / :func:`describe_fds` check for leaked descriptors.
"""
from __future__ import annotations

import os
from collections.abc import Iterable

from .fault_proxy import DOWN, UP, FaultProxy
from .hostile_client import HostileClient
from .hostile_server import ATTACKS, HostileServer

__all__ = ('FaultProxy', 'HostileServer', 'HostileClient', 'ATTACKS',
           'UP', 'DOWN', 'open_fds', 'describe_fds')


def open_fds() -> set[int]:
    """File descriptors open in this process (Linux)."""
    return {int(name) for name in os.listdir('/proc/self/fd')}


def describe_fds(fds: Iterable[int]) -> dict[int, str]:
    """fd -> what it points at (socket:[inode], pipe:[...], a path)."""
    described = {}
    for fd in fds:
        try:
            described[fd] = os.readlink(f'/proc/self/fd/{fd}')
        except OSError:
            pass
    return described
