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

    def take(self, count: int) -> list[int]:
        """``count`` ids at once: what ``count`` calls return, in order
        (for a client creating thousands of channels).  Raises as a call
        does when a million consecutive ids are live."""
        in_use = self._in_use
        start = self._next
        if in_use is None:
            self._next = (start + count) % _U32
            if start + count <= _U32:
                return list(range(start, start + count))
            return [(start + offset) % _U32 for offset in range(count)]
        ids: list[int] = []
        append = ids.append
        candidate = start
        live_run = 0
        while len(ids) < count:
            if in_use(candidate):
                live_run += 1
                if live_run >= _MAX_PROBES:
                    self._next = (candidate + 1) % _U32
                    raise LocalProtocolError(
                        'no free id: over a million consecutive ids are '
                        'in use')
            else:
                live_run = 0
                append(candidate)
            candidate = (candidate + 1) % _U32
        self._next = candidate
        return ids
