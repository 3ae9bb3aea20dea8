"""The ``sync`` channel filter and named states (cawire.server.states).

Side by side: a softIoc whose iocsh (on a pipe) runs ``dbStateCreate``,
``dbStateSet``, ``dbStateClear`` and ``dbpf``, and a cawire IOC whose state
is driven by a PV whose putter uses ``PVGroup.update_state``; the same
sequence of value changes and state changes goes to both while a real
camonitor watches ``x`` through each sync mode.
"""
import asyncio
import os
import subprocess
import sys
import textwrap
import time

import pytest

from cawire.server import PVGroup, pvproperty, states
from cawire.server.filters import FilterError, parse_channel_name
from cawire.server.testing import IocProcess
from cawire.testing import epics

SOFTIOC_DB = 'record(ao, "SY:x") { field(VAL, "1") }\n'
CAWIRE_IOC = textwrap.dedent('''
    from cawire.server import PVGroup, ioc_arg_parser, pvproperty, run

    class Synced(PVGroup):
        states = {'fly': False}
        x = pvproperty(value=1.0)
        fly = pvproperty(value=0)

        @fly.putter
        async def fly(self, instance, value):
            async with self.update_state('fly', bool(value)):
                pass

    if __name__ == '__main__':
        ioc_options, run_options = ioc_arg_parser(default_prefix='SY:',
                                                  desc='sync filter IOC')
        run(Synced(**ioc_options).pvdb, **run_options)
''')
MODES = ('while', 'unless', 'before', 'first', 'last', 'after')


class ShellSoftIoc(epics.SoftIoc):
    """A softIoc whose iocsh reads commands from a pipe."""

    def _spawn(self, argv: list) -> None:
        argv = [arg for arg in argv if arg != '-S']
        self.process = subprocess.Popen(
            argv, env=self.env, stdin=subprocess.PIPE, stdout=self._log,
            stderr=subprocess.STDOUT, start_new_session=True, text=True)

    def shell(self, line: str) -> None:
        self.process.stdin.write(line + '\n')
        self.process.stdin.flush()


# ----------------------------------------------------------------- units
def test_sync_options_parse_long_and_short_forms():
    assert parse_channel_name('x.{"sync":{"m":"while","s":"fly"}}') == \
        ('x', {'sync': ('while', 'fly')})
    assert parse_channel_name('x.{sync:{before:"fly"}}') == \
        ('x', {'sync': ('before', 'fly')})
    for bad in ('x.{"sync":{"m":"during","s":"fly"}}',
                'x.{"sync":{"m":"while"}}', 'x.{"sync":{}}'):
        with pytest.raises(FilterError):
            parse_channel_name(bad)


def test_named_states_table():
    table = states.NamedStates()
    with pytest.raises(KeyError):
        table.set('nope')
    table.create('a')
    assert table.get('a') is False and table.exists('a')
    table.set('a')
    table.create('a')  # as dbStateCreate: an existing state keeps its value
    assert table.get('a') is True
    table.clear('a')
    assert table.is_set('a') is False and table.is_set('unknown') is False
    with pytest.raises(ValueError):
        table.create('')


def test_update_state_calls_hooks_and_sets_the_table():
    calls = []

    class Group(PVGroup):
        states = {'ioc_finish_unit': True}
        x = pvproperty(value=1.0)

    group = Group(prefix='U:')
    data = group.x
    data.pre_state_change = lambda s, v: calls.append(('pre', s, v))
    data.post_state_change = lambda s, v: calls.append(('post', s, v))
    assert states.get('ioc_finish_unit') is True

    async def change():
        async with group.update_state('ioc_finish_unit', False):
            calls.append(('inside', states.get('ioc_finish_unit')))

    asyncio.run(change())
    assert calls == [('pre', 'ioc_finish_unit', False), ('inside', False),
                     ('post', 'ioc_finish_unit', False)]
    assert group.states == {'ioc_finish_unit': False}
    states.STATES.remove('ioc_finish_unit')


# ---------------------------------------------------------- side by side
@pytest.fixture(scope='module')
def iocs(tmp_path_factory, ca_env, repeater):
    folder = tmp_path_factory.mktemp('sync_ioc')
    (folder / 'sync_ioc.py').write_text(CAWIRE_IOC)
    python_path = os.pathsep.join([str(folder)] + [p for p in sys.path if p])
    softioc = ShellSoftIoc(SOFTIOC_DB, repeater_port=ca_env.repeater_port)
    try:
        softioc.shell('dbStateCreate fly')
        ours = IocProcess('sync_ioc', repeater_port=ca_env.repeater_port,
                          PYTHONPATH=python_path)
    except BaseException:
        softioc.close()
        raise
    try:
        yield softioc, ours, ca_env.repeater_port
    finally:
        ours.close()
        softioc.close()


def _drive(step, settle: float = 0.3) -> None:
    """Values 2, 3 with the state clear; set; 4, 5; clear; 6, 7; then 1."""
    for action in (('x', 2), ('x', 3), ('set',), ('x', 4), ('x', 5),
                   ('clear',), ('x', 6), ('x', 7), ('x', 1)):
        step(*action)
        time.sleep(settle)


def _monitored(env: dict, name: str, drive) -> list:
    process = subprocess.Popen(
        [str(epics.epics_bin_dir() / 'camonitor'), '-t', 'n', name],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        time.sleep(1.0)
        drive()
        time.sleep(0.5)
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=5)
    return [line.split(None, 1)[1].strip()
            for line in output.splitlines() if line.strip()]


@pytest.mark.epics
@pytest.mark.parametrize('mode', MODES)
def test_sync_modes_match_softioc(iocs, mode):
    softioc, ours, repeater_port = iocs
    name = f'SY:x.{{"sync":{{"m":"{mode}","s":"fly"}}}}'
    soft_env = epics.epics_env(softioc.server_port, repeater_port)
    our_env = epics.epics_env(ours.server_port, repeater_port)

    def soft_step(action, value=None):
        if action == 'x':
            softioc.shell(f'dbpf SY:x {value}')
        else:
            softioc.shell(f'dbState{action.capitalize()} fly')

    def our_step(action, value=None):
        if action == 'x':
            epics.run_tool('caput', 'SY:x', str(value), env=our_env)
        else:
            epics.run_tool('caput', 'SY:fly', '1' if action == 'set' else '0',
                           env=our_env)

    expected = _monitored(soft_env, name, lambda: _drive(soft_step))
    got = _monitored(our_env, name, lambda: _drive(our_step))
    assert [float(v) for v in got] == [float(v) for v in expected], \
        (expected, got)
    assert expected  # every mode passes something in this sequence


@pytest.mark.epics
def test_unknown_state_is_not_served_and_reads_are_unfiltered(iocs):
    softioc, ours, repeater_port = iocs
    for port in (softioc.server_port, ours.server_port):
        env = epics.epics_env(port, repeater_port)
        missing = epics.run_tool(
            'caget', '-w', '1', 'SY:x.{"sync":{"m":"while","s":"nostate"}}',
            env=env)
        assert 'not found' in missing.stderr + missing.stdout
        read = epics.run_tool(
            'caget', '-t', 'SY:x.{"sync":{"m":"while","s":"fly"}}', env=env)
        assert read.stdout.strip() != ''
