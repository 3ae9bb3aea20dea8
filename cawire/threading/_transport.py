"""Moving bytes over one TCP circuit: zero-copy receive, never-failing send.

Receive (network thread only): bytes are ``recv_into`` an *arena*, a
bytearray that is filled front to back and never overwritten, so the
payloads the parser hands out (memoryview slices) stay valid for as long as
a user keeps the response.  When the parser announces a message bigger than
the space left, a buffer of exactly that size is allocated and the rest of
the message is received straight into it: a large array arrives with no
copy of its payload.

Send (any thread): buffers go to a queue.  Whoever queues tries a
non-blocking flush right away; what the kernel does not take is flushed by
the network thread when the socket becomes writable.  The network thread
therefore never blocks on a send (a server that waits for us to read while
we wait to write cannot deadlock us).  User threads that queue more than
``send_high_water`` bytes wait until the backlog drains (backpressure
applies to user threads only).
"""
from __future__ import annotations

import collections
import errno
import logging
import socket
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Iterable

from ..protocol._exceptions import DisconnectedError, RemoteProtocolError
from ..protocol._headers import unpack_header

if TYPE_CHECKING:  # pragma: no cover
    from ._selector_loop import NetworkLoop

__all__ = ('StreamTransport',)

logger = logging.getLogger('cawire.circ')

#: Largest size of a fresh receive arena.  A circuit's first arena is
#: FIRST_ARENA_SIZE and each next one twice the last, up to this: a circuit
#: that receives little (a few hundred channels, rare updates) never holds
#: 256 kB (100 circuits would hold 25 MB).
ARENA_SIZE = 256 * 1024
FIRST_ARENA_SIZE = 16 * 1024
#: The threshold below which the unused tail of an arena is abandoned for
#: a new one.
MIN_ARENA_SPACE = 16 * 1024
#: Messages up to this size get a buffer of exactly their size at once;
#: larger ones grow as their bytes arrive.
EXACT_ALLOCATION_LIMIT = 64 * 1024 * 1024
#: sendmsg() takes at most IOV_MAX (1024 on Linux) buffers per call.
MAX_BUFFERS_PER_SEND = 512
SEND_HIGH_WATER = 8 * 1024 * 1024


_numpy_empty: Callable[..., Any] | None
try:
    from numpy import empty as _numpy_empty
except ImportError:  # numpy is optional for the transport
    _numpy_empty = None
#: Buffers at least this big are allocated without zero-filling them
#: (numpy.empty) when numpy is available: 32 MB of zeros costs milliseconds.
UNINITIALISED_ALLOCATION_MIN = 1024 * 1024


def _allocate(size: int):
    """A writable byte buffer of ``size`` bytes (contents undefined)."""
    if _numpy_empty is not None and size >= UNINITIALISED_ALLOCATION_MIN:
        return _numpy_empty(size, dtype='u1')
    return bytearray(size)


