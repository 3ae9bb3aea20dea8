"""Helpers for the reliability tests of the threading client.

Small, bounded building blocks: polling with a deadline, a loopback-only
Context built from explicit settings (never os.environ), freezing a process
until all its threads are stopped, counting our TCP connections, and a
fixture that fails a test on any uncaught exception in any thread.
"""
from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import psutil
import pytest

from ..config import Config

__all__ = ('WAIT', 'MB', 'wait_until', 'make_context', 'freeze',
           'tcp_connections_to', 'live_circuits', 'rss', 'thread_errors',
           'Recorder')

#: Default bound (seconds) for waits in the reliability tests.
WAIT = 15.0
MB = 1 << 20


def wait_until(predicate: Callable[[], Any], timeout: float = WAIT,
               interval: float = 0.01) -> bool:
    """Poll ``predicate`` until true or ``timeout`` s; return its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def make_context(*ports: int, repeater_port: int,
                 timeout: float | None = WAIT, **environ: str) -> Any:
    """A threading-client Context searching only 127.0.0.1 on ``ports``
    (extra EPICS_CA_* settings as keyword arguments)."""
    from ..threading.client import Context, SharedBroadcaster
    settings = {
        'EPICS_CA_AUTO_ADDR_LIST': 'NO',
        'EPICS_CA_ADDR_LIST': ' '.join(f'127.0.0.1:{p}' for p in ports),
        'EPICS_CA_NAME_SERVERS': '',
        'EPICS_CA_SERVER_PORT': str(ports[0]),
        'EPICS_CA_REPEATER_PORT': str(repeater_port)}
    settings.update(environ)
    return Context(SharedBroadcaster(config=Config.from_environ(settings)),
                   timeout=timeout)


def freeze(process_owner: Any, timeout: float = 5.0) -> None:
    """SIGSTOP ``process_owner`` (anything with ``kill(sig)`` and ``pid``)
    and wait until every thread of it is stopped."""
    process_owner.kill(signal.SIGSTOP)
    pid = process_owner.pid

    def stopped():
        for tid in os.listdir(f'/proc/{pid}/task'):
            with open(f'/proc/{pid}/task/{tid}/stat') as stat:
                if stat.read().rsplit(')', 1)[1].split()[0] not in 'tT':
                    return False
        return True

    if not wait_until(stopped, timeout):
        raise TimeoutError(f'process {pid} did not stop')


def tcp_connections_to(port: int) -> list:
    """Established TCP connections of this process to 127.0.0.1:port."""
    me = psutil.Process()
    conns = me.net_connections('tcp') if hasattr(me, 'net_connections') \
        else me.connections('tcp')
    return [c for c in conns if c.raddr and c.raddr.port == port
            and c.status == psutil.CONN_ESTABLISHED]


def live_circuits(ctx: Any) -> list:
    return [cm for cm in list(ctx.circuit_managers.values())
            if not cm.dead.is_set()]


def rss() -> int:
    return psutil.Process().memory_info().rss


@pytest.fixture
def thread_errors() -> Iterator[list]:
    """Uncaught exceptions of any thread during the test (must stay [])."""
    errors = []
    previous = threading.excepthook

    def hook(args):
        errors.append(args)
        previous(args)

    threading.excepthook = hook
    yield errors
    threading.excepthook = previous
    assert not errors, [f'{e.thread.name}: {e.exc_type.__name__}: '
                        f'{e.exc_value}' for e in errors]


class Recorder:
    """A subscription callback that keeps values (hold a reference: the
    subscription keeps callbacks weakly)."""

    def __init__(self, delay: float = 0.0) -> None:
        self.values: list[float] = []
        self.delay = delay

    def __call__(self, sub, response):
        self.values.append(float(response.data[0]))
        if self.delay:
            time.sleep(self.delay)
