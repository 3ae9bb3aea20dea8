"""Data commands: reads, writes and subscriptions.

The commands that carry DBR payloads (ReadNotifyResponse, EventAddResponse,
ReadResponse, WriteRequest, WriteNotifyRequest) keep the received payload as
a memoryview of the receive buffer and decode ``data``/``metadata`` only on
first access (then cache them), through ``cawire.protocol._payload.decode``; numeric
data come back as views on that buffer, so an 8 MB array is never copied by
the core.  Built by a user, they encode through ``cawire.protocol._payload.encode``.

The parser checks one thing eagerly, because it is cheap and protects every
later consumer: the payload must be long enough for the declared type and
count.  (Exception: a scalar string value may be short, as libca's DBR_STRING
WRITE and RSRV's READ reply send only strlen+1 bytes, padded.)
"""
from __future__ import annotations

import struct
from typing import Any

from . import _payload
from ._commands_base import (Message, buffer_nbytes, channel_type_field,
                             header_field, status_field, status_to_wire, u32)
from ._dbr import VALUE_OFFSET, VALUE_SIZE, DbrTypeBase
from ._exceptions import CaprotoValueError, RemoteProtocolError
from ._roles import REQUEST, RESPONSE

__all__ = (
    'ReadRequest', 'ReadResponse', 'ReadNotifyRequest', 'ReadNotifyResponse',
    'WriteRequest', 'WriteNotifyRequest', 'WriteNotifyResponse',
    'EventAddRequest', 'EventAddResponse', 'EventCancelRequest',
    'EventCancelResponse',
)

_new = object.__new__
#: Marks data/metadata not decoded yet.  Set eagerly (one store per message)
#: because a failed slot lookup raises AttributeError, which costs more
#: than the store on the first access every consumer makes.
_UNDECODED = object()
#: (value offset, value size) per DBR type id, for the parser's size check.
_LAYOUT = tuple(zip(VALUE_OFFSET, VALUE_SIZE))
_STRING_SIZE = 40


def _layout(data_type: int, what: str):
    try:
        if data_type < 0:
            raise IndexError
        return _LAYOUT[data_type]
    except (IndexError, TypeError):
        raise CaprotoValueError(
            f'{what}: {data_type!r} is not a DBR type (0..{len(_LAYOUT) - 1})'
        ) from None


def _as_byte_view(buf) -> memoryview:
    view = memoryview(buf)
    if view.format != 'B' or view.ndim != 1:
        view = view.cast('B')
    return view


def _data_from_wire(cls, header_fields, payload):
    """Parser constructor of the data commands (a plain function: the
    monitor hot path avoids a super() chain)."""
    data_type = header_fields[2]
    try:
        offset, size = _LAYOUT[data_type]
    except IndexError:
        raise RemoteProtocolError(
            f'{cls.__name__} with invalid DBR type {data_type} '
            f'(header {header_fields})') from None
    available = len(payload)
    if available < offset + header_fields[3] * size:
        if not (size == _STRING_SIZE and header_fields[3] == 1
                and available >= offset):
            raise RemoteProtocolError(
                f'{cls.__name__} payload of {available} bytes is too '
                f'short for {header_fields[3]} element(s) of DBR type '
                f'{data_type} ({offset + header_fields[3] * size} bytes '
                f'needed); header {header_fields}')
    self = _new(cls)
    self._h = header_fields
    self._payload = payload
    self._data = _UNDECODED
    return self


