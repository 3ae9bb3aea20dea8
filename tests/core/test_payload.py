"""Encoding and decoding of DBR payloads (metadata + values).

Round trips for every DBR type 0..38 with counts 0, 1 and N, captured wire
payloads from ca-protocol.md section 9, garbage in pads, both value backends,
and property tests feeding random bytes to ``decode``.  The caproto oracle
checks are in test_payload_caproto.py.
"""
import array
import ctypes
import datetime
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cawire
from cawire import (DBR_TYPES, VALUE_OFFSET, AlarmSeverity, AlarmStatus,
                    ChannelType, RemoteProtocolError, decode, encode,
                    native_type)

from payload_helpers import (assert_metadata_equal, assert_values_equal,
                             make_metadata, samples, wire)

ALL_TYPES = list(ChannelType)
STRING_TYPES = sorted(cawire.STRING_VALUED_TYPES)


@pytest.fixture(params=['numpy', 'array'])
def backend(request):
    cawire.select_backend(request.param)
    try:
        yield request.param
    finally:
        cawire.select_backend('numpy')


# ---------------------------------------------------------------------------
# Round trips


@pytest.mark.parametrize('count', [0, 1, 5])
@pytest.mark.parametrize('data_type', ALL_TYPES)
def test_round_trip(data_type, count, backend):
    values = samples(data_type, count)
    metadata = make_metadata(data_type)
    buffers, data_count = encode(data_type, values, metadata=metadata)
    assert data_count == count
    assert len(buffers[0]) == VALUE_OFFSET[data_type]
    assert len(buffers[0]) + len(buffers[1]) == \
        cawire.payload_size(data_type, count)
    md, data = decode(data_type, count, memoryview(wire(buffers)))
    assert_metadata_equal(md, metadata)
    assert_values_equal(data, values, data_type)
    if data_type not in cawire.STRING_VALUED_TYPES:
        expected = np.ndarray if backend == 'numpy' else array.array
        assert isinstance(data, expected)
    else:
        assert all(type(item) is bytes for item in data)


@pytest.mark.parametrize('data_type', ALL_TYPES)
def test_metadata_defaults_to_zeros(data_type):
    buffers, _ = encode(data_type, samples(data_type, 1))
    assert buffers[0] == bytes(VALUE_OFFSET[data_type])


def test_numpy_values_are_read_only_views_of_the_payload():
    payload = bytearray(wire(encode(ChannelType.TIME_DOUBLE,
                                    np.arange(1000.0))[0]))
    md, data = decode(ChannelType.TIME_DOUBLE, 1000, memoryview(payload))
    assert data.dtype == np.dtype('>f8')
    assert np.shares_memory(data, np.frombuffer(payload, 'u1'))
    payload[16:24] = np.array([42.0], '>f8').tobytes()
    assert data[0] == 42.0
    # metadata is a copy, independent of the buffer
    payload[0:2] = b'\x00\x07'
    assert md.status == AlarmStatus.NO_ALARM
    _, frozen = decode(ChannelType.DOUBLE, 2, bytes(16))
    assert not frozen.flags.writeable


@pytest.mark.parametrize('data_type, dtype', [
    (ChannelType.INT, '>i2'), (ChannelType.FLOAT, '>f4'),
    (ChannelType.ENUM, '>u2'), (ChannelType.CHAR, 'u1'),
    (ChannelType.LONG, '>i4'), (ChannelType.DOUBLE, '>f8'),
    (ChannelType.PUT_ACKT, '>u2'), (ChannelType.PUT_ACKS, '>u2')])
def test_wire_dtypes(data_type, dtype):
    _, data = decode(data_type, 1, bytes(8))
    assert data.dtype == np.dtype(dtype)


def test_char_is_unsigned():
    _, data = decode(ChannelType.CHAR, 3, b'\xff\x80\x01' + bytes(5))
    assert list(data) == [255, 128, 1]


