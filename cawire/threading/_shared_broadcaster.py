"""The UDP side of the client: ``SharedBroadcaster``.

One broadcaster owns the network loop thread and the UDP socket through
which searches go out and search replies, beacons and repeater messages
come in.  Several Contexts may share it (and so share one network thread);
it disconnects when its last Context does.

At start it makes sure a repeater runs on EPICS_CA_REPEATER_PORT (spawning
``python -m cawire.repeater`` detached when the port is free, as libca
spawns caRepeater, unless CAWIRE_SPAWN_REPEATER=NO) and registers with it, retrying with a growing delay up
to ``registration_retry_time``.  Beacons are run through
``cawire.protocol._beacon_history``: anomalies re-search unresolved names soon,
regular beacons keep idle circuits from sending ECHOs, irregular ones make
the circuit check itself.
"""
from __future__ import annotations

import getpass
import logging
import random
import socket
import threading
import time
import weakref
from collections.abc import Iterable
from typing import TYPE_CHECKING

from ..config import Config, client_search_addresses
from ..protocol import _commands as ca
from ..protocol._beacon_history import BeaconEvent, BeaconHistory
from ..protocol._broadcaster import Broadcaster
from ..protocol._exceptions import CaprotoKeyError, ContextDisconnectedError
from ..protocol._client_datagrams import (BeaconNews, ClientDatagrams,
                                          servers_last_heard, tell_circuits)
from ..protocol._state import CLIENT
from ._exit import disconnect_at_exit
from ._name_servers import NameServerLink
from ._repeater_spawn import spawn_repeater_for_client
# Importable from here as before (tests and users reach it by this path).
from ._repeater_spawn import spawn_repeater_if_needed as spawn_repeater_if_needed
from ._search import ResultsQueue, SearchEngine, SearchItem
from ._selector_loop import NetworkLoop, TimerHandle

if TYPE_CHECKING:  # pragma: no cover
    from ._context import Context

__all__ = ('SharedBroadcaster',)

bcast_logger = logging.getLogger('cawire.bcast')
beacon_logger = logging.getLogger('cawire.bcast.beacon')

#: Seconds a cached search result is trusted without a live circuit to it.
STALE_SEARCH_EXPIRATION = 10.0
#: First repeater registration retry delay; doubles up to the retry time.
FIRST_REGISTRATION_RETRY = 0.1
_RECV_BUFFER_SIZE = 0xFFFF + 16
#: Datagrams read per readiness notification before other work gets a turn.
UDP_DATAGRAMS_PER_WAKEUP = 256


# Broadcasters still running are closed at interpreter exit (after contexts).
_live_broadcasters = disconnect_at_exit(bcast_logger, 'SharedBroadcaster')


