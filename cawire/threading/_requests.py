"""One outstanding read or write, waiting for its reply.

A :class:`PendingRequest` lives in its circuit's ioid table from the moment
the request is queued until the reply arrives, the circuit dies, or the
caller gives up.  The network thread completes it *directly* (sets the
``threading.Event`` the caller waits on), so a blocking read costs one round
trip and no thread hop.  An optional user callback is handed to the
circuit's callback executor.
"""
from __future__ import annotations

import logging
import time
from typing import Callable

from ._flags import OneShot

__all__ = ('PendingRequest',)

logger = logging.getLogger('cawire.ch')


class PendingRequest:
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
    """

    __slots__ = ('ioid', 'pv', 'request', 'callback', 'deadline', 'event',
                 'response', 'exception', 'waiting')

    def __init__(self, ioid: int, pv, request, callback: Callable | None,
                 deadline: float | None, waiting: bool):
        self.ioid = ioid
        self.pv = pv
        self.request = request
        self.callback = callback
        self.deadline = deadline
        self.waiting = waiting
        self.event = OneShot() if waiting else None
        self.response = None
        self.exception: BaseException | None = None

    def complete(self, response, executor) -> None:
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
