"""cawire-put: write a PV and print it before and after, as caput does.

Usage: ``cawire-put [options] <PV name> <PV value> ...`` or
``cawire-put -a [options] <PV name> <no of values> <PV value> ...``.
Output ("Old : name value" / "New : name value", ``-t`` terse, ``-l`` long)
and the value conversions (enum strings or indices, C escapes, ``-S`` long
strings as char arrays) follow EPICS base's caput exactly.
"""
from __future__ import annotations

import contextlib
import logging
import os
import sys
from typing import TYPE_CHECKING

from ..protocol._exceptions import (CaprotoTimeoutError, CaprotoValueError,
                           DisconnectedError, ErrorResponseReceived,
                           PermissionDenied)
from ..protocol._channel import require_access
from ..protocol._commands_data import WriteRequest
from ..protocol._status import CAStatus
from ._args import PutOptions, parse_put
from ._cformat import strtod_prefix, unescape
from ._format import Problem, WideFormatter, plain_line
from ._reading import Reading, is_enum_type
from ._session import (Deadline, ToolOutput, ca_timeout, connect_channels,
                       console_main, output_name, report_parse,
                       request_type, tool_context)

if TYPE_CHECKING:  # the client is imported only when a tool runs
    from ..threading.client import Context

__all__ = ('main', 'run')

PROG = 'cawire-put'
#: MAX_STRING_SIZE: a DBR_STRING element holds 39 characters and a NUL.
MAX_STRING_SIZE = 40
_STRING, _CHAR, _DOUBLE, _GR_ENUM = 0, 4, 6, 24


class _Stop(Exception):
    """Leave the tool with a status after printing a message."""

    def __init__(self, message: str | None, status: int = 1):
        super().__init__(message)
        self.message = message
        self.status = status


def _status_text(exc: ErrorResponseReceived) -> str:
    status = getattr(exc.response, 'status', None)
    description = getattr(status, 'description', None)
    return description if description else str(exc)


class _RefusedWrites(logging.Filter):
    """Catches the client's report of a server error answering a plain
    WRITE (no notify): the refusal of our write, which the server sends
    asynchronously.  The report is kept (not logged) so that the tool can
    print it on one line and exit with an error status."""

    def __init__(self):
        super().__init__()
        self.refusals: list = []

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if (isinstance(args, tuple) and len(args) == 3
                and str(record.msg).startswith('Server reported an error')
                # The refused request: its command id, or a header with one.
                and getattr(args[2], 'command', args[2]) == WriteRequest.ID):
            message, status_name, _ = args
            self.refusals.append('%s (%s)' % (message, status_name))
            return False
        return True


@contextlib.contextmanager
def _catch_refused_writes():
    catcher = _RefusedWrites()
    logger = logging.getLogger('cawire.circ')
    logger.addFilter(catcher)
    try:
        yield catcher
    finally:
        logger.removeFilter(catcher)


def _raw(text: str) -> str:
    """A command-line argument as one-char-per-byte text."""
    return os.fsencode(text).decode('latin-1')


def _enum_data(pv, values: list, options: PutOptions, timeout):
    """caput.c's ENUM branch: strings matched against the enum states,
    else numbers; returns (data_type, data, warnings)."""
    try:
        require_access(getattr(pv, 'access_rights', None), pv.name,
                       write=False)
        response = pv.read(data_type=_GR_ENUM, data_count=1, timeout=timeout)
    except (CaprotoTimeoutError, DisconnectedError, PermissionDenied,
            ErrorResponseReceived):
        # Whatever kept the states from arriving, caput's ca_pend_io times out.
        raise _Stop('Read operation timed out: ENUM data was not read.')
    enum_strings = Reading.from_response(response).enum_strings
    no_str = len(enum_strings)
    warnings = []
    if options.format.enum_as_number:
        numbers = []
        for value in values:
            number, used = strtod_prefix(value)
            if used == 0:
                raise _Stop("Enum index value '%s' is not a number." % value)
            if number >= no_str:
                warnings.append("Warning: enum index value '%s' may be too "
                                "large." % value)
            numbers.append(number)
        return _DOUBLE, numbers, warnings
    strings, numbers = [], []
    data_type = _STRING
    for value in values:
        text = unescape(value, MAX_STRING_SIZE)
        strings.append(text)
        # Each value decides the type anew: the last one wins (as in C).
        data_type = _STRING
        if text in enum_strings:
            numbers.append(0.0)  # dbuf stays zero for matched strings
            continue
        number, used = strtod_prefix(text)
        if used == 0 or options.enum_as_string:
            raise _Stop("Enum string value '%s' invalid." % text)
        if number >= no_str:
            warnings.append("Warning: enum index value '%s' may be too large."
                            % text)
        numbers.append(number)
        data_type = _DOUBLE
    if data_type == _DOUBLE:
        return _DOUBLE, numbers, warnings
    return _STRING, [text.encode('latin-1') for text in strings], warnings


def _write_data(pv, options: PutOptions, timeout):
    """The DBR type and values caput sends; also warnings to print."""
    if options.array:
        values = [_raw(value) for value in options.values[1:]]
    else:
        values = [' '.join(_raw(value) for value in options.values)]
    if is_enum_type(pv.channel.native_data_type):
        return _enum_data(pv, values, options, timeout)
    if options.format.char_array_as_string:
        joined = values[0]
        # caput sizes the buffer from the arguments' lengths plus one each.
        size = sum(len(_raw(value)) + 1 for value in options.values)
        raw = unescape(joined[:size - 1], size)
        return _CHAR, (raw + '\0').encode('latin-1'), []
    return _STRING, [unescape(value, MAX_STRING_SIZE).encode('latin-1')
                     for value in values], []


