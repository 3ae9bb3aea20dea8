"""A fake CA server that turns hostile once a channel is in use.

:class:`HostileServer` answers searches and the circuit handshake
correctly, then sends the attack it was built with (:data:`ATTACKS`: 4 GB
payload sizes, unknown command ids, wrong ids, misaligned sizes, random or
truncated bytes, silence, hang-ups).  Loopback only; its threads are
joined on ``close()``.
"""
from __future__ import annotations

import random
import socket
import struct
import threading
import time
from collections.abc import Iterable

from ._raw_ca import (EXTENSION, HEADER, JOIN_TIMEOUT, SEARCH, VERSION,
                      close_quietly, extended_header, header, iter_headers)
from .epics import LOOPBACK, free_port

__all__ = ('HostileServer', 'ATTACKS')



def _attack_huge_payload(request):
    # A READ_NOTIFY reply announcing 4 GB (extended header), then a trickle.
    return extended_header(15, 0xFFFFFFF0, 6, 0x1FFFFFFE, 1,
                            request.ioid) + bytes(64)


def _attack_huge_count(request):
    # Small payload, 4 G elements claimed.
    return extended_header(15, 8, 6, 0xFFFFFFFF, 1, request.ioid) + bytes(8)


def _attack_unknown_command(request):
    return header(0x7FFF, 8, 0, 0, 0, 0) + bytes(8)


def _attack_obsolete_command(request):
    # READ_BUILD (16): never sent by any current server.
    return header(16, 0, 6, 1, 0, 0)


def _attack_misaligned(request):
    return header(15, 13, 6, 1, 1, request.ioid) + bytes(16)


def _attack_wrong_ioid(request):
    # A well-formed reply for a request we never made (then silence).
    return header(15, 8, 6, 1, 1, request.ioid ^ 0x5A5A5A5A) + bytes(8)


def _attack_wrong_type(request):
    # Reply of an invalid DBR type (data_type 999).
    return header(15, 8, 999, 1, 1, request.ioid) + bytes(8)


def _attack_count_beyond_payload(request):
    return header(15, 8, 6, 1000, 1, request.ioid) + bytes(8)


def _attack_random(request):
    rng = random.Random(request.ioid)
    return bytes(rng.getrandbits(8) for _ in range(4096))


def _attack_truncated(request):
    # Half a header, then the server hangs up.
    return header(15, 8, 6, 1, 1, request.ioid)[:9]


def _attack_wrong_cid_create(request):
    # CREATE_CHAN reply naming a cid the client never asked for.
    return header(18, 0, 6, 1, request.cid + 1000, 77)


def _attack_silence(request):
    # Never answer CREATE_CHAN (the circuit itself stays healthy: ECHO is
    # still answered).
    return b''


def _attack_hangup(request):
    # Close the circuit in reply to CREATE_CHAN.
    return b''


def _attack_event_flood(request):
    # EVENT_ADD replies for a subscription id the client never made.
    return b''.join(header(1, 8, 6, 1, 1, 0xDEAD0000 + i) + bytes(8)
                    for i in range(500))


#: name -> (when it fires, builder).  'read' fires on the first READ_NOTIFY,
#: 'create' in place of the CREATE_CHAN reply.
ATTACKS = {
    'huge_payload': ('read', _attack_huge_payload),
    'huge_count': ('read', _attack_huge_count),
    'unknown_command': ('read', _attack_unknown_command),
    'obsolete_command': ('read', _attack_obsolete_command),
    'misaligned': ('read', _attack_misaligned),
    'wrong_ioid': ('read', _attack_wrong_ioid),
    'wrong_type': ('read', _attack_wrong_type),
    'count_beyond_payload': ('read', _attack_count_beyond_payload),
    'random': ('read', _attack_random),
    'truncated': ('read', _attack_truncated),
    'wrong_cid_create': ('create', _attack_wrong_cid_create),
    'silent_create': ('create', _attack_silence),
    'hangup_on_create': ('create', _attack_hangup),
    'event_flood': ('read', _attack_event_flood),
}


class _Request:
    """The fields of a client request the attacks refer to."""

    def __init__(self, command, fields):
        self.command = command
        self.cid = fields[4]
        self.ioid = fields[5]


