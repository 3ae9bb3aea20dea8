"""One TCP circuit of the asyncio client: ``CircuitManager``.

It sits between a :class:`CircuitProtocol` (bytes) and the core's
``VirtualCircuit`` (protocol state): every command we send goes through
``circuit.send`` and every command received through
``circuit.process_command`` before it is acted on.  Replies complete the
future of their request (the request table: ioid -> future); subscription
updates go straight to their :class:`Subscription`; channel lifecycle
messages update the PV.  Everything runs on the event loop, in the
protocol's receive callback: no task per message.

Idle circuits are watched by the threading client's ``KeepAlive`` (ECHO
after EPICS_CA_CONN_TMO of silence, death after 5 s more); it needs only
``selector.call_at``, which the asyncio loop provides.
"""
from __future__ import annotations

import asyncio
import functools
import logging
import time
from typing import TYPE_CHECKING, Any, cast

from ..protocol import _commands as ca
from ..protocol._array_limit import (check_request_size, message_size_limit,
                                     oversized_read_ioid,
                                     oversized_reply_error, report_oversized)
from ..protocol._circuit import VirtualCircuit
from ..protocol._channel import ClientChannel
from ..protocol._enums import AccessRights
from ..protocol._exceptions import (CaprotoError, CaprotoValueError,
                                    DisconnectedError,
                                    RemoteProtocolError)
from ..protocol._framing import parse_stream
from ..protocol._client_circuit import (CLIENT_ROUTES, ClientChannelBook,
                                        circuit_failed, report_server_error)
from ..protocol._outstanding import IO_REPLIES, OutstandingRequest
from ..protocol._state import CLIENT, CONNECTED
from ..threading._keepalive import KeepAlive
from ._flow_control import FlowControl
from ._transport import CircuitProtocol

if TYPE_CHECKING:  # pragma: no cover
    from ._context import Context
    from ._pv import PV
    from ._subscription import Subscription

__all__ = ('CircuitManager',)

circ_logger = logging.getLogger('cawire.circ')


def _is_idle(pv: 'PV') -> bool:
    return pv._idle


class _ReplySlot(OutstandingRequest):
    """The circuit's ioid-table entry for one of our requests: the future
    the caller awaits."""

    __slots__ = ('future',)

    def __init__(self, ioid: int, future: asyncio.Future):
        super().__init__(ioid)
        self.future = future


class _DeadFlag:
    """``is_set()`` view of the circuit's death (what KeepAlive asks)."""

    __slots__ = ('value',)

    def __init__(self) -> None:
        self.value = False

    def is_set(self) -> bool:
        return self.value


