"""Command-line options of cawire-get, cawire-put and cawire-monitor.

Each ``parse_*`` function walks the options in order, exactly as the C
tool's getopt loop does (later options override earlier ones, invalid
arguments are reported and ignored, an unknown option or a missing argument
stops the program with status 1), and returns a ``Parsed`` holding the
options, the messages for stderr and, when the program must stop now, its
exit status and any stdout text (-V).
"""
from __future__ import annotations

import dataclasses
from typing import Any

from ..config import ToolEnvironment
from ._cformat import IntBase, scan_double, scan_int, scan_unsigned
from ._format import FormatOptions, TimestampKind, dbr_type_from_text
from ._getopt import Getopt
from ._usage import (GET_EXTRA, GET_USAGE, INFO_EXTRA, INFO_USAGE,
                     MONITOR_EXTRA, MONITOR_USAGE, PUT_EXTRA, PUT_USAGE)

__all__ = (
    'Parsed', 'GetOptions', 'PutOptions', 'MonitorOptions', 'InfoOptions',
    'parse_get', 'parse_put', 'parse_monitor', 'parse_info', 'DEFAULT_TIMEOUT', 'CA_PRIORITY_MAX',
    'PROTOCOL_VERSION_TEXT',
)

#: DEFAULT_TIMEOUT of tool_lib.h (seconds).
DEFAULT_TIMEOUT = 1.0
#: CA_PRIORITY_MAX of cadef.h.
CA_PRIORITY_MAX = 99
#: Maximum -e/-f/-g precision (VALID_DOUBLE_DIGITS).
VALID_DOUBLE_DIGITS = 18
#: What ``-V`` reports as the CA protocol version (as libca does).
PROTOCOL_VERSION_TEXT = '4.13'

DBE_VALUE, DBE_LOG, DBE_ALARM, DBE_PROPERTY = 1, 2, 4, 8

#: Long options every tool takes (the C tools know only ``-h``).
HELP_OPTION = {'help': ('help', False)}
#: cawire-monitor's long options: caproto-monitor's ways to stop.
MONITOR_LONG_OPTIONS = {**HELP_OPTION, 'maximum': ('maximum', True),
                        'duration': ('duration', True)}
_DBR_PUT_ACKT, _DBR_PUT_ACKS, _DBR_CLASS_NAME = 35, 36, 38


@dataclasses.dataclass
class Parsed:
    """Outcome of option parsing.

    Attributes
    ----------
    options
        The tool's options dataclass.
    messages : list of str
        Lines for stderr, in the order the C tool prints them.
    exit_code : int or None
        Set when the program must stop (help, version, usage errors).
    stdout : str
        Text for stdout when stopping (the -V banner).
    """

    options: Any
    messages: list = dataclasses.field(default_factory=list)
    exit_code: int | None = None
    stdout: str = ''


@dataclasses.dataclass
class _CommonOptions:
    timeout: float = DEFAULT_TIMEOUT
    priority: int = 0
    format: FormatOptions = dataclasses.field(default_factory=FormatOptions)
    names: list = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class GetOptions(_CommonOptions):
    """caget options.

    ``output`` is 'plain', 'terse', 'all' (-a) or 'dbr' (-d); ``callback``
    is -c; ``dbr_type`` the -d type; ``count`` the -# count (0: all);
    ``float_as_string`` is -s.
    """

    output: str = 'plain'
    callback: bool = False
    dbr_type: int = -1
    count: int = 0
    float_as_string: bool = False


@dataclasses.dataclass
class PutOptions(_CommonOptions):
    """caput options: ``output`` 'plain', 'terse' or 'all' (-l); ``callback``
    is -c; ``array`` is -a; ``enum_as_string`` is -s; ``values`` the value
    arguments."""

    output: str = 'plain'
    callback: bool = False
    array: bool = False
    enum_as_string: bool = False
    values: list = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class MonitorOptions(_CommonOptions):
    """camonitor options: event ``mask``, time stamp ``kind`` and sources,
    -# ``count``, -s ``float_as_string``; ``maximum`` (``--maximum``) the
    number of updates after which to exit, ``duration`` (``--duration``)
    the seconds after which to exit (None: no limit)."""

    mask: int = DBE_VALUE | DBE_ALARM
    kind: TimestampKind = TimestampKind.ABSOLUTE
    server_stamps: bool = True
    client_stamps: bool = False
    count: int = 0
    float_as_string: bool = False
    maximum: int | None = None
    duration: float | None = None


