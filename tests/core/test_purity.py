"""The core's purity rule, checked on the source of every cawire.protocol module.

``cawire.protocol`` turns bytes into events and back; it must not do I/O or
depend on the process it runs in.  This test reads each module's syntax tree
(nothing is imported or executed) and rejects:

* imports of modules that do I/O, concurrency or process control: socket,
  selectors, select, ssl, threading, _thread, asyncio, concurrent,
  subprocess, multiprocessing, signal, fcntl, importlib (hidden imports);
* reading a clock: calls of ``time.time/monotonic/perf_counter/sleep/...``
  (also when imported by name: ``from time import monotonic``) and of
  ``datetime.now/utcnow/today``.  Importing ``time`` or ``datetime`` for
  conversions is fine; calling a clock is not;
* the environment: ``os.environ``, ``os.getenv``, ``os.putenv``;
* name resolution: ``socket.gethostbyname``, ``getaddrinfo`` and friends
  (as attribute or imported name);
* loading native libraries through ctypes (``ctypes.CDLL``, ``cdll``,
  ``util.find_library``...); ctypes structures are fine;
* importing any ``cawire`` module outside ``cawire.protocol``.

One call is allowed by name, listed in ``ALLOWED_CLOCK_READERS``:
``TimeStamp.now()``, the caproto-compatible constructor a *user* calls to
stamp a value.  No core code may call it (checked below).

A failure names ``path:line`` and what was found.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE_DIR = Path(__file__).resolve().parents[2] / 'cawire' / 'protocol'
CORE_PACKAGE = 'cawire.protocol'

FORBIDDEN_MODULES = frozenset({
    'socket', 'selectors', 'select', 'ssl', 'threading', '_thread',
    'asyncio', 'concurrent', 'subprocess', 'multiprocessing', 'signal',
    'fcntl', 'importlib', 'sched', 'queue'})

CLOCK_FUNCTIONS = {
    'time': frozenset({'time', 'time_ns', 'monotonic', 'monotonic_ns',
                       'perf_counter', 'perf_counter_ns', 'process_time',
                       'process_time_ns', 'thread_time', 'thread_time_ns',
                       'sleep', 'localtime', 'gmtime', 'ctime', 'asctime',
                       'clock_gettime', 'clock_gettime_ns'}),
}
DATETIME_CLOCK_METHODS = frozenset({'now', 'utcnow', 'today'})
ENVIRONMENT_NAMES = {'os': frozenset({'environ', 'environb', 'getenv',
                                      'getenvb', 'putenv', 'unsetenv'})}
RESOLVER_NAMES = frozenset({'gethostbyname', 'gethostbyname_ex',
                            'gethostbyaddr', 'getaddrinfo', 'getnameinfo',
                            'getfqdn', 'gethostname'})
CTYPES_LOADERS = frozenset({'CDLL', 'PyDLL', 'WinDLL', 'OleDLL', 'cdll',
                            'pydll', 'windll', 'oledll', 'LibraryLoader',
                            'find_library', 'pythonapi'})

#: (module file name, qualified function name) allowed to read the clock.
ALLOWED_CLOCK_READERS = frozenset({('_timestamp.py', 'TimeStamp.now')})


def _core_modules() -> list[Path]:
    return sorted(PACKAGE_DIR.glob('*.py'))


def _resolve_relative(module_path: Path, level: int, name: str | None) -> str:
    """Absolute dotted name of a ``from <dots><name> import`` in the core."""
    package = CORE_PACKAGE.split('.')
    if level > 1:
        package = package[:len(package) - (level - 1)]
    return '.'.join(package + ([name] if name else []))


class _Checker(ast.NodeVisitor):
    """Collects ``(line, message)`` for every impurity in one module."""

    def __init__(self, path: Path):
        self.path = path
        self.problems: list[tuple[int, str]] = []
        # local name -> (module, attribute or None) for imported names
        self.aliases: dict[str, tuple[str, str | None]] = {}
        self.scope: list[str] = []

    def report(self, node: ast.AST, message: str) -> None:
        self.problems.append((getattr(node, 'lineno', 0), message))

    # -- scopes, so that the allow-list can name a function ------------------
    def _visit_scope(self, node):
        self.scope.append(node.name)
        self.generic_visit(node)
        self.scope.pop()

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _visit_scope

    def _clock_allowed(self) -> bool:
        qualified = '.'.join(self.scope)
        return (self.path.name, qualified) in ALLOWED_CLOCK_READERS

    # -- imports -------------------------------------------------------------
    def _check_module_name(self, node: ast.AST, module: str) -> None:
        top = module.split('.')[0]
        if top in FORBIDDEN_MODULES:
            self.report(node, f'imports {module!r} (I/O, concurrency or '
                              f'hidden imports are not allowed in the core)')
        if module == 'ctypes.util':
            self.report(node, "imports 'ctypes.util' (library loading)")
        if top == 'cawire' and not (module == CORE_PACKAGE or
                                    module.startswith(CORE_PACKAGE + '.')):
            self.report(node, f'imports {module!r}, outside {CORE_PACKAGE}')

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._check_module_name(node, alias.name)
            local = alias.asname or alias.name.split('.')[0]
            target = alias.name if alias.asname else alias.name.split('.')[0]
            self.aliases[local] = (target, None)
        self.generic_visit(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            module = _resolve_relative(self.path, node.level, node.module)
        else:
            module = node.module or ''
        self._check_module_name(node, module)
        for alias in node.names:
            name = alias.name
            local = alias.asname or name
            self.aliases[local] = (module, name)
            self._check_imported_name(node, module, name)
            if module == CORE_PACKAGE.split('.')[0] or (
                    module.startswith('cawire') and '.' not in module):
                # ``from cawire import threading``-style module imports
                self._check_module_name(node, f'{module}.{name}')
        self.generic_visit(node)

    def _check_imported_name(self, node, module: str, name: str) -> None:
        if name in CLOCK_FUNCTIONS.get(module, ()) and \
                not self._clock_allowed():
            self.report(node, f'imports the clock {module}.{name}')
        if name in ENVIRONMENT_NAMES.get(module, ()):
            self.report(node, f'imports {module}.{name} (environment)')
        if module == 'socket' or name in RESOLVER_NAMES:
            if name in RESOLVER_NAMES:
                self.report(node, f'imports {module}.{name} (name lookup)')
        if module == 'ctypes' and name in CTYPES_LOADERS:
            self.report(node, f'imports ctypes.{name} (library loading)')

    # -- uses ----------------------------------------------------------------
    def _base_module(self, node: ast.expr) -> tuple[str, str | None] | None:
        """What an expression's root name refers to, if it was imported."""
        if isinstance(node, ast.Name):
            return self.aliases.get(node.id)
        return None

    def visit_Attribute(self, node: ast.Attribute) -> None:
        origin = self._base_module(node.value)
        if origin is not None:
            module, name = origin
            full = f'{module}.{name}' if name else module
            attr = node.attr
            if full in CLOCK_FUNCTIONS and attr in CLOCK_FUNCTIONS[full] \
                    and not self._clock_allowed():
                self.report(node, f'reads the clock: {full}.{attr}')
            if full in ('datetime.datetime', 'datetime.date') and \
                    attr in DATETIME_CLOCK_METHODS and \
                    not self._clock_allowed():
                self.report(node, f'reads the clock: {full}.{attr}')
            if full in ENVIRONMENT_NAMES and attr in ENVIRONMENT_NAMES[full]:
                self.report(node, f'reads the environment: {full}.{attr}')
            if attr in RESOLVER_NAMES:
                self.report(node, f'resolves names: {full}.{attr}')
            if full.split('.')[0] == 'ctypes' and attr in CTYPES_LOADERS:
                self.report(node, f'loads a native library: {full}.{attr}')
        elif isinstance(node.value, ast.Attribute) and \
                isinstance(node.value.value, ast.Name):
            # datetime.datetime.now() with ``import datetime``
            origin = self.aliases.get(node.value.value.id)
            if origin == ('datetime', None) and \
                    node.value.attr in ('datetime', 'date') and \
                    node.attr in DATETIME_CLOCK_METHODS and \
                    not self._clock_allowed():
                self.report(node, f'reads the clock: datetime.'
                                  f'{node.value.attr}.{node.attr}')
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Name) and func.id == '__import__':
            self.report(node, 'calls __import__ (hidden import)')
        if isinstance(func, ast.Attribute) and func.attr == 'now' and \
                not self._clock_allowed():
            self.report(node, 'calls .now(): the core never reads the clock '
                              '(TimeStamp.now is for users)')
        self.generic_visit(node)


