"""Metrics for clients with aioca's function API (aioca on libca, and
cawire.aioca): the same code measures both, only the module differs.

aioca's documented way for each job: ``await connect(names)``, ``await
caget(name)``, ``await caget(names)`` for a bulk read, ``await caput(name,
x, wait=True)``, ``camonitor(names, callback, format=FORMAT_TIME)``.
"""
from __future__ import annotations

import asyncio
import gc
import importlib
import time

from _common import MonitorWindow, median, percentile, rss_bytes, wait_for_go


class AiocaApiMetrics:
    """Each public method is one metric; keyword arguments come from the spec."""

    def __init__(self, module_name: str):
        self.module_name = module_name
        self.client = importlib.import_module(module_name)

    def metrics(self) -> dict:
        def sync(coroutine_function):
            return lambda **kw: asyncio.run(coroutine_function(**kw))
        return {'connect': sync(self.connect),
                'read_latency': sync(self.read_latency),
                'bulk_read': sync(self.bulk_read),
                'write_notify': sync(self.write_notify),
                'array_read': sync(self.array_read),
                'monitor': sync(self.monitor)}

    async def connect(self, names: list[str], timeout: float) -> dict:
        gc.collect()
        rss0 = rss_bytes()
        t0 = time.perf_counter()
        await self.client.connect(names, timeout=timeout)
        elapsed = time.perf_counter() - t0
        gc.collect()
        rss1 = rss_bytes()
        return {'connect_s': elapsed,
                'mem_per_pv_kib': (rss1 - rss0) / len(names) / 1024}

    async def read_latency(self, name: str, reads: int, warmup: int,
                           timeout: float) -> dict:
        caget = self.client.caget
        await self.client.connect(name, timeout=timeout)
        for _ in range(warmup):
            await caget(name, timeout=timeout)
        samples = []
        clock = time.perf_counter_ns
        for _ in range(reads):
            t0 = clock()
            await caget(name, timeout=timeout)
            samples.append(clock() - t0)
        samples.sort()
        return {'read_median_us': median(samples) / 1e3,
                'read_p90_us': percentile(samples, 0.9) / 1e3}

    async def bulk_read(self, names: list[str], reads: int,
                        timeout: float) -> dict:
        await self.client.connect(names, timeout=timeout)
        times = []
        for attempt in range(reads + 1):  # the first one warms up
            t0 = time.perf_counter()
            values = await self.client.caget(names, timeout=timeout)
            elapsed = time.perf_counter() - t0
            assert len(values) == len(names)
            if attempt:
                times.append(elapsed)
        return {'bulk_read_s': median(times)}

    async def write_notify(self, name: str, writes: int, warmup: int,
                           timeout: float) -> dict:
        caput = self.client.caput
        await self.client.connect(name, timeout=timeout)
        for i in range(warmup):
            await caput(name, float(i), wait=True, timeout=timeout)
        t0 = time.perf_counter()
        for i in range(writes):
            await caput(name, float(i), wait=True, timeout=timeout)
        elapsed = time.perf_counter() - t0
        return {'write_per_s': writes / elapsed}

    async def array_read(self, name: str, count: int, reads: int,
                         max_seconds: float, timeout: float) -> dict:
        caget = self.client.caget
        await self.client.connect(name, timeout=timeout)
        data = await caget(name, count=count, timeout=timeout)
        if len(data) != count:
            raise RuntimeError(f'read {len(data)} elements, expected {count}')
        times = []
        stop_at = time.monotonic() + max_seconds
        while len(times) < reads and (len(times) < 2
                                      or time.monotonic() < stop_at):
            t0 = time.perf_counter()
            data = await caget(name, count=count, timeout=timeout)
            times.append(time.perf_counter() - t0)
            if len(data) != count:
                raise RuntimeError(f'read {len(data)} elements, expected {count}')
        return {'array_mb_per_s': count * 8 / 1e6 / median(times),
                'array_reads': len(times)}

    async def monitor(self, names: list[str], fast: str, warmup_s: float,
                      window_s: float, timeout: float,
                      subscribe_timeout: float,
                      catchup_timeout: float) -> dict:
        t_start = time.perf_counter()
        await self.client.connect([*names, fast], timeout=timeout)
        count = [0]
        latest = [None]

        def on_update(value, index):
            count[0] += 1

        def on_fast(value):
            count[0] += 1
            latest[0] = value

        subs = self.client.camonitor(names, on_update,
                                     format=self.client.FORMAT_TIME)
        fast_sub = self.client.camonitor(fast, on_fast,
                                         format=self.client.FORMAT_TIME)
        deadline = time.monotonic() + subscribe_timeout
        while not (count[0] >= len(names) and latest[0] is not None):
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.01)
        initial_complete = count[0] >= len(names) and latest[0] is not None
        subscribed_s = time.perf_counter() - t_start
        await asyncio.sleep(warmup_s)

        def lag():
            newest = latest[0]
            return None if newest is None else time.time() - newest.timestamp

        deadline = time.monotonic() + catchup_timeout
        while True:
            lag_at_start = lag()
            if (lag_at_start is not None and lag_at_start < 0.1) or \
                    time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
        window = MonitorWindow(lambda: count[0])
        await asyncio.get_running_loop().run_in_executor(None, wait_for_go)
        window.start()
        await asyncio.sleep(window_s)
        newest = latest[0]
        result = window.stop(None if newest is None else newest.timestamp)
        result.update(subscribed_s=subscribed_s,
                      initial_complete=initial_complete,
                      lag_at_start_s=lag_at_start)
        for sub in [*subs, fast_sub]:
            sub.close()
        return result