class StreamTransport:
    """Queue-based sender and arena receiver for one connected TCP socket.

    Parameters
    ----------
    loop : NetworkLoop
        The loop that watches ``sock``.
    sock : socket.socket
        Connected (or connecting) non-blocking socket.
    parse : callable
        ``parse(memoryview) -> (commands, consumed, needed)`` (usually
        ``cawire.protocol._framing.parse_stream`` with role and limits bound).
    on_commands : callable
        Called on the network thread with each non-empty list of commands.
    on_closed : callable
        Called once on the network thread with a reason string when the
        transport closes (peer closed, socket error, protocol error, or
        :meth:`close`).
    max_message : int, optional
        Longest message (header + payload) accepted; longer ones are read
        and discarded, and ``on_oversized(header_fields)`` is called.
    """

    def __init__(self, loop: NetworkLoop, sock: socket.socket, *,
                 parse: Callable[..., Any],
                 on_commands: Callable[[list], None],
                 on_closed: Callable[[str], None],
                 name: str = '', send_high_water: int = SEND_HIGH_WATER,
                 max_message: int | None = None,
                 on_oversized: Callable[[tuple], None] | None = None) -> None:
        self.loop = loop
        self.sock = sock
        self.name = name or repr(sock)
        self._parse = parse
        self._on_commands = on_commands
        self._on_closed = on_closed
        self._send_high_water = send_high_water
        # Receive state (network thread only).
        self._arena = bytearray(FIRST_ARENA_SIZE)
        self._next_arena_size = 2 * FIRST_ARENA_SIZE
        self._start = 0     # first unparsed byte
        self._filled = 0    # end of received data
        self._needed = 0    # length of the message we are waiting for
        # Messages longer than this are skipped, not buffered (libca with
        # EPICS_CA_AUTO_ARRAY_BYTES=NO); None: no limit.
        self.max_message = max_message
        self._on_oversized = on_oversized
        self._discard_remaining = 0
        self._scratch: bytearray | None = None
        self.messages_discarded = 0
        # Send state (guarded by _send_lock).
        self._send_lock = threading.Lock()
        self._drained = threading.Condition(self._send_lock)
        self._queue: collections.deque = collections.deque()
        self._queued_bytes = 0
        self._waiting_for_writable = False
        self._flush_scheduled = False
        self.closed = False
        self.close_reason: str | None = None
        self.bytes_received = 0
        self.last_receipt = time.monotonic()
        self.bytes_sent = 0

    # -- sending (any thread) ---------------------------------------------------

    @property
    def queued_bytes(self) -> int:
        return self._queued_bytes

    def send(self, buffers: Iterable) -> None:
        """Queue ``buffers`` (bytes-like) and start sending them; never blocks.

        User threads should call :meth:`wait_for_backlog` afterwards (outside
        any lock) so that a fast producer cannot queue without bound.

        Raises
        ------
        DisconnectedError
            If the transport is closed.
        """
        with self._send_lock:
            if self.closed:
                raise DisconnectedError(
                    f'circuit {self.name} is closed ({self.close_reason})')
            queue = self._queue
            if (not queue and not self._waiting_for_writable
                    and type(buffers) is list
                    and len(buffers) <= MAX_BUFFERS_PER_SEND
                    and not self.loop.in_loop_thread()):
                # A user thread's request with nothing queued before it (a
                # sequential read or write): one system call, no queueing.
                buffers = self._send_now_locked(buffers)
                if not buffers:
                    return
            added = 0
            append = queue.append
            for buffer in buffers:
                if type(buffer) is not bytes:
                    # Arrays etc.: a flat byte view, so len() is the size.
                    buffer = memoryview(buffer)
                    if buffer.ndim != 1 or buffer.itemsize != 1:
                        buffer = buffer.cast('B')
                size = len(buffer)
                if size:
                    append(buffer)
                    added += size
            self._queued_bytes += added
            if self.loop.in_loop_thread():
                # The network thread corks: everything it queues during one
                # pass of the loop (channel creations, resubscriptions...)
                # goes out together, in one system call, after the pass.
                if not self._flush_scheduled and not self._waiting_for_writable:
                    self._flush_scheduled = True
                    self.loop.call_soon(self._flush_from_loop)
                return
            if not self._waiting_for_writable:
                self._flush_locked()
            if self._queue and not self._waiting_for_writable:
                self._waiting_for_writable = True
                self.loop.set_writable_handler(self.sock, self._on_writable)

    def _send_now_locked(self, buffers: list) -> list:
        """Send ``buffers`` (an empty queue, a user thread); return what
        the kernel did not take."""
        try:
            sent = self.sock.sendmsg(buffers)
        except (BlockingIOError, InterruptedError):
            return buffers
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK):
                return buffers
            self.loop.call_soon(self._close, f'send failed: {exc}')
            return []
        self.bytes_sent += sent
        for index, buffer in enumerate(buffers):
            size = len(buffer) if type(buffer) is bytes else \
                memoryview(buffer).nbytes
            if sent < size:
                rest = buffers[index:]
                if sent:
                    rest[0] = memoryview(buffer).cast('B')[sent:]
                return rest
            sent -= size
        return []

    def _flush_from_loop(self) -> None:
        with self._send_lock:
            self._flush_scheduled = False
            if self.closed or self._waiting_for_writable:
                return
            self._flush_locked()
            if self._queue:
                self._waiting_for_writable = True
                self.loop.set_writable_handler(self.sock, self._on_writable)

    def below_high_water(self) -> bool:
        """Whether a user thread may go on without waiting for the backlog
        (read without the lock: at worst one more request is queued before
        backpressure applies)."""
        return self._queued_bytes <= self._send_high_water or self.closed

    def wait_for_backlog(self, timeout: float | None = None) -> bool:
        """Block a *user* thread while more than ``send_high_water`` bytes
        wait to be sent (never call with a lock the network thread needs).

        Returns False if ``timeout`` expired first (the bytes stay queued
        and go out when the peer reads again).
        """
        if self._queued_bytes <= self._send_high_water or self.closed:
            return True  # the usual case, decided without the lock
        if self.loop.in_loop_thread():
            return True  # the network thread never waits for the network
        with self._send_lock:
            return self._drained.wait_for(
                lambda: (self._queued_bytes <= self._send_high_water
                         or self.closed), timeout)

    def _flush_locked(self) -> None:
        """Send as much as the kernel takes without blocking."""
        queue = self._queue
        sock = self.sock
        while queue:
            if len(queue) == 1:
                chunk = [queue[0]]
            else:
                chunk = [queue[i] for i in range(min(len(queue),
                                                     MAX_BUFFERS_PER_SEND))]
            try:
                sent = sock.sendmsg(chunk)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK):
                    return
                self.loop.call_soon(self._close, f'send failed: {exc}')
                queue.clear()
                self._queued_bytes = 0
                return
            self.bytes_sent += sent
            self._queued_bytes -= sent
            while sent:
                head = queue[0]
                size = len(head)
                if sent >= size:
                    sent -= size
                    queue.popleft()
                else:
                    queue[0] = memoryview(head)[sent:]
                    sent = 0
        self._drained.notify_all()

    def _on_writable(self) -> None:
        with self._send_lock:
            self._flush_locked()
            if self._queued_bytes <= self._send_high_water:
                self._drained.notify_all()
            if not self._queue:
                self._waiting_for_writable = False
                self.loop.set_writable_handler(self.sock, None)

    # -- receiving (network thread) --------------------------------------------

    def on_readable(self) -> None:
        """Receive what is available, parse it, hand over whole commands."""
        if self.closed:
            return
        if self._discard_remaining:
            self._discard()
            return
        while True:
            arena = self._arena
            received = self._receive(memoryview(arena)[self._filled:])
            if not received:
                return
            self._filled += received
            if self._filled - self._start >= self._needed:
                break
            # Still receiving one big message: keep reading while the kernel
            # has data, rather than going back through select() per chunk.
            if self._filled == len(arena):
                self._make_room(self._needed)
        try:
            commands, consumed, needed = self._parse(
                memoryview(arena)[self._start:self._filled])
        except RemoteProtocolError as exc:
            # What came before the bad message is good: hand it over, then
            # drop this circuit (and only this circuit).
            good = getattr(exc, 'commands', None)
            if good:
                self._on_commands(good)
            self._close(f'protocol error from server: {exc}')
            return
        self._start += consumed
        self._needed = needed
        if self.max_message is not None:
            if commands:
                commands = self._drop_oversized(commands)
            if needed > self.max_message:
                self._start_discarding(needed)
            else:
                self._make_room(needed)
        else:
            self._make_room(needed)
        if commands:
            self._on_commands(commands)

    def _drop_oversized(self, commands: list) -> list:
        # Whole messages over the limit that arrived in one piece.
        limit = self.max_message
        if limit is None:
            return commands
        kept = [command for command in commands if len(command) <= limit]
        if len(kept) != len(commands):
            for command in commands:
                if len(command) > limit:
                    self.messages_discarded += 1
                    if self._on_oversized is not None:
                        header = command.header
                        self._on_oversized((
                            header.command, header.payload_size,
                            header.data_type, header.data_count,
                            header.parameter1, header.parameter2))
        return kept

    def _start_discarding(self, needed: int) -> None:
        """Skip a message larger than EPICS_CA_MAX_ARRAY_BYTES allows."""
        fields, _ = unpack_header(self._arena, self._start)
        pending = self._filled - self._start
        self._discard_remaining = needed - pending
        self.messages_discarded += 1
        self._arena = bytearray(self._next_arena_size)
        self._start = self._filled = self._needed = 0
        if self._on_oversized is not None and fields is not None:
            self._on_oversized(fields)

    def _receive(self, buffer, nbytes: int = 0) -> int:
        """recv_into ``buffer``; 0 when there is nothing to read now.

        0 also covers the circuit ending (EOF or a socket error), which
        closes it with the reason logged.
        """
        try:
            received = self.sock.recv_into(buffer, nbytes)
        except (BlockingIOError, InterruptedError):
            return 0
        except OSError as exc:
            self._close(f'receive failed: {exc}')
            return 0
        if not received:
            self._close('server closed the connection')
            return 0
        self.bytes_received += received
        self.last_receipt = time.monotonic()
        return received

    def _discard(self) -> None:
        scratch = self._scratch
        if scratch is None:
            scratch = self._scratch = bytearray(ARENA_SIZE)
        received = self._receive(
            scratch, min(self._discard_remaining, len(scratch)))
        if not received:
            return
        self._discard_remaining -= received
        if not self._discard_remaining:
            self._scratch = None

    def _make_room(self, needed: int) -> None:
        """Ensure the arena can hold the next message and has free space.

        Bytes already handed out are never moved or overwritten; only the
        unparsed tail (less than one message) is copied to a new buffer.
        """
        start, filled, arena = self._start, self._filled, self._arena
        fits = needed <= len(arena) - start
        free = len(arena) - filled
        if fits and (free >= MIN_ARENA_SPACE or needed > ARENA_SIZE):
            # Either plenty of room, or an exact-size buffer still being
            # filled by one large message.
            return
        pending = filled - start
        if needed <= ARENA_SIZE:
            size = self._next_arena_size
            while size < needed + MIN_ARENA_SPACE and size < ARENA_SIZE:
                size *= 2
            self._next_arena_size = min(2 * size, ARENA_SIZE)
        elif needed <= EXACT_ALLOCATION_LIMIT:
            # A large message gets a buffer of exactly its size, so its
            # payload is received in place and viewed without copying.
            size = needed
        else:
            # Beyond this, trust the announced size only as far as data
            # actually arrives (a lying header must not make us allocate
            # gigabytes): grow geometrically.
            size = min(needed, max(2 * pending, EXACT_ALLOCATION_LIMIT))
        new = _allocate(size)
        if pending:
            memoryview(new)[:pending] = memoryview(arena)[start:filled]
        self._arena, self._start, self._filled = new, 0, pending

    # -- closing ----------------------------------------------------------------

    def close(self, reason: str = 'closed by client') -> None:
        """Close from any thread; ``on_closed`` runs on the network thread."""
        if self.loop.in_loop_thread():
            self._close(reason)
        else:
            self.loop.call_soon(self._close, reason)

    def shutdown_after_flush(self, reason: str = 'closed by client') -> None:
        """Close once the queued bytes are sent (best effort, non-blocking)."""
        self.loop.call_soon(self._close_when_flushed, reason, 20)

    def _close_when_flushed(self, reason: str, attempts: int) -> None:
        if self.closed:
            return
        with self._send_lock:
            self._flush_locked()
            pending = bool(self._queue)
        if pending and attempts > 0:
            self.loop.call_later(0.05, self._close_when_flushed, reason,
                                 attempts - 1)
            return
        self._close(reason)

    def _close(self, reason: str) -> None:
        if self.closed:
            return
        with self._send_lock:
            self.closed = True
            self.close_reason = reason
            self._queue.clear()
            self._queued_bytes = 0
            self._drained.notify_all()
        self.loop.unregister(self.sock)
        try:
            self.sock.close()
        except OSError:
            pass
        self._arena = bytearray(0)
        self._start = self._filled = self._needed = 0
        try:
            self._on_closed(reason)
        except Exception:
            logger.exception('on_closed handler of %s failed', self.name)
