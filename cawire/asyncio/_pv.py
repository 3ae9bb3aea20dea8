"""The user's handle on one channel in the asyncio client: ``PV``.

A PV is identified by (name, priority) within a Context and outlives any
connection: it is found by search, bound to a circuit, may go idle, may lose
its server and come back, and keeps its subscriptions all the while.  Every
operation waits for the connection first (within its timeout) and retries
once more on a fresh circuit if the one it used died before the request
left, as caproto's asyncio client does.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..protocol._channel_use import (IdleDecision, create_timeout_text,
                                     go_idle_decision, may_finish_idle,
                                     reply_timeout_text, search_timeout_text,
                                     subscription_key, write_notify)
from ..protocol._commands import ErrorResponse
from ..protocol._enums import AccessRights
from ..protocol._exceptions import (CaprotoTimeoutError, DisconnectedError,
                                    LocalProtocolError)
from ..protocol._outstanding import error_exception
from ..threading._defaults import (CONTEXT_DEFAULT_TIMEOUT,
                                   PV_DEFAULT_TIMEOUT, Deadline,
                                   resolve_timeout)
from ._callbacks import CallbackRegistry, run_callback
from ._ready_flag import ReadyFlag
from ._subscription import Subscription

if TYPE_CHECKING:  # pragma: no cover
    from ._circuit_manager import CircuitManager
    from ._context import Context

__all__ = ('PV',)

ch_logger = logging.getLogger('cawire.ch')

class _Expired(Exception):
    """A request's own deadline passed (turned into CaprotoTimeoutError)."""


def _expire(future: asyncio.Future) -> None:
    if not future.done():
        future.set_exception(_Expired())


async def _wait_until(future: asyncio.Future, deadline: Deadline) -> Any:
    """Await ``future`` until ``deadline`` (raises _Expired after it)."""
    remaining = deadline.remaining()
    if remaining is None:
        return await future
    if future.done():
        return future.result()
    handle = asyncio.get_running_loop().call_later(remaining, _expire, future)
    try:
        return await future
    finally:
        handle.cancel()