def test_time_metadata_timestamps():
    md, _ = decode(ChannelType.TIME_DOUBLE, 1,
                   wire(encode(20, 1.0, metadata=make_metadata(20))[0]))
    assert md.timestamp == pytest.approx(1730170312.355449, abs=1e-6)
    assert md.stamp.as_datetime() == datetime.datetime(
        2024, 10, 29, 2, 51, 52, 355449)
    assert md.stamp.as_datetime().tzinfo is None
    assert md.secondsSinceEpoch == 1099018312
    assert md.nanoSeconds == 355449000


# ---------------------------------------------------------------------------
# Captured wire payloads (ca-protocol.md section 9)


def test_e5_time_double_with_garbage_pad():
    payload = bytes.fromhex('0000 0000 45685674 2921514b 00000003 '
                            '400921f9f01b866e')
    md, data = decode(20, 1, payload)
    assert md.status is AlarmStatus.NO_ALARM
    assert md.severity is AlarmSeverity.NO_ALARM
    assert md.secondsSinceEpoch == 0x45685674
    assert md.nanoSeconds == 690049355
    assert md.timestamp == pytest.approx(1795617780.690049355, abs=1e-6)
    assert list(data) == [3.14159]
    # re-encoding sends a zero pad
    buffers, _ = encode(20, data, metadata=md)
    assert wire(buffers) == payload.replace(bytes.fromhex('00000003'),
                                            bytes(4))


def test_e6_ctrl_double():
    payload = bytes.fromhex(
        '0000 0000 0003 0000 6d6d000000000000'
        '4024000000000000 c024000000000000' + '7ff8000000000000' * 4 +
        '4024000000000000 c024000000000000 400921f9f01b866e')
    md, data = decode(34, 1, payload)
    assert md.precision == 3
    assert md.units == b'mm'
    assert (md.upper_disp_limit, md.lower_disp_limit) == (10.0, -10.0)
    assert (md.upper_ctrl_limit, md.lower_ctrl_limit) == (10.0, -10.0)
    for name in ('upper_alarm_limit', 'upper_warning_limit',
                 'lower_warning_limit', 'lower_alarm_limit'):
        assert math.isnan(getattr(md, name))
    assert list(data) == [3.14159]
    assert wire(encode(34, 3.14159, metadata=md)[0]) == payload


def test_e7_ctrl_enum():
    payload = (bytes.fromhex('0000 0000 0002') + b'Off'.ljust(26, b'\0') +
               b'On'.ljust(26, b'\0') + bytes(14 * 26) + b'\x00\x01')
    assert len(payload) == 424
    md, data = decode(31, 1, payload)
    assert md.no_str == 2
    assert md.enum_strings == (b'Off', b'On')
    assert list(data) == [1]
    assert wire(encode(31, 1, metadata=md)[0]) == payload


def test_e8_time_long():
    md, data = decode(19, 1, bytes.fromhex('0000 0000 45685674 292195d5 '
                                           'ffffffd6'))
    assert list(data) == [-42]
    assert md.nanoSeconds == 0x292195d5


def test_e9_string_with_garbage_after_nul():
    payload = b'hello\x00' + b'\xa5\x5a' * 17
    assert len(payload) == 40
    _, data = decode(0, 1, payload)
    assert data == [b'hello']


def test_e10_time_char_waveform():
    payload = (bytes.fromhex('0000 0000 45685679 19c80586 0000 00') +
               b'abc' + bytes(29) + bytes(1))
    md, data = decode(18, 32, payload)
    assert bytes(data[:4]) == b'abc\x00'
    assert cawire.char_array_to_str(data) == 'abc'
    udf = bytes.fromhex('0011 0003 00000000 00000000 0000 00') + bytes(33)
    md, _ = decode(18, 32, udf)
    assert md.status is AlarmStatus.UDF
    assert md.severity is AlarmSeverity.INVALID_ALARM
    assert md.timestamp == cawire.EPICS_EPOCH


def test_e12_short_scalar_string_write():
    # caput sends a scalar DBR_STRING as strlen+1 bytes padded to 8
    payload = bytes.fromhex('332e3500 00000000')
    assert decode(0, 1, payload) == (None, [b'3.5'])
    assert cawire.min_payload_size(0, 1) == 0
    assert encode(0, '3.5', short_string=True) == ((b'', b'3.5\x00'), 1)
    assert wire(encode(0, '3.5', short_string=True)[0]) == payload


