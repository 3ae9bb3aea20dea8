"""Who may say what, and when: the Channel Access state machines as tables.

Channel Access has two coupled state machines: one per TCP circuit (the
VERSION handshake) and one per channel on that circuit (create, use, clear).
As in h11, each machine tracks the state of *both* parties (the client's view
of its own progress and the server's), and each party has a table
``state -> {command class -> new state}``.  Every command that crosses the
circuit, in either direction, is run through both parties' tables; a command
missing from a table is illegal in that state.  Who is to blame depends on who
sent it: our own illegal command raises :class:`LocalProtocolError`, the
peer's raises :class:`RemoteProtocolError`.

The tables encode what real peers do, not an idealised protocol
(ca-protocol.md 3 and 7):

* libca writes VERSION, CLIENT_NAME, HOST_NAME and CREATE_CHAN in one go,
  without waiting for the server's VERSION; RSRV sends its VERSION at accept,
  so the server's VERSION may be processed before or after the client's.
* ACCESS_RIGHTS precedes the CREATE_CHAN reply.
* Replies still in flight are legal after the client asked to clear the
  channel (MUST_CLOSE), and the CLEAR_CHANNEL reply closes it.
* SERVER_DISCONN takes a connected channel to DISCONNECTED and CREATE_CH_FAIL
  takes a channel being created to FAILED; for a client both mean "search
  for it again".
* ERROR responses are legal in every live state.

Subscription updates never walk these tables: the circuit routes them with
one dict lookup (see ``_circuit``).  Roles and directions live in
``_roles`` (the commands need them too) and are re-exported here.
"""
from __future__ import annotations

from . import _commands as ca
from ._exceptions import LocalProtocolError, RemoteProtocolError
from ._roles import (CLIENT, REQUEST, RESPONSE, SERVER, Direction,
                     QualifiedReprEnum, Role)

__all__ = (
    'Role', 'Direction', 'States', 'CLIENT', 'SERVER', 'REQUEST', 'RESPONSE',
    'SEND_VERSION_REQUEST', 'AWAIT_VERSION_RESPONSE', 'SEND_VERSION_RESPONSE',
    'SEND_CREATE_CHAN_REQUEST', 'AWAIT_CREATE_CHAN_RESPONSE',
    'SEND_CREATE_CHAN_RESPONSE', 'CONNECTED', 'MUST_CLOSE', 'CLOSED', 'IDLE',
    'FAILED', 'DISCONNECTED', 'CircuitState', 'ChannelState',
    'get_exception',
)


class States(QualifiedReprEnum):
    """States of circuits and channels (caproto's names)."""
    SEND_SEARCH_REQUEST = 'SEND_SEARCH_REQUEST'
    AWAIT_SEARCH_RESPONSE = 'AWAIT_SEARCH_RESPONSE'
    SEND_SEARCH_RESPONSE = 'SEND_SEARCH_RESPONSE'
    SEND_VERSION_REQUEST = 'SEND_VERSION_REQUEST'
    AWAIT_VERSION_RESPONSE = 'AWAIT_VERSION_RESPONSE'
    SEND_VERSION_RESPONSE = 'SEND_VERSION_RESPONSE'
    SEND_CREATE_CHAN_REQUEST = 'SEND_CREATE_CHAN_REQUEST'
    AWAIT_CREATE_CHAN_RESPONSE = 'AWAIT_CREATE_CHAN_RESPONSE'
    SEND_CREATE_CHAN_RESPONSE = 'SEND_CREATE_CHAN_RESPONSE'
    CONNECTED = 'CONNECTED'
    MUST_CLOSE = 'MUST_CLOSE'
    CLOSED = 'CLOSED'
    IDLE = 'IDLE'
    FAILED = 'FAILED'
    DISCONNECTED = 'DISCONNECTED'


SEND_VERSION_REQUEST = States.SEND_VERSION_REQUEST
AWAIT_VERSION_RESPONSE = States.AWAIT_VERSION_RESPONSE
SEND_VERSION_RESPONSE = States.SEND_VERSION_RESPONSE
SEND_CREATE_CHAN_REQUEST = States.SEND_CREATE_CHAN_REQUEST
AWAIT_CREATE_CHAN_RESPONSE = States.AWAIT_CREATE_CHAN_RESPONSE
SEND_CREATE_CHAN_RESPONSE = States.SEND_CREATE_CHAN_RESPONSE
CONNECTED = States.CONNECTED
MUST_CLOSE = States.MUST_CLOSE
CLOSED = States.CLOSED
IDLE = States.IDLE
FAILED = States.FAILED
DISCONNECTED = States.DISCONNECTED


