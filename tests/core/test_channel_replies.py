"""The fast form of the replies that connect channels (``_channel_replies``):
``parse_client_stream`` gives what ``parse_stream(buf, CLIENT)`` gives with
each run of header-only ACCESS_RIGHTS / CREATE_CHAN grouped, and
``VirtualCircuit.process_channel_replies`` leaves a circuit in the state
``process_command`` leaves it in, reply by reply, refusing the same replies
with the same errors.
"""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cawire.protocol import _commands as cmds
from cawire.protocol._channel_replies import (ChannelReplies,
                                              parse_client_stream)
from cawire.protocol._circuit import ClientChannel, VirtualCircuit
from cawire.protocol._enums import AccessRights, ChannelType
from cawire.protocol._exceptions import RemoteProtocolError
from cawire.protocol._framing import parse_stream
from cawire.protocol._headers import HEADER_STRUCT
from cawire.protocol._receive_arena import ReceiveArena
from cawire.protocol._state import CLIENT, CONNECTED, SERVER

from circuit_helpers import feed, snapshot


def flattened(commands):
    out = []
    for command in commands:
        if type(command) is ChannelReplies:
            out.extend(command.commands())
        else:
            out.append(command)
    return out


def described(commands):
    # Everything a received command carries: its class, header and bytes.
    return [(type(c), c.header, bytes(c)) for c in commands]


def reply_messages():
    cid = st.integers(0, 40)
    return st.one_of(
        st.builds(cmds.AccessRightsResponse, cid, st.integers(0, 7)),
        st.builds(cmds.CreateChanResponse, st.integers(0, 8),
                  st.integers(0, 0x20000), cid, st.integers(0, 40)),
        st.builds(cmds.VersionResponse, st.integers(0, 13)),
        st.builds(cmds.EchoResponse),
        st.builds(cmds.CreateChFailResponse, cid),
        st.builds(cmds.ErrorResponse,
                  st.just(cmds.ReadNotifyRequest(6, 1, 1, 2)),
                  cid, st.just(1), st.just('no')),
    )


@settings(max_examples=300, deadline=None)
@given(st.lists(reply_messages(), max_size=30), st.data())
def test_grouped_parse_is_parse_stream_with_runs_grouped(messages, data):
    stream = b''.join(bytes(m) for m in messages)
    cut = data.draw(st.integers(0, len(stream)))
    for buf in (stream, stream[:cut], bytearray(stream[:cut])):
        general, consumed, needed = parse_stream(buf, CLIENT)
        grouped, g_consumed, g_needed = parse_client_stream(buf)
        assert (g_consumed, g_needed) == (consumed, needed)
        assert described(flattened(grouped)) == described(general)
        previous = None
        for command in grouped:
            if type(command) is ChannelReplies:
                # Runs are maximal: two groups never follow each other.
                assert type(previous) is not ChannelReplies
                assert command.count >= 1
                # The run's own bytes (the caller's buffer is reused).
                assert type(command.headers) is bytes
                assert command.fields == [HEADER_STRUCT.unpack_from(bytes(c))
                                          for c in command.commands()]
            else:
                assert not (len(command) == 16 and type(command) in (
                    cmds.AccessRightsResponse, cmds.CreateChanResponse))
            previous = command


def test_runs_of_header_only_replies_are_grouped_in_place():
    stream = (bytes(cmds.VersionResponse(13))
              + bytes(cmds.AccessRightsResponse(1, 3))
              + bytes(cmds.CreateChanResponse(6, 1, 1, 10))
              + bytes(cmds.AccessRightsResponse(2, 1))
              + bytes(cmds.CreateChanResponse(6, 1, 2, 11))
              + bytes(cmds.EchoResponse())
              # A count over 0xFFFF needs the extended header: not grouped.
              + bytes(cmds.CreateChanResponse(6, 100_000, 3, 12))
              + bytes(cmds.AccessRightsResponse(3, 3)))
    commands, consumed, needed = parse_client_stream(stream)
    assert consumed == len(stream) and needed == 0
    kinds = [type(c) for c in commands]
    assert kinds == [cmds.VersionResponse, ChannelReplies, cmds.EchoResponse,
                     cmds.CreateChanResponse, ChannelReplies]
    assert commands[1].count == 4 and commands[4].count == 1
    assert [c.cid for c in commands[1].commands()] == [1, 1, 2, 2]


def test_grouped_parse_raises_what_parse_stream_raises():
    good = bytes(cmds.AccessRightsResponse(1, 3)) * 3
    bad = bytes(cmds.ClientNameRequest('x'))  # a client never gets it
    stream = good + bad + good
    with pytest.raises(RemoteProtocolError) as general:
        parse_stream(stream, CLIENT)
    with pytest.raises(RemoteProtocolError) as grouped:
        parse_client_stream(stream)
    assert str(grouped.value) == str(general.value)
    assert grouped.value.consumed == general.value.consumed == len(good)
    assert (described(flattened(grouped.value.commands))
            == described(general.value.commands))


def test_max_payload_is_checked_as_in_parse_stream():
    stream = (bytes(cmds.AccessRightsResponse(1, 3))
              + bytes(cmds.ReadNotifyResponse([1.0] * 10, 6, 10, 1, 1)))
    with pytest.raises(RemoteProtocolError) as general:
        parse_stream(stream, CLIENT, max_payload=16)
    with pytest.raises(RemoteProtocolError) as grouped:
        parse_client_stream(stream, max_payload=16)
    assert str(grouped.value) == str(general.value)


