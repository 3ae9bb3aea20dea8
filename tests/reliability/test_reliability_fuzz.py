"""Mutation fuzzing of every entry point that parses bytes from a peer.

Where tests/test_framing_fuzz.py checks the framing functions on their
own, these tests start from *valid* conversations (a real client's
requests, a real server's replies, beacons and search replies) and mutate
them: bit flips, overwritten header fields, truncation, spliced garbage and
random chunking.  The bytes then go through the whole receive path of each
consumer:

* the core circuit (``VirtualCircuit.recv`` + ``process_command``), both
  roles;
* the threading client's receive transport (``StreamTransport``, the
  zero-copy arena) fed through a real socketpair;
* the server's circuit (``ServerCircuit.data_received``) with a recording
  transport, inside an asyncio loop, and its UDP search handler
  (``Context.udp_search_replies``);
* the core broadcaster (``Broadcaster.recv``/``search_results``) and the
  beacon history;
* the repeater's datagram rules (``parse_datagram``,
  ``fill_beacon_address``) and ``Repeater.handle_datagram``.

The contract (docs/architecture.md): a bad byte from the peer raises
``RemoteProtocolError`` (or is refused with a logged reason by the I/O
shells); nothing else escapes, nothing corrupts later use of what parsed.
"""
import asyncio
import functools
import socket
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cawire.protocol import _commands as cmds
from cawire.protocol._beacon_history import BeaconHistory
from cawire.protocol._broadcaster import Broadcaster
from cawire.protocol._circuit import ClientChannel, VirtualCircuit
from cawire.protocol._enums import ChannelType
from cawire.protocol._exceptions import CaprotoError, RemoteProtocolError
from cawire.protocol._framing import parse_stream
from cawire.protocol._state import CLIENT, SERVER

FUZZ = settings(max_examples=250, deadline=None,
                suppress_health_check=[HealthCheck.too_slow,
                                       HealthCheck.data_too_large])

# -- valid conversations ---------------------------------------------------------

CLIENT_STREAM = b''.join(bytes(c) for c in (
    cmds.VersionRequest(0, 13), cmds.ClientNameRequest('fuzz'),
    cmds.HostNameRequest('localhost'),
    cmds.CreateChanRequest('tv:double', 1, 13),
    cmds.CreateChanRequest('tv:string_array', 2, 13),
    cmds.ReadNotifyRequest(ChannelType.TIME_DOUBLE, 1, 0, 100),
    cmds.WriteNotifyRequest([2.5], ChannelType.DOUBLE, 1, 0, 101),
    cmds.WriteRequest(['a', 'b'], ChannelType.STRING, 2, 1, 102),
    cmds.EventAddRequest(ChannelType.CTRL_DOUBLE, 1, 0, 103, 0, 0, 0, 5),
    cmds.EventsOffRequest(), cmds.EventsOnRequest(),
    cmds.EchoRequest(), cmds.ReadSyncRequest(),
    cmds.EventCancelRequest(ChannelType.CTRL_DOUBLE, 0, 103),
    cmds.ReadNotifyRequest(ChannelType.STRING, 0, 1, 104),
    cmds.ClearChannelRequest(1, 2),
))

SERVER_STREAM = b''.join(bytes(c) for c in (
    cmds.VersionResponse(13),
    cmds.AccessRightsResponse(1, 3),
    cmds.CreateChanResponse(ChannelType.DOUBLE, 1, 1, 10),
    cmds.AccessRightsResponse(2, 1),
    cmds.CreateChanResponse(ChannelType.STRING, 3, 2, 20),
    cmds.ReadNotifyResponse([3.14159], ChannelType.TIME_DOUBLE, 1, 1, 100),
    cmds.EventAddResponse([1.0], ChannelType.DOUBLE, 1, 1, 102),
    cmds.WriteNotifyResponse(ChannelType.DOUBLE, 1, 1, 101),
    cmds.EventAddResponse(list(range(2000)), ChannelType.DOUBLE, 2000, 1, 102),
    cmds.ErrorResponse(cmds.ReadNotifyRequest(6, 1, 20, 103), 2, 1, 'boom'),
    cmds.EchoResponse(),
    cmds.AccessRightsResponse(1, 1),
    cmds.EventCancelResponse(ChannelType.DOUBLE, 10, 102, 0),
    cmds.ServerDisconnResponse(2),
))