def test_e23_count_zero_metadata_only():
    md, data = decode(20, 0, bytes.fromhex('0011 0003 00000000 00000000 '
                                           '00000003'))
    assert md.status is AlarmStatus.UDF
    assert len(data) == 0
    assert decode(6, 0, b'')[1].size == 0


# ---------------------------------------------------------------------------
# Garbage the peer may send


PAD_TYPES = [t for t in ALL_TYPES if DBR_TYPES[t] is not None and any(
    'pad' in name for name, _ in DBR_TYPES[t]._fields_)]


@pytest.mark.parametrize('data_type', PAD_TYPES)
def test_garbage_in_pad_bytes_is_ignored(data_type):
    metadata = make_metadata(data_type)
    values = samples(data_type, 3)
    clean = bytearray(wire(encode(data_type, values, metadata=metadata)[0]))
    cls = DBR_TYPES[data_type]
    for name, _ in cls._fields_:
        if 'pad' in name:
            field = getattr(cls, name)
            clean[field.offset:field.offset + field.size] = \
                b'\xa5' * field.size
    # trailing alignment pad too
    used = cawire.payload_size(data_type, 3)
    clean[used:] = b'\xff' * (len(clean) - used)
    md, data = decode(data_type, 3, bytes(clean))
    assert_metadata_equal(md, metadata)
    assert_values_equal(data, values, data_type)
    # what we send back has zero pads
    resent = wire(encode(data_type, data, metadata=md)[0])
    assert resent == wire(encode(data_type, values, metadata=metadata)[0])


@pytest.mark.parametrize('data_type', STRING_TYPES)
def test_string_elements_cut_at_first_nul(data_type):
    offset = VALUE_OFFSET[data_type]
    elements = [b'ab\x00garbage'.ljust(40, b'\xee'), b'z' * 40,
                b'\x00' + b'\xff' * 39]
    payload = bytes(offset) + b''.join(elements)
    _, data = decode(data_type, 3, payload)
    assert data == [b'ab', b'z' * 40, b'']


@pytest.mark.parametrize('data_type', ALL_TYPES)
def test_payload_too_short(data_type):
    needed = cawire.payload_size(data_type, 3)
    with pytest.raises(RemoteProtocolError, match='too short'):
        decode(data_type, 3, bytes(needed - 1))
    if VALUE_OFFSET[data_type]:
        with pytest.raises(RemoteProtocolError, match='too short'):
            decode(data_type, 0, bytes(VALUE_OFFSET[data_type] - 1))


@pytest.mark.parametrize('data_type', [-1, 39, 100, 0xFFFF, None, 'DOUBLE'])
def test_invalid_type(data_type):
    with pytest.raises(RemoteProtocolError, match='invalid DBR type'):
        decode(data_type, 1, bytes(64))
    with pytest.raises(cawire.CaprotoValueError, match='invalid DBR type'):
        encode(data_type, 1)


def test_negative_count():
    with pytest.raises(RemoteProtocolError, match='negative'):
        decode(6, -1, bytes(64))


# ---------------------------------------------------------------------------
# Text and encodings


def test_metadata_text_with_configurable_encoding():
    md = cawire.DBR_CTRL_ENUM()
    md.strs[0].value = 'z\u00e9ro'.encode('utf-8')
    md.strs[1].value = '\u00b5'.encode('utf-8')
    md.no_str = 2
    payload = bytes(md) + b'\x00\x01' + bytes(6)
    default, _ = decode(31, 1, payload)
    assert default.enum_strings == tuple(
        s.encode('utf-8') for s in ('z\u00e9ro', '\u00b5'))
    assert default.encoding == 'latin-1'
    utf8, _ = decode(31, 1, payload, encoding='utf-8')
    assert utf8.encoding == 'utf-8'
    assert tuple(text.decode(utf8.encoding) for text in utf8.enum_strings) \
        == ('z\u00e9ro', '\u00b5')
    gr = cawire.DBR_GR_DOUBLE()
    gr._units = '\u00b5m'.encode('utf-8')
    md, _ = decode(27, 1, bytes(gr) + bytes(8), encoding='utf-8')
    assert md.units.decode(md.encoding) == '\u00b5m'


