"""Moving bytes over one TCP circuit with asyncio: CircuitProtocol.

A ``BufferedProtocol``: the loop receives straight into the circuit's
:class:`ReceiveArena` and whole commands go to ``on_commands`` in the same
callback, with no task switch per message.  Sending never blocks the loop:
bytes go to the asyncio transport's buffer; a coroutine that sends a lot
awaits :meth:`CircuitProtocol.drain` which waits while the transport has
paused writing (above its high-water mark), so a large write proceeds as
the peer reads instead of blocking anything.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable

from ..protocol._exceptions import DisconnectedError
from ..protocol._receive_arena import ReceiveArena

__all__ = ('CircuitProtocol',)

logger = logging.getLogger('cawire.circ')

#: Transport write buffer limits (bytes) above which writers wait.
WRITE_HIGH_WATER = 4 * 1024 * 1024
WRITE_LOW_WATER = 1024 * 1024


class CircuitProtocol(asyncio.BufferedProtocol):
    """The asyncio protocol of one circuit.

    Parameters
    ----------
    parse : callable
        ``parse(memoryview) -> (commands, consumed, needed)``.
    on_commands : callable
        ``on_commands(list)`` for every batch of whole messages.
    on_closed : callable
        ``on_closed(reason)`` once, when the connection ends.
    max_message : int, optional
        EPICS_CA_MAX_ARRAY_BYTES limit (header included).
    on_oversized : callable, optional
        ``on_oversized(header_fields)`` for each message skipped.
    """

    def __init__(self, *, parse: Callable, on_commands: Callable[[list], None],
                 on_closed: Callable[[str], None],
                 max_message: int | None = None,
                 on_oversized: Callable[[tuple], None] | None = None):
        self._arena = ReceiveArena(parse, max_message)
        self._on_commands = on_commands
        self._on_closed = on_closed
        self._on_oversized = on_oversized
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.close_reason: str | None = None
        self.last_receipt = time.monotonic()
        self.bytes_received = 0
        self.bytes_sent = 0
        self._paused = False
        self._drain_waiters: list[asyncio.Future] = []

    # -- asyncio callbacks ----------------------------------------------------

    def connection_made(self, transport) -> None:  # type: ignore[override]
        self.transport = transport
        transport.set_write_buffer_limits(WRITE_HIGH_WATER, WRITE_LOW_WATER)

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._arena.writable()

    def buffer_updated(self, nbytes: int) -> None:
        self.last_receipt = time.monotonic()
        self.bytes_received += nbytes
        commands, oversized, failure = self._arena.received(nbytes)
        if oversized and self._on_oversized is not None:
            for fields in oversized:
                self._on_oversized(fields)
        if commands:
            self._on_commands(commands)
        if failure is not None:
            self.close(failure)

    def eof_received(self) -> bool:
        self.close_reason = self.close_reason or 'server closed the connection'
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        reason = self.close_reason
        if reason is None:
            reason = (f'connection lost: {exc}' if exc is not None
                      else 'server closed the connection')
        self._finish(reason)

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        self._wake_writers(None)

    # -- sending --------------------------------------------------------------

    def send(self, buffers: Iterable) -> None:
        """Queue ``buffers`` for sending (never blocks)."""
        if self.closed or self.transport is None:
            raise DisconnectedError(f'circuit is closed ({self.close_reason})')
        data = b''.join(buffers)
        self.bytes_sent += len(data)
        self.transport.write(data)

    @property
    def max_message(self) -> int | None:
        """Largest message kept (EPICS_CA_MAX_ARRAY_BYTES), None: no limit."""
        return self._arena.max_message

    @property
    def queued_bytes(self) -> int:
        """Bytes waiting in the transport's send buffer."""
        transport = self.transport
        return 0 if transport is None else transport.get_write_buffer_size()

    async def drain(self) -> None:
        """Wait while the send buffer is above its high-water mark."""
        waiter = self.drain_waiter()
        if waiter is not None:
            await waiter

    def drain_waiter(self) -> asyncio.Future | None:
        """None if the send buffer is below its high-water mark, else a
        future done when it drains (or failed when the circuit closes)."""
        if self.closed:
            raise DisconnectedError(f'circuit is closed ({self.close_reason})')
        if not self._paused:
            return None
        waiter = asyncio.get_running_loop().create_future()
        self._drain_waiters.append(waiter)
        return waiter

    def _wake_writers(self, error: BaseException | None) -> None:
        waiters, self._drain_waiters = self._drain_waiters, []
        for waiter in waiters:
            if not waiter.done():
                if error is None:
                    waiter.set_result(None)
                else:
                    waiter.set_exception(error)

    # -- closing --------------------------------------------------------------

    def close(self, reason: str = 'closed by client') -> None:
        """Close the connection now; ``on_closed`` runs once."""
        if self.closed:
            return
        if self.close_reason is None:
            self.close_reason = reason
        transport = self.transport
        if transport is not None:
            transport.abort()   # connection_lost follows from the loop
        self._finish(self.close_reason)

    def _finish(self, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        self.close_reason = reason
        self._wake_writers(DisconnectedError(f'circuit closed ({reason})'))
        try:
            self._on_closed(reason)
        except Exception:
            logger.exception('on_closed handler failed')