HEADER_FIELD_OFFSETS = (0, 2, 4, 6, 8, 12)


@st.composite
def mutated(draw, stream, max_ops=4):
    """``stream`` with a few random mutations."""
    data = bytearray(stream)
    for _ in range(draw(st.integers(0, max_ops))):
        kind = draw(st.sampled_from(
            ['flip', 'field', 'truncate', 'insert', 'delete', 'huge']))
        if not data:
            break
        pos = draw(st.integers(0, len(data) - 1))
        if kind == 'flip':
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif kind == 'field':
            # Overwrite a 16/32-bit header-like field with an edge value.
            value = draw(st.sampled_from([0, 1, 7, 13, 0xFFFF, 0xFFFF_FFFF,
                                         0x7FFF_FFFF, 0x8000_0000, 1 << 16]))
            width = draw(st.sampled_from([2, 4]))
            pos -= pos % 8
            if pos + width <= len(data):
                data[pos:pos + width] = (value & ((1 << 8 * width) - 1)
                                         ).to_bytes(width, 'big')
        elif kind == 'truncate':
            del data[pos:]
        elif kind == 'insert':
            data[pos:pos] = draw(st.binary(min_size=1, max_size=40))
        elif kind == 'delete':
            del data[pos:pos + draw(st.integers(1, 24))]
        elif kind == 'huge':
            # An extended header announcing up to 4 GB.
            pos -= pos % 8
            data[pos:pos] = struct.pack(
                '>HHHHIIII', draw(st.sampled_from([1, 4, 15, 19])), 0xFFFF,
                6, 0, 1, 1, draw(st.sampled_from([0xFFFF_FFF0, 1 << 31, 8])),
                draw(st.sampled_from([0xFFFF_FFFF, 1, 0])))
    return bytes(data)


@st.composite
def chunked(draw, data):
    """``data`` cut at random points."""
    cuts = sorted(set(draw(st.lists(st.integers(0, len(data)), max_size=8))))
    bounds = [0, *cuts, len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:]) if b > a]


def touch(command):
    """Use a parsed command as a consumer would."""
    repr(command)
    bytes(command)
    for name in ('data', 'metadata', 'name', 'error_message',
                 'original_request', 'status', 'data_type'):
        try:
            getattr(command, name, None)
        except RemoteProtocolError:
            pass


# -- core circuit, both roles ---------------------------------------------------------

def client_circuit():
    circuit = VirtualCircuit(CLIENT, ('127.0.0.1', 5064), 0)
    one = ClientChannel('tv:double', circuit, 1)
    two = ClientChannel('tv:string_array', circuit, 2)
    circuit.send(one.version(), one.create(), two.create())
    return circuit, one, two


def drive(circuit, chunks):
    """Feed chunks; returns the number of commands processed; only
    RemoteProtocolError may come out (and ends the conversation)."""
    processed = 0
    try:
        for chunk in chunks:
            commands, _ = circuit.recv(chunk)
            for command in commands:
                touch(command)
                circuit.process_command(command)
                processed += 1
    except RemoteProtocolError:
        pass
    return processed


def test_unmutated_client_conversation_is_valid():
    circuit, one, two = client_circuit()
    # The rest of the stream names ioids/subscriptions this circuit never
    # issued; the valid baseline is the handshake part.
    handshake = SERVER_STREAM[:16 + 16 * 4]
    assert drive(circuit, [handshake]) == 5
    assert one.sid == 10 and two.sid == 20


@FUZZ
@given(data=st.data())
def test_client_circuit_survives_mutated_server_stream(data):
    circuit, one, two = client_circuit()
    stream = data.draw(mutated(SERVER_STREAM))
    drive(circuit, data.draw(chunked(stream)))


@FUZZ
@given(data=st.data())
def test_server_circuit_survives_mutated_client_stream(data):
    circuit = VirtualCircuit(SERVER, ('127.0.0.1', 40000), None)
    stream = data.draw(mutated(CLIENT_STREAM))
    drive(circuit, data.draw(chunked(stream)))


