"""One TCP circuit, sans I/O: VirtualCircuit.

A VirtualCircuit sits between a socket (owned by the caller) and the code
that uses Channel Access.  Everything we send goes through :meth:`send`
(commands in, buffers out) and everything received goes through
:meth:`process_command` (after :func:`cawire.protocol._framing.parse_stream`, or
:meth:`recv` for simple users).  Both check the command against the state
tables of ``_state`` and against the ids in use, then update them:

* channels by cid (``channels``) and by sid (``channels_sid``);
* outstanding READ_NOTIFY/READ/WRITE_NOTIFY requests by ioid, so replies
  find their channel and an unknown ioid is caught;
* live subscriptions by subscriptionid (``event_add_commands``).

A bad command from the peer raises :class:`RemoteProtocolError` before
anything is changed, so one bad message never corrupts another channel; the
caller logs it and closes the circuit.  Our own mistakes raise
:class:`LocalProtocolError`.

Subscription updates are the hot path (a client may receive 100k per
second): an EVENT_ADD reply costs one dict lookup, nothing else.  That is
enough because a subscription only exists while its channel is usable: it is
dropped when the cancel is acknowledged, the channel is cleared or
disconnected, or the circuit dies.

Ids: ioids and subscriptionids come from one u32 space, as in libca (which
is also why libca can refresh a subscription with a READ_NOTIFY whose ioid
is the subscriptionid).  The allocator wraps around and skips ids in use.
A client context that moves subscriptions between circuits (reconnection
keeps their ids) should give all its circuits one :class:`IdAllocator`.

The per-command rules are the ``_on_*`` methods below, one per command
family, chosen by command class from two tables built once per circuit
(what we send, what we receive).  Each checks the command against the
circuit's state and id tables, raising LocalProtocolError or
RemoteProtocolError (blame per ``sender``) *before* changing anything, then
updates channel states, outstanding requests and subscriptions.

A server runs each channel's create and clear once per client per PV; for
that it has fast forms (``accept_create_chan``, ``create_chan_reply``,
``create_chan_failure``, ``access_rights_update``, ``accept_clear_channel``)
and RSRV's leniency before VERSION (``refusal_before_version``), which live
in ``_server_channel_forms`` as functions of the circuit, bound here as
methods.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from . import _channel_replies, _server_channel_forms
from ._channel import NO_IDS, ClientChannel, ServerChannel, _BaseChannel
from ._commands import (
    AccessRightsResponse, ClearChannelRequest, ClearChannelResponse,
    ClientNameRequest, CreateChanRequest, CreateChanResponse,
    CreateChFailResponse, EchoRequest, EchoResponse, ErrorResponse,
    EventAddRequest, EventAddResponse, EventCancelRequest,
    EventCancelResponse, EventsOffRequest, EventsOnRequest, HostNameRequest,
    NotFoundResponse, ReadNotifyRequest, ReadNotifyResponse, ReadRequest,
    ReadResponse, ReadSyncRequest, ReadSyncResponse, SearchRequest,
    SearchResponse, ServerDisconnResponse, VersionRequest, VersionResponse,
    WriteNotifyRequest, WriteNotifyResponse, WriteRequest)
from ._commands_base import Message
from ._enums import AccessRights
from ._commands_channel import pack_create_chan
from ._constants import DEFAULT_PROTOCOL_VERSION, LAST_BUFFER_TYPE
from ._exceptions import (CaprotoValueError, LocalProtocolError,
                          ProtocolError, RemoteProtocolError)
from ._framing import parse_stream
from ._ids import IdAllocator
from ._outstanding import IO_REPLIES, OutstandingRequest, refused_request
from ._server_channel_forms import _MAX_NATIVE_TYPE, _NATIVE_TYPES
from ._state import CLIENT, CONNECTED, REQUEST, SERVER, CircuitState, Role

__all__ = ('VirtualCircuit', 'ClientChannel', 'ServerChannel',
           'IdAllocator', 'OutstandingRequest')

#: A request that names an ioid and expects a reply.
IoRequest = ReadNotifyRequest | ReadRequest | WriteNotifyRequest
#: A reply that completes one.
IoReply = ReadNotifyResponse | ReadResponse | WriteNotifyResponse

logger = logging.getLogger('cawire.circ')
#: A per-command rule: (command, sender) -> the command to act on, if not
#: the one given.
_Handler = Callable[[Any, Role], 'Message | None']
_IO_REQUEST_TYPES = (ReadNotifyRequest, ReadRequest, WriteNotifyRequest)


class VirtualCircuit:
    """Protocol state of one CA circuit (one TCP connection).

    Parameters
    ----------
    our_role : Role
        CLIENT or SERVER.
    address : (str, int)
        The peer's address.
    priority : int or None
        Circuit priority 0..99.  A server learns it from the client's
        VERSION (pass None).
    protocol_version : int
        Our minor version; lowered to the peer's when its VERSION arrives.
    id_allocator : IdAllocator or callable, optional
        Shared ioid/subscriptionid allocator (default: one per circuit);
        any ``() -> int`` giving ids in the same way (e.g. an
        IdAllocator behind a lock) will do.
    subscription_id_allocator : IdAllocator or callable, optional
        Where subscriptionids come from, if not from ``id_allocator``
        (caproto numbers ioids and subscriptionids separately; libca
        shares one space, the default).
    max_payload : int, optional
        Largest payload :meth:`recv` accepts.

    Attributes
    ----------
    states : CircuitState
        ``states[CLIENT]`` / ``states[SERVER]``.
    channels : dict
        cid -> channel, for every channel still using this circuit.
    channels_sid : dict
        sid -> channel, once created.
    event_add_commands : dict
        subscriptionid -> EventAddRequest of each live subscription
        (including ones whose cancel is not yet acknowledged).
    """

    def __init__(self, our_role: Role, address: tuple[str, int] | None,
                 priority: int | None,
                 protocol_version: int = DEFAULT_PROTOCOL_VERSION, *,
                 id_allocator: Callable[[], int] | None = None,
                 subscription_id_allocator: Callable[[], int] | None = None,
                 max_payload: int | None = None) -> None:
        if our_role not in (CLIENT, SERVER):
            raise CaprotoValueError(f'our_role must be CLIENT or SERVER, '
                                    f'not {our_role!r}')
        if our_role is CLIENT and priority is None:
            raise CaprotoValueError('a client circuit needs a priority')
        self.our_role = our_role
        self.their_role = our_role.peer
        self.address: tuple[str, int] | None = (
            (address[0], address[1]) if address is not None else None)
        self.priority = priority
        self.protocol_version = protocol_version
        self.max_payload = max_payload
        self.states = CircuitState()
        self.channels: dict[int, _BaseChannel] = {}
        self.channels_sid: dict[int, _BaseChannel] = {}
        self.event_add_commands: dict[int, EventAddRequest] = {}
        # Server role: cid -> older channels a client created again with
        # the same cid (RSRV serves each); ``channels`` holds the newest.
        self._shadowed: dict[int, list[_BaseChannel]] = {}
        # Subscriptions whose EVENT_CANCEL went out (client) / came in
        # (server) and await the acknowledgement.
        self._cancelling: set[int] = set()
        # ioid -> request waiting for a reply.  A server echoes ioids
        # blindly, so it counts repeats instead of rejecting them.
        self.outstanding_requests: dict[int, OutstandingRequest] = {}
        self.client_name: str | None = None
        self.host_name: str | None = None
        # Received bytes not yet parsed, and how many the next message needs.
        self._recv_pending: list[bytes] = []
        self._recv_pending_bytes = 0
        self._recv_needed = 0
        if id_allocator is None:
            id_allocator = IdAllocator(self._id_in_use)
        self._id_allocator = id_allocator
        self._subscription_ids = (subscription_id_allocator
                                  or id_allocator)
        if our_role is CLIENT:
            self._channel_ids = IdAllocator(self.channels.__contains__, 0)
            self._hot_update: type[Message] | None = EventAddResponse
        else:
            self._channel_ids = IdAllocator(self.channels_sid.__contains__,
                                            0)
            self._hot_update = None
        self._send_handlers = self._handlers(sending=True)
        self._recv_handlers = self._handlers(sending=False)

    # ------------------------------------------------------------------
    # Public API

    def __repr__(self) -> str:
        return (f'<VirtualCircuit address={self.address!r} '
                f'priority={self.priority} our_role={self.our_role!r} '
                f'states={self.states[CLIENT]!r}/{self.states[SERVER]!r} '
                f'channels={len(self.channels)}>')

    @property
    def host(self) -> str:
        """The peer's host (first item of ``address``)."""
        return self._peer_address()[0]

    @property
    def port(self) -> int:
        """The peer's port (second item of ``address``)."""
        return self._peer_address()[1]

    def _peer_address(self) -> tuple[str, int]:
        if self.address is None:
            raise LocalProtocolError('this circuit was made without an '
                                     'address')
        return self.address

    @property
    def key(self) -> tuple[tuple[str, int] | None, int | None]:
        """(address, priority): what identifies a circuit in a context."""
        return self.address, self.priority

    @property
    def connected(self) -> bool:
        """True while both parties have exchanged VERSION."""
        return (self.states[CLIENT] is CONNECTED
                and self.states[SERVER] is CONNECTED)

    def new_channel_id(self) -> int:
        """A free cid (client circuit) or sid (server circuit)."""
        return self._channel_ids()

    def new_ioid(self) -> int:
        """A free ioid (shared id space with subscriptionids)."""
        return self._id_allocator()

    def new_subscriptionid(self) -> int:
        """A free subscriptionid (shared id space with ioids unless the
        circuit was given a ``subscription_id_allocator``)."""
        return self._subscription_ids()

    def send(self, *commands: Message) -> list:
        """Validate ``commands`` as ours, update state, return buffers.

        Returns
        -------
        list
            Buffers for ``socket.sendmsg`` (headers, payloads, zero pads).

        Raises
        ------
        LocalProtocolError
            A command is illegal now.  Commands before it have been applied.
        """
        buffers: list[Any] = []
        handlers = self._send_handlers
        for command in commands:
            handler = handlers.get(type(command))
            if handler is None:
                raise LocalProtocolError(
                    f'a {self.our_role.name.lower()} cannot send '
                    f'{type(command).__name__} on a circuit')
            handler(command, self.our_role)
            buffers.extend(command.wire_buffers())
        return buffers

    def create_channels(self, channels: Iterable[ClientChannel]) -> bytes:
        """CREATE_CHAN for each of ``channels`` (this client circuit's),
        validated and applied as ``send(*(c.create() for c in channels))``
        would, as one bytes object: the fast form for connecting thousands
        of channels (no message objects, one buffer).

        Raises
        ------
        LocalProtocolError
            Not a client circuit, the VERSION not sent yet, a channel of
            another circuit, or a channel not in a state to be created.
            Channels before it have been applied.
        CaprotoValueError
            A name that cannot be sent.
        """
        role = self.our_role
        if role is not CLIENT:
            raise LocalProtocolError('only a client circuit creates channels')
        if not self.states.client_may_send_requests:
            raise self._error(role, f'CreateChanRequest before the client '
                              f'sent its VERSION (circuit {self.states!r})')
        version = self.protocol_version
        known = self.channels
        advance = self._advance_channel_by_type
        parts = []
        for channel in channels:
            if known.get(channel.cid) is not channel:
                raise LocalProtocolError(f'{channel!r} is not a channel of '
                                         f'this circuit')
            advance(channel, CreateChanRequest, role)
            parts.append(pack_create_chan(channel.name, channel.cid, version))
        return b''.join(parts)

    def send_request(self, command: IoRequest,
                     request: OutstandingRequest) -> list:
        """Like :meth:`send` for one READ / READ_NOTIFY / WRITE_NOTIFY,
        registering ``request`` (a subclass instance carrying the caller's
        reply slot) as its entry in :attr:`outstanding_requests`.

        Raises
        ------
        LocalProtocolError
            The request is illegal now, or ``request.ioid`` is not the
            command's ioid.
        """
        if type(command) not in _IO_REQUEST_TYPES:
            raise LocalProtocolError(f'{type(command).__name__} expects no '
                                     'reply by ioid')
        if request.ioid != command._h[5]:
            raise LocalProtocolError(
                f'request slot for ioid {request.ioid} given with a '
                f'{type(command).__name__} for ioid {command.ioid}')
        self._register_request(command, self.our_role, request)
        return command.wire_buffers()

    def request_for(self, command: Message) -> OutstandingRequest | None:
        """The outstanding request a received reply (or ERROR) completes,
        looked up *before* :meth:`process_command` removes it; None for
        other commands and unknown ioids."""
        cls = type(command)
        if cls in IO_REPLIES:
            return self.outstanding_requests.get(command._h[5])
        if isinstance(command, ErrorResponse):
            ioid = refused_request(command).ioid
            if ioid is not None:
                return self.outstanding_requests.get(ioid)
        return None

    def take_reply(self, command: IoReply) -> OutstandingRequest | None:
        """Fast form of :meth:`request_for` then :meth:`process_command`
        for a received READ_NOTIFY / READ / WRITE_NOTIFY reply (a client's
        hot path): the same checks and state change, one call.  Returns the
        request it completes.

        Raises
        ------
        RemoteProtocolError
            Unknown ioid, or the reply is illegal in its channel's state.
        """
        ioid = command._h[5]
        request = self.outstanding_requests.get(ioid)
        if request is None or request.channel is None:
            raise self._error(self.their_role, f'{type(command).__name__} '
                              f'for unknown ioid {ioid}')
        self._advance_channel_by_type(request.channel, type(command),
                                      self.their_role)  # hot path: no wrapper call
        self._complete_request(ioid)
        return request

    def discard_request(self, ioid: int) -> OutstandingRequest | None:
        """Forget the outstanding request ``ioid`` whose reply will never be
        processed (e.g. the shell dropped an oversized reply unread);
        return it (None if unknown).  A reply naming it later is a
        protocol error."""
        request = self.outstanding_requests.get(ioid)
        if request is None:
            return None
        request.repeats = 0
        return self._complete_request(ioid)

    def recv(self, *buffers: bytes | bytearray | memoryview
             ) -> tuple[list, int]:
        """Parse received bytes (simple users; fast shells call
        :func:`cawire.protocol._framing.parse_stream` themselves).

        Parameters
        ----------
        *buffers : bytes-like
            What the socket produced (may split messages anywhere).

        Returns
        -------
        commands : list
            Parsed commands: pass each to :meth:`process_command`.
        needed : int
            Bytes the next incomplete message needs in total (0: none
            pending).

        Raises
        ------
        RemoteProtocolError
            Malformed stream; close the circuit.
        """
        pending = self._recv_pending
        for buffer in buffers:
            chunk = bytes(buffer)
            if chunk:
                pending.append(chunk)
                self._recv_pending_bytes += len(chunk)
        if self._recv_pending_bytes < self._recv_needed:
            # Still inside one large message: wait instead of re-joining
            # (joining per chunk would copy a big array quadratically).
            return [], self._recv_needed
        data = pending[0] if len(pending) == 1 else b''.join(pending)
        # ``data`` is immutable, so the payload views stay valid after the
        # consumed prefix is dropped.
        commands, consumed, needed = parse_stream(
            data, self.our_role, max_payload=self.max_payload)
        rest = data[consumed:] if consumed < len(data) else b''
        self._recv_pending = [rest] if rest else []
        self._recv_pending_bytes = len(rest)
        self._recv_needed = needed
        return commands, needed

    def process_command(self, command: Message) -> Message:
        """Validate a received command, update state.

        Returns
        -------
        command
            The command to act on: normally ``command`` itself.  An empty
            EVENT_ADD reply for a live subscription that is not being
            cancelled is a zero-length update, returned as an
            EventAddResponse (the parser cannot tell).

        Raises
        ------
        RemoteProtocolError
            The peer broke the protocol (unknown id, illegal in this state);
            nothing was changed.
        """
        cls = type(command)
        if cls is self._hot_update:
            if command._h[5] in self.event_add_commands:
                return command
            raise RemoteProtocolError(
                f'subscription update for unknown subscriptionid '
                f'{command._h[5]} on {self!r}')
        handler = self._recv_handlers.get(cls)
        if handler is None:
            raise RemoteProtocolError(
                f'a {self.our_role.name.lower()} does not accept '
                f'{cls.__name__} on a circuit')
        result = handler(command, self.their_role)
        return command if result is None else result

    def update_subscriptionid(self, command: EventAddResponse) -> int:
        """Fast form of :meth:`process_command` for a client's hot path: a
        subscription update (an ``EventAddResponse`` as parsed) is checked
        and its subscriptionid returned, in one call.  It changes nothing
        and reads one dict lookup's worth of state.

        Raises
        ------
        RemoteProtocolError
            Unknown subscriptionid (as :meth:`process_command` would).
        """
        subscriptionid = command._h[5]
        if subscriptionid in self.event_add_commands:
            return subscriptionid
        raise RemoteProtocolError(
            f'subscription update for unknown subscriptionid '
            f'{subscriptionid} on {self!r}')

    # ------------------------------------------------------------------
    # Fast forms of a server's channel exchanges (``_server_channel_forms``):
    # plain functions of the circuit, bound here as methods.

    accept_create_chan = _server_channel_forms.accept_create_chan
    create_chan_reply = _server_channel_forms.create_chan_reply
    create_chan_failure = _server_channel_forms.create_chan_failure
    access_rights_update = _server_channel_forms.access_rights_update
    accept_clear_channel = _server_channel_forms.accept_clear_channel
    refusal_before_version = _server_channel_forms.refusal_before_version

    def disconnect(self) -> None:
        """The connection is gone: every channel on it is DISCONNECTED
        (CLOSED if it was being cleared) and every outstanding request and
        subscription is dropped.  ``channels`` keeps the channels so the
        caller can see which ones were affected."""
        self.states.disconnect()
        for channel in self._all_channels():
            channel.states.circuit_lost()
            channel._ioids = channel._subscriptionids = NO_IDS
        self.outstanding_requests.clear()
        self.event_add_commands.clear()
        self._cancelling.clear()
        self._recv_pending = []
        self._recv_pending_bytes = self._recv_needed = 0

    # ------------------------------------------------------------------
    # Bookkeeping helpers

    def _id_in_use(self, candidate: int) -> bool:
        return (candidate in self.outstanding_requests
                or candidate in self.event_add_commands)

    def _all_channels(self) -> list[_BaseChannel]:
        channels = list(self.channels.values())
        for shadowed in self._shadowed.values():
            channels.extend(shadowed)
        return channels

    def _register_channel(self, channel: _BaseChannel) -> None:
        cid = channel.cid
        known = self.channels.get(cid)
        if known is not None:
            if self.our_role is CLIENT:
                raise LocalProtocolError(f'cid {cid} is already used by '
                                         f'{known!r}')
            self._shadowed.setdefault(cid, []).append(known)
        self.channels[cid] = channel

    def _forget_channel(self, channel: _BaseChannel) -> None:
        cid = channel.cid
        if self.channels.get(cid) is channel:
            del self.channels[cid]
            if self._shadowed:
                self._unshadow(cid, None)
        elif self._shadowed:
            self._unshadow(cid, channel)
        if channel.sid is not None and \
                self.channels_sid.get(channel.sid) is channel:
            del self.channels_sid[channel.sid]
        for ioid in channel._ioids:
            self.outstanding_requests.pop(ioid, None)
        channel._ioids = NO_IDS
        for subscriptionid in channel._subscriptionids:
            self.event_add_commands.pop(subscriptionid, None)
            self._cancelling.discard(subscriptionid)
        channel._subscriptionids = NO_IDS

    def _unshadow(self, cid: int, channel: _BaseChannel | None) -> None:
        # Drop ``channel`` from the older channels of ``cid``, or (None)
        # give ``channels[cid]`` back to the newest of them.
        shadowed = self._shadowed.get(cid)
        if not shadowed:
            return
        if channel is None:
            self.channels[cid] = shadowed.pop()
        elif channel in shadowed:
            shadowed.remove(channel)
        if not shadowed:
            del self._shadowed[cid]

    # ------------------------------------------------------------------
    # Per-command rules.  ``sender`` is the role that sent the command.

    def _error(self, sender: Role, message: str):
        if sender is self.our_role:
            return LocalProtocolError(message)
        return RemoteProtocolError(message)

    def _channel_by_cid(self, cid: int, command, sender: Role):
        try:
            return self.channels[cid]
        except KeyError:
            raise self._error(sender, f'{type(command).__name__} names '
                              f'unknown cid {cid}') from None

    def _channel_by_sid(self, sid: int, command, sender: Role):
        try:
            return self.channels_sid[sid]
        except KeyError:
            raise self._error(sender, f'{type(command).__name__} names '
                              f'unknown sid {sid}') from None

    def _advance_channel(self, channel, command, sender: Role) -> None:
        self._advance_channel_by_type(channel, type(command), sender)

    def _advance_channel_by_type(self, channel, command_type: type,
                                 sender: Role) -> None:
        try:
            channel.states.process_command_type(sender, self.our_role,
                                                command_type)
        except (LocalProtocolError, RemoteProtocolError) as exc:
            exc.args = (f'{exc.args[0]} (channel {channel.name!r}, '
                        f'cid {channel.cid})',)
            # Channel-level: the shell may drop the command and carry on.
            setattr(exc, 'channel', channel)
            raise

    def _channel_state_error(self, channel: _BaseChannel,
                             command_type: type[Message], sender: Role
                             ) -> ProtocolError:
        # The error the channel table gives for ``command_type`` now,
        # worded as _advance_channel words it.
        states = channel.states
        exc = self._error(
            sender, f'{command_type.__name__} is not allowed on a channel '
            f'in state client={states.client!r} server={states.server!r} '
            f'(channel {channel.name!r}, cid {channel.cid})')
        setattr(exc, 'channel', channel)
        return exc

    def _require_requests_allowed(self, command, sender: Role) -> None:
        if not self.states.client_may_send_requests:
            raise self._error(
                sender, f'{type(command).__name__} before the client sent '
                f'its VERSION (circuit {self.states!r})')

    # ------------------------------------------------------------------
    # Per-command handlers.  ``sender`` is the role that sent the command.

    def _handlers(self, *, sending: bool) -> dict[type[Message], _Handler]:
        # Which commands this circuit sends and receives, by role.
        client_sends = sending == (self.our_role is CLIENT)
        common_circuit: dict[type[Message], _Handler] = {
            ErrorResponse: self._on_error,
            EchoRequest: self._on_circuit_command,
            EchoResponse: self._on_circuit_command,
            SearchRequest: self._on_circuit_command,
            SearchResponse: self._on_circuit_command,
            NotFoundResponse: self._on_circuit_command,
            ReadSyncRequest: self._on_circuit_command,
            ReadSyncResponse: self._on_echo_like,
            EventsOffRequest: self._on_circuit_command,
            EventsOnRequest: self._on_circuit_command,
        }
        requests: dict[type[Message], _Handler] = {
            VersionRequest: self._on_version_request,
            ClientNameRequest: self._on_identity,
            HostNameRequest: self._on_identity,
            CreateChanRequest: self._on_create_chan_request,
            ReadNotifyRequest: self._on_io_request,
            ReadRequest: self._on_io_request,
            WriteNotifyRequest: self._on_io_request,
            WriteRequest: self._on_write_request,
            EventAddRequest: self._on_event_add_request,
            EventCancelRequest: self._on_event_cancel_request,
            ClearChannelRequest: self._on_clear_channel_request,
        }
        responses: dict[type[Message], _Handler] = {
            VersionResponse: self._on_version_response,
            AccessRightsResponse: self._on_access_rights,
            CreateChanResponse: self._on_create_chan_response,
            CreateChFailResponse: self._on_channel_gone,
            ServerDisconnResponse: self._on_channel_gone,
            ClearChannelResponse: self._on_clear_channel_response,
            ReadNotifyResponse: self._on_io_response,
            ReadResponse: self._on_io_response,
            WriteNotifyResponse: self._on_io_response,
            EventAddResponse: self._on_event_add_response,
            EventCancelResponse: self._on_event_cancel_response,
        }
        table: dict[type[Message], _Handler] = {}
        for cls, handler in common_circuit.items():
            if (cls.DIRECTION is REQUEST) == client_sends:
                table[cls] = handler
        table.update(requests if client_sends else responses)
        return table

    def _on_circuit_command(self, command, sender: Role) -> None:
        self.states.process_command_type(sender, self.our_role, type(command))

    def _on_echo_like(self, command, sender: Role) -> None:
        # READ_SYNC's reply is the pre-4.3 echo; treat it as ECHO.
        self.states.process_command_type(sender, self.our_role, EchoResponse)

    def _on_version_request(self, command: VersionRequest, sender: Role):
        if command.sequence_id is not None and \
                self.states[SERVER] is CONNECTED:
            # A name-server search datagram replayed on TCP starts with a
            # UDP-style VERSION (dt=1): not a priority change.
            self.states.process_command_type(sender, self.our_role,
                                             VersionRequest)
            return
        self.states.process_command_type(sender, self.our_role,
                                         VersionRequest)
        if self.priority is None:
            self.priority = command.priority
        if command.version:
            self.protocol_version = min(self.protocol_version,
                                        command.version)

    def _on_version_response(self, command: VersionResponse, sender: Role):
        self.states.process_command_type(sender, self.our_role,
                                         VersionResponse)
        # Version 0: a pre-4.11 server's echo-like VERSION; no information.
        if command.version:
            self.protocol_version = min(self.protocol_version,
                                        command.version)

    def _on_identity(self, command, sender: Role) -> None:
        self.states.process_command_type(sender, self.our_role, type(command))
        if type(command) is ClientNameRequest:
            self.client_name = command.name
        else:
            self.host_name = command.name

    def _on_error(self, command: ErrorResponse, sender: Role) -> None:
        # ERROR is legal at any time and must never itself be an error for
        # naming something we no longer know: it only settles bookkeeping.
        self.states.process_command_type(sender, self.our_role, ErrorResponse)
        refused = refused_request(command)
        if refused.ioid is not None:
            self._complete_request(refused.ioid)
        elif (refused.command == EventCancelRequest.ID
                and refused.subscriptionid is not None):
            self._drop_subscription(refused.subscriptionid)

    def _complete_request(self, ioid: int) -> OutstandingRequest | None:
        request = self.outstanding_requests.get(ioid)
        if request is None:
            return None
        if request.repeats:
            request.repeats -= 1
            return request
        del self.outstanding_requests[ioid]
        channel = request.channel
        if channel is not None:
            ids = channel._ioids
            if isinstance(ids, set):
                ids.discard(ioid)
                if not ids:
                    # An idle channel holds no set (216 bytes per PV read).
                    channel._ioids = NO_IDS
        return request

    def _drop_subscription(self, subscriptionid: int) -> None:
        event_add = self.event_add_commands.pop(subscriptionid, None)
        self._cancelling.discard(subscriptionid)
        if event_add is not None:
            channel = self.channels_sid.get(event_add.sid)
            if channel is not None:
                ids = channel._subscriptionids
                if subscriptionid in ids:
                    channel._subscriptionids = tuple(
                        other for other in ids if other != subscriptionid)

    # -- channel lifecycle -------------------------------------------------

    def _on_create_chan_request(self, command: CreateChanRequest,
                                sender: Role) -> None:
        self._require_requests_allowed(command, sender)
        cid = command.cid
        channel: _BaseChannel | None
        if sender is not self.our_role:
            # A server: a cid already in use gets a second channel, as
            # RSRV gives it.
            channel = ServerChannel(command.name, self, cid)
        else:
            channel = self.channels.get(cid)
            if channel is None:
                channel = ClientChannel(command.name, self, cid)
        self._advance_channel(channel, command, sender)

    def _on_access_rights(self, command: AccessRightsResponse,
                          sender: Role) -> None:
        self._apply_access_rights(command.cid, command.access_rights, sender)

    def _on_create_chan_response(self, command: CreateChanResponse,
                                 sender: Role) -> None:
        self._apply_create_chan(command._h, sender)

    # The rules of the two replies that connect a channel, on their header
    # fields: the command handlers above and the fast form
    # (``process_channel_replies``) both apply them.

    def _apply_access_rights(self, cid: int, rights: AccessRights,
                             sender: Role) -> None:
        channel = self.channels.get(cid)
        if channel is None:
            raise self._error(sender, f'AccessRightsResponse names unknown '
                              f'cid {cid}')
        self._advance_channel_by_type(channel, AccessRightsResponse, sender)
        channel.access_rights = rights

    def _apply_create_chan(self, fields: tuple, sender: Role) -> None:
        cid = fields[4]
        channel = self.channels.get(cid)
        if channel is None:
            raise self._error(sender, f'CreateChanResponse names unknown '
                              f'cid {cid}')
        sid = fields[5]
        other = self.channels_sid.get(sid)
        if other is not None and other is not channel:
            raise self._error(sender, f'CreateChanResponse gives sid {sid} '
                              f'to cid {cid}, but {other!r} has it')
        data_type = fields[2]
        if data_type > _MAX_NATIVE_TYPE:
            raise self._error(sender, f'CreateChanResponse with native type '
                              f'{data_type} (a native type is 0..6)')
        self._advance_channel_by_type(channel, CreateChanResponse, sender)
        channel.sid = sid
        channel.native_data_type = _NATIVE_TYPES[data_type]
        channel.native_data_count = fields[3]
        self.channels_sid[sid] = channel

    process_channel_replies = _channel_replies.process_channel_replies

    def _on_channel_gone(self, command, sender: Role) -> None:
        # CREATE_CH_FAIL or SERVER_DISCONN: the channel leaves this circuit
        # (a client searches for it again).
        channel = self._channel_by_cid(command.cid, command, sender)
        self._advance_channel(channel, command, sender)
        self._forget_channel(channel)

    def _on_clear_channel_request(self, command: ClearChannelRequest,
                                  sender: Role) -> None:
        channel = self._channel_by_sid(command.sid, command, sender)
        # RSRV clears the sid's channel whatever cid the request names;
        # a client of ours names its own.
        if sender is self.our_role and channel.cid != command.cid:
            raise self._error(sender, f'ClearChannelRequest for sid '
                              f'{command.sid} names cid {command.cid}, but '
                              f'that channel is cid {channel.cid}')
        self._advance_channel(channel, command, sender)

    def _on_clear_channel_response(self, command: ClearChannelResponse,
                                   sender: Role) -> None:
        if sender is SERVER:
            # Echoing the request, which names the channel by sid.
            channel = self.channels_sid.get(command.sid)
        else:
            channel = self.channels.get(command.cid)
        if channel is None and sender is not self.our_role:
            # A reply about a channel already gone (e.g. SERVER_DISCONN
            # crossed our CLEAR_CHANNEL): nothing to settle.
            logger.debug('ignoring %r for unknown cid', command)
            return
        if channel is None:
            raise self._error(sender, f'ClearChannelResponse names unknown '
                              f'channel sid {command.sid} / cid '
                              f'{command.cid}')
        self._advance_channel(channel, command, sender)
        self._forget_channel(channel)

    # -- reads and writes ---------------------------------------------------

    def _on_io_request(self, command: IoRequest, sender: Role) -> None:
        self._register_request(command, sender, None)

    def _register_request(self, command: IoRequest, sender: Role,
                          request: OutstandingRequest | None) -> None:
        h = command._h  # (the three request types: sid 4, ioid 5)
        channel = self._channel_by_sid(h[4], command, sender)
        data_type = h[2]
        if data_type > LAST_BUFFER_TYPE:
            raise self._error(sender, f'{type(command).__name__} asks for '
                              f'DBR type {data_type} (max '
                              f'{LAST_BUFFER_TYPE})')
        ioid = h[5]
        outstanding = self.outstanding_requests
        known = outstanding.get(ioid)
        if known is not None and self.our_role is CLIENT:
            raise LocalProtocolError(f'ioid {ioid} is already in use by a '
                                     'request waiting for its reply')
        self._advance_channel_by_type(channel, type(command),
                                      sender)  # hot path: no wrapper call
        if known is not None:
            known.repeats += 1
        else:
            if request is None:
                request = OutstandingRequest(ioid)
            request.channel = channel
            outstanding[ioid] = request
        if channel._ioids is NO_IDS:
            channel._ioids = set()
        channel._ioids.add(ioid)

    def _on_write_request(self, command: WriteRequest, sender: Role) -> None:
        channel = self._channel_by_sid(command.sid, command, sender)
        self._advance_channel(channel, command, sender)

    def _on_io_response(self, command, sender: Role) -> None:
        ioid = command._h[5]
        request = self.outstanding_requests.get(ioid)
        if request is None or request.channel is None:
            raise self._error(sender, f'{type(command).__name__} for '
                              f'unknown ioid {ioid}')
        self._advance_channel(request.channel, command, sender)
        self._complete_request(ioid)

    # -- subscriptions -----------------------------------------------------

    def _on_event_add_request(self, command: EventAddRequest,
                              sender: Role) -> None:
        channel = self._channel_by_sid(command.sid, command, sender)
        if command._h[2] > LAST_BUFFER_TYPE:
            raise self._error(sender, f'EventAddRequest asks for DBR type '
                              f'{command._h[2]} (max {LAST_BUFFER_TYPE})')
        subscriptionid = command.subscriptionid
        if subscriptionid in self.event_add_commands:
            raise self._error(sender, f'subscriptionid {subscriptionid} is '
                              'already in use on this circuit')
        self._advance_channel(channel, command, sender)
        self.event_add_commands[subscriptionid] = command
        # A tuple: a channel has one subscription or a few, and a set per
        # monitored channel cost 216 bytes.
        channel._subscriptionids = (*channel._subscriptionids, subscriptionid)

    def _subscription(self, command, sender: Role):
        subscriptionid = command.subscriptionid
        event_add = self.event_add_commands.get(subscriptionid)
        if event_add is None:
            raise self._error(sender, f'{type(command).__name__} for '
                              f'unknown subscriptionid {subscriptionid}')
        return event_add

    def _on_event_cancel_request(self, command: EventCancelRequest,
                                 sender: Role) -> None:
        event_add = self._subscription(command, sender)
        if event_add.sid != command.sid:
            raise self._error(sender, f'EventCancelRequest for subscription '
                              f'{command.subscriptionid} names sid '
                              f'{command.sid}; it was made on sid '
                              f'{event_add.sid}')
        channel = self._channel_by_sid(command.sid, command, sender)
        if command.subscriptionid in self._cancelling:
            raise self._error(sender, f'subscription '
                              f'{command.subscriptionid} is already being '
                              'cancelled')
        self._advance_channel(channel, command, sender)
        self._cancelling.add(command.subscriptionid)

    def _on_event_add_response(self, command: EventAddResponse,
                               sender: Role) -> None:
        # Only reached when we send (a server); receiving is inlined in
        # process_command.
        if command._h[5] not in self.event_add_commands:
            raise self._error(sender, f'EventAddResponse for unknown '
                              f'subscriptionid {command._h[5]}')

    def _on_event_cancel_response(self, command: EventCancelResponse,
                                  sender: Role) -> EventAddResponse | None:
        subscriptionid = command.subscriptionid
        event_add = self.event_add_commands.get(subscriptionid)
        if subscriptionid in self._cancelling and event_add is not None:
            channel = self.channels_sid.get(event_add.sid)
            if channel is not None:
                self._advance_channel(channel, command, sender)
            self._drop_subscription(subscriptionid)
            return None
        if sender is self.our_role:
            raise LocalProtocolError(
                f'EventCancelResponse for subscription {subscriptionid}, '
                'which the client did not cancel')
        if event_add is None:
            # The acknowledgement of a subscription we already dropped
            # (libca ignores these too).
            logger.debug('ignoring cancel acknowledgement for unknown '
                         'subscriptionid %d', subscriptionid)
            return None
        # A live subscription that we did not cancel: an empty EVENT_ADD
        # reply is a real update with no elements (count 0, plain type).
        h = command._h
        return EventAddResponse(None, h[2], h[3], h[4], subscriptionid)
