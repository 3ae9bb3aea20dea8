"""One TCP circuit to one server at one priority: ``VirtualCircuitManager``.

The manager is the I/O shell around the sans-I/O ``cawire.protocol._circuit``
``VirtualCircuit``: it owns the socket (through a :class:`StreamTransport`),
its :class:`RequestTable` (reads and writes waiting for replies, kept in the
core circuit's ioid table), the subscriptions routed to it, the callback
executor of its PVs, and the circuit's timers (connect timeout, echo
keep-alive).  Every command it sends is built by the core channel or
circuit and goes through ``VirtualCircuit.send``; every command received
goes through ``VirtualCircuit.process_command`` before it is acted on.

Threads: replies are parsed and routed on the network thread; user threads
build and send requests.  Both go through ``_lock`` around the core circuit,
which is never held while anything waits.  Received commands are routed by
type: replies complete their pending request directly (waking a blocked
caller without any thread hop), subscription updates go to
:class:`UpdateDelivery`, channel lifecycle messages update the PV.  A
protocol violation closes this circuit only, with the reason logged.

When the circuit dies (connection refused or reset, server gone silent, a
protocol violation by the server, or our own disconnect) every pending
request fails at once with :class:`DisconnectedError`, every PV is told
'disconnected', and the context searches for the PVs again; their
subscriptions are re-established by the next circuit.
"""
from __future__ import annotations

import errno
import functools
import logging
import socket
import threading
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Callable

from ..protocol import _commands as ca
from ..protocol._array_limit import (check_request_size, message_size_limit,
                                     oversized_read_ioid,
                                     oversized_reply_error, report_oversized)
from ..protocol._channel import ClientChannel
from ..protocol._client_circuit import (CLIENT_ROUTES, ClientChannelBook,
                                        circuit_failed, report_server_error)
from ..protocol._channel_replies import ChannelReplies, parse_client_stream
from ..protocol._circuit import IoRequest, VirtualCircuit
from ..protocol._commands_base import Message
from ..protocol._enums import AccessRights
from ..protocol._exceptions import (CaprotoError, CaprotoKeyError,
                                    CaprotoValueError, DisconnectedError,
                                    LocalProtocolError, RemoteProtocolError)
from ..protocol._framing import parse_stream
from ..protocol._outstanding import IO_REPLIES
from ..protocol._state import CLIENT, States
from ._callbacks import CallbackExecutor
from ._flags import CHANNEL_READY, ReadyBits
from ._network_thread_executor import AnyExecutor, NetworkThreadExecutor
from ._keepalive import KeepAlive
from ._pending_request import PendingRequest
from ._request_table import RequestTable
from ._transport import StreamTransport
from ._update_delivery import UpdateDelivery

if TYPE_CHECKING:  # pragma: no cover
    from ._context import Context
    from ._pv import PV
    from ._selector_loop import Loan, NetworkLoop, TimerHandle
    from ._subscription import Subscription

__all__ = ('VirtualCircuitManager',)

circ_logger = logging.getLogger('cawire.circ')

#: Replies and ERRORs that may complete an outstanding request.
_MAY_COMPLETE_REQUEST = IO_REPLIES | {ca.ErrorResponse}


def _is_idle(pv: PV) -> bool:
    return pv._idle


def _always_done() -> bool:
    return True


