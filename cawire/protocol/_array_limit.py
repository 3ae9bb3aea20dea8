"""EPICS_CA_MAX_ARRAY_BYTES as a client applies it (libca's ECA_TOLARGE).

With EPICS_CA_AUTO_ARRAY_BYTES=NO a client accepts no message longer than
the configured array size plus an extended header, and never below the
classic 16 kB buffer; a request whose reply (or payload) would not fit is
refused before it is sent, and a reply that arrives too long is skipped
unread and fails the read that asked for it.  The values come from
``cawire.config``; nothing here reads the environment.
"""
from __future__ import annotations

from typing import Any

from ._commands import ReadNotifyRequest, ReadRequest
from ._dbr import payload_size as dbr_payload_size
from ._exceptions import CaprotoValueError, ErrorResponseReceived

__all__ = ('message_size_limit', 'check_request_size', 'oversized_read_ioid',
           'oversized_reply_error', 'report_oversized')

#: A message never needs more than this beyond its payload (extended header).
_HEADER_ROOM = 24
#: libca's classic receive buffer: the limit is never below it.
_MIN_MESSAGE = 16384
#: Replies that answer a read (the ones whose request fails when skipped).
_READ_IDS = frozenset({ReadNotifyRequest.ID, ReadRequest.ID})


def message_size_limit(max_array_bytes: int,
                       auto_array_bytes: bool) -> int | None:
    """Longest message a client circuit keeps (header included), or None
    when EPICS_CA_AUTO_ARRAY_BYTES lets arrays be any size."""
    if auto_array_bytes:
        return None
    return max(max_array_bytes + _HEADER_ROOM, _MIN_MESSAGE)


def check_request_size(command: Any, native_count: int | None,
                       limit: int | None, max_array_bytes: int) -> None:
    """Refuse ``command`` if its reply (or payload) exceeds ``limit``.

    Parameters
    ----------
    command : ReadNotifyRequest, ReadRequest, WriteNotifyRequest, ...
        Its header's type and count size the data.
    native_count : int or None
        The channel's element count, used when the request asks for the
        current length (count 0).
    limit : int or None
        From :func:`message_size_limit`.
    max_array_bytes : int
        Quoted in the error.

    Raises
    ------
    CaprotoValueError
        ECA_TOLARGE.
    """
    if limit is None:
        return
    header = command.header
    count = header.data_count or native_count or 0
    size = dbr_payload_size(header.data_type, count)
    if size + _HEADER_ROOM > limit:
        raise CaprotoValueError(
            f'{size}-byte request exceeds EPICS_CA_MAX_ARRAY_BYTES '
            f'({max_array_bytes}) (ECA_TOLARGE)')


def oversized_read_ioid(fields: tuple) -> int | None:
    """The ioid of the read that a skipped reply (its header ``fields``,
    as :class:`ReceiveArena` reports them) answered, or None when it
    answered no read."""
    if fields[0] in _READ_IDS:
        return fields[5]
    return None


def oversized_reply_error(payload_size: int) -> ErrorResponseReceived:
    """What the read of a skipped reply fails with."""
    return ErrorResponseReceived(
        f'reply of {payload_size} bytes exceeds EPICS_CA_MAX_ARRAY_BYTES '
        f'(ECA_TOLARGE)')


def report_oversized(log: Any, payload_size: int, so_far: int) -> None:
    """Log a skipped reply as libca does: a warning the first time on a
    circuit, then only at DEBUG (``so_far`` counts this one)."""
    emit = log.warning if so_far == 1 else log.debug
    emit('Discarded a %d-byte reply: larger than EPICS_CA_MAX_ARRAY_BYTES '
         'allows (%d so far on this circuit)', payload_size, so_far)
