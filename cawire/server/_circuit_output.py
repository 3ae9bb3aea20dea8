"""What a server circuit sends to its client, and when.

Replies built while one chunk of input is handled are queued and written
with a single transport write.  Monitor updates are the only traffic the
server originates on its own: while the client cannot take them (it stopped
reading, so the transport paused us, or it sent EVENTS_OFF) they are held in
an :class:`~cawire.server._subscriptions.UpdateQueue`, the latest per
subscription, and released when it can again.
"""
from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from ..protocol import _commands as cmds
from ..protocol._commands_base import Message
from ..protocol._exceptions import CaprotoError
from ..protocol._serving import event_add_header
from ..protocol._status import CAStatus, CAStatusCode
from ._subscriptions import Subscription, UpdateQueue
from ._wire import zero_payload

if TYPE_CHECKING:  # pragma: no cover
    from ._channel_data import ChannelData
    from ._server import Context

__all__ = ('CircuitOutput', 'OUTBOX_LIMIT')

logger = logging.getLogger('cawire.circ')

ECA_NORMAL = CAStatus.ECA_NORMAL.code_with_severity
ECA_GETFAIL = CAStatus.ECA_GETFAIL.code_with_severity
ECA_NORDACCESS = CAStatus.ECA_NORDACCESS.code_with_severity
#: Output queued within one loop iteration above which it is written at once.
OUTBOX_LIMIT = 1 << 18


class CircuitOutput:
    """The outgoing side of one server circuit: queued replies, monitor
    updates and the updates held while the client cannot take them.

    Parameters
    ----------
    server : cawire.server.Context
        Writes the queued output of every circuit a change reached from one
        loop callback (``flush_soon``).
    """

    __slots__ = ('transport', 'messages', 'size', 'flush_scheduled',
                 'events_on', 'write_paused', 'closed', 'held', '_server')

    def __init__(self, server: 'Context'):
        self._server = server
        self.transport: asyncio.Transport | None = None
        self.messages: list[bytes] = []
        self.size = 0                # bytes in ``messages``
        self.flush_scheduled = False
        self.events_on = True        # not between EVENTS_OFF and EVENTS_ON
        self.write_paused = False    # the transport's buffer is full
        self.closed = False
        self.held = UpdateQueue()

    # ---------------------------------------------------------------- replies
    def send(self, message: bytes) -> None:
        """Queue ``message``; write at once when much is queued."""
        self.messages.append(message)
        self.size += len(message)
        if self.size > OUTBOX_LIMIT:
            # Hand big output to the transport now, so that its flow
            # control (pause_writing) sees a client that is not reading
            # before we build more replies or updates for it.
            self.flush()

    def send_error(self, command: Message, cid: int,
                   status: CAStatus | CAStatusCode | int,
                   message: str) -> None:
        """Queue an ERROR answering ``command``."""
        self.send(bytes(cmds.ErrorResponse(command, cid, status, message)))

    def flush(self) -> None:
        """Hand the queued output to the transport now."""
        self.flush_scheduled = False
        messages = self.messages
        if messages and not self.closed and self.transport is not None:
            self.messages = []
            self.size = 0
            self.transport.write(b''.join(messages) if len(messages) > 1
                                 else messages[0])

    def schedule_flush(self) -> None:
        """Write the queued output once the current loop callback is done."""
        if not self.flush_scheduled:
            self.flush_scheduled = True
            self._server.flush_soon(self)

    def close(self) -> None:
        """Drop everything queued or held; send nothing more."""
        self.closed = True
        self.held.take_items()
        self.messages.clear()
        self.size = 0

    # ---------------------------------------------------------- flow control
    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        if not self.closed and self.events_on:
            self.release_held()

    def hold_events(self) -> None:
        """EVENTS_OFF: hold updates until :meth:`resume_events`."""
        self.events_on = False

    def resume_events(self) -> None:
        """EVENTS_ON: send the held updates unless the client is behind."""
        self.events_on = True
        if not self.write_paused:
            self.release_held()

    def release_held(self) -> None:
        """Queue the held updates (those still blocked stay held)."""
        held = self.held
        for subscription, update in held.take_items():
            if self.write_paused or not self.events_on:
                held.hold(subscription, update)  # blocked again
            else:
                header, payload = update
                self.send(header)
                if payload:
                    self.send(payload)
        if self.messages:
            self.schedule_flush()

    def forget(self, subscription: Subscription) -> None:
        """Drop the held update of a cancelled subscription."""
        if self.held.held:
            self.held.discard(subscription)

    # ---------------------------------------------------------------- updates
    def post_update(self, subscription: Subscription,
                    data: 'ChannelData') -> None:
        """Queue a monitor update (or hold it if the client is behind)."""
        if self.closed:
            return
        data_type = subscription.data_type
        if subscription.entry.readable:
            try:
                payload, count = data.encode_read(data_type,
                                                  subscription.data_count)
            except CaprotoError as exc:
                logger.debug('Update of %r as type %d failed: %s', data,
                             data_type, exc)
                header, payload = _failed_update(subscription, ECA_GETFAIL)
            else:
                size = len(payload)
                shape = subscription.header
                if shape is not None and shape[0] == size and \
                        shape[1] == count:
                    header = shape[2]
                else:
                    header = event_add_header(size, data_type, count,
                                              ECA_NORMAL,
                                              subscription.subscriptionid)
                    subscription.header = (size, count, header)
        else:
            header, payload = _failed_update(subscription, ECA_NORDACCESS)
        # An update already held for this subscription must not be
        # overtaken: the newer one replaces it instead.
        held = self.held.held
        if self.events_on and not self.write_paused and \
                (not held or subscription not in held):
            # What send does, for both parts at once (the hottest path).
            messages = self.messages
            messages.append(header)
            messages.append(payload)
            self.size += len(header) + len(payload)
            if self.size > OUTBOX_LIMIT:
                self.flush()
            elif not self.flush_scheduled:
                self.flush_scheduled = True
                self._server.flush_soon(self)
        else:
            # The payload is the channel's cached encoding, shared by every
            # subscriber: holding it costs a reference, not a copy.
            self.held.hold(subscription, (header, payload))


def _failed_update(subscription: Subscription,
                   status: int) -> tuple[bytes, bytes]:
    """(header, zeroed payload) of an update that carries an error."""
    data_type = subscription.data_type
    count = subscription.data_count or 1
    payload = zero_payload(data_type, count)
    return event_add_header(len(payload), data_type, count, status,
                            subscription.subscriptionid), payload
