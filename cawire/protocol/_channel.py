"""One channel on one circuit, as each side sees it: ClientChannel and
ServerChannel.

A channel object holds what the protocol says about a channel (its ids, its
native type and count, the access rights, its state for both parties) and
offers convenience constructors for the commands about it, filled in with
those ids and sensible defaults.  Building a command changes nothing: state
moves only when the command goes through ``VirtualCircuit.send`` or
``VirtualCircuit.process_command``, which is where every rule is checked.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Union

from ._commands import (
    AccessRightsResponse, ClearChannelRequest, ClearChannelResponse,
    ClientNameRequest, CreateChanRequest, CreateChanResponse,
    CreateChFailResponse, EventAddRequest, EventAddResponse,
    EventCancelRequest, EventCancelResponse, HostNameRequest, ReadRequest,
    ReadResponse, ReadNotifyRequest, ReadNotifyResponse,
    ServerDisconnResponse, VersionRequest, VersionResponse,
    WriteNotifyRequest, WriteNotifyResponse, WriteRequest)
from ._enums import (AccessRights, ChannelType, SubscriptionType,
                     field_class_to_type, native_type)
from ._exceptions import (CaprotoKeyError, CaprotoValueError,
                          LocalProtocolError, PermissionDenied)
from ._state import ChannelState, CLIENT, SERVER
from ._status import CAStatus

if TYPE_CHECKING:  # pragma: no cover
    from ._circuit import VirtualCircuit

__all__ = ('ClientChannel', 'ServerChannel', 'require_access')

#: What a request may say for its DBR type: None / 'native', a field class
#: name, a ChannelType or an int id.
DataTypeSpec = Union[ChannelType, int, str, None]

logger = logging.getLogger('cawire.ch')

#: caproto's default subscription mask.
DEFAULT_MASK = (SubscriptionType.DBE_VALUE | SubscriptionType.DBE_ALARM
                | SubscriptionType.DBE_PROPERTY)
#: Since 4.13 a count of 0 asks for the current (dynamic) length.
_DYNAMIC_COUNT_VERSION = 13
#: Request types a client may write (plain types plus PUT_ACKT/PUT_ACKS).
WRITABLE_TYPES = frozenset(ChannelType(t) for t in range(7)) | {
    ChannelType.PUT_ACKT, ChannelType.PUT_ACKS}
#: With metadata given, a write may also carry a compound type (STS, TIME,
#: GR, CTRL: caproto sends what it is given; RSRV answers ECA_PUTFAIL).
WRITABLE_TYPES_WITH_METADATA = WRITABLE_TYPES | frozenset(
    ChannelType(t) for t in range(7, 35))


def require_access(access_rights: int | None, name: str, *,
                   write: bool) -> None:
    """libca's local access check (``ca_get``/``ca_put`` fail with
    ECA_NORDACCESS/ECA_NOWTACCESS without sending anything).

    The threading client does not use it (as caproto, it sends the request
    and reports the server's status); the libca-compatible tools do.
    ``access_rights`` None (not known yet) passes.

    Raises
    ------
    PermissionDenied
    """
    if access_rights is None:
        return
    if write:
        if not access_rights & AccessRights.WRITE:
            raise PermissionDenied(
                f'No write access to {name!r} (ECA_NOWTACCESS)')
    elif not access_rights & AccessRights.READ:
        raise PermissionDenied(f'No read access to {name!r} (ECA_NORDACCESS)')


_NORMAL = getattr(CAStatus, 'ECA_NORMAL')  # CAStatus fills its namespace itself

#: The id set of a channel with none: shared, so that 10,000 idle channels
#: do not hold 20,000 empty sets; replaced by a set at the first id.
NO_IDS: frozenset = frozenset()


class _BaseChannel:
    """State shared by both sides' views of a channel.

    Attributes
    ----------
    name : str
    cid : int
        Client channel id.
    sid : int or None
        Server channel id, once the CREATE_CHAN reply is through.
    native_data_type : ChannelType or None
    native_data_count : int or None
    access_rights : AccessRights or None
    states : ChannelState
        ``states[CLIENT]`` / ``states[SERVER]``.
    """

    # Slots: a client holds one channel per PV, thousands of them.
    __slots__ = ('name', 'circuit', 'cid', 'string_encoding', 'states', 'sid',
                 'native_data_type', 'native_data_count', 'access_rights',
                 '_ioids', '_subscriptionids', '__weakref__')

    def __init__(self, name: str, circuit: 'VirtualCircuit', cid: int,
                 *, string_encoding: str = 'latin-1') -> None:
        self.name = name
        self.circuit = circuit
        self.cid = cid
        self.string_encoding = string_encoding
        self.states = ChannelState()
        self.sid: int | None = None
        self.native_data_type: ChannelType | None = None
        self.native_data_count: int | None = None
        self.access_rights: AccessRights | None = None
        # Outstanding request ids and live subscriptions on this channel,
        # so that closing it frees them without scanning the circuit.
        # (NO_IDS until the first one: see add_id / discard_id.)
        self._ioids: set[int] | frozenset = NO_IDS
        self._subscriptionids: tuple[int, ...] | frozenset = NO_IDS

    def __repr__(self) -> str:
        return (f'<{type(self).__name__} name={self.name!r} cid={self.cid} '
                f'sid={self.sid} data_type={self.native_data_type!r} '
                f'states={self.states[CLIENT]!r}/{self.states[SERVER]!r}>')

    @property
    def protocol_version(self) -> int:
        return self.circuit.protocol_version

    @property
    def subscriptions(self) -> dict:
        """``subscriptionid -> EventAddRequest`` of this channel's live
        subscriptions."""
        commands = self.circuit.event_add_commands
        return {subid: commands[subid] for subid in self._subscriptionids}

    @property
    def outstanding_ioids(self) -> frozenset:
        """Ids of requests on this channel still waiting for a reply."""
        return frozenset(self._ioids)

    def resolve_type(self, data_type: DataTypeSpec = None) -> ChannelType:
        """The DBR type a request asks for.

        ``data_type`` is None or ``'native'`` (the native type), a field
        class (``'status'``, ``'time'``, ``'graphic'``, ``'control'``:
        promoted from the native type), a ChannelType or an int id.

        Raises
        ------
        LocalProtocolError
            No explicit type and the native type is not known yet.
        CaprotoValueError
            An unknown field class or type id.
        """
        native = self.native_data_type
        if native is None:
            if data_type is None or isinstance(data_type, str):
                raise LocalProtocolError(
                    f'channel {self.name!r} is not connected yet: its native '
                    'type is unknown, so give an explicit data_type')
            try:
                return ChannelType(data_type)
            except ValueError as exc:
                raise CaprotoValueError(str(exc)) from None
        if data_type is None:
            return native
        try:
            return field_class_to_type(native, data_type)
        except ValueError as exc:
            raise CaprotoValueError(str(exc)) from None

    def resolve_count(self, data_count: int | None = None, *,
                      dynamic: bool = True) -> int:
        """The element count a read or subscription asks for.

        Default: 0 ("the current length") when the peer speaks 4.13 and
        ``dynamic`` (READ_NOTIFY, EVENT_ADD), else the native count (the
        deprecated READ: RSRV answers a count of 0 with no elements).
        """
        if data_count is not None:
            return data_count
        if dynamic and self.protocol_version >= _DYNAMIC_COUNT_VERSION:
            return 0
        return self.native_data_count or 0

    def _fill_defaults(self, data_type: DataTypeSpec,
                       data_count: int | None) -> tuple[ChannelType, int]:
        return self.resolve_type(data_type), self.resolve_count(data_count)


class ClientChannel(_BaseChannel):
    """A channel as the client sees it.

    Parameters
    ----------
    name : str
        PV name.
    circuit : VirtualCircuit
        A client-side circuit; the channel registers itself there.
    cid : int, optional
        Client channel id (unique in the client context, the one used in
        the search).  Allocated by the circuit when omitted.
    """

    __slots__ = ()

    def __init__(self, name: str, circuit: 'VirtualCircuit',
                 cid: int | None = None, *,
                 string_encoding: str = 'latin-1') -> None:
        if circuit.our_role is not CLIENT:
            raise LocalProtocolError('a ClientChannel needs a client circuit')
        if cid is None:
            cid = circuit.new_channel_id()
        super().__init__(name, circuit, cid, string_encoding=string_encoding)
        circuit._register_channel(self)

    def version(self) -> VersionRequest:
        """The VERSION that opens the circuit (priority, our version)."""
        return VersionRequest(priority=self.circuit.priority,
                              version=self.circuit.protocol_version)

    def host_name(self, host_name: str) -> HostNameRequest:
        """HOST_NAME: our host name, for the server's access security."""
        return HostNameRequest(host_name)

    def client_name(self, client_name: str) -> ClientNameRequest:
        """CLIENT_NAME: our user name, for the server's access security."""
        return ClientNameRequest(client_name)

    def create(self) -> CreateChanRequest:
        """CREATE_CHAN for this channel."""
        return CreateChanRequest(self.name, self.cid,
                                 self.circuit.protocol_version)

    def clear(self) -> ClearChannelRequest:
        """CLEAR_CHANNEL for this channel."""
        return ClearChannelRequest(self.sid, self.cid)

    def read(self, data_type: DataTypeSpec = None,
             data_count: int | None = None, notify: bool = True,
             ioid: int | None = None) -> ReadNotifyRequest | ReadRequest:
        """READ_NOTIFY (or deprecated READ) for this channel.

        Parameters
        ----------
        data_type : {'native', 'status', 'time', 'graphic', 'control'}, ChannelType or int, optional
            Default: the native type.
        data_count : int, optional
            Default 0 ("current length") for 4.13 servers, else the native
            count.
        notify : bool
            READ_NOTIFY (True, what libca sends) or READ.
        ioid : int, optional
            Allocated by the circuit when omitted.
        """
        data_type = self.resolve_type(data_type)
        data_count = self.resolve_count(data_count, dynamic=notify)
        if ioid is None:
            ioid = self.circuit.new_ioid()
        cls = ReadNotifyRequest if notify else ReadRequest
        return cls(data_type, data_count, self.sid, ioid)

    def write(self, data: Any, data_type: DataTypeSpec = None,
              data_count: int | None = None, metadata: Any = None,
              notify: bool = True, ioid: int | None = None
              ) -> WriteNotifyRequest | WriteRequest:
        """WRITE_NOTIFY (or WRITE, with ``notify=False``).

        ``data_count`` defaults to the number of values given.  A WRITE
        carries the CID where the ioid would be, as libca does.

        ``metadata`` (a DBR structure of ``data_type``, its bytes, a tuple
        of its fields or a dict of them) is sent before the values, as
        caproto does; only then may ``data_type`` be a compound type
        (STS/TIME/GR/CTRL), which the caller names explicitly (the default
        stays the native type).  RSRV refuses such writes (ECA_PUTFAIL).

        Raises
        ------
        CaprotoValueError
            ``data_type`` is not one a client may write (without metadata
            only the plain types and PUT_ACKT/PUT_ACKS), the metadata do
            not match it, or the data do not fit it.
        """
        data_type = self.resolve_type(data_type)
        allowed = (WRITABLE_TYPES if metadata is None
                   else WRITABLE_TYPES_WITH_METADATA)
        if data_type not in allowed:
            raise CaprotoValueError(
                f'Cannot write with data type {data_type!r}: clients may '
                f'only write plain types (or PUT_ACKT/PUT_ACKS), or compound '
                f'types with their metadata given; use '
                f'{ChannelType(native_type(data_type))!r}')
        if notify:
            if ioid is None:
                ioid = self.circuit.new_ioid()
            return WriteNotifyRequest(data, data_type, data_count, self.sid,
                                      ioid, metadata=metadata)
        return WriteRequest(data, data_type, data_count, self.sid,
                            self.cid if ioid is None else ioid,
                            metadata=metadata)

    def subscribe(self, data_type: DataTypeSpec = None,
                  data_count: int | None = None,
                  low: float = 0.0, high: float = 0.0, to: float = 0.0,
                  mask: int | None = None,
                  subscriptionid: int | None = None) -> EventAddRequest:
        """EVENT_ADD for this channel.

        ``mask`` defaults to DBE_VALUE | DBE_ALARM | DBE_PROPERTY.
        """
        data_type, data_count = self._fill_defaults(data_type, data_count)
        if mask is None:
            mask = DEFAULT_MASK
        if subscriptionid is None:
            subscriptionid = self.circuit.new_subscriptionid()
        return EventAddRequest(data_type, data_count, self.sid,
                               subscriptionid, low, high, to, int(mask))

    def unsubscribe(self, subscriptionid: int) -> EventCancelRequest:
        """EVENT_CANCEL for one of this channel's subscriptions."""
        if subscriptionid not in self._subscriptionids:
            raise CaprotoKeyError(
                f'channel {self.name!r} has no subscription with id '
                f'{subscriptionid!r}')
        event_add = self.circuit.event_add_commands[subscriptionid]
        return EventCancelRequest(event_add.data_type, self.sid,
                                  subscriptionid,
                                  data_count=event_add.data_count)


class ServerChannel(_BaseChannel):
    """A channel as the server sees it (made by the circuit when a
    CREATE_CHAN arrives).

    Parameters
    ----------
    name : str
    circuit : VirtualCircuit
    cid : int
        The client's id for it.
    """

    # Slots as the client's: a server holds one per client per PV.
    __slots__ = ()

    def __init__(self, name: str, circuit: 'VirtualCircuit', cid: int,
                 *, string_encoding: str = 'latin-1') -> None:
        if circuit.our_role is not SERVER:
            raise LocalProtocolError('a ServerChannel needs a server circuit')
        super().__init__(name, circuit, cid, string_encoding=string_encoding)
        circuit._register_channel(self)

    def version(self) -> VersionResponse:
        """The server's VERSION reply, at the circuit's protocol version."""
        return VersionResponse(self.circuit.protocol_version)

    def access_rights_response(self, access_rights: int
                               ) -> AccessRightsResponse:
        """ACCESS_RIGHTS for this channel (sent before the create reply
        and whenever the rights change)."""
        return AccessRightsResponse(self.cid, int(access_rights))

    def create(self, native_data_type: int, native_data_count: int,
               sid: int) -> CreateChanResponse:
        """The CREATE_CHAN reply: this channel is ``sid``."""
        return CreateChanResponse(native_data_type, native_data_count,
                                  self.cid, sid)

    def create_fail(self) -> CreateChFailResponse:
        """CREATE_CH_FAIL: this channel cannot be served."""
        return CreateChFailResponse(self.cid)

    def read(self, data: Any, ioid: int, data_type: DataTypeSpec = None,
             data_count: int | None = None, status: Any = _NORMAL, *,
             metadata: Any = None, notify: bool = True
             ) -> ReadNotifyResponse | ReadResponse:
        """READ_NOTIFY (or READ) reply for request ``ioid``.

        ``data_count`` defaults to the number of values given.  A READ
        reply carries the CID in parameter1, as RSRV does.
        """
        if data_type is None or isinstance(data_type, str):
            data_type, _ = self._fill_defaults(data_type, 0)
        if notify:
            return ReadNotifyResponse(data, data_type, data_count, status,
                                      ioid, metadata=metadata)
        return ReadResponse(data, data_type, data_count, self.cid, ioid,
                            metadata=metadata)

    def write(self, ioid: int, data_type: DataTypeSpec = None,
              data_count: int = 1, status: Any = _NORMAL
              ) -> WriteNotifyResponse:
        """WRITE_NOTIFY reply for request ``ioid`` (echo the request's
        type and count)."""
        if data_type is None or isinstance(data_type, str):
            data_type, _ = self._fill_defaults(data_type, 0)
        return WriteNotifyResponse(data_type, data_count, status, ioid)

    def subscribe(self, data: Any, subscriptionid: int,
                  data_type: DataTypeSpec = None,
                  data_count: int | None = None,
                  status: Any = _NORMAL, *, metadata: Any = None
                  ) -> EventAddResponse:
        """A subscription update.  ``data_type`` defaults to the one the
        client subscribed with."""
        if data_type is None:
            event_add = self.circuit.event_add_commands.get(subscriptionid)
            if event_add is not None:
                data_type = event_add.data_type
        if data_type is None or isinstance(data_type, str):
            data_type, _ = self._fill_defaults(data_type, 0)
        return EventAddResponse(data, data_type, data_count, status,
                                subscriptionid, metadata=metadata)

    def unsubscribe(self, subscriptionid: int) -> EventCancelResponse:
        """The cancel acknowledgement (echoing the subscription's type and
        count)."""
        event_add = self.circuit.event_add_commands.get(subscriptionid)
        if event_add is None or subscriptionid not in self._subscriptionids:
            raise CaprotoKeyError(
                f'channel {self.name!r} has no subscription with id '
                f'{subscriptionid!r}')
        return EventCancelResponse(event_add.data_type, self.sid,
                                   subscriptionid, event_add.data_count)

    def clear(self) -> ClearChannelResponse:
        """The CLEAR_CHANNEL echo."""
        return ClearChannelResponse(self.sid, self.cid)

    def disconnect(self) -> ServerDisconnResponse:
        """SERVER_DISCONN: tell the client we dropped this channel."""
        return ServerDisconnResponse(self.cid)
