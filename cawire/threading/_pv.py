"""The user's handle on one channel: ``PV``.

A PV is identified by (name, priority) within a Context and outlives any
particular connection: it is found by search, bound to a circuit, may go
idle, may lose its server and come back, and keeps its subscriptions all
the while.  Blocking operations wait on events that the network thread sets
directly when the relevant reply is parsed.
"""
from __future__ import annotations

import inspect
import logging
import threading
import time
import weakref
from typing import TYPE_CHECKING, Any, Callable

from ..protocol._channel import ClientChannel, DataTypeSpec
from ..protocol._channel_use import (IdleDecision, create_timeout_text,
                                     go_idle_decision, may_finish_idle,
                                     reply_timeout_text, search_timeout_text,
                                     subscription_key, write_notify)
from ..protocol._commands import ErrorResponse
from ..protocol._commands_base import Message
from ..protocol._enums import AccessRights
from ..protocol._exceptions import (CaprotoRuntimeError, CaprotoTimeoutError,
                                    DisconnectedError, LocalProtocolError)
from ..protocol._outstanding import error_exception
from ._callbacks import run_user_callback
from ._defaults import (CONTEXT_DEFAULT_TIMEOUT, PV_DEFAULT_TIMEOUT, Deadline,
                        resolve_timeout)
from ._flags import CHANNEL_READY, CIRCUIT_READY, ReadyBit, ReadyBits
from ._subscription import Subscription

if TYPE_CHECKING:  # pragma: no cover
    from ._network_thread_executor import AnyExecutor
    from ._circuit_manager import VirtualCircuitManager
    from ._context import Context

__all__ = ('PV', 'ConnectionCallbacks')

ch_logger = logging.getLogger('cawire.ch')

class ConnectionCallbacks:
    """Weakly held ``f(pv, value)`` callbacks (connection state, rights).

    Like subscription callbacks (and like caproto's ``CallbackHandler``),
    the registry holds only weak references: a callback with no other
    reference is garbage collected and silently removed, so keep a
    reference to it (a lambda passed inline to ``get_pvs`` is lost).
    ``process`` records the latest value so a callback added later can be
    told the current state at once.
    """

    __slots__ = ('pv', 'callbacks', '_next_token', '_last_value',
                 '__weakref__')

    def __init__(self, pv: PV, last_value: Any = None) -> None:
        self.pv = pv
        self.callbacks: dict[int, weakref.ref] = {}
        self._next_token = 0
        self._last_value = last_value

    @property
    def callback_lock(self) -> threading.RLock:
        return self.pv.component_lock

    def add_callback(self, func: Callable[[PV, Any], Any],
                     run: bool = False) -> int:
        """Register ``func`` (held weakly); return its token.

        Raises
        ------
        TypeError
            If ``func`` cannot be weakly referenced (a builtin such as
            ``list.append`` bound to a list): wrap it in a function you keep.
        """
        if not callable(func):
            raise TypeError(f'{func!r} is not callable')
        with self.pv.component_lock:
            token = self._next_token
            self._next_token += 1
            registry = weakref.ref(self)

            def removed(_ref: object, token: int = token) -> None:
                callbacks = registry()
                if callbacks is not None:
                    callbacks.callbacks.pop(token, None)

            ref: weakref.ref
            try:
                if inspect.ismethod(func):
                    ref = weakref.WeakMethod(func, removed)
                else:
                    ref = weakref.ref(func, removed)
            except TypeError:
                raise TypeError(
                    f'{func!r} cannot be weakly referenced; connection and '
                    f'access-rights callbacks are held weakly (as in caproto)'
                ) from None
            self.callbacks[token] = ref
            last = self._last_value
        if run and last is not None:
            self.pv._run_callback(func, self.pv, last)
        return token

    def remove_callback(self, token: int) -> None:
        with self.pv.component_lock:
            self.callbacks.pop(token, None)

    def process(self, value: Any,
                executor: AnyExecutor | None = None) -> None:
        with self.pv.component_lock:
            self._last_value = value
            refs = list(self.callbacks.values())
        for ref in refs:
            func = ref()
            if func is None:
                continue
            if executor is not None:
                executor.submit(run_user_callback, func, self.pv, value)
            else:
                self.pv._run_callback(func, self.pv, value)


