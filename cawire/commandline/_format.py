"""The output of caget, caput and camonitor, line for line.

A port of the printing half of EPICS base's tool_lib.c and of caget.c's
output switch: ``value_text`` (val2str), ``dbr_details`` (dbr2str),
``plain_line`` (the "name value" and terse forms), ``dbr_block`` (caget -d)
and ``WideFormatter`` (the "name timestamp value stat sevr" form shared by
caget -a, caput -l and camonitor, including camonitor's relative and
incremental time stamps).  Functions return text without the final newline
unless stated; every character stands for one output byte (latin-1).
"""
from __future__ import annotations

import dataclasses
import enum
import functools
import math
import time
from typing import Any, Iterator

from ._cformat import (IntBase, c_float_format, escape_raw, format_epics_time,
                       format_integer, round_to_long, signed_char,
                       EPICS_EPOCH, DEFAULT_TIME_FORMAT)
from ._reading import (Reading, base_type, is_char_type, is_control_type,
                       is_graphic_type, STRING, INT, FLOAT, ENUM, CHAR, LONG,
                       DOUBLE, STSACK_STRING, CLASS_NAME)

__all__ = (
    'FormatOptions', 'Problem', 'TimestampKind', 'WideFormatter',
    'value_text', 'values_text', 'iter_values_text', 'dbr_details',
    'plain_line', 'iter_plain_line', 'dbr_block', 'VALUES_CHUNK',
    'alarm_status_text', 'alarm_severity_text', 'dbr_type_name',
    'dbf_type_name', 'dbr_type_from_text', 'DBR_TYPE_NAMES',
)

#: epicsAlarmConditionStrings of EPICS base 7.
ALARM_STATUS_NAMES = (
    'NO_ALARM', 'READ', 'WRITE', 'HIHI', 'HIGH', 'LOLO', 'LOW', 'STATE',
    'COS', 'COMM', 'TIMEOUT', 'HWLIMIT', 'CALC', 'SCAN', 'LINK', 'SOFT',
    'BAD_SUB', 'UDF', 'DISABLE', 'SIMM', 'READ_ACCESS', 'WRITE_ACCESS',
)
#: epicsAlarmSeverityStrings.
ALARM_SEVERITY_NAMES = ('NO_ALARM', 'MINOR', 'MAJOR', 'INVALID')

#: dbr_text[] of db_access.h: index is the DBR type.
DBR_TYPE_NAMES = (
    'DBR_STRING', 'DBR_SHORT', 'DBR_FLOAT', 'DBR_ENUM', 'DBR_CHAR',
    'DBR_LONG', 'DBR_DOUBLE',
    'DBR_STS_STRING', 'DBR_STS_SHORT', 'DBR_STS_FLOAT', 'DBR_STS_ENUM',
    'DBR_STS_CHAR', 'DBR_STS_LONG', 'DBR_STS_DOUBLE',
    'DBR_TIME_STRING', 'DBR_TIME_SHORT', 'DBR_TIME_FLOAT', 'DBR_TIME_ENUM',
    'DBR_TIME_CHAR', 'DBR_TIME_LONG', 'DBR_TIME_DOUBLE',
    'DBR_GR_STRING', 'DBR_GR_SHORT', 'DBR_GR_FLOAT', 'DBR_GR_ENUM',
    'DBR_GR_CHAR', 'DBR_GR_LONG', 'DBR_GR_DOUBLE',
    'DBR_CTRL_STRING', 'DBR_CTRL_SHORT', 'DBR_CTRL_FLOAT', 'DBR_CTRL_ENUM',
    'DBR_CTRL_CHAR', 'DBR_CTRL_LONG', 'DBR_CTRL_DOUBLE',
    'DBR_PUT_ACKT', 'DBR_PUT_ACKS', 'DBR_STSACK_STRING', 'DBR_CLASS_NAME',
)
_DBF_TYPE_NAMES = ('DBF_STRING', 'DBF_SHORT', 'DBF_FLOAT', 'DBF_ENUM',
                   'DBF_CHAR', 'DBF_LONG', 'DBF_DOUBLE')

