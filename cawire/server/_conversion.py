"""Value conversion between the native type of a PV and a requested type.

A CA client may read or write a channel as any of the seven base types
(STRING, SHORT, FLOAT, ENUM, CHAR, LONG, DOUBLE) whatever the channel's own
(native) type is; the server converts.  The rules follow RSRV/dbConvert so
that EPICS tools see the same text and numbers as from a C IOC:

* numbers to STRING: doubles and floats are formatted with the channel's
  precision by :func:`format_double` (a port of base's ``cvtDoubleToString``
  semantics, including its rounding and its ``-0.000``), integers with ``%d``;
* ENUM to STRING gives the state string; STRING to ENUM accepts a state
  string or an index;
* STRING to integer parses a leading base-10 integer as the scalar put
  path of a C IOC does (``"3.7"`` gives 3, ``"1e3"`` gives 1, ``"abc"`` and
  ``" "`` are refused, ``""`` is 0 for a scalar and refused for an array) and
  refuses text out of the field's range (``"70000"`` to a SHORT, ``"256"``
  to a CHAR) instead of wrapping it;
* STRING to floating point parses a leading float (hex and ``inf``/``nan``
  included); a FLOAT refuses text beyond its range;
* numbers to integers behave like the C casts of an x86-64 IOC: floating
  point truncates through a 32-bit integer (NaN, infinities and values out
  of the 32-bit range give -2147483648) and wide integers keep their low
  bits; DOUBLE to FLOAT clamps finite values to +-FLT_MAX;
* numbers written to a STRING field are formatted as a stringout stores
  them (``%d`` for integers and enum indices, 6 digits of precision for
  FLOAT and DOUBLE).

Values travel here in two shapes only: a list of ``str`` for STRING and a
1-D numpy array for every numeric type (ENUM included, as state indices).
"""
from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..protocol._enums import ChannelType
from ..protocol._exceptions import CaprotoConversionError

__all__ = ('NATIVE_NUMPY_DTYPES', 'format_double', 'format_float',
           'parse_integer', 'parse_float', 'parse_enum', 'convert_values', 'as_text_list', 'to_native_array')

#: Host-order numpy dtype holding each numeric base type.
NATIVE_NUMPY_DTYPES: dict[ChannelType, np.dtype] = {
    ChannelType.INT: np.dtype(np.int16),
    ChannelType.FLOAT: np.dtype(np.float32),
    ChannelType.ENUM: np.dtype(np.uint16),
    ChannelType.CHAR: np.dtype(np.uint8),
    ChannelType.LONG: np.dtype(np.int32),
    ChannelType.DOUBLE: np.dtype(np.float64),
}
_FLOATING = (ChannelType.FLOAT, ChannelType.DOUBLE)
_INTEGER_BITS = {ChannelType.INT: 16, ChannelType.ENUM: 16, ChannelType.CHAR: 8,
                 ChannelType.LONG: 32}

# Fractional multipliers of the fast fixed-point path (precision 0..8).
_FRACTION_PLACES = [10 ** n for n in range(9)]
_INTEGER_RE = re.compile(r'\s*([+-]?\d+)')
_FLOAT_RE = re.compile(
    r'\s*([+-]?(?:nan|inf(?:inity)?|0x[0-9a-f]+|'
    r'(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?))', re.IGNORECASE)


def format_double(value: float, precision: int) -> str:
    """Format a number for a DBR_STRING read, as an EPICS IOC does.

    Parameters
    ----------
    value : float
        The value (a FLOAT channel's value is passed widened to double).
    precision : int
        The channel's precision (PREC). Negative values behave like a huge
        unsigned precision, as in C.

    Returns
    -------
    str
        E.g. ``3.142`` for (3.14159, 3), ``-3`` for (-2.5, 0),
        `` 1.0000000000e+00`` for (1.0, 10), ``nan``.
    """
    precision = int(precision) & 0xFFFF  # epicsUInt16, as in base
    value = float(value)
    if (math.isnan(value) or precision > 8 or value > 1e7 or value < -1e7):
        if precision > 8 or value > 1e16 or value < -1e16:
            precision = min(precision, 17)
            return '%*.*e' % (precision + 7, precision, value)
        return '%.*f' % (min(precision, 3), value)
    # The fast path rounds the fraction half away from zero on its scaled
    # value; reproduce it (same operations, same order) to get RSRV's digits.
    sign = ''
    if value < 0:
        sign = '-'
        value = -value
    whole = int(value)
    places = _FRACTION_PLACES[precision]
    fraction = int((value - whole) * places * 10)
    fraction = (fraction + 5) // 10
    if fraction // places >= 1:
        whole += 1
        fraction -= places
    if precision == 0:
        return f'{sign}{whole}'
    return f'{sign}{whole}.{fraction:0{precision}d}'


