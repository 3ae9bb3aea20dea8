"""Moving bytes over one TCP circuit: zero-copy receive, never-failing send.

Receive (network thread only): bytes are ``recv_into`` the core's
:class:`ReceiveArena` (the one the asyncio client uses too), a bytearray
that is filled front to back and never overwritten, so the payloads the parser hands out (memoryview slices) stay valid for as long as
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
from time import monotonic
from typing import TYPE_CHECKING, Any, Callable, Iterable

from ..protocol._exceptions import DisconnectedError
from ..protocol._receive_arena import ReceiveArena

if TYPE_CHECKING:  # pragma: no cover
    from ._selector_loop import NetworkLoop

__all__ = ('StreamTransport',)

logger = logging.getLogger('cawire.circ')

#: sendmsg() takes at most IOV_MAX (1024 on Linux) buffers per call.
MAX_BUFFERS_PER_SEND = 512
SEND_HIGH_WATER = 8 * 1024 * 1024


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
        # Receive state (network thread only).  Messages longer than
        # max_message are skipped, not buffered (libca with
        # EPICS_CA_AUTO_ARRAY_BYTES=NO); None: no limit.
        self._arena = ReceiveArena(parse, max_message)
        self._on_oversized = on_oversized
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

    @property
    def max_message(self) -> int | None:
        """Largest message kept (EPICS_CA_MAX_ARRAY_BYTES), None: no limit."""
        return self._arena.max_message

    @property
    def messages_discarded(self) -> int:
        """Messages skipped for being over ``max_message``."""
        return self._arena.messages_discarded

    def on_readable(self) -> None:
        """Receive what is available, parse it, hand over whole commands."""
        if self.closed:
            return
        arena = self._arena
        recv_into = self.sock.recv_into
        while True:
            # (One receive per wake-up in the usual case: this loop and
            # its exits are the whole per-wake-up cost, kept inline.)
            try:
                received = recv_into(arena.writable())
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                self._close(f'receive failed: {exc}')
                return
            if not received:
                self._close('server closed the connection')
                return
            self.bytes_received += received
            self.last_receipt = monotonic()
            commands, oversized, failure = arena.received(received)
            # Still receiving one big message: keep reading while the
            # kernel has data, rather than going back through select()
            # per chunk.
            if (commands or oversized or failure is not None
                    or not arena.inside_message):
                break
        if oversized and self._on_oversized is not None:
            for fields in oversized:
                self._on_oversized(fields)
        if commands:
            self._on_commands(commands)
        if failure is not None:
            # What came before the bad message was handed over; this
            # circuit (and only this circuit) is dropped.
            self._close(failure)

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
        self._arena.release()
        try:
            self._on_closed(reason)
        except Exception:
            logger.exception('on_closed handler of %s failed', self.name)
