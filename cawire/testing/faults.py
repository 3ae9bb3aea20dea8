"""Fault injection on loopback: a lossy/slow proxy and hostile CA peers.

Everything here listens on and talks to 127.0.0.1 only, on ports from
:func:`cawire.testing.epics.free_port`, runs its threads as daemons with
bounded waits, and stops them (closing every socket) on ``close()`` or at
the end of a ``with`` block.

* :class:`FaultProxy` stands between CA clients and one server: it answers
  on its own port (UDP searches and TCP circuits), forwards to the server,
  and can drop a fraction of search datagrams, delay or throttle TCP, pause
  one direction of every circuit, or cut all circuits.
* :class:`HostileServer` is a fake CA server: it answers searches and the
  circuit handshake correctly, then sends the attack it was built with
  (4 GB payload sizes, unknown command ids, wrong ids, misaligned sizes,
  random or truncated bytes).
* :class:`HostileClient` is a raw CA client that misbehaves against a
  server: garbage, lying sizes, never reading, thousands of channels.
"""
from __future__ import annotations

import collections
import logging
import os
import random
import selectors
import socket
import struct
import threading
import time

from .epics import LOOPBACK, free_port

__all__ = ('FaultProxy', 'HostileServer', 'HostileClient', 'ATTACKS',
           'UP', 'DOWN')

logger = logging.getLogger('cawire.testing.faults')

#: Directions of a proxied circuit: client to server, server to client.
UP, DOWN = 'up', 'down'

_HEADER = struct.Struct('>HHHHII')
_EXTENSION = struct.Struct('>II')
_SEARCH = 6
_VERSION = 0
#: Bytes a paused or delayed direction buffers before it stops reading (the
#: sender then sees TCP back-pressure, as behind a real slow link).
_DIRECTION_BUFFER_LIMIT = 256 * 1024
_JOIN_TIMEOUT = 5.0


def _header(command, payload_size=0, data_type=0, data_count=0, p1=0, p2=0):
    return _HEADER.pack(command, payload_size, data_type, data_count, p1, p2)


def _extended_header(command, payload_size, data_type, data_count, p1, p2):
    return (_HEADER.pack(command, 0xFFFF, data_type, 0, p1, p2)
            + _EXTENSION.pack(payload_size, data_count))


def _iter_headers(data: bytes):
    """(offset, fields) of each standard-header message in a datagram."""
    offset = 0
    while offset + _HEADER.size <= len(data):
        fields = _HEADER.unpack_from(data, offset)
        yield offset, fields
        size = fields[1]
        if size == 0xFFFF or size % 8:
            return
        offset += _HEADER.size + size


def _close_quietly(sock) -> None:
    try:
        sock.close()
    except OSError:
        pass


# --------------------------------------------------------------------------
# Proxy
# --------------------------------------------------------------------------

class _Direction:
    """One direction of a proxied TCP connection: a reader thread fills a
    byte-bounded queue, a writer thread empties it honouring delay,
    throttle and pause."""

    def __init__(self, proxy, link, name, source, destination):
        self.proxy = proxy
        self.link = link
        self.name = name
        self.source = source
        self.destination = destination
        self.queue: collections.deque = collections.deque()
        self.queued_bytes = 0
        self.bytes_forwarded = 0
        self.condition = threading.Condition()
        self.eof = False
        self.threads = [
            threading.Thread(target=self._read, daemon=True,
                             name=f'faultproxy-{name}-read'),
            threading.Thread(target=self._write, daemon=True,
                             name=f'faultproxy-{name}-write')]

    def start(self):
        for thread in self.threads:
            thread.start()

    def _read(self):
        try:
            while not self.link.closed:
                with self.condition:
                    while (self.queued_bytes >= _DIRECTION_BUFFER_LIMIT
                           and not self.link.closed):
                        self.condition.wait(0.1)
                try:
                    data = self.source.recv(65536)
                except socket.timeout:
                    continue
                except OSError:
                    data = b''
                with self.condition:
                    if not data:
                        self.eof = True
                    else:
                        deliver_at = time.monotonic() + self.proxy.tcp_delay
                        self.queue.append((deliver_at, data))
                        self.queued_bytes += len(data)
                    self.condition.notify_all()
                if not data:
                    return
        finally:
            with self.condition:
                self.eof = True
                self.condition.notify_all()

    def _write(self):
        proxy = self.proxy
        while not self.link.closed:
            with self.condition:
                while not self.queue and not self.eof and not self.link.closed:
                    self.condition.wait(0.1)
                if self.link.closed:
                    return
                if not self.queue:  # eof and drained
                    break
                deliver_at, data = self.queue[0]
            # Pause and delay hold the head of the queue (never reorder).
            now = time.monotonic()
            if now < deliver_at or proxy.paused(self.name):
                time.sleep(min(max(deliver_at - now, 0.001), 0.02))
                continue
            rate = proxy.throttle
            if rate:
                data = data[:max(int(rate * 0.01), 1)]
            try:
                self.destination.sendall(data)
            except OSError:
                break
            with self.condition:
                head_deliver_at, head = self.queue[0]
                if len(data) == len(head):
                    self.queue.popleft()
                else:
                    self.queue[0] = (head_deliver_at, head[len(data):])
                self.queued_bytes -= len(data)
                self.bytes_forwarded += len(data)
                self.condition.notify_all()
            if rate:
                time.sleep(len(data) / rate)
        # Pass the end of stream on (half-close), or everything if broken.
        if self.eof and not self.link.closed:
            try:
                self.destination.shutdown(socket.SHUT_WR)
            except OSError:
                pass
        else:
            self.link.close()


