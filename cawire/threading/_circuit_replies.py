"""What a circuit does with the server's replies (a mixin of
``VirtualCircuitManager``).

Everything here runs on the network thread.  Each received command is
first validated by the sans-I/O circuit (under the circuit lock), then
routed by type: replies complete their pending request directly (waking a
blocked caller without any thread hop), subscription updates go to
:class:`UpdateDelivery`, channel lifecycle messages update the PV.  A
protocol violation closes this circuit only, with the reason logged.
"""
from __future__ import annotations

import logging

from ..protocol import _commands as ca
from ..protocol._enums import AccessRights
from ..protocol._exceptions import (CaprotoValueError, ErrorResponseReceived,
                           RemoteProtocolError)
from ..protocol._framing import parse_stream
from ..protocol._state import CLIENT

__all__ = ('CircuitReplies',)

circ_logger = logging.getLogger('cawire.circ')


class CircuitReplies:
    """Receive side of a circuit manager.

    Expects ``circuit``, ``transport``, ``_lock``, ``_handlers``, ``pvs``,
    ``channels``, ``subscriptions``, ``delivery``, ``keepalive``,
    ``user_callback_executor``, ``context``, ``log`` and the request-table
    helpers of :class:`CircuitRequests` from the manager.
    """

    # -- receiving (network thread) -----------------------------------------------------------

    def received(self, bytes_recv, address) -> None:
        """Parse and process ``bytes_recv`` as received on this circuit.

        Provided for API compatibility; the network loop normally feeds the
        circuit through its zero-copy transport.
        """
        commands, consumed, needed = parse_stream(bytes_recv, CLIENT)
        if needed:
            raise RemoteProtocolError(
                f'{len(bytes_recv) - consumed} trailing bytes do not form a '
                f'whole message (need {needed})')
        self._process_commands(commands)

    def _process_commands(self, commands) -> None:
        # Callbacks queued while processing one receive wake the executor
        # once, after the whole batch (one thread switch per burst).
        executor = self.user_callback_executor
        executor.hold()
        try:
            self._process_commands_held(commands)
        finally:
            executor.release()

    def _process_commands_held(self, commands) -> None:
        handlers = self._handlers
        process = self.circuit.process_command
        lock = self._lock
        if circ_logger.isEnabledFor(logging.DEBUG):
            for command in commands:
                self.log.debug('<<< %r', command)
        for command in commands:
            with lock:
                try:
                    command = process(command)
                except RemoteProtocolError as exc:
                    if self._is_channel_level(exc):
                        self.log.warning('Ignoring invalid %r: %s', command,
                                         exc)
                        continue
                    self.transport.close(f'protocol error from server: {exc}')
                    return
            handler = handlers.get(type(command))
            if handler is None:
                self.log.debug('Unhandled command %r', command)
                continue
            try:
                handler(command)
            except Exception:
                self.log.exception('Failed to handle %r', command)

    @staticmethod
    def _is_channel_level(exc) -> bool:
        return getattr(exc, 'channel', None) is not None

    def _on_nothing(self, command) -> None:
        pass

    def _on_echo(self, command) -> None:
        self.keepalive.echo_answered()

    def _on_access_rights(self, command) -> None:
        pv = self.pvs.get(command.cid)
        if pv is None:
            return
        rights = AccessRights(command.access_rights)
        if rights != pv.access_rights:
            pv.access_rights_changed(rights, self.user_callback_executor)

    def _on_create_chan(self, command) -> None:
        pv = self.pvs.get(command.cid)
        channel = self.channels.get(command.cid)
        if pv is None or channel is None:
            return
        executor = self.user_callback_executor
        with pv.component_lock:
            if pv._circuit_manager is not self:
                return
            pv._channel = channel
            pv.channel_ready.set()
            if pv.name not in self._created_names:
                # A list (caproto's attribute) without repeats, so that
                # idling and waking a PV in a loop does not grow it.
                self._created_names.add(pv.name)
                self.all_created_pvnames.append(pv.name)
            with self._lock:
                for sub in pv.active_subscriptions():
                    try:
                        command = self._event_add_command(channel, sub)
                    except CaprotoValueError as exc:
                        self.log.error('Cannot subscribe to %r: %s',
                                       pv.name, exc)
                        continue
                    self.subscriptions[sub.subscriptionid] = sub
                    self._send_locked([command])
        pv.connection_state_changed('connected', channel, executor)

    def _on_channel_lost(self, command) -> None:
        # CREATE_CH_FAIL or SERVER_DISCONN: the channel is gone from this
        # server; search for it again (it may be served elsewhere).
        pv = self.pvs.pop(command.cid, None)
        self.channels.pop(command.cid, None)
        if pv is None:
            return
        was_connected = self._unbind_pv(pv)
        if was_connected:
            pv.connection_state_changed('disconnected', None,
                                        self.user_callback_executor)
        self.context._pv_lost(pv, governed=True)

    def _on_clear_channel(self, command) -> None:
        cid = command.cid
        with self._lock:
            if self.channels.get(cid) is not None and \
                    cid not in self.circuit.channels:
                del self.channels[cid]
            recreate = cid in self._recreate_after_clear
            self._recreate_after_clear.discard(cid)
        pv = self.pvs.get(cid)
        if pv is None:
            return
        if recreate and not pv._idle:
            self.create_channel(pv)
        elif pv._idle:
            self.pvs.pop(cid, None)

    def _on_reply(self, command) -> None:
        with self._lock:
            pending = self._take_request(command.ioid)
        if pending is None:
            self.log.debug('Ignoring late reply %r', command)
            return
        pending.complete(command, self.user_callback_executor)

    def _on_event(self, command) -> None:
        sub = self.subscriptions.get(command.subscriptionid)
        if sub is None:
            self.delivery.dropped_updates += 1
            return
        self.delivery.deliver(sub, command)

    def _on_error(self, command) -> None:
        try:
            original = command.original_request
            command_id, parameter2 = original.command, original.parameter2
        except Exception:  # noqa: BLE001 - a mangled embedded header
            original, command_id, parameter2 = None, None, None
        if command_id in (ca.ReadNotifyRequest.ID, ca.ReadRequest.ID,
                          ca.WriteNotifyRequest.ID):
            with self._lock:
                pending = self._take_request(parameter2)
            if pending is not None:
                pending.complete(command, self.user_callback_executor)
                return
        elif command_id == ca.EventAddRequest.ID:
            sub = self.subscriptions.get(parameter2)
            if sub is not None:
                self.log.error('Server refused subscription to %r: %s (%s)',
                               sub.pv.name, command.error_message,
                               command.status.name)
                return
        self.log.warning('Server reported an error: %s (%s) for %r',
                         command.error_message, command.status.name, original)

    def _on_oversized(self, fields) -> None:
        # A reply longer than EPICS_CA_MAX_ARRAY_BYTES allows was discarded.
        self.oversized_responses += 1
        command_id, payload_size = fields[0], fields[1]
        # libca prints this once; later ones only at DEBUG.
        log = (self.log.warning if self.oversized_responses == 1
               else self.log.debug)
        log('Discarded a %d-byte reply: larger than EPICS_CA_MAX_ARRAY_BYTES '
            'allows (%d so far on this circuit)', payload_size,
            self.oversized_responses)
        if command_id in (ca.ReadNotifyRequest.ID, ca.ReadRequest.ID):
            with self._lock:
                pending = self._take_request(fields[5])
            if pending is not None:
                pending.fail(ErrorResponseReceived(
                    f'reply of {payload_size} bytes exceeds '
                    f'EPICS_CA_MAX_ARRAY_BYTES (ECA_TOLARGE)'))
