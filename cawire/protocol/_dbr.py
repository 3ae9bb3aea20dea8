"""DBR metadata structures and the size tables of every DBR type.

A DBR payload is *metadata* (alarm status, timestamp, limits, enum strings...)
followed by the value array.  This module describes the metadata part only:
one big-endian ctypes structure per type 7..38, laid out byte for byte as
``db_access.h`` (RISC pads included), so that ``ctypes.sizeof(DBR_X)`` is the
value's offset in the payload.  Values are decoded by ``_payload``.

Decoding a structure is ``DBR_X.from_buffer_copy(payload)``: one small copy,
no per-field work.  Everything expensive (enum conversion, timestamps as
floats or datetimes) happens in properties, only when read.  Fields a peer
fills with garbage (pads, out-of-range alarm codes, ``no_str`` beyond 16)
never make a property raise.

Text fields are given as caproto gives them: ``units`` is ``bytes`` and
``enum_strings`` a tuple of ``bytes`` (cut at the first NUL); decode them
with the structure's ``encoding`` when text is wanted.  Assigning accepts
``str`` (encoded with ``encoding``) as well as ``bytes``.
"""
import ctypes
from collections.abc import Iterable
from typing import Any, ClassVar

from ._constants import (MAX_ENUM_STATES, MAX_ENUM_STRING_SIZE,
                         MAX_STRING_SIZE, MAX_UNITS_SIZE, PAYLOAD_ALIGNMENT)
from ._enums import AlarmSeverity, AlarmStatus, ChannelType
from ._exceptions import CaprotoValueError
from ._timestamp import EPICS_EPOCH, TimeStamp

__all__ = (
    'DbrTypeBase', 'DBR_TYPES', 'DBR_SIZE', 'VALUE_SIZE', 'VALUE_OFFSET',
    'payload_size', 'padded',
    'DBR_STS_STRING', 'DBR_STS_INT', 'DBR_STS_FLOAT', 'DBR_STS_ENUM',
    'DBR_STS_CHAR', 'DBR_STS_LONG', 'DBR_STS_DOUBLE',
    'DBR_TIME_STRING', 'DBR_TIME_INT', 'DBR_TIME_FLOAT', 'DBR_TIME_ENUM',
    'DBR_TIME_CHAR', 'DBR_TIME_LONG', 'DBR_TIME_DOUBLE',
    'DBR_GR_STRING', 'DBR_GR_INT', 'DBR_GR_FLOAT', 'DBR_GR_ENUM',
    'DBR_GR_CHAR', 'DBR_GR_LONG', 'DBR_GR_DOUBLE',
    'DBR_CTRL_STRING', 'DBR_CTRL_INT', 'DBR_CTRL_FLOAT', 'DBR_CTRL_ENUM',
    'DBR_CTRL_CHAR', 'DBR_CTRL_LONG', 'DBR_CTRL_DOUBLE',
    'DBR_STSACK_STRING',
)

# ---------------------------------------------------------------------------
# Size tables (ca-protocol.md 5.4), indexed by type id 0..38.

#: ``dbr_size[T]``: bytes of a one-element payload (metadata + one value).
DBR_SIZE = [40, 2, 4, 2, 1, 4, 8,
            44, 6, 8, 6, 6, 8, 16,
            52, 16, 16, 16, 16, 16, 24,
            44, 26, 44, 424, 20, 40, 72,
            44, 30, 52, 424, 22, 48, 88,
            2, 2, 48, 40]
#: Bytes of one value element.
VALUE_SIZE = [40, 2, 4, 2, 1, 4, 8] * 5 + [2, 2, 40, 40]
#: Offset of the first value element in the payload (= metadata size).
VALUE_OFFSET = [size - value_size
                for size, value_size in zip(DBR_SIZE, VALUE_SIZE)]


def payload_size(data_type: int, data_count: int) -> int:
    """Unpadded payload length of ``data_count`` elements of ``data_type``.

    ``dbr_size + (count - 1) * value_size``; for count 0, the metadata alone.
    """
    return VALUE_OFFSET[data_type] + data_count * VALUE_SIZE[data_type]


def padded(n: int) -> int:
    """``n`` rounded up to the payload alignment (8)."""
    return (n + PAYLOAD_ALIGNMENT - 1) & ~(PAYLOAD_ALIGNMENT - 1)


# ---------------------------------------------------------------------------
# Helpers shared by the properties.

_ALARM_STATUS = tuple(AlarmStatus)
_ALARM_SEVERITY = tuple(AlarmSeverity)
_DEFAULT_ENCODING = 'latin-1'


def _as_enum(table: tuple, value: int) -> Any:
    # A peer may send any u16; unknown codes are returned as plain ints.
    if 0 <= value < len(table):
        return table[value]
    return value


