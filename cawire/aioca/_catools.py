"""aioca's functions on cawire: caget, caput, camonitor, connect, cainfo.

Each takes one PV name or a list (run in parallel).  ``timeout`` is seconds,
None (forever) or ``(deadline,)`` (absolute ``time.time()``); a timeout
becomes ``CANothing(name, ECA_TIMEOUT)``, raised or, with ``throw=False``,
returned (as every CA error is).  With a list and ``throw=True`` the timeout
applies to the whole list.
"""
from __future__ import annotations

import asyncio
import functools
import time
import warnings
from collections.abc import Awaitable, Callable
from typing import Any

from ..protocol._exceptions import (DisconnectedError, ErrorResponseReceived,
                                    PermissionDenied)
from ..protocol._channel import require_access
from ..protocol._status import ensure_eca_value
from ._channels import ConnectBatch, get_channel, get_channel_cache
from ._dbr import FORMAT_RAW, encode_value, plan_request
from ._nothing import (ECA_DISCONN, ECA_NORMAL, ECA_NORDACCESS, ECA_NOWTACCESS,
                       ECA_TIMEOUT, CANothing)
from ._subscription import Subscription

__all__ = ('caget', 'caput', 'camonitor', 'connect', 'cainfo', 'run',
           'CAInfo', 'ChannelInfo', 'get_channel_infos', 'DEFAULT_TIMEOUT')

DEFAULT_TIMEOUT = 5.0


def _relative(timeout: Any) -> float | None:
    if isinstance(timeout, tuple):
        return timeout[0] - time.time()
    return timeout


async def _with_timeout(awaitable: Awaitable, name: str, timeout: Any) -> Any:
    timeout = _relative(timeout)
    if timeout is None:
        return await awaitable
    try:
        return await asyncio.wait_for(awaitable, timeout)
    except asyncio.TimeoutError as exc:
        raise CANothing(name, ECA_TIMEOUT) from exc


def _as_nothing(name: str, exc: BaseException) -> CANothing:
    if isinstance(exc, CANothing):
        return exc
    if isinstance(exc, DisconnectedError):
        return CANothing(name, ECA_DISCONN)
    if isinstance(exc, PermissionDenied):
        return CANothing(name, ECA_NOWTACCESS if 'write' in str(exc).lower()
                         else ECA_NORDACCESS)
    if isinstance(exc, ErrorResponseReceived):
        response = getattr(exc, 'response', None)
        status = getattr(response, 'status', None)
        if status is not None:
            return CANothing(name, ensure_eca_value(status))
    raise exc


def _ca_function(single: Callable) -> Callable:
    """Add aioca's ``timeout=``/``throw=`` handling and list support."""

    @functools.wraps(single)
    async def call(pv: Any, *args: Any, timeout: Any = DEFAULT_TIMEOUT,
                   throw: bool = True, **kwargs: Any) -> Any:
        if isinstance(pv, (list, tuple)):
            return await _many(pv, args, kwargs, timeout, throw)
        return await _one(pv, args, kwargs, timeout, throw)

    async def _one(pv: str, args: tuple, kwargs: dict, timeout: Any,
                   throw: bool) -> Any:
        try:
            return await _with_timeout(single(pv, *args, **kwargs), pv,
                                       timeout)
        except (CANothing, DisconnectedError, PermissionDenied,
                ErrorResponseReceived) as exc:
            nothing = _as_nothing(pv, exc)
            if throw:
                if nothing is exc:
                    raise
                raise nothing from exc
            return nothing

    async def _many(pvs: Any, args: tuple, kwargs: dict, timeout: Any,
                    throw: bool) -> list:
        per_pv = kwargs.pop('_per_pv_args', None)
        coros = [_one(pv, per_pv[i] if per_pv else args, kwargs,
                      None if throw else timeout, throw)
                 for i, pv in enumerate(pvs)]
        if throw:
            return list(await _with_timeout(asyncio.gather(*coros),
                                            'Multiple PVs', timeout))
        return list(await asyncio.gather(*coros))

    call._many = _many  # type: ignore[attr-defined]
    return call


def _many_of(function: Callable) -> Callable:
    many: Callable = getattr(function, '_many')
    return many


