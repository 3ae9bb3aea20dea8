"""VirtualCircuit, ClientChannel and ServerChannel (cawire._circuit).

Literal byte strings are the real EPICS captures of ca-protocol.md section 9.
"""
import copy

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from cawire import _commands as cmds
from cawire._circuit import (ClientChannel, IdAllocator, ServerChannel,
                             VirtualCircuit)
from cawire._enums import AccessRights, ChannelType
from cawire._exceptions import (CaprotoKeyError, LocalProtocolError,
                                RemoteProtocolError)
from cawire._state import (AWAIT_CREATE_CHAN_RESPONSE, CLIENT, CLOSED,
                           CONNECTED, DISCONNECTED, FAILED, MUST_CLOSE,
                           SEND_CREATE_CHAN_RESPONSE, SERVER)
from cawire._status import CAStatus


def hexbytes(text):
    return bytes.fromhex(''.join(text.split()))


E3 = hexbytes('''
    00000000 0000000d 00000000 00000000
    00140008 00000000 00000000 00000000 726f6f74 00000000
    00150008 00000000 00000000 00000000 766d0000 00000000
    00120008 00000000 00000001 0000000d 5453543a 61690000''')
E4 = hexbytes('''
    00000000 0000000d 00000000 00000000
    00160000 00000000 00000001 00000003
    00120000 00060001 00000001 00000000''')
E5_REQUEST = hexbytes('000f0000 00140001 00000000 00000001')
E5_REPLY = hexbytes('''000f0018 00140001 00000001 00000001
    00000000 45685674 2921514b 00000003 400921f9f01b866e''')
E11_REQUEST = hexbytes('00130008 00060001 00000000 00000002 3ff4000000000000')
E11_REPLY = hexbytes('00130000 00060001 00000001 00000002')
E13_ERROR = hexbytes('''000b0020 00000000 00000001 000000a0
    00040008 00000001 00000009 00000001
    5453543a 6c6f6e67 00000001 00000009''')
E14_REQUEST = hexbytes('''00010010 00140000 00000000 00000003
    00000000 00000000 00000000 00050000''')
E14_UPDATE = hexbytes('''00010018 00140001 00000001 00000003
    00000000 45685674 2921514b 00000003 400921f9f01b866e''')
E15_CANCEL = hexbytes('00020000 00140000 00000000 00000003')
E15_ACK = hexbytes('00010000 00140000 00000000 00000003')
E16_CLEAR = hexbytes('000c0000 00000000 00000000 00000001')
E17_ECHO = hexbytes('00170000 00000000 00000000 00000000')
E18_FAIL = hexbytes('001a0000 00000000 00000003 00000000')


def wire(buffers):
    return b''.join(bytes(b) for b in buffers)


def feed(circuit, data):
    commands, needed = circuit.recv(data)
    assert needed == 0
    return [circuit.process_command(c) for c in commands]


def connected_client(cids=(1,), sids=(0,), native=ChannelType.DOUBLE):
    """A client circuit that went through E3/E4-like exchanges."""
    circuit = VirtualCircuit(CLIENT, ('127.0.0.1', 5064), 0)
    channels = []
    circuit.send(cmds.VersionRequest(0, 13))
    feed(circuit, bytes(cmds.VersionResponse(13)))
    for cid, sid in zip(cids, sids):
        channel = ClientChannel(f'PV{cid}', circuit, cid)
        circuit.send(channel.create())
        feed(circuit, bytes(cmds.AccessRightsResponse(cid, 3))
             + bytes(cmds.CreateChanResponse(native, 1, cid, sid)))
        channels.append(channel)
    return circuit, channels


class Pair:
    """A client and a server circuit wired back to back through bytes."""

    def __init__(self):
        self.client = VirtualCircuit(CLIENT, ('127.0.0.1', 5064), 0)
        self.server = VirtualCircuit(SERVER, ('127.0.0.1', 50000), None)

    def c2s(self, *commands):
        return feed(self.server, wire(self.client.send(*commands)))

    def s2c(self, *commands):
        return feed(self.client, wire(self.server.send(*commands)))


# -- literal captures -----------------------------------------------------------

def test_client_first_segment_is_byte_exact_e3():
    circuit = VirtualCircuit(CLIENT, ('127.0.0.1', 5064), 0)
    channel = ClientChannel('TST:ai', circuit, cid=1)
    buffers = circuit.send(channel.version(), channel.client_name('root'),
                           channel.host_name('vm'), channel.create())
    assert wire(buffers) == E3
    assert channel.states[CLIENT] is AWAIT_CREATE_CHAN_RESPONSE


