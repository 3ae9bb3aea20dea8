"""cawire-get: read PVs and print them as EPICS base's caget does.

Usage: ``cawire-get [options] <PV name> ...`` (``-h`` lists the options).
The output matches caget's byte for byte: "name value" with the name padded
to 30 columns for scalars, ``-t`` terse, ``-a`` wide (time stamp, status,
severity), ``-d <type>`` with the metadata of any DBR type.
"""
from __future__ import annotations

import logging
import sys

from .._exceptions import (CaprotoTimeoutError, DisconnectedError,
                           ErrorResponseReceived, PermissionDenied)
from ._args import GetOptions, parse_get
from ._format import (Problem, WideFormatter, dbr_block, plain_line)
from ._reading import Reading
from ._session import (Deadline, ToolOutput, ca_timeout, connect_channels,
                       output_name, request_type)

__all__ = ('main', 'run')

PROG = 'cawire-get'
_TIME_STRING = 14

log = logging.getLogger('cawire.commandline.get')


def _error_text(exc: ErrorResponseReceived) -> str:
    """ca_message() of the status a server sent back."""
    status = getattr(exc.response, 'status', None)
    description = getattr(status, 'description', None)
    return description if description else str(exc)


def _plain_request_type(native_type: int, options: GetOptions) -> int:
    if options.output == 'dbr':
        return options.dbr_type
    return request_type(native_type,
                        enum_as_number=options.format.enum_as_number,
                        float_as_string=options.float_as_string)


def _request_count(native_count: int, options: GetOptions) -> int:
    requested = options.count
    if options.callback:
        # ca_array_get_callback with 0 asks for the current (dynamic) length.
        return min(requested, native_count)
    return requested if requested and requested < native_count else native_count


def _read(pv, options: GetOptions, deadline_timeout):
    """Read one channel; returns a Reading, a Problem or CA error text, and
    whether it timed out."""
    channel = pv.channel
    data_type = _plain_request_type(channel.native_data_type, options)
    count = _request_count(channel.native_data_count, options)
    try:
        response = pv.read(data_type=data_type, data_count=count,
                           timeout=deadline_timeout)
    except PermissionDenied:
        return Problem.NO_READ_ACCESS, False
    except ErrorResponseReceived as exc:
        return _error_text(exc), False
    except DisconnectedError:
        return Problem.NOT_CONNECTED, False
    except CaprotoTimeoutError:
        return Problem.NO_DATA, True
    status = getattr(response, 'status', None)
    if status is not None and not getattr(status, 'success', 1):
        if options.callback:
            # ca_array_get_callback hands the failed status to the handler.
            return status.description, False
        # ca_array_get never completes: libca reports a timeout and caget
        # prints the (zeroed) buffer it had allocated; so does the server's
        # zero-filled payload.
        return Reading.from_response(response), True
    return Reading.from_response(response), False


def run(args: list, output: ToolOutput | None = None, context=None) -> int:
    """Run cawire-get with ``args`` (without the program name).

    Parameters
    ----------
    args : list of str
    output : ToolOutput, optional
        Where to print (default: this process's stdout/stderr).
    context : Context, optional
        Client context to use (default: a new one, disconnected at the end).

    Returns
    -------
    int
        Exit status: 0 on success, 1 when a channel did not connect, a read
        timed out or the command line was wrong.
    """
    output = output or ToolOutput()
    parsed = parse_get(args, PROG)
    for message in parsed.messages:
        if message.startswith('\n'):
            output.error_text(message)
        else:
            output.error(message)
    if parsed.exit_code is not None:
        if parsed.stdout:
            output.write(parsed.stdout)
            output.flush()
        return parsed.exit_code
    options: GetOptions = parsed.options
    own_context = context is None
    if own_context:
        from ..threading.client import Context
        context = Context()
    try:
        return _get(context, options, output)
    finally:
        output.flush()
        if own_context:
            context.disconnect()


def _get(context, options: GetOptions, output: ToolOutput) -> int:
    pvs = connect_channels(context, options.names, priority=options.priority,
                           timeout=options.timeout, output=output)
    if pvs is None:
        return 1
    deadline = Deadline(ca_timeout(options.timeout))
    results = []
    timed_out = False
    for pv in pvs:
        result, late = _read(pv, options, deadline.remaining())
        timed_out |= late
        results.append((pv, result))
    # libca's ca_pend_io also reports a timeout when a request was refused
    # locally for lack of read access (caget still exits 0 then).
    if timed_out or any(result is Problem.NO_READ_ACCESS
                        for _, result in results):
        output.error('Read operation timed out: some PV data was not read.')
    fmt = options.format
    wide = WideFormatter(fmt)
    for name, (pv, result) in zip(options.names, results):
        shown = output_name(name)
        if options.output == 'all':
            output.line(wide.line(shown, result,
                                  requested_count=options.count))
        elif options.output == 'dbr':
            output.line(dbr_block(shown, pv.channel.native_data_type, result,
                                  fmt, requested_count=options.count))
        else:
            output.line(plain_line(shown, result, fmt,
                                   requested_count=options.count,
                                   terse=options.output == 'terse'))
    return 1 if timed_out else 0


def main(argv: list | None = None) -> int:
    """Console entry point (``cawire-get``)."""
    args = sys.argv[1:] if argv is None else argv
    try:
        return run(args)
    except KeyboardInterrupt:
        return 130


if __name__ == '__main__':
    sys.exit(main())
