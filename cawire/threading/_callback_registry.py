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


#: One lock for every registry: each holds it only for a few dictionary-free
#: steps and takes no other lock meanwhile (garbage-collection callbacks
#: take it on any thread, re-entrantly when a collection runs inside one).
#: A lock per subscription cost ~50 bytes per monitored PV.
_REGISTRY_LOCK = threading.RLock()


class _CallbackRef(weakref.ref):
    """The registry's weak reference to one plain function: it carries its
    token, registry and old-signature adapter, so that one module-level
    function handles every collection (no closure per callback)."""

    __slots__ = ('token', 'registry', 'adapter', 'function')
    token: int
    registry: CallbackRegistry | None
    adapter: Any
    function: Any  # None: the referent itself is the callback


class _CallbackMethodRef(weakref.WeakMethod):
    """The same for a bound method (whose instance is what must die)."""

    __slots__ = ('token', 'registry', 'adapter', 'function')
    token: int
    registry: CallbackRegistry | None
    adapter: Any
    function: Any  # the method's function, bound again to the live object


def _callback_collected(ref: Any) -> None:
    registry = ref.registry
    if registry is not None:
        registry._collected(ref)


class CallbackRegistry:
    """Token -> weakly referenced callback, thread-safe.

    Parameters
    ----------
    on_removed : callable, optional
        Called with no arguments (outside the lock) whenever the registry
        becomes empty because a callback was garbage collected.
    """

    # One per subscription, so tens of thousands of them: no __dict__, no
    # lock or dictionary of its own.
    __slots__ = ('_refs', '_next_token', '_on_removed', '_short_lived',
                 '__weakref__')

    def __init__(self, on_removed: Callable[[], None] | None = None) -> None:
        # The weak references in registration order; a new tuple on every
        # change, so that snapshot() (once per update) reads it unlocked.
        self._refs: tuple = ()
        self._next_token = 0
        self._on_removed = on_removed
        # Lambdas and local functions: token -> (registration time,
        # registering line, repr), to warn when one is collected right after
        # registration, at the statement that registered it.
        # (Made on first use.)
        self._short_lived: dict[int, tuple[float, tuple, str]] | None = None

    def __len__(self) -> int:
        return len(self._refs)

    def __bool__(self) -> bool:
        return bool(self._refs)

    def add(self, func: Callable, *, adapt_old_signature: bool = False) -> int:
        """Register ``func``; return its token."""
        if not callable(func):
            raise TypeError(f'{func!r} is not callable')
        adapter = None
        if adapt_old_signature and accepts_one_positional_argument(func):
            warnings.warn(
                'The signature of subscription callbacks changed from '
                'f(response) to f(sub, response). Support for f(response) '
                'may be removed in a future release.', stacklevel=3)
            adapter = _OldSignatureAdapter(func)
        ref_type = (_CallbackMethodRef if inspect.ismethod(func)
                    else _CallbackRef)
        ref = ref_type(func, _callback_collected)
        ref.registry = None  # not armed until registered
        ref.adapter = adapter
        ref.function = (getattr(func, '__func__') if ref_type is _CallbackMethodRef
                        else None)
        with _REGISTRY_LOCK:
            token = ref.token = self._next_token
            self._next_token = token + 1
            ref.registry = self
            self._refs = (*self._refs, ref)
            if _dies_with_its_caller(func):
                if self._short_lived is None:
                    self._short_lived = {}
                self._short_lived[token] = (monotonic(), _user_line(),
                                            _describe(func))
        return token

    def _collected(self, ref: Any) -> None:
        token = ref.token
        with _REGISTRY_LOCK:
            short_lived = (None if self._short_lived is None
                           else self._short_lived.pop(token, None))
            refs = self._refs
            kept = tuple(other for other in refs if other is not ref)
            removed = len(kept) != len(refs)
            self._refs = kept
            now_empty = not kept
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
        with _REGISTRY_LOCK:
            if self._short_lived is not None:
                self._short_lived.pop(token, None)
            refs = self._refs
            for ref in refs:
                if ref.token == token:
                    ref.registry = None
                    self._refs = tuple(kept for kept in refs
                                       if kept is not ref)
                    break
            return not self._refs

    def clear(self) -> None:
        with _REGISTRY_LOCK:
            for ref in self._refs:
                ref.registry = None
            self._refs = ()
            self._short_lived = None

    def snapshot(self) -> list[Callable]:
        """The live callbacks, in registration order."""
        result = []
        for ref in self._refs:
            # A WeakMethod is a weak reference to the method's object:
            # dereferenced as a plain weakref (C) and bound with MethodType
            # (C), instead of WeakMethod.__call__ (Python) on every update.
            target = _dereference(ref)
            if target is None:
                continue
            if ref.adapter is not None:
                result.append(ref.adapter)
            elif ref.function is not None:
                result.append(_MethodType(ref.function, target))
            else:
                result.append(target)
        return result

    def tokens(self) -> list[int]:
        return [ref.token for ref in self._refs]


_dereference = weakref.ref.__call__
_MethodType = types.MethodType
