"""The UDP side of the asyncio client: ``SharedBroadcaster``.

One broadcaster owns the UDP socket through which searches go out and search
replies, beacons and repeater confirmations come in; several Contexts on one
event loop may share it.  The rules are the ones the threading client
follows, from the same pieces: the retry schedule is
``cawire.threading._search.SearchEngine`` (libca's timers, from the core's
``SearchSchedule``; it only needs ``loop.call_at`` on the monotonic clock,
which an asyncio loop provides), beacon anomalies come from the core's
``BeaconHistory``, repeater spawning from the threading client's helper.
Searches also go over TCP to EPICS_CA_NAME_SERVERS (:mod:`._name_servers`).
"""
from __future__ import annotations

import asyncio
import getpass
import logging
import random
import socket
import time
import weakref
from typing import Any, cast

from ..config import Config, client_search_addresses
from ..protocol._beacon_history import BeaconEvent, BeaconHistory
from ..protocol._broadcaster import Broadcaster
from ..protocol._client_datagrams import (BeaconNews, ClientDatagrams,
                                          servers_last_heard, tell_circuits)
from ..protocol._exceptions import ContextDisconnectedError
from ..protocol._state import CLIENT
from ..threading._search import SearchEngine, SearchItem
from ..threading._repeater_spawn import spawn_repeater_for_client
from ._name_servers import NameServerLink

__all__ = ('SharedBroadcaster',)

bcast_logger = logging.getLogger('cawire.bcast')
beacon_logger = logging.getLogger('cawire.bcast.beacon')

FIRST_REGISTRATION_RETRY = 0.1


class _DatagramProtocol(asyncio.DatagramProtocol):
    def __init__(self, broadcaster: 'SharedBroadcaster'):
        self._broadcaster = weakref.ref(broadcaster)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        broadcaster = self._broadcaster()
        if broadcaster is not None:
            broadcaster.received(data, addr)

    def error_received(self, exc: Exception) -> None:
        bcast_logger.debug('UDP error: %s', exc)


