"""Wire-level behaviour of the server, checked with raw CA commands.

Covers what the EPICS tools never exercise on their own: UDP reply
packing, TCP name-server searches, ERROR replies carrying the offending
header, EVENTS_OFF/ON, READ_SYNC/ECHO, count 0 and extended headers,
SERVER_DISCONN on shutdown.
"""
import socket
import struct
import time

import numpy as np
import pytest

from cawire.protocol import _commands as c
from cawire import ChannelType, SubscriptionType
from cawire.protocol._constants import DO_REPLY, DONT_REPLY
from cawire.protocol._framing import read_datagram
from cawire.protocol._state import CLIENT
from cawire.protocol._status import CAStatus
from cawire.server.testing import IocProcess, RawCircuit

pytestmark = pytest.mark.epics

TV = 'type_varieties:'
MASK = int(SubscriptionType.DBE_VALUE | SubscriptionType.DBE_ALARM)


@pytest.fixture(scope='module')
def ioc(ca_env):
    with IocProcess('cawire.ioc_examples.type_varieties',
                    repeater_port=ca_env.repeater_port) as process:
        yield process


@pytest.fixture
def counter(ca_env):
    with IocProcess('cawire.ioc_examples.fast_counter', '--rate', '200',
                    '--array_length', '10',
                    repeater_port=ca_env.repeater_port) as process:
        yield process


def search(port, names, sequence=7, first_cid=1):
    """Send one UDP search datagram; return all reply datagrams (0.5 s)."""
    request = bytes(c.VersionRequest(0, 13, sequence_id=sequence)) + b''.join(
        bytes(c.SearchRequest(name, first_cid + i, 13))
        for i, name in enumerate(names))
    assert len(request) <= 1024 or len(names) > 1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(('127.0.0.1', 0))
        sock.sendto(request, ('127.0.0.1', port))
        sock.settimeout(0.5)
        replies = []
        try:
            while True:
                replies.append(sock.recvfrom(65536)[0])
        except socket.timeout:
            pass
    return replies


def test_udp_search_answers_only_known_names(ioc):
    replies = search(ioc.server_port, [TV + 'double', 'nobody:here'])
    assert len(replies) == 1
    commands = read_datagram(replies[0], ('127.0.0.1', ioc.server_port), CLIENT)
    version, found = commands
    assert isinstance(version, c.VersionResponse)
    assert version.sequence_id == 7 and version.version == 13
    assert isinstance(found, c.SearchResponse)
    assert (found.cid, found.port, found.version) == (1, ioc.server_port, 13)
    assert search(ioc.server_port, ['nobody:here']) == []


def test_udp_search_replies_are_split_at_1024_bytes(ioc):
    names = [TV + 'double'] * 80
    # Several request datagrams' worth sent as one (servers must cope).
    replies = search(ioc.server_port, names, sequence=99)
    assert len(replies) > 1
    cids = []
    for datagram in replies:
        assert len(datagram) <= 1024
        commands = read_datagram(datagram, ('127.0.0.1', 0), CLIENT)
        assert isinstance(commands[0], c.VersionResponse)
        assert commands[0].sequence_id == 99
        cids.extend(command.cid for command in commands[1:])
    assert cids == list(range(1, 81))


def test_tcp_name_server_search(ioc):
    with RawCircuit(ioc.server_port) as circuit:
        circuit.send(c.SearchRequest(TV + 'double', 5, 13, reply=DO_REPLY),
                     c.SearchRequest('missing', 6, 13, reply=DO_REPLY),
                     c.SearchRequest('missing', 7, 13, reply=DONT_REPLY),
                     c.EchoRequest())
        found = circuit.expect(c.SearchResponse)
        assert (found.cid, found.port) == (5, ioc.server_port)
        missing = circuit.expect(c.NotFoundResponse)
        assert missing.cid == 6
        circuit.expect(c.EchoResponse)  # nothing for DONT_REPLY


