"""Unit tests of the tools' pure layers: C formatting emulation, output
lines, getopt and option parsing.  Expected strings are what EPICS base
7.0.8 caget/caput/camonitor print (recorded from the real tools)."""
from __future__ import annotations

import math
import os
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, strategies as st

from cawire.commandline import _args, _cformat, _format
from cawire.commandline._cformat import IntBase
from cawire.commandline._format import (FormatOptions, Problem, TimestampKind,
                                        WideFormatter)
from cawire.commandline._getopt import Getopt
from cawire.commandline._reading import Reading


# Time stamps print in local time, as in C: pin the zone to UTC.
pytestmark = pytest.mark.usefixtures('utc_zone')


# EPICS stamp of 2026-11-25 16:39:41.617191099 UTC
STAMP = (1164472781, 617191099)


def reading(data_type, values, **fields):
    return Reading(data_type=data_type, values=list(values), **fields)


# -- C library emulation -------------------------------------------------------------

@pytest.mark.parametrize('fmt, value, text', [
    ('%g', 3.14159265, '3.14159'), ('%g', 3e10, '3e+10'),
    ('%g', 0.000123, '0.000123'), ('%g', 123456789.123, '1.23457e+08'),
    ('%-.3e', 3.14159265, '3.142e+00'), ('%-.2f', 123456789.123, '123456789.12'),
    ('%-.10g', 123456789.123, '123456789.1'), ('%g', -0.0, '-0'),
    ('%g', math.inf, 'inf'), ('%g', -math.inf, '-inf'), ('%g', math.nan, 'nan'),
    ('%g', -math.nan, '-nan'), ('%-.2f', -math.nan, '-nan'),
])
def test_c_float_format(fmt, value, text):
    assert _cformat.c_float_format(fmt, value) == text


@pytest.mark.parametrize('value, base, text', [
    (42, IntBase.DEC, '42'), (-5, IntBase.HEX, '0xFFFFFFFB'),
    (-20, IntBase.HEX, '0xFFFFFFEC'), (-32768, IntBase.HEX, '0xFFFF8000'),
    (42, IntBase.OCT, '0o52'), (-5, IntBase.OCT, '0o37777777773'),
    (42, IntBase.BIN, '101010'), (0, IntBase.BIN, '0'),
    (-5, IntBase.BIN, '11111111111111111111111111111011'),
    (2 ** 32 + 3, IntBase.DEC, '3'),
])
def test_format_integer(value, base, text):
    assert _cformat.format_integer(value, base) == text


@pytest.mark.parametrize('value, rounded', [
    (3.14, 3), (2.5, 3), (-2.5, -3), (-2.25, -2), (0.0, 0), (3e10, -2 ** 31),
    (-3e10, -2 ** 31), (math.nan, -2 ** 31), (2147483646.6, 2147483647),
])
def test_round_to_long(value, rounded):
    assert _cformat.round_to_long(value) == rounded


def test_signed_char():
    assert [_cformat.signed_char(v) for v in (0, 127, 128, 200, 255)] == \
        [0, 127, -128, -56, -1]


@pytest.mark.parametrize('raw, escaped', [
    ('plain text', 'plain text'), ('tab\there "quoted"', 'tab\\there \\"quoted\\"'),
    ("it's", "it\\'s"), ('back\\slash', 'back\\\\slash'),
    ('\x07\x08\x0c\n\r\x0b', '\\a\\b\\f\\n\\r\\v'), ('\x7f\x80\xff', '\\x7f\\x80\\xff'),
    ('\x01', '\\x01'), ('\0', '\\0'),
])
def test_escape_raw(raw, escaped):
    assert _cformat.escape_raw(raw) == escaped


@pytest.mark.parametrize('escaped, raw', [
    ('a\\tb', 'a\tb'), ('\\x41\\x4a', 'AJ'), ('\\x4', '\x04'),
    ('\\x4g', '\x04g'), ('\\xg', 'g'), ('\\"q\\\\', '"q\\'), ('\\q', 'q'),
    ('end\\', 'end'), ('a\\0b', 'a\0b'), ('nul\0after', 'nul'),
])
def test_unescape(escaped, raw):
    assert _cformat.unescape(escaped) == raw


def test_unescape_limit_keeps_room_for_nul():
    assert _cformat.unescape('x' * 60, 40) == 'x' * 39


