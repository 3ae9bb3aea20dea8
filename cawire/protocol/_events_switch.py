"""Whether a client circuit's subscription updates flow: EVENTS_OFF / EVENTS_ON.

Two reasons can stop the flow: the user (``events_off()``) and flow control
(the circuit's consumers fell behind; each client shell has its own measure
of "behind").  The rules of how they combine live here, once for every
client shell:

* the user's choice wins: the user's ``events_on()`` resumes at once, ending
  an automatic suspension too; while the user has updates off, flow control
  neither suspends nor resumes;
* one EVENTS_OFF per suspension: nothing is sent when updates are already
  off for either reason;
* an automatic suspension counts only if its EVENTS_OFF went out (a circuit
  not yet connected has nothing to suspend).

The shell passes ``send(command) -> bool`` (False: the circuit could not
take it); the switch counts what was sent.
"""
from __future__ import annotations

from typing import Callable

from ._commands_circuit import EventsOffRequest, EventsOnRequest
from ._commands_base import Message

__all__ = ('EventsSwitch',)

Send = Callable[[Message], bool]


class EventsSwitch:
    """The EVENTS_OFF/ON state of one client circuit, and its counters."""

    __slots__ = ('user_off', 'auto_off', 'events_off_sent', 'events_on_sent')

    def __init__(self) -> None:
        self.user_off = False
        self.auto_off = False
        self.events_off_sent = 0
        self.events_on_sent = 0

    @property
    def suspended(self) -> bool:
        """True while EVENTS_OFF (by the user or by flow control) holds."""
        return self.user_off or self.auto_off

    def user_events_off(self, send: Send) -> None:
        if not self.suspended and send(EventsOffRequest()):
            self.events_off_sent += 1
        self.user_off = True

    def user_events_on(self, send: Send) -> None:
        self.user_off = False
        self.auto_off = False
        if send(EventsOnRequest()):
            self.events_on_sent += 1

    def congested(self, send: Send) -> bool:
        """The consumers fell behind: suspend; True if this suspended now."""
        if self.suspended or not send(EventsOffRequest()):
            return False
        self.events_off_sent += 1
        self.auto_off = True
        return True

    def relieved(self, send: Send) -> bool:
        """The consumers caught up: end an automatic suspension; True if
        EVENTS_ON was due (the user's own suspension stands)."""
        if not self.auto_off:
            return False
        self.auto_off = False
        if self.user_off:
            return False
        if send(EventsOnRequest()):
            self.events_on_sent += 1
        return True

    def reset(self) -> None:
        """The circuit died: a new one starts with updates on (the user's
        choice is kept; counters are kept)."""
        self.auto_off = False
