"""What every client runner shares: the spec, the result line, the probes.

A runner is started as ``python <client>_runner.py '<json spec>'`` in a fresh
process, measures one metric and prints one ``@@RESULT {json}`` line (or
``@@ERROR message``). The monitor metric also talks with the harness: it
prints ``@@READY`` once subscribed and warmed up, waits for ``GO`` on stdin,
measures for the window and then reports, so the harness can read the IOC's
own counters just before and just after the window.

Runners end with ``os._exit`` so a client that is hopelessly behind (its
queues full of stale updates) cannot hold the run hostage while shutting down.
"""
from __future__ import annotations

import json
import os
import sys
import time
import traceback
from collections.abc import Callable

RESULT, ERROR, READY = '@@RESULT ', '@@ERROR ', '@@READY'
PAGE_SIZE = os.sysconf('SC_PAGE_SIZE')


def rss_bytes() -> int:
    """Resident set size of this process, from /proc (no psutil needed)."""
    with open('/proc/self/statm') as statm:
        return int(statm.read().split()[1]) * PAGE_SIZE


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    index = min(len(sorted_values) - 1,
                max(0, round(fraction * len(sorted_values)) - 1))
    return sorted_values[index]


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def wait_until(predicate: Callable[[], bool], timeout: float,
               interval: float = 0.001) -> bool:
    """Poll ``predicate`` until true or ``timeout`` seconds; return its state."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
    return True


def wait_caught_up(lag: Callable[[], float | None], timeout: float,
                   threshold: float = 0.1) -> float | None:
    """Wait (bounded) until the client delivers updates less than
    ``threshold`` seconds old; return the last lag seen.

    Without this a client still working off the initial subscription burst
    when the window opens would deliver more than the IOC posts during the
    window (a fraction above 1). A client that never catches up is measured
    anyway, after ``timeout``: then it is genuinely behind.
    """
    deadline = time.monotonic() + timeout
    while True:
        current = lag()
        if current is not None and current < threshold:
            return current
        if time.monotonic() > deadline:
            return current
        time.sleep(0.05)


def wait_for_go(timeout: float = 120.0) -> None:
    """Tell the harness we are ready and block until it says GO."""
    print(READY, flush=True)
    # stdin is a pipe from the harness; readline blocks, the harness bounds it
    # (it kills the runner after its own timeout).
    line = sys.stdin.readline()
    if line.strip() != 'GO':
        raise RuntimeError(f'expected GO from the harness, got {line!r}')


class MonitorWindow:
    """Counters sampled at the start and the end of the measurement window."""

    def __init__(self, count: Callable[[], int]):
        self._count = count

    def start(self) -> None:
        self.t0 = time.perf_counter()
        self.cpu0 = time.process_time()
        self.rss0 = rss_bytes()
        self.n0 = self._count()

    def stop(self, latest_stamp: float | None) -> dict:
        n1 = self._count()
        t1 = time.perf_counter()
        cpu1 = time.process_time()
        now = time.time()
        rss1 = rss_bytes()
        delivered = n1 - self.n0
        elapsed = t1 - self.t0
        return {
            'delivered': delivered,
            'window_s': elapsed,
            'delivered_per_s': delivered / elapsed,
            'cpu_s': cpu1 - self.cpu0,
            'cpu_us_per_update': (1e6 * (cpu1 - self.cpu0) / delivered
                                  if delivered else None),
            'lag_s': None if latest_stamp is None else now - latest_stamp,
            'rss_start_mb': self.rss0 / 1e6,
            'mem_growth_mb': (rss1 - self.rss0) / 1e6,
        }


def expand_names(params: dict) -> dict:
    """Expand ``{"name_format": "p:{:05d}", "count": n}`` values into lists.

    Ten thousand names do not fit in one command-line argument (Linux caps a
    single argument at 128 KiB), so the harness sends the pattern instead.
    """
    return {key: ([value['name_format'].format(i) for i in range(value['count'])]
                  if isinstance(value, dict) and 'name_format' in value else value)
            for key, value in params.items()}


def run(metrics: Callable[[], dict[str, Callable[..., dict]]]) -> None:
    """Entry point of a runner: dispatch the spec in argv[1], print the result.

    ``metrics`` builds the metric table (it imports the client, so an import
    failure is reported like any other error).
    """
    try:
        spec = json.loads(sys.argv[1])
        function = metrics()[spec['metric']]
        result = function(**expand_names(spec['params']))
    except BaseException as exc:  # report anything, including KeyboardInterrupt
        sys.stderr.write(traceback.format_exc())
        message = f'{type(exc).__name__}: {exc}'.replace('\n', ' ')[:300]
        print(ERROR + message, flush=True)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(1)
    print(RESULT + json.dumps(result), flush=True)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