@given(st.text(alphabet=st.characters(min_codepoint=1, max_codepoint=255)))
def test_escape_round_trip(raw):
    assert _cformat.unescape(_cformat.escape_raw(raw)) == raw


@pytest.mark.parametrize('text, value', [
    ('3', 3), (' -7xyz', -7), ('+4', 4), ('abc', None), ('', None),
])
def test_scan_int(text, value):
    assert _cformat.scan_int(text) == value


@pytest.mark.parametrize('text, value', [
    ('1.5', 1.5), (' 2 ', 2.0), ('1e3', 1000.0), ('0x10', 16.0), ('inf', math.inf),
    ('1.5abc', None), ('abc', None), ('', None),
])
def test_scan_double(text, value):
    assert _cformat.scan_double(text) == value


@pytest.mark.parametrize('text, value, used', [
    ('2', 2.0, 1), ('1abc', 1.0, 1), ('One', 0.0, 0), ('-3.5e1x', -35.0, 6),
    ('  .5', 0.5, 4), ('nan', None, 3),
])
def test_strtod_prefix(text, value, used):
    parsed, consumed = _cformat.strtod_prefix(text)
    assert consumed == used
    if value is None:
        assert math.isnan(parsed)
    else:
        assert parsed == value


@pytest.mark.parametrize('stamp, text', [
    (STAMP, '2026-11-25 16:39:41.617191'),
    ((1164472781, 617206934), '2026-11-25 16:39:41.617207'),  # rounds
    ((1164472781, 999999999), '2026-11-25 16:39:41.999999'),  # no carry
    ((0, 0), '<undefined>'),
    ((1164472781, 1_500_000_000), '2026-11-25 16:39:41.OVF'),
])
def test_format_epics_time(stamp, text):
    assert _cformat.format_epics_time(*stamp) == text


def test_format_epics_time_other_widths():
    assert _cformat.format_epics_time(*STAMP, '%H:%M:%S.%03f') == '16:39:41.617'
    assert _cformat.format_epics_time(*STAMP, '%S.%09f', 64) == '41.617191099'
    assert _cformat.format_epics_time(*STAMP, '%S.%f', 64) == '41.617191099'
    assert _cformat.format_epics_time(*STAMP, '100%% %S') == '100% 41'


# -- value and line formatting --------------------------------------------------------

OPTS = FormatOptions()


def test_value_text_per_type():
    assert _format.value_text(reading(20, [3.14159265]), 0, OPTS) == '3.14159'
    assert _format.value_text(reading(16, [np.float32(0.1)]), 0, OPTS) == '0.1'
    assert _format.value_text(reading(18, [200]), 0, OPTS) == '-56'
    assert _format.value_text(reading(15, [-1234]), 0, OPTS) == '-1234'
    assert _format.value_text(reading(14, ['a"b']), 0, OPTS) == 'a\\"b'
    assert _format.value_text(reading(3, [2]), 0, OPTS) == '2'
    assert _format.value_text(reading(37, ['x']), 0, OPTS) == 'x'
    assert _format.value_text(reading(99, [1]), 0, OPTS) == '*** invalid type'


def test_value_text_enums():
    strings = ('Zero', 'One')
    assert _format.value_text(reading(31, [1], enum_strings=strings), 0,
                              OPTS) == 'One'
    assert _format.value_text(reading(24, [5], enum_strings=strings), 0,
                              OPTS) == 'Enum Index Overflow (5)'
    assert _format.value_text(reading(24, [16], enum_strings=strings), 0,
                              OPTS) == 'Illegal Value (16)'
    numbers = FormatOptions(enum_as_number=True)
    assert _format.value_text(reading(31, [1], enum_strings=strings), 0,
                              numbers) == '1'
    assert _format.value_text(reading(17, [1]), 0, OPTS) == '1'


def test_value_text_bases_only_touch_their_types():
    hex_ints = FormatOptions(int_base=IntBase.HEX)
    assert _format.value_text(reading(19, [42]), 0, hex_ints) == '0x2A'
    assert _format.value_text(reading(20, [3.5]), 0, hex_ints) == '3.5'
    assert _format.value_text(reading(18, [65]), 0, hex_ints) == '65'
    hex_floats = FormatOptions(float_base=IntBase.HEX)
    assert _format.value_text(reading(20, [-2.5]), 0, hex_floats) == '0xFFFFFFFD'
    assert _format.value_text(reading(19, [42]), 0, hex_floats) == '42'


