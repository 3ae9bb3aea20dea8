"""One outstanding read or write, waiting for its reply.

A :class:`PendingRequest` is the core circuit's entry for its ioid
(``VirtualCircuit.outstanding_requests``; it subclasses the core's
:class:`OutstandingRequest`) from the moment the request is sent until the
reply arrives or the circuit dies.  The network thread completes it
*directly* (sets the event the caller waits on), so a blocking read costs
one round trip and no thread hop.  An optional user callback is handed to
the circuit's callback executor.
"""
from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any, Callable

from ..protocol._commands_base import Message
from ..protocol._outstanding import OutstandingRequest
from ._flags import OneShot

if TYPE_CHECKING:  # pragma: no cover
    from ._network_thread_executor import AnyExecutor
    from ._selector_loop import Loan
    from ._pv import PV

__all__ = ('PendingRequest',)

logger = logging.getLogger('cawire.ch')


class PendingRequest(OutstandingRequest):
    """Reply slot for one ioid.

    Parameters
    ----------
    ioid : int
    pv : PV
        Which PV asked (for logging and error messages).
    request : Message
        The command sent.
    callback : callable, optional
        ``callback(response)`` to run on the callback executor.
    deadline : float or None
        Monotonic time after which a late reply is ignored (for callbacks
        of requests whose caller already timed out).
    waiting : bool
        Whether a caller blocks on :attr:`event`.

    Attributes
    ----------
    abandoned : bool
        The caller gave up (timeout): the reply, if it ever comes, is
        dropped.  The ioid stays in the circuit's table until then, so a
        late reply is recognised rather than taken for a protocol error.
    """

    __slots__ = ('pv', 'request', 'callback', 'deadline', 'event',
                 'response', 'exception', 'waiting', 'abandoned', 'loan')

    def __init__(self, ioid: int, pv: PV, request: Message | None,
                 callback: Callable[[Any], Any] | None,
                 deadline: float | None, waiting: bool) -> None:
        super().__init__(ioid)
        self.pv = pv
        self.request = request
        self.callback = callback
        self.deadline = deadline
        self.waiting = waiting
        self.abandoned = False
        self.event = OneShot() if waiting else None
        self.response: Message | None = None
        self.exception: BaseException | None = None
        #: The network loop's role lent to the waiting caller (it receives
        #: the reply itself), from before the request is sent until the
        #: caller serves it (``VirtualCircuitManager.receive_while_waiting``).
        self.loan: Loan | None = None

    def complete(self, response: Message, executor: AnyExecutor) -> None:
        """Deliver the reply (network thread)."""
        self.response = response
        if self.event is not None:
            self.event.set()
        callback = self.callback
        if callback is not None:
            if (self.deadline is not None and not self.waiting
                    and time.monotonic() > self.deadline):
                logger.warning('Ignoring late response with ioid=%d for %r: '
                               'it arrived %.3f s after the timeout',
                               self.ioid, self.pv.name,
                               time.monotonic() - self.deadline)
                return
            executor.submit(callback, response)

    def fail(self, exception: BaseException) -> None:
        """Wake the waiting caller with ``exception`` (network thread)."""
        self.exception = exception
        if self.event is not None:
            self.event.set()
        elif self.callback is not None:
            logger.warning('Request ioid=%d for %r was not completed: %s',
                           self.ioid, self.pv.name, exception)

    def __repr__(self) -> str:
        return f'<PendingRequest ioid={self.ioid} pv={self.pv.name!r}>'
