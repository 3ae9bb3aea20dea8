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
        self._waiting: dict[str, set] = {}

    def __contains__(self, name: object) -> bool:
        return name in self._waiting

    def __len__(self) -> int:
        return len(self._waiting)

    def put(self, owner: Any) -> None:
        """Let ``owner`` wait for its name (its search is the caller's)."""
        waiting = self._waiting.get(owner.name)
        if waiting is None:
            waiting = self._waiting[owner.name] = set()
        waiting.add(owner)

    def add(self, owners: Iterable[Any]) -> list[str]:
        """Let ``owners`` wait; return the names that nobody waited for
        before (the ones to search for), without repeats."""
        names: dict[str, None] = {}
        table = self._waiting
        for owner in owners:
            name = owner.name
            waiting = table.get(name)
            if not waiting:
                names[name] = None
                if waiting is None:
                    waiting = table[name] = set()
            waiting.add(owner)
        return list(names)

    def found(self, names: Iterable[str]) -> dict[int, list]:
        """The channels waiting for ``names`` (no longer waiting), by
        priority."""
        pop = self._waiting.pop
        by_priority: dict[int, list] = {}
        for name in names:
            waiting = pop(name, None)
            if waiting:
                for owner in waiting:
                    group = by_priority.get(owner.priority)
                    if group is None:
                        group = by_priority[owner.priority] = []
                    group.append(owner)
        return by_priority

    def clear(self) -> None:
        """Forget every waiting channel (the context closed)."""
        self._waiting.clear()
