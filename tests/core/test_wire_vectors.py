"""Byte-exact captures of the real EPICS 7.0.8 tools (ca-protocol.md section
9, E1-E23): each is parsed, its fields checked, re-serialized, and rebuilt
from its fields with our constructors.

Pad bytes: RSRV leaves garbage in pads (after a string's NUL, in the RISC
pad of DBR_TIME_*, after an ERROR's text).  Parsing ignores pad contents.
Re-serializing a *parsed* command reproduces every defined byte; trailing
pad bytes (after the last defined byte of the payload) come out as zeros.
Pads *inside* the metadata or a 40-byte string field are part of the value
buffers and pass through unchanged.  Rebuilding from fields with our
constructors writes zeros everywhere a pad is, so those comparisons zero the
documented garbage first (``zeroed``).
"""
import math

import numpy as np
import pytest

from cawire.protocol import _commands as cw
from cawire.protocol._enums import AccessRights, AlarmSeverity, AlarmStatus, ChannelType
from cawire.protocol._framing import parse_stream, read_datagram
from cawire.protocol._headers import ExtendedMessageHeader
from cawire.protocol._state import CLIENT, SERVER
from cawire.protocol._status import CAStatus

SOURCE = ('127.0.0.1', 35064)


def h(text: str) -> bytes:
    return bytes.fromhex(''.join(text.split()))


def zeroed(raw: bytes, *ranges) -> bytes:
    """``raw`` with the byte ranges ``(start, stop)`` set to zero."""
    out = bytearray(raw)
    for start, stop in ranges:
        out[start:stop] = bytes(stop - start)
    return bytes(out)


def parse_all(raw: bytes, role):
    commands, consumed, needed = parse_stream(raw, role)
    assert (consumed, needed) == (len(raw), 0)
    return commands


def reserialized(commands) -> bytes:
    return b''.join(bytes(c) for c in commands)


def check_reassembly(raw: bytes, role):
    """Feed ``raw`` split at every byte boundary; the same commands come out
    and ``needed`` is always right."""
    whole = [bytes(c) for c in parse_all(raw, role)]
    for cut in range(len(raw) + 1):
        first, consumed, needed = parse_stream(raw[:cut], role)
        if consumed < cut:
            assert needed > cut - consumed
        rest = raw[consumed:]
        second, consumed2, needed2 = parse_stream(rest, role)
        assert (consumed2, needed2) == (len(rest), 0)
        assert [bytes(c) for c in first + second] == whole


# -- E1/E2: UDP search ---------------------------------------------------------

E1 = h('00000000 0001000d 00000001 00000000'
       '00060008 0005000d 00000001 00000001 5453543a 61690000')


def test_e1_udp_search_request():
    version, search = read_datagram(E1, ('127.0.0.1', 40000), SERVER)
    assert isinstance(version, cw.VersionRequest)
    assert (version.priority, version.version, version.sequence_id) == \
        (1, 13, 1)
    assert isinstance(search, cw.SearchRequest)
    assert (search.name, search.cid, search.version, search.reply) == \
        ('TST:ai', 1, 13, 5)
    assert search.sender_address == ('127.0.0.1', 40000)
    assert reserialized([version, search]) == E1
    rebuilt = [cw.VersionRequest(0, 13, sequence_id=1),
               cw.SearchRequest('TST:ai', 1, 13)]
    assert reserialized(rebuilt) == E1


@pytest.mark.parametrize('name, payload_hex', [
    ('TST:str', '5453543a73747200'),                  # len+1 == 8: no pad
    ('TST:long', '5453543a6c6f6e67 0000000000000000'),
])
def test_e1_name_padding(name, payload_hex):
    payload = h(payload_hex)
    command = cw.SearchRequest(name, 1, 13)
    assert bytes(command)[16:] == payload
    assert command.payload_size == len(payload)
    (parsed,) = parse_all(bytes(command), SERVER)
    assert parsed.name == name


E2 = h('00000000 0001000d 00000001 00000000'
       '00060008 88f80000 ffffffff 00000001 000d0000 00000000')


def test_e2_udp_search_reply():
    version, reply = read_datagram(E2, SOURCE, CLIENT)
    assert isinstance(version, cw.VersionResponse)
    assert (version.version, version.sequence_id) == (13, 1)
    assert isinstance(reply, cw.SearchResponse)
    assert (reply.port, reply.ip, reply.cid, reply.version) == \
        (35064, '255.255.255.255', 1, 13)
    assert cw.extract_address(reply, SOURCE) == ('127.0.0.1', 35064)
    assert reserialized([version, reply]) == E2
    rebuilt = [cw.VersionResponse(13, sequence_id=1),
               cw.SearchResponse(35064, None, 1, 13)]
    assert reserialized(rebuilt) == E2


