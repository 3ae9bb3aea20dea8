"""The server role's channel lifecycle: the fast forms of VirtualCircuit
(accept_create_chan, create_chan_reply, create_chan_failure,
accept_clear_channel, refusal_before_version) against the command-object
path, and the cases where RSRV is lenient (a cid used twice, a clear naming
another cid, requests before the client's VERSION).
"""
import pytest

from cawire.protocol import _commands as cmds
from cawire.protocol._circuit import ServerChannel, VirtualCircuit
from cawire.protocol._enums import AccessRights, ChannelType
from cawire.protocol._exceptions import (CaprotoValueError, LocalProtocolError,
                                         RemoteProtocolError)
from cawire.protocol._state import (CLIENT, CLOSED, CONNECTED, DISCONNECTED,
                                    FAILED, SEND_CREATE_CHAN_RESPONSE, SERVER)
from cawire.protocol._status import CAStatus

from circuit_helpers import feed, server_with_channel, snapshot, wire

NO_CID = 0xFFFFFFFF


def server_circuit(version=13):
    circuit = VirtualCircuit(SERVER, ('127.0.0.1', 40000), None)
    feed(circuit, bytes(cmds.VersionRequest(0, version)))
    circuit.send(cmds.VersionResponse(13))
    return circuit


def received(circuit, command):
    commands, needed = circuit.recv(bytes(command))
    assert needed == 0 and len(commands) == 1
    return commands[0]


def test_create_reply_bytes_and_state_match_the_command_path():
    fast, slow = server_circuit(), server_circuit()
    request = cmds.CreateChanRequest('PV', 7, 13)
    channel = fast.accept_create_chan(received(fast, request))
    feed(slow, bytes(request))
    reference = slow.channels[7]
    assert isinstance(channel, ServerChannel)
    assert fast.channels[7] is channel and channel.name == 'PV'
    assert channel.states.states == reference.states.states
    assert channel.states[SERVER] is SEND_CREATE_CHAN_RESPONSE
    reply = fast.create_chan_reply(channel, AccessRights.READ, 6, 1, 44)
    expected = wire(slow.send(reference.access_rights_response(1),
                              reference.create(ChannelType.DOUBLE, 1, 44)))
    assert reply == expected
    assert fast.channels_sid.keys() == slow.channels_sid.keys()
    assert snapshot(fast)[1] == snapshot(slow)[1]
    assert channel.states[CLIENT] is CONNECTED
    assert channel.states[SERVER] is CONNECTED
    assert fast.channels_sid[44] is channel
    assert channel.native_data_type is ChannelType.DOUBLE
    assert channel.access_rights == AccessRights.READ
    assert type(channel.access_rights) is AccessRights


def test_create_reply_of_a_large_array_uses_the_extended_header():
    circuit = server_circuit()
    channel = circuit.accept_create_chan(
        received(circuit, cmds.CreateChanRequest('WF', 1, 13)))
    reply = circuit.create_chan_reply(channel, 3, 5, 100_000, 2)
    expected = (bytes(cmds.AccessRightsResponse(1, 3))
                + bytes(cmds.CreateChanResponse(5, 100_000, 1, 2)))
    assert reply == expected and len(reply) == 16 + 24


def test_pre_4_9_client_is_told_at_most_0xfffe_elements():
    circuit = server_circuit(version=8)
    channel = circuit.accept_create_chan(
        received(circuit, cmds.CreateChanRequest('WF', 1, 8)))
    reply = circuit.create_chan_reply(channel, 3, 5, 100_000, 2)
    assert reply[16:] == bytes(cmds.CreateChanResponse(5, 0xFFFE, 1, 2))
    assert channel.native_data_count == 0xFFFE


def test_create_failure_takes_the_channel_off_the_circuit():
    circuit = server_circuit()
    channel = circuit.accept_create_chan(
        received(circuit, cmds.CreateChanRequest('nobody', 3, 13)))
    assert circuit.create_chan_failure(channel) == bytes(
        cmds.CreateChFailResponse(3))
    assert channel.states[SERVER] is FAILED
    assert 3 not in circuit.channels


@pytest.mark.parametrize('reply', ['create', 'fail'])
def test_a_channel_is_answered_once(reply):
    circuit = server_circuit()
    channel = circuit.accept_create_chan(
        received(circuit, cmds.CreateChanRequest('PV', 3, 13)))
    circuit.create_chan_reply(channel, 3, 6, 1, 9)
    before = snapshot(circuit)
    with pytest.raises(LocalProtocolError, match='not allowed'):
        if reply == 'create':
            circuit.create_chan_reply(channel, 3, 6, 1, 9)
        else:
            circuit.create_chan_failure(channel)
    assert snapshot(circuit) == before


