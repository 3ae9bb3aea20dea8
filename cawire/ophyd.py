"""A control layer for ophyd on cawire: ``cawire.ophyd.use()``.

ophyd talks to EPICS through a control layer, ``ophyd.cl``: a namespace of
eight names (``setup, caput, caget, get_pv, thread_class, name,
release_pvs, get_dispatcher``).  This module is such a layer, built on
:mod:`cawire.pyepics` and ophyd's own event dispatcher
(``ophyd._dispatch.EventDispatcher``), so signals get the same callbacks on
the same dispatcher threads as with ophyd's pyepics layer.

Usage, before the first signal is created::

    import cawire.ophyd
    cawire.ophyd.use()
    from ophyd import EpicsSignal

ophyd is optional: importing this module does not import it; :func:`use`
and :func:`setup` do.
"""
from __future__ import annotations

import atexit
import logging
import os
import threading
from types import SimpleNamespace
from typing import Any

from .pyepics import caget, caput  # noqa: F401  (two of the eight names)
from .pyepics import ca as _ca
from .pyepics.pv import PV as _PyepicsPV
from .pyepics.pv import cached_pv

__all__ = ('setup', 'caput', 'caget', 'get_pv', 'thread_class', 'name',
           'release_pvs', 'get_dispatcher', 'use', 'control_layer', 'OphydPV')

logger = logging.getLogger('cawire.ophyd')

#: The control layer's name (``signal.cl.name``).
name = 'cawire'
#: Threads ophyd starts (``set()`` waits) are plain threads: no CA context
#: needs attaching.
thread_class = threading.Thread

_dispatcher: Any = None
_pv_cache: dict = {}
_FOREVER = 315569520.0  # seconds (ten years): ophyd's "no timeout"


def get_dispatcher():
    """The ophyd EventDispatcher of this layer (None before :func:`setup`)."""
    return _dispatcher


def _wrap(kind: str, callback):
    from ophyd._dispatch import wrap_callback
    return wrap_callback(_dispatcher, kind, callback)


class OphydPV(_PyepicsPV):
    """The PV ophyd gets: callbacks go through ophyd's dispatcher threads
    ('metadata' for connection and access, 'monitor' for values, 'get_put'
    for put completion), as with ophyd's pyepics layer."""

    def __init__(self, pvname: str, callback=None, form: str = 'time',
                 verbose: bool = False, auto_monitor=None, count=None,
                 connection_callback=None, connection_timeout=None,
                 access_callback=None, monitor_delta=None):
        super().__init__(
            pvname, form=form, verbose=verbose, auto_monitor=auto_monitor,
            count=count, connection_timeout=connection_timeout,
            connection_callback=_wrap('metadata', connection_callback),
            callback=_wrap('monitor', callback),
            access_callback=_wrap('metadata', access_callback),
            monitor_delta=monitor_delta)

    def add_callback(self, callback=None, index=None, run_now: bool = False,
                     with_ctrlvars: bool = True, **kw):
        """Add a value callback, turning the auto-monitor on if it is off."""
        if not self.auto_monitor:
            self.auto_monitor = _ca.DEFAULT_SUBSCRIPTION_MASK
        return super().add_callback(callback=_wrap('monitor', callback),
                                    index=index, run_now=run_now,
                                    with_ctrlvars=with_ctrlvars, **kw)

    def put(self, value, wait: bool = False, timeout=None,
            use_complete: bool = False, callback=None, callback_data=None):
        """Write; ``timeout=None`` waits without limit (ophyd's meaning)."""
        if timeout is None:
            timeout = _FOREVER
        return super().put(value, wait=wait, timeout=timeout,
                           use_complete=use_complete,
                           callback=_wrap('get_put', callback),
                           callback_data=callback_data)

    def _getarg(self, arg):
        # As ophyd's pyepics layer: reading a field never triggers a get().
        if self._args[arg] is None:
            if arg in ('status', 'severity', 'timestamp', 'posixseconds',
                       'nanoseconds'):
                self.get_timevars(timeout=1, warn=False)
            else:
                self.get_ctrlvars(timeout=1, warn=False)
        return self._args.get(arg, None)

    def get_all_metadata_callback(self, callback, *, timeout):
        """``callback(pvname, md)`` from the dispatcher's utility thread."""
        def fetch(pvname):
            callback(pvname, self.get_all_metadata_blocking(timeout=timeout))
        _dispatcher.schedule_utility_task(fetch, pvname=self.pvname)

    def clear_callbacks(self, with_access_callback: bool = True,
                        with_connect_callback: bool = True) -> None:
        """Remove value, access and connection callbacks."""
        super().clear_callbacks(with_access_callback, with_connect_callback)


def get_pv(pvname, form: str = 'time', connect: bool = False, context=None,
           timeout: float = 5.0, connection_callback=None, access_callback=None,
           callback=None, verbose: bool = False, count=None, auto_monitor=None,
           monitor_delta=None):
    """The cached :class:`OphydPV` for ``(pvname, form)``."""
    return cached_pv(_pv_cache, OphydPV, pvname, form=form, connect=connect,
                     timeout=timeout, connection_callback=connection_callback,
                     access_callback=access_callback, callback=callback,
                     verbose=verbose, count=count, auto_monitor=auto_monitor,
                     monitor_delta=monitor_delta)


def release_pvs(*pvs) -> None:
    """Drop one reference from each PV; a PV nobody uses any more loses its
    callbacks and monitor and leaves the cache (a later ``get_pv`` makes a
    new one)."""
    for pv in pvs:
        pv._reference_count -= 1
        if pv._reference_count == 0:
            pv.clear_callbacks()
            pv.clear_auto_monitor()
            pv.disconnect()


def setup(logger: logging.Logger) -> Any:
    """Start ophyd's EventDispatcher for this layer (once per process)."""
    global _dispatcher
    if _dispatcher is not None:
        logger.debug('ophyd already set up')
        return _dispatcher
    from ophyd._dispatch import EventDispatcher, _CallbackThread
    # Its threads need no CA context attached: ophyd's base thread class.
    _dispatcher = EventDispatcher(thread_class=_CallbackThread,
                                  context=_ca.current_context(), logger=logger)
    atexit.register(_cleanup)
    return _dispatcher


def _cleanup() -> None:
    global _dispatcher
    dispatcher, _dispatcher = _dispatcher, None
    if dispatcher is not None and dispatcher.is_alive():
        dispatcher.stop()


def control_layer() -> SimpleNamespace:
    """The eight names ophyd expects of a control layer."""
    return SimpleNamespace(setup=setup, caput=caput, caget=caget,
                           get_pv=get_pv, thread_class=thread_class, name=name,
                           release_pvs=release_pvs,
                           get_dispatcher=get_dispatcher)


def use() -> SimpleNamespace:
    """Make ophyd use cawire: set up the dispatcher and assign ``ophyd.cl``.

    Call it before the first signal is created (signals keep the layer they
    were built with).  If ophyd is not imported yet, ``OPHYD_CONTROL_LAYER``
    defaults to ``dummy`` so that importing ophyd does not load libca.
    A later ``ophyd.set_cl()`` replaces this layer.
    """
    os.environ.setdefault('OPHYD_CONTROL_LAYER', 'dummy')
    import ophyd
    import ophyd.signal
    setup(logging.getLogger('ophyd'))
    layer = control_layer()
    ophyd.cl = layer
    return layer
