"""Fast forms for a server's hot paths: request fields, reply headers,
DBR metadata prefixes and the request-type rules.

A server answers every READ_NOTIFY and sends every monitor update to every
subscriber; building a command object for each (``ReadNotifyResponse``,
``EventAddResponse``) would cost more than the rest of the reply.  These
functions produce exactly the bytes those classes produce (the tests in
``tests/core`` compare them), from values the server already holds: a
payload it encoded once and shares between subscribers, the ids of the
request.  Everything here is keyed on the command classes' ``ID``, so the
command numbers still live in one place.

What they do not do is bookkeeping: a server echoes ioids and subscription
ids without tracking them in a ``VirtualCircuit`` (the circuit tracks the
handshake and the channels' lifecycle; see ``docs/architecture.md``).
"""
from __future__ import annotations

import struct

from ._commands import (EventAddRequest, EventAddResponse,
                        EventCancelResponse, ReadNotifyResponse, ReadResponse,
                        WriteNotifyResponse)
from ._commands_base import Message
from ._constants import CA_MINIMUM_SUPPORTED_VERSION, MAX_PRIORITY
from ._dbr import VALUE_OFFSET
from ._enums import ChannelType
from ._exceptions import RemoteProtocolError
from ._headers import HEADER_STRUCT, pack_header

__all__ = (
    'header_fields', 'subscription_mask', 'subscription_request',
    'check_version_request',
    'read_notify_header', 'read_header', 'event_add_header',
    'write_notify_reply', 'event_cancel_reply',
    'status_metadata', 'time_metadata', 'stsack_metadata',
    'graphic_metadata',
    'is_readable_type', 'is_writable_type', 'is_acknowledgement_type',
)

_pack_standard = HEADER_STRUCT.pack
_READ_NOTIFY = ReadNotifyResponse.ID
_READ = ReadResponse.ID
_EVENT_ADD = EventAddResponse.ID
_EVENT_CANCEL_ACK = EventCancelResponse.ID
_WRITE_NOTIFY = WriteNotifyResponse.ID
#: Values at or above this need the extended header (0xFFFF is its marker).
_STANDARD_LIMIT = 0xFFFF
#: EVENT_ADD request payload: f32 low, high, to, then the u16 mask.
_MASK_OFFSET = 12
_MASK = struct.Struct('>H')
_STATUS = struct.Struct('>hh')
_TIME = struct.Struct('>hhII')
_STSACK = struct.Struct('>hhHH')
_ZEROS = bytes(16)
_PUT_ACKT = int(ChannelType.PUT_ACKT)
_PUT_ACKS = int(ChannelType.PUT_ACKS)
_LAST_TYPE = int(ChannelType.CLASS_NAME)
_LAST_PLAIN_TYPE = int(ChannelType.DOUBLE)


# -- requests --------------------------------------------------------------

def header_fields(command: Message) -> tuple[int, int, int, int, int, int]:
    """``(command, payload_size, data_type, data_count, parameter1,
    parameter2)`` of a command, real (extended) sizes: one call instead of
    four property lookups when a server dispatches a request."""
    return command._h


def subscription_mask(command: EventAddRequest) -> int:
    """The DBE mask of an EVENT_ADD request (what ``command.mask`` gives,
    without decoding low/high/to)."""
    payload = command._payload  # type: ignore[attr-defined]
    return _MASK.unpack_from(payload, _MASK_OFFSET)[0]


def subscription_request(command: EventAddRequest
                         ) -> tuple[int, int, int, int, int]:
    """``(data_type, data_count, sid, subscriptionid, mask)`` of a received
    EVENT_ADD request, in one call."""
    _, _, data_type, data_count, sid, subscriptionid = command._h
    payload = command._payload  # type: ignore[attr-defined]
    return (data_type, data_count, sid, subscriptionid,
            _MASK.unpack_from(payload, _MASK_OFFSET)[0])


def check_version_request(priority: int, version: int) -> None:
    """Reject a client VERSION a server cannot serve (priority above 99, or
    a minor version older than the oldest supported).

    Raises
    ------
    RemoteProtocolError
    """
    if priority > MAX_PRIORITY or version < CA_MINIMUM_SUPPORTED_VERSION:
        raise RemoteProtocolError(
            f'unsupported priority {priority} / minor version {version}')


def is_readable_type(data_type: int) -> bool:
    """Valid type for READ/READ_NOTIFY/EVENT_ADD (0..34, 37, 38)."""
    return (0 <= data_type <= _LAST_TYPE
            and data_type != _PUT_ACKT and data_type != _PUT_ACKS)


