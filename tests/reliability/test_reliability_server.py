"""Our server against hostile clients: bad bytes close only that circuit,
a client that never reads cannot grow the server, thousands of channels are
served and freed, and shutdown leaves nothing behind.

Each test runs its own IOC subprocess (``IocProcess``) on fresh loopback
ports and watches it from outside (RSS through psutil, what well-behaved
clients still get), except the shutdown test, which runs a server in this
process to inspect its threads and file descriptors.
"""
import asyncio
import struct
import threading
import time

import psutil
import pytest

from cawire.protocol import _commands as c
from cawire import ChannelType, SubscriptionType
from cawire.server.testing import IocProcess, RawCircuit
from cawire.testing import epics
from cawire.testing.faults import HostileClient, describe_fds, open_fds

pytestmark = pytest.mark.epics

TV = 'type_varieties:'
MASK = int(SubscriptionType.DBE_VALUE | SubscriptionType.DBE_ALARM)
MB = 1 << 20


@pytest.fixture
def tv_ioc(ca_env):
    with IocProcess('cawire.ioc_examples.type_varieties',
                    repeater_port=ca_env.repeater_port) as ioc:
        yield ioc


def rss(ioc) -> int:
    return psutil.Process(ioc.pid).memory_info().rss


def server_still_serves(port) -> None:
    with RawCircuit(port) as good:
        sid = good.create_channel(TV + 'double', 7).sid
        good.send(c.ReadNotifyRequest(ChannelType.DOUBLE, 1, sid, 9))
        assert float(good.expect(c.ReadNotifyResponse).data[0]) == 3.14159


def hostile_garbage(client):
    client.send_garbage(8192, seed=1)


def hostile_garbage_before_handshake(client):
    client.send(b'GET / HTTP/1.1\r\nHost: localhost\r\n\r\n' * 4)


def hostile_4gb_write(client):
    client.send_lying_size(0xFFFFFFF0)


def hostile_misaligned(client):
    client.send(struct.pack('>HHHHII', 15, 12, 6, 1, 1, 1) + bytes(16))


def hostile_unknown_command(client):
    client.send(struct.pack('>HHHHII', 0x4242, 0, 0, 0, 0, 0))


def hostile_wrong_sid(client):
    # READ_NOTIFY on a channel id the server never handed out.
    client.send(struct.pack('>HHHHII', 15, 0, 6, 1, 0xBADBAD, 1))


def hostile_bad_type(client):
    client.send(struct.pack('>HHHHII', 18, 24, 0, 0, 1, 13) +
                (TV + 'double').encode() + bytes(24 - len(TV + 'double')))
    client.receive(timeout=1)
    client.send(struct.pack('>HHHHII', 15, 0, 999, 1, 0, 1))


def hostile_priority(client):
    # VERSION with priority 1000 (> 99): RSRV drops such a circuit.
    client.send(struct.pack('>HHHHII', 0, 0, 1000, 13, 0, 0))


HOSTILE = {f.__name__[len('hostile_'):]: f for f in (
    hostile_garbage, hostile_garbage_before_handshake, hostile_4gb_write,
    hostile_misaligned, hostile_unknown_command, hostile_wrong_sid,
    hostile_bad_type)}


@pytest.mark.parametrize('attack', list(HOSTILE))
def test_hostile_client_loses_its_circuit_only(tv_ioc, attack):
    handshake = attack != 'garbage_before_handshake'
    before = rss(tv_ioc)
    with RawCircuit(tv_ioc.server_port) as bystander:
        sid = bystander.create_channel(TV + 'long', 1).sid
        bystander.send(c.EventAddRequest(ChannelType.LONG, 1, sid, 5, 0, 0, 0,
                                         MASK))
        assert int(bystander.expect(c.EventAddResponse).data[0]) == -42
        with HostileClient(tv_ioc.server_port, handshake=handshake) as bad:
            HOSTILE[attack](bad)
            assert bad.closed_by_server(timeout=5), \
                f'{attack}: the server kept the circuit open'
        # The bystander's circuit and subscription are intact.
        bystander.send(c.WriteNotifyRequest([7], ChannelType.LONG, 1, sid, 6))
        assert int(bystander.expect(c.EventAddResponse).data[0]) == 7
        bystander.expect(c.WriteNotifyResponse)
    server_still_serves(tv_ioc.server_port)
    assert rss(tv_ioc) - before < 20 * MB
    assert 'protocol error' in tv_ioc.output() or 'Closing circuit' in \
        tv_ioc.output(), tv_ioc.output()[-2000:]