def test_string_values_stay_bytes_and_decode_on_request():
    buffers, count = encode(0, ['z\u00e9ro', 'ok'], encoding='utf-8')
    _, data = decode(0, count, wire(buffers), encoding='utf-8')
    assert data == ['z\u00e9ro'.encode('utf-8'), b'ok']
    assert cawire.decode_strings(data, 'utf-8') == ['z\u00e9ro', 'ok']
    assert cawire.decode_strings([b'\xff'], 'utf-8') == ['\ufffd']
    latin, _ = encode(0, 'caf\u00e9')
    assert latin[1][:4] == b'caf\xe9'


# ---------------------------------------------------------------------------
# encode() inputs


def test_encode_accepts_scalars_sequences_and_arrays():
    assert encode(6, 1.5)[1] == 1
    assert encode(6, [1, 2, 3])[1] == 3
    assert encode(6, (1, 2))[1] == 2
    assert encode(6, np.float32(2.5))[1] == 1
    assert encode(6, np.array(2.5))[1] == 1
    assert encode(6, np.arange(6).reshape(2, 3))[1] == 6
    assert encode(6, array.array('d', [1, 2]))[1] == 2
    assert encode(6, None) == ((b'', b''), 0)
    assert encode(6, []) == ((b'', b''), 0)
    buffers, _ = encode(6, np.array([1.0, 2.0], dtype='<f8'))
    assert bytes(buffers[1]) == np.array([1.0, 2.0], '>f8').tobytes()
    buffers, _ = encode(1, np.array([1, -2], dtype=np.int64))
    assert bytes(buffers[1]) == b'\x00\x01\xff\xfe'
    assert bytes(encode(6, '3.5')[0][1]) == np.array([3.5], '>f8').tobytes()
    assert bytes(encode(3, True)[0][1]) == b'\x00\x01'


def test_encode_scalar_fast_path_matches_arrays(backend):
    for data_type in (1, 2, 3, 4, 5, 6, 20, 34):
        for value in (0, 1, 7, 200):
            scalar = encode(data_type, value)
            assert scalar[1] == 1
            as_list = encode(data_type, [value])
            assert bytes(scalar[0][1]) == bytes(as_list[0][1])
    assert bytes(encode(2, 1.5)[0][1]) == b'\x3f\xc0\x00\x00'
    assert bytes(encode(6, 2 ** 60)[0][1]) == \
        np.array([2.0 ** 60], '>f8').tobytes()
    for data_type, value in ((1, 2 ** 15), (3, 2 ** 16), (4, -1),
                             (5, 2 ** 31), (5, 2 ** 200)):
        with pytest.raises(cawire.CaprotoValueError, match='range|convert'):
            encode(data_type, value)


def test_float32_overflow_becomes_inf():
    assert bytes(encode(2, [1e300])[0][1]) == b'\x7f\x80\x00\x00'
    assert bytes(encode(2, [-1e300])[0][1]) == b'\xff\x80\x00\x00'


def test_encode_does_not_alias_the_callers_array():
    values = np.array([1.0, 2.0], dtype='>f8')
    buffers, _ = encode(6, values)
    values[0] = 99.0
    assert bytes(buffers[1]) == np.array([1.0, 2.0], '>f8').tobytes()


def test_encode_char():
    assert encode(4, b'ab\x00c') == ((b'', b'ab\x00c'), 4)
    assert encode(4, 'abc') == ((b'', b'abc\x00'), 4)
    assert encode(4, '\u00e9', encoding='utf-8') == ((b'', b'\xc3\xa9\x00'),
                                                     3)
    assert bytes(encode(4, [1, 255])[0][1]) == b'\x01\xff'
    assert encode(18, bytearray(b'xy'))[0][1] == b'xy'


