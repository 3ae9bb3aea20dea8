"""A server's channel exchanges on a circuit, in fast form.

A server runs each channel's create and clear once per client per PV.  The
functions here apply the same rules as ``VirtualCircuit.process_command`` /
``VirtualCircuit.send`` do with the command objects, through tables composed
once from the channel table, and return reply bytes instead of building a
command per reply.  Each takes the circuit as its first argument;
:class:`~cawire.protocol._circuit.VirtualCircuit` binds them as its methods
of the same names (so a call costs what a method defined in the class
costs).  Where RSRV is lenient (a request before the client's VERSION, a cid
created twice, a clear naming another cid) the server role is too: see
``refusal_before_version`` and ``accept_create_chan``.
"""
from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from ._channel import ServerChannel, _BaseChannel
from ._commands import (AccessRightsResponse, ClearChannelRequest,
                        ClearChannelResponse, CreateChanRequest,
                        CreateChanResponse, CreateChFailResponse,
                        ErrorResponse, VersionRequest)
from ._commands_base import Message
from ._enums import AccessRights, ChannelType
from ._exceptions import (CaprotoValueError, LocalProtocolError,
                          RemoteProtocolError)
from ._headers import (EXTENDED_HEADER_STRUCT, EXTENDED_MARKER,
                       HEADER_STRUCT)
from ._state import (CHANNEL_TRANSITIONS, CLIENT,
                     CLIENT_STATES_WITH_REQUESTS, SEND_VERSION_REQUEST,
                     SERVER, ChannelState, States)
from ._status import CAStatus

if TYPE_CHECKING:
    from ._circuit import VirtualCircuit

__all__ = ('accept_create_chan', 'create_chan_reply', 'create_chan_failure',
           'access_rights_update', 'accept_clear_channel',
           'refusal_before_version')

# Native channel types are the plain ones (DBF -> DBR 0..6).
_MAX_NATIVE_TYPE = 6
_NATIVE_TYPES = tuple(ChannelType(t) for t in range(_MAX_NATIVE_TYPE + 1))
#: Before 4.9 (no extended header) RSRV tells a client at most 0xFFFE
#: elements.
_LARGE_ARRAY_VERSION = 9
_OLD_CLIENT_MAX_COUNT = 0xFFFE
#: The ERROR cid when no channel is to blame.
_NO_CID = 0xFFFFFFFF
_ECA_DEFUNCT = getattr(CAStatus, 'ECA_DEFUNCT')
_pack_header = HEADER_STRUCT.pack
#: ACCESS_RIGHTS and a standard CREATE_CHAN reply in one pack.
_pack_two_headers = struct.Struct('>' + 2 * HEADER_STRUCT.format[1:]).pack
_pack_extended_header = EXTENDED_HEADER_STRUCT.pack
#: Counts from here on need the extended header.
_EXTENDED_COUNT = 0xFFFF
_ACCESS_RIGHTS = AccessRightsResponse.ID
_CREATE_CHAN = CreateChanResponse.ID
_CREATE_CH_FAIL = CreateChFailResponse.ID
_CLEAR_CHANNEL = ClearChannelResponse.ID


def _compose(*command_types: type[Message]
             ) -> dict[tuple[States, States], tuple[States, States]]:
    # (client state, server state) -> the pair after all of
    # ``command_types`` in turn, for every pair of states the channel
    # table lets through all of them: one lookup for a server's whole
    # create (or clear) exchange instead of one table walk per command.
    table = CHANNEL_TRANSITIONS
    composed = {}
    for client_state in table[CLIENT]:
        for server_state in table[SERVER]:
            pair = (client_state, server_state)
            for command_type in command_types:
                client_next = table[CLIENT][pair[0]].get(command_type)
                server_next = table[SERVER][pair[1]].get(command_type)
                if client_next is None or server_next is None:
                    break
                pair = (client_next, server_next)
            else:
                composed[(client_state, server_state)] = pair
    return composed


#: A server's channel exchanges, composed from the channel table.
_CREATE_REQUEST_STATES = _compose(CreateChanRequest)
_CREATED_STATES = _compose(AccessRightsResponse, CreateChanResponse)
_CREATE_FAILED_STATES = _compose(CreateChFailResponse)
_CLEARED_STATES = _compose(ClearChannelRequest, ClearChannelResponse)
_RIGHTS_CHANGED_STATES = _compose(AccessRightsResponse)
#: Where a server's new channel stands once its CREATE_CHAN is taken.
_NEW_CHANNEL_STATES = _CREATE_REQUEST_STATES[
    (ChannelState._INITIAL_CLIENT, ChannelState._INITIAL_SERVER)]