class _Link:
    """A proxied TCP connection: client socket, server socket, two
    directions."""

    def __init__(self, proxy, client, server):
        self.client = client
        self.server = server
        self.closed = False
        for sock in (client, server):
            sock.settimeout(0.2)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.up = _Direction(proxy, self, UP, client, server)
        self.down = _Direction(proxy, self, DOWN, server, client)

    def start(self):
        self.up.start()
        self.down.start()

    def close(self, reset: bool = False):
        if self.closed:
            return
        self.closed = True
        for sock in (self.client, self.server):
            if reset:
                # RST instead of FIN: what the peer sees when a host dies.
                try:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                    struct.pack('ii', 1, 0))
                except OSError:
                    pass
            _close_quietly(sock)
        for direction in (self.up, self.down):
            with direction.condition:
                direction.condition.notify_all()

    def join(self, timeout):
        for direction in (self.up, self.down):
            for thread in direction.threads:
                if thread is not threading.current_thread():
                    thread.join(timeout)


class FaultProxy:
    """A loopback CA proxy (UDP search + TCP) in front of one server.

    Clients search ``127.0.0.1:<proxy.port>`` (put it in EPICS_CA_ADDR_LIST);
    searches are forwarded to the server's UDP port and its replies are
    rewritten to name the proxy's TCP port, so circuits go through the
    proxy too.

    Parameters
    ----------
    server_port : int
        The real server's port (UDP and TCP).
    port : int, optional
        The proxy's port (a fresh free one by default).
    search_drop : float
        Fraction (0..1) of client datagrams carrying a SEARCH that are
        dropped.  Adjustable later through the attribute.
    reply_drop : float
        Fraction of the server's UDP replies dropped.
    tcp_delay : float
        Seconds every TCP chunk is held, in both directions.
    throttle : float, optional
        TCP bytes per second per direction (None: unlimited).
    seed : int
        Seed of the drop decisions (tests are reproducible).

    Attributes
    ----------
    search_log : list of (float, int, bool)
        (monotonic time, number of SEARCH commands, dropped?) per client
        datagram that carried searches.
    links : list
        Proxied TCP connections, in accept order.
    """

    def __init__(self, server_port: int, *, port: int | None = None,
                 search_drop: float = 0.0, reply_drop: float = 0.0,
                 tcp_delay: float = 0.0, throttle: float | None = None,
                 seed: int = 0):
        self.server_port = server_port
        self.port = port if port is not None else free_port()
        self.search_drop = search_drop
        self.reply_drop = reply_drop
        self.tcp_delay = tcp_delay
        self.throttle = throttle
        self._random = random.Random(seed)
        self._paused = {UP: False, DOWN: False}
        self.search_log: list[tuple[float, int, bool]] = []
        self.replies_forwarded = 0
        self.replies_dropped = 0
        self.links: list[_Link] = []
        self._lock = threading.Lock()
        self._closed = False
        self._selector = selectors.DefaultSelector()
        self._udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._upstream: dict[tuple, socket.socket] = {}
        try:
            self._udp.bind((LOOPBACK, self.port))
            self._tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._tcp.bind((LOOPBACK, self.port))
            self._tcp.listen(64)
        except OSError:
            self._close_sockets()
            raise
        for sock in (self._udp, self._tcp):
            sock.setblocking(False)
        self._selector.register(self._udp, selectors.EVENT_READ, self._on_udp)
        self._selector.register(self._tcp, selectors.EVENT_READ,
                                self._on_accept)
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name=f'faultproxy-{self.port}')
        self._thread.start()

    def __repr__(self):
        return (f'<FaultProxy :{self.port} -> :{self.server_port} '
                f'links={len(self.links)} drop={self.search_drop}>')

    # -- controls ---------------------------------------------------------

    def paused(self, direction: str) -> bool:
        return self._paused[direction]

    def pause(self, direction: str = DOWN) -> None:
        """Stop forwarding ``direction`` (UP or DOWN) on every circuit; the
        proxy buffers a little, then stops reading (back-pressure)."""
        self._paused[direction] = True

    def resume(self, direction: str = DOWN) -> None:
        self._paused[direction] = False

    def cut(self, reset: bool = True) -> None:
        """Break every proxied circuit (RST by default)."""
        with self._lock:
            links = list(self.links)
        for link in links:
            link.close(reset=reset)

    @property
    def searches_sent(self) -> int:
        return sum(count for _, count, _ in self.search_log)

    @property
    def search_datagrams_dropped(self) -> int:
        return sum(1 for _, _, dropped in self.search_log if dropped)

    # -- event loop ------------------------------------------------------

    def _run(self):
        while not self._closed:
            try:
                events = self._selector.select(0.1)
            except (OSError, ValueError):
                return
            for key, _ in events:
                try:
                    key.data(key.fileobj)
                except OSError as exc:
                    logger.debug('proxy %d: %s', self.port, exc)

    def _on_accept(self, listener):
        try:
            client, _ = listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            server.settimeout(2.0)
            server.connect((LOOPBACK, self.server_port))
        except OSError:
            _close_quietly(server)
            _close_quietly(client)
            return
        link = _Link(self, client, server)
        with self._lock:
            if self._closed:
                link.close()
                return
            self.links.append(link)
        link.start()

    def _on_udp(self, sock):
        try:
            data, source = sock.recvfrom(65536)
        except (BlockingIOError, InterruptedError):
            return
        searches = sum(1 for _, fields in _iter_headers(data)
                       if fields[0] == _SEARCH)
        if searches:
            dropped = self._random.random() < self.search_drop
            self.search_log.append((time.monotonic(), searches, dropped))
            if dropped:
                return
        upstream = self._upstream.get(source)
        if upstream is None:
            upstream = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            upstream.bind((LOOPBACK, 0))
            upstream.setblocking(False)
            self._upstream[source] = upstream
            self._selector.register(
                upstream, selectors.EVENT_READ,
                lambda s, client=source: self._on_reply(s, client))
        upstream.sendto(data, (LOOPBACK, self.server_port))

    def _on_reply(self, sock, client):
        try:
            data, _ = sock.recvfrom(65536)
        except (BlockingIOError, InterruptedError):
            return
        except ConnectionRefusedError:
            return  # ICMP from a server that is not up: nothing to relay
        if self._random.random() < self.reply_drop:
            self.replies_dropped += 1
            return
        rewritten = bytearray(data)
        for offset, fields in _iter_headers(data):
            if fields[0] == _SEARCH:
                # data_type of a search reply is the server's TCP port.
                struct.pack_into('>H', rewritten, offset + 4, self.port)
        self.replies_forwarded += 1
        self._udp.sendto(bytes(rewritten), client)

    # -- lifecycle --------------------------------------------------------

    def _close_sockets(self):
        for sock in [self._udp, self._tcp, *self._upstream.values()]:
            _close_quietly(sock)

    def close(self) -> None:
        """Stop the proxy thread, close every link and socket."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            links = list(self.links)
        self._thread.join(_JOIN_TIMEOUT)
        self._selector.close()
        self._close_sockets()
        for link in links:
            link.close()
        for link in links:
            link.join(_JOIN_TIMEOUT)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


# --------------------------------------------------------------------------
# Hostile server
# --------------------------------------------------------------------------

def _attack_huge_payload(request):
    # A READ_NOTIFY reply announcing 4 GB (extended header), then a trickle.
    return _extended_header(15, 0xFFFFFFF0, 6, 0x1FFFFFFE, 1,
                            request.ioid) + bytes(64)


def _attack_huge_count(request):
    # Small payload, 4 G elements claimed.
    return _extended_header(15, 8, 6, 0xFFFFFFFF, 1, request.ioid) + bytes(8)


def _attack_unknown_command(request):
    return _header(0x7FFF, 8, 0, 0, 0, 0) + bytes(8)


def _attack_obsolete_command(request):
    # READ_BUILD (16): never sent by any current server.
    return _header(16, 0, 6, 1, 0, 0)


def _attack_misaligned(request):
    return _header(15, 13, 6, 1, 1, request.ioid) + bytes(16)


def _attack_wrong_ioid(request):
    # A well-formed reply for a request we never made (then silence).
    return _header(15, 8, 6, 1, 1, request.ioid ^ 0x5A5A5A5A) + bytes(8)


def _attack_wrong_type(request):
    # Reply of an invalid DBR type (data_type 999).
    return _header(15, 8, 999, 1, 1, request.ioid) + bytes(8)


def _attack_count_beyond_payload(request):
    return _header(15, 8, 6, 1000, 1, request.ioid) + bytes(8)


def _attack_random(request):
    rng = random.Random(request.ioid)
    return bytes(rng.getrandbits(8) for _ in range(4096))


def _attack_truncated(request):
    # Half a header, then the server hangs up.
    return _header(15, 8, 6, 1, 1, request.ioid)[:9]


def _attack_wrong_cid_create(request):
    # CREATE_CHAN reply naming a cid the client never asked for.
    return _header(18, 0, 6, 1, request.cid + 1000, 77)


def _attack_silence(request):
    # Never answer CREATE_CHAN (the circuit itself stays healthy: ECHO is
    # still answered).
    return b''


def _attack_hangup(request):
    # Close the circuit in reply to CREATE_CHAN.
    return b''


def _attack_event_flood(request):
    # EVENT_ADD replies for a subscription id the client never made.
    return b''.join(_header(1, 8, 6, 1, 1, 0xDEAD0000 + i) + bytes(8)
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

    def __init__(self, attack: str, *, port: int | None = None, names=None):
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
            _close_quietly(self._udp)
            _close_quietly(self._tcp)
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
            for offset, fields in _iter_headers(data):
                if fields[0] == _VERSION and fields[2] == 1:
                    sequence = fields[4]
                elif fields[0] == _SEARCH:
                    raw = data[offset + 16: offset + 16 + fields[1]]
                    name = raw.split(b'\0', 1)[0].decode('latin-1')
                    if self.names is None or name in self.names:
                        replies.append(_header(_SEARCH, 8, self.port, 0,
                                               0xFFFFFFFF, fields[5])
                                       + struct.pack('>H', 13) + bytes(6))
            if replies:
                lead = (_header(_VERSION, 0, 1, 13, sequence, 0)
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

        send(_header(_VERSION, 0, 0, 13, 0, 0))
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
                fields = _HEADER.unpack_from(buffer)
                size, header_size = fields[1], 16
                if size == 0xFFFF and len(buffer) >= 24:
                    size = _EXTENSION.unpack_from(buffer, 16)[0]
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
                        send(_header(23))
                    continue
                if command == 23:  # ECHO
                    send(_header(23))
                elif command == 18:  # CREATE_CHAN
                    if self.when == 'create':
                        attack(request)
                        continue
                    send(_header(22, 0, 0, 0, request.cid, 3) +
                         _header(18, 0, 6, 1, request.cid, next_sid))
                    next_sid += 1
                elif command == 15 and self.when == 'read':
                    attack(request)
                    if self.attack == 'truncated':
                        try:
                            conn.shutdown(socket.SHUT_WR)
                        except OSError:
                            pass
                elif command == 15:
                    send(_header(15, 8, 6, 1, 1, request.ioid) +
                         struct.pack('>d', 1.0))
            if attacked and self.attack == 'hangup_on_create':
                break
        _close_quietly(conn)

    def close(self) -> None:
        """Stop serving; close every socket and join the threads."""
        self._closed = True
        with self._lock:
            sockets, threads = list(self._sockets), list(self._threads)
        for sock in (self._udp, self._tcp, *sockets):
            _close_quietly(sock)
        for thread in threads:
            thread.join(_JOIN_TIMEOUT)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


# --------------------------------------------------------------------------
# Hostile client
# --------------------------------------------------------------------------

class HostileClient:
    """A raw TCP client that misbehaves against a CA server on loopback.

    Parameters
    ----------
    port : int
        The server's TCP port.
    handshake : bool
        Send VERSION / CLIENT_NAME / HOST_NAME first (as a real client).
    receive_buffer : int, optional
        SO_RCVBUF, small for a client that never reads.
    """

    def __init__(self, port: int, *, handshake: bool = True,
                 receive_buffer: int | None = None, timeout: float = 5.0):
        self.port = port
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if receive_buffer is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF,
                                 receive_buffer)
        self.sock.settimeout(timeout)
        self.sock.connect((LOOPBACK, port))
        self._buffer = b''
        #: True once the server closed (or reset) the connection.
        self.eof = False
        if handshake:
            name = b'hostile\0'
            host = b'localhost\0'
            self.send(_header(_VERSION, 0, 0, 13, 0, 0),
                      _header(20, len(name) + (-len(name) % 8)) +
                      name + bytes(-len(name) % 8),
                      _header(21, len(host) + (-len(host) % 8)) +
                      host + bytes(-len(host) % 8))

    def send(self, *chunks: bytes) -> None:
        self.sock.sendall(b''.join(chunks))

    def try_send(self, data: bytes, timeout: float = 2.0) -> int:
        """Send what the server accepts within ``timeout``; bytes sent."""
        self.sock.settimeout(timeout)
        sent = 0
        deadline = time.monotonic() + timeout
        view = memoryview(data)
        while sent < len(data) and time.monotonic() < deadline:
            try:
                sent += self.sock.send(view[sent:])
            except socket.timeout:
                break
            except OSError:
                break
        return sent

    def send_garbage(self, size: int = 4096, seed: int = 0) -> None:
        rng = random.Random(seed)
        self.send(bytes(rng.getrandbits(8) for _ in range(size)))

    def send_lying_size(self, claimed: int = 0xFFFFFFF0) -> None:
        """A WRITE whose extended header claims ``claimed`` payload bytes."""
        self.send(_extended_header(4, claimed, 6, max(claimed // 8, 1), 1, 1)
                  + bytes(64))

    def create_channels(self, name: str, count: int, first_cid: int = 1,
                        batch: int = 500) -> None:
        """Send ``count`` CREATE_CHAN requests (no waiting for replies)."""
        raw = name.encode('latin-1') + b'\0'
        padded = raw + bytes(-len(raw) % 8)
        for start in range(first_cid, first_cid + count, batch):
            stop = min(start + batch, first_cid + count)
            self.send(b''.join(_header(18, len(padded), 0, 0, cid, 13) + padded
                               for cid in range(start, stop)))

    def create_channel(self, name: str, cid: int = 1,
                       timeout: float = 5.0) -> int:
        """CREATE_CHAN and wait for the reply; returns the sid."""
        self.create_channels(name, 1, first_cid=cid)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._buffer += self.receive(0.05)
            offset = 0
            for offset, fields in _iter_headers(self._buffer):
                if fields[0] == 18 and fields[4] == cid:
                    self._buffer = b''
                    return fields[5]
            if self.eof:
                break
        raise TimeoutError(f'no CREATE_CHAN reply for {name!r}')

    def subscribe(self, sid: int, subscriptionid: int, data_type: int = 6,
                  count: int = 0, mask: int = 5) -> None:
        payload = struct.pack('>fffH', 0, 0, 0, mask) + bytes(2)
        self.send(_header(1, len(payload), data_type, count, sid,
                          subscriptionid) + payload)

    def receive(self, timeout: float = 5.0, limit: int = 1 << 24) -> bytes:
        """Whatever arrives within ``timeout`` (up to ``limit`` bytes);
        stops early once the server closes the connection."""
        chunks, total = [], 0
        deadline = time.monotonic() + timeout
        while total < limit and (remaining := deadline - time.monotonic()) > 0:
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(1 << 20)
            except socket.timeout:
                break
            except OSError:
                self.eof = True
                break
            if not chunk:
                self.eof = True
                break
            chunks.append(chunk)
            total += len(chunk)
        return b''.join(chunks)

    def closed_by_server(self, timeout: float = 5.0) -> bool:
        """Read until the server closes (True) or ``timeout`` (False)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.eof:
            self.receive(max(deadline - time.monotonic(), 0.01))
        return self.eof

    def close(self) -> None:
        _close_quietly(self.sock)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


def open_fds() -> set[int]:
    """File descriptors open in this process (Linux)."""
    return {int(name) for name in os.listdir('/proc/self/fd')}


def describe_fds(fds) -> dict[int, str]:
    """fd -> what it points at (socket:[inode], pipe:[...], a path)."""
    described = {}
    for fd in fds:
        try:
            described[fd] = os.readlink(f'/proc/self/fd/{fd}')
        except OSError:
            pass
    return described
