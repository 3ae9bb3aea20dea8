"""Message framing: TCP stream reassembly and UDP datagram parsing.

``parse_stream`` turns the bytes a circuit has received so far into command
objects.  It is the receive hot path of every client and server, so it is
written for speed and for safety against a hostile peer:

* zero copy: each payload is a ``memoryview`` slice of the caller's buffer
  (the caller keeps the buffer alive and unmodified while the commands are
  in use, and drops the consumed prefix itself);
* headers are unpacked with one ``struct.unpack_from`` at an offset, never
  through ctypes, and commands are built by a per-role dispatch table;
* a declared payload size is only compared with what is buffered, so a
  lying 4 GB size allocates nothing: the caller is told how many bytes the
  message needs and can apply its own limit (``max_payload``).
"""
from __future__ import annotations

import struct
from collections.abc import Callable, Collection
from typing import Any

from ._commands import COMMANDS
from ._exceptions import LocalProtocolError, RemoteProtocolError
from ._headers import (EXTENDED_HEADER_SIZE, EXTENDED_MARKER, EXTENDED_STRUCT,
                       HEADER_SIZE, HEADER_STRUCT)
from ._state import CLIENT, SERVER, Role

__all__ = ('parse_stream', 'parse_stream_grouped', 'read_datagram',
           'serialize')

_unpack_header = HEADER_STRUCT.unpack_from
#: A header's command id and payload size (the first two fields).
_unpack_id_and_size = struct.Struct('>HH').unpack_from
# The payload of every header-only message (CREATE_CHAN and ACCESS_RIGHTS
# replies, ECHO...): a slice of the buffer would be a new ~180-byte
# memoryview per message, thousands of them alive at once while a burst of
# channel creations is parsed.
NO_PAYLOAD = memoryview(b'')
_unpack_extension = EXTENDED_STRUCT.unpack_from


def _build_dispatch() -> dict[Role, dict[int, Callable[..., Any]]]:
    """role -> {command id: from_wire constructor}."""
    tables: dict[Role, dict[int, Callable[..., Any]]] = {CLIENT: {},
                                                          SERVER: {}}
    for (role, command_id), cls in COMMANDS.items():
        tables[role][command_id] = cls.from_wire
    return tables


_DISPATCH = _build_dispatch()


def _byte_view(buf: Any) -> memoryview:
    view = memoryview(buf)
    if view.format != 'B' or view.ndim != 1:
        view = view.cast('B')
    return view


def _unknown_command(role: Role, fields: tuple) -> RemoteProtocolError:
    return RemoteProtocolError(
        f'received command id {fields[0]}, which a {role.name.lower()} never '
        'receives (not a Channel Access peer, or a corrupted stream); '
        f'header fields {fields}')


def _misaligned(fields: tuple) -> RemoteProtocolError:
    return RemoteProtocolError(
        f'payload size {fields[1]} is not a multiple of 8 (misaligned '
        f'message); header fields {fields}')


def _too_large(fields: tuple, max_payload: int) -> RemoteProtocolError:
    return RemoteProtocolError(
        f'payload size {fields[1]} exceeds the limit of {max_payload} bytes; '
        f'header fields {fields}')


def parse_stream(buf: bytes | bytearray | memoryview, role: Role, *,
                 max_payload: int | None = None) -> tuple[list, int, int]:
    """Parse the whole messages at the start of a TCP receive buffer.

    Parameters
    ----------
    buf : bytes, bytearray or memoryview
        Received bytes, starting at a message boundary.  Payloads of the
        returned commands are views on it: do not modify the consumed part
        while they are in use (replace a bytearray instead of deleting from
        it, or copy what you keep).
    role : Role
        Our role (CLIENT parses responses, SERVER requests).
    max_payload : int, optional
        Largest acceptable payload; a larger declared size is an error
        (raised as soon as the header is seen, before waiting for data).

    Returns
    -------
    commands : list
        Commands parsed, in order.
    consumed : int
        Bytes of ``buf`` used by ``commands``.
    needed : int
        0 if ``consumed == len(buf)``; otherwise the total length (header
        and payload) of the next, incomplete message if its header is
        complete, else the header length needed (16 or 24).

    Raises
    ------
    RemoteProtocolError
        Misaligned payload size, command id ``role`` never receives,
        payload over ``max_payload``, payload too short for its declared
        DBR type and count, or other malformed content.  The exception
        carries ``commands`` and ``consumed`` for the messages before the
        bad one.
    """
    try:
        get_constructor = _DISPATCH[role].get
    except (KeyError, TypeError):
        raise LocalProtocolError(
            f'role must be CLIENT or SERVER, not {role!r}') from None
    view = _byte_view(buf)
    end_of_data = len(view)
    commands: list[Any] = []
    append = commands.append
    offset = 0
    needed = 0
    try:
        while True:
            remaining = end_of_data - offset
            if remaining < HEADER_SIZE:
                if remaining:
                    needed = HEADER_SIZE
                break
            fields = _unpack_header(view, offset)
            payload_size = fields[1]
            if payload_size == EXTENDED_MARKER:
                if remaining < EXTENDED_HEADER_SIZE:
                    needed = EXTENDED_HEADER_SIZE
                    break
                payload_size, count = _unpack_extension(view,
                                                        offset + HEADER_SIZE)
                fields = (fields[0], payload_size, fields[2], count,
                          fields[4], fields[5])
                start = offset + EXTENDED_HEADER_SIZE
            else:
                start = offset + HEADER_SIZE
            constructor = get_constructor(fields[0])
            if constructor is None:
                raise _unknown_command(role, fields)
            if payload_size & 7:
                raise _misaligned(fields)
            if max_payload is not None and payload_size > max_payload:
                raise _too_large(fields, max_payload)
            stop = start + payload_size
            if stop > end_of_data:
                needed = stop - offset
                break
            append(constructor(fields, view[start:stop] if payload_size
                               else NO_PAYLOAD))
            offset = stop
    except RemoteProtocolError as exc:
        exc.commands = commands
        exc.consumed = offset
        raise
    return commands, offset, needed


