"""Count the CA searches a client namespace sends (no tcpdump needed).

Run inside the client's namespace as
``python -m benchmarks.scale._counter <interface> <own address> [<port>]``:
a packet socket on the interface sees every outgoing frame, and each
IPv4/UDP datagram from the own address to the server port (5064) is parsed with cawire's core into its
SEARCH requests. On ``snap`` (stdin) it prints one ``@@`` JSON line:
datagrams, UDP payload bytes, search requests, and searches per name prefix
(up to and including the first ':'). ``quit`` ends it.
"""
from __future__ import annotations

import collections
import json
import socket
import struct
import sys
import threading

from cawire.protocol import Role, SearchRequest
from cawire.protocol._framing import read_datagram

ETH_P_ALL = 0x0003
ETH_P_IP = 0x0800
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

    def run(self) -> None:
        while True:
            frame, info = self.sock.recvfrom(65536)
            if info[2] != PACKET_OUTGOING or len(frame) < 42:
                continue
            if struct.unpack_from('!H', frame, 12)[0] != ETH_P_IP:
                continue
            header_length = (frame[14] & 0x0F) * 4
            if frame[23] != socket.IPPROTO_UDP or frame[26:30] != self.own:
                continue
            udp = 14 + header_length
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
                        self.by_prefix[name[:name.find(':') + 1]] += 1

    def snapshot(self) -> dict:
        with self.lock:
            return {'datagrams': self.datagrams, 'bytes': self.bytes,
                    'searches': self.searches, 'errors': self.errors,
                    'by_prefix': dict(self.by_prefix)}


def main() -> None:
    port = int(sys.argv[3]) if len(sys.argv) > 3 else CA_SERVER_PORT
    counter = Counter(sys.argv[1], sys.argv[2], port)
    threading.Thread(target=counter.run, daemon=True).start()
    print('@@' + json.dumps({'event': 'ready'}), flush=True)
    for line in sys.stdin:
        if line.strip() == 'snap':
            print('@@' + json.dumps({'event': 'snap', **counter.snapshot()}),
                  flush=True)
        elif line.strip() == 'quit':
            break


if __name__ == '__main__':
    main()
