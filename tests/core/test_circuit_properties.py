"""Property tests of VirtualCircuit: random traffic from the peer never
corrupts a circuit (a rejected command changes nothing; the id tables stay
consistent)."""
import copy

from hypothesis import HealthCheck, given, settings, strategies as st

from cawire.protocol import _commands as cmds
from cawire.protocol._circuit import ClientChannel
from cawire.protocol._exceptions import RemoteProtocolError
from cawire.protocol._state import (AWAIT_CREATE_CHAN_RESPONSE, CLIENT, CONNECTED,
                           MUST_CLOSE)

from circuit_helpers import connected_client, server_with_channel, snapshot


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
        for ioid, request in circuit.outstanding_requests.items():
            chan = request.channel
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
            # A cid created twice: the older channel is shadowed (RSRV
            # serves both).
            assert (server.channels[chan.cid] is chan
                    or chan in server._shadowed[chan.cid])
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