@FUZZ
@given(chunks=st.lists(st.binary(max_size=64), max_size=8),
       role=st.sampled_from([CLIENT, SERVER]))
def test_circuits_survive_random_bytes(chunks, role):
    circuit = (client_circuit()[0] if role is CLIENT
               else VirtualCircuit(SERVER, ('127.0.0.1', 40000), None))
    drive(circuit, chunks)


# -- threading client's receive transport -------------------------------------------

class _FakeLoop:
    """The three NetworkLoop methods StreamTransport uses on receive."""

    def in_loop_thread(self):
        return True

    def call_soon(self, func, *args):
        func(*args)

    def unregister(self, sock):
        pass

    def set_writable_handler(self, sock, handler):
        pass


#: Largest receive buffer the fuzz tests let the transport allocate; the
#: announced-size problem has its own test below, the fuzz must not take
#: gigabytes from the test machine while looking for other problems.
_ALLOCATION_GUARD = 64 * 1024 * 1024


class _GuardedBytearray(bytearray):
    allocations: list = []

    def __init__(self, *args):
        if args and isinstance(args[0], int):
            self.allocations.append(args[0])
            if args[0] > _ALLOCATION_GUARD:
                raise MemoryError(f'test refused bytearray({args[0]})')
        super().__init__(*args)


def _transport_receive(chunks, max_message=None):
    """Feed ``chunks`` through a StreamTransport on a socketpair.

    Raises MemoryError if the transport asks for a buffer over
    ``_ALLOCATION_GUARD`` bytes.
    """
    from cawire.protocol import _receive_arena
    from cawire.threading import _transport
    received, closed = [], []
    near, far = socket.socketpair()
    _GuardedBytearray.allocations = []
    # The transport's receive buffers come from the core's arena.
    _receive_arena.bytearray = _GuardedBytearray  # type: ignore[attr-defined]
    try:
        near.setblocking(False)
        transport = _transport.StreamTransport(
            _FakeLoop(), near, parse=functools.partial(parse_stream,
                                                       role=CLIENT),
            on_commands=received.extend, on_closed=closed.append,
            max_message=max_message)
        for chunk in chunks:
            far.sendall(chunk)
            # Drain what is in the socket: bounded by the bytes sent.
            for _ in range(len(chunk) + 4):
                before = transport.bytes_received
                transport.on_readable()
                if transport.closed or transport.bytes_received == before:
                    break
            if transport.closed:
                break
        return received, closed, transport
    finally:
        del _receive_arena.bytearray  # type: ignore[attr-defined]
        near.close()
        far.close()


@FUZZ
@given(data=st.data())
def test_transport_reassembles_any_chunking_zero_copy(data):
    """Valid stream, random chunk boundaries: the commands are exactly those
    of a one-shot parse, and every payload view stays intact after later
    receives (the arena is never overwritten)."""
    stream = SERVER_STREAM * data.draw(st.integers(1, 3))
    expected, consumed, _ = parse_stream(stream, CLIENT)
    assert consumed == len(stream)
    received, closed, _ = _transport_receive(data.draw(chunked(stream)))
    assert not closed
    assert [bytes(c) for c in received] == [bytes(c) for c in expected]


@FUZZ
@given(data=st.data())
def test_transport_survives_mutated_stream(data):
    stream = data.draw(mutated(SERVER_STREAM))
    limit = data.draw(st.sampled_from([None, 16384 + 24]))
    try:
        received, closed, transport = _transport_receive(
            data.draw(chunked(stream)), max_message=limit)
    except MemoryError:
        # The announced-size allocation (see the dedicated test below).
        return
    for command in received:
        touch(command)
    if closed:
        assert closed[0].startswith('protocol error from server'), closed


def test_transport_does_not_allocate_announced_size():
    """A header announcing 4 GB followed by 64 bytes: the receive buffer
    must not grow to the announced size (a hostile server would make every
    client allocate 4 GB).  With EPICS_CA_AUTO_ARRAY_BYTES=YES (default) the
    client has no configured limit, so the only safe behaviour is to grow
    the buffer with what actually arrives."""
    header = struct.pack('>HHHHIIII', 15, 0xFFFF, 6, 0, 1, 1, 0xFFFF_FFF0,
                         0x1FFF_FFFE)
    try:
        _transport_receive([header + bytes(64)])
    except MemoryError as exc:
        pytest.fail(f'the receive path tried to allocate the announced '
                    f'size: {exc}')
    assert max(_GuardedBytearray.allocations) <= _ALLOCATION_GUARD


