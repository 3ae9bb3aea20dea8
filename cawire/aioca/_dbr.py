"""aioca's request codes and the conversions between CA data and values.

The DBR_* codes, FORMAT_* and the special requests (DBR_CHAR_STR: a char
array as a string; DBR_ENUM_STR: enums as strings; ...) have the numbers
epicscorelibs gives them, so code written for aioca (ophyd-async) passes
them unchanged.  :func:`plan_request` turns (native type, datatype, format)
into the ChannelType to ask for and a :class:`ValueConverter` that makes the
augmented value from the reply; :func:`encode_value` turns a caput value
into (ChannelType, data).  The wire itself is the core's business.
"""
from __future__ import annotations

from typing import Any

import numpy

from ..protocol._enums import ChannelType
from ..protocol._timestamp import EPICS_EPOCH
from ._values import ca_array, ca_bytes, ca_float, ca_int, ca_str

__all__ = ('DBR_STRING', 'DBR_SHORT', 'DBR_FLOAT', 'DBR_ENUM', 'DBR_CHAR',
           'DBR_LONG', 'DBR_DOUBLE', 'DBR_PUT_ACKT', 'DBR_PUT_ACKS',
           'DBR_STSACK_STRING', 'DBR_CLASS_NAME', 'DBR_ENUM_STR',
           'DBR_CHAR_BYTES', 'DBR_CHAR_UNICODE', 'DBR_CHAR_STR',
           'FORMAT_RAW', 'FORMAT_TIME', 'FORMAT_CTRL', 'DBE_VALUE',
           'DBE_LOG', 'DBE_ALARM', 'DBE_PROPERTY', 'InvalidDatatype',
           'ValueConverter', 'plan_request', 'encode_value')

DBR_STRING, DBR_SHORT, DBR_FLOAT, DBR_ENUM, DBR_CHAR, DBR_LONG, DBR_DOUBLE = \
    range(7)
DBR_PUT_ACKT = 35
DBR_PUT_ACKS = 36
DBR_STSACK_STRING = 37
DBR_CLASS_NAME = 38
DBR_ENUM_STR = 996
DBR_CHAR_BYTES = 997
DBR_CHAR_UNICODE = 998
DBR_CHAR_STR = 999

FORMAT_RAW = 0
FORMAT_TIME = 1
FORMAT_CTRL = 2

DBE_VALUE = 1
DBE_LOG = 2
DBE_ALARM = 4
DBE_PROPERTY = 8

_BASIC = frozenset(range(7))
_CHAR_TEXT = frozenset((DBR_CHAR_STR, DBR_CHAR_BYTES, DBR_CHAR_UNICODE))
_TIME_OFFSET = 14
_CTRL_OFFSET = 28

#: numpy type character -> DBR code (what a ``datatype=`` type means).
_NUMPY_CHAR_TO_DBR = {
    'b': DBR_CHAR, 'h': DBR_SHORT, 'i': DBR_LONG, 'f': DBR_FLOAT,
    'd': DBR_DOUBLE, 'S': DBR_STRING, '?': DBR_CHAR, 'B': DBR_CHAR,
    'H': DBR_SHORT, 'I': DBR_LONG, 'U': DBR_STRING, 'l': DBR_LONG,
    'L': DBR_LONG,
}
#: numpy dtype of each basic code's values, and its scalar class.
_DTYPES = {DBR_SHORT: numpy.int16, DBR_FLOAT: numpy.float32,
           DBR_ENUM: numpy.uint16, DBR_CHAR: numpy.uint8,
           DBR_LONG: numpy.int32, DBR_DOUBLE: numpy.float64}
_SCALARS = {DBR_SHORT: ca_int, DBR_FLOAT: ca_float, DBR_ENUM: ca_int,
            DBR_CHAR: ca_int, DBR_LONG: ca_int, DBR_DOUBLE: ca_float}
_LIMITS = ('upper_disp_limit', 'lower_disp_limit', 'upper_alarm_limit',
           'lower_alarm_limit', 'upper_warning_limit', 'lower_warning_limit',
           'upper_ctrl_limit', 'lower_ctrl_limit')
