"""Light-weight synchronisation for objects that exist by the thousand.

A Context may hold tens of thousands of PVs, each with two "ready" flags,
and every blocking read needs a one-shot hand-off from the network thread.
``threading.Event`` costs a Condition (and its lock) per instance, built
eagerly; these classes only pay for blocking machinery when somebody
actually blocks.
"""
from __future__ import annotations

import _thread
import threading

__all__ = ('ReadyFlag', 'OneShot')

_allocate_lock = _thread.allocate_lock
# Serialises the lazy creation of conditions (creation is rare and quick).
_creation_lock = _allocate_lock()


class ReadyFlag:
    """A ``threading.Event`` work-alike whose Condition is created lazily,
    on the first ``wait`` that has to block."""

    __slots__ = ('_flag', '_condition')

    def __init__(self) -> None:
        self._flag = False
        self._condition: threading.Condition | None = None

    def is_set(self) -> bool:
        return self._flag

    isSet = is_set

    def set(self) -> None:
        # Flag first, then look for waiters: a waiter that creates the
        # condition after this read sees the flag already set.
        self._flag = True
        condition = self._condition
        if condition is not None:
            with condition:
                condition.notify_all()

    def clear(self) -> None:
        self._flag = False

    def wait(self, timeout: float | None = None) -> bool:
        if self._flag:
            return True
        condition = self._condition
        if condition is None:
            with _creation_lock:
                condition = self._condition
                if condition is None:
                    condition = self._condition = threading.Condition(
                        _allocate_lock())
        with condition:
            return condition.wait_for(self.is_set, timeout)

    def __repr__(self) -> str:
        return f'<ReadyFlag {"set" if self._flag else "unset"}>'


class OneShot:
    """Signalled once by one thread, awaited by one other: a raw lock.

    Cheaper than an Event for the request/reply hand-off of a blocking
    read (no Condition, no waiter list).
    """

    __slots__ = ('_lock', '_fired')

    def __init__(self) -> None:
        self._lock = _allocate_lock()
        self._lock.acquire()
        self._fired = False

    def set(self) -> None:
        if not self._fired:
            self._fired = True
            self._lock.release()

    def is_set(self) -> bool:
        return self._fired

    def wait(self, timeout: float | None = None) -> bool:
        if self._fired and not self._lock.locked():
            return True
        if self._lock.acquire(True, -1 if timeout is None else timeout):
            self._lock.release()
            return True
        return self._fired
