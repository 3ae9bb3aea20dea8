"""The ``Message`` base class shared by every Channel Access command class.

A command object is deliberately thin so that the stream parser can make one
per received message for the price of an object allocation and two attribute
stores:

* ``_h``: the header as a 6-tuple of ints ``(command, payload_size,
  data_type, data_count, parameter1, parameter2)`` with the *real* (extended)
  sizes and the padded payload size;
* ``_payload``: the received payload, a ``memoryview`` slice of the receive
  buffer (never a copy), or absent for commands built by the user.

Everything else (the ctypes ``.header``, ``.buffers``, decoded fields, data,
metadata) is derived lazily from those two and cached in further slots.
Commands built by the user store ``_h``, the payload ``_buffers`` and the
packed header bytes (packing also validates the field widths).

Serialization is canonical: ``bytes(cmd)`` is the header, the defined payload
bytes and zero padding up to the header's payload size.  A received message
whose pad bytes held garbage (RSRV does that) therefore re-serializes with
zero pads; every defined byte is reproduced exactly.
"""
from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterator
from typing import Any

from ._enums import ChannelType
from ._exceptions import CaprotoValueError
from ._headers import (EXTENDED_HEADER_SIZE, HEADER_SIZE, make_header,
                       needs_extended_header, pack_header, padded_length)
from ._roles import Direction
from ._status import CAStatus, CAStatusCode, eca_value_to_status

__all__ = ('Message',)

_new = object.__new__
_ZEROS = bytes(8)

#: latin-1 maps every byte to a character, so decoding names never fails and
#: round-trips exactly (caproto's default CAPROTO_STRING_ENCODING).
NAME_ENCODING = 'latin-1'
#: libca refuses PV names whose strlen+1 exceeds 1024 - 16 bytes.
MAX_NAME_BYTES = 1008

_CHANNEL_TYPES = tuple(ChannelType)


def channel_type(value: int) -> ChannelType | int:
    """``ChannelType`` for a wire value, or the int itself when out of range.

    Properties of received commands must not raise on a peer's odd value; the
    circuit layer decides whether the value is acceptable.
    """
    try:
        return _CHANNEL_TYPES[value]
    except (IndexError, TypeError):
        return value


def status_from_wire(value: int) -> CAStatusCode:
    """The ``CAStatusCode`` for a wire status (ECA_UNKNOWN if unknown)."""
    return eca_value_to_status[value]


def status_to_wire(status: CAStatus | CAStatusCode | int) -> int:
    """Accept a ``CAStatus`` member, ``CAStatusCode`` or int; return the
    wire value."""
    if isinstance(status, CAStatusCode):
        return status.code_with_severity
    if isinstance(status, CAStatus):
        return status.value.code_with_severity
    try:
        return int(status)
    except (TypeError, ValueError):
        raise CaprotoValueError(
            f'status must be a CAStatus, CAStatusCode or int, not {status!r}'
        ) from None


def ipv4_to_int(address) -> int:
    """Dotted-quad string (or int) to the big-endian u32 used on the wire."""
    if isinstance(address, int):
        if not 0 <= address <= 0xFFFFFFFF:
            raise CaprotoValueError(f'{address!r} is not an IPv4 address')
        return address
    try:
        return int(ipaddress.IPv4Address(address))
    except (ipaddress.AddressValueError, ValueError, TypeError):
        raise CaprotoValueError(
            f'{address!r} is not a dotted-quad IPv4 address') from None


def ipv4_from_int(value: int) -> str:
    """Wire u32 to a dotted-quad string."""
    return f'{value >> 24}.{(value >> 16) & 255}.{(value >> 8) & 255}.{value & 255}'


def encode_name(name, what: str = 'name') -> bytes:
    """Encode a PV/client/host name for the wire: bytes plus the NUL.

    The pad is added by the serializer.  ``name`` may be ``str`` (encoded as
    latin-1) or ``bytes``.
    """
    if (type(name) is str and name.isascii() and len(name) < MAX_NAME_BYTES
            and '\x00' not in name):
        # Every check below passes: the common case of every search and
        # CREATE_CHAN, without them.
        return (name + '\x00').encode('ascii')
    if isinstance(name, str):
        try:
            raw = name.encode(NAME_ENCODING)
        except UnicodeEncodeError:
            raise CaprotoValueError(
                f'{what} {name!r} cannot be encoded as {NAME_ENCODING}'
            ) from None
    elif isinstance(name, (bytes, bytearray, memoryview)):
        raw = bytes(name)
    else:
        raise CaprotoValueError(f'{what} must be str or bytes, not {name!r}')
    if b'\x00' in raw:
        raise CaprotoValueError(f'{what} {name!r} contains a NUL byte')
    if len(raw) + 1 > MAX_NAME_BYTES:
        raise CaprotoValueError(
            f'{what} is {len(raw)} bytes long; the limit is '
            f'{MAX_NAME_BYTES - 1}')
    return raw + b'\x00'