def test_server_parses_e3_and_creates_the_channel():
    circuit = VirtualCircuit(SERVER, ('127.0.0.1', 40000), None)
    received = feed(circuit, E3)
    assert [type(c) for c in received] == [
        cmds.VersionRequest, cmds.ClientNameRequest, cmds.HostNameRequest,
        cmds.CreateChanRequest]
    assert circuit.priority == 0
    assert (circuit.client_name, circuit.host_name) == ('root', 'vm')
    channel = circuit.channels[1]
    assert isinstance(channel, ServerChannel)
    assert channel.name == 'TST:ai'
    assert channel.states[SERVER] is SEND_CREATE_CHAN_RESPONSE
    # The server answers with E4 exactly.
    buffers = circuit.send(channel.version(),
                           channel.access_rights_response(3),
                           channel.create(ChannelType.DOUBLE, 1, sid=0))
    assert wire(buffers) == E4
    assert channel.states[SERVER] is CONNECTED
    assert circuit.channels_sid[0] is channel


def test_client_processes_e4():
    circuit = VirtualCircuit(CLIENT, ('127.0.0.1', 5064), 0)
    channel = ClientChannel('TST:ai', circuit, cid=1)
    circuit.send(channel.version(), channel.create())
    feed(circuit, E4)
    assert circuit.connected
    assert channel.states[CLIENT] is CONNECTED
    assert channel.sid == 0
    assert channel.native_data_type is ChannelType.DOUBLE
    assert channel.native_data_count == 1
    assert channel.access_rights == AccessRights.READ_WRITE
    assert circuit.channels_sid[0] is channel


def test_read_notify_e5_routes_by_ioid():
    circuit, (channel,) = connected_client()
    request = channel.read(data_type=ChannelType.TIME_DOUBLE, data_count=1,
                           ioid=1)
    assert wire(circuit.send(request)) == E5_REQUEST
    assert channel.outstanding_ioids == {1}
    (reply,) = feed(circuit, E5_REPLY)
    assert reply.data[0] == pytest.approx(3.14159)
    assert channel.outstanding_ioids == frozenset()
    # A second reply for the same ioid is the server's mistake.
    with pytest.raises(RemoteProtocolError, match='unknown ioid 1'):
        feed(circuit, E5_REPLY)


def test_write_notify_e11():
    circuit, (channel,) = connected_client()
    request = channel.write([1.25], ioid=2)
    assert wire(circuit.send(request)) == E11_REQUEST
    (reply,) = feed(circuit, E11_REPLY)
    assert reply.status == CAStatus.ECA_NORMAL
    assert not circuit._ioids


def test_plain_write_carries_the_cid_and_expects_no_reply():
    circuit, (channel,) = connected_client()
    request = channel.write([2.0], notify=False)
    assert type(request) is cmds.WriteRequest
    assert request.ioid == channel.cid
    circuit.send(request)
    assert not circuit._ioids


def test_error_e13_with_garbage_pad_is_accepted():
    circuit, (channel,) = connected_client()
    (error,) = feed(circuit, E13_ERROR)
    assert error.status == CAStatus.ECA_PUTFAIL
    assert error.error_message == 'TST:long'
    assert channel.states[CLIENT] is CONNECTED


def test_error_for_a_read_completes_its_ioid():
    circuit, (channel,) = connected_client()
    request = channel.read(ioid=7)
    circuit.send(request)
    error = cmds.ErrorResponse(request, channel.cid, CAStatus.ECA_BADTYPE,
                               'bad')
    feed(circuit, bytes(error))
    assert not circuit._ioids and not channel.outstanding_ioids


def test_subscription_e14_e15():
    circuit, (channel,) = connected_client()
    request = channel.subscribe(data_type='time', subscriptionid=3,
                                mask=5)
    assert wire(circuit.send(request)) == E14_REQUEST
    assert circuit.event_add_commands == {3: request}
    (update,) = feed(circuit, E14_UPDATE)
    assert type(update) is cmds.EventAddResponse
    assert update.data[0] == pytest.approx(3.14159)

    cancel = channel.unsubscribe(3)
    assert wire(circuit.send(cancel)) == E15_CANCEL
    # Updates in flight are still fine until the acknowledgement.
    feed(circuit, E14_UPDATE)
    (ack,) = feed(circuit, E15_ACK)
    assert type(ack) is cmds.EventCancelResponse
    assert circuit.event_add_commands == {}
    assert channel.subscriptions == {}
    with pytest.raises(RemoteProtocolError, match='subscriptionid 3'):
        feed(circuit, E14_UPDATE)