@dataclasses.dataclass
class InfoOptions(_CommonOptions):
    """cainfo options: ``status_level`` is -s (0: print the channels)."""

    status_level: int = 0


def _version_banner(prog: str) -> str:
    from .. import __version__
    return '\nEPICS Version cawire %s, CA Protocol version %s\n' % (
        __version__, PROTOCOL_VERSION_TEXT)


def _environment_timeout(options: _CommonOptions, messages: list) -> None:
    """``use_ca_timeout_env``: EPICS_CLI_TIMEOUT overrides the default."""
    text = ToolEnvironment.from_environ().cli_timeout
    if text is None:
        return
    value = scan_double(text)
    if value is None:
        messages.append("'%s' is not a valid timeout value (from "
                        "'EPICS_CLI_TIMEOUT' in the environment) - ignored. "
                        "(use '-h' for help.)" % text)
        options.timeout = DEFAULT_TIMEOUT
    else:
        options.timeout = value


def _handle_common(opt: str, arg: str | None, options: _CommonOptions,
                   messages: list, prog: str) -> bool:
    """Options with the same meaning in all three tools; False if ``opt``
    is not one of them."""
    fmt = options.format
    if opt == 'w':
        value = scan_double(arg or '')
        if value is None:
            messages.append("'%s' is not a valid timeout value - ignored, "
                            "using '%.1f'. ('%s -h' for help.)"
                            % (arg, options.timeout, prog))
        else:
            options.timeout = value
        return True
    if opt == 'p':
        value = scan_unsigned(arg or '')
        if value is None:
            messages.append("'%s' is not a valid CA priority - ignored. "
                            "('%s -h' for help.)" % (arg, prog))
            value = 0
        options.priority = min(value, CA_PRIORITY_MAX)
        return True
    if opt == 'F':
        fmt.separator = arg[:1] if arg else '\0'
        return True
    if opt == 'S':
        fmt.char_array_as_string = True
        return True
    return False


def _handle_number_format(opt: str, arg: str, options, messages: list) -> bool:
    """-s, -e/-f/-g and -l/-0: how caget and camonitor show numbers."""
    fmt = options.format
    if opt == 's':
        options.float_as_string = True
        return True
    if opt in 'efg':
        digits = scan_int(arg)
        if digits is None:
            messages.append("Invalid precision argument '%s' for option '-%s' "
                            "- ignored." % (arg, opt))
        elif 0 <= digits <= VALID_DOUBLE_DIGITS:
            fmt.float_format = '%%-.%d%s' % (digits, opt)
        else:
            messages.append("Precision %d for option '-%s' out of range - "
                            "ignored." % (digits, opt))
        return True
    if opt in 'l0':
        base = {'x': IntBase.HEX, 'b': IntBase.BIN, 'o': IntBase.OCT}.get(arg[:1])
        if base is None:
            messages.append("Invalid argument '%s' for option '-%s' - ignored."
                            % (arg, opt))
            return True
        if opt == '0':
            fmt.int_base = base
            if isinstance(options, GetOptions):
                # caget.c also sets the -d type here; it only shows with -d.
                options.dbr_type = 5  # DBR_LONG
        else:
            fmt.float_base = base
        return True
    return False


def _stop(parsed: Parsed, message: str, code: int = 1) -> Parsed:
    parsed.messages.append(message)
    parsed.exit_code = code
    return parsed


def _getopt_error(parsed: Parsed, opt: str, char: str | None,
                  prog: str) -> Parsed:
    if opt == '?':
        return _stop(parsed, "Unrecognized option: '-%s'. ('%s -h' for help.)"
                     % (char, prog))
    return _stop(parsed, "Option '-%s' requires an argument. ('%s -h' for help.)"
                 % (char, prog))


def _usage(parsed: Parsed, template: str, prog: str, code: int) -> Parsed:
    parsed.messages.append(template % {
        'prog': prog, 'timeout': DEFAULT_TIMEOUT,
        'max_priority': CA_PRIORITY_MAX, 'banner': _version_banner(prog)})
    parsed.exit_code = code
    return parsed


def _start(options: _CommonOptions) -> Parsed:
    """A fresh ``Parsed``; EPICS_CLI_TIMEOUT applies before any option."""
    parsed = Parsed(options)
    _environment_timeout(options, parsed.messages)
    return parsed


