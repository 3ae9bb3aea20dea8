"""One DBR reading as the formatting layer sees it.

The tools print what a read or monitor response carries; ``Reading`` is that
content reduced to plain Python values (text as latin-1 ``str``, one
character per byte, so what came off the wire is printed back unchanged).
``Reading.from_response`` adapts a client response (cawire's or caproto's:
``data_type``, ``data_count``, ``data``, ``metadata``).
"""
from __future__ import annotations

import dataclasses
from typing import Any, Sequence

__all__ = ('Reading', 'base_type', 'is_string_type', 'is_char_type',
           'is_enum_type', 'is_float_type', 'is_graphic_type',
           'is_control_type', 'is_time_type')

STRING, INT, FLOAT, ENUM, CHAR, LONG, DOUBLE = range(7)
_LAST_BASE_TYPE = DOUBLE
STSACK_STRING = 37
CLASS_NAME = 38


def base_type(data_type: int) -> int:
    """The plain type (0..6) a DBR type carries, as tool_lib.c computes it."""
    if data_type in (STSACK_STRING, CLASS_NAME):
        return STRING
    return data_type % (_LAST_BASE_TYPE + 1)


def is_string_type(data_type: int) -> bool:
    """Whether values of ``data_type`` are strings (STSACK and CLASS_NAME
    included)."""
    return data_type <= 34 and base_type(data_type) == STRING or \
        data_type in (STSACK_STRING, CLASS_NAME)


def is_char_type(data_type: int) -> bool:
    """Whether ``data_type`` (0..34) carries CHAR values."""
    return data_type <= 34 and base_type(data_type) == CHAR


def is_enum_type(data_type: int) -> bool:
    """Whether ``data_type`` (0..34) carries ENUM values."""
    return data_type <= 34 and base_type(data_type) == ENUM


def is_float_type(data_type: int) -> bool:
    """Whether ``data_type`` (0..34) carries FLOAT or DOUBLE values."""
    return data_type <= 34 and base_type(data_type) in (FLOAT, DOUBLE)


def is_time_type(data_type: int) -> bool:
    """Whether ``data_type`` is a TIME_* type (14..20)."""
    return 14 <= data_type <= 20


def is_graphic_type(data_type: int) -> bool:
    """Whether ``data_type`` is a GR_* type (21..27)."""
    return 21 <= data_type <= 27


def is_control_type(data_type: int) -> bool:
    """Whether ``data_type`` is a CTRL_* type (28..34)."""
    return 28 <= data_type <= 34


def _latin1(text: Any) -> str:
    """Wire text as a one-char-per-byte str, cut at the first NUL."""
    if isinstance(text, (bytes, bytearray, memoryview)):
        text = bytes(text).split(b'\x00', 1)[0].decode('latin-1')
    else:
        text = str(text).split('\x00', 1)[0]
    return text


def _number(value: Any) -> Any:
    """numpy scalars to Python numbers (ints stay ints, floats floats)."""
    item = getattr(value, 'item', None)
    return item() if item is not None else value


_LIMIT_NAMES = (
    'upper_disp_limit', 'lower_disp_limit', 'upper_alarm_limit',
    'upper_warning_limit', 'lower_warning_limit', 'lower_alarm_limit',
    'upper_ctrl_limit', 'lower_ctrl_limit',
)


@dataclasses.dataclass
class Reading:
    """Value and metadata of one response, in printable form.

    Attributes
    ----------
    data_type : int
        DBR type of the response (0..38).
    values : sequence
        One entry per element: ``str`` for string types (latin-1, cut at
        the first NUL), ``int`` for integer/enum/char types (char as the
        unsigned byte), ``float`` for float/double (a numpy float array
        when the response carried one).
    status, severity : int
        Alarm status and severity (STS and richer types).
    stamp : tuple of int or None
        ``(secondsSinceEpoch, nanoSeconds)`` for TIME types.
    units : str
    precision : int
    limits : dict
        GR/CTRL limits keyed by the caproto attribute names.
    enum_strings : tuple of str
    ackt, acks : int
        STSACK_STRING acknowledgement fields.
    """

    data_type: int
    values: Sequence
    status: int = 0
    severity: int = 0
    stamp: tuple[int, int] | None = None
    units: str = ''
    precision: int = 0
    limits: dict = dataclasses.field(default_factory=dict)
    enum_strings: tuple = ()
    ackt: int = 0
    acks: int = 0

    @property
    def count(self) -> int:
        """Number of value elements."""
        return len(self.values)

    def char_bytes(self) -> bytes:
        """The elements of a CHAR reading as raw bytes."""
        return bytes(int(value) & 0xFF for value in self.values)

    @classmethod
    def from_response(cls, response: Any) -> 'Reading':
        """Build a Reading from a client read/monitor response.

        Parameters
        ----------
        response
            Anything with ``data_type``, ``data`` and ``metadata`` (a
            ReadNotifyResponse or EventAddResponse of cawire or caproto).
        """
        data_type = int(response.data_type)
        return cls.from_parts(data_type, response.data,
                              getattr(response, 'metadata', None))

    @classmethod
    def from_parts(cls, data_type: int, data: Sequence,
                   metadata: Any = None) -> 'Reading':
        """Build a Reading from a DBR type, decoded data and metadata."""
        values: Sequence
        if is_string_type(data_type):
            values = [_latin1(item) for item in data]
        elif isinstance(data, (bytes, bytearray)):
            values = list(data)
        elif getattr(getattr(data, 'dtype', None), 'kind', None) == 'f':
            # Floating-point arrays stay numpy arrays (no per-element
            # Python objects: a 2e6-element waveform is formatted in chunks).
            values = data
        elif hasattr(data, 'tolist'):
            values = data.tolist()
        else:
            values = [_number(item) for item in data]
        reading = cls(data_type=data_type, values=values)
        if metadata is None:
            return reading
        reading.status = int(getattr(metadata, 'status', 0))
        reading.severity = int(getattr(metadata, 'severity', 0))
        if is_time_type(data_type):
            reading.stamp = (int(metadata.secondsSinceEpoch),
                             int(metadata.nanoSeconds))
        reading.units = _latin1(getattr(metadata, 'units', b''))
        reading.precision = int(getattr(metadata, 'precision', 0))
        reading.limits = {name: _number(getattr(metadata, name))
                          for name in _LIMIT_NAMES if hasattr(metadata, name)}
        raw_strings = getattr(metadata, 'enum_strings', ())
        if raw_strings:
            reading.enum_strings = tuple(_latin1(text) for text in raw_strings)
        reading.ackt = int(getattr(metadata, 'ackt', 0))
        reading.acks = int(getattr(metadata, 'acks', 0))
        return reading
