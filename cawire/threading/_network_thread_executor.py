"""Running a circuit's user callbacks on the network thread itself.

``Context(callbacks_on_network_thread=True)`` gives every circuit of the
context this executor instead of a :class:`CallbackExecutor`: a callback
submitted by the network thread (a subscription update, a connection or
access-rights change, a read or write-notify reply) runs *there and then*,
while the received chunk is being processed.  No worker thread is woken and
no GIL is handed over per update, which is most of what an update costs
when updates arrive one at a time (a few thousand per second).

The trade-off (see docs/threading.md): a callback holds up the network
thread of the whole context (every circuit, searches, echoes, the replies
other threads wait for) for as long as it runs; the client's own flow
control never engages (nothing is queued), so a slow consumer is slowed
down by TCP and the server (RSRV keeps the latest value per subscription
when it cannot send), not by EVENTS_OFF; and a callback must not block on
the client (a blocking read, write or wait_for_connection from it raises).

Jobs submitted from other threads (rare: a callback added to a running
subscription is handed the latest update) are queued and run on the network
thread, before any job the network thread submits after them, so the order
of submission is the order of execution.
"""
from __future__ import annotations

import collections
import threading
from typing import TYPE_CHECKING, Any, Callable

from ._callbacks import CallbackExecutor, callback_logger

if TYPE_CHECKING:  # pragma: no cover
    from ._selector_loop import NetworkLoop

__all__ = ('NetworkThreadExecutor', 'AnyExecutor')


class NetworkThreadExecutor:
    """The :class:`CallbackExecutor` interface, running jobs on ``loop``'s
    thread.

    Parameters
    ----------
    loop : NetworkLoop
        The network loop whose thread runs the callbacks.
    name : str
        For logging and ``repr``.
    """

    #: One "worker": the network thread (jobs start and finish in order).
    max_workers = 1

    def __init__(self, loop: NetworkLoop, *, name: str = 'cawire-callbacks'
                 ) -> None:
        self._loop = loop
        self.name = name
        #: Jobs from other threads, waiting for the network thread
        #: (read-only outside this class: a caller on the network thread
        #: that finds it non-empty calls :meth:`run_deferred`).
        self.deferred: collections.deque = collections.deque()
        self._shutdown = False
        self._cancelled = False
        self.jobs_run = 0

    def __repr__(self) -> str:
        return f'<NetworkThreadExecutor {self.name}>'

    # -- what flow control reads: nothing is ever queued for long ----------

    @property
    def backlog(self) -> int:
        """Jobs submitted from other threads, not yet run."""
        return len(self.deferred)

    @property
    def is_shut_down(self) -> bool:
        return self._shutdown

    @property
    def over_high_water(self) -> bool:
        return False

    def oldest_age(self) -> float:
        return 0.0

    def watch_low_water(self) -> bool:
        return True

    def in_worker_thread(self) -> bool:
        return self._loop.in_loop_thread()

    def hold(self) -> None:
        """Nothing to defer: there is no worker to wake."""

    def release(self) -> None:
        """Nothing to wake."""

    # -- submitting -----------------------------------------------------------

    def submit(self, func: Callable[..., Any], *args: Any) -> bool:
        """Run ``func(*args)`` on the network thread (now, if called there).
        Returns False if the executor is shut down."""
        return self.submit_for(None, func, *args)

    def submit_for(self, key, func: Callable, *args) -> bool:
        """As :meth:`submit` (``key`` orders nothing more here: every job
        runs on the one network thread, in submission order)."""
        if self._shutdown:
            return False
        if self._loop.in_loop_thread():
            if self.deferred:
                self._run_deferred()
            self._run(func, args)
        else:
            self.deferred.append((func, args))
            self._loop.call_soon(self._run_deferred)
        return True

    def submit_batched(self, key, func: Callable[[Any], Any],
                       item: Any) -> bool:
        """As :meth:`submit_for` with one argument."""
        return self.submit_for(key, func, item)

    def call_when_idle(self, hook: Callable[[], None]) -> None:
        """Run ``hook()`` now: nothing is ever left queued behind the
        network thread."""
        try:
            hook()
        except Exception:
            callback_logger.exception('Flow-control hook %r failed', hook)

    def run_deferred(self) -> None:
        """Run the jobs submitted from other threads (network thread)."""
        self._run_deferred()

    def _run_deferred(self) -> None:
        deferred = self.deferred
        while deferred:
            try:
                func, args = deferred.popleft()
            except IndexError:
                return
            self._run(func, args)

    def _run(self, func: Callable, args: tuple) -> None:
        if self._cancelled:
            return
        try:
            func(*args)
        except Exception:
            callback_logger.exception('Exception in user callback %r', func)
        self.jobs_run += 1

    def shutdown(self, *, wait: bool = True, timeout: float | None = 5.0,
                 cancel_pending: bool = False) -> None:
        """Stop accepting jobs (``cancel_pending``: drop the deferred ones).
        There is no thread to join."""
        self._shutdown = True
        if cancel_pending:
            self._cancelled = True
            self.deferred.clear()

    @property
    def threads(self) -> list[threading.Thread]:
        return []


#: What a circuit runs its callbacks on (for annotations).
AnyExecutor = CallbackExecutor | NetworkThreadExecutor
