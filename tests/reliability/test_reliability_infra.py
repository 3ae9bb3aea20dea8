"""The fault-injection tools themselves (cawire.testing.faults): they do
what they claim and leave no thread or socket behind."""
import socket
import struct
import threading
import time

import pytest

from cawire.testing.epics import LOOPBACK, free_port
from cawire.testing.faults import (ATTACKS, DOWN, FaultProxy,
                                   HostileClient, HostileServer, open_fds)


class EchoServer:
    """A TCP echo server plus a UDP responder answering every datagram
    with a fake search reply naming its own port."""

    def __init__(self):
        self.port = free_port()
        self.tcp = socket.create_server((LOOPBACK, self.port))
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind((LOOPBACK, self.port))
        self.tcp.settimeout(0.1)
        self.udp.settimeout(0.1)
        self.closed = False
        self.conns = []
        self.threads = [threading.Thread(target=self._accept),
                        threading.Thread(target=self._answer)]
        for thread in self.threads:
            thread.start()

    def _accept(self):
        while not self.closed:
            try:
                conn, _ = self.tcp.accept()
            except (socket.timeout, OSError):
                continue
            self.conns.append(conn)
            thread = threading.Thread(target=self._echo, args=(conn,))
            self.threads.append(thread)
            thread.start()

    def _echo(self, conn):
        conn.settimeout(0.1)
        while not self.closed:
            try:
                data = conn.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            if not data:
                return
            conn.sendall(data)

    def _answer(self):
        while not self.closed:
            try:
                data, source = self.udp.recvfrom(2048)
            except (socket.timeout, OSError):
                continue
            reply = struct.pack('>HHHHII', 6, 8, self.port, 0, 0xFFFFFFFF,
                                1) + bytes(8)
            self.udp.sendto(reply, source)

    def close(self):
        self.closed = True
        for sock in [self.tcp, self.udp, *self.conns]:
            sock.close()
        for thread in list(self.threads):
            thread.join(5)


@pytest.fixture
def echo():
    server = EchoServer()
    yield server
    server.close()


def search_datagram():
    return struct.pack('>HHHHII', 6, 8, 5, 13, 1, 1) + b'abc\0' + bytes(4)


def test_proxy_rewrites_search_replies_and_drops(echo):
    threads_before = set(threading.enumerate())
    fds_before = open_fds()
    with FaultProxy(echo.port, search_drop=0.5, seed=3) as proxy:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            client.settimeout(0.3)
            answered = 0
            for _ in range(40):
                client.sendto(search_datagram(), (LOOPBACK, proxy.port))
                try:
                    reply, _ = client.recvfrom(2048)
                except socket.timeout:
                    continue
                answered += 1
                # The reply names the proxy's TCP port, not the server's.
                assert struct.unpack_from('>H', reply, 4)[0] == proxy.port
        assert len(proxy.search_log) == 40
        dropped = proxy.search_datagrams_dropped
        assert 8 <= dropped <= 32 and answered == 40 - dropped
    assert set(threading.enumerate()) <= threads_before | set(echo.threads)
    assert open_fds() <= fds_before


def test_proxy_delays_pauses_and_throttles_tcp(echo):
    with FaultProxy(echo.port, tcp_delay=0.1) as proxy:
        with socket.create_connection((LOOPBACK, proxy.port), 2) as conn:
            started = time.monotonic()
            conn.sendall(b'x' * 8)
            assert conn.recv(8) == b'x' * 8
            assert time.monotonic() - started >= 0.2  # 0.1 each way
            proxy.tcp_delay = 0.0
            proxy.pause(DOWN)
            conn.sendall(b'y' * 8)
            conn.settimeout(0.5)
            with pytest.raises(socket.timeout):
                conn.recv(8)
            proxy.resume(DOWN)
            conn.settimeout(2)
            assert conn.recv(8) == b'y' * 8
            proxy.throttle = 100_000  # bytes/s
            payload = b'z' * 50_000
            started = time.monotonic()
            conn.sendall(payload)
            got = b''
            while len(got) < len(payload):
                got += conn.recv(65536)
            assert got == payload
            assert time.monotonic() - started >= 0.4
            proxy.throttle = None
            # cut() resets every proxied connection.
            proxy.cut()
            conn.settimeout(2)
            try:
                data = conn.recv(8)
            except ConnectionResetError:
                data = b''
            assert data == b''


@pytest.mark.parametrize('attack', sorted(ATTACKS))
def test_hostile_server_attacks_on_request(attack):
    fds_before = open_fds()
    with HostileServer(attack) as server:
        with socket.create_connection((LOOPBACK, server.port), 2) as conn:
            conn.settimeout(2)
            assert conn.recv(16)[:2] == b'\x00\x00'  # VERSION at accept
            name = b'X\0' + bytes(6)
            conn.sendall(struct.pack('>HHHHII', 18, 8, 0, 0, 1, 13) + name)
            if ATTACKS[attack][0] == 'read':
                assert conn.recv(32)[:2] == b'\x00\x16'  # ACCESS_RIGHTS
                conn.sendall(struct.pack('>HHHHII', 15, 0, 6, 1, 1, 42))
            if attack == 'silent_create':
                with pytest.raises(socket.timeout):
                    conn.settimeout(0.5)
                    conn.recv(65536)
            elif attack == 'hangup_on_create':
                conn.settimeout(2)
                assert conn.recv(65536) == b''
            else:
                assert conn.recv(65536)
            assert server.attacks_sent == 1
    assert open_fds() <= fds_before


def test_hostile_client_against_a_listener():
    port = free_port()
    with socket.create_server((LOOPBACK, port)) as listener:
        with HostileClient(port) as client:
            peer, _ = listener.accept()
            with peer:
                handshake = peer.recv(4096)
                assert handshake[:2] == b'\x00\x00'
                client.send_lying_size()
                client.send_garbage(64)
                client.create_channels('PV', 3)
                peer.settimeout(1)
                received = b''
                # 4 GB header (24) + 64 bytes, 64 of garbage, 3 x CREATE_CHAN (24).
                while len(received) < 24 + 64 + 64 + 3 * 24:
                    received += peer.recv(65536)
                assert len(received) == 24 + 64 + 64 + 3 * 24
                assert received[:2] == b'\x00\x04'  # the lying WRITE
                peer.close()
                assert client.closed_by_server(timeout=2)
