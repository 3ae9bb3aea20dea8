"""Fixtures of the front-end suites: an IOC of their own, script runners.

The differential tests run one script twice in subprocesses, once with
``import epics`` (the real pyepics on libca) and once with
``import cawire.pyepics as epics``, and compare what they print.  They write
records, so they get their own softIoc (tests/db/test.db with P=FE:) on its
own server port instead of the session's.
"""
from __future__ import annotations

import textwrap

import pytest

from cawire.testing import epics

from frontend_helpers import DB_DIR, MODULES, PREFIX, run_script, with_repo_path


@pytest.fixture(scope='module')
def fe_ioc(ca_env, repeater):
    """softIoc serving test.db with prefix FE: on a port of its own."""
    with epics.SoftIoc(DB_DIR / 'test.db', epics.free_port(),
                       ca_env.repeater_port, macros={'P': PREFIX},
                       asg_file=DB_DIR / 'test.acf') as ioc:
        ioc.env = with_repo_path(ioc.env)
        ioc.env['TZ'] = 'UTC'
        yield ioc


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
