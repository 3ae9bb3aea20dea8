"""Benchmark runner for cawire's threading client with its callbacks on the
network thread (``Context(callbacks_on_network_thread=True)``).

Usage: ``python cawire_netthread_runner.py '<json spec>'`` (started by
benchmarks.run with ``--clients cawire-netthread``).  Same measuring code as
the cawire runner; only the Context option differs.
"""
import _common
from _threading_api import ThreadingApiMetrics

if __name__ == '__main__':
    _common.run(lambda: ThreadingApiMetrics(
        'cawire.threading.client', callbacks_on_network_thread=True).metrics())