class _DataMessage(Message):
    """A command carrying a DBR payload: metadata part then values."""

    __slots__ = ('_data', '_metadata')
    HAS_PAYLOAD = True

    @classmethod
    def from_wire(cls, header_fields: tuple, payload: memoryview) -> Any:
        return _data_from_wire(cls, header_fields, payload)

    def _init_data(self, data, data_type, data_count, metadata,
                   parameter1, parameter2) -> None:
        """Encode ``data``/``metadata`` and set up the header.

        ``data=None`` gives a zero-filled payload of ``data_count`` elements
        (what a server sends with a failed status).  A ``data_count``
        different from the number of encoded elements truncates or
        zero-extends the values, as RSRV does for a count beyond the data.
        """
        data_type = int(data_type)
        offset, size = _layout(data_type, type(self).__name__)
        values: bytes | memoryview
        if data is None:
            count = 0 if data_count is None else int(data_count)
            (meta, _), _ = _payload.encode(data_type, None,
                                           metadata=metadata)
            values = bytes(count * size)
        else:
            (meta, values), encoded = _payload.encode(
                data_type, data, metadata=metadata)
            if data_count is None:
                count = encoded
            else:
                count = int(data_count)
                if count != encoded:
                    values = _as_byte_view(values)
                    wanted = count * size
                    if wanted <= len(values):
                        values = values[:wanted]
                    else:
                        values = bytes(values) + bytes(wanted - len(values))
        self._init_fields(data_type, count, parameter1, parameter2,
                          (meta, values))
        self._data = _UNDECODED

    def _split_payload(self, payload):
        h = self._h
        offset, size = _LAYOUT[h[2]]
        values = payload[offset:offset + h[3] * size]
        return (payload[:offset] if offset else b'', values)

    def _whole_payload(self) -> memoryview:
        try:
            return self._payload
        except AttributeError:
            meta, values = self._buffers
            if not buffer_nbytes(meta):
                return _as_byte_view(values)
            return memoryview(bytes(meta) + bytes(_as_byte_view(values)))

    def _decode(self):
        h = self._h
        metadata, data = _payload.decode(h[2], h[3], self._whole_payload())
        self._metadata = metadata
        self._data = data

    @property
    def data(self) -> Any:
        """Values: a numpy view (or array.array) for numbers, a
        DbrStringArray of bytes for strings.  Decoded on first access, then cached."""
        data = self._data
        if data is _UNDECODED:
            self._decode()
            data = self._data
        return data

    @property
    def metadata(self) -> DbrTypeBase | None:
        """The DBR metadata structure (``DBR_TIME_DOUBLE`` ...) or None for
        plain types.  Decoded on first access, then cached."""
        if self._data is _UNDECODED:
            self._decode()
        return self._metadata

    def time_scalar(self) -> tuple | None:
        """``(status, severity, secondsSinceEpoch, nanoSeconds, value)`` of
        a one-element numeric DBR_TIME payload, read without building the
        metadata structure or a numpy view (the monitor hot path of
        front ends); None for any other type or count (use ``data`` and
        ``metadata``)."""
        h = self._h
        return _payload.time_scalar(h[2], h[3], self._whole_payload())

    def decode_payload(self, encoding: str = 'latin-1'
                       ) -> tuple[DbrTypeBase | None, Any]:
        """Decode afresh with another string encoding; returns
        ``(metadata, data)`` without touching the cache."""
        h = self._h
        return _payload.decode(h[2], h[3], self._whole_payload(),
                               encoding=encoding)

    data_type = channel_type_field(2)
    """DBR type of the payload (a ``ChannelType``; the int if unknown)."""
    data_count = header_field(3)
    """Number of elements in the payload."""


class ReadNotifyResponse(_DataMessage):
    """READ_NOTIFY (15) reply: the value for request ``ioid``.

    ``status`` is the ECA code (a failed read still carries a zeroed
    payload of the requested size).
    """

    __slots__ = ()
    ID = 15
    DIRECTION = RESPONSE
    _REPR_FIELDS = ('data', 'data_type', 'data_count', 'status', 'ioid',
                    'metadata')

    def __init__(self, data, data_type, data_count, status, ioid, *,
                 metadata=None):
        self._init_data(data, data_type, data_count, metadata,
                        status_to_wire(status), u32(ioid, 'ioid'))

    status = status_field(4)
    """Completion status (a ``CAStatusCode``)."""
    ioid = header_field(5)
    """Request id (chosen by the client; the reply carries it back)."""


class EventAddResponse(_DataMessage):
    """EVENT_ADD (1) update for subscription ``subscriptionid``.

    A received EVENT_ADD with an empty payload is the cancel
    acknowledgement and parses as :class:`EventCancelResponse` instead.
    """

    __slots__ = ()
    ID = 1
    DIRECTION = RESPONSE
    _REPR_FIELDS = ('data', 'data_type', 'data_count', 'status',
                    'subscriptionid', 'metadata')

    def __init__(self, data, data_type, data_count, status, subscriptionid,
                 *, metadata=None):
        self._init_data(data, data_type, data_count, metadata,
                        status_to_wire(status),
                        u32(subscriptionid, 'subscriptionid'))

    @classmethod
    def from_wire(cls, header_fields: tuple, payload: memoryview) -> Any:
        """Parser constructor; an empty payload is the cancel
        acknowledgement, returned as an :class:`EventCancelResponse`."""
        if header_fields[1] == 0:
            return EventCancelResponse.from_wire(header_fields, payload)
        return _data_from_wire(cls, header_fields, payload)

    status = status_field(4)
    """Completion status (a ``CAStatusCode``)."""
    subscriptionid = header_field(5)
    """Subscription id (chosen by the client; updates carry it)."""