#: MAX_ENUM_STATES of db_access.h.
MAX_ENUM_STATES = 16


def alarm_status_text(status: int) -> str:
    """``stat_to_str``: the status name, ``??`` when out of range."""
    return ALARM_STATUS_NAMES[status] \
        if 0 <= status < len(ALARM_STATUS_NAMES) else '??'


def alarm_severity_text(severity: int) -> str:
    """``sevr_to_str``: the severity name, ``??`` when out of range."""
    return ALARM_SEVERITY_NAMES[severity] \
        if 0 <= severity < len(ALARM_SEVERITY_NAMES) else '??'


def dbr_type_name(data_type: int) -> str:
    """``dbr_type_to_text``."""
    return DBR_TYPE_NAMES[data_type] \
        if 0 <= data_type < len(DBR_TYPE_NAMES) else 'DBR_invalid'


def dbf_type_name(native_type: int) -> str:
    """``dbf_type_to_text``."""
    if native_type == -1:
        return 'TYPENOTCONN'
    return _DBF_TYPE_NAMES[native_type] \
        if 0 <= native_type < len(_DBF_TYPE_NAMES) else 'DBF_NO_ACCESS'


def dbr_type_from_text(text: str) -> int | None:
    """``dbr_text_to_type``: exact (case-sensitive) match of a dbr_text name."""
    try:
        return DBR_TYPE_NAMES.index(text)
    except ValueError:
        return None


@dataclasses.dataclass
class FormatOptions:
    """Options shared by the three tools' printing (tool_lib.c globals).

    Attributes
    ----------
    float_format : str
        ``dblFormatStr``: ``'%g'`` or ``'%-.<n>e|f|g'`` (-e/-f/-g).
    int_base : IntBase
        ``outTypeI`` (-0x/-0o/-0b).
    float_base : IntBase
        ``outTypeF`` (-lx/-lo/-lb): floats rounded to long, then printed.
    enum_as_number : bool
        ``enumAsNr`` (-n).
    char_array_as_string : bool
        ``charArrAsStr`` (-S).
    separator : str
        ``fieldSeparator`` (-F); one character.
    time_format : str
        ``timeFormatStr``.
    """

    float_format: str = '%g'
    int_base: IntBase = IntBase.DEC
    float_base: IntBase = IntBase.DEC
    enum_as_number: bool = False
    char_array_as_string: bool = False
    separator: str = ' '
    time_format: str = DEFAULT_TIME_FORMAT


def value_text(reading: Reading, index: int, options: FormatOptions) -> str:
    """``val2str``: element ``index`` of a reading as the C tools print it."""
    data_type = reading.data_type
    if not 0 <= data_type <= CLASS_NAME:
        return '*** invalid type'
    kind = base_type(data_type)
    value = reading.values[index]
    if kind == STRING:
        return escape_raw(value)
    if kind in (FLOAT, DOUBLE):
        if options.float_base is IntBase.DEC:
            return c_float_format(options.float_format, value)
        return format_integer(round_to_long(value), options.float_base)
    if kind == CHAR:
        return '%d' % signed_char(value)
    if kind in (INT, LONG):
        return format_integer(value, options.int_base)
    if kind == ENUM:
        value = int(value)
        if (is_graphic_type(data_type) or is_control_type(data_type)) \
                and not options.enum_as_number:
            if value >= MAX_ENUM_STATES:
                return 'Illegal Value (%d)' % value
            if value >= len(reading.enum_strings):
                return 'Enum Index Overflow (%d)' % value
            return reading.enum_strings[value]
        return '%d' % value
    return '!!!'


def _char_string(reading: Reading, limit: int | None = None) -> str:
    """A CHAR array as the escaped C string it holds (up to the first NUL,
    and at most ``limit`` characters)."""
    raw = reading.char_bytes().split(b'\x00', 1)[0]
    if limit is not None:
        raw = raw[:limit]
    return escape_raw(raw.decode('latin-1'))


