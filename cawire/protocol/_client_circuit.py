"""What a client keeps about one circuit beside its ``VirtualCircuit``.

Both clients (threading and asyncio) follow these rules, so they live here
once:

* :func:`circuit_handshake`: what opens a circuit (VERSION with the
  circuit's priority, CLIENT_NAME, HOST_NAME);
* :class:`ClientChannelBook`: the channels a client has on the circuit,
  by cid: CREATE_CHAN requests wait for the handshake, a channel asked for
  again while its clear is still unacknowledged (``go_idle`` then use) is
  created again once the server confirms the clear, and the lost or
  cleared ones leave the book;
* :data:`CLIENT_ROUTES`: which handler acts on each command the server
  sends (the shell binds the names to its methods);
* :func:`circuit_failed` / :func:`lost_circuit_search`: how the names of
  a dead circuit's channels are searched for again (libca's disconnect
  governor);
* :func:`report_server_error`: how an ERROR that answers none of our
  reads or writes is reported.

The owners booked (the shell's PV objects) need a ``cid`` and a ``name``;
nothing here does I/O or reads a clock (times are passed in).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from . import _commands as ca
from ._channel import ClientChannel
from ._outstanding import refused_request

if TYPE_CHECKING:  # pragma: no cover
    from ._circuit import VirtualCircuit
    from ._commands_base import Message

__all__ = ('ClientChannelBook', 'CLIENT_ROUTES', 'circuit_handshake',
           'circuit_failed', 'lost_circuit_search', 'LostCircuitSearch',
           'report_server_error', 'FLAPPING_LIFETIME')

#: A circuit that lived less than this (seconds) is searched for again only
#: after the disconnect governor's pause (refused, or closed at once).
FLAPPING_LIFETIME = 1.0

#: Command class -> name of the client circuit's handler method.  Replies
#: that complete one of our requests never get here (their request takes
#: them); a READ/WRITE reply that does went to no request of ours.
CLIENT_ROUTES: dict[type, str] = {
    ca.VersionResponse: '_on_nothing',
    ca.AccessRightsResponse: '_on_access_rights',
    ca.CreateChanResponse: '_on_create_chan',
    ca.CreateChFailResponse: '_on_channel_lost',
    ca.ServerDisconnResponse: '_on_channel_lost',
    ca.ReadNotifyResponse: '_on_late_reply',
    ca.ReadResponse: '_on_late_reply',
    ca.WriteNotifyResponse: '_on_late_reply',
    ca.EventAddResponse: '_on_event',
    ca.EventCancelResponse: '_on_nothing',
    ca.ClearChannelResponse: '_on_clear_channel',
    ca.ErrorResponse: '_on_error',
    ca.EchoResponse: '_on_echo',
    ca.ReadSyncResponse: '_on_nothing',
    ca.NotFoundResponse: '_on_nothing',
}


def circuit_handshake(circuit: 'VirtualCircuit', client_name: str,
                      host_name: str) -> list['Message']:
    """The commands that open a client circuit, in order."""
    return [ca.VersionRequest(priority=circuit.priority,
                              version=circuit.protocol_version),
            ca.ClientNameRequest(client_name),
            ca.HostNameRequest(host_name)]


def circuit_failed(close_reason: str | None, created_at: float,
                   closed_at: float | None) -> bool:
    """Whether a circuit ended in a way that warrants searching again only
    after a pause (libca's disconnect governor): a protocol error from the
    server, or a circuit that did not last :data:`FLAPPING_LIFETIME`
    (refused, or closed right away), so that a broken server is not
    reconnected to in a tight loop."""
    if closed_at is None:
        return False
    return ('protocol error' in (close_reason or '')
            or closed_at - created_at < FLAPPING_LIFETIME)


class LostCircuitSearch(NamedTuple):
    """How the channels of a dead circuit are searched for again."""
    #: Wait in the disconnect governor.
    governed: bool
    #: ... for a beacon anomaly of the circuit's server, or at most
    #: 10 s after the loss (``failed``: the governor's next tick).
    released_by_anomaly: bool
    #: The circuit failed (:func:`circuit_failed`).
    failed: bool


def lost_circuit_search(failed: bool) -> LostCircuitSearch:
    """The search of a dead circuit's channels (``failed``: from
    :func:`circuit_failed`).

    They wait in the disconnect governor (libca) and are searched for at
    once when the server's beacon anomaly says it is back, so a rebooting
    IOC's names are not searched for while it is down (the shell passes
    the circuit's address as the ``server`` of
    ``SearchSchedule.disconnected``).  Should no anomaly come, the names
    of a server that simply went away are searched for 10 s after the
    loss; those of a server that failed (a protocol error, or closed right
    after we connected) at the governor's next tick, as libca: no
    reconnect storm, since only that server's restart releases them
    earlier.
    """
    return LostCircuitSearch(governed=True, released_by_anomaly=True,
                             failed=failed)


def report_server_error(log: Any, command: ca.ErrorResponse,
                        subscriptions: Mapping[int, Any]) -> None:
    """Log an ERROR that completed none of our requests: a refused
    EVENT_ADD of a live subscription (in ``subscriptions``, by id) is an
    error naming its PV; anything else a warning naming the command."""
    refused = refused_request(command)
    if refused.command == ca.EventAddRequest.ID:
        sub = (None if refused.subscriptionid is None
               else subscriptions.get(refused.subscriptionid))
        if sub is not None:
            log.error('Server refused subscription to %r: %s (%s)',
                      sub.pv.name, command.error_message,
                      command.status.name)
            return
    log.warning('Server reported an error: %s (%s) for command %s',
                command.error_message, command.status.name, refused.command)


class ClientChannelBook:
    """The channels a client keeps on one circuit.

    Parameters
    ----------
    circuit : VirtualCircuit
        The core circuit the channels live on.
    string_encoding : str
        For the channels' string values.

    Attributes
    ----------
    owners : dict
        cid -> owner (the shell's PV) of every channel booked here.
    channels : dict
        cid -> ClientChannel: the circuit's own table (``circuit.channels``),
        not a copy (a second table was ~30 bytes per channel).
    handshake_sent : bool
        Whether :meth:`handshake` was taken (creations go out directly).
    """

    __slots__ = ('circuit', 'string_encoding', 'owners',
                 'handshake_sent', '_to_create', '_recreate_after_clear')

    def __init__(self, circuit: 'VirtualCircuit',
                 string_encoding: str) -> None:
        self.circuit = circuit
        self.string_encoding = string_encoding
        self.owners: dict[int, Any] = {}
        self.handshake_sent = False
        self._to_create: list[ClientChannel] = []
        self._recreate_after_clear: set[int] = set()

    def add(self, owners: Iterable[Any]) -> list[ca.CreateChanRequest]:
        """Book a channel for each of ``owners``; return the CREATE_CHAN
        requests to send now (none before the handshake, which carries
        them)."""
        new = self._book(owners)
        if not self.handshake_sent:
            self._to_create.extend(new)
            return []
        return [channel.create() for channel in new]

    def add_packed(self, owners: Iterable[Any]) -> bytes:
        """:meth:`add` in the fast form: the CREATE_CHANs to send now as
        wire bytes (:meth:`VirtualCircuit.create_channels`; b'' if none),
        for a client creating thousands of channels."""
        new = self._book(owners)
        if not self.handshake_sent:
            self._to_create.extend(new)
            return b''
        return self.circuit.create_channels(new) if new else b''

    def _book(self, owners: Iterable[Any]) -> list[ClientChannel]:
        circuit = self.circuit
        booked = self.owners
        encoding = self.string_encoding
        new = []
        for owner in owners:
            cid = owner.cid
            booked[cid] = owner
            if cid in circuit.channels:
                # Still being cleared (go_idle): created again once the
                # server has confirmed the clear.
                self._recreate_after_clear.add(cid)
                continue
            # (Registers itself in circuit.channels.)
            new.append(ClientChannel(owner.name, circuit, cid=cid,
                                     string_encoding=encoding))
        return new

    @property
    def channels(self) -> dict[int, ClientChannel]:
        """cid -> ClientChannel (the circuit's table: a client circuit
        holds only ClientChannels)."""
        return self.circuit.channels  # type: ignore[return-value]

    def handshake(self, client_name: str, host_name: str) -> list['Message']:
        """The circuit's opening commands followed by the creations that
        waited for them."""
        commands = circuit_handshake(self.circuit, client_name, host_name)
        commands.extend(channel.create() for channel in self._to_create)
        self._to_create.clear()
        self.handshake_sent = True
        return commands

    def open(self, client_name: str, host_name: str) -> list['Message']:
        """:meth:`handshake` in the fast form, first part: the opening
        commands only.  Send them, then :meth:`take_waiting`."""
        self.handshake_sent = True
        return circuit_handshake(self.circuit, client_name, host_name)

    def take_waiting(self) -> bytes:
        """The CREATE_CHANs of the channels booked before the handshake, as
        wire bytes (b'' if none), once the opening commands are sent."""
        waiting = self._to_create
        if not waiting:
            return b''
        data = self.circuit.create_channels(waiting)
        self._to_create = []
        return data

    def created(self, cid: int) -> tuple[Any, ClientChannel] | None:
        """(owner, channel) that a CREATE_CHAN reply for ``cid`` connects,
        or None if neither is booked."""
        owner = self.owners.get(cid)
        channel = self.channels.get(cid)
        if owner is None or channel is None:
            return None
        return owner, channel

    def lost(self, cid: int) -> Any:
        """The server dropped or refused ``cid`` (SERVER_DISCONN,
        CREATE_CH_FAIL): unbook it; return its owner (None if unknown).
        (The circuit already forgot the channel.)"""
        return self.owners.pop(cid, None)

    def cleared(self, cid: int, is_idle: Callable[[Any], bool]) -> Any:
        """The server confirmed the clear of ``cid``.

        An owner still idle leaves the book; one used again meanwhile needs
        its channel created again: it is returned (pass it to :meth:`add`).
        """
        recreate = cid in self._recreate_after_clear
        self._recreate_after_clear.discard(cid)
        owner = self.owners.get(cid)
        if owner is None:
            return None
        if is_idle(owner):
            del self.owners[cid]
            return None
        return owner if recreate else None

    def clear(self) -> None:
        """Forget everything (the circuit died)."""
        self.owners.clear()
        self.circuit.channels.clear()
        self._to_create.clear()
        self._recreate_after_clear.clear()