class _ChannelDataMessage(_DataMessage):
    """A data command addressed by channel ``sid`` and request ``ioid``
    (READ reply, WRITE, WRITE_NOTIFY): same fields, different ids."""

    __slots__ = ()
    _REPR_FIELDS = ('data', 'data_type', 'data_count', 'sid', 'ioid',
                    'metadata')

    def __init__(self, data, data_type, data_count, sid, ioid, *,
                 metadata=None):
        self._init_data(data, data_type, data_count, metadata,
                        u32(sid, 'sid'), u32(ioid, 'ioid'))

    sid = header_field(4)
    """Server channel id (the number the server chose for the channel)."""
    ioid = header_field(5)
    """Request id (chosen by the client; the reply carries it back)."""


class ReadResponse(_ChannelDataMessage):
    """READ (3) reply, deprecated (libca never sends READ).

    ``sid`` is caproto's name for parameter1; RSRV actually puts the CID
    there.
    """

    __slots__ = ()
    ID = 3
    DIRECTION = RESPONSE


class WriteRequest(_ChannelDataMessage):
    """WRITE (4): put without a reply.  libca sends the CID as ``ioid``."""

    __slots__ = ()
    ID = 4
    DIRECTION = REQUEST


class WriteNotifyRequest(_ChannelDataMessage):
    """WRITE_NOTIFY (19): put, answered once the record has processed."""

    __slots__ = ()
    ID = 19
    DIRECTION = REQUEST


class WriteNotifyResponse(Message):
    """WRITE_NOTIFY (19) reply: ``status`` of put ``ioid``."""

    __slots__ = ()
    ID = 19
    DIRECTION = RESPONSE
    _REPR_FIELDS = ('data_type', 'data_count', 'status', 'ioid')

    def __init__(self, data_type, data_count, status, ioid):
        self._init_fields(data_type, data_count, status_to_wire(status),
                          u32(ioid, 'ioid'))

    data_type = channel_type_field(2)
    """DBR type of the payload (a ``ChannelType``; the int if unknown)."""
    data_count = header_field(3)
    """Number of elements in the payload."""
    status = status_field(4)
    """Completion status (a ``CAStatusCode``)."""
    ioid = header_field(5)
    """Request id (chosen by the client; the reply carries it back)."""


class _GetRequest(Message):
    __slots__ = ()
    DIRECTION = REQUEST
    _REPR_FIELDS = ('data_type', 'data_count', 'sid', 'ioid')

    def __init__(self, data_type, data_count, sid, ioid):
        self._init_fields(data_type, data_count, u32(sid, 'sid'),
                          u32(ioid, 'ioid'))

    data_type = channel_type_field(2)
    """DBR type wanted in the reply (a ``ChannelType``)."""
    data_count = header_field(3)
    """Number of elements wanted (0: the current count)."""
    sid = header_field(4)
    """Server channel id (the number the server chose for the channel)."""
    ioid = header_field(5)
    """Request id (chosen by the client; the reply carries it back)."""


class ReadNotifyRequest(_GetRequest):
    """READ_NOTIFY (15): get ``data_count`` elements (0: the current
    length) of channel ``sid`` as ``data_type``; answered by ``ioid``."""

    __slots__ = ()
    ID = 15


class ReadRequest(_GetRequest):
    """READ (3), deprecated get (RSRV still serves it)."""

    __slots__ = ()
    ID = 3


_EVENT_ADD_PAYLOAD = struct.Struct('>fffH')
#: Payload buffers by (low, high, to, mask), shared: a client keeps one
#: EVENT_ADD per live subscription, nearly all with the same few payloads.
_EVENT_ADD_BUFFERS: dict[tuple, tuple[bytes]] = {}
_EVENT_ADD_BUFFERS_MAX = 64