# -- E3/E4: circuit handshake ----------------------------------------------------

E3 = h('00000000 0000000d 00000000 00000000'
       '00140008 00000000 00000000 00000000 726f6f74 00000000'
       '00150008 00000000 00000000 00000000 766d0000 00000000'
       '00120008 00000000 00000001 0000000d 5453543a 61690000')
E4 = h('00000000 0000000d 00000000 00000000'
       '00160000 00000000 00000001 00000003'
       '00120000 00060001 00000001 00000000')


def test_e3_client_first_segment():
    assert len(E3) == 88
    version, client, host, create = parse_all(E3, SERVER)
    assert (version.priority, version.version, version.sequence_id) == \
        (0, 13, None)
    assert client.name == 'root' and host.name == 'vm'
    assert (create.name, create.cid, create.version) == ('TST:ai', 1, 13)
    assert reserialized([version, client, host, create]) == E3
    rebuilt = [cw.VersionRequest(0, 13), cw.ClientNameRequest('root'),
               cw.HostNameRequest('vm'), cw.CreateChanRequest('TST:ai', 1, 13)]
    assert reserialized(rebuilt) == E3
    check_reassembly(E3, SERVER)


def test_e4_server_first_segment():
    version, rights, create = parse_all(E4, CLIENT)
    assert version.version == 13 and version.sequence_id is None
    assert (rights.cid, rights.access_rights) == (1, AccessRights.READ_WRITE)
    assert (create.data_type, create.data_count, create.cid, create.sid) == \
        (ChannelType.DOUBLE, 1, 1, 0)
    rebuilt = [cw.VersionResponse(13), cw.AccessRightsResponse(1, 3),
               cw.CreateChanResponse(ChannelType.DOUBLE, 1, 1, 0)]
    assert reserialized(rebuilt) == reserialized([version, rights, create]) \
        == E4
    check_reassembly(E4, CLIENT)


# -- E5-E10: reads ---------------------------------------------------------------

E5_REQUEST = h('000f0000 00140001 00000000 00000001')
E5_REPLY = h('000f0018 00140001 00000001 00000001'
             '0000 0000 45685674 2921514b 00000003 400921f9f01b866e')


def test_e5_read_notify_time_double():
    (request,) = parse_all(E5_REQUEST, SERVER)
    assert (request.data_type, request.data_count, request.sid,
            request.ioid) == (ChannelType.TIME_DOUBLE, 1, 0, 1)
    assert bytes(cw.ReadNotifyRequest(20, 1, 0, 1)) == E5_REQUEST

    (reply,) = parse_all(E5_REPLY, CLIENT)
    assert reply.status == CAStatus.ECA_NORMAL and reply.ioid == 1
    assert reply.data_count == 1 and reply.data[0] == 3.14159
    md = reply.metadata
    assert md.status == AlarmStatus.NO_ALARM
    assert md.severity == AlarmSeverity.NO_ALARM
    assert (md.secondsSinceEpoch, md.nanoSeconds) == (0x45685674, 690049355)
    assert md.timestamp == pytest.approx(1795617780.690049355, abs=1e-6)
    # the RISC pad (garbage 00000003) is inside the metadata buffer
    assert bytes(reply) == E5_REPLY
    rebuilt = cw.ReadNotifyResponse(reply.data, 20, 1, 1, 1, metadata=md)
    assert bytes(rebuilt) == zeroed(E5_REPLY, (28, 32))


E6_REPLY = h('000f0058 00220001 00000001 00000001'
             '0000 0000 0003 0000 6d6d000000000000'
             '4024000000000000 c024000000000000'
             '7ff8000000000000 7ff8000000000000'
             '7ff8000000000000 7ff8000000000000'
             '4024000000000000 c024000000000000'
             '400921f9f01b866e')


