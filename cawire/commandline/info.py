"""cawire-info: print what the client knows about PVs, as cainfo does.

Usage: ``cawire-info [options] <PV name> ...`` (``-h`` lists the options).
For each PV, once all are connected: its state, the server's host and port
(the host name as the resolver gives it for the server's address, as libca
shows it), the access rights, the native DBF type, the DBR type a plain read
asks for, and the element count.  The output matches cainfo's byte for byte.
``-s <level>`` prints the client's circuits and channels instead (libca's
``ca_client_status`` report has no equivalent here).
"""
from __future__ import annotations

import socket
import sys
from typing import TYPE_CHECKING

from ..protocol import AccessRights
from ._args import InfoOptions, parse_info
from ._format import dbf_type_name, dbr_type_name
from ._session import (ToolOutput, connect_channels, console_main,
                       output_name, report_parse, tool_context)

if TYPE_CHECKING:  # the client is imported only when a tool runs
    from ..threading.client import Context

__all__ = ('main', 'run', 'host_name')

PROG = 'cawire-info'

_STATE_CONNECTED = 'connected'
_STATE_NEVER = 'never connected'
_STATE_PREVIOUSLY = 'previously connected'


def host_name(address: tuple | None) -> str:
    """``ca_host_name``: ``host:port`` of a server address, the host as the
    resolver names it (``localhost`` for 127.0.0.1), else the dotted
    address; ``<disconnected>`` without a circuit."""
    if not address:
        return '<disconnected>'
    host, port = address[0], address[1]
    try:
        name, _ = socket.getnameinfo((host, port), socket.NI_NUMERICSERV)
    except (OSError, UnicodeError):
        name = host
    return '%s:%d' % (name, port)


def _no_or_empty(allowed: bool) -> str:
    return '' if allowed else 'no '


def _describe(name: str, pv) -> str:
    channel = pv.channel
    manager = pv.circuit_manager
    if channel is None:
        state = _STATE_PREVIOUSLY if manager is not None else _STATE_NEVER
        native_type, count, rights, address = -1, 0, AccessRights.NO_ACCESS, None
    else:
        state = _STATE_CONNECTED
        native_type = channel.native_data_type
        count = channel.native_data_count
        rights = AccessRights(channel.access_rights or 0)
        address = manager.circuit.address if manager is not None else None
    # dbf_type_to_DBR: the plain DBR type of the same number (-1: none).
    request_type = native_type if native_type >= 0 else -1
    return ('%s\n'
            '    State:            %s\n'
            '    Host:             %s\n'
            '    Access:           %sread, %swrite\n'
            '    Native data type: %s\n'
            '    Request type:     %s\n'
            '    Element count:    %d\n'
            % (output_name(name), state, host_name(address),
               _no_or_empty(bool(rights & AccessRights.READ)),
               _no_or_empty(bool(rights & AccessRights.WRITE)),
               dbf_type_name(native_type), dbr_type_name(request_type), count))


def _client_status(context, level: int) -> str:
    """What ``-s`` prints: the client's circuits and their channels."""
    lines = ['cawire client context: %d circuit(s), %d PV(s)'
             % (len(context.circuit_managers), len(context.pvs))]
    for manager in list(context.circuit_managers.values()):
        circuit = manager.circuit
        channels = getattr(circuit, 'channels', {})
        lines.append('    circuit to %s, priority %d, %d channel(s)'
                     % (host_name(circuit.address), circuit.priority,
                        len(channels)))
        if level > 1:
            for channel in list(channels.values()):
                lines.append('        %s' % output_name(channel.name))
    return '\n'.join(lines) + '\n'


def run(args: list, output: ToolOutput | None = None,
        context: Context | None = None) -> int:
    """Run cawire-info with ``args`` (without the program name).

    Returns
    -------
    int
        0 when every channel connected (and was printed); 1 when some did
        not connect in time or the command line was wrong.
    """
    output = output or ToolOutput()
    parsed = parse_info(args, PROG)
    exit_code = report_parse(parsed, output)
    if exit_code is not None:
        return exit_code
    options = parsed.options
    assert isinstance(options, InfoOptions)
    with tool_context(context) as context:
        try:
            pvs: list = []
            if options.names:
                connected = connect_channels(
                    context, options.names, priority=options.priority,
                    timeout=options.timeout, output=output)
                if connected is None:
                    return 1
                pvs = connected
            if options.status_level:
                output.write(_client_status(context, options.status_level))
            else:
                for name, pv in zip(options.names, pvs):
                    output.write(_describe(name, pv))
            return 0
        finally:
            output.flush()


def main(argv: list | None = None) -> int:
    """Console entry point (``cawire-info``)."""
    return console_main(run, argv)


if __name__ == '__main__':
    sys.exit(main())