# -- server circuit (asyncio protocol) -----------------------------------------------

class _RecordingTransport(asyncio.Transport):
    def __init__(self):
        super().__init__()
        self.written = []
        self.closed = False
        self.reading = True

    def get_extra_info(self, name, default=None):
        return {'peername': ('127.0.0.1', 40000)}.get(name, default)

    def set_write_buffer_limits(self, high=None, low=None):
        pass

    def get_write_buffer_size(self):
        return 0

    def write(self, data):
        assert not self.closed, 'write after close'
        self.written.append(bytes(data))

    def pause_reading(self):
        self.reading = False

    def resume_reading(self):
        self.reading = True

    def is_closing(self):
        return self.closed

    def close(self):
        self.closed = True


@functools.lru_cache(maxsize=1)
def _server_pvdb():
    from cawire.ioc_examples.type_varieties import TypeVarietiesIOC
    return TypeVarietiesIOC(prefix='tv:').pvdb


def _run_server_circuit(chunks):
    from cawire.server._circuit import ServerCircuit
    from cawire.server._server import Context as ServerContext
    from cawire.config import Config
    errors = []

    async def main():
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda loop, ctx: errors.append(ctx))
        server = ServerContext(_server_pvdb(), ['127.0.0.1'],
                               config=Config.from_environ({}))
        circuit = ServerCircuit(server)
        transport = _RecordingTransport()
        circuit.connection_made(transport)
        for chunk in chunks:
            if transport.closed:
                break
            circuit.data_received(chunk)
            await asyncio.sleep(0)
        for _ in range(3):
            await asyncio.sleep(0)
        if not transport.closed:
            circuit.connection_lost(None)
        else:
            circuit.connection_lost(None)
        # Everything written parses as complete client-bound messages.
        output = b''.join(transport.written)
        commands, consumed, _ = parse_stream(output, CLIENT)
        assert consumed == len(output)
        for command in commands:
            touch(command)
        return commands, transport

    result = asyncio.run(main())
    assert not errors, errors
    return result


def test_server_circuit_answers_the_unmutated_stream():
    commands, transport = _run_server_circuit([CLIENT_STREAM])
    kinds = [type(c).__name__ for c in commands]
    assert kinds.count('CreateChanResponse') == 2, kinds
    assert 'ReadNotifyResponse' in kinds and 'WriteNotifyResponse' in kinds
    assert not transport.closed


@FUZZ
@given(data=st.data())
def test_server_circuit_survives_mutated_stream(data):
    stream = data.draw(mutated(CLIENT_STREAM))
    _run_server_circuit(data.draw(chunked(stream)))


@FUZZ
@given(chunks=st.lists(st.binary(max_size=80), max_size=6))
def test_server_circuit_survives_random_bytes(chunks):
    _run_server_circuit(chunks)


SEARCH_DATAGRAM = b''.join(bytes(c) for c in (
    cmds.VersionRequest(0, 13, sequence_id=7),
    cmds.SearchRequest('tv:double', 1, 13),
    cmds.SearchRequest('tv:nonexistent', 2, 13),
    cmds.SearchRequest('tv:long', 3, 13),
))


@FUZZ
@given(data=st.data())
def test_server_udp_search_handler_survives_mutations(data):
    from cawire.server._server import Context as ServerContext
    from cawire.config import Config
    server = ServerContext(_server_pvdb(), ['127.0.0.1'],
                           config=Config.from_environ({}))
    server.tcp_port = 5064
    datagram = data.draw(st.one_of(mutated(SEARCH_DATAGRAM),
                                   st.binary(max_size=200)))
    replies = server.udp_search_replies(datagram, ('127.0.0.1', 50000))
    for reply in replies:
        assert len(reply) <= 1024
        for command in Broadcaster(CLIENT).recv(reply, ('127.0.0.1', 5064)):
            touch(command)


