"""The asyncio CA server: UDP search responder, TCP listener and beacons.

:class:`Context` owns a PV database (``{name: ChannelData}``) and serves it:

* UDP, on the server port of each interface: answers SEARCH requests for
  names it has (silently ignores the others, as RSRV), one or more reply
  datagrams of at most 1024 bytes, each led by a VERSION echoing the
  request's sequence number;
* TCP, on the same port (or a free one if taken, as RSRV): one
  :class:`~cawire.server._circuit.ServerCircuit` per client;
* beacons (RSRV_IS_UP) to the beacon address list at the beacon port, fast
  at start (0.02 s doubling) then every EPICS_CAS_BEACON_PERIOD.

Configuration comes from :class:`cawire.config.Config` (read from the
environment once, in ``Context.__init__``).
"""
from __future__ import annotations

import asyncio
import itertools
import logging
import socket
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from typing import TYPE_CHECKING, Any, cast

from ..config import Config, server_beacon_addresses
from ..protocol import _commands as cmds
from ..protocol._broadcaster import Broadcaster
from ..protocol._constants import (DEFAULT_PROTOCOL_VERSION, DO_REPLY,
                                   MAX_STRING_SIZE)
from ..protocol._exceptions import RemoteProtocolError
from ..protocol._search_messages import (pack_search_replies,
                                         parse_search_requests)
from ..protocol._state import SERVER
from . import _running_servers
from ._circuit import ServerCircuit
from ._circuit_output import CircuitOutput
from ._threadsafe_queue import ThreadsafeQueue
from .access_security import watch_reloads
from .filters import ChannelNames

if TYPE_CHECKING:  # pragma: no cover
    from ._channel_data import ChannelData

__all__ = ('Context', 'AsyncioAsyncLayer', 'BEACON_START_DELAY')

logger = logging.getLogger('cawire.server')
search_logger = logging.getLogger('cawire.bcast.search')
beacon_logger = logging.getLogger('cawire.bcast.beacon')

#: First gap between beacons; it doubles until the beacon period.
BEACON_START_DELAY = 0.02
_MIN_MAX_PAYLOAD = 16384


class AsyncioAsyncLayer:
    """The ``async_lib`` handed to startup/scan/shutdown hooks."""

    name = 'asyncio'
    library = asyncio
    sleep = staticmethod(asyncio.sleep)
    Event = asyncio.Event
    Lock = asyncio.Lock
    Queue = asyncio.Queue
    ThreadsafeQueue = ThreadsafeQueue  # (ioc-compat: caproto's async_lib API)


class _SearchProtocol(asyncio.DatagramProtocol):
    def __init__(self, context: 'Context'):
        self.context = context
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes,
                          address: tuple[str, int]) -> None:
        transport = self.transport
        if transport is None:
            return
        try:
            for reply in self.context.udp_search_replies(data, address):
                transport.sendto(reply, address)
        except Exception:  # noqa: BLE001 - keep serving other searchers
            search_logger.exception('Failed to answer a search from %s',
                                    address)

    def error_received(self, exc: Exception) -> None:
        search_logger.debug('UDP error: %s', exc)


