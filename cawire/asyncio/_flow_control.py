"""Monitor flow control of one circuit: EVENTS_OFF / EVENTS_ON.

Callbacks run on the event loop as updates arrive, so a slow callback slows
the reading of the socket and the server coalesces (what libca relies on
too).  Consumers that iterate (``async for``) read from a queue instead; a
queue above its high-water mark marks the circuit *congested*: EVENTS_OFF
goes out once, and EVENTS_ON when every congested queue has drained below
its low-water mark (the server then sends each subscription's latest
value).  The user's own events_off()/events_on() wins over both (the
rules are the core's ``EventsSwitch``, shared with the threading client).
Counters say how often each happened.
"""
from __future__ import annotations

from typing import Any

from ..protocol._events_switch import EventsSwitch

__all__ = ('FlowControl',)


class FlowControl:
    """Which consumer queues of one circuit manager are congested; the
    EVENTS_OFF/ON rules themselves are the core's :class:`EventsSwitch`."""

    __slots__ = ('_send', '_congested', 'switch')

    def __init__(self, manager: Any):
        self._send = manager.send_flow_control
        self._congested: set[int] = set()
        self.switch = EventsSwitch()

    @property
    def suspended(self) -> bool:
        """True while EVENTS_OFF (by the user or by flow control) is in force."""
        return self.switch.suspended

    @property
    def user_off(self) -> bool:
        return self.switch.user_off

    @property
    def auto_off(self) -> bool:
        return self.switch.auto_off

    @property
    def events_off_sent(self) -> int:
        return self.switch.events_off_sent

    @property
    def events_on_sent(self) -> int:
        return self.switch.events_on_sent

    def user_events_off(self) -> None:
        self.switch.user_events_off(self._send)

    def user_events_on(self) -> None:
        self.switch.user_events_on(self._send)

    def congested(self, queue_id: int) -> None:
        """A consumer queue went above its high-water mark."""
        self._congested.add(queue_id)
        self.switch.congested(self._send)

    def relieved(self, queue_id: int) -> None:
        """A consumer queue drained below its low-water mark (or closed)."""
        self._congested.discard(queue_id)
        if not self._congested:
            self.switch.relieved(self._send)

    def reset(self) -> None:
        """The circuit died: a new one starts with events on."""
        self._congested.clear()
        self.switch.reset()
