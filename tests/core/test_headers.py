"""Message headers: layouts, the extended-header switch rule, fast packing."""
import ctypes
import struct

import pytest

from cawire.protocol._headers import (EXTENDED_HEADER_SIZE, HEADER_SIZE,
                             ExtendedMessageHeader, MessageHeader,
                             make_header, needs_extended_header, pack_header,
                             padded_length, unpack_header)


def test_sizes_and_field_offsets():
    assert ctypes.sizeof(MessageHeader) == HEADER_SIZE == 16
    assert ctypes.sizeof(ExtendedMessageHeader) == EXTENDED_HEADER_SIZE == 24
    offsets = {name: getattr(MessageHeader, name).offset
               for name, _ in MessageHeader._fields_}
    assert offsets == {'command': 0, 'payload_size': 2, 'data_type': 4,
                       'data_count': 6, 'parameter1': 8, 'parameter2': 12}
    ext = {name: getattr(ExtendedMessageHeader, name).offset
           for name, _ in ExtendedMessageHeader._fields_}
    assert ext['marker1'] == 2 and ext['marker2'] == 6
    assert ext['payload_size'] == 16 and ext['data_count'] == 20


def test_header_is_big_endian():
    header = MessageHeader(15, 8, 6, 1, 1, 0x01020304)
    assert bytes(header).hex() == '000f0008000600010000000101020304'


def test_repr():
    assert repr(MessageHeader(15, 8, 6, 1, 1, 0)) == (
        'MessageHeader(command=15, payload_size=8, data_type=6, '
        'data_count=1, parameter1=1, parameter2=0)')
    assert repr(make_header(15, 80000, 6, 10000, 1, 105)) == (
        'ExtendedMessageHeader(command=15, marker1=65535, data_type=6, '
        'marker2=0, parameter1=1, parameter2=105, payload_size=80000, '
        'data_count=10000)')


@pytest.mark.parametrize('payload_size, data_count, extended', [
    (0, 0, False),
    (0xFFF8, 1, False),          # largest aligned standard payload
    (0xFFFE, 0xFFFE, False),     # both just below the marker
    (0xFFFF, 0, True),           # == 0xFFFF switches (>=, not >)
    (0x10000, 1, True),
    (8, 0xFFFF, True),           # count alone can force it
    (8, 0x10000, True),
    (0xFFFFFFF0, 0xFFFFFFFF, True),
])
def test_switch_rule(payload_size, data_count, extended):
    assert needs_extended_header(payload_size, data_count) is extended
    raw = pack_header(15, payload_size, 6, data_count, 1, 2)
    assert len(raw) == (24 if extended else 16)
    header = make_header(15, payload_size, 6, data_count, 1, 2)
    assert bytes(header) == raw
    if extended:
        assert raw[2:4] == b'\xff\xff' and raw[6:8] == b'\x00\x00'
        assert struct.unpack('>II', raw[16:]) == (payload_size, data_count)
    fields, size = unpack_header(raw)
    assert size == len(raw)
    assert fields == (15, payload_size, 6, data_count, 1, 2)


def test_unpack_reports_needed_header_length():
    raw = pack_header(15, 80000, 6, 10000, 1, 105)
    for cut in range(16):
        assert unpack_header(raw[:cut]) == (None, 16)
    for cut in range(16, 24):
        assert unpack_header(raw[:cut]) == (None, 24)
    assert unpack_header(b'xx' + raw, 2)[1] == 24


def test_pack_rejects_out_of_range_fields():
    with pytest.raises(struct.error):
        pack_header(15, 8, 0x10000, 1, 0, 0)
    with pytest.raises(struct.error):
        pack_header(15, 8, 6, 1, -1, 0)
    with pytest.raises(struct.error):
        pack_header(15, 2 ** 32, 6, 1, 0, 0)


def test_padded_length():
    assert [padded_length(n) for n in (0, 1, 7, 8, 9, 16, 17)] == \
        [0, 8, 8, 8, 16, 16, 24]


def test_header_equality_and_parse_from_bytes():
    raw = bytes.fromhex('000f0008000600010000000100000000')
    assert MessageHeader.from_buffer_copy(raw) == MessageHeader(
        15, 8, 6, 1, 1, 0)
    assert MessageHeader(1, 0, 0, 0, 0, 0) != MessageHeader(2, 0, 0, 0, 0, 0)