def test_plain_line_scalar_array_terse():
    scalar = reading(20, [3.14159265])
    assert _format.plain_line('T:double', scalar, OPTS) == \
        'T:double                       3.14159'
    array = reading(20, [1.5, -2.25, 3e10])
    assert _format.plain_line('T:wf', array, OPTS) == 'T:wf 3 1.5 -2.25 3e+10'
    assert _format.plain_line('T:wf', array, OPTS, terse=True) == \
        '3 1.5 -2.25 3e+10'
    assert _format.plain_line('T:double', scalar, OPTS, requested_count=3) == \
        'T:double                       1 3.14159'
    comma = FormatOptions(separator=',')
    assert _format.plain_line('T:double', scalar, comma) == 'T:double,3.14159'
    assert _format.plain_line('T:wf', array, comma) == 'T:wf,3,1.5,-2.25,3e+10'
    assert _format.plain_line('T:empty', reading(20, []), OPTS) == \
        'T:empty                        '


def test_plain_line_char_array_as_string():
    chars = reading(18, list(b'Hello CA!\0\0\0'))
    as_string = FormatOptions(char_array_as_string=True)
    assert _format.plain_line('T:wf_char', chars, as_string) == 'T:wf_char Hello CA!'
    # a single char stays a number unless -# was given
    one = reading(18, [65])
    assert _format.plain_line('T:c', one, as_string) == \
        'T:c                            65'
    assert _format.plain_line('T:c', one, as_string, requested_count=1) == \
        'T:c                            A'
    unterminated = reading(18, list(b'tab\tend'))
    assert _format.plain_line('T:c', unterminated, as_string, terse=True) == \
        'tab\\tend'


def test_plain_line_problems():
    assert _format.plain_line('T:x', Problem.NOT_CONNECTED, OPTS) == \
        'T:x                            *** not connected'
    assert _format.plain_line('T:x', Problem.NO_READ_ACCESS, OPTS,
                              terse=True) == '*** no read access'
    assert _format.plain_line('T:x', 'Channel read request failed', OPTS) == \
        'T:x                            *** CA error Channel read request failed'


def test_wide_line_absolute():
    wide = WideFormatter(OPTS)
    line = wide.line('T:double', reading(20, [3.14159265], stamp=STAMP))
    assert line == 'T:double                       2026-11-25 16:39:41.617191 3.14159  '
    alarm = reading(20, [9.5], stamp=STAMP, status=3, severity=2)
    assert wide.line('T:a', alarm).endswith(' 9.5 HIHI MAJOR')
    undefined = reading(20, [0], stamp=(0, 0), status=17, severity=3)
    assert wide.line('T:udf', undefined) == \
        'T:udf                          <undefined> 0 UDF INVALID'
    empty = reading(20, [], stamp=(0, 0), status=17, severity=3)
    assert wide.line('T:wf_empty', empty) == \
        'T:wf_empty                     <undefined> UDF INVALID'
    array = reading(20, [1.5, 2], stamp=STAMP)
    assert wide.line('T:wf', array) == 'T:wf 2026-11-25 16:39:41.617191 2 1.5 2  '
    odd = reading(20, [1], stamp=STAMP, status=99, severity=-1)
    assert wide.line('T:odd', odd).endswith(' 1 ?? ??')


def test_wide_line_separator_and_strings():
    wide = WideFormatter(FormatOptions(separator=',', char_array_as_string=True))
    chars = reading(18, list(b'Hello\0'), stamp=STAMP)
    assert wide.line('T:c', chars) == 'T:c,2026-11-25 16:39:41.617191,Hello,,'
    assert wide.line('T:c', chars, requested_count=3) == \
        'T:c,2026-11-25 16:39:41.617191,Hel,,'


def test_wide_line_problems():
    wide = WideFormatter(OPTS)
    now = STAMP
    assert wide.line('pv', None, ever_connected=False) == \
        'pv                             *** Not connected (PV not found)'
    assert wide.line('pv', None, disconnected=True, now=now) == \
        'pv                             2026-11-25 16:39:41.617191 *** disconnected'
    assert wide.line('pv', None, disconnected=True, now=now,
                     count_for_padding=5) == \
        'pv 2026-11-25 16:39:41.617191 *** disconnected'
    assert wide.line('pv', Problem.NO_READ_ACCESS, now=now) == \
        'pv                             2026-11-25 16:39:41.617191 *** no read access'
    assert wide.line('pv', reading(20, [1]), now=now) == \
        "pv                             can't print data type"