class Context:
    """A CA server for a PV database.

    Parameters
    ----------
    pvdb : dict
        PV name to :class:`~cawire.server.ChannelData`.
    interfaces : list of str, optional
        Addresses to bind (default: EPICS_CAS_INTF_ADDR_LIST, else all).
    config : Config, optional
        Configuration (default: read from the environment).
    """

    def __init__(self, pvdb: Mapping[str, 'ChannelData'],
                 interfaces: Iterable[str] | None = None,
                 config: Config | None = None):
        # ioc-compat: also answers NAME.VAL and names with channel filters.
        self.pvdb = ChannelNames(pvdb)
        self.config = config if config is not None else Config.from_environ()
        if not interfaces:
            interfaces = ([ip for ip, _ in self.config.cas_intf_addr_list]
                          or ['0.0.0.0'])
        self.interfaces = list(interfaces)
        self.port = self.config.cas_server_port
        #: The TCP port clients connect to (None until :meth:`run` binds).
        self.tcp_port: int | None = None
        self.circuits: set[ServerCircuit] = set()
        self.beacon_count = 0
        #: The UDP side's protocol object: parses search datagrams, checks
        #: and packs the beacons.
        self.broadcaster = Broadcaster(SERVER, DEFAULT_PROTOCOL_VERSION)
        self._sid_counter = itertools.count()
        self._tcp_servers: list[asyncio.Server] = []
        self._udp_transports: list[asyncio.BaseTransport] = []
        self._beacon_socket: socket.socket | None = None
        self._tasks: list[asyncio.Task] = []
        self._ignore = {ip for ip, _ in self.config.cas_ignore_addr_list}
        self._stopped: asyncio.Event | None = None
        self._started: asyncio.Event | None = None
        self.max_payload = self._compute_max_payload()
        #: Circuits given output by work done for another one (monitor
        #: updates of a client's write), written out by one loop callback.
        self._unflushed: list[CircuitOutput] = []

    def _compute_max_payload(self) -> int:
        # A write may carry every element as a 40-byte string: that bounds
        # what an honest client sends; larger declared sizes are lies.
        largest = max((getattr(data, 'max_length', 1) for data in
                       self.pvdb.values()), default=1)
        return max(_MIN_MAX_PAYLOAD, MAX_STRING_SIZE * largest + 1024)

    def flush_soon(self, output: CircuitOutput) -> None:
        """Write a circuit's queued ``output`` once the current callback
        is done: one loop callback for every circuit a change reached
        (a callback per circuit costs more than the bytes it writes)."""
        if not self._unflushed:
            asyncio.get_running_loop().call_soon(self._flush_circuits)
        self._unflushed.append(output)

    def _flush_circuits(self) -> None:
        outputs, self._unflushed = self._unflushed, []
        for output in outputs:
            output.flush()

    def new_sid(self) -> int:
        """A server channel id (u32; wraps after 2**32 channels)."""
        return next(self._sid_counter) & 0xFFFFFFFF

    # ----------------------------------------------------------------- search
    def udp_search_replies(self, data: bytes,
                           address: tuple[str, int]) -> list[bytes]:
        """Reply datagrams for one search datagram (empty: stay quiet)."""
        if address[0] in self._ignore:
            return []
        try:
            commands = self.broadcaster.recv(data, address)
        except RemoteProtocolError as exc:
            search_logger.debug('Bad datagram from %s: %s', address, exc)
            commands = getattr(exc, 'commands', None) or []
        sequence, requests = parse_search_requests(commands)
        pvdb = self.pvdb
        found = [request.cid for request in requests if request.name in pvdb]
        port = self.tcp_port
        if not found or port is None:  # nothing to offer, or not listening
            return []
        search_logger.debug('Answering %d search(es) from %s', len(found),
                            address)
        return pack_search_replies(sequence, port, found,
                                   version=DEFAULT_PROTOCOL_VERSION)

    def tcp_search_reply(self, command: cmds.SearchRequest
                         ) -> cmds.SearchResponse | cmds.NotFoundResponse | None:
        """Answer to a SEARCH received on a circuit (name-server use)."""
        if command.name in self.pvdb:
            return cmds.SearchResponse(self.tcp_port, None, command.cid, None)
        if command.reply == DO_REPLY:
            return cmds.NotFoundResponse(command.version, command.cid,
                                         reply=DO_REPLY)
        return None

    # --------------------------------------------------------------- circuits
    def _circuit_opened(self, circuit: ServerCircuit) -> None:
        self.circuits.add(circuit)

    def _circuit_closed(self, circuit: ServerCircuit) -> None:
        self.circuits.discard(circuit)

    # ---------------------------------------------------------------- startup
    async def _bind_tcp(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            server = await loop.create_server(
                lambda: ServerCircuit(self), host=self.interfaces,
                port=self.port, reuse_address=True, backlog=1024)
        except OSError as exc:
            # RSRV takes any free TCP port when its own is taken and
            # advertises that one in search replies and beacons.
            logger.warning('TCP port %d unavailable (%s); using a free one',
                           self.port, exc)
            server = await loop.create_server(
                lambda: ServerCircuit(self), host=self.interfaces, port=0,
                reuse_address=True, backlog=1024)
        self._tcp_servers.append(server)
        self.tcp_port = server.sockets[0].getsockname()[1]

    async def _bind_udp(self, loop: asyncio.AbstractEventLoop) -> None:
        for interface in self.interfaces:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if hasattr(socket, 'SO_REUSEPORT'):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
            sock.bind((interface, self.port))
            sock.setblocking(False)
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _SearchProtocol(self), sock=sock)
            self._udp_transports.append(transport)

    async def _beacon_loop(self) -> None:
        destinations = server_beacon_addresses(self.config)
        beacon_logger.debug('Beacons to %s', destinations)
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        sock.setblocking(False)
        self._beacon_socket = sock
        period = max(self.config.cas_beacon_period, BEACON_START_DELAY)
        delay = BEACON_START_DELAY
        while True:
            beacon = self.broadcaster.send(cmds.RsrvIsUpResponse(
                DEFAULT_PROTOCOL_VERSION, self.tcp_port,
                self.beacon_count & 0xFFFFFFFF, 0))
            self.beacon_count += 1
            for destination in destinations:
                try:
                    sock.sendto(beacon, destination)
                except OSError as exc:
                    beacon_logger.debug('Beacon to %s failed: %s',
                                        destination, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, period)

    async def _run_hooks(self, name: str, async_lib: 'AsyncioAsyncLayer'
                         ) -> list[Coroutine[Any, Any, Any]]:
        coroutines = []
        # A channel served under two names (NAME and NAME.VAL) runs its
        # hooks once (ioc-compat).
        unique = {id(data): data for data in self.pvdb.values()}
        for data in unique.values():
            hook = getattr(data, name, None)
            if hook is not None:
                coroutines.append(hook(async_lib))
        return coroutines

    async def run(self, *, log_pv_names: bool = False,
                  startup_hook: Callable[[AsyncioAsyncLayer],
                                         Awaitable[Any]] | None = None
                  ) -> None:
        """Serve until cancelled (or :meth:`stop`), then shut down cleanly.

        Parameters
        ----------
        log_pv_names : bool
            Log the PV names at startup.
        startup_hook : coroutine function, optional
            Awaited with the async_lib before serving.
        """
        loop = asyncio.get_running_loop()
        stopped = self._stopped = asyncio.Event()
        started = self._started = asyncio.Event()
        async_lib = AsyncioAsyncLayer()
        await self._bind_tcp(loop)
        await self._bind_udp(loop)
        logger.info('Server listening on %s port %d (TCP %d)',
                    ', '.join(self.interfaces), self.port, self.tcp_port)
        if log_pv_names:
            logger.info('PVs available:\n%s', '\n'.join(self.pvdb))
        if startup_hook is not None:
            await startup_hook(async_lib)
        self._tasks.append(loop.create_task(self._beacon_loop()))
        for coroutine in await self._run_hooks('server_startup', async_lib):
            self._tasks.append(loop.create_task(_logged(coroutine)))
        for coroutine in await self._run_hooks('server_scan', async_lib):
            self._tasks.append(loop.create_task(_logged(coroutine)))
        # ioc-compat: access security reloads reach connected clients.
        unwatch = watch_reloads(self)
        _running_servers.register(self)
        started.set()
        try:
            await stopped.wait()
        finally:
            _running_servers.unregister(self)
            unwatch()
            await self._shutdown(async_lib)

    def refresh_access_rights(self, channels: Iterable['ChannelData'] | None
                              = None) -> None:
        """Re-evaluate the access rights of connected clients on
        ``channels`` (ChannelData objects; all when None) and send
        ACCESS_RIGHTS to those whose rights changed, without reconnecting
        (after an access policy's answer changed)."""
        for circuit in list(self.circuits):
            circuit.refresh_access_rights(channels)

    async def wait_started(self) -> None:
        """Wait until the server is listening (for embedding and tests)."""
        while self._started is None:
            await asyncio.sleep(0.001)
        await self._started.wait()

    def stop(self) -> None:
        """Ask :meth:`run` to shut down."""
        if self._stopped is not None:
            self._stopped.set()

    async def _shutdown(self, async_lib: 'AsyncioAsyncLayer') -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        for circuit in list(self.circuits):
            circuit.send_server_disconnect()
            circuit.close()
        for server in self._tcp_servers:
            server.close()
        for transport in self._udp_transports:
            transport.close()
        if self._beacon_socket is not None:
            self._beacon_socket.close()
        for coroutine in await self._run_hooks('server_shutdown', async_lib):
            await _logged(coroutine)
        logger.info('Server stopped')


async def _logged(coroutine: Coroutine[Any, Any, Any]) -> None:
    try:
        await coroutine
    except asyncio.CancelledError:
        raise
    except Exception:  # noqa: BLE001 - user hook: report, keep serving
        logger.exception('Hook %s failed', getattr(coroutine, '__qualname__',
                                                   coroutine))
