"""The repeater's datagram rules, sans I/O (ca-protocol.md 6.5).

A CA repeater peeks at the first header of each datagram it receives and
otherwise forwards the bytes untouched (it must not re-serialize what it
does not understand).  These functions are those peeks; the repeater's
sockets and client table live in ``cawire.repeater``.  The messages it
originates (REPEATER_CONFIRM, the all-zero VERSION "noop") are ordinary
commands sent through a :class:`~cawire.protocol.Broadcaster`.
"""
from __future__ import annotations

from ._commands import RepeaterRegisterRequest, RsrvIsUpResponse
from ._commands_base import ipv4_to_int
from ._headers import HEADER_SIZE, HEADER_STRUCT

__all__ = ('parse_repeater_datagram', 'fill_beacon_address')

_REGISTER = RepeaterRegisterRequest.ID
_BEACON = RsrvIsUpResponse.ID
#: parameter2 (a beacon's server address) sits at the same offset in a
#: standard and an extended header.
_PARAMETER2_OFFSET = 12


def parse_repeater_datagram(data: bytes) -> tuple[bool, bytes]:
    """Split a datagram received on the repeater port into what it asks for.

    Returns
    -------
    register : bool
        The sender asks to be registered (zero-length datagram, or one
        starting with a REPEATER_REGISTER header).
    to_forward : bytes
        What to fan out to the other clients: the datagram without its
        leading register header (empty if nothing remains).  Datagrams
        shorter than a header are forwarded unchanged, as caRepeater does.
    """
    if not data:
        return True, b''
    if len(data) >= HEADER_SIZE and \
            HEADER_STRUCT.unpack_from(data)[0] == _REGISTER:
        return True, data[HEADER_SIZE:]
    return False, data


def fill_beacon_address(data: bytes, source_ip: str) -> bytes:
    """Put ``source_ip`` into parameter2 of a leading RSRV_IS_UP whose
    parameter2 is 0.

    RSRV leaves its own address out of beacons; the repeater knows where
    the datagram came from.  Anything else is returned unchanged (the same
    object).
    """
    if len(data) < HEADER_SIZE:
        return data
    fields = HEADER_STRUCT.unpack_from(data)
    if fields[0] != _BEACON or fields[5] != 0:
        return data
    return (data[:_PARAMETER2_OFFSET]
            + ipv4_to_int(source_ip).to_bytes(4, 'big')
            + data[HEADER_SIZE:])