def client_with_channels(cids):
    circuit = VirtualCircuit(CLIENT, ('127.0.0.1', 5064), 0)
    circuit.send(cmds.VersionRequest(0, 13))
    feed(circuit, bytes(cmds.VersionResponse(13)))
    for cid in cids:
        circuit.send(ClientChannel(f'PV{cid}', circuit, cid).create())
    return circuit


def general_outcomes(circuit, replies):
    # process_command reply by reply, dropping a refused one and going on
    # (as the threading client does with a channel-level refusal).
    outcomes = []
    for command in replies:
        try:
            circuit.process_command(command)
        except RemoteProtocolError as exc:
            outcomes.append(('refused', str(exc),
                             getattr(exc, 'channel', None) is not None))
            continue
        rights = (command.access_rights
                  if type(command) is cmds.AccessRightsResponse else None)
        outcomes.append(('applied', command.cid, rights))
    return outcomes


def comparable(circuit):
    # snapshot() with the sid table by cid (the channels are two circuits').
    state = list(snapshot(circuit))
    state[2] = {sid: channel.cid for sid, channel in state[2].items()}
    return state


def fast_outcomes(circuit, group):
    outcomes = []
    position = 0
    while position < group.count:
        cids, rights_list, error = circuit.process_channel_replies(
            group, position)
        assert len(cids) == len(rights_list)
        outcomes.extend(('applied', cid, rights)
                        for cid, rights in zip(cids, rights_list))
        position += len(cids)
        if error is None:
            break
        outcomes.append(('refused', str(error),
                         getattr(error, 'channel', None) is not None))
        position += 1
    return outcomes


def header_only_replies():
    cid = st.integers(1, 6)
    return st.lists(st.one_of(
        st.builds(cmds.AccessRightsResponse, cid, st.integers(0, 7)),
        st.builds(cmds.CreateChanResponse, st.integers(0, 8),
                  st.integers(0, 0xFFFE), cid, st.integers(0, 6)),
    ), min_size=1, max_size=25)


@settings(max_examples=300, deadline=None)
@given(header_only_replies())
def test_fast_form_changes_and_refuses_what_process_command_does(replies):
    # cids 1-4 exist, 5-6 do not; sids collide, types go over 6, replies
    # come twice: every refusal of the general path is exercised.
    stream = b''.join(bytes(r) for r in replies)
    general_circuit = client_with_channels([1, 2, 3, 4])
    fast_circuit = client_with_channels([1, 2, 3, 4])
    general, _, _ = parse_stream(stream, CLIENT)
    grouped, _, _ = parse_client_stream(stream)
    assert len(grouped) == 1
    expected = general_outcomes(general_circuit, general)
    assert fast_outcomes(fast_circuit, grouped[0]) == expected
    assert comparable(fast_circuit) == comparable(general_circuit)
    for cid, channel in fast_circuit.channels.items():
        reference = general_circuit.channels[cid]
        assert channel.native_data_type is reference.native_data_type
        assert channel.native_data_count == reference.native_data_count
        assert type(channel.access_rights) is type(reference.access_rights)


def test_connect_burst_connects_every_channel():
    cids = range(1, 101)
    circuit = client_with_channels(cids)
    stream = b''.join(bytes(cmds.AccessRightsResponse(cid, 3))
                      + bytes(cmds.CreateChanResponse(6, 1, cid, 1000 + cid))
                      for cid in cids)
    (group,), _, _ = parse_client_stream(stream)
    cids, rights_list, error = circuit.process_channel_replies(group)
    assert error is None and len(cids) == len(rights_list) == 200
    assert cids[:2] == [1, 1]
    assert rights_list[:2] == [AccessRights.READ | AccessRights.WRITE, None]
    for cid in cids:
        channel = circuit.channels[cid]
        assert channel.states[CLIENT] is CONNECTED
        assert channel.sid == 1000 + cid
        assert channel.native_data_type is ChannelType.DOUBLE
        assert circuit.channels_sid[1000 + cid] is channel


def test_a_server_circuit_refuses_replies_in_its_own_words():
    server = VirtualCircuit(SERVER, ('127.0.0.1', 50000), None)
    (group,), _, _ = parse_client_stream(
        bytes(cmds.AccessRightsResponse(1, 3)))
    with pytest.raises(RemoteProtocolError) as general:
        server.process_command(group.command(0))
    cids, rights_list, error = server.process_channel_replies(group)
    assert cids == rights_list == [] and str(error) == str(general.value)


def test_receive_arena_passes_groups_through_its_size_limit():
    arena = ReceiveArena(parse_client_stream, max_message=64)
    big = bytes(cmds.ReadNotifyResponse([1.0] * 20, 6, 20, 1, 1))
    stream = (bytes(cmds.AccessRightsResponse(1, 3))
              + bytes(cmds.CreateChanResponse(6, 1, 1, 10)) + big
              + bytes(cmds.EchoResponse()))
    view = arena.writable()
    view[:len(stream)] = stream
    commands, oversized, failure = arena.received(len(stream))
    assert failure is None
    assert [type(c) for c in commands] == [ChannelReplies, cmds.EchoResponse]
    assert commands[0].count == 2
    assert len(oversized) == 1 and oversized[0][0] == 15
