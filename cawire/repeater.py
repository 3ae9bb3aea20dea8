"""An EPICS-compatible CA repeater (a drop-in for ``caRepeater``).

Why it exists: servers send beacons to the repeater port (5065), but only one
process per host can receive unicast datagrams on a port. The repeater owns
that port and copies every datagram to each registered client (each libca
context, each cawire client), which listen on ports of their own.

Behaviour follows EPICS base's repeater.cpp (ca-protocol.md 6.5, capture E21):

* bind UDP ``INADDR_ANY:<port>``; if that fails another repeater is already
  running and we exit quietly;
* a zero-length datagram, or one starting with REPEATER_REGISTER, from a local
  address registers its source ``ip:port``; the client gets REPEATER_CONFIRM
  (p2 = its IP) and every other client a 16-byte all-zero VERSION "noop"
  (also on re-registration, as caRepeater does);
* every other datagram is forwarded unmodified to every client except its
  sender, except that a leading RSRV_IS_UP beacon with p2 == 0 gets the
  sender's IP in p2 first;
* a client is dropped when a send to it fails or when, at a new registration,
  its port can be bound (nobody listens there any more).

The byte-level rules are the core's (``cawire.protocol._repeater_messages``,
re-exported here); the :class:`Repeater` class only moves datagrams between
sockets and them.
"""
from __future__ import annotations

import argparse
import errno
import logging
import select
import socket
import sys

from .config import Config
from .protocol._broadcaster import Broadcaster
from .protocol._commands import RepeaterConfirmResponse, VersionResponse
from .protocol._constants import MAX_UDP_RECV
from .protocol._repeater_messages import fill_beacon_address
from .protocol._repeater_messages import \
    parse_repeater_datagram as parse_datagram
from .protocol._state import SERVER

__all__ = ('Repeater', 'RepeaterAlreadyRunning', 'parse_datagram',
           'confirm_message', 'fill_beacon_address', 'is_local_address',
           'multicast_groups', 'NOOP_MESSAGE', 'main', 'run')

logger = logging.getLogger('cawire.repeater')

#: The repeater originates two messages; they go out as any UDP party's do.
_BROADCASTER = Broadcaster(SERVER)

#: What a new registration triggers for the other clients: a VERSION with
#: every field 0 (libca ignores it; a send error tells a client is gone).
NOOP_MESSAGE = _BROADCASTER.send(VersionResponse(0))

Address = tuple[str, int]


# --- sans-I/O: the rules over bytes (in the core) -------------------------------

def confirm_message(client_ip: str) -> bytes:
    """REPEATER_CONFIRM for a client at ``client_ip`` (p2 = that address)."""
    return _BROADCASTER.send(RepeaterConfirmResponse(client_ip))


def is_local_address(ip: str) -> bool:
    """Whether ``ip`` belongs to this host (loopback, or bindable here).

    Only local processes may register: the repeater would otherwise copy
    beacons to anyone on the network who asks.
    """
    if ip.startswith('127.'):
        return True
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind((ip, 0))
        except OSError:
            return False
    return True


def multicast_groups(config: Config) -> list[str]:
    """Multicast groups to join: those in EPICS_CAS_BEACON_ADDR_LIST, or in
    EPICS_CA_ADDR_LIST when the former is empty (as caRepeater)."""
    addresses = config.cas_beacon_addr_list or config.addr_list
    groups = []
    for ip, _ in addresses:
        if 224 <= int(ip.split('.')[0]) <= 239 and ip not in groups:
            groups.append(ip)
    return groups


# --- I/O shell ------------------------------------------------------------------

class RepeaterAlreadyRunning(OSError):
    """The repeater port is taken: another repeater serves this host."""


def _port_is_bindable(port: int) -> bool:
    # A client that still listens on its port makes this bind fail; success
    # means the client is gone (the check caRepeater uses).
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind(('', port))
        except OSError:
            return False
    return True