def test_late_cancel_ack_after_the_subscription_is_gone_is_ignored():
    circuit, (channel,) = connected_client()
    (result,) = feed(circuit, E15_ACK)
    assert type(result) is cmds.EventCancelResponse
    assert channel.states[CLIENT] is CONNECTED


def test_empty_update_for_a_live_subscription_is_an_update():
    # DBR_DOUBLE count 0 (empty waveform) has no payload at all, which the
    # parser cannot tell from a cancel acknowledgement.
    circuit, (channel,) = connected_client()
    circuit.send(channel.subscribe(data_type=ChannelType.DOUBLE,
                                   subscriptionid=4))
    data = hexbytes('00010000 00060000 00000001 00000004')
    (update,) = feed(circuit, data)
    assert type(update) is cmds.EventAddResponse
    assert update.subscriptionid == 4 and update.data_count == 0
    assert update.status == CAStatus.ECA_NORMAL
    assert 4 in circuit.event_add_commands


def test_clear_e16():
    circuit, (channel,) = connected_client()
    circuit.send(channel.subscribe(subscriptionid=9))
    assert wire(circuit.send(channel.clear())) == E16_CLEAR
    assert channel.states[CLIENT] is MUST_CLOSE
    with pytest.raises(LocalProtocolError):
        circuit.send(channel.read())
    feed(circuit, E16_CLEAR)
    assert channel.states[CLIENT] is CLOSED
    assert circuit.channels == {} and circuit.channels_sid == {}
    assert circuit.event_add_commands == {}
    # A duplicate clear reply for the gone channel is harmless.
    feed(circuit, E16_CLEAR)


def test_echo_e17_both_ways():
    circuit, _ = connected_client()
    assert wire(circuit.send(cmds.EchoRequest())) == E17_ECHO
    (echo,) = feed(circuit, E17_ECHO)
    assert type(echo) is cmds.EchoResponse


def test_create_ch_fail_e18_frees_the_cid():
    circuit, _ = connected_client()
    channel = ClientChannel('NO:SUCH', circuit, cid=3)
    circuit.send(channel.create())
    feed(circuit, E18_FAIL)
    assert channel.states[CLIENT] is FAILED
    assert 3 not in circuit.channels
    again = ClientChannel('NO:SUCH', circuit, cid=3)
    circuit.send(again.create())
    assert again.states[CLIENT] is AWAIT_CREATE_CHAN_RESPONSE


def test_server_disconn_drops_the_channel_and_its_requests():
    circuit, (one, two) = connected_client(cids=(1, 2), sids=(10, 20))
    read = one.read()
    circuit.send(read, one.subscribe(), two.read())
    feed(circuit, bytes(cmds.ServerDisconnResponse(1)))
    assert one.states[CLIENT] is DISCONNECTED
    assert 1 not in circuit.channels and 10 not in circuit.channels_sid
    assert not one.subscriptions
    with pytest.raises(RemoteProtocolError):
        feed(circuit, bytes(cmds.ReadNotifyResponse(
            [1.0], ChannelType.DOUBLE, 1, 1, read.ioid)))
    assert two.states[CLIENT] is CONNECTED
    assert len(two.outstanding_ioids) == 1


def test_server_version_can_arrive_before_ours():
    circuit = VirtualCircuit(CLIENT, ('127.0.0.1', 5064), 0)
    feed(circuit, bytes(cmds.VersionResponse(13)))
    assert not circuit.connected
    channel = ClientChannel('X', circuit, 1)
    with pytest.raises(LocalProtocolError, match='before the client sent'):
        circuit.send(channel.create())
    circuit.send(cmds.VersionRequest(0, 13), channel.create())
    assert circuit.connected


def test_protocol_version_follows_the_peer():
    circuit = VirtualCircuit(CLIENT, ('127.0.0.1', 5064), 0)
    circuit.send(cmds.VersionRequest(0, 13))
    feed(circuit, bytes(cmds.VersionResponse(11)))
    assert circuit.protocol_version == 11
    channel = ClientChannel('X', circuit, 1)
    circuit.send(channel.create())
    feed(circuit, bytes(cmds.CreateChanResponse(ChannelType.LONG, 5, 1, 8)))
    # Pre-4.13 servers get the native count, not 0.
    assert channel.read().data_count == 5
    # A zero VERSION (pre-4.11 echo, repeater noop) changes nothing.
    feed(circuit, bytes(16))
    assert circuit.protocol_version == 11


# -- bad input from the peer ------------------------------------------------------

