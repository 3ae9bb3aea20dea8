"""The server's fast forms (cawire.protocol._serving) and the repeater's
datagram rules (cawire.protocol._repeater_messages) give exactly the bytes
of the command classes they stand for."""
import pytest

from cawire.protocol import _commands as cmds
from cawire.protocol import _serving as serving
from cawire.protocol._dbr import DBR_TYPES
from cawire.protocol._enums import ChannelType
from cawire.protocol._exceptions import RemoteProtocolError
from cawire.protocol._framing import parse_stream
from cawire.protocol._repeater_messages import (fill_beacon_address,
                                                parse_repeater_datagram)
from cawire.protocol._state import SERVER

SIZES = [(0, 0), (8, 1), (16, 2), (0xFFF8, 8191), (0xFFFF + 1, 1),
         (80_000, 10_000), (8, 0xFFFF), (8, 0xFFFE)]


@pytest.mark.parametrize('count', [0, 1, 2, 8190, 8191, 8192, 0xFFFE, 0xFFFF,
                                   100_000])
def test_read_notify_header_matches_the_response_class(count):
    reply = cmds.ReadNotifyResponse(None, 6, count, 1, 77)
    assert serving.read_notify_header(reply.payload_size, 6, count, 1,
                                      77) == reply.header_bytes


@pytest.mark.parametrize('payload_size, count', SIZES)
def test_event_add_and_read_headers_match_the_classes(payload_size, count):
    data = bytes(payload_size)
    # A ReadResponse/EventAddResponse carrying exactly these bytes as values
    # of DBR_CHAR: payload size and count are then ours to choose.
    for count_ in {count, payload_size}:
        if count_ > payload_size:
            continue
        update = cmds.EventAddResponse(data[:count_], 4, count_, 1, 9)
        assert serving.event_add_header(update.payload_size, 4, count_, 1,
                                        9) == update.header_bytes
        read = cmds.ReadResponse(data[:count_], 4, count_, 3, 9)
        assert serving.read_header(read.payload_size, 4, count_, 3,
                                   9) == read.header_bytes


def test_header_only_replies_match_the_classes():
    assert serving.write_notify_reply(6, 1, 1, 42) == \
        bytes(cmds.WriteNotifyResponse(6, 1, 1, 42))
    assert serving.write_notify_reply(0, 0x10000, 1, 42) == \
        bytes(cmds.WriteNotifyResponse(0, 0x10000, 1, 42))
    assert serving.event_cancel_reply(20, 1, 5, 9) == \
        bytes(cmds.EventCancelResponse(20, 5, 9, 1))


def test_request_fields_and_mask():
    request = cmds.EventAddRequest(20, 3, 5, 9, 0.5, 1.5, 2.5, 13)
    (parsed,), _, _ = parse_stream(bytes(request), SERVER)
    assert serving.header_fields(parsed) == (1, 16, 20, 3, 5, 9)
    assert serving.subscription_mask(parsed) == parsed.mask == 13
    assert serving.subscription_request(parsed) == (20, 3, 5, 9, 13)


def test_version_check():
    serving.check_version_request(99, 13)
    with pytest.raises(RemoteProtocolError):
        serving.check_version_request(100, 13)
    with pytest.raises(RemoteProtocolError):
        serving.check_version_request(0, 0)


def test_type_rules():
    readable = [t for t in range(-1, 45) if serving.is_readable_type(t)]
    assert readable == list(range(35)) + [37, 38]
    writable = [t for t in range(-1, 45) if serving.is_writable_type(t)]
    assert writable == list(range(7)) + [35, 36]
    assert [t for t in range(45) if serving.is_acknowledgement_type(t)] == \
        [35, 36]


@pytest.mark.parametrize('data_type', [ChannelType.STS_DOUBLE,
                                       ChannelType.STS_STRING,
                                       ChannelType.STS_CHAR,
                                       ChannelType.TIME_DOUBLE,
                                       ChannelType.TIME_INT,
                                       ChannelType.TIME_ENUM])
def test_metadata_prefixes_match_the_dbr_structures(data_type):
    md = DBR_TYPES[data_type]()
    md.status, md.severity = 3, 2
    if hasattr(md, 'stamp'):
        md.stamp.secondsSinceEpoch, md.stamp.nanoSeconds = 1234, 5678
        fast = serving.time_metadata(int(data_type), 3, 2, 1234, 5678)
    else:
        fast = serving.status_metadata(int(data_type), 3, 2)
    assert fast == bytes(md)


def test_graphic_metadata_patches_status():
    md = DBR_TYPES[ChannelType.CTRL_DOUBLE]()
    md.units = 'mm'
    template = bytes(md)
    md.status, md.severity = 1, 2
    assert serving.graphic_metadata(template, 1, 2) == bytes(md)


def test_stsack_metadata():
    md = DBR_TYPES[ChannelType.STSACK_STRING]()
    md.status, md.severity = 4, 1
    md.ackt, md.acks = 1, 2
    assert serving.stsack_metadata(4, 1, 1, 2) == bytes(md)


def test_repeater_rules():
    register = bytes(cmds.RepeaterRegisterRequest('127.0.0.1'))
    beacon = bytes(cmds.RsrvIsUpResponse(13, 5064, 7, '0.0.0.0'))
    assert parse_repeater_datagram(b'') == (True, b'')
    assert parse_repeater_datagram(register) == (True, b'')
    assert parse_repeater_datagram(register + beacon) == (True, beacon)
    assert parse_repeater_datagram(beacon) == (False, beacon)
    assert parse_repeater_datagram(b'short') == (False, b'short')
    filled = fill_beacon_address(beacon + b'tail', '127.0.0.2')
    assert filled == bytes(cmds.RsrvIsUpResponse(13, 5064, 7,
                                                 '127.0.0.2')) + b'tail'
    addressed = bytes(cmds.RsrvIsUpResponse(13, 5064, 7, '10.0.0.1'))
    assert fill_beacon_address(addressed, '127.0.0.2') is addressed
    assert fill_beacon_address(register, '127.0.0.2') is register
