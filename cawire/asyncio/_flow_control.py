"""Monitor flow control of one circuit: EVENTS_OFF / EVENTS_ON.

Callbacks run on the event loop as updates arrive, so a slow callback slows
the reading of the socket and the server coalesces (what libca relies on
too).  Consumers that iterate (``async for``) read from a queue instead; a
queue above its high-water mark marks the circuit *congested*: EVENTS_OFF
goes out once, and EVENTS_ON when every congested queue has drained below
its low-water mark (the server then sends each subscription's latest
value).  The user's own events_off()/events_on() wins over both.  Counters
say how often each happened.
"""
from __future__ import annotations

from typing import Any

from ..protocol import _commands as ca

__all__ = ('FlowControl',)


class FlowControl:
    """EVENTS_OFF/ON bookkeeping of one circuit manager."""

    __slots__ = ('_manager', '_congested', 'user_off', 'auto_off',
                 'events_off_sent', 'events_on_sent')

    def __init__(self, manager: Any):
        self._manager = manager
        self._congested: set[int] = set()
        self.user_off = False
        self.auto_off = False
        self.events_off_sent = 0
        self.events_on_sent = 0

    @property
    def suspended(self) -> bool:
        """True while EVENTS_OFF (by the user or by flow control) is in force."""
        return self.user_off or self.auto_off

    def user_events_off(self) -> None:
        if not self.suspended:
            self._send_off()
        self.user_off = True

    def user_events_on(self) -> None:
        self.user_off = False
        if not self.auto_off:
            self._send_on()

    def congested(self, queue_id: int) -> None:
        """A consumer queue went above its high-water mark."""
        self._congested.add(queue_id)
        if not self.auto_off:
            if not self.user_off:
                self._send_off()
            self.auto_off = True

    def relieved(self, queue_id: int) -> None:
        """A consumer queue drained below its low-water mark (or closed)."""
        self._congested.discard(queue_id)
        if self.auto_off and not self._congested:
            self.auto_off = False
            if not self.user_off:
                self._send_on()

    def reset(self) -> None:
        """The circuit died: a new one starts with events on."""
        self._congested.clear()
        self.auto_off = False

    def _send_off(self) -> None:
        if self._manager.send_flow_control(ca.EventsOffRequest()):
            self.events_off_sent += 1

    def _send_on(self) -> None:
        if self._manager.send_flow_control(ca.EventsOnRequest()):
            self.events_on_sent += 1