_STRING_SIZE = 40


class InvalidDatatype(ValueError):
    """A ``datatype`` Channel Access cannot carry."""


def _datatype_to_dbr(datatype: Any) -> int:
    try:
        return _NUMPY_CHAR_TO_DBR[numpy.dtype(datatype).char]
    except Exception as exc:
        raise InvalidDatatype(
            f'Datatype "{datatype}" not supported for channel access') from exc


def _decode(raw: bytes) -> str:
    return raw.decode('utf-8', 'replace')


def _text(raw: bytes | str) -> str:
    # The core's metadata gives bytes (as caproto's); decoded as libca does.
    return raw if isinstance(raw, str) else _decode(bytes(raw))


class ValueConverter:
    """Makes augmented values from the replies to one kind of request.

    Attributes
    ----------
    request : int
        The DBR type to ask for (a ChannelType number).
    base : int
        The plain DBR type of the values (the value's ``.datatype``).
    """

    __slots__ = ('name', 'request', 'base', 'element_count', '_text',
                 '_strings', '_scalar', '_dtype', '_format', '_common')

    def __init__(self, name: str, request: int, base: int, element_count: int,
                 text: int | None, strings: str, fmt: str):
        self.name = name
        self.request = request
        self.base = base
        self.element_count = element_count
        self._text = text          # a DBR_CHAR_* request, or None
        self._strings = strings    # 'str' | 'bytes' | 'unicode'
        self._scalar = _SCALARS.get(base)
        self._dtype = _DTYPES.get(base)
        self._format = fmt         # 'raw' | 'time' | 'ctrl' | 'enum'
        # What every value of this request carries, set in one update.
        self._common = {'name': name, 'ok': True,
                        'element_count': element_count, 'datatype': base}

    def __call__(self, response: Any) -> Any:
        # Hot path: one per camonitor update.
        value = self._value(response.data, response.data_count)
        attributes = value.__dict__
        attributes.update(self._common)
        fmt = self._format
        if fmt == 'time':
            metadata = response.metadata
            stamp = metadata.stamp
            secs = stamp.secondsSinceEpoch + EPICS_EPOCH
            nsec = stamp.nanoSeconds
            attributes['status'] = int(metadata.status)
            attributes['severity'] = int(metadata.severity)
            attributes['raw_stamp'] = (secs, nsec)
            attributes['timestamp'] = round(secs + nsec * 1e-9, 6)
        elif fmt != 'raw':
            self._attributes(value, response.metadata, fmt)
        return value

    def _value(self, data: Any, count: int) -> Any:
        text = self._text
        if text is not None:
            raw = bytes(numpy.asarray(data, dtype=numpy.uint8)[:count])
            raw = raw.split(b'\x00', 1)[0]
            if text == DBR_CHAR_BYTES:
                return ca_bytes(raw)
            if text == DBR_CHAR_UNICODE:
                return ca_str(raw.decode('utf-8'))
            return ca_str(_decode(raw))
        scalar = self._scalar
        if scalar is None:  # strings
            if self.element_count == 1:
                return self._string(data[0])
            items = [self._string(item) for item in data]
            width = max((len(item) for item in items), default=1) or 1
            kind = 'S' if self._strings == 'bytes' else 'U'
            result = ca_array((len(items),), dtype=f'{kind}{width}')
            for index, item in enumerate(items):
                result[index] = item
            return result
        if self.element_count == 1:
            return scalar(data[0])
        result = ca_array((count,), dtype=self._dtype)
        result[:] = data[:count]
        return result

    def _string(self, raw: bytes) -> Any:
        raw = bytes(raw).split(b'\x00', 1)[0]
        if self._strings == 'bytes':
            return ca_bytes(raw)
        if self._strings == 'unicode':
            return ca_str(raw.decode('utf-8'))
        return ca_str(_decode(raw))

    @staticmethod
    def _attributes(value: Any, metadata: Any, fmt: str) -> None:
        value.status = int(metadata.status)
        value.severity = int(metadata.severity)
        if fmt == 'time':
            stamp = metadata.stamp
            secs = stamp.secondsSinceEpoch + EPICS_EPOCH
            nsec = stamp.nanoSeconds
            value.raw_stamp = (secs, nsec)
            value.timestamp = round(secs + nsec * 1e-9, 6)
        elif fmt == 'enum':
            value.enums = [_text(raw) for raw in metadata.enum_strings]
        else:
            value.units = _text(metadata.units)
            for limit in _LIMITS:
                setattr(value, limit, getattr(metadata, limit))
            precision = getattr(metadata, 'precision', None)
            if precision is not None:
                value.precision = precision