def accept_create_chan(circuit: VirtualCircuit, command: CreateChanRequest
                       ) -> ServerChannel:
    """Server role: take a received CREATE_CHAN (what
    ``process_command`` does with it) and return its new channel, to
    be answered with :meth:`VirtualCircuit.create_chan_reply` or
    :meth:`VirtualCircuit.create_chan_failure`.

    A cid the client already uses gets a second channel, as RSRV
    gives it (``channels`` then maps the cid to the newer one).

    Raises
    ------
    RemoteProtocolError
        The client has not sent its VERSION (see
        :meth:`VirtualCircuit.refusal_before_version`).
    """
    if circuit.our_role is not SERVER:
        raise LocalProtocolError('a client circuit does not receive '
                                 'CreateChanRequest')
    if circuit.states.client not in CLIENT_STATES_WITH_REQUESTS:
        circuit._require_requests_allowed(command, circuit.their_role)
    channel = ServerChannel(command.name, circuit, command._h[4])
    states = channel.states
    states.client, states.server = _NEW_CHANNEL_STATES
    return channel


def create_chan_reply(circuit: VirtualCircuit, channel: _BaseChannel,
                      access_rights: int, native_data_type: int,
                      native_data_count: int, sid: int) -> bytes:
    """Server role: ACCESS_RIGHTS then the CREATE_CHAN reply for
    ``channel`` (what ``send(channel.access_rights_response(...),
    channel.create(...))`` does), as bytes.  A pre-4.9 client is told
    at most 0xFFFE elements, as RSRV does.

    Raises
    ------
    LocalProtocolError
        ``channel`` is not awaiting its reply on this circuit, ``sid``
        is another channel's, or the type is not native (0..6).
    CaprotoValueError
        A field does not fit the header.
    """
    sender = circuit.our_role
    if sender is not SERVER or channel.circuit is not circuit:
        raise LocalProtocolError(f'{channel!r} is not a channel of this '
                                 'server circuit')
    states = channel.states
    after = _CREATED_STATES.get((states.client, states.server))
    if after is None:
        raise circuit._channel_state_error(channel, CreateChanResponse,
                                           sender)
    other = circuit.channels_sid.get(sid)
    if other is not None and other is not channel:
        raise LocalProtocolError(f'CreateChanResponse gives sid {sid} to '
                                 f'cid {channel.cid}, but {other!r} has '
                                 'it')
    if not 0 <= native_data_type <= _MAX_NATIVE_TYPE:
        raise LocalProtocolError(f'CreateChanResponse with native type '
                                 f'{native_data_type} (a native type is '
                                 '0..6)')
    if circuit.protocol_version < _LARGE_ARRAY_VERSION and \
            native_data_count > _OLD_CLIENT_MAX_COUNT:
        native_data_count = _OLD_CLIENT_MAX_COUNT
    cid = channel.cid
    try:
        if native_data_count < _EXTENDED_COUNT:
            reply = _pack_two_headers(
                _ACCESS_RIGHTS, 0, 0, 0, cid, access_rights,
                _CREATE_CHAN, 0, native_data_type, native_data_count,
                cid, sid)
        else:
            reply = (_pack_header(_ACCESS_RIGHTS, 0, 0, 0, cid,
                                  access_rights)
                     + _pack_extended_header(
                         _CREATE_CHAN, EXTENDED_MARKER, native_data_type,
                         0, cid, sid, 0, native_data_count))
    except struct.error as exc:
        raise CaprotoValueError(f'CreateChanResponse fields do not fit '
                                f'the header: {exc}') from None
    states.client, states.server = after
    if type(access_rights) is not AccessRights:
        access_rights = AccessRights(access_rights)
    channel.access_rights = access_rights
    channel.sid = sid
    channel.native_data_type = _NATIVE_TYPES[native_data_type]
    channel.native_data_count = native_data_count
    circuit.channels_sid[sid] = channel
    return reply


