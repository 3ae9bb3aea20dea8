"""Discovery: search datagrams, retries, repeater, beacons, name servers.

A plain UDP socket listed in EPICS_CA_ADDR_LIST stands in for "the network"
to capture what the client sends; the real softIoc (and caRepeater) answer
everything else.
"""
import socket
import time

import pytest

from cawire.protocol import _commands as ca
from cawire.config import Config
from cawire.protocol._framing import read_datagram
from cawire.protocol._state import SERVER
from cawire.testing import epics
from cawire.threading._shared_broadcaster import spawn_repeater_if_needed
from cawire.threading.client import Context, SharedBroadcaster

WAIT = 10.0


def wait_until(predicate, timeout=WAIT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def make_context(ca_env, **environ):
    settings = {'EPICS_CA_AUTO_ADDR_LIST': 'NO',
                'EPICS_CA_ADDR_LIST': f'127.0.0.1:{ca_env.server_port}',
                'EPICS_CA_SERVER_PORT': str(ca_env.server_port),
                'EPICS_CA_REPEATER_PORT': str(ca_env.repeater_port)}
    settings.update(environ)
    return Context(SharedBroadcaster(config=Config.from_environ(settings)),
                   timeout=WAIT)


@pytest.fixture
def sniffer():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(('127.0.0.1', 0))
    sock.settimeout(WAIT)
    yield sock
    sock.close()


def receive_datagrams(sock, count):
    datagrams = []
    for _ in range(count):
        data, address = sock.recvfrom(65536)
        datagrams.append((time.monotonic(), data, address))
    return datagrams


def test_search_datagrams_are_batched_with_a_version_header(ca_env, sniffer):
    port = sniffer.getsockname()[1]
    ctx = make_context(ca_env, EPICS_CA_ADDR_LIST=f'127.0.0.1:{port}')
    try:
        names = [f'NOWHERE:{i:04d}:{"x" * 20}' for i in range(200)]
        ctx.get_pvs(*names)
        seen = set()
        sequences = []
        per_datagram = []
        while len(seen) < len(names):
            _, data, _ = receive_datagrams(sniffer, 1)[0]
            assert len(data) <= 1024
            commands = read_datagram(data, ('127.0.0.1', 0), SERVER)
            version, *searches = commands
            assert isinstance(version, ca.VersionRequest)
            assert version.sequence_id is not None
            sequences.append(version.sequence_id)
            assert searches and all(isinstance(c, ca.SearchRequest)
                                    for c in searches)
            seen.update(c.name for c in searches)
            per_datagram.append(len(searches))
        assert seen == set(names)
        # Packed: 56 bytes per name, so 18 fit after the VERSION header.
        assert max(per_datagram) == 18
        assert sequences == sorted(sequences)
    finally:
        ctx.disconnect()


def test_unanswered_search_is_retried_and_new_get_pvs_retries_at_once(
        ca_env, sniffer):
    port = sniffer.getsockname()[1]
    ctx = make_context(ca_env, EPICS_CA_ADDR_LIST=f'127.0.0.1:{port}')
    try:
        ctx.get_pvs('NOWHERE:a')
        first = receive_datagrams(sniffer, 4)
        names = [read_datagram(d, a, SERVER)[1].name for _, d, a in first]
        # Retried (on libca's back-off schedule, which cawire.protocol._search_schedule
        # implements and tests/test_search_schedule.py pins down).
        assert names == ['NOWHERE:a'] * 4
        # A new get_pvs sends the new name and retries the old one now.
        ctx.get_pvs('NOWHERE:b')
        retried = set()
        while retried != {'NOWHERE:a', 'NOWHERE:b'}:
            _, data, address = receive_datagrams(sniffer, 1)[0]
            retried.update(c.name for c in read_datagram(data, address, SERVER)
                           if isinstance(c, ca.SearchRequest))
    finally:
        ctx.disconnect()


def test_registers_with_repeater_and_tracks_beacons(ca_env, isolated_ioc):
    ioc = isolated_ioc()  # a fresh IOC sends its fast start-up beacons
    ctx = make_context(ca_env, EPICS_CA_ADDR_LIST=f'127.0.0.1:{ioc.server_port}')
    try:
        assert wait_until(lambda: ctx.broadcaster.registered)
        # softIoc beacons reach us through the repeater.
        address = ('127.0.0.1', ioc.server_port)
        assert wait_until(lambda: address in ctx.broadcaster.beacons, 20)
        assert address in ctx.broadcaster.time_since_last_heard()
    finally:
        ctx.disconnect()


def test_spawns_a_repeater_when_none_is_running():
    port = epics.free_port()
    process = spawn_repeater_if_needed(port)
    try:
        assert process is not None
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind(('127.0.0.1', 0))
            assert wait_until(
                lambda: epics.register_with_repeater(probe, port, 0.2))
        # With one running, nothing else is spawned.
        assert spawn_repeater_if_needed(port) is None
    finally:
        if process is not None:
            process.terminate()
            process.wait(5)


def test_name_server_search_over_tcp(ca_env, softioc):
    # No UDP destinations at all: only the name server (the softIoc itself,
    # which answers SEARCH over TCP since CA 4.12).
    ctx = make_context(ca_env, EPICS_CA_ADDR_LIST='',
                       EPICS_CA_NAME_SERVERS=f'127.0.0.1:{ca_env.server_port}')
    try:
        assert ctx.broadcaster.search_addresses == []
        ai, = ctx.get_pvs('TST:ai')
        assert ai.read().data.tolist() == [3.14159]
        link, = ctx.broadcaster.name_servers
        assert link.connected
    finally:
        ctx.disconnect()


def test_two_contexts_share_one_broadcaster(ca_env, softioc):
    broadcaster = SharedBroadcaster(config=Config.from_environ({
        'EPICS_CA_AUTO_ADDR_LIST': 'NO',
        'EPICS_CA_ADDR_LIST': f'127.0.0.1:{ca_env.server_port}',
        'EPICS_CA_REPEATER_PORT': str(ca_env.repeater_port)}))
    first = Context(broadcaster)
    second = Context(broadcaster)
    a, = first.get_pvs('TST:ai')
    b, = second.get_pvs('TST:ai')
    assert a is not b
    assert a.read().data[0] == b.read().data[0]
    assert a.circuit_manager is not b.circuit_manager
    first.disconnect()
    assert b.read().data.tolist() == [3.14159]  # still served
    second.disconnect()
    assert not broadcaster.loop.running  # the last listener closed it


def test_max_array_bytes_is_honoured(ca_env, softioc):
    ctx = make_context(ca_env, EPICS_CA_AUTO_ADDR_LIST='NO',
                       EPICS_CA_AUTO_ARRAY_BYTES='NO',
                       EPICS_CA_MAX_ARRAY_BYTES='16384')
    try:
        small, big = ctx.get_pvs('TST:wf:double', 'TST:wf:big')
        # The database's own values, written back first: other suites write
        # this shared record.
        small.write([1.5, 2.5, -3.5, 4.0, 1e10], wait=True)
        assert small.read().data.tolist()[:2] == [1.5, 2.5]
        # 100000 doubles cannot be requested within 16 kB (ECA_TOLARGE).
        with pytest.raises(ValueError, match='MAX_ARRAY_BYTES'):
            big.read(data_count=100_000)
        with pytest.raises(ValueError, match='MAX_ARRAY_BYTES'):
            big.write(list(range(100_000)))
    finally:
        ctx.disconnect()


def test_get_pvs_in_a_loop_does_not_flood_searches(ca_env, sniffer):
    port = sniffer.getsockname()[1]
    ctx = make_context(ca_env, EPICS_CA_ADDR_LIST=f'127.0.0.1:{port}')
    try:
        ctx.get_pvs('NOWHERE:loop')
        receive_datagrams(sniffer, 1)
        for _ in range(300):
            ctx.get_pvs('NOWHERE:loop')  # cached PV, still unanswered
        sniffer.settimeout(0.3)
        count = 0
        try:
            while count < 300:
                receive_datagrams(sniffer, 1)
                count += 1
        except socket.timeout:
            pass
        # The schedule's own retries plus at most one get_pvs-triggered
        # retry, not one per call.
        assert count < 20, count
    finally:
        ctx.disconnect()
