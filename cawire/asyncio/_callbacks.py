"""User callbacks on the event loop: weakly held, run in order, errors logged.

``CallbackRegistry`` holds ``f(*args)`` callbacks by weak reference (as
caproto does: keep a reference to what you register).  Plain functions run
at once on the loop; coroutine functions are awaited one after the other by
a task of the registry, so each callback sees updates in arrival order.  An
exception in a callback is logged under ``cawire.callbacks`` with its
traceback and never stops the client.
"""
from __future__ import annotations

import asyncio
import collections
import inspect
import logging
import weakref
from collections.abc import Callable
from typing import Any

from ._update_queue import UpdateQueue

__all__ = ('CallbackRegistry', 'run_callback')

logger = logging.getLogger('cawire.callbacks')


def run_callback(func: Callable, *args: Any) -> None:
    """Call ``func(*args)``; log (never raise) what it raises."""
    try:
        func(*args)
    except Exception:
        logger.exception('Exception in user callback %r', func)


class CallbackRegistry:
    """Weakly held callbacks with tokens.

    ``last_args`` remembers the latest arguments processed, so that a
    callback added later can be told the current state (``run=True``).
    """

    __slots__ = ('callbacks', '_next_token', 'last_args', '_pending',
                 '_worker', '_coroutine_tokens', '_owner', '__weakref__')

    def __init__(self, owner: Any = None) -> None:
        self.callbacks: dict[int, weakref.ref] = {}
        self._next_token = 0
        self.last_args: tuple | None = None
        # Calls waiting for coroutine callbacks: bounded, with flow control
        # on the owner's circuit (a Subscription), else a plain deque; made
        # at the first coroutine callback.
        self._owner = owner
        self._pending: Any = None
        self._worker: asyncio.Task | None = None
        # Tokens of ``async def`` callbacks (decided once, at add time).
        self._coroutine_tokens: set[int] | None = None

    def __len__(self) -> int:
        return len(self.callbacks)

    def add(self, func: Callable, run: bool = False) -> int:
        """Register ``func``; return its token.

        Raises
        ------
        TypeError
            ``func`` is not callable or cannot be weakly referenced.
        """
        if not callable(func):
            raise TypeError(f'{func!r} is not callable')
        token = self._next_token
        self._next_token += 1
        registry = weakref.ref(self)

        def removed(_ref: Any, token: int = token) -> None:
            owner = registry()
            if owner is not None:
                owner.callbacks.pop(token, None)

        try:
            if inspect.ismethod(func):
                ref: weakref.ref = weakref.WeakMethod(func, removed)
            else:
                ref = weakref.ref(func, removed)
        except TypeError:
            raise TypeError(f'{func!r} cannot be weakly referenced; callbacks '
                            'are held weakly (as in caproto)') from None
        self.callbacks[token] = ref
        if inspect.iscoroutinefunction(func):
            if self._coroutine_tokens is None:
                self._coroutine_tokens = set()
            self._coroutine_tokens.add(token)
        if run and self.last_args is not None:
            self._call(func, self.last_args)
        return token

    def remove(self, token: int) -> None:
        self.callbacks.pop(token, None)
        if self._coroutine_tokens is not None:
            self._coroutine_tokens.discard(token)

    def process(self, *args: Any) -> None:
        """Call every live callback with ``args``."""
        self.last_args = args
        coroutines = self._coroutine_tokens
        for token, ref in list(self.callbacks.items()):
            func = ref()
            if func is None:
                continue
            if coroutines and token in coroutines:
                self._schedule(func, args)
                continue
            # The hot path: a plain function, called right here.
            try:
                result = func(*args)
            except Exception:
                logger.exception('Exception in user callback %r', func)
                continue
            if result is not None and inspect.isawaitable(result):
                self._schedule(None, (result,))

    def _schedule(self, func: Callable | None, args: tuple) -> None:
        self._enqueue((func, args))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.get_running_loop().create_task(
                self._run_pending())

    def _call(self, func: Callable, args: tuple) -> None:
        if inspect.iscoroutinefunction(func):
            self._enqueue((func, args))
            if self._worker is None or self._worker.done():
                self._worker = asyncio.get_running_loop().create_task(
                    self._run_pending())
            return
        try:
            result = func(*args)
        except Exception:
            logger.exception('Exception in user callback %r', func)
            return
        if inspect.isawaitable(result):
            self._enqueue((None, (result,)))
            if self._worker is None or self._worker.done():
                self._worker = asyncio.get_running_loop().create_task(
                    self._run_pending())

    @property
    def coalesced(self) -> int:
        """Coroutine-callback calls dropped because too many were waiting."""
        return getattr(self._pending, 'dropped', 0)

    async def _run_pending(self) -> None:
        pending = self._pending
        take = getattr(pending, 'get_nowait', None) or pending.popleft
        while len(pending):
            func, args = take()
            try:
                if func is None:
                    await args[0]
                else:
                    await func(*args)
            except Exception:
                logger.exception('Exception in user callback %r', func)

    def _enqueue(self, item: tuple) -> None:
        pending = self._pending
        if pending is None:
            owner = self._owner
            pending = self._pending = (
                collections.deque() if owner is None else
                UpdateQueue(owner, high_water=20, low_water=2,
                            hard_limit=100))
        if isinstance(pending, collections.deque):
            pending.append(item)
        else:
            pending.put(item)

    def cancel(self) -> None:
        """Drop queued coroutine callbacks and stop the worker."""
        if self._pending is not None:
            self._pending.clear()
        if self._worker is not None and not self._worker.done():
            self._worker.cancel()
        self._worker = None


# caproto's CallbackHandler names.
CallbackRegistry.add_callback = CallbackRegistry.add  # type: ignore[attr-defined]
CallbackRegistry.remove_callback = CallbackRegistry.remove  # type: ignore[attr-defined]