def test_create_read_write_clear(ioc):
    with RawCircuit(ioc.server_port) as circuit:
        circuit.send(c.CreateChanRequest('missing', 9, 13))
        assert circuit.expect(c.CreateChFailResponse).cid == 9
        created = circuit.create_channel(TV + 'long_array', 1)
        assert (created.data_type, created.data_count) == (ChannelType.LONG, 8)
        sid = created.sid
        circuit.send(c.ReadNotifyRequest(ChannelType.LONG, 0, sid, 11))
        reply = circuit.expect(c.ReadNotifyResponse)
        assert reply.ioid == 11 and reply.status == CAStatus.ECA_NORMAL
        assert reply.data.tolist() == [1, -2, 300000]
        circuit.send(c.ReadNotifyRequest(ChannelType.TIME_DOUBLE, 5, sid, 12))
        reply = circuit.expect(c.ReadNotifyResponse)
        assert reply.data.tolist() == [1.0, -2.0, 300000.0, 0.0, 0.0]
        circuit.send(c.WriteNotifyRequest(np.array([7, 8]), ChannelType.LONG,
                                          2, sid, 13),
                     c.ReadRequest(ChannelType.STRING, 2, sid, 14),
                     c.ReadSyncRequest(), c.EchoRequest())
        assert circuit.expect(c.WriteNotifyResponse).status == CAStatus.ECA_NORMAL
        old_read = circuit.expect(c.ReadResponse)
        assert old_read.data == [b'7', b'8'] and old_read.sid == 1  # p1 = cid
        circuit.expect(c.ReadSyncResponse)
        circuit.expect(c.EchoResponse)
        circuit.send(c.ClearChannelRequest(sid, 1))
        cleared = circuit.expect(c.ClearChannelResponse)
        assert (cleared.sid, cleared.cid) == (sid, 1)


def test_large_array_uses_extended_header(ca_env):
    with IocProcess('cawire.ioc_examples.fast_counter', '--rate', '0',
                    '--array_length', '70000',
                    repeater_port=ca_env.repeater_port) as process:
        with RawCircuit(process.server_port) as circuit:
            sid = circuit.create_channel('fast_counter:array', 1).sid
            circuit.send(c.ReadNotifyRequest(ChannelType.DOUBLE, 0, sid, 1))
            reply = circuit.expect(c.ReadNotifyResponse, timeout=10)
            assert reply.data_count == 70000
            assert len(reply.header_bytes) == 24
            assert reply.data[-1] == 69999.0


def test_error_replies_carry_the_offending_header(ioc):
    with RawCircuit(ioc.server_port) as circuit:
        sid = circuit.create_channel(TV + 'double', 3).sid
        cancel = c.EventCancelRequest(ChannelType.DOUBLE, sid, 999)
        circuit.send(cancel)
        error = circuit.expect(c.ErrorResponse)
        assert error.status == CAStatus.ECA_BADMONID and error.cid == 3
        assert bytes(error.original_request) == bytes(cancel)[:16]
        write = c.WriteNotifyRequest([b'abc'], ChannelType.STRING, 1, sid, 4)
        circuit.send(write)
        assert circuit.expect(c.WriteNotifyResponse).status == \
            CAStatus.ECA_PUTFAIL
        circuit.send(c.WriteRequest([b'abc'], ChannelType.STRING, 1, sid, 3))
        error = circuit.expect(c.ErrorResponse)
        assert error.status == CAStatus.ECA_PUTFAIL and error.cid == 3
        assert error.original_request.command == 4
        # Compound types cannot be written.
        circuit.send(c.WriteNotifyRequest([1.0], ChannelType.TIME_DOUBLE, 1,
                                          sid, 5))
        assert circuit.expect(c.WriteNotifyResponse).status == \
            CAStatus.ECA_BADTYPE
        circuit.send(c.EchoRequest())
        circuit.expect(c.EchoResponse)  # still connected


def test_unknown_sid_closes_the_circuit_with_an_error(ioc):
    with RawCircuit(ioc.server_port) as circuit:
        circuit.send(c.ReadNotifyRequest(ChannelType.DOUBLE, 1, 12345, 1))
        error = circuit.expect(c.ErrorResponse)
        assert error.original_request.command == 15
        assert circuit.closed_by_server()


def test_subscription_masks_and_cancel(ioc):
    with RawCircuit(ioc.server_port) as circuit:
        sid = circuit.create_channel(TV + 'alarmed', 1).sid
        circuit.send(c.EventAddRequest(ChannelType.TIME_DOUBLE, 0, sid, 1, 0,
                                       0, 0, int(SubscriptionType.DBE_ALARM)),
                     c.EventAddRequest(ChannelType.DOUBLE, 0, sid, 2, 0, 0, 0,
                                       int(SubscriptionType.DBE_VALUE)))
        first = [circuit.expect(c.EventAddResponse) for _ in range(2)]
        assert {u.subscriptionid for u in first} == {1, 2}
        # 8.0 keeps HIGH/MINOR: value subscription only.
        circuit.send(c.WriteNotifyRequest([8.2], ChannelType.DOUBLE, 1, sid, 9))
        update = circuit.expect(c.EventAddResponse)
        assert (update.subscriptionid, update.data[0]) == (2, 8.2)
        circuit.expect(c.WriteNotifyResponse)
        circuit.send(c.WriteNotifyRequest([5.0], ChannelType.DOUBLE, 1, sid, 10))
        updates = [circuit.next() for _ in range(3)]
        events = sorted((u.subscriptionid, float(u.data[0]))
                        for u in updates if isinstance(u, c.EventAddResponse))
        assert events == [(1, 5.0), (2, 5.0)]
        circuit.send(c.EventCancelRequest(ChannelType.DOUBLE, sid, 2))
        ack = circuit.expect(c.EventCancelResponse)
        assert (ack.subscriptionid, ack.sid) == (2, sid)