def is_writable_type(data_type: int) -> bool:
    """Valid type for WRITE/WRITE_NOTIFY (plain types, PUT_ACKT/ACKS)."""
    return (0 <= data_type <= _LAST_PLAIN_TYPE
            or data_type == _PUT_ACKT or data_type == _PUT_ACKS)


def is_acknowledgement_type(data_type: int) -> bool:
    """PUT_ACKT / PUT_ACKS: a write that acknowledges alarms."""
    return data_type == _PUT_ACKT or data_type == _PUT_ACKS


# -- replies ---------------------------------------------------------------

def read_notify_header(payload_size: int, data_type: int, data_count: int,
                       status: int, ioid: int) -> bytes:
    """Header of a READ_NOTIFY reply (``ReadNotifyResponse``) whose
    ``payload_size`` bytes (already padded) follow; ``status`` is the wire
    ECA value."""
    if payload_size < _STANDARD_LIMIT and data_count < _STANDARD_LIMIT:
        return _pack_standard(_READ_NOTIFY, payload_size, data_type,
                              data_count, status, ioid)
    return pack_header(_READ_NOTIFY, payload_size, data_type, data_count,
                       status, ioid)


def read_header(payload_size: int, data_type: int, data_count: int,
                cid: int, ioid: int) -> bytes:
    """Header of a (deprecated) READ reply (``ReadResponse``): the CID
    where READ_NOTIFY has the status, as RSRV sends it."""
    return pack_header(_READ, payload_size, data_type, data_count, cid, ioid)


def event_add_header(payload_size: int, data_type: int, data_count: int,
                     status: int, subscriptionid: int) -> bytes:
    """Header of a monitor update (``EventAddResponse``): one per
    subscriber, in front of the payload they all share."""
    if payload_size < _STANDARD_LIMIT and data_count < _STANDARD_LIMIT:
        return _pack_standard(_EVENT_ADD, payload_size, data_type,
                              data_count, status, subscriptionid)
    return pack_header(_EVENT_ADD, payload_size, data_type, data_count,
                       status, subscriptionid)


def write_notify_reply(data_type: int, data_count: int, status: int,
                       ioid: int) -> bytes:
    """A whole WRITE_NOTIFY reply (``WriteNotifyResponse``) echoing the
    request's type and count."""
    if data_count < _STANDARD_LIMIT:
        return _pack_standard(_WRITE_NOTIFY, 0, data_type, data_count,
                              status, ioid)
    return pack_header(_WRITE_NOTIFY, 0, data_type, data_count, status, ioid)


def event_cancel_reply(data_type: int, data_count: int, sid: int,
                       subscriptionid: int) -> bytes:
    """A whole EVENT_CANCEL acknowledgement (``EventCancelResponse``: an
    empty EVENT_ADD echoing the request's type and count)."""
    if data_count < _STANDARD_LIMIT:
        return _pack_standard(_EVENT_CANCEL_ACK, 0, data_type, data_count,
                              sid, subscriptionid)
    return pack_header(_EVENT_CANCEL_ACK, 0, data_type, data_count, sid,
                       subscriptionid)


# -- DBR metadata prefixes ---------------------------------------------------
# What precedes the values in a STS/TIME/STSACK payload, for an encoder that
# holds the alarm and timestamp as plain ints (the server's cached
# encodings); the ctypes structures in ``_dbr`` give the same bytes.

def status_metadata(data_type: int, status: int, severity: int) -> bytes:
    """The metadata of a DBR_STS_* type (status, severity, its pad)."""
    return _STATUS.pack(status, severity) + \
        _ZEROS[:VALUE_OFFSET[data_type] - _STATUS.size]


def time_metadata(data_type: int, status: int, severity: int,
                  seconds: int, nanoseconds: int) -> bytes:
    """The metadata of a DBR_TIME_* type (status, severity, EPICS stamp,
    its pad)."""
    return _TIME.pack(status, severity, seconds, nanoseconds) + \
        _ZEROS[:VALUE_OFFSET[data_type] - _TIME.size]


def stsack_metadata(status: int, severity: int, acknowledge_transient: int,
                    acknowledge_severity: int) -> bytes:
    """The metadata of DBR_STSACK_STRING."""
    return _STSACK.pack(status, severity, acknowledge_transient,
                        acknowledge_severity)


def graphic_metadata(template: bytes, status: int, severity: int) -> bytes:
    """A GR/CTRL metadata ``template`` (built once from a ``_dbr``
    structure) with this status and severity."""
    return _STATUS.pack(status, severity) + template[_STATUS.size:]
