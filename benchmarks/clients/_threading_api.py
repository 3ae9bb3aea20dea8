"""Metrics for clients with caproto's threading-client API (cawire, caproto).

cawire.threading.client and caproto.threading.client share one public API
(see docs/architecture.md), so the same code measures both: the runner
scripts only choose the module. Everything uses the documented API: Context,
get_pvs, PV.wait_for_connection/read/write/subscribe, Batch.
"""
from __future__ import annotations

import functools
import gc
import importlib
import itertools
import threading
import time

from _common import (MonitorWindow, median, percentile, rss_bytes,
                     wait_caught_up, wait_for_go, wait_until)


class ThreadingApiMetrics:
    """Each public method is one metric; keyword arguments come from the spec."""

    def __init__(self, module_name: str, **context_options):
        self.module_name = module_name
        self.client = importlib.import_module(module_name)
        # Extra Context() keywords of a client variant (cawire only).
        self.context_options = context_options

    def metrics(self) -> dict:
        return {'connect': self.connect, 'read_latency': self.read_latency,
                'bulk_read': self.bulk_read, 'write_notify': self.write_notify,
                'array_read': self.array_read, 'monitor': self.monitor}

    def _connected(self, ctx, names: list[str], timeout: float) -> list:
        pvs = ctx.get_pvs(*names, timeout=timeout)
        deadline = time.monotonic() + timeout
        for pv in pvs:
            pv.wait_for_connection(timeout=max(0.001, deadline - time.monotonic()))
        return pvs

    def connect(self, names: list[str], timeout: float) -> dict:
        ctx = self.client.Context(timeout=timeout, **self.context_options)
        gc.collect()
        rss0 = rss_bytes()
        t0 = time.perf_counter()
        pvs = self._connected(ctx, names, timeout)
        elapsed = time.perf_counter() - t0
        gc.collect()
        rss1 = rss_bytes()
        assert len(pvs) == len(names)
        return {'connect_s': elapsed,
                'mem_per_pv_kib': (rss1 - rss0) / len(names) / 1024}

    def read_latency(self, name: str, reads: int, warmup: int,
                     timeout: float) -> dict:
        ctx = self.client.Context(timeout=timeout, **self.context_options)
        pv, = self._connected(ctx, [name], timeout)
        for _ in range(warmup):
            pv.read().data
        samples = []
        clock = time.perf_counter_ns
        for _ in range(reads):
            t0 = clock()
            pv.read().data
            samples.append(clock() - t0)
        samples.sort()
        return {'read_median_us': median(samples) / 1e3,
                'read_p90_us': percentile(samples, 0.9) / 1e3}

    def bulk_read(self, names: list[str], reads: int, timeout: float) -> dict:
        ctx = self.client.Context(timeout=timeout, **self.context_options)
        pvs = self._connected(ctx, names, timeout)
        times = []
        for attempt in range(reads + 1):  # the first one warms up
            results = {}
            done = threading.Event()
            counter = itertools.count(1)  # next() is atomic under the GIL
            expected = len(pvs)

            def stash(name, response):
                results[name] = response.data
                if next(counter) == expected:
                    done.set()

            t0 = time.perf_counter()
            with self.client.Batch(timeout=timeout) as batch:
                for pv in pvs:
                    batch.read(pv, functools.partial(stash, pv.name))
            if not done.wait(timeout):
                raise TimeoutError(f'bulk read: {len(results)} of {expected} '
                                   f'responses after {timeout} s')
            elapsed = time.perf_counter() - t0
            if attempt:
                times.append(elapsed)
        return {'bulk_read_s': median(times)}

    def write_notify(self, name: str, writes: int, warmup: int,
                     timeout: float) -> dict:
        ctx = self.client.Context(timeout=timeout, **self.context_options)
        pv, = self._connected(ctx, [name], timeout)
        for i in range(warmup):
            pv.write([float(i)], wait=True)
        t0 = time.perf_counter()
        for i in range(writes):
            pv.write([float(i)], wait=True)
        elapsed = time.perf_counter() - t0
        return {'write_per_s': writes / elapsed}

    def array_read(self, name: str, count: int, reads: int, max_seconds: float,
                   timeout: float) -> dict:
        ctx = self.client.Context(timeout=timeout, **self.context_options)
        pv, = self._connected(ctx, [name], timeout)
        data = pv.read(data_count=count).data  # warm-up
        if len(data) != count:
            raise RuntimeError(f'read {len(data)} elements, expected {count}')
        times = []
        stop_at = time.monotonic() + max_seconds
        while len(times) < reads and (len(times) < 2 or time.monotonic() < stop_at):
            t0 = time.perf_counter()
            data = pv.read(data_count=count).data
            times.append(time.perf_counter() - t0)
            if len(data) != count:
                raise RuntimeError(f'read {len(data)} elements, expected {count}')
        return {'array_mb_per_s': count * 8 / 1e6 / median(times),
                'array_reads': len(times)}

    def monitor(self, names: list[str], fast: str, warmup_s: float,
                window_s: float, timeout: float,
                subscribe_timeout: float, catchup_timeout: float) -> dict:
        ctx = self.client.Context(timeout=timeout, **self.context_options)
        t_start = time.perf_counter()
        pvs = self._connected(ctx, [*names, fast], timeout)
        count = [0]
        latest = [None]

        # One callback thread per circuit in both clients; the plain counter
        # is what a user would write, and costs the least per update.
        def on_update(sub, response):
            count[0] += 1

        def on_fast(sub, response):
            count[0] += 1
            latest[0] = response

        subscriptions = []
        for pv in pvs[:-1]:
            sub = pv.subscribe(data_type='time')
            sub.add_callback(on_update)
            subscriptions.append(sub)
        fast_sub = pvs[-1].subscribe(data_type='time')
        fast_sub.add_callback(on_fast)
        initial_complete = wait_until(
            lambda: count[0] >= len(names) and latest[0] is not None,
            subscribe_timeout)
        subscribed_s = time.perf_counter() - t_start
        time.sleep(warmup_s)

        def lag():
            newest = latest[0]
            return None if newest is None else time.time() - newest.metadata.timestamp

        lag_at_start = wait_caught_up(lag, catchup_timeout)
        window = MonitorWindow(lambda: count[0])
        wait_for_go()
        window.start()
        time.sleep(window_s)
        newest = latest[0]
        result = window.stop(None if newest is None
                             else newest.metadata.timestamp)
        result.update(subscribed_s=subscribed_s,
                      initial_complete=initial_complete,
                      lag_at_start_s=lag_at_start,
                      circuit_stats=_circuit_stats(pvs[-1]))
        return result


# Flow-control counters cawire's circuits expose (caproto has none of them);
# they explain a fraction below 1 without being part of the table.
CIRCUIT_STATS = ('events_off_sent', 'events_on_sent', 'events_suspended',
                 'coalesced_updates', 'dropped_updates')


def _circuit_stats(pv) -> dict:
    try:
        manager = pv.circuit_manager
    except Exception:  # noqa: BLE001 - diagnostics only, never fail the run
        return {}
    stats = {}
    for name in CIRCUIT_STATS:
        try:
            value = getattr(manager, name)
        except Exception:  # noqa: BLE001
            continue
        if isinstance(value, (bool, int, float)):
            stats[name] = value
    return stats
