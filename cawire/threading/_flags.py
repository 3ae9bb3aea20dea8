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
from typing import Any, Protocol

__all__ = ('ReadyBits', 'ReadyBit', 'OneShot',
           'CIRCUIT_READY', 'CHANNEL_READY')

#: The PV's ReadyBits: bound to a circuit (name found) ...
CIRCUIT_READY = 1
#: ... and channel created on the server (connected).
CHANNEL_READY = 2

_allocate_lock = _thread.allocate_lock
# Serialises the lazy creation of conditions (creation is rare and quick).
_creation_lock = _allocate_lock()


class ReadyOwner(Protocol):
    """What :class:`ReadyBits` needs of the object whose flags it keeps."""

    _ready: int
    _ready_condition: threading.Condition | None
    component_lock: Any


class ReadyBits:
    """Several ready flags of one owner in one int, with one Condition
    created on the first ``wait`` that has to block.

    A PV has two flags (circuit ready, channel ready); two Event-like
    objects would be ~100 bytes per PV, the bits cost nothing.  The owner keeps
    the state in two attributes of its own (``_ready``: the bits,
    ``_ready_condition``: None until somebody blocks) and changes the bits
    only under its ``component_lock`` (``|=`` is not atomic); these
    functions are the rules for using them.
    """

    @staticmethod
    def mark(owner: ReadyOwner, bit: int) -> None:
        """Set ``bit`` (caller holds the owner's component_lock) and wake
        its waiters."""
        # Bit first, then look for waiters: a waiter that creates the
        # condition after this read sees the bit already set.
        owner._ready |= bit
        condition = owner._ready_condition
        if condition is not None:
            with condition:
                condition.notify_all()

    @staticmethod
    def wait(owner: ReadyOwner, bit: int, timeout: float | None = None) -> bool:
        """Block until ``bit`` is set or ``timeout`` passes; whether set."""
        if owner._ready & bit:
            return True
        condition = owner._ready_condition
        if condition is None:
            with _creation_lock:
                condition = owner._ready_condition
                if condition is None:
                    condition = threading.Condition(_allocate_lock())
                    owner._ready_condition = condition
        with condition:
            return bool(condition.wait_for(
                lambda: owner._ready & bit,
                timeout))


class ReadyBit:
    """``threading.Event`` work-alike showing one of an owner's
    :class:`ReadyBits` (made on each access: it holds no state)."""

    __slots__ = ('_owner', '_bit')

    def __init__(self, owner: ReadyOwner, bit: int) -> None:
        self._owner = owner
        self._bit = bit

    def is_set(self) -> bool:
        return bool(self._owner._ready & self._bit)

    isSet = is_set

    def set(self) -> None:
        with self._owner.component_lock:
            ReadyBits.mark(self._owner, self._bit)

    def clear(self) -> None:
        with self._owner.component_lock:
            self._owner._ready &= ~self._bit

    def wait(self, timeout: float | None = None) -> bool:
        return ReadyBits.wait(self._owner, self._bit, timeout)

    def __repr__(self) -> str:
        return f'<ReadyBit {"set" if self.is_set() else "unset"}>'


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
