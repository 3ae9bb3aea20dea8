"""Benchmark runner for cawire's threading client.

Usage: ``python cawire_runner.py '<json spec>'`` (started by benchmarks.run).
Same measuring code as caproto's runner: the two clients share one API.
"""
import _common
from _threading_api import ThreadingApiMetrics

if __name__ == '__main__':
    _common.run(lambda: ThreadingApiMetrics('cawire.threading.client').metrics())
