"""pyepics-API metrics, shared by the pyepics and cawire-pyepics runners.

The same code runs with ``epics`` being pyepics (libca) or
``cawire.pyepics``: only the module differs, as ``_threading_api`` does for
cawire's and caproto's threading clients.

* ``caget_names``: ``epics.caget(name)`` for each of N names in turn, in a
  fresh process (each call creates, connects, monitors and reads a PV);
* ``caget_many``: ``epics.caget_many(names)``; the first call connects, the
  median of the following ones is reported (as the bulk-read metric);
* ``pv_monitor``: ``epics.PV(name, form='time', callback=...)`` for every
  load PV and the fast PV, then the monitor window (see ``_common``).
"""
from __future__ import annotations

import time

from _common import MonitorWindow, median, wait_caught_up, wait_for_go, wait_until


def caget_names(epics, names: list[str], timeout: float) -> dict:
    epics.ca.initialize_libca()
    t0 = time.perf_counter()
    for name in names:
        if epics.caget(name, timeout=timeout, connection_timeout=timeout) is None:
            raise TimeoutError(f'caget({name!r}) returned None')
    return {'caget_names_s': time.perf_counter() - t0}


def caget_many(epics, names: list[str], reads: int, timeout: float) -> dict:
    epics.ca.initialize_libca()
    times = []
    for attempt in range(reads + 1):  # the first one also connects
        t0 = time.perf_counter()
        values = epics.caget_many(names, timeout=timeout,
                                  connection_timeout=timeout)
        elapsed = time.perf_counter() - t0
        missing = sum(value is None for value in values)
        if missing:
            raise TimeoutError(f'caget_many: {missing} of {len(names)} '
                               f'values missing')
        if attempt:
            times.append(elapsed)
    return {'caget_many_s': median(times)}


def pv_monitor(epics, names: list[str], fast: str, warmup_s: float,
               window_s: float, timeout: float, subscribe_timeout: float,
               catchup_timeout: float) -> dict:
    epics.ca.initialize_libca()
    t_start = time.perf_counter()
    count = [0]
    latest = [None]

    def on_update(**kwargs):
        count[0] += 1

    def on_fast(timestamp=None, **kwargs):
        count[0] += 1
        latest[0] = timestamp

    pvs = [epics.PV(name, form='time', auto_monitor=True, callback=on_update)
           for name in names]
    pvs.append(epics.PV(fast, form='time', auto_monitor=True, callback=on_fast))
    deadline = time.monotonic() + timeout
    for pv in pvs:
        if not pv.wait_for_connection(timeout=max(0.001, deadline - time.monotonic())):
            raise TimeoutError(f'{pv.pvname} did not connect')
    initial_complete = wait_until(
        lambda: count[0] >= len(names) and latest[0] is not None,
        subscribe_timeout)
    subscribed_s = time.perf_counter() - t_start
    time.sleep(warmup_s)
    lag_at_start = wait_caught_up(
        lambda: None if latest[0] is None else time.time() - latest[0],
        catchup_timeout)
    window = MonitorWindow(lambda: count[0])
    wait_for_go()
    window.start()
    time.sleep(window_s)
    result = window.stop(latest[0])
    result.update(subscribed_s=subscribed_s, initial_complete=initial_complete,
                  lag_at_start_s=lag_at_start)
    return result


def metrics(epics) -> dict:
    """The metric table of a runner whose pyepics-style module is ``epics``."""
    return {
        'caget_names': lambda **kw: caget_names(epics, **kw),
        'caget_many': lambda **kw: caget_many(epics, **kw),
        'pv_monitor': lambda **kw: pv_monitor(epics, **kw),
    }
