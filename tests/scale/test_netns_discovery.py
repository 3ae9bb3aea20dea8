"""Broadcast discovery across hosts, in a bed of network namespaces.

Every process runs with no EPICS_CA_* configuration (EPICS defaults:
EPICS_CA_AUTO_ADDR_LIST=YES, ports 5064/5065), each IOC in its own
namespace with its own address on 10.77.0.0/16, the clients in another: the
searches must go to the interface broadcast address that cawire.config
computes, and every IOC on the same port must answer its own names.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from cawire.testing import netns
from cawire.testing.epics import epics_bin_dir

from benchmarks.scale.bed import REPO_ROOT, _python_env, scale_database

pytestmark = [pytest.mark.epics, pytest.mark.usefixtures('netns_available'),
              pytest.mark.timeout(90)]

PYTHON = sys.executable


def _namespaces() -> set[str]:
    listing = subprocess.run(['ip', 'netns', 'list'], capture_output=True,
                             text=True).stdout
    return {line.split()[0] for line in listing.splitlines() if line.strip()}


@pytest.fixture
def bed():
    with netns.NetnsBed() as made:
        yield made


@pytest.fixture
def db_file(tmp_path):
    path = tmp_path / 'scale.db'
    path.write_text(scale_database(3))
    return path


def _wait_listening(host, addresses, timeout=20.0):
    probe = ('import socket, sys, time\n'
             'deadline = time.monotonic() + float(sys.argv[1])\n'
             'for address in sys.argv[2:]:\n'
             '    while True:\n'
             '        try:\n'
             '            socket.create_connection((address, 5064), 0.5).close()\n'
             '            break\n'
             '        except OSError:\n'
             '            if time.monotonic() > deadline: sys.exit(1)\n'
             '            time.sleep(0.02)\n')
    completed = host.run([PYTHON, '-c', probe, str(timeout), *addresses],
                         timeout=timeout + 10)
    assert completed.returncode == 0, f'IOCs at {addresses} never listened'


def test_interface_broadcast_address_inside_a_namespace(bed):
    host = bed.add_host('client')
    code = ('import json\n'
            'from cawire.config import Config, client_search_addresses, '
            'interface_broadcast_addresses, server_beacon_addresses\n'
            'config = Config.from_environ()\n'
            'print(json.dumps([interface_broadcast_addresses(), '
            'client_search_addresses(config), server_beacon_addresses(config)]))')
    completed = host.run([PYTHON, '-c', code], env=_python_env(), check=True)
    broadcasts, searches, beacons = json.loads(completed.stdout)
    # Only eth0 is broadcast-capable there (lo is up but not BROADCAST).
    assert broadcasts == ['10.77.255.255']
    assert searches == [['10.77.255.255', 5064]]
    assert beacons == [['10.77.255.255', 5065]]


def test_cawire_client_finds_softiocs_on_other_hosts_by_broadcast(bed, db_file):
    ioc_hosts = [bed.add_host(f'ioc{index}') for index in range(3)]
    client = bed.add_host('client')
    client.popen([str(epics_bin_dir() / 'caRepeater')])
    for index, host in enumerate(ioc_hosts):
        host.popen([str(epics_bin_dir() / 'softIoc'), '-S',
                    '-m', f'P=S{index:03d}:', '-d', str(db_file)])
    _wait_listening(client, [host.address for host in ioc_hosts])
    names = [f'S{index:03d}:{pv:04d}' for index in range(3) for pv in range(3)]
    code = ('import json, sys\n'
            'from cawire.threading.client import Context\n'
            'context = Context(timeout=10)\n'
            'pvs = context.get_pvs(*sys.argv[1:])\n'
            'result = {}\n'
            'for pv in pvs:\n'
            '    pv.wait_for_connection(timeout=10)\n'
            '    result[pv.name] = [pv.circuit_manager.circuit.address[0], '
            'float(pv.read().data[0])]\n'
            'print(json.dumps(result))\n'
            'context.disconnect()\n')
    completed = client.run([PYTHON, '-c', code, *names], env=_python_env(),
                           timeout=60)
    assert completed.returncode == 0, completed.stderr[-3000:]
    result = json.loads(completed.stdout.splitlines()[-1])
    for name in names:
        index = int(name[1:4])
        address, value = result[name]
        assert address == ioc_hosts[index].address
        assert value == 0.0


def test_pyepics_finds_cawire_servers_on_other_hosts_by_broadcast(bed):
    ioc_hosts = [bed.add_host(f'ioc{index}') for index in range(2)]
    client = bed.add_host('client')
    client.popen([str(epics_bin_dir() / 'caRepeater')])
    for index, host in enumerate(ioc_hosts):
        host.popen([PYTHON, '-m', 'benchmarks.scale._server_ioc',
                    f'S{index:03d}:', '3'], env=_python_env(), cwd=REPO_ROOT)
    _wait_listening(client, [host.address for host in ioc_hosts])
    names = [f'S{index:03d}:{pv:04d}' for index in range(2) for pv in range(3)]
    code = ('import json, sys, epics\n'
            'values = epics.caget_many(sys.argv[1:], timeout=10, '
            'connection_timeout=10)\n'
            'hosts = [epics.ca.host_name(epics.ca.create_channel(name)) '
            'for name in sys.argv[1:]]\n'
            'print(json.dumps([values, hosts]))\n')
    completed = client.run([PYTHON, '-c', code, *names], env=_python_env(),
                           timeout=60)
    assert completed.returncode == 0, completed.stderr[-3000:]
    values, hosts = json.loads(completed.stdout.splitlines()[-1])
    assert values == [0.0] * len(names)
    for name, host in zip(names, hosts):
        assert host == f'{ioc_hosts[int(name[1:4])].address}:5064'


def test_caget_finds_softioc_by_broadcast(bed, db_file):
    ioc, client = bed.add_host('ioc'), bed.add_host('client')
    client.popen([str(epics_bin_dir() / 'caRepeater')])
    ioc.popen([str(epics_bin_dir() / 'softIoc'), '-S', '-m', 'P=S000:',
               '-d', str(db_file)])
    _wait_listening(client, [ioc.address])
    completed = client.run([str(epics_bin_dir() / 'caget'), '-w', '5',
                            'S000:0001'], timeout=30)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.split() == ['S000:0001', '0']


def test_closing_the_bed_removes_namespaces_and_processes():
    bed = netns.NetnsBed()
    try:
        host = bed.add_host('h')
        # A grandchild the bed did not start directly: it must die too.
        host.popen(['sh', '-c', 'sleep 300 & sleep 300'])
        made = {bed.bridge_namespace, host.namespace}
        assert made <= _namespaces()
        pids = subprocess.run(['ip', 'netns', 'pids', host.namespace],
                              capture_output=True, text=True).stdout.split()
    finally:
        bed.close()
    assert not made & _namespaces()
    for pid in pids:
        assert not os.path.exists(f'/proc/{pid}') or \
            open(f'/proc/{pid}/stat').read().split()[2] == 'Z'


def test_stale_namespaces_of_dead_runs_are_removed():
    finished = subprocess.Popen(['true'])
    finished.wait()  # its pid now names a run that is gone
    stale = f'{netns.PROJECT_PREFIX}{finished.pid}-leftover'
    mine = f'{netns.PROJECT_PREFIX}{os.getpid()}-alive'
    subprocess.run(['ip', 'netns', 'add', stale], check=True)
    subprocess.run(['ip', 'netns', 'add', mine], check=True)
    try:
        removed = netns.remove_stale_namespaces()
        assert stale in removed
        assert stale not in _namespaces()
        assert mine in _namespaces()
    finally:
        for name in (stale, mine):
            subprocess.run(['ip', 'netns', 'del', name], capture_output=True)
