"""Metrics for clients with caproto's asyncio-client API (cawire.asyncio,
caproto.asyncio): the same code measures both, only the module differs.

Everything uses the documented API: ``Context``, ``await get_pvs``,
``await pv.wait_for_connection/read/write``, ``pv.subscribe().add_callback``.
Each metric runs in its own ``asyncio.run``.
"""
from __future__ import annotations

import asyncio
import gc
import importlib
import time

from _common import MonitorWindow, median, percentile, rss_bytes, wait_for_go


class AsyncioApiMetrics:
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

    async def _connected(self, ctx, names: list[str], timeout: float) -> list:
        pvs = await ctx.get_pvs(*names, timeout=timeout)
        deadline = time.monotonic() + timeout
        for pv in pvs:
            await pv.wait_for_connection(
                timeout=max(0.001, deadline - time.monotonic()))
        return pvs

    async def connect(self, names: list[str], timeout: float) -> dict:
        ctx = self.client.Context(timeout=timeout)
        gc.collect()
        rss0 = rss_bytes()
        t0 = time.perf_counter()
        pvs = await self._connected(ctx, names, timeout)
        elapsed = time.perf_counter() - t0
        gc.collect()
        rss1 = rss_bytes()
        assert len(pvs) == len(names)
        return {'connect_s': elapsed,
                'mem_per_pv_kib': (rss1 - rss0) / len(names) / 1024}

    async def read_latency(self, name: str, reads: int, warmup: int,
                           timeout: float) -> dict:
        ctx = self.client.Context(timeout=timeout)
        pv, = await self._connected(ctx, [name], timeout)
        for _ in range(warmup):
            (await pv.read()).data
        samples = []
        clock = time.perf_counter_ns
        for _ in range(reads):
            t0 = clock()
            (await pv.read()).data
            samples.append(clock() - t0)
        samples.sort()
        return {'read_median_us': median(samples) / 1e3,
                'read_p90_us': percentile(samples, 0.9) / 1e3}

    async def bulk_read(self, names: list[str], reads: int,
                        timeout: float) -> dict:
        ctx = self.client.Context(timeout=timeout)
        pvs = await self._connected(ctx, names, timeout)
        times = []
        for attempt in range(reads + 1):  # the first one warms up
            t0 = time.perf_counter()
            responses = await asyncio.gather(*(pv.read() for pv in pvs))
            elapsed = time.perf_counter() - t0
            assert len(responses) == len(pvs)
            if attempt:
                times.append(elapsed)
        return {'bulk_read_s': median(times)}

    async def write_notify(self, name: str, writes: int, warmup: int,
                           timeout: float) -> dict:
        ctx = self.client.Context(timeout=timeout)
        pv, = await self._connected(ctx, [name], timeout)
        for i in range(warmup):
            await pv.write([float(i)], wait=True)
        t0 = time.perf_counter()
        for i in range(writes):
            await pv.write([float(i)], wait=True)
        elapsed = time.perf_counter() - t0
        return {'write_per_s': writes / elapsed}

    async def array_read(self, name: str, count: int, reads: int,
                         max_seconds: float, timeout: float) -> dict:
        ctx = self.client.Context(timeout=timeout)
        pv, = await self._connected(ctx, [name], timeout)
        data = (await pv.read(data_count=count)).data
        if len(data) != count:
            raise RuntimeError(f'read {len(data)} elements, expected {count}')
        times = []
        stop_at = time.monotonic() + max_seconds
        while len(times) < reads and (len(times) < 2
                                      or time.monotonic() < stop_at):
            t0 = time.perf_counter()
            data = (await pv.read(data_count=count)).data
            times.append(time.perf_counter() - t0)
            if len(data) != count:
                raise RuntimeError(f'read {len(data)} elements, expected {count}')
        return {'array_mb_per_s': count * 8 / 1e6 / median(times),
                'array_reads': len(times)}

    async def monitor(self, names: list[str], fast: str, warmup_s: float,
                      window_s: float, timeout: float,
                      subscribe_timeout: float,
                      catchup_timeout: float) -> dict:
        ctx = self.client.Context(timeout=timeout)
        t_start = time.perf_counter()
        pvs = await self._connected(ctx, [*names, fast], timeout)
        count = [0]
        latest = [None]

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
            return (None if newest is None
                    else time.time() - newest.metadata.timestamp)

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
        result = window.stop(None if newest is None
                             else newest.metadata.timestamp)
        result.update(subscribed_s=subscribed_s,
                      initial_complete=initial_complete,
                      lag_at_start_s=lag_at_start)
        return result