def nul_terminated(payload, start: int = 0) -> memoryview:
    """Slice of ``payload`` from ``start`` up to and including the first NUL
    (or to the end when there is none)."""
    view = memoryview(payload)[start:]
    # Names and error strings are short (RSRV: <= 512 bytes): a copy to
    # search for the NUL costs less than a byte loop.
    end = bytes(view).find(b'\x00')
    if end < 0:
        return view
    return view[:end + 1]


def decode_name(payload, start: int = 0) -> str:
    """Decode a NUL-terminated name; bytes after the NUL are pad."""
    if start:
        payload = memoryview(payload)[start:]
    # Latin-1 maps each byte to one character: decoding the pad as well and
    # cutting at the first NUL gives the same name with a single copy (a
    # server decodes one name per CREATE_CHAN and per searched name).
    return str(payload, NAME_ENCODING).partition('\x00')[0]


def buffer_nbytes(buf) -> int:
    """Length in bytes of any buffer-protocol object."""
    if isinstance(buf, (bytes, bytearray)):
        return len(buf)
    return memoryview(buf).nbytes


class Message:
    """Base of every command class.

    Class attributes
    ----------------
    ID : int
        Command id in the header (``EventCancelResponse`` shares id 1 with
        ``EventAddResponse``, as on the wire).
    DIRECTION : Direction or None
        ``REQUEST`` (client to server) or ``RESPONSE``; ``None`` for the
        obsolete commands, which are accepted from either side.
    HAS_PAYLOAD : bool
        Whether the command normally carries a payload.
    """

    __slots__ = ('_h', '_payload', '_buffers', '_header', '_wire_header',
                 '_sender_address')
    _h: tuple[int, int, int, int, int, int]
    _payload: memoryview
    _buffers: tuple
    _header: Any
    _wire_header: bytes
    _sender_address: tuple[str, int] | None

    ID: int = -1
    DIRECTION: Direction | None = None
    HAS_PAYLOAD = False
    #: Field names shown by ``repr`` (the constructor's parameters).
    _REPR_FIELDS: tuple = ()
    #: ``(name, default)`` pairs shown only when they differ from default.
    _REPR_OPTIONAL: tuple = ()

    # -- construction -----------------------------------------------------

    def _init_fields(self, data_type: int, data_count: int, parameter1: int,
                     parameter2: int, buffers: tuple = ()) -> None:
        """Set up a user-built command: header fields plus payload buffers.

        The payload size is the padded length of the buffers; packing the
        header here validates every field width once.
        """
        if buffers:
            size = 0
            for buf in buffers:
                size += len(buf) if type(buf) is bytes else buffer_nbytes(buf)
            payload_size = padded_length(size)
        else:
            payload_size = 0
        header = (self.ID, payload_size, data_type, data_count,
                  parameter1, parameter2)
        try:
            self._wire_header = pack_header(*header)
        except struct.error as exc:
            raise CaprotoValueError(
                f'{type(self).__name__}: a header field is out of range '
                f'({exc}): {header!r}') from None
        self._h = header
        self._buffers = buffers

    @classmethod
    def from_wire(cls, header_fields: tuple, payload: memoryview) -> Any:
        """Build a received command (parser hot path: no validation beyond
        what the class overrides, no decoding, no copy).

        Parameters
        ----------
        header_fields : tuple
            ``(command, payload_size, data_type, data_count, parameter1,
            parameter2)`` with the real sizes.
        payload : memoryview
            The payload (``payload_size`` bytes, padding included).
        """
        self = _new(cls)
        self._h = header_fields
        self._payload = payload
        return self

    # -- wire representation ------------------------------------------------

    def _split_payload(self, payload: memoryview) -> tuple:
        """Buffers of a received payload (what ``bytes()`` will emit before
        zero-padding).  Subclasses narrow this to the defined bytes."""
        return (payload,) if len(payload) else ()

    @property
    def buffers(self) -> tuple:
        """The payload as a tuple of buffers (without the trailing pad)."""
        try:
            return self._buffers
        except AttributeError:
            buffers = self._buffers = self._split_payload(self._payload)
            return buffers

    @property
    def header(self) -> Any:
        """The header as a ``MessageHeader`` or ``ExtendedMessageHeader``."""
        try:
            return self._header
        except AttributeError:
            header = self._header = make_header(*self._h)
            return header

    @property
    def header_bytes(self) -> bytes:
        """The packed header (16 or 24 bytes)."""
        try:
            return self._wire_header
        except AttributeError:
            raw = self._wire_header = pack_header(*self._h)
            return raw

    @property
    def payload_size(self) -> int:
        """Padded payload size from the header."""
        return self._h[1]

    @property
    def sender_address(self) -> tuple[str, int] | None:
        """``(host, port)`` of the datagram this came in, if known."""
        try:
            return self._sender_address
        except AttributeError:
            return None

    @sender_address.setter
    def sender_address(self, value: tuple[str, int] | None) -> None:
        self._sender_address = value

    def iter_buffers(self) -> Iterator[Any]:
        """Yield the wire buffers: header, payload buffers, zero padding."""
        yield self.header_bytes
        used = 0
        for buf in self.buffers:
            n = buffer_nbytes(buf)
            if n:
                used += n
                yield buf
        pad = self._h[1] - used
        if pad > 0:
            yield _ZEROS[:pad] if pad <= 8 else bytes(pad)

    def wire_buffers(self) -> list:
        """:meth:`iter_buffers` as a list (the send paths' form: no
        generator, no property call for a user-built command)."""
        try:
            out = [self._wire_header]
        except AttributeError:
            out = [self.header_bytes]
        try:
            buffers = self._buffers
        except AttributeError:
            buffers = self.buffers
        used = 0
        for buf in buffers:
            n = len(buf) if type(buf) is bytes else buffer_nbytes(buf)
            if n:
                used += n
                out.append(buf)
        pad = self._h[1] - used
        if pad > 0:
            out.append(_ZEROS[:pad] if pad <= 8 else bytes(pad))
        return out

    def __bytes__(self) -> bytes:
        return b''.join(bytes(b) if not isinstance(b, bytes) else b
                        for b in self.iter_buffers())

    def __len__(self) -> int:
        h = self._h
        extended = needs_extended_header(h[1], h[3])
        return (EXTENDED_HEADER_SIZE if extended else HEADER_SIZE) + h[1]

    @property
    def nbytes(self) -> int:
        """Length of the message on the wire."""
        return len(self)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Message):
            return NotImplemented
        return bytes(self) == bytes(other)

    def __hash__(self) -> int:
        return hash(bytes(self))

    def __repr__(self) -> str:
        parts = [f'{name}={self._safe_repr(name)}'
                 for name in self._REPR_FIELDS]
        for name, default in self._REPR_OPTIONAL:
            try:
                value = getattr(self, name)
            except Exception:  # noqa: BLE001 - repr must never raise
                continue
            if value != default:
                parts.append(f'{name}={value!r}')
        return f'{type(self).__name__}({", ".join(parts)})'

    def _safe_repr(self, name: str) -> str:
        # A received command may hold a malformed payload; its repr is still
        # wanted (for the log line reporting it), so never raise here.
        try:
            return repr(getattr(self, name))
        except Exception as exc:  # noqa: BLE001
            return f'<unavailable: {exc}>'


