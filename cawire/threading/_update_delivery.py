"""Subscription updates to user callbacks, with bounded memory and lag.

Updates are queued on the circuit's :class:`CallbackExecutor` in arrival
order and, normally, every one is delivered.  A consumer that falls behind
is handled in stages, as libca and RSRV would between them:

1. When the backlog reaches ``high_water`` queued jobs (and is more than
   ``BURSTS_ALLOWED`` updates per subscription of the circuit: every
   subscription updating at once, records scanned together, is a normal
   burst, not a slow consumer), or the oldest
   queued update has waited ``max_lag`` seconds (noticed as updates
   arrive), or ``quiet_max_lag`` seconds while nothing new arrives
   (noticed by the worker as it runs them, so that a backlog left when
   the producer stops is not replayed at the callback's pace), the
   circuit sends
   EVENTS_OFF: the server stops sending updates and keeps only the latest
   per subscription.  While suspended, a queued update that has a newer
   one queued behind it for the same subscription is skipped (stale data
   is what the server is discarding too), so the callbacks catch up in
   milliseconds instead of replaying a long backlog.  When the backlog is
   down to ``low_water`` EVENTS_ON resumes the flow and the server sends
   the latest values.
2. Should the backlog reach ``hard_limit`` anyway (updates in flight, very
   many subscriptions), a new update *replaces* the one still queued for
   the same subscription instead of adding to the queue, so memory stays
   bounded by the number of subscriptions.

Skipped and replaced updates are counted (``Subscription.coalesced`` and
``coalesced_updates``).  Flow control set by the user (``events_off()``)
is never undone automatically and never skips anything.
"""
from __future__ import annotations

import logging
import threading
from time import monotonic
from typing import TYPE_CHECKING, Any

from ..protocol._events_switch import EventsSwitch
from ..protocol._commands import EventAddResponse
from ..protocol._exceptions import CaprotoRuntimeError
from ._network_thread_executor import NetworkThreadExecutor

if TYPE_CHECKING:  # pragma: no cover
    from ._network_thread_executor import AnyExecutor
    from ._circuit_manager import VirtualCircuitManager
    from ._subscription import Subscription

__all__ = ('UpdateDelivery',)

logger = logging.getLogger('cawire.circ')


class _UpdateJob:
    """A queued delivery; its response may be refreshed before it starts."""

    __slots__ = ('sub', 'response', 'size', 'started', 'serial', 'arrived')

    def __init__(self, sub: Subscription, response: EventAddResponse,
                 size: int, arrived: float) -> None:
        self.sub = sub
        self.response = response
        self.size = size
        self.started = False
        # sub.received when this update arrived: a newer update of the
        # subscription exists (queued behind it) when they differ.
        self.serial = sub.received
        self.arrived = arrived


