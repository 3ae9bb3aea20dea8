"""The subscription behind a pyepics PV's automatic monitor."""
from __future__ import annotations

import threading
from typing import Any, Callable

__all__ = ('AutoMonitor',)


class AutoMonitor:
    """One PV's monitor subscription and the event mask it was made with.

    Changing the mask replaces the subscription.  The decisions are locked
    (the callback thread and a user thread may both get here), the client
    calls are not: no client call is made under the lock.
    """

    __slots__ = ('_lock', '_subscription', '_mask')

    def __init__(self) -> None:
        self._lock = threading.Lock()
        #: (Subscription, callback token) while monitoring.
        self._subscription: tuple[Any, int] | None = None
        self._mask: int | None = None

    @property
    def active(self) -> bool:
        """Whether a subscription is delivering updates."""
        return self._subscription is not None

    @property
    def mask(self) -> int | None:
        """The event mask of the monitor (None when off)."""
        return self._mask

    def clear(self) -> None:
        """Stop monitoring."""
        with self._lock:
            current, self._subscription, self._mask = (
                self._subscription, None, None)
        if current is not None:
            subscription, token = current
            subscription.remove_callback(token)

    def ensure(self, channel: Any, mask: int, data_type: Any,
               data_count: int | None,
               on_update: Callable[[Any, Any], None]) -> None:
        """Monitor ``channel`` with ``mask`` (nothing to do if it already
        is), calling ``on_update(subscription, response)`` per update."""
        with self._lock:  # claim the change
            if self._mask == mask:
                return
            old, self._subscription, self._mask = self._subscription, None, mask
        if old is not None:
            old[0].remove_callback(old[1])
        subscription = channel.subscribe(data_type=data_type,
                                         data_count=data_count, mask=mask)
        token = subscription.add_callback(on_update)
        with self._lock:
            if self._mask == mask and self._subscription is None:
                self._subscription = (subscription, token)
                return
        subscription.remove_callback(token)  # changed meanwhile
