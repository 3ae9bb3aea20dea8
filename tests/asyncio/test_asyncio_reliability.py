"""The asyncio client through the reliability scenarios the threading
client passes: IOC killed and restarted, frozen past EPICS_CA_CONN_TMO, a
lossy and slow network (FaultProxy), a slow consumer, hostile servers; and
nothing left behind (tasks, sockets, file descriptors) after disconnect."""
import asyncio
import gc
import logging
import os
import signal
import time

import pytest

from cawire.asyncio.client import Context, SharedBroadcaster
from cawire.config import Config
from cawire.protocol._exceptions import (CaprotoTimeoutError,
                                         CaprotoValueError,
                                         DisconnectedError,
                                         ErrorResponseReceived)
from cawire.server.testing import IocProcess
from cawire.testing.faults import ATTACKS, FaultProxy, HostileServer
from cawire.testing.reliability import MB, freeze, rss

pytestmark = pytest.mark.epics

WAIT = 15.0


def run(coro, timeout=120.0):
    async def bounded():
        return await asyncio.wait_for(coro, timeout)
    return asyncio.run(bounded())


def make_context(*ports, repeater_port, timeout=WAIT, **environ):
    settings = {
        'EPICS_CA_AUTO_ADDR_LIST': 'NO',
        'EPICS_CA_ADDR_LIST': ' '.join(f'127.0.0.1:{p}' for p in ports),
        'EPICS_CA_NAME_SERVERS': '',
        'EPICS_CA_SERVER_PORT': str(ports[0]),
        'EPICS_CA_REPEATER_PORT': str(repeater_port)}
    settings.update(environ)
    return Context(SharedBroadcaster(config=Config.from_environ(settings)),
                   timeout=timeout)


async def eventually(predicate, timeout=WAIT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.01)
    return predicate()


def other_tasks():
    return [t for t in asyncio.all_tasks()
            if t is not asyncio.current_task()
            and t.get_coro().__name__ != 'bounded']


class Values:
    """A subscription callback keeping the first value of each update."""

    def __init__(self):
        self.values = []

    def __call__(self, sub, response):
        self.values.append(float(response.data[0]))


def test_ioc_killed_and_restarted(isolated_ioc, ca_env):
    ioc = isolated_ioc()

    async def main():
        ctx = make_context(ioc.server_port, repeater_port=ca_env.repeater_port)
        states = []

        def on_state(pv, state):
            states.append((pv.name, state))

        counter, ai = await ctx.get_pvs('TST:counter', 'TST:ai',
                                        connection_state_callback=on_state)
        values = Values()
        sub = counter.subscribe()
        sub.add_callback(values)
        await ai.wait_for_connection()
        assert await eventually(lambda: len(values.values) >= 3)
        ioc.kill(signal.SIGKILL)
        assert await eventually(
            lambda: ('TST:ai', 'disconnected') in states, 5)
        with pytest.raises((CaprotoTimeoutError, DisconnectedError)):
            await ai.read(timeout=0.3)
        ioc.stop()
        before = len(values.values)
        restarted = time.monotonic()
        ioc.start()
        assert await eventually(lambda: ai.connected and counter.connected)
        # Resubscribed without user action.
        assert await eventually(lambda: len(values.values) >= before + 3)
        reconnect = time.monotonic() - restarted
        assert (await ai.read()).data.tolist() == [3.14159]
        assert len(ctx._live_circuits()) == 1
        print(f'\nasyncio: reconnected {reconnect:.2f} s after the restart')
        await ctx.disconnect()
        return other_tasks()

    assert run(main()) == []


def test_pending_read_fails_promptly_when_circuit_dies(isolated_ioc, ca_env):
    ioc = isolated_ioc()

    async def main():
        ctx = make_context(ioc.server_port, repeater_port=ca_env.repeater_port)
        ai, = await ctx.get_pvs('TST:ai')
        await ai.wait_for_connection()
        freeze(ioc)
        reading = asyncio.ensure_future(ai.read(timeout=10))
        await asyncio.sleep(0.2)
        started = time.monotonic()
        ioc.kill(signal.SIGKILL)
        with pytest.raises(DisconnectedError):
            await reading
        assert time.monotonic() - started < 2
        await ctx.disconnect()

    run(main())


def test_ioc_frozen_longer_than_conn_tmo(isolated_ioc, ca_env):
    ioc = isolated_ioc()

    async def main():
        ctx = make_context(ioc.server_port, repeater_port=ca_env.repeater_port,
                           EPICS_CA_CONN_TMO='1.0')
        states = []

        def on_state(pv, state):
            states.append((pv.name, state))

        counter, ai = await ctx.get_pvs('TST:counter', 'TST:ai',
                                        connection_state_callback=on_state)
        values = Values()
        sub = counter.subscribe()
        sub.add_callback(values)
        await ai.wait_for_connection()
        assert await eventually(lambda: len(values.values) >= 2)
        cm = ai.circuit_manager
        frozen_at = time.monotonic()
        freeze(ioc)
        try:
            # CONN_TMO of silence -> ECHO; unanswered 5 s -> disconnected.
            assert await eventually(
                lambda: ('TST:ai', 'disconnected') in states, 20), states
            detected = time.monotonic() - frozen_at
            assert cm.keepalive.echoes_sent >= 1
            assert 1.0 < detected < 12
            count_frozen = len(values.values)
        finally:
            ioc.kill(signal.SIGCONT)
        assert await eventually(lambda: ai.connected and counter.connected,
                                20)
        assert await eventually(lambda: len(values.values) >= count_frozen + 3)
        assert (await ai.read()).data.tolist() == [3.14159]
        print(f'\nasyncio SIGSTOP: disconnect reported after {detected:.2f} s')
        await ctx.disconnect()

    try:
        run(main())
    finally:
        ioc.kill(signal.SIGCONT)


