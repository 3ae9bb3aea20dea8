"""Where a circuit's received bytes land before the parser sees them.

An asyncio ``BufferedProtocol`` asks for a buffer (:meth:`ReceiveArena.writable`),
the loop ``recv_into``s it and reports how many bytes came
(:meth:`ReceiveArena.received`).  The arena is a bytearray filled front to
back and never overwritten, so the payload views the parser hands out stay
valid for as long as a user keeps the response.  A message announced larger
than the space left gets a buffer of exactly its size, so a large array is
received in place, with no copy.  A message larger than
EPICS_CA_MAX_ARRAY_BYTES allows is skipped without being stored.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..protocol._headers import unpack_header

__all__ = ('ReceiveArena',)

#: Size of a fresh arena; below MIN_ARENA_SPACE free bytes a new one is used.
ARENA_SIZE = 256 * 1024
MIN_ARENA_SPACE = 16 * 1024
#: Up to this size a large message gets its exact buffer at once; beyond,
#: the buffer grows as data arrives (a lying header must not allocate GBs).
EXACT_ALLOCATION_LIMIT = 64 * 1024 * 1024
UNINITIALISED_ALLOCATION_MIN = 1024 * 1024

_numpy_empty: Any
try:
    from numpy import empty as _numpy_empty
except ImportError:  # pragma: no cover - numpy is a dependency
    _numpy_empty = None


def _fields(command: Any) -> tuple:
    # The header fields of a whole message, from its public header.
    header = command.header
    return (header.command, header.payload_size, header.data_type,
            header.data_count, header.parameter1, header.parameter2)


def _allocate(size: int):
    # numpy.empty skips zero-filling big buffers (milliseconds for 32 MB).
    if _numpy_empty is not None and size >= UNINITIALISED_ALLOCATION_MIN:
        return _numpy_empty(size, dtype='u1')
    return bytearray(size)


class ReceiveArena:
    """Receive buffer of one circuit.

    Parameters
    ----------
    parse : callable
        ``parse(memoryview) -> (commands, consumed, needed)``.
    max_message : int, optional
        Largest message kept (header included); longer ones are skipped
        and reported through ``received``'s second result.
    """

    __slots__ = ('_parse', 'max_message', '_arena', '_start', '_filled',
                 '_needed', '_discard_remaining', '_scratch',
                 'messages_discarded')

    def __init__(self, parse: Callable, max_message: int | None = None):
        self._parse = parse
        self.max_message = max_message
        self._arena = bytearray(ARENA_SIZE)
        self._start = 0
        self._filled = 0
        self._needed = 0
        self._discard_remaining = 0
        self._scratch: bytearray | None = None
        self.messages_discarded = 0

    def writable(self) -> memoryview:
        """The free space the next receive should fill (never empty)."""
        if self._discard_remaining:
            scratch = self._scratch
            if scratch is None:
                scratch = self._scratch = bytearray(ARENA_SIZE)
            return memoryview(scratch)[:min(self._discard_remaining,
                                            len(scratch))]
        return memoryview(self._arena)[self._filled:]

    def received(self, nbytes: int) -> tuple[list, list]:
        """Account for ``nbytes`` written into :meth:`writable`.

        Returns
        -------
        commands : list
            Whole messages now complete.
        oversized : list
            Header fields of the messages skipped for their size.

        Raises
        ------
        RemoteProtocolError
            From the parser; ``exc.commands`` holds the good ones before.
        """
        if self._discard_remaining:
            self._discard_remaining -= nbytes
            if not self._discard_remaining:
                self._scratch = None
            return [], []
        self._filled += nbytes
        if self._filled - self._start < self._needed:
            if self._filled == len(self._arena):
                self._make_room(self._needed)
            return [], []
        commands, consumed, needed = self._parse(
            memoryview(self._arena)[self._start:self._filled])
        self._start += consumed
        self._needed = needed
        oversized: list = []
        limit = self.max_message
        if limit is not None:
            if commands:
                kept = [command for command in commands
                        if len(command) <= limit]
                if len(kept) != len(commands):
                    oversized = [_fields(command) for command in commands
                                 if len(command) > limit]
                    self.messages_discarded += len(oversized)
                    commands = kept
            if needed > limit:
                oversized.append(self._start_discarding(needed))
                return commands, oversized
        self._make_room(needed)
        return commands, oversized

    def _start_discarding(self, needed: int):
        fields, _ = unpack_header(self._arena, self._start)
        self._discard_remaining = needed - (self._filled - self._start)
        self.messages_discarded += 1
        self._arena = bytearray(ARENA_SIZE)
        self._start = self._filled = self._needed = 0
        return fields

    def _make_room(self, needed: int) -> None:
        # Bytes handed out are never moved: only the unparsed tail (less
        # than one message) is copied into a new buffer.
        start, filled, arena = self._start, self._filled, self._arena
        fits = needed <= len(arena) - start
        free = len(arena) - filled
        if fits and (free >= MIN_ARENA_SPACE
                     or (needed > ARENA_SIZE and free > 0)):
            return
        pending = filled - start
        if needed <= ARENA_SIZE:
            size = ARENA_SIZE
        elif needed <= EXACT_ALLOCATION_LIMIT:
            size = needed
        else:
            size = min(needed, max(2 * pending, EXACT_ALLOCATION_LIMIT))
        new = _allocate(size)
        if pending:
            memoryview(new)[:pending] = memoryview(arena)[start:filled]
        self._arena, self._start, self._filled = new, 0, pending