class HostileServer:
    """A fake CA server that turns hostile once a channel is in use.

    It answers UDP searches for every name (with its TCP port), accepts
    circuits, sends VERSION, answers CREATE_CHAN with ACCESS_RIGHTS and a
    DOUBLE channel, answers ECHO, then attacks: for a 'read' attack the
    first READ_NOTIFY gets the attack bytes; for a 'create' attack the
    CREATE_CHAN reply is replaced.  After the attack it keeps reading (and
    discarding) what the client sends, except for 'truncated' and
    'hangup_on_create', which hang up.

    Parameters
    ----------
    attack : str
        A key of :data:`ATTACKS`.
    port : int, optional
        UDP+TCP port (a fresh free one by default).
    names : collection of str, optional
        Names to answer searches for (default: any name).

    Attributes
    ----------
    connections : int
        Circuits accepted.
    attacks_sent : int
    client_closed : threading.Event
        Set when a client closed a circuit after an attack.
    closed_after : float or None
        Seconds from the attack to the client closing the circuit.
    """

    def __init__(self, attack: str, *, port: int | None = None,
                 names: Iterable[str] | None = None) -> None:
        self.when, self._build = ATTACKS[attack]
        self.attack = attack
        self.port = port if port is not None else free_port()
        self.names = None if names is None else set(names)
        self.connections = 0
        self.attacks_sent = 0
        self.client_closed = threading.Event()
        self.closed_after: float | None = None
        self._attack_time: float | None = None
        self._closed = False
        self._threads: list[threading.Thread] = []
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            self._udp.bind((LOOPBACK, self.port))
            self._tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._tcp.bind((LOOPBACK, self.port))
            self._tcp.listen(16)
        except OSError:
            close_quietly(self._udp)
            close_quietly(self._tcp)
            raise
        self._udp.settimeout(0.1)
        self._tcp.settimeout(0.1)
        self._spawn(self._serve_udp, 'udp')
        self._spawn(self._serve_tcp, 'accept')

    def _spawn(self, target, name, *args):
        thread = threading.Thread(target=target, args=args, daemon=True,
                                  name=f'hostile-server-{self.port}-{name}')
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def _serve_udp(self):
        while not self._closed:
            try:
                data, source = self._udp.recvfrom(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            replies = []
            sequence = None
            for offset, fields in iter_headers(data):
                if fields[0] == VERSION and fields[2] == 1:
                    sequence = fields[4]
                elif fields[0] == SEARCH:
                    raw = data[offset + 16: offset + 16 + fields[1]]
                    name = raw.split(b'\0', 1)[0].decode('latin-1')
                    if self.names is None or name in self.names:
                        replies.append(header(SEARCH, 8, self.port, 0,
                                               0xFFFFFFFF, fields[5])
                                       + struct.pack('>H', 13) + bytes(6))
            if replies:
                lead = (header(VERSION, 0, 1, 13, sequence, 0)
                        if sequence is not None else b'')
                try:
                    self._udp.sendto(lead + b''.join(replies), source)
                except OSError:
                    pass

    def _serve_tcp(self):
        while not self._closed:
            try:
                conn, _ = self._tcp.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self._lock:
                self.connections += 1
                self._sockets.append(conn)
            self._spawn(self._serve_circuit, 'circuit', conn)

    def _serve_circuit(self, conn):
        conn.settimeout(0.1)
        buffer = b''
        attacked = False
        next_sid = 1

        def send(data):
            try:
                conn.sendall(data)
            except OSError:
                pass

        def attack(request):
            nonlocal attacked
            attacked = True
            self._attack_time = time.monotonic()
            self.attacks_sent += 1
            send(self._build(request))

        send(header(VERSION, 0, 0, 13, 0, 0))
        while not self._closed:
            try:
                chunk = conn.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                chunk = b''
            if not chunk:
                if attacked:
                    if self._attack_time is not None:
                        self.closed_after = time.monotonic() - \
                            self._attack_time
                    self.client_closed.set()
                break
            buffer += chunk
            while len(buffer) >= 16:
                fields = HEADER.unpack_from(buffer)
                size, header_size = fields[1], 16
                if size == 0xFFFF and len(buffer) >= 24:
                    size = EXTENSION.unpack_from(buffer, 16)[0]
                    header_size = 24
                elif size == 0xFFFF:
                    break
                if len(buffer) < header_size + size:
                    break
                buffer = buffer[header_size + size:]
                command = fields[0]
                request = _Request(command, fields)
                if attacked:
                    if command == 23 and self.attack == 'silent_create':
                        send(header(23))
                    continue
                if command == 23:  # ECHO
                    send(header(23))
                elif command == 18:  # CREATE_CHAN
                    if self.when == 'create':
                        attack(request)
                        continue
                    send(header(22, 0, 0, 0, request.cid, 3) +
                         header(18, 0, 6, 1, request.cid, next_sid))
                    next_sid += 1
                elif command == 15 and self.when == 'read':
                    attack(request)
                    if self.attack == 'truncated':
                        try:
                            conn.shutdown(socket.SHUT_WR)
                        except OSError:
                            pass
                elif command == 15:
                    send(header(15, 8, 6, 1, 1, request.ioid) +
                         struct.pack('>d', 1.0))
            if attacked and self.attack == 'hangup_on_create':
                break
        close_quietly(conn)

    def close(self) -> None:
        """Stop serving; close every socket and join the threads."""
        self._closed = True
        with self._lock:
            sockets, threads = list(self._sockets), list(self._threads)
        for sock in (self._udp, self._tcp, *sockets):
            close_quietly(sock)
        for thread in threads:
            thread.join(JOIN_TIMEOUT)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
