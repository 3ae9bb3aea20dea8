"""Per-channel Python access policies: caproto's ``check_access`` /
``auth_write`` overrides, cawire's ``access_hook``, and rights that change
while clients are connected.

A caproto-style module (a ChannelData subclass overriding check_access and
auth_write) runs under caproto 1.3.0 and under cawire; the real ``cainfo``
and ``caput`` see the same rights and the same refusal, and the
auth_write override sees the same user and host.  An interlock IOC
(cawire only: caproto has no way to tell connected clients that rights
changed) shows a connected client's rights following the interlock without
reconnecting, both through ``refresh_access_rights()`` and through the
re-check before a write; an ``auth_read`` override that raises Forbidden
makes caget report "Read access denied".
"""
import getpass
import os
import re
import socket
import sys
import textwrap
import time

import pytest

from cawire import AccessRights, ChannelType
from cawire.server import PVGroup, PvpropertyDouble, pvproperty
from cawire.server.access_security import (AccessSecurity,
                                           apply_access_security)
from cawire.server.testing import IocProcess
from cawire.testing import epics

pytestmark = pytest.mark.epics

POLICY_IOC = textwrap.dedent('''
    import os
    from caproto import AccessRights
    from caproto.server import (PVGroup, PvpropertyDouble, ioc_arg_parser,
                                pvproperty, run)


    class OnlyAlice(PvpropertyDouble):
        def check_access(self, hostname, username):
            if username == 'alice':
                return AccessRights.READ | AccessRights.WRITE
            return AccessRights.READ


    class Audited(PvpropertyDouble):
        async def auth_write(self, hostname, username, data, data_type,
                             metadata, **kwargs):
            with open(os.environ['AUDIT_FILE'], 'a') as audit:
                audit.write(f'{username}@{hostname} {list(data)}\\n')
            return await super().auth_write(hostname, username, data,
                                            data_type, metadata, **kwargs)


    class Policies(PVGroup):
        guarded = pvproperty(value=1.0, dtype=OnlyAlice)
        audited = pvproperty(value=2.0, dtype=Audited)


    if __name__ == '__main__':
        ioc_options, run_options = ioc_arg_parser(default_prefix='pol:',
                                                  desc='policies')
        run(Policies(**ioc_options).pvdb, **run_options)
''')

INTERLOCK_IOC = textwrap.dedent('''
    from cawire import AccessRights
    from cawire.server import (Forbidden, PVGroup, PvpropertyDouble,
                               pvproperty, run)


    class ConsoleOnly(PvpropertyDouble):
        async def auth_read(self, hostname, username, data_type, **kwargs):
            if hostname != 'console1':
                raise Forbidden('read from the consoles only')
            return await super().auth_read(hostname, username, data_type,
                                           **kwargs)


    class Interlocked(PVGroup):
        door = pvproperty(value=0, doc='1: open; the motor is locked')
        quiet_door = pvproperty(value=0, doc='like door, without a refresh')
        motor = pvproperty(value=0.0)
        secret = pvproperty(value=42.0, dtype=ConsoleOnly)
        door_open = quiet_door_open = False

        @door.putter
        async def door(self, instance, value):
            self.door_open = bool(value)
            # The policy's answer changed: tell the connected clients.
            self.motor.refresh_access_rights()

        @quiet_door.putter
        async def quiet_door(self, instance, value):
            self.quiet_door_open = bool(value)


    def motor_policy(channel, hostname, username, rights):
        group = channel.group
        if group.door_open or group.quiet_door_open:
            return rights & AccessRights.READ
        return rights


    if __name__ == '__main__':
        ioc = Interlocked(prefix='il:')
        ioc.motor.access_hook = motor_policy
        run(ioc.pvdb)
''')


def _write(folder, name, text):
    (folder / f'{name}.py').write_text(text)


def _python_path(folder):
    return os.pathsep.join([str(folder)] + [p for p in sys.path if p])


