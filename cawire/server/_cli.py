"""Command line every IOC gets, and the blocking ``run`` entry point.

``ioc_arg_parser`` gives ``--prefix``, ``--list-pvs``, ``--interfaces``,
``-v``/``-q`` (the server port comes from EPICS_CAS_SERVER_PORT /
EPICS_CA_SERVER_PORT, like any EPICS server) and returns the keyword
arguments for the group and for :func:`run`, as caproto's does.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Callable, Sequence

from ..log import config_cawire_logging
from ._server import Context

__all__ = ('ioc_arg_parser', 'template_arg_parser', 'run', 'start_server')

logger = logging.getLogger('cawire.server')


def template_arg_parser(*, desc: str, default_prefix: str,
                        argv: list[str] | None = None,
                        macros: dict | None = None,
                        supported_async_libs: Sequence[str] | None = None,
                        ) -> tuple[argparse.ArgumentParser,
                                   Callable[[argparse.Namespace],
                                            tuple[dict, dict]]]:
    """Build the standard IOC parser; returns ``(parser, split_args)``.

    Parameters
    ----------
    desc : str
        Description shown by ``--help``.
    default_prefix : str
        Default of ``--prefix``.
    argv : list of str, optional
        Unused here (``split_args(parser.parse_args(argv))`` parses).
    macros : dict, optional
        Macro name to default value (None: required), one option each.
    supported_async_libs : sequence of str, optional
        Accepted for caproto compatibility; only 'asyncio' is implemented.

    Returns
    -------
    parser : argparse.ArgumentParser
    split_args : callable
        Namespace -> ``(ioc_options, run_options)``; also sets up logging.
    """
    macros = macros or {}
    parser = argparse.ArgumentParser(
        description=desc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--prefix', type=str, default=default_prefix,
                        help=f'PV name prefix (default {default_prefix!r})')
    verbosity = parser.add_mutually_exclusive_group()
    verbosity.add_argument('-q', '--quiet', action='store_true',
                           help='Only log warnings and errors.')
    verbosity.add_argument('-v', '--verbose', action='count', default=0,
                           help='Log circuits and searches (-vv: everything '
                                'at debug level).')
    parser.add_argument('--list-pvs', action='store_true',
                        help='Log the PV names at startup.')
    parser.add_argument('--async-lib', default='asyncio',
                        choices=tuple(supported_async_libs or ('asyncio',)),
                        help='Async library (only asyncio is implemented).')
    parser.add_argument('--interfaces', nargs='+', default=None,
                        help='Interfaces to listen on (default: '
                             'EPICS_CAS_INTF_ADDR_LIST, else all).')
    for name, default in macros.items():
        if default is None:
            parser.add_argument(f'--{name}', type=str, required=True,
                                metavar=name.upper(),
                                help=f'value of {{{name}}} in PV names '
                                     f'(required)')
        else:
            parser.add_argument(f'--{name}', type=str, default=default,
                                metavar=name.upper(),
                                help=f'value of {{{name}}} in PV names '
                                     f'(default {default!r})')

    def split_args(args):
        if args.async_lib != 'asyncio':
            raise NotImplementedError(
                f'async library {args.async_lib!r}: only asyncio is implemented')
        if args.quiet:
            config_cawire_logging(file=sys.stderr, level='WARNING')
        elif args.verbose > 1:
            config_cawire_logging(file=sys.stderr, level='DEBUG')
        else:
            config_cawire_logging(file=sys.stderr,
                                  level='DEBUG' if args.verbose else 'INFO')
            # -v: the server's own story (circuits, searches) in detail,
            # the rest of cawire at INFO.
            logging.getLogger('cawire').setLevel('INFO')
            if args.verbose:
                for name in ('cawire.server', 'cawire.circ',
                             'cawire.bcast.search'):
                    logging.getLogger(name).setLevel('DEBUG')
        ioc_options = {'prefix': args.prefix,
                       'macros': {key: getattr(args, key) for key in macros}}
        run_options = {'module_name': 'cawire.server',
                       'log_pv_names': args.list_pvs,
                       'interfaces': args.interfaces}
        return ioc_options, run_options

    return parser, split_args


def ioc_arg_parser(*, desc: str, default_prefix: str,
                   argv: list[str] | None = None, macros: dict | None = None,
                   supported_async_libs: Sequence[str] | None = None,
                   ) -> tuple[dict, dict]:
    """Parse the standard IOC command line.

    Returns
    -------
    ioc_options : dict
        ``prefix`` and ``macros`` for the PVGroup.
    run_options : dict
        ``log_pv_names`` and ``interfaces`` (and ``module_name``) for
        :func:`run`.
    """
    parser, split_args = template_arg_parser(
        desc=desc, default_prefix=default_prefix, argv=argv, macros=macros,
        supported_async_libs=supported_async_libs)
    return split_args(parser.parse_args(argv[1:] if argv else None))


async def start_server(pvdb: dict, *, interfaces: Sequence[str] | None = None,
                       log_pv_names: bool = False,
                       startup_hook: Callable | None = None) -> None:
    """Serve ``pvdb`` in the running event loop until cancelled."""
    await Context(pvdb, interfaces).run(log_pv_names=log_pv_names,
                                        startup_hook=startup_hook)


def run(pvdb: dict, *, module_name: str | None = None,
        interfaces: Sequence[str] | None = None,
        log_pv_names: bool = False,
        startup_hook: Callable | None = None) -> None:
    """Serve ``pvdb`` until SIGINT/SIGTERM, then disconnect clients cleanly.

    Parameters
    ----------
    pvdb : dict
        PV name to ChannelData (``group.pvdb``).
    module_name : str, optional
        Accepted for caproto compatibility (only asyncio exists).
    interfaces : list of str, optional
    log_pv_names : bool
    startup_hook : coroutine function, optional
    """
    if module_name not in (None, 'cawire.server', 'cawire.asyncio.server',
                           'caproto.asyncio.server'):
        raise NotImplementedError(f'server module {module_name!r}: only the '
                                  'asyncio server is implemented')

    async def main():
        context = Context(pvdb, interfaces)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(signum, context.stop)
            except (NotImplementedError, RuntimeError):
                pass  # not the main thread, or not a POSIX loop
        await context.run(log_pv_names=log_pv_names, startup_hook=startup_hook)

    asyncio.run(main())
