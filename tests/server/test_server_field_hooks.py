"""Per-field getter/startup/scan/shutdown hooks (caproto's
``@prop.fields.X.getter`` ...), checked with the real ``caget``/``caput``
on one IOC module run under caproto 1.3.0's server and under cawire (only
the import rewritten).

The module declares an ai record whose DESC has a getter (it reports the
value at read time), whose EGU is set by a startup hook, whose HOPR is
counted up by a scan hook (``scan_wrapper`` with a period) and whose LOPR
has a shutdown hook that leaves a file behind.  Both servers must answer
the same: DESC follows writes of the value, EGU reads 'mm', HOPR keeps
growing (and on cawire, as on a softIoc, DBR_CTRL of the value has the
units EGU holds; caproto's DBR_CTRL does not follow its EGU field).  The shutdown hook is checked
on cawire (caproto runs its shutdown hooks only on KeyboardInterrupt, not
on the SIGTERM the test stops the IOC with).
"""
import os
import re
import sys
import time

import pytest

from cawire.server import PVGroup, pvproperty
from cawire.server.testing import IocProcess
from cawire.testing import epics

pytestmark = pytest.mark.epics

IOC = '''
import os
from caproto.server import PVGroup, ioc_arg_parser, pvproperty, run
from caproto.server import scan_wrapper


async def count_up(fields, instance, async_lib):
    await instance.write(instance.value + 1)


class FieldHooks(PVGroup):
    A = pvproperty(value=1.0, record='ai', doc='field hooks')

    @A.fields.description.getter
    async def A(fields, instance):
        return f'value is {fields.parent.value:g}'

    @A.fields.EGU.startup
    async def A(fields, instance, async_lib):
        await instance.write('mm')

    A.fields.high_operating_range.scan(scan_wrapper(count_up, 0.1))

    @A.fields.LOPR.shutdown
    async def A(fields, instance, async_lib):
        with open(os.environ['FIELD_HOOKS_MARK'], 'w') as mark:
            mark.write(f'shutdown {instance.pvname}')


if __name__ == '__main__':
    ioc_options, run_options = ioc_arg_parser(default_prefix='fh:',
                                              desc='field hooks')
    ioc = FieldHooks(**ioc_options)
    run(ioc.pvdb, **run_options)
'''


@pytest.fixture
def modules(tmp_path):
    (tmp_path / 'fh_caproto.py').write_text(IOC)
    (tmp_path / 'fh_cawire.py').write_text(
        re.sub(r'\bcaproto\b', 'cawire', IOC))
    return tmp_path


def _caget(env, *args):
    result = epics.run_tool('caget', *args, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.strip()


def behaviour(module, folder, repeater_port) -> dict:
    mark = folder / f'{module}.mark'
    python_path = os.pathsep.join([str(folder)] + [p for p in sys.path if p])
    ioc = IocProcess(module, repeater_port=repeater_port,
                     PYTHONPATH=python_path, FIELD_HOOKS_MARK=str(mark))
    seen = {}
    try:
        env = epics.epics_env(ioc.server_port, repeater_port)
        time.sleep(1.0)  # startup hooks
        seen['DESC before'] = _caget(env, '-t', 'fh:A.DESC')
        put = epics.run_tool('caput', 'fh:A', '7.5', env=env)
        assert put.returncode == 0, put.stdout + put.stderr
        seen['DESC after'] = _caget(env, '-t', 'fh:A.DESC')
        seen['EGU'] = _caget(env, '-t', 'fh:A.EGU')
        ctrl = _caget(env, '-d', 'DBR_CTRL_DOUBLE', 'fh:A')
        seen['units'] = re.search(r'Units:\s*(\S*)', ctrl).group(1)
        first = float(_caget(env, '-t', 'fh:A.HOPR'))
        time.sleep(0.6)
        second = float(_caget(env, '-t', 'fh:A.HOPR'))
        seen['HOPR grows'] = second >= first + 2
    finally:
        ioc.close()
    seen['shutdown'] = mark.read_text() if mark.exists() else None
    return seen


def test_field_hooks_behave_as_under_caproto(modules, ca_env):
    pytest.importorskip('caproto')
    expected = behaviour('fh_caproto', modules, ca_env.repeater_port)
    got = behaviour('fh_cawire', modules, ca_env.repeater_port)
    assert got['DESC before'] == 'value is 1'
    assert got['DESC after'] == 'value is 7.5'
    assert got['EGU'] == got['units'] == 'mm'
    assert got['HOPR grows']
    assert got['shutdown'] == 'shutdown fh:A.LOPR'
    # caproto leaves the value's units alone when .EGU is written; cawire
    # follows softIoc, where EGU is the units of DBR_CTRL replies.
    for key in ('shutdown', 'units'):
        del expected[key], got[key]
    assert got == expected


class Failing(PVGroup):
    A = pvproperty(value=1.0, record='ao')

    @A.fields.DESC.getter
    async def A(fields, instance):
        raise RuntimeError('sensor gone')

    @A.fields.EGU.getter
    async def A(fields, instance):
        return None  # keeps the stored units


def test_failing_field_getter_fails_the_read_only(tmp_path, ca_env):
    """A getter that raises fails that read (caget reports it) and nothing
    else; a getter returning None leaves the field as it is."""
    (tmp_path / 'fh_failing.py').write_text(
        'from cawire.server import run\n'
        'from test_server_field_hooks import Failing\n'
        'run(Failing(prefix="ff:").pvdb)\n')
    here = os.path.dirname(__file__)
    python_path = os.pathsep.join([str(tmp_path), here] +
                                  [p for p in sys.path if p])
    ioc = IocProcess('fh_failing', repeater_port=ca_env.repeater_port,
                     PYTHONPATH=python_path)
    try:
        env = epics.epics_env(ioc.server_port, ca_env.repeater_port)
        failed = epics.run_tool('caget', 'ff:A.DESC', env=env)
        assert 'Channel read request failed' in failed.stdout + failed.stderr
        assert epics.run_tool('caput', 'ff:A.EGU', 'um',
                              env=env).returncode == 0
        assert _caget(env, '-t', 'ff:A.EGU') == 'um'
        assert _caget(env, '-t', 'ff:A') == '1'
    finally:
        ioc.close()
