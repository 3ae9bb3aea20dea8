"""The network thread: one poller, one self-pipe, one timer heap.

A :class:`NetworkLoop` owns a thread that waits in ``epoll_wait`` (on Linux;
elsewhere the ``selectors`` module's best selector) over every socket of
the client (the UDP search socket and all TCP circuits).  The wait's
timeout is the time to the next timer deadline, so the thread sleeps until
there is either I/O or a timer due: there is no polling interval anywhere.

A wake-up costs what it must and little more: ``epoll.poll`` hands back
``(fd, events)`` pairs and each goes straight to the handler registered for
that fd (no selector keys or event lists are built); the timer heap is
looked at once (``heap[0][0]`` against one clock reading) and only run when
its earliest deadline has passed.

Other threads talk to the loop through :meth:`call_soon` (run a function on
the loop thread) and the socket (un)registration methods; both write one
byte to a socketpair that the poller watches, which wakes it at once.

Handlers run on the loop thread and must never block.  An exception in a
handler is logged and the loop keeps running.

Lending the loop (:meth:`NetworkLoop.borrow`, :meth:`NetworkLoop.serve`):
a user thread about to send a request on one socket and wait for the reply
may, while the loop thread sleeps in its wait, take the loop's role for
that socket and run its readable handler itself when the reply comes, as C libca's non-preemptive clients receive
on the calling thread.  That saves the hand-off of every reply from the
loop thread to the waiter (a thread wake-up and a GIL hand-over, a tenth
of a sequential round trip on loopback).  The role is a lock, which the
loop thread holds whenever it is not waiting: so handlers never run on two
threads at once, and the borrower *is* the loop thread for
:meth:`in_loop_thread` while it serves.  The loop thread stops
watching the socket for reading meanwhile, and takes its role back as soon
as it has anything else to do (I/O on another socket, a timer, a call or a
stop from another thread): it wakes through the wake-up socket, which the
borrower watches too and answers by giving the role back.  Only on epoll.
"""
from __future__ import annotations

import _thread
import collections
import logging
import select
import selectors
import socket
import threading
from time import monotonic
from typing import Any, Callable

from ._timers import TimerHandle, TimerScheduler

__all__ = ('NetworkLoop', 'Loan')

logger = logging.getLogger('cawire.ctx.loop')

EVENT_READ = selectors.EVENT_READ
EVENT_WRITE = selectors.EVENT_WRITE

#: Most (fd, events) pairs taken per wait; more ready sockets than this are
#: served on the next pass (the poll is level-triggered).
MAX_EVENTS = 256
#: Seconds a borrower waits at most for the loop thread to run the calls
#: its handlers left (a stopped loop never does).
CALLS_LEFT_WAIT = 5.0

_allocate_lock = _thread.allocate_lock


class _Registration:
    """A watched socket, its fd and its two handlers."""

    __slots__ = ('sock', 'fd', 'on_readable', 'on_writable', 'borrower_poll')

    def __init__(self, sock: Any, fd: int,
                 on_readable: Callable[[], None] | None,
                 on_writable: Callable[[], None] | None) -> None:
        self.sock = sock
        self.fd = fd
        self.on_readable = on_readable
        self.on_writable = on_writable
        # What a borrower of this socket waits in (the socket and the
        # loop's wake-up socket), made on the first loan and kept: only the
        # holder of the loop's role uses it, one thread at a time.
        self.borrower_poll: Any = None

    @property
    def events(self) -> int:
        """What to watch, as ``EVENT_READ | EVENT_WRITE`` bits."""
        return ((EVENT_READ if self.on_readable else 0)
                | (EVENT_WRITE if self.on_writable else 0))


class Loan:
    """The loop's role lent to a waiting thread for one socket
    (:meth:`NetworkLoop.borrow`)."""

    __slots__ = ('registration', 'earliest', 'active')

    def __init__(self, registration: _Registration,
                 earliest: tuple | None) -> None:
        self.registration = registration
        # The timer heap's head when lent: a different head when given
        # back means the borrower added an earlier timer.
        self.earliest = earliest
        self.active = True