def test_create_reply_checks_sid_type_and_field_widths():
    circuit = server_circuit()
    first = circuit.accept_create_chan(
        received(circuit, cmds.CreateChanRequest('A', 1, 13)))
    circuit.create_chan_reply(first, 3, 6, 1, 9)
    second = circuit.accept_create_chan(
        received(circuit, cmds.CreateChanRequest('B', 2, 13)))
    before = snapshot(circuit)
    with pytest.raises(LocalProtocolError, match='sid 9'):
        circuit.create_chan_reply(second, 3, 6, 1, 9)
    with pytest.raises(LocalProtocolError, match='native type 7'):
        circuit.create_chan_reply(second, 3, 7, 1, 10)
    with pytest.raises(CaprotoValueError):
        circuit.create_chan_reply(second, 3, 6, 1, 1 << 32)
    assert snapshot(circuit) == before
    other = server_circuit()
    with pytest.raises(LocalProtocolError, match='not a channel of this'):
        other.create_chan_reply(second, 3, 6, 1, 10)


def test_fast_forms_are_for_servers_only():
    client = VirtualCircuit(CLIENT, ('127.0.0.1', 5064), 0)
    with pytest.raises(LocalProtocolError):
        client.accept_create_chan(cmds.CreateChanRequest('PV', 1, 13))
    with pytest.raises(LocalProtocolError):
        client.accept_clear_channel(cmds.ClearChannelRequest(1, 1))
    assert client.refusal_before_version(cmds.EchoRequest()) is None


def test_clear_echoes_the_request_and_forgets_the_channel():
    pair, _, schannel = server_with_channel()
    pair.server.process_command(cmds.ReadNotifyRequest(6, 1, 10, 5))
    channel, reply = pair.server.accept_clear_channel(
        received(pair.server, cmds.ClearChannelRequest(10, 1)))
    assert channel is schannel
    assert reply == bytes(cmds.ClearChannelResponse(10, 1))
    assert channel.states[CLIENT] is CLOSED
    assert channel.states[SERVER] is CLOSED
    assert pair.server.channels == {} and pair.server.channels_sid == {}
    assert pair.server.outstanding_requests == {}
    # The client takes the echo as usual.
    pair.client.send(cmds.ClearChannelRequest(10, 1))
    feed(pair.client, reply)
    assert pair.client.channels == {}


def test_clear_of_an_unknown_sid_or_a_cleared_channel_is_refused():
    pair, _, _ = server_with_channel()
    before = snapshot(pair.server)
    with pytest.raises(RemoteProtocolError, match='unknown sid 77'):
        pair.server.accept_clear_channel(cmds.ClearChannelRequest(77, 1))
    assert snapshot(pair.server) == before
    # A channel whose create reply has not gone out cannot be cleared.
    circuit = server_circuit()
    channel = circuit.accept_create_chan(
        received(circuit, cmds.CreateChanRequest('PV', 3, 13)))
    circuit.channels_sid[5] = channel  # as if it had a sid already
    with pytest.raises(RemoteProtocolError, match='not allowed') as info:
        circuit.accept_clear_channel(cmds.ClearChannelRequest(5, 3))
    assert getattr(info.value, 'channel') is channel


# -- where RSRV is lenient -----------------------------------------------------

def test_clear_naming_another_cid_clears_the_sids_channel_and_echoes():
    # RSRV (camessage.c clear_channel_reply) finds the channel by sid and
    # echoes the request's header, cid included.
    pair, _, schannel = server_with_channel()
    channel, reply = pair.server.accept_clear_channel(
        cmds.ClearChannelRequest(10, 1234))
    assert channel is schannel and pair.server.channels_sid == {}
    assert reply == bytes(cmds.ClearChannelResponse(10, 1234))
    # The command path agrees.
    pair, _, schannel = server_with_channel()
    feed(pair.server, bytes(cmds.ClearChannelRequest(10, 1234)))
    assert schannel.states[CLIENT] is not CONNECTED
    pair.server.send(cmds.ClearChannelResponse(10, 1234))
    assert pair.server.channels_sid == {} and pair.server.channels == {}


def test_our_client_still_names_its_own_cid_in_a_clear():
    pair, channel, _ = server_with_channel()
    with pytest.raises(LocalProtocolError, match='names cid 2'):
        pair.client.send(cmds.ClearChannelRequest(10, 2))


