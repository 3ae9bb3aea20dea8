"""The scripts in examples/ run as a user would run them, against the demo
IOCs and the test softIoc on loopback, and do what their docstrings say."""
from __future__ import annotations

import csv
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cawire.testing import epics

from docs_helpers import REPO, client_env, run_python, running_ioc

pytestmark = pytest.mark.epics

EXAMPLES = REPO / 'examples'


def example(name, *args):
    return [sys.executable, str(EXAMPLES / name), *args]


@pytest.fixture
def random_walk(ca_env, repeater):
    port = epics.free_port()
    with running_ioc([sys.executable, '-m', 'cawire.ioc_examples.random_walk'],
                     port, ca_env.env):
        yield client_env(ca_env.env, [port])


@pytest.fixture
def type_varieties(ca_env, repeater):
    port = epics.free_port()
    with running_ioc([sys.executable, '-m', 'cawire.ioc_examples.type_varieties'],
                     port, ca_env.env):
        yield client_env(ca_env.env, [port])


def _put(env, name, value):
    result = run_python([sys.executable, '-m', 'cawire.commandline.put',
                         '-c', name, value], env, cwd=REPO, timeout=30)
    assert result.returncode == 0, result.stderr


def test_monitor_to_csv(random_walk, tmp_path):
    _put(random_walk, 'random_walk:dt', '0.05')
    out = tmp_path / 'data.csv'
    result = run_python(example('monitor_to_csv.py', '--out', str(out),
                                '--count', '12', '--duration', '30',
                                'random_walk:x', 'random_walk:dt'),
                        random_walk, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert b'12 updates written' in result.stdout
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 12
    assert {row['pv'] for row in rows} == {'random_walk:x', 'random_walk:dt'}
    x_values = [float(row['value']) for row in rows if row['pv'] == 'random_walk:x']
    assert len(set(x_values)) >= 5          # a walk, not a constant
    assert all(row['timestamp'].endswith('+00:00') for row in rows)


def test_put_and_wait_sequence(random_walk, tmp_path):
    result = run_python(example('put_and_wait.py', '--setpoint',
                                'random_walk:dt', '0.5', '0.25', '1'),
                        random_walk, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.decode().splitlines()
    assert lines == [f'random_walk:dt = {value}: random_walk:dt settled at '
                     f'{value}' for value in (0.5, 0.25, 1.0)]


def test_put_and_wait_stops_on_refusal(type_varieties, tmp_path):
    result = run_python(example('put_and_wait.py', '--setpoint',
                                'type_varieties:guarded', '2', '-1', '3'),
                        type_varieties, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout.decode().splitlines() == [
        'type_varieties:guarded = 2.0: type_varieties:guarded settled at 2.0']
    assert b'refused -1.0' in result.stderr


def test_reconnecting_logger_survives_an_ioc_restart(ca_env, repeater, tmp_path):
    port = epics.free_port()
    env = client_env(ca_env.env, [port])
    argv = [sys.executable, '-m', 'cawire.ioc_examples.random_walk']
    log = tmp_path / 'log.txt'
    with log.open('wb') as out:
        logger = subprocess.Popen(
            example('reconnecting_logger.py', '--duration', '25',
                    'random_walk:x', 'random_walk:dt'),
            env=env, stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path)
        try:
            with running_ioc(argv, port, ca_env.env) as ioc:
                _put(env, 'random_walk:dt', '0.1')
                _wait_for_text(log, 'random_walk:x = ', count=3)
                ioc.send_signal(signal.SIGKILL)
                _wait_for_text(log, 'random_walk:x disconnected')
            mark = log.read_text().count('random_walk:x = ')
            with running_ioc(argv, port, ca_env.env):
                # A new IOC: dt is back at 3 s; x still updates at once.
                _wait_for_text(log, 'random_walk:x connected', count=2)
                _wait_for_text(log, 'random_walk:x = ', count=mark + 1)
        finally:
            logger.terminate()
            logger.wait(10)
    text = log.read_text()
    assert text.count('random_walk:dt connected') == 2
    assert 'Traceback' not in text


def _wait_for_text(path: Path, text: str, count: int = 1, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.read_text().count(text) >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f'{text!r} x{count} not in:\n{path.read_text()}')


def test_waveform_to_numpy(softioc, ca_env, tmp_path):
    png = tmp_path / 'wf.png'
    result = run_python(example('waveform_to_numpy.py', 'TST:wf:double',
                                '--png', str(png)),
                        client_env(ca_env.env, [ca_env.server_port]),
                        cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.decode().splitlines()
    assert lines[0] == 'TST:wf:double: 5 elements s'
    assert lines[1] == 'min -3.5  max 1e+10  mean 2e+09  std 4e+09'
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert b'matplotlib is not installed: no plot' in result.stderr
        assert not png.exists()
    else:
        assert png.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
        assert png.stat().st_size > 5000