async def _caget(pv: str, datatype: Any = None, format: int = FORMAT_RAW,
                 count: int = 0) -> Any:
    channel = get_channel(pv)
    if not channel.connected():
        await channel.wait()
    cawire_pv = channel.pv
    chan = cawire_pv.channel
    element_count = chan.native_data_count
    if count < 0:
        count = element_count
    elif count > 0:
        count = min(count, element_count)
    require_access(cawire_pv.access_rights, pv, write=False)
    converter = plan_request(pv, chan.native_data_type, element_count,
                             datatype, format)
    response = await cawire_pv.read(data_type=converter.request,
                                    data_count=count or None, timeout=None)
    status = ensure_eca_value(response.status)
    if status != ECA_NORMAL:
        raise CANothing(pv, status)
    return converter(response)


async def _caput(pv: str, value: Any, datatype: Any = None,
                 wait: bool = False) -> CANothing:
    channel = get_channel(pv)
    if not channel.connected():
        await channel.wait()
    cawire_pv = channel.pv
    require_access(cawire_pv.access_rights, pv, write=True)
    code, data = encode_value(pv, cawire_pv.channel.native_data_type,
                              datatype, value)
    response = await cawire_pv.write(data, data_type=code, wait=wait,
                                     timeout=None)
    if wait and response is not None:
        status = ensure_eca_value(response.status)
        if status != 1:
            raise CANothing(pv, status)
    return CANothing(pv)


async def _connect(pv: str, wait: bool = True) -> CANothing:
    """Connect one PV (or a list): ``CANothing`` (ok) once connected.

    ``wait=False`` starts the connection and returns at once; ``timeout=``
    and ``throw=`` as for ``caget``.
    """
    channel = get_channel(pv)
    if wait and not channel.connected():
        await channel.wait()
    return CANothing(pv)


class CAInfo:
    """What ``cainfo`` reports about a channel."""

    state_strings = ['never connected', 'previously connected', 'connected',
                     'closed']
    datatype_strings = ['string', 'short', 'float', 'enum', 'char', 'long',
                        'double', 'no access']

    def __init__(self, pv: str, channel: Any):
        cawire_pv = channel.pv
        self.ok = True
        self.name = pv
        if channel.closed:
            self.state = 3
        elif cawire_pv.connected:
            self.state = 2
        else:
            self.state = 1 if channel.was_connected else 0
        cm = cawire_pv.circuit_manager
        self.host = (f'{cm.address[0]}:{cm.address[1]}'
                     if cm is not None and self.state == 2 else '<disconnected>')
        rights = cawire_pv.access_rights
        self.read = bool(rights is not None and rights & 1)
        self.write = bool(rights is not None and rights & 2)
        if self.state == 2:
            self.count = cawire_pv.channel.native_data_count
            self.datatype = int(cawire_pv.channel.native_data_type)
        else:
            self.count = 0
            self.datatype = 7

    def __str__(self) -> str:
        return (f'{self.name}:\n'
                f'    State: {self.state_strings[self.state]}\n'
                f'    Host: {self.host}\n'
                f'    Access: {self.read}, {self.write}\n'
                f'    Data type: {self.datatype_strings[self.datatype]}\n'
                f'    Count: {self.count}')


async def _cainfo(pv: str, wait: bool = True) -> CAInfo:
    """What cainfo reports about one PV (or a list): a ``CAInfo``.

    ``wait=False`` reports the channel as it is (perhaps not connected);
    ``timeout=`` and ``throw=`` as for ``caget``.
    """
    channel = get_channel(pv)
    if wait and not channel.connected():
        await channel.wait()
    return CAInfo(pv, channel)


caget = _ca_function(_caget)
"""Read one PV (or a list): an augmented value (or a list).

Parameters: ``datatype=`` (DBR code, numpy type, DBR_CHAR_STR ...),
``format=`` FORMAT_RAW / FORMAT_TIME / FORMAT_CTRL, ``count=`` (0: the
current length, <0: the full element count), ``timeout=`` (5 s), ``throw=``.
"""
caget.__doc__ = """Read one PV (or a list): an augmented value (or a list).

Parameters: ``datatype=`` (DBR code, numpy type, DBR_CHAR_STR ...),
``format=`` FORMAT_RAW / FORMAT_TIME / FORMAT_CTRL, ``count=`` (0: the
current length, <0: the full element count), ``timeout=`` (5 s), ``throw=``.
"""
_connect_one = _ca_function(_connect)


