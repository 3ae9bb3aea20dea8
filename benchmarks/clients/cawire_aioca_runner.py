"""Benchmark runner for cawire.aioca (aioca's API on cawire).

Usage: ``python cawire_aioca_runner.py '<json spec>'`` (started by benchmarks.run).
"""
import _common
from _aioca_api import AiocaApiMetrics

if __name__ == '__main__':
    _common.run(lambda: AiocaApiMetrics('cawire.aioca').metrics())