NAMES = ['TST:ai', 'TST:ao', 'TST:alarm', 'TST:counter', 'TST:long',
         'TST:longout', 'TST:short', 'TST:float', 'TST:char', 'TST:str',
         'TST:strout', 'TST:bi', 'TST:bo', 'TST:mbbi', 'TST:mbbo',
         'TST:wf:double', 'TST:wf:float', 'TST:wf:long', 'TST:wf:short',
         'TST:wf:char']


def test_lossy_and_slow_network(softioc, ca_env):
    """Half the searches lost, 50 ms added each way on TCP."""
    with FaultProxy(softioc.server_port, search_drop=0.5, tcp_delay=0.05,
                    seed=7) as proxy:
        async def main():
            ctx = make_context(proxy.port, repeater_port=ca_env.repeater_port)
            pvs = await ctx.get_pvs(*NAMES)
            await asyncio.gather(*(pv.wait_for_connection(timeout=20)
                                   for pv in pvs))
            assert proxy.search_datagrams_dropped >= 1
            t0 = time.monotonic()
            assert (await pvs[0].read()).data.tolist() == [3.14159]
            assert time.monotonic() - t0 >= 0.1
            values = Values()
            sub = pvs[3].subscribe()
            sub.add_callback(values)
            assert await eventually(lambda: len(values.values) >= 5)
            assert values.values[:5] == sorted(values.values[:5])
            assert len(proxy.links) == 1
            await ctx.disconnect()
        run(main())


def test_slow_consumer_memory_bounded_latest_delivered(ca_env):
    """1 kHz updates into an async callback taking 20 ms, and an ``async
    for`` consumer as slow: memory bounded, flow control counted, and the
    latest value delivered soon after the producer stops."""
    with IocProcess('cawire.ioc_examples.fast_counter', '--rate', '1000',
                    '--array_length', '1000',
                    repeater_port=ca_env.repeater_port) as ioc:
        async def main():
            ctx = make_context(ioc.server_port,
                               repeater_port=ca_env.repeater_port)
            count, rate, array = await ctx.get_pvs(
                'fast_counter:count', 'fast_counter:rate',
                'fast_counter:array')
            for pv in (count, rate, array):
                await pv.wait_for_connection()
            seen = []

            async def slow(sub, response):
                seen.append(float(response.data[0]))
                await asyncio.sleep(0.02)

            iterated = []

            async def iterate():
                async for response in array.subscribe():
                    iterated.append(len(response.data))
                    await asyncio.sleep(0.02)

            gc.collect()
            baseline = peak = rss()
            sub = count.subscribe()
            sub.add_callback(slow)
            consumer = asyncio.ensure_future(iterate())
            cm = count.circuit_manager
            deadline = time.monotonic() + 4
            while time.monotonic() < deadline:
                peak = max(peak, rss())
                await asyncio.sleep(0.05)
            await rate.write([0])
            await asyncio.sleep(0.2)
            final = float((await count.read()).data[0])
            stopped = time.monotonic()
            assert await eventually(lambda: seen and seen[-1] == final, 20), \
                (seen[-3:], final)
            catch_up = time.monotonic() - stopped
            assert catch_up < 5
            produced = final - seen[0] + 1
            assert len(seen) < produced / 2
            assert cm.flow_control.events_off_sent + sub.dropped_updates > 0
            assert all(b > a for a, b in zip(seen, seen[1:]))
            assert iterated and set(iterated) == {1000}
            assert peak - baseline < 50 * MB
            print(f'\nasyncio slow consumer: produced {produced:.0f}, '
                  f'delivered {len(seen)}, EVENTS_OFF '
                  f'{cm.flow_control.events_off_sent}, dropped '
                  f'{sub.dropped_updates}; latest value {catch_up:.2f} s '
                  f'after the producer stopped')
            consumer.cancel()
            await asyncio.gather(consumer, return_exceptions=True)
            await ctx.disconnect()
            return other_tasks()

        assert run(main()) == []


IN_PROCESS_ATTACKS = [a for a in ATTACKS if a != 'huge_payload'
                      and ATTACKS[a][0] != 'create']


