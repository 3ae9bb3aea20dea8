"""Circuit-level commands: keep-alive, flow control, client identity,
server errors, and the obsolete commands.

None of these concern one channel's data: ECHO and READ_SYNC probe the
circuit, EVENTS_OFF/ON throttle subscription traffic, CLIENT_NAME/HOST_NAME
feed access security, ERROR reports a failed request by embedding its
header.  The obsolete SNAPSHOT, BUILD, READ_BUILD and SIGNAL parse (so a
trace of an old peer can be read) but nothing in cawire sends them.
"""
from __future__ import annotations

from typing import Any

from ._commands_base import (Message, NamedMessage, buffer_nbytes, encode_name,
                             header_field, nul_terminated, status_from_wire,
                             status_to_wire, u32)
from ._exceptions import CaprotoValueError, RemoteProtocolError
from ._headers import (EXTENDED_HEADER_SIZE, EXTENDED_MARKER, HEADER_SIZE,
                       ExtendedMessageHeader, MessageHeader)
from ._roles import REQUEST, RESPONSE
from ._status import CAStatusCode

__all__ = (
    'EchoRequest', 'EchoResponse', 'EventsOffRequest', 'EventsOnRequest',
    'ReadSyncRequest', 'ReadSyncResponse', 'ClientNameRequest',
    'HostNameRequest', 'ErrorResponse',
    'Snapshot', 'Build', 'ReadBuild', 'Signal',
)


class _HeaderOnly(Message):
    """A command made of a header whose fields are all zero."""

    __slots__ = ()

    def __init__(self):
        self._init_fields(0, 0, 0, 0)


class EchoRequest(_HeaderOnly):
    """ECHO (23) from a client: "are you still there?"."""

    __slots__ = ()
    ID = 23
    DIRECTION = REQUEST


class EchoResponse(_HeaderOnly):
    """ECHO (23) from a server: the echoed header."""

    __slots__ = ()
    ID = 23
    DIRECTION = RESPONSE


class EventsOffRequest(_HeaderOnly):
    """EVENTS_OFF (8): stop subscription updates on this circuit (flow
    control); the server keeps only the latest value per subscription."""

    __slots__ = ()
    ID = 8
    DIRECTION = REQUEST


class EventsOnRequest(_HeaderOnly):
    """EVENTS_ON (9): resume subscription updates."""

    __slots__ = ()
    ID = 9
    DIRECTION = REQUEST


class ReadSyncRequest(_HeaderOnly):
    """READ_SYNC (10), deprecated: old clients' echo substitute."""

    __slots__ = ()
    ID = 10
    DIRECTION = REQUEST


class ReadSyncResponse(_HeaderOnly):
    """READ_SYNC (10) echoed back by the server."""

    __slots__ = ()
    ID = 10
    DIRECTION = RESPONSE


class ClientNameRequest(NamedMessage):
    """CLIENT_NAME (20): the client's user name, for access security."""

    __slots__ = ()
    ID = 20
    DIRECTION = REQUEST
    _REPR_FIELDS = ('name',)

    def __init__(self, name):
        self._init_fields(0, 0, 0, 0, (b'', encode_name(name, 'client name')))


class HostNameRequest(NamedMessage):
    """HOST_NAME (21): the client's host name, for access security."""

    __slots__ = ()
    ID = 21
    DIRECTION = REQUEST
    _REPR_FIELDS = ('name',)

    def __init__(self, name):
        self._init_fields(0, 0, 0, 0, (b'', encode_name(name, 'host name')))


def _header_bytes_of(original_request) -> bytes:
    """The wire header of whatever identifies the failed request."""
    if isinstance(original_request, Message):
        return original_request.header_bytes
    if isinstance(original_request, (MessageHeader, ExtendedMessageHeader)):
        return bytes(original_request)
    if isinstance(original_request, (bytes, bytearray, memoryview)):
        raw = bytes(original_request)
        if len(raw) in (HEADER_SIZE, EXTENDED_HEADER_SIZE):
            return raw
    raise CaprotoValueError(
        'original_request must be a command, a MessageHeader/'
        'ExtendedMessageHeader or its 16/24 bytes, not '
        f'{original_request!r}')