@pytest.mark.parametrize('command, message', [
    (cmds.AccessRightsResponse(99, 3), 'unknown cid 99'),
    (cmds.CreateChanResponse(ChannelType.DOUBLE, 1, 99, 5), 'unknown cid 99'),
    (cmds.CreateChFailResponse(99), 'unknown cid 99'),
    (cmds.ServerDisconnResponse(99), 'unknown cid 99'),
    (cmds.ReadNotifyResponse([1.0], ChannelType.DOUBLE, 1, 1, 1234),
     'unknown ioid 1234'),
    (cmds.WriteNotifyResponse(ChannelType.DOUBLE, 1, 1, 1234),
     'unknown ioid 1234'),
    (cmds.EventAddResponse([1.0], ChannelType.DOUBLE, 1, 1, 4321),
     'unknown subscriptionid 4321'),
    (cmds.CreateChanResponse(ChannelType.DOUBLE, 1, 1, 5),
     'not allowed on a channel'),
])
def test_bad_commands_from_the_server(command, message):
    circuit, (channel,) = connected_client()
    before = snapshot(circuit)
    with pytest.raises(RemoteProtocolError, match=message):
        feed(circuit, bytes(command))
    assert snapshot(circuit) == before


def test_create_reply_with_a_non_native_type_is_rejected():
    circuit, _ = connected_client()
    channel = ClientChannel('X', circuit, 5)
    circuit.send(channel.create())
    with pytest.raises(RemoteProtocolError, match='native type 20'):
        feed(circuit, bytes(cmds.CreateChanResponse(20, 1, 5, 6)))


def test_create_reply_reusing_a_live_sid_is_rejected():
    circuit, _ = connected_client(cids=(1,), sids=(10,))
    channel = ClientChannel('X', circuit, 5)
    circuit.send(channel.create())
    with pytest.raises(RemoteProtocolError, match='sid 10'):
        feed(circuit, bytes(cmds.CreateChanResponse(6, 1, 5, 10)))


def server_with_channel():
    pair = Pair()
    channel = ClientChannel('PV', pair.client, 1)
    pair.c2s(channel.version(), channel.create())
    schannel = pair.server.channels[1]
    pair.s2c(schannel.version(), schannel.create(ChannelType.DOUBLE, 1, 10))
    return pair, channel, schannel


@pytest.mark.parametrize('command, message', [
    (cmds.ReadNotifyRequest(6, 1, 77, 1), 'unknown sid 77'),
    (cmds.WriteRequest([1.0], 6, 1, 77, 1), 'unknown sid 77'),
    (cmds.EventAddRequest(6, 1, 77, 5, 0, 0, 0, 1), 'unknown sid 77'),
    (cmds.EventCancelRequest(6, 10, 55), 'unknown subscriptionid 55'),
    (cmds.ClearChannelRequest(77, 1), 'unknown sid 77'),
    (cmds.ClearChannelRequest(10, 2), 'names cid 2'),
    (cmds.ReadNotifyRequest(39, 1, 10, 1), 'DBR type 39'),
    (cmds.CreateChanRequest('PV', 1, 13), 'not allowed on a channel'),
])
def test_bad_requests_from_the_client(command, message):
    pair, _, _ = server_with_channel()
    before = snapshot(pair.server)
    with pytest.raises(RemoteProtocolError, match=message):
        feed(pair.server, bytes(command))
    assert snapshot(pair.server) == before


def test_server_rejects_duplicate_subscriptionid_and_requests_before_version():
    pair, channel, _ = server_with_channel()
    pair.c2s(channel.subscribe(subscriptionid=5))
    with pytest.raises(RemoteProtocolError, match='already in use'):
        feed(pair.server, bytes(cmds.EventAddRequest(6, 1, 10, 5, 0, 0, 0,
                                                     1)))
    fresh = VirtualCircuit(SERVER, ('127.0.0.1', 1), None)
    with pytest.raises(RemoteProtocolError, match='before the client'):
        feed(fresh, bytes(cmds.CreateChanRequest('PV', 1, 13)))


def test_server_echoes_duplicate_ioids_blindly():
    pair, channel, schannel = server_with_channel()
    feed(pair.server, bytes(cmds.ReadNotifyRequest(6, 1, 10, 42)) * 2)
    pair.server.send(schannel.read([1.0], 42, data_type=6))
    pair.server.send(schannel.read([1.0], 42, data_type=6))
    with pytest.raises(LocalProtocolError, match='unknown ioid 42'):
        pair.server.send(schannel.read([1.0], 42, data_type=6))


