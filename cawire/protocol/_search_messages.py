"""Search datagrams both ways: the one place that packs and parses them.

A client's search datagram is a ``VERSION`` (data_type 1, "sequence number
valid"; parameter1 the datagram sequence number) followed by SEARCH
messages, at most 1024 bytes in all (ca-protocol.md 6.1).  A server's reply
datagram repeats the ``VERSION`` with the same sequence number, then one
SEARCH reply per name it has.  Every shell (threading and asyncio clients,
server, tools) packs and parses these through the functions below; the
search *schedule* (which names go in which datagram, when) is
``_search_schedule``'s job.

The packers write the bytes directly (they are on the connect path of every
PV): the result is byte-for-byte what ``VersionRequest``/``SearchRequest``
(``VersionResponse``/``SearchResponse``) would serialize.
"""
from __future__ import annotations

import struct
from collections.abc import Iterable
from typing import NamedTuple

from ._commands import (ClientNameRequest, HostNameRequest, SearchRequest,
                        SearchResponse, VersionRequest, VersionResponse,
                        extract_address)
from ._commands_base import MAX_NAME_BYTES, encode_name
from ._constants import (DEFAULT_PROTOCOL_VERSION, DONT_REPLY, HEADER_SIZE,
                         MAX_UDP_SEND, SEQUENCE_NUMBER_IS_VALID,
                         UNKNOWN_ADDRESS)
from ._exceptions import CaprotoValueError

__all__ = ('SearchResult', 'SearchRequests', 'search_message_size',
           'pack_search_datagram', 'parse_search_replies',
           'read_search_reply_datagram', 'parse_search_requests',
           'pack_search_replies',
           'MIN_NAME_SERVER_VERSION', 'name_server_handshake',
           'name_server_version', 'name_server_takes_searches',
           'NameServerSearches')

_HEADER = struct.Struct('>HHHHII')
_VERSION_COMMAND = 0
_SEARCH_COMMAND = 6
_U32 = 0xFFFFFFFF
_U16 = struct.Struct('>H')
_PADS = tuple(b'\x00' * n for n in range(8))
#: A name's NUL and pad, 1 to 8 characters (index: how many).
_NULS = tuple('\x00' * n for n in range(9))
#: A UDP SEARCH reply: the header, then the server's minor version in the
#: first two of its eight payload bytes.
_UDP_SEARCH_REPLY_SIZE = HEADER_SIZE + 8


def search_message_size(name: str | bytes) -> int:
    """Bytes a SEARCH message for ``name`` takes in a datagram.

    Header plus the NUL-terminated name (latin-1) padded to a multiple of 8.

    Raises
    ------
    CaprotoValueError
        If ``name`` cannot be sent (not latin-1, NUL inside, too long).
    """
    if (type(name) is str and name.isascii() and '\x00' not in name
            and len(name) < MAX_NAME_BYTES):
        # One byte per character: the size without encoding a copy.
        return HEADER_SIZE + ((len(name) + 8) & ~7)
    return HEADER_SIZE + ((len(encode_name(name, 'PV name')) + 7) & ~7)


def pack_search_datagram(sequence: int, searches: Iterable[tuple[int, str]],
                         *, version: int = DEFAULT_PROTOCOL_VERSION,
                         reply: int = DONT_REPLY,
                         max_size: int = MAX_UDP_SEND) -> bytes:
    """One search datagram: VERSION with ``sequence``, then one SEARCH per
    ``(cid, name)`` in order.

    Parameters
    ----------
    sequence : int
        Datagram sequence number (u32; wraps).
    searches : iterable of (cid, name)
    version : int
        Our minor protocol version (13).
    reply : int
        ``DONT_REPLY`` (libca) or ``DO_REPLY``.
    max_size : int
        Largest datagram allowed (1024, as libca).

    Raises
    ------
    CaprotoValueError
        A name that cannot be encoded, or more searches than fit in
        ``max_size`` bytes (the caller chooses what goes in one datagram;
        :func:`search_message_size` tells the size of each).
    """
    pack = _HEADER.pack
    parts = [pack(_VERSION_COMMAND, 0, SEQUENCE_NUMBER_IS_VALID, version,
                  sequence & _U32, 0)]
    size = HEADER_SIZE
    count = 0
    for cid, name in searches:
        if (type(name) is str and name.isascii()
                and len(name) < MAX_NAME_BYTES and '\x00' not in name):
            # encode_name's common case, with the NUL and the pad in the
            # same bytes (every search of a connect passes here).
            padded = (len(name) + 8) & ~7
            raw = (name + _NULS[padded - len(name)]).encode('ascii')
        else:
            raw = encode_name(name, 'PV name')
            padded = (len(raw) + 7) & ~7
            raw += _PADS[padded - len(raw)]
        cid &= _U32
        parts.append(pack(_SEARCH_COMMAND, padded, reply, version, cid, cid))
        parts.append(raw)
        size += HEADER_SIZE + padded
        count += 1
    if size > max_size:
        raise CaprotoValueError(
            f'{count} searches take {size} bytes; a search '
            f'datagram holds at most {max_size}')
    return b''.join(parts)


