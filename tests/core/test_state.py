"""The circuit and channel state tables (cawire.protocol._state)."""
import pytest

from cawire.protocol import _commands as cmds
from cawire.protocol._exceptions import LocalProtocolError, RemoteProtocolError
from cawire.protocol._state import (
    AWAIT_CREATE_CHAN_RESPONSE, AWAIT_VERSION_RESPONSE, CLIENT, CLOSED,
    CONNECTED, DISCONNECTED, FAILED, IDLE, MUST_CLOSE, REQUEST,
    SEND_CREATE_CHAN_REQUEST, SEND_CREATE_CHAN_RESPONSE,
    SEND_VERSION_REQUEST, SEND_VERSION_RESPONSE, SERVER, ChannelState,
    CircuitState, Role, States, CHANNEL_TRANSITIONS, CIRCUIT_TRANSITIONS,
    channel_transitions, circuit_transitions, get_exception)


def test_reprs_name_the_enum():
    assert repr(States.CONNECTED) == 'States.CONNECTED'
    assert repr(CLIENT) == 'Role.CLIENT'
    assert repr(REQUEST) == 'Direction.REQUEST'
    assert CLIENT.peer is SERVER and SERVER.peer is CLIENT
    assert Role.CLIENT is CLIENT


def test_caproto_state_names_exist():
    for name in ('SEND_VERSION_REQUEST', 'AWAIT_VERSION_RESPONSE',
                 'SEND_VERSION_RESPONSE', 'CONNECTED', 'DISCONNECTED',
                 'SEND_CREATE_CHAN_REQUEST', 'AWAIT_CREATE_CHAN_RESPONSE',
                 'SEND_CREATE_CHAN_RESPONSE', 'MUST_CLOSE', 'CLOSED', 'IDLE',
                 'FAILED'):
        assert States[name].name == name


@pytest.mark.parametrize('table', [CIRCUIT_TRANSITIONS, CHANNEL_TRANSITIONS])
def test_every_table_entry_names_a_real_command(table):
    for role, per_state in table.items():
        for state, transitions in per_state.items():
            for cls, new_state in transitions.items():
                assert getattr(cmds, cls.__name__) is cls, cls
                assert new_state in per_state, (role, state, cls)


def test_tables_resolve_to_command_classes():
    table = circuit_transitions()
    assert table[CLIENT][SEND_VERSION_REQUEST][cmds.VersionRequest] is \
        AWAIT_VERSION_RESPONSE
    assert channel_transitions()[SERVER][IDLE][cmds.CreateChanRequest] is \
        SEND_CREATE_CHAN_RESPONSE


def test_get_exception_blames_the_sender():
    assert get_exception(CLIENT, cmds.VersionRequest) is LocalProtocolError
    assert get_exception(SERVER, cmds.VersionRequest) is RemoteProtocolError
    assert get_exception(CLIENT, cmds.EchoResponse) is RemoteProtocolError
    assert get_exception(SERVER, cmds.EchoResponse) is LocalProtocolError


# -- circuit ------------------------------------------------------------------

def apply(state, sender, our_role, *command_types):
    for command_type in command_types:
        state.process_command_type(sender, our_role, command_type)


def test_circuit_handshake_client_first():
    state = CircuitState()
    assert (state[CLIENT], state[SERVER]) == (SEND_VERSION_REQUEST, IDLE)
    apply(state, CLIENT, CLIENT, cmds.VersionRequest)
    assert (state[CLIENT], state[SERVER]) == (AWAIT_VERSION_RESPONSE,
                                              SEND_VERSION_RESPONSE)
    # libca does not wait: names itself before the server's VERSION.
    apply(state, CLIENT, CLIENT, cmds.ClientNameRequest, cmds.HostNameRequest)
    apply(state, SERVER, CLIENT, cmds.VersionResponse)
    assert (state[CLIENT], state[SERVER]) == (CONNECTED, CONNECTED)


def test_circuit_handshake_server_version_first():
    # RSRV sends VERSION at accept; it can be processed before ours.
    state = CircuitState()
    apply(state, SERVER, CLIENT, cmds.VersionResponse)
    assert (state[CLIENT], state[SERVER]) == (SEND_VERSION_REQUEST,
                                              CONNECTED)
    apply(state, CLIENT, CLIENT, cmds.VersionRequest)
    assert (state[CLIENT], state[SERVER]) == (CONNECTED, CONNECTED)


def test_circuit_rejects_traffic_before_version():
    state = CircuitState()
    with pytest.raises(LocalProtocolError):
        apply(state, CLIENT, CLIENT, cmds.ClientNameRequest)
    with pytest.raises(RemoteProtocolError):
        apply(state, CLIENT, SERVER, cmds.EchoRequest)
    # Nothing changed.
    assert (state[CLIENT], state[SERVER]) == (SEND_VERSION_REQUEST, IDLE)


def test_error_response_is_legal_in_every_live_circuit_state():
    for prefix in ([], [cmds.VersionRequest],
                   [cmds.VersionRequest, cmds.VersionResponse]):
        state = CircuitState()
        for command_type in prefix:
            sender = CLIENT if command_type.DIRECTION is REQUEST else SERVER
            apply(state, sender, CLIENT, command_type)
        apply(state, SERVER, CLIENT, cmds.ErrorResponse)


