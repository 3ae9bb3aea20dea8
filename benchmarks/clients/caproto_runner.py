"""Benchmark runner for caproto's threading client (pure-Python peer).

Usage: ``python caproto_runner.py '<json spec>'`` (started by benchmarks.run).
"""
import _common
from _threading_api import ThreadingApiMetrics

if __name__ == '__main__':
    _common.run(lambda: ThreadingApiMetrics('caproto.threading.client').metrics())
