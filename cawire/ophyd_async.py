"""Run ophyd-async's Channel Access signals on cawire (no libca).

ophyd-async's CA backend (``ophyd_async.epics.core._aioca``) calls aioca's
``caget``/``caput``/``camonitor`` through its module globals.  :func:`use`
points those globals at :mod:`cawire.aioca`, so every ``epics_signal_*``
with a ``ca://`` (or default) PV created afterwards -- and the ones already
made, since the functions are looked up at call time -- talk CA through
cawire's asyncio client.  No file of ophyd-async is changed;
:func:`restore` undoes it::

    import cawire.ophyd_async
    cawire.ophyd_async.use()

    from ophyd_async.epics.core import epics_signal_rw
    motor = epics_signal_rw(float, 'ca://BL:motor', name='motor')
"""
from __future__ import annotations

import importlib
from typing import Any

__all__ = ('use', 'restore', 'in_use')

#: The names of ophyd-async's CA backend module that are aioca's.
_REPLACED = ('caget', 'caput', 'camonitor', 'CANothing', 'Subscription',
             'FORMAT_CTRL', 'FORMAT_RAW', 'FORMAT_TIME')
_BACKEND_MODULE = 'ophyd_async.epics.core._aioca'
_originals: dict[str, Any] = {}


def _backend() -> Any:
    return importlib.import_module(_BACKEND_MODULE)


def use() -> None:
    """Make ophyd-async's CA backend use :mod:`cawire.aioca`.

    Raises
    ------
    ImportError
        ophyd-async (with its CA backend) is not installed.
    """
    from . import aioca
    backend = _backend()
    if not _originals:
        for name in _REPLACED:
            _originals[name] = getattr(backend, name)
    for name in _REPLACED:
        setattr(backend, name, getattr(aioca, name))


def restore() -> None:
    """Give ophyd-async's CA backend back its aioca functions."""
    if not _originals:
        return
    backend = _backend()
    for name, value in _originals.items():
        setattr(backend, name, value)
    _originals.clear()


def in_use() -> bool:
    """Whether :func:`use` is in force."""
    if not _originals:
        return False
    from . import aioca
    return getattr(_backend(), 'caget', None) is aioca.caget