def header_field(index: int) -> property:
    """A read-only property giving header field ``index`` (an int)."""
    def get(self: Message) -> int:
        return self._h[index]
    return property(get)


def channel_type_field(index: int) -> property:
    """A read-only property giving header field ``index`` as a
    ``ChannelType`` (the int itself if out of range)."""
    def get(self: Message) -> ChannelType | int:
        return channel_type(self._h[index])
    return property(get)


def status_field(index: int) -> property:
    """A read-only property giving header field ``index`` as the
    ``CAStatusCode`` it encodes."""
    def get(self: Message) -> CAStatusCode:
        return eca_value_to_status[self._h[index]]
    return property(get)


def u32(value: Any, what: str) -> int:
    """Coerce ``value`` to int for a 32-bit header field (range checked when
    the header is packed)."""
    try:
        return int(value)
    except (TypeError, ValueError):
        raise CaprotoValueError(f'{what} must be an integer, not {value!r}') \
            from None


class NamedMessage(Message):
    """A command whose payload is one NUL-terminated, padded name
    (SEARCH, CREATE_CHAN, CLIENT_NAME, HOST_NAME)."""

    __slots__ = ()
    HAS_PAYLOAD = True

    def _split_payload(self, payload: memoryview) -> tuple:
        # Bytes after the NUL are pad and may hold garbage: drop them so that
        # re-serialization writes zeros.
        return (b'', nul_terminated(payload))

    @property
    def name(self) -> str:
        """The name, decoded as latin-1 (every byte maps to a character)."""
        return decode_name(self.buffers[1])