def _standard_option(parsed: Parsed, opt: str, arg: str | None,
                     usage: str, prog: str) -> Parsed | None:
    """Getopt errors, -h and -V, which end every tool's parsing the same
    way; None for any other option."""
    if opt in ('?', ':'):
        return _getopt_error(parsed, opt, arg or '', prog)
    if opt == 'h':
        return _usage(parsed, usage, prog, 0)
    if opt == 'help':
        return _usage(parsed, usage + _EXTRA[usage], prog, 0)
    if opt == 'V':
        parsed.stdout = _version_banner(prog)
        parsed.exit_code = 0
        return parsed
    return None


def _no_pv_name(parsed: Parsed, prog: str) -> Parsed:
    return _stop(parsed, "No pv name specified. ('%s -h' for help.)" % prog)


def _bad_count_message(arg: str, prog: str) -> str:
    return ("'%s' is not a valid array element count - ignored. "
            "('%s -h' for help.)" % (arg, prog))


_EXTRA = {GET_USAGE: GET_EXTRA, PUT_USAGE: PUT_EXTRA,
          MONITOR_USAGE: MONITOR_EXTRA, INFO_USAGE: INFO_EXTRA}


def _posix_mode() -> bool:
    return ToolEnvironment.from_environ().posixly_correct


def _parse_dbr_type(arg: str) -> int:
    """caget -d: a number, a dbr_text name, or a name without ``DBR_``;
    -1 when nothing matches."""
    number = scan_int(arg)
    if number is not None:
        return number
    found = dbr_type_from_text(arg)
    if found is None:
        found = dbr_type_from_text(('DBR_' + arg)[:29])
    return -1 if found is None else found


def parse_get(args: list, prog: str = 'cawire-get') -> Parsed:
    """Parse caget's options (``:taicnhsSVe:f:g:l:#:d:0:w:p:F:``)."""
    options = GetOptions()
    parsed = _start(options)
    messages = parsed.messages
    exclusive = ("Options t,d,a are mutually exclusive. ('%s -h' for help.)"
                 % prog)
    getopt = Getopt(args, ':taicnhsSVe:f:g:l:#:d:0:w:p:F:', posix=_posix_mode(),
                    long_options=HELP_OPTION)
    for opt, arg in getopt:
        stop = _standard_option(parsed, opt, arg, GET_USAGE, prog)
        if stop is not None:
            return stop
        if opt in 'tad':
            if options.output != 'plain':
                messages.append(exclusive)
            options.output = {'t': 'terse', 'a': 'all', 'd': 'dbr'}[opt]
            if opt == 'd':
                options.dbr_type = _parse_dbr_type(arg)
                if not 0 <= options.dbr_type <= _DBR_CLASS_NAME or \
                        options.dbr_type in (_DBR_PUT_ACKT, _DBR_PUT_ACKS):
                    messages.append("Requested dbr type out of range or invalid"
                                    " - ignored. ('%s -h' for help.)" % prog)
                    options.output = 'plain'
        elif opt == 'c':
            options.callback = True
        elif opt == 'n':
            options.format.enum_as_number = True
        elif opt == '#':
            count = scan_int(arg)
            if count is None:
                messages.append(_bad_count_message(arg, prog))
                count = 0
            # caget passes the int on as an unsigned long.
            options.count = count % 2 ** 64
        elif _handle_common(opt, arg, options, messages, prog):
            pass
        elif _handle_number_format(opt, arg, options, messages):
            pass
        else:  # -i: in the option string but not handled by caget.c
            return _usage(parsed, GET_USAGE, prog, 1)
    options.names = getopt.operands
    if not options.names:
        return _no_pv_name(parsed, prog)
    return parsed


def parse_put(args: list, prog: str = 'cawire-put') -> Parsed:
    """Parse caput's options (``:cnlhatsVS#:w:p:F:``, POSIX order)."""
    options = PutOptions()
    parsed = _start(options)
    messages = parsed.messages
    fmt = options.format
    getopt = Getopt(args, ':cnlhatsVS#:w:p:F:', posix=True,
                    long_options=HELP_OPTION)
    for opt, arg in getopt:
        stop = _standard_option(parsed, opt, arg, PUT_USAGE, prog)
        if stop is not None:
            return stop
        if opt == 'n':
            fmt.enum_as_number = True
            options.enum_as_string = False
        elif opt == 's':
            options.enum_as_string = True
            fmt.enum_as_number = False
        elif opt == 'S':
            fmt.char_array_as_string = True
            options.array = False
        elif opt == 't':
            options.output = 'terse'
        elif opt == 'l':
            options.output = 'all'
        elif opt == 'a':
            options.array = True
            fmt.char_array_as_string = False
        elif opt == 'c':
            options.callback = True
        elif opt == '#':
            # Parsed and validated by caput.c, then never used.
            if scan_int(arg) is None:
                messages.append(_bad_count_message(arg, prog))
        elif _handle_common(opt, arg, options, messages, prog):
            pass
        else:
            return _usage(parsed, PUT_USAGE, prog, 1)
    operands = getopt.operands
    if not operands:
        return _no_pv_name(parsed, prog)
    if len(operands) == 1:
        return _stop(parsed, "No value specified. ('%s -h' for help.)" % prog)
    options.names = operands[:1]
    options.values = operands[1:]
    return parsed


