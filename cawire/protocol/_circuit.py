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

What each command does to that state (the per-command checks and
bookkeeping) lives in ``_circuit_rules``; this module holds the circuit
object itself: ids, tables, send/receive and disconnection.
"""
from __future__ import annotations

from ._channel import NO_IDS, ClientChannel, ServerChannel, _BaseChannel
from ._circuit_rules import CircuitCommandRules
from ._commands import EventAddRequest, EventAddResponse
from ._commands_base import Message
from ._constants import DEFAULT_PROTOCOL_VERSION
from ._exceptions import (CaprotoValueError, LocalProtocolError,
                          RemoteProtocolError)
from ._framing import parse_stream
from ._ids import IdAllocator
from ._state import CLIENT, CONNECTED, SERVER, CircuitState, Role

__all__ = ('VirtualCircuit', 'ClientChannel', 'ServerChannel',
           'IdAllocator')


class VirtualCircuit(CircuitCommandRules):
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
    id_allocator : IdAllocator, optional
        Shared ioid/subscriptionid allocator (default: one per circuit).
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
                 id_allocator: IdAllocator | None = None,
                 max_payload: int | None = None):
        if our_role not in (CLIENT, SERVER):
            raise CaprotoValueError(f'our_role must be CLIENT or SERVER, '
                                    f'not {our_role!r}')
        if our_role is CLIENT and priority is None:
            raise CaprotoValueError('a client circuit needs a priority')
        self.our_role = our_role
        self.their_role = our_role.peer
        self.address = tuple(address) if address is not None else None
        self.priority = priority
        self.protocol_version = protocol_version
        self.max_payload = max_payload
        self.states = CircuitState()
        self.channels: dict[int, _BaseChannel] = {}
        self.channels_sid: dict[int, _BaseChannel] = {}
        self.event_add_commands: dict[int, EventAddRequest] = {}
        # Subscriptions whose EVENT_CANCEL went out (client) / came in
        # (server) and await the acknowledgement.
        self._cancelling: set[int] = set()
        # ioid -> channel of requests waiting for a reply.  A server echoes
        # ioids blindly, so it counts duplicates instead of rejecting them.
        self._ioids: dict[int, _BaseChannel] = {}
        self._ioid_counts: dict[int, int] = {}
        self.client_name: str | None = None
        self.host_name: str | None = None
        # Received bytes not yet parsed, and how many the next message needs.
        self._recv_pending: list[bytes] = []
        self._recv_pending_bytes = 0
        self._recv_needed = 0
        if id_allocator is None:
            id_allocator = IdAllocator(self._id_in_use)
        self._id_allocator = id_allocator
        if our_role is CLIENT:
            self._channel_ids = IdAllocator(self.channels.__contains__, 0)
            self._hot_update = EventAddResponse
        else:
            self._channel_ids = IdAllocator(self.channels_sid.__contains__,
                                            0)
            self._hot_update = None
        self._send_handlers = self._handlers(sending=True)
        self._recv_handlers = self._handlers(sending=False)

    # ------------------------------------------------------------------
    # Public API

    def __repr__(self):
        return (f'<VirtualCircuit address={self.address!r} '
                f'priority={self.priority} our_role={self.our_role!r} '
                f'states={self.states[CLIENT]!r}/{self.states[SERVER]!r} '
                f'channels={len(self.channels)}>')

    @property
    def host(self) -> str:
        """The peer's host (first item of ``address``)."""
        return self.address[0]

    @property
    def port(self) -> int:
        """The peer's port (second item of ``address``)."""
        return self.address[1]

    @property
    def key(self):
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
        """A free subscriptionid (shared id space with ioids)."""
        return self._id_allocator()

    def send(self, *commands) -> list:
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
        buffers = []
        handlers = self._send_handlers
        for command in commands:
            handler = handlers.get(type(command))
            if handler is None:
                raise LocalProtocolError(
                    f'a {self.our_role.name.lower()} cannot send '
                    f'{type(command).__name__} on a circuit')
            handler(command, self.our_role)
            buffers.extend(command.iter_buffers())
        return buffers

    def recv(self, *buffers) -> tuple[list, int]:
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

    def disconnect(self) -> None:
        """The connection is gone: every channel on it is DISCONNECTED
        (CLOSED if it was being cleared) and every outstanding request and
        subscription is dropped.  ``channels`` keeps the channels so the
        caller can see which ones were affected."""
        self.states.disconnect()
        for channel in self.channels.values():
            channel.states.circuit_lost()
            channel._ioids = channel._subscriptionids = NO_IDS
        self._ioids.clear()
        self._ioid_counts.clear()
        self.event_add_commands.clear()
        self._cancelling.clear()
        self._recv_pending = []
        self._recv_pending_bytes = self._recv_needed = 0

    # ------------------------------------------------------------------
    # Bookkeeping helpers

    def _id_in_use(self, candidate: int) -> bool:
        return (candidate in self._ioids
                or candidate in self.event_add_commands)

    def _register_channel(self, channel: _BaseChannel) -> None:
        if channel.cid in self.channels:
            raise LocalProtocolError(
                f'cid {channel.cid} is already used by '
                f'{self.channels[channel.cid]!r}')
        self.channels[channel.cid] = channel

    def _forget_channel(self, channel: _BaseChannel) -> None:
        if self.channels.get(channel.cid) is channel:
            del self.channels[channel.cid]
        if channel.sid is not None and \
                self.channels_sid.get(channel.sid) is channel:
            del self.channels_sid[channel.sid]
        for ioid in channel._ioids:
            self._ioids.pop(ioid, None)
            self._ioid_counts.pop(ioid, None)
        channel._ioids = NO_IDS
        for subscriptionid in channel._subscriptionids:
            self.event_add_commands.pop(subscriptionid, None)
            self._cancelling.discard(subscriptionid)
        channel._subscriptionids = NO_IDS
