"""The UDP side of Channel Access, sans I/O: Broadcaster.

One Broadcaster per client context (or server) turns commands into datagrams
and datagrams into commands, and keeps the little state UDP has: which
searches are unanswered, whether the repeater confirmed our registration.
The retry timing of searches is ``_search_schedule``'s job and beacon
anomaly detection ``_beacon_history``'s; this module only packs and parses.

Search datagrams are built exactly as libca builds them (ca-protocol.md 6.1):
a ``VERSION`` with data_type 1 ("sequence number valid"), the minor version
and the datagram sequence number in parameter1, then as many SEARCH messages
as fit in 1024 bytes.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from ._commands_base import Message
from ._commands import (
    ErrorResponse, NotFoundResponse, RepeaterConfirmResponse,
    RepeaterRegisterRequest, RsrvIsUpResponse, SearchRequest, SearchResponse,
    VersionRequest, VersionResponse)
from ._constants import (DEFAULT_PROTOCOL_VERSION, DONT_REPLY, HEADER_SIZE,
                         MAX_UDP_SEND)
from ._exceptions import (CaprotoValueError, LocalProtocolError,
                          RemoteProtocolError)
from ._framing import read_datagram
from ._ids import IdAllocator
from ._search_messages import (SearchResult, pack_search_datagram,
                               parse_search_replies, search_message_size)
from ._state import CLIENT, REQUEST, RESPONSE, SERVER, Role

__all__ = ('Broadcaster', 'search_request_size')

logger = logging.getLogger('cawire.bcast')
search_logger = logging.getLogger('cawire.bcast.search')

#: Largest UDP payload over IPv4.
_MAX_DATAGRAM = 65507


#: Bytes a SEARCH message for a name takes (header, name, NUL, pad); the
#: same rule the search schedule uses to fill datagrams.
search_request_size = search_message_size


# Commands each role may put in a datagram.
_SENDABLE = {
    CLIENT: (VersionRequest, SearchRequest, RepeaterRegisterRequest),
    SERVER: (VersionResponse, SearchResponse, NotFoundResponse,
             RsrvIsUpResponse, RepeaterConfirmResponse, ErrorResponse),
}


class Broadcaster:
    """Protocol state of one UDP endpoint.

    Parameters
    ----------
    our_role : Role
        CLIENT (searches, receives replies and beacons) or SERVER.
    protocol_version : int
        Minor version put in VERSION and SEARCH messages.
    cid_in_use : callable, optional
        ``cid_in_use(cid) -> bool`` for :meth:`new_search_id` to skip (a
        client context passes its channel table's ``__contains__``).
    first_search_id : int
        The first id :meth:`new_search_id` tries (a client may start at a
        random one, as libca's ids differ between runs).

    Attributes
    ----------
    unanswered_searches : dict
        cid -> name of searches sent and not answered yet (client).
    registered : bool
        Whether a repeater confirmed our registration.
    """

    def __init__(self, our_role: Role,
                 protocol_version: int = DEFAULT_PROTOCOL_VERSION, *,
                 cid_in_use: Callable[[int], bool] | None = None,
                 first_search_id: int = 1) -> None:
        if our_role not in (CLIENT, SERVER):
            raise CaprotoValueError(f'our_role must be CLIENT or SERVER, '
                                    f'not {our_role!r}')
        self.our_role = our_role
        self.their_role = our_role.peer
        self.protocol_version = protocol_version
        self.unanswered_searches: dict[int, str] = {}
        self.registered = False
        self.repeater_address: str | None = None

        def in_use(cid: int) -> bool:
            return (cid in self.unanswered_searches
                    or (cid_in_use is not None and cid_in_use(cid)))
        self._search_ids = IdAllocator(in_use, first_search_id)
        self._sendable = _SENDABLE[our_role]

    def __repr__(self) -> str:
        return (f'<Broadcaster our_role={self.our_role!r} '
                f'unanswered={len(self.unanswered_searches)} '
                f'registered={self.registered}>')

    # ------------------------------------------------------------------

    def new_search_id(self) -> int:
        """A cid for a new search (u32, wraps, skips ids in use)."""
        return self._search_ids()

    def new_search_ids(self, count: int) -> list[int]:
        """``count`` cids for new searches, as ``count`` calls of
        :meth:`new_search_id` give them."""
        return self._search_ids.take(count)

    def register(self, ip: str = '0.0.0.0') -> RepeaterRegisterRequest:
        """The REPEATER_REGISTER message (libca sends an empty datagram
        instead; the repeater accepts both)."""
        return RepeaterRegisterRequest(ip)

    def send(self, *commands: Message) -> bytes:
        """Validate ``commands`` as ours and return one datagram.

        Raises
        ------
        LocalProtocolError
            A command our role does not send over UDP.
        CaprotoValueError
            The datagram would exceed the UDP maximum.
        """
        sendable = self._sendable
        for command in commands:
            if not isinstance(command, sendable):
                raise LocalProtocolError(
                    f'a {self.our_role.name.lower()} does not send '
                    f'{type(command).__name__} over UDP')
        datagram = b''.join(bytes(command) for command in commands)
        if len(datagram) > _MAX_DATAGRAM:
            raise CaprotoValueError(f'datagram of {len(datagram)} bytes is '
                                    'larger than UDP allows')
        for command in commands:
            if type(command) is SearchRequest:
                self.unanswered_searches[command.cid] = command.name
        if search_logger.isEnabledFor(logging.DEBUG):
            search_logger.debug('sending %d command(s), %d bytes',
                                len(commands), len(datagram))
        return datagram

    def recv(self, data: bytes | bytearray | memoryview,
             address: tuple[str, int]) -> list:
        """Parse one datagram from ``address``.

        Raises
        ------
        RemoteProtocolError
            Malformed datagram (drop it; nothing else is affected).
        """
        return read_datagram(data, address, self.our_role)

    def process_commands(self, commands: Iterable) -> None:
        """Validate received commands and update state.

        Raises
        ------
        RemoteProtocolError
            A command the peer's role never sends over UDP.
        """
        expected = RESPONSE if self.our_role is CLIENT else REQUEST
        for command in commands:
            cls = type(command)
            if cls.DIRECTION is not expected and cls is not RsrvIsUpResponse:
                raise RemoteProtocolError(
                    f'a {self.our_role.name.lower()} does not accept '
                    f'{cls.__name__} over UDP')
            if cls is SearchResponse:
                self.unanswered_searches.pop(command.cid, None)
            elif cls is RepeaterConfirmResponse:
                self.registered = True
                self.repeater_address = command.repeater_address

    def search_results(self, commands: Iterable,
                       source_address: tuple[str, int] | None = None
                       ) -> list[SearchResult]:
        """The search replies in one received datagram, with the sequence
        number of the VERSION that leads them and the server's address.

        Parameters
        ----------
        commands : iterable
            The commands of one datagram (in order).
        source_address : (str, int), optional
            Where the datagram came from (default: each command's
            ``sender_address``).
        """
        return parse_search_replies(commands, source_address)

    def search_datagrams(self, items: Iterable, first_sequence: int,
                         *, reply: int = DONT_REPLY,
                         max_size: int = MAX_UDP_SEND) -> list[bytes]:
        """Pack searches into as few datagrams as possible.

        Each datagram is at most ``max_size`` (1024) bytes and starts with
        ``VersionRequest`` (data_type 1 = sequence number valid, our minor
        version, parameter1 = sequence number), exactly as libca.  Names
        are placed first-fit, so the order inside a datagram follows
        ``items``.

        Parameters
        ----------
        items : iterable of (cid, name)
        first_sequence : int
            Sequence number of the first datagram; each further one gets
            the next (u32, wraps).
        reply : int
            DONT_REPLY (libca) or DO_REPLY.

        Returns
        -------
        list of bytes

        Raises
        ------
        CaprotoValueError
            A name that cannot fit in one datagram (or cannot be encoded).
        """
        capacity = max_size - HEADER_SIZE
        bins: list[list] = []
        free: list[int] = []
        for cid, name in items:
            size = search_message_size(name)
            if size > capacity:
                raise CaprotoValueError(
                    f'the search for {name!r} takes {size} bytes; at most '
                    f'{capacity} fit in a {max_size}-byte datagram')
            for index, room in enumerate(free):
                if size <= room:
                    bins[index].append((cid, name))
                    free[index] -= size
                    break
            else:
                bins.append([(cid, name)])
                free.append(capacity - size)
        datagrams = []
        for offset, searches in enumerate(bins):
            datagram = pack_search_datagram(
                first_sequence + offset, searches,
                version=self.protocol_version, reply=reply, max_size=max_size)
            for cid, name in searches:
                self.unanswered_searches[cid] = name
            datagrams.append(datagram)
        return datagrams

    def disconnect(self) -> None:
        """Forget the repeater registration (e.g. the socket was reopened)."""
        self.registered = False