#: Accepted range of text written to each integer type, and the mask applied.
#: Unsigned types parse like strtoul: a negative number is accepted when its
#: magnitude fits, and wraps (``"-1"`` gives 255 for a CHAR).
_TEXT_RANGES = {
    ChannelType.INT: (-0x8000, 0x7FFF, 0xFFFF),
    ChannelType.LONG: (-0x80000000, 0x7FFFFFFF, 0xFFFFFFFF),
    ChannelType.CHAR: (-0xFF, 0xFF, 0xFF),
    ChannelType.ENUM: (-0xFFFF, 0xFFFF, 0xFFFF),
}
_FLT_MAX = float(np.finfo(np.float32).max)
_FLT_MIN = float(np.finfo(np.float32).tiny)


def parse_integer(text: str, to_type: ChannelType | None = None, *,
                  empty_is_zero: bool = True) -> int:
    """Parse a leading base-10 integer the way a C IOC's put does.

    ``"3.7"`` gives 3, ``"0x10"`` gives 0, ``""`` gives 0 (when
    ``empty_is_zero``). With ``to_type`` the number must fit that integer
    type (see ``_TEXT_RANGES``); the returned value is already wrapped to it.

    Raises
    ------
    CaprotoConversionError
        If the text does not start with an integer or is out of range.
    """
    if not text and empty_is_zero:
        return 0
    match = _INTEGER_RE.match(text)
    if match is None:
        raise CaprotoConversionError(f'cannot convert {text!r} to an integer')
    number = int(match.group(1))
    if to_type is None:
        return number
    low, high, mask = _TEXT_RANGES[to_type]
    if not low <= number <= high:
        raise CaprotoConversionError(
            f'{text!r} is out of range for {to_type.name}')
    number &= mask
    if to_type in (ChannelType.INT, ChannelType.LONG) and number > high:
        number -= mask + 1
    return number


def parse_float(text: str, to_type: ChannelType = ChannelType.DOUBLE, *,
                empty_is_zero: bool = True) -> float:
    """Parse a leading floating point number (``""`` gives 0.0 when
    ``empty_is_zero``; trailing text such as units is ignored).

    Raises
    ------
    CaprotoConversionError
        If the text does not start with a number, or the number overflows
        ``to_type`` (FLOAT or DOUBLE).
    """
    if not text and empty_is_zero:
        return 0.0
    match = _FLOAT_RE.match(text)
    if match is None:
        raise CaprotoConversionError(f'cannot convert {text!r} to a number')
    token = match.group(1)
    body = token.lower().lstrip('+-')
    if body.startswith('0x'):
        number = float(int(token, 16))
    else:
        number = float(token)
    if math.isinf(number) and not body.startswith('inf'):
        raise CaprotoConversionError(f'{text!r} overflows {to_type.name}')
    if to_type == ChannelType.FLOAT and math.isfinite(number) \
            and abs(number) > _FLT_MAX:
        raise CaprotoConversionError(f'{text!r} overflows FLOAT')
    return number


def format_float(value: float, precision: int) -> str:
    """Format a FLOAT value for a DBR_STRING read, as an EPICS IOC does
    (its float formatter switches to exponent form above 1e8 and pads to
    ``precision + 6``)."""
    precision = int(precision) & 0xFFFF
    single = float(np.float32(value))
    if (math.isnan(single) or precision > 8 or single > 1e7
            or single < -1e7):
        if precision > 8 or single >= 1e8 or single <= -1e8:
            precision = min(precision, 12)
            return '%*.*e' % (precision + 6, precision, single)
        return '%.*f' % (min(precision, 3), single)
    # Same operations as the C fast path, in single precision.
    sign = ''
    if single < 0:
        sign = '-'
        single = -single
    whole = int(single)
    places = _FRACTION_PLACES[precision]
    fraction_part = np.float32(np.float32(single) - np.float32(whole))
    fraction = int(np.float32(fraction_part * np.float32(places)
                              * np.float32(10)))
    fraction = (fraction + 5) // 10
    if fraction // places >= 1:
        whole += 1
        fraction -= places
    if precision == 0:
        return f'{sign}{whole}'
    return f'{sign}{whole}.{fraction:0{precision}d}'


