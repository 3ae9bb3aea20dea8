"""Property tests for the framing layer: random, truncated and corrupted
bytes fed to ``parse_stream`` and ``read_datagram`` in both roles.

The only acceptable outcomes are parsed commands, "need more data", or
``RemoteProtocolError``; whatever parses must also be usable (repr, bytes,
header, data) without any other exception, and must re-serialize to a
canonical form that parses back to itself.
"""
import tracemalloc

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from cawire.protocol import _commands as cw
from cawire.protocol._exceptions import RemoteProtocolError
from cawire.protocol._framing import parse_stream, read_datagram, serialize
from cawire.protocol._headers import pack_header
from cawire.protocol._state import CLIENT, REQUEST, RESPONSE, SERVER

ROLES = st.sampled_from([CLIENT, SERVER])
FUZZ = settings(max_examples=400, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])

u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
names = st.text(st.characters(min_codepoint=1, max_codepoint=255),
                min_size=0, max_size=60)


def exercise(command):
    """Touch everything a consumer may touch; only RemoteProtocolError may
    come out of a lazily decoded payload."""
    repr(command)
    raw = bytes(command)
    assert len(raw) == len(command) and len(raw) % 8 == 0
    command.header
    command.buffers
    if hasattr(type(command), 'data'):
        try:
            command.data
            command.metadata
        except RemoteProtocolError:
            pass
    return raw


def check_outcome(buf, role, **kwargs):
    """Run parse_stream; assert the outcome is one of the allowed three."""
    try:
        commands, consumed, needed = parse_stream(buf, role, **kwargs)
    except RemoteProtocolError as exc:
        event('RemoteProtocolError')
        assert 0 <= exc.consumed <= len(buf)
        for command in exc.commands:
            exercise(command)
        return None
    event(f'parsed {min(len(commands), 2)}+, need more: {needed > 0}')
    assert 0 <= consumed <= len(buf)
    if consumed == len(buf):
        assert needed == 0
    else:
        assert needed > len(buf) - consumed
    for command in commands:
        raw = exercise(command)
        # canonical form parses back to itself
        (again,), used, _ = parse_stream(raw, role)
        assert type(again) is type(command) and used == len(raw)
        assert bytes(again) == raw
    return commands, consumed, needed


@FUZZ
@given(buf=st.binary(max_size=400), role=ROLES)
def test_random_bytes(buf, role):
    check_outcome(buf, role)


@st.composite
def header_heavy_streams(draw):
    """Random headers (biased to real command ids and small, aligned sizes)
    followed by random payload bytes."""
    parts = []
    for _ in range(draw(st.integers(1, 5))):
        command = draw(st.one_of(st.integers(0, 27), st.integers(0, 27),
                                 st.integers(0, 27), u16))
        size = draw(st.one_of(st.integers(0, 12).map(lambda n: n * 8),
                              st.integers(0, 12).map(lambda n: n * 8),
                              st.integers(0, 100), u16))
        data_type = draw(st.one_of(st.integers(0, 40), u16))
        count = draw(st.one_of(st.integers(0, 2), st.integers(0, 4), u16))
        p1, p2 = draw(u32), draw(u32)
        extended = draw(st.booleans())
        if extended:
            header = pack_header(command, 0xFFFF, data_type, 0, p1, p2)[:16] \
                + size.to_bytes(4, 'big') + count.to_bytes(4, 'big')
        else:
            header = pack_header(command, min(size, 0xFFFE), data_type,
                                 min(count, 0xFFFE), p1, p2)
        payload = draw(st.binary(min_size=min(size, 200), max_size=200))
        parts.append(header + payload[:size])
    return b''.join(parts)


@FUZZ
@given(buf=header_heavy_streams(), role=ROLES)
def test_random_headers(buf, role):
    check_outcome(buf, role)


@FUZZ
@given(buf=header_heavy_streams(), role=ROLES)
def test_random_datagrams(buf, role):
    try:
        commands = read_datagram(buf, ('127.0.0.1', 5064), role)
    except RemoteProtocolError:
        return
    for command in commands:
        exercise(command)
        assert command.sender_address == ('127.0.0.1', 5064)


# -- valid streams, truncated and corrupted ----------------------------------

DBR_TYPE = st.integers(0, 38)