def test_encode_strings():
    buffers, count = encode(0, ['a', b'b', 5, 2.5])
    assert count == 4
    assert buffers[1] == b''.join(s.ljust(40, b'\0')
                                  for s in (b'a', b'b', b'5', b'2.5'))
    assert encode(0, np.array(['x', 'y']))[1] == 2
    assert encode(0, 'x' * 39)[0][1] == b'x' * 39 + b'\0'
    with pytest.raises(cawire.CaprotoValueError, match='40-byte|fit'):
        encode(0, 'x' * 40)
    with pytest.raises(cawire.CaprotoValueError):
        encode(0, ['ok', '\u00e9' * 20], encoding='utf-8')
    with pytest.raises(cawire.CaprotoTypeError):
        encode(0, [object()])
    # the short form is only for a single element
    assert encode(0, ['a', 'b'], short_string=True)[0][1] == \
        b'a'.ljust(40, b'\0') + b'b'.ljust(40, b'\0')


@pytest.mark.parametrize('data_type, bad', [
    (ChannelType.DOUBLE, 'abc'), (ChannelType.INT, 70000),
    (ChannelType.INT, [1, 70000]), (ChannelType.INT, np.array([70000])),
    (ChannelType.ENUM, -1), (ChannelType.CHAR, [256]),
    (ChannelType.LONG, float('nan')), (ChannelType.LONG, 2 ** 40),
    (ChannelType.DOUBLE, [object()]), (ChannelType.DOUBLE, [None]),
    (ChannelType.DOUBLE, 1 + 2j), (ChannelType.FLOAT, np.array([1j])),
    (ChannelType.DOUBLE, [[1, 2], [3]]), (ChannelType.LONG, [2 ** 70]),
    (ChannelType.STRING, '\u20ac'), (ChannelType.CHAR, '\u20ac')])
def test_encode_unrepresentable_values(data_type, bad, backend):
    with pytest.raises(cawire.CaprotoValueError):
        encode(data_type, bad)


def test_text_numbers_are_parsed(backend):
    assert bytes(encode(6, ['1', 2, b'3'])[0][1]) == \
        np.array([1, 2, 3], '>f8').tobytes()
    assert bytes(encode(1, '7')[0][1]) == b'\x00\x07'


def test_metadata_text_that_cannot_be_encoded():
    with pytest.raises(cawire.CaprotoValueError, match='latin-1'):
        cawire.DBR_GR_INT(units='\u20ac')
    with pytest.raises(cawire.CaprotoValueError, match='latin-1'):
        cawire.DBR_GR_ENUM(enum_strings=['\u20ac'])


def test_encode_metadata_forms():
    md = make_metadata(20)
    ref = encode(20, 1.0, metadata=md)[0]
    assert encode(20, 1.0, metadata=bytes(md))[0] == ref
    as_tuple = (AlarmStatus.HIHI, AlarmSeverity.MAJOR_ALARM,
                cawire.TimeStamp(1099018312, 355449000))
    assert encode(20, 1.0, metadata=as_tuple)[0] == ref
    as_dict = dict(status=3, severity=2, stamp=cawire.TimeStamp(
        1099018312, 355449000))
    assert encode(20, 1.0, metadata=as_dict)[0] == ref
    with pytest.raises(cawire.CaprotoTypeError):
        encode(20, 1.0, metadata=cawire.DBR_TIME_LONG())
    with pytest.raises(cawire.CaprotoValueError, match='16 bytes'):
        encode(20, 1.0, metadata=b'\0' * 15)
    with pytest.raises(cawire.CaprotoValueError, match='no metadata'):
        encode(6, 1.0, metadata=md)
    with pytest.raises(cawire.CaprotoValueError):
        encode(20, 1.0, metadata=dict(no_such_field=1))
    with pytest.raises(cawire.CaprotoValueError):
        encode(20, 1.0, metadata=dict(_status=1))
    # text in a metadata dict uses the encoding
    buffers, _ = encode(34, 1.0, metadata=dict(units='\u00b5m', precision=2),
                        encoding='utf-8')
    md, _ = decode(34, 1, wire(buffers), encoding='utf-8')
    assert (md.units, md.precision) == ('\u00b5m'.encode('utf-8'), 2)
    buffers, _ = encode(31, 1, metadata=dict(enum_strings=['\u00e9t\u00e9']),
                        encoding='utf-8')
    md, _ = decode(31, 1, wire(buffers), encoding='utf-8')
    assert md.enum_strings == ('\u00e9t\u00e9'.encode('utf-8'),)
    assert md.encoding == 'utf-8'


