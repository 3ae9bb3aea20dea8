"""One bad or slow client never hurts the others; memory stays bounded.

Every test runs its own IOC subprocess on fresh loopback ports and measures
the server from outside (its RSS through psutil, what clients receive).
"""
import socket
import struct
import threading
import time

import psutil
import pytest

from cawire.protocol import _commands as c
from cawire import ChannelType, SubscriptionType
from cawire.protocol._status import CAStatus
from cawire.server.testing import IocProcess, RawCircuit
from cawire.testing import epics

pytestmark = pytest.mark.epics

MASK = int(SubscriptionType.DBE_VALUE | SubscriptionType.DBE_ALARM)
TV = 'type_varieties:'


@pytest.fixture
def tv_ioc(ca_env):
    with IocProcess('cawire.ioc_examples.type_varieties',
                    repeater_port=ca_env.repeater_port) as ioc:
        yield ioc


def rss(process) -> int:
    return psutil.Process(process.pid).memory_info().rss


def read_double(port, name=TV + 'double'):
    with RawCircuit(port) as circuit:
        sid = circuit.create_channel(name, 1).sid
        circuit.send(c.ReadNotifyRequest(ChannelType.DOUBLE, 1, sid, 1))
        return float(circuit.expect(c.ReadNotifyResponse).data[0])


BAD_INPUTS = {
    'garbage': bytes(range(256)) * 4,
    'unknown_command': struct.pack('>HHHHII', 0xFFF0, 0, 0, 0, 0, 0),
    'misaligned_size': struct.pack('>HHHHII', 4, 13, 6, 1, 1, 1) + bytes(16),
    # Extended header announcing 2 GB: refused on sight, nothing allocated.
    'huge_extended_size': struct.pack('>HHHHIIII', 4, 0xFFFF, 6, 0, 1, 1,
                                      1 << 31, 1 << 28),
    # A WRITE claiming 100 doubles in an 8-byte payload.
    'count_beyond_payload': struct.pack('>HHHHII', 4, 8, 6, 100, 0, 1) +
    bytes(8),
    'obsolete_command': struct.pack('>HHHHII', 5, 0, 0, 0, 0, 0),
}


@pytest.mark.parametrize('kind', list(BAD_INPUTS))
def test_bad_input_closes_only_that_circuit(tv_ioc, kind):
    with RawCircuit(tv_ioc.server_port) as good:
        sid = good.create_channel(TV + 'double', 1).sid
        with RawCircuit(tv_ioc.server_port) as bad:
            bad.create_channel(TV + 'long', 1)
            bad.send(BAD_INPUTS[kind])
            assert bad.closed_by_server(), kind
        good.send(c.ReadNotifyRequest(ChannelType.DOUBLE, 1, sid, 2))
        assert float(good.expect(c.ReadNotifyResponse).data[0]) == 3.14159
    assert 'protocol error' in tv_ioc.output()


def test_lying_client_that_stalls_mid_message(tv_ioc):
    """A header promising more payload than is sent: the server waits for
    it without blocking anyone, and frees everything when the client goes."""
    with RawCircuit(tv_ioc.server_port) as liar:
        sid = liar.create_channel(TV + 'double_array', 1).sid
        header = struct.pack('>HHHHII', 4, 80, 6, 10, sid, 1)
        liar.send(header + bytes(8))  # 72 bytes short, forever
        for _ in range(5):
            assert read_double(tv_ioc.server_port) == 3.14159


def test_slow_reader_is_coalesced_and_others_keep_service(ca_env):
    with IocProcess('cawire.ioc_examples.fast_counter', '--rate', '1000',
                    '--array_length', '20000',
                    repeater_port=ca_env.repeater_port) as ioc:
        slow = RawCircuit(ioc.server_port, receive_buffer=4096)
        try:
            sid = slow.create_channel('fast_counter:array', 1).sid
            slow.send(c.EventAddRequest(ChannelType.DOUBLE, 0, sid, 1, 0, 0, 0,
                                        MASK))
            baseline = rss(ioc)
            # The slow client reads nothing for 3 s (3000 updates of 160 kB
            # = 480 MB offered) while a second client monitors the counter.
            with RawCircuit(ioc.server_port) as fast:
                fast_sid = fast.create_channel('fast_counter:count', 1).sid
                fast.send(c.EventAddRequest(ChannelType.LONG, 1, fast_sid, 1,
                                            0, 0, 0, MASK))
                received = 0
                deadline = time.monotonic() + 3
                while time.monotonic() < deadline:
                    if isinstance(fast.next(), c.EventAddResponse):
                        received += 1
                growth = rss(ioc) - baseline
            # Full service for the fast client (1 kHz for 3 s; generous bound
            # for a loaded test machine).
            assert received > 1000
            assert growth < 50e6, f'server grew {growth / 1e6:.1f} MB'
            # The slow client now drains. The array's first element is the
            # counter: had the server queued every update, the values would
            # be consecutive; instead the held update was replaced by newer
            # ones, so most of the ~3000 stalled values never arrive.
            values = []
            deadline = time.monotonic() + 1.5
            while time.monotonic() < deadline:
                update = slow.next(timeout=2)
                if isinstance(update, c.EventAddResponse):
                    values.append(int(update.data[0]))
            gaps = [b - a for a, b in zip(values, values[1:])]
            assert values and max(gaps) > 1000, gaps[:20]
            assert all(gap > 0 for gap in gaps)  # in order, latest wins
        finally:
            slow.close()


