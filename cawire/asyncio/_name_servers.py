"""Searching over TCP (EPICS_CA_NAME_SERVERS, CA 4.12+) with asyncio.

One TCP circuit per name server (VERSION / CLIENT_NAME / HOST_NAME
handshake); every search datagram is written into it verbatim and SEARCH
replies (or NOT_FOUND) come back.  A lost connection is retried every
EPICS_CA_CONN_TMO seconds, as libca does.
"""
from __future__ import annotations

import asyncio
import functools
import logging

from ..protocol._exceptions import CaprotoError
from ..protocol._framing import parse_stream, serialize
from ..protocol._search_messages import (NameServerSearches,
                                         name_server_handshake)
from ..protocol._state import CLIENT
from ._transport import CircuitProtocol

__all__ = ('NameServerLink',)

logger = logging.getLogger('cawire.bcast.search')



class NameServerLink:
    """The TCP search link to one name server.

    Parameters
    ----------
    address : (str, int)
    engine : SearchEngine
        Where replies are reported; asked to retry on (re)connection.
    """

    def __init__(self, address, engine, *, client_name: str, host_name: str,
                 retry_period: float):
        self.address: tuple[str, int] = (address[0], address[1])
        self.engine = engine
        self.client_name = client_name
        self.host_name = host_name
        self.retry_period = retry_period
        self.protocol: CircuitProtocol | None = None
        self.connected = False
        self.searches = NameServerSearches(self.address)
        self._closed = False
        self._task: asyncio.Task | None = None
        self._timer: asyncio.TimerHandle | None = None

    @property
    def server_version(self) -> int | None:
        """The name server's protocol minor version (None: not known)."""
        return self.searches.server_version

    def __repr__(self) -> str:
        state = 'connected' if self.connected else 'not connected'
        return f'<NameServerLink {self.address[0]}:{self.address[1]} {state}>'

    def start(self) -> None:
        if not self._closed:
            self._task = asyncio.get_running_loop().create_task(self._connect())

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        protocol = CircuitProtocol(
            parse=functools.partial(parse_stream, role=CLIENT),
            on_commands=self._on_commands, on_closed=self._on_closed)
        try:
            await loop.create_connection(lambda: protocol, *self.address)
        except OSError as exc:
            self._on_closed(f'cannot connect: {exc}')
            return
        if self._closed:
            protocol.close('broadcaster disconnected')
            return
        self.protocol = protocol
        self.connected = True
        logger.info('Connected to name server %s:%d', *self.address)
        protocol.send(bytes(buffer) for buffer in serialize(
            *name_server_handshake(self.client_name, self.host_name)))
        self.engine.retry_now()

    def send_datagram(self, payload: bytes) -> None:
        """Forward one search datagram (header + searches) verbatim."""
        if (not self.connected or self.protocol is None
                or not self.searches.takes_searches()):
            return
        try:
            self.protocol.send((payload,))
        except CaprotoError:
            pass

    def _on_commands(self, commands) -> None:
        results = self.searches.received(commands)
        if results:
            self.engine.answered(results)

    def _on_closed(self, reason: str) -> None:
        self.connected = False
        self.protocol = None
        if self._closed:
            return
        logger.warning('Name server %s:%d: %s; retrying in %.1f s',
                       *self.address, reason, self.retry_period)
        self._timer = asyncio.get_running_loop().call_later(
            self.retry_period, self.start)

    def close(self) -> None:
        """Close for good."""
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
        if self._task is not None and not self._task.done():
            self._task.cancel()
        if self.protocol is not None:
            self.protocol.close('broadcaster disconnected')