class SharedBroadcaster:
    """A broadcaster client which can be shared among multiple Contexts.

    Parameters
    ----------
    registration_retry_time : float, optional
        The time, in seconds, between attempts made to register with the
        repeater.  Default is 10.  (The first retries come sooner: 0.1 s,
        doubling up to this value.)
    """

    def __init__(self, *, registration_retry_time: float = 10.0,
                 config: Config | None = None) -> None:
        self.config = config if config is not None else Config.from_environ()
        self.registration_retry_time = registration_retry_time
        self.log = logging.LoggerAdapter(bcast_logger, {'role': 'CLIENT'})
        self.listeners: weakref.WeakSet[Context] = weakref.WeakSet()
        self.search_results: dict[str, tuple] = {}  # name -> (address, time)
        self.server_protocol_versions: dict = {}
        self.registered = False
        self.client_name = getpass.getuser()
        self.host_name = socket.gethostname()
        self._lock = threading.RLock()
        self._disconnected = False
        self._registration_timer: TimerHandle | None = None
        self._registration_delay = FIRST_REGISTRATION_RETRY
        self.search_addresses = client_search_addresses(self.config)
        self.loop = NetworkLoop('cawire-network')
        self.udp_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp_sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        self.udp_sock.bind(('', 0))
        self.udp_sock.setblocking(False)
        self._recv_buffer = bytearray(_RECV_BUFFER_SIZE)
        self.beacons = BeaconHistory(time.monotonic())
        self.search_engine = SearchEngine(
            self.loop, self._send_search_datagram,
            max_search_period=self.config.max_search_period,
            on_found=self._record_results,
            read_replies=self._on_udp_readable)
        #: The core's UDP protocol state: parses datagrams, hands out
        #: search ids, tracks the repeater registration.
        self.protocol = Broadcaster(
            CLIENT, cid_in_use=self.search_engine.unanswered.__contains__,
            first_search_id=random.randint(1, 0x7FFF))
        #: The client's rules for what arrives on the UDP port.
        self.datagrams = ClientDatagrams(self.protocol, self.beacons,
                                         self.log)
        self.name_servers = [
            NameServerLink(self.loop, address, self.search_engine,
                           client_name=self.client_name,
                           host_name=self.host_name,
                           retry_period=self.config.conn_tmo)
            for address in self.config.name_servers]
        self.repeater_process = spawn_repeater_for_client(self.config)
        self.loop.register(self.udp_sock, self._on_udp_readable)
        self.loop.call_soon(self._register_with_repeater)
        for link in self.name_servers:
            self.loop.call_soon(link.start)
        self.loop.start()
        _live_broadcasters.add(self)

    def __repr__(self) -> str:
        return (f'<SharedBroadcaster unanswered_searches='
                f'{len(self.unanswered_searches)} listeners='
                f'{len(self.listeners)} registered={self.registered}>')

    # -- identity and listeners ---------------------------------------------------

    @property
    def unanswered_searches(self) -> dict:
        """search id -> SearchItem for every search not yet answered."""
        return self.search_engine.unanswered

    def new_id(self) -> int:
        """A fresh search id (the CID carried by SEARCH)."""
        with self._lock:
            return self.protocol.new_search_id()

    def new_ids(self, count: int) -> list[int]:
        """``count`` fresh search ids (one lock for a batch of names)."""
        with self._lock:
            return self.protocol.new_search_ids(count)

    def add_listener(self, listener: Context) -> None:
        """Register a context to receive search results and beacons.

        Raises if the broadcaster is closed.
        """
        self._check_open()
        self.listeners.add(listener)

    def remove_listener(self, listener: Context) -> None:
        """Unregister a context; the broadcaster closes when none is left."""
        try:
            self.listeners.remove(listener)
        except KeyError:
            pass
        if not self.listeners:
            self.disconnect()

    def _check_open(self) -> None:
        if self._disconnected:
            raise ContextDisconnectedError(
                'context disconnected: this SharedBroadcaster is closed')

    # -- lifecycle -------------------------------------------------------------------

    def disconnect(self, *, wait: bool = True) -> None:
        """Close the UDP socket and name-server circuits; stop the thread."""
        with self._lock:
            if self._disconnected:
                return
            self._disconnected = True
        _live_broadcasters.discard(self)
        done = threading.Event()

        def close_on_loop() -> None:
            try:
                if self._registration_timer is not None:
                    self._registration_timer.cancel()
                self.search_engine.close()
                for link in self.name_servers:
                    link.close()
                self.loop.unregister(self.udp_sock)
                self.udp_sock.close()
            finally:
                done.set()

        if self.loop.running and not self.loop.in_loop_thread():
            self.loop.call_soon(close_on_loop)
            done.wait(5.0)
        else:
            close_on_loop()
        self.search_results.clear()
        self.loop.stop(wait=wait)

    def __del__(self) -> None:
        try:
            if not self._disconnected:
                self.disconnect(wait=False)
        except Exception:
            pass

    # -- sending ------------------------------------------------------------------------

    def send(self, *commands: ca.Message) -> None:
        """Serialize ``commands`` into one datagram to every search address."""
        self._sendto_all(self.protocol.send(*commands))

    def _sendto_all(self, payload: bytes) -> None:
        for address in self.search_addresses:
            try:
                self.udp_sock.sendto(payload, address)
            except OSError as exc:
                self.log.warning('%s while sending %d bytes to %s:%d', exc,
                                 len(payload), *address)

    def _send_search_datagram(self, payload: bytes) -> None:
        self._sendto_all(payload)
        for link in self.name_servers:
            link.send_datagram(payload)

    # -- repeater ------------------------------------------------------------------------

    def _register_with_repeater(self) -> None:
        self._registration_timer = None
        if self.registered or self._disconnected:
            return
        request = self.protocol.register()
        try:
            self.udp_sock.sendto(bytes(request),
                                 ('127.0.0.1', self.config.repeater_port))
        except OSError as exc:
            self.log.debug('Repeater registration failed: %s', exc)
        if self.registration_retry_time is None:
            return
        delay = min(self._registration_delay, self.registration_retry_time)
        self._registration_delay = delay * 2
        self._registration_timer = self.loop.call_later(
            delay, self._register_with_repeater)

    # -- receiving (network thread) ------------------------------------------------------

    def _on_udp_readable(self) -> None:
        # Drain what is queued (bounded), so that a burst of search replies
        # is processed before the search timers look for missing answers.
        buffer = self._recv_buffer
        recvfrom_into = self.udp_sock.recvfrom_into
        for _ in range(UDP_DATAGRAMS_PER_WAKEUP):
            try:
                nbytes, address = recvfrom_into(buffer)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                # E.g. ICMP port unreachable from a previous send; not fatal.
                self.log.debug('UDP receive error: %s', exc)
                return
            if nbytes:
                # The commands may be kept: give them their own bytes.
                self.received(bytes(buffer[:nbytes]), address)

    @property
    def malformed_datagrams(self) -> int:
        """Datagrams dropped (wholly or in part) as malformed."""
        return self.datagrams.malformed_datagrams

    def received(self, bytes_recv: bytes, address: tuple[str, int]) -> None:
        """Receive and process one datagram (network thread)."""
        with self._lock:
            outcome = self.datagrams.received(bytes_recv, address,
                                              time.monotonic())
        for news in outcome.beacons:
            self._on_beacon(news)
        if outcome.registered:
            self.log.debug('Registered with the repeater')
            self.registered = True
            if self._registration_timer is not None:
                self._registration_timer.cancel()
                self._registration_timer = None
        if outcome.results:
            self.search_engine.answered(outcome.results,
                                        self.server_protocol_versions)

    def _on_beacon(self, news: BeaconNews) -> None:
        if news.events & BeaconEvent.ANOMALY:
            beacon_logger.info('Beacon anomaly from %s:%d (a server started '
                               'or came back); searching again', *news.server)
            self.search_engine.boost()
            # A (re)started server is the likeliest home of the names still
            # unanswered (e.g. the PVs of a rebooted IOC): ask again now
            # rather than at the next back-off step.
            if news.retry_now:
                self.search_engine.retry_now()
        for context in list(self.listeners):
            tell_circuits(news.events, context._circuits_to(news.server))

    # -- circuits report here (network thread) -------------------------------------------

    def circuit_connected(self, address: tuple[str, int]) -> None:
        """Note that a circuit to ``address`` is up (for beacon bookkeeping).
        """
        with self._lock:
            self.beacons.circuit_connected(address)

    def circuit_disconnected(self, address: tuple[str, int],
                             names: Iterable[str]) -> None:
        """Note that the circuit to ``address`` is gone.

        Forgets the cached search results that pointed at it, so that a new
        search for those names is not answered from the cache.

        Parameters
        ----------
        address : tuple of (str, int)
            The server's host and port.
        names : iterable of str
            The PV names that were connected over that circuit.
        """
        with self._lock:
            self.beacons.circuit_disconnected(address)
            for name in names:
                cached = self.search_results.get(name)
                if cached is not None and cached[0] == address:
                    del self.search_results[name]

    # -- searching ------------------------------------------------------------------------

    def get_cached_search_result(self, name: str, *,
                                 threshold: float = STALE_SEARCH_EXPIRATION
                                 ) -> tuple[str, int]:
        """Returns address if found, raises KeyError if missing or stale."""
        with self._lock:
            try:
                address, found_at = self.search_results[name]
            except KeyError:
                raise CaprotoKeyError(f'{name!r}: no cached search result') \
                    from None
            if time.monotonic() - found_at <= threshold:
                return address
            for context in list(self.listeners):
                for cm in context._circuits_to(address):
                    if cm.connected and name in cm.all_created_pvnames:
                        self.search_results[name] = (address, time.monotonic())
                        return address
            del self.search_results[name]
        raise CaprotoKeyError(f'{name!r}: stale search result')

    def _record_results(self, address, names) -> None:
        # One (address, time) pair shared by the names of a reply: a pair
        # and a float per name would be ~80 bytes per PV.
        found = (address, time.monotonic())
        with self._lock:
            results = self.search_results
            for name in names:
                results[name] = found

    def search(self, results_queue: ResultsQueue, names: Iterable[str], *,
               timeout: float | None = 2, governed: bool = False,
               retry_unanswered: bool = True,
               released_by_anomaly: bool = False) -> None:
        """Search for PV names.

        The ``results_queue`` (any object with a ``put`` method) receives
        ``(address, names)`` when results are received, on the network
        thread.  Cached results are put immediately from this thread.
        Unanswered searches are retried on libca's schedule until answered
        or cancelled; ``timeout`` is accepted for compatibility and unused.
        ``governed`` names wait for the disconnect governor (and, with
        ``released_by_anomaly``, for a beacon anomaly if sooner).
        """
        self._check_open()
        needs_search = []
        cached: dict[tuple[str, int], list[str]] = {}
        results = self.search_results
        for name in names:
            if name not in results:  # the common case: no exception cost
                needs_search.append(name)
                continue
            try:
                address = self.get_cached_search_result(name)
            except KeyError:
                needs_search.append(name)
            else:
                cached.setdefault(address, []).append(name)
        for address, found in cached.items():
            results_queue.put((address, found))
        items = [SearchItem(search_id, name, results_queue)
                 for search_id, name in zip(self.new_ids(len(needs_search)),
                                            needs_search)]
        if not items and not retry_unanswered:
            return
        engine = self.search_engine
        if governed:
            self.loop.call_soon(engine.add_governed, items,
                                released_by_anomaly)
        else:
            self.loop.call_soon(engine.add, items, retry_unanswered)

    def cancel(self, *names: str) -> None:
        """Cancel searches for these names.

        Parameters
        ----------
        *names : str
            any number of PV names

        Notes
        -----
        Any PV instances that were awaiting these results will be stuck until
        :meth:`get_pvs` is called again.
        """
        done = threading.Event()

        def cancel_on_loop() -> None:
            try:
                self.search_engine.cancel_names(names)
            finally:
                done.set()

        if self.loop.in_loop_thread():
            cancel_on_loop()
        elif not self._disconnected:
            self.loop.call_soon(cancel_on_loop)
            done.wait(5.0)

    def _cancel_queue(self, results_queue) -> None:
        self.loop.call_soon(self.search_engine.cancel_queue, results_queue)

    def search_now(self) -> None:
        """Force the Broadcaster to reissue all unanswered search requests now.

        Left to its own devices, the Broadcaster does this on libca's
        schedule; this is meant for debugging.
        """
        self._check_open()
        self.loop.call_soon(self.search_engine.retry_now)

    def command_loop(self) -> None:
        """Block until the network loop (which processes every received
        command as it arrives) stops.  Provided for compatibility: there is
        no separate command thread to run."""
        thread = self.loop._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    def time_since_last_heard(self) -> dict:
        """Map each known server address to seconds since its last message.

        The time is reset whenever a beacon, a search reply or any TCP
        traffic arrives from the server.
        """
        now = time.monotonic()
        receipts = [(cm.address, cm.last_tcp_receipt)
                    for context in list(self.listeners)
                    for cm in list(context.circuit_managers.values())
                    if not cm.dead.is_set()]
        with self._lock:
            return servers_last_heard(self.beacons, now, receipts)
