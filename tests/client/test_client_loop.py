"""Unit tests of the threading client's machinery: timers, network loop,
callback executor, weak callback registry, TCP transport.

No EPICS peer is needed here; sockets are local socketpairs.  Waits are
bounded (Event.wait with a generous timeout) and nothing asserts timing.
"""
import gc
import logging
import select
import socket
import threading
import time
import warnings

import pytest

from cawire.protocol import _commands as ca
from cawire.protocol._exceptions import DisconnectedError
from cawire.protocol._framing import parse_stream, serialize
from cawire.protocol._state import CLIENT
from cawire.threading._callbacks import (CallbackExecutor, CallbackRegistry,
                                         accepts_one_positional_argument)
from cawire.threading._selector_loop import NetworkLoop
from cawire.threading._timers import TimerScheduler
from cawire.protocol._receive_arena import ARENA_SIZE
from cawire.threading._transport import StreamTransport

from loop_helpers import WAIT, run_on


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


# -- TimerScheduler ----------------------------------------------------------


def test_timers_fire_in_deadline_order():
    clock = FakeClock()
    timers = TimerScheduler(clock)
    fired = []
    timers.call_later(3, fired.append, 'c')
    timers.call_later(1, fired.append, 'a')
    timers.call_later(2, fired.append, 'b')
    assert timers.next_timeout() == 1
    clock.now += 2
    assert timers.run_due() == 2
    assert fired == ['a', 'b']
    assert timers.next_timeout() == 1
    clock.now += 5
    timers.run_due()
    assert fired == ['a', 'b', 'c']
    assert timers.next_timeout() is None


def test_timer_cancel_and_earliest_flag():
    clock = FakeClock()
    timers = TimerScheduler(clock)
    fired = []
    late, is_earliest = timers.call_later(10, fired.append, 'late')
    assert is_earliest
    early, is_earliest = timers.call_later(1, fired.append, 'early')
    assert is_earliest
    _, is_earliest = timers.call_later(5, fired.append, 'middle')
    assert not is_earliest
    early.cancel()
    assert timers.next_timeout() == 5
    clock.now += 20
    timers.run_due()
    assert fired == ['middle', 'late']
    assert len(timers) == 0


def test_timer_exception_is_logged_not_raised(caplog):
    clock = FakeClock()
    timers = TimerScheduler(clock)
    fired = []

    def boom():
        raise RuntimeError('timer failure')

    timers.call_later(0, boom)
    timers.call_later(0, fired.append, 'after')
    with caplog.at_level(logging.ERROR, logger='cawire.ctx.timers'):
        timers.run_due()
    assert fired == ['after']
    assert 'timer failure' in caplog.text


# -- NetworkLoop --------------------------------------------------------------


@pytest.fixture(params=[True, False], ids=['epoll', 'selectors'])
def loop(request):
    # Every loop test runs on both pollers: epoll (the default on Linux)
    # and the portable selectors fallback.
    if request.param and not hasattr(select, 'epoll'):
        pytest.skip('no epoll on this platform')
    loop = NetworkLoop('test-loop', use_epoll=request.param)
    assert loop.uses_epoll is request.param
    loop.start()
    yield loop
    loop.stop()


def test_call_soon_runs_on_loop_thread(loop):
    done = threading.Event()
    seen = []

    def job():
        seen.append((threading.current_thread().name, loop.in_loop_thread()))
        done.set()

    loop.call_soon(job)
    assert done.wait(WAIT)
    assert seen == [('test-loop', True)]


def test_call_later_wakes_a_sleeping_loop(loop):
    # The loop sleeps without a deadline; a new timer must wake it.
    done = threading.Event()
    order = []
    loop.call_later(0.2, lambda: (order.append('second'), done.set()))
    loop.call_later(0.0, order.append, 'first')
    assert done.wait(WAIT)
    assert order == ['first', 'second']


