"""cawire.aioca against aioca (libca), the same script under each, against
the softIoc and against cawire's own server: every native type, scalar and
array, with FORMAT_RAW/TIME/CTRL and special datatypes; caput with and
without wait; camonitor through an IOC kill and restart."""
import os

import pytest

from cawire.server.testing import IocProcess
from cawire.testing import epics

from aioca_differential import run_both

SOFTIOC_PVS = ['TST:ao', 'TST:long', 'TST:short', 'TST:float', 'TST:char',
               'TST:str', 'TST:mbbi', 'TST:bi', 'TST:alarm', 'TST:wf:double',
               'TST:wf:float', 'TST:wf:long', 'TST:wf:short', 'TST:wf:char',
               'TST:wf:string', 'TST:wf:enum', 'TST:wf:empty',
               'TST:longstr.VAL$', 'TST:readonly']
SERVER_PVS = ['double', 'float', 'long', 'short', 'char', 'enum', 'bool',
              'string', 'long_string', 'double_array', 'float_array',
              'long_array', 'short_array', 'char_array', 'string_array',
              'alarmed', 'read_only']

READ_ALL = '''
async def main():
    names = sys.argv[2].split(',')
    for name in names:
        for fmt in (A.FORMAT_RAW, A.FORMAT_TIME, A.FORMAT_CTRL):
            emit(name, fmt, describe(await A.caget(name, format=fmt)))
        emit(name, 'count-1', describe(await A.caget(name, count=-1)))
        for datatype in (A.DBR_STRING, A.DBR_DOUBLE, A.DBR_CHAR_STR,
                         A.DBR_ENUM_STR, float, str, int):
            try:
                value = await A.caget(name, datatype=datatype, format=A.FORMAT_TIME)
            except Exception as exc:
                emit(name, str(datatype), type(exc).__name__)
            else:
                emit(name, str(datatype), describe(value))
    emit('list', [describe(v) for v in await A.caget(names[:3])])
    missing = await A.caget(['TST:missing', names[0]], timeout=0.5, throw=False)
    emit('missing', [repr(missing[0]), bool(missing[0]), missing[1].ok])
    info = await A.cainfo(names[0])
    emit('cainfo', info.state, info.read, info.write, info.count, info.datatype)
'''


def _env_with(env, names):
    return env


def test_softioc_reads_equal_aioca(softioc, ca_env):
    body = READ_ALL.replace("sys.argv[2].split(',')", repr(SOFTIOC_PVS))
    ours_expected, ours = run_both(body, ca_env.env)
    assert len(ours) == len(ours_expected)
    assert [got for got, want in zip(ours, ours_expected) if got != want] \
        == [want for got, want in zip(ours, ours_expected) if got != want]


@pytest.fixture
def tv_ioc(ca_env):
    with IocProcess('cawire.ioc_examples.type_varieties',
                    repeater_port=ca_env.repeater_port) as ioc:
        yield ioc


def test_cawire_server_reads_equal_aioca(tv_ioc):
    names = ['type_varieties:' + name for name in SERVER_PVS]
    body = READ_ALL.replace("sys.argv[2].split(',')", repr(names))
    expected, ours = run_both(body, tv_ioc.env)
    assert len(ours) == len(expected)
    assert [got for got, want in zip(ours, expected) if got != want] \
        == [want for got, want in zip(ours, expected) if got != want]


WRITES = '''
async def main():
    cases = [('TST:ao', 2.5), ('TST:long', 7), ('TST:str', 'abc'),
             ('TST:mbbi', 'Three'), ('TST:mbbi', 1), ('TST:wf:double', [1.0, 2.0]),
             ('TST:wf:string', ['x', 'yz']), ('TST:short', 3),
             ('TST:longstrout.VAL$', 'a long string value of more than forty characters')]
    for wait in (True, False):
        for name, value in cases:
            try:
                result = await A.caput(name, value, wait=wait)
            except Exception as exc:
                emit(name, wait, 'raised')
                continue
            emit(name, wait, repr(result), bool(result))
            await asyncio.sleep(0.05)
            emit(name, describe(await A.caget(name)))
    emit('list', [repr(r) for r in await A.caput(['TST:ao', 'TST:long'], [1.5, 3], wait=True)])
    emit('repeat', [repr(r) for r in await A.caput(['TST:ao', 'TST:ao'], 4.5, repeat_value=True)])
    denied = await A.caput('TST:readonly', 1.0, wait=True, throw=False)
    emit('denied', bool(denied))
    emit('char_str', describe(await A.caget('TST:longstrout.VAL$', datatype=A.DBR_CHAR_STR)))
'''


def test_caput_with_and_without_wait_equals_aioca(isolated_ioc, ca_env):
    # An IOC of its own: the writes would change the session softIoc's
    # records that other tests read back (TST:long is -42 there).
    ioc = isolated_ioc()
    env = dict(ca_env.env, EPICS_CA_ADDR_LIST=f'127.0.0.1:{ioc.server_port}')
    expected, ours = run_both(WRITES, env)
    assert ours == expected


MONITOR = '''
async def main():
    name = 'TST:counter'
    values = []
    for all_updates in (False, True):
        got = asyncio.Queue()
        sub = A.camonitor(name, got.put_nowait, format=A.FORMAT_TIME,
                          all_updates=all_updates, notify_disconnect=True)
        first = await asyncio.wait_for(got.get(), 10)
        emit('first', all_updates, type(first).__name__, first.ok,
             sorted(k for k in A.ca_extra_fields if hasattr(first, k)))
        sub.close()
    sync_values = []
    sub = A.camonitor('TST:ao', sync_values.append, format=A.FORMAT_CTRL)
    await asyncio.sleep(0.5)
    await A.caput('TST:ao', 8.0, wait=True)
    await asyncio.sleep(0.2)
    await A.caput('TST:ao', 9.0, wait=True)
    await asyncio.sleep(0.5)
    emit('sync', [describe(v)['value'] for v in sync_values][-2:],
         sub.dropped_callbacks >= 0)
    sub.close()
    async_values = []
    async def slow(value):
        await asyncio.sleep(0.01)
        async_values.append(value)
    subs = A.camonitor(['TST:ao', 'TST:long'], lambda v, i: async_values.append((i, v.ok)))
    await asyncio.sleep(0.5)
    emit('list', sorted(async_values))
    for sub in subs:
        sub.close()
'''


def test_camonitor_equals_aioca(softioc, ca_env):
    expected, ours = run_both(MONITOR, ca_env.env)
    assert ours == expected