def _embedded_header_size(payload) -> int:
    # The embedded header is extended when its own payload_size slot holds
    # the marker and the payload is long enough to contain the 8 extra bytes.
    if (len(payload) >= EXTENDED_HEADER_SIZE
            and int.from_bytes(payload[2:4], 'big') == EXTENDED_MARKER):
        return EXTENDED_HEADER_SIZE
    return HEADER_SIZE


class ErrorResponse(Message):
    """ERROR (11): the server could not serve a request.

    Parameters
    ----------
    original_request : Message, MessageHeader, ExtendedMessageHeader or bytes
        The failed request; only its header is embedded (16 or 24 bytes).
    cid : int
        Channel id of the affected channel (0xFFFFFFFF if none).
    status : CAStatusCode or int
        The ECA code (carried in parameter2).
    error_message : str
        Context text (RSRV: usually the record name).
    """

    __slots__ = ()
    ID = 11
    DIRECTION = RESPONSE
    HAS_PAYLOAD = True
    _REPR_FIELDS = ('original_request', 'cid', 'status', 'error_message')

    def __init__(self, original_request, cid, status, error_message):
        if isinstance(error_message, str):
            # Informational text: never fail to report an error because of
            # a character latin-1 lacks.
            message = error_message.encode('latin-1', 'replace')
        else:
            message = bytes(error_message)
        message = message.split(b'\x00', 1)[0] + b'\x00'
        self._init_fields(0, 0, u32(cid, 'cid'), status_to_wire(status),
                          (_header_bytes_of(original_request), message))

    @classmethod
    def from_wire(cls, header_fields: tuple, payload: memoryview
                  ) -> 'ErrorResponse':
        """Parser constructor; rejects a payload too short to hold the
        embedded request header."""
        if len(payload) < HEADER_SIZE:
            raise RemoteProtocolError(
                f'ERROR message with a {len(payload)}-byte payload: too short '
                'to hold the embedded request header (16 bytes); header '
                f'{header_fields}')
        return super().from_wire(header_fields, payload)

    def _split_payload(self, payload):
        size = _embedded_header_size(payload)
        return (payload[:size], nul_terminated(payload, size))

    cid = header_field(4)
    """Client channel id of the failed request (0 if none)."""

    @property
    def status(self) -> CAStatusCode:
        """The ECA code of the failure."""
        return status_from_wire(self._h[5])

    @property
    def original_request(self) -> Any:
        """Header of the failed request (``MessageHeader`` or
        ``ExtendedMessageHeader``)."""
        raw = bytes(self.buffers[0])
        if len(raw) == EXTENDED_HEADER_SIZE:
            return ExtendedMessageHeader.from_buffer_copy(raw)
        return MessageHeader.from_buffer_copy(raw)

    @property
    def error_message(self) -> str:
        """The server's context text (latin-1, up to the first NUL)."""
        raw = bytes(self.buffers[1])
        return raw.split(b'\x00', 1)[0].decode('latin-1')


class _ObsoleteMessage(Message):
    """Base of commands no current peer uses; kept raw (fields and payload
    as received) so a trace can be inspected, never sent by cawire."""

    __slots__ = ()
    DIRECTION = None
    HAS_PAYLOAD = True
    _REPR_FIELDS = ('data_type', 'data_count', 'parameter1', 'parameter2')

    def __init__(self, data_type=0, data_count=0, parameter1=0, parameter2=0,
                 payload=b''):
        buffers = (bytes(payload),) if buffer_nbytes(payload) else ()
        self._init_fields(data_type, data_count, parameter1, parameter2,
                          buffers)

    data_type = header_field(2)
    """Header field data type, as received."""
    data_count = header_field(3)
    """Header field data count, as received."""
    parameter1 = header_field(4)
    """Header field parameter 1, as received."""
    parameter2 = header_field(5)
    """Header field parameter 2, as received."""


class Snapshot(_ObsoleteMessage):
    """SNAPSHOT (5), obsolete."""

    __slots__ = ()
    ID = 5


class Build(_ObsoleteMessage):
    """BUILD (7), obsolete."""

    __slots__ = ()
    ID = 7


class ReadBuild(_ObsoleteMessage):
    """READ_BUILD (16), obsolete."""

    __slots__ = ()
    ID = 16


class Signal(_ObsoleteMessage):
    """SIGNAL (25), obsolete."""

    __slots__ = ()
    ID = 25
