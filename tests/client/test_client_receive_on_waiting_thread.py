"""A thread that sends a read or write and waits for the reply receives it
itself when the network thread is idle (the loop is lent to it:
``NetworkLoop.borrow``), against a real softIoc.  Everything else the
circuit receives meanwhile (subscription updates) is delivered as usual,
several waiting threads share one circuit, and with callbacks on the
network thread the loop is never lent."""
import threading

import pytest

from cawire.protocol._exceptions import CaprotoTimeoutError
from cawire.threading._circuit_manager import VirtualCircuitManager
from cawire.threading.client import Context

WAIT = 10.0


@pytest.fixture
def ctx(softioc):
    context = Context(timeout=WAIT)
    yield context
    context.disconnect()


def test_sequential_writes_and_reads_are_received_by_the_caller(ctx):
    ao, = ctx.get_pvs('TST:ao')
    ao.wait_for_connection()
    before = ctx.loop.lent_receives
    try:
        for i in range(50):
            value = float(i % 10)    # (DRVH clamps above 15)
            assert ao.write([value], wait=True).status.success
            assert ao.read().data.tolist() == [value]
    finally:
        ao.write([0.0], wait=True)
    # Most replies came to the waiting thread (the network thread may be
    # busy now and then: it then receives them, as before).
    assert ctx.loop.lent_receives - before > 0


def test_updates_keep_flowing_to_callbacks_while_callers_receive(ctx):
    ao, counter = ctx.get_pvs('TST:ao', 'TST:counter')
    ao.wait_for_connection()
    counter.wait_for_connection()
    updates = []
    got = threading.Event()

    def on_update(sub, response):
        updates.append(threading.current_thread().name)
        if len(updates) >= 5:
            got.set()

    sub = counter.subscribe()
    sub.add_callback(on_update)
    try:
        for i in range(200):
            ao.write([float(i % 10)], wait=True)
            if got.is_set():
                break
        assert got.wait(WAIT)
        # Callbacks still run on the circuit's callback thread, never on
        # the thread that received the update.
        assert threading.current_thread().name not in updates
    finally:
        sub.clear()
        ao.write([0.0], wait=True)


def test_several_waiting_threads_share_one_circuit(ctx):
    ao, ai, longout = ctx.get_pvs('TST:ao', 'TST:ai', 'TST:longout')
    for pv in (ao, ai, longout):
        pv.wait_for_connection()
    failures = []

    def reader(pv):
        try:
            for _ in range(100):
                pv.read()
        except Exception as exc:  # noqa: BLE001 - reported below
            failures.append(repr(exc))

    def writer():
        try:
            for i in range(100):
                longout.write([i], wait=True)
        except Exception as exc:  # noqa: BLE001
            failures.append(repr(exc))

    threads = [threading.Thread(target=reader, args=(pv,))
               for pv in (ao, ai, ao)] + [threading.Thread(target=writer)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    try:
        assert not any(thread.is_alive() for thread in threads)
        assert failures == []
        assert longout.read().data.tolist() == [99]
    finally:
        longout.write([0], wait=True)


def test_a_caller_that_times_out_gives_the_loop_back(ctx, monkeypatch):
    # The reply never comes (the request is not even sent): the caller
    # waits out its timeout and the network thread, which took its role
    # back meanwhile whenever it had work, goes on serving everyone.
    ao, ai = ctx.get_pvs('TST:ao', 'TST:ai')
    ao.wait_for_connection()
    ai.wait_for_connection()
    transport = ao.circuit_manager.transport
    real_send = transport.send
    swallowed = []

    def swallow(buffers):
        swallowed.append(buffers)

    monkeypatch.setattr(transport, 'send', swallow)
    with pytest.raises(CaprotoTimeoutError):
        ao.read(timeout=0.3)
    monkeypatch.setattr(transport, 'send', real_send)
    assert swallowed
    assert ai.read().data.tolist() == [3.14159]
    # The loop thread is running and not held: a call runs promptly.
    ran = threading.Event()
    ctx.loop.call_soon(ran.set)
    assert ran.wait(WAIT)


@pytest.mark.parametrize('way', ['callbacks on the network thread',
                                 'switched off'])
def test_not_lent(softioc, monkeypatch, way):
    # Never with callbacks on the network thread (they would run on the
    # waiting thread); never when the switch is off.
    if way == 'switched off':
        monkeypatch.setattr(VirtualCircuitManager, 'lend_loop_to_waiters',
                            False)
    context = Context(timeout=WAIT, callbacks_on_network_thread=(
        way == 'callbacks on the network thread'))
    try:
        ao, = context.get_pvs('TST:ao')
        ao.wait_for_connection()
        before = context.loop.lent_receives
        for i in range(20):
            ao.write([float(i)], wait=True)
        assert context.loop.lent_receives == before
        ao.write([0.0], wait=True)
    finally:
        context.disconnect()

@pytest.mark.parametrize('where', ['backlog', 'receive'])
def test_an_interrupted_caller_gives_the_loop_back(ctx, monkeypatch, where):
    # A KeyboardInterrupt after the request left (while checking the send
    # queue, or before receiving) must not leave the loop lent: the network
    # thread would wait for its role for ever.
    ao, ai = ctx.get_pvs('TST:ao', 'TST:ai')
    ao.wait_for_connection()
    ai.wait_for_connection()
    cm = ao.circuit_manager

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    if where == 'backlog':
        monkeypatch.setattr(cm.requests, '_wait_for_backlog', interrupt)
    else:
        monkeypatch.setattr(cm, 'receive_while_waiting', interrupt)
    lent = []
    real_borrow = cm.borrow_loop

    def borrow():
        loan = real_borrow()
        lent.append(loan)
        return loan

    monkeypatch.setattr(cm, 'borrow_loop', borrow)
    with pytest.raises(KeyboardInterrupt):
        ao.read()
    monkeypatch.undo()
    assert lent and lent[0] is not None and not lent[0].active
    # The loop thread has its role: a call and another PV's read go through.
    ran = threading.Event()
    ctx.loop.call_soon(ran.set)
    assert ran.wait(WAIT)
    assert ai.read().data.tolist() == [3.14159]
