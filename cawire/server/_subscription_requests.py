"""EVENT_ADD and EVENT_CANCEL on a server circuit: the client's
subscriptions, registered with the channels that post their updates (the
updates go out through the circuit's
:class:`~cawire.server._circuit_output.CircuitOutput`)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..protocol import _commands as cmds
from ..protocol._serving import (event_cancel_reply, header_fields,
                                 subscription_request)
from ..protocol._status import CAStatus
from ._channel_entry import ChannelEntry
from ._circuit_output import CircuitOutput
from ._read_requests import zero_fill_too_large
from ._subscriptions import Subscription
from ._wire import is_readable_type

if TYPE_CHECKING:  # pragma: no cover
    from ._circuit import ServerCircuit

__all__ = ('SubscriptionRequests',)


class SubscriptionRequests:
    """Adds and cancels the subscriptions of one circuit's client.

    Parameters
    ----------
    circuit : ServerCircuit
        The client's channels.
    output : CircuitOutput
        Delivers the updates and the answers.
    """

    __slots__ = ('_circuit', '_channels', '_output')

    def __init__(self, circuit: 'ServerCircuit', output: CircuitOutput):
        self._circuit = circuit
        self._channels = circuit.channels
        self._output = output

    def on_event_add(self, command: cmds.EventAddRequest) -> None:
        data_type, count, sid, subid, mask = subscription_request(command)
        entry = self._channels.get(sid)
        if entry is None:
            entry = self._circuit.entry(command, sid)  # raises
        if not is_readable_type(data_type):
            self._output.send_error(command, entry.cid, CAStatus.ECA_BADTYPE,
                                    entry.name)
            return
        if entry.recheck:
            self._circuit.check_rights(entry)
        data = entry.data
        if count > data.max_length and count > len(data) and \
                zero_fill_too_large(data_type, count,
                                    self._circuit.max_payload):
            count = data.max_length
        subscriptions = entry.subscriptions
        old = subscriptions.get(subid)
        if old is not None:
            data.remove_subscription(old)
            self._output.forget(old)
        subscription = Subscription(self._output, entry, subid, data_type,
                                    count, mask)
        subscriptions[subid] = subscription
        data.add_subscription(subscription)
        data.post_initial_update(subscription)

    def on_event_cancel(self, command: cmds.EventCancelRequest) -> None:
        _, _, data_type, count, sid, subid = header_fields(command)
        entry = self._channels.get(sid)
        if entry is None:
            entry = self._circuit.entry(command, sid)  # raises
        subscription = entry.subscriptions.pop(subid, None)
        if subscription is None:
            self._output.send_error(command, entry.cid,
                                    CAStatus.ECA_BADMONID, entry.name)
            return
        entry.data.remove_subscription(subscription)
        self._output.forget(subscription)
        self._output.send(event_cancel_reply(data_type, count, sid, subid))

    def drop_all(self, entry: ChannelEntry) -> None:
        """Forget the subscriptions of a channel that is going away."""
        output = self._output
        for subscription in entry.subscriptions.values():
            entry.data.remove_subscription(subscription)
            output.forget(subscription)
        entry.subscriptions.clear()
