"""Benchmark runner for aioca (libca through epicscorelibs).

Usage: ``python aioca_runner.py '<json spec>'`` (started by benchmarks.run).
"""
import _common
from _aioca_api import AiocaApiMetrics

if __name__ == '__main__':
    _common.run(lambda: AiocaApiMetrics('aioca').metrics())