def test_local_misuse_raises_local_errors():
    circuit = VirtualCircuit(CLIENT, ('127.0.0.1', 5064), 0)
    channel = ClientChannel('X', circuit, 1)
    with pytest.raises(LocalProtocolError, match='not connected'):
        channel.read()
    with pytest.raises(LocalProtocolError):
        circuit.send(cmds.VersionResponse(13))       # a server's command
    with pytest.raises(LocalProtocolError, match='already used'):
        ClientChannel('Y', circuit, 1)
    with pytest.raises(CaprotoKeyError):
        channel.unsubscribe(12)
    with pytest.raises(LocalProtocolError):
        ServerChannel('Z', circuit, 2)


def test_client_cannot_reuse_a_live_ioid():
    circuit, (channel,) = connected_client()
    circuit.send(channel.read(ioid=5))
    with pytest.raises(LocalProtocolError, match='ioid 5'):
        circuit.send(channel.read(ioid=5))


def test_disconnect_moves_every_channel_and_rejects_everything_after():
    circuit, (one, two) = connected_client(cids=(1, 2), sids=(10, 20))
    circuit.send(one.read(), two.subscribe(), two.clear())
    circuit.disconnect()
    assert one.states[CLIENT] is DISCONNECTED
    assert two.states[CLIENT] is CLOSED
    assert set(circuit.channels) == {1, 2}
    assert not circuit._ioids and not circuit.event_add_commands
    with pytest.raises(RemoteProtocolError):
        feed(circuit, E17_ECHO)
    with pytest.raises(LocalProtocolError):
        circuit.send(cmds.EchoRequest())


def test_recv_reassembles_any_split():
    circuit = VirtualCircuit(SERVER, ('127.0.0.1', 40000), None)
    got = []
    for i in range(0, len(E3), 5):
        commands, needed = circuit.recv(E3[i:i + 5])
        got += [circuit.process_command(c) for c in commands]
    assert needed == 0
    assert [type(c).__name__ for c in got] == [
        'VersionRequest', 'ClientNameRequest', 'HostNameRequest',
        'CreateChanRequest']
    commands, needed = circuit.recv(E5_REQUEST[:10])
    assert commands == [] and needed == 16


def test_recv_rejects_a_misaligned_stream():
    circuit = VirtualCircuit(SERVER, ('127.0.0.1', 40000), None)
    with pytest.raises(RemoteProtocolError):
        circuit.recv(hexbytes('00140007 00000000 00000000 00000000'))


# -- ids ---------------------------------------------------------------------------

def test_ioids_and_subscriptionids_share_one_space():
    circuit, (channel,) = connected_client()
    ids = [circuit.new_ioid(), circuit.new_subscriptionid(),
           circuit.new_ioid()]
    assert ids == [1, 2, 3]


def test_id_allocator_wraps_and_skips_live_ids():
    live = {0xFFFFFFFF, 0, 2}
    allocator = IdAllocator(live.__contains__, start=0xFFFFFFFE)
    assert [allocator() for _ in range(3)] == [0xFFFFFFFE, 1, 3]


def test_new_ids_never_collide_with_live_requests():
    circuit, (channel,) = connected_client()
    circuit.send(channel.read(ioid=1), channel.subscribe(subscriptionid=2))
    assert circuit.new_ioid() == 3
    assert circuit.new_channel_id() == 0       # cid 1 is live
    assert circuit.new_channel_id() == 2


def test_shared_allocator_across_circuits():
    allocator = IdAllocator()
    a = VirtualCircuit(CLIENT, ('h', 1), 0, id_allocator=allocator)
    b = VirtualCircuit(CLIENT, ('h', 2), 0, id_allocator=allocator)
    assert [a.new_ioid(), b.new_subscriptionid(), a.new_ioid()] == [1, 2, 3]


# -- a whole conversation in memory ------------------------------------------------

