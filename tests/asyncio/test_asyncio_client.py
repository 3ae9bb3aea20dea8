"""The asyncio client against the real softIoc: connect, read, write,
subscribe (callbacks and ``async for``), go_idle, monitor, errors, and a
clean disconnect with nothing left behind."""
import asyncio
import gc
import logging
import os

import numpy as np
import pytest

from cawire.asyncio.client import Context
from cawire.protocol._exceptions import (CaprotoTimeoutError,
                                         ContextDisconnectedError)

WAIT = 10.0
P = 'TST:'


def run(coro, timeout=60.0):
    async def bounded():
        return await asyncio.wait_for(coro, timeout)
    return asyncio.run(bounded())


def open_fds():
    return set(os.listdir('/proc/self/fd'))


def test_connect_read_write(softioc):
    async def main():
        async with Context(timeout=WAIT) as ctx:
            ao, wf, s = await ctx.get_pvs(P + 'ao', P + 'wf:double', P + 'str')
            await ao.wait_for_connection()
            await ao.write(3.25, wait=True)
            reading = await ao.read()
            assert reading.data[0] == 3.25
            timed = await ao.read(data_type='time')
            assert timed.metadata.timestamp > 0
            control = await ao.read(data_type='control')
            assert hasattr(control.metadata, 'units')
            await wf.write(np.arange(5.0), wait=True)
            assert list((await wf.read()).data[:5]) == [0, 1, 2, 3, 4]
            await s.write('hello', wait=True)
            assert (await s.read()).data == [b'hello']
            assert (await ctx.get_pvs(P + 'ao'))[0] is ao
    run(main())


def test_subscription_callbacks_and_iteration(softioc):
    async def main():
        async with Context(timeout=WAIT) as ctx:
            ao, = await ctx.get_pvs(P + 'ao')
            await ao.write(1.0, wait=True)
            sub = ao.subscribe(data_type='time')
            seen = []

            def callback(sub, response):
                seen.append(float(response.data[0]))

            sub.add_callback(callback)
            received = []
            async for response in sub:
                received.append(float(response.data[0]))
                if len(received) == 1:
                    await ao.write(2.0, wait=True)
                if len(received) == 2:
                    break
            assert received == [1.0, 2.0]
            assert seen[:2] == [1.0, 2.0]
            await sub.clear()
            assert sub.subscriptionid is None
    run(main())


def test_async_callback_and_exception_logged(softioc, caplog):
    async def main():
        async with Context(timeout=WAIT) as ctx:
            ao, = await ctx.get_pvs(P + 'ao')
            got = asyncio.Event()

            async def good(sub, response):
                await asyncio.sleep(0)
                got.set()

            def bad(sub, response):
                raise RuntimeError('boom in callback')

            sub = ao.subscribe()
            sub.add_callback(bad)
            sub.add_callback(good)
            await asyncio.wait_for(got.wait(), WAIT)
            await sub.clear()
    with caplog.at_level(logging.ERROR, logger='cawire.callbacks'):
        run(main())
    assert 'boom in callback' in caplog.text


def test_timeouts_and_access(softioc):
    async def main():
        async with Context(timeout=0.5) as ctx:
            missing, ro = await ctx.get_pvs('TST:does-not-exist', P + 'readonly')
            with pytest.raises(CaprotoTimeoutError):
                await missing.wait_for_connection()
            await ro.wait_for_connection(timeout=WAIT)
            # As caproto: the request goes out and the server's refusal
            # comes back in the reply's status.
            response = await ro.write(1.0)
            assert response.status.name == 'ECA_NOWTACCESS'
            assert not response.status.success
    run(main())


def test_go_idle_and_wake(softioc):
    async def main():
        async with Context(timeout=WAIT) as ctx:
            ao, = await ctx.get_pvs(P + 'ao')
            await ao.wait_for_connection()
            await ao.go_idle()
            assert not ao.connected
            assert (await ao.read()) is not None
            assert ao.connected
    run(main())


def test_monitor(softioc):
    async def main():
        async with Context(timeout=WAIT) as ctx:
            events = []
            async for event in ctx.monitor(P + 'ao', P + 'long'):
                events.append(event[0])
                if events.count('subscription') >= 2:
                    break
            assert 'connection' in events
    run(main())


def test_disconnect_leaves_nothing(softioc):
    async def main():
        ctx = Context(timeout=WAIT)
        pvs = await ctx.get_pvs(P + 'ao', P + 'long', 'TST:never-found')
        await pvs[0].read()
        sub = pvs[1].subscribe()
        sub.add_callback(lambda *a: None)
        await ctx.disconnect()
        with pytest.raises(ContextDisconnectedError):
            await ctx.get_pvs(P + 'ao')
        await asyncio.sleep(0.05)
        others = [t for t in asyncio.all_tasks()
                  if t is not asyncio.current_task()
                  and t.get_coro().__name__ != 'bounded']
        return others
    before = open_fds()
    leftover = run(main())
    gc.collect()
    assert leftover == []
    assert open_fds() - before == set()


def test_events_off_and_on(softioc):
    async def main():
        async with Context(timeout=WAIT) as ctx:
            counter, = await ctx.get_pvs(P + 'counter')
            values = []

            def callback(sub, response):
                values.append(float(response.data[0]))

            sub = counter.subscribe()
            sub.add_callback(callback)
            for _ in range(500):
                if len(values) >= 2:
                    break
                await asyncio.sleep(0.01)
            cm = counter.circuit_manager
            await cm.events_off()
            assert cm.events_suspended and cm.events_off_sent == 1
            await asyncio.sleep(0.3)
            count = len(values)
            await asyncio.sleep(0.5)
            assert len(values) == count      # the server holds updates
            await cm.events_on()
            assert cm.events_on_sent == 1 and not cm.events_suspended
            for _ in range(500):
                if len(values) > count:
                    break
                await asyncio.sleep(0.01)
            assert len(values) > count
            await sub.clear()
    run(main())
