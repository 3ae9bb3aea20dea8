"""Access security matching HAG entries by the client's IP address (RSRV's
``asCheckClientIP``), side by side with a softIoc.

The softIoc gets ``var asCheckClientIP 1`` in a startup script; the cawire
IOC gets ``EPICS_AS_CHECK_CLIENT_IP=YES``. Both read the same file, whose
HAGs name ``localhost`` (resolved to 127.0.0.1, where every test client
connects from) and ``127.0.0.2, console1`` (no client comes from there;
console1 does not resolve). Clients sending the HOST_NAMEs ``console1``,
``localhost`` and this machine's name all get the rights of 127.0.0.1 from
both servers; without the setting the same clients get the rights of their
HOST_NAMEs, again the same from both.
"""
import os
import re
import sys
import textwrap
import time

import pytest

from cawire import AccessRights
from cawire.server.testing import IocProcess
from cawire.testing import epics

pytestmark = pytest.mark.epics

ACF = '''
HAG(local) { localhost }
HAG(elsewhere) { 127.0.0.2, console1 }
ASG(DEFAULT) { RULE(1, READ) }
ASG(LOCAL) { RULE(1, READ) RULE(1, WRITE) { HAG(local) } }
ASG(ELSEWHERE) { RULE(1, READ) RULE(1, WRITE) { HAG(elsewhere) } }
'''

SOFTIOC_DB = '''
record(ao, "AS:local") { field(VAL, "1") field(ASG, "LOCAL") }
record(ao, "AS:elsewhere") { field(VAL, "2") field(ASG, "ELSEWHERE") }
'''

CAWIRE_IOC = textwrap.dedent('''
    import sys
    from cawire.server import PVGroup, pvproperty, run
    from cawire.server.access_security import (AccessSecurity,
                                               apply_access_security)

    class Hosts(PVGroup):
        local = pvproperty(value=1.0)
        elsewhere = pvproperty(value=2.0)

    if __name__ == '__main__':
        ioc = Hosts(prefix='AS:')
        apply_access_security(ioc.pvdb, AccessSecurity(sys.argv[1]),
                              groups={'AS:local': 'LOCAL',
                                      'AS:elsewhere': 'ELSEWHERE'})
        run(ioc.pvdb)
''')

HOST_NAMES = ('console1', 'localhost', None)  # None: cainfo's own
#: Rights (AS:local, AS:elsewhere) per HOST_NAME when hosts are matched by
#: name; by address every client is 127.0.0.1.
BY_NAME = {'console1': ('r-', 'rw'), 'localhost': ('rw', 'r-'),
           None: ('r-', 'r-')}
BY_ADDRESS = ('rw', 'r-')


class _SoftIocCheckingIp(epics.SoftIoc):
    """A softIoc whose startup script sets asCheckClientIP."""

    script: str = ''

    def start(self):
        if self.script and self.script not in self.argv:
            self.argv.append(self.script)
        super().start()


def _rights_text(rights):
    if rights is None:
        return '?'
    return ('r' if rights & AccessRights.READ else '-') + \
        ('w' if rights & AccessRights.WRITE else '-')


def rights_seen(port, repeater_port, host_name):
    if host_name is None:
        env = epics.epics_env(port, repeater_port)
        seen = {}
        for pv in ('AS:local', 'AS:elsewhere'):
            info = epics.run_tool('cainfo', pv, env=env).stdout
            access = re.search(r'Access:\s*(.*)', info).group(1)
            seen[pv] = {'read, write': 'rw', 'read, no write': 'r-',
                        'no read, no write': '--'}[access.strip()]
        return seen
    from cawire.threading.client import Context
    os.environ['EPICS_CA_ADDR_LIST'] = f'127.0.0.1:{port}'
    context = Context(host_name=host_name)
    try:
        seen = {}
        for pv in context.get_pvs('AS:local', 'AS:elsewhere', timeout=5):
            pv.wait_for_connection(timeout=10)
            deadline = time.monotonic() + 5
            while pv.access_rights is None and time.monotonic() < deadline:
                time.sleep(0.01)
            seen[pv.name] = _rights_text(pv.access_rights)
        return seen
    finally:
        context.disconnect()


@pytest.fixture
def addr_list_restored():
    saved = os.environ.get('EPICS_CA_ADDR_LIST')
    yield
    if saved is not None:
        os.environ['EPICS_CA_ADDR_LIST'] = saved


@pytest.mark.parametrize('check_ip', [True, False], ids=['by-ip', 'by-name'])
def test_hag_by_client_ip_matches_softioc(tmp_path, ca_env,
                                          addr_list_restored, check_ip):
    acf = tmp_path / 'hosts.acf'
    acf.write_text(ACF)
    script = tmp_path / 'check_ip.cmd'
    script.write_text('var asCheckClientIP 1\n')
    (tmp_path / 'hosts_ioc.py').write_text(CAWIRE_IOC)
    python_path = os.pathsep.join([str(tmp_path)] +
                                  [p for p in sys.path if p])
    softioc_class = type('SoftIocUnderTest', (_SoftIocCheckingIp,),
                         {'script': str(script) if check_ip else ''})
    softioc = softioc_class(SOFTIOC_DB, repeater_port=ca_env.repeater_port,
                            asg_file=acf)
    try:
        ours = IocProcess('hosts_ioc', str(acf),
                          repeater_port=ca_env.repeater_port,
                          PYTHONPATH=python_path,
                          EPICS_AS_CHECK_CLIENT_IP='YES' if check_ip
                          else 'NO')
        try:
            for host_name in HOST_NAMES:
                theirs = rights_seen(softioc.server_port,
                                     ca_env.repeater_port, host_name)
                got = rights_seen(ours.server_port, ca_env.repeater_port,
                                  host_name)
                assert got == theirs, host_name
                expected = BY_ADDRESS if check_ip else BY_NAME[host_name]
                assert (got['AS:local'], got['AS:elsewhere']) == expected, \
                    host_name
        finally:
            ours.close()
    finally:
        softioc.close()


def test_hag_entries_resolve_to_addresses():
    from cawire.server.access_security import AccessSecurity
    security = AccessSecurity(text=ACF, check_client_ip=True)
    rw = AccessRights.READ | AccessRights.WRITE
    assert security.rights('LOCAL', 'u', '127.0.0.1') == rw
    assert security.rights('LOCAL', 'u', 'localhost') == AccessRights.READ
    assert security.rights('ELSEWHERE', 'u', '127.0.0.2') == rw
    assert security.rights('ELSEWHERE', 'u', 'console1') == AccessRights.READ
    by_name = AccessSecurity(text=ACF, check_client_ip=False)
    assert by_name.rights('ELSEWHERE', 'u', 'CONSOLE1') == rw
