"""The replies that connect a client's channels, in fast form.

A server answers each CREATE_CHAN with ACCESS_RIGHTS then CREATE_CHAN (its
``sid``, native type and count): two 16-byte headers with no payload.  A
client connecting thousands of channels receives them back to back, tens of
thousands per second, and building a command object per reply, then
routing it through ``VirtualCircuit.process_command`` and the shell's
handler table, costs more than the rest of its connect.

Here a run of such replies stays one :class:`ChannelReplies` (their
headers' bytes, in order): :func:`parse_client_stream` is
``parse_stream(buf, CLIENT)`` that groups each run into one, and
:func:`process_channel_replies` (bound as
``VirtualCircuit.process_channel_replies``) applies a run with the very
rules ``process_command`` applies to each reply (the same circuit
functions), returning what the shell acts on per reply: the cid, and the access
rights of an ACCESS_RIGHTS (None for a CREATE_CHAN).
Only header-only replies are grouped; anything else (a payload, an
extended header) is parsed as usual.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ._commands import COMMANDS, AccessRightsResponse, CreateChanResponse
from ._commands_channel import access_rights_of
from ._enums import AccessRights
from ._exceptions import RemoteProtocolError
from ._framing import NO_PAYLOAD, parse_stream_grouped
from ._headers import HEADER_SIZE, HEADER_STRUCT
from ._state import CLIENT

if TYPE_CHECKING:  # pragma: no cover
    from ._circuit import VirtualCircuit
    from ._commands_base import Message

__all__ = ('ChannelReplies', 'parse_client_stream', 'process_channel_replies',
           'CHANNEL_REPLY_IDS')

_ACCESS_RIGHTS = AccessRightsResponse.ID
_CREATE_CHAN = CreateChanResponse.ID
#: Commands grouped when they come without a payload.
CHANNEL_REPLY_IDS = frozenset((_ACCESS_RIGHTS, _CREATE_CHAN))
_unpack_header = HEADER_STRUCT.unpack_from
_iter_headers = HEADER_STRUCT.iter_unpack


class ChannelReplies:
    """A run of header-only ACCESS_RIGHTS / CREATE_CHAN replies, in order.

    Attributes
    ----------
    headers : bytes
        The run's 16-byte headers, back to back (kept as bytes: a tuple
        per reply, for tens of thousands of replies held between parsing
        and applying, would wake the garbage collector).
    """

    __slots__ = ('headers',)

    def __init__(self, headers: bytes) -> None:
        self.headers = headers

    def __repr__(self) -> str:
        return f'<ChannelReplies of {self.count} replies>'

    @property
    def count(self) -> int:
        """Replies in the run."""
        return len(self.headers) // HEADER_SIZE

    @property
    def fields(self) -> list[tuple]:
        """Each reply's header fields ``(command, payload_size, data_type,
        data_count, parameter1, parameter2)``, as ``parse_stream`` gives
        them to ``from_wire``."""
        return list(_iter_headers(self.headers))

    def command(self, index: int) -> Message:
        """Reply ``index`` as the command object ``parse_stream`` builds."""
        fields = _unpack_header(self.headers, index * HEADER_SIZE)
        return COMMANDS[(CLIENT, fields[0])].from_wire(fields, NO_PAYLOAD)

    def commands(self) -> list[Message]:
        """Every reply as a command object (the general form)."""
        return [self.command(index) for index in range(self.count)]


def parse_client_stream(buf: Any, *, max_payload: int | None = None
                        ) -> tuple[list, int, int]:
    """``parse_stream(buf, CLIENT, max_payload=...)``, except that each run
    of header-only ACCESS_RIGHTS / CREATE_CHAN replies is one
    :class:`ChannelReplies` in the list (in its place); the same bytes are
    consumed and the same errors raised."""
    return parse_stream_grouped(buf, CLIENT, CHANNEL_REPLY_IDS,
                                ChannelReplies, max_payload=max_payload)


def process_channel_replies(
        circuit: VirtualCircuit, replies: ChannelReplies, start: int = 0
) -> tuple[list[int], list[AccessRights | None], RemoteProtocolError | None]:
    """Apply replies ``start``, ``start + 1``... of ``replies`` to
    ``circuit``, as ``circuit.process_command`` would apply each in turn.

    Returns
    -------
    cids : list of int
        The cid of each reply applied, in order.
    rights : list
        Beside each cid: the AccessRights of an ACCESS_RIGHTS, None for a
        CREATE_CHAN.  (Two flat lists, not a pair per reply: a burst's
        pairs would count towards the garbage collector's next pass.)
    error : RemoteProtocolError or None
        Why the next reply (``replies.command(start + len(cids))``) was
        refused, exactly as ``process_command`` raises it (nothing of it
        was applied); None if every reply was applied.  A refusal that
        carries a ``channel`` concerns that channel only: the caller may go
        on with the reply after it.
    """
    cids: list[int] = []
    rights_list: list[AccessRights | None] = []
    if circuit.our_role is not CLIENT and start < replies.count:
        # A server's circuit refuses replies: its own words for it.
        try:
            circuit.process_command(replies.command(start))
        except RemoteProtocolError as exc:
            return cids, rights_list, exc
        raise AssertionError('a server circuit accepted a reply')
    sender = circuit.their_role
    apply_rights: Callable = circuit._apply_access_rights
    apply_created: Callable = circuit._apply_create_chan
    add_cid = cids.append
    add_rights = rights_list.append
    # One header tuple at a time, each freed before the next is made.
    for fields in _iter_headers(
            memoryview(replies.headers)[start * HEADER_SIZE:]):
        try:
            if fields[0] == _ACCESS_RIGHTS:
                rights = access_rights_of(fields[5])
                apply_rights(fields[4], rights, sender)
                add_cid(fields[4])
                add_rights(rights)
            else:
                apply_created(fields, sender)
                add_cid(fields[4])
                add_rights(None)
        except RemoteProtocolError as exc:
            return cids, rights_list, exc
    return cids, rights_list, None
