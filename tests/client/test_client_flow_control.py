"""Slow consumers: bounded callback backlog, EVENTS_OFF/ON, coalescing.

The integration tests write rapidly to a record from one Context while a
subscriber in another Context has callbacks that are blocked; the backlog
must stay bounded, the server must be told to suspend updates (EVENTS_OFF)
and to resume them (EVENTS_ON), and the latest value must arrive in the
end.  The coalescing stage is also unit-tested directly.
"""
import threading
import time
from collections import namedtuple
from pathlib import Path
from types import SimpleNamespace

import pytest

from cawire.config import Config
from cawire.threading._callbacks import CallbackExecutor
from cawire.threading._selector_loop import NetworkLoop
from cawire.threading._update_delivery import UpdateDelivery
from cawire.threading.client import (Context, SharedBroadcaster,
                                     VirtualCircuitManager)

WAIT = 20.0
DB_DIR = Path(__file__).parent.parent / 'db'


def wait_until(predicate, timeout=WAIT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def context_for(ioc):
    settings = {'EPICS_CA_AUTO_ADDR_LIST': 'NO',
                'EPICS_CA_ADDR_LIST': f'127.0.0.1:{ioc.server_port}',
                'EPICS_CA_SERVER_PORT': str(ioc.server_port),
                'EPICS_CA_REPEATER_PORT': str(ioc.repeater_port)}
    return Context(SharedBroadcaster(config=Config.from_environ(settings)),
                   timeout=WAIT)


@pytest.fixture
def small_backlog(monkeypatch):
    monkeypatch.setattr(VirtualCircuitManager, 'backlog_high_water', 20)
    monkeypatch.setattr(VirtualCircuitManager, 'backlog_low_water', 5)
    monkeypatch.setattr(VirtualCircuitManager, 'backlog_hard_limit', 40)


def test_slow_consumer_is_bounded_and_flow_controlled(isolated_ioc,
                                                       small_backlog):
    ioc = isolated_ioc(db=DB_DIR / 'client_big.db', asg_file=None)
    consumer = context_for(ioc)
    producer = context_for(ioc)
    try:
        gate = threading.Event()
        values = []

        def slow(sub, response):
            gate.wait(WAIT)
            values.append(float(response.data[0]))

        rapid, = consumer.get_pvs('TST:rapid')
        sub = rapid.subscribe()
        sub.add_callback(slow)
        assert wait_until(lambda: sub.received >= 1)
        cm = rapid.circuit_manager
        writer, = producer.get_pvs('TST:rapid')
        writer.wait_for_connection()
        max_backlog = 0
        last = 0
        for last in range(1, 2001):
            writer.write([float(last)], wait=(last % 100 == 0))
            max_backlog = max(max_backlog, cm.user_callback_executor.backlog)
        writer.write([float(last)])  # wait for the server to have it all
        time.sleep(0.2)  # let in-flight updates arrive
        max_backlog = max(max_backlog, cm.user_callback_executor.backlog)
        assert cm.events_off_sent >= 1
        assert cm.events_suspended
        # Bounded: at most the hard limit plus one merged job.
        assert max_backlog <= VirtualCircuitManager.backlog_hard_limit + 1
        assert sub.received < 2000  # the server held updates back
        gate.set()
        # Drained -> EVENTS_ON -> the server sends the latest value.
        assert wait_until(lambda: values and values[-1] == float(last))
        assert cm.events_on_sent >= 1
        assert not cm.events_suspended
        assert values == sorted(values)  # arrival order kept
        sub.clear()
    finally:
        gate.set()
        consumer.disconnect()
        producer.disconnect()


def test_user_events_off_suspends_until_events_on(isolated_ioc):
    ioc = isolated_ioc(db=DB_DIR / 'client_big.db', asg_file=None)
    ctx = context_for(ioc)
    try:
        rapid, = ctx.get_pvs('TST:rapid')
        values = []

        def f(sub, response):
            values.append(float(response.data[0]))

        sub = rapid.subscribe()
        sub.add_callback(f)
        assert wait_until(lambda: len(values) >= 1)
        rapid.write([1.0])
        assert wait_until(lambda: values[-1] == 1.0)
        cm = rapid.circuit_manager
        cm.events_off()
        rapid.write([2.0])
        rapid.write([3.0])
        time.sleep(0.3)
        assert values[-1] == 1.0  # nothing while suspended
        cm.events_on()
        assert wait_until(lambda: values[-1] == 3.0)
        assert 2.0 not in values  # the server kept only the latest
        sub.clear()
    finally:
        ctx.disconnect()


class _Sub:
    """Stand-in for a Subscription: what UpdateDelivery touches."""

    def __init__(self):
        self.received = 0
        self.coalesced = 0
        self._queued_job = None
        self.delivered = []

    def process(self, response):
        self.delivered.append(response.value)


Update = namedtuple('Update', 'value payload_size')


@pytest.fixture
def delivery_harness():
    sent = []
    loop = NetworkLoop('test-flow-loop')
    loop.start()
    manager = SimpleNamespace(
        circuit=SimpleNamespace(address=('127.0.0.1', 1)),
        address=('127.0.0.1', 1),
        _lock=threading.RLock(), selector=loop,
        send_flow_control=lambda command: sent.append(type(command).__name__)
        or True)
    executor = CallbackExecutor(1)
    gate = threading.Event()
    executor.submit(gate.wait, WAIT)  # the "slow consumer"

    def make(**thresholds):
        delivery = UpdateDelivery(manager, **thresholds)
        delivery.executor = executor
        return delivery

    try:
        yield make, executor, gate, sent
    finally:
        gate.set()
        executor.shutdown()
        loop.stop()


def _drain(executor):
    done = threading.Event()
    executor.submit(done.set)
    assert done.wait(WAIT)


def test_coalescing_keeps_latest_update_per_subscription(delivery_harness):
    make, executor, gate, sent = delivery_harness
    delivery = make(high_water=5, low_water=1, hard_limit=10)
    subs = [_Sub(), _Sub()]
    for i in range(1000):
        delivery.deliver(subs[i % 2], Update(i, 8))
    assert executor.backlog <= 10 + 2
    assert sent == ['EventsOffRequest']
    gate.set()
    _drain(executor)
    assert wait_until(lambda: sent == ['EventsOffRequest', 'EventsOnRequest'])
    for parity, sub in enumerate(subs):
        assert sub.received == 500
        assert sub.delivered[-1] == 998 + parity  # the latest survives
        assert sub.delivered == sorted(sub.delivered)
        assert len(sub.delivered) + sub.coalesced == 500
    assert delivery.coalesced_updates == sum(s.coalesced for s in subs) > 0
    assert delivery.queued_bytes == 0


def test_backlog_is_bounded_in_bytes(delivery_harness):
    make, executor, gate, sent = delivery_harness
    megabyte = 2 ** 20
    delivery = make(high_water=10_000, low_water=10, hard_limit=100_000,
                    max_bytes=8 * megabyte)
    sub = _Sub()
    peak = 0
    for i in range(500):  # 500 updates of 1 MB each: 500 MB offered
        delivery.deliver(sub, Update(i, megabyte))
        peak = max(peak, delivery.queued_bytes)
    # EVENTS_OFF at 8 MB; merging from 32 MB: never more than that plus one.
    assert sent == ['EventsOffRequest']
    assert peak <= 4 * 8 * megabyte + megabyte
    gate.set()
    _drain(executor)
    assert sub.delivered[-1] == 499
    assert wait_until(lambda: sent == ['EventsOffRequest', 'EventsOnRequest'])


def test_disconnect_is_prompt_with_a_callback_backlog(isolated_ioc):
    ioc = isolated_ioc(db=DB_DIR / 'client_big.db', asg_file=None)
    consumer = context_for(ioc)
    producer = context_for(ioc)
    try:
        started = threading.Event()
        calls = []

        def slow(sub, response):
            calls.append(response)
            started.set()
            time.sleep(0.05)

        rapid, = consumer.get_pvs('TST:rapid')
        sub = rapid.subscribe()
        sub.add_callback(slow)
        assert started.wait(WAIT)
        writer, = producer.get_pvs('TST:rapid')
        for value in range(300):
            writer.write([float(value)], wait=False)
        writer.write([300.0])
        cm = rapid.circuit_manager
        assert wait_until(lambda: cm.user_callback_executor.backlog > 20)
        # Hundreds of 50 ms callbacks are queued; disconnect must not run
        # them all (that would take many seconds).
        backlog = cm.user_callback_executor.backlog
        calls_before = len(calls)
        consumer.disconnect()
        # At most the callback running at the time (and one racing with
        # the discard flag) ran after disconnect(); the rest were dropped.
        assert len(calls) - calls_before <= 2
        assert cm.dropped_updates >= backlog - 2
    finally:
        consumer.disconnect()
        producer.disconnect()


class _SlowSub(_Sub):
    def process(self, response):
        time.sleep(0.002)
        super().process(response)


def test_backlog_left_when_updates_stop_is_not_replayed(delivery_harness):
    # F8: the producer stops while a backlog is queued and the flow is on.
    # Nothing arrives any more to notice the lag, so the worker must: the
    # stale updates are skipped and each subscription ends on its latest.
    make, executor, gate, sent = delivery_harness
    delivery = make(high_water=100_000, low_water=1, hard_limit=200_000,
                    max_lag=0.05)
    subs = [_SlowSub(), _SlowSub()]
    # Backdate nothing: deliver fast, then let the queue age past max_lag.
    for i in range(400):
        delivery.deliver(subs[i % 2], Update(i, 8))
    time.sleep(0.1)
    gate.set()
    _drain(executor)
    assert 'EventsOffRequest' in sent
    for parity, sub in enumerate(subs):
        assert sub.delivered[-1] == 398 + parity
        assert sub.delivered == sorted(sub.delivered)
        assert len(sub.delivered) + sub.coalesced == 200
    assert delivery.coalesced_updates > 0
