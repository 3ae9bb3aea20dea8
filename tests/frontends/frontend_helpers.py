"""Helpers shared by the front-end suites (imported by their conftest and tests)."""
from __future__ import annotations

import difflib
import os
import subprocess
import sys
from pathlib import Path

DB_DIR = Path(__file__).parent.parent / 'db'
REPO = Path(__file__).parent.parent.parent
PREFIX = 'FE:'

#: The module each differential run imports as ``epics``.
MODULES = {'pyepics': 'epics', 'cawire': 'cawire.pyepics'}


def run_script(code: str, env: dict, timeout: float = 60.0) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter with ``env``."""
    return subprocess.run([sys.executable, '-c', code], env=env,
                          capture_output=True, text=True, timeout=timeout)


def with_repo_path(env: dict) -> dict:
    """``env`` with this checkout first on PYTHONPATH (for subprocesses)."""
    env = dict(env)
    env['PYTHONPATH'] = os.pathsep.join(
        filter(None, [str(REPO), os.environ.get('PYTHONPATH', '')]))
    return env


def diff(expected: str, actual: str, expected_label: str, actual_label: str) -> str:
    """A unified diff of two outputs (for assertion messages)."""
    return ''.join(difflib.unified_diff(expected.splitlines(True),
                                        actual.splitlines(True),
                                        expected_label, actual_label, n=1))
