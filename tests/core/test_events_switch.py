"""The EVENTS_OFF/ON rules both client shells follow (core EventsSwitch)."""
from __future__ import annotations

from cawire.protocol._commands_circuit import EventsOffRequest, EventsOnRequest
from cawire.protocol._events_switch import EventsSwitch


class Wire:
    def __init__(self, up: bool = True):
        self.up = up
        self.sent: list[str] = []

    def __call__(self, command) -> bool:
        if not self.up:
            return False
        self.sent.append({EventsOffRequest: 'OFF',
                          EventsOnRequest: 'ON'}[type(command)])
        return True


def test_flow_control_suspends_once_and_resumes():
    switch, wire = EventsSwitch(), Wire()
    assert switch.congested(wire) and switch.suspended
    assert not switch.congested(wire)  # one EVENTS_OFF per suspension
    assert switch.relieved(wire) and not switch.suspended
    assert not switch.relieved(wire)
    assert wire.sent == ['OFF', 'ON']
    assert (switch.events_off_sent, switch.events_on_sent) == (1, 1)


def test_the_users_suspension_stands_against_flow_control():
    switch, wire = EventsSwitch(), Wire()
    switch.user_events_off(wire)
    assert not switch.congested(wire)  # already off: nothing sent, not automatic
    assert not switch.auto_off
    switch.user_events_on(wire)
    assert wire.sent == ['OFF', 'ON'] and not switch.suspended


def test_users_events_on_ends_an_automatic_suspension_at_once():
    switch, wire = EventsSwitch(), Wire()
    switch.congested(wire)
    switch.user_events_on(wire)
    assert not switch.suspended
    assert not switch.relieved(wire)  # nothing left to resume
    assert wire.sent == ['OFF', 'ON']


def test_users_events_off_during_an_automatic_suspension_keeps_it_off():
    switch, wire = EventsSwitch(), Wire()
    switch.congested(wire)
    switch.user_events_off(wire)  # already off: no second EVENTS_OFF
    assert not switch.relieved(wire)  # the user's choice stands
    assert switch.suspended and switch.user_off and not switch.auto_off
    assert wire.sent == ['OFF']


def test_a_suspension_that_could_not_be_sent_does_not_count():
    switch, wire = EventsSwitch(), Wire(up=False)
    assert not switch.congested(wire)
    assert not switch.suspended and switch.events_off_sent == 0


def test_reset_keeps_the_users_choice():
    switch, wire = EventsSwitch(), Wire()
    switch.congested(wire)
    switch.reset()
    assert not switch.suspended
    switch.user_events_off(wire)
    switch.reset()
    assert switch.suspended