class PV:
    """One PV, specified by a name and priority.

    Made by :meth:`Context.get_pvs`, never directly.
    """

    # Slots and lazily made parts: a client holds thousands of PVs.
    __slots__ = ('name', 'priority', 'context', 'access_rights',
                 'circuit_ready', 'channel_ready', '_connection_callbacks',
                 '_rights_callbacks', '_state', '_log', 'subscriptions',
                 '_timeout', '_circuit_manager', '_channel', '_idle',
                 '_idle_requested', '_outstanding', 'cid', 'state_listener',
                 '__weakref__')

    def __init__(self, name: str, priority: int, context: 'Context',
                 timeout: Any):
        self.name = name
        self.priority = priority
        self.context = context
        self.access_rights: AccessRights | None = None
        self._log: logging.LoggerAdapter | None = None
        self.circuit_ready = ReadyFlag()
        self.channel_ready = ReadyFlag()
        self._connection_callbacks: CallbackRegistry | None = None
        # One strongly held f(state) for a front end layered on this PV
        # (cawire.aioca's channel): no registry, no weak reference.
        self.state_listener: Callable[[str], None] | None = None
        self._rights_callbacks: CallbackRegistry | None = None
        self._state: str | None = None   # last connection state reported
        self.subscriptions: dict[tuple, Subscription] = {}
        self._timeout = timeout
        self._circuit_manager: CircuitManager | None = None
        self._channel: Any = None
        self._idle = False
        self._idle_requested = False
        self._outstanding = 0
        self.cid = context._new_cid()

    # -- properties --------------------------------------------------------

    @property
    def timeout(self) -> Any:
        """Default timeout: this PV's, else the Context's (None: never)."""
        return resolve_timeout(self._timeout, CONTEXT_DEFAULT_TIMEOUT,
                               self.context.timeout)

    @timeout.setter
    def timeout(self, value: Any) -> None:
        self._timeout = value

    @property
    def log(self) -> logging.LoggerAdapter:
        """Logger adapter tagging records with this PV's name."""
        log = self._log
        if log is None:
            log = self._log = logging.LoggerAdapter(
                ch_logger, {'pv': self.name, 'role': 'CLIENT'})
        return log

    @property
    def connection_state_callback(self) -> CallbackRegistry:
        """Registry of ``f(pv, state)`` callbacks ('connected' /
        'disconnected'), held weakly."""
        registry = self._connection_callbacks
        if registry is None:
            registry = self._connection_callbacks = CallbackRegistry()
            if self._state is not None:
                registry.last_args = (self, self._state)
        return registry

    @property
    def access_rights_callback(self) -> CallbackRegistry:
        """Registry of ``f(pv, access_rights)`` callbacks, held weakly."""
        registry = self._rights_callbacks
        if registry is None:
            registry = self._rights_callbacks = CallbackRegistry()
            if self.access_rights is not None:
                registry.last_args = (self, self.access_rights)
        return registry

    def _connection_changed(self, state: str) -> None:
        self._state = state
        listener = self.state_listener
        if listener is not None:
            run_callback(listener, state)
        registry = self._connection_callbacks
        if registry is not None:
            registry.process(self, state)

    @property
    def circuit_manager(self) -> 'CircuitManager | None':
        """The circuit this PV's channel lives on, or None while unconnected.
        """
        return self._circuit_manager

    @property
    def channel(self) -> Any:
        """The core's channel (ids and state), or None while unconnected."""
        return self._channel

    @property
    def connected(self) -> bool:
        """True once the server created the channel, until it disconnects."""
        return self.channel_ready.is_set()

    def __repr__(self) -> str:
        cm = self._circuit_manager
        if self._idle:
            state = '(idle)'
        elif cm is None or cm.dead.value:
            state = '(searching....)'
        elif self.connected:
            state = f'address={cm.address}, connected'
        else:
            state = f'address={cm.address} (creating...)'
        return f'<PV name={self.name!r} priority={self.priority} {state}>'

    # -- events from the circuit ------------------------------------------

    def _bind(self, cm: 'CircuitManager') -> None:
        self._circuit_manager = cm
        self.circuit_ready.set()

    def _channel_created(self, channel: Any) -> None:
        self._channel = channel
        self.channel_ready.set()
        self._connection_changed('connected')

    def _unbind(self, cm: 'CircuitManager') -> bool:
        """Detach from ``cm``; return whether the PV was connected."""
        if self._circuit_manager is not cm:
            return False
        was_connected = self.channel_ready.is_set()
        self.channel_ready.clear()
        self.circuit_ready.clear()
        self._circuit_manager = None
        self._channel = None
        self._outstanding = 0
        if was_connected:
            self._connection_changed('disconnected')
        return was_connected

    def _access_rights_changed(self, rights: AccessRights) -> None:
        if rights != self.access_rights:
            self.access_rights = rights
            registry = self._rights_callbacks
            if registry is not None:
                registry.process(self, rights)

    # -- connection --------------------------------------------------------

    def _deadline(self, timeout: Any) -> Deadline:
        return Deadline(resolve_timeout(timeout, PV_DEFAULT_TIMEOUT,
                                        self.timeout))

    def _wake_if_idle(self) -> None:
        if self._idle:
            self._idle = False
            self.context._reconnect_pv(self)

    async def wait_for_search(self, *, timeout: Any = PV_DEFAULT_TIMEOUT) -> None:
        """Wait for this PV to be found (a circuit assigned)."""
        deadline = self._deadline(timeout)
        self.context._check_open()
        self._wake_if_idle()
        try:
            await asyncio.wait_for(self.circuit_ready.wait(),
                                   deadline.remaining())
        except asyncio.TimeoutError:
            raise CaprotoTimeoutError(
                search_timeout_text(self.name, deadline)) from None

    async def wait_for_connection(self, *,
                                  timeout: Any = PV_DEFAULT_TIMEOUT) -> None:
        """Wait for this PV to be connected."""
        await self._connected(self._deadline(timeout))

    async def _connected(self, deadline: Deadline) -> tuple:
        """(circuit manager, channel) once connected, else timeout."""
        self._idle_requested = False
        while True:
            self.context._check_open()
            self._wake_if_idle()
            cm, channel = self._circuit_manager, self._channel
            if (self.channel_ready.is_set() and cm is not None
                    and channel is not None and not cm.dead.value):
                return cm, channel
            try:
                await asyncio.wait_for(self.channel_ready.wait(),
                                       deadline.remaining())
            except asyncio.TimeoutError:
                cm = self._circuit_manager
                if cm is not None:
                    raise CaprotoTimeoutError(create_timeout_text(
                        self.name, cm.address, deadline)) from None
                raise CaprotoTimeoutError(
                    search_timeout_text(self.name, deadline)) from None

    async def go_idle(self) -> None:
        """Clear the channel to save resources; it is created again by the
        next operation.  Ignored while subscriptions are active or the PV is
        connecting; deferred while reads or writes are in flight."""
        decision = go_idle_decision(
            has_active_subscriptions=bool(self._active_subscriptions()),
            connected=self.channel_ready.is_set(), idle=self._idle,
            outstanding=self._outstanding)
        if decision is IdleDecision.DEFER:
            self._idle_requested = True
        elif decision is IdleDecision.CLEAR:
            self._clear_channel()

    def _clear_channel(self) -> None:
        cm, channel = self._circuit_manager, self._channel
        self._idle = True
        self.channel_ready.clear()
        self._channel = None
        if cm is not None and channel is not None:
            cm.clear_channel(channel)

    def _request_done(self) -> None:
        self._outstanding = max(0, self._outstanding - 1)
        if self._idle_requested and may_finish_idle(
                has_active_subscriptions=bool(self._active_subscriptions()),
                connected=self.channel_ready.is_set(), idle=self._idle,
                outstanding=self._outstanding):
            self._idle_requested = False
            self._clear_channel()

    # -- requests ----------------------------------------------------------

    async def read(self, *, wait: bool = True, callback: Callable | None = None,
                   timeout: Any = PV_DEFAULT_TIMEOUT, data_type: Any = None,
                   data_count: int | None = None, notify: bool = True) -> Any:
        """Request a fresh reading.

        Parameters
        ----------
        wait : bool
            Wait for the reply and return it (default).
        callback : callable, optional
            ``callback(response)`` when the reply arrives.
        timeout : float or None
            Default ``PV.timeout``; None waits forever.
        data_type : {'native', 'status', 'time', 'graphic', 'control'}, ChannelType or int, optional
        data_count : int, optional
            Default: the channel's current length.
        notify : bool
            READ_NOTIFY (default) or the deprecated READ.

        Returns
        -------
        ReadNotifyResponse or None (``wait=False``)
        """
        deadline = self._deadline(timeout)
        while True:
            cm, channel = await self._connected(deadline)
            # As caproto: no local access check; the server's refusal
            # (an ERROR reply) becomes PermissionDenied.
            command = channel.read(data_type, data_count, notify=notify)
            cm.check_size(command, channel.native_data_count)
            try:
                future = cm.request(command)
            except DisconnectedError:
                continue
            except LocalProtocolError:
                if self._channel is not channel or not self.connected:
                    continue
                raise
            return await self._finish(cm, command.ioid, future, wait,
                                      callback, deadline, 'read')

    async def write(self, data: Any, *, wait: bool = True,
                    callback: Callable | None = None,
                    timeout: Any = PV_DEFAULT_TIMEOUT, notify: bool | None = None,
                    data_type: Any = None, data_count: int | None = None) -> Any:
        """Write a value; optionally wait for the server's confirmation.

        Parameters
        ----------
        data : value or sequence of values
        wait : bool
            Wait for the WRITE_NOTIFY reply and return it (default).
        callback : callable, optional
            ``callback(response)`` when the confirmation arrives.
        timeout : float or None
        notify : bool, optional
            Default: True if ``wait`` or ``callback``.
        data_type, data_count : optional
            As for :meth:`read`; the count defaults to ``len(data)``.

        Returns
        -------
        WriteNotifyResponse or None
        """
        notify = write_notify(notify, wait, callback)
        deadline = self._deadline(timeout)
        while True:
            cm, channel = await self._connected(deadline)
            command = channel.write(data, data_type, data_count,
                                    notify=notify)
            cm.check_size(command, 1)
            try:
                if notify:
                    future = cm.request(command)
                else:
                    cm.send(command)
            except DisconnectedError:
                continue
            except LocalProtocolError:
                if self._channel is not channel or not self.connected:
                    continue
                raise
            # A large write leaves the loop free while it drains, within
            # the operation's deadline.
            waiter = cm.transport.drain_waiter()
            if waiter is not None:
                try:
                    await _wait_until(waiter, deadline)
                except _Expired:
                    if notify:
                        cm.forget_request(command.ioid)
                    raise CaprotoTimeoutError(
                        f'Could not send the write to {self.name!r} within '
                        f'{deadline} timeout: the server is not reading.'
                    ) from None
            if not notify:
                return None
            return await self._finish(cm, command.ioid, future, wait,
                                      callback, deadline, 'write to')

    async def _finish(self, cm: 'CircuitManager', ioid: int,
                      future: asyncio.Future, wait: bool,
                      callback: Callable | None, deadline: Deadline,
                      verb: str) -> Any:
        self._outstanding += 1
        future.add_done_callback(lambda _: self._request_done())
        if callback is not None:
            def deliver(done: asyncio.Future) -> None:
                if done.cancelled() or done.exception() is not None:
                    if not done.cancelled():
                        self.log.warning('%s of %r did not complete: %s',
                                         verb, self.name, done.exception())
                    return
                run_callback(callback, done.result())
            future.add_done_callback(deliver)
        if not wait:
            if callback is None:
                # Nobody will look: retrieve a failure so it is not
                # reported as "never retrieved".
                future.add_done_callback(
                    lambda done: done.cancelled() or done.exception())
            return None
        try:
            response = await _wait_until(future, deadline)
        except _Expired:
            cm.forget_request(ioid)
            raise CaprotoTimeoutError(reply_timeout_text(
                cm.address, verb, self.name, deadline, ioid)) from None
        except asyncio.CancelledError:
            cm.forget_request(ioid)
            raise
        if isinstance(response, ErrorResponse):
            raise error_exception(response, f'{verb} {self.name!r}')
        return response

    # -- subscriptions -----------------------------------------------------

    def subscribe(self, data_type: Any = None, data_count: int | None = None,
                  low: float = 0.0, high: float = 0.0, to: float = 0.0,
                  mask: int | None = None) -> Subscription:
        """The subscription with these parameters (made on first use; it
        becomes active when its first callback is added)."""
        self.context._check_open()
        key = subscription_key(data_type, data_count, low, high, to, mask)
        sub = self.subscriptions.get(key)
        if sub is None:
            sub = self.subscriptions[key] = Subscription(
                self, data_type, data_count, low, high, to, mask)
        return sub

    async def unsubscribe_all(self) -> None:
        """Clear every subscription (remove all their callbacks)."""
        for sub in list(self.subscriptions.values()):
            await sub.clear()

    def _active_subscriptions(self) -> list[Subscription]:
        return [sub for sub in self.subscriptions.values() if sub.active]

    def _subscription_activated(self, sub: Subscription) -> None:
        # Either the channel is up and EVENT_ADD goes out now, or the
        # circuit sends it when the channel is created.
        self._idle_requested = False
        self._wake_if_idle()
        cm = self._circuit_manager
        if (cm is not None and self._channel is not None
                and self.channel_ready.is_set() and not cm.dead.value
                and sub.subscriptionid is None):
            cm.activate(sub)

    def time_since_last_heard(self) -> float | None:
        """Seconds since the server of this channel was last heard from
        (None when not connected)."""
        cm = self._circuit_manager
        if cm is None or cm.dead.value:
            return None
        return time.monotonic() - max(cm.last_tcp_receipt,
                                      cm.keepalive.last_beacon)