def test_disconnected_circuit_accepts_nothing():
    state = CircuitState()
    apply(state, CLIENT, CLIENT, cmds.VersionRequest)
    state.disconnect()
    assert (state[CLIENT], state[SERVER]) == (DISCONNECTED, DISCONNECTED)
    with pytest.raises(RemoteProtocolError):
        apply(state, SERVER, CLIENT, cmds.VersionResponse)
    with pytest.raises(LocalProtocolError):
        apply(state, CLIENT, CLIENT, cmds.EchoRequest)


def test_circuit_client_may_send_requests():
    state = CircuitState()
    assert not state.client_may_send_requests
    apply(state, CLIENT, CLIENT, cmds.VersionRequest)
    assert state.client_may_send_requests
    state.disconnect()
    assert not state.client_may_send_requests


# -- channel ------------------------------------------------------------------

def test_channel_lifecycle():
    state = ChannelState()
    assert (state[CLIENT], state[SERVER]) == (SEND_CREATE_CHAN_REQUEST, IDLE)
    apply(state, CLIENT, CLIENT, cmds.CreateChanRequest)
    assert (state[CLIENT], state[SERVER]) == (AWAIT_CREATE_CHAN_RESPONSE,
                                              SEND_CREATE_CHAN_RESPONSE)
    # ACCESS_RIGHTS precedes the CREATE_CHAN reply.
    apply(state, SERVER, CLIENT, cmds.AccessRightsResponse,
          cmds.CreateChanResponse)
    assert (state[CLIENT], state[SERVER]) == (CONNECTED, CONNECTED)
    apply(state, CLIENT, CLIENT, cmds.ReadNotifyRequest, cmds.EventAddRequest)
    apply(state, SERVER, CLIENT, cmds.ReadNotifyResponse,
          cmds.AccessRightsResponse, cmds.ErrorResponse)
    apply(state, CLIENT, CLIENT, cmds.ClearChannelRequest)
    assert (state[CLIENT], state[SERVER]) == (MUST_CLOSE, MUST_CLOSE)
    # Replies already in flight are fine, new requests are not.
    apply(state, SERVER, CLIENT, cmds.EventAddResponse,
          cmds.EventCancelResponse, cmds.ReadNotifyResponse,
          cmds.WriteNotifyResponse)
    with pytest.raises(LocalProtocolError):
        apply(state, CLIENT, CLIENT, cmds.ReadNotifyRequest)
    apply(state, SERVER, CLIENT, cmds.ClearChannelResponse)
    assert (state[CLIENT], state[SERVER]) == (CLOSED, CLOSED)
    assert state.terminal
    with pytest.raises(RemoteProtocolError):
        apply(state, SERVER, CLIENT, cmds.ReadNotifyResponse)


@pytest.mark.parametrize('command_type', [
    cmds.ReadNotifyRequest, cmds.ClearChannelRequest, cmds.EventAddRequest])
def test_channel_rejects_requests_before_connected(command_type):
    state = ChannelState()
    with pytest.raises(LocalProtocolError):
        apply(state, CLIENT, CLIENT, command_type)
    apply(state, CLIENT, CLIENT, cmds.CreateChanRequest)
    with pytest.raises(RemoteProtocolError):
        # Seen by a server: the client's error.
        apply(state, CLIENT, SERVER, command_type)


def test_create_ch_fail_and_server_disconn():
    state = ChannelState()
    apply(state, CLIENT, CLIENT, cmds.CreateChanRequest)
    apply(state, SERVER, CLIENT, cmds.CreateChFailResponse)
    assert (state[CLIENT], state[SERVER]) == (FAILED, FAILED)

    state = ChannelState()
    apply(state, CLIENT, CLIENT, cmds.CreateChanRequest)
    apply(state, SERVER, CLIENT, cmds.CreateChanResponse)
    apply(state, SERVER, CLIENT, cmds.ServerDisconnResponse)
    assert (state[CLIENT], state[SERVER]) == (DISCONNECTED, DISCONNECTED)

    state = ChannelState()
    apply(state, CLIENT, CLIENT, cmds.CreateChanRequest)
    apply(state, SERVER, CLIENT, cmds.CreateChanResponse)
    apply(state, CLIENT, CLIENT, cmds.ClearChannelRequest)
    apply(state, SERVER, CLIENT, cmds.ServerDisconnResponse)
    assert (state[CLIENT], state[SERVER]) == (CLOSED, CLOSED)


def test_circuit_lost():
    for prefix, expected in [
            ([], DISCONNECTED),
            ([cmds.CreateChanRequest], DISCONNECTED),
            ([cmds.CreateChanRequest, cmds.CreateChanResponse], DISCONNECTED),
            ([cmds.CreateChanRequest, cmds.CreateChanResponse,
              cmds.ClearChannelRequest], CLOSED),
            ([cmds.CreateChanRequest, cmds.CreateChFailResponse], FAILED)]:
        state = ChannelState()
        for command_type in prefix:
            sender = CLIENT if command_type.DIRECTION is REQUEST else SERVER
            apply(state, sender, CLIENT, command_type)
        state.circuit_lost()
        assert state[CLIENT] is expected and state[SERVER] is expected


def test_illegal_transition_message_is_clear():
    state = ChannelState()
    with pytest.raises(RemoteProtocolError,
                       match=r'ReadNotifyResponse is not allowed on a '
                             r'channel in state client=States.'
                             r'SEND_CREATE_CHAN_REQUEST'):
        apply(state, SERVER, CLIENT, cmds.ReadNotifyResponse)