def _policy_run(module, folder, repeater_port):
    audit = folder / f'{module}.audit'
    ioc = IocProcess(module, repeater_port=repeater_port,
                     PYTHONPATH=_python_path(folder), AUDIT_FILE=str(audit))
    seen = {}
    try:
        env = epics.epics_env(ioc.server_port, repeater_port)
        for pv in ('pol:guarded', 'pol:audited'):
            info = epics.run_tool('cainfo', pv, env=env).stdout
            seen[pv, 'access'] = re.search(r'Access:\s*(.*)', info).group(1)
        refused = epics.run_tool('caput', 'pol:guarded', '5', env=env)
        seen['refusal'] = [line for line in
                           (refused.stdout + refused.stderr).splitlines()
                           if 'Time' not in line]
        seen['guarded after'] = epics.run_tool(
            'caget', '-t', 'pol:guarded', env=env).stdout.split()
        written = epics.run_tool('caput', 'pol:audited', '6', env=env)
        assert written.returncode == 0, written.stdout + written.stderr
        seen['audited after'] = epics.run_tool(
            'caget', '-t', 'pol:audited', env=env).stdout.split()
    finally:
        ioc.close()
    seen['audit'] = audit.read_text() if audit.exists() else None
    return seen


def test_check_access_and_auth_write_overrides_as_under_caproto(
        tmp_path, ca_env):
    pytest.importorskip('caproto')
    _write(tmp_path, 'pol_caproto', POLICY_IOC)
    _write(tmp_path, 'pol_cawire', re.sub(r'\bcaproto\b', 'cawire',
                                          POLICY_IOC))
    expected = _policy_run('pol_caproto', tmp_path, ca_env.repeater_port)
    got = _policy_run('pol_cawire', tmp_path, ca_env.repeater_port)
    assert got == expected
    assert got['pol:guarded', 'access'] == 'read, no write'
    assert got['pol:audited', 'access'] == 'read, write'
    assert any('Write access denied' in line for line in got['refusal'])
    assert got['guarded after'] == ['1']
    assert got['audited after'] == ['6']
    assert got['audit'] == \
        f"{getpass.getuser()}@{socket.gethostname()} [b'6']\n"  # caput sends text


def _client(port, user='alice', host='console1'):
    from cawire.threading.client import Context
    os.environ['EPICS_CA_ADDR_LIST'] = f'127.0.0.1:{port}'
    return Context(client_name=user, host_name=host)


def _rights(pv):
    rights = pv.access_rights
    if rights is None:
        return '?'
    return ('r' if rights & AccessRights.READ else '-') + \
        ('w' if rights & AccessRights.WRITE else '-')


def _wait_rights(pv, wanted, timeout=10.0):
    deadline = time.monotonic() + timeout
    while _rights(pv) != wanted and time.monotonic() < deadline:
        time.sleep(0.02)
    return _rights(pv)


@pytest.fixture
def addr_list_restored():
    saved = os.environ.get('EPICS_CA_ADDR_LIST')
    yield
    if saved is not None:
        os.environ['EPICS_CA_ADDR_LIST'] = saved


def test_interlock_changes_rights_of_connected_client(tmp_path, ca_env,
                                                       addr_list_restored):
    _write(tmp_path, 'interlock_ioc', INTERLOCK_IOC)
    ioc = IocProcess('interlock_ioc', repeater_port=ca_env.repeater_port,
                     PYTHONPATH=_python_path(tmp_path))
    context = _client(ioc.server_port)
    try:
        env = epics.epics_env(ioc.server_port, ca_env.repeater_port)
        motor, = context.get_pvs('il:motor', timeout=5)
        motor.wait_for_connection(timeout=10)
        assert _wait_rights(motor, 'rw') == 'rw'
        circuit = motor.circuit_manager
        motor.write([1.5], wait=True, timeout=5)

        # refresh_access_rights() from the door's putter: ACCESS_RIGHTS
        # reaches the connected client without any request of its own.
        assert epics.run_tool('caput', 'il:door', '1', env=env).returncode == 0
        assert _wait_rights(motor, 'r-') == 'r-'
        refused = epics.run_tool('caput', 'il:motor', '9', env=env)
        assert 'Write access denied' in refused.stdout + refused.stderr
        assert epics.run_tool('caput', 'il:door', '0', env=env).returncode == 0
        assert _wait_rights(motor, 'rw') == 'rw'

        # quiet_door changes the policy's answer without a refresh: the
        # next write is checked again, refused, and the client is told.
        assert epics.run_tool('caput', 'il:quiet_door', '1',
                              env=env).returncode == 0
        assert _rights(motor) == 'rw'  # nobody said anything yet
        response = motor.write([3.0], wait=True, timeout=5)
        assert response.status.name == 'ECA_NOWTACCESS'
        assert _wait_rights(motor, 'r-') == 'r-'
        assert motor.read(data_type=ChannelType.DOUBLE).data.tolist() == [1.5]
        assert motor.circuit_manager is circuit  # never reconnected

        # An auth_read override refusing a client: ECA_NORDACCESS.
        secret, = context.get_pvs('il:secret', timeout=5)
        secret.wait_for_connection(timeout=10)
        assert secret.read(data_type=ChannelType.DOUBLE).data.tolist() == \
            [42.0]  # alice@console1
        denied = epics.run_tool('caget', 'il:secret', env=env)
        assert 'Read access denied' in denied.stdout + denied.stderr
    finally:
        context.disconnect()
        ioc.close()


