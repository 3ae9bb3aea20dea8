"""Sample values, metadata and wire helpers for the payload tests (shared by
test_payload*.py; not a test module)."""
import math

import numpy as np

import cawire
from cawire import (DBR_TYPES, AlarmSeverity, AlarmStatus, ChannelType,
                    native_type)

SAMPLES = {
    ChannelType.STRING: [b'', b'a', b'hello world', b'x' * 39,
                         'caf\u00e9'.encode('latin-1'), b'sp ace'],
    ChannelType.INT: [0, -1, 32767, -32768, 12, 7],
    ChannelType.FLOAT: [0.0, -1.5, 3.25, 2.0 ** 100, -0.0, float('nan')],
    ChannelType.ENUM: [0, 1, 15, 65535, 2, 3],
    ChannelType.CHAR: [0, 1, 127, 128, 255, 65],
    ChannelType.LONG: [0, -1, 2 ** 31 - 1, -2 ** 31, 42, 5],
    ChannelType.DOUBLE: [0.0, -1.5, math.pi, 1e300, float('nan'),
                         float('-inf')],
}


def samples(data_type, count):
    return SAMPLES[native_type(data_type)][:count]


def make_metadata(data_type):
    """A metadata instance of ``data_type`` with every field non-default."""
    cls = DBR_TYPES[data_type]
    if cls is None:
        return None
    md = cls(status=AlarmStatus.HIHI, severity=AlarmSeverity.MAJOR_ALARM)
    if hasattr(md, 'stamp'):
        md.stamp = cawire.TimeStamp(1099018312, 355449000)
    if hasattr(md, '_units'):
        md.units = 'mm'
        base = native_type(data_type)
        for i, (name, _) in enumerate(
                f for f in cls._fields_ if f[0].endswith('_limit')):
            value = 10 + i
            if base in (ChannelType.FLOAT, ChannelType.DOUBLE):
                value = value + 0.5 if i != 2 else float('nan')
            setattr(md, name, value)
    if hasattr(md, 'precision'):
        md.precision = 3
    if hasattr(md, 'no_str'):
        md.enum_strings = ['Off', 'On', '', 'Maybe']
    if hasattr(md, 'ackt'):
        md.ackt, md.acks = 1, 2
    return md


def same(a, b):
    """Equality that treats NaN as equal to NaN."""
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    return a == b


def assert_metadata_equal(ours, expected):
    if expected is None:
        assert ours is None
        return
    assert type(ours) is type(expected)
    got, want = ours.to_dict(), expected.to_dict()
    assert got.keys() == want.keys()
    for key in want:
        assert same(got[key], want[key]), key


def assert_values_equal(data, expected, data_type):
    if data_type in cawire.STRING_VALUED_TYPES:
        assert data == list(expected)
        return
    assert len(data) == len(expected)
    np.testing.assert_array_equal(np.asarray(data, dtype=float),
                                  np.asarray(expected, dtype=float))


def wire(buffers):
    """Payload as a peer sends it: metadata, values, zero pad to 8."""
    payload = b''.join(bytes(b) for b in buffers)
    return payload + bytes(-len(payload) % 8)