class PV:
    """Represents one PV, specified by a name and priority.

    This object may exist prior to connection and persists across any
    subsequent re-connections.  It must be created by
    :meth:`Context.get_pvs`, never directly.
    """

    __slots__ = ('name', 'priority', 'context', 'access_rights',
                 'component_lock', '_ready', '_ready_condition',
                 '_connection_callbacks', '_rights_callbacks', '_state',
                 '_subscriptions', '_timeout',
                 '_circuit_manager', '_channel', '_idle', '_idle_requested',
                 '_outstanding', 'cid', '__weakref__')

    #: caproto compatibility; unused (a class attribute: a slot per PV
    #: would cost 8 bytes for nothing).
    command_bundle_queue = None

    def __init__(self, name: str, priority: int, context: Context,
                 timeout: Any, cid: int | None = None) -> None:
        self.name = name
        self.priority = priority
        self.context = context
        self.access_rights: AccessRights | None = None
        # Client channel id: fixed for the PV's life (libca re-uses it);
        # get_pvs hands out a batch's cids at once.
        self.cid = context._new_cid() if cid is None else cid
        # Guards circuit_manager/channel and the connection transitions.
        # Shared with other PVs of the context (one RLock per PV would be
        # its largest part); never hold two PVs' locks at once.
        self.component_lock = context._component_lock_for(self.cid)
        # CIRCUIT_READY | CHANNEL_READY bits (ReadyBits: changed under
        # component_lock), shown as circuit_ready / channel_ready; the
        # Condition is built when somebody blocks on one.
        self._ready = 0
        self._ready_condition: threading.Condition | None = None
        # Created on first use: most PVs never get such callbacks.
        self._connection_callbacks: ConnectionCallbacks | None = None
        self._rights_callbacks: ConnectionCallbacks | None = None
        self._state: str | None = None  # last connection state reported
        # Created on first use (subscriptions property): most PVs of a big
        # connect never subscribe, and an empty dict is 64 bytes each.
        self._subscriptions: dict[tuple, Subscription] | None = None
        self._timeout = timeout
        self._circuit_manager: VirtualCircuitManager | None = None
        self._channel: ClientChannel | None = None
        self._idle = False
        # go_idle() asked while requests were outstanding: idle afterwards.
        self._idle_requested = False
        self._outstanding = 0  # requests waiting for replies (circuit lock)

    # -- properties ----------------------------------------------------------------

    @property
    def log(self) -> logging.LoggerAdapter:
        """Logger adapter tagging records with this PV's name (made on each
        use: it is needed only when logging is enabled, and keeping one
        would cost every PV a slot)."""
        return logging.LoggerAdapter(ch_logger,
                                     {'pv': self.name, 'role': 'CLIENT'})

    @property
    def subscriptions(self) -> dict[tuple, Subscription]:
        """This PV's subscriptions, by (data_type, data_count, low, high,
        to, mask)."""
        subscriptions = self._subscriptions
        if subscriptions is None:
            with self.component_lock:
                subscriptions = self._subscriptions
                if subscriptions is None:
                    subscriptions = self._subscriptions = {}
        return subscriptions

    @property
    def timeout(self) -> float | None:
        """Effective default timeout.

        Valid values are: ``CONTEXT_DEFAULT_TIMEOUT`` (fall back to
        Context.timeout), a floating-point number, or None (never timeout).
        """
        return resolve_timeout(self._timeout, CONTEXT_DEFAULT_TIMEOUT,
                               self.context.timeout)

    @timeout.setter
    def timeout(self, value: Any) -> None:
        self._timeout = value

    @property
    def connection_state_callback(self) -> ConnectionCallbacks:
        """Registry of ``f(pv, state)`` callbacks ('connected'/'disconnected')."""
        callbacks = self._connection_callbacks
        if callbacks is None:
            callbacks = self._create_registry('_connection_callbacks', '_state')
        return callbacks

    @property
    def access_rights_callback(self) -> ConnectionCallbacks:
        """Registry of ``f(pv, access_rights)`` callbacks."""
        callbacks = self._rights_callbacks
        if callbacks is None:
            callbacks = self._create_registry('_rights_callbacks', 'access_rights')
        return callbacks

    def _create_registry(self, slot: str, current: str) -> ConnectionCallbacks:
        # Created on first use (most PVs never get one: ~550 B saved each),
        # under the lock so two threads cannot each install their own.
        with self.component_lock:
            callbacks = getattr(self, slot)
            if callbacks is None:
                callbacks = ConnectionCallbacks(self, getattr(self, current))
                setattr(self, slot, callbacks)
        return callbacks

    @property
    def circuit_manager(self) -> VirtualCircuitManager | None:
        """The circuit this PV's channel lives on, or None while unconnected.

        Set by the context when the name is found and cleared when the circuit
        dies; the PV then searches again.
        """
        return self._circuit_manager

    @circuit_manager.setter
    def circuit_manager(self, value: VirtualCircuitManager | None) -> None:
        with self.component_lock:
            self._circuit_manager = value

    @property
    def channel(self) -> ClientChannel | None:
        """The core's channel (ids and state), or None while unconnected."""
        return self._channel

    @channel.setter
    def channel(self, value: ClientChannel | None) -> None:
        with self.component_lock:
            self._channel = value

    @property
    def connected(self) -> bool:
        """True once the server created the channel, until it disconnects."""
        return bool(self._ready & CHANNEL_READY)

    @property
    def circuit_ready(self) -> ReadyBit:
        """Event-like (is_set/wait/set/clear): set while the PV is bound to a
        circuit (its name was found)."""
        return ReadyBit(self, CIRCUIT_READY)

    @property
    def channel_ready(self) -> ReadyBit:
        """Event-like (is_set/wait/set/clear): set while the channel is
        created on the server (connected)."""
        return ReadyBit(self, CHANNEL_READY)

    def __repr__(self) -> str:
        cm = self._circuit_manager
        if self._idle:
            state = '(idle)'
        elif cm is None or cm.dead.is_set():
            state = '(searching....)'
        else:
            state = (f'address={cm.address}, '
                     f'circuit_state={cm.circuit_state!r}')
            channel = self._channel
            if self.connected and channel is not None:
                state += f', channel_state={cm.channel_state(channel)!r}'
            else:
                state += ' (creating...)'
        return f'<PV name={self.name!r} priority={self.priority} {state}>'

    # -- callbacks from the circuit (network thread) --------------------------------

    def access_rights_changed(self, rights: AccessRights,
                              executor: AnyExecutor | None = None
                              ) -> None:
        """Record new access rights and run the access-rights callbacks.

        Called by the circuit (network thread) when ACCESS_RIGHTS arrives.

        Parameters
        ----------
        rights : AccessRights
            The rights the server now grants.
        executor : CallbackExecutor, optional
            Where to run the callbacks; the PV's own executor by default.
        """
        with self.component_lock:
            self.access_rights = rights
            callbacks = self._rights_callbacks
        if callbacks is not None:
            callbacks.process(rights, executor)

    def connection_state_changed(self, state: str,
                                 channel: ClientChannel | None,
                                 executor: AnyExecutor | None = None
                                 ) -> None:
        """Record a connection state change and run the connection callbacks.

        Called by the context and the circuit (network thread).

        Parameters
        ----------
        state : str
            ``'connected'``, ``'disconnected'`` or another of the states that
            caproto reports to connection callbacks.
        channel : ClientChannel or None
            The core channel concerned (None when there is none).
        executor : CallbackExecutor, optional
            Where to run the callbacks; the PV's own executor by default.
        """
        if ch_logger.isEnabledFor(logging.INFO):
            self.log.info('connection state changed to %s.', state)
        with self.component_lock:
            self._state = state
            callbacks = self._connection_callbacks
        if callbacks is not None:
            callbacks.process(state, executor)

    def _run_callback(self, func, *args) -> None:
        cm = self._circuit_manager
        if cm is not None and not cm.dead.is_set():
            cm.user_callback_executor.submit(run_user_callback, func, *args)
        else:
            run_user_callback(func, *args)

    # -- connection -----------------------------------------------------------------

    def _effective_timeout(self, timeout):
        return resolve_timeout(timeout, PV_DEFAULT_TIMEOUT, self.timeout)

    def wait_for_search(self, *, timeout: Any = PV_DEFAULT_TIMEOUT) -> None:
        """Wait for this PV to be found (an address and circuit assigned).

        Parameters
        ----------
        timeout : number or None, optional
            Seconds to wait before a CaprotoTimeoutError is raised. Default is
            ``PV.timeout``. If None, never timeout.
        """
        timeout = self._effective_timeout(timeout)
        self.context._check_open()
        self._wake_if_idle()
        if not self._ready & CIRCUIT_READY:
            self._refuse_to_block_network_thread('waiting for the search')
        if not ReadyBits.wait(self, CIRCUIT_READY, timeout):
            raise CaprotoTimeoutError(
                search_timeout_text(self.name, Deadline(timeout))
                + self._searched_addresses_text())

    def _searched_addresses_text(self) -> str:
        """Where the search went, for timeout messages: the UDP
        destinations (EPICS_CA_ADDR_LIST / EPICS_CA_AUTO_ADDR_LIST) and the
        TCP name servers (EPICS_CA_NAME_SERVERS)."""
        broadcaster = getattr(self.context, 'broadcaster', None)
        udp = [f'{host}:{port}' for host, port
               in getattr(broadcaster, 'search_addresses', ())]
        tcp = [f'{link.address[0]}:{link.address[1]}' for link
               in getattr(broadcaster, 'name_servers', ())]
        text = ' Searched ' + (', '.join(udp) if udp else 'no UDP address')
        text += ' (EPICS_CA_ADDR_LIST, EPICS_CA_AUTO_ADDR_LIST)'
        if tcp:
            text += ' and name servers ' + ', '.join(tcp)
        return text + '.'

    def wait_for_connection(self, *,
                            timeout: Any = PV_DEFAULT_TIMEOUT) -> None:
        """Wait for this PV to be connected.

        Parameters
        ----------
        timeout : number or None, optional
            Seconds to wait before a CaprotoTimeoutError is raised. Default is
            ``PV.timeout``. If None, never timeout.
        """
        self._idle_requested = False  # used again: stay connected
        if self._ready & CHANNEL_READY and not self._idle:
            # Already connected (the common case when waiting on thousands
            # of PVs in turn): no deadline, no lock.
            self.context._check_open()
            cm = self._circuit_manager
            if (cm is not None and self._channel is not None
                    and not cm.dead.is_set()):
                return
        self._connected_components(Deadline(self._effective_timeout(timeout)))

    def _wake_if_idle(self) -> None:
        with self.component_lock:
            if self._idle:
                self._idle = False
                self.context._reconnect_pv(self)

    def _connected_components(self, deadline: Deadline):
        """Block until connected; return (circuit_manager, channel)."""
        self._idle_requested = False  # used again: stay connected
        while True:
            self.context._check_open()
            with self.component_lock:
                # The usual case, with one lock: connected and not idle.
                cm, channel = self._circuit_manager, self._channel
                if (not self._idle and cm is not None and channel is not None
                        and self._ready & CHANNEL_READY
                        and not cm.dead.is_set()):
                    return cm, channel
            self._wake_if_idle()
            if not self._ready & CHANNEL_READY:
                self._refuse_to_block_network_thread('waiting for a connection')
            if not ReadyBits.wait(self, CHANNEL_READY, deadline.remaining()):
                if self._ready & CIRCUIT_READY:
                    cm = self._circuit_manager
                    raise CaprotoTimeoutError(create_timeout_text(
                        self.name, cm.address if cm else None, deadline))
                raise CaprotoTimeoutError(
                    search_timeout_text(self.name, deadline)
                    + self._searched_addresses_text())
            with self.component_lock:
                cm, channel = self._circuit_manager, self._channel
                if (cm is not None and channel is not None
                        and not cm.dead.is_set() and self._ready & CHANNEL_READY):
                    return cm, channel
            # Lost the connection between the wake-up and now: wait again.
            time.sleep(0)

    def go_idle(self) -> None:
        """Request to clear this Channel to reduce load on client and server.

        A new Channel will be automatically, silently created the next time
        any method requiring a connection is called.  If there are any
        subscriptions with callbacks, or the PV is still connecting, the
        request is ignored.  If reads or writes are in progress, the channel
        is cleared once they complete (unless the PV is used again first).
        """
        with self.component_lock:
            # Checked under the lock that activating a subscription takes,
            # so a subscription sent meanwhile is never cleared with the
            # channel (and left unsent until the PV is used again).
            cm = self._circuit_manager
            if cm is None:
                return
            with cm._lock:
                decision = go_idle_decision(
                    has_active_subscriptions=bool(
                        self.active_subscriptions()),
                    connected=self.connected, idle=self._idle,
                    outstanding=self._outstanding)
                if decision is IdleDecision.DEFER:
                    self._idle_requested = True
            if decision is IdleDecision.CLEAR:
                self._clear_channel_locked()

    def _finish_going_idle(self) -> None:
        # Network thread: the last outstanding request completed.
        with self.component_lock:
            if not self._idle_requested:
                return
            self._idle_requested = False
            if may_finish_idle(
                    has_active_subscriptions=bool(self.active_subscriptions()),
                    connected=self.connected, idle=self._idle,
                    outstanding=self._outstanding):
                self._clear_channel_locked()

    def _clear_channel_locked(self) -> None:
        cm, channel = self._circuit_manager, self._channel
        self._idle = True
        self._ready &= ~CHANNEL_READY
        self._channel = None
        if cm is not None and channel is not None:
            cm.clear_channel(self, channel)

    # -- requests -----------------------------------------------------------------

    def read(self, *, wait: bool = True,
             callback: Callable[[Any], Any] | None = None,
             timeout: Any = PV_DEFAULT_TIMEOUT, data_type: DataTypeSpec = None,
             data_count: int | None = None, notify: bool = True
             ) -> Message | None:
        """Request a fresh reading.

        Parameters
        ----------
        wait : boolean
            If True (default) block until a matching response is received
            from the server. Raises CaprotoTimeoutError if that response is
            not received within ``timeout``.
        callback : callable or None
            Called with the response as its argument when received.
        timeout : number or None, optional
            Seconds to wait. Default is ``PV.timeout``. None: never.
        data_type : {'native', 'status', 'time', 'graphic', 'control'} or ChannelType or int ID, optional
            Request specific data type or a class of data types, matched to
            the channel's native data type. Default is the native type.
        data_count : integer, optional
            Requested number of values. Default is the channel's current
            (dynamic) length.
        notify : boolean, optional
            Send a ReadNotifyRequest instead of a ReadRequest. True by default.

        Returns
        -------
        ReadNotifyResponse or None
        """
        timeout = self._effective_timeout(timeout)
        deadline = Deadline(timeout)
        while True:
            cm, channel = self._connected_components(deadline)
            try:
                pending = cm.requests.read(
                    self, channel, data_type, data_count, notify=notify,
                    callback=callback, wait=wait, deadline=deadline)
            except DisconnectedError:
                continue  # the circuit died before the request left
            except LocalProtocolError:
                if self._lost(channel):
                    continue  # went idle or disconnected meanwhile
                raise
            if not wait:
                return None
            return self._wait_for_reply(cm, pending, deadline, 'read')

    def _lost(self, channel) -> bool:
        """Whether ``channel`` is no longer this PV's connected channel."""
        return self._channel is not channel or not self._ready & CHANNEL_READY

    def _refuse_to_block_network_thread(self, what: str) -> None:
        # Only a callback run with callbacks_on_network_thread=True gets
        # here on the network thread: blocking it would wait for a reply
        # that only it can read (a stall for the whole timeout).
        if self.context.loop.in_loop_thread():
            raise CaprotoRuntimeError(
                f'{what} on {self.name!r} would block the network thread '
                f'(callbacks run there: Context(callbacks_on_network_thread='
                f'True)); use wait=False, with a callback for the reply')

    def _wait_for_reply(self, cm, pending, deadline: Deadline, verb: str):
        event = pending.event
        try:
            if not event.is_set() and self.context.loop.in_loop_thread():
                cm.requests.abandon(pending)
                self._refuse_to_block_network_thread(f'a blocking {verb}')
            # The reply is received on this thread if it borrowed the
            # network loop to send (no hand-off between threads per round
            # trip).
            cm.receive_while_waiting(pending, deadline.remaining())
        except BaseException:
            cm.requests.give_back_loan(pending)   # (e.g. KeyboardInterrupt)
            raise
        if not event.wait(deadline.remaining()):
            cm.requests.abandon(pending)
            raise CaprotoTimeoutError(reply_timeout_text(
                cm.address, verb, self.name, deadline, pending.ioid))
        if pending.exception is not None:
            raise pending.exception
        response = pending.response
        if isinstance(response, ErrorResponse):
            raise error_exception(response, f'{verb} {self.name!r}')
        return response

    def write(self, data: Any, *, wait: bool = True,
              callback: Callable[[Any], Any] | None = None,
              timeout: Any = PV_DEFAULT_TIMEOUT, notify: bool | None = None,
              data_type: DataTypeSpec = None, data_count: int | None = None,
              metadata: Any = None) -> Message | None:
        """Write a new value. Optionally, request confirmation from the server.

        Parameters
        ----------
        data : str, int, or float or any Iterable of these
            Value(s) to write.
        wait : boolean
            If True (default) block until a matching WriteNotifyResponse is
            received from the server.
        callback : callable or None
            Called with the WriteNotifyResponse as its argument when received.
        timeout : number or None, optional
            Seconds to wait. Default is ``PV.timeout``. None: never.
        notify : boolean or None
            If None (default), set to True if wait=True or callback is set.
            Raises ValueError if set to False while wait=True or callback is
            set.
        data_type : {'native', 'status', 'time', 'graphic', 'control'} or ChannelType or int ID, optional
            Write specific data type. Default is the native type.
        data_count : integer, optional
            Number of values. Default: the number of values in ``data``.
        metadata : DBR structure, bytes, tuple or dict, optional
            Metadata sent before the values (caproto's ``metadata``): only
            with a compound ``data_type`` (e.g. ``'status'``).  RSRV
            applies a plain WRITE of one (metadata ignored) and answers a
            WRITE_NOTIFY with ECA_PUTFAIL.  Not in caproto's threading
            client; the synchronous client uses it.

        Returns
        -------
        WriteNotifyResponse or None
        """
        notify = write_notify(notify, wait, callback)
        timeout = self._effective_timeout(timeout)
        deadline = Deadline(timeout)
        while True:
            cm, channel = self._connected_components(deadline)
            try:
                pending = cm.requests.write(
                    self, channel, data, data_type, data_count, notify=notify,
                    callback=callback, wait=wait, deadline=deadline,
                    metadata=metadata)
            except DisconnectedError:
                continue
            except LocalProtocolError:
                if self._lost(channel):
                    continue
                raise
            if not wait:
                return None
            return self._wait_for_reply(cm, pending, deadline, 'write to')

    def subscribe(self, data_type: DataTypeSpec = None,
                  data_count: int | None = None, low: float = 0.0,
                  high: float = 0.0, to: float = 0.0,
                  mask: int | None = None) -> Subscription:
        """Start a new subscription to which user callbacks may be added.

        Parameters
        ----------
        data_type : {'native', 'status', 'time', 'graphic', 'control'} or ChannelType or int ID, optional
            Request specific data type or a class of data types, matched to
            the channel's native data type. Default is the native type.
        data_count : integer, optional
            Requested number of values. Default is the channel's current
            (dynamic) length.
        low, high, to : float, optional
            Deprecated by Channel Access; sent as given (normally 0).
        mask : SubscriptionType, optional
            Subscribe to selective updates (default DBE_VALUE | DBE_ALARM).

        Returns
        -------
        Subscription
        """
        self.context._check_open()
        key = subscription_key(data_type, data_count, low, high, to, mask)
        with self.component_lock:
            sub = self.subscriptions.get(key)
            if sub is None:
                sub = Subscription(self, data_type, data_count, low, high, to,
                                   mask)
                self.subscriptions[key] = sub
        return sub

    def unsubscribe_all(self) -> None:
        """Clear all subscriptions. (Remove all user callbacks from them.)"""
        for sub in list((self._subscriptions or {}).values()):
            sub.clear()

    def _activate_subscription(self, sub: Subscription) -> None:
        # One decision, under the lock the CREATE_CHAN reply handler also
        # holds: either the channel is ready and EVENT_ADD goes out here, or
        # it is not and the handler sends it when the channel connects.
        with self.component_lock:
            if sub.active:
                return
            sub._take_new_id()
            self._idle_requested = False
            self._wake_if_idle()
            cm, channel = self._circuit_manager, self._channel
            if cm is not None and channel is not None and \
                    self._ready & CHANNEL_READY and not cm.dead.is_set():
                cm.subscribe(self, channel, sub)
            # Otherwise the circuit subscribes it when the channel connects.

    def _deactivate_subscription(self, sub: Subscription) -> None:
        with self.component_lock:
            subscriptionid = sub.subscriptionid
            if subscriptionid is None:
                return
            sub.subscriptionid = None
            self.context.ids.subscriptions.discard(subscriptionid)
            sub.most_recent_response = None
            cm, channel = self._circuit_manager, self._channel
            if cm is not None and channel is not None and \
                    self._ready & CHANNEL_READY and not cm.dead.is_set():
                cm.unsubscribe(self, channel, sub, subscriptionid)
            elif cm is not None:
                cm.subscriptions.pop(subscriptionid, None)

    def active_subscriptions(self) -> list[Subscription]:
        """This PV's subscriptions that want updates (are active)."""
        subscriptions = self._subscriptions
        if not subscriptions:
            return []
        return [sub for sub in list(subscriptions.values()) if sub.active]

    def time_since_last_heard(self, timeout: Any = PV_DEFAULT_TIMEOUT) -> float:
        """Seconds since the last message from the server of this channel.

        The time is reset to 0 whenever a TCP message or a beacon arrives from
        the server.  If neither arrives for EPICS_CA_CONN_TMO seconds an ECHO
        is sent; a server that does not answer is declared dead and its PVs
        reconnect.

        Parameters
        ----------
        timeout : number or None, optional
            Seconds to wait for the connection. Default is ``PV.timeout``.
        """
        cm, _ = self._connected_components(
            Deadline(self._effective_timeout(timeout)))
        return self.context.broadcaster.time_since_last_heard()[
            cm.address]