def as_text_list(values: Any, encoding: str) -> list[str]:
    """Normalise STRING data (str, bytes, or sequences of them) to str list.

    Bytes are cut at the first NUL (bytes after it are undefined on the wire).
    """
    if isinstance(values, (str, bytes, bytearray, memoryview)):
        values = [values]
    result = []
    for item in values:
        if isinstance(item, (bytes, bytearray, memoryview)):
            raw = bytes(item)
            end = raw.find(b'\0')
            if end >= 0:
                raw = raw[:end]
            item = raw.decode(encoding, errors='replace')
        result.append(str(item))
    return result


def _wrap_integers(values: np.ndarray, to_type: ChannelType) -> np.ndarray:
    # C semantics on x86-64: floating point converts through a 32-bit
    # integer (cvttsd2si), whose "indefinite" result for NaN, infinities and
    # values out of range is INT_MIN; wide integers keep their low bits
    # (unsigned CHAR and ENUM wrap the same way).
    if values.dtype.kind == 'f':
        wide = np.full(values.shape, -0x80000000, dtype=np.int64)
        with np.errstate(invalid='ignore'):
            fits = (values > -2147483649.0) & (values < 2147483648.0)
        wide[fits] = np.trunc(values[fits]).astype(np.int64)
        return wide.astype(NATIVE_NUMPY_DTYPES[to_type])
    wide = values.astype(np.int64)
    return wide.astype(NATIVE_NUMPY_DTYPES[to_type])


def _to_float32(values: np.ndarray) -> np.ndarray:
    # epicsConvertDoubleToFloat: finite values beyond the float range clamp
    # to +-FLT_MAX and non-zero values below it to +-FLT_MIN (a plain cast
    # would give infinities and zeros).
    if values.dtype.kind == 'f' and values.dtype.itemsize > 4:
        magnitude = np.abs(values)
        with np.errstate(invalid='ignore'):
            clamped = np.where((magnitude > _FLT_MAX) & np.isfinite(values),
                               np.copysign(_FLT_MAX, values), values)
            clamped = np.where((magnitude < _FLT_MIN) & (magnitude > 0),
                               np.copysign(_FLT_MIN, values), clamped)
        values = clamped
    return values.astype(np.float32)


def to_native_array(values: Any, to_type: ChannelType) -> np.ndarray:
    """Cast a numeric array (any numpy dtype) to a numeric base type."""
    array = np.asarray(values)
    if array.ndim == 0:
        array = array.reshape(1)
    target = NATIVE_NUMPY_DTYPES[to_type]
    if array.dtype == target:
        return array
    if array.dtype.kind == 'b':
        array = array.astype(np.int64)
    if array.dtype.kind in 'OUS':
        raise CaprotoConversionError(
            f'cannot convert {array.dtype} data to {to_type.name}')
    if to_type == ChannelType.FLOAT:
        return _to_float32(array)
    if to_type == ChannelType.DOUBLE:
        return array.astype(target)
    return _wrap_integers(array, to_type)


