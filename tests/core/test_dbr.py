"""DBR metadata structures: layouts, size tables and properties.

Offsets are the ones of ca-protocol.md 5.3/5.4 (db_access.h); caproto is an
independent oracle for the structure sizes.
"""
import ctypes
import math

import caproto
import pytest
from caproto import _dbr as caproto_dbr

import cawire
from cawire import (DBR_SIZE, DBR_TYPES, VALUE_OFFSET, VALUE_SIZE,
                    AlarmSeverity, AlarmStatus, ChannelType, TimeStamp)
from cawire.protocol import _dbr

# ca-protocol.md 5.4, copied literally.
SHEET_SIZE = [40, 2, 4, 2, 1, 4, 8, 44, 6, 8, 6, 6, 8, 16, 52, 16, 16, 16,
              16, 16, 24, 44, 26, 44, 424, 20, 40, 72, 44, 30, 52, 424, 22,
              48, 88, 2, 2, 48, 40]
SHEET_VALUE_SIZE = [40, 2, 4, 2, 1, 4, 8, 40, 2, 4, 2, 1, 4, 8, 40, 2, 4, 2,
                    1, 4, 8, 40, 2, 4, 2, 1, 4, 8, 40, 2, 4, 2, 1, 4, 8, 2, 2,
                    40, 40]
SHEET_VALUE_OFFSET = [0, 0, 0, 0, 0, 0, 0, 4, 4, 4, 4, 5, 4, 8, 12, 14, 12,
                      14, 15, 12, 16, 4, 24, 40, 422, 19, 36, 64, 4, 28, 48,
                      422, 21, 44, 80, 0, 0, 8, 0]

# ca-protocol.md 5.3: (type, field, offset) of every named field.
STATUS = [('_status', 0), ('_severity', 2)]
TIME = STATUS + [('stamp', 4)]
LIMITS = ('upper_disp_limit', 'lower_disp_limit', 'upper_alarm_limit',
          'upper_warning_limit', 'lower_warning_limit', 'lower_alarm_limit',
          'upper_ctrl_limit', 'lower_ctrl_limit')


def _limits(start, step, count):
    return [(name, start + i * step) for i, name in
            enumerate(LIMITS[:count])]


FIELD_OFFSETS = {
    'STS_CHAR': STATUS + [('RISC_pad', 4)],
    'STS_DOUBLE': STATUS + [('RISC_pad', 4)],
    'TIME_INT': TIME + [('RISC_pad', 12)],
    'TIME_ENUM': TIME + [('RISC_pad', 12)],
    'TIME_CHAR': TIME + [('RISC_pad0', 12), ('RISC_pad1', 14)],
    'TIME_DOUBLE': TIME + [('RISC_pad', 12)],
    'TIME_FLOAT': TIME,
    'TIME_LONG': TIME,
    'TIME_STRING': TIME,
    'GR_INT': STATUS + [('_units', 4)] + _limits(12, 2, 6),
    'GR_FLOAT': STATUS + [('precision', 4), ('RISC_pad0', 6),
                          ('_units', 8)] + _limits(16, 4, 6),
    'GR_ENUM': STATUS + [('no_str', 4), ('strs', 6)],
    'GR_CHAR': STATUS + [('_units', 4)] + _limits(12, 1, 6) +
    [('RISC_pad', 18)],
    'GR_LONG': STATUS + [('_units', 4)] + _limits(12, 4, 6),
    'GR_DOUBLE': STATUS + [('precision', 4), ('RISC_pad0', 6),
                           ('_units', 8)] + _limits(16, 8, 6),
    'CTRL_INT': STATUS + [('_units', 4)] + _limits(12, 2, 8),
    'CTRL_FLOAT': STATUS + [('precision', 4), ('RISC_pad0', 6),
                            ('_units', 8)] + _limits(16, 4, 8),
    'CTRL_ENUM': STATUS + [('no_str', 4), ('strs', 6)],
    'CTRL_CHAR': STATUS + [('_units', 4)] + _limits(12, 1, 8) +
    [('RISC_pad', 20)],
    'CTRL_LONG': STATUS + [('_units', 4)] + _limits(12, 4, 8),
    'CTRL_DOUBLE': STATUS + [('precision', 4), ('RISC_pad0', 6),
                             ('_units', 8)] + _limits(16, 8, 8),
    'STSACK_STRING': STATUS + [('ackt', 4), ('acks', 6)],
}


