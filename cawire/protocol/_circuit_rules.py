"""What each command does to a circuit: the per-command rules, sans I/O.

``VirtualCircuit`` (in ``_circuit``) routes every command it sends or
receives to one handler of :class:`CircuitCommandRules`, chosen by command
class from a table built once per circuit (``_handlers``).  A handler checks
the command against the circuit's state and id tables, raising
LocalProtocolError or RemoteProtocolError (blame per ``sender``) *before*
changing anything, then updates channel states, outstanding ioids and
subscriptions.  Keeping the rules apart from the circuit object lets a
reader find "what happens when CLEAR_CHANNEL arrives" in one place.
"""
from __future__ import annotations

import logging

from ._channel import NO_IDS, ClientChannel, ServerChannel
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
from ._constants import LAST_BUFFER_TYPE
from ._exceptions import LocalProtocolError, RemoteProtocolError
from ._state import CLIENT, CONNECTED, SERVER, Role

__all__ = ('CircuitCommandRules',)

logger = logging.getLogger('cawire.circ')

# Embedded command ids in ERROR responses that name an ioid / subscription.
_IOID_COMMANDS = frozenset((ReadNotifyRequest.ID, ReadRequest.ID,
                            WriteNotifyRequest.ID))
_EVENT_CANCEL_ID = EventCancelRequest.ID
# Native channel types are the plain ones (DBF -> DBR 0..6).
_MAX_NATIVE_TYPE = 6


