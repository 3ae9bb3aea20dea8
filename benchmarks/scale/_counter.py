"""Count the CA searches a client namespace sends (no tcpdump needed).

Run inside the client's namespace as
``python -m benchmarks.scale._counter <interface> <own address> [<port>]``:
a packet socket on the interface sees every outgoing frame, and each
IPv4/UDP datagram from the own address to the server port (5064) is parsed with cawire's core into its
SEARCH requests. On ``snap`` (stdin) it prints one ``@@`` JSON line:
datagrams, UDP payload bytes, search requests, and searches per name prefix
(up to and including the first ':'). ``watch <prefix>`` starts recording
when each search of a name with that prefix (``*``: every name) left and
when each reply to it came in (one prefix at a time); ``trace`` prints them (``{name:
[seconds since watch, ...]}`` for the searches, the same for the replies)
and stops; ``clock`` prints the seconds since ``watch``.
``quit`` ends it.
"""
from __future__ import annotations

import collections
import json
import socket
import struct
import sys
import threading
import time

from cawire.protocol import Role, SearchRequest, SearchResponse
from cawire.protocol._framing import read_datagram

ETH_P_ALL = 0x0003
ETH_P_IP = 0x0800
PACKET_HOST = 0
PACKET_OUTGOING = 4
CA_SERVER_PORT = 5064


class Counter:
    def __init__(self, interface: str, address: str, port: int):
        self.own = socket.inet_aton(address)
        self.port = port
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW,
                                  socket.htons(ETH_P_ALL))
        self.sock.bind((interface, 0))
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 << 20)
        self.lock = threading.Lock()
        self.datagrams = 0
        self.bytes = 0
        self.searches = 0
        self.by_prefix: collections.Counter = collections.Counter()
        self.errors = 0
        # The prefix being watched, its start, and name -> send times.
        self.watched: str | None = None
        self.watch_start = 0.0
        self.trace: dict[str, list[float]] = {}
        self.replies: dict[str, list[float]] = {}
        self.watched_cids: dict[int, str] = {}

    def run(self) -> None:
        while True:
            frame, info = self.sock.recvfrom(65536)
            if len(frame) < 42 or struct.unpack_from('!H', frame, 12)[0] != ETH_P_IP:
                continue
            header_length = (frame[14] & 0x0F) * 4
            udp = 14 + header_length
            if (info[2] == PACKET_HOST and self.watched is not None
                    and frame[23] == socket.IPPROTO_UDP
                    and frame[30:34] == self.own
                    and struct.unpack_from('!H', frame, udp)[0] == self.port):
                self._reply(frame[udp + 8:])
                continue
            if info[2] != PACKET_OUTGOING:
                continue
            if frame[23] != socket.IPPROTO_UDP or frame[26:30] != self.own:
                continue
            if struct.unpack_from('!H', frame, udp + 2)[0] != self.port:
                continue
            payload = frame[udp + 8:]
            try:
                commands = read_datagram(payload, None, Role.SERVER)
            except Exception:
                with self.lock:
                    self.errors += 1
                continue
            with self.lock:
                self.datagrams += 1
                self.bytes += len(payload)
                for command in commands:
                    if isinstance(command, SearchRequest):
                        self.searches += 1
                        name = command.name
                        prefix = name[:name.find(':') + 1]
                        self.by_prefix[prefix] += 1
                        if prefix == self.watched or self.watched == '*':
                            self.trace.setdefault(name, []).append(
                                time.monotonic() - self.watch_start)
                            self.watched_cids[command.cid] = name

    def _reply(self, payload: bytes) -> None:
        try:
            commands = read_datagram(payload, None, Role.CLIENT)
        except Exception:
            return
        now = time.monotonic()
        with self.lock:
            for command in commands:
                if isinstance(command, SearchResponse):
                    name = self.watched_cids.get(command.cid)
                    if name is not None:
                        self.replies.setdefault(name, []).append(
                            now - self.watch_start)

    def snapshot(self) -> dict:
        with self.lock:
            return {'datagrams': self.datagrams, 'bytes': self.bytes,
                    'searches': self.searches, 'errors': self.errors,
                    'by_prefix': dict(self.by_prefix)}

    def watch(self, prefix: str) -> None:
        with self.lock:
            self.watched = prefix
            self.watch_start = time.monotonic()
            self.trace = {}
            self.replies = {}
            self.watched_cids = {}

    def take_trace(self) -> tuple[dict, dict]:
        with self.lock:
            trace, self.trace, self.watched = self.trace, {}, None
            replies, self.replies = self.replies, {}
            self.watched_cids = {}
            return trace, replies


def main() -> None:
    port = int(sys.argv[3]) if len(sys.argv) > 3 else CA_SERVER_PORT
    counter = Counter(sys.argv[1], sys.argv[2], port)
    threading.Thread(target=counter.run, daemon=True).start()
    print('@@' + json.dumps({'event': 'ready'}), flush=True)
    for line in sys.stdin:
        if line.strip() == 'snap':
            print('@@' + json.dumps({'event': 'snap', **counter.snapshot()}),
                  flush=True)
        elif line.startswith('watch '):
            counter.watch(line.split()[1])
            print('@@' + json.dumps({'event': 'watching'}), flush=True)
        elif line.strip() == 'clock':
            print('@@' + json.dumps({'event': 'clock', 'elapsed':
                                     time.monotonic() - counter.watch_start}),
                  flush=True)
        elif line.strip() == 'trace':
            trace, replies = counter.take_trace()
            print('@@' + json.dumps({'event': 'trace', 'names': trace,
                                     'replies': replies}), flush=True)
        elif line.strip() == 'quit':
            break


if __name__ == '__main__':
    main()