def _problems(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding='utf-8'), filename=str(path))
    checker = _Checker(path)
    checker.visit(tree)
    relative = path.relative_to(PACKAGE_DIR.parents[1])
    return [f'{relative}:{line}: {message}'
            for line, message in sorted(checker.problems)]


def test_core_modules_found():
    names = {path.name for path in _core_modules()}
    assert {'__init__.py', '_framing.py', '_circuit.py'} <= names


@pytest.mark.parametrize('path', _core_modules(), ids=lambda p: p.name)
def test_core_module_is_pure(path):
    problems = _problems(path)
    assert not problems, 'impure core module:\n' + '\n'.join(problems)


def test_allowed_clock_readers_exist():
    """The allow-list names functions that exist (no stale entries)."""
    for file_name, qualified in ALLOWED_CLOCK_READERS:
        tree = ast.parse((PACKAGE_DIR / file_name).read_text('utf-8'))
        found = set()

        def walk(node, prefix):
            for child in ast.iter_child_nodes(node):
                if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef,
                                      ast.ClassDef)):
                    name = prefix + child.name
                    found.add(name)
                    walk(child, name + '.')
        walk(tree, '')
        assert qualified in found, (file_name, qualified)


# -- the checker itself -------------------------------------------------------

@pytest.mark.parametrize('source, expected', [
    ('import socket', "imports 'socket'"),
    ('import threading as t', "imports 'threading'"),
    ('from asyncio import sleep', "imports 'asyncio'"),
    ('import importlib\nimportlib.import_module("x")', "imports 'importlib'"),
    ('import time\nx = time.monotonic()', 'reads the clock: time.monotonic'),
    ('import time as _t\n_t.sleep(1)', 'reads the clock: time.sleep'),
    ('from time import perf_counter', 'imports the clock time.perf_counter'),
    ('import datetime\nd = datetime.datetime.now()',
     'reads the clock: datetime.datetime.now'),
    ('from datetime import datetime\nd = datetime.utcnow()',
     'reads the clock: datetime.datetime.utcnow'),
    ('import os\nx = os.environ["A"]', 'reads the environment: os.environ'),
    ('from os import getenv', 'imports os.getenv'),
    ('import socket as s\ns.getaddrinfo("h", 1)', 'resolves names'),
    ('import ctypes\nctypes.CDLL("libc.so.6")', 'loads a native library'),
    ('import ctypes.util', "imports 'ctypes.util'"),
    ('from ctypes import cdll', 'imports ctypes.cdll'),
    ('from ..threading import client', "imports 'cawire.threading'"),
    ('from .. import config', "imports 'cawire.config'"),
    ('import cawire.log', "imports 'cawire.log'"),
    ('__import__("socket")', 'calls __import__'),
])
def test_checker_catches(tmp_path, source, expected):
    path = tmp_path / '_sample.py'
    path.write_text(source + '\n')
    checker = _Checker(path)
    checker.visit(ast.parse(source))
    messages = [message for _, message in checker.problems]
    assert any(expected in message for message in messages), messages


@pytest.mark.parametrize('source', [
    'import ctypes\nclass S(ctypes.BigEndianStructure): pass',
    'import datetime\nd = datetime.datetime(1990, 1, 1)',
    'import math, struct, enum',
    'from . import _constants\nfrom ._dbr import DBR_TYPES',
    'from cawire.protocol._enums import ChannelType',
])
def test_checker_accepts(tmp_path, source):
    path = tmp_path / '_sample.py'
    checker = _Checker(path)
    checker.visit(ast.parse(source))
    assert checker.problems == []