#: Transition tables: role -> state -> command class -> new state.
TransitionTable = dict[Role, dict[States, dict[type, States]]]

# --------------------------------------------------------------------------
# Circuit tables.  Circuit-level commands are those that name no channel.

# Legal on an established circuit, whoever is talking.  SEARCH/NOT_FOUND go
# over TCP to name servers (4.12); EVENTS_OFF/ON are flow control; READ_SYNC
# is the pre-4.3 echo.
_CIRCUIT_TRAFFIC = (
    ca.ClientNameRequest, ca.HostNameRequest, ca.EchoRequest, ca.EchoResponse,
    ca.EventsOffRequest, ca.EventsOnRequest, ca.ReadSyncRequest,
    ca.SearchRequest, ca.SearchResponse, ca.NotFoundResponse, ca.ErrorResponse,
)


def _same(state: States, classes: tuple[type, ...]) -> dict[type, States]:
    return {cls: state for cls in classes}


_CIRCUIT_TABLE: TransitionTable = {
    CLIENT: {
        SEND_VERSION_REQUEST: {
            ca.VersionRequest: AWAIT_VERSION_RESPONSE,
            # RSRV sends its VERSION at accept; it may be processed before
            # our own VERSION went out.
            ca.VersionResponse: SEND_VERSION_REQUEST,
            ca.ErrorResponse: SEND_VERSION_REQUEST,
        },
        AWAIT_VERSION_RESPONSE: {
            ca.VersionResponse: CONNECTED,
            # libca does not wait for the server's VERSION before naming
            # itself, echoing or searching.
            **_same(AWAIT_VERSION_RESPONSE, _CIRCUIT_TRAFFIC),
        },
        CONNECTED: {
            # A second VERSION (e.g. a name-server search datagram replayed
            # verbatim on TCP starts with one) is harmless.
            ca.VersionRequest: CONNECTED,
            ca.VersionResponse: CONNECTED,
            **_same(CONNECTED, _CIRCUIT_TRAFFIC),
        },
        DISCONNECTED: {},
    },
    SERVER: {
        IDLE: {
            ca.VersionRequest: SEND_VERSION_RESPONSE,
            ca.VersionResponse: CONNECTED,
            ca.ErrorResponse: IDLE,
        },
        SEND_VERSION_RESPONSE: {
            ca.VersionResponse: CONNECTED,
            **_same(SEND_VERSION_RESPONSE, _CIRCUIT_TRAFFIC),
        },
        CONNECTED: {
            ca.VersionRequest: CONNECTED,
            ca.VersionResponse: CONNECTED,
            **_same(CONNECTED, _CIRCUIT_TRAFFIC),
        },
        DISCONNECTED: {},
    },
}

# When the server's VERSION was processed before ours, the client party is
# left waiting for a response that has already come: (client state, server
# state) -> (client state, server state).
_CIRCUIT_STATE_TRIGGERED = {
    (AWAIT_VERSION_RESPONSE, CONNECTED): (CONNECTED, CONNECTED),
}

# --------------------------------------------------------------------------
# Channel tables.

# Requests and replies about a connected channel.
_CHANNEL_TRAFFIC = (
    ca.AccessRightsResponse,
    ca.ReadRequest, ca.ReadResponse, ca.ReadNotifyRequest, ca.ReadNotifyResponse,
    ca.WriteRequest, ca.WriteNotifyRequest, ca.WriteNotifyResponse,
    ca.EventAddRequest, ca.EventAddResponse,
    ca.EventCancelRequest, ca.EventCancelResponse,
    ca.ErrorResponse,
)
# What the server may still send after the client asked to clear.
_IN_FLIGHT_REPLIES = (
    ca.AccessRightsResponse, ca.ReadResponse, ca.ReadNotifyResponse,
    ca.WriteNotifyResponse, ca.EventAddResponse, ca.EventCancelResponse,
    ca.ErrorResponse,
)

_CONNECTED_CHANNEL = {
    **_same(CONNECTED, _CHANNEL_TRAFFIC),
    ca.ClearChannelRequest: MUST_CLOSE,
    ca.ServerDisconnResponse: DISCONNECTED,
}
_CLOSING_CHANNEL = {
    **_same(MUST_CLOSE, _IN_FLIGHT_REPLIES),
    ca.ClearChannelResponse: CLOSED,
    # The server dropped it first; we wanted it gone anyway.
    ca.ServerDisconnResponse: CLOSED,
}

