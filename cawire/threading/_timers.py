"""Deadline scheduler for the network thread.

Every timed activity of the client (search retries, echo/keep-alive checks,
repeater registration, beacon bookkeeping, request timeouts) is a timer in
one :class:`TimerScheduler`.  The network loop sleeps in ``select()`` exactly
until the earliest deadline, so nothing polls.

Timers may be added or cancelled from any thread; the scheduler reports
whether a new timer became the earliest one so that the loop can be woken
to shorten its sleep.

The heap holds ``(deadline, order, handle)`` tuples: they compare in C (no
Python ``__lt__`` per sift step), and the loop reads the earliest deadline
as ``heap[0][0]`` on every wake-up without a call or a lock (a push from
another thread is one C call under the GIL, so the loop never sees a heap
half-sifted).
"""
from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from typing import Any, Callable

__all__ = ('TimerHandle', 'TimerScheduler')

logger = logging.getLogger('cawire.ctx.timers')


class TimerHandle:
    """One scheduled call; :meth:`cancel` prevents it from running."""

    __slots__ = ('deadline', 'callback', 'args', 'cancelled', '_order')

    def __init__(self, deadline: float, order: int,
                 callback: Callable[..., Any] | None, args: tuple) -> None:
        self.deadline = deadline
        self._order = order
        self.callback = callback
        self.args = args
        self.cancelled = False

    def cancel(self) -> None:
        """Do not run this timer (idempotent, thread-safe)."""
        self.cancelled = True
        # Drop references early so cancelled timers do not pin objects
        # until their deadline is reached.
        self.callback = None
        self.args = ()

    def __lt__(self, other: 'TimerHandle') -> bool:
        return (self.deadline, self._order) < (other.deadline, other._order)

    def __repr__(self) -> str:
        state = 'cancelled' if self.cancelled else 'pending'
        return f'<TimerHandle deadline={self.deadline:.6f} {state}>'


class TimerScheduler:
    """A heap of deadlines on one monotonic clock.

    Parameters
    ----------
    clock : callable, optional
        Returns the current time in seconds; ``time.monotonic`` by default.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        #: ``(deadline, order, handle)``, earliest first; read-only outside
        #: this class (the loop peeks at ``heap[0][0]``).  Cancelled
        #: handles stay until their deadline or until they reach the top.
        self.heap: list[tuple[float, int, TimerHandle]] = []
        self._lock = threading.Lock()
        self._order = itertools.count()

    def __len__(self) -> int:
        return sum(1 for entry in self.heap if not entry[2].cancelled)

    def call_at(self, deadline: float, callback: Callable[..., Any],
                *args: Any
                ) -> tuple[TimerHandle, bool]:
        """Schedule ``callback(*args)`` at ``deadline``.

        Returns
        -------
        handle : TimerHandle
        is_earliest : bool
            True when this timer is now the first to fire (the caller should
            wake the loop so that it re-computes its sleep).
        """
        order = next(self._order)
        handle = TimerHandle(deadline, order, callback, args)
        entry = (deadline, order, handle)
        with self._lock:
            heapq.heappush(self.heap, entry)
            is_earliest = self.heap[0] is entry
        return handle, is_earliest

    def call_later(self, delay: float, callback: Callable[..., Any],
                   *args: Any
                   ) -> tuple[TimerHandle, bool]:
        """Schedule ``callback(*args)`` after ``delay`` seconds."""
        return self.call_at(self.clock() + max(0.0, delay), callback, *args)

    def next_timeout(self) -> float | None:
        """Seconds until the earliest live deadline (0 if overdue), or None."""
        with self._lock:
            heap = self.heap
            while heap and heap[0][2].cancelled:
                heapq.heappop(heap)
            if not heap:
                return None
            deadline = heap[0][0]
        return max(0.0, deadline - self.clock())

    def pop_due(self) -> list[TimerHandle]:
        """Remove and return the timers whose deadline has passed, in order."""
        now = self.clock()
        due = []
        with self._lock:
            heap = self.heap
            while heap and (heap[0][0] <= now or heap[0][2].cancelled):
                handle = heapq.heappop(heap)[2]
                if not handle.cancelled:
                    due.append(handle)
        return due

    def run_due(self) -> int:
        """Run every due timer; exceptions are logged, never raised.

        Returns the number of timers run.
        """
        due = self.pop_due()
        for handle in due:
            callback, args = handle.callback, handle.args
            if handle.cancelled or callback is None:
                continue
            handle.cancelled = True  # a fired timer cannot be cancelled again
            try:
                callback(*args)
            except Exception:
                logger.exception('Timer callback %r failed', callback)
        return len(due)

    def clear(self) -> None:
        """Cancel everything."""
        with self._lock:
            for entry in self.heap:
                entry[2].cancel()
            self.heap.clear()
