"""Our repeater (python -m cawire.repeater) under churn and garbage: many
short-lived registrations do not accumulate sockets, garbage does not stop
it, and a registered client still gets beacons afterwards."""
import os
import random
import socket
import struct
import sys
import time

import pytest

from cawire.testing import epics

pytestmark = pytest.mark.epics


def test_repeater_survives_registration_churn_and_garbage():
    port = epics.free_port()
    with epics.Repeater(port, argv=[sys.executable, '-m',
                                    'cawire.repeater']) as repeater:
        def fds():
            return len(os.listdir(f'/proc/{repeater.pid}/fd'))

        baseline = fds()
        for index in range(2000):
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.bind(('127.0.0.1', 0))
                sock.sendto(b'', ('127.0.0.1', port))
            if index % 200 == 0:
                time.sleep(0.01)
        rng = random.Random(3)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sprayer:
            for index in range(3000):
                sprayer.sendto(bytes(rng.getrandbits(8)
                                     for _ in range(rng.randrange(0, 48))),
                               ('127.0.0.1', port))
                if index % 200 == 0:
                    time.sleep(0.01)
        time.sleep(0.5)
        assert repeater.running()
        # Registrations of sockets that are gone are dropped, not kept.
        assert fds() <= baseline + 10, (baseline, fds())
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as listener:
            listener.bind(('127.0.0.1', 0))
            assert epics.register_with_repeater(listener, port)
            beacon = struct.pack('>HHHHII', 13, 0, 13, 5064, 7, 0)
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as server:
                server.sendto(beacon, ('127.0.0.1', port))
            listener.settimeout(2)
            deadline = time.monotonic() + 2
            while time.monotonic() < deadline:
                data = listener.recv(2048)
                if data[:2] == b'\x00\x0d':
                    break
            assert data[:2] == b'\x00\x0d'
            # The repeater filled in the beacon's source address.
            assert data[12:16] == socket.inet_aton('127.0.0.1')