def _to_bytes(value: object, encoding: str, size: int, what: str) -> bytes:
    if isinstance(value, str):
        try:
            value = value.encode(encoding)
        except UnicodeEncodeError as ex:
            raise CaprotoValueError(
                f'{what} {value!r:.40} cannot be encoded as {encoding}'
            ) from ex
    elif not isinstance(value, (bytes, bytearray)):
        raise CaprotoValueError(f'{what} must be str or bytes, got {value!r}')
    # RSRV truncates units/enum strings to the field size, keeping the NUL.
    return bytes(value[:size - 1])


class DbrTypeBase(ctypes.BigEndianStructure):
    """Base of every DBR metadata structure.

    ``info_fields`` lists what ``repr`` and ``to_dict`` show.  The text
    encoding of ``units`` and ``enum_strings`` is 'latin-1' unless
    ``encoding`` is set on the instance (``decode`` does so when asked for
    another encoding; set it before assigning text to encode with it).
    """

    _pack_ = 1
    _fields_: ClassVar[list] = []
    DBR_ID: ClassVar[ChannelType | None] = None
    info_fields: ClassVar[tuple[str, ...]] = ()
    _encoding = _DEFAULT_ENCODING

    @property
    def encoding(self) -> str:
        """Text encoding of ``units`` and ``enum_strings``: used to encode
        assigned ``str``; decode the bytes with it to get text."""
        return self._encoding

    @encoding.setter
    def encoding(self, value: str) -> None:
        self._encoding = value

    def to_dict(self) -> dict[str, Any]:
        """The ``info_fields`` as a dict."""
        return {name: getattr(self, name) for name in self.info_fields}

    def __repr__(self) -> str:
        args = ', '.join(f'{name}={value!r}'
                         for name, value in self.to_dict().items())
        return f'{type(self).__name__}({args})'


class _StatusMixin:
    # ctypes fields are ``_status``/``_severity``; these properties give the
    # enum members (or the raw int for codes that are not in the enum).
    _status: int
    _severity: int

    @property
    def status(self) -> AlarmStatus | int:
        """Alarm status (an ``AlarmStatus``, or the int if unknown)."""
        return _as_enum(_ALARM_STATUS, self._status)

    @status.setter
    def status(self, value: int) -> None:
        self._status = int(value)

    @property
    def severity(self) -> AlarmSeverity | int:
        """Alarm severity (an ``AlarmSeverity``, or the int if unknown)."""
        return _as_enum(_ALARM_SEVERITY, self._severity)

    @severity.setter
    def severity(self, value: int) -> None:
        self._severity = int(value)


class _TimeMixin(_StatusMixin):
    # ``stamp`` is an embedded TimeStamp sharing this structure's memory.
    stamp: TimeStamp

    @property
    def secondsSinceEpoch(self) -> int:
        """Seconds since the EPICS epoch (of ``stamp``)."""
        return self.stamp.secondsSinceEpoch

    @secondsSinceEpoch.setter
    def secondsSinceEpoch(self, value: int) -> None:
        self.stamp.secondsSinceEpoch = value

    @property
    def nanoSeconds(self) -> int:
        """Nanoseconds within the second (of ``stamp``)."""
        return self.stamp.nanoSeconds

    @nanoSeconds.setter
    def nanoSeconds(self, value: int) -> None:
        self.stamp.nanoSeconds = value

    @property
    def timestamp(self) -> float:
        """POSIX time (float seconds) of the value."""
        stamp = self.stamp
        return stamp.secondsSinceEpoch + EPICS_EPOCH + stamp.nanoSeconds * 1e-9

    @timestamp.setter
    def timestamp(self, value: Any) -> None:
        stamp = TimeStamp.from_flexible_value(value)
        self.stamp.secondsSinceEpoch = stamp.secondsSinceEpoch
        self.stamp.nanoSeconds = stamp.nanoSeconds


class _UnitsMixin:
    _units: bytes
    _encoding: str

    @property
    def units(self) -> bytes:
        """Engineering units as received (bytes up to the first NUL)."""
        return self._units.split(b'\x00', 1)[0]

    @units.setter
    def units(self, value: str | bytes) -> None:
        self._units = _to_bytes(value, self._encoding, MAX_UNITS_SIZE,
                                'units')


_ENUM_TABLE_SIZE = MAX_ENUM_STATES * MAX_ENUM_STRING_SIZE


