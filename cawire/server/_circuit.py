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
import struct

from ..protocol import _commands as cmds
from ..protocol._constants import (CA_MINIMUM_SUPPORTED_VERSION,
                          DEFAULT_PROTOCOL_VERSION, MAX_PRIORITY)
from ..protocol._enums import AccessRights
from ..protocol._exceptions import CaprotoError, RemoteProtocolError
from ..protocol._framing import parse_stream
from ..protocol._headers import HEADER_STRUCT, pack_header
from ..protocol._state import SERVER
from ..protocol._status import CAStatus
from ._subscriptions import Subscription, UpdateQueue
from ._wire import is_readable_type, is_writable_type, zero_payload

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

_READ_NOTIFY, _READ, _EVENT_ADD, _WRITE_NOTIFY = 15, 3, 1, 19
#: EVENT_ADD payload: f32 low, high, to, then the u16 mask.
_EVENT_ADD_MASK = struct.Struct('>12xH')
#: Standard (16-byte) header; callers check that no field needs the
#: extended form (payload and count < 0xFFFF), else use pack_header.
_pack_header = HEADER_STRUCT.pack
NO_CID = 0xFFFFFFFF
#: Requests waiting behind hooks above which we stop reading the client.
MAX_QUEUED_COMMANDS = 10_000
#: Output queued within one loop iteration above which it is written at once.
OUTBOX_LIMIT = 1 << 18
#: Transport buffer above which the client counts as not reading.
WRITE_HIGH_WATER = 1 << 20
WRITE_LOW_WATER = 1 << 18
#: Unparsed input kept at most (beyond one maximal message).
_HEADER_ONLY = 24


class ChannelEntry:
    """A channel created by this circuit's client."""

    __slots__ = ('name', 'cid', 'sid', 'data', 'access', 'readable',
                 'writable', 'subscriptions', 'busy', 'waiting')

    def __init__(self, name, cid, sid, data, access):
        self.name = name
        self.cid = cid
        self.sid = sid
        self.data = data
        self.access = access
        # Plain bools: IntFlag arithmetic is slow on the per-request path.
        self.readable = bool(access & AccessRights.READ)
        self.writable = bool(access & AccessRights.WRITE)
        self.subscriptions: dict[int, Subscription] = {}
        self.busy = False     # a putter/getter hook is running
        self.waiting = None   # deque of later requests for this channel