@st.composite
def data_values(draw, data_type):
    from cawire.protocol._enums import ChannelType, native_type
    base = native_type(data_type)
    count = draw(st.integers(0, 6))
    if base == ChannelType.STRING:
        return [draw(st.binary(max_size=39).map(
            lambda b: b.replace(b'\0', b'x'))) for _ in range(count)]
    if base in (ChannelType.FLOAT, ChannelType.DOUBLE):
        return [draw(st.floats(-1e30, 1e30)) for _ in range(count)]
    if base == ChannelType.CHAR:
        return bytes(draw(st.integers(0, 255)) for _ in range(count))
    if base == ChannelType.INT:
        return [draw(st.integers(-2 ** 15, 2 ** 15 - 1)) for _ in range(count)]
    if base == ChannelType.LONG:
        return [draw(st.integers(-2 ** 31, 2 ** 31 - 1)) for _ in range(count)]
    return [draw(st.integers(0, 0xFFFF)) for _ in range(count)]


@st.composite
def valid_commands(draw):
    kind = draw(st.integers(0, 16))
    if kind == 0:
        return cw.VersionRequest(draw(st.integers(0, 99)), draw(u16))
    if kind == 1:
        return cw.VersionResponse(draw(u16), sequence_id=draw(
            st.one_of(st.none(), u32)))
    if kind == 2:
        return cw.SearchRequest(draw(names), draw(u32), 13)
    if kind == 3:
        return cw.SearchResponse(draw(u16), draw(u32), draw(u32),
                                 draw(st.one_of(st.none(), u16)))
    if kind == 4:
        return cw.CreateChanRequest(draw(names), draw(u32), 13)
    if kind == 5:
        return cw.CreateChanResponse(draw(st.integers(0, 6)), draw(u32),
                                     draw(u32), draw(u32))
    if kind == 6:
        return cw.ErrorResponse(cw.ReadNotifyRequest(6, 1, draw(u32), 1),
                                draw(u32), draw(u32), draw(names))
    if kind == 7:
        return cw.EventAddRequest(draw(DBR_TYPE), draw(u32), draw(u32),
                                  draw(u32), 0, 0, 0, draw(u16))
    if kind == 8:
        return cw.EventCancelResponse(draw(DBR_TYPE), draw(u32), draw(u32),
                                      draw(u16))
    if kind == 9:
        return cw.AccessRightsResponse(draw(u32), draw(st.integers(0, 3)))
    if kind == 10:
        return cw.ClientNameRequest(draw(names))
    data_type = draw(DBR_TYPE)
    values = draw(data_values(data_type))
    cls = [cw.ReadNotifyResponse, cw.EventAddResponse, cw.ReadResponse,
           cw.WriteRequest, cw.WriteNotifyRequest, cw.WriteNotifyResponse
           ][kind - 11]
    if cls is cw.WriteNotifyResponse:
        return cls(data_type, draw(u32), draw(u32), draw(u32))
    if cls in (cw.ReadNotifyResponse, cw.EventAddResponse):
        command = cls(values, data_type, None, draw(u32), draw(u32))
    else:
        command = cls(values, data_type, None, draw(u32), draw(u32))
    # an empty EVENT_ADD reply is the cancel acknowledgement on the wire
    assume(not (cls is cw.EventAddResponse and command.payload_size == 0))
    return command


def receiving_role(command):
    return SERVER if command.DIRECTION is REQUEST else CLIENT


@st.composite
def valid_streams(draw):
    direction = draw(st.sampled_from([REQUEST, RESPONSE]))
    commands = draw(st.lists(valid_commands().filter(
        lambda c: c.DIRECTION is direction), min_size=1, max_size=6))
    role = SERVER if direction is REQUEST else CLIENT
    return commands, role


@FUZZ
@given(stream=valid_streams(), data=st.data())
def test_valid_stream_roundtrip_and_truncation(stream, data):
    commands, role = stream
    raw = b''.join(b''.join(bytes(b) for b in serialize(c)) for c in commands)
    parsed, consumed, needed = parse_stream(raw, role)
    assert (consumed, needed) == (len(raw), 0)
    assert [bytes(c) for c in parsed] == [bytes(c) for c in commands]
    assert [repr(c) for c in parsed] == [repr(c) for c in commands]
    cut = data.draw(st.integers(0, len(raw)))
    head, consumed, needed = parse_stream(raw[:cut], role)
    rest, consumed2, needed2 = parse_stream(raw[consumed:], role)
    assert (consumed2, needed2) == (len(raw) - consumed, 0)
    assert [bytes(c) for c in head + rest] == [bytes(c) for c in commands]
    if consumed < cut:
        assert needed > cut - consumed


@FUZZ
@given(stream=valid_streams(), data=st.data())
def test_corrupted_streams(stream, data):
    commands, role = stream
    raw = bytearray(b''.join(bytes(c) for c in commands))
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(raw) - 1))
        raw[position] = data.draw(st.integers(0, 255))
    check_outcome(bytes(raw), role)
    check_outcome(bytes(raw), CLIENT if role is SERVER else SERVER)
    try:
        read_datagram(bytes(raw), ('127.0.0.1', 1), role)
    except RemoteProtocolError:
        pass