@pytest.mark.parametrize('fast', [True, False])
def test_a_cid_used_twice_gets_a_second_channel(fast):
    circuit = server_circuit()
    channels = []
    for sid in (20, 21):
        request = cmds.CreateChanRequest('PV', 5, 13)
        if fast:
            channel = circuit.accept_create_chan(received(circuit, request))
            circuit.create_chan_reply(channel, 3, 6, 1, sid)
        else:
            feed(circuit, bytes(request))
            channel = circuit.channels[5]
            circuit.send(channel.access_rights_response(3),
                         channel.create(6, 1, sid))
        channels.append(channel)
    first, second = channels
    assert first is not second
    assert circuit.channels[5] is second
    assert circuit.channels_sid == {20: first, 21: second}
    # Clearing the newer gives the cid back to the older.
    circuit.accept_clear_channel(cmds.ClearChannelRequest(21, 5))
    assert circuit.channels == {5: first}
    circuit.disconnect()
    assert first.states[SERVER] is DISCONNECTED


def test_clearing_the_older_of_two_channels_keeps_the_newer():
    circuit = server_circuit()
    older = circuit.accept_create_chan(
        received(circuit, cmds.CreateChanRequest('PV', 5, 13)))
    circuit.create_chan_reply(older, 3, 6, 1, 20)
    newer = circuit.accept_create_chan(
        received(circuit, cmds.CreateChanRequest('PV', 5, 13)))
    circuit.create_chan_reply(newer, 3, 6, 1, 21)
    circuit.accept_clear_channel(cmds.ClearChannelRequest(20, 5))
    assert circuit.channels == {5: newer}
    assert circuit.channels_sid == {21: newer}
    circuit.accept_clear_channel(cmds.ClearChannelRequest(21, 5))
    assert circuit.channels == {} and circuit._shadowed == {}


@pytest.mark.parametrize('command', [
    cmds.CreateChanRequest('PV', 1, 13), cmds.HostNameRequest('h'),
    cmds.ClientNameRequest('u'), cmds.EchoRequest(),
    cmds.ReadNotifyRequest(6, 1, 10, 1)])
def test_requests_before_the_clients_version_are_refused_as_defunct(command):
    # RSRV counts a client without VERSION as minor 0, too old: ERROR
    # ECA_DEFUNCT, request ignored, circuit kept.
    circuit = VirtualCircuit(SERVER, ('127.0.0.1', 40000), None)
    circuit.send(cmds.VersionResponse(13))
    before = snapshot(circuit)
    with pytest.raises(RemoteProtocolError):
        feed(circuit, bytes(command))
    assert snapshot(circuit) == before
    refusal = circuit.refusal_before_version(command)
    assert isinstance(refusal, cmds.ErrorResponse)
    assert refusal.cid == NO_CID
    assert refusal.status == CAStatus.ECA_DEFUNCT
    assert bytes(refusal)[16:32] == bytes(command)[:16]
    assert 'version' in refusal.error_message
    if isinstance(command, cmds.CreateChanRequest):
        with pytest.raises(RemoteProtocolError, match='before the client'):
            circuit.accept_create_chan(command)
        assert snapshot(circuit) == before
    # Once the VERSION is in, nothing is refused that way.
    feed(circuit, bytes(cmds.VersionRequest(0, 13)))
    assert circuit.refusal_before_version(command) is None
    assert circuit.refusal_before_version(cmds.VersionRequest(0, 13)) is None


def test_rights_update_reaches_the_right_channel_of_a_reused_cid():
    circuit = server_circuit()
    older = circuit.accept_create_chan(
        received(circuit, cmds.CreateChanRequest('A', 5, 13)))
    circuit.create_chan_reply(older, 3, 6, 1, 20)
    newer = circuit.accept_create_chan(
        received(circuit, cmds.CreateChanRequest('B', 5, 13)))
    circuit.create_chan_reply(newer, 3, 6, 1, 21)
    reply = circuit.access_rights_update(older, 1)
    assert reply == bytes(cmds.AccessRightsResponse(5, 1))
    assert older.access_rights == AccessRights.READ
    assert newer.access_rights == AccessRights.READ | AccessRights.WRITE
    # Not before the create reply, nor after the clear.
    pending = circuit.accept_create_chan(
        received(circuit, cmds.CreateChanRequest('C', 6, 13)))
    circuit.create_chan_failure(pending)
    with pytest.raises(LocalProtocolError, match='not allowed'):
        circuit.access_rights_update(pending, 1)
