"""Access security (ACF) on the cawire server, side by side with softIoc.

The same file governs a softIoc (records with ASG fields) and a cawire IOC
(``apply_access_security``). Clients of two user names and two host names
(CA CLIENT_NAME / HOST_NAME, set through the threading client) get the
rights the file grants, the same from both servers; a refused write changes
nothing and the real ``caput`` reports it the same way; a reload (SIGHUP to
the cawire IOC) changes the rights of connected clients without
reconnecting.
"""
import getpass
import os
import signal
import socket
import sys
import textwrap
import time

import pytest

from cawire import AccessRights, ChannelType
from cawire.server.access_security import (AccessSecurity,
                                           AccessSecurityError)
from cawire.server.testing import IocProcess
from cawire.testing import epics

pytestmark = pytest.mark.epics

ACF = '''
# Operators may write OPS channels from the consoles only.
UAG(ops) { alice }
HAG(consoles) { console1 }
ASG(DEFAULT) {
    RULE(1, READ)
    RULE(1, WRITE)
}
ASG(OPS) {
    RULE(1, READ)
    RULE(1, WRITE) {
        UAG(ops)
        HAG(consoles)
    }
}
ASG(HIDDEN) {
    RULE(1, NONE)
}
'''
RELOADED_ACF = ACF.replace('HAG(consoles) { console1 }',
                           'HAG(consoles) { console1, laptop }')

SOFTIOC_DB = '''
record(ao, "AS:open") { field(VAL, "1") }
record(ao, "AS:ops") { field(VAL, "2") field(ASG, "OPS") }
record(ao, "AS:hidden") { field(VAL, "3") field(ASG, "HIDDEN") }
'''

CAWIRE_IOC = textwrap.dedent('''
    import sys
    from cawire.server import PVGroup, pvproperty, run
    from cawire.server.access_security import (AccessSecurity,
                                               apply_access_security)

    class Guarded(PVGroup):
        open = pvproperty(value=1.0)
        ops = pvproperty(value=2.0)
        hidden = pvproperty(value=3.0)

    if __name__ == '__main__':
        ioc = Guarded(prefix='AS:')
        security = AccessSecurity(sys.argv[1])
        apply_access_security(ioc.pvdb, security,
                              groups={'AS:ops': 'OPS', 'AS:hidden': 'HIDDEN'})

        async def reload_on_sighup(async_lib):
            security.reload_on_sighup()
        run(ioc.pvdb, startup_hook=reload_on_sighup)
''')

CLIENTS = [('alice', 'console1'), ('alice', 'laptop'), ('bob', 'console1'),
           ('bob', 'laptop')]
EXPECTED_OPS = {('alice', 'console1'): 'rw'}


@pytest.fixture
def servers(tmp_path, ca_env, repeater):
    acf = tmp_path / 'test.acf'
    acf.write_text(ACF)
    (tmp_path / 'guarded_ioc.py').write_text(CAWIRE_IOC)
    python_path = os.pathsep.join([str(tmp_path)] + [p for p in sys.path if p])
    softioc = epics.SoftIoc(SOFTIOC_DB, repeater_port=ca_env.repeater_port,
                            asg_file=acf)
    try:
        ours = IocProcess('guarded_ioc', str(acf),
                          repeater_port=ca_env.repeater_port,
                          PYTHONPATH=python_path)
    except BaseException:
        softioc.close()
        raise
    try:
        yield {'softIoc': softioc, 'cawire': ours, 'acf': acf}
    finally:
        ours.close()
        softioc.close()


def _rights_text(rights) -> str:
    if rights is None:
        return '?'
    return ('r' if rights & AccessRights.READ else '-') + \
        ('w' if rights & AccessRights.WRITE else '-')


def _context(port, user, host):
    from cawire.threading.client import Context
    os.environ['EPICS_CA_ADDR_LIST'] = f'127.0.0.1:{port}'
    return Context(client_name=user, host_name=host)


def rights_seen(port, user, host) -> dict:
    context = _context(port, user, host)
    try:
        pvs = context.get_pvs('AS:open', 'AS:ops', 'AS:hidden', timeout=5)
        result = {}
        for pv in pvs:
            pv.wait_for_connection(timeout=10)
            deadline = time.monotonic() + 5
            while pv.access_rights is None and time.monotonic() < deadline:
                time.sleep(0.01)
            result[pv.name] = _rights_text(pv.access_rights)
        return result
    finally:
        context.disconnect()


@pytest.fixture
def addr_list_restored():
    saved = os.environ.get('EPICS_CA_ADDR_LIST')
    yield
    if saved is not None:
        os.environ['EPICS_CA_ADDR_LIST'] = saved