class VirtualCircuitManager:
    """Encapsulates a VirtualCircuit, a TCP socket, and additional state.

    This object should never be instantiated directly by user code.  It is
    used internally by the Context.

    Parameters
    ----------
    context : Context
    circuit : cawire.protocol._circuit.VirtualCircuit
    selector : NetworkLoop
        The network loop that watches this circuit's socket.
    timeout : float
        Seconds allowed for the TCP connection to be established.
    """

    #: Callback backlog (queued jobs) at which EVENTS_OFF is sent (above a
    #: burst of one update from each of a few thousand subscriptions) ...
    backlog_high_water = 2000
    #: ... and at which EVENTS_ON follows once the callbacks caught up.
    backlog_low_water = 200
    #: Backlog beyond which queued updates of one subscription are merged
    #: into the latest (and counted in ``coalesced_updates``).
    backlog_hard_limit = 10000
    #: A user thread that waits for a reply on this circuit receives it
    #: itself when the network thread is idle (``NetworkLoop.borrow``);
    #: not with callbacks on the network thread, whose callbacks would then
    #: run on the waiting thread.
    lend_loop_to_waiters = True
    #: Payload bytes queued for callbacks at which EVENTS_OFF is sent (merging
    #: per subscription starts at 4x, EVENTS_ON waits for 1/4 of it): big
    #: arrays are bounded in bytes, not only in number of updates.
    backlog_max_bytes = 16 * 2 ** 20

    def __init__(self, context: Context, circuit: VirtualCircuit,
                 selector: NetworkLoop, timeout: float | None = 2.0) -> None:
        address = circuit.address
        if address is None:
            raise CaprotoValueError('a client circuit needs an address')
        self.context = context
        self.circuit = circuit
        #: The server's (host, port).
        self.address: tuple[str, int] = address
        self.selector = selector
        self.timeout = timeout
        self.log = logging.LoggerAdapter(
            circ_logger, {'their_address': circuit.address,
                          'priority': circuit.priority, 'role': 'CLIENT'})
        self.book = ClientChannelBook(circuit,
                                      context.config.string_encoding)
        self.channels: dict[int, ClientChannel] = self.book.channels
        self.pvs: dict[int, PV] = self.book.owners        # cid -> PV
        self.subscriptions: dict[int, Subscription] = {}  # subscriptionid ->
        self.requests = RequestTable(self)
        self.all_created_pvnames: list[str] = []
        # all_created_pvnames as a set, built at the first reconnection: a
        # PV's first connection cannot repeat a name (~50 bytes per PV).
        self._created_names: set[str] | None = None
        self.dead = threading.Event()
        self.connected_event = threading.Event()
        self.process_queue = None  # caproto compatibility; routing is direct
        self._lock = threading.RLock()
        self._connect_timer: TimerHandle | None = None
        self.close_reason: str | None = None
        self.created_at = time.monotonic()
        self.closed_at: float | None = None
        self.oversized_responses = 0
        self.keepalive = KeepAlive(self, context.config.conn_tmo)
        self.delivery = UpdateDelivery(
            self, high_water=self.backlog_high_water,
            low_water=self.backlog_low_water,
            hard_limit=self.backlog_hard_limit,
            max_bytes=self.backlog_max_bytes,
            subscriptions=self.subscriptions)
        self.user_callback_executor: AnyExecutor
        if context.callbacks_on_network_thread:
            self.user_callback_executor = NetworkThreadExecutor(
                selector, name=f'cawire-callbacks-{address[0]}:{address[1]}')
        else:
            self.user_callback_executor = CallbackExecutor(
                context.max_workers,
                name=f'cawire-callbacks-{address[0]}:{address[1]}')
        self.delivery.executor = self.user_callback_executor
        config = context.config
        max_message = message_size_limit(config.max_array_bytes,
                                         config.auto_array_bytes)
        self.max_message: int | None = max_message
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.setblocking(False)
        self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        # The executor on the network thread has nothing to hold back
        # while a receive is processed: commands go straight in.
        on_commands = (self._process_commands_held
                       if self.delivery.on_network_thread
                       else self._process_commands)
        self._deliver_update = (self.delivery.deliver_now
                                if self.delivery.on_network_thread
                                else self.delivery.deliver)
        self._lend_loop = (self.lend_loop_to_waiters
                           and not self.delivery.on_network_thread)
        self.transport = StreamTransport(
            selector, self.socket,
            parse=parse_client_stream,
            on_commands=on_commands, on_closed=self._on_closed,
            name=f'{address[0]}:{address[1]}',
            max_message=max_message, on_oversized=self._on_oversized)
        self._handlers: dict[type, Callable[[Any], None]] = {
            cls: getattr(self, name) for cls, name in CLIENT_ROUTES.items()}

    def __repr__(self) -> str:
        return (f'<VirtualCircuitManager circuit={self.circuit} '
                f'pvs={len(self.pvs)} ioids={len(self.requests)} '
                f'subscriptions={len(self.subscriptions)}>')

    # -- state --------------------------------------------------------------------

    @property
    def ioids(self) -> dict:
        """ioid -> outstanding request (the core circuit's table)."""
        return self.circuit.outstanding_requests

    @property
    def connected(self) -> bool:
        """True while the circuit is connected and not declared dead."""
        return self.circuit_state is States.CONNECTED and not self.dead.is_set()

    @property
    def circuit_state(self) -> States:
        """The client side state of the core circuit (a ``States``)."""
        return self.circuit.states[CLIENT]

    @staticmethod
    def channel_state(channel: ClientChannel) -> States:
        """The client side state of a core channel on this circuit."""
        return channel.states[CLIENT]

    @property
    def last_tcp_receipt(self) -> float:
        """Monotonic time of the last bytes received on this circuit."""
        return self.transport.last_receipt

    @property
    def processing(self) -> bool:
        """True while user callbacks of this circuit are queued."""
        return self.user_callback_executor.backlog > 0

    @property
    def events_suspended(self) -> bool:
        """True while EVENTS_OFF (by the user or by flow control) is in force."""
        return self.delivery.switch.suspended

    @property
    def events_off_sent(self) -> int:
        """EVENTS_OFF messages sent (by the user or by flow control)."""
        return self.delivery.events_off_sent

    @property
    def events_on_sent(self) -> int:
        """How many EVENTS_ON messages this circuit has sent."""
        return self.delivery.events_on_sent

    @property
    def coalesced_updates(self) -> int:
        """Subscription updates replaced by a newer one before delivery."""
        return self.delivery.coalesced_updates

    @property
    def queued_update_bytes(self) -> int:
        """Payload bytes of subscription updates waiting for callbacks."""
        return self.delivery.queued_bytes

    @property
    def dropped_updates(self) -> int:
        """Updates that arrived for no live subscription."""
        return self.delivery.dropped_updates

    # -- connecting (network thread) ------------------------------------------------

    def connect(self) -> None:
        """Start the non-blocking TCP connect (network thread)."""
        try:
            code = self.socket.connect_ex(self.address)
        except OSError as exc:
            code = exc.errno or errno.EIO
        if code not in (0, errno.EINPROGRESS, errno.EWOULDBLOCK):
            self.transport.close(
                f'cannot connect to {self.address}: '
                f'{errno.errorcode.get(code, code)}')
            return
        self.selector.register(self.socket, None, self._on_connect_writable)
        timeout = self.timeout if self.timeout is not None else 30.0
        self._connect_timer = self.selector.call_later(
            max(timeout, 1.0), self._connect_timed_out)

    def _connect_timed_out(self) -> None:
        if not self.connected_event.is_set():
            self.transport.close(f'TCP connection to {self.address} '
                                 f'timed out')

    def _on_connect_writable(self) -> None:
        code = self.socket.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if code:
            self.transport.close(f'cannot connect to {self.address}: '
                                 f'{errno.errorcode.get(code, code)}')
            return
        self.selector.register(self.socket, self.transport.on_readable, None)
        self.connected_event.set()
        self.log.debug('Connected to %s:%d', *self.address)
        context = self.context
        with self._lock:
            self._send_locked(self.book.open(context.client_name,
                                             context.host_name))
            self._send_packed_locked(self.book.take_waiting())
        if self._connect_timer is not None:
            self._connect_timer.cancel()
        self.context._circuit_connected(self)
        self.keepalive.start()

    # -- channels ------------------------------------------------------------------------

    def create_channels(self, pvs: Sequence[PV]) -> None:
        """Create the channels of ``pvs`` on this circuit, in one write
        (any thread)."""
        with self._lock:
            if not self.dead.is_set():
                self._send_packed_locked(self.book.add_packed(pvs))
                return
        # Died before we got here (e.g. connection refused at once): search
        # again after the governor's pause.  Unbound outside the circuit
        # lock: a PV's component_lock is taken before the circuit's, never
        # after (PVs share component locks, so the order matters).
        for pv in pvs:
            self._unbind_pv(pv)
        self.context._search_for(pvs, governed=True)

    def create_channel(self, pv: PV) -> None:
        """Create ``pv``'s channel on this circuit (any thread)."""
        self.create_channels([pv])

    def clear_channel(self, pv: PV, channel: ClientChannel) -> None:
        """Ask the server to drop ``pv``'s channel (PV.go_idle)."""
        with self._lock:
            if self.dead.is_set():
                return
            try:
                self._send_locked([channel.clear()])
            except (LocalProtocolError, DisconnectedError) as exc:
                self.log.debug('Could not clear %r: %s', pv.name, exc)

    # -- sending ---------------------------------------------------------------------------

    def _send_locked(self, commands: Iterable[Message]) -> None:
        if circ_logger.isEnabledFor(logging.DEBUG):
            for command in commands:
                self.log.debug('>>> %r', command)
        buffers = self.circuit.send(*commands)
        self.transport.send(buffers)

    def _send_packed_locked(self, data: bytes) -> None:
        # Wire bytes from the core's fast forms (CREATE_CHANs).
        if data:
            if circ_logger.isEnabledFor(logging.DEBUG):
                self.log.debug('>>> %d bytes of CREATE_CHAN', len(data))
            self.transport.send([data])

    def _send_requests_locked(
            self, items: Iterable[tuple[Message, PendingRequest | None]]
    ) -> None:
        # Requests with a reply slot are registered in the core circuit's
        # ioid table as they are validated.
        debug = circ_logger.isEnabledFor(logging.DEBUG)
        circuit = self.circuit
        buffers: list = []
        for command, pending in items:
            if debug:
                self.log.debug('>>> %r', command)
            if pending is None:
                buffers.extend(circuit.send(command))
            else:
                request: IoRequest = command  # type: ignore[assignment]
                buffers.extend(circuit.send_request(request, pending))
                pending.pv._outstanding += 1
        self.transport.send(buffers)

    def send_from_loop(self, *commands: Message) -> None:
        """Send from the network thread (queued, never blocks)."""
        with self._lock:
            if self.dead.is_set():
                raise DisconnectedError('circuit is dead')
            self._send_locked(commands)

    def send(self, *commands: Message, extra: Any = None) -> None:
        """Validate and send ``commands`` (any thread).

        User threads may block here while the send backlog is large (never
        the network thread).
        """
        with self._lock:
            if self.dead.is_set():
                raise DisconnectedError(
                    f'circuit {self.address} is closed '
                    f'({self.close_reason})')
            self._send_locked(commands)
        self.transport.wait_for_backlog()

    def borrow_loop(self) -> Loan | None:
        """For a user thread about to send a request and wait for its
        reply: the network loop's role for this circuit's socket if the
        network thread is idle (``NetworkLoop.borrow``), so that the reply
        is received by the waiting thread itself, with no hand-off between
        threads.  None: the network thread receives, as usual."""
        if not self._lend_loop:
            return None
        return self.selector.borrow(self.socket)

    def receive_while_waiting(self, pending: PendingRequest,
                              timeout: float | None) -> None:
        """Serve ``pending``'s loan, if it has one, until its reply came,
        ``timeout`` or the network thread needs its role back; then give
        it back.  The caller waits on ``pending.event`` as usual after."""
        loan = pending.loan
        if loan is not None:
            pending.loan = None
            event = pending.event
            self.selector.serve(
                loan, event.is_set if event is not None else _always_done,
                timeout)

    def check_size(self, command: Message, native_count: int | None) -> None:
        """Refuse a request whose reply (or payload) EPICS_CA_MAX_ARRAY_BYTES
        does not allow (libca's ECA_TOLARGE), before it is sent."""
        check_request_size(command, native_count, self.max_message,
                           self.context.config.max_array_bytes)

    def events_off(self) -> None:
        """Suspend updates to all subscriptions on this circuit.

        This may be useful if the server produces updates faster than the
        client can process them.
        """
        self.delivery.events_off()

    def events_on(self) -> None:
        """Reactivate updates to all subscriptions on this circuit."""
        self.delivery.events_on()

    def send_flow_control(self, command: Message) -> bool:
        """Send EVENTS_OFF/ON if the circuit is up; return whether sent."""
        with self._lock:
            if self.dead.is_set() or not self.book.handshake_sent:
                return False
            self._send_locked([command])
        return True

    # -- keep-alive (network thread) -------------------------------------------------

    def beacon_received(self) -> None:
        """A regular beacon from our server counts as proof of life."""
        self.keepalive.beacon_received()

    def check_now(self) -> None:
        """Beacon anomaly on our server: verify the circuit with an ECHO."""
        if self.connected:
            self.keepalive.check_now()

    # -- death ------------------------------------------------------------------------

    def disconnect(self) -> None:
        """Close the circuit (any thread); PVs are *not* searched again if the
        context is closing."""
        self.transport.close('disconnected by client')

    def _unbind_pv(self, pv: PV) -> bool:
        """Detach ``pv`` from this circuit; return whether it was connected."""
        with pv.component_lock:
            if pv._circuit_manager is not self:
                return False
            was_connected = pv.connected
            pv._ready = 0  # neither circuit nor channel
            pv._circuit_manager = None
            pv._channel = None
            for sub in pv.active_subscriptions():
                if sub.subscriptionid is not None:
                    self.subscriptions.pop(sub.subscriptionid, None)
        return was_connected

    @property
    def failed(self) -> bool:
        """Whether the circuit ended in a way that warrants searching again
        only after a pause (libca's disconnect governor; the core's
        ``circuit_failed``)."""
        return circuit_failed(self.close_reason, self.created_at,
                              self.closed_at)

    def _on_closed(self, reason: str) -> None:
        self.close_reason = reason
        self.closed_at = time.monotonic()
        self.keepalive.stop()
        if self._connect_timer is not None:
            self._connect_timer.cancel()
        context = self.context
        if context._closing:
            self.delivery.discard = True
            self.log.debug('Circuit to %s:%d closed: %s',
                           *self.address, reason)
        else:
            self.log.warning('Circuit to %s:%d (priority %d) closed: %s',
                             *self.address, self.circuit.priority,
                             reason)
        executor = self.user_callback_executor
        pvs = list(self.pvs.values())
        lost = []
        for pv in pvs:
            if self._unbind_pv(pv):
                pv.connection_state_changed('disconnected', None, executor)
            if not pv._idle:
                lost.append(pv)
        error = DisconnectedError(
            f'circuit to {self.address[0]}:{self.address[1]} '
            f'closed before the reply arrived ({reason})')
        with self._lock:
            self.dead.set()
        # Callers wake with the error; their slots leave with the circuit.
        self.requests.fail_all(error)
        with self._lock:
            try:
                self.circuit.disconnect()
            except CaprotoError:
                pass
            self.subscriptions.clear()
            self.book.clear()
        executor.shutdown(wait=False)
        context._circuit_died(self, lost)

    # -- subscriptions (any thread) --------------------------------------------------

    def _event_add_locked(self, channel: ClientChannel,
                          sub: Subscription) -> ca.EventAddRequest:
        command = channel.subscribe(sub.data_type, sub.data_count, sub.low,
                                    sub.high, sub.to, sub.mask,
                                    subscriptionid=sub.subscriptionid)
        self.check_size(command, channel.native_data_count)
        return command

    def subscribe(self, pv: PV, channel: ClientChannel,
                  sub: Subscription) -> None:
        """Send EVENT_ADD for ``sub`` (any thread; never blocks)."""
        with self._lock:
            if self.dead.is_set():
                return  # it will be re-subscribed after reconnection
            command = self._event_add_locked(channel, sub)
            self.subscriptions[command.subscriptionid] = sub
            self._send_locked([command])

    def unsubscribe(self, pv: PV, channel: ClientChannel, sub: Subscription,
                    subscriptionid: int) -> None:
        """Send EVENT_CANCEL for ``subscriptionid`` (any thread)."""
        with self._lock:
            if self.subscriptions.pop(subscriptionid, None) is None:
                return
            if self.dead.is_set():
                return
            try:
                self._send_locked([channel.unsubscribe(subscriptionid)])
            except (LocalProtocolError, CaprotoKeyError,
                    DisconnectedError) as exc:
                self.log.debug('Could not cancel subscription %d: %s',
                               subscriptionid, exc)

    # -- receiving (network thread) -------------------------------------------------

    def received(self, bytes_recv: bytes, address: Any) -> None:
        """Parse and process ``bytes_recv`` as received on this circuit.

        Provided for API compatibility; the network loop normally feeds the
        circuit through its zero-copy transport.
        """
        commands, consumed, needed = parse_stream(bytes_recv, CLIENT)
        if needed:
            raise RemoteProtocolError(
                f'{len(bytes_recv) - consumed} trailing bytes do not form a '
                f'whole message (need {needed})')
        self._process_commands(commands)

    def _process_commands(self, commands: list) -> None:
        # Callbacks queued while processing one receive wake the executor
        # once, after the whole batch (one thread switch per burst).
        executor = self.user_callback_executor
        executor.hold()
        try:
            self._process_commands_held(commands)
        finally:
            executor.release()

    def _process_commands_held(self, commands: list) -> None:
        handlers = self._handlers
        process = self.circuit.process_command
        may_complete = _MAY_COMPLETE_REQUEST
        lock = self._lock
        if circ_logger.isEnabledFor(logging.DEBUG):
            for command in commands:
                if type(command) is ChannelReplies:
                    for reply in command.commands():
                        self.log.debug('<<< %r', reply)
                else:
                    self.log.debug('<<< %r', command)
        update = ca.EventAddResponse
        update_subscriptionid = self.circuit.update_subscriptionid
        subscriptions = self.subscriptions
        deliver = self._deliver_update
        for command in commands:
            if type(command) is update:
                # The hot path (most of what a busy circuit receives): the
                # core validates it, then straight to the delivery.  (The
                # check only reads one dict of the core circuit, atomically
                # under the GIL: no lock.)
                try:
                    subscriptionid = update_subscriptionid(command)
                except RemoteProtocolError as exc:
                    if self._tolerable(command, exc):
                        continue
                    return
                sub = subscriptions.get(subscriptionid)
                if sub is None:
                    self.delivery.dropped_updates += 1
                    continue
                try:
                    deliver(sub, command, subscriptionid)
                except Exception:
                    self.log.exception('Failed to handle %r', command)
                continue
            if type(command) is ChannelReplies:
                if not self._process_channel_replies(command):
                    return
                continue
            if type(command) in may_complete:
                if not self._process_reply(command):
                    return
                continue
            with lock:
                try:
                    command = process(command)
                except RemoteProtocolError as exc:
                    if self._tolerable(command, exc):
                        continue
                    return
            handler = handlers.get(type(command))
            if handler is None:
                self.log.debug('Unhandled command %r', command)
                continue
            try:
                handler(command)
            except Exception:
                self.log.exception('Failed to handle %r', command)

    def _process_channel_replies(self, replies: ChannelReplies) -> bool:
        # The fast form of ACCESS_RIGHTS / CREATE_CHAN replies (a connect
        # burst): the core applies the whole run under one lock, then each
        # reply's handler runs, as for the command objects.  A refused
        # reply is dropped or closes the circuit, as _tolerable decides.
        # Returns False when the circuit was closed.
        position = 0
        total = replies.count
        while position < total:
            with self._lock:
                cids, rights_list, error = \
                    self.circuit.process_channel_replies(replies, position)
            for cid, rights in zip(cids, rights_list):
                try:
                    if rights is None:
                        self._channel_created(cid)
                    else:
                        self._access_rights(cid, rights)
                except Exception:
                    self.log.exception('Failed to handle %r',
                                       replies.command(position))
                position += 1
            if error is None:
                break
            if not self._tolerable(replies.command(position), error):
                return False
            position += 1
        return True

    def _process_reply(self, command: Message) -> bool:
        # A READ/WRITE_NOTIFY reply or an ERROR: its pending request is
        # looked up before the core takes it off the ioid table, and
        # settled under the same lock.  Returns False when the circuit was
        # closed.
        with self._lock:
            try:
                if type(command) in IO_REPLIES:
                    pending = self.circuit.take_reply(
                        command)  # type: ignore[arg-type]
                else:
                    pending = self.circuit.request_for(command)
                    command = self.circuit.process_command(command)
            except RemoteProtocolError as exc:
                return self._tolerable(command, exc)
            ours = pending if isinstance(pending, PendingRequest) else None
            deliver = (ours is not None
                       and self.requests.settle_reply_locked(ours))
        try:
            if ours is not None:
                if deliver:  # (else abandoned by its caller: dropped)
                    self.requests.deliver(ours, command)
                return True
            handler = self._handlers.get(type(command))
            if handler is not None:
                handler(command)
        except Exception:
            self.log.exception('Failed to handle %r', command)
        return True

    def _tolerable(self, command: Message, exc: RemoteProtocolError) -> bool:
        # A channel-level violation drops the command; anything else closes
        # the circuit.  Returns whether processing may go on.
        if getattr(exc, 'channel', None) is not None:
            self.log.warning('Ignoring invalid %r: %s', command, exc)
            return True
        self.transport.close(f'protocol error from server: {exc}')
        return False

    def _on_nothing(self, command: Message) -> None:
        pass

    def _on_late_reply(self, command: Message) -> None:
        # A reply whose request was registered by someone else (never by
        # this client): nothing waits for it.
        self.log.debug('Ignoring reply %r with no request waiting', command)

    def _on_echo(self, command: ca.EchoResponse) -> None:
        self.keepalive.echo_answered()

    def _on_access_rights(self, command: ca.AccessRightsResponse) -> None:
        self._access_rights(command.cid, command.access_rights)

    def _access_rights(self, cid: int, rights: AccessRights) -> None:
        pv = self.pvs.get(cid)
        if pv is None:
            return
        if rights != pv.access_rights:
            pv.access_rights_changed(rights, self.user_callback_executor)

    def _on_create_chan(self, command: ca.CreateChanResponse) -> None:
        self._channel_created(command.cid)

    def _channel_created(self, cid: int) -> None:
        created = self.book.created(cid)
        if created is None:
            return
        pv, channel = created
        executor = self.user_callback_executor
        with pv.component_lock:
            if pv._circuit_manager is not self:
                return
            pv._channel = channel
            ReadyBits.mark(pv, CHANNEL_READY)
            self._list_created(pv)
            if pv._subscriptions:   # none on a first connect
                self._subscribe_all(pv, channel)
        pv.connection_state_changed('connected', channel, executor)

    def _list_created(self, pv: PV) -> None:
        # all_created_pvnames is a list (caproto's attribute) without
        # repeats, so that idling and waking a PV in a loop does not grow
        # it.  (Network thread, pv.component_lock held.)
        listed = self._created_names
        if pv._state is None:
            # Never connected before, so in no circuit's list yet.
            self.all_created_pvnames.append(pv.name)
            if listed is not None:
                listed.add(pv.name)
            return
        if listed is None:
            listed = self._created_names = set(self.all_created_pvnames)
        if pv.name not in listed:
            listed.add(pv.name)
            self.all_created_pvnames.append(pv.name)

    def _subscribe_all(self, pv: PV, channel: ClientChannel) -> None:
        # (Network thread, pv.component_lock held.)
        with self._lock:
            for sub in pv.active_subscriptions():
                try:
                    event_add = self._event_add_locked(channel, sub)
                except CaprotoValueError as exc:
                    self.log.error('Cannot subscribe to %r: %s',
                                   pv.name, exc)
                    continue
                self.subscriptions[event_add.subscriptionid] = sub
                self._send_locked([event_add])

    def _on_channel_lost(self, command: ca.CreateChFailResponse
                         | ca.ServerDisconnResponse) -> None:
        # CREATE_CH_FAIL or SERVER_DISCONN: the channel is gone from this
        # server; search for it again (it may be served elsewhere).
        pv = self.book.lost(command.cid)
        if pv is None:
            return
        was_connected = self._unbind_pv(pv)
        if was_connected:
            pv.connection_state_changed('disconnected', None,
                                        self.user_callback_executor)
        self.context._pv_lost(pv, governed=True)

    def _on_clear_channel(self, command: ca.ClearChannelResponse) -> None:
        with self._lock:
            pv = self.book.cleared(command.cid, _is_idle)
        if pv is not None:
            self.create_channel(pv)

    def _on_event(self, command: ca.EventAddResponse) -> None:
        sub = self.subscriptions.get(command.subscriptionid)
        if sub is None:
            self.delivery.dropped_updates += 1
            return
        self.delivery.deliver(sub, command)

    def _on_error(self, command: ca.ErrorResponse) -> None:
        # ERRORs that answer one of our reads or writes went to its
        # request; what is left is logged.
        report_server_error(self.log, command, self.subscriptions)

    def _on_oversized(self, fields: tuple) -> None:
        # A reply longer than EPICS_CA_MAX_ARRAY_BYTES allows was discarded
        # unread (``fields``: its header fields).
        self.oversized_responses += 1
        payload_size = fields[1]
        report_oversized(self.log, payload_size, self.oversized_responses)
        ioid = oversized_read_ioid(fields)
        if ioid is not None:
            self.requests.fail_request(ioid,
                                       oversized_reply_error(payload_size))
