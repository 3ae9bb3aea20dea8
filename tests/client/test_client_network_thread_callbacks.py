"""``Context(callbacks_on_network_thread=True)``: callbacks run on the
network thread.

What the option promises (docs/threading.md): every user callback of the
context (subscription updates, connection changes, read and write-notify
callbacks) runs on the network thread, in arrival order, with no callback
thread; an exception raised by a callback is logged on ``cawire.callback``
and the updates go on; a blocking call made from a callback raises at once
instead of stalling the network for its timeout; and the documented price:
while a callback runs, nothing else of the context is received (a blocking
read from another thread waits for it), the client never sends EVENTS_OFF,
and the callback still ends on the latest value once it is done.
"""
from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import pytest

from cawire.config import Config
from cawire.protocol._exceptions import CaprotoRuntimeError
from cawire.threading._network_thread_executor import NetworkThreadExecutor
from cawire.threading._selector_loop import NetworkLoop
from cawire.threading.client import Context, SharedBroadcaster

pytestmark = pytest.mark.epics

WAIT = 20.0
DB_DIR = Path(__file__).parent.parent / 'db'


def wait_until(predicate, timeout=WAIT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def context_for(ioc, **options):
    settings = {'EPICS_CA_AUTO_ADDR_LIST': 'NO',
                'EPICS_CA_ADDR_LIST': f'127.0.0.1:{ioc.server_port}',
                'EPICS_CA_SERVER_PORT': str(ioc.server_port),
                'EPICS_CA_REPEATER_PORT': str(ioc.repeater_port)}
    return Context(SharedBroadcaster(config=Config.from_environ(settings)),
                   timeout=WAIT, **options)


@pytest.fixture
def rapid_ioc(isolated_ioc):
    return isolated_ioc(db=DB_DIR / 'client_big.db', asg_file=None)


def test_every_callback_runs_on_the_network_thread(rapid_ioc):
    ctx = context_for(rapid_ioc, callbacks_on_network_thread=True)
    try:
        threads: dict[str, set] = {'update': set(), 'connection': set(),
                                    'read': set(), 'write': set()}
        values = []
        done = threading.Event()

        def on_connection(pv, state):
            threads['connection'].add(threading.current_thread().name)

        # (Kept referenced here: the client holds callbacks weakly.)
        rapid, = ctx.get_pvs('TST:rapid',
                             connection_state_callback=on_connection)
        rapid.wait_for_connection()

        def on_update(sub, response):
            threads['update'].add(threading.current_thread().name)
            values.append(float(response.data[0]))

        sub = rapid.subscribe()
        sub.add_callback(on_update)
        assert wait_until(lambda: values)
        for value in (1.0, 2.0, 3.0):
            rapid.write([value])
        assert wait_until(lambda: values[-1] == 3.0)
        rapid.read(wait=False, callback=lambda response: (
            threads['read'].add(threading.current_thread().name)))
        rapid.write([4.0], wait=False, callback=lambda response: (
            threads['write'].add(threading.current_thread().name),
            done.set()))
        assert done.wait(WAIT)
        assert wait_until(lambda: threads['read'] and values[-1] == 4.0)
        network = ctx.loop.name
        assert threads == {kind: {network} for kind in threads}, threads
        assert values == sorted(values)  # arrival order
        cm = rapid.circuit_manager
        assert isinstance(cm.user_callback_executor, NetworkThreadExecutor)
        assert cm.user_callback_executor.threads == []
        assert not [t for t in threading.enumerate()
                    if t.name.startswith(f'cawire-callbacks-127.0.0.1:'
                                         f'{rapid_ioc.server_port}')]
        sub.clear()
    finally:
        ctx.disconnect()


def test_exceptions_are_logged_and_updates_go_on(rapid_ioc, caplog):
    ctx = context_for(rapid_ioc, callbacks_on_network_thread=True)
    try:
        values = []

        def failing(sub, response):
            values.append(float(response.data[0]))
            raise ValueError(f'bad value {values[-1]}')

        rapid, = ctx.get_pvs('TST:rapid')
        sub = rapid.subscribe()
        with caplog.at_level(logging.ERROR, logger='cawire.callback'):
            sub.add_callback(failing)
            assert wait_until(lambda: values)
            rapid.write([5.0])
            rapid.write([6.0])
            assert wait_until(lambda: values[-1] == 6.0)

            def errors():
                return [record for record in caplog.records
                        if record.name == 'cawire.callback']

            # One logged traceback per update delivered (each one raised;
            # the last is logged just after it appended its value), and
            # updates kept coming after the first exception.
            assert wait_until(lambda: len(errors()) == len(values))
        logged = errors()
        assert len(values) >= 2
        assert all(record.exc_info and record.exc_info[0] is ValueError
                   for record in logged)
        assert 'bad value 6.0' in caplog.text
        assert rapid.read().data[0] == 6.0  # the circuit is fine
        sub.clear()
    finally:
        ctx.disconnect()


def test_blocking_calls_from_a_callback_raise_at_once(rapid_ioc):
    ctx = context_for(rapid_ioc, callbacks_on_network_thread=True)
    try:
        outcomes = []
        rapid, other = ctx.get_pvs('TST:rapid', 'TST:wf:mid')
        other.wait_for_connection()

        def blocking(sub, response):
            if outcomes:
                return
            started = time.monotonic()
            try:
                other.read(timeout=5)
            except Exception as exc:  # recorded and asserted below
                outcomes.append((exc, time.monotonic() - started))
            else:
                outcomes.append((None, time.monotonic() - started))

        sub = rapid.subscribe()
        sub.add_callback(blocking)
        assert wait_until(lambda: outcomes)
        exc, elapsed = outcomes[0]
        assert isinstance(exc, CaprotoRuntimeError), exc
        assert 'network thread' in str(exc)
        assert elapsed < 1.0  # raised, not a 5 s timeout
        # The refused read left nothing behind: blocking reads from other
        # threads still work.
        assert other.read().data is not None
        sub.clear()
    finally:
        ctx.disconnect()


def test_a_slow_callback_holds_up_the_context_but_ends_fresh(rapid_ioc):
    # The documented price of the option: while a callback runs, nothing
    # else of the context is read, so a blocking read from another thread
    # waits for it; the client sends no EVENTS_OFF; once the callback
    # returns, the latest value arrives.
    ctx = context_for(rapid_ioc, callbacks_on_network_thread=True)
    producer = context_for(rapid_ioc)
    try:
        hold = 0.5
        values = []
        holding = threading.Event()

        def slow_once(sub, response):
            values.append(float(response.data[0]))
            if response.data[0] == 100.0:
                holding.set()
                time.sleep(hold)

        rapid, other = ctx.get_pvs('TST:rapid', 'TST:wf:mid')
        other.wait_for_connection()
        sub = rapid.subscribe()
        sub.add_callback(slow_once)
        assert wait_until(lambda: values)
        writer, = producer.get_pvs('TST:rapid')
        writer.write([100.0])
        assert holding.wait(WAIT)
        started = time.monotonic()
        other.read()
        waited = time.monotonic() - started
        for value in range(101, 201):
            writer.write([float(value)], wait=False)
        writer.write([200.0])
        assert wait_until(lambda: values[-1] == 200.0)
        assert waited >= hold / 2, waited
        cm = rapid.circuit_manager
        assert cm.events_off_sent == 0
        assert cm.coalesced_updates == 0
        assert values == sorted(values)
        sub.clear()
    finally:
        ctx.disconnect()
        producer.disconnect()


def test_jobs_from_other_threads_run_on_the_loop_in_submission_order():
    loop = NetworkLoop('test-network-executor')
    loop.start()
    executor = NetworkThreadExecutor(loop, name='test')
    try:
        order = []
        ran_on = set()
        done = threading.Event()

        def job(tag):
            order.append(tag)
            ran_on.add(threading.current_thread().name)

        # Queued from this thread: run on the loop, before what the loop
        # submits itself afterwards.
        gate = threading.Event()
        loop.call_soon(gate.wait, WAIT)  # keep the loop busy meanwhile
        executor.submit(job, 'from-user-1')
        executor.submit(job, 'from-user-2')

        def on_loop():
            executor.submit(job, 'from-loop')
            done.set()

        loop.call_soon(on_loop)
        gate.set()
        assert done.wait(WAIT)
        assert order == ['from-user-1', 'from-user-2', 'from-loop']
        assert ran_on == {loop.name}
        assert executor.backlog == 0
        executor.shutdown(cancel_pending=True)
        assert executor.submit(job, 'late') is False
    finally:
        loop.stop()
