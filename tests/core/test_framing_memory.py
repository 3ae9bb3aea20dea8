"""What parsing a burst of replies keeps alive (memory per message)."""
from cawire.protocol import _commands as cw
from cawire.protocol._framing import parse_stream, serialize
from cawire.protocol._enums import ChannelType
from cawire.protocol._state import CLIENT


def test_header_only_replies_share_one_empty_payload():
    # A burst of channel creations brings two header-only replies per
    # channel; a fresh memoryview each (~180 bytes) set the high-water mark
    # of a 10,000-PV connect.
    wire = b''.join(bytes(b) for b in serialize(*(
        message for cid in range(100)
        for message in (cw.AccessRightsResponse(cid, 3),
                        cw.CreateChanResponse(6, 1, cid, 1000 + cid)))))
    commands, consumed, needed = parse_stream(wire, CLIENT)
    assert consumed == len(wire) and needed == 0 and len(commands) == 200
    payloads = {id(command._payload) for command in commands}
    assert len(payloads) == 1
    created = commands[1::2]
    assert [c.cid for c in created] == list(range(100))
    assert [c.sid for c in created] == [1000 + cid for cid in range(100)]
    assert all(bytes(command) == bytes(b) for command, b in zip(
        commands, serialize(*commands)))


def test_payload_of_a_message_with_data_is_its_own_bytes():
    read = cw.ReadNotifyResponse([1.5], ChannelType.DOUBLE, 1, 1, 7)
    wire = (b''.join(bytes(b) for b in serialize(cw.EchoResponse()))
            + b''.join(bytes(b) for b in serialize(read)))
    commands, consumed, _ = parse_stream(wire, CLIENT)
    assert consumed == len(wire)
    echo, reply = commands
    assert len(echo._payload) == 0
    assert list(reply.data) == [1.5] and reply.ioid == 7