def test_registered_socket_handler_and_error_isolation(loop, caplog):
    a, b = socket.socketpair()
    a.setblocking(False)
    received = []
    done = threading.Event()
    calls = []

    def on_readable():
        data = a.recv(100)
        calls.append(data)
        if data == b'bad':
            raise ValueError('handler failure')
        received.append(data)
        done.set()

    try:
        with caplog.at_level(logging.ERROR, logger='cawire.ctx.loop'):
            loop.register(a, on_readable)
            b.send(b'bad')
            # The loop survives the handler's exception and keeps serving.
            deadline = threading.Event()
            for _ in range(100):
                if calls:
                    break
                deadline.wait(0.01)
            b.send(b'good')
            assert done.wait(WAIT)
        assert received == [b'good']
        assert 'handler failure' in caplog.text
        loop.unregister(a)
    finally:
        a.close()
        b.close()


def test_default_poller_is_epoll_where_available():
    loop = NetworkLoop('default-poller')
    try:
        assert loop.uses_epoll is hasattr(select, 'epoll')
    finally:
        loop.stop()



class CountingTimers(TimerScheduler):
    def __init__(self):
        super().__init__()
        self.runs = 0

    def run_due(self):
        self.runs += 1
        return super().run_due()


def test_timer_heap_is_run_only_when_a_deadline_is_due(loop):
    # Wake-ups for I/O and calls do not run the timer heap while its
    # earliest deadline lies ahead; the deadline, when reached, does.
    timers = CountingTimers()
    counted = NetworkLoop('counting-timers', use_epoll=loop.uses_epoll)
    counted.timers = timers
    counted.start()
    try:
        fired = threading.Event()
        counted.call_later(30, fired.set)         # far away
        for _ in range(50):
            run_on(counted, lambda: None)        # 50 wake-ups
        assert timers.runs == 0
        soon = threading.Event()
        counted.call_later(0.05, soon.set)
        assert soon.wait(WAIT)
        assert timers.runs >= 1
        assert not fired.is_set()
    finally:
        counted.stop()


def test_cancelled_earliest_timer_does_not_hold_up_the_next(loop):
    fired = []
    done = threading.Event()
    early = loop.call_later(0.02, fired.append, 'cancelled')
    loop.call_later(0.05, lambda: (fired.append('kept'), done.set()))
    early.cancel()
    assert done.wait(WAIT)
    assert fired == ['kept']


def test_writable_handler_on_and_off(loop):
    a, b = socket.socketpair()
    a.setblocking(False)
    writable = threading.Event()
    try:
        loop.register(a, lambda: a.recv(100))
        loop.set_writable_handler(a, writable.set)
        assert writable.wait(WAIT)      # an idle socket is writable at once
        loop.set_writable_handler(a, None)
        run_on(loop, lambda: None)     # the change has been made
        writable.clear()
        received = threading.Event()
        loop.register(a, lambda: (a.recv(100), received.set()))
        run_on(loop, lambda: None)     # the new handler is in place
        b.send(b'x')
        assert received.wait(WAIT)
        assert not writable.is_set()
        loop.unregister(a)
    finally:
        a.close()
        b.close()


def test_socket_closed_before_unregister_is_forgotten(loop):
    # An owner that closes first and unregisters after (fd already -1):
    # the registration is found by identity and dropped, and a new socket
    # that gets the same fd is served with its own handler.
    a, b = socket.socketpair()
    a.setblocking(False)
    loop.register(a, lambda: a.recv(100))
    run_on(loop, lambda: None)
    fd = a.fileno()
    a.close()
    loop.unregister(a)
    assert run_on(loop, lambda: fd in loop._registrations) is False
    c, d = socket.socketpair()
    c.setblocking(False)
    got = threading.Event()
    try:
        loop.register(c, lambda: (c.recv(100), got.set()))
        d.send(b'y')
        assert got.wait(WAIT)
    finally:
        for sock in (b, c, d):
            sock.close()


