"""Raw CA bytes and socket odds and ends shared by the fault tools.

Deliberately independent of the cawire core: the fault tools must be able
to produce bytes the core would refuse to build.
"""
from __future__ import annotations

import socket
import struct
from collections.abc import Iterator

HEADER = struct.Struct('>HHHHII')
EXTENSION = struct.Struct('>II')
SEARCH = 6
VERSION = 0
#: Seconds allowed for a fault tool's thread to end on close().
JOIN_TIMEOUT = 5.0


def header(command: int, payload_size: int = 0, data_type: int = 0,
           data_count: int = 0, p1: int = 0, p2: int = 0) -> bytes:
    """A standard 16-byte header (no checks: any field value goes)."""
    return HEADER.pack(command, payload_size, data_type, data_count, p1, p2)


def extended_header(command: int, payload_size: int, data_type: int,
                    data_count: int, p1: int, p2: int) -> bytes:
    """A 24-byte extended header announcing ``payload_size`` bytes."""
    return (HEADER.pack(command, 0xFFFF, data_type, 0, p1, p2)
            + EXTENSION.pack(payload_size, data_count))


def iter_headers(data: bytes) -> Iterator[tuple[int, tuple]]:
    """(offset, fields) of each standard-header message in a datagram."""
    offset = 0
    while offset + HEADER.size <= len(data):
        fields = HEADER.unpack_from(data, offset)
        yield offset, fields
        size = fields[1]
        if size == 0xFFFF or size % 8:
            return
        offset += HEADER.size + size


def close_quietly(sock: socket.socket) -> None:
    try:
        sock.close()
    except OSError:
        pass