class SearchResult(NamedTuple):
    """One answered search, from a datagram (or a name-server circuit)."""
    cid: int
    #: (host, port) where the server accepts the channel's circuit.
    address: tuple
    #: Sequence number of the VERSION leading the reply datagram (None if
    #: the server sent none, or on TCP).
    sequence: int | None
    #: The server's minor protocol version (None: not given).
    version: int | None
    response: SearchResponse


def parse_search_replies(commands: Iterable,
                         source_address: tuple | None = None
                         ) -> list[SearchResult]:
    """The search replies among the commands of one received datagram (or
    of one batch from a name-server circuit), with the server's address
    worked out (``extract_address``) and the sequence number of the
    VERSION leading them.

    Other commands (beacons, repeater confirmations...) are skipped; the
    caller handles them.

    Parameters
    ----------
    commands : iterable
        Parsed commands, in the order received (``read_datagram`` or
        ``parse_stream`` output).
    source_address : (str, int), optional
        The datagram's source (or the name server's address); default:
        each command's ``sender_address``.
    """
    results: list[SearchResult] = []
    sequence = None
    # Replies in one datagram nearly always name the same server: work its
    # address out once per distinct (port, ip, version).
    addresses: dict = {}
    for command in commands:
        cls = type(command)
        if cls is SearchResponse:
            h = command._h
            # The version decides whether the port and ip fields count.
            key = h[2], h[4], command.version
            address = addresses.get(key)
            if address is None:
                source = source_address or command.sender_address
                address = addresses[key] = extract_address(command, source)
            # The version straight from a received payload (.version splits
            # it into buffers first, a tuple and a slice per reply: ~5% of
            # the network thread's time in a connect to 20 IOCs).
            try:
                payload = command._payload
            except AttributeError:      # built here, not received
                version = command.version
            else:
                version = (_U16.unpack_from(payload)[0] if len(payload) >= 2
                           else None)
            results.append(SearchResult(h[5], address, sequence, version,
                                        command))
        elif cls is VersionResponse:
            sequence = command.sequence_id
    return results


def read_search_reply_datagram(data: bytes | bytearray | memoryview,
                               address: tuple[str, int]
                               ) -> tuple[list, list[SearchResult]] | None:
    """``read_datagram(data, address, CLIENT)`` followed by
    ``parse_search_replies(commands, address)``, in fast form, for the
    datagram a server sends in answer to searches: an optional leading
    VERSION (no payload) and then only UDP SEARCH replies (8-byte payload).

    Returns
    -------
    (commands, results) or None
        The same commands (``sender_address`` set) and search results the
        general path gives; None for any other datagram (nothing is
        raised: the general path parses it, and reports what is wrong).
    """
    view = memoryview(data)
    if view.format != 'B' or view.ndim != 1:
        return None
    size = len(view)
    offset = 0
    sequence = None
    commands: list = []
    unpack_header = _HEADER.unpack_from
    if size >= HEADER_SIZE and view[0] == 0 and view[1] == _VERSION_COMMAND:
        fields = unpack_header(view, 0)
        if fields[1]:
            return None
        lead = VersionResponse.from_wire(fields, view[HEADER_SIZE:HEADER_SIZE])
        lead._sender_address = address
        commands.append(lead)
        sequence = lead.sequence_id
        offset = HEADER_SIZE
    if size == offset or (size - offset) % _UDP_SEARCH_REPLY_SIZE:
        return None
    results: list[SearchResult] = []
    append_command = commands.append
    append_result = results.append
    from_wire = SearchResponse.from_wire
    # The replies of a datagram nearly always name one server: its
    # address is worked out once per (port, ip, version) that differs from
    # the previous reply's (the version decides whether port and ip count).
    last_port = last_ip = last_version = None
    server: tuple = ()
    for start in range(offset, size, _UDP_SEARCH_REPLY_SIZE):
        fields = unpack_header(view, start)
        if fields[0] != _SEARCH_COMMAND or fields[1] != 8:
            return None
        payload_start = start + HEADER_SIZE
        response = from_wire(fields, view[payload_start:payload_start + 8])
        response._sender_address = address
        append_command(response)
        port, ip = fields[2], fields[4]
        # The minor version: the payload's first u16 (big-endian).
        version = (view[payload_start] << 8) | view[payload_start + 1]
        if port != last_port or ip != last_ip or version != last_version:
            server = extract_address(response, address)
            last_port, last_ip, last_version = port, ip, version
        append_result(SearchResult(fields[5], server, sequence, version,
                                   response))
    return commands, results


