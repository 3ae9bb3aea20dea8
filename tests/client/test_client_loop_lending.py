"""Lending the network loop to a waiting thread (``NetworkLoop.borrow`` /
``serve`` / ``give_back``): the borrower runs the socket's handler as the
loop thread, the loop takes its role back whenever it has other work, and
no way out of a loan leaves the role held.

No EPICS peer is needed here; sockets are local socketpairs.  Waits are
bounded and nothing asserts timing.
"""
import logging
import select
import socket
import threading
import time

import pytest

from cawire.threading._selector_loop import NetworkLoop

from loop_helpers import WAIT, run_on



@pytest.fixture
def epoll_loop():
    if not hasattr(select, 'epoll'):
        pytest.skip('the loop is lent only on epoll')
    loop = NetworkLoop('lending-loop')
    loop.start()
    yield loop
    loop.stop()


def _borrow(loop, sock):
    # The loop thread releases its role only while it sleeps in its wait:
    # right after start (or a wake-up) it may still hold it for a moment.
    for _ in range(500):
        loan = loop.borrow(sock)
        if loan is not None:
            return loan
        time.sleep(0.002)
    raise AssertionError('the idle loop was never lent')


def test_borrower_runs_the_handler_as_the_loop_thread(epoll_loop):
    loop = epoll_loop
    a, b = socket.socketpair()
    a.setblocking(False)
    seen = []

    def on_readable():
        data = a.recv(100)
        seen.append((data, threading.get_ident(), loop.in_loop_thread()))

    try:
        loop.register(a, on_readable)
        run_on(loop, lambda: None)
        loan = _borrow(loop, a)
        b.send(b'one')
        loop.serve(loan, lambda: bool(seen), WAIT)
        assert seen == [(b'one', threading.get_ident(), True)]
        assert not loop.in_loop_thread()
        assert loop.lent_receives >= 1
        # Given back: the loop thread watches the socket again.
        b.send(b'two')
        deadline = time.monotonic() + WAIT
        while len(seen) < 2 and time.monotonic() < deadline:
            time.sleep(0.005)
        assert seen[1][0] == b'two' and seen[1][1] != threading.get_ident()
        assert seen[1][2] is True
        loop.unregister(a)
    finally:
        a.close()
        b.close()


@pytest.mark.parametrize('work', ['call', 'timer', 'other socket'])
def test_loop_takes_its_role_back_for_other_work(epoll_loop, work):
    # A borrower waiting for a reply that does not come gives the role
    # back as soon as the loop thread has something else to do.
    loop = epoll_loop
    a, b = socket.socketpair()
    c, d = socket.socketpair()
    a.setblocking(False)
    c.setblocking(False)
    done = threading.Event()
    ran_on = []

    def mark():
        ran_on.append(threading.get_ident())
        done.set()

    try:
        loop.register(a, lambda: a.recv(100))
        loop.register(c, lambda: (c.recv(100), mark()))
        run_on(loop, lambda: None)
        loan = _borrow(loop, a)
        trigger = {'call': lambda: loop.call_soon(mark),
                   'timer': lambda: loop.call_later(0.01, mark),
                   'other socket': lambda: d.send(b'x')}[work]
        threading.Timer(0.05, trigger).start()
        started = time.monotonic()
        loop.serve(loan, done.is_set, WAIT)
        assert time.monotonic() - started < WAIT   # did not sit it out
        assert done.wait(WAIT)
        assert ran_on and ran_on[0] != threading.get_ident()
        loop.unregister(a)
        loop.unregister(c)
    finally:
        for sock in (a, b, c, d):
            sock.close()


def test_calls_left_by_the_borrower_have_run_when_it_returns(epoll_loop):
    loop = epoll_loop
    a, b = socket.socketpair()
    a.setblocking(False)
    ran = []
    received = []

    def on_readable():
        received.append(a.recv(100))
        loop.call_soon(lambda: ran.append(loop.in_loop_thread()))

    try:
        loop.register(a, on_readable)
        run_on(loop, lambda: None)
        loan = _borrow(loop, a)
        b.send(b'x')
        loop.serve(loan, lambda: bool(received), WAIT)
        assert received == [b'x']
        assert ran == [True]     # run by the loop thread, before we went on
        loop.unregister(a)
    finally:
        a.close()
        b.close()


def test_handler_exception_during_a_loan_is_logged(epoll_loop, caplog):
    loop = epoll_loop
    a, b = socket.socketpair()
    a.setblocking(False)
    calls = []

    def on_readable():
        calls.append(a.recv(100))
        raise ValueError('handler failure on loan')

    try:
        loop.register(a, on_readable)
        run_on(loop, lambda: None)
        loan = _borrow(loop, a)
        b.send(b'x')
        with caplog.at_level(logging.ERROR, logger='cawire.ctx.loop'):
            loop.serve(loan, lambda: bool(calls), WAIT)
        assert calls == [b'x']
        assert 'handler failure on loan' in caplog.text
        assert run_on(loop, lambda: 'alive') == 'alive'
        loop.unregister(a)
    finally:
        a.close()
        b.close()


def test_socket_closed_by_the_borrowers_handler(epoll_loop):
    loop = epoll_loop
    a, b = socket.socketpair()
    a.setblocking(False)
    closed = []

    def on_readable():
        if not a.recv(100):
            loop.unregister(a)
            a.close()
            closed.append(True)

    try:
        loop.register(a, on_readable)
        run_on(loop, lambda: None)
        loan = _borrow(loop, a)
        b.close()
        loop.serve(loan, lambda: False, WAIT)   # returns: socket gone
        assert closed == [True]
        assert run_on(loop, lambda: 'alive') == 'alive'
    finally:
        a.close()


def test_borrow_is_refused_when_it_cannot_be_lent(epoll_loop):
    loop = epoll_loop
    a, b = socket.socketpair()
    a.setblocking(False)
    try:
        loop.register(a, lambda: a.recv(100))
        run_on(loop, lambda: None)
        # From the loop thread itself.
        assert run_on(loop, lambda: loop.borrow(a)) is None
        # A socket the loop does not watch.
        assert loop.borrow(b) is None
        # Lent already: a second borrower gets nothing.
        loan = _borrow(loop, a)
        other = []
        thread = threading.Thread(target=lambda: other.append(loop.borrow(a)))
        thread.start()
        thread.join(WAIT)
        assert other == [None]
        loop.give_back(loan)
        loop.give_back(loan)    # idempotent
        loop.give_back(_borrow(loop, a))   # lent again once given back
        loop.unregister(a)
    finally:
        a.close()
        b.close()
    never_started = NetworkLoop('not-started')
    assert never_started.borrow(a) is None
    never_started.stop()
    portable = NetworkLoop('portable', use_epoll=False)
    portable.start()
    try:
        c, d = socket.socketpair()
        portable.register(c, lambda: c.recv(100))
        run_on(portable, lambda: None)
        assert portable.borrow(c) is None
        c.close()
        d.close()
    finally:
        portable.stop()


def test_socket_closed_behind_the_loops_back_during_a_loan(epoll_loop):
    # Closed without being unregistered while lent: serving ends, the role
    # comes back (the loop thread is not left blocked on it).
    loop = epoll_loop
    a, b = socket.socketpair()
    a.setblocking(False)
    try:
        loop.register(a, lambda: None)
        run_on(loop, lambda: None)
        loan = _borrow(loop, a)
        a.close()
        loop.serve(loan, lambda: False, WAIT)
        assert run_on(loop, lambda: 'alive') == 'alive'
        loop.unregister(a)
    finally:
        b.close()
