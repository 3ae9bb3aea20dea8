"""Channel filters in channel names (arr and its [s:i:e] shorthand, dbnd,
dec, ts; sync is in test_server_sync_filter.py) and ``NAME.VAL``, side by
side with a softIoc serving the same values, through the real caget, cainfo
and camonitor."""
import os
import re
import subprocess
import sys
import textwrap
import time

import pytest

from cawire.server.filters import FilterError, parse_channel_name
from cawire.server.testing import IocProcess
from cawire.testing import epics

pytestmark = pytest.mark.epics

SOFTIOC_DB = '''
record(waveform, "F:wave") { field(FTVL, "DOUBLE") field(NELM, "10")
                             field(INP, {const:[0,1,2,3,4,5,6,7,8,9]}) }
record(ao, "F:ao") { field(VAL, "0") }
'''
CAWIRE_IOC = textwrap.dedent('''
    from cawire.server import PVGroup, ioc_arg_parser, pvproperty, run

    class Filtered(PVGroup):
        wave = pvproperty(value=[0.0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
        ao = pvproperty(value=0.0)

    if __name__ == '__main__':
        ioc_options, run_options = ioc_arg_parser(default_prefix='F:',
                                                  desc='filters test IOC')
        run(Filtered(**ioc_options).pvdb, **run_options)
''')

READ_NAMES = ['F:wave.[2:4]', 'F:wave.[1:2:8]', 'F:wave.[3]', 'F:wave.[-2:]',
              'F:wave.{"arr":{"s":-3}}', 'F:wave.{arr:{s:1,e:2}}',
              'F:wave.{"arr":{"s":0,"i":3}}', 'F:ao.VAL',
              'F:ao.{"dbnd":{"abs":1}}', 'F:wave.VAL[2:3]']


@pytest.fixture(scope='module')
def envs(tmp_path_factory, ca_env, repeater):
    folder = tmp_path_factory.mktemp('filters_ioc')
    (folder / 'filters_ioc.py').write_text(CAWIRE_IOC)
    python_path = os.pathsep.join([str(folder)] + [p for p in sys.path if p])
    softioc = epics.SoftIoc(SOFTIOC_DB, repeater_port=ca_env.repeater_port)
    try:
        ours = IocProcess('filters_ioc', repeater_port=ca_env.repeater_port,
                          PYTHONPATH=python_path)
    except BaseException:
        softioc.close()
        raise
    pair = (epics.epics_env(softioc.server_port, ca_env.repeater_port),
            epics.epics_env(ours.server_port, ca_env.repeater_port))
    try:
        for env in pair:  # clears the never-processed record's UDF alarm
            epics.run_tool('caput', 'F:ao', '0', env=env)
        yield pair
    finally:
        ours.close()
        softioc.close()


@pytest.mark.parametrize('name', READ_NAMES)
def test_filtered_reads_match_softioc(envs, name):
    soft, ours = (epics.run_tool('caget', name, env=env).stdout
                  for env in envs)
    assert soft == ours
    soft, ours = (re.search(r'Element count: *(\d+)',
                            epics.run_tool('cainfo', name, env=env).stdout)
                  .group(1) for env in envs)
    assert soft == ours


EMPTY_SLICES = ['F:wave.[3:2]', 'F:wave.[12:14]', 'F:wave.{"arr":{"s":5,"e":4}}']


@pytest.mark.parametrize('name', EMPTY_SLICES)
def test_empty_slice_matches_softioc(envs, name):
    """A slice that selects nothing: a channel of 0 elements, so libca
    refuses caget's plain read (ECA_BADCOUNT) and a callback read (-c)
    gets no value, as from softIoc."""
    for args in ([name], ['-#', '3', name], ['-c', name],
                 ['-d', 'DBR_TIME_DOUBLE', name]):
        soft, ours = (epics.run_tool('caget', *args, env=env)
                      for env in envs)
        assert (ours.stdout, ours.stderr) == (soft.stdout, soft.stderr), args
    assert 'Invalid element count requested' in \
        epics.run_tool('caget', name, env=envs[1]).stdout
    soft, ours = (re.search(r'Element count: *(\d+)',
                            epics.run_tool('cainfo', name, env=env).stdout)
                  .group(1) for env in envs)
    assert soft == ours == '0'


def _monitor_values(env, names, values):
    process = subprocess.Popen(
        [str(epics.epics_bin_dir() / 'camonitor'), '-t', 'n', *names],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        time.sleep(1.0)
        for value in values:
            epics.run_tool('caput', 'F:ao', str(value), env=env)
            time.sleep(0.1)
        time.sleep(0.5)
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=5)
    return sorted((line.split()[0], line.split()[-1])
                  for line in output.splitlines() if line.strip())


def test_dbnd_and_dec_monitors_match_softioc(envs):
    names = ['F:ao.{"dbnd":{"abs":1}}', 'F:ao.{"dbnd":{"rel":50}}',
             'F:ao.{"dec":{"n":3}}', 'F:ao.{dbnd:{d:0.4,m:"abs"}}']
    values = [0.5, 1.2, 1.5, 3, 3.1, 2.0, 10, -1]
    soft, ours = (_monitor_values(env, names, values) for env in envs)
    assert ours == soft
    assert len(soft) > len(names)  # the filters let some updates through


def test_ts_filter_stamps_the_read_time(envs):
    for env in envs:
        epics.run_tool('caput', 'F:ao', '4', env=env)
    time.sleep(2.0)
    for env in envs:
        plain = epics.run_tool('caget', '-a', 'F:ao', env=env).stdout.split()
        stamped = epics.run_tool('caget', '-a', 'F:ao.{"ts":{}}',
                                 env=env).stdout.split()
        # caget -a: name, date, time, value...: the value is the same, the
        # time is the read's (about 2 s after the write).
        assert plain[3] == stamped[3]
        assert stamped[2] > plain[2]


def test_unsupported_and_bad_filters():
    assert parse_channel_name('x.VAL') is None
    assert parse_channel_name('x.{"dec":{"n":2}}') == ('x', {'dec': {'n': 2}})
    with pytest.raises(FilterError, match='ts2'):
        parse_channel_name('x.{"ts2":{}}')
    with pytest.raises(FilterError):
        parse_channel_name('x.{"dbnd":')
