"""What a server circuit keeps for one channel of its client."""
from __future__ import annotations

import collections
from typing import TYPE_CHECKING

from ..protocol._channel import ServerChannel
from ..protocol._commands_base import Message
from ..protocol._enums import AccessRights

if TYPE_CHECKING:  # pragma: no cover
    from ._channel_data import ChannelData
    from ._subscriptions import Subscription

__all__ = ('ChannelEntry',)

_READ_BIT = int(AccessRights.READ)
_WRITE_BIT = int(AccessRights.WRITE)


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

    def set_access(self, access: AccessRights) -> None:
        """Record new rights (the caller tells the client)."""
        self.access = access
        self.readable = bool(access & AccessRights.READ)
        self.writable = bool(access & AccessRights.WRITE)

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