def test_size_tables_match_the_sheet():
    assert DBR_SIZE == SHEET_SIZE
    assert VALUE_SIZE == SHEET_VALUE_SIZE
    assert VALUE_OFFSET == SHEET_VALUE_OFFSET


@pytest.mark.parametrize('data_type', list(ChannelType))
def test_structure_size_is_value_offset(data_type):
    cls = DBR_TYPES[data_type]
    if data_type < 7 or data_type in (35, 36, 38):
        assert cls is None
        assert VALUE_OFFSET[data_type] == 0
        return
    assert cls.__name__ == f'DBR_{data_type.name}'
    assert cls.DBR_ID == data_type
    assert ctypes.sizeof(cls) == VALUE_OFFSET[data_type]
    assert issubclass(cls, ctypes.BigEndianStructure)
    assert getattr(cawire, cls.__name__) is cls


@pytest.mark.parametrize('name', sorted(FIELD_OFFSETS))
def test_field_offsets(name):
    cls = getattr(_dbr, f'DBR_{name}')
    for field, offset in FIELD_OFFSETS[name]:
        assert getattr(cls, field).offset == offset, field


@pytest.mark.parametrize('data_type', [t for t in range(7, 37)
                                       if t not in (28, 35, 36)])
def test_sizes_agree_with_caproto(data_type):
    # caproto lays CTRL_STRING out as TIME_STRING (db_access.h: STS layout)
    # and keeps the value inside its PUT_ACK*/STSACK/CLASS_NAME structures,
    # so those are left out.
    theirs = caproto._dbr.DBR_TYPES[data_type]
    assert ctypes.sizeof(theirs) == ctypes.sizeof(DBR_TYPES[data_type])


def test_payload_size_and_padding():
    assert cawire.payload_size(ChannelType.TIME_DOUBLE, 0) == 16
    assert cawire.payload_size(ChannelType.TIME_DOUBLE, 1) == 24
    assert cawire.payload_size(ChannelType.TIME_DOUBLE, 10) == 96
    assert cawire.payload_size(ChannelType.DOUBLE, 0) == 0
    assert cawire.payload_size(ChannelType.TIME_CHAR, 32) == 47
    assert cawire.payload_size(ChannelType.CTRL_ENUM, 1) == 424
    for t in range(39):
        assert cawire.payload_size(t, 1) == DBR_SIZE[t]
    assert [cawire.padded(n) for n in (0, 1, 7, 8, 9, 47, 424)] == \
        [0, 8, 8, 8, 16, 48, 424]


# ---------------------------------------------------------------------------
# Properties


def test_status_and_severity_are_enums():
    md = cawire.DBR_TIME_DOUBLE(status=AlarmStatus.HIHI,
                                severity=AlarmSeverity.MAJOR_ALARM)
    assert md.status is AlarmStatus.HIHI
    assert md.severity is AlarmSeverity.MAJOR_ALARM
    assert bytes(md)[:4] == b'\x00\x03\x00\x02'


def test_garbage_status_does_not_raise():
    md = cawire.DBR_STS_LONG.from_buffer_copy(b'\x7f\xff\xff\xfe')
    assert md.status == 0x7fff
    assert md.severity == -2
    repr(md)


def test_time_fields_share_memory_with_stamp():
    md = cawire.DBR_TIME_DOUBLE()
    md.stamp.secondsSinceEpoch = 10
    md.nanoSeconds = 500_000_000
    assert md.secondsSinceEpoch == 10
    assert md.stamp == TimeStamp(10, 500_000_000)
    assert md.timestamp == 631152010.5
    assert bytes(md)[4:12] == bytes.fromhex('0000000a 1dcd6500')
    md.timestamp = 631152020.25
    assert tuple(md.stamp) == (20, 250_000_000)
    md.stamp = TimeStamp(1, 2)
    assert tuple(md.stamp) == (1, 2)


def test_time_double_repr_matches_tutorial():
    md = cawire.DBR_TIME_DOUBLE()
    md.timestamp = 1730170312.355449
    assert repr(md) == (
        'DBR_TIME_DOUBLE(status=<AlarmStatus.NO_ALARM: 0>, '
        'severity=<AlarmSeverity.NO_ALARM: 0>, timestamp=1730170312.355449)')