class CircuitCommandRules:
    """The per-command handlers of :class:`~cawire.protocol._circuit.VirtualCircuit`.

    A mixin: it works on the circuit's attributes (``states``,
    ``channels``, ``channels_sid``, ``event_add_commands``, ``_ioids``,
    ``_cancelling`` ...) and is not meant to be used on its own.
    """

    __slots__ = ()

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
        try:
            channel.states.process_command_type(sender, self.our_role,
                                                type(command))
        except (LocalProtocolError, RemoteProtocolError) as exc:
            exc.args = (f'{exc.args[0]} (channel {channel.name!r}, '
                        f'cid {channel.cid})',)
            exc.channel = channel
            raise

    def _require_requests_allowed(self, command, sender: Role) -> None:
        if not self.states.client_may_send_requests:
            raise self._error(
                sender, f'{type(command).__name__} before the client sent '
                f'its VERSION (circuit {self.states!r})')

    # ------------------------------------------------------------------
    # Per-command handlers.  ``sender`` is the role that sent the command.

    def _handlers(self, *, sending: bool) -> dict:
        # Which commands this circuit sends and receives, by role.
        client_sends = sending == (self.our_role is CLIENT)
        common_circuit = {
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
        requests = {
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
        responses = {
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
        table = {}
        for cls, handler in common_circuit.items():
            if (cls.DIRECTION.name == 'REQUEST') == client_sends:
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
        try:
            original = command.original_request
            command_id, parameter2 = original.command, original.parameter2
        except Exception:  # noqa: BLE001 - a mangled embedded header
            return
        if command_id in _IOID_COMMANDS:
            self._complete_ioid(parameter2)
        elif command_id == _EVENT_CANCEL_ID:
            self._drop_subscription(parameter2)

    def _complete_ioid(self, ioid: int):
        channel = self._ioids.get(ioid)
        if channel is None:
            return None
        count = self._ioid_counts.get(ioid, 1)
        if count > 1:
            self._ioid_counts[ioid] = count - 1
        else:
            del self._ioids[ioid]
            self._ioid_counts.pop(ioid, None)
            if ioid in channel._ioids:
                channel._ioids.discard(ioid)
        return channel

    def _drop_subscription(self, subscriptionid: int) -> None:
        event_add = self.event_add_commands.pop(subscriptionid, None)
        self._cancelling.discard(subscriptionid)
        if event_add is not None:
            channel = self.channels_sid.get(event_add.sid)
            if channel is not None:
                if subscriptionid in channel._subscriptionids:
                    channel._subscriptionids.discard(subscriptionid)

    # -- channel lifecycle -------------------------------------------------

    def _on_create_chan_request(self, command: CreateChanRequest,
                                sender: Role) -> None:
        self._require_requests_allowed(command, sender)
        cid = command.cid
        channel = self.channels.get(cid)
        if channel is None:
            if sender is self.our_role:
                channel = ClientChannel(command.name, self, cid)
            else:
                channel = ServerChannel(command.name, self, cid)
        self._advance_channel(channel, command, sender)

    def _on_access_rights(self, command: AccessRightsResponse,
                          sender: Role) -> None:
        channel = self._channel_by_cid(command.cid, command, sender)
        self._advance_channel(channel, command, sender)
        channel.access_rights = command.access_rights

    def _on_create_chan_response(self, command: CreateChanResponse,
                                 sender: Role) -> None:
        channel = self._channel_by_cid(command.cid, command, sender)
        sid = command.sid
        other = self.channels_sid.get(sid)
        if other is not None and other is not channel:
            raise self._error(sender, f'CreateChanResponse gives sid {sid} '
                              f'to cid {command.cid}, but {other!r} has it')
        data_type = command._h[2]
        if data_type > _MAX_NATIVE_TYPE:
            raise self._error(sender, f'CreateChanResponse with native type '
                              f'{data_type} (a native type is 0..6)')
        self._advance_channel(channel, command, sender)
        channel.sid = sid
        channel.native_data_type = command.data_type
        channel.native_data_count = command.data_count
        self.channels_sid[sid] = channel

    def _on_channel_gone(self, command, sender: Role) -> None:
        # CREATE_CH_FAIL or SERVER_DISCONN: the channel leaves this circuit
        # (a client searches for it again).
        channel = self._channel_by_cid(command.cid, command, sender)
        self._advance_channel(channel, command, sender)
        self._forget_channel(channel)

    def _on_clear_channel_request(self, command: ClearChannelRequest,
                                  sender: Role) -> None:
        channel = self._channel_by_sid(command.sid, command, sender)
        if channel.cid != command.cid:
            raise self._error(sender, f'ClearChannelRequest for sid '
                              f'{command.sid} names cid {command.cid}, but '
                              f'that channel is cid {channel.cid}')
        self._advance_channel(channel, command, sender)

    def _on_clear_channel_response(self, command: ClearChannelResponse,
                                   sender: Role) -> None:
        channel = self.channels.get(command.cid)
        if channel is None and sender is not self.our_role:
            # A reply about a channel already gone (e.g. SERVER_DISCONN
            # crossed our CLEAR_CHANNEL): nothing to settle.
            logger.debug('ignoring %r for unknown cid', command)
            return
        if channel is None:
            raise self._error(sender, f'ClearChannelResponse names unknown '
                              f'cid {command.cid}')
        self._advance_channel(channel, command, sender)
        self._forget_channel(channel)

    # -- reads and writes ---------------------------------------------------

    def _on_io_request(self, command, sender: Role) -> None:
        channel = self._channel_by_sid(command.sid, command, sender)
        if command._h[2] > LAST_BUFFER_TYPE:
            raise self._error(sender, f'{type(command).__name__} asks for '
                              f'DBR type {command._h[2]} (max '
                              f'{LAST_BUFFER_TYPE})')
        ioid = command.ioid
        if ioid in self._ioids and self.our_role is CLIENT:
            raise LocalProtocolError(f'ioid {ioid} is already in use by a '
                                     'request waiting for its reply')
        self._advance_channel(channel, command, sender)
        if ioid in self._ioids:
            self._ioid_counts[ioid] = self._ioid_counts.get(ioid, 1) + 1
        self._ioids[ioid] = channel
        if channel._ioids is NO_IDS:
            channel._ioids = set()
        channel._ioids.add(ioid)

    def _on_write_request(self, command: WriteRequest, sender: Role) -> None:
        channel = self._channel_by_sid(command.sid, command, sender)
        self._advance_channel(channel, command, sender)

    def _on_io_response(self, command, sender: Role) -> None:
        ioid = command.ioid
        channel = self._ioids.get(ioid)
        if channel is None:
            raise self._error(sender, f'{type(command).__name__} for '
                              f'unknown ioid {ioid}')
        self._advance_channel(channel, command, sender)
        self._complete_ioid(ioid)

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
        if channel._subscriptionids is NO_IDS:
            channel._subscriptionids = set()
        channel._subscriptionids.add(subscriptionid)

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
                                  sender: Role):
        subscriptionid = command.subscriptionid
        event_add = self.event_add_commands.get(subscriptionid)
        if subscriptionid in self._cancelling:
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
