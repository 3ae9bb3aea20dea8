"""Reads and writes of one circuit, and the replies that complete them.

:class:`RequestTable` is the client's side of the core circuit's ioid table
(``VirtualCircuit.outstanding_requests``, whose entries are our
:class:`PendingRequest` objects): it builds READ_NOTIFY / WRITE_NOTIFY /
WRITE requests through the core channel, registers and sends them, and
completes them when their reply, an ERROR naming them, or the circuit's
death comes.  Requests are sent from user threads; replies are handled on
the network thread.

The circuit lock guards the core circuit only for as long as it takes to
register and queue a request: ids come from the context's allocator (no
lock needed), data are encoded and send backpressure is waited for outside
the lock, so the network thread is never held up by a big write.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Callable

from ..protocol._channel import ClientChannel
from ..protocol._commands import WriteNotifyRequest, WriteRequest
from ..protocol._commands_base import Message
from ..protocol._exceptions import CaprotoTimeoutError, DisconnectedError
from ._pending_request import PendingRequest

if TYPE_CHECKING:  # pragma: no cover
    from ._circuit_manager import VirtualCircuitManager
    from ._defaults import Deadline
    from ._pv import PV

__all__ = ('RequestTable', 'BatchItem')

circ_logger = logging.getLogger('cawire.circ')

#: One request of a Batch: the command and, for notify requests, its slot.
BatchItem = tuple[Message, 'PendingRequest | None']


class RequestTable:
    """Outstanding reads and writes of one circuit manager.

    Parameters
    ----------
    manager : VirtualCircuitManager
        Provides the lock, the core circuit, the transport and the callback
        executor.
    """

    def __init__(self, manager: VirtualCircuitManager) -> None:
        self.manager = manager
        self.circuit = manager.circuit

    def __len__(self) -> int:
        return len(self.circuit.outstanding_requests)

    # -- sending (user threads) --------------------------------------------------

    def read(self, pv: PV, channel: ClientChannel, data_type: Any,
             data_count: int | None, *, notify: bool,
             callback: Callable[[Any], Any] | None, wait: bool,
             deadline: Deadline) -> PendingRequest:
        """Send a READ_NOTIFY (or READ); return its pending slot."""
        command = channel.read(data_type, data_count, notify=notify)
        self.manager.check_size(command, channel.native_data_count)
        pending = PendingRequest(command.ioid, pv, command, callback,
                                 deadline.when, wait)
        self._send_and_wait_for_backlog(pending, command, wait, deadline)
        return pending

    def write(self, pv: PV, channel: ClientChannel, data: Any,
              data_type: Any, data_count: int | None, *, notify: bool,
              callback: Callable[[Any], Any] | None, wait: bool,
              deadline: Deadline, metadata: Any = None
              ) -> PendingRequest | None:
        """Send a WRITE_NOTIFY (or a WRITE); return the pending slot if any.

        The data are encoded before the circuit lock is taken (an 8 MB
        array takes a while).
        """
        command: WriteNotifyRequest | WriteRequest | None = None
        if (notify and data_type is None and data_count is None
                and metadata is None):
            # One plain number of the native type: the core's fast form
            # (same bytes; a fixed 8-byte payload needs no size check).
            command = channel.write_notify_scalar(data)
        if command is None:
            command = channel.write(data, data_type, data_count,
                                    notify=notify, metadata=metadata)
            self.manager.check_size(command, 1)
        pending = None
        if notify:
            pending = PendingRequest(command.ioid, pv, command, callback,
                                     deadline.when, wait)
        self._send_and_wait_for_backlog(pending, command, wait, deadline)
        return pending

    def _send_and_wait_for_backlog(self, pending: PendingRequest | None,
                                   command: Message, wait: bool,
                                   deadline: Deadline) -> None:
        try:
            self._send(pending, command, wait)
            self._wait_for_backlog(pending, deadline)
        except BaseException:
            # (KeyboardInterrupt included: a loan kept by a caller that
            # never waits would leave the network thread without its role.)
            self.give_back_loan(pending)
            raise

    def give_back_loan(self, pending: PendingRequest | None) -> None:
        """End ``pending``'s loan of the network loop, if it holds one."""
        if pending is not None and pending.loan is not None:
            loan, pending.loan = pending.loan, None
            self.manager.selector.give_back(loan)

    def _send(self, pending: PendingRequest | None, command: Message,
              wait: bool = False) -> None:
        manager = self.manager
        # A caller that will wait for the reply borrows the network loop
        # before sending (if it is idle), so that the reply cannot wake the
        # network thread: the caller receives it itself.
        loan = (manager.borrow_loop() if wait and pending is not None
                else None)
        try:
            with manager._lock:
                if manager.dead.is_set():
                    raise DisconnectedError('circuit is dead')
                manager._send_requests_locked(((command, pending),))
        except BaseException:
            if loan is not None:
                manager.selector.give_back(loan)
            raise
        if loan is not None:
            pending.loan = loan  # type: ignore[union-attr]

    def send_batch(self, items: list[BatchItem],
                   timeout: float | None = None) -> None:
        """Register and send Batch requests in one write (user thread)."""
        manager = self.manager
        with manager._lock:
            if manager.dead.is_set():
                raise DisconnectedError('circuit is dead')
            manager._send_requests_locked(items)
        if not manager.transport.wait_for_backlog(timeout):
            host, port = self.manager.address
            raise CaprotoTimeoutError(
                f'Server at {host}:{port} did not take the batch within '
                f'{timeout} s (send queue full); it stays queued')

    def _wait_for_backlog(self, pending: PendingRequest | None,
                          deadline: Deadline) -> None:
        """Backpressure for user threads, bounded by the request's timeout."""
        transport = self.manager.transport
        if transport.below_high_water():
            return
        # The backlog drains on the network thread: give its role back.
        self.give_back_loan(pending)
        if transport.wait_for_backlog(deadline.remaining()):
            return
        if pending is not None:
            self.abandon(pending)
        host, port = self.manager.address
        raise CaprotoTimeoutError(
            f'Server at {host}:{port} did not take the request within the '
            f'{deadline} timeout (send queue full); it stays queued')

    def abandon(self, pending: PendingRequest) -> None:
        """The caller gave up waiting (timeout): a late reply is dropped."""
        with self.manager._lock:
            self._settle(pending)
            pending.abandoned = True

    def _settle(self, pending: PendingRequest) -> None:
        # With the lock held: the PV has one request less in flight; when
        # it was the last one of a PV asked to go idle meanwhile, the
        # idling happens now (on the network thread).
        if pending.abandoned:
            return
        pv = pending.pv
        pv._outstanding -= 1
        if pv._outstanding <= 0 and pv._idle_requested:
            self.manager.selector.call_soon(pv._finish_going_idle)

    # -- replies (network thread) ---------------------------------------------

    def complete(self, pending: PendingRequest, reply: Message) -> None:
        """``reply`` (READ/WRITE_NOTIFY reply or ERROR) answers ``pending``;
        the core circuit has already taken it out of the table."""
        with self.manager._lock:
            deliver = self.settle_reply_locked(pending)
        if deliver:
            self.deliver(pending, reply)

    def settle_reply_locked(self, pending: PendingRequest) -> bool:
        """The first half of :meth:`complete`, with the circuit lock held:
        whether the reply is to be delivered (False: the caller gave up)."""
        abandoned = pending.abandoned
        self._settle(pending)
        pending.abandoned = True
        if abandoned:
            self.manager.log.debug('Ignoring late reply for ioid %d',
                                   pending.ioid)
        return not abandoned

    def deliver(self, pending: PendingRequest, reply: Message) -> None:
        """The second half of :meth:`complete`, without the lock."""
        pending.complete(reply, self.manager.user_callback_executor)

    def fail_request(self, ioid: int, error: BaseException) -> None:
        """Fail the request waiting for ``ioid`` (its reply was discarded
        unread, e.g. larger than EPICS_CA_MAX_ARRAY_BYTES)."""
        with self.manager._lock:
            pending = self.circuit.discard_request(ioid)
        if isinstance(pending, PendingRequest):
            self.complete_with_error(pending, error)

    def complete_with_error(self, pending: PendingRequest,
                            error: BaseException) -> None:
        with self.manager._lock:
            abandoned = pending.abandoned
            self._settle(pending)
            pending.abandoned = True
        if not abandoned:
            pending.fail(error)

    def fail_all(self, error: BaseException) -> None:
        """The circuit died: wake every caller (network thread).  Call
        before the core circuit forgets its requests."""
        with self.manager._lock:
            pending = [request for request
                       in self.circuit.outstanding_requests.values()
                       if isinstance(request, PendingRequest)
                       and not request.abandoned]
            for request in pending:
                request.abandoned = True
                request.pv._outstanding = 0
        for request in pending:
            request.fail(error)