def _prints_as_string(reading: Reading, options: FormatOptions,
                      requested_count: int, count: int) -> bool:
    return bool(options.char_array_as_string
                and is_char_type(reading.data_type)
                and (requested_count or count > 1))


#: Elements formatted per piece by :func:`iter_values_text`.
VALUES_CHUNK = 16384


@functools.lru_cache(maxsize=8)
def _joined_format(fmt: str, sep: str, count: int) -> str:
    """``count`` copies of ``fmt`` separated by ``sep``: one ``%`` operation
    formats a whole chunk (a third faster than one call per element)."""
    return sep.replace('%', '%%').join([fmt] * count)


def _float_chunk_text(values, fmt: str, sep: str) -> str:
    floats = values.tolist() if hasattr(values, 'tolist') else \
        [float(value) for value in values]
    if any(map(math.isnan, floats)):  # rare: -nan needs the sign bit
        return sep.join(c_float_format(fmt, value) for value in floats)
    return _joined_format(fmt, sep, len(floats)) % tuple(floats)


def iter_values_text(reading: Reading, options: FormatOptions,
                     separator: str | None = None) -> Iterator[str]:
    """The text of :func:`values_text` in pieces of up to VALUES_CHUNK
    elements, so that a large array is never held as one Python object per
    element (floats in the default decimal format go chunk by chunk through
    ``%``-formatting)."""
    sep = options.separator if separator is None else separator
    count = reading.count
    fast_floats = (base_type(reading.data_type) in (FLOAT, DOUBLE)
                   and 0 <= reading.data_type <= CLASS_NAME
                   and options.float_base is IntBase.DEC)
    for start in range(0, count, VALUES_CHUNK):
        stop = min(start + VALUES_CHUNK, count)
        if start:
            yield sep
        if fast_floats:
            yield _float_chunk_text(reading.values[start:stop],
                                    options.float_format, sep)
        else:
            yield sep.join(value_text(reading, index, options)
                           for index in range(start, stop))


def values_text(reading: Reading, options: FormatOptions,
                separator: str | None = None) -> str:
    """All elements joined by the separator (no leading count)."""
    return ''.join(iter_values_text(reading, options, separator))


class Problem(enum.Enum):
    """Why a channel has no value to print (the ``*** ...`` lines)."""

    NOT_CONNECTED = 'not connected'
    NO_READ_ACCESS = 'no read access'
    NO_DATA = 'no data available (timeout)'


def _problem_text(problem: Problem | str) -> str:
    if isinstance(problem, Problem):
        return '*** ' + problem.value
    return '*** CA error ' + problem


def iter_plain_line(name: str, reading: Reading | Problem | str,
               options: FormatOptions, *, requested_count: int = 0,
               terse: bool = False, count_for_padding: int | None = None
               ) -> Iterator[str]:
    """caget's default ("name value") or terse (-t) output of one channel,
    in pieces (see :func:`plain_line`).

    Parameters
    ----------
    name : str
        Channel name (printed unless ``terse``).
    reading : Reading, Problem or str
        The data, a Problem, or the text of a CA error message.
    options : FormatOptions
    requested_count : int
        The -# count (0 when not given): a non-zero count always prints the
        element count before the values.
    terse : bool
        Leave the name out.
    count_for_padding : int, optional
        Element count that decides whether the name is padded to 30
        columns (default: the reading's count; 1 without data).
    """
    sep = options.separator
    parts = []
    if not terse:
        if count_for_padding is None:
            count_for_padding = reading.count if isinstance(reading, Reading) else 1
        if count_for_padding <= 1 and sep == ' ':
            parts.append('%-30s' % name)
        else:
            parts.append(name)
        parts.append(sep)
    if not isinstance(reading, Reading):
        parts.append(_problem_text(reading))
        yield ''.join(parts)
        return
    count = reading.count
    if _prints_as_string(reading, options, requested_count, count):
        parts.append(_char_string(reading))
        yield ''.join(parts)
        return
    if requested_count or count > 1:
        parts.append('%d%s' % (count, sep))
    yield ''.join(parts)
    yield from iter_values_text(reading, options)