def test_units_are_bytes_as_in_caproto():
    md = cawire.DBR_CTRL_DOUBLE(units='mm', precision=3)
    assert md.units == b'mm'
    theirs = caproto_dbr.DBR_CTRL_DOUBLE()
    theirs.units = b'mm'
    assert type(md.units) is type(theirs.units) and md.units == theirs.units
    assert md.units.decode() == 'mm'
    # bytes are accepted as in caproto, str as a convenience
    md.units = b'V'
    assert md.units == b'V'
    # longer units are truncated as RSRV does, keeping the NUL
    md.units = 'millimeters'
    assert md.units == b'millime'
    raw = cawire.DBR_GR_LONG()
    raw._units = '\u00b5m'.encode('utf-8')
    assert raw.units == '\u00b5m'.encode('utf-8')
    assert raw.units.decode(raw.encoding) == '\u00b5m'.encode(
        'utf-8').decode('latin-1')
    # str is encoded with the structure's encoding
    raw.encoding = 'utf-8'
    raw.units = '\u00b5m'
    assert raw.units == b'\xc2\xb5m'
    with pytest.raises(cawire.CaprotoValueError):
        cawire.DBR_GR_LONG(units='\u20ac')  # not latin-1


def test_nan_limits():
    md = cawire.DBR_CTRL_DOUBLE(upper_alarm_limit=float('nan'))
    assert math.isnan(md.upper_alarm_limit)
    assert 'upper_alarm_limit=nan' in repr(md)


def test_char_limits_are_unsigned():
    md = cawire.DBR_CTRL_CHAR(upper_disp_limit=255, lower_ctrl_limit=200)
    assert md.upper_disp_limit == 255
    assert md.lower_ctrl_limit == 200


def test_enum_strings():
    md = cawire.DBR_CTRL_ENUM(enum_strings=['Off', 'On', ''])
    assert md.no_str == 3
    assert md.enum_strings == (b'Off', b'On', b'')
    theirs = caproto_dbr.DBR_CTRL_ENUM()
    theirs.enum_strings = [b'Off', b'On', b'']
    assert md.enum_strings == theirs.enum_strings
    assert type(md.enum_strings[0]) is type(theirs.enum_strings[0])
    assert repr(md) == repr(theirs)
    assert repr(md).endswith("enum_strings=(b'Off', b'On', b''))")
    raw = bytes(md)
    assert raw[4:6] == b'\x00\x03'
    assert raw[6:9] == b'Off' and raw[9:32] == bytes(23)
    assert raw[32:34] == b'On'
    # 25 bytes + NUL fit; longer strings are truncated to 25
    md.enum_strings = ['x' * 30]
    assert md.enum_strings == (b'x' * 25,)
    with pytest.raises(cawire.CaprotoValueError):
        md.enum_strings = ['s'] * 17


@pytest.mark.parametrize('no_str', [-1, 0, 16, 17, 0x7fff])
def test_enum_strings_with_garbage_count(no_str):
    md = cawire.DBR_GR_ENUM(no_str=no_str)
    md.strs[15].value = b'last'
    expected = min(max(no_str, 0), 16)
    assert len(md.enum_strings) == expected
    if expected == 16:
        assert md.enum_strings[15] == b'last'


def test_enum_strings_decoding_with_encoding():
    md = cawire.DBR_GR_ENUM()
    md.strs[0].value = 'caf\u00e9'.encode('utf-8')
    md.no_str = 1
    assert md.enum_strings == ('caf\u00e9'.encode('utf-8'),)
    assert md.encoding == 'latin-1'
    md.encoding = 'utf-8'
    md.enum_strings = ['\u00e9t\u00e9']
    assert md.enum_strings == ('\u00e9t\u00e9'.encode('utf-8'),)


def test_stsack_string():
    md = cawire.DBR_STSACK_STRING(status=AlarmStatus.STATE,
                                  severity=AlarmSeverity.MINOR_ALARM,
                                  ackt=1, acks=2)
    assert bytes(md) == bytes.fromhex('0007 0001 0001 0002')
    assert repr(md) == ('DBR_STSACK_STRING(status=<AlarmStatus.STATE: 7>, '
                        'severity=<AlarmSeverity.MINOR_ALARM: 1>, ackt=1, '
                        'acks=2)')


def test_to_dict():
    md = cawire.DBR_GR_FLOAT(precision=2, units='V', upper_disp_limit=5.0)
    d = md.to_dict()
    assert d['precision'] == 2 and d['units'] == b'V'
    assert d['upper_disp_limit'] == 5.0
    assert list(d)[:2] == ['status', 'severity']