class _EnumStringsMixin(_StatusMixin):
    no_str: int
    strs: Any  # ctypes array of 16 char[26]
    _encoding: str

    @property
    def enum_strings(self) -> tuple[bytes, ...]:
        """The ``no_str`` enum strings as bytes (no_str clamped to 0..16)."""
        count = min(max(self.no_str, 0), MAX_ENUM_STATES)
        table = ctypes.string_at(ctypes.addressof(self.strs), _ENUM_TABLE_SIZE)
        size = MAX_ENUM_STRING_SIZE
        return tuple(table[i * size:(i + 1) * size].split(b'\x00', 1)[0]
                     for i in range(count))

    @enum_strings.setter
    def enum_strings(self, values: Iterable[str | bytes]) -> None:
        items = list(values)
        if len(items) > MAX_ENUM_STATES:
            raise CaprotoValueError(
                f'at most {MAX_ENUM_STATES} enum strings fit in a DBR, '
                f'got {len(items)}')
        encoded = [_to_bytes(v, self._encoding, MAX_ENUM_STRING_SIZE,
                             'enum string') for v in items]
        ctypes.memset(ctypes.addressof(self.strs), 0, _ENUM_TABLE_SIZE)
        for slot, raw in zip(self.strs, encoded):
            slot.value = raw
        self.no_str = len(encoded)


# ---------------------------------------------------------------------------
# Field lists.  Names follow caproto (and db_access.h for the pads).

_STATUS_FIELDS = [('_status', ctypes.c_int16), ('_severity', ctypes.c_int16)]
_TIME_FIELDS = _STATUS_FIELDS + [('stamp', TimeStamp)]
_LIMIT_NAMES = ('upper_disp_limit', 'lower_disp_limit', 'upper_alarm_limit',
                'upper_warning_limit', 'lower_warning_limit',
                'lower_alarm_limit')
_CTRL_NAMES = ('upper_ctrl_limit', 'lower_ctrl_limit')
_UNITS_FIELD = [('_units', ctypes.c_char * MAX_UNITS_SIZE)]
_ENUM_FIELDS = _STATUS_FIELDS + [
    ('no_str', ctypes.c_int16),
    ('strs', (ctypes.c_char * MAX_ENUM_STRING_SIZE) * MAX_ENUM_STATES)]

_STATUS_INFO = ('status', 'severity')
_TIME_INFO = _STATUS_INFO + ('timestamp',)


def _limits(ctype, ctrl):
    names = _LIMIT_NAMES + (_CTRL_NAMES if ctrl else ())
    return [(name, ctype) for name in names]


def _pad(name, size):
    return [(name, ctypes.c_uint8 * size)] if size > 1 else [
        (name, ctypes.c_uint8)]


def _graphic_fields(base, ctrl):
    """Fields of GR_<base> (ctrl=False) or CTRL_<base> (ctrl=True)."""
    if base in ('FLOAT', 'DOUBLE'):
        ctype = ctypes.c_float if base == 'FLOAT' else ctypes.c_double
        return (_STATUS_FIELDS + [('precision', ctypes.c_int16)] +
                _pad('RISC_pad0', 2) + _UNITS_FIELD + _limits(ctype, ctrl))
    if base == 'CHAR':
        return (_STATUS_FIELDS + _UNITS_FIELD +
                _limits(ctypes.c_uint8, ctrl) + _pad('RISC_pad', 1))
    ctype = ctypes.c_int16 if base == 'INT' else ctypes.c_int32
    return _STATUS_FIELDS + _UNITS_FIELD + _limits(ctype, ctrl)


def _graphic_info(base, ctrl):
    info = _STATUS_INFO + _LIMIT_NAMES + (_CTRL_NAMES if ctrl else ())
    if base in ('FLOAT', 'DOUBLE'):
        info += ('precision',)
    return info + ('units',)


def _make(name, bases, fields, info):
    data_type = ChannelType[name[len('DBR_'):]]
    namespace = {'_pack_': 1, '_fields_': fields, 'DBR_ID': data_type,
                 'info_fields': info, '__module__': __name__,
                 '__qualname__': name,
                 '__doc__': (f'Metadata of a {name} payload '
                             f'({VALUE_OFFSET[data_type]} bytes).')}
    cls = type(name, bases + (DbrTypeBase,), namespace)
    assert ctypes.sizeof(cls) == VALUE_OFFSET[data_type], name
    return cls


_STATUS_BASES = (_StatusMixin,)
_TIME_BASES = (_TimeMixin,)
_GRAPHIC_BASES = (_StatusMixin, _UnitsMixin)


def _make_status(base, pad=()):
    """STS_<base>: alarm status and severity, then any RISC pad."""
    return _make(f'DBR_STS_{base}', _STATUS_BASES,
                 _STATUS_FIELDS + list(pad), _STATUS_INFO)


def _make_time(base, pad=()):
    """TIME_<base>: status, severity, time stamp, then any RISC pad."""
    return _make(f'DBR_TIME_{base}', _TIME_BASES, _TIME_FIELDS + list(pad),
                 _TIME_INFO)


