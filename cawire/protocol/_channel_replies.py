"""The replies that connect a client's channels, in fast form.

A server answers each CREATE_CHAN with ACCESS_RIGHTS then CREATE_CHAN (its
``sid``, native type and count): two 16-byte headers with no payload.  A
client connecting thousands of channels receives them back to back, tens of
thousands per second, and building a command object per reply, then
routing it through ``VirtualCircuit.process_command`` and the shell's
handler table, costs more than the rest of its connect.

Here a run of such replies stays one :class:`ChannelReplies` (the header
fields of each, in order): :func:`parse_client_stream` is
``parse_stream(buf, CLIENT)`` that groups each run into one, and
:func:`process_channel_replies` (bound as
``VirtualCircuit.process_channel_replies``) applies a run with the very
rules ``process_command`` applies to each reply (the same circuit
functions), returning what the shell acts on per reply: ``(cid,
access_rights)`` for an ACCESS_RIGHTS, ``(cid, None)`` for a CREATE_CHAN.
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
from ._framing import parse_stream_grouped
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
_EMPTY = memoryview(b'')


class ChannelReplies:
    """A run of header-only ACCESS_RIGHTS / CREATE_CHAN replies, in order.

    Attributes
    ----------
    fields : list of tuple
        Each reply's header fields ``(command, payload_size, data_type,
        data_count, parameter1, parameter2)``, as ``parse_stream`` gives
        them to ``from_wire``.
    """

    __slots__ = ('fields',)

    def __init__(self, fields: list[tuple]) -> None:
        self.fields = fields

    def __repr__(self) -> str:
        return f'<ChannelReplies of {len(self.fields)} replies>'

    @property
    def count(self) -> int:
        """Replies in the run."""
        return len(self.fields)

    def command(self, index: int) -> Message:
        """Reply ``index`` as the command object ``parse_stream`` builds."""
        fields = self.fields[index]
        return COMMANDS[(CLIENT, fields[0])].from_wire(fields, _EMPTY)

    def commands(self) -> list[Message]:
        """Every reply as a command object (the general form)."""
        return [self.command(index) for index in range(len(self.fields))]


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
) -> tuple[list[tuple[int, AccessRights | None]], RemoteProtocolError | None]:
    """Apply ``replies.fields[start:]`` to ``circuit``, as
    ``circuit.process_command`` would apply each reply in turn.

    Returns
    -------
    applied : list
        For each reply applied, in order: ``(cid, access_rights)`` for an
        ACCESS_RIGHTS, ``(cid, None)`` for a CREATE_CHAN.
    error : RemoteProtocolError or None
        Why the next reply (``replies.command(start + len(applied))``) was
        refused, exactly as ``process_command`` raises it (nothing of it
        was applied); None if every reply was applied.  A refusal that
        carries a ``channel`` concerns that channel only: the caller may go
        on with the reply after it.
    """
    fields_list = replies.fields
    if circuit.our_role is not CLIENT and start < len(fields_list):
        # A server's circuit refuses replies: its own words for it.
        try:
            circuit.process_command(replies.command(start))
        except RemoteProtocolError as exc:
            return [], exc
        raise AssertionError('a server circuit accepted a reply')
    sender = circuit.their_role
    apply_rights: Callable = circuit._apply_access_rights
    apply_created: Callable = circuit._apply_create_chan
    applied: list[tuple[int, AccessRights | None]] = []
    append = applied.append
    for index in range(start, len(fields_list)):
        fields = fields_list[index]
        try:
            if fields[0] == _ACCESS_RIGHTS:
                rights = access_rights_of(fields[5])
                apply_rights(fields[4], rights, sender)
                append((fields[4], rights))
            else:
                apply_created(fields, sender)
                append((fields[4], None))
        except RemoteProtocolError as exc:
            return applied, exc
    return applied, None
