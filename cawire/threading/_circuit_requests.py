"""Requests a circuit sends on behalf of PVs: reads, writes, batches and
subscriptions (a mixin of ``VirtualCircuitManager``).

Every method here may run on any user thread.  The circuit lock guards the
sans-I/O circuit and the ioid table only for as long as it takes to
register and queue a request; encoding large data and waiting for send
backpressure happen outside it, so the network thread is never held up.
"""
from __future__ import annotations

from ..protocol import _commands as ca
from ..protocol._dbr import payload_size as dbr_payload_size
from ..protocol._enums import ChannelType, field_class_to_type
from ..protocol._exceptions import (CaprotoTimeoutError, CaprotoValueError,
                           DisconnectedError, LocalProtocolError)
from ._requests import PendingRequest

__all__ = ('CircuitRequests',)

_U32 = 0xFFFFFFFF


class CircuitRequests:
    """Request side of a circuit manager.

    Expects ``_lock``, ``ioids``, ``subscriptions``, ``dead``,
    ``transport``, ``max_message``, ``context``, ``log``, ``_next_ioid``
    and ``_send_locked`` from the manager.
    """

    def _new_ioid(self) -> int:
        # Called with _lock held.  Sequential per circuit from 0 (as in the
        # documented transcript), skipping ids still in use after a wrap.
        ioid = self._next_ioid
        while ioid in self.ioids:
            ioid = (ioid + 1) & _U32
        self._next_ioid = (ioid + 1) & _U32
        return ioid

    def _add_request(self, pending) -> None:
        # With _lock held.
        self.ioids[pending.ioid] = pending
        pending.pv._outstanding += 1

    def _take_request(self, ioid):
        """Remove and return the pending request ``ioid`` (None if unknown).

        With _lock held.  When it was the last request of a PV that was
        asked to go idle meanwhile, the idling happens now (on the network
        thread).
        """
        pending = self.ioids.pop(ioid, None)
        if pending is not None:
            pv = pending.pv
            pv._outstanding -= 1
            if pv._outstanding <= 0 and pv._idle_requested:
                self.selector.call_soon(pv._finish_going_idle)
        return pending

    def _check_size(self, data_type, data_count, native_count) -> None:
        if self.max_message is None:
            return
        count = data_count if data_count else native_count
        size = dbr_payload_size(data_type, count)
        if size + 24 > self.max_message:
            raise CaprotoValueError(
                f'{size}-byte request exceeds EPICS_CA_MAX_ARRAY_BYTES '
                f'({self.context.config.max_array_bytes}) (ECA_TOLARGE)')

    def read(self, pv, channel, data_type, data_count, *, notify, callback,
             wait, deadline) -> PendingRequest:
        """Send a read request; return its pending slot (user thread)."""
        if data_count is None:
            # READ_NOTIFY: 0 means the current (dynamic) length (servers
            # >= 4.13).  The deprecated READ does not honour that (RSRV
            # answers 0 elements), so it asks for the native count.
            dynamic = notify and self.circuit.protocol_version >= 13
            data_count = 0 if dynamic else channel.native_data_count
        self._check_size(data_type, data_count, channel.native_data_count)
        with self._lock:
            if self.dead.is_set():
                raise DisconnectedError('circuit is dead')
            ioid = self._new_ioid()
            cls = ca.ReadNotifyRequest if notify else ca.ReadRequest
            command = cls(data_type, data_count, channel.sid, ioid)
            pending = PendingRequest(ioid, pv, command, callback,
                                     deadline.when, wait)
            self._add_request(pending)
            try:
                self._send_locked([command])
            except BaseException:
                self._take_request(ioid)
                raise
        self._wait_for_backlog(pending, deadline)
        return pending

    def write(self, pv, channel, data, data_type, data_count, *, notify,
              callback, wait, deadline) -> PendingRequest | None:
        """Send a write (notify or not); return the pending slot if any.

        The data are encoded outside the circuit lock (an 8 MB array takes
        a while) with the ioid reserved beforehand.
        """
        pending = None
        if notify:
            with self._lock:
                if self.dead.is_set():
                    raise DisconnectedError('circuit is dead')
                ioid = self._new_ioid()
                pending = PendingRequest(ioid, pv, None, callback,
                                         deadline.when, wait)
                self._add_request(pending)
            try:
                command = ca.WriteNotifyRequest(data, data_type, data_count,
                                                channel.sid, ioid)
                self._check_size(data_type, command.header.data_count, 1)
            except BaseException:
                self.forget_request(ioid)
                raise
            pending.request = command
        else:
            # libca puts the CID where WRITE_NOTIFY has the ioid.
            command = ca.WriteRequest(data, data_type, data_count,
                                      channel.sid, pv.cid)
            self._check_size(data_type, command.header.data_count, 1)
        with self._lock:
            try:
                if self.dead.is_set():
                    raise DisconnectedError('circuit is dead')
                self._send_locked([command])
            except BaseException:
                if pending is not None:
                    self._take_request(pending.ioid)
                raise
        self._wait_for_backlog(pending, deadline)
        return pending

    def _wait_for_backlog(self, pending, deadline) -> None:
        """Backpressure for user threads, bounded by the request's timeout."""
        if self.transport.wait_for_backlog(deadline.remaining()):
            return
        if pending is not None:
            self.forget_request(pending.ioid)
        host, port = self.circuit.address
        raise CaprotoTimeoutError(
            f'Server at {host}:{port} did not take the request within the '
            f'{deadline} timeout (send queue full); it stays queued')

    def forget_request(self, ioid: int) -> None:
        """The caller gave up waiting (timeout): a late reply is dropped."""
        with self._lock:
            self._take_request(ioid)

    def batch_send(self, items, timeout=None) -> None:
        """Register and send Batch requests together (user thread).

        ``items`` is a list of ``(pending_or_None, make_command)`` where
        ``make_command(ioid)`` builds the request.
        """
        with self._lock:
            if self.dead.is_set():
                raise DisconnectedError('circuit is dead')
            commands = []
            for pending, make_command in items:
                if pending is not None:
                    pending.ioid = self._new_ioid()
                    pending.request = make_command(pending.ioid)
                    self._add_request(pending)
                    commands.append(pending.request)
                else:
                    commands.append(make_command(None))
            self._send_locked(commands)
        if not self.transport.wait_for_backlog(timeout):
            host, port = self.circuit.address
            raise CaprotoTimeoutError(
                f'Server at {host}:{port} did not take the batch within '
                f'{timeout} s (send queue full); it stays queued')

    # -- subscriptions -----------------------------------------------------------------------

    def _event_add_command(self, channel, sub):
        data_type = sub.data_type
        native = channel.native_data_type
        data_type = ChannelType(native) if data_type is None else \
            field_class_to_type(native, data_type)
        data_count = sub.data_count
        if data_count is None:
            # 0 = the current length, understood by servers since 4.13.
            data_count = (0 if self.circuit.protocol_version >= 13
                          else channel.native_data_count)
        self._check_size(data_type, data_count, channel.native_data_count)
        sub._wire_request = (data_type, data_count)
        return ca.EventAddRequest(data_type, data_count, channel.sid,
                                  sub.subscriptionid, sub.low, sub.high,
                                  sub.to, sub.mask)

    def subscribe(self, pv, channel, sub) -> None:
        """Send EVENT_ADD for ``sub`` (any thread; never blocks)."""
        with self._lock:
            if self.dead.is_set():
                return  # it will be re-subscribed after reconnection
            command = self._event_add_command(channel, sub)
            self.subscriptions[sub.subscriptionid] = sub
            self._send_locked([command])

    def unsubscribe(self, pv, channel, sub, subscriptionid: int) -> None:
        """Send EVENT_CANCEL for ``subscriptionid`` (any thread)."""
        with self._lock:
            if self.subscriptions.pop(subscriptionid, None) is None:
                return
            if self.dead.is_set():
                return
            data_type, data_count = getattr(sub, '_wire_request',
                                            (channel.native_data_type, 0))
            try:
                self._send_locked([ca.EventCancelRequest(
                    data_type, channel.sid, subscriptionid,
                    data_count=data_count)])
            except (LocalProtocolError, DisconnectedError) as exc:
                self.log.debug('Could not cancel subscription %d: %s',
                               subscriptionid, exc)
