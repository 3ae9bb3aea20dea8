"""aioca's channel cache on top of the asyncio client.

aioca keeps one channel per PV name per event loop; here each loop gets one
:class:`cawire.asyncio.client.Context` and a cache of :class:`Channel`
objects, each wrapping the Context's PV and relaying connection changes to
the camonitor subscriptions on it.
"""
from __future__ import annotations

import asyncio
import weakref
from typing import TYPE_CHECKING, Any

from ..asyncio.client import PV, Context

if TYPE_CHECKING:  # pragma: no cover
    from ._subscription import Subscription

__all__ = ('Channel', 'ChannelCache', 'ConnectBatch', 'get_channel', 'get_channel_cache',
           'purge_channel_caches')


class Channel:
    """One PV name on one loop, shared by every caget/caput/camonitor.

    Slotted and without a callback registry: a client may cache tens of
    thousands.  Whoever waits for the connection (a caget's future, a list
    connect's :class:`ConnectBatch`, a camonitor not yet open) is a
    *waiter*, told once, at the next connection.
    """

    __slots__ = ('name', 'pv', 'subscriptions', 'was_connected', 'closed',
                 '_waiters')

    def __init__(self, pv: PV):
        self.name = pv.name
        self.pv = pv
        self.subscriptions: set[Subscription] = set()
        self.was_connected = pv.connected
        self.closed = False
        self._waiters: list[Any] | None = None
        pv.state_listener = self._on_connection

    def connected(self) -> bool:
        return self.pv.connected

    async def wait(self) -> None:
        """Wait (forever) for the channel to be connected."""
        while not self.pv.connected:
            future = asyncio.get_running_loop().create_future()
            self.add_waiter(future)
            try:
                await future
            finally:
                if not future.done():
                    self.remove_waiter(future)

    def add_waiter(self, waiter: Any) -> None:
        """Tell ``waiter`` (a future, or an object with ``connected()``)
        at the next connection."""
        waiters = self._waiters
        if waiters is None:
            waiters = self._waiters = []
        waiters.append(waiter)

    def remove_waiter(self, waiter: Any) -> None:
        waiters = self._waiters
        if waiters is not None:
            try:
                waiters.remove(waiter)
            except ValueError:
                pass

    def count_subscriptions(self) -> int:
        return len(self.subscriptions)

    def _on_connection(self, state: str) -> None:
        connected = state == 'connected'
        if connected:
            self.was_connected = True
            waiters, self._waiters = self._waiters, None
            if waiters:
                for waiter in waiters:
                    if isinstance(waiter, asyncio.Future):
                        if not waiter.done():
                            waiter.set_result(None)
                    else:
                        waiter.connected()
        if self.subscriptions:
            for subscription in list(self.subscriptions):
                subscription._on_connect(connected)


class ConnectBatch:
    """One future for the connection of many channels (a list connect)."""

    __slots__ = ('future', '_remaining', '_channels')

    def __init__(self, channels: list[Channel]):
        self.future: asyncio.Future = asyncio.get_running_loop().create_future()
        self._channels = channels
        self._remaining = len(channels)
        for channel in channels:
            channel.add_waiter(self)
        if not channels:
            self.future.set_result(None)

    def connected(self) -> None:
        self._remaining -= 1
        if self._remaining <= 0 and not self.future.done():
            self.future.set_result(None)

    def abandon(self) -> None:
        """Stop waiting (timed out or cancelled): leave no waiter behind."""
        for channel in self._channels:
            if not channel.connected():
                channel.remove_waiter(self)


class ChannelCache:
    """The Context and the channels of one event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self.context = Context(timeout=None)
        self.channels: dict[str, Channel] = {}
        self._pending_pvs: dict[str, Any] = {}

    def get_channel(self, name: str) -> Channel:
        channel = self.channels.get(name)
        if channel is None:
            pv = self.context._get_pv_now(name)
            channel = self.channels[name] = Channel(pv)
        return channel

    def purge(self) -> None:
        """Close every subscription and the Context's connections."""
        for channel in self.channels.values():
            for subscription in list(channel.subscriptions):
                subscription.close()
            channel.closed = True
        self.channels.clear()
        context = self.context
        if self.loop.is_closed():
            context._close_now()
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self.loop:
            context._close_now()
            self.loop.create_task(context.disconnect())
        else:
            context._close_now()


_caches: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def get_channel_cache() -> ChannelCache:
    """The cache of the running loop (made on first use)."""
    loop = asyncio.get_running_loop()
    cache = _caches.get(loop)
    if cache is None:
        cache = _caches[loop] = ChannelCache(loop)
    return cache


def get_channel(name: str) -> Channel:
    """The channel of ``name`` on the running loop (connecting starts)."""
    return get_channel_cache().get_channel(name)


def purge_channel_caches() -> None:
    """Drop every cached channel (closing all subscriptions)."""
    for cache in list(_caches.values()):
        cache.purge()
    _caches.clear()


def all_caches() -> list[ChannelCache]:
    return list(_caches.values())
