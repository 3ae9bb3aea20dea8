"""Named boolean states of a server, as an IOC's ``dbState`` facility.

An EPICS IOC keeps a process-wide table of named on/off states
(``dbStateCreate``, ``dbStateSet``, ``dbStateClear`` in its shell) that the
``sync`` channel filter consults: ``PV.{"sync":{"m":"while","s":"fly"}}``
sends monitor updates of ``PV`` only while the state ``fly`` is set.  This
module is that table for cawire servers::

    from cawire.server import states

    states.create('fly')          # dbStateCreate fly  (initially clear)
    states.set('fly')             # dbStateSet fly
    states.clear('fly')           # dbStateClear fly

As in an IOC, a channel name whose sync filter names a state that does not
exist is not served (the client sees the PV as not found), changing a state
posts nothing by itself (the filter looks at the state when the PV's next
update happens) and reads (``caget``) are never filtered.

caproto's IOC API reaches the same table: ``PVGroup.states`` (a mapping
of state name to bool given as a class attribute) creates the states when
the group is instantiated, and ``async with group.update_state(name,
value)`` changes one, calling ``pre_state_change``/``post_state_change``
of every PV of the group around the change.
"""
from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any, Protocol

__all__ = ('NamedStates', 'STATES', 'StateUpdate', 'create', 'set', 'clear',
           'get', 'exists', 'names')


class NamedStates:
    """A table of named boolean states (thread-safe: states may be set from
    worker threads while the server's loop reads them)."""

    def __init__(self) -> None:
        self._states: dict[str, bool] = {}
        self._lock = threading.Lock()

    def create(self, name: str, value: bool = False) -> None:
        """Create ``name`` (clear unless ``value``); an existing state keeps
        its value, as ``dbStateCreate`` of an existing name does."""
        if not isinstance(name, str) or not name:
            raise ValueError(f'a state name must be a non-empty str, '
                             f'not {name!r}')
        with self._lock:
            self._states.setdefault(name, bool(value))

    def set(self, name: str) -> None:
        """Set ``name`` (KeyError if it was never created)."""
        self.assign(name, True)

    def clear(self, name: str) -> None:
        """Clear ``name`` (KeyError if it was never created)."""
        self.assign(name, False)

    def assign(self, name: str, value: bool) -> None:
        """Set or clear ``name`` (KeyError if it was never created)."""
        with self._lock:
            if name not in self._states:
                raise KeyError(f'no state named {name!r} (create it first)')
            self._states[name] = bool(value)

    def get(self, name: str) -> bool:
        """The value of ``name`` (KeyError if it was never created)."""
        return self._states[name]

    def is_set(self, name: str) -> bool:
        """The value of ``name``; False for a name that does not exist."""
        return self._states.get(name, False)

    def exists(self, name: str) -> bool:
        return name in self._states

    def names(self) -> Iterator[str]:
        return iter(list(self._states))

    def remove(self, name: str) -> None:
        """Forget ``name`` (tests; an IOC never deletes a state).  Channels
        already filtering on it then see it clear."""
        with self._lock:
            self._states.pop(name, None)

    def __repr__(self) -> str:
        return f'<NamedStates {self._states!r}>'


#: The process-wide table the sync filter consults.
STATES = NamedStates()

create = STATES.create
set = STATES.set  # noqa: A001 - the IOC shell's verb
clear = STATES.clear
get = STATES.get
exists = STATES.exists
names = STATES.names


class _StateGroup(Protocol):
    states: dict[str, bool]
    attr_pvdb: dict[str, Any]


def register_group_states(group: _StateGroup) -> None:
    """Create a PVGroup's ``states`` in the table, with their values, and
    let its PVs see them (``pre``/``post_state_change``) as caproto does."""
    for name, value in group.states.items():
        STATES.create(name)
        STATES.assign(name, value)
        for data in group.attr_pvdb.values():
            data.pre_state_change(name, value)
            data.post_state_change(name, value)


class StateUpdate:
    """``async with group.update_state(name, value)``: the PVs' pre hooks,
    the change (in the group's ``states`` and the table), the post hooks."""

    def __init__(self, group: _StateGroup, state: str, value: bool):
        self.group = group
        self.state = state
        self.value = bool(value)

    async def __aenter__(self) -> StateUpdate:
        for data in self.group.attr_pvdb.values():
            data.pre_state_change(self.state, self.value)
        self.group.states[self.state] = self.value
        STATES.create(self.state)
        STATES.assign(self.state, self.value)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        for data in self.group.attr_pvdb.values():
            data.post_state_change(self.state, self.value)