@pytest.mark.parametrize('attack', IN_PROCESS_ATTACKS)
def test_hostile_server_loses_its_circuit_only(attack, softioc, ca_env,
                                               caplog):
    with HostileServer(attack, names={'HOSTILE:x'}) as hostile:
        async def main():
            ctx = make_context(hostile.port, softioc.server_port,
                               repeater_port=ca_env.repeater_port, timeout=5)
            good, bad = await ctx.get_pvs('TST:counter', 'HOSTILE:x')
            values = Values()
            sub = good.subscribe()
            sub.add_callback(values)
            await bad.wait_for_connection()
            assert await eventually(lambda: len(values.values) >= 2)
            started = time.monotonic()
            with pytest.raises((DisconnectedError, CaprotoTimeoutError,
                                ErrorResponseReceived)) as info:
                await bad.read(timeout=3)
            assert isinstance(info.value, DisconnectedError), info.value
            assert time.monotonic() - started < 2
            count = len(values.values)
            assert await eventually(lambda: len(values.values) >= count + 3)
            assert (await good.read()).data[0] >= 0
            await ctx.disconnect()

        caplog.set_level(logging.WARNING, logger='cawire')
        run(main())
        assert hostile.client_closed.wait(5)
        reasons = [r.getMessage() for r in caplog.records
                   if r.name.startswith('cawire.circ')
                   and str(hostile.port) in r.getMessage()]
        assert any('closed' in m for m in reasons), reasons


def test_disconnect_leaves_no_task_socket_or_fd(softioc, ca_env):
    before = set(os.listdir('/proc/self/fd'))

    async def main():
        for _ in range(3):
            ctx = make_context(softioc.server_port,
                               repeater_port=ca_env.repeater_port)
            pvs = await ctx.get_pvs(*NAMES, 'TST:never')
            await asyncio.gather(*(pv.read() for pv in pvs[:-1]))
            subs = [pv.subscribe() for pv in pvs[:5]]
            callbacks = [Values() for _ in subs]
            for sub, callback in zip(subs, callbacks):
                sub.add_callback(callback)
            await asyncio.sleep(0.1)
            await ctx.disconnect()
        return other_tasks()

    assert run(main()) == []
    gc.collect()
    assert set(os.listdir('/proc/self/fd')) - before == set()


BIG_DB = '''
record(waveform, "BIG:wf") {
    field(FTVL, "DOUBLE")
    field(NELM, "1048576")
}
'''


def test_8mb_write_to_a_paused_server_leaves_the_loop_free(isolated_ioc,
                                                           ca_env):
    """8 MB write to an IOC stopped for 1 s: the loop keeps running while
    it waits, the write completes once the IOC resumes; a second one with a
    0.5 s timeout times out cleanly and the circuit stays usable."""
    import numpy as np
    ioc = isolated_ioc(db=BIG_DB, macros=None, asg_file=None)

    async def main():
        ctx = make_context(ioc.server_port, repeater_port=ca_env.repeater_port)
        wf, = await ctx.get_pvs('BIG:wf')
        await wf.wait_for_connection()
        data = np.arange(1 << 20, dtype=float)
        ticks = []

        async def ticker():
            while True:
                ticks.append(time.monotonic())
                await asyncio.sleep(0.01)

        ticking = asyncio.ensure_future(ticker())
        freeze(ioc)
        asyncio.get_running_loop().call_later(1.0, ioc.kill, signal.SIGCONT)
        started = time.monotonic()
        response = await wf.write(data, timeout=20)
        elapsed = time.monotonic() - started
        assert response.status.success
        assert elapsed >= 0.9
        # The loop was never blocked for long while the write waited.
        during = [t for t in ticks if t >= started]
        assert len(during) > 20
        assert max(b - a for a, b in zip(during, during[1:])) < 0.5
        read_back = (await wf.read(timeout=10)).data
        assert read_back.shape == (1 << 20,)
        assert read_back[-1] == (1 << 20) - 1
        freeze(ioc)
        try:
            with pytest.raises(CaprotoTimeoutError):
                await wf.write(data[::-1].copy(), timeout=0.5)
        finally:
            ioc.kill(signal.SIGCONT)
        assert await eventually(lambda: wf.connected, 10)
        assert (await wf.read(timeout=10)).data[0] in (0.0, (1 << 20) - 1)
        ticking.cancel()
        await asyncio.gather(ticking, return_exceptions=True)
        await ctx.disconnect()

    try:
        run(main())
    finally:
        ioc.kill(signal.SIGCONT)


def test_max_array_bytes_refuses_larger_replies(softioc, ca_env):
    async def main():
        ctx = make_context(softioc.server_port,
                           repeater_port=ca_env.repeater_port,
                           EPICS_CA_AUTO_ARRAY_BYTES='NO',
                           EPICS_CA_MAX_ARRAY_BYTES='16384')
        big, small = await ctx.get_pvs('TST:wf:big', 'TST:ai')
        # Refused before it is sent, as libca (ECA_TOLARGE).
        with pytest.raises(CaprotoValueError):
            await big.read(data_count=100000)
        with pytest.raises(CaprotoValueError):
            await big.read()
        assert (await big.read(data_count=10)).data[0] == 42.0
        assert (await small.read()).data[0] == 3.14159
        await ctx.disconnect()

    run(main())
