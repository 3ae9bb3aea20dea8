"""VirtualCircuit, ClientChannel and ServerChannel (cawire.protocol._circuit).

Literal byte strings are the real EPICS captures of ca-protocol.md section 9.
"""
import pytest

from cawire.protocol import _commands as cmds
from cawire.protocol._circuit import (ClientChannel, IdAllocator, ServerChannel,
                             VirtualCircuit)
from cawire.protocol._enums import AccessRights, ChannelType
from cawire.protocol._exceptions import (CaprotoKeyError, CaprotoTypeError,
                                         CaprotoValueError, LocalProtocolError,
                                         RemoteProtocolError)
from cawire.protocol._state import (AWAIT_CREATE_CHAN_RESPONSE, CLIENT, CLOSED,
                           CONNECTED, DISCONNECTED, FAILED, MUST_CLOSE,
                           SEND_CREATE_CHAN_RESPONSE, SERVER)
from cawire.protocol._status import CAStatus

from circuit_helpers import (Pair, connected_client, feed, hexbytes,
                             server_with_channel, snapshot, wire)


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
    assert not circuit.outstanding_requests


def _caproto_metadata_forms():
    from caproto._dbr import DBR_CTRL_DOUBLE, DBR_STS_DOUBLE
    from cawire.protocol._dbr import DBR_STS_DOUBLE as OUR_STS_DOUBLE
    sts = DBR_STS_DOUBLE(3, 2)
    return [
        ('status', (3, 2), (3, 2)),
        (ChannelType.STS_DOUBLE, (1, 1), (1, 1)),
        (ChannelType.STS_DOUBLE, sts, sts),
        (ChannelType.STS_DOUBLE, bytes(sts), bytes(sts)),
        (ChannelType.STS_DOUBLE, OUR_STS_DOUBLE(3, 2), bytes(sts)),
        (ChannelType.CTRL_DOUBLE, DBR_CTRL_DOUBLE(), DBR_CTRL_DOUBLE()),
        (None, b'', b''),
    ]


@pytest.mark.parametrize('notify', [True, False])
@pytest.mark.parametrize('index', range(7))
def test_write_with_metadata_is_what_caproto_sends(index, notify):
    """caproto.sync.client.write(metadata=...): the request's data type is
    the one given (native by default) and the metadata go before the
    values; ours are the same bytes (issue #10)."""
    import caproto
    data_type, ours_md, theirs_md = _caproto_metadata_forms()[index]
    circuit, (channel,) = connected_client()
    request = channel.write([7.5], data_type=data_type, metadata=ours_md,
                            notify=notify, ioid=channel.cid if not notify
                            else 9)
    theirs_type = {None: ChannelType.DOUBLE,
                   'status': ChannelType.STS_DOUBLE}.get(data_type, data_type)
    cls = caproto.WriteNotifyRequest if notify else caproto.WriteRequest
    theirs = cls([7.5], theirs_type, 1, channel.sid, request.ioid,
                 metadata=theirs_md)
    assert bytes(request) == bytes(theirs)
    assert wire(circuit.send(request)) == bytes(theirs)


def test_write_metadata_must_fit_the_type():
    from caproto._dbr import DBR_STS_DOUBLE
    circuit, (channel,) = connected_client()
    # Compound types only with metadata (metadata is otherwise the server's).
    with pytest.raises(CaprotoValueError, match='Cannot write with data type'):
        channel.write([1.0], data_type='status')
    # A structure of another type, metadata for a plain type, a wrong size.
    with pytest.raises(CaprotoTypeError, match='DBR type 13'):
        channel.write([1.0], data_type=ChannelType.CTRL_DOUBLE,
                      metadata=DBR_STS_DOUBLE(0, 0))
    with pytest.raises(CaprotoValueError, match='carries no metadata'):
        channel.write([1.0], metadata=(0, 0))
    with pytest.raises(CaprotoValueError, match='metadata is 8 bytes'):
        channel.write([1.0], data_type='status', metadata=b'\x00' * 4)
    assert not circuit.outstanding_requests