def test_wide_relative_and_incremental_stamps():
    def update(seconds, nanoseconds, value):
        return reading(20, [value], stamp=(seconds, nanoseconds))

    relative = WideFormatter(OPTS, TimestampKind.RELATIVE, start=STAMP)
    lines = [relative.line('c', update(100, 0, 1)),
             relative.line('c', update(100, 100_005_000, 2)),
             relative.line('d', update(101, 0, 3))]
    assert lines[1] == 'c                                               +0.100005 2  '
    assert lines[2].startswith('d                              1990-01-01')
    incremental = WideFormatter(OPTS, TimestampKind.INCREMENTAL, start=STAMP)
    incremental.line('c', update(100, 0, 1))
    incremental.line('d', update(100, 500_000_000, 1))
    assert '+0.250000' in incremental.line('c', update(100, 750_000_000, 2))
    by_channel = WideFormatter(OPTS, TimestampKind.INCREMENTAL_BY_CHANNEL,
                               start=STAMP)
    by_channel.line('c', update(100, 0, 1))
    by_channel.line('d', update(100, 500_000_000, 1))
    assert '+0.750000' in by_channel.line('c', update(100, 750_000_000, 2))
    no_stamps = WideFormatter(OPTS, server_stamps=False)
    assert no_stamps.line('c', update(100, 0, 1)) == \
        'c                               1  '
    client = WideFormatter(OPTS, server_stamps=False, client_stamps=True)
    assert client.line('c', update(100, 0, 1), now=STAMP) == \
        'c                              (2026-11-25 16:39:41.617191) 1  '


def test_dbr_block_control_double():
    control = reading(
        34, [3.14159265], units='mm', precision=3,
        limits=dict(lower_disp_limit=-10, upper_disp_limit=10,
                    lower_alarm_limit=-8, lower_warning_limit=-5,
                    upper_warning_limit=5, upper_alarm_limit=8,
                    lower_ctrl_limit=-20, upper_ctrl_limit=20))
    assert _format.dbr_block('T:double', 6, control, OPTS) == '\n'.join([
        'T:double',
        '    Native data type: DBF_DOUBLE',
        '    Request type:     DBR_CTRL_DOUBLE',
        '    Element count:    1',
        '    Value:            3.14159',
        '    Status:           NO_ALARM',
        '    Severity:         NO_ALARM',
        '    Units:            mm',
        '    Precision:        3',
        '    Lo disp limit:    -10',
        '    Hi disp limit:    10',
        '    Lo alarm limit:   -8',
        '    Lo warn limit:    -5',
        '    Hi warn limit:    5',
        '    Hi alarm limit:   8',
        '    Lo ctrl limit:    -20',
        '    Hi ctrl limit:    20'])


def test_dbr_block_integer_limits_and_enums():
    long_ctrl = reading(33, [42], units='counts',
                        limits=dict(lower_disp_limit=-1000, upper_disp_limit=1000))
    text = _format.dbr_block('T:long', 5, long_ctrl, OPTS)
    assert '    Lo disp limit:       -1000\n' in text
    assert '    Lo alarm limit:          0\n' in text
    assert 'Precision' not in text
    char_gr = reading(25, [1], limits=dict(upper_disp_limit=200))
    assert '    Hi disp limit:         -56' in _format.dbr_block('c', 4, char_gr, OPTS)
    enum_gr = reading(24, [2], enum_strings=('Zero', 'One', 'Two point oh'))
    assert _format.dbr_block('T:mbbo', 3, enum_gr, OPTS).endswith('\n'.join([
        '    Value:            Two point oh',
        '    Status:           NO_ALARM',
        '    Severity:         NO_ALARM',
        '    Enums:            ( 3)',
        '                      [ 0] Zero',
        '                      [ 1] One',
        '                      [ 2] Two point oh']))


