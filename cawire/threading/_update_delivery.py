"""Subscription updates to user callbacks, with bounded memory.

Updates are queued on the circuit's :class:`CallbackExecutor` in arrival
order.  A slow consumer is handled in two stages, as libca and RSRV would
between them:

1. When the backlog reaches ``high_water`` queued jobs the circuit sends
   EVENTS_OFF: the server stops sending updates and keeps only the latest
   per subscription.  When the callbacks have caught up (``low_water``)
   EVENTS_ON resumes the flow (the server then sends the latest values).
2. Should the backlog still reach ``hard_limit`` (e.g. updates already in
   flight, or very many subscriptions), a new update *replaces* the one
   still queued for the same subscription instead of adding to the queue,
   so memory stays bounded by the number of subscriptions.  Replaced
   updates are counted (``Subscription.coalesced`` and
   ``coalesced_updates``).

Flow control set by the user (``events_off()``) is never undone
automatically.
"""
from __future__ import annotations

import logging
import threading

from .. import _commands as ca

__all__ = ('UpdateDelivery',)

logger = logging.getLogger('cawire.circ')


class _UpdateJob:
    """A queued delivery; its response may be refreshed before it starts."""

    __slots__ = ('sub', 'response', 'started')

    def __init__(self, sub, response):
        self.sub = sub
        self.response = response
        self.started = False


class UpdateDelivery:
    """Delivery and flow control of one circuit's subscription updates.

    Parameters
    ----------
    manager : VirtualCircuitManager
        Sends EVENTS_OFF / EVENTS_ON through ``manager.send_from_loop`` and
        ``manager.send_flow_control``.
    """

    def __init__(self, manager, *, high_water: int, low_water: int,
                 hard_limit: int):
        self.manager = manager
        self.high_water = high_water
        self.low_water = low_water
        self.hard_limit = hard_limit
        self.user_events_off = False
        self.auto_events_off = False
        self.events_off_sent = 0
        self.events_on_sent = 0
        self.coalesced_updates = 0
        self.dropped_updates = 0
        self._lock = threading.Lock()
        self.executor = None  # set by the manager

    # -- delivery --------------------------------------------------------------------

    def deliver(self, sub, command) -> None:
        """Queue ``command`` for ``sub``'s callbacks (network thread)."""
        sub.received += 1
        executor = self.executor
        if executor.backlog >= self.hard_limit:
            with self._lock:
                job = sub._queued_job
                if job is not None and not job.started:
                    job.response = command
                    sub.coalesced += 1
                    self.coalesced_updates += 1
                    return
        job = _UpdateJob(sub, command)
        sub._queued_job = job
        executor.submit(self._run, job)

    def _run(self, job) -> None:
        with self._lock:
            job.started = True
            response = job.response
            sub = job.sub
            if sub._queued_job is job:
                sub._queued_job = None
        sub.process(response)

    # -- flow control ------------------------------------------------------------------
    #
    # Every automatic decision is taken on the network thread, under the
    # circuit lock, so that EVENTS_OFF and EVENTS_ON can never overtake each
    # other on the wire; worker threads only ask the network thread to look.

    def events_off(self) -> None:
        with self.manager._lock:
            self.user_events_off = True
            self._send(ca.EventsOffRequest())

    def events_on(self) -> None:
        with self.manager._lock:
            self.user_events_off = False
            self.auto_events_off = False
            self._send(ca.EventsOnRequest())

    def _send(self, command) -> bool:
        sent = self.manager.send_flow_control(command)
        if sent:
            if isinstance(command, ca.EventsOffRequest):
                self.events_off_sent += 1
            else:
                self.events_on_sent += 1
        return sent

    def backlog_high(self) -> None:
        """Executor hook: the backlog reached high water (network thread)."""
        manager = self.manager
        with manager._lock:
            if self.user_events_off or self.auto_events_off:
                return
            if not self._send(ca.EventsOffRequest()):
                return
            self.auto_events_off = True
        log = logger.warning if self.events_off_sent == 1 else logger.debug
        log('Callbacks of circuit %s:%d fell %d updates behind; asking the '
            'server to suspend updates (EVENTS_OFF, %d time(s) so far)',
            *manager.circuit.address, self.executor.backlog,
            self.events_off_sent)
        if self.executor.watch_low_water():
            manager.selector.call_soon(self._maybe_resume)

    def backlog_low(self) -> None:
        """Executor hook: the callbacks caught up (worker thread)."""
        self.manager.selector.call_soon(self._maybe_resume)

    def _maybe_resume(self) -> None:
        # Network thread.
        manager = self.manager
        with manager._lock:
            if not self.auto_events_off:
                return
            if self.user_events_off:
                self.auto_events_off = False  # the user's choice stands
                return
            if self.executor.backlog > self.low_water:
                # More arrived meanwhile: look again once it drains.
                if not self.executor.watch_low_water():
                    return
            self._send(ca.EventsOnRequest())
            self.auto_events_off = False
        logger.debug('Callbacks of circuit %s:%d caught up; resuming '
                     'updates (EVENTS_ON)', *manager.circuit.address)
