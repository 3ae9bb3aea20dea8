"""The concrete channel types: numeric (with limits and alarm limits), raw
bytes, long strings, strings and enums.

Each class defines how a user value becomes wire elements (``_normalize``)
and back (``_elements_to_value``), and which metadata it serves; the common
machinery (writes, hooks, payload cache, subscribers) is ChannelData's.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..protocol._enums import AlarmSeverity, AlarmStatus, ChannelType
from ..protocol._exceptions import CaprotoConversionError, CaprotoValueError
from ._channel_data import _DBE_LOG, _DBE_VALUE, _VALUE_CHANGE, ChannelData
from ._conversion import (NATIVE_NUMPY_DTYPES, as_text_list, convert_values,
                          parse_enum, to_native_array)

__all__ = ('ChannelNumeric', 'ChannelDouble', 'ChannelFloat',
           'ChannelInteger', 'ChannelShort', 'ChannelByte', 'ChannelChar',
           'ChannelString', 'ChannelEnum')

_LIMIT_NAMES = ('upper_disp_limit', 'lower_disp_limit', 'upper_alarm_limit',
                'upper_warning_limit', 'lower_warning_limit',
                'lower_alarm_limit', 'upper_ctrl_limit', 'lower_ctrl_limit')


def _finite_pair(upper, lower) -> bool:
    # A limit pair that is unset (0/0) or NaN does not raise alarms, as
    # EPICS display tools and records treat 0/0 as "not configured".
    if upper is None or lower is None:
        return False
    if isinstance(upper, float) and math.isnan(upper):
        return False
    if isinstance(lower, float) and math.isnan(lower):
        return False
    return not (upper == 0 and lower == 0)


class ChannelNumeric(ChannelData):
    """Numeric channel with units, limits and alarm limits.

    ``value_atol``/``log_atol`` are deadbands: a scalar change of at most
    that much posts no DBE_VALUE/DBE_LOG event.

    Alarm limits set the alarm when a value is written: at or beyond
    ``upper_alarm_limit``/``lower_alarm_limit`` HIHI/LOLO MAJOR, at or beyond
    the warning limits HIGH/LOW MINOR, otherwise NO_ALARM. A pair left at
    0/0 is not checked. Writes outside a configured control range
    (``lower_ctrl_limit`` < ``upper_ctrl_limit``) are refused.
    """

    default_value: object = 0

    def __init__(self, *, value: Any = None, units: str = '',
                 upper_disp_limit: float = 0, lower_disp_limit: float = 0,
                 upper_alarm_limit: float = 0, upper_warning_limit: float = 0,
                 lower_warning_limit: float = 0, lower_alarm_limit: float = 0,
                 upper_ctrl_limit: float = 0, lower_ctrl_limit: float = 0,
                 value_atol: float = 0.0, log_atol: float = 0.0,
                 **kwargs: Any):
        self.units = units
        self.upper_disp_limit = upper_disp_limit
        self.lower_disp_limit = lower_disp_limit
        self.upper_alarm_limit = upper_alarm_limit
        self.upper_warning_limit = upper_warning_limit
        self.lower_warning_limit = lower_warning_limit
        self.lower_alarm_limit = lower_alarm_limit
        self.upper_ctrl_limit = upper_ctrl_limit
        self.lower_ctrl_limit = lower_ctrl_limit
        self.value_atol = value_atol
        self.log_atol = log_atol
        #: Severities of the HIHI, HIGH, LOW and LOLO alarms (a record's
        #: HHSV, HSV, LSV, LLSV).
        self.limit_severities: tuple[AlarmSeverity, ...] = (
                                 AlarmSeverity.MAJOR_ALARM,
                                 AlarmSeverity.MINOR_ALARM,
                                 AlarmSeverity.MINOR_ALARM,
                                 AlarmSeverity.MAJOR_ALARM)
        self._last_posted: list[float | None] = [None, None]  # value, log
        if not hasattr(self, 'precision'):
            self.precision = 0
        super().__init__(value=value, **kwargs)
        status, severity = self._alarm_from_limits(self._elements)
        self._alarm._set(status, severity)

    def _normalize(self, value):
        if isinstance(value, (str, bytes)):
            try:
                value = convert_values(as_text_list(value, self.string_encoding),
                                       ChannelType.STRING, self.data_type)
            except CaprotoConversionError as exc:
                raise CaprotoValueError(str(exc)) from None
        try:
            elements = to_native_array(value, self.data_type)
        except (TypeError, ValueError) as exc:
            raise CaprotoValueError(
                f'{value!r} is not a valid {self.data_type.name} value: '
                f'{exc}') from None
        if elements.ndim != 1:
            elements = elements.reshape(-1)
        if len(elements) > self.max_length:
            raise CaprotoValueError(
                f'{len(elements)} elements exceed max_length {self.max_length}')
        if _finite_pair(self.upper_ctrl_limit, self.lower_ctrl_limit) and \
                self.upper_ctrl_limit > self.lower_ctrl_limit and len(elements):
            low, high = elements.min(), elements.max()
            if low < self.lower_ctrl_limit or high > self.upper_ctrl_limit:
                raise CaprotoValueError(
                    f'value outside the control limits '
                    f'[{self.lower_ctrl_limit}, {self.upper_ctrl_limit}]')
        if elements.base is not None:
            # Never keep a view: it would pin the client's receive buffer.
            elements = elements.copy()
        if self.is_array:
            return elements, elements
        if len(elements) != 1:
            raise CaprotoValueError(f'{value!r} is not a scalar')
        return elements[0].item(), elements

    def _alarm_from_limits(self, elements):
        has_alarm = _finite_pair(self.upper_alarm_limit, self.lower_alarm_limit)
        has_warning = _finite_pair(self.upper_warning_limit,
                                   self.lower_warning_limit)
        if not (has_alarm or has_warning) or not len(elements):
            return None, None
        return self._check_limits(elements, has_alarm, has_warning)

    def _check_limits(self, elements, has_alarm, has_warning):
        # A limit whose severity is NO_ALARM raises nothing (as a record
        # whose HHSV... is NO_ALARM); the next limit is checked instead.
        value = elements[0]
        hihi, high, low, lolo = self.limit_severities
        if has_alarm and hihi and value >= self.upper_alarm_limit:
            return AlarmStatus.HIHI, AlarmSeverity(hihi)
        if has_alarm and lolo and value <= self.lower_alarm_limit:
            return AlarmStatus.LOLO, AlarmSeverity(lolo)
        if has_warning and high and value >= self.upper_warning_limit:
            return AlarmStatus.HIGH, AlarmSeverity(high)
        if has_warning and low and value <= self.lower_warning_limit:
            return AlarmStatus.LOW, AlarmSeverity(low)
        return AlarmStatus.NO_ALARM, AlarmSeverity.NO_ALARM

    def reevaluate_alarm(self) -> None:
        """Recompute the alarm from the limits after they changed."""
        status, severity = self._alarm_from_limits(self._elements)
        if status is None:
            status, severity = AlarmStatus.NO_ALARM, AlarmSeverity.NO_ALARM
        if self._alarm._set(status, severity):
            self._alarm._publish()

    def _value_events(self, elements) -> int:
        # Deadbands (like a record's MDEL/ADEL): a scalar change smaller
        # than value_atol (log_atol) posts no DBE_VALUE (DBE_LOG).
        if not (self.value_atol or self.log_atol) or len(elements) != 1:
            return _VALUE_CHANGE
        value = float(elements[0])
        events = 0
        last = self._last_posted
        if last[0] is None or not abs(value - last[0]) <= self.value_atol:
            events |= _DBE_VALUE
            last[0] = value
        if last[1] is None or not abs(value - last[1]) <= self.log_atol:
            events |= _DBE_LOG
            last[1] = value
        return events

    def _update_metadata(self, metadata: dict) -> bool:
        allowed = set(_LIMIT_NAMES) | {'units', 'precision'}
        unknown = set(metadata) - allowed
        if unknown:
            raise CaprotoValueError(f'unknown metadata {sorted(unknown)}')
        changed = False
        for name, new in metadata.items():
            if new is not None and getattr(self, name) != new:
                setattr(self, name, new)
                changed = True
        return changed

    def _conversion_options(self) -> dict:
        options = super()._conversion_options()
        options['precision'] = self.precision
        return options

    def _metadata_fields(self) -> dict:
        fields = {name: getattr(self, name) for name in _LIMIT_NAMES}
        fields['units'] = self.units
        fields['precision'] = self.precision
        return fields


class ChannelDouble(ChannelNumeric):
    """DOUBLE channel (``precision`` sets the DBR_STRING formatting)."""

    data_type = ChannelType.DOUBLE
    default_value = 0.0

    def __init__(self, *, precision: int = 0, **kwargs: Any):
        self.precision = precision
        super().__init__(**kwargs)


class ChannelFloat(ChannelDouble):
    """FLOAT (32-bit) channel."""

    data_type = ChannelType.FLOAT


class ChannelInteger(ChannelNumeric):
    """LONG (32-bit signed) channel."""

    data_type = ChannelType.LONG


class ChannelShort(ChannelNumeric):
    """SHORT (16-bit signed; ChannelType.INT) channel."""

    data_type = ChannelType.INT


class ChannelByte(ChannelNumeric):
    """CHAR channel holding raw bytes (value is ``bytes``)."""

    data_type = ChannelType.CHAR
    default_value = b''

    def _initial_max_length(self, value, max_length) -> int:
        if max_length is not None:
            return max(int(max_length), 1)
        if isinstance(value, str) or not hasattr(value, '__len__'):
            return 1
        # bytes, or an array/list of byte values (a uint8 image)
        return max(len(value), 1)

    def _normalize(self, value):
        if isinstance(value, str):
            value = value.encode(self.string_encoding)
        if isinstance(value, (bytes, bytearray, memoryview)):
            raw = bytes(value)
            if len(raw) > self.max_length:
                raise CaprotoValueError(
                    f'{len(raw)} bytes exceed max_length {self.max_length}')
            return raw, np.frombuffer(raw, dtype=np.uint8)
        _, elements = super()._normalize(value)
        elements = np.atleast_1d(elements)
        return bytes(elements), elements

    def _elements_to_value(self, elements):
        return bytes(np.asarray(elements, dtype=np.uint8))


class ChannelChar(ChannelData):
    """A long string served as a CHAR array (value is ``str``).

    The wire elements are the encoded text plus a terminating NUL, so a
    count-0 read returns the text length + 1 (as an EPICS ``$`` field).
    DBR_STRING reads give the text (cut to 39 bytes on the wire).
    """

    data_type = ChannelType.CHAR
    default_value = ''

    def __init__(self, *, value: Any = None, max_length: int | None = None,
                 report_as_string: bool = True, **kwargs: Any):
        self.report_as_string = bool(report_as_string)
        if max_length is None:
            text = value if isinstance(value, str) else ''
            max_length = max(len(text.encode(kwargs.get(
                'string_encoding', 'latin-1'), errors='replace')) + 1, 40)
        super().__init__(value=value, max_length=max_length, **kwargs)

    def _normalize(self, value):
        if isinstance(value, (bytes, bytearray, memoryview)):
            raw = bytes(value)
            end = raw.find(b'\0')
            value = (raw if end < 0 else raw[:end]).decode(
                self.string_encoding, errors='replace')
        elif isinstance(value, np.ndarray):
            return self._normalize(bytes(value.astype(np.uint8)))
        if not isinstance(value, str):
            raise CaprotoValueError(f'{value!r} is not text')
        raw = value.encode(self.string_encoding, errors='replace') + b'\0'
        if len(raw) > self.max_length:
            raise CaprotoValueError(
                f'{len(raw)} bytes (with the NUL) exceed max_length '
                f'{self.max_length}')
        return value, np.frombuffer(raw, dtype=np.uint8)

    def _elements_to_value(self, elements):
        if isinstance(elements, list):  # converted from a STRING write
            return elements[0] if elements else ''
        return bytes(np.asarray(elements, dtype=np.uint8))

    def _conversion_options(self) -> dict:
        options = super()._conversion_options()
        options['char_as_text'] = self.report_as_string
        return options


class ChannelString(ChannelData):
    """STRING channel (40-byte strings; value is ``str`` or a list of str)."""

    data_type = ChannelType.STRING
    default_value = ''

    def _normalize(self, value):
        if isinstance(value, np.ndarray):
            value = value.tolist()
        items = as_text_list(value, self.string_encoding)
        if len(items) > self.max_length:
            raise CaprotoValueError(
                f'{len(items)} strings exceed max_length {self.max_length}')
        if self.is_array:
            return items, items
        if len(items) != 1:
            raise CaprotoValueError(f'{value!r} is not a single string')
        return items[0], items

    def _elements_to_value(self, elements):
        if self.is_array:
            return list(elements)
        return elements[0] if elements else ''

    def _conversion_options(self) -> dict:
        # A number written to a stringout is formatted with 6 digits, to a
        # STRING waveform with its PREC (0 by default).
        options = super()._conversion_options()
        options['precision'] = 0 if self.is_array else 6
        return options


class ChannelEnum(ChannelData):
    """ENUM channel; the value is the state string.

    Writes accept a state string or an index into ``enum_strings``. As in a
    C IOC, a CA client may store any index (0..65535) by writing a number.
    ``enum_rules`` names the record whose rules apply to such indices and to
    numbers written as text:

    * ``'mbbo'`` (default): 16 state slots, the unset ones empty; an index
      below 16 without a string reads as ``''``, beyond as
      ``'Illegal Value'``; a written ``''`` selects the first unset slot;
      text such as ``"3.7"`` selects state 3;
    * ``'bo'``: two states; other indices read as ``'Illegal_Value'``; text
      must be a plain state number.

    Parameters
    ----------
    enum_strings : sequence of str
    enum_rules : {'mbbo', 'bo'}
    """

    data_type = ChannelType.ENUM
    _RULES = {'mbbo': (16, 'Illegal Value', True),
              'bo': (2, 'Illegal_Value', False)}

    def __init__(self, *, enum_strings: Sequence[str] = (), value: Any = None,
                 enum_rules: str = 'mbbo', **kwargs: Any):
        self.enum_strings = tuple(str(item) for item in enum_strings)
        try:
            slots, illegal, trailing = self._RULES[enum_rules]
        except KeyError:
            raise CaprotoValueError(
                f'enum_rules must be one of {sorted(self._RULES)}') from None
        self.enum_rules = enum_rules
        self.state_slots = max(slots, len(self.enum_strings))
        self.illegal_state_text = illegal
        self._numbers_with_text = trailing
        if value is None:
            value = self.enum_strings[0] if self.enum_strings else 0
        super().__init__(value=value, **kwargs)

    def state_text(self, index: int) -> str:
        """The string an index reads as (DBR_STRING)."""
        if index < len(self.enum_strings):
            return self.enum_strings[index]
        if index < self.state_slots:
            return ''
        return self.illegal_state_text

    def _state_index(self, value) -> int:
        if isinstance(value, bool):
            value = int(value)
        if isinstance(value, str):
            if value in self.enum_strings:
                return self.enum_strings.index(value)
            if value == '' and len(self.enum_strings) < self.state_slots:
                return len(self.enum_strings)
            try:
                return parse_enum(value, self.enum_strings,
                                  trailing_text=self._numbers_with_text)
            except CaprotoConversionError:
                raise CaprotoValueError(
                    f'{value!r} is not one of {self.enum_strings}') from None
        try:
            index = int(value)
        except (TypeError, ValueError):
            raise CaprotoValueError(f'{value!r} is not an enum state') from None
        if not 0 <= index <= 0xFFFF:
            raise CaprotoValueError(f'state {index} out of range (0..65535)')
        return index

    def _normalize(self, value):
        if isinstance(value, np.ndarray):
            value = value.tolist()
        if isinstance(value, (list, tuple)):
            if len(value) != 1:
                raise CaprotoValueError(f'{value!r} is not a single state')
            value = value[0]
        index = self._state_index(value)
        return (self.state_text(index),
                np.array([index], dtype=NATIVE_NUMPY_DTYPES[ChannelType.ENUM]))

    def _elements_to_value(self, elements):
        if isinstance(elements, list):
            return elements[0] if elements else ''
        return int(elements[0]) if len(elements) else 0

    def values_from_wire(self, data: Any, data_type: ChannelType) -> Any:
        """Convert client data to a value for ``write``.

        A string is matched against ``enum_strings`` (an empty string names the
        first unused state slot, a number in text that state); other types
        convert as for any channel.

        Raises
        ------
        CaprotoConversionError
            The text names no state and is no valid state number.
        """
        if ChannelType(data_type) == ChannelType.STRING:
            texts = as_text_list(data, self.string_encoding)
            text = texts[0] if texts else ''
            if text in self.enum_strings:
                return text
            if text == '' and len(self.enum_strings) < self.state_slots:
                return len(self.enum_strings)
            return parse_enum(text, self.enum_strings,
                              trailing_text=self._numbers_with_text)
        return super().values_from_wire(data, data_type)

    def elements_as(self, base_type: ChannelType) -> Any:
        """Current elements as ``base_type``: state strings for STRING."""
        if ChannelType(base_type) == ChannelType.STRING:
            return [self.state_text(index) for index in self._elements.tolist()]
        return super().elements_as(base_type)

    def _conversion_options(self) -> dict:
        options = super()._conversion_options()
        options['enum_strings'] = self.enum_strings
        return options

    def _update_metadata(self, metadata: dict) -> bool:
        unknown = set(metadata) - {'enum_strings'}
        if unknown:
            raise CaprotoValueError(f'unknown metadata {sorted(unknown)}')
        strings = metadata.get('enum_strings')
        if strings is None:
            return False
        strings = tuple(str(item) for item in strings)
        changed = strings != self.enum_strings
        self.enum_strings = strings
        return changed

    def _metadata_fields(self) -> dict:
        return {'enum_strings': self.enum_strings}