def test_dbr_block_other_types():
    time_string = reading(14, ['hello'], stamp=STAMP)
    assert _format.dbr_block('s', 0, time_string, OPTS).endswith(
        '    Value:            hello\n'
        '    Timestamp:        2026-11-25 16:39:41.617191\n'
        '    Status:           NO_ALARM\n'
        '    Severity:         NO_ALARM')
    stsack = reading(37, ['9.50'], status=3, severity=2, ackt=1, acks=2)
    assert _format.dbr_block('a', 6, stsack, OPTS).endswith(
        '    Ack transient?:   YES\n    Ack severity:     MAJOR')
    class_name = reading(38, ['ao'])
    assert _format.dbr_block('a', 6, class_name, OPTS) == (
        'a\n    Native data type: DBF_DOUBLE\n'
        '    Request type:     DBR_CLASS_NAME\n    Class Name:       ao')
    plain = reading(3, [2])
    assert _format.dbr_block('e', 3, plain, OPTS).endswith('Value:            2')
    assert _format.dbr_block('e', 3, Problem.NO_READ_ACCESS, OPTS) == \
        'e\n    *** no read access'


def test_type_names():
    assert _format.dbr_type_name(1) == 'DBR_SHORT'
    assert _format.dbr_type_from_text('DBR_CTRL_DOUBLE') == 34
    assert _format.dbr_type_from_text('DBR_INT') is None  # as in dbr_text[]
    assert _format.dbf_type_name(4) == 'DBF_CHAR'


def test_reading_from_caproto_style_response():
    """bytes units/enum strings and string values (caproto's responses)."""
    metadata = SimpleNamespace(status=3, severity=2, units=b'mm\0junk',
                               precision=2, enum_strings=[b'A', b'B\xe9'],
                               upper_disp_limit=np.float64(1.5))
    response = SimpleNamespace(data_type=31, data=np.array([1], '>u2'),
                               metadata=metadata)
    got = Reading.from_response(response)
    assert got.values == [1] and got.units == 'mm'
    assert got.enum_strings == ('A', 'B\xe9')
    assert got.limits == {'upper_disp_limit': 1.5}
    strings = Reading.from_parts(14, [b'abc\0def', b''],
                                 SimpleNamespace(status=0, severity=0,
                                                 secondsSinceEpoch=5,
                                                 nanoSeconds=6))
    assert strings.values == ['abc', ''] and strings.stamp == (5, 6)


# -- getopt and options ---------------------------------------------------------------

def collect(args, optstring, posix=False):
    parser = Getopt(args, optstring, posix=posix)
    return list(parser), parser.operands


def test_getopt_permutes_and_groups():
    events, operands = collect(['pv1', '-ta', '-f8', 'pv2', '-w', '3', 'pv3'],
                               ':taf:w:')
    assert events == [('t', None), ('a', None), ('f', '8'), ('w', '3')]
    assert operands == ['pv1', 'pv2', 'pv3']


def test_getopt_posix_stops_at_first_operand():
    events, operands = collect(['-c', 'pv', '-5', '-t'], ':ct', posix=True)
    assert events == [('c', None)]
    assert operands == ['pv', '-5', '-t']


def test_getopt_errors_and_double_dash():
    assert collect(['-x'], ':t')[0] == [('?', 'x')]
    assert collect(['-w'], ':w:')[0] == [(':', 'w')]
    assert collect(['-:'], ':t')[0] == [('?', ':')]
    assert collect(['--', '-t', '-'], ':t') == ([], ['-t', '-'])
    assert collect(['-F', '-', 'pv'], ':F:') == ([('F', '-')], ['pv'])


def test_parse_get_defaults_and_formats():
    parsed = _args.parse_get(['-a', '-f3', '-0x', '-lb', '-F,', 'pv'])
    opts = parsed.options
    assert parsed.exit_code is None and parsed.messages == []
    assert opts.output == 'all' and opts.names == ['pv']
    assert opts.format.float_format == '%-.3f'
    assert opts.format.int_base is IntBase.HEX
    assert opts.format.float_base is IntBase.BIN
    assert opts.format.separator == ','
    assert opts.timeout == 1.0


