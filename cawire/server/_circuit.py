"""One client's TCP connection (a virtual circuit) on the server.

The circuit is an asyncio ``Protocol``: received bytes are framed by the
core (``cawire.protocol._framing.parse_stream``) and each request is answered at once
when the channel has no async hooks (no task per request: this is the hot
path), or from a task when a putter/getter must run.  While such a hook runs,
later requests for the *same* channel wait (a write's read-back sees the
write, as with RSRV); the client's other channels are served meanwhile.
Replies produced while handling one chunk of input are written with a single
transport write.

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
from ..protocol._channel import ServerChannel
from ..protocol._circuit import VirtualCircuit
from ..protocol._commands_base import Message
from ..protocol._constants import DEFAULT_PROTOCOL_VERSION
from ..protocol._enums import AccessRights, AlarmSeverity, ChannelType
from ..protocol._exceptions import CaprotoError, RemoteProtocolError
from ..protocol._framing import parse_stream
from ..protocol._serving import (check_version_request, event_add_header,
                                 event_cancel_reply, header_fields,
                                 is_acknowledgement_type, read_header,
                                 read_notify_header, subscription_request,
                                 write_notify_reply)
from ..protocol._state import SERVER
from ..protocol._status import CAStatus, CAStatusCode
from ._channel_data import Forbidden, SkipWrite
from ._subscriptions import Subscription, UpdateQueue
from ._wire import is_readable_type, is_writable_type, zero_payload

if TYPE_CHECKING:  # pragma: no cover
    from ._channel_data import ChannelData
    from ._server import Context

__all__ = ('ServerCircuit', 'ChannelEntry')

logger = logging.getLogger('cawire.circ')
put_logger = logging.getLogger('cawire.server.put')

ECA_NORMAL = CAStatus.ECA_NORMAL.code_with_severity
ECA_GETFAIL = CAStatus.ECA_GETFAIL.code_with_severity
ECA_PUTFAIL = CAStatus.ECA_PUTFAIL.code_with_severity
ECA_BADTYPE = CAStatus.ECA_BADTYPE.code_with_severity
ECA_BADCOUNT = CAStatus.ECA_BADCOUNT.code_with_severity
ECA_NORDACCESS = CAStatus.ECA_NORDACCESS.code_with_severity
ECA_NOWTACCESS = CAStatus.ECA_NOWTACCESS.code_with_severity

_READ_NOTIFY_REQUEST = cmds.ReadNotifyRequest
_WRITE_NOTIFY_REQUEST = cmds.WriteNotifyRequest
_PUT_ACKT = int(ChannelType.PUT_ACKT)
_READ_BIT = int(AccessRights.READ)
#: ChannelType by wire value (indexing a tuple beats the enum's call).
_CHANNEL_TYPES = tuple(ChannelType)
_WRITE_BIT = int(AccessRights.WRITE)
NO_CID = 0xFFFFFFFF
#: Requests waiting behind hooks above which we stop reading the client.
MAX_QUEUED_COMMANDS = 10_000
#: Output queued within one loop iteration above which it is written at once.
OUTBOX_LIMIT = 1 << 18
#: Transport buffer above which the client counts as not reading.
WRITE_HIGH_WATER = 1 << 20
WRITE_LOW_WATER = 1 << 18


class ChannelEntry:
    """What the server keeps for one channel of one client: the core's
    :class:`~cawire.protocol.ServerChannel` (ids, name, state), the PV it
    serves, and the shell's per-channel business (subscriptions, requests
    waiting for a hook)."""

    __slots__ = ('channel', 'data', 'access', 'readable', 'writable',
                 'recheck', 'subscriptions', 'busy', 'waiting')

    def __init__(self, channel: ServerChannel, data: 'ChannelData',
                 access: AccessRights):
        self.channel = channel
        self.data = data
        self.access = access
        # Plain bools: IntFlag arithmetic is slow (an enum operation costs
        # more than the rest of a read), so test the bits of the int.
        rights = int(access)
        self.readable = bool(rights & _READ_BIT)
        self.writable = bool(rights & _WRITE_BIT)
        #: Rights may change between requests (a Python access policy):
        #: ask again before each read and write.
        self.recheck = data.access_is_dynamic
        self.subscriptions: dict[int, Subscription] = {}
        self.busy = False     # a putter/getter hook is running
        #: Later requests for this channel, while a hook runs.
        self.waiting: collections.deque[Message] | None = None

    @property
    def name(self) -> str:
        return self.channel.name

    @property
    def cid(self) -> int:
        return self.channel.cid

    @property
    def sid(self) -> int:
        sid = self.channel.sid
        assert sid is not None  # an entry exists once the channel has one
        return sid


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
        self._pending = b''        # received bytes not parsed yet
        self._needed = 16
        self._outbox: list[bytes] = []
        self._outbox_bytes = 0
        self._flush_scheduled = False
        self._events_on = True
        self._write_paused = False
        self._input_stalled = False
        self._queued = 0            # commands waiting behind a hook
        self._backlog: list[Message] = []  # parsed, not handled yet
        self._held = UpdateQueue()
        self._tasks: set[asyncio.Task] = set()
        self._closed = False
        self._loop = asyncio.get_running_loop()
        self._max_payload = server.max_payload
        #: RSRV's asCheckClientIP: the client's host is its IP address.
        self._host_is_address = server.config.as_check_client_ip

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
        self.address = transport.get_extra_info('peername')
        self.circuit = VirtualCircuit(SERVER, self.address, None,
                                      max_payload=self._max_payload)
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
        self._write_paused = True
        self._update_reading()

    def resume_writing(self) -> None:
        self._write_paused = False
        if self._closed:
            return
        if self._events_on:
            self._release_held()
        self._update_reading()

    def _must_stall(self) -> bool:
        return self._write_paused or self._queued > MAX_QUEUED_COMMANDS

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
            self._flush()
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
                data, SERVER, max_payload=self._max_payload)
        except RemoteProtocolError as exc:
            self._run_commands(getattr(exc, 'commands', None) or [])
            self._flush()
            self._protocol_error(f'unparseable input: {exc}')
            return
        # Payloads are views on ``data`` (immutable bytes): the unparsed
        # tail and any backlog can keep referring to it safely.
        self._pending = data[consumed:] if consumed < len(data) else b''
        self._needed = needed or 16
        self._run_commands(commands)
        self._flush()
        self._update_reading()

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
            handler = _HANDLERS.get(type(command))
            if handler is None:
                raise RemoteProtocolError(
                    f'command {type(command).__name__} is not a client '
                    f'request')
            handler(self, command)
        except RemoteProtocolError as exc:
            refusal = self.circuit.refusal_before_version(command)
            if refusal is not None:
                # RSRV's answer to a client that has not said its version:
                # refuse the request, keep the circuit.
                logger.debug('Circuit %s: %s before VERSION refused',
                             self.address, type(command).__name__)
                self._send(bytes(refusal))
                return True
            self._protocol_error(str(exc), command)
            return False
        except Exception:  # noqa: BLE001 - one request must not kill the loop
            logger.exception('Circuit %s: internal error handling %r',
                             self.address, command)
            self._send_error(command, NO_CID, CAStatus.ECA_INTERNAL,
                             'internal server error')
        return True

    # ------------------------------------------------------------- sending
    def _send(self, message: bytes) -> None:
        self._outbox.append(message)
        self._outbox_bytes += len(message)
        if self._outbox_bytes > OUTBOX_LIMIT:
            # Hand big output to the transport now, so that its flow
            # control (pause_writing) sees a client that is not reading
            # before we build more replies or updates for it.
            self._flush()

    def _send_commands(self, *commands: Message) -> None:
        """Send commands that change the circuit's protocol state (through
        the core circuit, which checks and records them)."""
        self._send(b''.join(self.circuit.send(*commands)))

    def _flush(self) -> None:
        self._flush_scheduled = False
        if self._outbox and not self._closed and self.transport is not None:
            outbox, self._outbox = self._outbox, []
            self._outbox_bytes = 0
            self.transport.write(b''.join(outbox) if len(outbox) > 1
                                 else outbox[0])

    def _schedule_flush(self) -> None:
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)

    def _send_error(self, command: Message, cid: int,
                    status: CAStatus | CAStatusCode | int,
                    message: str) -> None:
        self._send(bytes(cmds.ErrorResponse(command, cid, status, message)))

    def _protocol_error(self, reason: str,
                        command: Message | None = None) -> None:
        logger.warning('Closing circuit %s (client %r@%s): protocol error: %s',
                       self.address, self.client_username,
                       self.client_hostname, reason)
        if command is not None:
            try:
                self._send_error(command, NO_CID, CAStatus.ECA_INTERNAL,
                                 reason[:400])
            except CaprotoError:
                pass
        self.close()

    # --------------------------------------------------------- subscriptions
    def post_update(self, subscription: Subscription,
                    data: 'ChannelData') -> None:
        """Queue a monitor update (or hold it if the client is behind)."""
        if self._closed:
            return
        data_type = subscription.data_type
        if subscription.entry.readable:
            try:
                payload, count = data.encode_read(data_type,
                                                  subscription.data_count)
            except CaprotoError as exc:
                logger.debug('Update of %r as type %d failed: %s', data,
                             data_type, exc)
                header, payload = self._failed_update(subscription,
                                                      ECA_GETFAIL)
            else:
                header = event_add_header(len(payload), data_type, count,
                                          ECA_NORMAL,
                                          subscription.subscriptionid)
        else:
            header, payload = self._failed_update(subscription,
                                                  ECA_NORDACCESS)
        # An update already held for this subscription must not be
        # overtaken: the newer one replaces it instead.
        if self._events_on and not self._write_paused and \
                subscription not in self._held:
            self._send(header)
            if payload:
                self._send(payload)
            if self._outbox and not self._flush_scheduled:
                self._flush_scheduled = True
                self._loop.call_soon(self._flush)
        else:
            # The payload is the channel's cached encoding, shared by every
            # subscriber: holding it costs a reference, not a copy.
            self._held.hold(subscription, (header, payload))

    @staticmethod
    def _failed_update(subscription: Subscription,
                       status: int) -> tuple[bytes, bytes]:
        """(header, zeroed payload) of an update that carries an error."""
        data_type = subscription.data_type
        count = subscription.data_count or 1
        payload = zero_payload(data_type, count)
        return event_add_header(len(payload), data_type, count, status,
                                subscription.subscriptionid), payload

    def _release_held(self) -> None:
        for subscription, update in self._held.take_items():
            if self._write_paused or not self._events_on:
                self._held.hold(subscription, update)  # blocked again
            else:
                header, payload = update
                self._send(header)
                if payload:
                    self._send(payload)
        if self._outbox:
            self._schedule_flush()

    @property
    def held_updates(self) -> int:
        """Updates currently held for this client (at most one per
        subscription)."""
        return len(self._held)

    @property
    def coalesced_updates(self) -> int:
        """Updates dropped because a newer one replaced them."""
        return self._held.coalesced

    # ------------------------------------------------------------- dispatch
    def _entry(self, command: Message, sid: int) -> ChannelEntry:
        entry = self.channels.get(sid)
        if entry is None:
            # RSRV answers an unknown SID with an error and drops the
            # circuit: the client's view of its channels is corrupt.
            raise RemoteProtocolError(f'unknown channel sid {sid} in '
                                      f'{type(command).__name__}')
        return entry

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
        self._events_on = False

    def _on_events_on(self, command: cmds.EventsOnRequest) -> None:
        self.circuit.process_command(command)
        self._events_on = True
        if not self._write_paused:
            self._release_held()

    def _on_search(self, command: cmds.SearchRequest) -> None:
        self.circuit.process_command(command)
        reply = self.server.tcp_search_reply(command)
        if reply is not None:
            self._send_commands(reply)

    def _on_create_chan(self, command: cmds.CreateChanRequest) -> None:
        circuit = self.circuit
        channel = circuit.accept_create_chan(command)
        data = self.server.pvdb.get(channel.name)
        if data is None:
            logger.debug('Circuit %s: no PV named %r', self.address,
                         channel.name)
            self._send(circuit.create_chan_failure(channel))
            return
        access = data.check_access(self.client_hostname, self.client_username)
        if type(access) is not AccessRights:  # a policy may return an int
            access = AccessRights(access)
        sid = self.server.new_sid()
        self._send(circuit.create_chan_reply(channel, access, data.data_type,
                                             data.max_length, sid))
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
                changed = self._check_rights(entry) or changed
        if changed:
            self._flush()

    def _check_rights(self, entry: ChannelEntry) -> bool:
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
        entry.access = access
        entry.readable = bool(access & AccessRights.READ)
        entry.writable = bool(access & AccessRights.WRITE)
        self._send(self.circuit.access_rights_update(entry.channel, access))
        return True

    def _on_clear_channel(self, command: cmds.ClearChannelRequest) -> None:
        channel, reply = self.circuit.accept_clear_channel(command)
        entry = self.channels.pop(channel.sid, None)  # type: ignore[arg-type]
        if entry is not None and entry.subscriptions:
            self._drop_subscriptions(entry)
        self._send(reply)

    def _drop_channel(self, entry: ChannelEntry) -> None:
        self.channels.pop(entry.sid, None)
        self._drop_subscriptions(entry)

    def _drop_subscriptions(self, entry: ChannelEntry) -> None:
        for subscription in entry.subscriptions.values():
            entry.data.remove_subscription(subscription)
            self._held.discard(subscription)
        entry.subscriptions.clear()

    def _on_read(self, command: Message) -> None:
        _, _, data_type, count, sid, ioid = header_fields(command)
        entry = self._entry(command, sid)
        notify = type(command) is _READ_NOTIFY_REQUEST
        if not is_readable_type(data_type):
            self._send_error(command, entry.cid, CAStatus.ECA_BADTYPE,
                             entry.name)
            return
        data = entry.data
        if entry.recheck:
            self._check_rights(entry)
        if count > max(data.max_length, len(data)):
            status = ECA_BADCOUNT
        elif not entry.readable:
            status = ECA_NORDACCESS
        elif data.has_async_read or data.overrides_auth_read:
            self._spawn(self._async_read(command, entry, notify, data_type,
                                         count, ioid), entry)
            return
        else:
            status = ECA_NORMAL
        self._read_reply(command, entry, notify, data_type, count, ioid,
                         status)

    async def _async_read(self, command: Message, entry: ChannelEntry,
                          notify: bool, data_type: int, count: int,
                          ioid: int) -> None:
        status = ECA_NORMAL
        data = entry.data
        try:
            if data.overrides_auth_read:
                await data.auth_read(self.client_hostname,
                                     self.client_username,
                                     _CHANNEL_TYPES[data_type],
                                     user_address=self.address)
            else:
                await data.read(data_type)
        except Forbidden as exc:
            logger.info('Read of %s by %r@%s refused: %s', entry.name,
                        self.client_username, self.client_hostname, exc)
            status = ECA_NORDACCESS
        except Exception:  # noqa: BLE001 - a user getter failed
            logger.exception('Getter of %s failed', entry.name)
            status = ECA_GETFAIL
        self._read_reply(command, entry, notify, data_type, count, ioid,
                         status)

    def _read_reply(self, command: Message, entry: ChannelEntry,
                    notify: bool, data_type: int, count: int, ioid: int,
                    status: int) -> None:
        """Answer a read: the request's type, count and ioid; ``status``
        other than ECA_NORMAL when it already failed."""
        if self._closed:
            return
        if status == ECA_NORMAL:
            try:
                payload, count = entry.data.encode_read(data_type, count)
            except CaprotoError as exc:
                logger.debug('Read of %s as type %d failed: %s', entry.name,
                             data_type, exc)
                status = ECA_GETFAIL
        if status != ECA_NORMAL:
            count = min(count or 1, entry.data.max_length)
            payload = zero_payload(data_type, count)
            if not notify:  # READ reports failures as ERROR messages
                self._send_error(command, entry.cid, status, entry.name)
                return
        size = len(payload)
        if notify:
            self._send(read_notify_header(size, data_type, count, status,
                                          ioid))
        else:
            self._send(read_header(size, data_type, count, entry.cid, ioid))
        if size:
            self._send(payload)

    def _on_write(self, command: cmds.WriteRequest) -> None:
        _, _, data_type, count, sid, _ = header_fields(command)
        entry = self._entry(command, sid)
        notify = type(command) is _WRITE_NOTIFY_REQUEST
        if not is_writable_type(data_type):
            self._write_reply(command, entry, notify, ECA_BADTYPE,
                              f'DBR type {data_type} cannot be written')
            return
        if entry.recheck:
            self._check_rights(entry)
        if not entry.writable:
            self._write_reply(command, entry, notify, ECA_NOWTACCESS,
                              'no write access')
            return
        if is_acknowledgement_type(data_type):
            self._acknowledge(command, entry)
            self._write_reply(command, entry, notify, ECA_NORMAL)
            return
        data = entry.data
        if data.overrides_auth_write:
            self._spawn(self._auth_write(command, entry, notify), entry)
            return
        try:
            wire_values = command.data
            if count > data.max_length:
                wire_values = wire_values[:data.max_length]
            value = data.values_from_wire(wire_values,
                                          _CHANNEL_TYPES[data_type])
        except CaprotoError as exc:
            self._write_reply(command, entry, notify, ECA_PUTFAIL, str(exc))
            return
        if data.has_async_write:
            self._spawn(self._async_write(command, entry, notify, value), entry)
            return
        try:
            data.commit(value)
        except (CaprotoError, ValueError, TypeError) as exc:
            self._write_reply(command, entry, notify, ECA_PUTFAIL, str(exc))
            return
        self._write_reply(command, entry, notify, ECA_NORMAL)

    async def _async_write(self, command: Message, entry: ChannelEntry,
                           notify: bool, value: Any) -> None:
        try:
            await entry.data.write(value)
        except (CaprotoError, ValueError, TypeError) as exc:
            self._write_reply(command, entry, notify, ECA_PUTFAIL, str(exc))
        except Exception as exc:  # noqa: BLE001 - a user putter failed
            put_logger.exception('Putter of %s raised', entry.name)
            self._write_reply(command, entry, notify, ECA_PUTFAIL, str(exc))
        else:
            self._write_reply(command, entry, notify, ECA_NORMAL)

    async def _auth_write(self, command: Message, entry: ChannelEntry,
                          notify: bool) -> None:
        """A write through the channel's own ``auth_write`` (caproto's
        hook), given the wire data as decoded."""
        data = entry.data
        data_type = header_fields(command)[2]
        try:
            values = command.data  # type: ignore[attr-defined]
            if len(values) > data.max_length:
                values = values[:data.max_length]
            await data.auth_write(
                self.client_hostname, self.client_username, values,
                _CHANNEL_TYPES[data_type],
                command.metadata,  # type: ignore[attr-defined]
                user_address=self.address)
        except Forbidden as exc:
            self._write_reply(command, entry, notify, ECA_NOWTACCESS,
                              str(exc))
        except SkipWrite:
            self._write_reply(command, entry, notify, ECA_NORMAL)
        except (CaprotoError, ValueError, TypeError) as exc:
            self._write_reply(command, entry, notify, ECA_PUTFAIL, str(exc))
        except Exception as exc:  # noqa: BLE001 - a user hook failed
            put_logger.exception('auth_write of %s raised', entry.name)
            self._write_reply(command, entry, notify, ECA_PUTFAIL, str(exc))
        else:
            self._write_reply(command, entry, notify, ECA_NORMAL)

    def _write_reply(self, command: Message, entry: ChannelEntry,
                     notify: bool, status: int, reason: str = '') -> None:
        if status != ECA_NORMAL:
            put_logger.info('Write to %s by %r@%s refused: %s', entry.name,
                            self.client_username, self.client_hostname,
                            reason or status)
        if self._closed:
            return
        if notify:
            _, _, data_type, count, _, ioid = header_fields(command)
            self._send(write_notify_reply(data_type, count, status, ioid))
        elif status != ECA_NORMAL:
            self._send_error(command, entry.cid, status, entry.name)

    def _acknowledge(self, command: cmds.WriteRequest,
                     entry: ChannelEntry) -> None:
        alarm = entry.data.alarm
        value = int(command.data[0])
        if header_fields(command)[2] == _PUT_ACKT:
            alarm.must_acknowledge_transient = bool(value)
        elif value >= alarm.severity_to_acknowledge:
            alarm.severity_to_acknowledge = AlarmSeverity.NO_ALARM

    def _on_event_add(self, command: cmds.EventAddRequest) -> None:
        data_type, count, sid, subid, mask = subscription_request(command)
        entry = self.channels.get(sid)
        if entry is None:
            entry = self._entry(command, sid)  # raises
        if not is_readable_type(data_type):
            self._send_error(command, entry.cid, CAStatus.ECA_BADTYPE,
                             entry.name)
            return
        if entry.recheck:
            self._check_rights(entry)
        data = entry.data
        if count > data.max_length and count > len(data):
            count = data.max_length
        subscriptions = entry.subscriptions
        old = subscriptions.get(subid)
        if old is not None:
            data.remove_subscription(old)
            self._held.discard(old)
        subscription = Subscription(self, entry, subid, data_type, count,
                                    mask)
        subscriptions[subid] = subscription
        data.add_subscription(subscription)
        data.post_initial_update(subscription)

    def _on_event_cancel(self, command: cmds.EventCancelRequest) -> None:
        _, _, data_type, count, sid, subid = header_fields(command)
        entry = self.channels.get(sid)
        if entry is None:
            entry = self._entry(command, sid)  # raises
        subscription = entry.subscriptions.pop(subid, None)
        if subscription is None:
            self._send_error(command, entry.cid, CAStatus.ECA_BADMONID,
                             entry.name)
            return
        entry.data.remove_subscription(subscription)
        if self._held:
            self._held.discard(subscription)
        self._send(event_cancel_reply(data_type, count, sid, subid))

    # ------------------------------------------------------------ lifecycle
    def _spawn(self, coroutine: Coroutine[Any, Any, None],
               entry: ChannelEntry) -> None:
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
        self._flush()
        self._update_reading()

    def send_server_disconnect(self) -> None:
        """Tell the client every channel is gone (server shutting down)."""
        if self._closed:
            return
        channels = [entry.channel for entry in self.channels.values()]
        if channels:
            self._send_commands(*(channel.disconnect()
                                  for channel in channels))
        self._flush()

    def close(self) -> None:
        """Flush what is queued and close the connection."""
        if self._closed:
            return
        self._flush()
        self._teardown()
        if self.transport is not None:
            self.transport.close()

    def _teardown(self) -> None:
        if self._closed:
            return
        self._closed = True
        for entry in list(self.channels.values()):
            self._drop_channel(entry)
        self.channels.clear()
        self.circuit.disconnect()
        self._held.take_items()
        self._outbox.clear()
        self._outbox_bytes = 0
        self._pending = b''
        for task in self._tasks:
            task.cancel()
        self.server._circuit_closed(self)


#: Requests that name a channel by SID (header parameter1).
_CHANNEL_COMMANDS = frozenset({
    cmds.ReadNotifyRequest, cmds.ReadRequest, cmds.WriteRequest,
    cmds.WriteNotifyRequest, cmds.EventAddRequest, cmds.EventCancelRequest,
    cmds.ClearChannelRequest})

_HANDLERS: dict[type, Callable[[ServerCircuit, Any], None]] = {
    cmds.VersionRequest: ServerCircuit._on_version,
    cmds.HostNameRequest: ServerCircuit._on_circuit_command,
    cmds.ClientNameRequest: ServerCircuit._on_circuit_command,
    cmds.EchoRequest: ServerCircuit._on_echo,
    cmds.ReadSyncRequest: ServerCircuit._on_read_sync,
    cmds.EventsOffRequest: ServerCircuit._on_events_off,
    cmds.EventsOnRequest: ServerCircuit._on_events_on,
    cmds.SearchRequest: ServerCircuit._on_search,
    cmds.CreateChanRequest: ServerCircuit._on_create_chan,
    cmds.ClearChannelRequest: ServerCircuit._on_clear_channel,
    cmds.ReadNotifyRequest: ServerCircuit._on_read,
    cmds.ReadRequest: ServerCircuit._on_read,
    cmds.WriteRequest: ServerCircuit._on_write,
    cmds.WriteNotifyRequest: ServerCircuit._on_write,
    cmds.EventAddRequest: ServerCircuit._on_event_add,
    cmds.EventCancelRequest: ServerCircuit._on_event_cancel,
}
