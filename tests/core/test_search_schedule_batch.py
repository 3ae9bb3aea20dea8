"""``SearchSchedule.answered_many``, the batch form of ``answered``: the
same state (timers, windows, suspect passes, round-trip estimate, the
governor) and the same count as ``answered`` called reply by reply, on
schedules driven through sends, losses, late replies, the disconnect
governor and cancellations."""
import copy

import pytest
from hypothesis import given, settings, strategies as st

from cawire.protocol._exceptions import CaprotoValueError

from cawire.protocol._search_schedule import SearchSchedule

KEYS = [f'PV{i}' for i in range(12)]


def state(value):
    # Everything a schedule holds, in order (insertion order matters: it
    # is the order names are sent in).
    if isinstance(value, dict):
        return [(key, state(item)) for key, item in value.items()]
    if isinstance(value, (list, tuple)):
        return [state(item) for item in value]
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    slots = getattr(type(value), '__slots__', None)
    if slots:
        return (type(value).__name__,
                [(name, state(getattr(value, name))) for name in slots])
    if hasattr(value, '__dict__'):
        return (type(value).__name__, state(vars(value)))
    return value


key = st.sampled_from(KEYS)
steps = st.lists(st.one_of(
    st.tuples(st.just('add'), key),
    st.tuples(st.just('poll'), st.floats(0.0, 0.2)),
    st.tuples(st.just('answer'), key, st.integers(-3, 2), st.booleans()),
    st.tuples(st.just('disconnect'), key, st.booleans()),
    st.tuples(st.just('cancel'), key),
    st.tuples(st.just('boost')),
), max_size=40)


def driven(first_sequence, script):
    schedule = SearchSchedule(0.0, first_sequence=first_sequence)
    now = 0.0
    for step in script:
        if step[0] == 'add':
            schedule.add(step[1], now)
        elif step[0] == 'poll':
            now += step[1]
            schedule.poll(now)
        elif step[0] == 'answer':
            sequence = (None if step[3] else
                        (schedule._next_sequence + step[2]) % 2**32)
            schedule.answered(step[1], now, sequence)
        elif step[0] == 'disconnect':
            schedule.disconnected(step[1], now, released_by_anomaly=step[2])
        elif step[0] == 'cancel':
            schedule.cancel([step[1]])
        else:
            schedule.boost(now)
    return schedule, now


@settings(max_examples=400, deadline=None)
@given(st.integers(0, 2**32 - 1) | st.sampled_from([0, 2**32 - 2]),
       steps,
       st.lists(st.tuples(key | st.just('unknown'), st.integers(-4, 2),
                          st.booleans()), max_size=20),
       st.floats(0.0, 0.5))
def test_batch_is_answered_reply_by_reply(first_sequence, script, batch,
                                          later):
    schedule, now = driven(first_sequence, script)
    now += later
    replies = [(name, None if no_version else
                (schedule._next_sequence + offset) % 2**32)
               for name, offset, no_version in batch]
    one_by_one = copy.deepcopy(schedule)
    expected = sum(one_by_one.answered(name, now, sequence)
                   for name, sequence in replies)
    assert schedule.answered_many(replies, now) == expected
    assert state(schedule) == state(one_by_one)


def test_a_connect_burst_is_answered_in_one_call():
    schedule = SearchSchedule(0.0)
    names = [f'PV{i}' for i in range(500)]
    for name in names:
        schedule.add(name, 0.0)
    datagrams = schedule.poll(0.0)
    reference = copy.deepcopy(schedule)
    replies = [(name, datagram.sequence)
               for datagram in datagrams for name in datagram.keys]
    for name, sequence in replies:
        reference.answered(name, 0.01, sequence)
    assert schedule.answered_many(replies, 0.01) == len(replies)
    assert state(schedule) == state(reference)
    assert schedule.answered_many(replies, 0.02) == 0  # duplicates


def test_late_replies_undo_a_cut_as_reply_by_reply():
    # The replies to a pass judged lost come after its names were sent
    # again: late, not lost; the window's cut is undone either way.
    schedule = SearchSchedule(0.0)
    names = [f'PV{i}' for i in range(40)]
    for name in names:
        schedule.add(name, 0.0)
    first, = schedule.poll(0.0)
    schedule.poll(0.05)           # nothing answered: judged lost, resent
    assert schedule._suspect_timers
    replies = [(name, first.sequence) for name in names[:30]]
    replies += [('PV35', None), ('PV36', first.sequence + 1), ('nobody', 1)]
    reference = copy.deepcopy(schedule)
    expected = sum(reference.answered(name, 0.06, sequence)
                   for name, sequence in replies)
    assert schedule.answered_many(replies, 0.06) == expected == 32
    assert state(schedule) == state(reference)
    # PV35 and PV36 were answered by their second search: the first pass
    # keeps them missing, and its cut stays.
    rest = [(name, first.sequence) for name in names[30:]]
    for name, sequence in rest:
        reference.answered(name, 0.07, sequence)
    schedule.answered_many(rest, 0.07)
    assert state(schedule) == state(reference)
    assert schedule.losses_undone == reference.losses_undone == 0


def test_every_late_reply_of_a_pass_undoes_its_cut():
    schedule = SearchSchedule(0.0)
    names = [f'PV{i}' for i in range(40)]
    for name in names:
        schedule.add(name, 0.0)
    first, = schedule.poll(0.0)
    schedule.poll(0.05)
    reference = copy.deepcopy(schedule)
    replies = [(name, first.sequence) for name in names]
    for name, sequence in replies:
        reference.answered(name, 0.06, sequence)
    assert schedule.answered_many(replies, 0.06) == 40
    assert state(schedule) == state(reference)
    assert schedule.losses_undone == 1 and not schedule._suspect_timers


@settings(max_examples=300, deadline=None)
@given(steps, st.lists(st.tuples(key, st.sampled_from([None, 8, 24, 2000])),
                       max_size=20), st.floats(0.0, 0.5))
def test_add_many_is_add_one_by_one(script, batch, later):
    # Names new, already searched for, governed, without a size, or too
    # big for a datagram (refused, with the names before it added).
    schedule, now = driven(1, script)
    now += later
    one_by_one = copy.deepcopy(schedule)
    refused = None
    for name, size in batch:
        try:
            one_by_one.add(name, now, size)
        except CaprotoValueError as exc:
            refused = str(exc)
            break
    if refused is None:
        schedule.add_many([n for n, _ in batch], [s for _, s in batch], now)
    else:
        with pytest.raises(CaprotoValueError) as raised:
            schedule.add_many([n for n, _ in batch], [s for _, s in batch],
                              now)
        assert str(raised.value) == refused
    assert state(schedule) == state(one_by_one)