async def connect(pv: Any, wait: bool = True, timeout: Any = DEFAULT_TIMEOUT,
                  throw: bool = True) -> Any:
    """Connect one PV (or a list): ``CANothing`` (ok) per PV.

    ``wait=False`` starts connecting and returns at once.  With a list the
    channels are made in one go and awaited through one future (no task
    per name); with ``throw=True`` a timeout raises for the whole list,
    with ``throw=False`` each PV not connected in time reports ECA_TIMEOUT.
    """
    if not isinstance(pv, (list, tuple)):
        return await _connect_one(pv, wait=wait, timeout=timeout, throw=throw)
    cache = get_channel_cache()
    channels = [cache.get_channel(name) for name in pv]
    if wait:
        waiting = [channel for channel in channels if not channel.connected()]
        if waiting:
            batch = ConnectBatch(waiting)
            try:
                await _with_timeout(batch.future, 'Multiple PVs', timeout)
            except CANothing:
                batch.abandon()
                if throw:
                    raise
                return [CANothing(name) if channel.connected()
                        else CANothing(name, ECA_TIMEOUT)
                        for name, channel in zip(pv, channels)]
            except BaseException:
                batch.abandon()
                raise
    return [CANothing(name) for name in pv]


cainfo = _ca_function(_cainfo)
"""What cainfo reports about one PV (or a list): a ``CAInfo``.

``wait=False`` reports the channel as it is (perhaps not connected);
``timeout=`` and ``throw=`` as for ``caget``.
"""
_caput_one = _ca_function(_caput)


async def caput(pv: Any, value: Any, repeat_value: bool = False,
                datatype: Any = None, wait: bool = False,
                timeout: Any = DEFAULT_TIMEOUT, throw: bool = True) -> Any:
    """Write ``value`` to one PV (or values to a list of PVs).

    With a list, ``value`` is a list of the same length, or one value given
    to every PV (a string or scalar, or ``repeat_value=True``).  ``wait``
    waits for the server's completion.  Returns ``CANothing`` (ok) per PV.
    """
    if not isinstance(pv, (list, tuple)):
        return await _caput_one(pv, value, datatype=datatype, wait=wait,
                                timeout=timeout, throw=throw)
    if repeat_value or isinstance(value, str):
        values = [value] * len(pv)
    else:
        try:
            values = list(value)
        except TypeError:
            values = [value] * len(pv)
    if len(values) != len(pv):
        raise ValueError('PV and value lists must match in length')
    return await _many_of(_caput_one)(
        pv, (), {'datatype': datatype, 'wait': wait,
                 '_per_pv_args': [(v,) for v in values]}, timeout, throw)


def camonitor(pv: Any, callback: Callable, events: int | None = None,
              datatype: Any = None, format: int = FORMAT_RAW, count: int = 0,
              all_updates: bool = False, notify_disconnect: bool = False,
              connect_timeout: Any = None) -> Any:
    """Subscribe to one PV (a Subscription) or a list (a list of them,
    whose callback gets ``(value, index)``).  Must be called on the loop."""
    options = dict(events=events, datatype=datatype, format=format,
                   count=count, all_updates=all_updates,
                   notify_disconnect=notify_disconnect,
                   connect_timeout=connect_timeout)
    if isinstance(pv, str):
        return Subscription(pv, callback, **options)

    def indexed(index: int) -> Callable:
        return lambda value: callback(value, index)

    return [Subscription(name, indexed(i), **options)
            for i, name in enumerate(pv)]


class ChannelInfo:
    """Name, connection and subscriber count of one cached channel."""

    def __init__(self, name: str, connected: bool, subscriber_count: int):
        self.name = name
        self.connected = connected
        self.subscriber_count = subscriber_count


def get_channel_infos() -> list[ChannelInfo]:
    """Information about every channel cached on the running loop."""
    return [ChannelInfo(channel.name, channel.connected(),
                        channel.count_subscriptions())
            for channel in get_channel_cache().channels.values()]


def run(coro: Any, forever: bool = False) -> Any:
    """Run ``coro`` in a new event loop (deprecated in aioca: use
    ``asyncio.run``)."""
    warnings.warn('aioca.run is deprecated, please use asyncio.run instead',
                  DeprecationWarning, stacklevel=2)
    loop = asyncio.new_event_loop()
    task = None
    try:
        if forever:
            task = asyncio.ensure_future(coro, loop=loop)
            loop.run_forever()
            return None
        return loop.run_until_complete(coro)
    finally:
        if task is not None:
            task.cancel()
        from ._channels import _caches
        cache = _caches.pop(loop, None)
        if cache is not None:
            cache.purge()
        loop.close()
