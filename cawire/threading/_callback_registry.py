"""Weak callback registries: token -> weakly held callback.

:class:`CallbackRegistry` holds *weak* references to subscription callbacks
(bound methods through ``weakref.WeakMethod``), as documented for
``Subscription.add_callback``, and hands out a snapshot of the live ones
for every update.
"""
from __future__ import annotations

import inspect
import os
import sys
import threading
import types
import warnings
import weakref
from time import monotonic
from typing import Any, Callable

__all__ = ('CallbackRegistry', 'accepts_one_positional_argument')


def accepts_one_positional_argument(func: Callable) -> bool:
    """True when ``func`` can be called as ``func(response)`` only.

    Used to detect the pre-0.5 subscription callback signature.
    """
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):
        return False
    try:
        signature.bind(None, None)
    except TypeError:
        try:
            signature.bind(None)
        except TypeError:
            return False
        return True
    return False


class _OldSignatureAdapter:
    """Calls an old-style ``f(response)`` as ``f(sub, response)``.

    Holds the user's function weakly so the adapter does not keep it alive.
    """

    __slots__ = ('_ref', '__weakref__')

    def __init__(self, func: Callable[[Any], Any]) -> None:
        self._ref = _weak(func)

    def __call__(self, sub: Any, response: Any) -> None:
        func = self._ref()
        if func is not None:
            func(response)


def _weak(func):
    if inspect.ismethod(func):
        return weakref.WeakMethod(func)
    return weakref.ref(func)


#: Seconds after registration within which the collection of a lambda or
#: local function means it was passed inline with no other reference.
_DIED_AT_ONCE = 1.0


def _dies_with_its_caller(func: Callable) -> bool:
    """A lambda or a function defined inside another function: what a caller
    typically writes inline, with no reference kept anywhere else."""
    if inspect.ismethod(func):
        return False
    qualname = getattr(func, '__qualname__', '')
    return '<lambda>' in qualname or '<locals>' in qualname


_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _user_line() -> tuple:
    """(thread, frame, line) of the innermost caller outside cawire: where a
    callback is registered, and where it dies if it dies at once (the same
    statement of the same frame)."""
    frame: types.FrameType | None = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame = frame.f_back
    if frame is None:
        return (threading.get_ident(), None, None)
    return (threading.get_ident(), id(frame), frame.f_lineno)


def _describe(func: Callable) -> str:
    code = getattr(func, '__code__', None)
    where = (f' ({code.co_filename}:{code.co_firstlineno})'
             if code is not None else '')
    return f'{getattr(func, "__qualname__", repr(func))}{where}'


