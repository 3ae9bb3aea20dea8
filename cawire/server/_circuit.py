"""One client's TCP connection (a virtual circuit) on the server.

The circuit is an asyncio ``Protocol``: received bytes are framed by the
core (``cawire.protocol._framing.parse_stream``) and each request is
dispatched to the part that answers it, at once when the channel has no
async hooks (no task per request: this is the hot path), or from a task when
a putter/getter must run.  While such a hook runs, later requests for the
*same* channel wait (a write's read-back sees the write, as with RSRV); the
client's other channels are served meanwhile.

The parts, each an object of its own that the circuit composes:

* :class:`~cawire.server._circuit_output.CircuitOutput`: what goes out and
  when (one transport write per chunk of input; monitor updates held while
  the client cannot take them);
* :class:`~cawire.server._read_requests.ReadRequests`,
  :class:`~cawire.server._write_requests.WriteRequests`,
  :class:`~cawire.server._subscription_requests.SubscriptionRequests`: the
  answers to reads, writes and EVENT_ADD/EVENT_CANCEL;
* this module: the input, its dispatch, the circuit's own commands, the
  channels' lifecycle and access rights, the hook tasks.

Fairness and bounded memory:

* when the transport's buffer passes its high-water mark (the client is not
  reading), the circuit stops reading its socket and stops processing the
  rest of the input it already has, so a client cannot make the server
  queue replies without bound; monitor updates for it are held in an
  :class:`~cawire.server._subscriptions.UpdateQueue` (latest per
  subscription) until it drains;
* EVENTS_OFF holds updates the same way; EVENTS_ON releases them;
* a protocol error from the peer closes this circuit only, with the reason
  logged (and an ERROR message sent first when there is a request to blame).
"""
from __future__ import annotations

import asyncio
import collections
import logging
import socket
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, Callable, cast

from ..protocol import _commands as cmds
from ..protocol._circuit import VirtualCircuit
from ..protocol._commands_base import Message
from ..protocol._constants import DEFAULT_PROTOCOL_VERSION
from ..protocol._enums import AccessRights
from ..protocol._exceptions import CaprotoError, RemoteProtocolError
from ..protocol._framing import parse_stream
from ..protocol._serving import check_version_request, header_fields
from ..protocol._state import SERVER
from ..protocol._status import CAStatus
from ._channel_entry import ChannelEntry
from ._circuit_output import OUTBOX_LIMIT, CircuitOutput
from ._read_requests import LARGEST_ZERO_FILLED_REPLY, ReadRequests
from ._subscription_requests import SubscriptionRequests
from ._subscriptions import Subscription
from ._write_requests import WriteRequests

if TYPE_CHECKING:  # pragma: no cover
    from ._channel_data import ChannelData
    from ._server import Context

__all__ = ('ServerCircuit', 'ChannelEntry', 'LARGEST_ZERO_FILLED_REPLY',
           'OUTBOX_LIMIT')

logger = logging.getLogger('cawire.circ')

NO_CID = 0xFFFFFFFF
#: Requests waiting behind hooks above which we stop reading the client.
MAX_QUEUED_COMMANDS = 10_000
#: Transport buffer above which the client counts as not reading.
WRITE_HIGH_WATER = 1 << 20
WRITE_LOW_WATER = 1 << 18