def create_chan_failure(circuit: VirtualCircuit, channel: _BaseChannel
                        ) -> bytes:
    """Server role: CREATE_CH_FAIL for ``channel`` (what
    ``send(channel.create_fail())`` does), as bytes; the channel leaves
    the circuit.

    Raises
    ------
    LocalProtocolError
        ``channel`` is not awaiting its reply on this circuit.
    """
    sender = circuit.our_role
    if sender is not SERVER or channel.circuit is not circuit:
        raise LocalProtocolError(f'{channel!r} is not a channel of this '
                                 'server circuit')
    states = channel.states
    after = _CREATE_FAILED_STATES.get((states.client, states.server))
    if after is None:
        raise circuit._channel_state_error(channel, CreateChFailResponse,
                                           sender)
    states.client, states.server = after
    circuit._forget_channel(channel)
    return _pack_header(_CREATE_CH_FAIL, 0, 0, 0, channel.cid, 0)


def access_rights_update(circuit: VirtualCircuit, channel: _BaseChannel,
                         access_rights: int) -> bytes:
    """Server role: ACCESS_RIGHTS for ``channel`` when its rights
    change (what ``send(channel.access_rights_response(...))`` does),
    as bytes.  Unlike the command, which names the channel by cid, this
    cannot reach another channel of a cid the client created twice.

    Raises
    ------
    LocalProtocolError
        ``channel`` is not live on this circuit.
    CaprotoValueError
        ``access_rights`` does not fit the header.
    """
    sender = circuit.our_role
    if sender is not SERVER or channel.circuit is not circuit:
        raise LocalProtocolError(f'{channel!r} is not a channel of this '
                                 'server circuit')
    states = channel.states
    after = _RIGHTS_CHANGED_STATES.get((states.client, states.server))
    if after is None:
        raise circuit._channel_state_error(channel, AccessRightsResponse,
                                           sender)
    try:
        reply = _pack_header(_ACCESS_RIGHTS, 0, 0, 0, channel.cid,
                             access_rights)
    except struct.error as exc:
        raise CaprotoValueError(f'AccessRightsResponse fields do not '
                                f'fit the header: {exc}') from None
    states.client, states.server = after
    channel.access_rights = AccessRights(access_rights)
    return reply


def accept_clear_channel(circuit: VirtualCircuit,
                         command: ClearChannelRequest
                         ) -> tuple[_BaseChannel, bytes]:
    """Server role: take a received CLEAR_CHANNEL and answer it (what
    ``process_command`` then ``send(channel.clear())`` do); return the
    cleared channel, now off the circuit, and the reply bytes.

    The channel is the one named by the sid.  As RSRV, the reply
    echoes the request's fields, even a cid that is not the
    channel's.

    Raises
    ------
    RemoteProtocolError
        Unknown sid, or the channel cannot be cleared now.
    """
    if circuit.our_role is not SERVER:
        raise LocalProtocolError('a client circuit does not receive '
                                 'ClearChannelRequest')
    _, _, data_type, data_count, sid, cid = command._h
    channel = circuit.channels_sid.get(sid)
    if channel is None:
        raise RemoteProtocolError(f'ClearChannelRequest names unknown '
                                  f'sid {sid}')
    states = channel.states
    after = _CLEARED_STATES.get((states.client, states.server))
    if after is None:
        raise circuit._channel_state_error(channel, ClearChannelRequest,
                                           circuit.their_role)
    states.client, states.server = after
    circuit._forget_channel(channel)
    return channel, _pack_header(_CLEAR_CHANNEL, 0, data_type,
                                 data_count, sid, cid)


def refusal_before_version(circuit: VirtualCircuit, command: Message
                           ) -> ErrorResponse | None:
    """Server role: the ERROR to send for ``command`` if it came
    before the client's VERSION, else None.

    RSRV counts a client that has not sent its VERSION as minor
    version 0, too old to serve: it answers each other request with
    ECA_DEFUNCT (no channel: cid 0xFFFFFFFF) and ignores it, keeping
    the circuit open so that the client does not reconnect in a loop.
    Call this when ``command`` was refused (``process_command`` raised
    RemoteProtocolError; nothing changed): a non-None answer means
    "send it and carry on" rather than "close the circuit".
    """
    if circuit.our_role is not SERVER or \
            circuit.states.client is not SEND_VERSION_REQUEST or \
            type(command) is VersionRequest:
        return None
    return ErrorResponse(command, _NO_CID, _ECA_DEFUNCT,
                         'client protocol version 0 is too old (no '
                         'VERSION received)')
