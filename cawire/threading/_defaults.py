"""Timeout sentinels and tunables shared by the threading and asyncio
clients.

``CONTEXT_DEFAULT_TIMEOUT`` and ``PV_DEFAULT_TIMEOUT`` are the documented
default-argument sentinels: "use the Context's timeout" and "use the PV's
timeout" respectively; :func:`resolve_timeout` applies them.
"""
from __future__ import annotations

import time
from typing import Any

from ..protocol._exceptions import CaprotoTimeoutError

__all__ = ('CONTEXT_DEFAULT_TIMEOUT', 'PV_DEFAULT_TIMEOUT',
           'ECHO_TIMEOUT', 'Deadline', 'resolve_timeout')


class _Sentinel:
    __slots__ = ('_name',)

    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return self._name

    def __reduce__(self) -> str:
        return self._name


CONTEXT_DEFAULT_TIMEOUT = _Sentinel('CONTEXT_DEFAULT_TIMEOUT')
PV_DEFAULT_TIMEOUT = _Sentinel('PV_DEFAULT_TIMEOUT')

def resolve_timeout(timeout: Any, sentinel: _Sentinel, default: Any) -> Any:
    """``default`` if ``timeout`` is ``sentinel``, else ``timeout``: a PV's
    own timeout against CONTEXT_DEFAULT_TIMEOUT (the Context's), an
    operation's against PV_DEFAULT_TIMEOUT (the PV's)."""
    return default if timeout is sentinel else timeout


#: libca CA_ECHO_TIMEOUT: an ECHO unanswered this long marks the circuit dead.
ECHO_TIMEOUT = 5.0


class Deadline:
    """A point in monotonic time derived from a user timeout (None = never).

    Parameters
    ----------
    timeout : float or None
        Seconds from now; None never expires.
    """

    __slots__ = ('timeout', 'when')

    def __init__(self, timeout: float | None) -> None:
        self.timeout = timeout
        self.when = None if timeout is None else time.monotonic() + timeout

    def remaining(self) -> float | None:
        """Seconds left (>= 0), or None for no deadline."""
        if self.when is None:
            return None
        return max(0.0, self.when - time.monotonic())

    def expired(self) -> bool:
        return self.when is not None and time.monotonic() >= self.when

    def check(self, message: str) -> None:
        """Raise CaprotoTimeoutError(message) if expired."""
        if self.expired():
            raise CaprotoTimeoutError(message)

    def __str__(self) -> str:
        if self.timeout is None:
            return 'no'
        return f'{float(self.timeout):.3}-second'