class SharedBroadcaster:
    """Searches, beacons and repeater registration for asyncio Contexts.

    Parameters
    ----------
    registration_retry_time : float
        Longest delay between repeater registration attempts (the first
        retries come after 0.1 s, doubling).
    config : Config, optional
        Default: read from the environment.
    """

    def __init__(self, *, registration_retry_time: float = 10.0,
                 config: Config | None = None):
        self.config = config if config is not None else Config.from_environ()
        self.registration_retry_time = registration_retry_time
        self.log = logging.LoggerAdapter(bcast_logger, {'role': 'CLIENT'})
        self.listeners: weakref.WeakSet = weakref.WeakSet()
        self.server_protocol_versions: dict = {}
        self.registered = False
        self.client_name = getpass.getuser()
        self.host_name = socket.gethostname()
        self.search_addresses = client_search_addresses(self.config)
        self.beacons = BeaconHistory(time.monotonic())
        #: The core's UDP protocol state (parses datagrams, hands out
        #: search ids, tracks the repeater registration) and the client's
        #: rules for what arrives.
        self.protocol = Broadcaster(
            CLIENT, cid_in_use=self._search_id_in_use,
            first_search_id=random.randint(1, 0x7FFF))
        self.datagrams = ClientDatagrams(self.protocol, self.beacons,
                                         self.log)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._transport: asyncio.DatagramTransport | None = None
        self._opening: asyncio.Future | None = None
        self._disconnected = False
        self._registration_timer: asyncio.TimerHandle | None = None
        self._registration_delay = FIRST_REGISTRATION_RETRY
        self.search_engine: SearchEngine | None = None
        self.name_servers: list[NameServerLink] = []
        self.repeater_process: Any = None

    def __repr__(self) -> str:
        unanswered = (0 if self.search_engine is None
                      else len(self.search_engine.unanswered))
        return (f'<SharedBroadcaster (asyncio) unanswered_searches='
                f'{unanswered} listeners={len(self.listeners)} '
                f'registered={self.registered}>')

    # -- lifecycle ---------------------------------------------------------

    async def open(self) -> None:
        """Bind the UDP socket and start registering (idempotent)."""
        if self._disconnected:
            raise ContextDisconnectedError('this SharedBroadcaster is closed')
        if self._transport is not None:
            return
        if self._opening is not None:
            await asyncio.shield(self._opening)
            return
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._opening = loop.create_future()
        try:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
                sock.bind(('', 0))
                sock.setblocking(False)
            except OSError:
                sock.close()
                raise
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _DatagramProtocol(self), sock=sock)
            self._transport = transport
            # SearchEngine is annotated with the threading client's loop;
            # it needs only call_at on the monotonic clock, which an
            # asyncio loop has (structural reuse, hence the cast).
            self.search_engine = SearchEngine(
                cast(Any, loop), self._send_search_datagram,
                max_search_period=self.config.max_search_period)
            self.repeater_process = spawn_repeater_for_client(self.config)
            self._register_with_repeater()
            self.name_servers = [
                NameServerLink(address, self.search_engine,
                               client_name=self.client_name,
                               host_name=self.host_name,
                               retry_period=self.config.conn_tmo)
                for address in self.config.name_servers]
            for link in self.name_servers:
                link.start()
        except BaseException as exc:
            self._opening.set_exception(exc)
            self._opening.exception()   # retrieved: waiters re-raise it
            self._opening = None
            raise
        self._opening.set_result(None)

    @property
    def is_open(self) -> bool:
        """True while the UDP socket is open and not disconnected."""
        return self._transport is not None and not self._disconnected

    def add_listener(self, listener) -> None:
        """Register a context to receive search results and beacons."""
        self.listeners.add(listener)

    def remove_listener(self, listener) -> None:
        """Unregister a context (no error if absent)."""
        self.listeners.discard(listener)

    def disconnect(self) -> None:
        """Close the UDP socket and the name-server links."""
        if self._disconnected:
            return
        self._disconnected = True
        if self._registration_timer is not None:
            self._registration_timer.cancel()
            self._registration_timer = None
        if self.search_engine is not None:
            self.search_engine.close()
        for link in self.name_servers:
            link.close()
        if self._transport is not None:
            self._transport.close()
        self.listeners = weakref.WeakSet()

    # -- sending -----------------------------------------------------------

    def _sendto_all(self, payload: bytes) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        for address in self.search_addresses:
            try:
                transport.sendto(payload, address)
            except OSError as exc:
                self.log.warning('%s while sending %d bytes to %s:%d', exc,
                                 len(payload), *address)

    def _send_search_datagram(self, payload: bytes) -> None:
        self._sendto_all(payload)
        for link in self.name_servers:
            link.send_datagram(payload)

    def _register_with_repeater(self) -> None:
        self._registration_timer = None
        if self.registered or self._disconnected or self._transport is None:
            return
        try:
            self._transport.sendto(bytes(self.protocol.register()),
                                   ('127.0.0.1', self.config.repeater_port))
        except OSError as exc:
            self.log.debug('Repeater registration failed: %s', exc)
        delay = min(self._registration_delay, self.registration_retry_time)
        self._registration_delay = delay * 2
        assert self._loop is not None
        self._registration_timer = self._loop.call_later(
            delay, self._register_with_repeater)

    # -- searching ---------------------------------------------------------

    def _search_id_in_use(self, search_id: int) -> bool:
        engine = self.search_engine
        return engine is not None and search_id in engine.unanswered

    def new_id(self) -> int:
        """A fresh search id (the CID carried by SEARCH)."""
        return self.protocol.new_search_id()

    def search(self, results_queue, names, *, governed: bool = False,
               retry_unanswered: bool = True,
               released_by_anomaly: bool = False,
               server: tuple[str, int] | None = None,
               failed: bool = False) -> None:
        """Search for ``names``; ``results_queue.put((address, names))``
        is called on the loop as replies arrive."""
        if self._disconnected:
            raise ContextDisconnectedError('this SharedBroadcaster is closed')
        engine = self.search_engine
        if engine is None:
            raise ContextDisconnectedError('the SharedBroadcaster is not open')
        items = [SearchItem(self.new_id(), name, results_queue)
                 for name in names]
        if governed:
            engine.add_governed(items, released_by_anomaly, server, failed)
        elif items or retry_unanswered:
            engine.add(items, retry_unanswered)

    def cancel_queue(self, results_queue) -> None:
        """Forget every search reporting to ``results_queue``."""
        if self.search_engine is not None:
            self.search_engine.cancel_queue(results_queue)

    def search_now(self) -> None:
        """Send every unanswered search again now (debugging)."""
        if self.search_engine is not None:
            self.search_engine.retry_now()

    # -- receiving ---------------------------------------------------------

    @property
    def malformed_datagrams(self) -> int:
        """Datagrams dropped (wholly or in part) as malformed."""
        return self.datagrams.malformed_datagrams

    def received(self, data: bytes, address) -> None:
        """Process one datagram."""
        outcome = self.datagrams.received(data, address, time.monotonic())
        for news in outcome.beacons:
            self._on_beacon(news)
        if outcome.registered:
            self.registered = True
            if self._registration_timer is not None:
                self._registration_timer.cancel()
                self._registration_timer = None
        if outcome.results and self.search_engine is not None:
            self.search_engine.answered(outcome.results,
                                        self.server_protocol_versions)

    def _on_beacon(self, news: BeaconNews) -> None:
        engine = self.search_engine
        if news.events & BeaconEvent.ANOMALY and engine is not None:
            beacon_logger.info('Beacon anomaly from %s:%d (a server started '
                               'or came back); searching again', *news.server)
            engine.boost(news.server)
            # Names waiting in the disconnect governor keep waiting (those
            # of a circuit to this server were released by boost).
            if news.retry_now:
                engine.retry_now(governed=False)
        for context in list(self.listeners):
            tell_circuits(news.events, context._circuits_to(news.server))

    def circuit_connected(self, address) -> None:
        """Note that a circuit to ``address`` is up (for beacon bookkeeping).
        """
        self.beacons.circuit_connected(address)

    def circuit_disconnected(self, address) -> None:
        """Note that the circuit to ``address`` is gone (beacon bookkeeping).
        """
        self.beacons.circuit_disconnected(address)

    def time_since_last_heard(self) -> dict:
        """Seconds since each known server was last heard from."""
        receipts = [(cm.address, cm.last_tcp_receipt)
                    for context in list(self.listeners)
                    for cm in context._live_circuits()]
        return servers_last_heard(self.beacons, time.monotonic(), receipts)
