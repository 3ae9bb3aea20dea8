"""The network thread: one selector, one self-pipe, one timer heap.

A :class:`NetworkLoop` owns a thread that waits in ``selector.select()``
over every socket of the client (the UDP search socket and all TCP
circuits).  The select timeout is the time to the next timer deadline, so
the thread sleeps until there is either I/O or a timer due: there is no
polling interval anywhere.

Other threads talk to the loop through :meth:`call_soon` (run a function on
the loop thread) and the socket (un)registration methods; both write one
byte to a socketpair that the selector watches, which wakes it at once.

Handlers run on the loop thread and must never block.  An exception in a
handler is logged and the loop keeps running.
"""
from __future__ import annotations

import collections
import logging
import selectors
import socket
import threading
from typing import Any, Callable

from ._timers import TimerHandle, TimerScheduler

__all__ = ('NetworkLoop',)

logger = logging.getLogger('cawire.ctx.loop')

EVENT_READ = selectors.EVENT_READ
EVENT_WRITE = selectors.EVENT_WRITE


class _Registration:
    """What the selector key carries: a socket's two handlers."""

    __slots__ = ('on_readable', 'on_writable')

    def __init__(self, on_readable: Callable[[], None] | None,
                 on_writable: Callable[[], None] | None) -> None:
        self.on_readable = on_readable
        self.on_writable = on_writable


class NetworkLoop:
    """An event loop thread for sockets and timers.

    Parameters
    ----------
    name : str
        Thread name (shows in ``threading.enumerate()``).
    """

    def __init__(self, name: str = 'cawire-network') -> None:
        self.name = name
        self.timers = TimerScheduler()
        self._selector = selectors.DefaultSelector()
        self._wake_receiver, self._wake_sender = socket.socketpair()
        self._wake_receiver.setblocking(False)
        self._wake_sender.setblocking(False)
        self._selector.register(self._wake_receiver, EVENT_READ, None)
        self._calls: collections.deque = collections.deque()
        self._wake_pending = False
        self._wake_lock = threading.Lock()
        self._stopping = False
        self._closed = False
        self._thread: threading.Thread | None = None
        self._thread_id: int | None = None

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
        The selector and the wake-up socketpair are closed once the thread
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
        try:
            self._selector.close()
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
        if not self.in_loop_thread():
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

    # -- loop-thread side ------------------------------------------------------

    def _register(self, sock, on_readable, on_writable) -> None:
        if self._closed or sock.fileno() < 0:
            return
        events = (EVENT_READ if on_readable else 0) | \
            (EVENT_WRITE if on_writable else 0)
        registration = _Registration(on_readable, on_writable)
        try:
            self._selector.modify(sock, events, registration)
        except KeyError:
            self._selector.register(sock, events, registration)

    def _set_writable_handler(self, sock, on_writable) -> None:
        if self._closed or sock.fileno() < 0:
            return
        try:
            key = self._selector.get_key(sock)
        except (KeyError, ValueError):
            return
        registration = key.data
        if registration.on_writable is on_writable:
            return
        registration.on_writable = on_writable
        events = (EVENT_READ if registration.on_readable else 0) | \
            (EVENT_WRITE if on_writable else 0)
        self._selector.modify(sock, events, registration)

    def _unregister(self, sock) -> None:
        if self._closed:
            return
        try:
            self._selector.unregister(sock)
        except (KeyError, ValueError):
            pass

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
        self._thread_id = threading.get_ident()
        select = self._selector.select
        timers = self.timers
        try:
            while not self._stopping:
                timeout = 0 if self._calls else timers.next_timeout()
                for key, events in select(timeout):
                    registration = key.data
                    if registration is None:
                        self._drain_wake_socket()
                        continue
                    try:
                        if events & EVENT_READ and registration.on_readable:
                            registration.on_readable()
                        if events & EVENT_WRITE and registration.on_writable:
                            registration.on_writable()
                    except Exception:
                        logger.exception('Socket handler failed for %r',
                                         key.fileobj)
                timers.run_due()
                if self._calls:
                    self._run_calls()
            # Let pending work (e.g. close requests) finish before exiting.
            self._run_calls()
        except Exception:
            logger.exception('Network loop %s crashed', self.name)
            raise
        finally:
            self._close_resources()
