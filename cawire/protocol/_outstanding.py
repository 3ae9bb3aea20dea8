"""Requests waiting for their reply, and what an ERROR reply refers to.

A READ, READ_NOTIFY or WRITE_NOTIFY is outstanding from the moment it goes
through ``VirtualCircuit.send`` until its reply (or an ERROR naming its
ioid) goes through ``VirtualCircuit.process_command``, or the circuit dies.
The circuit keeps one :class:`OutstandingRequest` per ioid; a shell that
needs its own reply slot (the threading client's waiting caller, its
callback) subclasses it and hands its instance to
``VirtualCircuit.send_request``, so there is one ioid table, the core's.

An ERROR reply embeds the header of the request it refuses;
:func:`refused_request` reads it (the one place that does) and
:func:`error_exception` turns it into the exception a caller sees.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from ._commands import (ErrorResponse, EventAddRequest, EventCancelRequest,
                        ReadNotifyRequest, ReadNotifyResponse, ReadRequest,
                        ReadResponse, WriteNotifyRequest, WriteNotifyResponse)
from ._commands_base import Message
from ._exceptions import ErrorResponseReceived, PermissionDenied

if TYPE_CHECKING:  # pragma: no cover
    from ._channel import _BaseChannel

__all__ = ('OutstandingRequest', 'RefusedRequest', 'refused_request',
           'error_exception', 'IO_REQUESTS', 'IO_REPLIES')

#: Requests that get a reply naming their ioid.
IO_REQUESTS: frozenset[type[Message]] = frozenset(
    (ReadNotifyRequest, ReadRequest, WriteNotifyRequest))
#: The replies that complete them.
IO_REPLIES: frozenset[type[Message]] = frozenset(
    (ReadNotifyResponse, ReadResponse, WriteNotifyResponse))
_IO_REQUEST_IDS = {cls.ID: cls for cls in IO_REQUESTS}
_SUBSCRIPTION_REQUEST_IDS = {EventAddRequest.ID: EventAddRequest,
                             EventCancelRequest.ID: EventCancelRequest}
#: Status codes (code_with_severity names) that mean "access rights".
_ACCESS_DENIED = frozenset(('ECA_NORDACCESS', 'ECA_NOWTACCESS'))


class OutstandingRequest:
    """One request waiting for its reply.

    Attributes
    ----------
    ioid : int
    channel : channel object or None
        The channel the request is about (set by the circuit on send).
    repeats : int
        How many more replies the ioid expects (a server counts a client
        that reuses an ioid before the reply; a client never does).
    """

    __slots__ = ('ioid', 'channel', 'repeats')

    def __init__(self, ioid: int) -> None:
        self.ioid = ioid
        self.channel: _BaseChannel | None = None
        self.repeats = 0

    def __repr__(self) -> str:
        return f'<{type(self).__name__} ioid={self.ioid}>'


class RefusedRequest(NamedTuple):
    """What an ERROR reply refuses, from its embedded request header."""
    #: Command id of the refused request (None: the header is unreadable).
    command: int | None
    #: Its ioid, when it was READ / READ_NOTIFY / WRITE_NOTIFY.
    ioid: int | None
    #: Its subscriptionid, when it was EVENT_ADD / EVENT_CANCEL.
    subscriptionid: int | None
    #: Its cid, when it was CREATE_CHAN (parameter1) -- else None.
    parameter1: int | None


_UNREADABLE = RefusedRequest(None, None, None, None)


def refused_request(error: ErrorResponse) -> RefusedRequest:
    """Read the request header an ERROR reply embeds (never raises)."""
    try:
        original = error.original_request
        command = original.command
        parameter1, parameter2 = original.parameter1, original.parameter2
    except Exception:  # noqa: BLE001 - a mangled embedded header
        return _UNREADABLE
    return RefusedRequest(
        command,
        parameter2 if command in _IO_REQUEST_IDS else None,
        parameter2 if command in _SUBSCRIPTION_REQUEST_IDS else None,
        parameter1)


def error_exception(error: ErrorResponse, what: str) -> ErrorResponseReceived:
    """The exception for a request refused by ``error``.

    Parameters
    ----------
    error : ErrorResponse
    what : str
        What was refused, for the message (e.g. ``"read 'PV:NAME'"``).

    Returns
    -------
    PermissionDenied
        For ECA_NORDACCESS / ECA_NOWTACCESS (a READ or WRITE without the
        right: RSRV answers those with ERROR).
    ErrorResponseReceived
        For any other status.
    """
    status = error.status
    name = getattr(status, 'name', str(status))
    cls = PermissionDenied if name in _ACCESS_DENIED else \
        ErrorResponseReceived
    return cls(f'Server refused to {what}: {error.error_message} ({name})',
               response=error)
