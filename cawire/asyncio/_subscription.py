"""One subscription of a PV: ``Subscription``.

A Subscription is identified by its PV and parameters (type, count, mask,
...).  It becomes active (EVENT_ADD) when its first callback is added and
stays active across reconnections (the circuit re-sends EVENT_ADD when the
channel is created again) until its last callback is removed.  Updates are
delivered on the event loop as they are received; ``async for`` consumers
read through a bounded :class:`UpdateQueue` with flow control.
"""
from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from ._callbacks import CallbackRegistry
from ._update_queue import UpdateQueue

if TYPE_CHECKING:  # pragma: no cover
    from ._circuit_manager import CircuitManager
    from ._pv import PV

__all__ = ('Subscription',)


class Subscription:
    """Updates of one PV with one set of parameters.

    Made by :meth:`PV.subscribe`, never directly.  Callbacks have the
    signature ``f(sub, response)`` (plain or ``async def``) and are held by
    weak reference, as in caproto.
    """

    def __init__(self, pv: 'PV', data_type: Any, data_count: int | None,
                 low: float, high: float, to: float, mask: int | None):
        self.pv = pv
        self.data_type = data_type
        self.data_count = data_count
        self.low = low
        self.high = high
        self.to = to
        self.mask = mask
        self.subscriptionid: int | None = None
        self.most_recent_response: Any = None
        self.updates_received = 0
        self._manager: CircuitManager | None = None
        self._callbacks = CallbackRegistry(self)
        self._queues: list[UpdateQueue] = []

    def __repr__(self) -> str:
        return f'<Subscription to {self.pv.name!r}, id={self.subscriptionid}>'

    @property
    def callbacks(self) -> dict:
        """token -> weak reference of each registered callback."""
        return self._callbacks.callbacks

    @property
    def active(self) -> bool:
        """Whether the subscription has callbacks (wants updates)."""
        return bool(self._callbacks.callbacks)

    @property
    def log(self) -> Any:
        """The logger of this subscription's PV (tagged with its name)."""
        return self.pv.log

    # -- callbacks ---------------------------------------------------------

    def add_callback(self, func: Callable) -> int:
        """Add ``func(sub, response)``; the first one activates the
        subscription.  Returns a token for :meth:`remove_callback`."""
        was_empty = not self._callbacks.callbacks
        token = self._callbacks.add(func)
        if was_empty:
            self.pv._subscription_activated(self)
        elif self.most_recent_response is not None:
            self._callbacks._call(func, (self, self.most_recent_response))
        return token

    async def remove_callback(self, token: int) -> None:
        """Remove a callback; removing the last one cancels the
        subscription (EVENT_CANCEL)."""
        self._remove_callback(token)

    def _remove_callback(self, token: int) -> None:
        self._callbacks.remove(token)
        if not self._callbacks.callbacks:
            self._deactivate()

    def _deactivate(self) -> None:
        manager = self._manager
        if manager is not None:
            manager.deactivate(self)
        self.subscriptionid = None
        self.most_recent_response = None

    async def clear(self) -> None:
        """Remove every callback (cancelling the subscription)."""
        self._callbacks.callbacks.clear()
        self._callbacks.cancel()
        for queue in self._queues:
            queue.release()
        self._deactivate()

    def _deliver(self, response: Any) -> None:
        # Hot path: one update from the circuit.
        self.most_recent_response = response
        self.updates_received += 1
        self._callbacks.process(self, response)

    # -- iteration ---------------------------------------------------------

    def __aiter__(self) -> AsyncIterator:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator:
        queue = UpdateQueue(self)

        def enqueue(sub: Subscription, response: Any) -> None:
            queue.put(response)

        self._queues.append(queue)
        token = self.add_callback(enqueue)
        try:
            while True:
                yield await queue.get()
        finally:
            queue.release()
            self._queues.remove(queue)
            self._remove_callback(token)

    @property
    def dropped_updates(self) -> int:
        """Updates dropped (the oldest first) for consumers that fell far
        behind: iterators and ``async def`` callbacks."""
        return (sum(queue.dropped for queue in self._queues)
                + self._callbacks.coalesced)

    async def __aenter__(self) -> 'Subscription':
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.clear()
