"""Value conversions of the server (cawire.server._conversion).

The expected strings of ``format_double`` were read from a real EPICS 7.0.8
softIoc (``caget -d DBR_STRING`` of ai records with the given PREC).
"""
import math

import numpy as np
import pytest

from cawire import ChannelType
from cawire.protocol._exceptions import CaprotoConversionError
from cawire.server._conversion import (convert_values, format_double,
                                       parse_float, parse_integer)

CT = ChannelType
NUMERIC = (CT.INT, CT.FLOAT, CT.ENUM, CT.CHAR, CT.LONG, CT.DOUBLE)


@pytest.mark.parametrize('value, precision, expected', [
    (3.14159, 3, '3.142'),
    (1500000000, 3, '1500000000.000'),
    (12345678.9, 2, '12345678.90'),
    (1.0, 10, ' 1.0000000000e+00'),
    (0.00001234, 2, '0.00'),
    (-2.5, 0, '-3'),
    (math.nan, 2, 'nan'),
    (99999999.5, 1, '99999999.5'),
    (123456789.123, 4, '123456789.123'),
    (1e20, 20, ' 1.00000000000000000e+20'),
    (0.5, -1, ' 5.00000000000000000e-01'),
    (-1e-10, 3, '-0.000'),
    (2.5, 0, '3'),
    (math.inf, 3, '       inf'),
    (0.15, 1, '0.2'),
    (1e15, 2, '1000000000000000.00'),
    (1e16, 2, '10000000000000000.00'),
    (1e17, 2, ' 1.00e+17'),
    (12345678.123456, 5, '12345678.123'),
    (1234.56789, 8, '1234.56789000'),
    (-1e9, 6, '-1000000000.000'),
    (-math.inf, 2, '     -inf'),
    (10000000.5, 0, '10000000'),
    (9999999.96, 1, '10000000.0'),
    (1e300, 1, '1.0e+300'),
    (0.123456789, 8, '0.12345679'),
    (1e-300, 9, '1.000000000e-300'),
    (1e8, 8, '100000000.000'),
    (123.456, 9, ' 1.234560000e+02'),
])
def test_format_double_matches_softioc(value, precision, expected):
    assert format_double(value, precision) == expected


@pytest.mark.parametrize('text, expected', [
    ('77', 77), ('3.7', 3), ('1e3', 1), ('0x10', 0), ('-5', -5), ('', 0),
    ('  12abc', 12), ('+4', 4)])
def test_parse_integer_like_dbconvert(text, expected):
    assert parse_integer(text) == expected


@pytest.mark.parametrize('text', ['abc', 'x1', '-', '.'])
def test_parse_integer_rejects_non_numbers(text):
    with pytest.raises(CaprotoConversionError):
        parse_integer(text)


@pytest.mark.parametrize('text, expected', [
    ('3.5', 3.5), ('-1e3', -1000.0), ('.5', 0.5), ('0x10', 16.0), ('', 0.0),
    ('2.5 mm', 2.5), ('inf', math.inf)])
def test_parse_float(text, expected):
    assert parse_float(text) == expected


def test_parse_float_nan_and_errors():
    assert math.isnan(parse_float('NaN'))
    with pytest.raises(CaprotoConversionError):
        parse_float('abc')


@pytest.mark.parametrize('source', NUMERIC)
@pytest.mark.parametrize('target', NUMERIC)
def test_numeric_to_numeric_gives_target_dtype(source, target):
    values = np.array([1, 2, 3]).astype(
        {CT.INT: np.int16, CT.FLOAT: np.float32, CT.ENUM: np.uint16,
         CT.CHAR: np.uint8, CT.LONG: np.int32, CT.DOUBLE: np.float64}[source])
    result = convert_values(values, source, target)
    assert result.tolist() == [1, 2, 3]
    assert result.dtype == {CT.INT: np.int16, CT.FLOAT: np.float32,
                            CT.ENUM: np.uint16, CT.CHAR: np.uint8,
                            CT.LONG: np.int32, CT.DOUBLE: np.float64}[target]


