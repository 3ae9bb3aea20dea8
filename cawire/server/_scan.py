"""Periodic scans of pvproperties (``pvproperty(scan=)``, ``@prop.scan``).
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from ..protocol._enums import AlarmSeverity, AlarmStatus
from ..protocol._exceptions import CaprotoValueError

__all__ = ('run_scan', 'scan_wrapper')

logger = logging.getLogger('cawire.server')


async def run_scan(group: Any, instance: Any, async_lib: Any, func: Callable,
                   period: Callable[[], float], *,
                   subtract_elapsed: bool = True, stop_on_error: bool = False,
                   failure_severity: AlarmSeverity = AlarmSeverity.MAJOR_ALARM
                   ) -> None:
    """Call ``func(group, instance, async_lib)`` every ``period()`` seconds
    (asked again before each call; 0 means not now, look again in 0.1 s).

    A failing call is logged and sets the instance's alarm to
    SCAN/``failure_severity`` until a call succeeds.
    """
    loop = asyncio.get_running_loop()
    log = getattr(group, 'log', logger)
    while True:
        started = loop.time()
        interval = period()
        if interval <= 0:
            # Passive/event SCAN: look again later for a new rate.
            await asyncio.sleep(0.1)
            continue
        try:
            await func(group, instance, async_lib)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - a user scan hook failed
            log.exception('Scan of %s failed',
                          getattr(instance, 'pvname', instance))
            await instance.alarm.write(status=AlarmStatus.SCAN,
                                       severity=failure_severity)
            if stop_on_error:
                return
        else:
            if (instance.alarm.status, instance.alarm.severity) == (
                    AlarmStatus.SCAN, failure_severity):
                await instance.alarm.write(status=AlarmStatus.NO_ALARM,
                                           severity=AlarmSeverity.NO_ALARM)
        delay = interval
        if subtract_elapsed:
            delay = max(0.0, interval - (loop.time() - started))
        await asyncio.sleep(delay)


def scan_wrapper(scan_function: Callable, period: float, *,
                 subtract_elapsed: bool = True, stop_on_error: bool = False,
                 failure_severity: AlarmSeverity = AlarmSeverity.MAJOR_ALARM,
                 use_scan_field: bool = False) -> Callable:
    """Turn ``scan_function(group, instance, async_lib)`` into a coroutine
    function that calls it every ``period`` seconds (for ``pvproperty(scan=)``).

    A failing call is logged and sets the alarm to SCAN/``failure_severity``
    until a call succeeds; ``stop_on_error`` ends the loop instead.
    ``subtract_elapsed`` keeps the period between starts, not between calls.
    ``use_scan_field``: a ``record=`` PV follows its SCAN field once a client
    wrote it.
    """
    if period <= 0:
        raise CaprotoValueError('scan period must be > 0')

    async def scanned(group, instance, async_lib) -> None:
        if not hasattr(instance, 'scan_loop'):
            # A record field's channel (``@prop.fields.X.scan``): the
            # fixed period.
            await run_scan(group, instance, async_lib, scan_function,
                           lambda: float(period),
                           subtract_elapsed=subtract_elapsed,
                           stop_on_error=stop_on_error,
                           failure_severity=AlarmSeverity(failure_severity))
            return
        await instance.scan_loop(
            async_lib, scan_function, float(period),
            subtract_elapsed=subtract_elapsed, stop_on_error=stop_on_error,
            failure_severity=AlarmSeverity(failure_severity),
            use_scan_field=use_scan_field)
    return scanned