def test_hundred_concurrent_clients(tv_ioc):
    clients = [RawCircuit(tv_ioc.server_port) for _ in range(100)]
    try:
        sids = [client.create_channel(TV + 'long', 1).sid for client in clients]
        for client, sid in zip(clients, sids):
            client.send(c.EventAddRequest(ChannelType.LONG, 1, sid, 1, 0, 0, 0,
                                          MASK),
                        c.ReadNotifyRequest(ChannelType.STRING, 1, sid, 2))
        for client in clients:
            assert int(client.expect(c.EventAddResponse).data[0]) == -42
            assert client.expect(c.ReadNotifyResponse).data == [b'-42']
        writer = clients[0]
        writer.send(c.WriteNotifyRequest([1234], ChannelType.LONG, 1, sids[0], 3))
        for index, client in enumerate(clients):
            update = client.expect(c.EventAddResponse)
            assert int(update.data[0]) == 1234
        assert writer.expect(c.WriteNotifyResponse).status == CAStatus.ECA_NORMAL
    finally:
        for client in clients:
            client.close()
    # The real tools still get through afterwards.
    result = epics.run_tool('caget', TV + 'long', env=tv_ioc.env)
    assert result.stdout.split() == [TV + 'long', '1234']


def test_hundred_concurrent_caget_processes(tv_ioc):
    def get(results, index):
        result = epics.run_tool('caget', '-w', '5', TV + 'double',
                                env=tv_ioc.env, timeout=30)
        results[index] = result.stdout.split()

    results = [None] * 100
    threads = [threading.Thread(target=get, args=(results, i))
               for i in range(100)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert all(result == [TV + 'double', '3.14159'] for result in results)


def _beacons(sock, duration):
    """(arrival time, beacon id, port) of RSRV_IS_UP beacons for duration."""
    found = []
    deadline = time.monotonic() + duration
    while (remaining := deadline - time.monotonic()) > 0:
        sock.settimeout(remaining)
        try:
            data, _ = sock.recvfrom(65536)
        except socket.timeout:
            break
        for offset in range(0, len(data) - 15, 16):
            command, _, _, port, beacon_id, _ = struct.unpack_from(
                '>HHHHII', data, offset)
            if command == 13:
                found.append((time.monotonic(), beacon_id, port))
    return found


def test_restart_is_announced_by_beacons(ca_env):
    """Clients learn of a restart from the fast beacon burst (ids restart,
    gaps 0.02, 0.04, 0.08 ... s) relayed by the repeater."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(('127.0.0.1', 0))
        assert epics.register_with_repeater(sock, ca_env.repeater_port)
        with IocProcess('cawire.ioc_examples.random_walk',
                        repeater_port=ca_env.repeater_port,
                        EPICS_CAS_BEACON_PERIOD='1.0') as ioc:
            first = [b for b in _beacons(sock, 1.5) if b[2] == ioc.server_port]
            ioc.kill()
            ioc.stop()
            ioc.start()
            second = [b for b in _beacons(sock, 1.5) if b[2] == ioc.server_port]
    for burst in (first, second):
        ids = [beacon_id for _, beacon_id, _ in burst]
        assert ids[:5] == [0, 1, 2, 3, 4]
        gaps = [b[0] - a[0] for a, b in zip(burst, burst[1:5])]
        # 0.02, 0.04, 0.08, 0.16 s apart, each at least doubling.
        assert all(later > earlier * 1.5 for earlier, later in
                   zip(gaps, gaps[1:])), gaps
    # Beacons are capped at the beacon period (1 s here).
    late_gaps = [b[0] - a[0] for a, b in zip(first[6:], first[7:])]
    assert all(gap < 1.3 for gap in late_gaps)


def pyepics_follows_restart(name, port_file):
    import time
    import epics
    events = []
    pv = epics.PV(name, connection_callback=lambda pvname=None, conn=None,
                  **kw: events.append(conn))
    pv.wait_for_connection(timeout=5)
    events.append(('value', pv.get(timeout=5)))
    open(port_file, 'w').write('ready')
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline and events.count(True) < 2:
        time.sleep(0.05)
    events.append(('value', pv.get(timeout=5)))
    return events


def test_client_reconnects_after_restart(ca_env, tmp_path):
    flag = tmp_path / 'ready'
    with IocProcess('cawire.ioc_examples.type_varieties',
                    repeater_port=ca_env.repeater_port) as ioc:
        result = {}

        def run_client():
            result['events'] = epics.pyepics_run(
                pyepics_follows_restart, TV + 'double', str(flag),
                env=ioc.env, timeout=60)

        thread = threading.Thread(target=run_client)
        thread.start()
        deadline = time.monotonic() + 20
        while not flag.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert flag.exists()
        ioc.kill()
        ioc.stop()
        time.sleep(0.5)
        ioc.start()
        thread.join(60)
    events = result['events']
    assert events[0] is True and events[1] == ['value', 3.14159]
    assert False in events and events.count(True) == 2
    assert events[-1] == ['value', 3.14159]


def test_create_clear_10000_subscriptions_leaves_rss_flat(tv_ioc):
    """Create and clear 10,000 subscriptions one at a time, then 10,000
    live at once, nine rounds: the server's RSS stays flat (caproto keeps
    ~1.3 kB per subscription)."""
    with RawCircuit(tv_ioc.server_port) as circuit:
        sid = circuit.create_channel(TV + 'double', 1).sid

        def one_at_a_time(count, first_id):
            batch = 500
            for start in range(first_id, first_id + count, batch):
                ids = range(start, start + batch)
                circuit.send(*[command for subid in ids for command in (
                    c.EventAddRequest(ChannelType.TIME_DOUBLE, 1, sid, subid,
                                      0, 0, 0, MASK),
                    c.EventCancelRequest(ChannelType.TIME_DOUBLE, sid, subid))])
                for _ in ids:
                    circuit.expect(c.EventAddResponse)
                    circuit.expect(c.EventCancelResponse)

        def all_at_once(count, first_id):
            ids = range(first_id, first_id + count)
            circuit.send(*[c.EventAddRequest(ChannelType.TIME_DOUBLE, 1, sid,
                                             subid, 0, 0, 0, MASK)
                           for subid in ids])
            for _ in ids:
                circuit.expect(c.EventAddResponse)
            circuit.send(*[c.EventCancelRequest(ChannelType.TIME_DOUBLE, sid,
                                                subid) for subid in ids])
            for _ in ids:
                circuit.expect(c.EventCancelResponse)

        samples = []
        for round_number in range(9):
            first_id = 1 + 100_000 * round_number
            one_at_a_time(10_000, first_id)
            all_at_once(10_000, first_id + 50_000)
            samples.append(rss(tv_ioc))
        circuit.send(c.EchoRequest())
        circuit.expect(c.EchoResponse)
    # Rounds 0-2 warm the allocator up. Over the next five rounds (100,000
    # subscriptions created and cleared) RSS may step by an allocator arena
    # (1 MiB) but must not trend: allow 25 bytes per subscription (caproto
    # keeps ~1.3 kB, i.e. 130 MB here).
    growth = samples[-1] - samples[3]
    assert growth < 2_500_000, f'RSS samples {samples}'


def test_requests_from_a_client_that_stops_reading_are_all_answered(tv_ioc):
    """50,000 reads (20 MB of replies) sent without reading the replies:
    the server stops reading that client instead of buffering the replies,
    then answers every request, in order, once the client reads again."""
    total = 50_000
    baseline = rss(tv_ioc)
    with RawCircuit(tv_ioc.server_port, receive_buffer=4096) as circuit:
        sid = circuit.create_channel(TV + 'double_array', 1).sid
        requests = b''.join(bytes(c.ReadNotifyRequest(ChannelType.STRING, 10,
                                                      sid, ioid))
                            for ioid in range(total))
        sender = threading.Thread(target=circuit.sock.sendall,
                                  args=(requests,))
        sender.start()
        time.sleep(1.0)  # the server fills its buffer and stops reading
        server_rss = rss(tv_ioc)
        with RawCircuit(tv_ioc.server_port) as other:
            assert read_double(tv_ioc.server_port) == 3.14159
            other.send(c.EchoRequest())
            other.expect(c.EchoResponse)
        ioids = []
        while len(ioids) < total:
            reply = circuit.expect(c.ReadNotifyResponse, timeout=10)
            ioids.append(reply.ioid)
        sender.join(10)
    assert ioids == list(range(total))
    assert server_rss - baseline < 8e6  # it never held the 20 MB
