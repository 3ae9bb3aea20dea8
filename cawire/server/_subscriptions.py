"""Subscriptions and the per-circuit queue of monitor updates.

Monitor updates are the only traffic a server originates on its own, so they
are what a slow client can make pile up. The rule (RSRV's dbEvent, ca-protocol
7.6) is: while a circuit cannot take more data (the client stopped reading,
or it asked for EVENTS_OFF), each subscription keeps only its **latest**
update; older ones are replaced. The held updates therefore never exceed one
message per subscription, and everything else on the server keeps running.

:class:`Subscription` is deliberately tiny (``__slots__``, no per-instance
dict) because clients create and destroy them by the thousand.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from ._channel_data import ChannelData
    from ._channel_entry import ChannelEntry
    from ._circuit_output import CircuitOutput

__all__ = ('Subscription', 'UpdateQueue')


class Subscription:
    """One EVENT_ADD of one client on one channel.

    Attributes
    ----------
    circuit : CircuitOutput
        Delivers the updates (the outgoing side of the client's circuit:
        anything with ``post_update(subscription, channel)``).
    entry : ChannelEntry
        The circuit's channel (access rights, sid).
    subscriptionid : int
        The client's subscription id.
    data_type, data_count : int
        As requested (count 0 = the current length at every update).
    mask : int
        DBE bits selecting which changes are sent.
    header : tuple or None
        ``(payload size, count, header bytes)`` of the last update: the
        header only changes with the payload's size or count, so the next
        update of the same shape reuses it instead of packing it again.
    """

    __slots__ = ('circuit', 'entry', 'subscriptionid', 'data_type',
                 'data_count', 'mask', 'header')

    def __init__(self, circuit: 'CircuitOutput', entry: 'ChannelEntry',
                 subscriptionid: int, data_type: int, data_count: int,
                 mask: int):
        self.circuit = circuit
        self.entry = entry
        self.subscriptionid = subscriptionid
        self.data_type = data_type
        self.data_count = data_count
        self.mask = mask
        self.header: tuple[int, int, bytes] | None = None

    def post(self, channel: 'ChannelData') -> None:
        """Called by the channel when a change matches ``mask``."""
        self.circuit.post_update(self, channel)

    @property
    def sid(self) -> int:
        """The channel's server id."""
        return self.entry.sid

    def __repr__(self) -> str:
        return (f'<Subscription sid={self.sid} id={self.subscriptionid} '
                f'type={self.data_type} count={self.data_count} '
                f'mask={self.mask}>')


class UpdateQueue:
    """Updates waiting for a circuit that cannot send them now.

    Keyed by subscription: a newer update replaces the held one, keeping
    the subscription's place in the order in which subscriptions first
    fell behind. ``coalesced`` counts replaced (dropped) updates.
    """

    __slots__ = ('held', 'coalesced')

    def __init__(self) -> None:
        #: Subscription -> (header, payload). Read it (``subscription in
        #: queue.held``, ``if queue.held``) on hot paths, where the
        #: container methods below would cost a Python call each; change it
        #: only through the methods.
        self.held: dict[Subscription, tuple[bytes, bytes]] = {}
        self.coalesced = 0

    def hold(self, subscription: Subscription,
             message: tuple[bytes, bytes]) -> None:
        if subscription in self.held:
            self.coalesced += 1
        self.held[subscription] = message

    def discard(self, subscription: Subscription) -> None:
        """Forget a cancelled subscription's held update."""
        self.held.pop(subscription, None)

    def take_items(self) -> list[tuple[Subscription, tuple[bytes, bytes]]]:
        """Remove and return every held (subscription, update) pair."""
        if not self.held:
            return []
        items = list(self.held.items())
        self.held = {}
        return items

    def __contains__(self, subscription: Any) -> bool:
        return subscription in self.held

    def __len__(self) -> int:
        return len(self.held)

    def __bool__(self) -> bool:
        return bool(self.held)
