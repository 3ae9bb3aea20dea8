"""Where a circuit's received bytes land before the parser sees them.

A shell asks for a buffer (:meth:`ReceiveArena.writable`), receives into
it (``recv_into`` on a socket, or an asyncio ``BufferedProtocol``'s
``get_buffer``) and reports how many bytes came (:meth:`ReceiveArena.received`).
The arena is a bytearray filled front to back and never overwritten, so the
payload views the parser hands out stay valid for as long as a user keeps
the response.  A message announced larger than the space left gets a
buffer of exactly its size, so a large array is received in place, with no
copy.  A message larger than EPICS_CA_MAX_ARRAY_BYTES allows is skipped
without being stored.  Nothing here does I/O: both clients' transports
drive one of these per circuit.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._channel_replies import ChannelReplies
from ._exceptions import RemoteProtocolError
from ._headers import unpack_header

__all__ = ('ReceiveArena',)

#: Largest size of a fresh arena.  A circuit's first arena is
#: FIRST_ARENA_SIZE and each next one twice the last, up to this: a circuit
#: that receives little (a few hundred channels, rare updates) never holds
#: 256 kB (100 circuits would hold 25 MB).
ARENA_SIZE = 256 * 1024
FIRST_ARENA_SIZE = 16 * 1024
#: Below this many free bytes the unused tail of an arena is abandoned for
#: a new one.
MIN_ARENA_SPACE = 16 * 1024
#: Up to this size a large message gets its exact buffer at once; beyond,
#: the buffer grows as data arrives (a lying header must not allocate GBs).
EXACT_ALLOCATION_LIMIT = 64 * 1024 * 1024
#: Buffers at least this big are allocated without zero-filling them
#: (numpy.empty) when numpy is available: 32 MB of zeros costs milliseconds.
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


def _allocate(size: int) -> Any:
    """A writable byte buffer of ``size`` bytes (contents undefined)."""
    if _numpy_empty is not None and size >= UNINITIALISED_ALLOCATION_MIN:
        return _numpy_empty(size, dtype='u1')
    return bytearray(size)


class ReceiveArena:
    """Receive buffer of one circuit.

    Parameters
    ----------
    parse : callable
        ``parse(memoryview) -> (commands, consumed, needed)`` (usually
        ``cawire.protocol._framing.parse_stream`` with its role bound, or
        ``cawire.protocol._channel_replies.parse_client_stream``).
    max_message : int, optional
        Largest message kept (header included); longer ones are skipped
        and reported through ``received``'s second result.
    """

    __slots__ = ('_parse', 'max_message', '_arena', '_next_arena_size',
                 '_start', '_filled', '_needed', '_discard_remaining',
                 '_scratch', 'messages_discarded')

    def __init__(self, parse: Callable[..., Any],
                 max_message: int | None = None) -> None:
        self._parse = parse
        self.max_message = max_message
        self._arena: Any = bytearray(FIRST_ARENA_SIZE)
        self._next_arena_size = 2 * FIRST_ARENA_SIZE
        self._start = 0     # first unparsed byte
        self._filled = 0    # end of received data
        self._needed = 0    # length of the message we are waiting for
        self._discard_remaining = 0
        self._scratch: bytearray | None = None
        self.messages_discarded = 0

    def __len__(self) -> int:
        """Size of the current buffer (what the circuit holds)."""
        return len(self._arena)

    @property
    def inside_message(self) -> bool:
        """True while the bytes of a message still being received are
        stored (more are known to be needed before anything parses)."""
        return (not self._discard_remaining
                and self._filled - self._start < self._needed)

    def writable(self) -> memoryview:
        """The free space the next receive should fill (never empty)."""
        if self._discard_remaining:
            scratch = self._scratch
            if scratch is None:
                scratch = self._scratch = bytearray(ARENA_SIZE)
            return memoryview(scratch)[:min(self._discard_remaining,
                                            len(scratch))]
        return memoryview(self._arena)[self._filled:]

    def received(self, nbytes: int) -> tuple[list, list, str | None]:
        """Account for ``nbytes`` written into :meth:`writable`.

        Returns
        -------
        commands : list
            Whole messages now complete (with a protocol error: the good
            ones before the bad message).
        oversized : list
            Header fields of the messages skipped for their size.
        failure : str or None
            Why the circuit must close: the server broke the protocol
            (nothing after the bad message can be trusted).
        """
        if self._discard_remaining:
            self._discard_remaining -= nbytes
            if not self._discard_remaining:
                self._scratch = None
            return [], [], None
        self._filled += nbytes
        if self._filled - self._start < self._needed:
            if self._filled == len(self._arena):
                self._make_room(self._needed)
            return [], [], None
        try:
            commands, consumed, needed = self._parse(
                memoryview(self._arena)[self._start:self._filled])
        except RemoteProtocolError as exc:
            good = getattr(exc, 'commands', None) or []
            return good, [], f'protocol error from server: {exc}'

        self._start += consumed
        self._needed = needed
        oversized: list = []
        limit = self.max_message
        if limit is not None:
            if commands:
                # (A run of header-only replies grouped by the parser,
                # ChannelReplies, is never oversized.)
                kept = [command for command in commands
                        if type(command) is ChannelReplies
                        or len(command) <= limit]
                if len(kept) != len(commands):
                    oversized = [_fields(command) for command in commands
                                 if type(command) is not ChannelReplies
                                 and len(command) > limit]
                    self.messages_discarded += len(oversized)
                    commands = kept
            if needed > limit:
                oversized.append(self._start_discarding(needed))
                return commands, oversized, None
        self._make_room(needed)
        return commands, oversized, None

    def release(self) -> None:
        """Drop the buffers (the circuit closed)."""
        self._arena = bytearray(0)
        self._scratch = None
        self._start = self._filled = self._needed = 0
        self._discard_remaining = 0

    def _start_discarding(self, needed: int) -> tuple:
        fields, _ = unpack_header(self._arena, self._start)
        self._discard_remaining = needed - (self._filled - self._start)
        self.messages_discarded += 1
        self._arena = bytearray(self._next_arena_size)
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
            # Plenty of room, or an exact-size buffer still being filled
            # by one large message.
            return
        pending = filled - start
        if needed <= ARENA_SIZE:
            size = self._next_arena_size
            while size < needed + MIN_ARENA_SPACE and size < ARENA_SIZE:
                size *= 2
            self._next_arena_size = min(2 * size, ARENA_SIZE)
        elif needed <= EXACT_ALLOCATION_LIMIT:
            size = needed
        else:
            # Trust the announced size only as far as data actually
            # arrives: grow geometrically.
            size = min(needed, max(2 * pending, EXACT_ALLOCATION_LIMIT))
        new = _allocate(size)
        if pending:
            memoryview(new)[:pending] = memoryview(arena)[start:filled]
        self._arena, self._start, self._filled = new, 0, pending
