"""Fixtures of the front-end suites: an IOC of their own, script runners.

The differential tests run one script twice in subprocesses, once with
``import epics`` (the real pyepics on libca) and once with
``import cawire.pyepics as epics``, and compare what they print.  They write
records, so they get their own softIoc (tests/db/test.db with P=FE:) on its
own server port instead of the session's.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from cawire.testing import epics

DB_DIR = Path(__file__).parent.parent / 'db'
REPO = Path(__file__).parent.parent.parent
PREFIX = 'FE:'

MODULES = {'pyepics': 'epics', 'cawire': 'cawire.pyepics'}


@pytest.fixture(scope='module')
def fe_ioc(ca_env, repeater):
    """softIoc serving test.db with prefix FE: on a port of its own."""
    with epics.SoftIoc(DB_DIR / 'test.db', epics.free_port(),
                       ca_env.repeater_port, macros={'P': PREFIX},
                       asg_file=DB_DIR / 'test.acf') as ioc:
        ioc.env['PYTHONPATH'] = os.pathsep.join(
            filter(None, [str(REPO), os.environ.get('PYTHONPATH', '')]))
        ioc.env['TZ'] = 'UTC'
        yield ioc


def run_script(code: str, env: dict, timeout: float = 60.0) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter with ``env``."""
    return subprocess.run([sys.executable, '-c', code], env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope='module')
def run_both(fe_ioc):
    """``run_both(script)`` -> {'pyepics': stdout, 'cawire': stdout}.

    The script is preceded by ``import <module> as epics`` and ``P = 'FE:'``.
    A failing script fails the test with its stderr.
    """
    def run(script: str, timeout: float = 60.0) -> dict:
        outputs = {}
        for label, module in MODULES.items():
            code = (f'import {module} as epics\nP = {PREFIX!r}\n'
                    + textwrap.dedent(script))
            proc = run_script(code, fe_ioc.env, timeout)
            assert proc.returncode == 0, (
                f'{label} run failed ({proc.returncode}):\n{proc.stdout}\n'
                f'{proc.stderr}')
            outputs[label] = proc.stdout
        return outputs
    return run