class CircuitManager:
    """A circuit to one server at one priority.

    Parameters
    ----------
    context : Context
    address : (str, int)
    priority : int
    """

    def __init__(self, context: 'Context', address: tuple[str, int],
                 priority: int):
        self.context = context
        self.address: tuple[str, int] = (address[0], address[1])
        self.circuit = VirtualCircuit(CLIENT, address, priority)
        self.selector = context.loop     # KeepAlive's timer source
        self.log = logging.LoggerAdapter(
            circ_logger, {'their_address': address, 'priority': priority,
                          'role': 'CLIENT'})
        self.book = ClientChannelBook(self.circuit,
                                      context.config.string_encoding)
        self.pvs: dict[int, PV] = self.book.owners        # cid -> PV
        self.channels: dict[int, ClientChannel] = self.book.channels
        self.subscriptions: dict[int, Subscription] = {}
        self.dead = _DeadFlag()
        self.close_reason: str | None = None
        self.created_at = time.monotonic()
        self.closed_at: float | None = None
        self.oversized_responses = 0
        self.dropped_updates = 0
        config = context.config
        max_message = message_size_limit(config.max_array_bytes,
                                         config.auto_array_bytes)
        self.transport = CircuitProtocol(
            parse=functools.partial(parse_stream, role=CLIENT),
            on_commands=self._process_commands, on_closed=self._on_closed,
            max_message=max_message, on_oversized=self._on_oversized)
        # KeepAlive is annotated with the threading circuit manager; it uses
        # only what this class also offers (selector.call_at, transport,
        # dead, send_from_loop, address): structural reuse, hence the cast.
        self.keepalive = KeepAlive(cast(Any, self), config.conn_tmo)
        self.flow_control = FlowControl(self)
        self._handlers: dict[type, Any] = {
            cls: getattr(self, name) for cls, name in CLIENT_ROUTES.items()}
        self._connect_task = context.loop.create_task(self._connect())

    def __repr__(self) -> str:
        return (f'<CircuitManager circuit={self.circuit} pvs={len(self.pvs)} '
                f'requests={len(self.circuit.outstanding_requests)} '
                f'subscriptions={len(self.subscriptions)}>')

    # -- state ---------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """True while the circuit is connected and not declared dead."""
        return (self.circuit.states[CLIENT] is CONNECTED
                and not self.dead.value)

    @property
    def last_tcp_receipt(self) -> float:
        """Monotonic time of the last bytes received on this circuit."""
        return self.transport.last_receipt

    @property
    def failed(self) -> bool:
        """Whether the circuit ended in a way that warrants a pause before
        searching again (the core's ``circuit_failed``)."""
        return circuit_failed(self.close_reason, self.created_at,
                              self.closed_at)

    # -- connecting ----------------------------------------------------------

    async def _connect(self) -> None:
        loop = self.context.loop
        timeout = self.context.timeout
        timeout = 30.0 if timeout is None else max(float(timeout), 1.0)
        host, port = self.address
        try:
            await asyncio.wait_for(
                loop.create_connection(lambda: self.transport, host, port),
                timeout)
        except (OSError, asyncio.TimeoutError) as exc:
            reason = (f'TCP connection to {host}:{port} timed out'
                      if isinstance(exc, asyncio.TimeoutError)
                      else f'cannot connect to {host}:{port}: {exc}')
            self.transport.close(reason)
            return
        if self.dead.value:
            return
        self.log.debug('Connected to %s:%d', host, port)
        self.send(*self.book.handshake(self.context.client_name,
                                       self.context.host_name))
        self.context._circuit_connected(self)
        self.keepalive.start()

    # -- channels ------------------------------------------------------------

    def create_channels(self, pvs: list['PV']) -> None:
        """Create the channels of ``pvs`` on this circuit, in one write."""
        if self.dead.value:
            for pv in pvs:
                pv._unbind(self)
            self.context._search_for(pvs, governed=True)
            return
        creates = self.book.add(pvs)
        if creates:
            self.send(*creates)

    def clear_channel(self, channel: ClientChannel) -> None:
        """Ask the server to drop ``channel`` (PV.go_idle)."""
        if self.dead.value:
            return
        try:
            self.send(channel.clear())
        except (CaprotoError, OSError) as exc:
            self.log.debug('Could not clear %r: %s', channel.name, exc)

    # -- sending -------------------------------------------------------------

    def send(self, *commands) -> None:
        """Validate and queue ``commands`` (never blocks; see ``drain``)."""
        if self.dead.value:
            raise DisconnectedError(
                f'circuit {self.address} is closed '
                f'({self.close_reason})')
        self.transport.send(self.circuit.send(*commands))

    send_from_loop = send   # what KeepAlive calls

    async def drain(self) -> None:
        """Wait until the send buffer is below its high-water mark."""
        await self.transport.drain()

    def request(self, command) -> asyncio.Future:
        """Send a READ_NOTIFY/READ/WRITE_NOTIFY; its reply completes the
        returned future (a DisconnectedError if the circuit dies first)."""
        if self.dead.value:
            raise DisconnectedError(
                f'circuit {self.address} is closed ({self.close_reason})')
        future = self.context.loop.create_future()
        # The circuit's ioid table (the core's) holds the reply slot.
        self.transport.send(self.circuit.send_request(
            command, _ReplySlot(command.ioid, future)))
        return future

    def check_size(self, command: Any, native_count: int | None) -> None:
        """Refuse a request whose reply (or payload) EPICS_CA_MAX_ARRAY_BYTES
        does not allow (libca's ECA_TOLARGE), before it is sent."""
        check_request_size(command, native_count, self.transport.max_message,
                           self.context.config.max_array_bytes)

    def forget_request(self, ioid: int) -> None:
        """The caller gave up: the reply, if it comes, completes a future
        nobody awaits (the circuit still expects it, so it is no protocol
        error)."""
        slot = self.circuit.outstanding_requests.get(ioid)
        if isinstance(slot, _ReplySlot) and not slot.future.done():
            slot.future.cancel()

    async def events_off(self) -> None:
        """Suspend updates of every subscription on this circuit (EVENTS_OFF;
        awaitable as in caproto's asyncio client)."""
        self.flow_control.user_events_off()

    async def events_on(self) -> None:
        """Resume updates of every subscription on this circuit."""
        self.flow_control.user_events_on()

    @property
    def events_suspended(self) -> bool:
        """True while EVENTS_OFF (by the user or by flow control) holds."""
        return self.flow_control.suspended

    @property
    def events_off_sent(self) -> int:
        """EVENTS_OFF messages sent (by the user or by flow control)."""
        return self.flow_control.events_off_sent

    @property
    def events_on_sent(self) -> int:
        """How many EVENTS_ON messages this circuit has sent."""
        return self.flow_control.events_on_sent

    def send_flow_control(self, command) -> bool:
        """Send EVENTS_OFF/ON if the circuit is up; return whether sent."""
        if self.dead.value or not self.book.handshake_sent:
            return False
        self.send(command)
        return True

    # -- keep-alive ----------------------------------------------------------

    def beacon_received(self) -> None:
        """A regular beacon from our server counts as proof of life."""
        self.keepalive.beacon_received()

    def check_now(self) -> None:
        """Beacon anomaly on our server: verify the circuit with an ECHO."""
        if self.connected:
            self.keepalive.check_now()

    # -- receiving -----------------------------------------------------------

    def _process_commands(self, commands: list) -> None:
        circuit = self.circuit
        process = circuit.process_command
        handlers = self._handlers
        debug = circ_logger.isEnabledFor(logging.DEBUG)
        for command in commands:
            if debug:
                self.log.debug('<<< %r', command)
            cls = type(command)
            slot = (circuit.request_for(command)
                    if cls in IO_REPLIES or cls is ca.ErrorResponse else None)
            try:
                command = process(command)
            except RemoteProtocolError as exc:
                if getattr(exc, 'channel', None) is not None:
                    self.log.warning('Ignoring invalid %r: %s', command, exc)
                    continue
                self.transport.close(f'protocol error from server: {exc}')
                return
            if slot is not None:
                future = slot.future   # type: ignore[attr-defined]
                if not future.done():
                    future.set_result(command)
                continue
            handler = handlers.get(type(command))
            if handler is None:
                continue
            try:
                handler(command)
            except Exception:
                self.log.exception('Failed to handle %r', command)

    def _on_nothing(self, command) -> None:
        pass

    def _on_echo(self, command) -> None:
        self.keepalive.echo_answered()

    def _on_access_rights(self, command) -> None:
        pv = self.pvs.get(command.cid)
        if pv is not None:
            pv._access_rights_changed(AccessRights(command.access_rights))

    def _on_create_chan(self, command) -> None:
        created = self.book.created(command.cid)
        if created is None:
            return
        pv, channel = created
        if pv._circuit_manager is not self:
            return
        # Subscriptions a connection callback activates go out from there:
        # re-send only those that were waiting before (no EVENT_ADD twice).
        waiting = [(sub, sub.subscriptionid)
                   for sub in pv._active_subscriptions()]
        pv._channel_created(channel)
        for sub, subscriptionid in waiting:
            if sub.active and sub.subscriptionid == subscriptionid:
                self.activate(sub)

    def activate(self, sub: 'Subscription') -> None:
        """Send EVENT_ADD for ``sub`` (its PV's channel is connected)."""
        channel = sub.pv._channel
        if channel is None or self.dead.value:
            return
        try:
            command = channel.subscribe(
                data_type=sub.data_type, data_count=sub.data_count,
                low=sub.low, high=sub.high, to=sub.to, mask=sub.mask)
        except CaprotoValueError as exc:
            self.log.error('Cannot subscribe to %r: %s', sub.pv.name, exc)
            return
        sub.subscriptionid = command.subscriptionid
        sub._manager = self
        self.subscriptions[command.subscriptionid] = sub
        self.send(command)

    def deactivate(self, sub: 'Subscription') -> None:
        """Send EVENT_CANCEL for ``sub`` if it is live here."""
        subscriptionid = sub.subscriptionid
        sub.subscriptionid = None
        sub._manager = None
        if subscriptionid is None:
            return
        self.subscriptions.pop(subscriptionid, None)
        channel = sub.pv._channel
        if self.dead.value or channel is None:
            return
        try:
            self.send(channel.unsubscribe(subscriptionid))
        except (CaprotoError, OSError) as exc:
            self.log.debug('Could not cancel subscription %d: %s',
                           subscriptionid, exc)

    def _on_channel_lost(self, command) -> None:
        # CREATE_CH_FAIL or SERVER_DISCONN: search again (governed, as libca).
        pv = self.book.lost(command.cid)
        if pv is None:
            return
        self._drop_subscriptions(pv)
        pv._unbind(self)
        self.context._pv_lost(pv)

    def _on_clear_channel(self, command) -> None:
        pv = self.book.cleared(command.cid, _is_idle)
        if pv is not None:
            self.create_channels([pv])

    def _on_late_reply(self, command) -> None:
        self.log.debug('Ignoring a reply for no request: %r', command)

    def _on_event(self, command) -> None:
        sub = self.subscriptions.get(command.subscriptionid)
        if sub is None:
            self.dropped_updates += 1
            return
        sub._deliver(command)

    def _on_error(self, command) -> None:
        # ERRORs that answer one of our reads or writes went to its
        # request; what is left is logged.
        report_server_error(self.log, command, self.subscriptions)

    def _on_oversized(self, fields: tuple) -> None:
        self.oversized_responses += 1
        payload_size = fields[1]
        report_oversized(self.log, payload_size, self.oversized_responses)
        ioid = oversized_read_ioid(fields)
        if ioid is None:
            return
        slot = self.circuit.discard_request(ioid)
        future = getattr(slot, 'future', None)
        if future is not None and not future.done():
            future.set_exception(oversized_reply_error(payload_size))

    # -- death ---------------------------------------------------------------

    def disconnect(self) -> None:
        """Close the circuit (the context decides whether to search again)."""
        if not self._connect_task.done():
            self._connect_task.cancel()
        self.transport.close('disconnected by client')

    def _drop_subscriptions(self, pv: 'PV') -> None:
        for sub in pv._active_subscriptions():
            if sub.subscriptionid is not None:
                self.subscriptions.pop(sub.subscriptionid, None)
            sub.subscriptionid = None
            sub._manager = None

    def _on_closed(self, reason: str) -> None:
        if self.dead.value:
            return
        self.close_reason = reason
        self.closed_at = time.monotonic()
        self.keepalive.stop()
        self.dead.value = True
        if self.context._closing:
            self.log.debug('Circuit to %s:%d closed: %s',
                           *self.address, reason)
        else:
            self.log.warning('Circuit to %s:%d (priority %d) closed: %s',
                             *self.address, self.circuit.priority,
                             reason)
        pending = list(self.circuit.outstanding_requests.values())
        try:
            self.circuit.disconnect()
        except CaprotoError:
            pass
        lost = []
        for pv in list(self.pvs.values()):
            self._drop_subscriptions(pv)
            if pv._unbind(self) or not pv._idle:
                lost.append(pv)
        self.book.clear()
        self.subscriptions.clear()
        self.flow_control.reset()
        error = DisconnectedError(
            f'circuit to {self.address[0]}:{self.address[1]} '
            f'closed before the reply arrived ({reason})')
        for slot in pending:
            future = getattr(slot, 'future', None)
            if future is not None and not future.done():
                future.set_exception(error)
        self.context._circuit_died(self, [pv for pv in lost if not pv._idle])
