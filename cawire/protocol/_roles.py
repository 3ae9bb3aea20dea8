"""The two parties of Channel Access and the two directions between them.

A module of its own because both the commands (each has a DIRECTION) and
the state machines (keyed by command class and role) need these names: the
commands import them from here, the state machines import the commands.
"""
from __future__ import annotations

import enum

__all__ = ('Role', 'Direction', 'CLIENT', 'SERVER', 'REQUEST', 'RESPONSE')


class QualifiedReprEnum(enum.Enum):
    """Enum whose reprs read ``States.CONNECTED``: short, and still say
    what they are."""

    def __repr__(self) -> str:
        return f'{type(self).__name__}.{self.name}'

    __str__ = __repr__

    # Members are singletons compared by identity, so identity hashing is
    # consistent with equality; Enum's own __hash__ (hash of the name, in
    # Python) costs ~1 us per connected channel in the state tables.
    __hash__ = object.__hash__


class Role(QualifiedReprEnum):
    """The party we play on a circuit or broadcaster."""
    CLIENT = 'CLIENT'
    SERVER = 'SERVER'

    @property
    def peer(self) -> Role:
        """The other party."""
        return SERVER if self is CLIENT else CLIENT


class Direction(QualifiedReprEnum):
    """REQUEST travels client to server, RESPONSE server to client."""
    REQUEST = 'REQUEST'
    RESPONSE = 'RESPONSE'


CLIENT = Role.CLIENT
SERVER = Role.SERVER
REQUEST = Direction.REQUEST
RESPONSE = Direction.RESPONSE
