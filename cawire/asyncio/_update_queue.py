"""A bounded queue of subscription updates for ``async for`` consumers.

Above ``high_water`` items the circuit is told it is congested (EVENTS_OFF,
see :mod:`._flow_control`); below ``low_water`` it is relieved.  At
``hard_limit`` the oldest update is dropped and counted in ``dropped``, so
a consumer that stopped reading costs bounded memory and says so.
"""
from __future__ import annotations

import asyncio
import collections
from typing import Any

__all__ = ('UpdateQueue',)


class UpdateQueue:
    """Updates waiting for one iterating consumer."""

    def __init__(self, subscription: Any, *, high_water: int = 100,
                 low_water: int = 10, hard_limit: int = 1000):
        self._subscription = subscription
        self._items: collections.deque = collections.deque()
        self._waiter: asyncio.Future | None = None
        self.high_water = high_water
        self.low_water = low_water
        self.hard_limit = hard_limit
        self.dropped = 0
        self._congested_on: Any = None   # the FlowControl told

    def __len__(self) -> int:
        return len(self._items)

    def put(self, item: Any) -> None:
        items = self._items
        if len(items) >= self.hard_limit:
            items.popleft()
            self.dropped += 1
        items.append(item)
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)
        if len(items) > self.high_water and self._congested_on is None:
            manager = self._subscription._manager
            if manager is not None:
                self._congested_on = manager.flow_control
                self._congested_on.congested(id(self))

    async def get(self) -> Any:
        items = self._items
        while not items:
            self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter
        return self.get_nowait()

    def get_nowait(self) -> Any:
        """The oldest item (IndexError when empty)."""
        items = self._items
        item = items.popleft()
        if self._congested_on is not None and len(items) <= self.low_water:
            self.release()
        return item

    def clear(self) -> None:
        self._items.clear()
        self.release()

    def release(self) -> None:
        """Stop counting as congested (drained, or the consumer left)."""
        flow, self._congested_on = self._congested_on, None
        if flow is not None:
            flow.relieved(id(self))