# -- specific hostile inputs ---------------------------------------------------

def test_lying_payload_size_allocates_nothing():
    header = pack_header(15, 0xFFFFFFF8, 6, 0x1FFFFFFF, 1, 1)
    assert len(header) == 24
    tracemalloc.start()
    try:
        commands, consumed, needed = parse_stream(header + bytes(64), CLIENT)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (commands, consumed) == ([], 0)
    assert needed == 24 + 0xFFFFFFF8
    assert peak < 64 * 1024
    with pytest.raises(RemoteProtocolError, match='exceeds the limit'):
        parse_stream(header, CLIENT, max_payload=16 * 1024 * 1024)


def test_lying_count_is_too_short_not_an_allocation():
    # a complete message whose count claims 2**32-1 doubles in 8 bytes
    raw = pack_header(15, 8, 6, 0xFFFFFFFF, 1, 1) + bytes(8)
    with pytest.raises(RemoteProtocolError, match='too short'):
        parse_stream(raw, CLIENT)


@pytest.mark.parametrize('raw, role, match', [
    (pack_header(15, 12, 6, 1, 1, 1) + bytes(12), CLIENT, 'multiple of 8'),
    (pack_header(99, 0, 0, 0, 0, 0), CLIENT, 'command id 99'),
    (pack_header(4, 0, 0, 0, 0, 0), CLIENT, 'command id 4'),
    (pack_header(11, 0, 0, 0, 0, 0), SERVER, 'command id 11'),
    (pack_header(0xFFFF, 0, 0, 0, 0, 0), SERVER, 'command id 65535'),
])
def test_protocol_errors_are_clear(raw, role, match):
    with pytest.raises(RemoteProtocolError, match=match):
        parse_stream(raw, role)


def test_errors_are_raised_before_waiting_for_the_payload():
    # unknown command with a huge declared payload: no need to wait for it
    raw = pack_header(200, 0xFFF8, 0, 0, 0, 0)
    with pytest.raises(RemoteProtocolError):
        parse_stream(raw, CLIENT)


def test_good_commands_before_a_bad_one_are_kept_on_the_exception():
    good = bytes(cw.EchoResponse()) + bytes(cw.VersionResponse(13))
    bad = pack_header(15, 12, 6, 1, 1, 1) + bytes(12)
    with pytest.raises(RemoteProtocolError) as info:
        parse_stream(good + bad, CLIENT)
    assert [type(c) for c in info.value.commands] == \
        [cw.EchoResponse, cw.VersionResponse]
    assert info.value.consumed == len(good)


def test_truncated_datagram_is_an_error():
    raw = bytes(cw.SearchRequest('TST:ai', 1, 13))
    with pytest.raises(RemoteProtocolError, match='truncated'):
        read_datagram(raw[:-3], ('127.0.0.1', 1), SERVER)


def test_bad_text_is_not_an_error():
    raw = (pack_header(18, 8, 0, 0, 1, 13) + b'\xff\xfe\x80abc\0\xff')
    (command,), _, _ = parse_stream(raw, SERVER)
    assert command.name == '\xff\xfe\x80abc'
    error = (pack_header(11, 24, 0, 0, 1, 142) + bytes(16) + b'\xc3(\xff\0' +
             bytes(4))
    (command,), _, _ = parse_stream(error, CLIENT)
    assert command.error_message == '\xc3(\xff'


def test_payload_views_share_the_input_buffer():
    values = np.arange(4096, dtype='>f8')
    raw = bytearray(bytes(cw.ReadNotifyResponse(values, 6, None, 1, 1)) * 3)
    commands, consumed, needed = parse_stream(raw, CLIENT)
    assert len(commands) == 3 and needed == 0
    for command in commands:
        assert command.buffers[1].obj is raw
        assert np.shares_memory(command.data, np.frombuffer(raw, 'u1'))


def test_memoryview_and_bytearray_inputs():
    raw = bytes(cw.EchoResponse()) * 2
    for buf in (raw, bytearray(raw), memoryview(raw),
                memoryview(bytearray(raw))[0:32]):
        commands, consumed, needed = parse_stream(buf, CLIENT)
        assert len(commands) == 2 and consumed == 32 and needed == 0


def test_bad_role_is_our_error():
    from cawire.protocol._exceptions import LocalProtocolError
    with pytest.raises(LocalProtocolError):
        parse_stream(b'', 'client')
