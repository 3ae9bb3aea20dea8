"""cawire-get: read PVs and print them as EPICS base's caget does.

Usage: ``cawire-get [options] <PV name> ...`` (``-h`` lists the options).
The output matches caget's byte for byte: "name value" with the name padded
to 30 columns for scalars, ``-t`` terse, ``-a`` wide (time stamp, status,
severity), ``-d <type>`` with the metadata of any DBR type.
"""
from __future__ import annotations

import functools
import sys
import threading
from typing import TYPE_CHECKING

from ..protocol._exceptions import (CaprotoTimeoutError, CaprotoValueError,
                           DisconnectedError, PermissionDenied)
from ..protocol._channel import require_access
from ..protocol._commands import ErrorResponse
from ..protocol._status import CAStatus
from ._args import GetOptions, parse_get
from ._format import Problem, WideFormatter, dbr_block, iter_plain_line
from ._reading import Reading
from ._session import (Deadline, ToolOutput, ca_timeout, connect_channels,
                       console_main, output_name, report_parse,
                       request_type, tool_context)

if TYPE_CHECKING:  # the client is imported only when a tool runs
    from ..threading.client import Context

__all__ = ('main', 'run')

PROG = 'cawire-get'


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


def _result(response, options: GetOptions):
    """A reply as (Reading, Problem or CA error text, timed-out flag)."""
    status = getattr(response, 'status', None)
    if isinstance(response, ErrorResponse):
        return getattr(status, 'description', str(status)), False
    if status is not None and not getattr(status, 'success', 1):
        if options.callback:
            # ca_array_get_callback hands the failed status to the handler.
            return status.description, False
        # ca_array_get never completes: libca reports a timeout and caget
        # prints the (zeroed) buffer it had allocated; so does the server's
        # zero-filled payload.
        return Reading.from_response(response), True
    return Reading.from_response(response), False


class _ReadAll:
    """Issue every read at once and wait for the replies together, as
    caget does with ca_array_get + one ca_pend_io."""

    def __init__(self, pvs: list, options: GetOptions):
        self.pvs = pvs
        self.options = options
        self.results: list = [None] * len(pvs)
        self.timed_out = [False] * len(pvs)
        self._outstanding = 0
        self._lock = threading.Lock()
        self._all_in = threading.Event()
        self._closed = False

    def _store(self, index: int, response) -> None:
        result, late = _result(response, self.options)
        with self._lock:
            if self._closed:
                return  # too late: already reported as timed out
            self.results[index], self.timed_out[index] = result, late
            self._outstanding -= 1
            if self._outstanding == 0:
                self._all_in.set()

    def run(self, timeout: float | None) -> None:
        deadline = Deadline(timeout)
        options = self.options
        with self._lock:
            self._outstanding = len(self.pvs)
        for index, pv in enumerate(self.pvs):
            channel = pv.channel
            data_type = _plain_request_type(channel.native_data_type, options)
            count = _request_count(channel.native_data_count, options)
            problem: Problem | str
            try:
                require_access(getattr(pv, 'access_rights', None), pv.name,
                               write=False)
                pv.read(data_type=data_type, data_count=count, wait=False,
                        callback=functools.partial(self._store, index),
                        timeout=deadline.remaining())
                continue
            except PermissionDenied:
                problem, failed = Problem.NO_READ_ACCESS, False
            except (DisconnectedError, CaprotoTimeoutError):
                problem, failed = Problem.NOT_CONNECTED, True
            except CaprotoValueError:
                # Refused before sending, e.g. larger than
                # EPICS_CA_MAX_ARRAY_BYTES.
                problem = CAStatus['ECA_TOLARGE'].description
                failed = True
            with self._lock:
                self.results[index] = problem
                self.timed_out[index] = failed
                self._outstanding -= 1
        with self._lock:
            if self._outstanding == 0:
                self._all_in.set()
        self._all_in.wait(deadline.remaining())
        with self._lock:
            self._closed = True
            for index, result in enumerate(self.results):
                if result is None:
                    self.results[index] = Problem.NO_DATA
                    self.timed_out[index] = True


def run(args: list, output: ToolOutput | None = None,
        context: Context | None = None) -> int:
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
    exit_code = report_parse(parsed, output)
    if exit_code is not None:
        return exit_code
    options = parsed.options
    assert isinstance(options, GetOptions)
    with tool_context(context) as context:
        try:
            return _get(context, options, output)
        finally:
            output.flush()


def _get(context, options: GetOptions, output: ToolOutput) -> int:
    pvs = connect_channels(context, options.names, priority=options.priority,
                           timeout=options.timeout, output=output)
    if pvs is None:
        return 1
    reads = _ReadAll(pvs, options)
    reads.run(ca_timeout(options.timeout))
    results = list(zip(pvs, reads.results))
    timed_out = any(reads.timed_out)
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
            output.line_parts(wide.iter_line(shown, result,
                                             requested_count=options.count))
        elif options.output == 'dbr':
            output.line(dbr_block(shown, pv.channel.native_data_type, result,
                                  fmt, requested_count=options.count))
        else:
            output.line_parts(iter_plain_line(
                shown, result, fmt, requested_count=options.count,
                terse=options.output == 'terse'))
    return 1 if timed_out else 0


def main(argv: list | None = None) -> int:
    """Console entry point (``cawire-get``)."""
    return console_main(run, argv)


if __name__ == '__main__':
    sys.exit(main())