def test_closed_and_reused_fd_is_registered_again(loop):
    # Closed without being unregistered; its fd is reused by a new socket.
    a, b = socket.socketpair()
    a.setblocking(False)
    loop.register(a, lambda: a.recv(100))
    run_on(loop, lambda: None)
    old_fd = a.fileno()
    a.close()
    b.close()
    c, d = socket.socketpair()
    c.setblocking(False)
    got = threading.Event()
    try:
        loop.register(c, lambda: (c.recv(100), got.set()))
        d.send(b'z')
        assert got.wait(WAIT)
        if c.fileno() == old_fd:
            assert run_on(loop, lambda: loop._registrations[old_fd].sock
                           is c)
    finally:
        c.close()
        d.close()


def test_stop_joins_thread_and_closes_wake_sockets():
    loop = NetworkLoop('stopping-loop')
    loop.start()
    wake_fds = (loop._wake_receiver, loop._wake_sender)
    loop.stop(wait=True)
    assert not loop.running
    assert all(sock.fileno() == -1 for sock in wake_fds)


def test_stop_without_start_releases_resources():
    loop = NetworkLoop('never-started')
    loop.stop()
    assert loop._wake_sender.fileno() == -1


# -- CallbackExecutor -----------------------------------------------------------


def test_executor_runs_jobs_in_order_and_survives_exceptions(caplog):
    executor = CallbackExecutor(1, name='test-exec')
    results = []
    done = threading.Event()

    def bad():
        raise RuntimeError('user callback failure')

    with caplog.at_level(logging.ERROR, logger='cawire.callback'):
        for i in range(50):
            executor.submit(results.append, i)
            if i == 25:
                executor.submit(bad)
        executor.submit(done.set)
        assert done.wait(WAIT)
    executor.shutdown()
    assert results == list(range(50))
    assert 'user callback failure' in caplog.text
    assert 'Traceback' in caplog.text
    assert not any(t.is_alive() for t in executor.threads)


def test_executor_with_many_workers_starts_in_order():
    executor = CallbackExecutor(4, name='test-exec4')
    started = []
    lock = threading.Lock()
    finished = threading.Semaphore(0)

    def job(i):
        with lock:
            started.append(i)
        finished.release()

    for i in range(200):
        executor.submit(job, i)
    for _ in range(200):
        assert finished.acquire(timeout=WAIT)
    executor.shutdown()
    assert started == list(range(200))
    assert len(executor.threads) <= 4


def test_executor_water_marks():
    events = []
    gate = threading.Event()
    executor = CallbackExecutor(1, name='test-water', high_water=10,
                                low_water=2,
                                on_high_water=lambda: events.append('high'),
                                on_low_water=lambda: events.append('low'))
    executor.submit(gate.wait, WAIT)  # block the worker
    for _ in range(20):
        executor.submit(lambda: None)
    assert events == ['high']
    gate.set()
    done = threading.Event()
    executor.submit(done.set)
    assert done.wait(WAIT)
    executor.shutdown()
    assert events == ['high', 'low']


def test_executor_hold_defers_the_wake_up_until_release():
    executor = CallbackExecutor(1, name='test-hold')
    results = []
    executor.hold()
    for i in range(5):
        executor.submit(results.append, i)
    # No worker was woken (none even started) while held.
    assert executor.threads == []
    assert executor.backlog == 5
    done = threading.Event()
    executor.submit(done.set)
    executor.release()
    assert done.wait(WAIT)
    assert results == list(range(5))
    # Submissions from another thread are not held back by the holder.
    executor.hold()
    other = threading.Event()
    threading.Thread(target=executor.submit, args=(other.set,)).start()
    assert other.wait(WAIT)
    executor.release()
    executor.shutdown()
    assert not any(t.is_alive() for t in executor.threads)