class Repeater:
    """The repeater's sockets and client table.

    Parameters
    ----------
    port : int
        UDP port to serve (EPICS_CA_REPEATER_PORT).
    groups : list of str, optional
        Multicast groups to join on the default interface.

    Raises
    ------
    RepeaterAlreadyRunning
        If the port is in use.

    Notes
    -----
    Call :meth:`serve_forever` (blocking, event driven: no polling) and
    :meth:`stop` from another thread to end it.
    """

    def __init__(self, port: int, groups: list[str] | None = None):
        self.port = port
        #: (ip, port) -> socket connected to that client
        self.clients: dict[Address, socket.socket] = {}
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            # No SO_REUSEADDR: a second repeater must fail to bind.
            self._sock.bind(('', port))
        except OSError as exc:
            self._sock.close()
            if exc.errno == errno.EADDRINUSE:
                raise RepeaterAlreadyRunning(
                    exc.errno, f'UDP port {port} is in use') from None
            raise
        for group in groups or ():
            membership = socket.inet_aton(group) + socket.inet_aton('0.0.0.0')
            try:
                self._sock.setsockopt(socket.IPPROTO_IP,
                                      socket.IP_ADD_MEMBERSHIP, membership)
            except OSError as exc:
                logger.warning('Cannot join multicast group %s: %s', group, exc)
        self._wakeup_recv, self._wakeup_send = socket.socketpair()
        self._stopping = False

    @property
    def address(self) -> Address:
        """The ``(host, port)`` the repeater's socket is bound to."""
        return self._sock.getsockname()

    def stop(self) -> None:
        """Make :meth:`serve_forever` return (thread-safe)."""
        self._stopping = True
        try:
            self._wakeup_send.send(b'\0')
        except OSError:
            pass  # already closed

    def close(self) -> None:
        """Close every socket."""
        for client in self.clients.values():
            client.close()
        self.clients.clear()
        for sock in (self._sock, self._wakeup_recv, self._wakeup_send):
            sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def serve_forever(self) -> None:
        """Receive and handle datagrams until :meth:`stop` is called."""
        logger.info('Repeater listening on UDP port %d', self.port)
        readers = [self._sock, self._wakeup_recv]
        while not self._stopping:
            readable, _, _ = select.select(readers, [], [])
            if self._sock in readable:
                self._receive_pending()

    def _receive_pending(self) -> None:
        # Drain what the socket holds now, without blocking.
        while True:
            try:
                data, source = self._sock.recvfrom(MAX_UDP_RECV, socket.MSG_DONTWAIT)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                # e.g. ICMP errors reported on the shared socket: not fatal.
                logger.debug('recvfrom failed: %s', exc)
                return
            self.handle_datagram(data, source)

    def handle_datagram(self, data: bytes, source: Address) -> None:
        """Apply the repeater rules to one datagram from ``source``."""
        register, to_forward = parse_datagram(data)
        if register:
            self._register(source)
        else:
            to_forward = fill_beacon_address(to_forward, source[0])
        if to_forward:
            self._fan_out(to_forward, exclude=source)

    def _register(self, source: Address) -> None:
        client = self.clients.get(source)
        if client is None:
            if not is_local_address(source[0]):
                logger.warning('Ignoring registration from non-local %s:%d',
                               *source)
                return
            try:
                client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            except OSError as exc:
                logger.error('Cannot register %s:%d: %s', *source, exc)
                return
            try:
                client.connect(source)
            except OSError as exc:
                client.close()
                logger.warning('Cannot register %s:%d: %s', *source, exc)
                return
            self.clients[source] = client
            logger.info('Registered client %s:%d (%d clients)', *source,
                         len(self.clients))
            is_new = True
        else:
            is_new = False
        self._send(source, confirm_message(source[0]))
        # caRepeater sends the noop on every registration, new or not (its
        # purpose: surface send errors to clients that have gone away).
        self._fan_out(NOOP_MESSAGE, exclude=source)
        if is_new:
            self._drop_vanished_clients()

    def _fan_out(self, data: bytes, exclude: Address) -> None:
        for address in list(self.clients):
            if address != exclude:
                self._send(address, data)

    def _send(self, address: Address, data: bytes) -> None:
        client = self.clients.get(address)
        if client is None:
            return
        try:
            client.send(data)
        except OSError as exc:
            # A connected UDP socket reports the ICMP "port unreachable" of
            # an earlier send here: the client has gone.
            logger.info('Dropping client %s:%d: %s', *address, exc)
            self._drop(address)

    def _drop_vanished_clients(self) -> None:
        for address in list(self.clients):
            if _port_is_bindable(address[1]):
                logger.info('Dropping client %s:%d: its port is free', *address)
                self._drop(address)

    def _drop(self, address: Address) -> None:
        client = self.clients.pop(address, None)
        if client is not None:
            client.close()


def run(port: int | None = None, config: Config | None = None) -> int:
    """Serve as the repeater until interrupted.

    Returns
    -------
    int
        Exit status: 0, also when another repeater already holds the port.
    """
    config = config if config is not None else Config.from_environ()
    port = port if port is not None else config.repeater_port
    try:
        repeater = Repeater(port, groups=multicast_groups(config))
    except RepeaterAlreadyRunning:
        logger.info('Another repeater is running on UDP port %d; exiting', port)
        return 0
    with repeater:
        try:
            repeater.serve_forever()
        except KeyboardInterrupt:
            pass
    return 0


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m cawire.repeater [-v] [--port PORT]``."""
    from .log import config_cawire_logging

    parser = argparse.ArgumentParser(
        prog='cawire-repeater',
        description='EPICS Channel Access repeater: fans beacons out to '
                    'the clients on this host.')
    parser.add_argument('--port', type=int, default=None,
                        help='UDP port (default: EPICS_CA_REPEATER_PORT or 5065)')
    parser.add_argument('-v', '--verbose', action='count', default=0,
                        help='log registrations (-v) and more (-vv)')
    args = parser.parse_args(argv)
    level = ('WARNING', 'INFO', 'DEBUG')[min(args.verbose, 2)]
    config_cawire_logging(file=sys.stderr, level=level)
    return run(args.port)


if __name__ == '__main__':
    sys.exit(main())
