"""Run the documentation's code and the example scripts against live IOCs.

Doc pages mark executable fenced blocks with an HTML comment on the line
before the fence (invisible on the rendered site):

* ``<!-- runnable -->``: a client block.  A page's client blocks run in
  order in one Python process (one namespace, like a console session).
* ``<!-- runnable: ioc -->``: an IOC module.  It is started as a script on
  its own loopback port before the page's client blocks run, and stopped
  after them.

Every process gets the loopback EPICS environment of the session plus an
address list naming each IOC's port; every process is bounded in time and
stopped by the helper that started it.
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import subprocess
import sys
from pathlib import Path

from cawire.testing import epics

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / 'docs'

_MARKER = re.compile(r'^<!--\s*runnable(?::\s*(?P<kind>[\w-]+))?\s*-->\s*$')
_FENCE = re.compile(r'^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})\s*(?P<info>[^\n]*)$')


@dataclasses.dataclass
class Block:
    page: str
    line: int
    kind: str    # 'client' or 'ioc'
    code: str


def runnable_blocks(path: Path) -> list[Block]:
    """The marked fenced code blocks of one Markdown page, in order."""
    lines = path.read_text(encoding='utf-8').splitlines()
    blocks = []
    index = 0
    while index < len(lines):
        marker = _MARKER.match(lines[index].strip())
        index += 1
        if marker is None:
            continue
        # The fence follows the marker (blank lines allowed).
        while index < len(lines) and not lines[index].strip():
            index += 1
        fence = _FENCE.match(lines[index]) if index < len(lines) else None
        if fence is None or not fence.group('info').startswith('python'):
            raise ValueError(f'{path.name}:{index}: runnable marker not '
                             f'followed by a ```python fence')
        start = index + 1
        end = start
        while end < len(lines) and lines[end].strip() != fence.group('fence'):
            end += 1
        if end == len(lines):
            raise ValueError(f'{path.name}:{start}: unterminated fence')
        indent = len(fence.group('indent'))
        code = '\n'.join(line[indent:] for line in lines[start:end]) + '\n'
        blocks.append(Block(path.name, start, marker.group('kind') or 'client',
                            code))
        index = end + 1
    return blocks


def readme_blocks() -> list[Block]:
    """The runnable blocks of README.md (its user quick start)."""
    return runnable_blocks(REPO / 'README.md')


def pages_with_blocks() -> list[Path]:
    return sorted(path for path in DOCS.rglob('*.md') if runnable_blocks(path))


def _stop(process: subprocess.Popen) -> str:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
    return process.stdout.read().decode(errors='replace') if process.stdout else ''


@contextlib.contextmanager
def running_ioc(argv: list[str], port: int, base_env: dict, *,
                cwd: Path | None = None, timeout: float = 20.0,
                source_tree: bool = True):
    """Start an IOC process serving on ``port`` (loopback); stop it on exit.
    Yields the Popen; raises if it does not listen within ``timeout``.
    ``source_tree``: import cawire from this checkout (else: as installed)."""
    env = dict(base_env)
    env['EPICS_CAS_SERVER_PORT'] = str(port)
    env['EPICS_CA_SERVER_PORT'] = str(port)
    if source_tree:
        env['PYTHONPATH'] = os.pathsep.join(filter(None, [
            str(REPO), env.get('PYTHONPATH')]))
    else:
        env.pop('PYTHONPATH', None)
    process = subprocess.Popen(argv, env=env, cwd=cwd,
                               stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               start_new_session=True)
    try:
        try:
            epics.wait_for_tcp(port, timeout=timeout,
                               alive=lambda: process.poll() is None)
        except Exception as exc:
            raise RuntimeError(f'IOC {argv} did not start: {exc}\n'
                               f'{_stop(process)}') from exc
        yield process
    finally:
        _stop(process)


def client_env(base_env: dict, ioc_ports: list[int], *,
               source_tree: bool = True) -> dict:
    """The session environment, searching every IOC port on loopback."""
    env = dict(base_env)
    env['EPICS_CA_ADDR_LIST'] = ' '.join(f'127.0.0.1:{port}'
                                         for port in ioc_ports)
    env['EPICS_CA_AUTO_ADDR_LIST'] = 'NO'
    if source_tree:
        env['PYTHONPATH'] = os.pathsep.join(filter(None, [
            str(REPO), env.get('PYTHONPATH')]))
    else:
        env.pop('PYTHONPATH', None)
    return env


def run_python(code_or_argv, env: dict, *, cwd: Path, timeout: float = 90.0
               ) -> subprocess.CompletedProcess:
    argv = ([sys.executable, '-c', code_or_argv]
            if isinstance(code_or_argv, str) else code_or_argv)
    return subprocess.run(argv, env=env, cwd=cwd, capture_output=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)
