"""The ceiling for big-array reads: raw Python ``recv_into`` over loopback.

Usage: ``python reference_runner.py '<json spec>'`` (started by benchmarks.run).

Mimics a CA read of a big array without any protocol: a separate sender
process (like the IOC) answers each one-byte request with ``nbytes`` bytes;
this process receives them into one preallocated buffer with ``recv_into``.
No Python client can read an array faster than this on the same machine.
"""
from __future__ import annotations

import socket
import subprocess
import sys
import time

import _common
from _common import median

SENDER = r'''
import socket, sys
port, nbytes = int(sys.argv[1]), int(sys.argv[2])
payload = bytes(nbytes)
with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
    while sock.recv(1):
        sock.sendall(payload)
'''


def array_read(count: int, reads: int, max_seconds: float, timeout: float) -> dict:
    nbytes = count * 8
    with socket.socket() as listener:
        listener.bind(('127.0.0.1', 0))
        listener.listen(1)
        listener.settimeout(timeout)
        sender = subprocess.Popen(
            [sys.executable, '-c', SENDER, str(listener.getsockname()[1]),
             str(nbytes)], stdin=subprocess.DEVNULL)
        try:
            conn, _ = listener.accept()
            with conn:
                conn.settimeout(timeout)
                buffer = bytearray(nbytes)
                view = memoryview(buffer)

                def one_read() -> float:
                    t0 = time.perf_counter()
                    conn.sendall(b'r')
                    received = 0
                    while received < nbytes:
                        got = conn.recv_into(view[received:])
                        if not got:
                            raise ConnectionError('sender closed early')
                        received += got
                    return time.perf_counter() - t0

                one_read()  # warm-up
                times = []
                stop_at = time.monotonic() + max_seconds
                while len(times) < reads and (len(times) < 2
                                              or time.monotonic() < stop_at):
                    times.append(one_read())
        finally:
            sender.kill()
            sender.wait(10)
    return {'array_mb_per_s': nbytes / 1e6 / median(times),
            'array_reads': len(times)}


if __name__ == '__main__':
    _common.run(lambda: {'array_read': array_read})
