"""Searching over TCP: EPICS_CA_NAME_SERVERS (CA 4.12+, ca-protocol 6.7).

For each configured name server the client keeps one TCP circuit open (the
normal VERSION / CLIENT_NAME / HOST_NAME handshake), writes every search
datagram into it verbatim, and reads back SEARCH replies (payload-less TCP
form) or NOT_FOUND.  A lost connection is retried every EPICS_CA_CONN_TMO
seconds, as libca does.
"""
from __future__ import annotations

import errno
import functools
import logging
import socket
from typing import TYPE_CHECKING

from ..protocol._exceptions import CaprotoError
from ..protocol._framing import parse_stream, serialize
from ..protocol._search_messages import (NameServerSearches,
                                         name_server_handshake)
from ..protocol._state import CLIENT
from ._transport import StreamTransport

if TYPE_CHECKING:  # pragma: no cover
    from ._search import SearchEngine
    from ._selector_loop import NetworkLoop
    from ._timers import TimerHandle

__all__ = ('NameServerLink',)

logger = logging.getLogger('cawire.bcast.search')



class NameServerLink:
    """A persistent search circuit to one name server (network thread).

    Parameters
    ----------
    loop : NetworkLoop
    address : (str, int)
    engine : SearchEngine
        Receives the replies.
    client_name, host_name : str
    retry_period : float
        Seconds between reconnection attempts (EPICS_CA_CONN_TMO).
    """

    def __init__(self, loop: NetworkLoop, address: tuple[str, int],
                 engine: SearchEngine, *, client_name: str,
                 host_name: str, retry_period: float) -> None:
        self.loop = loop
        self.address: tuple[str, int] = (address[0], address[1])
        self.engine = engine
        self.client_name = client_name
        self.host_name = host_name
        self.retry_period = retry_period
        self.transport: StreamTransport | None = None
        self.connected = False
        self.searches = NameServerSearches(self.address)
        self._closed = False
        self._timer: TimerHandle | None = None

    @property
    def server_version(self) -> int | None:
        """The name server's protocol minor version (None: not known)."""
        return self.searches.server_version

    def __repr__(self) -> str:
        state = 'connected' if self.connected else 'not connected'
        return f'<NameServerLink {self.address[0]}:{self.address[1]} {state}>'

    def start(self) -> None:
        if self._closed:
            return
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        transport = self.transport = StreamTransport(
            self.loop, sock,
            parse=functools.partial(parse_stream, role=CLIENT),
            on_commands=self._on_commands, on_closed=self._on_closed,
            name=f'name server {self.address[0]}:{self.address[1]}')
        try:
            code = sock.connect_ex(self.address)
        except OSError as exc:
            code = exc.errno or errno.EIO
        if code not in (0, errno.EINPROGRESS, errno.EWOULDBLOCK):
            transport.close(f'cannot connect: '
                                 f'{errno.errorcode.get(code, code)}')
            return
        self.loop.register(sock, None, self._on_connect_writable)

    def _on_connect_writable(self) -> None:
        transport = self.transport
        if transport is None:
            return
        code = transport.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if code:
            transport.close(f'cannot connect: {errno.errorcode.get(code, code)}')
            return
        self.loop.register(transport.sock, transport.on_readable, None)
        self.connected = True
        logger.info('Connected to name server %s:%d', *self.address)
        transport.send(serialize(
            *name_server_handshake(self.client_name, self.host_name)))
        # Everything still unanswered goes to the new circuit at once.
        self.engine.retry_now()

    def send_datagram(self, payload: bytes) -> None:
        """Forward one search datagram (header + searches) verbatim."""
        if (not self.connected or self.transport is None
                or not self.searches.takes_searches()):
            return
        try:
            self.transport.send((payload,))
        except CaprotoError:
            pass

    def _on_commands(self, commands) -> None:
        results = self.searches.received(commands)
        if results:
            self.engine.answered(results)

    def _on_closed(self, reason: str) -> None:
        self.connected = False
        self.transport = None
        if self._closed:
            return
        logger.warning('Name server %s:%d: %s; retrying in %.1f s',
                       *self.address, reason, self.retry_period)
        self._timer = self.loop.call_later(self.retry_period, self.start)

    def close(self) -> None:
        """Close for good (network thread)."""
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
        if self.transport is not None:
            self.transport.close('broadcaster disconnected')