def plain_line(name: str, reading: Reading | Problem | str,
               options: FormatOptions, *, requested_count: int = 0,
               terse: bool = False, count_for_padding: int | None = None) -> str:
    """caget's default ("name value") or terse (-t) output of one channel.

    Parameters
    ----------
    name : str
        Channel name (printed unless ``terse``).
    reading : Reading, Problem or str
        The data, a Problem, or the text of a CA error message.
    options : FormatOptions
    requested_count : int
        The -# count (0 when not given): a non-zero count always prints the
        element count before the values.
    terse : bool
        Leave the name out.
    count_for_padding : int, optional
        Element count that decides whether the name is padded to 30
        columns (default: the reading's count; 1 without data).
    """
    return ''.join(iter_plain_line(
        name, reading, options, requested_count=requested_count, terse=terse,
        count_for_padding=count_for_padding))


def _limits_lines(reading: Reading, kind: int, control: bool) -> list:
    limits = reading.limits

    def text(name):
        value = limits.get(name, 0)
        if kind in (FLOAT, DOUBLE):
            return c_float_format('%g', value)
        if kind == CHAR:
            return '%8d' % signed_char(value)
        return '%8d' % int(value)

    lines = [
        '    Lo disp limit:    ' + text('lower_disp_limit'),
        '    Hi disp limit:    ' + text('upper_disp_limit'),
        '    Lo alarm limit:   ' + text('lower_alarm_limit'),
        '    Lo warn limit:    ' + text('lower_warning_limit'),
        '    Hi warn limit:    ' + text('upper_warning_limit'),
        '    Hi alarm limit:   ' + text('upper_alarm_limit'),
    ]
    if control:
        lines += ['    Lo ctrl limit:    ' + text('lower_ctrl_limit'),
                  '    Hi ctrl limit:    ' + text('upper_ctrl_limit')]
    return lines


def dbr_details(reading: Reading, options: FormatOptions) -> str:
    """``dbr2str``: the metadata lines caget -d prints after the value.

    Returns the lines joined by newlines (no final newline); empty for the
    plain types 0..6, which carry no metadata.
    """
    data_type = reading.data_type
    status = ['    Status:           ' + alarm_status_text(reading.status),
              '    Severity:         ' + alarm_severity_text(reading.severity)]
    if 0 <= data_type <= DOUBLE:
        return ''
    if data_type in (7, 8, 9, 10, 11, 12, 13, 21, 28):
        return '\n'.join(status)
    if 14 <= data_type <= 20:
        stamp = reading.stamp or (0, 0)
        return '\n'.join(
            ['    Timestamp:        '
             + format_epics_time(*stamp, options.time_format)] + status)
    if data_type in (24, 31):  # GR_ENUM, CTRL_ENUM
        lines = status + ['    Enums:            (%2d)' % len(reading.enum_strings)]
        lines += ['                      [%2d] %s' % (index, text)
                  for index, text in enumerate(reading.enum_strings)]
        return '\n'.join(lines)
    if 22 <= data_type <= 34:
        kind = base_type(data_type)
        lines = status + ['    Units:            ' + reading.units]
        if kind in (FLOAT, DOUBLE):
            lines.append('    Precision:        %d' % reading.precision)
        lines += _limits_lines(reading, kind, is_control_type(data_type))
        return '\n'.join(lines)
    if data_type == STSACK_STRING:
        # The STSACK fields are unsigned: no sign check, as in the C macro.
        return '\n'.join([
            '    Status:           ' + alarm_status_text(reading.status),
            '    Severity:         ' + alarm_severity_text(reading.severity),
            '    Ack transient?:   ' + ('YES' if reading.ackt else 'NO'),
            '    Ack severity:     ' + alarm_severity_text(reading.acks)])
    return "can't print data type"