def test_executor_shutdown_wakes_idle_workers():
    executor = CallbackExecutor(3, name='test-idle')
    finished = threading.Semaphore(0)
    gate = threading.Event()
    for _ in range(3):
        executor.submit(lambda: (gate.wait(WAIT), finished.release()))
    gate.set()
    for _ in range(3):
        assert finished.acquire(timeout=WAIT)
    executor.shutdown(timeout=WAIT)
    assert len(executor.threads) == 3
    assert not any(t.is_alive() for t in executor.threads)


def test_executor_rejects_after_shutdown():
    executor = CallbackExecutor(1)
    executor.shutdown()
    assert executor.submit(print) is False


# -- CallbackRegistry --------------------------------------------------------------


class Owner:
    def __init__(self):
        self.calls = []

    def method(self, sub, response):
        self.calls.append(response)


def test_registry_holds_weak_references():
    emptied = []
    registry = CallbackRegistry(on_removed=lambda: emptied.append(True))

    def func(sub, response):
        pass

    owner = Owner()
    registry.add(func)
    registry.add(owner.method)  # bound method: WeakMethod, not the instance
    assert len(registry.snapshot()) == 2
    del owner
    gc.collect()
    assert len(registry) == 1
    del func
    gc.collect()
    assert len(registry) == 0
    assert emptied == [True]


def test_registry_adapts_old_signature_with_warning():
    registry = CallbackRegistry()
    seen = []

    def old_style(response):
        seen.append(response)

    with pytest.warns(UserWarning, match='f\\(sub, response\\)'):
        registry.add(old_style, adapt_old_signature=True)
    for func in registry.snapshot():
        func('sub', 'response')
    assert seen == ['response']
    del old_style
    gc.collect()
    assert len(registry) == 0


def test_signature_detection():
    assert accepts_one_positional_argument(lambda response: None)
    assert not accepts_one_positional_argument(lambda sub, response: None)
    assert not accepts_one_positional_argument(lambda *args: None)
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        assert not accepts_one_positional_argument(Owner().method)


# -- StreamTransport ---------------------------------------------------------------


class TransportHarness:
    def __init__(self, loop, **kwargs):
        self.ours, self.theirs = socket.socketpair()
        self.ours.setblocking(False)
        self.commands = []
        self.closed = threading.Event()
        self.reason = None
        self.got = threading.Condition()
        self.transport = StreamTransport(
            loop, self.ours,
            parse=lambda buf: parse_stream(buf, CLIENT),
            on_commands=self._on_commands, on_closed=self._on_closed,
            **kwargs)
        loop.register(self.ours, self.transport.on_readable)

    def _on_commands(self, commands):
        with self.got:
            self.commands.extend(commands)
            self.got.notify_all()

    def _on_closed(self, reason):
        self.reason = reason
        self.closed.set()

    def wait_for(self, count):
        with self.got:
            return self.got.wait_for(lambda: len(self.commands) >= count, WAIT)

    def close(self):
        self.transport.close()
        self.closed.wait(WAIT)
        self.theirs.close()


def test_transport_reassembles_and_views_large_payload_in_place(loop):
    harness = TransportHarness(loop)
    try:
        values = list(range(100_000))
        big = ca.ReadNotifyResponse(values, ca.ChannelType.DOUBLE
                                    if hasattr(ca, 'ChannelType') else 6,
                                    len(values), 1, 7)
        small = ca.EchoResponse()
        wire = b''.join(bytes(b) for b in serialize(small, big, small))
        # Dribble the bytes so messages straddle receives.
        for start in range(0, len(wire), 50_000):
            harness.theirs.sendall(wire[start:start + 50_000])
        assert harness.wait_for(3)
        echo1, reply, echo2 = harness.commands
        assert isinstance(reply, ca.ReadNotifyResponse)
        assert list(reply.data[:3]) == [0, 1, 2] and reply.data[-1] == 99_999
        # The 800 kB payload was received into a buffer of exactly its
        # message's size (header 24 + payload), not copied out of an arena.
        payload_owner = reply.buffers[-1].obj
        assert len(payload_owner) == 24 + 800_000 > ARENA_SIZE
    finally:
        harness.close()


