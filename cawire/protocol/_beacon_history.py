"""What the beacons of each server tell a client: libca's bhe, clock-injected.

Servers announce themselves with RSRV_IS_UP beacons: fast right after start
(0.02 s doubling up to the beacon period, 15 s by default), then regularly.
A client watches the gaps between beacons of each server (libca bhe.cpp,
ca-protocol.md 6.4) for three reasons:

* a server that just (re)started or a network segment that came back means
  names nobody answered may now be found: an **anomaly**, on which the
  client pulls its unresolved names forward (``SearchSchedule.boost``);
* a regular beacon from a server we have a circuit to proves the server is
  alive, so the circuit's idle watchdog can be reset (**normal**);
* a late or irregular beacon from such a server is a reason to check the
  circuit now (libca's per-circuit "beacon anomaly": send an ECHO).

:meth:`BeaconHistory.beacon` applies bhe's rules and returns the events as a
:class:`BeaconEvent` flag set.  Time is passed in; nothing here does I/O.
"""
from __future__ import annotations

import enum
from collections.abc import Hashable

__all__ = ('BeaconHistory', 'BeaconEvent', 'LATE_FACTOR', 'ABSENT_FACTOR',
           'EARLY_FACTOR')

#: A gap this many average periods long means at least one beacon was missed.
LATE_FACTOR = 1.25
#: ... this long: three missed beacons, e.g. a network segment restored.
ABSENT_FACTOR = 3.25
#: ... this short: the fast startup beacons of a rebooted server.
EARLY_FACTOR = 0.80
#: Weight of the newest gap in the running average period.
AVERAGE_WEIGHT = 0.125

_U32_MAX = 0xFFFFFFFF
#: Servers remembered at once.  A beacon names its server in its own
#: payload, so anyone who can send UDP to a client could otherwise make it
#: remember any number of invented servers (about 300 bytes each).
MAX_SERVERS = 16384
#: Servers older than 4.10 put no sequence number in their beacons.
_MIN_VERSION_WITH_SEQUENCE = 10


class BeaconEvent(enum.IntFlag):
    """What a beacon means to the client (several may be set at once)."""
    #: Nothing to do (e.g. a duplicate beacon from a redundant route).
    NONE = 0
    #: First beacon heard from this server (just recorded).
    FIRST = 1
    #: Search again soon: a server appeared, rebooted, or came back.
    ANOMALY = 2
    #: Gap >= 1.25 x average: at least one beacon missed.
    LATE = 4
    #: Gap <= 0.8 x average: fast startup beacons (server restarted).
    EARLY = 8
    #: A regular beacon from a server we have a circuit to: reset the
    #: circuit's idle watchdog.
    NORMAL = 16
    #: We have a circuit to this server and the beacon was not regular:
    #: check the circuit now (libca sends an ECHO).
    CHECK_CIRCUIT = 32
    #: Ignored: sequence number repeated, went backwards or skipped 2-3.
    DISCARDED = 64


class _ServerBeacons:
    __slots__ = ('last_time', 'average_period', 'last_sequence',
                 'has_circuit', 'last_heard')

    def __init__(self, last_time: float | None, last_sequence: int,
                 last_heard: float | None) -> None:
        # last_time None: the entry was made for a circuit, before any beacon.
        self.last_time: float | None = last_time
        # None: fewer than two beacons seen since the entry was (re)set.
        self.average_period: float | None = None
        self.last_sequence = last_sequence
        self.has_circuit = False
        self.last_heard: float | None = last_heard


