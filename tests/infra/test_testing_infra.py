"""cawire.testing works against the real EPICS tools."""
import os
import signal
import socket
import struct
import subprocess
import time

import pytest

from cawire.testing import epics

from db_layout import TEST_PREFIX


def test_binaries_are_found():
    for name in ('softIoc', 'caget', 'caput', 'camonitor', 'cainfo',
                 'caRepeater', 'acctst'):
        assert os.access(epics.epics_bin_dir() / name, os.X_OK), name
    assert epics.epics_libca_path().name.startswith('libca.so')


def test_free_port_is_free_for_tcp_and_udp_and_never_repeats():
    ports = [epics.free_port() for _ in range(20)]
    assert len(set(ports)) == len(ports)
    for port in ports[:5]:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp, \
                socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            tcp.bind(('', port))
            udp.bind(('', port))


def test_epics_env_is_loopback_only():
    env = epics.epics_env(40000, 40001, base={'EPICS_CA_NAME_SERVERS': 'x:1',
                                              'EPICS_CA_ADDR_LIST': 'y',
                                              'PATH': '/bin'})
    assert env['EPICS_CA_AUTO_ADDR_LIST'] == 'NO'
    assert env['EPICS_CA_ADDR_LIST'] == '127.0.0.1:40000'
    assert env['EPICS_CA_NAME_SERVERS'] == ''
    assert env['EPICS_CA_SERVER_PORT'] == '40000'
    assert env['EPICS_CA_REPEATER_PORT'] == '40001'
    assert env['EPICS_CAS_INTF_ADDR_LIST'] == '127.0.0.1'
    assert env['EPICS_CAS_AUTO_BEACON_ADDR_LIST'] == 'NO'
    assert env['EPICS_CAS_BEACON_ADDR_LIST'] == '127.0.0.1'
    assert env['LD_LIBRARY_PATH'].split(os.pathsep)[0] == str(epics.epics_lib_dir())
    assert env['PATH'] == f'{epics.epics_bin_dir()}{os.pathsep}/bin'
    assert env['PYEPICS_LIBCA'] == str(epics.epics_libca_path())


def test_session_environment_is_applied(ca_env):
    assert os.environ['EPICS_CA_ADDR_LIST'] == f'127.0.0.1:{ca_env.server_port}'
    assert os.environ['EPICS_CA_REPEATER_PORT'] == str(ca_env.repeater_port)
    assert os.environ['EPICS_CA_AUTO_ADDR_LIST'] == 'NO'


def test_applied_environ_restores(monkeypatch):
    monkeypatch.delenv('CAWIRE_TEST_ONLY', raising=False)
    monkeypatch.setenv('CAWIRE_TEST_KEPT', 'before')
    with epics.applied_environ({'CAWIRE_TEST_ONLY': '1',
                                'CAWIRE_TEST_KEPT': 'during'}):
        assert os.environ['CAWIRE_TEST_ONLY'] == '1'
        assert os.environ['CAWIRE_TEST_KEPT'] == 'during'
    assert 'CAWIRE_TEST_ONLY' not in os.environ
    assert os.environ['CAWIRE_TEST_KEPT'] == 'before'


def test_caget_reads_the_test_ioc(softioc, run_tool):
    result = run_tool('caget', '-t', f'{TEST_PREFIX}ai', f'{TEST_PREFIX}str',
                      f'{TEST_PREFIX}long', f'{TEST_PREFIX}bi')
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ['3.14159', 'hello', '-42', 'On']


def test_caput_writes_and_access_security_denies(softioc, run_tool):
    ok = run_tool('caput', '-t', f'{TEST_PREFIX}longout', '17')
    assert ok.returncode == 0, ok.stderr
    assert run_tool('caget', '-t', f'{TEST_PREFIX}longout').stdout.strip() == '17'
    denied = run_tool('caput', f'{TEST_PREFIX}readonly', '3')
    assert denied.returncode != 0
    assert 'Write access denied' in denied.stderr


def test_test_database_native_types(softioc, run_tool):
    expected = {
        'ai': 'DBF_DOUBLE', 'float': 'DBF_FLOAT', 'long': 'DBF_LONG',
        'short': 'DBF_SHORT', 'char': 'DBF_CHAR', 'str': 'DBF_STRING',
        'bi': 'DBF_ENUM', 'mbbi': 'DBF_ENUM', 'ai.PREC': 'DBF_SHORT',
        'wf:double': 'DBF_DOUBLE', 'wf:float': 'DBF_FLOAT',
        'wf:long': 'DBF_LONG', 'wf:short': 'DBF_SHORT', 'wf:char': 'DBF_CHAR',
        'wf:string': 'DBF_STRING', 'wf:enum': 'DBF_ENUM',
    }
    result = run_tool('cainfo', *(TEST_PREFIX + name for name in expected))
    assert result.returncode == 0, result.stderr
    found = [line.split(':', 1)[1].strip() for line in result.stdout.splitlines()
             if 'Native data type' in line]
    assert found == list(expected.values())


