"""Discovery commands: version handshake, name search, beacons, repeater.

These travel mostly over UDP (a search datagram is a VERSION followed by
SEARCH messages; beacons and repeater messages are header-only datagrams),
but VERSION and SEARCH also appear on TCP circuits (the handshake, and name
servers since CA 4.12).  The UDP and TCP forms differ in small ways that are
kept visible here: ca-protocol.md section 3.2.
"""
from __future__ import annotations

import struct

from ._commands_base import (Message, NamedMessage, encode_name, header_field,
                             ipv4_from_int, ipv4_to_int, u32)
from ._constants import (DO_REPLY, DONT_REPLY, MAX_PRIORITY,
                         SEQUENCE_NUMBER_IS_VALID, UNKNOWN_ADDRESS)
from ._exceptions import CaprotoValueError
from ._roles import REQUEST, RESPONSE

__all__ = (
    'VersionRequest', 'VersionResponse', 'SearchRequest', 'SearchResponse',
    'NotFoundResponse', 'RsrvIsUpResponse', 'Beacon',
    'RepeaterConfirmResponse', 'RepeaterRegisterRequest',
)

_U16 = struct.Struct('>H')


class VersionRequest(Message):
    """VERSION (0) from a client.

    On TCP it opens a circuit: ``data_type`` carries the circuit priority.
    On UDP it leads every search datagram: ``data_type`` is 1 ("sequence
    number valid") and ``parameter1`` the datagram sequence number; build it
    with ``sequence_id=``.

    Parameters
    ----------
    priority : int
        Circuit priority 0..99 (TCP form).  Must be 0 or 1 when
        ``sequence_id`` is given (the wire then carries 1).
    version : int
        The client's minor protocol version (13).
    sequence_id : int, optional
        Search datagram sequence number (UDP form).
    """

    __slots__ = ()
    ID = 0
    DIRECTION = REQUEST
    _REPR_FIELDS = ('priority', 'version')
    _REPR_OPTIONAL = (('sequence_id', None),)

    def __init__(self, priority, version, *, sequence_id=None):
        priority = u32(priority, 'priority')
        if sequence_id is None:
            if not 0 <= priority <= MAX_PRIORITY:
                raise CaprotoValueError(
                    f'priority must be in 0..{MAX_PRIORITY}, not {priority}')
            self._init_fields(priority, version, 0, 0)
        else:
            if priority not in (0, SEQUENCE_NUMBER_IS_VALID):
                raise CaprotoValueError(
                    'a VERSION with a sequence number (UDP form) carries '
                    f'data_type {SEQUENCE_NUMBER_IS_VALID}, not priority '
                    f'{priority}')
            self._init_fields(SEQUENCE_NUMBER_IS_VALID, version,
                              u32(sequence_id, 'sequence_id'), 0)

    priority = header_field(2)
    """Priority of the circuit (0 to 99; higher is served first)."""
    version = header_field(3)
    """Minor protocol version of the sender."""

    @property
    def sequence_id(self) -> int | None:
        """Search datagram sequence number, or None (TCP form)."""
        h = self._h
        return h[4] if h[2] == SEQUENCE_NUMBER_IS_VALID else None


class VersionResponse(Message):
    """VERSION (0) from a server.

    TCP form (sent at accept): all fields 0 but the minor version.  UDP form
    (first message of a search reply datagram): ``data_type`` 1 and
    ``parameter1`` echoing the request's sequence number; build it with
    ``sequence_id=``.  A 16-byte all-zero VERSION (libca's wake-up, the
    repeater's noop) parses as ``VersionResponse(version=0)``.
    """

    __slots__ = ()
    ID = 0
    DIRECTION = RESPONSE
    _REPR_FIELDS = ('version',)
    _REPR_OPTIONAL = (('sequence_id', None),)

    def __init__(self, version, *, sequence_id=None):
        if sequence_id is None:
            self._init_fields(0, version, 0, 0)
        else:
            self._init_fields(SEQUENCE_NUMBER_IS_VALID, version,
                              u32(sequence_id, 'sequence_id'), 0)

    version = header_field(3)
    """Minor protocol version of the sender."""

    @property
    def sequence_id(self) -> int | None:
        """Echoed search sequence number, or None (TCP form)."""
        h = self._h
        return h[4] if h[2] == SEQUENCE_NUMBER_IS_VALID else None


class SearchRequest(NamedMessage):
    """SEARCH (6) for a PV name.

    Parameters
    ----------
    name : str
    cid : int
        Client channel id (sent in both parameters, as libca does).
    version : int
        Client minor protocol version.
    reply : int
        ``DONT_REPLY`` (5, libca's choice even on TCP) or ``DO_REPLY`` (10:
        a TCP name server answers NOT_FOUND).
    """

    __slots__ = ()
    ID = 6
    DIRECTION = REQUEST
    _REPR_FIELDS = ('name', 'cid', 'version', 'reply')

    def __init__(self, name, cid, version, reply=DONT_REPLY):
        cid = u32(cid, 'cid')
        self._init_fields(reply, version, cid, cid,
                          (b'', encode_name(name, 'PV name')))

    reply = header_field(2)
    """DO_REPLY (10): a server without the name answers NOT_FOUND; NO_REPLY
    (5): it stays silent."""
    version = header_field(3)
    """Minor protocol version of the sender."""
    cid = header_field(4)
    """Search id (chosen by the client; the reply carries it back)."""


