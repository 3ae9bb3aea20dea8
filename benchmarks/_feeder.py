"""Write an increasing counter into one PV at a fixed rate (the ~1 kHz PV).

Usage: ``python _feeder.py HOST PORT PVNAME RATE``

softIoc cannot process a record faster than its 10 Hz periodic scan, so the
fast monitor PV is driven from outside with plain CA WRITE messages (no reply
expected). It speaks the few messages it needs over a raw socket rather than
through any of the clients under test, so no client library is involved in
producing the load, and it costs a few percent of one core.

Pacing follows absolute deadlines, so the average rate is the requested one
even though each sleep overshoots; after a stall it resumes without a burst.
"""
from __future__ import annotations

import socket
import struct
import sys
import time

HEADER = struct.Struct('>HHHHII')
CA_VERSION = 13
CMD_VERSION, CMD_WRITE, CMD_CREATE_CHAN = 0, 4, 18
CMD_CLIENT_NAME, CMD_HOST_NAME = 20, 21
DBR_DOUBLE = 6
MAX_RUN_SECONDS = 3600.0


def _padded(text: str) -> bytes:
    raw = text.encode() + b'\0'
    return raw + b'\0' * (-len(raw) % 8)


def _message(command: int, payload: bytes = b'', data_type: int = 0,
             data_count: int = 0, p1: int = 0, p2: int = 0) -> bytes:
    return HEADER.pack(command, len(payload), data_type, data_count, p1, p2) + payload


def connect_channel(host: str, port: int, name: str) -> tuple[socket.socket, int]:
    """Open a circuit, create one channel and return (socket, server id)."""
    sock = socket.create_connection((host, port), timeout=10.0)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.sendall(_message(CMD_VERSION, data_count=CA_VERSION)
                 + _message(CMD_CLIENT_NAME, _padded('bench-feeder'))
                 + _message(CMD_HOST_NAME, _padded('localhost'))
                 + _message(CMD_CREATE_CHAN, _padded(name), p1=1, p2=CA_VERSION))
    buffer = b''
    deadline = time.monotonic() + 10.0
    while time.monotonic() < deadline:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError('IOC closed the circuit')
        buffer += chunk
        while len(buffer) >= HEADER.size:
            command, size, _, _, p1, p2 = HEADER.unpack_from(buffer)
            if command == CMD_CREATE_CHAN and p1 == 1:
                return sock, p2
            buffer = buffer[HEADER.size + size:]
    raise TimeoutError(f'no CREATE_CHAN reply for {name}')


def main(host: str, port: str, name: str, rate: str) -> None:
    sock, sid = connect_channel(host, int(port), name)
    sock.setblocking(False)
    period = 1.0 / float(rate)
    start = next_due = time.monotonic()
    counter = 0
    while next_due - start < MAX_RUN_SECONDS:
        now = time.monotonic()
        if now < next_due:
            time.sleep(next_due - now)
        elif now - next_due > 0.05:
            next_due = now  # stalled: resume without a catch-up burst
        counter += 1
        try:
            sock.send(_message(CMD_WRITE, struct.pack('>d', counter),
                               DBR_DOUBLE, 1, sid, counter & 0xFFFFFFFF))
        except BlockingIOError:
            pass  # the IOC is not reading: drop this tick rather than queue
        try:
            if sock.recv(65536) == b'':  # nothing we need; keep it drained
                return
        except BlockingIOError:
            pass
        next_due += period


if __name__ == '__main__':
    main(*sys.argv[1:5])
