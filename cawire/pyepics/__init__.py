"""pyepics's API on cawire: ``import cawire.pyepics as epics``.

The functions and the :class:`PV` class follow pyepics 3.5: the same
signatures, defaults, return values (None where pyepics returns None, 1 for
a completed put) and printed messages ("cannot connect to X").  What is
deliberately different is listed in docs/pyepics.md.
"""
from __future__ import annotations

import threading
import time
from typing import Any

from . import _convert, ca, dbr, pv
from ._convert import unpack as _unpack
from .ca import poll
from .pv import PV, get_pv, fmt_time

__all__ = ('PV', 'get_pv', 'poll', 'caget', 'caput', 'cainfo', 'camonitor',
           'camonitor_clear', 'caget_many', 'caput_many', 'ca', 'dbr', 'pv',
           'fmt_time', 'NO_ALARM', 'MINOR_ALARM', 'MAJOR_ALARM',
           'INVALID_ALARM', '__version__')

#: The pyepics version whose behaviour this module follows.
__version__ = '3.5.10'

NO_ALARM = dbr.NO_ALARM
MINOR_ALARM = dbr.MINOR_ALARM
MAJOR_ALARM = dbr.MAJOR_ALARM
INVALID_ALARM = dbr.INVALID_ALARM

_PVmonitors_: dict = {}


def caput(pvname: str, value, wait: bool = False, timeout: float = 60.0,
          connection_timeout: float = 5.0):
    """Write ``value`` to ``pvname``; 1 on success, a negative number if a
    ``wait`` timed out, None if the PV did not connect."""
    start_time = time.time()
    thispv = get_pv(pvname, timeout=connection_timeout, connect=True)
    if not thispv.connected:
        return None
    return thispv.put(value, wait=wait, timeout=timeout - (time.time() - start_time))


def caget(pvname: str, as_string: bool = False, count=None,
          as_numpy: bool = True, use_monitor: bool = True,
          timeout: float = 5.0, connection_timeout: float = 5.0):
    """The value of ``pvname``, or None (after printing ``cannot connect to
    <name>``) if it does not connect within ``connection_timeout``."""
    start_time = time.time()
    thispv = get_pv(pvname, timeout=connection_timeout, connect=True)
    if not thispv.connected:
        return None
    if as_string:
        thispv.get_ctrlvars()
    return thispv.get(count=count, timeout=timeout - (time.time() - start_time),
                      use_monitor=use_monitor, as_string=as_string,
                      as_numpy=as_numpy)


def cainfo(pvname: str, print_out: bool = True, timeout: float = 5.0,
           connection_timeout: float = 5.0):
    """Print (or with ``print_out=False`` return) a description of the PV."""
    start_time = time.time()
    thispv = get_pv(pvname, timeout=connection_timeout, connect=True)
    if not thispv.connected:
        return None
    thispv.get(timeout=timeout - (time.time() - start_time))
    thispv.get_ctrlvars(timeout=timeout - (time.time() - start_time))
    if print_out:
        ca.write(thispv.info)
        return None
    return thispv.info


def camonitor_clear(pvname: str) -> None:
    """Stop a monitor started by :func:`camonitor`."""
    thispv = _PVmonitors_.pop(pvname, None)
    if thispv is not None:
        thispv.remove_callback(index=-999)


def camonitor(pvname: str, writer=None, callback=None,
              connection_timeout: float = 5.0, monitor_delta=None) -> None:
    """Print (through ``writer``, default stdout) or pass to ``callback``
    every change of ``pvname``."""
    if writer is None:
        writer = ca.write
    if callback is None:
        def callback(pvname=None, value=None, char_value=None, **kwds):
            if char_value is None:
                char_value = repr(value)
            writer(f'{pvname:.32s} {fmt_time()} {char_value}')
    thispv = get_pv(pvname, timeout=connection_timeout, connect=True,
                    monitor_delta=monitor_delta)
    if thispv.connected:
        thispv.get()
        thispv.add_callback(callback, index=-999, with_ctrlvars=True)
        _PVmonitors_[pvname] = thispv


def _as_string(val, native: int, count: int, channel) -> str:
    if native == dbr.CHAR and count < ca.AUTOMONITOR_MAXLENGTH:
        codes = list(val) if hasattr(val, '__len__') else [val]
        if 0 in codes:
            codes = codes[:codes.index(0)]
        return ''.join(chr(code) for code in codes).strip()
    if native == dbr.ENUM and count == 1:
        try:
            strings = channel.read(data_type='control', timeout=5.0).metadata.enum_strings
            return _convert.as_text(strings[val])
        except Exception:
            return str(val)
    if count > 1:
        return f'<array count={count}, type={native}>'
    return str(val)


def caget_many(pvlist, as_string: bool = False, as_numpy: bool = True,
               count=None, timeout: float = 1.0, connection_timeout: float = 5.0,
               conn_timeout=None) -> list:
    """Values of many PVs, read in one batch; None for each PV that did not
    connect within ``connection_timeout`` or answer within ``timeout``."""
    from ..threading.client import Batch
    if conn_timeout is not None:
        connection_timeout = conn_timeout
    names = list(pvlist)
    channels = ca.context().get_pvs(*names)
    expire = time.monotonic() + connection_timeout
    for channel in channels:
        remaining = expire - time.monotonic()
        if remaining <= 0:
            break
        channel.channel_ready.wait(remaining)
    connected = [channel.connected for channel in channels]
    responses: list = [None] * len(channels)
    pending = [sum(connected)]
    all_done = threading.Event()
    lock = threading.Lock()

    def store(index, response):
        responses[index] = response
        with lock:
            pending[0] -= 1
            if pending[0] == 0:
                all_done.set()

    if pending[0] == 0:
        all_done.set()
    def storer(index: int):
        return lambda response: store(index, response)

    with Batch(timeout=timeout) as batch:
        for index, (channel, conn) in enumerate(zip(channels, connected)):
            if conn:
                batch.read(channel, storer(index), data_count=count)
    all_done.wait(timeout)
    out: list = []
    for channel, conn, response in zip(channels, connected, responses):
        if not conn or response is None or not hasattr(response, 'data'):
            out.append(None)
            continue
        chan: Any = channel.channel
        native, nelm = int(chan.native_data_type), int(chan.native_data_count)
        value = _unpack(response.data, native, nelm, as_numpy)
        if as_string:
            value = _as_string(value, native,
                               nelm if count is None else min(count, nelm), channel)
        out.append(value)
    return out


def caput_many(pvlist, values, wait=False, connection_timeout: float = 5.0,
               put_timeout: float = 60) -> list:
    """Write many PVs; 1 for each success, -1 for a failure or timeout.

    ``wait='each'`` waits for each put in turn, ``wait='all'`` for all of
    them together (up to ``put_timeout``).
    """
    if len(pvlist) != len(values):
        raise ValueError('List of PV names must be equal to list of values.')
    pvs = [get_pv(name, auto_monitor=False, timeout=connection_timeout)
           for name in pvlist]
    wait_all = wait == 'all'
    results = [thispv.put(val, wait=(wait == 'each'), timeout=put_timeout,
                          use_complete=wait_all)
               for thispv, val in zip(pvs, values)]
    if not wait_all:
        return [val if val == 1 else -1 for val in results]
    start_time = time.time()
    while not all(p.connected and p.put_complete for p in pvs):
        ca.poll(evt=1.e-3)
        if time.time() - start_time > put_timeout:
            break
    return [1 if (p.connected and p.put_complete) else -1 for p in pvs]