class UpdateDelivery:
    """Delivery and flow control of one circuit's subscription updates.

    Parameters
    ----------
    manager : VirtualCircuitManager
        Provides ``_lock``, ``selector`` (the network loop), ``circuit`` and
        ``send_flow_control(command) -> bool``.
    high_water, low_water, hard_limit : int
        Backlog thresholds in queued updates (see the module docstring).
    max_bytes : int
        Payload bytes queued for callbacks at which EVENTS_OFF is sent;
        updates are merged per subscription beyond four times this, and
        EVENTS_ON needs the backlog below a quarter of it.
    max_lag : float
        Seconds the oldest queued update may wait before EVENTS_OFF while
        updates keep arriving: above what a process descheduled for a
        moment on a busy machine falls behind by and then catches up on
        (libca has no such bound at all; stopping the flow sooner makes
        the server drop updates that a fast consumer would have taken).
    quiet_max_lag : float
        The same bound once nothing has arrived for ``QUIET_AFTER``
        seconds (the producer stopped with a backlog queued): the latest
        value then comes at once instead of after the replay.
    subscriptions : dict, optional
        The circuit's live subscriptions: ``high_water`` and ``hard_limit``
        count only beyond ``BURSTS_ALLOWED`` (resp. twice that) queued updates
        per subscription, so that every subscription updating at once is
        not taken for a slow consumer.
    """

    #: Backlog below which the lag is not even looked at.
    LAG_CHECK_BACKLOG = 32
    #: Seconds without a new update after which the flow counts as stopped
    #: (``quiet_max_lag`` applies).
    QUIET_AFTER = 0.1
    #: The worker looks at the backlog (to resume, or to notice a lag when
    #: nothing arrives) every this many updates (a power of two), and at
    #: every update while the flow is suspended.
    LOOK_EVERY_MASK = 8 - 1
    #: Queued updates per subscription of the circuit that do not count as
    #: a slow consumer by number: whole scan bursts, several of them (a
    #: process descheduled for a few scan periods on a busy machine reads
    #: them all at once and catches up in milliseconds).  A consumer that
    #: really is slow is caught by the lag (``max_lag``) long before.
    BURSTS_ALLOWED = 8

    def __init__(self, manager: VirtualCircuitManager, *, high_water: int,
                 low_water: int,
                 hard_limit: int, max_bytes: int = 16 * 2 ** 20,
                 max_lag: float = 1.0, quiet_max_lag: float = 0.5,
                 subscriptions: dict | None = None) -> None:
        self.manager = manager
        # The circuit's subscriptions (only their number is read here).
        self.subscriptions = {} if subscriptions is None else subscriptions
        self.high_water = high_water
        self.low_water = low_water
        self.hard_limit = hard_limit
        self.max_bytes = max_bytes
        self.hard_bytes = 4 * max_bytes
        self.low_bytes = max_bytes // 4
        self.max_lag = max_lag
        self.quiet_max_lag = min(quiet_max_lag, max_lag)
        # Monotonic time of the last update received (network thread).
        self._last_arrival = 0.0
        # Payload bytes of the updates queued so far (written by the
        # network thread only) and of those taken by a worker (under the
        # lock): their difference is queued_bytes, without a lock per
        # update on the network thread.
        self._added_bytes = 0
        self._removed_bytes = 0
        # While True (automatic suspension), stale queued updates are skipped.
        self.skip_stale = False
        # Set when the context disconnects: queued updates are dropped so
        # that shutting down never waits for a backlog of user callbacks.
        self.discard = False
        # EVENTS_OFF/ON state and counters (the rules are the core's).
        self.switch = EventsSwitch()
        self._send = manager.send_flow_control
        self._resume_requested = False
        self._lag_check_requested = False
        self._runs = 0  # updates started (worker threads)
        self._arrivals = 0  # updates queued (network thread)
        # The batch a worker is running, the index of the update it runs
        # and how many are left after it (read by the flow-control checks).
        self._hand: list = []
        self._hand_index = 0
        self._in_hand = 0
        # One bound method for every submission (the executor batches
        # consecutive items of the same function).
        self._run_jobs = self._run
        self.coalesced_updates = 0
        self.dropped_updates = 0
        self._lock = threading.Lock()
        self._executor: AnyExecutor | None = None  # set by the manager
        # Callbacks run on the network thread: nothing is ever queued, so
        # there is nothing to account, merge or suspend.
        self._on_network_thread = False
        # That executor's jobs from other threads (empty: none waiting).
        self._deferred_jobs: Any = ()

    @property
    def queued_bytes(self) -> int:
        """Payload bytes of the updates waiting for callbacks."""
        return self._added_bytes - self._removed_bytes

    @property
    def executor(self) -> AnyExecutor:
        """The circuit's callback executor (set by the manager)."""
        executor = self._executor
        if executor is None:
            raise CaprotoRuntimeError('UpdateDelivery has no executor yet')
        return executor

    @executor.setter
    def executor(self, executor: AnyExecutor) -> None:
        self._executor = executor
        if isinstance(executor, NetworkThreadExecutor):
            self._on_network_thread = True
            self._deferred_jobs = executor.deferred
        else:
            self._on_network_thread = False
            self._deferred_jobs = ()

    # -- delivery --------------------------------------------------------------------

    @property
    def on_network_thread(self) -> bool:
        """Whether callbacks run on the network thread (nothing queued)."""
        return self._on_network_thread

    def deliver_now(self, sub: Subscription, command: EventAddResponse,
                    subscriptionid: int | None = None) -> None:
        """Run ``sub``'s callbacks for ``command`` now (the network
        thread, with callbacks on the network thread): :meth:`deliver`
        without the queue and its accounting."""
        sub.received += 1
        if self.discard:
            self.dropped_updates += 1
            return
        if self._deferred_jobs:  # submitted earlier from other threads
            self._executor.run_deferred()  # type: ignore[union-attr]
        sub.process(command, subscriptionid)

    def deliver(self, sub: Subscription, command: EventAddResponse,
                subscriptionid: int | None = None) -> None:
        """Queue ``command`` for ``sub``'s callbacks (network thread).

        (``subscriptionid`` is not needed here: the signature is
        :meth:`deliver_now`'s, so that the circuit calls either alike.)
        """
        sub.received += 1
        self._last_arrival = now = monotonic()
        executor = self._executor
        if executor is None:
            raise CaprotoRuntimeError('UpdateDelivery has no executor yet')
        if self._on_network_thread:
            if self.discard:
                self.dropped_updates += 1
            else:
                executor.submit_for(sub, sub.process, command)
            return
        size = command.payload_size
        backlog = executor.backlog + self._in_hand
        queued_bytes = self._added_bytes - self._removed_bytes
        if ((backlog >= self.hard_limit
                and backlog >= 2 * self.BURSTS_ALLOWED
                * len(self.subscriptions))
                or queued_bytes >= self.hard_bytes):
            with self._lock:
                job = sub._queued_job
                if job is not None and not job.started:
                    self._added_bytes += size - job.size
                    job.serial = sub.received
                    job.response = command
                    job.size = size
                    sub.coalesced += 1
                    self.coalesced_updates += 1
                    return
        job = _UpdateJob(sub, command, size, now)
        sub._queued_job = job
        self._added_bytes += size
        executor.submit_batched(sub, self._run_jobs, job)
        if self.switch.suspended:
            return
        backlog += 1
        self._arrivals += 1
        if ((backlog >= self.high_water and not self._normal_burst(backlog))
                or queued_bytes + size >= self.max_bytes
                or (backlog >= self.LAG_CHECK_BACKLOG
                    and self._arrivals & self.LOOK_EVERY_MASK == 0
                    and self._oldest_wait(executor) >= self.max_lag)):
            self.backlog_high()

    def _normal_burst(self, backlog: int) -> bool:
        # One update from every subscription of the circuit at once (records
        # scanned together) is what a fast consumer sees every scan period,
        # not a sign that it is slow: the high-water mark counts from there.
        # A consumer that does fall behind is caught by the lag (max_lag)
        # and, past hard_limit, by per-subscription merging.
        return backlog < self.BURSTS_ALLOWED * len(self.subscriptions)

    def _run(self, jobs: list) -> None:
        # Worker thread: a batch of updates in arrival order.  They are
        # taken (no longer merged into) under one lock, and counted in the
        # backlog (``_in_hand``) until each one runs.
        with self._lock:
            removed = 0
            for job in jobs:
                job.started = True
                removed += job.size
                sub = job.sub
                if sub._queued_job is job:
                    sub._queued_job = None
            self._removed_bytes += removed
        self._hand = jobs
        remaining = len(jobs)
        for index, job in enumerate(jobs):
            remaining -= 1
            self._hand_index = index
            self._in_hand = remaining
            self._runs += 1
            if (self._runs & self.LOOK_EVERY_MASK == 0
                    or self.switch.auto_off):
                self._look_at_backlog()
            if self.discard:
                self.dropped_updates += 1
            elif self.skip_stale and job.serial != job.sub.received:
                # Overloaded and a newer update of this subscription is
                # queued: this one is stale.
                job.sub.coalesced += 1
                self.coalesced_updates += 1
            else:
                try:
                    job.sub.process(job.response)
                except Exception:
                    logger.exception('Failed to deliver %r', job.response)
        self._hand = []  # let the responses (and their buffers) go

    def _look_at_backlog(self) -> None:
        # Worker thread, every LOOK_EVERY updates (every update while
        # suspended): is it time to resume, or are we lagging with nothing
        # arriving to notice it?
        executor = self._executor
        if executor is None:
            raise CaprotoRuntimeError('UpdateDelivery has no executor yet')
        if self.switch.auto_off:
            if (not self._resume_requested
                    and executor.backlog + self._in_hand <= self.low_water
                    and self.queued_bytes <= self.low_bytes):
                # Caught up: ask the network thread to resume the flow.
                self._resume_requested = True
                self.manager.selector.call_soon(self._maybe_resume)
        elif (not self._lag_check_requested and not self.switch.user_off
                and self._lagging(executor)):
            # Behind by max_lag with nothing arriving to notice it (the
            # producer stopped while a backlog was queued): without this
            # the backlog would be replayed at the callback's pace before
            # the latest value.  The network thread decides (F8).
            self._lag_check_requested = True
            self.manager.selector.call_soon(self._lag_check)

    # -- flow control ------------------------------------------------------------------
    #
    # Every automatic decision is taken on the network thread, under the
    # circuit lock, so that EVENTS_OFF and EVENTS_ON can never overtake each
    # other on the wire; worker threads only ask the network thread to look.

    @property
    def events_off_sent(self) -> int:
        return self.switch.events_off_sent

    @property
    def events_on_sent(self) -> int:
        return self.switch.events_on_sent

    def events_off(self) -> None:
        with self.manager._lock:
            self.switch.user_events_off(self._send)

    def events_on(self) -> None:
        with self.manager._lock:
            self.switch.user_events_on(self._send)
            self.skip_stale = False

    def backlog_high(self) -> None:
        """The callbacks fell behind: suspend updates (network thread)."""
        manager = self.manager
        with manager._lock:
            if not self.switch.congested(self._send):
                return
            self.skip_stale = True
        # Resuming is otherwise asked by the next update job that finds the
        # backlog low; when the jobs left are not updates (connection
        # callbacks...), none would, and updates stayed off for good.
        self.executor.call_when_idle(self.backlog_low)
        log = logger.warning if self.events_off_sent == 1 else logger.debug
        log('Callbacks of circuit %s:%d fell behind (%d updates, %d bytes '
            'queued); asking the server to suspend updates (EVENTS_OFF, %d '
            'time(s) so far)', *manager.address,
            self.executor.backlog + self._in_hand,
            self.queued_bytes, self.events_off_sent)

    def _lag_check(self) -> None:
        # Network thread, asked by a worker that found the queue lagging.
        self._lag_check_requested = False
        if self._lagging(self.executor):
            self.backlog_high()

    def _oldest_wait(self, executor: AnyExecutor) -> float:
        # Seconds the oldest update not yet run has waited: the next one in
        # the worker's hand, else the oldest queued.  (Read racily from the
        # network thread: a stale index only makes it a little off.)
        if self._in_hand:
            try:
                return monotonic() - self._hand[self._hand_index + 1].arrived
            except IndexError:
                pass
        return executor.oldest_age()

    def _lagging(self, executor: AnyExecutor) -> bool:
        if executor.backlog + self._in_hand < self.LAG_CHECK_BACKLOG:
            return False
        age = self._oldest_wait(executor)
        return age >= self.max_lag or (
            age >= self.quiet_max_lag
            and monotonic() - self._last_arrival >= self.QUIET_AFTER)

    def backlog_low(self) -> None:
        """Ask the network thread to check whether to resume (any thread)."""
        self.manager.selector.call_soon(self._maybe_resume)

    def _maybe_resume(self) -> None:
        # Network thread.
        manager = self.manager
        with manager._lock:
            self._resume_requested = False
            if not self.switch.auto_off:
                return
            if not self.switch.user_off and (
                    self.executor.backlog + self._in_hand > self.low_water
                    or self.queued_bytes > self.low_bytes):
                # More arrived meanwhile: ask again once it has drained.
                self.executor.call_when_idle(self.backlog_low)
                return
            resumed = self.switch.relieved(self._send)
            self.skip_stale = False
        if not resumed:
            return  # the user's choice stands
        logger.debug('Callbacks of circuit %s:%d caught up; resuming '
                     'updates (EVENTS_ON)', *manager.address)