def _make_graphic(base, ctrl):
    """GR_<base> (ctrl=False) or CTRL_<base> (ctrl=True) of a numeric type."""
    name = f'DBR_{"CTRL" if ctrl else "GR"}_{base}'
    return _make(name, _GRAPHIC_BASES, _graphic_fields(base, ctrl),
                 _graphic_info(base, ctrl))


def _make_enum(kind):
    """GR_ENUM or CTRL_ENUM: identical layouts (status and enum strings)."""
    return _make(f'DBR_{kind}_ENUM', (_EnumStringsMixin,), _ENUM_FIELDS,
                 _STATUS_INFO + ('enum_strings',))


_PAD16 = [('RISC_pad', ctypes.c_int16)]
_PAD32 = [('RISC_pad', ctypes.c_int32)]

DBR_STS_STRING = _make_status('STRING')
DBR_STS_INT = _make_status('INT')
DBR_STS_FLOAT = _make_status('FLOAT')
DBR_STS_ENUM = _make_status('ENUM')
DBR_STS_CHAR = _make_status('CHAR', _pad('RISC_pad', 1))
DBR_STS_LONG = _make_status('LONG')
DBR_STS_DOUBLE = _make_status('DOUBLE', _PAD32)

DBR_TIME_STRING = _make_time('STRING')
DBR_TIME_INT = _make_time('INT', _PAD16)
DBR_TIME_FLOAT = _make_time('FLOAT')
DBR_TIME_ENUM = _make_time('ENUM', _PAD16)
DBR_TIME_CHAR = _make_time('CHAR', [('RISC_pad0', ctypes.c_int16),
                                    ('RISC_pad1', ctypes.c_uint8)])
DBR_TIME_LONG = _make_time('LONG')
DBR_TIME_DOUBLE = _make_time('DOUBLE', _PAD32)

# GR_STRING and CTRL_STRING have the STS layout (db_access.h defines no
# graphic/control information for strings).
DBR_GR_STRING = _make('DBR_GR_STRING', _STATUS_BASES, _STATUS_FIELDS,
                      _STATUS_INFO)
DBR_GR_INT = _make_graphic('INT', False)
DBR_GR_FLOAT = _make_graphic('FLOAT', False)
DBR_GR_ENUM = _make_enum('GR')
DBR_GR_CHAR = _make_graphic('CHAR', False)
DBR_GR_LONG = _make_graphic('LONG', False)
DBR_GR_DOUBLE = _make_graphic('DOUBLE', False)

DBR_CTRL_STRING = _make('DBR_CTRL_STRING', _STATUS_BASES, _STATUS_FIELDS,
                        _STATUS_INFO)
DBR_CTRL_INT = _make_graphic('INT', True)
DBR_CTRL_FLOAT = _make_graphic('FLOAT', True)
DBR_CTRL_ENUM = _make_enum('CTRL')
DBR_CTRL_CHAR = _make_graphic('CHAR', True)
DBR_CTRL_LONG = _make_graphic('LONG', True)
DBR_CTRL_DOUBLE = _make_graphic('DOUBLE', True)

DBR_STSACK_STRING = _make('DBR_STSACK_STRING', _STATUS_BASES,
                          _STATUS_FIELDS + [('ackt', ctypes.c_uint16),
                                            ('acks', ctypes.c_uint16)],
                          _STATUS_INFO + ('ackt', 'acks'))

#: ``DBR_TYPES[ChannelType]``: the metadata class, or None for types that
#: carry values only (0..6, PUT_ACKT, PUT_ACKS, CLASS_NAME).
DBR_TYPES = {ChannelType(t): None for t in range(39)}
DBR_TYPES.update({cls.DBR_ID: cls for cls in (
    DBR_STS_STRING, DBR_STS_INT, DBR_STS_FLOAT, DBR_STS_ENUM, DBR_STS_CHAR,
    DBR_STS_LONG, DBR_STS_DOUBLE,
    DBR_TIME_STRING, DBR_TIME_INT, DBR_TIME_FLOAT, DBR_TIME_ENUM,
    DBR_TIME_CHAR, DBR_TIME_LONG, DBR_TIME_DOUBLE,
    DBR_GR_STRING, DBR_GR_INT, DBR_GR_FLOAT, DBR_GR_ENUM, DBR_GR_CHAR,
    DBR_GR_LONG, DBR_GR_DOUBLE,
    DBR_CTRL_STRING, DBR_CTRL_INT, DBR_CTRL_FLOAT, DBR_CTRL_ENUM,
    DBR_CTRL_CHAR, DBR_CTRL_LONG, DBR_CTRL_DOUBLE,
    DBR_STSACK_STRING)})

assert MAX_STRING_SIZE == VALUE_SIZE[ChannelType.STRING]
