"""cawire.protocol: the sans-I/O Channel Access core.

Everything that speaks CA lives here: headers, commands, DBR payloads,
framing, status codes, the circuit and channel state machines, search and
beacon rules, and id allocation.  It is pure by rule: bytes in, events out.
No module in this package opens a socket, starts a thread, reads a clock or
the environment, spawns a process or resolves a name (``tests/core`` checks
this).  The shells (``cawire.threading``, ``cawire.server``, the tools) move
bytes between their sockets and these objects.

The package namespace re-exports the public names of its modules; each
module defines ``__all__``.
"""
from ._constants import *  # noqa: F401,F403
from ._enums import *  # noqa: F401,F403
from ._status import *  # noqa: F401,F403
from ._exceptions import *  # noqa: F401,F403
from ._timestamp import *  # noqa: F401,F403
from ._dbr import *  # noqa: F401,F403
from ._backend import *  # noqa: F401,F403
from ._payload import *  # noqa: F401,F403
from ._headers import *  # noqa: F401,F403
from ._commands import *  # noqa: F401,F403
from ._framing import *  # noqa: F401,F403
from ._state import *  # noqa: F401,F403
from ._circuit import *  # noqa: F401,F403
from ._broadcaster import *  # noqa: F401,F403
from ._search_messages import *  # noqa: F401,F403
from ._serving import *  # noqa: F401,F403
from ._repeater_messages import *  # noqa: F401,F403
from . import (_backend, _broadcaster, _circuit, _commands, _constants, _dbr,
               _enums, _exceptions, _framing, _headers, _payload,
               _repeater_messages, _search_messages, _serving, _state,
               _status, _timestamp)

__all__ = [name for module in (
    _constants, _enums, _status, _exceptions, _timestamp, _dbr, _backend,
    _payload, _headers, _commands, _framing, _state, _circuit, _broadcaster,
    _search_messages, _serving, _repeater_messages)
    for name in module.__all__]
