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
import time
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
    """A camonitor subscription to one PV.

    No task per subscription: it opens when its channel connects (at once
    if it already is), and values reach a plain callback straight from the
    update; only an ``async def`` callback gets a task, made when values
    wait for it.
    """

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
        self._request = (events, datatype, format, count)
        self._loop = asyncio.get_running_loop()
        self.channel = channel = get_channel(name)
        # None until the first call tells a plain callback from a coroutine.
        self._is_sync: bool | None = None
        self._first_call_scheduled = False
        self._task: asyncio.Task | None = None
        self._timeout_handle: asyncio.TimerHandle | None = None
        self._converter: Any = None
        self._sub: Any = None
        self._token: int | None = None
        channel.subscriptions.add(self)
        if channel.connected():
            self._open()
            return
        channel.add_waiter(self)
        if connect_timeout is not None:
            delay = connect_timeout
            if isinstance(delay, tuple):
                delay = delay[0] - time.time()
            self._timeout_handle = self._loop.call_later(
                max(0.0, delay), self._connect_timed_out)

    def __repr__(self) -> str:
        states = ('opening', 'open', 'closed')
        return f'<Subscription {self.name!r} {states[self.state]}>'

    # -- opening ---------------------------------------------------------------

    def connected(self) -> None:
        """The channel connected (called once, as a channel waiter)."""
        self._open()

    def _connect_timed_out(self) -> None:
        self._timeout_handle = None
        if self.state == self.OPENING:
            # Reported even with notify_disconnect=False, as aioca.
            self._queue(CANothing(self.name, ECA_TIMEOUT))

    def _open(self) -> None:
        if self.state != self.OPENING:
            return
        handle, self._timeout_handle = self._timeout_handle, None
        if handle is not None:
            handle.cancel()
        events, datatype, format, count = self._request
        pv = self.channel.pv
        chan = pv.channel
        element_count = chan.native_data_count
        if count < 0:
            count = element_count
        try:
            self._converter = plan_request(self.name, chan.native_data_type,
                                           element_count, datatype, format)
        except Exception:
            logger.exception('Cannot subscribe to %r', self.name)
            return
        self.state = self.OPEN
        self._sub = pv.subscribe(data_type=self._converter.request,
                                 data_count=count or None, mask=events)
        self._token = self._sub.add_callback(self._on_update)

    # -- values in -----------------------------------------------------------

    def _on_update(self, sub: Any, response: Any) -> None:
        # Hot path: one update of an open subscription.
        if self.state == self.CLOSED:
            return
        try:
            value = self._converter(response)
        except Exception:
            logger.exception('Cannot convert an update of %r', self.name)
            return
        if self._is_sync and not self.pending_values:
            try:
                self.callback(value)
            except Exception:
                logger.exception('Subscription %s callback raised', self.name)
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
        elif self._is_sync is None:
            # Never within camonitor() or an update: on the loop, soon.
            if not self._first_call_scheduled:
                self._first_call_scheduled = True
                self._loop.call_soon(self._first_call)
        elif self._task is None or self._task.done():
            self._task = self._loop.create_task(self._drain_async(None))

    def _first_call(self) -> None:
        self._first_call_scheduled = False
        pending = self.pending_values
        if self.state == self.CLOSED or not pending or self._is_sync is not None:
            return
        try:
            result = self.callback(pending.popleft())
        except Exception:
            logger.exception('Subscription %s callback raised', self.name)
        else:
            if inspect.isawaitable(result):
                self._is_sync = False
                self._task = self._loop.create_task(self._drain_async(result))
                return
            self._is_sync = True
        if pending:
            if self._is_sync:
                self._drain_sync()
            else:
                self._first_call_scheduled = True
                self._loop.call_soon(self._first_call)

    def _drain_sync(self) -> None:
        pending = self.pending_values
        callback = self.callback
        while pending and self.state != self.CLOSED:
            value = pending.popleft()
            try:
                callback(value)
            except Exception:
                logger.exception('Subscription %s callback raised', self.name)

    async def _drain_async(self, first: Any) -> None:
        """Await an ``async def`` callback for each value, one at a time."""
        if first is not None:
            await self._awaited(first)
        pending = self.pending_values
        while pending and self.state != self.CLOSED:
            try:
                result = self.callback(pending.popleft())
            except Exception:
                logger.exception('Subscription %s callback raised', self.name)
                continue
            if inspect.isawaitable(result):
                await self._awaited(result)

    async def _awaited(self, result: Any) -> None:
        try:
            await result
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception('Subscription %s callback raised', self.name)

    # -- lifecycle -------------------------------------------------------------

    def close(self) -> None:
        """Stop the subscription; no callback runs after this returns."""
        if self.state == self.CLOSED:
            return
        self.state = self.CLOSED
        channel = self.channel
        channel.subscriptions.discard(self)
        channel.remove_waiter(self)
        handle, self._timeout_handle = self._timeout_handle, None
        if handle is not None:
            handle.cancel()
        if self._sub is not None and self._token is not None:
            self._sub._remove_callback(self._token)
        self._sub = None
        self.pending_values.clear()
        if self._task is not None and not self._task.done():
            self._task.cancel()
