"""Slow subscription callbacks run at their own pace and stay fresh.

A 1 kHz counter feeds callbacks that cost 20 ms each (about 50 calls/s).
Flow control (EVENTS_OFF, skipping stale queued updates) keeps what they
see fresh; the callbacks must still run at >= 90 % of the rate they manage
alone (measured in the same process just before), deliver in order, and
end on the latest value soon after the producer stops.  Two slow
subscriptions on one circuit share its callback worker unless the Context
has a worker for each (``max_workers``): then each runs at its own pace.
"""
from __future__ import annotations

import threading
import time

import pytest

from cawire.config import Config
from cawire.server.testing import IocProcess
from cawire.threading._callbacks import CallbackExecutor
from cawire.threading.client import Context, SharedBroadcaster

pytestmark = pytest.mark.epics

COST = 0.02
WINDOW = 4.0


def _own_rate(seconds: float = 2.0) -> float:
    calls = 0
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        time.sleep(COST)
        calls += 1
    return calls / (time.monotonic() - start)


class SlowCallback:
    def __init__(self):
        self.values: list[float] = []

    def __call__(self, sub, response):
        self.values.append(float(response.data[0]))
        time.sleep(COST)


@pytest.fixture
def fast_counter(ca_env):
    with IocProcess('cawire.ioc_examples.fast_counter', '--rate', '1000',
                    '--array_length', '100',
                    repeater_port=ca_env.repeater_port) as ioc:
        yield ioc


def _context(ioc, ca_env, max_workers):
    config = Config.from_environ({
        'EPICS_CA_AUTO_ADDR_LIST': 'NO',
        'EPICS_CA_ADDR_LIST': f'127.0.0.1:{ioc.server_port}',
        'EPICS_CA_SERVER_PORT': str(ioc.server_port),
        'EPICS_CA_REPEATER_PORT': str(ca_env.repeater_port)})
    return Context(SharedBroadcaster(config=config), timeout=10,
                   max_workers=max_workers)


def _measure(ioc, ca_env, names, max_workers):
    ctx = _context(ioc, ca_env, max_workers)
    try:
        pvs = ctx.get_pvs(*names, 'fast_counter:rate')
        for pv in pvs:
            pv.wait_for_connection()
        *monitored, rate = pvs
        own = _own_rate()
        callbacks = [SlowCallback() for _ in monitored]
        subs = [pv.subscribe() for pv in monitored]
        for sub, callback in zip(subs, callbacks):
            sub.add_callback(callback)
        time.sleep(1.0)  # first backlog and flow-control episode
        before = [len(callback.values) for callback in callbacks]
        start = time.monotonic()
        time.sleep(WINDOW)
        elapsed = time.monotonic() - start
        rates = [(len(callback.values) - count) / elapsed
                 for callback, count in zip(callbacks, before)]
        rate.write([0])
        time.sleep(0.2)
        finals = [float(pv.read().data[0]) for pv in monitored]
        stopped = time.monotonic()
        deadline = stopped + 10
        while time.monotonic() < deadline and any(
                not callback.values or callback.values[-1] != final
                for callback, final in zip(callbacks, finals)):
            time.sleep(0.01)
        catch_up = time.monotonic() - stopped
        events_off = monitored[0].circuit_manager.events_off_sent
        for sub in subs:
            sub.clear()
        return own, rates, callbacks, finals, catch_up, events_off
    finally:
        ctx.disconnect()


def _check(own, rates, callbacks, finals, catch_up, events_off):
    print(f'\nown rate {own:.1f}/s; delivered {[f"{r:.1f}" for r in rates]}/s; '
          f'latest value {catch_up:.2f} s after the producer stopped; '
          f'EVENTS_OFF sent {events_off}')
    # Flow control was engaged (1 kHz into ~50 calls/s)...
    assert events_off > 0
    for rate, callback, final in zip(rates, callbacks, finals):
        # ... and the callback still ran at its own pace,
        assert rate >= 0.9 * own, (rate, own)
        # in order, never a value twice,
        assert all(b > a for a, b in zip(callback.values, callback.values[1:]))
        # ending on the latest value (fresh, not a replayed backlog).
        assert callback.values[-1] == final
    assert catch_up < 2.0, catch_up


def test_one_slow_callback_runs_at_its_own_rate_and_stays_fresh(
        fast_counter, ca_env):
    _check(*_measure(fast_counter, ca_env, ['fast_counter:count'], 1))


def test_slow_callbacks_of_two_subscriptions_each_run_at_their_own_rate(
        fast_counter, ca_env):
    _check(*_measure(fast_counter, ca_env,
                     ['fast_counter:count', 'fast_counter:array'], 2))


def test_keyed_jobs_run_one_at_a_time_in_order_beside_other_keys():
    executor = CallbackExecutor(3, name='test-keyed')
    lock = threading.Lock()
    running: dict = {}
    overlaps = []
    seen: dict = {'a': [], 'b': [], 'c': []}
    together = threading.Event()

    def job(key, index):
        with lock:
            if running.get(key):
                overlaps.append((key, index))
            running[key] = True
            if sum(running.values()) >= 2:
                together.set()
        time.sleep(0.001)
        seen[key].append(index)
        with lock:
            running[key] = False

    try:
        for index in range(50):
            for key in seen:
                executor.submit_for(key, job, key, index)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and \
                any(len(values) < 50 for values in seen.values()):
            time.sleep(0.01)
    finally:
        executor.shutdown()
    assert not overlaps
    assert all(values == list(range(50)) for values in seen.values())
    assert together.is_set()  # different keys did run side by side