def _show(pv, name: str, options: PutOptions, wide: WideFormatter,
          timeout) -> tuple:
    """caput.c's caget(): read the channel as DBR_TIME_* and format it.
    Returns (text, timed_out)."""
    channel = pv.channel
    count = channel.native_data_count
    data_type = request_type(channel.native_data_type,
                             enum_as_number=options.format.enum_as_number)
    timed_out = False
    result: Reading | Problem | str
    try:
        require_access(getattr(pv, 'access_rights', None), pv.name,
                       write=False)
        result = Reading.from_response(
            pv.read(data_type=data_type, data_count=count, timeout=timeout))
    except PermissionDenied:
        # libca's ca_pend_io then also reports a timeout.
        result, timed_out = Problem.NO_READ_ACCESS, True
    except ErrorResponseReceived as exc:
        result = _status_text(exc)
    except DisconnectedError:
        result = Problem.NOT_CONNECTED
    except CaprotoTimeoutError:
        result, timed_out = Problem.NO_DATA, True
    except CaprotoValueError:  # e.g. larger than EPICS_CA_MAX_ARRAY_BYTES
        result, timed_out = CAStatus['ECA_TOLARGE'].description, True
    if options.output == 'all':
        return wide.line(name, result), timed_out
    return plain_line(name, result, options.format,
                      terse=options.output == 'terse',
                      count_for_padding=count), timed_out


def _put(context, options: PutOptions, output: ToolOutput) -> int:
    name = options.names[0]
    pvs = connect_channels(context, [name], priority=options.priority,
                           timeout=options.timeout, output=output)
    if pvs is None:
        return 1
    pv = pvs[0]
    timeout = ca_timeout(options.timeout)
    shown = output_name(name)
    data_type, data, warnings = _write_data(pv, options, timeout)
    for warning in warnings:
        output.error(warning)
    wide = WideFormatter(options.format)
    if options.output != 'terse':
        text, late = _show(pv, shown, options, wide, timeout)
        if late:
            output.error('Read operation timed out: PV data was not read.')
        output.line('Old : ' + text)
    with _catch_refused_writes() as refused:
        status = _write(pv, data_type, data, options, output, timeout)
        if status is not None:
            return status
        # The server answers requests in order: a refusal of the write
        # arrives before the reply to this read.
        text, late = _show(pv, shown, options, wide, timeout)
    if refused.refusals:
        output.error('%s from put operation: %s'
                     % (output.error_colour('ERROR'), refused.refusals[0]))
        return 1
    if late:
        output.error('Read operation timed out: PV data was not read.')
    output.line(('New : ' if options.output != 'terse' else '') + text)
    return 0


def _write(pv, data_type: int, data, options: PutOptions,
           output: ToolOutput, timeout) -> int | None:
    """Send the value; returns an exit status to stop with, or None."""
    error = output.error_colour('ERROR')
    count = len(data)
    if count > pv.channel.native_data_count:
        # libca refuses locally (ECA_BADCOUNT) before anything is sent.
        output.error('%s from put operation: Invalid element count requested'
                     % error)
        return 1
    if not options.callback:
        try:
            require_access(getattr(pv, 'access_rights', None), pv.name,
                           write=True)
            pv.write(data, data_type=data_type, wait=False, notify=False,
                     timeout=timeout)
        except PermissionDenied:
            output.error('%s from put operation: Write access denied' % error)
            return 1
        except (CaprotoTimeoutError, DisconnectedError):
            output.error('Write operation timed out: Data was not written.')
            return 1
        return None
    deadline = Deadline(timeout)
    try:
        require_access(getattr(pv, 'access_rights', None), pv.name,
                       write=True)
        response = pv.write(data, data_type=data_type, wait=True,
                            timeout=deadline.remaining())
    except PermissionDenied:
        output.error('%s from put operation: Write access denied' % error)
        return 1
    except ErrorResponseReceived as exc:
        output.error('%s occured writing data: %s' % (error, _status_text(exc)))
        return 1
    except (CaprotoTimeoutError, DisconnectedError):
        output.error('Write callback operation timed out')
        return 1
    status = getattr(response, 'status', None)
    if status is not None and not getattr(status, 'success', 1):
        output.error('%s occured writing data: %s' % (error, status.description))
        return 1
    return None


def run(args: list, output: ToolOutput | None = None,
        context: Context | None = None) -> int:
    """Run cawire-put with ``args`` (without the program name).

    Returns
    -------
    int
        0 when the value was written (or sent, without -c); 1 when the
        channel did not connect, the value was invalid, the write was
        refused or timed out, or the command line was wrong.
    """
    output = output or ToolOutput()
    parsed = parse_put(args, PROG)
    exit_code = report_parse(parsed, output)
    if exit_code is not None:
        return exit_code
    options = parsed.options
    assert isinstance(options, PutOptions)
    with tool_context(context) as context:
        try:
            return _put(context, options, output)
        except _Stop as stop:
            if stop.message:
                output.error(stop.message)
            return stop.status
        finally:
            output.flush()


def main(argv: list | None = None) -> int:
    """Console entry point (``cawire-put``)."""
    return console_main(run, argv)


if __name__ == '__main__':
    sys.exit(main())