def test_priority_out_of_range_is_refused(tv_ioc):
    with HostileClient(tv_ioc.server_port, handshake=False) as bad:
        hostile_priority(bad)
        bad.send(struct.pack('>HHHHII', 18, 24, 0, 0, 1, 13) +
                 (TV + 'double').encode() + bytes(24 - len(TV + 'double')))
        # Either refused outright (RSRV) or served at a clamped priority:
        # never a crash, and the server keeps serving others.
        bad.receive(timeout=1)
    server_still_serves(tv_ioc.server_port)


def test_lying_size_never_allocates(tv_ioc):
    """Ten clients each announce a 4 GB write and then trickle bytes: the
    server neither buffers nor allocates what was announced."""
    before = rss(tv_ioc)
    clients = [HostileClient(tv_ioc.server_port) for _ in range(10)]
    try:
        for client in clients:
            client.send_lying_size(0xFFFFFFF0)
        for _ in range(20):
            for client in clients:
                client.try_send(bytes(4096), timeout=0.05)
        server_still_serves(tv_ioc.server_port)
        growth = rss(tv_ioc) - before
        assert growth < 30 * MB, f'server grew {growth / MB:.1f} MB'
    finally:
        for client in clients:
            client.close()


@pytest.mark.parametrize('flood_requests', [False, True],
                         ids=['subscriptions', 'subscriptions+requests'])
def test_client_that_never_reads_keeps_server_bounded(ca_env, flood_requests):
    """A client with a 4 kB receive buffer that never reads subscribes 10
    times to a 160 kB array updating at 1 kHz (and, in the second variant,
    floods READ_NOTIFY requests for it): the server's memory stays bounded
    (it stops reading that client's requests and keeps only the latest
    update per subscription) while another client keeps full service."""
    with IocProcess('cawire.ioc_examples.fast_counter', '--rate', '1000',
                    '--array_length', '20000',
                    repeater_port=ca_env.repeater_port) as ioc:
        sink = HostileClient(ioc.server_port, receive_buffer=4096)
        try:
            sid = sink.create_channel('fast_counter:array', 1)
            for subid in range(1, 11):
                sink.subscribe(sid, subid, data_type=6, count=0)
            baseline = rss(ioc)
            request = struct.pack('>HHHHII', 15, 0, 6, 0, sid, 1)
            # 64 kB of requests per send: each asks for a 160 kB reply.
            flood = request * 4096
            limit = 60 * MB
            offered = 0
            deadline = time.monotonic() + 3
            with RawCircuit(ioc.server_port) as fast:
                fast_sid = fast.create_channel('fast_counter:count', 1).sid
                fast.send(c.EventAddRequest(ChannelType.LONG, 1, fast_sid, 1,
                                            0, 0, 0, MASK))
                counted = {'updates': 0}

                def bystander():
                    # Count the other client's updates for the whole run.
                    while time.monotonic() < deadline:
                        try:
                            if isinstance(fast.next(timeout=0.1),
                                          c.EventAddResponse):
                                counted['updates'] += 1
                        except TimeoutError:
                            pass

                counter = threading.Thread(target=bystander)
                counter.start()
                peak = baseline
                try:
                    while time.monotonic() < deadline:
                        if flood_requests:
                            offered += sink.try_send(flood, timeout=0.01)
                        else:
                            time.sleep(0.01)
                        peak = max(peak, rss(ioc))
                        if peak - baseline > limit:
                            break  # failed: stop before the server eats the host
                finally:
                    counter.join(10)
                received = counted['updates']
            growth = peak - baseline
            # Requests offered: the server must have stopped accepting them
            # long before answering each with 160 kB (that would be GBs).
            assert offered < 64 * MB
            assert growth < limit, (f'server grew {growth / MB:.1f} MB '
                                    f'({offered} request bytes offered)')
            assert received > 500, received
            # The sink was served (not dropped): its socket is full and the
            # server still holds the circuit.
            assert not sink.eof
            assert len(sink.receive(timeout=0.5, limit=1 << 20)) > 100_000
        finally:
            sink.close()


def test_thousands_of_channels_on_one_circuit(tv_ioc):
    count = 5000
    before = rss(tv_ioc)
    with RawCircuit(tv_ioc.server_port, timeout=20) as many:
        # cids 1..count, created in batches without waiting.
        for start in range(1, count + 1, 500):
            many.send(*[c.CreateChanRequest(TV + 'double', cid, 13)
                        for cid in range(start, start + 500)])
        sids, cids = set(), set()
        for _ in range(count):
            many.expect(c.AccessRightsResponse, timeout=20)
            created = many.expect(c.CreateChanResponse, timeout=20)
            sids.add(created.sid)
            cids.add(created.cid)
        assert len(sids) == count and cids == set(range(1, count + 1))
        server_still_serves(tv_ioc.server_port)
        # Read through the last one: the table is consistent.
        last = max(sids)
        many.send(c.ReadNotifyRequest(ChannelType.DOUBLE, 1, last, 77))
        assert many.expect(c.ReadNotifyResponse).ioid == 77
        loaded = rss(tv_ioc)
    # Closing the circuit frees the channels: a second round costs nothing
    # more than the first.
    with RawCircuit(tv_ioc.server_port, timeout=20) as again:
        for start in range(1, count + 1, 500):
            again.send(*[c.CreateChanRequest(TV + 'double', cid, 13)
                         for cid in range(start, start + 500)])
        for _ in range(count):
            again.expect(c.AccessRightsResponse, timeout=20)
            again.expect(c.CreateChanResponse, timeout=20)
    time.sleep(0.3)
    after = rss(tv_ioc)
    per_channel = (loaded - before) / count
    assert per_channel < 4096, f'{per_channel:.0f} bytes per channel'
    assert after - loaded < 5 * MB, (before, loaded, after)