def test_run_tool_times_out(softioc, run_tool):
    with pytest.raises(subprocess.TimeoutExpired):
        run_tool('camonitor', f'{TEST_PREFIX}counter', timeout=0.5)


def _pyepics_read(names):
    import epics
    values = [epics.caget(name, timeout=5) for name in names]
    return {'values': values, 'libca': epics.ca.find_libca()}


def test_pyepics_reads_the_test_ioc(softioc, pyepics_run):
    result = pyepics_run(_pyepics_read, [f'{TEST_PREFIX}ai', f'{TEST_PREFIX}long',
                                         f'{TEST_PREFIX}wf:short'])
    assert result['values'][:2] == [3.14159, -42]
    assert result['values'][2][:4] == [1, -2, 32767, -32768]
    assert result['libca'] == str(epics.epics_libca_path())


def test_pyepics_run_accepts_source_text(softioc, pyepics_run):
    code = f'''
import epics
result = epics.caget({TEST_PREFIX + "str"!r}, timeout=5) + args[0]
'''
    assert pyepics_run(code, '!') == 'hello!'


def test_pyepics_run_reports_failures(pyepics_run):
    with pytest.raises(epics.PyepicsError, match='ZeroDivisionError'):
        pyepics_run('result = 1 / 0')


def test_repeater_fixture_confirms_registrations(repeater):
    assert repeater.running()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(('127.0.0.1', 0))
        assert epics.register_with_repeater(sock, repeater.port, timeout=2)


def _beacon_from(sock, port, timeout):
    """Wait for a beacon (RSRV_IS_UP) advertising ``port``."""
    deadline = time.monotonic() + timeout
    while (remaining := deadline - time.monotonic()) > 0:
        sock.settimeout(remaining)
        try:
            data = sock.recv(1024)
        except socket.timeout:
            return None
        if len(data) >= 16:
            command, _, _, data_count, _, address = struct.unpack_from('>HHHHII', data)
            if command == 13 and data_count == port:
                return address
    return None


def test_softioc_beacons_reach_the_repeater(ca_env, repeater, isolated_ioc):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(('127.0.0.1', 0))
        assert epics.register_with_repeater(sock, repeater.port, timeout=2)
        ioc = isolated_ioc(server_port=epics.free_port())
        # The repeater fills in the source address RSRV leaves as 0.
        assert _beacon_from(sock, ioc.server_port, timeout=5) == 0x7F000001


def test_softioc_kill_and_restart(isolated_ioc, run_tool):
    ioc = isolated_ioc(server_port=epics.free_port())
    pv = f'{TEST_PREFIX}long'
    assert run_tool('caget', '-t', pv, env=ioc.env).stdout.strip() == '-42'
    ioc.kill(signal.SIGKILL)
    ioc.process.wait(5)
    assert not ioc.running()
    gone = run_tool('caget', '-w', '0.5', pv, env=ioc.env)
    assert gone.returncode != 0
    ioc.restart()
    assert ioc.running()
    assert run_tool('caget', '-t', pv, env=ioc.env).stdout.strip() == '-42'


def test_softioc_from_text_with_macros(isolated_ioc, run_tool):
    ioc = isolated_ioc('record(ao, "$(NAME)") { field(VAL, "$(VALUE)") }\n',
                       server_port=epics.free_port(), asg_file=None,
                       macros={'NAME': 'INFRA:text', 'VALUE': '2.5'})
    assert run_tool('caget', '-t', 'INFRA:text', env=ioc.env).stdout.strip() == '2.5'


def test_softioc_bad_database_fails_clearly(repeater):
    with pytest.raises(RuntimeError, match='softIoc failed to start'):
        epics.SoftIoc('record(nosuchtype, "X") {}\n', timeout=5)


def test_tools_refuse_to_run_without_a_repeater():
    # libca would otherwise spawn a caRepeater that outlives the test run.
    env = epics.epics_env(epics.free_port(), epics.free_port())
    with pytest.raises(RuntimeError, match='no repeater'):
        epics.run_tool('caget', 'X', env=env)
    with pytest.raises(RuntimeError, match='no repeater'):
        epics.pyepics_run('result = 1', env=env)


@pytest.mark.parametrize('overrides', [
    {'EPICS_CA_AUTO_ADDR_LIST': 'YES'},
    {'EPICS_CA_ADDR_LIST': '192.0.2.1'},
    {'EPICS_CA_NAME_SERVERS': '192.0.2.1:5064'},
])
def test_tools_refuse_environments_that_leave_loopback(ca_env, overrides):
    env = {**ca_env.env, **overrides}
    with pytest.raises(RuntimeError, match='AUTO_ADDR_LIST|not a loopback'):
        epics.run_tool('caget', 'X', env=env)
    with pytest.raises(RuntimeError, match='AUTO_ADDR_LIST|not a loopback'):
        epics.pyepics_run('result = 1', env=env)