@pytest.mark.parametrize('user, host', CLIENTS)
def test_rights_per_user_and_host_match_softioc(servers, addr_list_restored,
                                                 user, host):
    seen = {name: rights_seen(server.server_port, user, host)
            for name, server in servers.items() if name != 'acf'}
    assert seen['cawire'] == seen['softIoc']
    assert seen['cawire']['AS:open'] == 'rw'
    assert seen['cawire']['AS:ops'] == EXPECTED_OPS.get((user, host), 'r-')
    assert seen['cawire']['AS:hidden'] == '--'


def test_refused_write_changes_nothing(servers, addr_list_restored):
    for name in ('softIoc', 'cawire'):
        context = _context(servers[name].server_port, 'bob', 'console1')
        try:
            pv, = context.get_pvs('AS:ops', timeout=5)
            pv.wait_for_connection(timeout=10)
            # The client may refuse locally (raise) or send the write and
            # get ECA_NOWTACCESS back: either way it is refused.
            try:
                response = pv.write([9.0], wait=True, timeout=5)
            except Exception:  # noqa: BLE001 - refused by the client
                pass
            else:
                assert response.status.name == 'ECA_NOWTACCESS', name
            assert pv.read().data.tolist() == [2.0], name
        finally:
            context.disconnect()


def test_caput_reports_refusal_like_softioc(servers, ca_env):
    user, host = getpass.getuser(), socket.gethostname()
    assert (user, host) not in EXPECTED_OPS
    outputs = {}
    for name in ('softIoc', 'cawire'):
        env = epics.epics_env(servers[name].server_port, ca_env.repeater_port)
        result = epics.run_tool('caput', 'AS:ops', '5', env=env)
        outputs[name] = (result.stdout + result.stderr).replace(
            'Current Time', '').splitlines()
        after = epics.run_tool('caget', '-t', 'AS:ops', env=env)
        assert after.stdout.split() == ['2'], name
    strip = [line for line in outputs['softIoc'] if 'Time:' not in line]
    assert strip == [line for line in outputs['cawire']
                     if 'Time:' not in line]
    assert any('Write access denied' in line for line in outputs['cawire'])


def test_reload_changes_rights_of_connected_clients(servers,
                                                    addr_list_restored):
    ours = servers['cawire']
    context = _context(ours.server_port, 'alice', 'laptop')
    changes = []

    def on_rights(pv, rights):
        changes.append(rights)

    try:
        pv, = context.get_pvs('AS:ops', timeout=5)
        pv.access_rights_callback.add_callback(on_rights)
        pv.wait_for_connection(timeout=10)
        deadline = time.monotonic() + 5
        while pv.access_rights is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _rights_text(pv.access_rights) == 'r-'
        circuit_before = pv.circuit_manager
        servers['acf'].write_text(RELOADED_ACF)
        os.kill(ours.pid, signal.SIGHUP)
        deadline = time.monotonic() + 10
        while _rights_text(pv.access_rights) != 'rw' and \
                time.monotonic() < deadline:
            time.sleep(0.02)
        assert _rights_text(pv.access_rights) == 'rw'
        assert pv.circuit_manager is circuit_before  # no reconnection
        pv.write([7.0], wait=True, timeout=5)
        assert pv.read(data_type=ChannelType.DOUBLE).data.tolist() == [7.0]
        # A file that does not parse leaves the rules in force.
        servers['acf'].write_text('ASG(DEFAULT) { INPA("x") }')
        os.kill(ours.pid, signal.SIGHUP)
        time.sleep(0.5)
        assert _rights_text(pv.access_rights) == 'rw'
    finally:
        context.disconnect()


def test_unsupported_parts_are_refused_clearly():
    with pytest.raises(AccessSecurityError, match='INPA'):
        AccessSecurity(text='ASG(X) { INPA("pv") RULE(1, READ) }')
    with pytest.raises(AccessSecurityError, match='CALC'):
        AccessSecurity(text='ASG(X) { RULE(1, WRITE) { CALC("A") } }')
    with pytest.raises(AccessSecurityError, match='line 2'):
        AccessSecurity(text='ASG(X) {\n RULE(one, READ) }')


def test_rules_levels_and_default_group():
    security = AccessSecurity(text=ACF)
    assert security.rights('OPS', 'alice', 'CONSOLE1') == \
        AccessRights.READ | AccessRights.WRITE
    assert security.rights('OPS', 'alice', 'laptop') == AccessRights.READ
    assert security.rights('UNKNOWN', 'x', 'y') == \
        AccessRights.READ | AccessRights.WRITE  # falls back to DEFAULT
    assert security.rights('OPS', 'alice', 'console1', level=2) == \
        AccessRights.NO_ACCESS  # rules of level 1 do not cover level 2
    no_default = AccessSecurity(text='ASG(A) { RULE(1, READ) }')
    assert no_default.rights('B', 'u', 'h') == AccessRights.NO_ACCESS
