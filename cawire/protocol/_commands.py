"""Every Channel Access command (protocol 4.13, ids 0-27) and the registry
that maps a received command id to its class.

The classes live in concept modules (``_commands_discovery``: version,
search, beacons, repeater; ``_commands_channel``: channel lifecycle;
``_commands_data``: reads, writes, subscriptions; ``_commands_circuit``:
echo, flow control, identity, errors, obsolete commands) on top of
``_commands_base.Message``.  This module assembles them.

Which class a message becomes depends on who receives it: a CLIENT receives
RESPONSEs and a SERVER receives REQUESTs (``COMMANDS[(role, id)]``).  Two
wire quirks are resolved here: command 1 received by a client with an empty
payload is the EVENT_CANCEL acknowledgement (``EventCancelResponse``), and
beacons (13) are accepted in both roles (the repeater, a server-side party,
receives them as well as clients do).
"""
from __future__ import annotations

from ._commands_base import Message
from ._commands_channel import *  # noqa: F401,F403
from ._commands_channel import __all__ as _channel_all
from ._commands_circuit import *  # noqa: F401,F403
from ._commands_circuit import __all__ as _circuit_all
from ._commands_data import *  # noqa: F401,F403
from ._commands_data import __all__ as _data_all
from ._commands_discovery import *  # noqa: F401,F403
from ._commands_discovery import __all__ as _discovery_all
from ._commands_discovery import RsrvIsUpResponse, SearchResponse
from ._constants import EPICS_CA1_PORT, UNKNOWN_ADDRESS
from ._exceptions import CaprotoKeyError
from ._roles import CLIENT, REQUEST, RESPONSE, SERVER, Role

__all__ = (('Message', 'COMMANDS', 'get_command_class', 'extract_address',
            'all_commands')
           + _discovery_all + _channel_all + _data_all + _circuit_all)

_namespace = globals()

#: Every concrete command class (``Beacon`` is an alias, listed once).
all_commands = tuple(dict.fromkeys(
    _namespace[name] for name in
    _discovery_all + _channel_all + _data_all + _circuit_all))


def _build_registry() -> dict[tuple[Role, int], type[Message]]:
    registry: dict[tuple[Role, int], type[Message]] = {}
    for cls in all_commands:
        roles: tuple[Role, ...]
        if cls.DIRECTION is REQUEST:
            roles = (SERVER,)
        elif cls.DIRECTION is RESPONSE:
            roles = (CLIENT,)
        else:                       # obsolete: accepted from either side
            roles = (CLIENT, SERVER)
        if cls is RsrvIsUpResponse:
            roles = (CLIENT, SERVER)
        for role in roles:
            key = (role, cls.ID)
            # EventCancelResponse shares id 1 with EventAddResponse; the
            # latter is the registered class and its from_wire picks.
            if key in registry and cls.__name__ == 'EventCancelResponse':
                continue
            assert key not in registry or registry[key] is cls, key
            registry[key] = cls
    return registry


#: ``(role, command id) -> class`` that ``role`` receives for that id.
COMMANDS = _build_registry()
assert COMMANDS[(CLIENT, 1)].__name__ == 'EventAddResponse'


def get_command_class(role: Role, command_id: int,
                      payload_size: int | None = None) -> type:
    """The class ``role`` receives for ``command_id``.

    Parameters
    ----------
    role : Role
        The receiving side (CLIENT receives responses).
    command_id : int
    payload_size : int, optional
        Needed to tell the EVENT_CANCEL acknowledgement (command 1 with an
        empty payload, received by a client) from a subscription update.

    Raises
    ------
    CaprotoKeyError
        If ``role`` never receives ``command_id``.
    """
    try:
        cls = COMMANDS[(role, command_id)]
    except KeyError:
        raise CaprotoKeyError(
            f'{role!r} does not receive command id {command_id}') from None
    if cls.ID == 1 and role is CLIENT and payload_size == 0:
        return _namespace['EventCancelResponse']
    return cls


def extract_address(search_response: SearchResponse,
                    source_address: tuple[str, int]) -> tuple[str, int]:
    """Where the server named by a SEARCH reply accepts TCP connections.

    Parameters
    ----------
    search_response : SearchResponse
    source_address : (str, int)
        Address the reply came from (the datagram source on UDP, the
        circuit peer on TCP).

    Returns
    -------
    (str, int)
        ``(host, port)``.  UDP form (with a version payload), as libca:
        servers >= 4.8 may name an IP (0xFFFFFFFF: the source address),
        servers >= 4.5 give the port, older ones use the default 5064.
        TCP form (no payload, name servers): the named IP and port, or the
        peer's own address and port when the IP is 0xFFFFFFFF.
    """
    h = search_response._h
    ip_int, port = h[4], h[2]
    version = search_response.version
    if version is None:
        if ip_int == UNKNOWN_ADDRESS:
            return source_address[0], source_address[1]
        return search_response.ip, port
    host = (search_response.ip
            if version >= 8 and ip_int != UNKNOWN_ADDRESS
            else source_address[0])
    if version < 5:
        port = EPICS_CA1_PORT
    return host, port