def test_full_conversation_client_server():
    pair = Pair()
    # RSRV sends its VERSION at accept.
    pair.s2c(cmds.VersionResponse(13))
    channel = ClientChannel('TST:ai', pair.client, cid=1)
    pair.c2s(channel.version(), channel.client_name('me'),
             channel.host_name('here'), channel.create())
    schannel = pair.server.channels[1]
    pair.s2c(schannel.access_rights_response(AccessRights.READ_WRITE),
             schannel.create(ChannelType.DOUBLE, 1, sid=17))
    assert pair.client.connected and pair.server.connected
    assert channel.sid == schannel.sid == 17

    read = channel.read(data_type='control')
    (request,) = pair.c2s(read)
    assert request.data_type is ChannelType.CTRL_DOUBLE
    (reply,) = pair.s2c(schannel.read([3.5], request.ioid,
                                      data_type=request.data_type,
                                      metadata={'units': 'mm',
                                                'precision': 3}))
    assert reply.data[0] == 3.5 and reply.metadata.units == 'mm'

    (write,) = pair.c2s(channel.write([1.5]))
    assert write.data[0] == 1.5
    (ack,) = pair.s2c(schannel.write(write.ioid, write.data_type,
                                     write.data_count))
    assert ack.status == CAStatus.ECA_NORMAL

    (sub,) = pair.c2s(channel.subscribe(data_type='time'))
    subid = sub.subscriptionid
    values = []
    for value in (1.0, 2.0, 3.0):
        (update,) = pair.s2c(schannel.subscribe([value], subid))
        values.append(update.data[0])
    assert values == [1.0, 2.0, 3.0]
    assert update.data_type is ChannelType.TIME_DOUBLE

    pair.c2s(channel.unsubscribe(subid))
    late, ack = pair.s2c(schannel.subscribe([4.0], subid),
                         schannel.unsubscribe(subid))
    assert type(ack) is cmds.EventCancelResponse
    assert pair.client.event_add_commands == {}
    assert pair.server.event_add_commands == {}

    pair.c2s(channel.clear())
    pair.s2c(schannel.clear())
    assert channel.states[CLIENT] is CLOSED and schannel.states[SERVER] is \
        CLOSED
    for circuit in (pair.client, pair.server):
        assert circuit.channels == {} and circuit.channels_sid == {}
        assert circuit._ioids == {} and circuit.event_add_commands == {}


def test_server_disconnects_a_channel_and_client_recreates_it():
    pair, channel, schannel = server_with_channel()
    pair.s2c(schannel.disconnect())
    assert channel.states[CLIENT] is DISCONNECTED
    again = ClientChannel('PV', pair.client, 1)
    pair.c2s(again.create())
    snew = pair.server.channels[1]
    assert snew is not schannel
    pair.s2c(snew.create(ChannelType.DOUBLE, 1, sid=11))
    assert again.states[CLIENT] is CONNECTED and again.sid == 11


# -- property tests ----------------------------------------------------------------

def snapshot(circuit):
    return (
        dict(circuit.states.states),
        {cid: (ch.states[CLIENT], ch.states[SERVER], ch.sid,
               ch.access_rights, frozenset(ch._ioids),
               frozenset(ch._subscriptionids))
         for cid, ch in circuit.channels.items()},
        dict(circuit.channels_sid), dict(circuit._ioids),
        dict(circuit.event_add_commands), frozenset(circuit._cancelling),
        circuit.protocol_version,
    )


ids = st.one_of(st.sampled_from([0, 1, 2, 3, 10, 20, 100, 101, 102]),
                st.integers(0, 2 ** 32 - 1))
responses = st.one_of(
    st.builds(cmds.AccessRightsResponse, ids, st.integers(0, 3)),
    st.builds(cmds.CreateChanResponse, st.integers(0, 6), st.integers(0, 9),
              ids, ids),
    st.builds(cmds.CreateChFailResponse, ids),
    st.builds(cmds.ServerDisconnResponse, ids),
    st.builds(cmds.ClearChannelResponse, ids, ids),
    st.builds(lambda ioid: cmds.ReadNotifyResponse([1.0], 6, 1, 1, ioid),
              ids),
    st.builds(lambda ioid: cmds.WriteNotifyResponse(6, 1, 1, ioid), ids),
    st.builds(lambda subid: cmds.EventAddResponse([1.0], 6, 1, 1, subid),
              ids),
    st.builds(lambda sid, subid: cmds.EventCancelResponse(6, sid, subid, 0),
              ids, ids),
    st.builds(lambda cid: cmds.ErrorResponse(
        cmds.ReadNotifyRequest(6, 1, 10, 100), cid, 1, 'x'), ids),
    st.just(cmds.EchoResponse()),
    st.just(cmds.VersionResponse(13)),
)


