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
* STRING to integer parses a leading base-10 integer (``"3.7"`` gives 3,
  ``"abc"`` is an error); STRING to floating point parses a leading float;
  an empty string is 0;
* floating point to integer truncates toward zero, integers narrow by
  wrapping (the C cast), everything saturates nothing.

Values travel here in two shapes only: a list of ``str`` for STRING and a
1-D numpy array for every numeric type (ENUM included, as state indices).
"""
from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np

from ..protocol._enums import ChannelType
from ..protocol._exceptions import CaprotoConversionError

__all__ = ('NATIVE_NUMPY_DTYPES', 'format_double', 'parse_integer',
           'parse_float', 'convert_values', 'as_text_list', 'to_native_array')

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


def parse_integer(text: str) -> int:
    """Parse a leading base-10 integer the way dbConvert does.

    ``"3.7"`` gives 3, ``"0x10"`` gives 0, ``""`` gives 0.

    Raises
    ------
    CaprotoConversionError
        If the text does not start with an integer.
    """
    if not text.strip():
        return 0
    match = _INTEGER_RE.match(text)
    if match is None:
        raise CaprotoConversionError(f'cannot convert {text!r} to an integer')
    return int(match.group(1))


def parse_float(text: str) -> float:
    """Parse a leading floating point number (``""`` gives 0.0).

    Raises
    ------
    CaprotoConversionError
        If the text does not start with a number.
    """
    if not text.strip():
        return 0.0
    match = _FLOAT_RE.match(text)
    if match is None:
        raise CaprotoConversionError(f'cannot convert {text!r} to a number')
    token = match.group(1)
    if token.lower().lstrip('+-').startswith('0x'):
        return float(int(token, 16))
    return float(token)


def as_text_list(values, encoding: str) -> list[str]:
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
    # C semantics: float -> int truncates toward zero, wide int -> narrow int
    # keeps the low bits (unsigned CHAR and ENUM wrap the same way).
    if values.dtype.kind == 'f':
        finite = np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)
        values = np.trunc(finite).clip(-2.0 ** 63, 2.0 ** 63 - 1)
    wide = values.astype(np.int64)
    return wide.astype(NATIVE_NUMPY_DTYPES[to_type])


def to_native_array(values, to_type: ChannelType) -> np.ndarray:
    """Cast a numeric array (any numpy dtype) to a numeric base type."""
    array = np.asarray(values)
    if array.ndim == 0:
        array = array.reshape(1)
    target = NATIVE_NUMPY_DTYPES[to_type]
    if array.dtype == target:
        return array
    if array.dtype.kind == 'b':
        array = array.astype(np.int64)
    if to_type in _FLOATING:
        return array.astype(target)
    if array.dtype.kind in 'OUS':
        raise CaprotoConversionError(
            f'cannot convert {array.dtype} data to {to_type.name}')
    return _wrap_integers(array, to_type)


def convert_values(values, from_type: ChannelType, to_type: ChannelType, *,
                   enum_strings: Sequence[str] = (), precision: int = 0,
                   encoding: str = 'latin-1', char_as_text: bool = False):
    """Convert channel values between two base types.

    Parameters
    ----------
    values : list of str or numpy.ndarray
        A list of str when ``from_type`` is STRING, else a 1-D numeric array
        (ENUM: state indices; CHAR with ``char_as_text``: the text's bytes).
    from_type, to_type : ChannelType
        Base types (0..6).
    enum_strings : sequence of str
        State strings, used when either side is ENUM.
    precision : int
        Used when formatting FLOAT/DOUBLE as STRING.
    encoding : str
        Text encoding for CHAR arrays presented as text.
    char_as_text : bool
        The CHAR side is a long string: CHAR <-> STRING converts the text
        as a whole instead of element by element.

    Returns
    -------
    list of str or numpy.ndarray

    Raises
    ------
    CaprotoConversionError
        If a string does not parse as the requested number or enum state.
    """
    if from_type == to_type:
        return values
    if from_type == ChannelType.STRING:
        return _from_strings(values, to_type, enum_strings, encoding,
                             char_as_text)
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
    if from_type in _FLOATING:
        return [format_double(item, precision) for item in values.tolist()]
    if from_type == ChannelType.ENUM:
        count = len(enum_strings)
        return [enum_strings[index] if index < count else ''
                for index in values.tolist()]
    return [str(int(item)) for item in values.tolist()]


def _from_strings(values: list[str], to_type, enum_strings, encoding,
                  char_as_text) -> np.ndarray:
    if to_type == ChannelType.CHAR and char_as_text:
        text = values[0] if values else ''
        return np.frombuffer(text.encode(encoding) + b'\0', dtype=np.uint8)
    if to_type == ChannelType.ENUM:
        indices = []
        for text in values:
            if text in enum_strings:
                indices.append(list(enum_strings).index(text))
            else:
                indices.append(parse_integer(text))
        return _wrap_integers(np.array(indices, dtype=np.int64), to_type)
    if to_type in _FLOATING:
        return np.array([parse_float(text) for text in values],
                        dtype=NATIVE_NUMPY_DTYPES[to_type])
    return _wrap_integers(
        np.array([parse_integer(text) for text in values], dtype=np.int64),
        to_type)