def test_channel_flood_without_reading(tv_ioc):
    """20,000 CREATE_CHAN from a client that never reads the replies:
    the server stops reading it instead of queueing 20,000 replies forever,
    and drops everything when it goes."""
    before = rss(tv_ioc)
    with HostileClient(tv_ioc.server_port, receive_buffer=4096) as flood:
        raw = (TV + 'double').encode() + b'\0'
        padded = raw + bytes(-len(raw) % 8)
        message = b''.join(struct.pack('>HHHHII', 18, len(padded), 0, 0, cid,
                                       13) + padded
                           for cid in range(1, 20001))
        sent = flood.try_send(message, timeout=3)
        server_still_serves(tv_ioc.server_port)
        growth = rss(tv_ioc) - before
        assert growth < 40 * MB, f'{growth / MB:.1f} MB for {sent} bytes'
    time.sleep(0.3)
    server_still_serves(tv_ioc.server_port)


# -- shutdown -----------------------------------------------------------------

def test_server_shutdown_releases_threads_and_fds(ca_env):
    from cawire.ioc_examples.type_varieties import TypeVarietiesIOC
    from cawire.server import Context as ServerContext
    from cawire.config import Config

    port = epics.free_port()
    config = Config.from_environ({
        **epics.epics_settings(port, ca_env.repeater_port)})
    threads_before = set(threading.enumerate())
    fds_before = open_fds()
    ioc = TypeVarietiesIOC(prefix=TV)
    started = threading.Event()
    holder = {}

    def serve():
        async def main():
            server = ServerContext(ioc.pvdb, ['127.0.0.1'], config=config)
            holder['server'] = server
            holder['loop'] = asyncio.get_running_loop()
            task = asyncio.create_task(server.run())
            await server.wait_started()
            started.set()
            await task
        asyncio.run(main())

    thread = threading.Thread(target=serve, name='test-server')
    thread.start()
    try:
        assert started.wait(10)
        clients = [RawCircuit(port) for _ in range(5)]
        for index, client in enumerate(clients):
            sid = client.create_channel(TV + 'double', 1).sid
            client.send(c.EventAddRequest(ChannelType.DOUBLE, 1, sid, 1, 0,
                                          0, 0, MASK))
            client.expect(c.EventAddResponse)
        holder['loop'].call_soon_threadsafe(holder['server'].stop)
        thread.join(10)
        assert not thread.is_alive(), 'server did not stop'
        for client in clients:
            assert client.closed_by_server(timeout=5)
            client.close()
    finally:
        if thread.is_alive():
            holder['loop'].call_soon_threadsafe(holder['server'].stop)
            thread.join(10)
    leftover_threads = [t for t in threading.enumerate()
                        if t not in threads_before and t.is_alive()]
    assert not leftover_threads, leftover_threads
    leaked = open_fds() - fds_before
    assert not leaked, describe_fds(leaked)


def test_connection_flood_of_silent_clients(tv_ioc):
    """300 connections that never send a byte (and 100 that stop after
    half a header): the server keeps serving others, and frees them all."""
    before = rss(tv_ioc)
    silent = []
    try:
        for index in range(400):
            client = HostileClient(tv_ioc.server_port, handshake=False)
            if index >= 300:
                client.send(struct.pack('>HHHHII', 0, 0, 0, 13, 0, 0)[:7])
            silent.append(client)
        server_still_serves(tv_ioc.server_port)
        assert rss(tv_ioc) - before < 30 * MB
    finally:
        for client in silent:
            client.close()
    time.sleep(0.5)
    server_still_serves(tv_ioc.server_port)
    connections = psutil.Process(tv_ioc.pid).net_connections('tcp') \
        if hasattr(psutil.Process, 'net_connections') else \
        psutil.Process(tv_ioc.pid).connections('tcp')
    established = [c for c in connections
                   if c.status == psutil.CONN_ESTABLISHED]
    assert len(established) < 10, len(established)