class SearchRequests(NamedTuple):
    """What a server reads from one search datagram."""
    #: Sequence number of the leading VERSION (None: none, or not valid).
    sequence: int | None
    #: The SEARCH requests, in order.
    requests: list


def parse_search_requests(commands: Iterable) -> SearchRequests:
    """The searches of one datagram received by a server.

    Reading stops at the first command other than VERSION or SEARCH, as
    RSRV does.
    """
    sequence = None
    requests = []
    for command in commands:
        cls = type(command)
        if cls is SearchRequest:
            requests.append(command)
        elif cls is VersionRequest:
            h = command._h
            if h[2] == SEQUENCE_NUMBER_IS_VALID:
                sequence = h[4]
        else:
            break
    return SearchRequests(sequence, requests)


def pack_search_replies(sequence: int | None, port: int, cids: Iterable[int],
                        *, version: int = DEFAULT_PROTOCOL_VERSION,
                        max_size: int = MAX_UDP_SEND) -> list[bytes]:
    """Reply datagrams of a server that has the channels ``cids``.

    Each datagram is at most ``max_size`` bytes, led by a VERSION carrying
    ``sequence`` (none when ``sequence`` is None), then one SEARCH reply
    (UDP form: the server's ``port``, IP "ask the source", ``version`` in
    the payload) per cid.  No cids: no datagram.
    """
    pack = _HEADER.pack
    lead = (b'' if sequence is None else
            pack(_VERSION_COMMAND, 0, SEQUENCE_NUMBER_IS_VALID, version,
                 sequence & _U32, 0))
    version_payload = struct.pack('>H6x', version)
    reply_size = HEADER_SIZE + len(version_payload)
    per_datagram = max(1, (max_size - len(lead)) // reply_size)
    datagrams = []
    current = [lead]
    for cid in cids:
        current.append(pack(_SEARCH_COMMAND, 8, port, 0, UNKNOWN_ADDRESS,
                            cid & _U32))
        current.append(version_payload)
        if len(current) // 2 == per_datagram:
            datagrams.append(b''.join(current))
            current = [lead]
    if len(current) > 1:
        datagrams.append(b''.join(current))
    return datagrams


# --- name servers (EPICS_CA_NAME_SERVERS): searches over a TCP circuit -------

#: A name server older than CA 4.12 cannot answer searches sent over TCP.
MIN_NAME_SERVER_VERSION = 12


def name_server_handshake(client_name: str, host_name: str
                          ) -> tuple[VersionRequest, ClientNameRequest,
                                     HostNameRequest]:
    """The commands that open a circuit to a name server, in order.

    Parameters
    ----------
    client_name, host_name : str
        What the client reports as its user and host.
    """
    return (VersionRequest(0, DEFAULT_PROTOCOL_VERSION),
            ClientNameRequest(client_name), HostNameRequest(host_name))


def name_server_version(commands: Iterable[object]) -> int | None:
    """The name server's protocol minor version announced in ``commands``
    (its circuit VERSION reply), or None if none of them announces it."""
    version = None
    for command in commands:
        if (isinstance(command, VersionResponse)
                and command.sequence_id is None):
            version = command.version
    return version


def name_server_takes_searches(server_version: int | None) -> bool:
    """Whether searches may be forwarded to a name server of this version
    (unknown yet: yes, as libca does)."""
    return server_version is None or server_version >= MIN_NAME_SERVER_VERSION


class NameServerSearches:
    """The search side of one name-server circuit: what the server said
    about its version, whether it takes our searches, its replies.

    Parameters
    ----------
    address : (str, int)
        The name server's address (where its replies' channels are served
        unless a reply names another).
    """

    __slots__ = ('address', 'server_version')

    def __init__(self, address: tuple[str, int]) -> None:
        self.address = address
        #: The server's protocol minor version once announced (None before).
        self.server_version: int | None = None

    def takes_searches(self) -> bool:
        """Whether a search datagram may be forwarded now."""
        return name_server_takes_searches(self.server_version)

    def received(self, commands: list) -> list[SearchResult]:
        """Note what ``commands`` (one batch from the circuit) announce;
        return the search replies among them."""
        version = name_server_version(commands)
        if version is not None:
            self.server_version = version
        return parse_search_replies(commands, self.address)