class Guarded(PVGroup):
    ops = pvproperty(value=2.0)
    plain = pvproperty(value=3.0, dtype=PvpropertyDouble)


def test_access_hook_composes_with_access_security_file():
    """The file decides first, read_only next, the hook last (it gets the
    file's answer and may narrow or widen it)."""
    group = Guarded(prefix='g:')
    security = AccessSecurity(text='UAG(ops) { alice }\n'
                              'ASG(DEFAULT) { RULE(1, READ) '
                              'RULE(1, WRITE) { UAG(ops) } }')
    apply_access_security(group.pvdb, security)
    seen = []

    def only_before_noon(channel, hostname, username, rights):
        seen.append((hostname, username, rights))
        return rights & AccessRights.READ if hostname == 'night' else rights

    group.ops.access_hook = only_before_noon
    rw = AccessRights.READ | AccessRights.WRITE
    assert group.ops.check_access('day', 'alice') == rw
    assert group.ops.check_access('night', 'alice') == AccessRights.READ
    assert group.ops.check_access('day', 'bob') == AccessRights.READ
    assert seen[0] == ('day', 'alice', rw)
    assert group.ops.access_is_dynamic and not group.plain.access_is_dynamic
    with pytest.raises(Exception, match='callable'):
        group.plain.access_hook = 'yes'


def test_refresh_reaches_channels_opened_through_filters(ca_env,
                                                         addr_list_restored):
    """refresh_access_rights() of a PV also updates clients that opened it
    under a filtered name (``x.{"dbnd":...}``), in an in-process server."""
    import asyncio
    import threading

    from cawire.server import Context

    group = Guarded(prefix='flt:')
    locked = {'on': False}
    group.ops.access_hook = (
        lambda channel, host, user, rights:
        rights & AccessRights.READ if locked['on'] else rights)
    port = epics.free_port()
    loop = asyncio.new_event_loop()
    context = None

    def serve():
        nonlocal context
        asyncio.set_event_loop(loop)
        from cawire.config import Config
        config = Config.from_environ(
            {**os.environ, 'EPICS_CAS_SERVER_PORT': str(port),
             'EPICS_CAS_INTF_ADDR_LIST': '127.0.0.1'})
        context = Context(group.pvdb, config=config)
        loop.run_until_complete(context.run())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    client = None
    try:
        deadline = time.monotonic() + 10
        while (context is None or context.tcp_port is None) and \
                time.monotonic() < deadline:
            time.sleep(0.02)
        client = _client(port)
        plain, filtered = client.get_pvs(
            'flt:ops', 'flt:ops.{"dbnd":{"abs":1}}', timeout=5)
        for pv in (plain, filtered):
            pv.wait_for_connection(timeout=10)
            assert _wait_rights(pv, 'rw') == 'rw'
        locked['on'] = True
        loop.call_soon_threadsafe(group.ops.refresh_access_rights)
        assert _wait_rights(plain, 'r-') == 'r-'
        assert _wait_rights(filtered, 'r-') == 'r-'
    finally:
        if client is not None:
            client.disconnect()
        if context is not None:
            loop.call_soon_threadsafe(context.stop)
        thread.join(timeout=10)
        loop.close()
