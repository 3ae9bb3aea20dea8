"""A pyepics PV's user callbacks: how they are kept and called.

Value callbacks live in the PV's public ``callbacks`` dict (pyepics's
layout, ``index -> (callable, keywords)``), which user code may read or
change; the functions here work on that dict.  A callback's exception is
logged, never propagated: the next callback and the next update still run.
"""
from __future__ import annotations

import logging
from typing import Any, Callable

from . import ca

__all__ = ('call_user', 'initial_value_callbacks', 'add_value_callback',
           'run_value_callback', 'notify_connection', 'notify_access')

logger = logging.getLogger('cawire.pyepics')


def call_user(func: Callable, *args: Any, **kwargs: Any) -> None:
    """Call user code; log what it raises."""
    try:
        func(*args, **kwargs)
    except Exception:
        logger.exception('user callback %r raised', func)


def initial_value_callbacks(callback: Any) -> dict:
    """The ``callbacks`` dict of ``PV(callback=...)``: one callable (index
    0) or a list of them (their positions; entries not callable skipped)."""
    callbacks: dict = {}
    if isinstance(callback, (tuple, list)):
        for index, func in enumerate(callback):
            if callable(func):
                callbacks[index] = (func, {})
    elif callable(callback):
        callbacks[0] = (callback, {})
    return callbacks


def add_value_callback(callbacks: dict, callback: Callable, index: Any,
                       kw: dict) -> Any:
    """Keep ``callback`` (called with keywords ``kw`` too) at ``index``
    (None: one past the largest); return the index."""
    if index is None:
        index = 1
        if callbacks:
            index = 1 + max(callbacks)
    callbacks[index] = (callback, kw)
    return index


def run_value_callback(callbacks: dict, index: Any, fields: dict,
                       pv: Any) -> None:
    """Call the value callback at ``index`` (if any): the keywords are the
    PV's ``fields``, the callback's own keywords and ``cb_info=(index,
    pv)``."""
    try:
        func, kwargs = callbacks[index]
    except KeyError:
        return
    # A copy per call, as pyepics makes: a callback may keep or change it.
    kwds = fields.copy()
    if kwargs:
        kwds.update(kwargs)
    kwds['cb_info'] = (index, pv)
    if callable(func):
        try:
            func(**kwds)
        except Exception:
            logger.exception('user callback %r raised', func)


def notify_connection(callbacks: list, pvname: str, conn: bool, pv: Any,
                      verbose: bool) -> None:
    """Call the connection callbacks ``f(pvname=, conn=, pv=)`` (an entry
    that is not callable prints pyepics's verbose disconnection message)."""
    for func in list(callbacks):
        if callable(func):
            call_user(func, pvname=pvname, conn=conn, pv=pv)
        elif not conn and verbose:
            ca.write(f"PV '{pvname}' disconnected.")


def notify_access(callbacks: list, read: bool, write: bool, pv: Any) -> None:
    """Call the access callbacks ``f(read_access, write_access, pv=)``."""
    for func in list(callbacks):
        if callable(func):
            call_user(func, read, write, pv=pv)