def test_transport_sends_more_than_the_socket_buffer(loop):
    harness = TransportHarness(loop)
    try:
        payload = bytes(range(256)) * (8 * 4096)  # 8 MiB
        harness.transport.send([payload])  # must not raise BlockingIOError
        received = bytearray()
        harness.theirs.settimeout(WAIT)
        while len(received) < len(payload):
            chunk = harness.theirs.recv(1 << 20)
            assert chunk
            received += chunk
        assert received == payload
        # The network thread books the last send after the peer may already
        # have read it: give it a bounded moment to do so.
        deadline = time.monotonic() + WAIT
        while harness.transport.queued_bytes and time.monotonic() < deadline:
            time.sleep(0.005)
        assert harness.transport.queued_bytes == 0
    finally:
        harness.close()


def test_transport_direct_send_keeps_order_across_partial_buffers(loop):
    """A user thread's send with nothing queued goes straight to sendmsg;
    what the kernel does not take (here from inside the second or third
    buffer, of three kinds) is queued in order."""
    import array
    harness = TransportHarness(loop)
    try:
        first = bytes(range(16))
        second = bytearray(bytes(range(251)) * 16_000)      # ~4 MB
        third = memoryview(array.array('d', range(500_000)))  # 4 MB, 'd'
        expected = first + bytes(second) + third.tobytes()
        harness.transport.send([first, second, third])
        harness.transport.send([b'tail'])  # queued behind the rest
        received = bytearray()
        harness.theirs.settimeout(WAIT)
        while len(received) < len(expected) + 4:
            chunk = harness.theirs.recv(1 << 20)
            assert chunk
            received += chunk
        assert received == expected + b'tail'
    finally:
        harness.close()


def test_transport_protocol_error_closes_with_reason(loop):
    harness = TransportHarness(loop)
    try:
        good = bytes(ca.EchoResponse())
        misaligned = b'\x00\x17\x00\x03' + bytes(12) + b'abc'  # size 3
        harness.theirs.sendall(good + misaligned)
        assert harness.closed.wait(WAIT)
        assert 'protocol error' in harness.reason
        # The message before the bad one was delivered.
        assert len(harness.commands) == 1
        with pytest.raises(DisconnectedError):
            harness.transport.send([b'x'])
    finally:
        harness.theirs.close()


def test_transport_peer_close_is_reported(loop):
    harness = TransportHarness(loop)
    harness.theirs.close()
    assert harness.closed.wait(WAIT)
    assert 'closed' in harness.reason


def test_transport_discards_oversized_messages(loop):
    oversized = []
    harness = TransportHarness(loop, max_message=16_384 + 24,
                               on_oversized=oversized.append)
    try:
        big = ca.ReadNotifyResponse(list(range(10_000)), 6, 10_000, 1, 3)
        after = ca.EchoResponse()
        wire = b''.join(bytes(b) for b in serialize(big, after))
        harness.theirs.sendall(wire)
        assert harness.wait_for(1)
        assert isinstance(harness.commands[0], ca.EchoResponse)
        assert oversized and oversized[0][5] == 3  # ioid from the header
        assert not harness.closed.is_set()
    finally:
        harness.close()


def test_no_lost_wakeups_under_contention(loop):
    # Each thread repeatedly queues a call and waits for it.  With no timers
    # armed the loop sleeps without a deadline, so a single lost wake-up
    # would leave a caller waiting for good.
    failures = []

    def hammer():
        for _ in range(300):
            done = threading.Event()
            loop.call_soon(done.set)
            if not done.wait(WAIT):
                failures.append('lost wake-up')
                return

    threads = [threading.Thread(target=hammer) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert failures == []