def test_e6_ctrl_double():
    (reply,) = parse_all(E6_REPLY, CLIENT)
    assert reply.data_type == ChannelType.CTRL_DOUBLE
    md = reply.metadata
    assert (md.precision, md.units) == (3, b'mm')
    assert (md.upper_disp_limit, md.lower_disp_limit) == (10.0, -10.0)
    assert (md.upper_ctrl_limit, md.lower_ctrl_limit) == (10.0, -10.0)
    for name in ('upper_alarm_limit', 'upper_warning_limit',
                 'lower_warning_limit', 'lower_alarm_limit'):
        assert math.isnan(getattr(md, name))
    assert reply.data[0] == 3.14159
    assert bytes(reply) == E6_REPLY
    rebuilt = cw.ReadNotifyResponse(reply.data, 34, 1, 1, 1, metadata=md)
    assert bytes(rebuilt) == E6_REPLY


E7_REPLY = (h('000f01a8 001f0001 00000001 00000001 0000 0000 0002')
            + b'Off'.ljust(26, b'\0') + b'On'.ljust(26, b'\0')
            + bytes(14 * 26) + h('0001'))


def test_e7_ctrl_enum():
    (reply,) = parse_all(E7_REPLY, CLIENT)
    assert reply.payload_size == 424
    assert reply.metadata.enum_strings == (b'Off', b'On')
    assert reply.metadata.no_str == 2
    assert reply.data[0] == 1
    assert bytes(reply) == E7_REPLY
    rebuilt = cw.ReadNotifyResponse([1], 31, 1, 1, 1, metadata=reply.metadata)
    assert bytes(rebuilt) == E7_REPLY


E8_REPLY = h('000f0010 00130001 00000001 00000001 0000 0000 45685674 292195d5'
             'ffffffd6')


def test_e8_time_long():
    (reply,) = parse_all(E8_REPLY, CLIENT)
    assert reply.data_type == ChannelType.TIME_LONG
    assert reply.data[0] == -42
    assert bytes(reply) == E8_REPLY


# "hello", NUL, then bytes RSRV left behind (non-zero garbage after the NUL).
E9_REPLY = (h('000f0028 00000001 00000001 00000001')
            + b'hello\0' + b'stale-bytes' + bytes(40 - 6 - 11))


def test_e9_string_keeps_40_bytes_and_ignores_bytes_after_nul():
    (reply,) = parse_all(E9_REPLY, CLIENT)
    assert reply.payload_size == 40
    assert reply.data == [b'hello']
    assert bytes(reply) == E9_REPLY            # inside the 40-byte field
    rebuilt = cw.ReadNotifyResponse(['hello'], 0, 1, 1, 1)
    assert bytes(rebuilt) == zeroed(E9_REPLY, (16 + 6, 16 + 40))


E10_WRITE = h('00040008 00040004 00000006 00000001 61626300 00000000')
E10_REQUEST = h('000f0000 00120020 00000006 00000002')
E10_REPLY = (h('000f0030 00120020 00000001 00000002'
               '0000 0000 45685679 19c80586 000000')
             + b'abc' + bytes(29) + b'\0')


def test_e10_char_waveform():
    (write,) = parse_all(E10_WRITE, SERVER)
    assert (write.data_type, write.data_count, write.sid, write.ioid) == \
        (ChannelType.CHAR, 4, 6, 1)
    assert bytes(write.data) == b'abc\0'
    assert bytes(cw.WriteRequest(b'abc\0', 4, 4, 6, 1)) == E10_WRITE
    assert bytes(cw.WriteRequest('abc', 4, None, 6, 1)) == E10_WRITE
    (request,) = parse_all(E10_REQUEST, SERVER)
    assert (request.data_type, request.data_count) == \
        (ChannelType.TIME_CHAR, 32)
    (reply,) = parse_all(E10_REPLY, CLIENT)
    assert len(E10_REPLY) == 16 + 48
    assert reply.data_count == 32
    assert bytes(reply.data) == b'abc' + bytes(29)
    assert bytes(reply) == E10_REPLY
    rebuilt = cw.ReadNotifyResponse(reply.data, 18, 32, 1, 2,
                                    metadata=reply.metadata)
    assert bytes(rebuilt) == E10_REPLY


def test_e10_unprocessed_record_metadata():
    raw = (h('000f0030 00120020 00000001 00000002'
             '0011 0003 00000000 00000000 000000') + bytes(33))
    (reply,) = parse_all(raw, CLIENT)
    assert reply.metadata.status == AlarmStatus.UDF
    assert reply.metadata.severity == AlarmSeverity.INVALID_ALARM
    assert reply.metadata.secondsSinceEpoch == 0


# -- E11-E13: writes and errors ------------------------------------------------

