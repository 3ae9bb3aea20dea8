"""cawire.aioca's own behaviour beyond the differential tests: callbacks
that raise are logged and the subscription goes on, connect_timeout,
channel infos, purge_channel_caches, run, datatype errors."""
import asyncio
import logging
import os
import warnings

import pytest

import cawire.aioca as aioca
from cawire.aioca import (CANothing, FORMAT_TIME, caget, cainfo, camonitor,
                          caput, connect, get_channel_infos,
                          purge_channel_caches)


def run(coro, timeout=60.0):
    async def bounded():
        try:
            return await asyncio.wait_for(coro, timeout)
        finally:
            purge_channel_caches()
            await asyncio.sleep(0.05)
    return asyncio.run(bounded())


def test_callback_exception_logged_and_subscription_goes_on(softioc, caplog):
    async def main():
        seen = []

        def callback(value):
            seen.append(value)
            if len(seen) == 1:
                raise RuntimeError('boom in camonitor callback')

        sub = camonitor('TST:counter', callback)
        for _ in range(200):
            if len(seen) >= 3:
                break
            await asyncio.sleep(0.05)
        assert len(seen) >= 3 and sub.state == sub.OPEN
        sub.close()
        assert sub.state == sub.CLOSED

    with caplog.at_level(logging.ERROR, logger='cawire.aioca'):
        run(main())
    assert 'boom in camonitor callback' in caplog.text


def test_async_callback_all_updates_in_order(softioc):
    async def main():
        seen = []

        async def callback(value):
            await asyncio.sleep(0.001)
            seen.append(int(value))

        sub = camonitor('TST:counter', callback, all_updates=True)
        for _ in range(200):
            if len(seen) >= 4:
                break
            await asyncio.sleep(0.05)
        sub.close()
        assert seen == sorted(seen) and len(seen) >= 4

    run(main())


def test_connect_timeout_reported_then_keeps_waiting(softioc):
    async def main():
        seen = []
        sub = camonitor('TST:never-there', seen.append, connect_timeout=0.2)
        await asyncio.sleep(0.6)
        assert len(seen) == 1 and isinstance(seen[0], CANothing)
        assert not seen[0].ok and seen[0].errorcode == 80
        sub.close()

    run(main())


def test_connect_cainfo_and_channel_infos(softioc):
    async def main():
        results = await connect(['TST:ai', 'TST:ao'])
        assert [bool(r) for r in results] == [True, True]
        info = await cainfo('TST:ai')
        assert info.state == 2 and info.read and info.datatype == 6
        assert 'connected' in str(info)
        sub = camonitor('TST:ai', lambda v: None)
        await asyncio.sleep(0.2)
        infos = {i.name: i for i in get_channel_infos()}
        assert infos['TST:ai'].connected
        assert infos['TST:ai'].subscriber_count == 1
        sub.close()
        missing = await connect('TST:nowhere', timeout=0.2, throw=False)
        assert not missing and missing.errorcode == 80
        with pytest.raises(CANothing):
            await caget('TST:nowhere', timeout=0.2)
        with pytest.raises(aioca.InvalidDatatype):
            await caget('TST:ai', datatype=complex)

    run(main())


def test_purge_closes_everything(softioc):
    before = set(os.listdir('/proc/self/fd'))

    async def main():
        sub = camonitor('TST:counter', lambda v: None, format=FORMAT_TIME)
        await caput('TST:ao', 1.0, wait=True)
        await asyncio.sleep(0.1)
        purge_channel_caches()
        assert sub.state == sub.CLOSED
        await asyncio.sleep(0.1)
        return [t for t in asyncio.all_tasks()
                if t is not asyncio.current_task()
                and t.get_coro().__name__ != 'bounded']

    assert run(main()) == []
    assert set(os.listdir('/proc/self/fd')) - before == set()


def test_run_is_deprecated_but_works(softioc):
    async def main():
        return float(await caget('TST:ai'))

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        assert aioca.run(main()) == 3.14159
    assert any(issubclass(w.category, DeprecationWarning) for w in caught)


def test_connect_list_with_a_missing_name(softioc):
    """A list connect waits through one batch: with throw=False each name
    reports for itself, with throw=True the list times out as a whole, and
    a timed-out batch leaves no waiter on the channels."""
    from cawire.aioca._channels import get_channel

    async def main():
        names = ['TST:ai', 'TST:nowhere', 'TST:ao', 'TST:ai']
        results = await connect(names, timeout=0.3, throw=False)
        assert [r.name for r in results] == names
        assert [r.ok for r in results] == [True, False, True, True]
        assert results[1].errorcode == 80
        with pytest.raises(CANothing) as raised:
            await connect(names, timeout=0.3)
        assert raised.value.errorcode == 80
        assert not get_channel('TST:nowhere')._waiters
        assert [r.ok for r in await connect(names, wait=False)] == [True] * 4
        assert all(await connect(['TST:ai', 'TST:ao'], timeout=(
            __import__('time').time() + 5,)))

    run(main())


def test_camonitor_of_a_list_before_and_after_connection(softioc):
    """Subscriptions open when their channel connects (no task each) and
    deliver one value per change, whether made before or after."""
    async def main():
        seen = []
        early = camonitor(['TST:ao', 'TST:long'],
                          lambda v, i: seen.append(('early', i, float(v))))
        await connect(['TST:ao', 'TST:long'])
        late = camonitor(['TST:ao', 'TST:long'],
                         lambda v, i: seen.append(('late', i, float(v))))
        assert not [s for s in seen if s[0] == 'late']  # never within camonitor
        await asyncio.sleep(0.3)
        await caput('TST:ao', 4.25, wait=True)
        await asyncio.sleep(0.3)
        for who in ('early', 'late'):
            mine = [s for s in seen if s[0] == who]
            assert sorted({s[1] for s in mine}) == [0, 1]
            assert [s for s in mine if s[1] == 0][-1][2] == 4.25
            assert len([s for s in mine if s[2] == 4.25 and s[1] == 0]) == 1
        for sub in early + late:
            sub.close()

    run(main())