def test_take_reply_is_request_for_then_process_command():
    """The client's one-call form for READ/WRITE_NOTIFY replies changes
    the same state and refuses the same replies."""
    outcomes = []
    for take in (True, False):
        circuit, (channel,) = connected_client()
        circuit.send(channel.write([1.25], ioid=2))
        slot = circuit.outstanding_requests[2]
        (reply,), _ = circuit.recv(E11_REPLY)
        if take:
            got = circuit.take_reply(reply)
        else:
            got = circuit.request_for(reply)
            circuit.process_command(reply)
        assert got is slot
        with pytest.raises(RemoteProtocolError, match='unknown ioid 2'):
            circuit.take_reply(reply)
        states, channels, by_sid, requests, *rest = snapshot(circuit)
        # (Two circuits: compare what the channel objects hold, not them.)
        outcomes.append((states, channels, sorted(by_sid), requests, rest))
    assert outcomes[0] == outcomes[1]


def test_plain_write_carries_the_cid_and_expects_no_reply():
    circuit, (channel,) = connected_client()
    request = channel.write([2.0], notify=False)
    assert type(request) is cmds.WriteRequest
    assert request.ioid == channel.cid
    circuit.send(request)
    assert not circuit.outstanding_requests


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
    assert not circuit.outstanding_requests and not channel.outstanding_ioids


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


@pytest.mark.parametrize('command, message', [
    (cmds.ReadNotifyRequest(6, 1, 77, 1), 'unknown sid 77'),
    (cmds.WriteRequest([1.0], 6, 1, 77, 1), 'unknown sid 77'),
    (cmds.EventAddRequest(6, 1, 77, 5, 0, 0, 0, 1), 'unknown sid 77'),
    (cmds.EventCancelRequest(6, 10, 55), 'unknown subscriptionid 55'),
    (cmds.ClearChannelRequest(77, 1), 'unknown sid 77'),
    (cmds.ReadNotifyRequest(39, 1, 10, 1), 'DBR type 39'),
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
    assert not circuit.outstanding_requests and not circuit.event_add_commands
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
    assert reply.data[0] == 3.5 and reply.metadata.units == b'mm'

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
        assert circuit.outstanding_requests == {} and circuit.event_add_commands == {}


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


def test_id_allocator_gives_up_when_every_id_is_live():
    allocator = IdAllocator(lambda candidate: True)
    with pytest.raises(LocalProtocolError, match='no free id'):
        allocator()


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


def test_create_channels_fast_form_matches_send_of_create():
    # The fast form (one buffer, no message objects) puts the same bytes
    # on the wire and leaves the channels in the same states as send().
    names = ['A', 'PV:1234567', 'x' * 39, 'é-latin1']
    slow = VirtualCircuit(CLIENT, ('127.0.0.1', 5064), 0)
    fast = VirtualCircuit(CLIENT, ('127.0.0.1', 5064), 0)
    for circuit in (slow, fast):
        with pytest.raises(LocalProtocolError):     # before VERSION
            circuit.create_channels([ClientChannel('B', circuit, 99)])
        circuit.send(cmds.VersionRequest(0, 13))
    slow_channels = [ClientChannel(n, slow, i + 1) for i, n in enumerate(names)]
    fast_channels = [ClientChannel(n, fast, i + 1) for i, n in enumerate(names)]
    expected = wire(slow.send(*(c.create() for c in slow_channels)))
    assert fast.create_channels(fast_channels) == expected
    assert ([c.states[CLIENT] for c in fast_channels]
            == [c.states[CLIENT] for c in slow_channels])
    # Created already: illegal again, as with send().
    with pytest.raises(LocalProtocolError):
        fast.create_channels(fast_channels[:1])
    other = VirtualCircuit(CLIENT, ('127.0.0.1', 5064), 0)
    with pytest.raises(LocalProtocolError):         # not this circuit's
        fast.create_channels([ClientChannel('C', other, 50)])
    with pytest.raises(CaprotoValueError):
        fast.create_channels([ClientChannel('bad\x00name', fast, 60)])
    # Both forms agree for a reply, too.
    for circuit, channels in ((slow, slow_channels), (fast, fast_channels)):
        feed(circuit, bytes(cmds.AccessRightsResponse(1, 3))
             + bytes(cmds.CreateChanResponse(ChannelType.DOUBLE, 1, 1, 7)))
        assert channels[0].sid == 7