E11_REQUEST = h('00130008 00060001 00000000 00000002 3ff4000000000000')
E11_REPLY = h('00130000 00060001 00000001 00000002')
E11_FAILED = h('00130000 00060001 000000a0 00000002')


def test_e11_write_notify():
    (request,) = parse_all(E11_REQUEST, SERVER)
    assert (request.sid, request.ioid, request.data[0]) == (0, 2, 1.25)
    assert bytes(cw.WriteNotifyRequest([1.25], 6, 1, 0, 2)) == E11_REQUEST
    (reply,) = parse_all(E11_REPLY, CLIENT)
    assert reply.status == CAStatus.ECA_NORMAL and reply.ioid == 2
    assert bytes(cw.WriteNotifyResponse(6, 1, CAStatus.ECA_NORMAL, 2)) == \
        E11_REPLY
    (failed,) = parse_all(E11_FAILED, CLIENT)
    assert failed.status == CAStatus.ECA_PUTFAIL
    assert bytes(cw.WriteNotifyResponse(6, 1, CAStatus.ECA_PUTFAIL, 2)) == \
        E11_FAILED


E12_WRITE = h('00040008 00000001 00000004 00000001 332e3500 00000000')


def test_e12_short_string_write():
    (write,) = parse_all(E12_WRITE, SERVER)
    assert write.data == [b'3.5'] and write.data_count == 1
    assert write.payload_size == 8
    assert bytes(write) == E12_WRITE
    # our own encoder sends the full 40-byte element
    assert cw.WriteRequest(['3.5'], 0, 1, 4, 1).payload_size == 40


E13_ERROR = h('000b0020 00000000 00000001 000000a0'
              '00040008 00000001 00000009 00000001'
              '5453543a 6c6f6e67 00 00 0001 00000009')
E13_BAD_SUBID = h('000b0018 00000000 00000005 000000f2'
                  '00020000 00060001 00000003 000003e7'
                  '5453543a 636e7400')
E13_BAD_SID = (h('000b0040 00000000 ffffffff 0000008e'
                 '000f0000 00060001 000003e7 00000004')
               + b'Bad Resource ID at rsrv/camessage.c:1234\0'.ljust(48, b'\0'))


def test_e13_error_with_garbage_pad():
    (error,) = parse_all(E13_ERROR, CLIENT)
    assert error.cid == 1 and error.status == CAStatus.ECA_PUTFAIL
    original = error.original_request
    assert (original.command, original.payload_size, original.data_type,
            original.data_count, original.parameter1,
            original.parameter2) == (4, 8, 0, 1, 9, 1)
    assert error.error_message == 'TST:long'
    # the 7 pad bytes after "TST:long\0" held garbage: written back as zeros
    assert bytes(error) == zeroed(E13_ERROR, (16 + 16 + 9, 48))
    rebuilt = cw.ErrorResponse(cw.WriteRequest(['3.5'], 0, 1, 9, 1).header,
                               1, CAStatus.ECA_PUTFAIL, 'TST:long')
    assert bytes(rebuilt) != bytes(error)     # our WRITE would be 40 bytes
    rebuilt = cw.ErrorResponse(E13_ERROR[16:32], 1, CAStatus.ECA_PUTFAIL,
                               'TST:long')
    assert bytes(rebuilt) == bytes(error)


def test_e13_other_errors():
    (bad_subid,) = parse_all(E13_BAD_SUBID, CLIENT)
    assert (bad_subid.cid, bad_subid.status) == (5, CAStatus.ECA_BADMONID)
    assert bad_subid.original_request.command == 2
    assert bad_subid.original_request.parameter2 == 999
    assert bad_subid.error_message == 'TST:cnt'
    assert bytes(bad_subid) == E13_BAD_SUBID
    assert bytes(cw.ErrorResponse(E13_BAD_SUBID[16:32], 5,
                                  CAStatus.ECA_BADMONID, 'TST:cnt')) == \
        E13_BAD_SUBID
    (bad_sid,) = parse_all(E13_BAD_SID, CLIENT)
    assert bad_sid.cid == 0xFFFFFFFF and bad_sid.status == CAStatus.ECA_INTERNAL
    assert bad_sid.error_message.startswith('Bad Resource ID')


# -- E14-E18: subscriptions, clear, echo, failure ------------------------------

E14_ADD = h('00010010 00140000 0000000a 00000001'
            '00000000 00000000 00000000 0005 0000')
