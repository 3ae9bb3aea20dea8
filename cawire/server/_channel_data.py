"""PV values held by the server: ChannelAlarm and the ChannelData base
(the concrete types live in ``_channel_types``).

A ChannelData owns one PV's value, timestamp, alarm and metadata (units,
precision, limits, enum strings) and knows who is subscribed to it. The
server asks it for wire payloads (:meth:`ChannelData.encode_read`), which are
cached per (request type, count) until the value or metadata changes, so a
change seen by a hundred subscribers with the same request type is encoded
once.

User code changes values with ``await channel.write(value)``; writes from CA
clients go through :meth:`ChannelData.write_from_dbr`. Both run the
``verify_value`` hook (where pvproperty putters live) before committing. A
channel whose hooks are the defaults can be read and written synchronously by
the server (no task per request): see ``has_async_read``/``has_async_write``.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from ..protocol._enums import (AccessRights, AlarmSeverity, AlarmStatus, ChannelType,
                      SubscriptionType)
from ..protocol._exceptions import CaprotoError, CaprotoValueError
from . import _running_servers, _wire
from ._conversion import as_text_list, convert_values

__all__ = ('ChannelAlarm', 'ChannelData', 'SkipWrite', 'Forbidden')

logger = logging.getLogger('cawire.server.data')


class Subscriber(Protocol):
    """What a channel posts updates to: a client's subscription, or a
    filter's relay standing for one."""

    mask: int

    def post(self, data: 'ChannelData') -> None: ...

_DBE_VALUE = int(SubscriptionType.DBE_VALUE)
_DBE_LOG = int(SubscriptionType.DBE_LOG)
_VALUE_CHANGE = _DBE_VALUE | _DBE_LOG
_DBE_ALARM = int(SubscriptionType.DBE_ALARM)
_DBE_PROPERTY = int(SubscriptionType.DBE_PROPERTY)
#: Encoded payloads kept per channel between changes.
_PAYLOAD_CACHE_ENTRIES = 16
_LIMIT_NAMES = ('upper_disp_limit', 'lower_disp_limit', 'upper_alarm_limit',
                'upper_warning_limit', 'lower_warning_limit',
                'lower_alarm_limit', 'upper_ctrl_limit', 'lower_ctrl_limit')


class SkipWrite(Exception):
    """Raise from a putter (``verify_value``) to accept a write without
    storing it: the client sees success, the value stays unchanged."""


class Forbidden(CaprotoError):
    """A client is not allowed the requested access."""


class ChannelAlarm:
    """Alarm status and severity, shareable by several channels.

    Parameters
    ----------
    status : AlarmStatus or int
    severity : AlarmSeverity or int
    must_acknowledge_transient : bool
    severity_to_acknowledge : AlarmSeverity or int
    alarm_string : str
    """

    def __init__(self, *, status: int = 0, severity: int = 0,
                 must_acknowledge_transient: bool = True,
                 severity_to_acknowledge: int = 0, alarm_string: str = ''):
        self._status = AlarmStatus(status)
        self._severity = AlarmSeverity(severity)
        self.must_acknowledge_transient = bool(must_acknowledge_transient)
        self.severity_to_acknowledge = AlarmSeverity(severity_to_acknowledge)
        self.alarm_string = alarm_string
        self._channels: list[ChannelData] = []

    def __repr__(self) -> str:
        return (f'<ChannelAlarm(status={self._status.name}, '
                f'severity={self._severity.name})>')

    @property
    def status(self) -> AlarmStatus:
        """The alarm status shared by the channels of this alarm."""
        return self._status

    @property
    def severity(self) -> AlarmSeverity:
        """The alarm severity shared by the channels of this alarm."""
        return self._severity

    def connect(self, channel: 'ChannelData') -> None:
        """Attach a channel so it is notified of alarm changes."""
        if channel not in self._channels:
            self._channels.append(channel)

    def disconnect(self, channel: 'ChannelData') -> None:
        """Detach a channel: it is no longer notified of alarm changes."""
        if channel in self._channels:
            self._channels.remove(channel)

    def _set(self, status, severity) -> bool:
        changed = False
        if status is not None and status != self._status:
            self._status = AlarmStatus(status)
            changed = True
        if severity is not None and severity != self._severity:
            self._severity = AlarmSeverity(severity)
            changed = True
        return changed

    def _publish(self) -> None:
        for channel in list(self._channels):
            channel._alarm_changed()

    async def write(self, *, status: AlarmStatus | int | None = None,
                    severity: AlarmSeverity | int | None = None,
                    must_acknowledge_transient: bool | int | None = None,
                    severity_to_acknowledge: AlarmSeverity | int | None = None,
                    alarm_string: str | None = None) -> None:
        """Change the alarm and notify subscribers (DBE_ALARM) if it changed."""
        if must_acknowledge_transient is not None:
            self.must_acknowledge_transient = bool(must_acknowledge_transient)
        if severity_to_acknowledge is not None:
            self.severity_to_acknowledge = AlarmSeverity(severity_to_acknowledge)
        if alarm_string is not None:
            self.alarm_string = alarm_string
        if self._set(status, severity):
            self._publish()