def busy_client():
    circuit, (one, two) = connected_client(cids=(1, 2), sids=(10, 20))
    circuit.send(one.read(ioid=100), two.read(ioid=101),
                 one.subscribe(subscriptionid=102),
                 two.subscribe(subscriptionid=103))
    circuit.send(one.unsubscribe(102))
    pending = ClientChannel('PV3', circuit, 3)
    circuit.send(pending.create())
    return circuit


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(responses, max_size=25))
def test_random_server_traffic_never_corrupts_the_client(commands):
    circuit = busy_client()
    for command in commands:
        before = snapshot(circuit)
        channel_objects = dict(circuit.channels)
        try:
            (parsed,) = circuit.recv(bytes(command))[0]
            circuit.process_command(parsed)
        except RemoteProtocolError:
            # Rejected: nothing at all changed.
            assert snapshot(circuit) == before
            continue
        after = snapshot(circuit)
        # Only the channel the command names may have changed.
        touched = getattr(command, 'cid', None)
        for cid, chan in channel_objects.items():
            if cid != touched and chan.sid != getattr(command, 'sid', -1):
                if type(command) in (cmds.ReadNotifyResponse,
                                     cmds.WriteNotifyResponse,
                                     cmds.EventCancelResponse,
                                     cmds.ErrorResponse):
                    continue    # routed by ioid / subscriptionid instead
                assert after[1].get(cid) == before[1][cid]
        # Every state is one the tables know; live maps are consistent.
        for chan in circuit.channels.values():
            assert chan.states[CLIENT] in (AWAIT_CREATE_CHAN_RESPONSE,
                                           CONNECTED, MUST_CLOSE)
        for sid, chan in circuit.channels_sid.items():
            assert circuit.channels[chan.cid] is chan and chan.sid == sid
        for ioid, chan in circuit._ioids.items():
            assert ioid in chan._ioids and chan.cid in circuit.channels
        for subid, event_add in circuit.event_add_commands.items():
            assert subid in circuit.channels_sid[event_add.sid] \
                ._subscriptionids


requests = st.one_of(
    st.builds(lambda name, cid: cmds.CreateChanRequest(name, cid, 13),
              st.sampled_from(['A', 'B']), ids),
    st.builds(lambda sid, ioid, dt: cmds.ReadNotifyRequest(dt, 1, sid, ioid),
              ids, ids, st.integers(0, 40)),
    st.builds(lambda sid, ioid: cmds.WriteNotifyRequest([1.0], 6, 1, sid,
                                                        ioid), ids, ids),
    st.builds(lambda sid, subid: cmds.EventAddRequest(6, 0, sid, subid, 0, 0,
                                                      0, 1), ids, ids),
    st.builds(lambda sid, subid: cmds.EventCancelRequest(6, sid, subid),
              ids, ids),
    st.builds(cmds.ClearChannelRequest, ids, ids),
    st.just(cmds.EchoRequest()),
    st.just(cmds.EventsOffRequest()),
    st.builds(cmds.ClientNameRequest, st.sampled_from(['u', 'v'])),
)


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(requests, max_size=25))
def test_random_client_traffic_never_corrupts_the_server(commands):
    pair, _, _ = server_with_channel()
    server = pair.server
    for command in commands:
        before = snapshot(server)
        try:
            (parsed,) = server.recv(bytes(command))[0]
            server.process_command(parsed)
        except RemoteProtocolError:
            assert snapshot(server) == before
            continue
        for sid, chan in server.channels_sid.items():
            assert server.channels[chan.cid] is chan
        for subid, event_add in server.event_add_commands.items():
            assert subid in server.channels_sid[event_add.sid] \
                ._subscriptionids


def test_snapshot_helper_sees_changes():
    circuit, (channel,) = connected_client()
    before = copy.deepcopy(snapshot(circuit))
    circuit.send(channel.read())
    assert snapshot(circuit) != before


def test_recv_of_a_large_message_in_small_chunks():
    circuit, (channel,) = connected_client()
    request = channel.read(data_count=10000, ioid=9)
    circuit.send(request)
    reply = bytes(cmds.ReadNotifyResponse(list(range(10000)), 6, 10000, 1, 9))
    assert len(reply) == 24 + 80000          # extended header
    got = []
    for i in range(0, len(reply), 1000):
        commands, needed = circuit.recv(reply[i:i + 1000])
        got += commands
        if not commands:
            assert needed == len(reply)
    assert needed == 0
    (parsed,) = got
    assert circuit.process_command(parsed).data[-1] == 9999


# -- name servers (CA 4.12): search datagrams over a circuit -------------------------

def test_name_server_search_over_tcp_e19():
    pair = Pair()
    channel = ClientChannel('FOUND', pair.client, 0x33)
    pair.c2s(channel.version())
    pair.s2c(cmds.VersionResponse(13))
    # libca writes the UDP datagram verbatim: VERSION(dt=1, seq) + SEARCHes.
    version, search, missing = pair.c2s(
        cmds.VersionRequest(1, 13, sequence_id=7),
        cmds.SearchRequest('FOUND', 0x33, 13, reply=10),
        cmds.SearchRequest('NO:SUCH', 0x32, 13, reply=10))
    assert version.sequence_id == 7
    assert pair.server.priority == 0        # not changed by the dt=1 VERSION
    found, not_found = pair.s2c(cmds.SearchResponse(0x88f8, None, 0x33, None),
                                cmds.NotFoundResponse(13, 0x32))
    assert bytes(not_found) == hexbytes('000e0000 000a000d 00000032 00000032')
    assert bytes(found) == hexbytes('00060000 88f80000 ffffffff 00000033')
    assert cmds.extract_address(found, ('10.0.0.5', 5075)) == \
        ('10.0.0.5', 5075)


