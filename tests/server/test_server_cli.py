"""The command line every IOC gets, and embedding the server in asyncio."""
import asyncio
import subprocess
import sys

import pytest

from cawire.protocol import _commands as c
from cawire import ChannelType
from cawire.config import Config
from cawire.server import Context, PVGroup, ioc_arg_parser, pvproperty
from cawire.server.testing import IocProcess, RawCircuit
from cawire.testing import epics


def test_ioc_arg_parser_defaults_and_options():
    ioc_options, run_options = ioc_arg_parser(
        desc='demo', default_prefix='demo:', argv=['prog'])
    assert ioc_options == {'prefix': 'demo:', 'macros': {}}
    assert run_options['log_pv_names'] is False
    assert run_options['interfaces'] is None
    ioc_options, run_options = ioc_arg_parser(
        desc='demo', default_prefix='demo:', macros={'rate': '10'},
        argv=['prog', '--prefix', 'x:', '--list-pvs', '--interfaces',
              '127.0.0.1', '-v', '--rate', '20'])
    assert ioc_options == {'prefix': 'x:', 'macros': {'rate': '20'}}
    assert run_options['log_pv_names'] is True
    assert run_options['interfaces'] == ['127.0.0.1']


def test_help_lists_the_standard_options():
    result = subprocess.run(
        [sys.executable, '-m', 'cawire.ioc_examples.random_walk', '--help'],
        capture_output=True, text=True, timeout=30)
    assert result.returncode == 0
    for option in ('--prefix', '--list-pvs', '--interfaces', '-v'):
        assert option in result.stdout


@pytest.mark.epics
def test_random_walk_prefix_list_pvs_and_interfaces(ca_env):
    with IocProcess('cawire.ioc_examples.random_walk', '--prefix', 'rw2:',
                    '--list-pvs', '--interfaces', '127.0.0.1',
                    repeater_port=ca_env.repeater_port) as ioc:
        result = epics.run_tool('caget', 'rw2:dt', env=ioc.env)
        assert result.stdout.split() == ['rw2:dt', '3']
        output = ioc.output()
    assert "PVs: ['rw2:dt', 'rw2:x']" in output
    assert 'PVs available:\nrw2:dt\nrw2:x' in output
    assert 'listening on 127.0.0.1' in output


def test_port_comes_from_the_environment():
    config = Config.from_environ({'EPICS_CA_SERVER_PORT': '6001'})
    assert Context({}, config=config).port == 6001
    config = Config.from_environ({'EPICS_CA_SERVER_PORT': '6001',
                                  'EPICS_CAS_SERVER_PORT': '6002'})
    assert Context({}, config=config).port == 6002


@pytest.mark.epics
def test_embedded_server_in_a_running_loop(ca_env):
    """Context.run inside the caller's event loop; stop() ends it cleanly."""
    port = epics.free_port()
    config = Config.from_environ(epics.epics_settings(port,
                                                      ca_env.repeater_port))

    class Group(PVGroup):
        value = pvproperty(value=5, doc='a long')

    group = Group(prefix='emb:')

    async def main():
        context = Context(group.pvdb, config=config)
        task = asyncio.create_task(context.run())
        await context.wait_started()
        loop = asyncio.get_running_loop()

        def client():
            with RawCircuit(port) as circuit:
                sid = circuit.create_channel('emb:value', 1).sid
                circuit.send(c.ReadNotifyRequest(ChannelType.LONG, 1, sid, 1))
                return int(circuit.expect(c.ReadNotifyResponse).data[0])

        value = await loop.run_in_executor(None, client)
        context.stop()
        await asyncio.wait_for(task, 5)
        return value, context.tcp_port

    value, tcp_port = asyncio.run(main())
    assert value == 5 and tcp_port == port
