"""Running user callbacks: ordered executors.

By default user code never runs on the network thread: each circuit has a
:class:`CallbackExecutor` whose workers start jobs strictly in submission
order (so updates reach callbacks in the order they arrived).  An exception
raised by user code is logged with its traceback on the ``cawire.callback``
logger and the executor carries on.  (``Context(callbacks_on_network_thread=
True)`` uses ``_network_thread_executor`` instead.)

The executor reports its backlog to its owner through two thresholds so the
circuit can apply Channel Access flow control (EVENTS_OFF / EVENTS_ON) and,
past a hard limit, coalesce subscription updates.

The weak callback registries are in ``_callback_registry`` (re-exported
here).
"""
from __future__ import annotations

import collections
import logging
import queue
import threading
from time import monotonic
from typing import Any, Callable

from ._callback_registry import CallbackRegistry, accepts_one_positional_argument

__all__ = ('CallbackExecutor', 'CallbackRegistry', 'run_user_callback',
           'accepts_one_positional_argument')

callback_logger = logging.getLogger('cawire.callback')

#: Marks a queued batch job: ``(_BATCH, (func, items), time, None)``.
_BATCH = object()


def run_user_callback(func: Callable[..., Any], *args: Any) -> None:
    """Call ``func(*args)``; log (never raise) what it raises."""
    try:
        func(*args)
    except Exception:
        callback_logger.exception('Exception in user callback %r', func)