def plan_request(name: str, native_type: int, element_count: int,
                 datatype: Any, format: int) -> ValueConverter:
    """What to ask for, and how to convert the reply, for one caget or
    camonitor on a channel of ``native_type``.

    Raises
    ------
    InvalidDatatype
    """
    if datatype is None:
        datatype = native_type
        if datatype == DBR_CHAR and name.endswith('$'):
            datatype = DBR_CHAR_STR
    elif datatype == DBR_ENUM_STR:
        datatype = native_type
        if datatype == DBR_ENUM:
            datatype = DBR_STRING
    strings = 'str'
    if isinstance(datatype, type) and issubclass(datatype, bytes):
        strings = 'bytes'
    elif isinstance(datatype, type) and issubclass(datatype, str):
        strings = 'unicode'
    text = None
    if datatype in _BASIC:
        base = int(datatype)
    elif datatype in _CHAR_TEXT:
        text, base = int(datatype), DBR_CHAR
    elif datatype in (DBR_STSACK_STRING, DBR_CLASS_NAME):
        # The format is meaningless for these two.
        return ValueConverter(name, int(datatype), int(datatype),
                              element_count, None, strings, 'raw')
    else:
        base = _datatype_to_dbr(datatype)
    if format == FORMAT_RAW:
        request, fmt = base, 'raw'
    elif format == FORMAT_TIME:
        request, fmt = base + _TIME_OFFSET, 'time'
    elif format == FORMAT_CTRL:
        if base == DBR_STRING:
            request, fmt = base + _TIME_OFFSET, 'time'
        else:
            request = base + _CTRL_OFFSET
            fmt = 'enum' if base == DBR_ENUM else 'ctrl'
    else:
        raise InvalidDatatype('Format not recognised')
    return ValueConverter(name, request, base, element_count, text, strings,
                          fmt)


def encode_value(name: str, native_type: int, datatype: Any,
                 value: Any) -> tuple[int, Any]:
    """(DBR type, data) to write ``value`` as caput does.

    Strings without a datatype go as DBR_STRING (the server converts);
    DBR_CHAR_STR sends the text's bytes as a char array.
    """
    if datatype is None:
        if isinstance(value, (str, bytes)):
            datatype = DBR_STRING
        else:
            datatype = native_type
            if datatype == DBR_CHAR and name.endswith('$'):
                datatype = DBR_CHAR_STR
    if datatype == DBR_CHAR_STR:
        return DBR_CHAR, numpy.frombuffer(value.encode(), dtype=numpy.uint8)
    if datatype in (DBR_PUT_ACKT, DBR_PUT_ACKS):
        return int(datatype), [int(value)]
    code = int(datatype) if datatype in _BASIC else _datatype_to_dbr(datatype)
    if code == DBR_STRING:
        try:
            array = numpy.require(value, dtype=f'S{_STRING_SIZE}',
                                  requirements='C')
        except UnicodeEncodeError:
            text = numpy.require(value, requirements='C')
            array = numpy.empty(text.shape, f'S{_STRING_SIZE}')
            for index, item in enumerate(text.reshape(-1)):
                array.reshape(-1)[index] = item.encode('utf-8')
        array = array.reshape(-1) if array.shape else array.reshape(1)
        return code, [bytes(item) for item in array]
    array = numpy.require(value, dtype=_DTYPES[code], requirements='C')
    if array.shape == ():
        array = array.reshape(1)
    if array.ndim != 1:
        raise ValueError("Can't put multidimensional arrays!")
    return code, array


def channel_type(code: int) -> ChannelType:
    """The core's ChannelType for a DBR request number."""
    return ChannelType(code)
