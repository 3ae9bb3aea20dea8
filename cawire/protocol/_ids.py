"""Id allocation for the u32 ids Channel Access peers choose.

Clients choose cids, ioids and subscriptionids; servers choose sids.  All are
u32 on the wire, must survive wrap-around, and must never name two live
things at once (libca shares one table between ioids and subscriptionids).
``IdAllocator`` hands ids out in sequence and asks a predicate which ones are
still live, so that the tables that own the ids stay the one source of truth.
"""
from __future__ import annotations

from collections.abc import Callable

from ._exceptions import LocalProtocolError

__all__ = ('IdAllocator',)

_U32 = 0x1_0000_0000
#: Give up after this many consecutive live ids (a leak, not a busy client).
_MAX_PROBES = 1 << 20


class IdAllocator:
    """Hands out u32 ids in sequence, wrapping around, skipping live ones.

    Parameters
    ----------
    in_use : callable, optional
        ``in_use(id) -> bool``; ids for which it is true are skipped.
    start : int
        First id to try.
    """

    def __init__(self, in_use: Callable[[int], bool] | None = None,
                 start: int = 1) -> None:
        self._next = start % _U32
        self._in_use = in_use

    def __call__(self) -> int:
        in_use = self._in_use
        for _ in range(_MAX_PROBES):
            candidate = self._next
            self._next = (candidate + 1) % _U32
            if in_use is None or not in_use(candidate):
                return candidate
        # A million consecutive live ids: the caller is leaking requests.
        raise LocalProtocolError('no free id: over a million consecutive '
                                 'ids are in use')