def test_parse_get_dbr_types():
    assert _args.parse_get(['-d', 'CTRL_DOUBLE', 'pv']).options.dbr_type == 34
    assert _args.parse_get(['-d', 'DBR_GR_ENUM', 'pv']).options.dbr_type == 24
    assert _args.parse_get(['-d', '6abc', 'pv']).options.dbr_type == 6
    bad = _args.parse_get(['-d', 'DBR_INT', 'pv'])
    assert bad.options.output == 'plain'
    assert bad.messages == ["Requested dbr type out of range or invalid - "
                            "ignored. ('cawire-get -h' for help.)"]
    # -0x also sets DBR_LONG, which shows when -d came first
    assert _args.parse_get(['-d', '34', '-0x', 'pv']).options.dbr_type == 5


def test_parse_get_messages():
    parsed = _args.parse_get(['-t', '-a', '-w', 'abc', '-e', '30', '-p', 'x',
                              '-#', 'q', '-0z', 'pv'])
    assert parsed.messages == [
        "Options t,d,a are mutually exclusive. ('cawire-get -h' for help.)",
        "'abc' is not a valid timeout value - ignored, using '1.0'. "
        "('cawire-get -h' for help.)",
        "Precision 30 for option '-e' out of range - ignored.",
        "'x' is not a valid CA priority - ignored. ('cawire-get -h' for help.)",
        "'q' is not a valid array element count - ignored. "
        "('cawire-get -h' for help.)",
        "Invalid argument 'z' for option '-0' - ignored.",
    ]
    assert parsed.exit_code is None


@pytest.mark.parametrize('args, code, message', [
    ([], 1, "No pv name specified. ('cawire-get -h' for help.)"),
    (['-x', 'pv'], 1, "Unrecognized option: '-x'. ('cawire-get -h' for help.)"),
    (['-w'], 1, "Option '-w' requires an argument. ('cawire-get -h' for help.)"),
])
def test_parse_get_stops(args, code, message):
    parsed = _args.parse_get(args)
    assert parsed.exit_code == code and parsed.messages[-1] == message


def test_parse_help_and_version():
    parsed = _args.parse_get(['-h'])
    assert parsed.exit_code == 0
    assert parsed.messages[0].startswith('\nUsage: cawire-get [options]')
    assert 'default is 1.000000 second(s)' in parsed.messages[0]
    assert _args.parse_get(['-i', 'pv']).exit_code == 1
    version = _args.parse_monitor(['-V'])
    assert version.exit_code == 0 and 'CA Protocol version 4.13' in version.stdout


def test_parse_environment_timeout(monkeypatch):
    monkeypatch.setenv('EPICS_CLI_TIMEOUT', '0.25')
    assert _args.parse_get(['pv']).options.timeout == 0.25
    monkeypatch.setenv('EPICS_CLI_TIMEOUT', 'abc')
    parsed = _args.parse_put(['pv', '1'])
    assert parsed.options.timeout == 1.0
    assert parsed.messages == ["'abc' is not a valid timeout value (from "
                               "'EPICS_CLI_TIMEOUT' in the environment) - "
                               "ignored. (use '-h' for help.)"]


def test_parse_put():
    parsed = _args.parse_put(['-c', '-l', '-n', 'pv', '-5', 'x'])
    opts = parsed.options
    assert opts.callback and opts.output == 'all' and opts.format.enum_as_number
    assert opts.names == ['pv'] and opts.values == ['-5', 'x']
    assert _args.parse_put(['-S', '-a', 'pv', '1', '2']).options.array
    assert not _args.parse_put(['-a', '-S', 'pv', '1']).options.array
    assert _args.parse_put(['pv']).messages == [
        "No value specified. ('cawire-put -h' for help.)"]


def test_parse_monitor():
    opts = _args.parse_monitor(['-m', 'vlp', '-t', 'scI', '-#', '4', 'a',
                                'b']).options
    assert opts.mask == 1 | 2 | 8
    assert opts.server_stamps and opts.client_stamps
    assert opts.kind is TimestampKind.INCREMENTAL_BY_CHANNEL
    assert opts.count == 4 and opts.names == ['a', 'b']
    bad = _args.parse_monitor(['-m', 'vz', '-t', 'x', 'a'])
    assert bad.options.mask == 1 | 4
    assert not bad.options.server_stamps
    assert bad.messages == [
        "Invalid argument 'vz' for option '-m' - ignored.",
        "Invalid argument 'x' for option '-t' - ignored."]


def test_output_names_are_bytes_of_argv():
    from cawire.commandline._session import output_name
    assert output_name('T:plain') == 'T:plain'
    assert output_name(os.fsdecode(b'T:\xe9')) == 'T:\xe9'