class ServerCircuit(asyncio.Protocol):
    """Server end of one CA virtual circuit.

    Parameters
    ----------
    server : cawire.server.Context
        Owner: PV database, SID allocation, search answers.
    """

    def __init__(self, server):
        self.server = server
        self.transport = None
        self.address = None
        self.client_hostname = ''
        self.client_username = ''
        self.priority = 0
        self.client_version = DEFAULT_PROTOCOL_VERSION
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
        self._backlog: list = []     # parsed commands not handled yet
        self._held = UpdateQueue()
        self._tasks: set[asyncio.Task] = set()
        self._closed = False
        self._loop = asyncio.get_running_loop()
        self._max_payload = server.max_payload

    def __repr__(self) -> str:
        return (f'<ServerCircuit {self.address} channels={len(self.channels)} '
                f'user={self.client_username!r}>')

    # --------------------------------------------------------- asyncio hooks
    def connection_made(self, transport) -> None:
        self.transport = transport
        self.address = transport.get_extra_info('peername')
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
        transport.write(pack_header(0, 0, 0, DEFAULT_PROTOCOL_VERSION, 0, 0))

    def connection_lost(self, exc) -> None:
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
        if self._closed:
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

    def _run_commands(self, commands) -> None:
        """Handle commands in order; keep the rest as backlog if the client
        stopped reading or too many wait behind hooks."""
        channels = self.channels
        for index, command in enumerate(commands):
            if self._closed:
                return
            if self._must_stall():
                self._backlog = commands[index:]
                return
            if type(command) in _CHANNEL_COMMANDS:
                entry = channels.get(command._h[4])
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

    def _handle(self, command) -> bool:
        """Handle one command; False if the circuit was closed for it."""
        try:
            handler = _HANDLERS.get(type(command))
            if handler is None:
                raise RemoteProtocolError(
                    f'command {type(command).__name__} is not a client '
                    f'request')
            handler(self, command)
        except RemoteProtocolError as exc:
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

    def _flush(self) -> None:
        self._flush_scheduled = False
        if self._outbox and not self._closed:
            outbox, self._outbox = self._outbox, []
            self._outbox_bytes = 0
            self.transport.write(b''.join(outbox) if len(outbox) > 1
                                 else outbox[0])

    def _schedule_flush(self) -> None:
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)

    def _send_error(self, command, cid, status, message: str) -> None:
        self._send(bytes(cmds.ErrorResponse(command, cid, status, message)))

    def _protocol_error(self, reason: str, command=None) -> None:
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
    def post_update(self, subscription: Subscription, data) -> None:
        """Queue a monitor update (or hold it if the client is behind)."""
        if self._closed:
            return
        header, payload = self._event_message(subscription, data)
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

    def _event_message(self, subscription: Subscription, data):
        """(header, payload) of an update for ``subscription``."""
        data_type = subscription.data_type
        status = ECA_NORMAL
        if subscription.entry.readable:
            try:
                payload, count = data.encode_read(data_type,
                                                  subscription.data_count)
            except CaprotoError as exc:
                logger.debug('Update of %r as type %d failed: %s', data,
                             data_type, exc)
                status = ECA_GETFAIL
        else:
            status = ECA_NORDACCESS
        if status != ECA_NORMAL:
            count = subscription.data_count or 1
            payload = zero_payload(data_type, count)
        size = len(payload)
        if size < 0xFFFF and count < 0xFFFF:
            return _pack_header(_EVENT_ADD, size, data_type, count, status,
                                subscription.subscriptionid), payload
        return pack_header(_EVENT_ADD, size, data_type, count, status,
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
    def _entry(self, command, sid):
        entry = self.channels.get(sid)
        if entry is None:
            # RSRV answers an unknown SID with an error and drops the
            # circuit: the client's view of its channels is corrupt.
            raise RemoteProtocolError(f'unknown channel sid {sid} in '
                                      f'{type(command).__name__}')
        return entry

    def _on_version(self, command) -> None:
        # On UDP-style name-server use the first field is dt=1 ("sequence
        # valid"), harmlessly read as priority 1, as RSRV does.
        priority, version = command._h[2], command._h[3]
        if priority > MAX_PRIORITY or version < CA_MINIMUM_SUPPORTED_VERSION:
            raise RemoteProtocolError(
                f'unsupported priority {priority} / minor version {version}')
        self.priority = priority
        self.client_version = version

    def _on_host_name(self, command) -> None:
        self.client_hostname = command.name

    def _on_client_name(self, command) -> None:
        self.client_username = command.name

    def _on_echo(self, command) -> None:
        self._send(pack_header(23, 0, 0, 0, 0, 0))

    def _on_read_sync(self, command) -> None:
        self._send(pack_header(10, 0, 0, 0, 0, 0))

    def _on_events_off(self, command) -> None:
        self._events_on = False

    def _on_events_on(self, command) -> None:
        self._events_on = True
        if not self._write_paused:
            self._release_held()

    def _on_search(self, command) -> None:
        reply = self.server.tcp_search_reply(command)
        if reply is not None:
            self._send(reply)

    def _on_create_chan(self, command) -> None:
        name = command.name
        cid = command.cid
        data = self.server.pvdb.get(name)
        if data is None:
            logger.debug('Circuit %s: no PV named %r', self.address, name)
            self._send(pack_header(26, 0, 0, 0, cid, 0))
            return
        access = AccessRights(data.check_access(self.client_hostname,
                                                self.client_username))
        sid = self.server.new_sid()
        self.channels[sid] = ChannelEntry(name, cid, sid, data, access)
        count = data.max_length
        if self.client_version < 9:
            count = min(count, 0xFFFE)
        self._send(pack_header(22, 0, 0, 0, cid, int(access)) +
                   pack_header(18, 0, int(data.data_type), count, cid, sid))

    def _on_clear_channel(self, command) -> None:
        sid, cid = command.sid, command.cid
        entry = self._entry(command, sid)
        self._drop_channel(entry)
        self._send(pack_header(12, 0, 0, 0, sid, cid))

    def _drop_channel(self, entry: ChannelEntry) -> None:
        self.channels.pop(entry.sid, None)
        for subscription in entry.subscriptions.values():
            entry.data.remove_subscription(subscription)
            self._held.discard(subscription)
        entry.subscriptions.clear()

    def _on_read(self, command) -> None:
        h = command._h
        data_type, count, sid = h[2], h[3], h[4]
        entry = self._entry(command, sid)
        notify = h[0] == _READ_NOTIFY
        if not is_readable_type(data_type):
            self._send_error(command, entry.cid, CAStatus.ECA_BADTYPE,
                             entry.name)
            return
        data = entry.data
        if count > max(data.max_length, len(data)):
            self._read_reply(command, entry, notify, ECA_BADCOUNT)
            return
        if not entry.readable:
            self._read_reply(command, entry, notify, ECA_NORDACCESS)
            return
        if data.has_async_read:
            self._spawn(self._async_read(command, entry, notify), entry)
            return
        self._read_reply(command, entry, notify)

    async def _async_read(self, command, entry, notify) -> None:
        try:
            await entry.data.read(command._h[2])
        except Exception:  # noqa: BLE001 - a user getter failed
            logger.exception('Getter of %s failed', entry.name)
            self._read_reply(command, entry, notify, ECA_GETFAIL)
        else:
            self._read_reply(command, entry, notify)

    def _read_reply(self, command, entry, notify, status=ECA_NORMAL) -> None:
        if self._closed:
            return
        h = command._h
        data_type, count, ioid = h[2], h[3], h[5]
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
        # READ (deprecated) carries the CID where READ_NOTIFY has the status.
        p1 = status if notify else entry.cid
        size = len(payload)
        if size < 0xFFFF and count < 0xFFFF:
            self._send(_pack_header(h[0], size, data_type, count, p1, ioid))
        else:
            self._send(pack_header(h[0], size, data_type, count, p1, ioid))
        if size:
            self._send(payload)

    def _on_write(self, command) -> None:
        h = command._h
        data_type, sid = h[2], h[4]
        entry = self._entry(command, sid)
        notify = h[0] == _WRITE_NOTIFY
        if not is_writable_type(data_type):
            self._write_reply(command, entry, notify, ECA_BADTYPE,
                              f'DBR type {data_type} cannot be written')
            return
        if not entry.writable:
            self._write_reply(command, entry, notify, ECA_NOWTACCESS,
                              'no write access')
            return
        if data_type >= 35:  # PUT_ACKT / PUT_ACKS: alarm acknowledgement
            self._acknowledge(command, entry)
            self._write_reply(command, entry, notify, ECA_NORMAL)
            return
        data = entry.data
        try:
            wire_values = command.data
            if h[3] > data.max_length:
                wire_values = wire_values[:data.max_length]
            value = data.values_from_wire(wire_values, data_type)
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

    async def _async_write(self, command, entry, notify, value) -> None:
        try:
            await entry.data.write(value)
        except (CaprotoError, ValueError, TypeError) as exc:
            self._write_reply(command, entry, notify, ECA_PUTFAIL, str(exc))
        except Exception as exc:  # noqa: BLE001 - a user putter failed
            put_logger.exception('Putter of %s raised', entry.name)
            self._write_reply(command, entry, notify, ECA_PUTFAIL, str(exc))
        else:
            self._write_reply(command, entry, notify, ECA_NORMAL)

    def _write_reply(self, command, entry, notify, status,
                     reason: str = '') -> None:
        if status != ECA_NORMAL:
            put_logger.info('Write to %s by %r@%s refused: %s', entry.name,
                            self.client_username, self.client_hostname,
                            reason or status)
        if self._closed:
            return
        h = command._h
        if notify:
            self._send(pack_header(_WRITE_NOTIFY, 0, h[2], h[3], status, h[5]))
        elif status != ECA_NORMAL:
            self._send_error(command, entry.cid, status, entry.name)

    def _acknowledge(self, command, entry) -> None:
        alarm = entry.data.alarm
        value = int(command.data[0])
        if command._h[2] == 35:
            alarm.must_acknowledge_transient = bool(value)
        elif value >= alarm.severity_to_acknowledge:
            alarm.severity_to_acknowledge = 0

    def _on_event_add(self, command) -> None:
        h = command._h
        data_type, count, sid, subid = h[2], h[3], h[4], h[5]
        entry = self.channels.get(sid)
        if entry is None:
            entry = self._entry(command, sid)  # raises
        if data_type > 38 or data_type == 35 or data_type == 36:
            self._send_error(command, entry.cid, CAStatus.ECA_BADTYPE,
                             entry.name)
            return
        data = entry.data
        if count > data.max_length and count > len(data):
            count = data.max_length
        subscriptions = entry.subscriptions
        old = subscriptions.get(subid)
        if old is not None:
            data.remove_subscription(old)
            self._held.discard(old)
        mask = _EVENT_ADD_MASK.unpack_from(command._payload)[0]
        subscription = Subscription(self, entry, subid, data_type, count, mask)
        subscriptions[subid] = subscription
        data.add_subscription(subscription)
        self.post_update(subscription, data)

    def _on_event_cancel(self, command) -> None:
        h = command._h
        sid, subid = h[4], h[5]
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
        self._send(_pack_header(_EVENT_ADD, 0, h[2], h[3], sid, subid))

    # ------------------------------------------------------------ lifecycle
    def _spawn(self, coroutine, entry: ChannelEntry) -> None:
        # Only this channel's later requests wait for the hook; the
        # client's other channels are served meanwhile.
        entry.busy = True
        task = self._loop.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(lambda done: self._hook_done(done, entry))

    def _hook_done(self, task, entry: ChannelEntry) -> None:
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
        for entry in self.channels.values():
            self._send(pack_header(27, 0, 0, 0, entry.cid, 0))
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

_HANDLERS = {
    cmds.VersionRequest: ServerCircuit._on_version,
    cmds.HostNameRequest: ServerCircuit._on_host_name,
    cmds.ClientNameRequest: ServerCircuit._on_client_name,
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