class _EpollPoller:
    """``select.epoll``, with readiness reported as epoll bits."""

    #: Bits of a reported event that call the readable (writable) handler:
    #: an error or hang-up calls both, as ``selectors`` does.
    READABLE = ~select.EPOLLOUT if hasattr(select, 'EPOLLOUT') else 0
    WRITABLE = ~select.EPOLLIN if hasattr(select, 'EPOLLIN') else 0

    def __init__(self) -> None:
        self._epoll = select.epoll()
        #: ``poll(timeout, max_events)``: ``epoll.poll`` itself (timeout in
        #: seconds, -1: no limit; a fractional millisecond is rounded up,
        #: never down to a busy 0).
        self.poll = self._epoll.poll

    @staticmethod
    def _mask(events: int) -> int:
        return ((select.EPOLLIN if events & EVENT_READ else 0)
                | (select.EPOLLOUT if events & EVENT_WRITE else 0))

    def register(self, fd: int, events: int) -> None:
        try:
            self._epoll.register(fd, self._mask(events))
        except FileExistsError:
            self._epoll.modify(fd, self._mask(events))

    def modify(self, fd: int, events: int) -> None:
        try:
            self._epoll.modify(fd, self._mask(events))
        except FileNotFoundError:
            # The kernel forgot an fd that was closed and reused meanwhile.
            self._epoll.register(fd, self._mask(events))

    def unregister(self, fd: int) -> None:
        try:
            self._epoll.unregister(fd)
        except (OSError, ValueError):
            pass  # closed already: the kernel dropped it

    def close(self) -> None:
        self._epoll.close()


class _SelectorsPoller:
    """The portable fallback: ``selectors.DefaultSelector``, reporting
    ``(fd, EVENT_READ | EVENT_WRITE)`` pairs like the epoll poller."""

    READABLE = EVENT_READ
    WRITABLE = EVENT_WRITE

    def __init__(self) -> None:
        self._selector = selectors.DefaultSelector()

    def register(self, fd: int, events: int) -> None:
        self._selector.register(fd, events)

    def modify(self, fd: int, events: int) -> None:
        try:
            self._selector.modify(fd, events)
        except KeyError:
            self._selector.register(fd, events)
        except OSError:
            # A stale entry for an fd closed and reused meanwhile.
            self.unregister(fd)
            self._selector.register(fd, events)

    def unregister(self, fd: int) -> None:
        try:
            self._selector.unregister(fd)
        except (KeyError, ValueError, OSError):
            pass

    def poll(self, timeout: float,
             max_events: int = MAX_EVENTS) -> list[tuple[int, int]]:
        """As ``epoll.poll``: timeout -1 waits without a limit."""
        return [(key.fd, events) for key, events
                in self._selector.select(None if timeout < 0 else timeout)]

    def close(self) -> None:
        self._selector.close()


def _make_poller(use_epoll: bool | None) -> _EpollPoller | _SelectorsPoller:
    if use_epoll is None:
        use_epoll = hasattr(select, 'epoll')
    return _EpollPoller() if use_epoll else _SelectorsPoller()


