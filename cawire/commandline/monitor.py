"""cawire-monitor: print every update of PVs, as camonitor does.

Usage: ``cawire-monitor [options] <PV name> ...``; runs until interrupted,
or (as caproto-monitor) until ``--maximum`` updates were printed or
``--duration`` seconds passed.
Each update is one "name timestamp value status severity" line; ``-t``
selects server/client and absolute/relative/incremental time stamps, ``-m``
the event mask.  Channels that do not connect within ``-w`` seconds are
listed as "*** Not connected (PV not found)" and still monitored: they are
printed as soon as they appear.

All client events (connections, updates) are queued and handled on the main
thread, so lines are never interleaved and the order of output follows the
order of events, as with camonitor's single-threaded CA context.
"""
from __future__ import annotations

import dataclasses
import queue
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

from ..protocol._exceptions import CaprotoError
from ._args import MonitorOptions, parse_monitor
from ._format import WideFormatter
from ._reading import Reading
from ._session import (ToolOutput, console_main, output_name, report_parse,
                       request_type, tool_context)

if TYPE_CHECKING:  # the client is imported only when a tool runs
    from ..threading.client import Context

__all__ = ('main', 'run')

PROG = 'cawire-monitor'

_CONNECTION, _UPDATE = 'connection', 'update'
#: Events waiting to be printed before the client's callbacks are held up.
_MAX_BACKLOG = 10_000


@dataclasses.dataclass
class _Channel:
    """camonitor's per-PV state (``pv`` struct of tool_lib.h)."""

    index: int
    name: str
    pv: Any
    ever_connected: bool = False
    native_type: int | None = None
    subscription: Any = None
    token: int | None = None
    # Subscriptions hold their callbacks weakly: keep ours alive here.
    callback: object = None
    # So do connection-state registries (as in caproto).
    connection_callback: object = None
    last_count: int = 0