class EventAddRequest(Message):
    """EVENT_ADD (1): subscribe to channel ``sid``.

    Parameters
    ----------
    data_type, data_count : int
        As for a read (count 0: dynamic length).
    sid, subscriptionid : int
    low, high, to : float
        Unused by servers (sent as 0).
    mask : int
        ``SubscriptionType`` bits (DBE_VALUE | DBE_ALARM ...).
    """

    __slots__ = ()
    ID = 1
    DIRECTION = REQUEST
    HAS_PAYLOAD = True
    _REPR_FIELDS = ('data_type', 'data_count', 'sid', 'subscriptionid',
                    'low', 'high', 'to', 'mask')

    def __init__(self, data_type, data_count, sid, subscriptionid, low,
                 high, to, mask):
        key = (low, high, to, mask)
        try:
            buffers = _EVENT_ADD_BUFFERS.get(key)
        except TypeError:  # unhashable: packing says what is wrong
            key, buffers = None, None
        if buffers is None:
            try:
                buffers = (_EVENT_ADD_PAYLOAD.pack(low, high, to, mask),)
            except struct.error as exc:
                raise CaprotoValueError(
                    f'EventAddRequest: bad low/high/to/mask ({exc})') from None
            if key is not None and \
                    len(_EVENT_ADD_BUFFERS) < _EVENT_ADD_BUFFERS_MAX:
                _EVENT_ADD_BUFFERS[key] = buffers
        self._init_fields(data_type, data_count, u32(sid, 'sid'),
                          u32(subscriptionid, 'subscriptionid'), buffers)

    @classmethod
    def from_wire(cls, header_fields: tuple, payload: memoryview
                  ) -> 'EventAddRequest':
        """Parser constructor; rejects a payload shorter than the 16 bytes
        of low/high/to/mask."""
        if len(payload) < _EVENT_ADD_PAYLOAD.size:
            raise RemoteProtocolError(
                f'EVENT_ADD request with a {len(payload)}-byte payload; 16 '
                f'expected (header {header_fields})')
        return super().from_wire(header_fields, payload)

    def _split_payload(self, payload):
        # The last two bytes are pad.
        return (payload[:_EVENT_ADD_PAYLOAD.size],)

    def _fields(self) -> tuple[float, float, float, int]:
        return _EVENT_ADD_PAYLOAD.unpack_from(self.buffers[0])

    data_type = channel_type_field(2)
    """DBR type wanted in the updates (a ``ChannelType``)."""
    data_count = header_field(3)
    """Number of elements wanted in each update (0: the current count)."""
    sid = header_field(4)
    """Server channel id (the number the server chose for the channel)."""
    subscriptionid = header_field(5)
    """Subscription id (chosen by the client; updates carry it)."""

    @property
    def low(self) -> float:
        """Lower deadband limit (unused by servers)."""
        return self._fields()[0]

    @property
    def high(self) -> float:
        """Upper deadband limit (unused by servers)."""
        return self._fields()[1]

    @property
    def to(self) -> float:
        """Timeout (unused by servers)."""
        return self._fields()[2]

    @property
    def mask(self) -> int:
        """``SubscriptionType`` bits."""
        return self._fields()[3]


class _EventCancel(Message):
    """Fields shared by the cancel request and its acknowledgement."""

    __slots__ = ()

    def _init_cancel(self, data_type, sid, subscriptionid, data_count):
        self._init_fields(data_type, data_count, u32(sid, 'sid'),
                          u32(subscriptionid, 'subscriptionid'))

    data_type = channel_type_field(2)
    """DBR type of the subscription concerned (a ``ChannelType``)."""
    data_count = header_field(3)
    """Element count header field, as sent."""
    sid = header_field(4)
    """Server channel id (the number the server chose for the channel)."""
    subscriptionid = header_field(5)
    """Subscription id (chosen by the client; updates carry it)."""


class EventCancelRequest(_EventCancel):
    """EVENT_CANCEL (2): end subscription ``subscriptionid`` on ``sid``.

    ``data_count`` repeats the EVENT_ADD's count (libca sends 0 when it
    subscribed with 0).
    """

    __slots__ = ()
    ID = 2
    DIRECTION = REQUEST
    _REPR_FIELDS = ('data_type', 'sid', 'subscriptionid')
    _REPR_OPTIONAL = (('data_count', 0),)

    def __init__(self, data_type, sid, subscriptionid, *, data_count=0):
        self._init_cancel(data_type, sid, subscriptionid, data_count)


class EventCancelResponse(_EventCancel):
    """The cancel acknowledgement: on the wire an EVENT_ADD (command 1)
    with an empty payload, echoing the subscription's type and count."""

    __slots__ = ()
    ID = 1
    DIRECTION = RESPONSE
    _REPR_FIELDS = ('data_type', 'sid', 'subscriptionid', 'data_count')

    def __init__(self, data_type, sid, subscriptionid, data_count):
        self._init_cancel(data_type, sid, subscriptionid, data_count)