class CallbackRegistry:
    """Token -> weakly referenced callback, thread-safe.

    Parameters
    ----------
    on_removed : callable, optional
        Called with no arguments (outside the lock) whenever the registry
        becomes empty because a callback was garbage collected.
    """

    # One per subscription, so tens of thousands of them: no __dict__.
    __slots__ = ('_callbacks', '_adapters', '_next_token', '_lock',
                 '_on_removed', '_entries', '_short_lived', '__weakref__')

    def __init__(self, on_removed: Callable[[], None] | None = None) -> None:
        self._callbacks: dict[int, weakref.ref] = {}
        # Adapters for old-style callbacks; kept alive as long as the user's
        # function is (it holds the adapter's key via a finalizer).  Made
        # on first use: old-style callbacks are rare.
        self._adapters: dict[int, _OldSignatureAdapter] | None = None
        self._next_token = 0
        # Its own lock, taken by garbage-collection callbacks on any thread:
        # never one that is held while other locks are taken.
        self._lock = threading.RLock()
        self._on_removed = on_removed
        # (weak reference, adapter or None) pairs in registration order,
        # rebuilt only after a change: snapshot() runs once per update.
        self._entries: tuple | None = ()
        # Lambdas and local functions: token -> (registration time,
        # registering line, repr), to warn when one is collected right after
        # registration, at the statement that registered it.
        # (Made on first use.)
        self._short_lived: dict[int, tuple[float, tuple, str]] | None = None

    def __len__(self) -> int:
        return len(self._callbacks)

    def __bool__(self) -> bool:
        return bool(self._callbacks)

    def add(self, func: Callable, *, adapt_old_signature: bool = False) -> int:
        """Register ``func``; return its token."""
        if not callable(func):
            raise TypeError(f'{func!r} is not callable')
        target = func
        adapter = None
        if adapt_old_signature and accepts_one_positional_argument(func):
            warnings.warn(
                'The signature of subscription callbacks changed from '
                'f(response) to f(sub, response). Support for f(response) '
                'may be removed in a future release.', stacklevel=3)
            adapter = _OldSignatureAdapter(func)
        with self._lock:
            token = self._next_token
            self._next_token = token + 1

            def removed(_ref, token=token, registry=weakref.ref(self)):
                registry = registry()
                if registry is not None:
                    registry._collected(token)

            self._callbacks[token] = _weak_with_callback(target, removed)
            if _dies_with_its_caller(func):
                if self._short_lived is None:
                    self._short_lived = {}
                self._short_lived[token] = (monotonic(), _user_line(),
                                            _describe(func))
            if adapter is not None:
                if self._adapters is None:
                    self._adapters = {}
                self._adapters[token] = adapter
            self._entries = None
        return token

    def _collected(self, token: int) -> None:
        with self._lock:
            short_lived = (None if self._short_lived is None
                           else self._short_lived.pop(token, None))
            removed = self._callbacks.pop(token, None) is not None
            if self._adapters:
                self._adapters.pop(token, None)
            self._entries = None
            now_empty = not self._callbacks
        if short_lived is not None and \
                monotonic() - short_lived[0] < _DIED_AT_ONCE and \
                short_lived[1] == _user_line():
            # Raised where the last reference went away (stacklevel 3: past
            # the weakref callback), i.e. at the line that registered it.
            warnings.warn(
                f'The callback {short_lived[2]} was garbage-collected right '
                f'after it was registered: callbacks are held by weak '
                f'reference, so a lambda or a local function passed inline '
                f'is removed at once. Keep a reference to it (e.g. '
                f'cb = lambda ...; sub.add_callback(cb)).',
                RuntimeWarning, stacklevel=3)
        if removed and now_empty and self._on_removed is not None:
            self._on_removed()

    def remove(self, token: int) -> bool:
        """Forget ``token``; return True if the registry is now empty."""
        with self._lock:
            if self._short_lived is not None:
                self._short_lived.pop(token, None)
            self._callbacks.pop(token, None)
            if self._adapters:
                self._adapters.pop(token, None)
            self._entries = None
            return not self._callbacks

    def clear(self) -> None:
        with self._lock:
            self._callbacks.clear()
            self._adapters = None
            self._entries = None

    def snapshot(self) -> list[Callable]:
        """The live callbacks, in registration order."""
        entries = self._entries
        if entries is None:
            with self._lock:
                adapters = self._adapters or {}
                entries = self._entries = tuple(
                    _snapshot_entry(ref, adapters.get(token))
                    for token, ref in self._callbacks.items())
        result = []
        for ref, function, adapter in entries:
            # A WeakMethod is a weak reference to the method's object:
            # dereferenced as a plain weakref (C) and bound with MethodType
            # (C), instead of WeakMethod.__call__ (Python) on every update.
            target = _dereference(ref)
            if target is None:
                continue
            if adapter is not None:
                result.append(adapter)
            elif function is not None:
                result.append(_MethodType(function, target))
            else:
                result.append(target)
        return result

    def tokens(self) -> list[int]:
        with self._lock:
            return list(self._callbacks)


_dereference = weakref.ref.__call__
_MethodType = types.MethodType


def _snapshot_entry(ref, adapter) -> tuple:
    # (weak reference, function of a weakly held method or None, adapter):
    # the cache entry of one callback.  A dead method (its function gone)
    # gets a dead reference.
    if isinstance(ref, weakref.WeakMethod):
        method = ref()
        if method is None:
            return (_DEAD, None, None)
        return (ref, method.__func__, adapter)
    return (ref, None, adapter)


class _Gone:
    pass


_DEAD = weakref.ref(_Gone())  # a reference that is always dead


def _weak_with_callback(func, callback):
    if inspect.ismethod(func):
        return weakref.WeakMethod(func, callback)
    return weakref.ref(func, callback)