def convert_values(values: Any, from_type: ChannelType, to_type: ChannelType, *,
                   enum_strings: Sequence[str] = (), precision: int = 0,
                   encoding: str = 'latin-1', char_as_text: bool = False,
                   empty_is_zero: bool = True) -> Any:
    """Convert channel values between two base types.

    Parameters
    ----------
    values : list of str or numpy.ndarray
        A list of str when ``from_type`` is STRING, else a 1-D numeric array
        (ENUM: state indices; CHAR with ``char_as_text``: the text's bytes).
    from_type, to_type : ChannelType
        Base types (0..6).
    enum_strings : sequence of str
        State strings, used when either side is ENUM (an ENUM without
        state strings is presented as its index).
    precision : int
        Used when formatting FLOAT/DOUBLE as STRING.
    encoding : str
        Text encoding for CHAR arrays presented as text.
    char_as_text : bool
        The CHAR side is a long string: CHAR <-> STRING converts the text
        as a whole instead of element by element.
    empty_is_zero : bool
        An empty string converts to 0 (a C IOC's scalar put does so; its
        array put refuses it).

    Returns
    -------
    list of str or numpy.ndarray

    Raises
    ------
    CaprotoConversionError
        If a string does not parse as the requested number or enum state,
        or is out of the target type's range.
    """
    if from_type == to_type:
        return values
    if from_type == ChannelType.STRING:
        return _from_strings(values, to_type, enum_strings, encoding,
                             char_as_text, empty_is_zero)
    if to_type == ChannelType.STRING:
        return _to_strings(values, from_type, enum_strings, precision,
                           encoding, char_as_text)
    return to_native_array(values, to_type)


def _to_strings(values: np.ndarray, from_type, enum_strings, precision,
                encoding, char_as_text) -> list[str]:
    if from_type == ChannelType.CHAR and char_as_text:
        raw = bytes(np.asarray(values, dtype=np.uint8))
        end = raw.find(b'\0')
        if end >= 0:
            raw = raw[:end]
        return [raw.decode(encoding, errors='replace')]
    if from_type == ChannelType.DOUBLE:
        return [format_double(item, precision) for item in values.tolist()]
    if from_type == ChannelType.FLOAT:
        return [format_float(item, precision) for item in values.tolist()]
    if from_type == ChannelType.ENUM and enum_strings:
        count = len(enum_strings)
        return [enum_strings[index] if index < count else ''
                for index in values.tolist()]
    return [str(int(item)) for item in values.tolist()]


def _from_strings(values: list[str], to_type, enum_strings, encoding,
                  char_as_text, empty_is_zero) -> np.ndarray:
    if to_type == ChannelType.CHAR and char_as_text:
        text = values[0] if values else ''
        return np.frombuffer(text.encode(encoding) + b'\0', dtype=np.uint8)
    if to_type == ChannelType.ENUM:
        return np.array([parse_enum(text, enum_strings) for text in values],
                        dtype=NATIVE_NUMPY_DTYPES[to_type])
    if to_type in _FLOATING:
        return np.array([parse_float(text, to_type,
                                     empty_is_zero=empty_is_zero)
                         for text in values],
                        dtype=NATIVE_NUMPY_DTYPES[to_type])
    return np.array([parse_integer(text, to_type, empty_is_zero=empty_is_zero)
                     for text in values], dtype=NATIVE_NUMPY_DTYPES[to_type])


_STRICT_UNSIGNED_RE = re.compile(r'\s*([+-]?)(\d+)\s*$')
_LEADING_UNSIGNED_RE = re.compile(r'\s*([+-]?)(\d+)')


def parse_enum(text: str, enum_strings: Sequence[str],
               state_count: int | None = None, *,
               trailing_text: bool = False) -> int:
    """Index of an enum state given as its string or as a number.

    A state string matches exactly; otherwise the text must be a base-10
    number below ``state_count`` (default: the number of state strings).
    Surrounding blanks are allowed; other text after the number only with
    ``trailing_text`` (an mbbo record takes ``"3.7"`` as state 3, a bo
    refuses ``"1e3"``).

    Raises
    ------
    CaprotoConversionError
        If the text is neither a state nor a valid state number.
    """
    for index, state in enumerate(enum_strings):
        if state == text:
            return index
    if state_count is None:
        state_count = len(enum_strings)
    match = (_LEADING_UNSIGNED_RE if trailing_text
             else _STRICT_UNSIGNED_RE).match(text)
    if match is not None:
        # Parsed as unsigned: "-0" is 0, any other negative number wraps to
        # a huge index and so is out of range.
        number = int(match.group(2))
        if match.group(1) == '-' and number:
            number = 1 << 64
        if number < state_count:
            return number
    raise CaprotoConversionError(f'{text!r} is not one of the states '
                                 f'{tuple(enum_strings)}')
