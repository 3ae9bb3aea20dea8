"""Activating a subscription races with its PV's channel being (re)created.

The CREATE_CHAN reply handler (network thread) sends EVENT_ADD for every
active subscription of the PV under ``pv.component_lock``; ``add_callback``
sends it itself when the channel is already ready.  Exactly one of the two
must send it, so a subscription may only become active (get its id) under
that same lock (reliability finding F9).
"""
import threading
import time

from cawire.testing.reliability import make_context

WAIT = 10.0


class ContendedLock:
    """An RLock that records when another thread has to wait for it, and
    can hold a given thread back before its first acquire (``gates``)."""

    def __init__(self):
        self._lock = threading.RLock()
        self.contended = threading.Event()
        self.gates = {}  # thread name -> Event opening its first acquire

    def acquire(self, blocking=True, timeout=-1):
        gate = self.gates.pop(threading.current_thread().name, None)
        if gate is not None:
            self.contended.set()
            assert gate.wait(WAIT)
        if self._lock.acquire(blocking=False):
            return True
        self.contended.set()
        return self._lock.acquire(blocking, timeout)

    def release(self):
        self._lock.release()

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, *exc_info):
        self.release()


def wait_until(predicate, timeout=WAIT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def test_subscription_becomes_active_only_under_the_pv_lock(softioc, ca_env):
    ctx = make_context(softioc.server_port,
                       repeater_port=ca_env.repeater_port, timeout=WAIT)
    try:
        pv, = ctx.get_pvs('TST:str')
        pv.wait_for_connection()
        sub = pv.subscribe(data_type='time')
        pv.go_idle()
        assert wait_until(lambda: not pv.connected)
        lock = ContendedLock()
        pv.component_lock = lock  # quiescent: the PV is idle
        updates = []
        errors = []

        def on_update(sub, response):  # held weakly by the subscription
            updates.append(response)

        def activate():
            try:
                sub.add_callback(on_update)
            except Exception as exc:  # noqa: BLE001 - asserted below
                errors.append(exc)

        with lock:
            activator = threading.Thread(target=activate)
            activator.start()
            assert lock.contended.wait(WAIT)
            # A CREATE_CHAN handled now (it holds this lock) must not see
            # the subscription as active, or add_callback sends it again.
            assert not sub.active
            assert pv.active_subscriptions() == []
        activator.join(WAIT)
        assert not activator.is_alive()
        assert errors == []
        assert sub.active
        # Sent exactly once, by whichever side saw the channel ready.
        assert wait_until(lambda: len(updates) >= 1)
        cm = pv.circuit_manager
        assert [key for key, value in cm.subscriptions.items()
                if value is sub] == [sub.subscriptionid]
        sub.clear()
        assert not sub.active
        assert sub.subscriptionid not in cm.subscriptions
    finally:
        ctx.disconnect()


def test_go_idle_racing_add_callback_keeps_the_subscription(softioc, ca_env):
    """go_idle() decides under the PV lock: a subscription activated while
    it runs is never cleared with the channel."""
    ctx = make_context(softioc.server_port,
                       repeater_port=ca_env.repeater_port, timeout=WAIT)
    try:
        pv, = ctx.get_pvs('TST:str')
        pv.wait_for_connection()
        sub = pv.subscribe()
        lock = ContendedLock()
        pv.component_lock = lock
        updates = []

        def on_update(sub, response):  # held weakly by the subscription
            updates.append(response)

        # go_idle is held back at its first acquire of the PV lock; the
        # subscription is activated (and sent) meanwhile.  go_idle must not
        # have decided before it holds the lock, or it clears the channel
        # under the active subscription and the PV stays idle.
        gate = threading.Event()
        lock.gates['f9-go-idle'] = gate
        idler = threading.Thread(target=pv.go_idle, name='f9-go-idle')
        idler.start()
        assert lock.contended.wait(WAIT)
        sub.add_callback(on_update)
        gate.set()
        idler.join(WAIT)
        assert not idler.is_alive()
        assert sub.active
        assert pv.connected, 'go_idle cleared a PV with an active subscription'
        assert sub.subscriptionid in pv.circuit_manager.subscriptions
        assert wait_until(lambda: len(updates) >= 1)
        sub.clear()
    finally:
        ctx.disconnect()