_CHANNEL_TABLE: TransitionTable = {
    CLIENT: {
        SEND_CREATE_CHAN_REQUEST: {
            ca.CreateChanRequest: AWAIT_CREATE_CHAN_RESPONSE,
        },
        AWAIT_CREATE_CHAN_RESPONSE: {
            ca.AccessRightsResponse: AWAIT_CREATE_CHAN_RESPONSE,
            ca.ErrorResponse: AWAIT_CREATE_CHAN_RESPONSE,
            ca.CreateChanResponse: CONNECTED,
            ca.CreateChFailResponse: FAILED,
            # A gateway may withdraw a channel before confirming it.
            ca.ServerDisconnResponse: DISCONNECTED,
        },
        CONNECTED: _CONNECTED_CHANNEL,
        MUST_CLOSE: _CLOSING_CHANNEL,
        CLOSED: {},
        FAILED: {},
        DISCONNECTED: {},
    },
    SERVER: {
        IDLE: {
            ca.CreateChanRequest: SEND_CREATE_CHAN_RESPONSE,
        },
        SEND_CREATE_CHAN_RESPONSE: {
            ca.AccessRightsResponse: SEND_CREATE_CHAN_RESPONSE,
            ca.ErrorResponse: SEND_CREATE_CHAN_RESPONSE,
            ca.CreateChanResponse: CONNECTED,
            ca.CreateChFailResponse: FAILED,
            ca.ServerDisconnResponse: DISCONNECTED,
        },
        CONNECTED: _CONNECTED_CHANNEL,
        MUST_CLOSE: _CLOSING_CHANNEL,
        CLOSED: {},
        FAILED: {},
        DISCONNECTED: {},
    },
}

#: Channel states in which the channel is finished with this circuit.
TERMINAL_CHANNEL_STATES = frozenset((CLOSED, FAILED, DISCONNECTED))

# When the circuit dies: channel state -> new state (for both parties).
_CHANNEL_STATE_ON_CIRCUIT_LOSS = {
    MUST_CLOSE: CLOSED,
    CLOSED: CLOSED,
    FAILED: FAILED,
}

#: Circuit states of the client party once it has sent its VERSION (and
#: the circuit is alive): requests may come.
CLIENT_STATES_WITH_REQUESTS = (AWAIT_VERSION_RESPONSE, CONNECTED)

_INITIAL_CIRCUIT_STATES = {CLIENT: SEND_VERSION_REQUEST, SERVER: IDLE}
_INITIAL_CHANNEL_STATES = {CLIENT: SEND_CREATE_CHAN_REQUEST, SERVER: IDLE}


CIRCUIT_TRANSITIONS: TransitionTable = _CIRCUIT_TABLE
CHANNEL_TRANSITIONS: TransitionTable = _CHANNEL_TABLE


def circuit_transitions() -> TransitionTable:
    """The circuit table keyed by role, state and command class."""
    return CIRCUIT_TRANSITIONS


def channel_transitions() -> TransitionTable:
    """The channel table keyed by role, state and command class."""
    return CHANNEL_TRANSITIONS


def get_exception(our_role: Role,
                  command: ca.Message | type[ca.Message]) -> type[Exception]:
    """The error class for an illegal ``command`` (instance or class).

    The party that sent it is at fault: requests come from the client,
    responses from the server.  Ours -> LocalProtocolError, the peer's ->
    RemoteProtocolError.
    """
    sender = CLIENT if command.DIRECTION is REQUEST else SERVER
    return LocalProtocolError if sender is our_role else RemoteProtocolError


