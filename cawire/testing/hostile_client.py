"""A raw CA client that misbehaves against a server on loopback.

:class:`HostileClient` sends garbage, lying sizes, floods of requests and
channels, and can refuse to read.
"""
from __future__ import annotations

import random
import socket
import struct
import time

from ._raw_ca import (VERSION, close_quietly, extended_header, header,
                      iter_headers)
from .epics import LOOPBACK

__all__ = ('HostileClient',)



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
            self.send(header(VERSION, 0, 0, 13, 0, 0),
                      header(20, len(name) + (-len(name) % 8)) +
                      name + bytes(-len(name) % 8),
                      header(21, len(host) + (-len(host) % 8)) +
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
        self.send(extended_header(4, claimed, 6, max(claimed // 8, 1), 1, 1)
                  + bytes(64))

    def create_channels(self, name: str, count: int, first_cid: int = 1,
                        batch: int = 500) -> None:
        """Send ``count`` CREATE_CHAN requests (no waiting for replies)."""
        raw = name.encode('latin-1') + b'\0'
        padded = raw + bytes(-len(raw) % 8)
        for start in range(first_cid, first_cid + count, batch):
            stop = min(start + batch, first_cid + count)
            self.send(b''.join(header(18, len(padded), 0, 0, cid, 13) + padded
                               for cid in range(start, stop)))

    def create_channel(self, name: str, cid: int = 1,
                       timeout: float = 5.0) -> int:
        """CREATE_CHAN and wait for the reply; returns the sid."""
        self.create_channels(name, 1, first_cid=cid)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._buffer += self.receive(0.05)
            offset = 0
            for offset, fields in iter_headers(self._buffer):
                if fields[0] == 18 and fields[4] == cid:
                    self._buffer = b''
                    return fields[5]
            if self.eof:
                break
        raise TimeoutError(f'no CREATE_CHAN reply for {name!r}')

    def subscribe(self, sid: int, subscriptionid: int, data_type: int = 6,
                  count: int = 0, mask: int = 5) -> None:
        payload = struct.pack('>fffH', 0, 0, 0, mask) + bytes(2)
        self.send(header(1, len(payload), data_type, count, sid,
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
        close_quietly(self.sock)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