def parse_stream_grouped(buf: bytes | bytearray | memoryview, role: Role,
                         grouped: Collection[int],
                         make_group: Callable[[bytes], Any], *,
                         max_payload: int | None = None
                         ) -> tuple[list, int, int]:
    """:func:`parse_stream`, except that each run of header-only messages
    whose command id is in ``grouped`` comes as one ``make_group(headers)``
    (``headers``: a copy of the run's bytes, its 16-byte headers in order)
    instead of a command per message.  A run's headers stay bytes, not a
    tuple per message: a connect burst holds tens of thousands of them
    between parsing and applying, and each tuple would count towards the
    garbage collector's next pass.

    The same bytes are consumed, the same errors raised (``commands`` of
    an error holds the groups and commands before the bad message).  A
    message of a grouped id with a payload, or with an extended header,
    is a command as usual.
    """
    try:
        get_constructor = _DISPATCH[role].get
    except (KeyError, TypeError):
        raise LocalProtocolError(
            f'role must be CLIENT or SERVER, not {role!r}') from None
    view = _byte_view(buf)
    end_of_data = len(view)
    commands: list[Any] = []
    append = commands.append
    offset = 0
    needed = 0
    # The run being read: its place in ``commands`` and its first byte.
    run_index = -1
    run_start = 0
    try:
        while True:
            remaining = end_of_data - offset
            if remaining < HEADER_SIZE:
                if remaining:
                    needed = HEADER_SIZE
                break
            command_id, payload_size = _unpack_id_and_size(view, offset)
            if not payload_size and command_id in grouped:
                if run_index < 0:
                    run_index = len(commands)
                    run_start = offset
                    append(None)
                offset += HEADER_SIZE
                continue
            if run_index >= 0:
                commands[run_index] = make_group(bytes(view[run_start:offset]))
                run_index = -1
            fields = _unpack_header(view, offset)
            if payload_size == EXTENDED_MARKER:
                if remaining < EXTENDED_HEADER_SIZE:
                    needed = EXTENDED_HEADER_SIZE
                    break
                payload_size, count = _unpack_extension(view,
                                                        offset + HEADER_SIZE)
                fields = (fields[0], payload_size, fields[2], count,
                          fields[4], fields[5])
                start = offset + EXTENDED_HEADER_SIZE
            else:
                start = offset + HEADER_SIZE
            constructor = get_constructor(fields[0])
            if constructor is None:
                raise _unknown_command(role, fields)
            if payload_size & 7:
                raise _misaligned(fields)
            if max_payload is not None and payload_size > max_payload:
                raise _too_large(fields, max_payload)
            stop = start + payload_size
            if stop > end_of_data:
                needed = stop - offset
                break
            append(constructor(fields, view[start:stop] if payload_size
                               else NO_PAYLOAD))
            offset = stop
    except RemoteProtocolError as exc:
        # (A run is always closed before the message that raises.)
        exc.commands = commands
        exc.consumed = offset
        raise
    if run_index >= 0:
        commands[run_index] = make_group(bytes(view[run_start:offset]))
    return commands, offset, needed


def read_datagram(data: bytes | bytearray | memoryview,
                  address: tuple[str, int] | None, role: Role) -> list:
    """Parse one UDP datagram into commands.

    Parameters
    ----------
    data : bytes, bytearray or memoryview
        The datagram (payload views refer to it).
    address : (str, int)
        Its source; stored as each command's ``sender_address``.
    role : Role
        Our role.

    Returns
    -------
    list
        The commands; empty for an empty datagram (which is how libca
        registers with a repeater).

    Raises
    ------
    RemoteProtocolError
        As :func:`parse_stream`, and for a datagram that ends inside a
        message (truncated).
    """
    # The datagram's own length bounds every payload: no limit needed.
    commands, consumed, needed = parse_stream(data, role)
    if needed:
        exc = RemoteProtocolError(
            f'datagram from {address} is truncated: {len(data) - consumed} '
            f'trailing bytes, the next message needs {needed}')
        exc.commands = commands
        exc.consumed = consumed
        raise exc
    for command in commands:
        command._sender_address = address
    return commands


def serialize(*commands: Any) -> list[Any]:
    """Wire buffers of ``commands`` (headers, payloads, zero pads), ready
    for ``socket.sendmsg``; array payloads are not copied."""
    buffers: list[Any] = []
    extend = buffers.extend
    for command in commands:
        extend(command.iter_buffers())
    return buffers