def parse_monitor(args: list, prog: str = 'cawire-monitor') -> Parsed:
    """Parse camonitor's options (``:nhVm:sSe:f:g:l:#:0:w:t:p:F:``)."""
    options = MonitorOptions()
    parsed = _start(options)
    messages = parsed.messages
    getopt = Getopt(args, ':nhVm:sSe:f:g:l:#:0:w:t:p:F:', posix=_posix_mode(),
                    long_options=MONITOR_LONG_OPTIONS)
    for opt, arg in getopt:
        stop = _standard_option(parsed, opt, arg, MONITOR_USAGE, prog)
        if stop is not None:
            return stop
        if opt == 'n':
            options.format.enum_as_number = True
        elif opt == 't':
            options.server_stamps = False
            options.client_stamps = False
            for char in arg:
                if char == 's':
                    options.server_stamps = True
                elif char == 'c':
                    options.client_stamps = True
                elif char == 'n':
                    pass
                elif char == 'r':
                    options.kind = TimestampKind.RELATIVE
                elif char == 'i':
                    options.kind = TimestampKind.INCREMENTAL
                elif char == 'I':
                    options.kind = TimestampKind.INCREMENTAL_BY_CHANNEL
                else:
                    messages.append("Invalid argument '%s' for option '-t' - "
                                    "ignored." % char)
        elif opt == '#':
            count = scan_unsigned(arg, 64)
            if count is None:
                messages.append(_bad_count_message(arg, prog))
                count = 0
            options.count = count
        elif opt == 'maximum':
            maximum = scan_int(arg)
            if maximum is None or maximum < 0:
                return _stop(parsed, "'%s' is not a valid number of updates "
                             "for --maximum. ('%s -h' for help.)" % (arg, prog))
            options.maximum = maximum
        elif opt == 'duration':
            duration = scan_double(arg)
            if duration is None or duration < 0:
                return _stop(parsed, "'%s' is not a valid number of seconds "
                             "for --duration. ('%s -h' for help.)" % (arg, prog))
            options.duration = duration
        elif opt == 'm':
            mask = 0
            for char in arg:
                bit = {'v': DBE_VALUE, 'a': DBE_ALARM, 'l': DBE_LOG,
                       'p': DBE_PROPERTY}.get(char)
                if bit is None:
                    messages.append("Invalid argument '%s' for option '-m' - "
                                    "ignored." % arg)
                    mask = DBE_VALUE | DBE_ALARM
                    break
                mask |= bit
            options.mask = mask
        elif _handle_common(opt, arg, options, messages, prog):
            pass
        elif _handle_number_format(opt, arg, options, messages):
            pass
        else:
            return _usage(parsed, MONITOR_USAGE, prog, 1)
    options.names = getopt.operands
    if not options.names:
        return _no_pv_name(parsed, prog)
    return parsed


def parse_info(args: list, prog: str = 'cawire-info') -> Parsed:
    """Parse cainfo's options (``:nhVw:s:p:``)."""
    options = InfoOptions()
    parsed = _start(options)
    messages = parsed.messages
    getopt = Getopt(args, ':nhVw:s:p:', posix=_posix_mode(),
                    long_options=HELP_OPTION)
    for opt, arg in getopt:
        stop = _standard_option(parsed, opt, arg, INFO_USAGE, prog)
        if stop is not None:
            return stop
        if opt == 's':
            level = scan_int(arg)
            if level is None:
                messages.append("'%s' is not a valid interest level - ignored."
                                " ('%s -h' for help.)" % (arg, prog))
                level = 0
            options.status_level = level
        elif _handle_common(opt, arg, options, messages, prog):
            pass
        else:  # -n: in the option string but not handled by cainfo.c
            return _usage(parsed, INFO_USAGE, prog, 1)
    options.names = getopt.operands
    if not options.names and not options.status_level:
        return _no_pv_name(parsed, prog)
    return parsed
