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


def test_public_names_have_docstrings():
    """Every class and function exported by cawire, cawire.threading.client
    and cawire.server explains itself."""
    missing = []
    for module_name in ('cawire', 'cawire.threading.client', 'cawire.server'):
        module = importlib.import_module(module_name)
        assert (module.__doc__ or '').strip(), module_name
        for name in module.__all__:
            value = getattr(module, name)
            if inspect.isclass(value) or inspect.isroutine(value):
                if not (inspect.getdoc(value) or '').strip():
                    missing.append(f'{module_name}.{name}')
    assert not missing, missing


def _chromium() -> str | None:
    for name in ('chromium', 'chromium-browser', 'google-chrome'):
        found = shutil.which(name)
        if found:
            return found
    return None


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b'\x89PNG\r\n\x1a\n'
    return (int.from_bytes(data[16:20], 'big'), int.from_bytes(data[20:24], 'big'))


def _distinct_colours(data: bytes) -> int:
    """Distinct RGB(A) pixel values of an 8-bit non-interlaced PNG (what
    Chromium writes), decoded with zlib only."""
    import struct
    import zlib
    width, height = _png_size(data)
    colour_type = data[25]
    channels = {2: 3, 6: 4}[colour_type]
    chunks, position = [], 8
    while position < len(data):
        length, kind = struct.unpack('>I4s', data[position:position + 8])
        if kind == b'IDAT':
            chunks.append(data[position + 8:position + 8 + length])
        position += 12 + length
    raw = zlib.decompress(b''.join(chunks))
    stride = width * channels
    previous = bytearray(stride)
    colours = set()
    for row in range(height):
        start = row * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up = previous[i]
            up_left = previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - up_left
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - up_left)
                predictor = left if pa <= pb and pa <= pc else (
                    up if pb <= pc else up_left)
                line[i] = (line[i] + predictor) & 0xFF
        if row % 8 == 0:  # a sample of rows is plenty
            colours.update(bytes(line[i:i + channels])
                           for i in range(0, stride, channels * 4))
        previous = line
    return len(colours)


@pytest.mark.parametrize('page', ['index.html', 'api/threading-client/index.html'])
def test_rendered_page_in_headless_chromium(site, page, tmp_path):
    """The home page and an API page render to a real picture (text, code,
    navigation: many colours), not a blank or error page.  The screenshots
    stay in the test's tmp_path for inspection."""
    browser = _chromium()
    if browser is None:
        pytest.skip('chromium is not installed (Debian: apt-get install -y '
                    'chromium); rendered pages not checked')
    out, _ = site
    shot = tmp_path / (page.replace('/', '_') + '.png')
    result = subprocess.run(
        [browser, '--headless', '--no-sandbox', '--disable-gpu',
         '--hide-scrollbars', '--window-size=1280,1600',
         f'--user-data-dir={tmp_path / "profile"}',
         f'--screenshot={shot}', (out / page).as_uri()],
        capture_output=True, text=True, timeout=120)
    assert shot.is_file(), result.stdout + result.stderr
    data = shot.read_bytes()
    print(f'screenshot: {shot} ({len(data)} bytes)')
    assert _png_size(data) == (1280, 1600)
    assert len(data) > 30_000
    assert _distinct_colours(data) > 50