def dbr_block(name: str, native_type: int, reading: Reading | Problem | str,
              options: FormatOptions, *, requested_count: int = 0) -> str:
    """caget -d output of one channel (several lines, no final newline)."""
    lines = [name]
    if not isinstance(reading, Reading):
        lines.append('    ' + _problem_text(reading))
        return '\n'.join(lines)
    lines.append('    Native data type: ' + dbf_type_name(native_type))
    lines.append('    Request type:     ' + dbr_type_name(reading.data_type))
    if reading.data_type == CLASS_NAME:
        lines.append('    Class Name:       '
                     + (reading.values[0] if reading.values else ''))
        return '\n'.join(lines)
    lines.append('    Element count:    %d' % reading.count)
    if _prints_as_string(reading, options, requested_count, reading.count):
        value = _char_string(reading)
    else:
        value = values_text(reading, options)
    lines.append('    Value:            ' + value)
    if reading.data_type > DOUBLE:
        lines.append(dbr_details(reading, options))
    return '\n'.join(lines)


class TimestampKind(enum.Enum):
    """``TimeT`` of tool_lib.h (camonitor -t r/i/I)."""

    ABSOLUTE = 'absolute'
    RELATIVE = 'relative'
    INCREMENTAL = 'incremental'
    INCREMENTAL_BY_CHANNEL = 'incrementalByChan'


def _now_stamp() -> tuple[int, int]:
    now = time.time_ns()
    seconds, nanoseconds = divmod(now, 1_000_000_000)
    return (seconds - EPICS_EPOCH, nanoseconds)


def _diff_seconds(new: tuple, ref: tuple | None) -> float:
    """``epicsTimeDiffInSeconds`` (u32 wrap of the seconds, as in C)."""
    if ref is None:  # no earlier stamp: no difference
        return 0.0
    seconds = (new[0] - ref[0]) & 0xFFFFFFFF
    if seconds >= 2 ** 31:
        seconds -= 2 ** 32
    return (seconds * 1_000_000_000 + (new[1] - ref[1])) * 1e-9


@dataclasses.dataclass
class _ChannelStamps:
    first_printed: bool = False
    previous_client: tuple[int, int] = (0, 0)
    previous_server: tuple[int, int] = (0, 0)