# -- broadcaster and beacons -----------------------------------------------------------

CLIENT_DATAGRAM = b''.join(bytes(c) for c in (
    cmds.VersionResponse(13, sequence_id=3),
    cmds.SearchResponse(5064, None, 1, 13),
    cmds.SearchResponse(5065, '127.0.0.1', 2, 13),
    cmds.RsrvIsUpResponse(13, 5064, 4, '127.0.0.1'),
    cmds.RepeaterConfirmResponse('127.0.0.1'),
))


@FUZZ
@given(data=st.data())
def test_broadcaster_survives_mutated_datagrams(data):
    broadcaster = Broadcaster(CLIENT)
    history = BeaconHistory(0.0)
    datagram = data.draw(st.one_of(mutated(CLIENT_DATAGRAM),
                                   st.binary(max_size=200)))
    try:
        commands = broadcaster.recv(datagram, ('127.0.0.1', 5064))
        broadcaster.process_commands(commands)
    except RemoteProtocolError:
        return
    for command in commands:
        touch(command)
    for result in broadcaster.search_results(commands):
        host, port = result.address
        socket.inet_aton(host)
        assert 0 <= port <= 0xFFFF
    for now, command in enumerate(commands, 1):
        if isinstance(command, cmds.RsrvIsUpResponse):
            try:
                address = (command.address, command.server_port)
            except CaprotoError:
                continue
            history.beacon(address, float(now), command.beacon_id,
                           command.version)


# -- repeater ---------------------------------------------------------------------

REPEATER_DATAGRAMS = [
    b'',
    bytes(cmds.RepeaterRegisterRequest('127.0.0.1')),
    bytes(cmds.RsrvIsUpResponse(13, 5064, 4, '0.0.0.0')),
    bytes(cmds.RsrvIsUpResponse(13, 5064, 4, '0.0.0.0')) * 3,
]


@FUZZ
@given(data=st.data())
def test_repeater_rules_survive_any_datagram(data):
    from cawire.repeater import fill_beacon_address, parse_datagram
    datagram = data.draw(st.one_of(
        st.sampled_from(REPEATER_DATAGRAMS).flatmap(mutated),
        st.binary(max_size=100)))
    register, forward = parse_datagram(datagram)
    assert isinstance(register, bool) and len(forward) <= len(datagram)
    filled = fill_beacon_address(forward, '127.0.0.1')
    assert len(filled) == len(forward)


def test_repeater_handle_datagram_survives_fuzzed_traffic():
    """A real Repeater (own free port) with two of our sockets registered
    handles a few thousand mutated datagrams without raising, and keeps
    relaying beacons afterwards."""
    import random
    from cawire.repeater import Repeater
    from cawire.testing.epics import free_port
    rng = random.Random(1234)
    listeners = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                 for _ in range(2)]
    try:
        for sock in listeners:
            sock.bind(('127.0.0.1', 0))
            sock.setblocking(False)
        with Repeater(free_port()) as repeater:
            sources = [sock.getsockname() for sock in listeners]
            for source in sources:
                repeater.handle_datagram(b'', source)
            for _ in range(3000):
                base = bytearray(rng.choice(REPEATER_DATAGRAMS) or b'\0' * 16)
                for _ in range(rng.randint(0, 3)):
                    if base:
                        base[rng.randrange(len(base))] = rng.randrange(256)
                if rng.random() < 0.2:
                    del base[rng.randrange(len(base) + 1):]
                repeater.handle_datagram(bytes(base), rng.choice(sources))
                # Keep the listeners' receive queues short.
                for sock in listeners:
                    try:
                        while sock.recv(2048):
                            pass
                    except BlockingIOError:
                        pass
            assert set(repeater.clients) == set(sources)
            beacon = bytes(cmds.RsrvIsUpResponse(13, 5064, 9, '0.0.0.0'))
            repeater.handle_datagram(beacon, ('127.0.0.1', 5064))
            for sock in listeners:
                sock.settimeout(2)
                while True:
                    got = sock.recv(2048)
                    if got[:2] == b'\x00\x0d':
                        break
                assert got[12:16] == socket.inet_aton('127.0.0.1')
    finally:
        for sock in listeners:
            sock.close()