class CallbackExecutor:
    """Ordered-start worker pool with backlog accounting.

    Jobs submitted with :meth:`submit_for` carry a key (a subscription):
    two jobs with the same key never run at the same time, so with several
    workers the jobs of one key still run one after the other, in order,
    while other keys' jobs run beside them.  (That is what lets slow
    callbacks of different subscriptions each run at their own pace.)

    With one worker, :meth:`submit_batched` (subscription updates) gathers
    items into batches: ``func(items)`` is called once per batch.  While
    the submitting thread holds the executor (:meth:`hold`, the network
    thread processing one receive), its items are collected without any
    lock and queued at :meth:`release` with one lock round trip; a batch
    left at the tail of the queue takes later items too until a worker
    takes it.  The network thread and the worker then contend for the lock
    once per received chunk, not per update: under a busy GIL each
    contended acquisition can cost a thread switch.  Order is kept: any
    other job closes the open batch.  The backlog counts every item (those
    of a batch until a worker takes it).

    Parameters
    ----------
    max_workers : int
        Number of worker threads (created lazily, at most this many).  With
        one worker, jobs also *finish* in order.
    name : str
        Prefix of the worker thread names.
    high_water : int
        When the backlog reaches this many queued jobs, ``on_high_water`` is
        called (once per episode) on the submitting thread.
    low_water : int
        While armed (after a high-water episode, or by
        :meth:`watch_low_water`), the first worker to see the backlog at or
        below this calls ``on_low_water`` (on the worker thread) and disarms.
    """

    #: Items per batch job: bounds how far the backlog may under-count
    #: (the items of a batch a worker is running) and how old the oldest
    #: item of a batch is beyond the batch's own time stamp.
    BATCH_LIMIT = 256

    def __init__(self, max_workers: int = 1, *, name: str = 'cawire-callbacks',
                 high_water: int = 1000, low_water: int = 100,
                 on_high_water: Callable[[], None] | None = None,
                 on_low_water: Callable[[], None] | None = None) -> None:
        if max_workers < 1:
            raise ValueError('max_workers must be at least 1')
        self.max_workers = max_workers
        self.name = name
        self.high_water = high_water
        self.low_water = low_water
        self.on_high_water = on_high_water
        self.on_low_water = on_low_water
        # One-shot hooks run by a worker when the queue has emptied.
        self._idle_hooks: list[Callable[[], None]] = []
        self._jobs: collections.deque = collections.deque()
        # Guards the queue and the worker bookkeeping.  An idle worker parks
        # on its own doorbell (a C-level SimpleQueue): waking it is one put,
        # much cheaper than threading.Condition's per-wait lock and Python
        # bookkeeping, which matters at thousands of wake-ups per second.
        self._lock = threading.Lock()
        self._doorbells: list[queue.SimpleQueue] = []
        self._workers: list[threading.Thread] = []
        self._shutdown = False
        self._above_high_water = False
        self._watch_low = False
        self._thread_ids: set[int] = set()
        # While a thread holds the executor (see hold()), its submissions
        # only queue: the workers are woken once, by release().
        self._holder: int | None = None
        # Keys of the keyed jobs running now (only used with several workers).
        self._running_keys: set = set()
        self.jobs_run = 0
        # Items queued and not yet taken by a worker (a batch counts each).
        self._queued = 0
        # The items of the batch job at the tail of the queue, which later
        # items of the same function may join (``_open_func``); None once
        # anything else is queued after it or a worker has taken it.
        self._open_batch: list | None = None
        self._open_func: Callable | None = None
        # Items the holder submitted since hold(), not queued yet:
        # (func, [items]) or None.
        self._held: tuple[Callable, list] | None = None

    @property
    def backlog(self) -> int:
        """Jobs queued and not yet started (each item of a batch counts;
        the items of a batch a worker has taken no longer do)."""
        held = self._held
        return self._queued + (len(held[1]) if held is not None else 0)

    @property
    def is_shut_down(self) -> bool:
        return self._shutdown

    @property
    def over_high_water(self) -> bool:
        return self._above_high_water

    def oldest_age(self) -> float:
        """Seconds the oldest queued (not started) job has been waiting."""
        try:
            return monotonic() - self._jobs[0][2]
        except IndexError:
            return 0.0

    def watch_low_water(self) -> bool:
        """Arm the low-water notification (level-triggered re-arm).

        Returns True if the backlog is already at or below low water, in
        which case nothing is armed and the caller should act now.
        """
        with self._lock:
            if self._queued <= self.low_water:
                self._watch_low = False
                return True
            self._watch_low = True
            return False

    def in_worker_thread(self) -> bool:
        return threading.get_ident() in self._thread_ids

    def hold(self) -> None:
        """Defer waking the workers for this thread's submissions.

        The network thread holds the executor while it processes what one
        receive brought, so that a burst of updates costs one wake-up of a
        worker instead of one per update.  Must be paired with
        :meth:`release` (the holder must never block in between).
        """
        self._holder = threading.get_ident()

    def release(self) -> None:
        """End :meth:`hold`: queue the items gathered meanwhile and wake a
        worker if jobs were queued."""
        if self._held is not None:
            self._queue_held()
        self._holder = None
        if self._jobs:
            with self._lock:
                self._wake_locked()

    def _queue_held(self) -> None:
        # Holder thread: the items it gathered join the queue, in order.
        held, self._held = self._held, None
        if held is None:
            return
        func, items = held
        notify_high = False
        with self._lock:
            if self._shutdown:
                return
            notify_high = self._add_batch_items_locked(func, items)
        if notify_high and self.on_high_water is not None:
            self._call_hook(self.on_high_water)

    def _add_batch_items_locked(self, func: Callable, items: list) -> bool:
        # Append to the open batch or start one; True when the high-water
        # mark is crossed now.
        batch = self._open_batch
        if (batch is not None and self._open_func == func
                and len(batch) + len(items) <= self.BATCH_LIMIT):
            batch.extend(items)
        else:
            batch = self._open_batch = items
            self._open_func = func
            self._jobs.append((_BATCH, (func, batch), monotonic(), None))
        self._queued += len(items)
        if not self._above_high_water and self._queued >= self.high_water:
            self._above_high_water = True
            self._watch_low = True
            return True
        return False

    def _wake_locked(self) -> None:
        if self._doorbells:
            self._doorbells.pop().put(None)
        elif len(self._workers) < self.max_workers and not self._shutdown:
            self._start_worker()

    def submit(self, func: Callable[..., Any], *args: Any) -> bool:
        """Queue ``func(*args)``.  Returns False if the executor is shut down."""
        return self.submit_for(None, func, *args)

    def submit_for(self, key, func: Callable, *args) -> bool:
        """Queue ``func(*args)`` to run after, never beside, the earlier jobs
        submitted with the same ``key`` (None: no such constraint).
        Returns False if the executor is shut down."""
        notify_high = False
        if self._held is not None and self._holder == threading.get_ident():
            self._queue_held()  # what the holder submitted before goes first
        with self._lock:
            if self._shutdown:
                return False
            self._jobs.append((func, args, monotonic(), key))
            self._open_batch = None  # later updates must not overtake this
            self._queued += 1
            if (not self._above_high_water
                    and self._queued >= self.high_water):
                self._above_high_water = True
                self._watch_low = True
                notify_high = True
            if self._holder is None or self._holder != threading.get_ident():
                self._wake_locked()
        if notify_high and self.on_high_water is not None:
            self._call_hook(self.on_high_water)
        return True

    def submit_batched(self, key, func: Callable[[Any], Any],
                       item: Any) -> bool:
        """Queue ``item`` for ``func(items)``, a call with a list of items
        in submission order (see the class docstring): with one worker,
        consecutive items of the same ``func`` share calls; with several,
        each item is its own keyed job (``submit_for(key, func, [item])``).
        Returns False if the executor is shut down."""
        if self.max_workers > 1:
            return self.submit_for(key, func, [item])
        if self._holder == threading.get_ident():
            if self._shutdown:
                return False
            held = self._held
            if held is not None and held[0] == func:
                held[1].append(item)
            else:
                if held is not None:
                    self._queue_held()
                self._held = (func, [item])
            return True
        notify_high = False
        with self._lock:
            if self._shutdown:
                return False
            notify_high = self._add_batch_items_locked(func, [item])
            self._wake_locked()
        if notify_high and self.on_high_water is not None:
            self._call_hook(self.on_high_water)
        return True

    def call_when_idle(self, hook: Callable[[], None]) -> None:
        """Run ``hook()`` once, on a worker, after the queue has emptied
        (at once if it is empty now)."""
        with self._lock:
            if self._jobs:
                self._idle_hooks.append(hook)
                return
        self._call_hook(hook)

    def _start_worker(self) -> None:
        index = len(self._workers)
        thread = threading.Thread(target=self._work,
                                  name=f'{self.name}-{index}', daemon=True)
        self._workers.append(thread)
        thread.start()

    @staticmethod
    def _call_hook(hook) -> None:
        try:
            hook()
        except Exception:
            callback_logger.exception('Flow-control hook %r failed', hook)

    def _next_job_locked(self):
        # The first queued job whose key is not running (None if none is
        # runnable); with one worker simply the first job.
        jobs = self._jobs
        running = self._running_keys
        if self.max_workers == 1 or not running:
            job = jobs.popleft()
        else:
            for index, job in enumerate(jobs):
                if job[3] is None or job[3] not in running:
                    del jobs[index]
                    break
            else:
                return None
        if job[3] is not None and self.max_workers > 1:
            running.add(job[3])
        return job

    def _work(self) -> None:
        self._thread_ids.add(threading.get_ident())
        jobs = self._jobs
        lock = self._lock
        doorbell: queue.SimpleQueue[None] = queue.SimpleQueue()
        while True:
            notify_low = False
            with lock:
                job = self._next_job_locked() if jobs else None
                if job is None:
                    if self._shutdown and not jobs:
                        return
                    self._doorbells.append(doorbell)
                else:
                    if job[0] is _BATCH:
                        if job[1][1] is self._open_batch:
                            self._open_batch = None
                        self._queued -= len(job[1][1])
                    else:
                        self._queued -= 1
                    queued = self._queued
                    if self._above_high_water and queued <= self.low_water:
                        self._above_high_water = False
                        if self._watch_low:
                            self._watch_low = False
                            notify_low = True
                    elif self._watch_low and queued <= self.low_water:
                        self._watch_low = False
                        notify_low = True
            if job is None:
                doorbell.get()
                continue
            if notify_low and self.on_low_water is not None:
                self._call_hook(self.on_low_water)
            func, args, _, key = job
            if func is _BATCH:
                func, items = args
                try:
                    func(items)
                except Exception:
                    callback_logger.exception('Exception in user callback %r',
                                              func)
            else:
                try:
                    func(*args)
                except Exception:
                    callback_logger.exception('Exception in user callback %r',
                                              func)
            self.jobs_run += 1
            if key is not None and self.max_workers > 1:
                with lock:
                    self._running_keys.discard(key)
                    if jobs:
                        # A job of this key may have been waiting for us.
                        self._wake_locked()
            if self._idle_hooks:
                with lock:
                    hooks = self._idle_hooks if not jobs else []
                    if hooks:
                        self._idle_hooks = []
                for hook in hooks:
                    self._call_hook(hook)

    def shutdown(self, *, wait: bool = True, timeout: float | None = 5.0,
                 cancel_pending: bool = False) -> None:
        """Stop accepting jobs; workers exit after the queue is drained.

        Parameters
        ----------
        wait : bool
            Join the workers (never joins the calling worker itself).
        cancel_pending : bool
            Drop queued jobs instead of running them.
        """
        with self._lock:
            self._shutdown = True
            if cancel_pending:
                self._jobs.clear()
                self._queued = 0
                self._open_batch = None
                self._held = None
            for doorbell in self._doorbells:
                doorbell.put(None)
            self._doorbells.clear()
            workers = list(self._workers)
        if wait:
            current = threading.current_thread()
            for thread in workers:
                if thread is not current:
                    thread.join(timeout)

    @property
    def threads(self) -> list[threading.Thread]:
        return list(self._workers)
