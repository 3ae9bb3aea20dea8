"""The parts of pyepics's ``epics.ca`` module that scripts commonly call.

pyepics drives libca, whose callbacks run when the program polls (or on
libca's own threads).  cawire's threading client delivers everything on its
own threads, so the polling functions here have nothing to pump: they only
yield the processor for the time asked, which keeps loops written as
``while not done: epics.poll()`` working and cheap.  The channel-level
functions of ``epics.ca`` (``create_channel``, ``get``, ``put`` on chids)
are not provided: use :class:`cawire.pyepics.PV`.
"""
from __future__ import annotations

import sys
import threading
import time

from ..threading.client import Context
from . import dbr

__all__ = ('AUTOMONITOR_MAXLENGTH', 'DEFAULT_CONNECTION_TIMEOUT',
           'DEFAULT_SUBSCRIPTION_MASK', 'ChannelAccessException',
           'ChannelAccessGetFailure', 'CASeverityException', 'write', 'poll',
           'pend_io', 'pend_event', 'flush_io', 'initialize_libca',
           'finalize_libca', 'current_context', 'use_initial_context',
           'context', 'clear_cache')

#: Arrays at least this long are not monitored automatically.
AUTOMONITOR_MAXLENGTH = 65536
#: Seconds a PV waits for its connection unless told otherwise.
DEFAULT_CONNECTION_TIMEOUT = 2.0
#: Events of an automatic monitor: value changes and alarm changes.
DEFAULT_SUBSCRIPTION_MASK = dbr.DBE_VALUE | dbr.DBE_ALARM
#: Kept for scripts that set it; callbacks always run on cawire's threads.
PREEMPTIVE_CALLBACK = True
HAS_NUMPY = True

_CONTEXT_ID = 1
_context: Context | None = None
_context_lock = threading.Lock()
_clear_cache_callbacks: list = []


class ChannelAccessException(Exception):
    """A general Channel Access error (as pyepics raises it)."""


class ChannelAccessGetFailure(Exception):
    """The server answered a read with an error status."""

    def __init__(self, message: str, chid=None, status=None):
        super().__init__(message)
        self.chid = chid
        self.status = status


class CASeverityException(Exception):
    """An operation was refused (pyepics: libca returned a bad status)."""

    def __init__(self, fcn: str, msg: str):
        super().__init__(fcn, msg)
        self.fcn = fcn
        self.msg = msg

    def __str__(self) -> str:
        return f" {self.fcn} returned '{self.msg}'"


def context() -> Context:
    """The process-wide cawire Context behind every pyepics-style PV."""
    global _context
    ctx = _context
    if ctx is None:
        with _context_lock:
            if _context is None:
                _context = Context()
            ctx = _context
    return ctx


def write(msg: str, newline: bool = True, flush: bool = True) -> None:
    """Print ``msg`` on stdout (pyepics's messages go through here)."""
    sys.stdout.write(msg)
    if newline:
        sys.stdout.write('\n')
    if flush:
        sys.stdout.flush()


def pend_event(timeout: float = 1.e-5) -> int:
    """Yield for ``timeout`` seconds (callbacks run on their own threads)."""
    time.sleep(max(0.0, timeout))
    return dbr.ECA_TIMEOUT


def pend_io(timeout: float = 1.0) -> int:
    """Return at once: every request completes on cawire's threads."""
    return dbr.ECA_NORMAL


def poll(evt: float = 1.e-5, iot: float = 1.0) -> int:
    """``pend_event(evt)`` then ``pend_io(iot)``, as in pyepics."""
    pend_event(evt)
    return pend_io(iot)


def flush_io() -> int:
    """Return at once: cawire sends requests as they are made."""
    return dbr.ECA_NORMAL


def initialize_libca() -> int:
    """Create the shared context (there is no libca to load)."""
    context()
    return _CONTEXT_ID


def finalize_libca(maxtime: float = 10.0) -> None:
    """Disconnect every PV and close the shared context."""
    global _context
    clear_cache()
    with _context_lock:
        ctx, _context = _context, None
    if ctx is not None:
        ctx.disconnect()


def current_context() -> int:
    """The id of the one context (pyepics has one per thread)."""
    return _CONTEXT_ID


def use_initial_context() -> None:
    """Nothing to do: every thread shares the one context."""


def register_clear_cache(callback) -> None:
    """Run ``callback()`` whenever :func:`clear_cache` is called."""
    _clear_cache_callbacks.append(callback)


def clear_cache() -> None:
    """Forget every cached PV (each is disconnected)."""
    for callback in list(_clear_cache_callbacks):
        callback()
