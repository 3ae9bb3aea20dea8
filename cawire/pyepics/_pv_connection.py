"""Which thread handles a pyepics PV's connection change."""
from __future__ import annotations

import threading

__all__ = ('ConnectionClaim',)


class ConnectionClaim:
    """Decides which thread handles each connection change of one PV.

    A change may be noticed by the client's callback thread and by a thread
    waiting for the connection; exactly one of them handles it.  Only this
    decision is locked: the handling itself calls into the client and user
    code, and must not hold a lock the client's callback thread could wait
    for.
    """

    __slots__ = ('_lock', '_claimed', '_stopped')

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._claimed: bool | None = None  # the state being/been handled
        self._stopped = False              # the user disconnected the PV

    def claim(self, conn: bool) -> bool:
        """Whether the caller handles the change to ``conn``."""
        with self._lock:
            if self._stopped or self._claimed == conn:
                return False
            self._claimed = conn
            return True

    def force(self, conn: bool) -> None:
        """The caller handles ``conn`` again, whoever handled it before."""
        with self._lock:
            self._claimed = conn

    def forget(self) -> None:
        """Nothing is handled yet (the next change is claimed anew)."""
        with self._lock:
            self._claimed = None

    def stop(self) -> None:
        """No change is handled any more."""
        self._stopped = True
