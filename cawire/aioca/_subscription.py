"""aioca's ``Subscription`` (what ``camonitor`` returns) on cawire.

Values are converted as they arrive and queued: with ``all_updates=False``
only the latest waits (earlier ones are merged into it and counted in
``dropped_callbacks``), with ``all_updates=True`` every one is kept.  A
plain callback runs on the loop right away; an ``async def`` callback is
awaited by the subscription's task, one value at a time.  Unlike aioca,
which prints the traceback and closes the subscription, an exception in the
callback is logged under ``cawire.aioca`` and the subscription goes on.
"""
from __future__ import annotations

import asyncio
import collections
import inspect
import logging
from collections.abc import Callable
from typing import Any

from ._channels import get_channel
from ._dbr import (DBE_ALARM, DBE_PROPERTY, DBE_VALUE, FORMAT_CTRL,
                   FORMAT_RAW, FORMAT_TIME, plan_request)
from ._nothing import ECA_DISCONN, ECA_TIMEOUT, CANothing

__all__ = ('Subscription',)

logger = logging.getLogger('cawire.aioca')

_DEFAULT_EVENTS = {
    FORMAT_RAW: DBE_VALUE,
    FORMAT_TIME: DBE_VALUE | DBE_ALARM,
    FORMAT_CTRL: DBE_VALUE | DBE_ALARM | DBE_PROPERTY,
}


class Subscription:
    """A camonitor subscription to one PV."""

    OPENING = 0
    OPEN = 1
    CLOSED = 2

    def __init__(self, name: str, callback: Callable[[Any], Any],
                 events: int | None, datatype: Any, format: int, count: int,
                 all_updates: bool, notify_disconnect: bool,
                 connect_timeout: Any):
        self.name = name
        self.callback = callback
        self.all_updates = all_updates
        self.notify_disconnect = notify_disconnect
        self.dropped_callbacks = 0
        self.pending_values: collections.deque = collections.deque(
            maxlen=None if all_updates else 1)
        self.state = self.OPENING
        if events is None:
            events = _DEFAULT_EVENTS[format]
        self.channel = get_channel(name)
        self._is_sync: bool | None = None
        self._wakeup: asyncio.Future | None = None
        self._converter: Any = None
        self._sub: Any = None
        self._token: int | None = None
        self._task = asyncio.ensure_future(self._run(
            events, datatype, format, count, connect_timeout))

    def __repr__(self) -> str:
        states = ('opening', 'open', 'closed')
        return f'<Subscription {self.name!r} {states[self.state]}>'

    # -- values in -----------------------------------------------------------

    def _on_update(self, sub: Any, response: Any) -> None:
        if self.state == self.CLOSED:
            return
        try:
            value = self._converter(response)
        except Exception:
            logger.exception('Cannot convert an update of %r', self.name)
            return
        self._queue(value)

    def _on_connect(self, connected: bool) -> None:
        if not connected and self.notify_disconnect:
            self._queue(CANothing(self.name, ECA_DISCONN))

    def _queue(self, value: Any) -> None:
        pending = self.pending_values
        if pending.maxlen and pending:
            self.dropped_callbacks += 1
        pending.append(value)
        if self._is_sync:
            self._drain_sync()
        else:
            wakeup = self._wakeup
            if wakeup is not None and not wakeup.done():
                wakeup.set_result(None)

    def _drain_sync(self) -> None:
        pending = self.pending_values
        callback = self.callback
        while pending and self.state != self.CLOSED:
            value = pending.popleft()
            try:
                callback(value)
            except Exception:
                logger.exception('Subscription %s callback raised', self.name)

    # -- lifecycle -------------------------------------------------------------

    async def _call(self, value: Any) -> None:
        try:
            result = self.callback(value)
            if self._is_sync is None:
                self._is_sync = not inspect.isawaitable(result)
            if not self._is_sync:
                await result
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception('Subscription %s callback raised', self.name)

    async def _run(self, events: int, datatype: Any, format: int, count: int,
                   connect_timeout: Any) -> None:
        channel = self.channel
        channel.subscriptions.add(self)
        if connect_timeout is not None and not channel.connected():
            try:
                await asyncio.wait_for(channel.wait(), connect_timeout)
            except asyncio.TimeoutError:
                # Reported even with notify_disconnect=False, as aioca.
                await self._call(CANothing(self.name, ECA_TIMEOUT))
        await channel.wait()
        self.state = self.OPEN
        pv = channel.pv
        native = pv.channel.native_data_type
        element_count = pv.channel.native_data_count
        if count < 0:
            count = element_count
        self._converter = plan_request(self.name, native, element_count,
                                       datatype, format)
        self._sub = pv.subscribe(data_type=self._converter.request,
                                 data_count=count or None, mask=events)
        self._token = self._sub.add_callback(self._on_update)
        pending = self.pending_values
        while self.state != self.CLOSED:
            if self._is_sync:
                self._drain_sync()
                return          # later values are delivered as they come
            if not pending:
                self._wakeup = asyncio.get_running_loop().create_future()
                await self._wakeup
                self._wakeup = None
                continue
            await self._call(pending.popleft())

    def close(self) -> None:
        """Stop the subscription; no callback runs after this returns."""
        if self.state == self.CLOSED:
            return
        self.state = self.CLOSED
        self.channel.subscriptions.discard(self)
        if self._sub is not None and self._token is not None:
            self._sub._remove_callback(self._token)
        self._sub = None
        self.pending_values.clear()
        if not self._task.done():
            self._task.cancel()