def test_float_to_integer_truncates_and_narrowing_wraps():
    # NaN (and anything beyond 32 bits) becomes INT_MIN, as a softIoc on
    # x86-64 stores it (then narrowed: 0 for CHAR).
    doubles = np.array([2.9, -2.9, 300.0, math.nan, 4e9])
    assert convert_values(doubles, CT.DOUBLE, CT.LONG).tolist() == [
        2, -2, 300, -2147483648, -2147483648]
    assert convert_values(doubles, CT.DOUBLE, CT.CHAR).tolist() == [
        2, 254, 44, 0, 0]
    assert convert_values(np.array([1e40, -1e40, math.inf]), CT.DOUBLE,
                          CT.FLOAT).tolist() == [
        float(np.finfo(np.float32).max), -float(np.finfo(np.float32).max),
        math.inf]
    longs = np.array([70000, -1], dtype=np.int32)
    assert convert_values(longs, CT.LONG, CT.INT).tolist() == [4464, -1]
    assert convert_values(longs, CT.LONG, CT.ENUM).tolist() == [4464, 65535]


def test_numbers_to_strings():
    assert convert_values(np.array([3.14159]), CT.DOUBLE, CT.STRING,
                          precision=3) == ['3.142']
    assert convert_values(np.array([2.5], dtype=np.float32), CT.FLOAT,
                          CT.STRING, precision=2) == ['2.50']
    assert convert_values(np.array([-42], dtype=np.int32), CT.LONG,
                          CT.STRING) == ['-42']
    assert convert_values(np.array([200], dtype=np.uint8), CT.CHAR,
                          CT.STRING) == ['200']


def test_enum_and_strings_both_ways():
    states = ('Zero', 'One', 'Two')
    indices = np.array([2, 0, 7], dtype=np.uint16)
    assert convert_values(indices, CT.ENUM, CT.STRING,
                          enum_strings=states) == ['Two', 'Zero', '']
    assert convert_values(['One', '2', 'Zero'], CT.STRING, CT.ENUM,
                          enum_strings=states).tolist() == [1, 2, 0]
    with pytest.raises(CaprotoConversionError):
        convert_values(['Four'], CT.STRING, CT.ENUM, enum_strings=states)


def test_strings_to_numbers():
    assert convert_values(['3.5', '-1'], CT.STRING, CT.DOUBLE).tolist() == [3.5, -1.0]
    assert convert_values(['3.7'], CT.STRING, CT.LONG).tolist() == [3]
    # Text out of the field's range is refused (softIoc: put fails), never
    # wrapped; unsigned types accept a negative magnitude that fits.
    assert convert_values(['-1'], CT.STRING, CT.CHAR).tolist() == [255]
    for text, to_type in (('300', CT.CHAR), ('70000', CT.INT),
                          ('2147483648', CT.LONG), ('1e40', CT.FLOAT),
                          (' ', CT.LONG)):
        with pytest.raises(CaprotoConversionError):
            convert_values([text], CT.STRING, to_type)
    assert convert_values([''], CT.STRING, CT.INT).tolist() == [0]
    with pytest.raises(CaprotoConversionError):
        convert_values([''], CT.STRING, CT.INT, empty_is_zero=False)
    with pytest.raises(CaprotoConversionError):
        convert_values(['abc'], CT.STRING, CT.FLOAT)


def test_long_string_char_array_as_text():
    raw = np.frombuffer(b'hello\0junk', dtype=np.uint8)
    assert convert_values(raw, CT.CHAR, CT.STRING, char_as_text=True) == ['hello']
    back = convert_values(['hi'], CT.STRING, CT.CHAR, char_as_text=True)
    assert bytes(back) == b'hi\0'
    # Without the long-string flag each element is a number, as RSRV does.
    assert convert_values(raw[:2], CT.CHAR, CT.STRING) == ['104', '101']