class SearchResponse(Message):
    """SEARCH (6) reply: where the channel ``cid`` lives.

    Parameters
    ----------
    port : int
        Server TCP port (carried in the data_type field).
    ip : str, int or None
        Server IPv4 address; ``None`` or '255.255.255.255' means "the
        address this reply came from" (RSRV always sends that).
    cid : int
    version : int or None
        Server minor version, carried in an 8-byte payload on UDP.  ``None``
        builds (and a received payload-less reply gives) the TCP form.
    """

    __slots__ = ()
    ID = 6
    DIRECTION = RESPONSE
    HAS_PAYLOAD = True
    _REPR_FIELDS = ('port', 'ip', 'cid', 'version')

    def __init__(self, port, ip, cid, version):
        ip = UNKNOWN_ADDRESS if ip is None else ipv4_to_int(ip)
        buffers = () if version is None else (_U16.pack(version),)
        self._init_fields(port, 0, ip, cid, buffers)

    def _split_payload(self, payload):
        return (payload[:2],) if len(payload) >= 2 else ()

    port = header_field(2)
    """TCP port of the server that has the name."""
    cid = header_field(5)
    """Search id of the request this answers."""

    @property
    def ip(self) -> str:
        """Server address as a dotted quad ('255.255.255.255': use the
        source address)."""
        return ipv4_from_int(self._h[4])

    @property
    def version(self) -> int | None:
        """Server minor version from the payload, or None if absent."""
        buffers = self.buffers
        if buffers and len(buffers[0]) >= 2:
            return _U16.unpack_from(buffers[0])[0]
        return None


class NotFoundResponse(Message):
    """NOT_FOUND (14): a server's answer to a DO_REPLY search it cannot
    serve (the request header with the command changed)."""

    __slots__ = ()
    ID = 14
    DIRECTION = RESPONSE
    _REPR_FIELDS = ('version', 'cid')
    _REPR_OPTIONAL = (('reply', DO_REPLY),)

    def __init__(self, version, cid, *, reply=DO_REPLY):
        cid = u32(cid, 'cid')
        self._init_fields(reply, version, cid, cid)

    reply = header_field(2)
    """The reply flag copied from the search (DO_REPLY)."""
    version = header_field(3)
    """Minor protocol version of the sender."""
    cid = header_field(4)
    """Search id of the request this answers."""


class RsrvIsUpResponse(Message):
    """RSRV_IS_UP (13), the server beacon.

    Parameters
    ----------
    version : int
        Server minor version.
    server_port : int
        Server TCP port (0 from very old servers: use the default).
    beacon_id : int
        Beacon sequence number (u32, wraps).
    address : str or int
        Server IPv4; '0.0.0.0' (RSRV) means "use the source address" (the
        repeater fills it in).
    """

    __slots__ = ()
    ID = 13
    DIRECTION = RESPONSE
    _REPR_FIELDS = ('version', 'server_port', 'beacon_id', 'address')

    def __init__(self, version, server_port, beacon_id, address):
        self._init_fields(version, server_port, u32(beacon_id, 'beacon_id'),
                          ipv4_to_int(address))

    version = header_field(2)
    """Minor protocol version of the server."""
    server_port = header_field(3)
    """The server's TCP port."""
    beacon_id = header_field(4)
    """Beacon sequence number (grows by one per beacon)."""

    @property
    def address(self) -> str:
        """Server IPv4 as a dotted quad ('0.0.0.0': use the source)."""
        return ipv4_from_int(self._h[5])


#: caproto's name for the beacon.
Beacon = RsrvIsUpResponse


class RepeaterConfirmResponse(Message):
    """REPEATER_CONFIRM (17): the repeater accepted a registration;
    ``repeater_address`` is the client's IP as the repeater saw it."""

    __slots__ = ()
    ID = 17
    DIRECTION = RESPONSE
    _REPR_FIELDS = ('repeater_address',)

    def __init__(self, repeater_address):
        self._init_fields(0, 0, 0, ipv4_to_int(repeater_address))

    @property
    def repeater_address(self) -> str:
        """The registered client's IPv4 as the repeater saw it."""
        return ipv4_from_int(self._h[5])


class RepeaterRegisterRequest(Message):
    """REPEATER_REGISTER (24): a client asks the repeater for beacons.

    (libca itself sends a zero-length datagram instead; both work.)
    """

    __slots__ = ()
    ID = 24
    DIRECTION = REQUEST
    _REPR_FIELDS = ('client_address',)

    def __init__(self, client_address='0.0.0.0'):
        self._init_fields(0, 0, 0, ipv4_to_int(client_address))

    @property
    def client_address(self) -> str:
        """The registering client's IPv4 (libca leaves it 0.0.0.0)."""
        return ipv4_from_int(self._h[5])