class NetworkLoop:
    """An event loop thread for sockets and timers.

    Parameters
    ----------
    name : str
        Thread name (shows in ``threading.enumerate()``).
    use_epoll : bool, optional
        Wait in ``select.epoll`` (True) or in ``selectors.DefaultSelector``
        (False, the portable path).  Default: epoll where it exists.
    """

    def __init__(self, name: str = 'cawire-network', *,
                 use_epoll: bool | None = None) -> None:
        self.name = name
        self.timers = TimerScheduler()
        self._poller = _make_poller(use_epoll)
        #: fd -> registration; the wake-up socket's entry is None.
        self._registrations: dict[int, _Registration | None] = {}
        self._wake_receiver, self._wake_sender = socket.socketpair()
        self._wake_receiver.setblocking(False)
        self._wake_sender.setblocking(False)
        wake_fd = self._wake_receiver.fileno()
        self._poller.register(wake_fd, EVENT_READ)
        self._registrations[wake_fd] = None
        self._calls: collections.deque = collections.deque()
        self._wake_pending = False
        self._wake_lock = threading.Lock()
        self._stopping = False
        self._closed = False
        self._thread: threading.Thread | None = None
        # The thread acting as the loop thread (the loop thread, or a
        # borrower while it serves a loan) and the loop thread itself.
        self._thread_id: int | None = None
        self._loop_thread_id: int | None = None
        # The loop's role: held by the loop thread except while it waits
        # in poll(), and then by a borrower (borrow) if any.  Taken
        # here, at creation, so that nobody borrows a loop not running.
        self._role = threading.Lock()
        self._role.acquire()
        self._lendable = isinstance(self._poller, _EpollPoller)
        #: Receives done by borrowers (serve) rather than by the loop
        #: thread.
        self.lent_receives = 0

    @property
    def uses_epoll(self) -> bool:
        """Whether the loop waits in ``select.epoll`` (else ``selectors``)."""
        return isinstance(self._poller, _EpollPoller)

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> None:
        """Start the loop thread (once)."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name=self.name,
                                        daemon=True)
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def in_loop_thread(self) -> bool:
        """True when called from the loop thread itself."""
        return threading.get_ident() == self._thread_id

    def stop(self, *, wait: bool = True, timeout: float | None = 5.0) -> None:
        """Stop the thread after the calls already queued have run.

        Sockets still registered are *not* closed: their owners close them.
        The poller and the wake-up socketpair are closed once the thread
        has exited (or immediately if it never started).
        """
        self._stopping = True
        self._wake()
        thread = self._thread
        if thread is None:
            self._close_resources()
            return
        if wait and not self.in_loop_thread():
            thread.join(timeout)

    def _close_resources(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.timers.clear()
        self._registrations.clear()
        try:
            self._poller.close()
        finally:
            self._wake_receiver.close()
            self._wake_sender.close()

    # -- cross-thread interface -----------------------------------------------

    def call_soon(self, func: Callable[..., Any], *args: Any) -> None:
        """Run ``func(*args)`` on the loop thread as soon as possible.

        From the loop thread itself the call is still deferred (run after
        the current handler returns), which keeps handlers re-entrancy free.
        """
        self._calls.append((func, args))
        if threading.get_ident() != self._thread_id:
            self._wake()

    def call_later(self, delay: float, func: Callable[..., Any],
                   *args: Any) -> TimerHandle:
        """Run ``func(*args)`` on the loop thread after ``delay`` seconds."""
        handle, is_earliest = self.timers.call_later(delay, func, *args)
        if is_earliest and not self.in_loop_thread():
            self._wake()
        return handle

    def call_at(self, deadline: float, func: Callable[..., Any],
                *args: Any) -> TimerHandle:
        """Run ``func(*args)`` on the loop thread at monotonic ``deadline``."""
        handle, is_earliest = self.timers.call_at(deadline, func, *args)
        if is_earliest and not self.in_loop_thread():
            self._wake()
        return handle

    def register(self, sock: socket.socket, on_readable: Callable | None,
                 on_writable: Callable | None = None) -> None:
        """Watch ``sock``; handlers are called on the loop thread."""
        self._run_on_loop(self._register, sock, on_readable, on_writable)

    def set_writable_handler(self, sock: socket.socket,
                             on_writable: Callable | None) -> None:
        """Start (handler) or stop (None) watching ``sock`` for writability."""
        self._run_on_loop(self._set_writable_handler, sock, on_writable)

    def unregister(self, sock: socket.socket) -> None:
        """Stop watching ``sock`` (no error if it is not registered)."""
        self._run_on_loop(self._unregister, sock)

    def _run_on_loop(self, func, *args) -> None:
        if self.in_loop_thread():
            func(*args)
        else:
            self.call_soon(func, *args)

    def _wake(self) -> None:
        with self._wake_lock:
            if self._wake_pending or self._closed:
                return
            self._wake_pending = True
        try:
            self._wake_sender.send(b'\0')
        except (BlockingIOError, OSError):
            # A full pipe already guarantees a wake-up; a closed one means
            # the loop is gone.
            pass

    # -- lending the loop to a waiting thread ------------------------------------

    def borrow(self, sock: socket.socket) -> Loan | None:
        """Take the loop's role for ``sock`` if the loop thread is idle.

        For a user thread about to send a request on ``sock`` and wait for
        its reply: on success the loop thread no longer watches ``sock``
        for reading (so the reply cannot wake it) and runs no handler
        until the role is given back.  Send the request, then
        :meth:`serve` the loan (which gives it back); give it back with
        :meth:`give_back` on any other way out, and before anything that
        waits for the loop thread (a full send queue).

        Returns None when the loop is busy, not running, the caller is the
        loop thread, ``sock`` is not watched for reading, or the poller is
        not epoll.
        """
        if (not self._lendable or self._stopping
                or threading.get_ident() == self._thread_id
                or not self._role.acquire(False)):
            return None
        fd = sock.fileno()
        registration = self._registrations.get(fd)
        if (registration is None or registration.sock is not sock
                or registration.on_readable is None):
            self._role.release()
            return None
        heap = self.timers.heap
        loan = Loan(registration, heap[0] if heap else None)
        try:
            self._poller.modify(fd, registration.events & ~EVENT_READ)
        except (OSError, ValueError):
            self._role.release()    # (closed meanwhile, not unregistered)
            return None
        return loan

    def serve(self, loan: Loan, done: Callable[[], bool],
              timeout: float | None) -> None:
        """Be the loop thread for the loan's socket until ``done()``.

        Runs the socket's readable handler on the calling thread whenever
        data comes, until ``done()`` is true, ``timeout`` (seconds, None:
        none) expires, the socket is closed or unregistered, or the loop
        thread wants its role back; then gives the loan back.  The caller
        goes on waiting as usual afterwards: this only decides which
        thread receives.
        """
        if not loan.active:
            return
        try:
            if not done():
                self._thread_id = threading.get_ident()
                self._serve(loan.registration, done, timeout)
        finally:
            self.give_back(loan)

    def give_back(self, loan: Loan) -> None:
        """End a loan (idempotent): the loop thread watches the socket
        again and is woken if the borrower left it work (calls, an earlier
        timer).

        Calls that the borrower's handlers queued (the search after a
        circuit died, a flush of sends) have run on the loop thread when
        this returns, as they would have at the end of the loop thread's
        own pass before the waiting caller went on.
        """
        if not loan.active:
            return
        loan.active = False
        registration = loan.registration
        try:
            if (not self._closed and self._registrations.get(
                    registration.fd) is registration):
                self._poller.modify(registration.fd, registration.events)
        except (OSError, ValueError):
            pass    # closed without being unregistered: nothing to watch
        finally:
            self._thread_id = self._loop_thread_id
            heap = self.timers.heap
            calls_left = bool(self._calls)
            earlier_timer = bool(heap) and heap[0] is not loan.earliest
            self._role.release()
        if calls_left:
            ran = _allocate_lock()
            ran.acquire()
            self.call_soon(ran.release)     # (wakes the loop thread)
            # Bounded: a loop that stops meanwhile never runs it.
            ran.acquire(True, CALLS_LEFT_WAIT)
        elif earlier_timer:
            self._wake()

    def _serve(self, registration: _Registration, done: Callable[[], bool],
               timeout: float | None) -> None:
        # The borrower's wait: the socket and the wake-up socket (the loop
        # thread, or anyone with work for it, writes there).
        fd = registration.fd
        watch = registration.borrower_poll
        if watch is None:
            watch = registration.borrower_poll = select.poll()
            watch.register(fd, select.POLLIN)
            watch.register(self._wake_receiver.fileno(), select.POLLIN)
        end = None if timeout is None else monotonic() + timeout
        wait_ms: float | None = None
        registrations = self._registrations
        while True:
            if end is not None:
                wait_ms = (end - monotonic()) * 1000
                if wait_ms <= 0:
                    return
            ready = watch.poll(wait_ms)
            if not ready:
                return
            give_back = False
            for ready_fd, events in ready:
                if ready_fd != fd:
                    give_back = True
                    continue
                handler = registration.on_readable
                if handler is None or events & select.POLLNVAL:
                    return     # (closed behind the loop's back)
                self.lent_receives += 1
                try:
                    handler()
                except Exception:
                    logger.exception('Socket handler failed for %r',
                                     registration.sock)
            if (give_back or done() or self._stopping
                    or registrations.get(fd) is not registration):
                return

    # -- loop-thread side ------------------------------------------------------

    def _registration_of(self, sock) -> _Registration | None:
        fd = sock.fileno()
        if fd >= 0:
            registration = self._registrations.get(fd)
            if registration is not None and registration.sock is sock:
                return registration
            return None
        # Closed before being unregistered: its fd is gone, find it by
        # identity (rare: owners unregister first).
        for registration in self._registrations.values():
            if registration is not None and registration.sock is sock:
                return registration
        return None

    def _register(self, sock, on_readable, on_writable) -> None:
        if self._closed:
            return
        fd = sock.fileno()
        if fd < 0:
            return
        previous = self._registrations.get(fd)
        registration = _Registration(sock, fd, on_readable, on_writable)
        self._registrations[fd] = registration
        if previous is not None and previous.sock is sock:
            self._poller.modify(fd, registration.events)
            return
        if previous is not None:
            # This socket took the fd of one closed without being
            # unregistered: drop whatever the poller still holds for it.
            self._poller.unregister(fd)
        self._poller.register(fd, registration.events)

    def _set_writable_handler(self, sock, on_writable) -> None:
        if self._closed or sock.fileno() < 0:
            return
        registration = self._registration_of(sock)
        if registration is None or registration.on_writable is on_writable:
            return
        registration.on_writable = on_writable
        self._poller.modify(registration.fd, registration.events)

    def _unregister(self, sock) -> None:
        if self._closed:
            return
        registration = self._registration_of(sock)
        if registration is None:
            return
        del self._registrations[registration.fd]
        self._poller.unregister(registration.fd)

    def _drain_wake_socket(self) -> None:
        # Drain first, then clear the flag: clearing first would let a
        # waker set it again and have its byte swallowed by this drain,
        # leaving the flag set with no byte in the pipe (a lost wake-up).
        try:
            while self._wake_receiver.recv(4096):
                pass
        except (BlockingIOError, InterruptedError):
            pass
        with self._wake_lock:
            self._wake_pending = False

    def _run_calls(self) -> None:
        calls = self._calls
        # Only the calls queued so far: calls queued by these calls run on
        # the next pass, after I/O had a chance.
        for _ in range(len(calls)):
            func, args = calls.popleft()
            try:
                func(*args)
            except Exception:
                logger.exception('Loop call %r failed', func)

    def _run(self) -> None:
        # (The role lock was taken by __init__ for this thread: a raw lock
        # may be released by another thread than the one that took it.)
        self._thread_id = self._loop_thread_id = threading.get_ident()
        try:
            self._loop()
            # Let pending work (e.g. close requests) finish before exiting.
            self._run_calls()
        except Exception:
            logger.exception('Network loop %s crashed', self.name)
            raise
        finally:
            self._close_resources()

    def _loop(self) -> None:
        # The hot loop: locals only, one clock reading per pass.
        poller = self._poller
        poll = poller.poll
        readable, writable = poller.READABLE, poller.WRITABLE
        registrations = self._registrations
        calls = self._calls
        heap = self.timers.heap
        run_due = self.timers.run_due
        clock = self.timers.clock
        role = self._role
        now: float | None = None
        while not self._stopping:
            if calls:
                timeout = 0.0
            elif heap:
                if now is None:
                    now = clock()
                timeout = heap[0][0] - now
                if timeout < 0:
                    timeout = 0.0
            else:
                timeout = -1.0     # no deadline: sleep until I/O or a wake-up
            role.release()         # (a waiting user thread may borrow it)
            ready = poll(timeout, MAX_EVENTS)
            if not role.acquire(False):
                # Lent out: ask the borrower to give it back, and wait.
                self._wake()
                role.acquire()
            for fd, events in ready:
                registration = registrations.get(fd)
                if registration is None:
                    if fd in registrations:
                        self._drain_wake_socket()
                    continue   # unregistered by a handler of this pass
                try:
                    if events & readable and registration.on_readable:
                        registration.on_readable()
                    if events & writable and registration.on_writable:
                        registration.on_writable()
                except Exception:
                    logger.exception('Socket handler failed for %r',
                                     registration.sock)
            now = clock()
            if heap and heap[0][0] <= now:
                run_due()
                now = None
            if calls:
                self._run_calls()
                now = None