E14_UPDATE = h('00010018 00140001 00000001 00000001'
               '0000 0000 45685674 2921514b 00000003 400921f9f01b866e')


def test_e14_subscription():
    (add,) = parse_all(E14_ADD, SERVER)
    assert (add.data_type, add.data_count, add.sid, add.subscriptionid,
            add.low, add.high, add.to, add.mask) == \
        (ChannelType.TIME_DOUBLE, 0, 10, 1, 0.0, 0.0, 0.0, 5)
    assert bytes(add) == E14_ADD
    assert bytes(cw.EventAddRequest(20, 0, 10, 1, 0, 0, 0, 5)) == E14_ADD
    (update,) = parse_all(E14_UPDATE, CLIENT)
    assert isinstance(update, cw.EventAddResponse)
    assert (update.subscriptionid, update.data[0]) == (1, 3.14159)
    assert update.status == CAStatus.ECA_NORMAL
    assert bytes(update) == E14_UPDATE
    rebuilt = cw.EventAddResponse(update.data, 20, 1, 1, 1,
                                  metadata=update.metadata)
    assert bytes(rebuilt) == zeroed(E14_UPDATE, (28, 32))


E15_CANCEL = h('00020000 00140000 00000000 00000001')
E15_ACK = h('00010000 00140000 00000000 00000001')


def test_e15_cancel():
    (cancel,) = parse_all(E15_CANCEL, SERVER)
    assert isinstance(cancel, cw.EventCancelRequest)
    assert bytes(cw.EventCancelRequest(20, 0, 1)) == E15_CANCEL
    (ack,) = parse_all(E15_ACK, CLIENT)
    assert isinstance(ack, cw.EventCancelResponse)
    assert (ack.data_type, ack.sid, ack.subscriptionid, ack.data_count) == \
        (ChannelType.TIME_DOUBLE, 0, 1, 0)
    assert bytes(cw.EventCancelResponse(20, 0, 1, 0)) == E15_ACK


def test_e16_e17_e18():
    clear = h('000c0000 00000000 00000000 00000001')
    (request,) = parse_all(clear, SERVER)
    (response,) = parse_all(clear, CLIENT)
    assert isinstance(request, cw.ClearChannelRequest)
    assert isinstance(response, cw.ClearChannelResponse)
    assert (request.sid, request.cid) == (response.sid, response.cid) == (0, 1)
    assert bytes(cw.ClearChannelRequest(0, 1)) == \
        bytes(cw.ClearChannelResponse(0, 1)) == clear
    echo = h('00170000 00000000 00000000 00000000')
    assert isinstance(parse_all(echo, SERVER)[0], cw.EchoRequest)
    assert isinstance(parse_all(echo, CLIENT)[0], cw.EchoResponse)
    assert bytes(cw.EchoRequest()) == bytes(cw.EchoResponse()) == echo
    fail = h('001a0000 00000000 00000003 00000000')
    (failed,) = parse_all(fail, CLIENT)
    assert isinstance(failed, cw.CreateChFailResponse) and failed.cid == 3
    assert bytes(cw.CreateChFailResponse(3)) == fail


# -- E19-E21: TCP search, beacons, repeater ------------------------------------

def test_e19_tcp_search():
    request_raw = h('00060008 000a000d 00000032 00000032') + b'NO:SUCH\0'
    (request,) = parse_all(request_raw, SERVER)
    assert (request.name, request.reply, request.cid) == ('NO:SUCH', 10, 50)
    assert bytes(cw.SearchRequest('NO:SUCH', 50, 13, reply=10)) == request_raw
    not_found_raw = h('000e0000 000a000d 00000032 00000032')
    (not_found,) = parse_all(not_found_raw, CLIENT)
    assert (not_found.version, not_found.cid) == (13, 50)
    assert bytes(cw.NotFoundResponse(13, 50)) == not_found_raw
    found_raw = h('00060000 88f80000 ffffffff 00000033')
    (found,) = parse_all(found_raw, CLIENT)
    assert (found.port, found.cid, found.version) == (35064, 51, None)
    assert cw.extract_address(found, ('127.0.0.1', 35064)) == \
        ('127.0.0.1', 35064)
    assert bytes(cw.SearchResponse(35064, None, 51, None)) == found_raw


