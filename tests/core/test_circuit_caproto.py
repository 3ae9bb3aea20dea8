"""Interoperability of our sans-I/O circuit with caproto's, an independent
implementation used as an oracle (caproto is a required test extra)."""
import caproto

from cawire.protocol._circuit import ClientChannel, VirtualCircuit
from cawire.protocol._enums import ChannelType
from cawire.protocol._state import CLIENT, CLOSED, CONNECTED, SERVER

from circuit_helpers import feed, wire


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