def test_events_off_holds_only_the_latest_update(counter):
    with RawCircuit(counter.server_port) as circuit:
        sid = circuit.create_channel('fast_counter:count', 1).sid
        circuit.send(c.EventAddRequest(ChannelType.LONG, 1, sid, 1, 0, 0, 0,
                                       MASK))
        circuit.expect(c.EventAddResponse)
        circuit.send(c.EventsOffRequest())
        # Drain what was in flight before the server saw EVENTS_OFF.
        deadline = time.monotonic() + 0.3
        while time.monotonic() < deadline:
            try:
                circuit.next(0.05)
            except TimeoutError:
                pass
        with pytest.raises(TimeoutError):
            circuit.next(0.5)  # nothing while off (about 100 changes)
        circuit.send(c.EventsOnRequest(), c.ReadNotifyRequest(
            ChannelType.LONG, 1, sid, 77))
        update = circuit.expect(c.EventAddResponse)
        read = circuit.next()
        while not isinstance(read, c.ReadNotifyResponse):
            read = circuit.next()
        # One held update, the latest (the read happens just after it).
        assert 0 <= int(read.data[0]) - int(update.data[0]) <= 2


def test_server_disconn_on_shutdown(ca_env):
    process = IocProcess('cawire.ioc_examples.random_walk',
                         repeater_port=ca_env.repeater_port)
    try:
        with RawCircuit(process.server_port) as circuit:
            circuit.create_channel('random_walk:dt', 42)
            process.stop()  # SIGTERM: a clean shutdown
            notice = circuit.expect(c.ServerDisconnResponse)
            assert notice.cid == 42
            assert circuit.closed_by_server()
    finally:
        process.close()


def test_version_with_bad_priority_is_rejected(ioc):
    with RawCircuit(ioc.server_port, handshake=False) as circuit:
        circuit.send(struct.pack('>HHHHII', 0, 0, 100, 13, 0, 0))
        circuit.expect(c.VersionResponse)
        assert circuit.closed_by_server()


def test_search_replies_without_network():
    """Context.udp_search_replies: ignore list, pre-4.11 clients (no VERSION
    in the request: none in the reply), garbage after valid searches."""
    from cawire.config import Config
    from cawire.server import ChannelDouble, Context
    config = Config.from_environ({'EPICS_CAS_IGNORE_ADDR_LIST': '10.0.0.9'})
    context = Context({'a': ChannelDouble(value=1.0)}, config=config)
    context.tcp_port = 5999
    request = bytes(c.SearchRequest('a', 3, 13))
    replies = context.udp_search_replies(request, ('127.0.0.1', 40000))
    commands = read_datagram(replies[0], ('127.0.0.1', 5999), CLIENT)
    assert [type(cmd) for cmd in commands] == [c.SearchResponse]
    assert commands[0].port == 5999
    assert context.udp_search_replies(request, ('10.0.0.9', 40000)) == []
    versioned = bytes(c.VersionRequest(0, 13, sequence_id=5)) + request
    assert len(context.udp_search_replies(versioned + b'\xff' * 16,
                                          ('127.0.0.1', 1))) == 1


def test_slow_putter_delays_only_its_own_channel(ioc):
    with RawCircuit(ioc.server_port) as circuit:
        slow = circuit.create_channel(TV + 'slow', 1).sid
        fast = circuit.create_channel(TV + 'double', 2).sid
        started = time.monotonic()
        circuit.send(c.WriteNotifyRequest([5.0], ChannelType.DOUBLE, 1, slow, 1),
                     c.ReadNotifyRequest(ChannelType.DOUBLE, 1, slow, 2),
                     c.ReadNotifyRequest(ChannelType.DOUBLE, 1, fast, 3))
        first = circuit.expect(c.ReadNotifyResponse)
        assert first.ioid == 3 and time.monotonic() - started < 0.4
        assert circuit.expect(c.WriteNotifyResponse).ioid == 1
        readback = circuit.expect(c.ReadNotifyResponse)
        assert readback.ioid == 2 and readback.data[0] == 5.0
        assert time.monotonic() - started >= 0.5
