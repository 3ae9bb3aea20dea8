"""Channel Access message headers.

Every CA message starts with a 16-byte big-endian header; messages whose
payload or element count does not fit in 16 bits use a 24-byte *extended*
header (payload_size field 0xFFFF and count 0 as a marker, then two u32 with
the real values).  See ca-protocol.md section 1.

Two representations exist on purpose:

* ``MessageHeader`` / ``ExtendedMessageHeader`` are ctypes structures, the
  readable user-visible ``.header`` of a command (built lazily, never on the
  parse path).
* ``HEADER_STRUCT`` / ``EXTENDED_STRUCT`` (``struct.Struct``) and
  :func:`pack_header` are what the parser and the serializer use: unpacking
  six ints with ``unpack_from`` is several times cheaper than instantiating a
  ctypes structure per message.
"""
from __future__ import annotations

import ctypes
import struct
from typing import Any, ClassVar, cast

__all__ = (
    'MessageHeader', 'ExtendedMessageHeader',
    'HEADER_STRUCT', 'EXTENDED_STRUCT', 'EXTENDED_HEADER_STRUCT',
    'pack_header', 'make_header', 'unpack_header', 'needs_extended_header',
    'padded_length',
)

HEADER_STRUCT = struct.Struct('>HHHHII')
#: The two u32 that follow a standard header when it is extended.
EXTENDED_STRUCT = struct.Struct('>II')
#: A whole extended header in one go (marker fields included).
EXTENDED_HEADER_STRUCT = struct.Struct('>HHHHIIII')

HEADER_SIZE = HEADER_STRUCT.size                    # 16
EXTENDED_HEADER_SIZE = EXTENDED_HEADER_STRUCT.size  # 24
#: payload_size value announcing an extended header.  A standard header can
#: never carry it as a real size, hence the ">=" in the switch rule.
EXTENDED_MARKER = 0xFFFF

_MAX_U16 = 0xFFFF

_pack_standard = HEADER_STRUCT.pack
_pack_extended = EXTENDED_HEADER_STRUCT.pack


class _HeaderRepr:
    """Mixin giving ctypes structures a caproto-style repr and equality."""

    __slots__ = ()
    _fields_: ClassVar[list[tuple[str, Any]]]

    def __repr__(self) -> str:
        fields = ', '.join(f'{name}={getattr(self, name)!r}'
                           for name, _ in self._fields_)
        return f'{type(self).__name__}({fields})'

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ctypes.Structure):
            return NotImplemented
        return bytes(cast(ctypes.Structure, self)) == bytes(other)

    def __hash__(self) -> int:
        return hash(bytes(cast(ctypes.Structure, self)))


class MessageHeader(_HeaderRepr, ctypes.BigEndianStructure):
    """The standard 16-byte CA message header."""

    _pack_ = 1
    _fields_ = [
        ('command', ctypes.c_uint16),
        ('payload_size', ctypes.c_uint16),
        ('data_type', ctypes.c_uint16),
        ('data_count', ctypes.c_uint16),
        ('parameter1', ctypes.c_uint32),
        ('parameter2', ctypes.c_uint32),
    ]


class ExtendedMessageHeader(_HeaderRepr, ctypes.BigEndianStructure):
    """The 24-byte extended header used for large payloads or counts.

    ``marker1`` (the 16-bit payload_size slot) is 0xFFFF and ``marker2`` (the
    16-bit count slot) is 0; ``payload_size`` and ``data_count`` are the real
    32-bit values that follow the standard part.
    """

    _pack_ = 1
    _fields_ = [
        ('command', ctypes.c_uint16),
        ('marker1', ctypes.c_uint16),
        ('data_type', ctypes.c_uint16),
        ('marker2', ctypes.c_uint16),
        ('parameter1', ctypes.c_uint32),
        ('parameter2', ctypes.c_uint32),
        ('payload_size', ctypes.c_uint32),
        ('data_count', ctypes.c_uint32),
    ]


assert ctypes.sizeof(MessageHeader) == HEADER_SIZE
assert ctypes.sizeof(ExtendedMessageHeader) == EXTENDED_HEADER_SIZE


def padded_length(n: int) -> int:
    """Round ``n`` up to the CA message alignment (a multiple of 8)."""
    return (n + 7) & ~7


def needs_extended_header(payload_size: int, data_count: int) -> bool:
    """Whether libca/RSRV would use the extended form for these sizes.

    The rule is ``>=`` (not ``>``): 0xFFFF in the 16-bit payload_size slot is
    the extension marker, so it can never be a real standard-header size.
    """
    return payload_size >= _MAX_U16 or data_count >= _MAX_U16


def pack_header(command: int, payload_size: int, data_type: int,
                data_count: int, parameter1: int, parameter2: int) -> bytes:
    """Pack a header, choosing the extended form when the sizes require it.

    Parameters
    ----------
    command, payload_size, data_type, data_count, parameter1, parameter2 : int
        Header fields; ``payload_size`` must already be the padded size.

    Returns
    -------
    bytes
        16 bytes, or 24 when ``payload_size >= 0xFFFF`` or
        ``data_count >= 0xFFFF``.

    Raises
    ------
    struct.error
        If a field does not fit its wire width (callers turn this into
        their own error type; see ``cawire.protocol._commands``).
    """
    if payload_size >= _MAX_U16 or data_count >= _MAX_U16:
        return _pack_extended(command, EXTENDED_MARKER, data_type, 0,
                              parameter1, parameter2, payload_size,
                              data_count)
    return _pack_standard(command, payload_size, data_type, data_count,
                          parameter1, parameter2)


def make_header(command: int, payload_size: int, data_type: int,
                data_count: int, parameter1: int, parameter2: int
                ) -> MessageHeader | ExtendedMessageHeader:
    """Build the ctypes header structure for these fields (switch rule as in
    :func:`pack_header`)."""
    if payload_size >= _MAX_U16 or data_count >= _MAX_U16:
        return ExtendedMessageHeader(command, EXTENDED_MARKER, data_type, 0,
                                     parameter1, parameter2, payload_size,
                                     data_count)
    return MessageHeader(command, payload_size, data_type, data_count,
                         parameter1, parameter2)


def unpack_header(buf: bytes | bytearray | memoryview,
                  offset: int = 0) -> tuple:
    """Unpack the header at ``buf[offset:]``.

    Returns
    -------
    (fields, header_size) or (None, needed)
        ``fields`` is ``(command, payload_size, data_type, data_count,
        parameter1, parameter2)`` with the real (extended) sizes;
        ``header_size`` is 16 or 24.  When ``buf`` does not hold the whole
        header, ``(None, needed)`` gives the header length needed from
        ``offset`` (16 or 24).
    """
    available = len(buf) - offset
    if available < HEADER_SIZE:
        return None, HEADER_SIZE
    fields = HEADER_STRUCT.unpack_from(buf, offset)
    if fields[1] == EXTENDED_MARKER:
        if available < EXTENDED_HEADER_SIZE:
            return None, EXTENDED_HEADER_SIZE
        payload_size, data_count = EXTENDED_STRUCT.unpack_from(
            buf, offset + HEADER_SIZE)
        fields = (fields[0], payload_size, fields[2], data_count,
                  fields[4], fields[5])
        return fields, EXTENDED_HEADER_SIZE
    return fields, HEADER_SIZE
