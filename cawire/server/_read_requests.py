"""READ and READ_NOTIFY on a server circuit.

A read is answered at once from the channel's cached encoding unless the
channel has a getter (or its own ``auth_read``): then the answer comes from
a task, and the client's later requests for that channel wait for it.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ..protocol import _commands as cmds
from ..protocol._commands_base import Message
from ..protocol._dbr import payload_size
from ..protocol._enums import ChannelType
from ..protocol._exceptions import CaprotoError
from ..protocol._serving import (header_fields, read_header,
                                 read_notify_header)
from ..protocol._status import CAStatus
from ._channel_data import Forbidden
from ._channel_entry import ChannelEntry
from ._circuit_output import CircuitOutput
from ._wire import is_readable_type, zero_payload

if TYPE_CHECKING:  # pragma: no cover
    from ._circuit import ServerCircuit

__all__ = ('ReadRequests', 'zero_fill_too_large',
           'LARGEST_ZERO_FILLED_REPLY')

logger = logging.getLogger('cawire.circ')

ECA_NORMAL = CAStatus.ECA_NORMAL.code_with_severity
ECA_GETFAIL = CAStatus.ECA_GETFAIL.code_with_severity
ECA_TOLARGE = CAStatus.ECA_TOLARGE.code_with_severity
ECA_NORDACCESS = CAStatus.ECA_NORDACCESS.code_with_severity

_READ_NOTIFY_REQUEST = cmds.ReadNotifyRequest
#: ChannelType by wire value (indexing a tuple beats the enum's call).
_CHANNEL_TYPES = tuple(ChannelType)
#: A read or subscription may ask for more elements than the channel has
#: (RSRV answers with the request's count, zero-filled); a zero-filled reply
#: above this size (or the server's largest payload, if larger) is refused
#: (ECA_TOLARGE) so that a count cannot make the server allocate gigabytes.
LARGEST_ZERO_FILLED_REPLY = 1 << 20


def zero_fill_too_large(data_type: int, count: int, max_payload: int) -> bool:
    """Whether a zero-filled reply of ``count`` elements is too large to
    build (see ``LARGEST_ZERO_FILLED_REPLY``)."""
    return payload_size(data_type, count) > max(max_payload,
                                                 LARGEST_ZERO_FILLED_REPLY)


class ReadRequests:
    """Answers the reads of one circuit's client.

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

    def on_read(self, command: Message) -> None:
        _, _, data_type, count, sid, ioid = header_fields(command)
        entry = self._channels.get(sid)
        if entry is None:
            entry = self._circuit.entry(command, sid)  # raises
        notify = type(command) is _READ_NOTIFY_REQUEST
        if not is_readable_type(data_type):
            self._output.send_error(command, entry.cid, CAStatus.ECA_BADTYPE,
                                    entry.name)
            return
        data = entry.data
        if entry.recheck:
            self._circuit.check_rights(entry)
        if count > data.max_length and count > len(data) and \
                zero_fill_too_large(data_type, count,
                                    self._circuit.max_payload):
            status = ECA_TOLARGE
        elif not entry.readable:
            status = ECA_NORDACCESS
        elif data.has_async_read or data.overrides_auth_read:
            self._circuit.spawn(self._async_read(command, entry, notify,
                                                 data_type, count, ioid),
                                entry)
            return
        else:
            status = ECA_NORMAL
        self._reply(command, entry, notify, data_type, count, ioid, status)

    async def _async_read(self, command: Message, entry: ChannelEntry,
                          notify: bool, data_type: int, count: int,
                          ioid: int) -> None:
        status = ECA_NORMAL
        data = entry.data
        circuit = self._circuit
        try:
            if data.overrides_auth_read:
                await data.auth_read(circuit.client_hostname,
                                     circuit.client_username,
                                     _CHANNEL_TYPES[data_type],
                                     user_address=circuit.address)
            else:
                await data.read(data_type)
        except Forbidden as exc:
            logger.info('Read of %s by %r@%s refused: %s', entry.name,
                        circuit.client_username, circuit.client_hostname, exc)
            status = ECA_NORDACCESS
        except Exception:  # noqa: BLE001 - a user getter failed
            logger.exception('Getter of %s failed', entry.name)
            status = ECA_GETFAIL
        self._reply(command, entry, notify, data_type, count, ioid, status)

    def _reply(self, command: Message, entry: ChannelEntry, notify: bool,
               data_type: int, count: int, ioid: int, status: int) -> None:
        """Answer a read: the request's type, count and ioid; ``status``
        other than ECA_NORMAL when it already failed."""
        output = self._output
        if output.closed:
            return
        if status == ECA_NORMAL:
            try:
                payload, count = entry.data.encode_read(data_type, count)
            except CaprotoError as exc:
                logger.debug('Read of %s as type %d failed: %s', entry.name,
                             data_type, exc)
                status = ECA_GETFAIL
        if status != ECA_NORMAL:
            count = min(count or 1, entry.data.max_length)
            payload = zero_payload(data_type, count)
            if not notify:  # READ reports failures as ERROR messages
                output.send_error(command, entry.cid, status, entry.name)
                return
        size = len(payload)
        if notify:
            output.send(read_notify_header(size, data_type, count, status,
                                           ioid))
        else:
            output.send(read_header(size, data_type, count, entry.cid, ioid))
        if size:
            output.send(payload)
