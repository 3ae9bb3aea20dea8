"""Session-wide fixtures: loopback CA ports, a caRepeater, the test softIoc.

The whole session runs with EPICS_CA_* / EPICS_CAS_* pointing at two fresh
loopback ports (so parallel runs never collide and nothing leaves 127.0.0.1).
Every test outside ``tests/core`` gets a real caRepeater on the repeater port
before it runs: otherwise the first libca user (caget, pyepics) would spawn
one that outlives the run.  The core's tests need no EPICS binaries at all.

Layout: ``core/`` (the sans-I/O protocol package, literal bytes only),
``client/``, ``server/``, ``tools/`` (command-line tools and the repeater),
``reliability/`` (faults, hostile peers, load) and ``infra/`` (test and
benchmark helpers).
"""
from __future__ import annotations

import dataclasses
import functools
import time
from pathlib import Path

import pytest

from cawire.testing import epics

from db_layout import DB_DIR, TEST_ACF, TEST_DB, TEST_PREFIX  # noqa: E402,F401

CORE_DIR = Path(__file__).parent / 'core'


@dataclasses.dataclass(frozen=True)
class CaEnv:
    """Ports of the session and the environment for subprocesses."""

    server_port: int
    repeater_port: int
    env: dict  # full environment for EPICS tools / pyepics subprocesses


@pytest.fixture(scope='session', autouse=True)
def ca_env():
    """Free server/repeater ports; os.environ holds the loopback EPICS
    settings for the whole session and is restored afterwards."""
    server_port, repeater_port = epics.free_port(), epics.free_port()
    with epics.applied_environ(epics.epics_settings(server_port, repeater_port)):
        yield CaEnv(server_port, repeater_port,
                    epics.epics_env(server_port, repeater_port))


@pytest.fixture(scope='session')
def ca_ports(ca_env):
    """Alias of ``ca_env`` (the name used in docs/architecture.md)."""
    return ca_env


@pytest.fixture(scope='session')
def repeater(ca_env):
    """A real caRepeater on the session's repeater port, started before any
    test can touch libca."""
    with epics.Repeater(ca_env.repeater_port) as running:
        yield running


@pytest.fixture(autouse=True)
def _repeater_outside_core(request):
    """Start the session's caRepeater for every test that is not a core test."""
    if CORE_DIR not in request.node.path.parents:
        request.getfixturevalue('repeater')


@pytest.fixture(scope='session')
def softioc(ca_env, repeater):
    """softIoc serving tests/db/test.db (prefix TST:) with tests/db/test.acf
    on the session's server port."""
    with epics.SoftIoc(TEST_DB, ca_env.server_port, ca_env.repeater_port,
                       macros={'P': TEST_PREFIX}, asg_file=TEST_ACF) as ioc:
        yield ioc


@pytest.fixture(scope='session')
def pyepics_run(ca_env, repeater):
    """``pyepics_run(code_or_function, *args, env=None, timeout=30)``: run a
    snippet under pyepics in a subprocess (session env by default) and return
    its JSON result; see cawire.testing.epics.pyepics_run."""
    return functools.partial(epics.pyepics_run, env=ca_env.env)


@pytest.fixture(scope='session')
def run_tool(ca_env, repeater):
    """``run_tool('caget', *args, env=None, timeout=10)`` with the session env."""
    def run(name, *args, env=None, timeout=10.0):
        return epics.run_tool(name, *args, env=env if env is not None else ca_env.env,
                              timeout=timeout)
    return run


@pytest.fixture
def isolated_ioc(ca_env, repeater):
    """Factory for extra softIocs with their own server port (for tests that
    restart or kill an IOC); each is stopped at the end of the test."""
    started = []

    def start(db=TEST_DB, **kwargs):
        kwargs.setdefault('repeater_port', ca_env.repeater_port)
        kwargs.setdefault('macros', {'P': TEST_PREFIX})
        kwargs.setdefault('asg_file', TEST_ACF)
        ioc = epics.SoftIoc(db, **kwargs)
        started.append(ioc)
        return ioc

    yield start
    for ioc in started:
        ioc.close()


@pytest.fixture
def utc_zone(monkeypatch):
    """Pin the local time zone to UTC for the test (tools print local time,
    as the C tools do)."""
    monkeypatch.setenv('TZ', 'UTC')
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()