# ---------------------------------------------------------------------------
# Property tests: decode never raises anything but RemoteProtocolError


@settings(max_examples=400, deadline=None)
@given(data_type=st.integers(min_value=0, max_value=38),
       data_count=st.integers(min_value=0, max_value=24),
       payload=st.binary(max_size=1200),
       kind=st.sampled_from([bytes, bytearray, memoryview]),
       encoding=st.sampled_from(['latin-1', 'utf-8', 'ascii']),
       backend_name=st.sampled_from(['numpy', 'array']))
def test_decode_random_bytes(data_type, data_count, payload, kind, encoding,
                             backend_name):
    cawire.select_backend(backend_name)
    try:
        md, data = decode(data_type, data_count, kind(payload),
                          encoding=encoding)
    except RemoteProtocolError:
        assert len(payload) < cawire.payload_size(data_type, data_count)
        return
    finally:
        cawire.select_backend('numpy')
    assert len(data) == data_count or (
        data_type in cawire.STRING_VALUED_TYPES and data_count == 1)
    if md is not None:
        # every property of garbage metadata is readable
        repr(md)
        md.to_dict()
        for name in ('units', 'enum_strings', 'timestamp'):
            if hasattr(type(md), name):
                getattr(md, name)
        if hasattr(md, 'stamp'):
            md.stamp.as_datetime()


@settings(max_examples=200, deadline=None)
@given(data_type=st.integers(min_value=-3, max_value=200),
       data_count=st.integers(min_value=-2, max_value=70000),
       payload=st.binary(max_size=300))
def test_decode_any_header_values(data_type, data_count, payload):
    try:
        decode(data_type, data_count, payload)
    except RemoteProtocolError:
        pass


ANY_VALUE = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=50),
    st.binary(max_size=50), st.complex_numbers(),
    st.lists(st.one_of(st.integers(), st.floats(), st.text(max_size=45),
                       st.binary(max_size=45), st.none()), max_size=8))


@settings(max_examples=500, deadline=None)
@given(data_type=st.integers(min_value=0, max_value=38), data=ANY_VALUE,
       encoding=st.sampled_from(['latin-1', 'utf-8', 'ascii']),
       short_string=st.booleans(),
       backend_name=st.sampled_from(['numpy', 'array']))
def test_encode_any_value(data_type, data, encoding, short_string,
                          backend_name):
    # encode either produces a payload that decodes to the same count, or
    # raises one of the project's errors: never a bare builtin exception.
    cawire.select_backend(backend_name)
    try:
        buffers, count = encode(data_type, data, encoding=encoding,
                                short_string=short_string)
    except (cawire.CaprotoValueError, cawire.CaprotoTypeError):
        return
    finally:
        cawire.select_backend('numpy')
    _, decoded = decode(data_type, count, wire(buffers))
    assert len(decoded) == count


@settings(max_examples=200, deadline=None)
@given(data_type=st.sampled_from([t for t in ALL_TYPES
                                  if native_type(t) == ChannelType.DOUBLE]),
       values=st.lists(st.floats(allow_nan=False), max_size=20))
def test_double_round_trip_property(data_type, values):
    buffers, count = encode(data_type, values)
    _, data = decode(data_type, count, wire(buffers))
    assert list(data) == values


@settings(max_examples=200, deadline=None)
@given(values=st.lists(st.binary(max_size=39).filter(
    lambda b: b'\x00' not in b), max_size=10))
def test_string_round_trip_property(values):
    buffers, count = encode(ChannelType.TIME_STRING, values)
    assert decode(ChannelType.TIME_STRING, count, wire(buffers))[1] == values


def test_decode_does_not_copy_large_arrays():
    payload = bytes(16) + bytes(8 * 1_000_000)
    _, data = decode(20, 1_000_000, payload)
    assert data.base is not None
    assert np.shares_memory(data, np.frombuffer(payload, 'u1'))
    assert ctypes.sizeof(cawire.DBR_TIME_DOUBLE) == 16
