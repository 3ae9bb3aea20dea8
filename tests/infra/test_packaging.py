"""What a user gets from the package index: the sdist carries the test
suite (its core tests run from the unpacked archive), and the wheel,
installed into a fresh virtual environment with no network, runs the
README's quick start verbatim (client, IOC, tools)."""
from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from cawire.testing import epics

from docs_helpers import REPO, client_env, readme_blocks, run_python, running_ioc

# Building and installing take minutes on a loaded 2-core machine.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def _build(kind: str, out: Path) -> Path:
    # --no-isolation: build with the setuptools already installed (no
    # network); the result is the same archive an isolated build makes.
    result = subprocess.run(
        [sys.executable, '-m', 'build', f'--{kind}', '--no-isolation',
         '--outdir', str(out)], cwd=REPO, capture_output=True, text=True,
        timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    built, = out.glob('*.tar.gz' if kind == 'sdist' else '*.whl')
    return built


def test_sdist_is_complete_and_its_tests_run(tmp_path):
    import setuptools
    if int(setuptools.__version__.split('.')[0]) < 77:
        pytest.skip(f'setuptools {setuptools.__version__} < 77 cannot build '
                    f'this project without network (pip install -U setuptools)')
    sdist = _build('sdist', tmp_path / 'dist')
    with tarfile.open(sdist) as archive:
        archive.extractall(tmp_path / 'unpacked', filter='data')
    root, = (tmp_path / 'unpacked').iterdir()
    for name in ('LICENSE', 'README.md', 'CHANGELOG.md', 'pyproject.toml',
                 'mkdocs.yml', 'tests/conftest.py', 'tests/core/circuit_helpers.py',
                 'tests/core/payload_helpers.py', 'tests/db/test.db',
                 'tests/db/test.acf', 'tests/db/tools.db', 'tests/infra/docs_helpers.py',
                 'docs/index.md', 'examples/monitor_to_csv.py',
                 'scripts/mkdocs_hooks.py', 'cawire/py.typed',
                 'cawire/commandline/info.py'):
        assert (root / name).is_file(), name
    env = {key: value for key, value in os.environ.items()
           if key != 'PYTHONPATH'}
    env['PYTHONPATH'] = str(root)   # the sdist's cawire, not this checkout's
    result = subprocess.run(
        [sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider',
         'tests/core/test_headers.py', 'tests/core/test_commands.py',
         'tests/core/test_state.py'],
        cwd=root, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert ' passed' in result.stdout
    check = subprocess.run(
        [sys.executable, '-c', 'import cawire; print(cawire.__file__)'],
        cwd=root, env=env, capture_output=True, text=True, timeout=60)
    assert check.stdout.strip().startswith(str(root))


def _without_source_tree() -> dict:
    # PYTHONPATH would show pip (and Python) this checkout's cawire.
    env = {key: value for key, value in os.environ.items()
           if key != 'PYTHONPATH'}
    env['PIP_DISABLE_PIP_VERSION_CHECK'] = '1'
    return env


def _numpy_without_network(venv_python: Path) -> None:
    """Make the numpy this test runs with visible to the fresh venv (no
    package index here): its package and dist-info, linked into a folder
    named by a .pth file.  pip sees the dist-info, so cawire's dependency
    on numpy is resolved, not skipped."""
    import numpy
    package = Path(numpy.__file__).parent
    site = Path(subprocess.run(
        [str(venv_python), '-c', 'import sysconfig; '
         'print(sysconfig.get_paths()["purelib"])'],
        capture_output=True, text=True, check=True).stdout.strip())
    shelf = site.parent / 'numpy-shelf'
    shelf.mkdir()
    for entry in package.parent.iterdir():
        if entry.name == 'numpy' or entry.name.startswith(('numpy-', 'numpy.libs')):
            (shelf / entry.name).symlink_to(entry)
    (site / 'numpy-shelf.pth').write_text(str(shelf) + '\n')


@pytest.mark.epics
def test_wheel_in_fresh_venv_runs_the_readme_quick_start(ca_env, repeater,
                                                         tmp_path):
    # pyproject.toml's build-system needs setuptools >= 77 (SPDX license);
    # without network the installed one is used.
    import setuptools
    if int(setuptools.__version__.split('.')[0]) < 77:
        pytest.skip(f'setuptools {setuptools.__version__} < 77 cannot build '
                    f'this project without network (pip install -U setuptools)')
    wheel = _build('wheel', tmp_path / 'dist')
    venv = tmp_path / 'venv'
    subprocess.run([sys.executable, '-m', 'venv', str(venv)], check=True,
                   timeout=300)
    python = venv / 'bin' / 'python'
    _numpy_without_network(python)
    install = subprocess.run(
        [str(python), '-m', 'pip', 'install', '--no-index', '--find-links',
         str(wheel.parent), 'cawire'], capture_output=True, text=True,
        timeout=600, env=_without_source_tree())
    assert install.returncode == 0, install.stdout + install.stderr
    assert not (venv / 'bin' / 'cawire-info').is_symlink()
    for tool in ('cawire-get', 'cawire-put', 'cawire-monitor', 'cawire-info',
                 'cawire-repeater'):
        assert (venv / 'bin' / tool).is_file(), tool

    blocks = readme_blocks()
    client = [block for block in blocks if block.kind == 'client']
    ioc = [block for block in blocks if block.kind == 'ioc']
    assert len(client) == 1 and len(ioc) == 1
    (tmp_path / 'thermostat.py').write_text(ioc[0].code)
    demo_port, thermostat_port = epics.free_port(), epics.free_port()
    env = client_env(ca_env.env, [demo_port, thermostat_port],
                     source_tree=False)
    work = tmp_path / 'work'      # not the checkout: nothing to import from
    work.mkdir()
    with running_ioc([str(python), '-m', 'cawire.ioc_examples.random_walk'],
                     demo_port, ca_env.env, cwd=work, source_tree=False), \
            running_ioc([str(python), str(tmp_path / 'thermostat.py'),
                         '--list-pvs'], thermostat_port, ca_env.env, cwd=work,
                        source_tree=False):
        where = run_python([str(python), '-c', 'import cawire, importlib.metadata as m; '
                            'print(cawire.__file__); print(cawire.__version__ == '
                            'm.version("cawire"))'], env, cwd=work)
        assert str(venv) in where.stdout.decode(), where
        assert where.stdout.decode().split()[-1] == 'True'

        result = run_python([str(python), '-c', client[0].code], env, cwd=work)
        assert result.returncode == 0, result.stderr.decode()
        lines = result.stdout.decode().splitlines()
        assert lines[0] == 's [3.]'
        assert any(line.startswith('random_walk:x ') for line in lines[1:])

        got = run_python([str(venv / 'bin' / 'cawire-get'), 'house:setpoint',
                          'house:reading'], env, cwd=work)
        assert got.returncode == 0, got.stderr
        assert got.stdout.decode().startswith('house:setpoint                 20\n')
        info = run_python([str(venv / 'bin' / 'cawire-info'), 'house:reading'],
                          env, cwd=work)
        assert b'Access:           read, no write' in info.stdout, info
        help_text = run_python([str(venv / 'bin' / 'cawire-monitor'), '--help'],
                               env, cwd=work)
        assert help_text.returncode == 0 and b'--maximum' in help_text.stderr
