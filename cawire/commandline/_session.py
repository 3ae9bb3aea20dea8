"""What the three tools share around the client: output, connecting, types.

``ToolOutput`` writes the formatted text as bytes (latin-1: one byte per
character, so wire text prints back unchanged) and flushes line by line
like the C tools' line-buffered stdout.  ``connect_channels`` is
tool_lib.c's ``connect_pvs``: all channels share one deadline and a failure
is reported in the C tools' words.  ``request_type`` is the DBR type the
tools ask for by default (TIME_* of the native type, enums as strings or
numbers, floats as strings with -s).
"""
from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from typing import TYPE_CHECKING, BinaryIO, Callable, Iterable, Iterator

from ..protocol._exceptions import CaprotoTimeoutError
from ._reading import is_enum_type, is_float_type

if TYPE_CHECKING:  # the client is imported only when a tool runs
    from ..threading.client import Context
    from ._args import Parsed

__all__ = ('ToolOutput', 'connect_channels', 'request_type', 'output_name',
           'ca_timeout', 'TIME_OFFSET', 'Deadline', 'default_sigpipe',
           'report_parse', 'tool_context', 'console_main')

#: DBR_TIME_<x> = <x> + TIME_OFFSET for the plain types 0..6.
TIME_OFFSET = 14
_TIME_STRING = 14
_TIME_INT = 15


def output_name(name: str) -> str:
    """A command-line PV name as output text (its original bytes)."""
    return os.fsencode(name).decode('latin-1')


def _encode(text: str) -> bytes:
    try:
        return text.encode('latin-1')
    except UnicodeEncodeError:
        # Only reachable if a client decoded wire text with a wider encoding.
        return text.encode('utf-8', 'surrogateescape')


class ToolOutput:
    """stdout/stderr of a tool, written as bytes.

    Parameters
    ----------
    stdout, stderr : binary file objects, optional
        Default: the process's stdout/stderr buffers.
    """

    def __init__(self, stdout: BinaryIO | None = None,
                 stderr: BinaryIO | None = None) -> None:
        self._stdout = stdout if stdout is not None else sys.stdout.buffer
        self._stderr = stderr if stderr is not None else sys.stderr.buffer

    def write(self, text: str) -> None:
        """Write text to stdout (no newline added, not flushed)."""
        self._stdout.write(_encode(text))

    def line(self, text: str = '') -> None:
        """Write one line to stdout and flush it (stdout is line buffered
        in the C tools, so lines come out as they are printed)."""
        self._stdout.write(_encode(text) + b'\n')
        self._stdout.flush()

    def line_parts(self, parts) -> None:
        """Write one line given in pieces (a large array's values), each
        encoded and written as it comes, then the newline; flush once."""
        write = self._stdout.write
        for part in parts:
            write(_encode(part))
        write(b'\n')
        self._stdout.flush()

    def error(self, text: str) -> None:
        """Write one line to stderr."""
        self._stdout.flush()
        self._stderr.write(_encode(text) + b'\n')
        self._stderr.flush()

    def error_text(self, text: str) -> None:
        """Write text to stderr as is (usage messages)."""
        self._stdout.flush()
        self._stderr.write(_encode(text))
        self._stderr.flush()

    def error_colour(self, word: str) -> str:
        """``ERL_ERROR``: the word in bold red when stderr is a terminal
        (libCom always colours it; we keep logs and pipes clean)."""
        isatty = getattr(self._stderr, 'isatty', None)
        if isatty is not None and isatty():
            return '\x1b[31;1m%s\x1b[0m' % word
        return word

    def flush(self) -> None:
        """Flush stdout (stderr is never buffered here)."""
        self._stdout.flush()


def default_sigpipe() -> None:
    """Die of SIGPIPE when stdout's reader goes away, as the C tools do
    (``cawire-monitor pv | head -1``), instead of a BrokenPipeError
    traceback.  Python ignores SIGPIPE by default; only the console entry
    points call this."""
    if hasattr(signal, 'SIGPIPE'):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)


def console_main(run: Callable[[list], int], argv: list | None) -> int:
    """Body of a tool's console entry point: run it on ``argv`` (default:
    this process's arguments) with C-tool SIGPIPE behaviour; Ctrl-C exits
    with 130 instead of a traceback."""
    args = sys.argv[1:] if argv is None else argv
    default_sigpipe()
    try:
        return run(args)
    except KeyboardInterrupt:
        return 130


def report_parse(parsed: Parsed, output: ToolOutput) -> int | None:
    """Print what option parsing said (a ``_args.Parsed``) to ``output``.

    Returns
    -------
    int or None
        The exit status when the tool must stop now (help, version, usage
        errors), else None.
    """
    for message in parsed.messages:
        # Usage texts start with a newline and are printed as they are.
        if message.startswith('\n'):
            output.error_text(message)
        else:
            output.error(message)
    if parsed.exit_code is not None:
        if parsed.stdout:
            output.write(parsed.stdout)
            output.flush()
    return parsed.exit_code


@contextlib.contextmanager
def tool_context(context: Context | None = None) -> Iterator[Context]:
    """The client context a tool runs with: ``context`` as given, or a new
    one that is disconnected when the block ends."""
    if context is not None:
        yield context
        return
    # Imported late: -h, -V and usage errors need no client threads.
    from ..threading.client import Context
    context = Context()
    try:
        yield context
    finally:
        context.disconnect()


def ca_timeout(seconds: float) -> float | None:
    """The tools' -w value as a client timeout: 0 means wait forever
    (``ca_pend_io(0)``)."""
    return None if seconds <= 0 else seconds


class Deadline:
    """Remaining time of one overall timeout (None: forever)."""

    def __init__(self, timeout: float | None):
        self._end = None if timeout is None else time.monotonic() + timeout

    def remaining(self) -> float | None:
        """Seconds left (never negative), or None for no deadline."""
        if self._end is None:
            return None
        return max(self._end - time.monotonic(), 0.0)


def connect_channels(context: Context, names: Iterable[str], *, priority: int,
                     timeout: float, output: ToolOutput) -> list | None:
    """``connect_pvs``: create channels for ``names`` and wait for all.

    Parameters
    ----------
    context : cawire.threading.client.Context
    names : iterable of str
    priority : int
    timeout : float
        The -w seconds (0: forever), shared by all channels.
    output : ToolOutput
        Receives the "Channel connect timed out" message.

    Returns
    -------
    list of PV or None
        None when some channel did not connect in time (message printed).
    """
    names = list(names)
    pvs = context.get_pvs(*names, priority=priority,
                          timeout=ca_timeout(timeout))
    deadline = Deadline(ca_timeout(timeout))
    all_connected = True
    for pv in pvs:
        if pv.connected:
            continue
        try:
            pv.wait_for_connection(timeout=deadline.remaining())
        except CaprotoTimeoutError:
            all_connected = False
    if all_connected:
        return pvs
    if len(names) > 1:
        output.error('Channel connect timed out: some PV(s) not found.')
    else:
        output.error("Channel connect timed out: '%s' not found."
                     % output_name(names[0]))
    return None


def request_type(native_type: int, *, enum_as_number: bool,
                 float_as_string: bool = False) -> int:
    """The DBR type caget -a, caput and camonitor request for a channel."""
    if is_enum_type(native_type):
        return _TIME_INT if enum_as_number else _TIME_STRING
    if float_as_string and is_float_type(native_type):
        return _TIME_STRING
    return native_type + TIME_OFFSET
