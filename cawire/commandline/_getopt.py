"""POSIX/GNU ``getopt`` as the EPICS tools see it on Linux.

caget and camonitor use glibc's getopt, which permutes: options may follow
PV names (``caget pv -a``).  caput sets POSIXLY_CORRECT so that option
parsing stops at the PV name and negative numbers are values
(``caput pv -5``).  Python's getopt module differs in both error reporting
and grouping details, hence this small emulation.
"""
from __future__ import annotations

from typing import Iterator

__all__ = ('Getopt',)


class Getopt:
    """Iterate over ``(option, argument)`` pairs of a command line.

    Parameters
    ----------
    args : list of str
        Arguments without the program name.
    optstring : str
        getopt option string; a leading ``':'`` is accepted (the tools all
        use it) and means errors come back as ``'?'``/``':'`` events.
    posix : bool
        Stop at the first non-option instead of permuting.

    long_options : dict, optional
        GNU-style long options (``--name``, ``--name=value`` or
        ``--name value``): name -> ``(key, takes_argument)``; iteration
        yields ``(key, argument)`` for them.  The C tools have none; ours
        add ``--help`` and a few of caproto's.

    Notes
    -----
    Iteration yields ``(char, optarg)``; an unknown option yields
    ``('?', char)`` (``('?', '-name')`` for an unknown long option, so that
    "'-%s'" shows it as typed) and a missing argument ``(':', char)``.  After
    iteration, ``operands`` holds the non-option arguments in order.
    """

    def __init__(self, args: list, optstring: str, *, posix: bool = False,
                 long_options: dict | None = None):
        self._args = list(args)
        self._spec = optstring.lstrip(':+')
        self._posix = posix
        self._long = dict(long_options or {})
        self.operands: list = []

    def _long_option(self, arg: str, args: list, index: int) -> tuple:
        """``(event, next index)`` for a ``--name[=value]`` argument."""
        name, has_value, value = arg[2:].partition('=')
        found = self._long.get(name)
        if found is None:
            return ('?', '-' + name), index
        key, takes = found
        if not takes:
            if has_value:
                return ('?', '-' + arg[2:]), index
            return (key, None), index
        if has_value:
            return (key, value), index
        if index < len(args):
            return (key, args[index]), index + 1
        return (':', '-' + name), index

    def _takes_argument(self, char: str) -> bool | None:
        """True/False for a known option, None for an unknown one."""
        if char in (':', ';'):
            return None
        position = self._spec.find(char)
        if position < 0:
            return None
        return self._spec[position + 1:position + 2] == ':'

    def __iter__(self) -> Iterator[tuple]:
        args = self._args
        index = 0
        while index < len(args):
            arg = args[index]
            index += 1
            if arg == '--':
                self.operands.extend(args[index:])
                return
            if arg.startswith('--'):
                event, index = self._long_option(arg, args, index)
                yield event
                continue
            if not arg.startswith('-') or arg == '-':
                self.operands.append(arg)
                if self._posix:
                    self.operands.extend(args[index:])
                    return
                continue
            position = 1
            while position < len(arg):
                char = arg[position]
                position += 1
                takes = self._takes_argument(char)
                if takes is None:
                    yield '?', char
                    continue
                if not takes:
                    yield char, None
                    continue
                if position < len(arg):
                    yield char, arg[position:]
                elif index < len(args):
                    yield char, args[index]
                    index += 1
                else:
                    yield ':', char
                break
