"""WRITE and WRITE_NOTIFY on a server circuit.

A write is stored at once unless the channel has a putter (``write`` runs
as a task) or its own ``auth_write`` (caproto's hook, given the decoded wire
data); the client's later requests for that channel wait for the task.
Every way a write can fail maps to one CA status in :func:`write_failure`.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ..protocol import _commands as cmds
from ..protocol._commands_base import Message
from ..protocol._enums import AlarmSeverity, ChannelType
from ..protocol._exceptions import CaprotoError
from ..protocol._serving import (header_fields, is_acknowledgement_type,
                                 write_notify_reply)
from ..protocol._status import CAStatus
from ._channel_data import Forbidden, SkipWrite
from ._channel_entry import ChannelEntry
from ._circuit_output import CircuitOutput
from ._wire import is_writable_type

if TYPE_CHECKING:  # pragma: no cover
    from ._circuit import ServerCircuit

__all__ = ('WriteRequests', 'write_failure')

put_logger = logging.getLogger('cawire.server.put')

ECA_NORMAL = CAStatus.ECA_NORMAL.code_with_severity
ECA_PUTFAIL = CAStatus.ECA_PUTFAIL.code_with_severity
ECA_BADTYPE = CAStatus.ECA_BADTYPE.code_with_severity
ECA_NOWTACCESS = CAStatus.ECA_NOWTACCESS.code_with_severity

_WRITE_NOTIFY_REQUEST = cmds.WriteNotifyRequest
_PUT_ACKT = int(ChannelType.PUT_ACKT)
#: ChannelType by wire value (indexing a tuple beats the enum's call).
_CHANNEL_TYPES = tuple(ChannelType)
#: What a bad value raises (from the conversion or the channel's checks):
#: the client's mistake, not worth a traceback in the log.
_REFUSED_VALUE = (CaprotoError, ValueError, TypeError)
#: Hook names as the log calls them.
PUTTER = 'Putter'
AUTH_WRITE = 'auth_write'


def write_failure(exc: Exception, hook: str, pv_name: str
                  ) -> tuple[int, str]:
    """The status (and reason) a write's reply carries when ``hook``
    (:data:`PUTTER` or :data:`AUTH_WRITE`) of ``pv_name`` raised ``exc``.

    Call it from the ``except`` clause: an unexpected exception is logged
    with its traceback.  ``Forbidden`` and ``SkipWrite`` are the access
    hook's answers (refused; skipped, which is a success); a putter's
    ``SkipWrite`` never gets here (the channel's ``write`` takes it) and a
    putter's ``Forbidden`` is a failed put like any other CaprotoError.
    """
    if hook == AUTH_WRITE:
        if isinstance(exc, Forbidden):
            return ECA_NOWTACCESS, str(exc)
        if isinstance(exc, SkipWrite):
            return ECA_NORMAL, ''
    if not isinstance(exc, _REFUSED_VALUE):
        put_logger.exception('%s of %s raised', hook, pv_name)
    return ECA_PUTFAIL, str(exc)


class WriteRequests:
    """Stores the writes of one circuit's client and answers them.

    Parameters
    ----------
    circuit : ServerCircuit
        The client's channels and identity; runs the hook tasks.
    output : CircuitOutput
        Where the answers go.
    """

    __slots__ = ('_circuit', '_channels', '_output')

    def __init__(self, circuit: 'ServerCircuit', output: CircuitOutput):
        self._circuit = circuit
        self._channels = circuit.channels
        self._output = output

    def on_write(self, command: cmds.WriteRequest) -> None:
        _, _, data_type, count, sid, _ = header_fields(command)
        entry = self._channels.get(sid)
        if entry is None:
            entry = self._circuit.entry(command, sid)  # raises
        notify = type(command) is _WRITE_NOTIFY_REQUEST
        if not is_writable_type(data_type):
            self._reply(command, entry, notify, ECA_BADTYPE,
                        f'DBR type {data_type} cannot be written')
            return
        if entry.recheck:
            self._circuit.check_rights(entry)
        if not entry.writable:
            self._reply(command, entry, notify, ECA_NOWTACCESS,
                        'no write access')
            return
        if is_acknowledgement_type(data_type):
            _acknowledge(command, entry)
            self._reply(command, entry, notify, ECA_NORMAL)
            return
        data = entry.data
        if data.overrides_auth_write:
            self._circuit.spawn(self._auth_write(command, entry, notify),
                                entry)
            return
        try:
            wire_values = command.data
            if count > data.max_length:
                wire_values = wire_values[:data.max_length]
            value = data.values_from_wire(wire_values,
                                          _CHANNEL_TYPES[data_type])
        except CaprotoError as exc:
            self._reply(command, entry, notify, ECA_PUTFAIL, str(exc))
            return
        if data.has_async_write:
            self._circuit.spawn(self._async_write(command, entry, notify,
                                                  value), entry)
            return
        try:
            data.commit(value)
        except _REFUSED_VALUE as exc:
            self._reply(command, entry, notify, ECA_PUTFAIL, str(exc))
            return
        self._reply(command, entry, notify, ECA_NORMAL)

    async def _async_write(self, command: Message, entry: ChannelEntry,
                           notify: bool, value: Any) -> None:
        status, reason = ECA_NORMAL, ''
        try:
            await entry.data.write(value)
        except Exception as exc:  # noqa: BLE001 - sorted by write_failure
            status, reason = write_failure(exc, PUTTER, entry.name)
        self._reply(command, entry, notify, status, reason)

    async def _auth_write(self, command: Message, entry: ChannelEntry,
                          notify: bool) -> None:
        """A write through the channel's own ``auth_write`` (caproto's
        hook), given the wire data as decoded."""
        data = entry.data
        circuit = self._circuit
        data_type = header_fields(command)[2]
        status, reason = ECA_NORMAL, ''
        try:
            values = command.data  # type: ignore[attr-defined]
            if len(values) > data.max_length:
                values = values[:data.max_length]
            await data.auth_write(
                circuit.client_hostname, circuit.client_username, values,
                _CHANNEL_TYPES[data_type],
                command.metadata,  # type: ignore[attr-defined]
                user_address=circuit.address)
        except Exception as exc:  # noqa: BLE001 - sorted by write_failure
            status, reason = write_failure(exc, AUTH_WRITE, entry.name)
        self._reply(command, entry, notify, status, reason)

    def _reply(self, command: Message, entry: ChannelEntry, notify: bool,
               status: int, reason: str = '') -> None:
        if status != ECA_NORMAL:
            circuit = self._circuit
            put_logger.info('Write to %s by %r@%s refused: %s', entry.name,
                            circuit.client_username, circuit.client_hostname,
                            reason or status)
        output = self._output
        if output.closed:
            return
        if notify:
            _, _, data_type, count, _, ioid = header_fields(command)
            output.send(write_notify_reply(data_type, count, status, ioid))
        elif status != ECA_NORMAL:
            output.send_error(command, entry.cid, status, entry.name)


def _acknowledge(command: cmds.WriteRequest, entry: ChannelEntry) -> None:
    """PUT_ACKT / PUT_ACKS: the client acknowledges the channel's alarm."""
    alarm = entry.data.alarm
    value = int(command.data[0])
    if header_fields(command)[2] == _PUT_ACKT:
        alarm.must_acknowledge_transient = bool(value)
    elif value >= alarm.severity_to_acknowledge:
        alarm.severity_to_acknowledge = AlarmSeverity.NO_ALARM