class _Monitor:
    def __init__(self, context, options: MonitorOptions, output: ToolOutput):
        self.context = context
        self.options = options
        self.output = output
        # Bounded: when stdout is slower than the updates, the client's
        # callback thread waits here and the backlog stays in the client's
        # own (coalescing) queues instead of growing without limit.
        self.events: queue.Queue = queue.Queue(maxsize=_MAX_BACKLOG)
        self.closing = threading.Event()
        self.wide = WideFormatter(options.format, options.kind,
                                  server_stamps=options.server_stamps,
                                  client_stamps=options.client_stamps)
        self.channels: list = []
        self.updates = 0
        #: Set when --maximum updates were printed.
        self.finished = threading.Event()
        self.end = (None if options.duration is None
                    else time.monotonic() + options.duration)

    def start(self) -> None:
        names = self.options.names
        pvs = self.context.get_pvs(*names, priority=self.options.priority,
                                   timeout=None)
        for index, (name, pv) in enumerate(zip(names, pvs)):
            channel = _Channel(index, name, pv)
            self.channels.append(channel)
            channel.connection_callback = self._connection_callback(channel)
            pv.connection_state_callback.add_callback(
                channel.connection_callback, run=True)

    def _enqueue(self, event) -> None:
        while not self.closing.is_set():
            try:
                self.events.put(event, timeout=0.25)
                return
            except queue.Full:
                continue

    def _connection_callback(self, channel: _Channel):
        def changed(pv, state):
            self._enqueue((_CONNECTION, channel, state))
        return changed

    def _update_callback(self, channel: _Channel):
        def updated(sub, response):
            self._enqueue((_UPDATE, channel, response))
        return updated

    def handle(self, event) -> None:
        kind, channel, payload = event
        if kind == _UPDATE:
            self._print_update(channel, payload)
        elif payload == 'connected':
            self._connected(channel)
        elif payload == 'disconnected' and channel.ever_connected:
            self.output.line(self.wide.line(
                output_name(channel.name), None, disconnected=True,
                key=channel.index, count_for_padding=channel.last_count))

    def _connected(self, channel: _Channel) -> None:
        pv_channel = channel.pv.channel
        if pv_channel is None:
            return  # went down again before we got here
        native = pv_channel.native_data_type
        if channel.subscription is not None and channel.native_type != native:
            # The record's type changed: subscribe anew with the new type.
            channel.subscription.remove_callback(channel.token)
            channel.subscription = channel.token = None
        if channel.subscription is not None:
            return  # the client restores existing subscriptions itself
        channel.ever_connected = True
        channel.native_type = native
        options = self.options
        data_type = request_type(native,
                                 enum_as_number=options.format.enum_as_number,
                                 float_as_string=options.float_as_string)
        count = min(options.count, pv_channel.native_data_count)
        subscription = channel.pv.subscribe(
            data_type=data_type, data_count=count, mask=options.mask)
        callback = self._update_callback(channel)
        try:
            token = subscription.add_callback(callback)
        except CaprotoError as exc:
            # camonitor keeps the failed status silently; say why instead.
            self.output.error("CA error %s occurred while trying to subscribe "
                              "to '%s'." % (exc, output_name(channel.name)))
            return
        channel.subscription, channel.callback = subscription, callback
        channel.token = token

    def _print_update(self, channel: _Channel, response) -> None:
        status = getattr(response, 'status', None)
        if status is not None and not getattr(status, 'success', 1):
            return  # camonitor prints only ECA_NORMAL updates
        reading = Reading.from_response(response)
        channel.last_count = reading.count
        self.output.line(self.wide.line(
            output_name(channel.name), reading,
            requested_count=self.options.count, key=channel.index))
        self.updates += 1
        maximum = self.options.maximum
        if maximum is not None and self.updates >= maximum:
            self.finished.set()

    def report_unconnected(self) -> None:
        for channel in self.channels:
            if not channel.ever_connected:
                self.output.line(self.wide.line(
                    output_name(channel.name), None, ever_connected=False,
                    key=channel.index))

    def pump(self, until: float | None, stop: threading.Event | None) -> None:
        """Handle events until the monotonic time ``until`` (None: forever)
        or until ``stop`` is set; never past --duration or --maximum."""
        if self.end is not None:
            until = self.end if until is None else min(until, self.end)
        if self.options.maximum == 0:
            self.finished.set()
        while (stop is None or not stop.is_set()) and not self.finished.is_set():
            if until is None:
                wait = 0.2 if stop is not None else None
            else:
                wait = until - time.monotonic()
                if wait <= 0:
                    return
                if stop is not None:
                    wait = min(wait, 0.2)
            try:
                event = self.events.get(timeout=wait)
            except queue.Empty:
                continue
            self.handle(event)


def run(args: list, output: ToolOutput | None = None,
        context: Context | None = None,
        stop: threading.Event | None = None) -> int:
    """Run cawire-monitor with ``args`` (without the program name).

    Parameters
    ----------
    args : list of str
    output : ToolOutput, optional
    context : Context, optional
        Client context (default: a new one, disconnected at the end).
    stop : threading.Event, optional
        Set it to end monitoring (camonitor itself runs until killed).

    Returns
    -------
    int
        1 for command-line errors; 0 when stopped (by ``stop``,
        ``--maximum`` or ``--duration``).
    """
    output = output or ToolOutput()
    parsed = parse_monitor(args, PROG)
    exit_code = report_parse(parsed, output)
    if exit_code is not None:
        return exit_code
    options = parsed.options
    assert isinstance(options, MonitorOptions)
    with tool_context(context) as context:
        monitor = _Monitor(context, options, output)
        try:
            monitor.start()
            # camonitor: ca_pend_event(timeout), report what is missing, go
            # on.  A timeout of 0 makes that first ca_pend_event last forever.
            first_wait = options.timeout if options.timeout > 0 else None
            monitor.pump(None if first_wait is None
                         else time.monotonic() + first_wait, stop)
            if (stop is None or not stop.is_set()) and not \
                    monitor.finished.is_set() and (
                        monitor.end is None or time.monotonic() < monitor.end):
                monitor.report_unconnected()
                monitor.pump(None, stop)
            return 0
        finally:
            monitor.closing.set()
            output.flush()


def main(argv: list | None = None) -> int:
    """Console entry point (``cawire-monitor``)."""
    return console_main(run, argv)


if __name__ == '__main__':
    sys.exit(main())