class _PartyStates:
    # The state of each party, indexable by role like caproto's
    # ``circuit.states[CLIENT]``.  Two slots rather than a dict keyed by
    # Role: a client holds one of these per channel (100,000 channels: a
    # dict each would cost ~20 MB), and a slot read is cheaper than hashing
    # an Enum key on every command.
    __slots__ = ('client', 'server')
    #: Set by each subclass: starting states and transition table.
    _INITIAL: dict[Role, States]
    _INITIAL_CLIENT: States
    _INITIAL_SERVER: States
    #: ``_TABLE`` joined: (client state, server state, command class) ->
    #: (new client state, new server state), one lookup per command.
    _PAIRS: dict[tuple[States, States, type], tuple[States, States]]
    _TABLE: TransitionTable
    _what: str

    def __init__(self) -> None:
        # Class constants, not the _INITIAL dict: one channel is made per
        # CREATE_CHAN, the server's hot lifecycle path.
        self.client: States = self._INITIAL_CLIENT
        self.server: States = self._INITIAL_SERVER

    def __getitem__(self, role: Role) -> States:
        return self.client if role is CLIENT else self.server

    @property
    def states(self) -> dict[Role, States]:
        """``{CLIENT: state, SERVER: state}`` (a snapshot)."""
        return {CLIENT: self.client, SERVER: self.server}

    def __repr__(self) -> str:
        return (f'<{type(self).__name__} client={self.client!r} '
                f'server={self.server!r}>')

    def _advance(self, sender: Role, our_role: Role,
                 command_type: type) -> bool:
        """Run ``command_type`` through both tables; return True on change.

        Nothing changes unless both parties accept the command.
        """
        client_state = self.client
        server_state = self.server
        after = self._PAIRS.get((client_state, server_state, command_type))
        if after is None:
            error = (LocalProtocolError if sender is our_role
                     else RemoteProtocolError)
            raise error(
                f'{command_type.__name__} is not allowed on a '
                f'{self._what} in state client={client_state!r} '
                f'server={server_state!r}')
        self.client, self.server = new_client, new_server = after
        return new_client is not client_state or new_server is not server_state


def _joined(table: TransitionTable
            ) -> dict[tuple[States, States, type], tuple[States, States]]:
    # Every command both parties' tables accept in a pair of states.
    pairs = {}
    for client_state, client_moves in table[CLIENT].items():
        for server_state, server_moves in table[SERVER].items():
            for command_type, new_client in client_moves.items():
                new_server = server_moves.get(command_type)
                if new_server is not None:
                    pairs[(client_state, server_state, command_type)] = (
                        new_client, new_server)
    return pairs


class CircuitState(_PartyStates):
    """Handshake state of one circuit, for both parties."""
    __slots__ = ()
    _what = 'circuit'
    _INITIAL = _INITIAL_CIRCUIT_STATES
    _INITIAL_CLIENT = _INITIAL_CIRCUIT_STATES[CLIENT]
    _INITIAL_SERVER = _INITIAL_CIRCUIT_STATES[SERVER]
    _TABLE = CIRCUIT_TRANSITIONS
    _PAIRS = _joined(CIRCUIT_TRANSITIONS)

    def process_command_type(self, sender: Role, our_role: Role,
                             command_type: type) -> None:
        """Apply a circuit-level command sent by ``sender``.

        Raises
        ------
        LocalProtocolError, RemoteProtocolError
            If the command is illegal now (blame per ``sender``).
        """
        if self._advance(sender, our_role, command_type):
            triggered = _CIRCUIT_STATE_TRIGGERED.get(
                (self.client, self.server))
            if triggered is not None:
                self.client, self.server = triggered

    def disconnect(self) -> None:
        """Mark the circuit as gone (both parties)."""
        self.client = self.server = DISCONNECTED

    @property
    def client_may_send_requests(self) -> bool:
        """True once the client sent its VERSION and the circuit is alive."""
        return self.client in CLIENT_STATES_WITH_REQUESTS


class ChannelState(_PartyStates):
    """Lifecycle of one channel on one circuit, for both parties."""
    __slots__ = ()
    _what = 'channel'
    _INITIAL = _INITIAL_CHANNEL_STATES
    _INITIAL_CLIENT = _INITIAL_CHANNEL_STATES[CLIENT]
    _INITIAL_SERVER = _INITIAL_CHANNEL_STATES[SERVER]
    _TABLE = CHANNEL_TRANSITIONS
    _PAIRS = _joined(CHANNEL_TRANSITIONS)

    # Applying a channel command (True if the state changed; raises
    # LocalProtocolError / RemoteProtocolError, blame per ``sender``, if it
    # is illegal now) is _advance itself, bound directly: the channel table
    # has no triggered transitions, and every read, write and reply passes
    # here twice (request and reply), so no extra call.
    process_command_type = _PartyStates._advance

    def circuit_lost(self) -> None:
        """The circuit died: every non-terminal state becomes DISCONNECTED."""
        self.client = _CHANNEL_STATE_ON_CIRCUIT_LOSS.get(self.client,
                                                         DISCONNECTED)
        self.server = _CHANNEL_STATE_ON_CIRCUIT_LOSS.get(self.server,
                                                         DISCONNECTED)

    @property
    def terminal(self) -> bool:
        """True when the channel is finished with its circuit."""
        return self.client in TERMINAL_CHANNEL_STATES
