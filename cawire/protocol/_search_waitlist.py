"""Which of a client's channels wait for a search reply, by name.

A name is searched for once however many channels wait for it (the same
name at several priorities, or a channel lost again while its name is
still being searched for); a reply binds every channel waiting for the
name, in one batch per priority (one circuit each).  Both clients keep
their unbound PVs in one of these.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = ('SearchWaitlist',)


class SearchWaitlist:
    """Channels (the shell's PVs: ``name`` and ``priority``) waiting for
    their name to be found."""

    __slots__ = ('_waiting',)

    def __init__(self) -> None:
        # name -> the owner waiting, or a list of them (one per priority,
        # or per context sharing the list): a set per name would cost
        # ~200 bytes per channel while connecting, memory the process
        # keeps afterwards.
        self._waiting: dict[str, Any] = {}

    def __contains__(self, name: object) -> bool:
        return name in self._waiting

    def __len__(self) -> int:
        return len(self._waiting)

    def put(self, owner: Any) -> None:
        """Let ``owner`` wait for its name (its search is the caller's)."""
        self._put(owner)

    def _put(self, owner: Any) -> bool:
        # True if nobody waited for the name before.
        table = self._waiting
        name = owner.name
        waiting = table.get(name)
        if waiting is None:
            table[name] = owner
            return True
        if type(waiting) is list:
            if not any(other is owner for other in waiting):
                waiting.append(owner)
        elif waiting is not owner:
            table[name] = [waiting, owner]
        return False

    def add(self, owners: Iterable[Any]) -> list[str]:
        """Let ``owners`` wait; return the names that nobody waited for
        before (the ones to search for), without repeats."""
        names: dict[str, None] = {}
        put = self._put
        for owner in owners:
            if put(owner):
                names[owner.name] = None
        return list(names)

    def found(self, names: Iterable[str]) -> dict[int, list]:
        """The channels waiting for ``names`` (no longer waiting), by
        priority."""
        table = self._waiting
        pop = table.pop
        by_priority: dict[int, list] = {}
        for name in names:
            waiting = pop(name, None)
            if waiting is None:
                continue
            for owner in (waiting if type(waiting) is list else (waiting,)):
                group = by_priority.get(owner.priority)
                if group is None:
                    group = by_priority[owner.priority] = []
                group.append(owner)
        if not table:
            # An emptied dict keeps its table (~20 bytes per name it held).
            table.clear()
        return by_priority

    def clear(self) -> None:
        """Forget every waiting channel (the context closed)."""
        self._waiting.clear()
