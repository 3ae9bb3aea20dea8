"""Channel lifecycle commands: create, access rights, failure, clear,
server-side disconnect.

A channel is claimed by name with CREATE_CHAN (client id ``cid``); the
server answers ACCESS_RIGHTS then CREATE_CHAN with its id ``sid`` and the
native type/count, or CREATE_CH_FAIL.  CLEAR_CHANNEL releases it (echoed),
SERVER_DISCONN tells the client the server dropped it.
"""
from __future__ import annotations

import struct

from ._commands_base import (Message, NamedMessage, channel_type_field,
                             encode_name, header_field, u32)
from ._enums import AccessRights
from ._exceptions import CaprotoValueError
from ._roles import REQUEST, RESPONSE

__all__ = (
    'CreateChanRequest', 'CreateChanResponse', 'CreateChFailResponse',
    'AccessRightsResponse', 'ClearChannelRequest', 'ClearChannelResponse',
    'ServerDisconnResponse',
)

_HEADER = struct.Struct('>HHHHII')
_PADS = tuple(b'\x00' * n for n in range(8))
_U32_MAX = 0xFFFFFFFF


class CreateChanRequest(NamedMessage):
    """CREATE_CHAN (18) from a client: claim channel ``name`` as ``cid``.

    ``version`` is the client's minor protocol version (parameter2).
    """

    __slots__ = ()
    ID = 18
    DIRECTION = REQUEST
    _REPR_FIELDS = ('name', 'cid', 'version')

    def __init__(self, name, cid, version):
        self._init_fields(0, 0, u32(cid, 'cid'), version,
                          (b'', encode_name(name, 'PV name')))

    cid = header_field(4)
    """Client channel id (the number the client chose for the channel)."""
    version = header_field(5)
    """Minor protocol version of the sender."""


def pack_create_chan(name: str | bytes, cid: int, version: int) -> bytes:
    """Wire bytes of ``CreateChanRequest(name, cid, version)`` without
    building the message: the fast form for a client connecting thousands
    of channels at once (:meth:`VirtualCircuit.create_channels`).

    Raises
    ------
    CaprotoValueError
        ``name`` cannot be encoded, or ``cid`` / ``version`` is out of range.
    """
    raw = encode_name(name, 'PV name')
    padded = (len(raw) + 7) & ~7
    if not (0 <= cid <= _U32_MAX and 0 <= version <= _U32_MAX):
        raise CaprotoValueError(f'CREATE_CHAN cid {cid!r} or version '
                                f'{version!r} out of range')
    return (_HEADER.pack(CreateChanRequest.ID, padded, 0, 0, cid, version)
            + raw + _PADS[padded - len(raw)])


class CreateChanResponse(Message):
    """CREATE_CHAN (18) from a server: channel ``cid`` is now ``sid``, with
    this native type (0..6) and element count."""

    __slots__ = ()
    ID = 18
    DIRECTION = RESPONSE
    _REPR_FIELDS = ('data_type', 'data_count', 'cid', 'sid')

    def __init__(self, data_type, data_count, cid, sid):
        self._init_fields(data_type, data_count, u32(cid, 'cid'),
                          u32(sid, 'sid'))

    data_type = channel_type_field(2)
    """Native DBR type of the channel (a ``ChannelType``)."""
    data_count = header_field(3)
    """Native element count of the channel."""
    cid = header_field(4)
    """Client channel id (the number the client chose for the channel)."""
    sid = header_field(5)
    """Server channel id (the number the server chose for the channel)."""


class _CidOnlyResponse(Message):
    """A server message naming only a channel ``cid`` (parameter1)."""

    __slots__ = ()
    DIRECTION = RESPONSE
    _REPR_FIELDS = ('cid',)

    def __init__(self, cid):
        self._init_fields(0, 0, u32(cid, 'cid'), 0)

    cid = header_field(4)
    """Client channel id (the number the client chose for the channel)."""


class CreateChFailResponse(_CidOnlyResponse):
    """CREATE_CH_FAIL (26): the server cannot create channel ``cid``."""

    __slots__ = ()
    ID = 26


class AccessRightsResponse(Message):
    """ACCESS_RIGHTS (22): the client's rights on channel ``cid``."""

    __slots__ = ()
    ID = 22
    DIRECTION = RESPONSE
    _REPR_FIELDS = ('cid', 'access_rights')

    def __init__(self, cid, access_rights):
        self._init_fields(0, 0, u32(cid, 'cid'),
                          u32(access_rights, 'access_rights'))

    cid = header_field(4)
    """Client channel id (the number the client chose for the channel)."""

    @property
    def access_rights(self) -> AccessRights:
        """READ/WRITE bits granted on the channel."""
        # Only the two defined bits; anything else a peer sets is noise.
        # (A table: constructing an IntFlag costs more than the lookup.)
        return _ACCESS_RIGHTS[self._h[5] & 3]


_ACCESS_RIGHTS = tuple(AccessRights(bits) for bits in range(4))


def access_rights_of(parameter2: int) -> AccessRights:
    """The rights an ACCESS_RIGHTS header's parameter2 grants (what
    ``AccessRightsResponse.access_rights`` gives)."""
    return _ACCESS_RIGHTS[parameter2 & 3]


class _ClearChannel(Message):
    """CLEAR_CHANNEL (12): the request and its echo carry the same fields."""

    __slots__ = ()
    ID = 12
    _REPR_FIELDS = ('sid', 'cid')

    def __init__(self, sid, cid):
        self._init_fields(0, 0, u32(sid, 'sid'), u32(cid, 'cid'))

    sid = header_field(4)
    """Server channel id (the number the server chose for the channel)."""
    cid = header_field(5)
    """Client channel id (the number the client chose for the channel)."""


class ClearChannelRequest(_ClearChannel):
    """CLEAR_CHANNEL (12) from a client: release channel ``sid``/``cid``."""

    __slots__ = ()
    DIRECTION = REQUEST


class ClearChannelResponse(_ClearChannel):
    """CLEAR_CHANNEL (12) echoed by the server."""

    __slots__ = ()
    DIRECTION = RESPONSE


class ServerDisconnResponse(_CidOnlyResponse):
    """SERVER_DISCONN (27): the server dropped channel ``cid`` (gateways,
    PCAS; RSRV never sends it).  The client searches for it again."""

    __slots__ = ()
    ID = 27