class ChannelData:
    """One PV served by the server.

    Parameters
    ----------
    value : object
        Initial value.
    alarm : ChannelAlarm, optional
        Shared alarm; a private one by default.
    timestamp : float, optional
        POSIX time of the value (now by default).
    max_length : int, optional
        Maximum element count (the native count sent to clients).
    string_encoding : str
        Encoding of text on the wire.
    reported_record_type : str
        Answer to DBR_CLASS_NAME reads.
    read_only : bool
        Refuse writes from CA clients (ACCESS_RIGHTS read only).
    """

    #: Native base type on the wire (set by each subclass).
    data_type: ChannelType = ChannelType.DOUBLE
    #: Access security (cawire.server.access_security), group and level
    #: of this channel; set by apply_access_security.
    access_security = None
    access_security_group = 'DEFAULT'
    access_security_level = 0
    _access_hook: Any = None
    #: Set per subclass: the class overrides auth_read / auth_write /
    #: check_access.  The server calls auth_read / auth_write (and asks
    #: check_access again on each request) only for such classes, keeping
    #: the plain path free of them.
    overrides_auth_read = False
    overrides_auth_write = False
    overrides_check_access = False
    #: Python value used when none is given.
    default_value: object = 0

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.overrides_auth_read = cls.auth_read is not ChannelData.auth_read
        cls.overrides_auth_write = cls.auth_write is not ChannelData.auth_write
        cls.overrides_check_access = \
            cls.check_access is not ChannelData.check_access

    def __init__(self, *, value: Any = None, alarm: ChannelAlarm | None = None,
                 timestamp: float | None = None, max_length: int | None = None,
                 string_encoding: str = 'latin-1',
                 reported_record_type: str = 'cawire', read_only: bool = False):
        self.string_encoding = string_encoding
        self.reported_record_type = reported_record_type
        #: The record fields (cawire.server.records.RecordFields) of a
        #: channel mocking a record, kept in step with its value.
        self.record_fields: Any = None
        self.read_only = bool(read_only)
        self._alarm = alarm if alarm is not None else ChannelAlarm()
        self._alarm.connect(self)
        self.timestamp = time.time() if timestamp is None else float(timestamp)
        self._subscriptions: dict[Subscriber, None] = {}
        self._payload_cache: dict = {}
        #: GR/CTRL metadata bytes per request type (see _wire); cleared
        #: when metadata changes.
        self._metadata_templates: dict = {}
        if value is None:
            value = self.default_value
        self.max_length = self._initial_max_length(value, max_length)
        self._value, self._elements = self._normalize(value)
        cls = type(self)
        self.has_async_write = (
            cls.verify_value is not ChannelData.verify_value
            or cls.preprocess_value is not ChannelData.preprocess_value
            or cls.update_fields is not ChannelData.update_fields)
        self.has_async_read = cls.read is not ChannelData.read

    # ----------------------------------------------------------------- values
    def _initial_max_length(self, value, max_length) -> int:
        if max_length is not None:
            return max(int(max_length), 1)
        if isinstance(value, (str, bytes)) or not isinstance(
                value, (Sequence, np.ndarray)):
            return 1
        return max(len(value), 1)

    @property
    def is_array(self) -> bool:
        """True when the channel holds more than one element."""
        return self.max_length > 1

    @property
    def value(self) -> Any:
        """The current value (scalar for max_length 1, else an array/list)."""
        return self._value

    @property
    def alarm(self) -> ChannelAlarm:
        """The ``ChannelAlarm`` this channel reports.

        Several channels may share one alarm. Assigning another alarm detaches
        the channel from the old one and reports the new one's state to the
        channel's subscribers.
        """
        return self._alarm

    @alarm.setter
    def alarm(self, alarm: ChannelAlarm) -> None:
        self._alarm.disconnect(self)
        self._alarm = alarm
        alarm.connect(self)
        self._alarm_changed()

    @property
    def status(self) -> AlarmStatus:
        """The alarm status of this channel (from its ``alarm``)."""
        return self._alarm.status

    @property
    def severity(self) -> AlarmSeverity:
        """The alarm severity of this channel (from its ``alarm``)."""
        return self._alarm.severity

    def __len__(self) -> int:
        return len(self._elements)

    def __repr__(self) -> str:
        value = self._value
        if self.is_array:
            value = f'<{len(self._elements)} elements>'
        return f'<{type(self).__name__}(value={value!r}, alarm={self._alarm})>'

    def _normalize(self, value):
        """Return (user value, wire elements) or raise CaprotoValueError."""
        raise NotImplementedError  # every subclass defines its own

    def _elements_to_value(self, elements):
        """Turn converted wire elements into a user value for ``write``."""
        if self.is_array:
            return elements
        return elements[0] if len(elements) else self.default_value

    # ----------------------------------------------------------------- access
    def check_access(self, hostname: str, username: str) -> AccessRights:
        """Access rights of a client (CA HOST_NAME and CLIENT_NAME).

        The access security file's rights (everything without one), less
        WRITE for a read-only channel, then :attr:`access_hook` if set.
        Override for other per-client policies (caproto's idiom); the
        server asks again before each read and write of a channel whose
        class overrides this or that has an ``access_hook``.
        """
        rights = AccessRights.READ | AccessRights.WRITE
        if self.access_security is not None:
            rights = self.access_security.rights(
                self.access_security_group, username, hostname,
                self.access_security_level)
        if self.read_only:
            rights &= AccessRights.READ
        if self._access_hook is not None:
            rights = AccessRights(self._access_hook(self, hostname, username,
                                                    rights))
        return rights

    @property
    def access_hook(self) -> Any:
        """Per-channel Python access policy, or None.

        ``hook(channel, hostname, username, rights) -> rights``: given the
        client's host and user names and the rights the access security
        file (and ``read_only``) grant, return the client's rights
        (``AccessRights`` or its int value).  It runs when a client
        connects the channel and before each of its reads and writes, so
        its answer may change with time (an interlock); a change is sent to
        the client as ACCESS_RIGHTS at that request, or at once after
        :meth:`refresh_access_rights`.  Assigning the hook refreshes the
        rights of connected clients.
        """
        return self._access_hook

    @access_hook.setter
    def access_hook(self, hook: Any) -> None:
        if hook is not None and not callable(hook):
            raise CaprotoValueError(f'access_hook must be callable or None, '
                                    f'not {hook!r}')
        self._access_hook = hook
        self.refresh_access_rights()

    @property
    def access_is_dynamic(self) -> bool:
        """True when rights may change between requests (an access hook or
        an overridden check_access): the server then re-checks them on each
        read and write."""
        return self._access_hook is not None or self.overrides_check_access

    def refresh_access_rights(self) -> None:
        """Re-evaluate the rights of every client connected to this channel
        (in every server of this process running it) and send ACCESS_RIGHTS
        to those whose rights changed; call it when the answer of
        ``access_hook`` / ``check_access`` changes.  Call it in the
        server's event loop (from another thread:
        ``loop.call_soon_threadsafe(channel.refresh_access_rights)``)."""
        _running_servers.refresh_access_rights([self])

    async def auth_read(self, hostname: str, username: str, data_type: int,
                        *, user_address: Any = None) -> Any:
        """A client's read (caproto's hook): check its rights, then
        :meth:`read`.

        Raises :class:`Forbidden` when the client may not read (the client
        gets ECA_NORDACCESS).  Override it to see who reads (``user_address``
        is the client's (host, port)); the server calls it only for classes
        that override it.  Unlike caproto, the reply is encoded from the
        channel's state after the hook: its return value is not sent.
        """
        if AccessRights.READ not in AccessRights(
                self.check_access(hostname, username)):
            raise Forbidden(f'client {username!r} on {hostname!r} may not '
                            f'read')
        return await self.read(data_type)

    async def auth_write(self, hostname: str, username: str, data: Any,
                         data_type: ChannelType, metadata: Any = None, *,
                         flags: int = 0, user_address: Any = None) -> Any:
        """A client's write (caproto's hook): check its rights, then
        :meth:`write_from_dbr`.

        Raises :class:`Forbidden` when the client may not write (the client
        gets ECA_NOWTACCESS, nothing is written); other exceptions refuse
        the write with ECA_PUTFAIL.  ``data`` are the decoded wire values
        of ``data_type``; ``user_address`` the client's (host, port).  The
        server calls it only for classes that override it.
        """
        if AccessRights.WRITE not in AccessRights(
                self.check_access(hostname, username)):
            raise Forbidden(f'client {username!r} on {hostname!r} may not '
                            f'write')
        return await self.write_from_dbr(data, data_type, metadata,
                                         flags=flags)

    # ------------------------------------------------------------------ hooks
    async def verify_value(self, value: Any) -> Any:
        """Hook run before a write is committed; return the value to store.

        Raise an exception to refuse the write (a CA client sees ECA_PUTFAIL).
        """
        return value

    async def read(self, data_type: int) -> None:
        """Hook run before a CA read is answered (e.g. to refresh the value)."""

    # ----------------------------------------------------------------- writes
    async def write(self, value: Any, *, timestamp: float | None = None,
                    status: AlarmStatus | int | None = None,
                    severity: AlarmSeverity | int | None = None,
                    verify_value: bool = True, flags: int = 0,
                    **metadata: Any) -> None:
        """Set the value (and optionally alarm/metadata) and notify subscribers.

        Parameters
        ----------
        value : object
            New value, in any form the channel type accepts.
        timestamp : float, optional
            POSIX time of the value; now by default.
        status, severity : optional
            New alarm status/severity (otherwise computed from the alarm
            limits for numeric channels, else unchanged).
        verify_value : bool
            Run the ``verify_value`` hook (pvproperty putter) first.
        flags : int
            Extra DBE bits to post with this change.
        **metadata
            Metadata fields to update at the same time (units, limits...).
        """
        try:
            value = self.preprocess_value(value)
            if verify_value:
                modified = await self.verify_value(value)
                if modified is SkipWrite:
                    return
                if modified is not None:
                    value = modified
            await self.update_fields(value)
        except SkipWrite:
            return
        self.commit(value, timestamp=timestamp, status=status,
                    severity=severity, flags=flags, **metadata)

    def preprocess_value(self, value: Any) -> Any:
        """Hook run first on every write (caproto's name): return the value
        to go on with (e.g. clipped); raise to refuse the write."""
        return value

    async def update_fields(self, value: Any) -> None:
        """Hook run after ``verify_value`` with the value about to be
        stored (caproto's name), e.g. to update related PVs."""

    def commit(self, value: Any, *, timestamp: float | None = None,
               status: AlarmStatus | int | None = None,
               severity: AlarmSeverity | int | None = None, flags: int = 0,
               **metadata: Any) -> None:
        """Store a value without hooks (synchronous) and notify subscribers."""
        user_value, elements = self._normalize(value)
        property_changed = self._update_metadata(metadata) if metadata else False
        if property_changed:
            self._metadata_templates.clear()
        self._value, self._elements = user_value, elements
        self.timestamp = time.time() if timestamp is None else float(timestamp)
        if status is None and severity is None:
            status, severity = self._alarm_from_limits(elements)
        alarm_changed = self._alarm._set(status, severity)
        events = self._value_events(elements) | int(flags)
        if alarm_changed:
            events |= _DBE_ALARM
        if property_changed:
            events |= _DBE_PROPERTY
        self._payload_cache.clear()
        if alarm_changed:
            for other in self._alarm._channels:
                if other is not self:
                    other._alarm_changed()
        self.publish(events)
        if self.record_fields is not None:
            if property_changed:
                self.record_fields.refresh()
            else:
                self.record_fields.alarm_refresh()

    async def write_metadata(self, publish: bool = True,
                             **metadata: Any) -> None:
        """Update metadata fields (units, precision, limits, enum_strings...).

        Change metadata through this method (not by setting attributes) so
        that cached payloads are rebuilt and subscribers are told.
        """
        changed = self._update_metadata(metadata)
        self._payload_cache.clear()
        self._metadata_templates.clear()
        if changed and publish:
            self.publish(SubscriptionType.DBE_PROPERTY)
        if changed and self.record_fields is not None:
            self.record_fields.refresh()

    def _update_metadata(self, metadata: dict) -> bool:
        if metadata:
            raise CaprotoValueError(
                f'{type(self).__name__} has no metadata {sorted(metadata)}')
        return False

    def _alarm_from_limits(self, elements):
        return None, None

    def _value_events(self, elements) -> int:
        """DBE bits a new value posts (deadbands may withhold some)."""
        return _VALUE_CHANGE

    def _alarm_changed(self) -> None:
        self._payload_cache.clear()
        self.publish(SubscriptionType.DBE_ALARM)
        if self.record_fields is not None:
            self.record_fields.alarm_refresh()

    def values_from_wire(self, data: Any, data_type: ChannelType) -> Any:
        """Convert client data (decoded payload) to a value for ``write``.

        Raises
        ------
        CaprotoConversionError
            When the data cannot be converted to this channel's type.
        """
        base = ChannelType(data_type)
        if base == ChannelType.STRING:
            data = as_text_list(data, self.string_encoding)
        converted = convert_values(
            data, base, self.data_type, **self._conversion_options())
        return self._elements_to_value(converted)

    async def write_from_dbr(self, data: Any, data_type: ChannelType,
                             metadata: Any = None, *, flags: int = 0) -> None:
        """Apply a CA client's write (runs hooks; raises to refuse it);
        does not check the client's rights (see :meth:`auth_write`)."""
        await self.write(self.values_from_wire(data, data_type), flags=flags)

    # ------------------------------------------------------------------ reads
    def _conversion_options(self) -> dict:
        # A C IOC's scalar put takes '' as 0; its array put refuses it.
        return {'encoding': self.string_encoding,
                'empty_is_zero': not self.is_array}

    def _metadata_fields(self) -> dict:
        """Fields of the GR/CTRL structures (units, limits...)."""
        return {}

    def elements_as(self, base_type: ChannelType) -> Any:
        """Current elements converted to ``base_type`` (list or array)."""
        return convert_values(self._elements, self.data_type, base_type,
                              **self._conversion_options())

    def encode_read(self, data_type: int, count: int) -> tuple[bytes, int]:
        """Wire payload for a read/subscription update of this channel.

        Parameters
        ----------
        data_type : int
            Requested DBR type (0..38).
        count : int
            Requested element count; 0 means the current length.

        Returns
        -------
        (bytes, int)
            The padded payload and the element count it carries.

        Raises
        ------
        CaprotoConversionError
            If the value cannot be presented as the requested type.
        """
        key = (data_type, count)
        cache = self._payload_cache
        cached = cache.get(key)
        if cached is None:
            cached = _wire.encode_channel(self, data_type, count)
            if len(cache) >= _PAYLOAD_CACHE_ENTRIES:
                # Clients choose the keys (any count): never let them grow
                # the cache without bound.
                cache.clear()
            cache[key] = cached
        return cached

    # ----------------------------------------------------------- subscribers
    def add_subscription(self, subscription: Subscriber) -> None:
        """Start sending this channel's updates to ``subscription``."""
        self._subscriptions[subscription] = None

    def pre_state_change(self, state: str, new_value: bool) -> None:
        """Hook: a named state is about to change (``PVGroup.update_state``);
        does nothing unless overridden."""

    def post_state_change(self, state: str, new_value: bool) -> None:
        """Hook: a named state has changed; does nothing unless overridden."""

    def post_initial_update(self, subscription: Subscriber) -> None:
        """Send a new subscription its first update (a filtered channel may
        hold it back)."""
        subscription.post(self)

    def remove_subscription(self, subscription: Subscriber) -> None:
        """Stop sending updates to ``subscription`` (no error if absent)."""
        self._subscriptions.pop(subscription, None)

    @property
    def subscription_count(self) -> int:
        """How many client subscriptions this channel currently has."""
        return len(self._subscriptions)

    def publish(self, events: int) -> None:
        """Send an update to every subscription whose mask matches ``events``."""
        if not self._subscriptions:
            return
        events = int(events)
        for subscription in list(self._subscriptions):
            if subscription.mask & events:
                subscription.post(self)