# -- interoperability with caproto's sans-I/O core (an independent oracle) ---------

caproto = pytest.importorskip('caproto')


def caproto_feed(circuit, data):
    commands, _ = circuit.recv(data)
    out = []
    for command in commands:
        circuit.process_command(command)
        out.append(command)
    return out


def test_caproto_client_talks_to_our_server():
    ca = caproto
    theirs = ca.VirtualCircuit(ca.CLIENT, ('127.0.0.1', 5064), 0)
    ours = VirtualCircuit(SERVER, ('127.0.0.1', 40000), None)

    def c2s(*commands):
        return feed(ours, wire(theirs.send(*commands)))

    def s2c(*commands):
        return caproto_feed(theirs, wire(ours.send(*commands)))

    cchan = ca.ClientChannel('PV:X', theirs, 5)
    c2s(cchan.version(), cchan.host_name('h'), cchan.client_name('u'),
        cchan.create())
    schan = ours.channels[5]
    s2c(schan.version(), schan.access_rights_response(3),
        schan.create(ChannelType.LONG, 3, sid=44))
    assert cchan.states[ca.CLIENT] is ca.CONNECTED
    assert cchan.native_data_type == ChannelType.LONG

    (request,) = c2s(cchan.read(data_type=ChannelType.TIME_LONG))
    (reply,) = s2c(schan.read([7, 8, 9], request.ioid,
                              data_type=request.data_type))
    assert list(reply.data) == [7, 8, 9]

    (write,) = c2s(cchan.write([1, 2, 3], notify=True))
    assert list(write.data) == [1, 2, 3]
    s2c(schan.write(write.ioid, write.data_type, write.data_count))

    (sub,) = c2s(cchan.subscribe(data_type=ChannelType.LONG))
    (update,) = s2c(schan.subscribe([4, 5, 6], sub.subscriptionid,
                                    data_count=3))
    assert list(update.data) == [4, 5, 6]
    c2s(cchan.unsubscribe(sub.subscriptionid))
    s2c(schan.unsubscribe(sub.subscriptionid))
    assert theirs.event_add_commands == {}

    c2s(cchan.clear())
    s2c(schan.clear())
    assert cchan.states[ca.CLIENT] is ca.CLOSED
    assert ours.channels == {}


def test_our_client_talks_to_caproto_server():
    ca = caproto
    ours = VirtualCircuit(CLIENT, ('127.0.0.1', 5064), 0)
    theirs = ca.VirtualCircuit(ca.SERVER, ('127.0.0.1', 40000), None)

    def c2s(*commands):
        return caproto_feed(theirs, wire(ours.send(*commands)))

    def s2c(*commands):
        return feed(ours, wire(theirs.send(*commands)))

    channel = ClientChannel('PV:Y', ours, 9)
    c2s(channel.version(), channel.client_name('u'), channel.host_name('h'),
        channel.create())
    schan = theirs.channels[9]
    s2c(schan.version(), ca.AccessRightsResponse(9, 3),
        schan.create(ChannelType.DOUBLE, 1, 12))
    assert channel.states[CLIENT] is CONNECTED and channel.sid == 12

    (request,) = c2s(channel.read())
    (reply,) = s2c(schan.read([2.5], request.ioid,
                              data_type=request.data_type, data_count=1))
    assert reply.data[0] == 2.5

    (sub,) = c2s(channel.subscribe())
    (update,) = s2c(schan.subscribe([3.5], sub.subscriptionid,
                                    data_count=1))
    assert update.data[0] == 3.5
    c2s(channel.unsubscribe(sub.subscriptionid))
    s2c(schan.unsubscribe(sub.subscriptionid))
    assert ours.event_add_commands == {}
    c2s(channel.clear())
    s2c(schan.clear())
    assert channel.states[CLIENT] is CLOSED


def test_id_allocator_gives_up_when_every_id_is_live():
    allocator = IdAllocator(lambda candidate: True)
    with pytest.raises(LocalProtocolError, match='no free id'):
        allocator()