class WideFormatter:
    """``print_time_val_sts``: "name timestamp value(s) status severity".

    Holds the time-stamp state that camonitor's relative and incremental
    modes need (program start, first server stamp, previous stamps).

    Parameters
    ----------
    options : FormatOptions
    kind : TimestampKind
    server_stamps, client_stamps : bool
        Print the server's (``s``) and/or the client's (``c``) time.
    start : tuple, optional
        Client time stamp of program start (EPICS seconds, ns).
    """

    def __init__(self, options: FormatOptions,
                 kind: TimestampKind = TimestampKind.ABSOLUTE, *,
                 server_stamps: bool = True, client_stamps: bool = False,
                 start: tuple[int, int] | None = None) -> None:
        self.options = options
        self.kind = kind
        self.server_stamps = server_stamps
        self.client_stamps = client_stamps
        self._start = start if start is not None else _now_stamp()
        self._first_server: tuple | None = None
        self._previous_client = (0, 0)
        self._previous_server = (0, 0)
        self._channels: dict = {}

    def _channel(self, key) -> _ChannelStamps:
        state = self._channels.get(key)
        if state is None:
            state = self._channels[key] = _ChannelStamps()
        return state

    def line(self, name: str, reading: Reading | Problem | str | None, *,
             requested_count: int = 0, ever_connected: bool = True,
             disconnected: bool = False, now: tuple | None = None,
             key=None, count_for_padding: int | None = None) -> str:
        """One output line (no final newline); the arguments are those of
        :meth:`iter_line`."""
        return ''.join(self.iter_line(
            name, reading, requested_count=requested_count,
            ever_connected=ever_connected, disconnected=disconnected, now=now,
            key=key, count_for_padding=count_for_padding))

    def iter_line(self, name: str, reading: Reading | Problem | str | None, *,
                  requested_count: int = 0, ever_connected: bool = True,
                  disconnected: bool = False,
                  now: tuple[int, int] | None = None,
                  key=None, count_for_padding: int | None = None
                  ) -> Iterator[str]:
        """One output line (no final newline), in pieces: a large array's
        values come chunk by chunk.

        Parameters
        ----------
        name : str
        reading : Reading, Problem, str or None
            The data; a Problem or CA error text; None with
            ``disconnected`` or ``ever_connected=False``.
        requested_count : int
            The -# count (0 when not given).
        ever_connected : bool
            False prints "*** Not connected (PV not found)".
        disconnected : bool
            The channel went down: "<client time> *** disconnected".
        now : tuple, optional
            Client time stamp of this event (defaults to the clock).
        key : hashable, optional
            Identity of the channel for per-channel state (default: name).
        count_for_padding : int, optional
            Element count deciding the 30-column name padding when there is
            no reading (camonitor keeps the count of the last update).
        """
        opts = self.options
        sep = opts.separator
        now = now if now is not None else _now_stamp()
        if isinstance(reading, Reading):
            count = reading.count
        else:
            count = count_for_padding or 0
        name_part = ('%-30s' % name if count <= 1 and sep == ' ' else name) + sep
        if not ever_connected:
            yield name_part + '*** Not connected (PV not found)'
            return
        if disconnected or not isinstance(reading, Reading):
            now_text = format_epics_time(*now, opts.time_format)
            if disconnected or reading is Problem.NOT_CONNECTED:
                yield name_part + now_text + ' *** disconnected'
            elif reading is None:
                yield name_part + now_text + ' *** no data available (timeout)'
            else:
                assert isinstance(reading, (Problem, str))
                yield name_part + now_text + ' ' + _problem_text(reading)
            return
        if reading.stamp is None or not 14 <= reading.data_type <= 20:
            yield name_part + "can't print data type"
            return
        yield name_part + self._stamp_text(
            reading.stamp, now, name if key is None else key)
        yield from self._iter_values_text(reading, requested_count)
        yield self._alarm_text(reading)

    def _stamp_text(self, server: tuple[int, int], client: tuple[int, int],
                    key) -> str:
        channel = self._channel(key)
        print_absolute = not channel.first_printed
        first_server = self._first_server
        if first_server is None:
            first_server = self._first_server = server
        kind = self.kind
        if kind is TimestampKind.RELATIVE:
            ref_client, ref_server = self._start, first_server
        elif kind is TimestampKind.INCREMENTAL:
            ref_client, ref_server = self._previous_client, self._previous_server
        elif kind is TimestampKind.INCREMENTAL_BY_CHANNEL:
            ref_client, ref_server = channel.previous_client, channel.previous_server
        else:
            print_absolute = True
        fmt = self.options.time_format
        text = ''
        if print_absolute:
            if self.server_stamps:
                text += format_epics_time(*server, fmt)
            if self.client_stamps:
                text += '(' + format_epics_time(*client, fmt) + ')'
            channel.first_printed = True
        else:
            if self.server_stamps:
                text += '              %+12.6f' % _diff_seconds(server, ref_server)
            if self.client_stamps:
                text += '              (%+12.6f)' % _diff_seconds(client, ref_client)
        if kind is TimestampKind.INCREMENTAL_BY_CHANNEL:
            channel.previous_client = client
            channel.previous_server = server
        self._previous_client = client
        self._previous_server = server
        return text

    def _iter_values_text(self, reading: Reading, requested_count: int
                          ) -> Iterator[str]:
        opts = self.options
        sep = opts.separator
        count = reading.count
        if _prints_as_string(reading, opts, requested_count, count):
            limit = requested_count if requested_count and requested_count < count \
                else count
            yield sep + _char_string(reading, limit)
            return
        if requested_count or count > 1:
            yield '%s%d' % (sep, count)
        if count:
            # sep before every element == sep, then the elements joined by sep.
            yield sep
            yield from iter_values_text(reading, opts)

    def _alarm_text(self, reading: Reading) -> str:
        sep = self.options.separator
        if reading.status or reading.severity:
            return (sep + alarm_status_text(reading.status)
                    + sep + alarm_severity_text(reading.severity))
        return sep + sep