class BeaconHistory:
    """Beacon bookkeeping for every server one client context has heard.

    Parameters
    ----------
    start_time : float
        When the client context started (same clock as every ``now``).  A
        server whose second beacon follows its first sooner than the first
        followed our start is new, not merely newly heard.
    max_servers : int
        Entries kept at most; beyond, the longest-known server without a
        circuit is forgotten (its next beacon counts as a first one).

    Notes
    -----
    Servers are keyed by whatever the caller uses, normally the server's
    ``(ip, tcp_port)`` taken from the beacon.
    """

    def __init__(self, start_time: float,
                 max_servers: int = MAX_SERVERS) -> None:
        self.start_time = start_time
        self.max_servers = max_servers
        self._servers: dict[Hashable, _ServerBeacons] = {}

    def _add(self, server: Hashable, entry: _ServerBeacons) -> _ServerBeacons:
        servers = self._servers
        if len(servers) >= self.max_servers:
            # Dicts keep insertion order: forget the longest-known server
            # we have no circuit to.
            for key, old in servers.items():
                if not old.has_circuit:
                    del servers[key]
                    break
        servers[server] = entry
        return entry

    def __contains__(self, server: Hashable) -> bool:
        return server in self._servers

    def __len__(self) -> int:
        return len(self._servers)

    def average_period(self, server: Hashable) -> float | None:
        """The running average beacon period of ``server`` (None: unknown)."""
        entry = self._servers.get(server)
        return None if entry is None else entry.average_period

    def beacon(self, server: Hashable, now: float, sequence: int,
               server_version: int = 13) -> BeaconEvent:
        """Record a beacon from ``server``; return what the client should do.

        Parameters
        ----------
        sequence : int
            The beacon counter (RSRV_IS_UP p1).
        server_version : int
            The server's minor protocol version (RSRV_IS_UP data_type);
            sequence checks apply from 4.10 on.
        """
        entry = self._servers.get(server)
        if entry is None:
            self._add(server, _ServerBeacons(now, sequence, now))
            return BeaconEvent.FIRST
        entry.last_heard = now
        with_sequence = server_version >= _MIN_VERSION_WITH_SEQUENCE
        if entry.last_time is None:
            # Entry made when we connected; this is the first real beacon.
            if with_sequence:
                entry.last_sequence = sequence
            entry.last_time = now
            events = BeaconEvent.FIRST
            if entry.has_circuit:
                events |= BeaconEvent.CHECK_CIRCUIT
            return events

        if with_sequence:
            advance = (sequence - entry.last_sequence) % (_U32_MAX + 1)
            entry.last_sequence = sequence
            # Repeated or slightly older (< 256 back): a duplicate route.
            # Ahead by 2 or 3: a duplicate route or an input queue overrun.
            if advance == 0 or advance > _U32_MAX - 256 or 1 < advance < 4:
                return BeaconEvent.DISCARDED

        return self._classify(entry, entry.last_time, now)

    def _classify(self, entry: _ServerBeacons, last_time: float, now: float
                  ) -> BeaconEvent:
        gap = now - last_time
        events = BeaconEvent.NONE
        if entry.average_period is None:
            # Second beacon: only now is there a period to compare with.
            first_beacon_time = last_time
            entry.average_period = gap
            if entry.has_circuit:
                events |= BeaconEvent.CHECK_CIRCUIT
            if gap <= first_beacon_time - self.start_time:
                # Its first beacon came well after we started listening, so
                # the server itself is new (started after us).
                events |= BeaconEvent.ANOMALY
        else:
            average = entry.average_period
            if gap >= average * LATE_FACTOR:
                events |= BeaconEvent.LATE
                if entry.has_circuit:
                    events |= BeaconEvent.CHECK_CIRCUIT
                if gap >= average * ABSENT_FACTOR:
                    events |= BeaconEvent.ANOMALY
            elif gap <= average * EARLY_FACTOR:
                events |= BeaconEvent.EARLY | BeaconEvent.ANOMALY
                if entry.has_circuit:
                    events |= BeaconEvent.CHECK_CIRCUIT
            elif entry.has_circuit:
                events |= BeaconEvent.NORMAL
            entry.average_period = (gap * AVERAGE_WEIGHT
                                    + average * (1.0 - AVERAGE_WEIGHT))
        entry.last_time = now
        return events

    def circuit_connected(self, server: Hashable) -> None:
        """We opened a circuit to ``server`` (libca bhe::registerIIU).

        If no beacon was heard from it yet, its next beacon counts as the
        first.
        """
        entry = self._servers.get(server)
        if entry is None:
            entry = self._add(server, _ServerBeacons(None, 0, None))
        entry.has_circuit = True

    def circuit_disconnected(self, server: Hashable) -> None:
        """Our circuit to ``server`` closed (libca bhe::unregisterIIU).

        Its beacon timing restarts: the next beacon counts as the first.
        """
        entry = self._servers.get(server)
        if entry is None or not entry.has_circuit:
            return
        entry.has_circuit = False
        entry.last_time = None
        entry.average_period = None

    def heard(self, server: Hashable, now: float) -> None:
        """Note other traffic from ``server`` (e.g. a search reply)."""
        entry = self._servers.get(server)
        if entry is None:
            entry = self._add(server, _ServerBeacons(None, 0, now))
        entry.last_heard = now

    def time_since_last_heard(self, now: float) -> dict:
        """Seconds since each server was last heard (None: never)."""
        return {server: (None if entry.last_heard is None
                         else now - entry.last_heard)
                for server, entry in self._servers.items()}

    def forget(self, server: Hashable) -> None:
        """Drop everything known about ``server``."""
        self._servers.pop(server, None)