class ServerCircuit(asyncio.Protocol):
    """Server end of one CA virtual circuit.

    The core's :class:`~cawire.protocol.VirtualCircuit` (server role) holds
    the protocol state: the VERSION handshake, the client's names and
    version, and each channel's lifecycle (created, cleared, dropped); every
    command that changes it goes through ``process_command`` / ``send``.
    Reads, writes and subscriptions are answered directly with the core's
    fast reply forms (``cawire.protocol._serving``): a server echoes their
    ids and has nothing to track for them but its own subscriptions.

    Parameters
    ----------
    server : cawire.server.Context
        Owner: PV database, SID allocation, search answers.
    """

    def __init__(self, server: 'Context'):
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.address: tuple[str, int] | None = None
        self.circuit = VirtualCircuit(SERVER, None, None,
                                      max_payload=server.max_payload)
        self.channels: dict[int, ChannelEntry] = {}
        self.max_payload: int = server.max_payload
        self._pending = b''        # received bytes not parsed yet
        self._needed = 16
        self._input_stalled = False
        self._queued = 0            # commands waiting behind a hook
        self._backlog: list[Message] = []  # parsed, not handled yet
        self._tasks: set[asyncio.Task] = set()
        self._closed = False
        self._loop = asyncio.get_running_loop()
        #: RSRV's asCheckClientIP: the client's host is its IP address.
        self._host_is_address = server.config.as_check_client_ip
        self._output = output = CircuitOutput(server)
        self._subscriptions = SubscriptionRequests(self, output)
        self._handlers = self._handler_table(ReadRequests(self, output),
                                             WriteRequests(self, output))

    def _handler_table(self, reads: ReadRequests, writes: WriteRequests
                       ) -> dict[type, Callable[[Any], None]]:
        """Request class -> the bound method answering it."""
        subscriptions = self._subscriptions
        return {
            cmds.VersionRequest: self._on_version,
            cmds.HostNameRequest: self._on_circuit_command,
            cmds.ClientNameRequest: self._on_circuit_command,
            cmds.EchoRequest: self._on_echo,
            cmds.ReadSyncRequest: self._on_read_sync,
            cmds.EventsOffRequest: self._on_events_off,
            cmds.EventsOnRequest: self._on_events_on,
            cmds.SearchRequest: self._on_search,
            cmds.CreateChanRequest: self._on_create_chan,
            cmds.ClearChannelRequest: self._on_clear_channel,
            cmds.ReadNotifyRequest: reads.on_read,
            cmds.ReadRequest: reads.on_read,
            cmds.WriteRequest: writes.on_write,
            cmds.WriteNotifyRequest: writes.on_write,
            cmds.EventAddRequest: subscriptions.on_event_add,
            cmds.EventCancelRequest: subscriptions.on_event_cancel,
        }

    def __repr__(self) -> str:
        return (f'<ServerCircuit {self.address} channels={len(self.channels)} '
                f'user={self.client_username!r}>')

    @property
    def client_hostname(self) -> str:
        """The client's HOST_NAME ('' until it sends one), or its IP
        address when EPICS_AS_CHECK_CLIENT_IP is YES (HOST_NAME ignored)."""
        if self._host_is_address and self.address:
            return self.address[0]
        return self.circuit.host_name or ''

    @property
    def client_username(self) -> str:
        """The client's CLIENT_NAME ('' until it sends one)."""
        return self.circuit.client_name or ''

    @property
    def client_version(self) -> int:
        """The minor protocol version spoken with this client."""
        return self.circuit.protocol_version

    @property
    def priority(self) -> int:
        """The circuit priority from the client's VERSION (0 before)."""
        return self.circuit.priority or 0

    # --------------------------------------------------------- asyncio hooks
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = self.transport = cast(asyncio.Transport, transport)
        self._output.transport = transport
        self.address = transport.get_extra_info('peername')
        self.circuit = VirtualCircuit(SERVER, self.address, None,
                                      max_payload=self.max_payload)
        sock = transport.get_extra_info('socket')
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
        transport.set_write_buffer_limits(WRITE_HIGH_WATER, WRITE_LOW_WATER)
        self.server._circuit_opened(self)
        logger.debug('Circuit from %s connected', self.address)
        # RSRV sends its VERSION at accept, not as an answer.
        transport.write(b''.join(self.circuit.send(
            cmds.VersionResponse(DEFAULT_PROTOCOL_VERSION))))

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is not None:
            logger.debug('Circuit %s lost: %s', self.address, exc)
        else:
            logger.debug('Circuit %s closed by the client', self.address)
        self._teardown()

    def pause_writing(self) -> None:
        self._output.pause_writing()
        self._update_reading()

    def resume_writing(self) -> None:
        self._output.resume_writing()
        if self._closed:
            return
        self._update_reading()

    def _must_stall(self) -> bool:
        return self._output.write_paused or self._queued > MAX_QUEUED_COMMANDS

    def _update_reading(self) -> None:
        """Stop reading while the client is not reading (or too many
        requests wait behind hooks); when that ends, handle the backlog,
        then the unparsed input, then read again."""
        if self._closed or self.transport is None:
            return
        if self._must_stall():
            if not self._input_stalled:
                self._input_stalled = True
                self.transport.pause_reading()
            return
        if not self._input_stalled:
            return
        self._input_stalled = False
        if self._backlog:
            backlog, self._backlog = self._backlog, []
            self._run_commands(backlog)
            self.flush()
            if self._closed:
                return
            if self._must_stall():  # stalled again by the backlog
                self._input_stalled = True
                return
        self.transport.resume_reading()
        if self._pending and len(self._pending) >= self._needed:
            self.data_received(b'')

    def data_received(self, data: bytes) -> None:
        if self._pending:
            data = self._pending + data
            self._pending = b''
        if self._input_stalled or len(data) < self._needed:
            # Stalled: asyncio may hand over one chunk read before
            # pause_reading took effect; keep it for later.
            self._pending = data
            return
        try:
            commands, consumed, needed = parse_stream(
                data, SERVER, max_payload=self.max_payload)
        except RemoteProtocolError as exc:
            self._run_commands(getattr(exc, 'commands', None) or [])
            self.flush()
            self._protocol_error(f'unparseable input: {exc}')
            return
        # Payloads are views on ``data`` (immutable bytes): the unparsed
        # tail and any backlog can keep referring to it safely.
        self._pending = data[consumed:] if consumed < len(data) else b''
        self._needed = needed or 16
        self._run_commands(commands)
        self.flush()
        self._update_reading()

    # ------------------------------------------------------------- dispatch
    def _run_commands(self, commands: list[Message]) -> None:
        """Handle commands in order; keep the rest as backlog if the client
        stopped reading or too many wait behind hooks."""
        channels = self.channels
        for index, command in enumerate(commands):
            if self._closed:
                return
            if self._must_stall():
                self._backlog = commands[index:]
                return
            # A channel's requests wait only behind a running hook: with no
            # hook task alive no channel is busy and none has a queue.
            if self._tasks and type(command) in _CHANNEL_COMMANDS:
                entry = channels.get(header_fields(command)[4])
                if entry is not None and (entry.busy or entry.waiting):
                    # Requests on a channel are served in order (caput's
                    # read-back must see its write): wait for the hook.
                    if entry.waiting is None:
                        entry.waiting = collections.deque()
                    entry.waiting.append(command)
                    self._queued += 1
                    continue
            if not self._handle(command):
                return

    def _handle(self, command: Message) -> bool:
        """Handle one command; False if the circuit was closed for it."""
        try:
            handler = self._handlers.get(type(command))
            if handler is None:
                raise RemoteProtocolError(
                    f'command {type(command).__name__} is not a client '
                    f'request')
            handler(command)
        except RemoteProtocolError as exc:
            refusal = self.circuit.refusal_before_version(command)
            if refusal is not None:
                # RSRV's answer to a client that has not said its version:
                # refuse the request, keep the circuit.
                logger.debug('Circuit %s: %s before VERSION refused',
                             self.address, type(command).__name__)
                self._output.send(bytes(refusal))
                return True
            self._protocol_error(str(exc), command)
            return False
        except Exception:  # noqa: BLE001 - one request must not kill the loop
            logger.exception('Circuit %s: internal error handling %r',
                             self.address, command)
            self._output.send_error(command, NO_CID, CAStatus.ECA_INTERNAL,
                                    'internal server error')
        return True

    def entry(self, command: Message, sid: int) -> ChannelEntry:
        """The channel ``command`` names by ``sid``; an unknown one is a
        protocol error."""
        entry = self.channels.get(sid)
        if entry is None:
            # RSRV answers an unknown SID with an error and drops the
            # circuit: the client's view of its channels is corrupt.
            raise RemoteProtocolError(f'unknown channel sid {sid} in '
                                      f'{type(command).__name__}')
        return entry

    # ------------------------------------------------------------- sending
    def _send_commands(self, *commands: Message) -> None:
        """Send commands that change the circuit's protocol state (through
        the core circuit, which checks and records them)."""
        self._output.send(b''.join(self.circuit.send(*commands)))

    def flush(self) -> None:
        """Hand the queued output to the transport now."""
        self._output.flush()

    def _protocol_error(self, reason: str,
                        command: Message | None = None) -> None:
        logger.warning('Closing circuit %s (client %r@%s): protocol error: %s',
                       self.address, self.client_username,
                       self.client_hostname, reason)
        if command is not None:
            try:
                self._output.send_error(command, NO_CID,
                                        CAStatus.ECA_INTERNAL, reason[:400])
            except CaprotoError:
                pass
        self.close()

    # --------------------------------------------------------- subscriptions
    def post_update(self, subscription: Subscription,
                    data: 'ChannelData') -> None:
        """Queue a monitor update (or hold it if the client is behind)."""
        self._output.post_update(subscription, data)

    @property
    def held_updates(self) -> int:
        """Updates currently held for this client (at most one per
        subscription)."""
        return len(self._output.held)

    @property
    def coalesced_updates(self) -> int:
        """Updates dropped because a newer one replaced them."""
        return self._output.held.coalesced

    # ------------------------------------------------------ circuit commands
    def _on_version(self, command: cmds.VersionRequest) -> None:
        check_version_request(command.priority, command.version)
        self.circuit.process_command(command)

    def _on_circuit_command(self, command: Message) -> None:
        # HOST_NAME, CLIENT_NAME: the core circuit records the names.
        self.circuit.process_command(command)

    def _on_echo(self, command: cmds.EchoRequest) -> None:
        self.circuit.process_command(command)
        self._send_commands(cmds.EchoResponse())

    def _on_read_sync(self, command: cmds.ReadSyncRequest) -> None:
        self.circuit.process_command(command)
        self._send_commands(cmds.ReadSyncResponse())

    def _on_events_off(self, command: cmds.EventsOffRequest) -> None:
        self.circuit.process_command(command)
        self._output.hold_events()

    def _on_events_on(self, command: cmds.EventsOnRequest) -> None:
        self.circuit.process_command(command)
        self._output.resume_events()

    def _on_search(self, command: cmds.SearchRequest) -> None:
        self.circuit.process_command(command)
        reply = self.server.tcp_search_reply(command)
        if reply is not None:
            self._send_commands(reply)

    # ------------------------------------------------------------- channels
    def _on_create_chan(self, command: cmds.CreateChanRequest) -> None:
        circuit = self.circuit
        channel = circuit.accept_create_chan(command)
        data = self.server.pvdb.get(channel.name)
        if data is None:
            logger.debug('Circuit %s: no PV named %r', self.address,
                         channel.name)
            self._output.send(circuit.create_chan_failure(channel))
            return
        access = data.check_access(self.client_hostname, self.client_username)
        if type(access) is not AccessRights:  # a policy may return an int
            access = AccessRights(access)
        sid = self.server.new_sid()
        self._output.send(circuit.create_chan_reply(
            channel, access, data.data_type, data.max_length, sid))
        self.channels[sid] = ChannelEntry(channel, data, access)

    def refresh_access_rights(self, channels: Any = None) -> None:
        """Re-evaluate the rights of the client's channels serving
        ``channels`` (ChannelData objects; all when None), e.g. after an
        access security reload, and send ACCESS_RIGHTS for those that
        changed (ioc-compat)."""
        wanted = None if channels is None else {id(data) for data in channels}
        changed = False
        for entry in list(self.channels.values()):
            # A channel opened through filters (x.{"dbnd":...}) is a view
            # of the PV's own channel.
            source = getattr(entry.data, 'unfiltered', entry.data)
            if wanted is None or id(source) in wanted:
                entry.recheck = entry.data.access_is_dynamic
                changed = self.check_rights(entry) or changed
        if changed:
            self.flush()

    def check_rights(self, entry: ChannelEntry) -> bool:
        """Ask the channel for the client's rights again; on a change,
        update the entry and queue ACCESS_RIGHTS (True)."""
        try:
            access = AccessRights(entry.data.check_access(
                self.client_hostname, self.client_username))
        except Exception:  # noqa: BLE001 - a user policy failed
            logger.exception('Access policy of %s failed; no access',
                             entry.name)
            access = AccessRights.NO_ACCESS
        if access == entry.access:
            return False
        entry.set_access(access)
        self._output.send(self.circuit.access_rights_update(entry.channel,
                                                            access))
        return True

    def _on_clear_channel(self, command: cmds.ClearChannelRequest) -> None:
        channel, reply = self.circuit.accept_clear_channel(command)
        entry = self.channels.pop(channel.sid, None)  # type: ignore[arg-type]
        if entry is not None and entry.subscriptions:
            self._subscriptions.drop_all(entry)
        self._output.send(reply)

    # ----------------------------------------------------------- hook tasks
    def spawn(self, coroutine: Coroutine[Any, Any, None],
              entry: ChannelEntry) -> None:
        """Run a putter/getter hook for ``entry``; its channel's later
        requests wait until it is done."""
        # Only this channel's later requests wait for the hook; the
        # client's other channels are served meanwhile.
        entry.busy = True
        task = self._loop.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(lambda done: self._hook_done(done, entry))

    def _hook_done(self, task: asyncio.Task, entry: ChannelEntry) -> None:
        self._tasks.discard(task)
        entry.busy = False
        waiting = entry.waiting
        while waiting and not entry.busy and not self._closed:
            self._queued -= 1
            if not self._handle(waiting.popleft()):
                return
        if not waiting:
            entry.waiting = None
        self.flush()
        self._update_reading()

    # ------------------------------------------------------------ lifecycle
    def send_server_disconnect(self) -> None:
        """Tell the client every channel is gone (server shutting down)."""
        if self._closed:
            return
        channels = [entry.channel for entry in self.channels.values()]
        if channels:
            self._send_commands(*(channel.disconnect()
                                  for channel in channels))
        self.flush()

    def close(self) -> None:
        """Flush what is queued and close the connection."""
        if self._closed:
            return
        self.flush()
        self._teardown()
        if self.transport is not None:
            self.transport.close()

    def _teardown(self) -> None:
        if self._closed:
            return
        self._closed = True
        for entry in list(self.channels.values()):
            self.channels.pop(entry.sid, None)
            self._subscriptions.drop_all(entry)
        self.channels.clear()
        self.circuit.disconnect()
        self._output.close()
        self._pending = b''
        for task in self._tasks:
            task.cancel()
        self.server._circuit_closed(self)


#: Requests that name a channel by SID (header parameter1).
_CHANNEL_COMMANDS = frozenset({
    cmds.ReadNotifyRequest, cmds.ReadRequest, cmds.WriteRequest,
    cmds.WriteNotifyRequest, cmds.EventAddRequest, cmds.EventCancelRequest,
    cmds.ClearChannelRequest})
