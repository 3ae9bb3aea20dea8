"""Subscriptions: one EVENT_ADD fanned out to weakly held user callbacks.

A :class:`Subscription` asks the server for updates only while it has at
least one callback: the first ``add_callback`` activates it (EVENT_ADD,
now or as soon as the PV connects), removing the last callback (explicitly
or by garbage collection) cancels it (EVENT_CANCEL).  Active subscriptions
survive disconnection: when the PV reconnects, its circuit re-issues
EVENT_ADD for each of them without user action.

Updates are delivered on the circuit's callback executor in arrival order.
Under a slow consumer the circuit may coalesce queued updates (keeping the
latest); :attr:`Subscription.coalesced` counts the updates replaced that
way.
"""
from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any, Callable

from ..protocol._channel import DataTypeSpec
from ..protocol._commands import EventAddResponse
from ..protocol._enums import SubscriptionType
from ._callback_registry import CallbackRegistry
from ._callbacks import callback_logger, run_user_callback

if TYPE_CHECKING:  # pragma: no cover
    from ._pv import PV
    from ._update_delivery import _UpdateJob

__all__ = ('Subscription',)

logger = logging.getLogger('cawire.ch')

DEFAULT_MASK = SubscriptionType.DBE_VALUE | SubscriptionType.DBE_ALARM

class Subscription:
    """Represents one subscription, specified by a PV and configurational
    parameters.

    It may fan out to zero, one, or multiple user-registered callback
    functions.  This object should never be instantiated directly by user
    code; rather it should be made by calling the ``subscribe()`` method on a
    ``PV`` object.
    """

    # One per monitored PV, so tens of thousands of them: no __dict__.
    __slots__ = ('pv', 'data_type', 'data_count', 'low', 'high', 'to', 'mask',
                 'subscriptionid', 'most_recent_response', 'callback_lock',
                 'callbacks', 'received', 'coalesced', 'dropped',
                 '_queued_job', '__weakref__')

    def __init__(self, pv: PV, data_type: DataTypeSpec,
                 data_count: int | None, low: float, high: float, to: float,
                 mask: int | None) -> None:
        self.pv = pv
        self.data_type = data_type
        self.data_count = data_count
        self.low = low
        self.high = high
        self.to = to
        self.mask = DEFAULT_MASK if mask is None else mask
        self.subscriptionid: int | None = None
        self.most_recent_response: EventAddResponse | None = None
        self.callback_lock = threading.RLock()
        self.callbacks = CallbackRegistry(on_removed=self._last_callback_collected)
        #: Updates received for this subscription.
        self.received = 0
        #: Updates replaced by a newer one before delivery (slow consumer).
        self.coalesced = 0
        #: Updates that arrived after the subscription was cancelled.
        self.dropped = 0
        # The queued, not yet started delivery job (for coalescing).
        self._queued_job: _UpdateJob | None = None

    @property
    def log(self) -> logging.LoggerAdapter:
        """The logger of this subscription's PV (tagged with its name)."""
        return self.pv.log

    def __repr__(self) -> str:
        return f'<Subscription to {self.pv.name!r}, id={self.subscriptionid}>'

    # -- user API -------------------------------------------------------------------

    def add_callback(self, func: Callable[..., Any]) -> int:
        """Add a callback to receive responses.

        Parameters
        ----------
        func : callable
            Expected signature: ``func(sub, response)``.

            The signature ``func(response)`` is also supported for
            backward-compatibility but will issue warnings.  Support will be
            removed in a future release.

        Returns
        -------
        token : int
            Integer token that can be passed to :meth:`remove_callback`.
        """
        self.pv.context._check_open()
        with self.callback_lock:
            was_empty = not self.callbacks
            token = self.callbacks.add(func, adapt_old_signature=True)
            most_recent = self.most_recent_response
            if was_empty:
                self._activate()
            elif most_recent is not None:
                # Piggy-back on the running subscription: hand the newcomer
                # the latest update, in order with the updates to come.
                adapted = self.callbacks.snapshot()
                new_func = adapted[-1] if adapted else None
                cm = self.pv.circuit_manager
                if new_func is not None:
                    if cm is not None and not cm.dead.is_set():
                        cm.user_callback_executor.submit_for(
                            self, run_user_callback, new_func, self,
                            most_recent)
                    else:
                        run_user_callback(new_func, self, most_recent)
        return token

    def remove_callback(self, token: int) -> None:
        """Remove callback using token that was returned by :meth:`add_callback`.

        Parameters
        ----------
        token : integer
            Token returned by :meth:`add_callback`.
        """
        with self.callback_lock:
            if self.callbacks.remove(token):
                self._deactivate()

    def clear(self) -> None:
        """Remove all callbacks."""
        with self.callback_lock:
            self.callbacks.clear()
            self._deactivate()

    # -- activation -------------------------------------------------------------------

    @property
    def active(self) -> bool:
        """True while the subscription wants updates from the server."""
        return self.subscriptionid is not None

    def _activate(self) -> None:
        # The PV assigns the id under its component_lock: the lock under
        # which the circuit, on a CREATE_CHAN reply, sends EVENT_ADD for each
        # active subscription.  Assigned here, before that lock, the id made
        # the subscription visible to both senders and it went out twice.
        self.pv._activate_subscription(self)

    def _deactivate(self) -> None:
        if self.subscriptionid is not None:
            self.pv._deactivate_subscription(self)

    def _take_new_id(self) -> None:
        """Become active (caller holds the PV's ``component_lock``).

        The id comes from the context's allocator and is kept across
        reconnections (libca re-uses subscription ids too).
        """
        ids = self.pv.context.ids
        subscriptionid = ids.subscription()
        ids.subscriptions.add(subscriptionid)
        self.subscriptionid = subscriptionid

    def _last_callback_collected(self) -> None:
        # Called by the garbage collector, on whatever thread it runs on and
        # possibly while that thread holds circuit locks: do the cancel
        # later, on the network thread, never from here.
        loop = self.pv.context.loop
        if loop.running:
            loop.call_soon(self._deactivate_if_unused)

    def _deactivate_if_unused(self) -> None:
        with self.callback_lock:
            if not self.callbacks:
                self._deactivate()

    # -- delivery (callback executor thread) -----------------------------------------

    def process(self, command: EventAddResponse,
                subscriptionid: int | None = None) -> None:
        """Fan ``command`` out to the user callbacks (executor thread).

        ``subscriptionid``: the update's, when the caller has it already
        (the network thread's immediate delivery).
        """
        if subscriptionid is None:
            subscriptionid = command.subscriptionid
        with self.callback_lock:
            if subscriptionid != self.subscriptionid:
                # Cancelled (or re-subscribed) while the update was queued.
                self.dropped += 1
                return
            self.most_recent_response = command
            callbacks = self.callbacks.snapshot()
        # run_user_callback, inlined: this runs for every update.
        for func in callbacks:
            try:
                func(self, command)
            except Exception:
                callback_logger.exception('Exception in user callback %r',
                                          func)
