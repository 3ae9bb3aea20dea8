"""The documentation site: it builds with no warning, its runnable code
blocks run against live IOCs on loopback, every public name has a
docstring, and the rendered pages look like pages in a real browser."""
from __future__ import annotations

import contextlib
import importlib
import inspect
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cawire.testing import epics

from docs_helpers import (DOCS, REPO, client_env, pages_with_blocks,
                           run_python, runnable_blocks, running_ioc)

pytestmark = pytest.mark.epics


@pytest.fixture(scope='module')
def site(tmp_path_factory):
    """``mkdocs build --strict`` into a temporary directory."""
    out = tmp_path_factory.mktemp('site')
    result = subprocess.run(
        [sys.executable, '-m', 'mkdocs', 'build', '--strict', '--site-dir',
         str(out)], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return out, result.stdout + result.stderr


def test_docs_build_strict_without_warnings(site):
    out, log = site
    assert 'WARNING' not in log, log
    assert (out / 'index.html').is_file()
    assert (out / 'api' / 'threading-client' / 'index.html').is_file()


def test_api_reference_is_generated_from_docstrings(site):
    out, _ = site
    client = (out / 'api' / 'threading-client' / 'index.html').read_text()
    for name in ('Context', 'get_pvs', 'Subscription', 'add_callback', 'Batch'):
        assert name in client
    server = (out / 'api' / 'server' / 'index.html').read_text()
    for name in ('PVGroup', 'pvproperty', 'putter', 'ioc_arg_parser'):
        assert name in server


def test_every_page_is_in_the_nav(site):
    """No orphan page: each Markdown file is reachable from the nav."""
    out, log = site
    assert 'not included in the "nav"' not in log, log


PAGES = pages_with_blocks()


@pytest.mark.parametrize('page', PAGES, ids=lambda path: path.name)
def test_runnable_blocks(page, ca_env, repeater, tmp_path):
    """A page's IOC blocks run as scripts (each on its own port), the demo
    random_walk IOC runs too, and the page's client blocks run in order in
    one process that searches all of them."""
    blocks = runnable_blocks(page)
    with contextlib.ExitStack() as stack:
        ports = []
        demo_port = epics.free_port()
        stack.enter_context(running_ioc(
            [sys.executable, '-m', 'cawire.ioc_examples.random_walk'],
            demo_port, ca_env.env))
        ports.append(demo_port)
        for number, block in enumerate(b for b in blocks if b.kind == 'ioc'):
            script = tmp_path / f'ioc_{number}.py'
            script.write_text(block.code)
            port = epics.free_port()
            stack.enter_context(running_ioc(
                [sys.executable, str(script), '--list-pvs'], port,
                ca_env.env, cwd=tmp_path))
            ports.append(port)
        client_code = ''.join(
            f'# --- {block.page}:{block.line}\n{block.code}'
            for block in blocks if block.kind == 'client')
        if not client_code:
            return
        result = run_python(client_code, client_env(ca_env.env, ports),
                            cwd=tmp_path)
    assert result.returncode == 0, (result.stdout.decode(errors='replace')
                                    + result.stderr.decode(errors='replace'))
