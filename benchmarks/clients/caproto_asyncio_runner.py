"""Benchmark runner for caproto's asyncio client.

Usage: ``python caproto_asyncio_runner.py '<json spec>'`` (started by benchmarks.run).
"""
import _common
from _asyncio_api import AsyncioApiMetrics

if __name__ == '__main__':
    _common.run(lambda: AsyncioApiMetrics('caproto.asyncio.client').metrics())
