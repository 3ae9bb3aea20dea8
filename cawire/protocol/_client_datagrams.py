"""What a client makes of each datagram on its UDP port.

Both clients (threading and asyncio) receive the same things there: search
replies, beacons (from the repeater), the repeater's confirmation, and
whatever garbage anyone can send to the port.  :class:`ClientDatagrams`
applies the rules once and says what the shell has to do:

* a malformed datagram is counted, and logged as a warning at most once
  per :data:`MALFORMED_WARNING_INTERVAL` (else at DEBUG; the good commands
  before the bad one still count);
* each beacon goes through the :class:`BeaconHistory`; an anomaly asks for
  the unanswered searches to be boosted, and to be retried at once at most
  once per :data:`ANOMALY_RETRY_INTERVAL` (a burst of reboots must not
  cause a search storm); regular and irregular beacons of servers we have
  circuits to go to those circuits (:func:`tell_circuits`);
* a search reply is proof that its server lives;
* the repeater's confirmation ends the registration retries.

Time is passed in; nothing here does I/O.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

from ._beacon_history import BeaconEvent, BeaconHistory
from ._broadcaster import Broadcaster
from ._commands import RsrvIsUpResponse
from ._exceptions import RemoteProtocolError
from ._search_messages import (SearchResult, parse_search_replies,
                               read_search_reply_datagram)

__all__ = ('ClientDatagrams', 'DatagramOutcome', 'BeaconNews',
           'tell_circuits', 'servers_last_heard', 'beacon_server_address',
           'ANOMALY_RETRY_INTERVAL', 'MALFORMED_WARNING_INTERVAL')

#: Minimum seconds between two "retry every unanswered search" caused by
#: beacon anomalies.
ANOMALY_RETRY_INTERVAL = 1.0
#: Minimum seconds between two warnings about malformed datagrams.
MALFORMED_WARNING_INTERVAL = 10.0

#: Events that concern the circuits to the beacon's server.
_CIRCUIT_EVENTS = BeaconEvent.NORMAL | BeaconEvent.CHECK_CIRCUIT


class BeaconNews(NamedTuple):
    """One beacon's meaning."""
    #: The server's (host, port).
    server: tuple[str, int]
    events: BeaconEvent
    #: An anomaly whose searches should be retried now (rate-limited).
    retry_now: bool


class DatagramOutcome(NamedTuple):
    """What one received datagram asks of the shell."""
    #: The datagram's commands (the good ones, when it was malformed).
    commands: list
    #: Why the datagram (or its tail) was dropped (already logged), or
    #: None.
    error: RemoteProtocolError | None
    #: Whether ``error`` was logged as a warning (else at DEBUG).
    warn: bool
    #: The beacons it carried, in order.
    beacons: list[BeaconNews]
    #: The repeater confirmed our registration with this datagram.
    registered: bool
    #: Search replies (already noted as proof of life).
    results: list[SearchResult]


def beacon_server_address(beacon: Any,
                          source: tuple[str, int]) -> tuple[str, int]:
    """The server a beacon announces: its own address field, or the
    sender's host when that field is empty (0.0.0.0, as rsrv sends it)."""
    host = beacon.address
    if host in (None, '0.0.0.0'):
        host = source[0]
    return (host, beacon.server_port)


def tell_circuits(events: BeaconEvent, circuits: Iterable[Any]) -> None:
    """Pass a beacon's verdict to the circuits to its server: a regular
    beacon resets their idle watchdog (``beacon_received()``), an irregular
    one makes them check themselves (``check_now()``)."""
    if not events & _CIRCUIT_EVENTS:
        return
    regular = bool(events & BeaconEvent.NORMAL)
    for circuit in circuits:
        if regular:
            circuit.beacon_received()
        else:
            circuit.check_now()


def servers_last_heard(beacons: BeaconHistory, now: float,
                       receipts: Iterable[tuple[tuple[str, int], float]]
                       ) -> dict:
    """Seconds since each known server was last heard from: its beacons and
    search replies, or ``receipts`` ((address, time of the last TCP bytes)
    of the live circuits), whichever is newer."""
    heard = {address: elapsed for address, elapsed
             in beacons.time_since_last_heard(now).items()
             if elapsed is not None}
    for address, last_receipt in receipts:
        elapsed = now - last_receipt
        heard[address] = min(elapsed, heard.get(address, elapsed))
    return heard


class ClientDatagrams:
    """The client's rules for received datagrams.

    Parameters
    ----------
    protocol : Broadcaster
        The core's UDP protocol state (parses, tracks the registration).
    beacons : BeaconHistory
    log : logging.Logger or LoggerAdapter
        Where malformed datagrams are reported.
    """

    __slots__ = ('protocol', 'beacons', 'log', 'malformed_datagrams',
                 '_last_malformed_warning', '_last_anomaly_retry',
                 '_registered')

    def __init__(self, protocol: Broadcaster, beacons: BeaconHistory,
                 log: Any) -> None:
        self.protocol = protocol
        self.beacons = beacons
        self.log = log
        self.malformed_datagrams = 0
        self._last_malformed_warning = float('-inf')
        self._last_anomaly_retry = float('-inf')
        self._registered = False

    def received(self, data: bytes | bytearray | memoryview,
                 address: tuple[str, int], now: float) -> DatagramOutcome:
        """Apply the rules to one datagram from ``address``."""
        protocol = self.protocol
        replies = read_search_reply_datagram(data, address)
        if replies is not None:
            # The common datagram of a connect (search replies only), in
            # fast form: the outcome the general path below gives it.
            replied, found = replies
            protocol.process_commands(replied)
            registered = protocol.registered and not self._registered
            if registered:
                self._registered = True
            self.beacons.heard(found[0].response.sender_address or address,
                               now)
            return DatagramOutcome(replied, None, False, [], registered,
                                   found)
        commands: list = []
        error: RemoteProtocolError | None = None
        warn = False
        try:
            commands = protocol.recv(data, address)
            protocol.process_commands(commands)
        except RemoteProtocolError as exc:
            # Anyone who can reach the port can send garbage: count it and
            # warn at most once per MALFORMED_WARNING_INTERVAL.
            error = exc
            self.malformed_datagrams += 1
            if now - self._last_malformed_warning >= MALFORMED_WARNING_INTERVAL:
                self._last_malformed_warning = now
                warn = True
            emit = self.log.warning if warn else self.log.debug
            emit('Ignoring malformed datagram from %s:%d: %s (%d malformed '
                 'so far)', *address, exc, self.malformed_datagrams)
            # The good commands before a bad one still count (a malformed
            # message ends the parse; an unexpected command is skipped).
            commands = getattr(exc, 'commands', None) or commands
        beacons = [self._beacon(command, address, now)
                   for command in commands
                   if type(command) is RsrvIsUpResponse]
        registered = protocol.registered and not self._registered
        if registered:
            self._registered = True
        results = parse_search_replies(commands, address)
        if results:
            self.beacons.heard(results[0].response.sender_address or address,
                               now)
        return DatagramOutcome(commands, error, warn, beacons, registered,
                               results)

    def _beacon(self, beacon: Any, source: tuple[str, int],
                now: float) -> BeaconNews:
        server = beacon_server_address(beacon, source)
        events = self.beacons.beacon(server, now, beacon.beacon_id,
                                     beacon.version)
        retry_now = False
        if (events & BeaconEvent.ANOMALY
                and now - self._last_anomaly_retry >= ANOMALY_RETRY_INTERVAL):
            self._last_anomaly_retry = now
            retry_now = True
        return BeaconNews(server, events, retry_now)
