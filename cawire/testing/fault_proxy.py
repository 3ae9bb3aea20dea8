"""A loopback CA proxy that loses, delays, throttles and pauses traffic.

:class:`FaultProxy` stands between CA clients and one server: it answers on
its own port (UDP searches and TCP circuits), forwards to the server, and
can drop a fraction of search datagrams, delay or throttle TCP, pause one
direction of every circuit, or cut all circuits.  Loopback only; every
thread is a daemon with bounded waits and is joined on ``close()``.
"""
from __future__ import annotations

import collections
import logging
import random
import selectors
import socket
import struct
import threading
import time

from ._raw_ca import JOIN_TIMEOUT, SEARCH, close_quietly, iter_headers
from .epics import LOOPBACK, free_port

__all__ = ('FaultProxy', 'UP', 'DOWN')

logger = logging.getLogger('cawire.testing.faults')

#: Directions of a proxied circuit: client to server, server to client.
UP, DOWN = 'up', 'down'

#: Bytes a paused or delayed direction buffers before it stops reading (the
#: sender then sees TCP back-pressure, as behind a real slow link).
_DIRECTION_BUFFER_LIMIT = 256 * 1024



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
            close_quietly(sock)
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
            close_quietly(server)
            close_quietly(client)
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
        searches = sum(1 for _, fields in iter_headers(data)
                       if fields[0] == SEARCH)
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
        for offset, fields in iter_headers(data):
            if fields[0] == SEARCH:
                # data_type of a search reply is the server's TCP port.
                struct.pack_into('>H', rewritten, offset + 4, self.port)
        self.replies_forwarded += 1
        self._udp.sendto(bytes(rewritten), client)

    # -- lifecycle --------------------------------------------------------

    def _close_sockets(self):
        for sock in [self._udp, self._tcp, *self._upstream.values()]:
            close_quietly(sock)

    def close(self) -> None:
        """Stop the proxy thread, close every link and socket."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            links = list(self.links)
        self._thread.join(JOIN_TIMEOUT)
        self._selector.close()
        self._close_sockets()
        for link in links:
            link.close()
        for link in links:
            link.join(JOIN_TIMEOUT)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