@pytest.mark.parametrize('role', [CLIENT, SERVER])
def test_e20_beacons(role):
    first = h('000d0000 000d88f8 00000000 00000000')
    (beacon,) = read_datagram(first, ('127.0.0.1', 45000), role)
    assert isinstance(beacon, cw.RsrvIsUpResponse)
    assert (beacon.version, beacon.server_port, beacon.beacon_id,
            beacon.address) == (13, 35064, 0, '0.0.0.0')
    assert bytes(cw.RsrvIsUpResponse(13, 35064, 0, '0.0.0.0')) == first
    relayed = h('000d0000 000d88f8 00000009 7f000001')
    (beacon,) = read_datagram(relayed, ('127.0.0.1', 35065), role)
    assert (beacon.beacon_id, beacon.address) == (9, '127.0.0.1')
    assert bytes(cw.RsrvIsUpResponse(13, 35064, 9, '127.0.0.1')) == relayed


def test_e21_repeater():
    confirm_raw = h('00110000 00000000 00000000 7f000001')
    (confirm,) = read_datagram(confirm_raw, ('127.0.0.1', 35065), CLIENT)
    assert confirm.repeater_address == '127.0.0.1'
    assert bytes(cw.RepeaterConfirmResponse('127.0.0.1')) == confirm_raw
    register_raw = h('00180000 00000000 00000000 7f000001')
    (register,) = read_datagram(register_raw, ('127.0.0.1', 50000), SERVER)
    assert register.client_address == '127.0.0.1'
    assert bytes(cw.RepeaterRegisterRequest('127.0.0.1')) == register_raw
    noop = bytes(16)
    (version,) = read_datagram(noop, ('127.0.0.1', 35065), CLIENT)
    assert isinstance(version, cw.VersionResponse) and version.version == 0
    assert read_datagram(b'', ('127.0.0.1', 50000), SERVER) == []


# -- E22-E23: extended header, count 0 ------------------------------------------

def test_e22_extended_reply():
    values = (np.arange(10000) * 0.5).astype('>f8')
    raw = h('000fffff 00060000 00000001 00000069 00013880 00002710') + \
        values.tobytes()
    (reply,) = parse_all(raw, CLIENT)
    assert isinstance(reply.header, ExtendedMessageHeader)
    assert (reply.payload_size, reply.data_count, reply.ioid) == \
        (80000, 10000, 0x69)
    np.testing.assert_array_equal(reply.data, values)
    assert bytes(reply) == raw
    assert bytes(cw.ReadNotifyResponse(values, 6, 10000, 1, 0x69)) == raw
    for cut in (10, 16, 20, 24, 1000, len(raw) - 1):
        commands, consumed, needed = parse_stream(raw[:cut], CLIENT)
        assert commands == [] and consumed == 0
        assert needed == (16 if cut < 16 else 24 if cut < 24 else len(raw))


def test_e23_count_zero_reads():
    timed_raw = h('000f0010 00140000 00000001 00000065'
                  '0011 0003 00000000 00000000 00000003')
    (timed,) = parse_all(timed_raw, CLIENT)
    assert timed.data_count == 0 and len(timed.data) == 0
    assert timed.metadata.status == AlarmStatus.UDF
    assert timed.metadata.severity == AlarmSeverity.INVALID_ALARM
    assert bytes(timed) == timed_raw
    rebuilt = cw.ReadNotifyResponse([], 20, 0, 1, 0x65,
                                    metadata=timed.metadata)
    assert bytes(rebuilt) == zeroed(timed_raw, (28, 32))
    plain_raw = h('000f0000 00060000 00000001 00000066')
    (plain,) = parse_all(plain_raw, CLIENT)
    assert isinstance(plain, cw.ReadNotifyResponse)
    assert plain.data_count == 0 and len(plain.data) == 0
    assert plain.buffers[0] == b'' and len(plain.buffers[1]) == 0
    assert bytes(cw.ReadNotifyResponse([], 6, 0, 1, 0x66)) == plain_raw


def test_every_tcp_capture_in_one_stream_reassembles():
    server_stream = (E3 + E5_REQUEST + E10_WRITE + E10_REQUEST + E11_REQUEST
                     + E12_WRITE + E14_ADD + E15_CANCEL)
    client_stream = (E4 + E5_REPLY + E6_REPLY + E7_REPLY + E8_REPLY
                     + E9_REPLY + E10_REPLY + E11_REPLY + E13_ERROR
                     + E14_UPDATE + E15_ACK)
    check_reassembly(server_stream, SERVER)
    check_reassembly(client_stream, CLIENT)
