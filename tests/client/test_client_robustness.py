"""Bad input from a server closes only that server's circuit.

No real EPICS tool sends malformed messages, so a small scripted server
(UDP search replies + one TCP circuit) plays the misbehaving peer while the
session softIoc keeps serving on its own circuit.
"""
import logging
import selectors
import socket
import threading
import time

import pytest

from cawire.protocol import _commands as ca
from cawire.config import Config
from cawire.protocol._exceptions import DisconnectedError
from cawire.protocol._framing import parse_stream, read_datagram
from cawire.protocol._state import SERVER
from cawire.threading.client import Context, SharedBroadcaster

WAIT = 10.0


class ScriptedServer(threading.Thread):
    """Answers searches for FAKE:* and serves channels whose reads are
    answered by ``reply_to_read(request) -> bytes``."""

    def __init__(self, reply_to_read):
        super().__init__(daemon=True)
        self.reply_to_read = reply_to_read
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(('127.0.0.1', 0))
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.bind(('127.0.0.1', 0))
        self.tcp.listen(8)
        self.port = self.udp.getsockname()[1]
        self.tcp_port = self.tcp.getsockname()[1]
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.udp, selectors.EVENT_READ, 'udp')
        self.selector.register(self.tcp, selectors.EVENT_READ, 'accept')
        self.buffers = {}
        self.connections = 0
        self.stopping = False

    def run(self):
        while not self.stopping:
            for key, _ in self.selector.select(0.05):
                if key.data == 'udp':
                    self._on_search()
                elif key.data == 'accept':
                    conn, _ = self.tcp.accept()
                    self.connections += 1
                    conn.sendall(bytes(ca.VersionResponse(13)))
                    self.buffers[conn] = b''
                    self.selector.register(conn, selectors.EVENT_READ, 'conn')
                else:
                    self._on_tcp(key.fileobj)

    def _on_search(self):
        data, address = self.udp.recvfrom(65536)
        commands = read_datagram(data, address, SERVER)
        replies = []
        for command in commands:
            if isinstance(command, ca.VersionRequest):
                replies.append(ca.VersionResponse(
                    13, sequence_id=command.sequence_id or 0))
            elif isinstance(command, ca.SearchRequest) and \
                    command.name.startswith('FAKE:'):
                replies.append(ca.SearchResponse(self.tcp_port, None,
                                                 command.cid, 13))
        if len(replies) > 1:
            self.udp.sendto(b''.join(bytes(r) for r in replies), address)

    def _on_tcp(self, conn):
        try:
            data = conn.recv(65536)
        except OSError:
            data = b''
        if not data:
            self.selector.unregister(conn)
            conn.close()
            return
        buffer = self.buffers[conn] + data
        commands, consumed, _ = parse_stream(buffer, SERVER)
        self.buffers[conn] = bytes(buffer[consumed:])
        for command in commands:
            if isinstance(command, ca.CreateChanRequest):
                conn.sendall(bytes(ca.AccessRightsResponse(command.cid, 3)) +
                             bytes(ca.CreateChanResponse(6, 1, command.cid,
                                                         command.cid)))
            elif isinstance(command, ca.ReadNotifyRequest):
                conn.sendall(self.reply_to_read(command))

    def stop(self):
        self.stopping = True
        self.join(WAIT)
        for sock in list(self.buffers):
            sock.close()
        self.udp.close()
        self.tcp.close()
        self.selector.close()


def make_context(ca_env, server):
    config = Config.from_environ({
        'EPICS_CA_AUTO_ADDR_LIST': 'NO',
        'EPICS_CA_ADDR_LIST': f'127.0.0.1:{server.port} '
                              f'127.0.0.1:{ca_env.server_port}',
        'EPICS_CA_REPEATER_PORT': str(ca_env.repeater_port)})
    return Context(SharedBroadcaster(config=config), timeout=WAIT)


def misaligned_reply(request):
    # payload_size 3: not a multiple of 8 (libca aborts such a circuit).
    return (b'\x00\x0f\x00\x03\x00\x06\x00\x01' +
            (1).to_bytes(4, 'big') + request.ioid.to_bytes(4, 'big') + b'abc')


def unknown_command_reply(request):
    return bytes(16) .replace(b'\x00\x00', b'\x00\x63', 1)  # command 99


@pytest.mark.parametrize('reply', [misaligned_reply, unknown_command_reply])
def test_protocol_error_closes_only_that_circuit(ca_env, softioc, caplog,
                                                 reply):
    server = ScriptedServer(reply)
    server.start()
    ctx = make_context(ca_env, server)
    try:
        fake, good = ctx.get_pvs('FAKE:pv', 'TST:ai')
        fake.wait_for_connection()
        good.wait_for_connection()
        fake_circuit = fake.circuit_manager
        with caplog.at_level(logging.WARNING, logger='cawire.circ'):
            with pytest.raises(DisconnectedError):
                fake.read(timeout=WAIT)
        assert fake_circuit.dead.is_set()
        assert 'protocol error' in fake_circuit.close_reason
        assert 'protocol error' in caplog.text
        # The other server's circuit is untouched and the network thread
        # is alive.
        assert not good.circuit_manager.dead.is_set()
        assert good.read().data.tolist() == [3.14159]
        # The bad server's PV is searched for again, but only after the
        # disconnect governor's pause: no reconnect storm.
        assert fake_circuit.failed
        assert 'FAKE:pv' in {item.name for item in
                             list(ctx.broadcaster.unanswered_searches.values())}
        time.sleep(0.5)
        assert server.connections == 1
    finally:
        ctx.disconnect()
        server.stop()


@pytest.mark.parametrize('auto_array_bytes', ['YES', 'NO'])
def test_server_lying_about_payload_size_allocates_nothing_huge(
        ca_env, softioc, auto_array_bytes):
    # Announces a 4 GB payload with an extended header and sends nothing
    # more: the client must not allocate it (it waits; the read times out).
    def lying_reply(request):
        return (b'\x00\x0f\xff\xff\x00\x06\x00\x00' +
                (1).to_bytes(4, 'big') + request.ioid.to_bytes(4, 'big') +
                (0xFFFFFFF8).to_bytes(4, 'big') + (1).to_bytes(4, 'big'))

    server = ScriptedServer(lying_reply)
    server.start()
    config = Config.from_environ({
        'EPICS_CA_AUTO_ADDR_LIST': 'NO',
        'EPICS_CA_ADDR_LIST': f'127.0.0.1:{server.port}',
        'EPICS_CA_REPEATER_PORT': str(ca_env.repeater_port),
        'EPICS_CA_AUTO_ARRAY_BYTES': auto_array_bytes,
        'EPICS_CA_MAX_ARRAY_BYTES': '1000000'})
    ctx = Context(SharedBroadcaster(config=config), timeout=WAIT)
    try:
        fake, = ctx.get_pvs('FAKE:pv')
        fake.wait_for_connection()
        from cawire.protocol._exceptions import CaprotoTimeoutError, ErrorResponseReceived
        with pytest.raises((CaprotoTimeoutError, ErrorResponseReceived)):
            fake.read(timeout=0.5)
        transport = fake.circuit_manager.transport
        if auto_array_bytes == 'NO':
            # Read and thrown away: ECA_TOLARGE for the request.
            assert len(transport._arena) < 2_000_000
            assert transport.messages_discarded == 1
        else:
            # Waiting for the rest, with a buffer far below the 4 GB claimed.
            assert len(transport._arena) <= 64 * 1024 * 1024
            assert not fake.circuit_manager.dead.is_set()
    finally:
        ctx.disconnect()
        server.stop()
