"""The search retry schedule, driven by a fake clock (libca searchTimer)."""
import math

import pytest
from hypothesis import given, settings, strategies as st

from cawire.protocol._exceptions import CaprotoValueError
from cawire.protocol._search_schedule import (
    DATAGRAM_PAYLOAD_CAPACITY, SearchSchedule, search_message_size)


def run_until(schedule, end, *, answer=None):
    """Poll at every deadline up to ``end``; return [(time, datagrams)]."""
    sent = []
    now = schedule.next_deadline()
    for _ in range(10_000):
        if now is None or now > end:
            break
        datagrams = schedule.poll(now)
        if datagrams:
            sent.append((now, datagrams))
            if answer is not None:
                answer(schedule, now, datagrams)
        now = schedule.next_deadline()
    return sent


def send_times(sent, key):
    return [t for t, datagrams in sent
            if any(key in d.keys for d in datagrams)]


def test_timer_count_and_anomaly_index_match_libca():
    schedule = SearchSchedule(0.0)
    assert schedule.timer_count == 14          # 300 s default
    assert schedule.beacon_anomaly_index == 8  # first period >= 5 s
    assert schedule.period(0) == pytest.approx(0.032)
    assert schedule.period(8) == pytest.approx(8.192)
    assert schedule.period(13) == pytest.approx(262.144)


def test_max_search_period_has_lower_limit_of_60_s():
    schedule = SearchSchedule(0.0, max_search_period=5)
    assert schedule.max_search_period == 60.0
    assert schedule.timer_count == int(1 + math.log2(60 / 0.032))  # 11


def test_new_name_is_sent_at_once():
    schedule = SearchSchedule(0.0)
    schedule.add('PV:A', 5.0)
    assert schedule.next_deadline() == 5.0
    (datagram,) = schedule.poll(5.0)
    assert datagram.keys == ['PV:A']
    assert datagram.sequence == 1


def test_unanswered_name_is_retried_with_exact_doubling_then_plateau():
    schedule = SearchSchedule(0.0)
    schedule.add('PV:A', 0.0)
    sent = run_until(schedule, 2000.0)
    times = send_times(sent, 'PV:A')
    gaps = [round(b - a, 9) for a, b in zip(times, times[1:])]
    expected = [round(0.032 * 2 ** i, 9) for i in range(14)]
    assert gaps[:14] == expected
    # The plateau: the slowest timer (2**13 x 0.032 s) repeats.
    assert set(gaps[13:]) == {262.144}


def test_max_search_period_sets_the_plateau():
    schedule = SearchSchedule(0.0, max_search_period=60)
    schedule.add('PV:A', 0.0)
    sent = run_until(schedule, 500.0)
    times = send_times(sent, 'PV:A')
    gaps = [round(b - a, 9) for a, b in zip(times, times[1:])]
    assert max(gaps) == pytest.approx(0.032 * 2 ** 10)  # 32.768 s
    assert gaps[-1] == pytest.approx(32.768)


def test_sequence_numbers_increase_per_datagram_and_wrap():
    schedule = SearchSchedule(0.0, first_sequence=0xFFFFFFFF)
    schedule.add('A', 0.0)
    assert [d.sequence for d in schedule.poll(0.0)] == [0xFFFFFFFF]
    assert [d.sequence for d in schedule.poll(0.032)] == [0]
    assert [d.sequence for d in schedule.poll(0.096)] == [1]


def test_answered_name_is_not_sent_again():
    schedule = SearchSchedule(0.0)
    schedule.add('A', 0.0)
    schedule.add('B', 0.0)
    (datagram,) = schedule.poll(0.0)
    assert datagram.keys == ['A', 'B']
    assert schedule.answered('A', 0.001, datagram.sequence)
    assert not schedule.answered('A', 0.002, datagram.sequence)  # duplicate
    sent = run_until(schedule, 1.0)
    assert all(d.keys == ['B'] for _, ds in sent for d in ds)
    assert 'A' not in schedule and 'B' in schedule


def test_all_answered_stops_all_timers():
    schedule = SearchSchedule(0.0)
    schedule.add('A', 0.0)
    (datagram,) = schedule.poll(0.0)
    schedule.answered('A', 0.0005, datagram.sequence)
    # Timer 0 fires once more to notice nothing is pending, then idles.
    schedule.poll(schedule.next_deadline())
    assert schedule.next_deadline() is None
    assert len(schedule) == 0


def test_round_trip_estimate_updates_and_clamps():
    schedule = SearchSchedule(0.0)
    assert schedule.round_trip_estimate == pytest.approx(0.032)
    schedule.add('A', 0.0)
    (datagram,) = schedule.poll(0.0)
    # A fast LAN reply is clamped to the 32 ms minimum: no change in mean,
    # deviation stays 0.
    schedule.answered('A', 0.001, datagram.sequence)
    assert schedule.rtt_mean == pytest.approx(0.032)
    assert schedule.round_trip_estimate == pytest.approx(0.032)

    schedule.add('B', 1.0)
    (datagram,) = schedule.poll(1.0)
    schedule.answered('B', 1.0 + 0.5, datagram.sequence)
    mean = 0.032 + (0.5 - 0.032) / 8
    dev = (0.5 - 0.032) / 4
    assert schedule.rtt_mean == pytest.approx(mean)
    assert schedule.rtt_deviation == pytest.approx(dev)
    assert schedule.round_trip_estimate == pytest.approx(mean + 4 * dev)
    assert schedule.period(1) == pytest.approx(2 * (mean + 4 * dev))


def test_reply_outside_the_sequence_window_is_not_an_rtt_sample():
    schedule = SearchSchedule(0.0)
    schedule.add('A', 0.0)
    schedule.poll(0.0)                 # seq 1 from timer 0
    schedule.poll(0.032)               # seq 2 from timer 1 (A retried)
    # A (very) late reply to datagram 1 arrives: answered, but no sample.
    assert schedule.answered('A', 3.0, sequence=1)
    assert schedule.rtt_mean == pytest.approx(0.032)
    assert schedule.rtt_deviation == 0.0


def test_reply_without_sequence_number_counts_as_sample():
    schedule = SearchSchedule(0.0)
    schedule.add('A', 0.0)
    schedule.poll(0.0)
    schedule.answered('A', 1.0, sequence=None)
    assert schedule.rtt_mean > 0.032


def names(n, width=40):
    return [f'{i:0{width}d}' for i in range(n)]


def test_datagrams_are_packed_up_to_capacity():
    schedule = SearchSchedule(0.0)
    size = search_message_size('0' * 40)   # 16 + 48 = 64 bytes
    assert size == 64
    per_datagram = DATAGRAM_PAYLOAD_CAPACITY // size   # 15
    for name in names(40):
        schedule.add(name, 0.0)
    datagrams = schedule.poll(0.0)
    # frames per try starts at 1: only one datagram on the first pass.
    assert len(datagrams) == 1
    assert len(datagrams[0].keys) == per_datagram
    assert sum(search_message_size(k) for k in datagrams[0].keys) <= 1008


def test_full_success_refires_immediately_and_grows_frames_per_try():
    schedule = SearchSchedule(0.0)
    all_names = names(100)
    for name in all_names:
        schedule.add(name, 0.0)
    now = 0.0
    (first,) = schedule.poll(now)
    for key in first.keys:
        schedule.answered(key, now + 0.001, first.sequence)
    # Every search of the pass answered and more pending: due right away.
    assert schedule.next_deadline() == pytest.approx(0.001)
    second = schedule.poll(0.001)
    assert len(second) == 2                # frames per try doubled
    assert schedule.frames_per_try(0) == 2.0
    for datagram in second:
        for key in datagram.keys:
            schedule.answered(key, 0.002, datagram.sequence)
    third = schedule.poll(0.002)
    assert len(third) == 4
    assert [d.sequence for d in [first] + second + third] == list(range(1, 8))


def test_loss_resets_frames_per_try_and_sets_threshold():
    schedule = SearchSchedule(0.0)
    for name in names(200):
        schedule.add(name, 0.0)
    (d1,) = schedule.poll(0.0)
    for key in d1.keys:
        schedule.answered(key, 0.001, d1.sequence)
    d2 = schedule.poll(0.001)
    assert schedule.frames_per_try(0) == 2.0
    # Only half of the second pass answered.
    for key in d2[0].keys:
        schedule.answered(key, 0.002, d2[0].sequence)
    schedule.poll(0.001 + 0.032)
    assert schedule.frames_per_try(0) == 1.0
    timer = schedule._timers[0]
    assert timer.congestion_threshold == 1.0


def test_cancel_removes_names_everywhere():
    schedule = SearchSchedule(0.0)
    schedule.add('A', 0.0)
    schedule.add('B', 0.0)
    schedule.poll(0.0)
    schedule.disconnected('C', 0.0)
    schedule.cancel(['A', 'C', 'unknown'])
    assert schedule.unanswered == ['B']
    sent = run_until(schedule, 1.0)
    assert all(d.keys == ['B'] for _, ds in sent for d in ds)


def test_retry_now_resends_every_unanswered_name_at_once():
    schedule = SearchSchedule(0.0)
    schedule.add('A', 0.0)
    run_until(schedule, 100.0)
    assert schedule.timer_of('A') >= 10
    schedule.add('B', 100.0)
    schedule.poll(100.0)
    schedule.retry_now(100.5)
    assert schedule.next_deadline() == 100.5
    (datagram,) = schedule.poll(100.5)
    assert sorted(datagram.keys) == ['A', 'B']
    # Back-off restarted: next retry 32 ms later.
    assert schedule.next_deadline() == pytest.approx(100.532)


def test_boost_moves_slow_names_to_the_anomaly_timer():
    schedule = SearchSchedule(0.0)
    schedule.add('A', 0.0)
    run_until(schedule, 200.0)
    slow = schedule.timer_of('A')
    assert slow > schedule.beacon_anomaly_index
    schedule.add('FAST', 200.0)
    schedule.boost(200.0)
    assert schedule.timer_of('A') == schedule.beacon_anomaly_index
    assert schedule.timer_of('FAST') == 0          # fast ones stay put
    sent = run_until(schedule, 200.0)
    assert any('A' in d.keys for _, ds in sent for d in ds)
    # Then A backs off from the anomaly timer: next retry 8.192 s later.
    assert schedule.timer_of('A') == schedule.beacon_anomaly_index
    sent = run_until(schedule, 209.0)
    assert send_times(sent, 'A') == [pytest.approx(200.0 + 8.192)]


def test_slow_timer_with_a_reply_boosts_its_waiting_names():
    schedule = SearchSchedule(0.0)
    for key in ('A', 'B'):
        schedule.add(key, 0.0)
    run_until(schedule, 100.0)
    index = schedule.timer_of('A')
    assert index > schedule.beacon_anomaly_index
    timer = schedule._timers[index]
    # A is answered; a third name C arrives in the same timer, waiting.
    seq = timer.first_sequence
    schedule.answered('A', 100.0, seq)
    schedule._sizes['C'] = search_message_size('C')
    schedule._install('C', index, 100.0)   # as moved up from a lower timer
    schedule.poll(timer.deadline)
    assert schedule.timer_of('C') == schedule.beacon_anomaly_index


def test_disconnect_governor_returns_names_to_timer_0_on_its_10_s_tick():
    schedule = SearchSchedule(0.0)
    schedule.disconnected('A', 23.0)
    assert schedule.timer_of('A') is None and 'A' in schedule
    # The governor free-runs from t=0: next tick at 30 s.
    assert schedule.next_deadline() == 30.0
    assert schedule.poll(29.999) == []
    (datagram,) = schedule.poll(30.0)
    assert datagram.keys == ['A']
    assert schedule.timer_of('A') == 0
    schedule.disconnected('B', 30.5)
    assert schedule.next_deadline() == pytest.approx(30.032)
    schedule.poll(30.032)
    sent = run_until(schedule, 40.0)
    assert send_times(sent, 'B') == [40.0]


def test_add_rejects_a_name_that_cannot_fit_or_be_encoded():
    schedule = SearchSchedule(0.0)
    with pytest.raises(CaprotoValueError):
        schedule.add('x' * 1000, 0.0)
    with pytest.raises(CaprotoValueError):
        schedule.add('PV:\u20ac', 0.0)
    assert len(schedule) == 0


SERVERS = (('10.0.0.1', 5064), ('10.0.0.2', 5064))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(
    st.sampled_from(['add', 'answer', 'cancel', 'poll', 'retry', 'boost',
                     'disconnect', 'lose', 'anomaly_retry']),
    st.integers(0, 7),
    st.floats(0, 50, allow_nan=False)), max_size=60))
def test_random_operations_keep_the_schedule_consistent(ops):
    schedule = SearchSchedule(0.0)
    now = 0.0
    live = set()
    for op, k, dt in ops:
        key = f'PV{k}'
        now += dt
        if op == 'add':
            schedule.add(key, now)
            live.add(key)
        elif op == 'answer':
            assert schedule.answered(key, now, None) == (key in live)
            live.discard(key)
        elif op == 'cancel':
            schedule.cancel([key])
            live.discard(key)
        elif op == 'poll':
            for datagram in schedule.poll(now):
                assert set(datagram.keys) <= live
                assert len(datagram.keys) == len(set(datagram.keys))
        elif op == 'retry':
            schedule.retry_now(now)
        elif op == 'boost':
            schedule.boost(now, SERVERS[k % 2])
        elif op == 'disconnect':
            schedule.disconnected(key, now)
            live.add(key)
        elif op == 'lose':
            schedule.disconnected(key, now, released_by_anomaly=True,
                                  server=SERVERS[k % 2], failed=k > 4)
            live.add(key)
        elif op == 'anomaly_retry':
            schedule.retry_now(now, governed=False)
        assert set(schedule.unanswered) == live
        deadline = schedule.next_deadline()
        assert (deadline is None) == (not live)
        # Each key sits in exactly one place.
        seen = []
        for timer in schedule._timers:
            seen += list(timer.requests) + list(timer.awaiting)
        seen += list(schedule._governed) + list(schedule._lost)
        assert sorted(seen) == sorted(live)


def test_a_firing_that_sent_nothing_accepts_no_rtt_samples():
    schedule = SearchSchedule(0.0)
    schedule.add('A', 0.0)
    schedule.add('B', 0.0)
    schedule.poll(0.0)                  # timer 0 sends A, B (seq 1)
    schedule.answered('A', 0.001, 1)
    schedule.poll(0.032)                # timer 0 sends nothing; B -> timer 1
    timer0 = schedule._timers[0]
    assert timer0.time_at_last_send == 0.032
    assert not schedule._stamped_since(timer0, 1)
    assert not schedule._stamped_since(timer0, 2)


def test_beacon_anomaly_releases_governed_names_to_timer_0_at_once():
    # A rebooted IOC: its names wait in the governor while it is down (no
    # search) and are searched for once when its beacons restart.
    schedule = SearchSchedule(0.0)
    for key in ('A', 'B'):
        schedule.disconnected(key, 21.0, released_by_anomaly=True)
    schedule.disconnected('REFUSED', 21.0)
    assert schedule.next_deadline() == 30.0
    assert schedule.poll(22.5) == []
    schedule.boost(22.5)
    assert schedule.timer_of('A') == 0 and schedule.timer_of('B') == 0
    assert schedule.next_deadline() == 22.5
    (datagram,) = schedule.poll(22.5)
    assert sorted(datagram.keys) == ['A', 'B']
    schedule.answered('A', 22.51, datagram.sequence)
    schedule.answered('B', 22.51, datagram.sequence)
    # A refused name waits for the governor's tick at 30 s, anomaly or not.
    assert schedule.timer_of('REFUSED') is None
    assert schedule.next_deadline() == 30.0
    sent = run_until(schedule, 30.0)
    assert sent[0][0] == 30.0 and sent[0][1][0].keys == ['REFUSED']
    assert send_times(sent, 'A') == []


def test_beacon_anomaly_leaves_names_already_searched_quickly_alone():
    schedule = SearchSchedule(0.0)
    schedule.add('NEW', 5.0)
    (first,) = schedule.poll(5.0)
    schedule.disconnected('LOST', 5.0, released_by_anomaly=True)
    schedule.boost(5.01)
    # NEW keeps its back-off (awaiting a reply in timer 0, retried 32 ms
    # after its send, from timer 1); LOST joins timer 0 and goes out at its
    # next firing, the same 32 ms tick.
    assert schedule.timer_of('NEW') == 0
    assert schedule.timer_of('LOST') == 0
    assert schedule.next_deadline() == pytest.approx(5.032)
    sent = run_until(schedule, 5.04)
    assert send_times(sent, 'LOST') == [pytest.approx(5.032)]
    assert send_times(sent, 'NEW') == [pytest.approx(5.032)]
    assert schedule.timer_of('NEW') == 1


def _two_frame_pass(schedule):
    """Grow timer 0 to 2 frames per try; return the 2-datagram pass."""
    for name in names(200):
        schedule.add(name, 0.0)
    (d1,) = schedule.poll(0.0)
    for key in d1.keys:
        schedule.answered(key, 0.001, d1.sequence)
    d2 = schedule.poll(0.001)
    assert len(d2) == 2 and schedule.frames_per_try(0) == 2.0
    return d2


def test_late_replies_to_a_pass_judged_lost_undo_the_cut():
    # A server (or this client) busy for longer than the round-trip
    # estimate: the replies come after the timer judged the pass lost.
    schedule = SearchSchedule(0.0)
    first, second = _two_frame_pass(schedule)
    for key in first.keys:
        schedule.answered(key, 0.002, first.sequence)
    retried = schedule.poll(0.033)         # second's names -> timer 1
    assert schedule.frames_per_try(0) == 1.0
    assert schedule._timers[0].congestion_threshold == 1.0
    late = second.keys
    assert all(schedule.timer_of(key) == 1 for key in late)
    # Now they come, stamped with the sequence of their own pass.
    for key in late[:-1]:
        schedule.answered(key, 0.05, second.sequence)
    assert schedule.frames_per_try(0) == 1.0   # one still missing
    schedule.answered(late[-1], 0.05, second.sequence)
    assert schedule.frames_per_try(0) == 2.0
    assert schedule._timers[0].congestion_threshold == math.inf
    assert schedule.losses_undone == 1
    # The pass sent at the cut is answered in full: the window grows on
    # from where it was, not from 1.
    (current,) = [d for d in retried if d.keys[0] not in late]
    for key in current.keys:
        schedule.answered(key, 0.06, current.sequence)
    assert len(schedule.poll(0.06)) == 4


def test_a_reply_to_the_retry_does_not_undo_the_cut():
    # The original search may really have been lost: a reply to the retry
    # (stamped with the retry's sequence or later) proves nothing.
    schedule = SearchSchedule(0.0)
    first, second = _two_frame_pass(schedule)
    for key in first.keys:
        schedule.answered(key, 0.002, first.sequence)
    retried = schedule.poll(0.033)
    retry = next(d for d in retried if set(d.keys) <= set(second.keys))
    for key in second.keys:
        schedule.answered(key, 0.05, retry.sequence)
    assert schedule.frames_per_try(0) == 1.0
    assert schedule.losses_undone == 0


def test_a_name_never_answered_keeps_the_cut():
    schedule = SearchSchedule(0.0)
    first, second = _two_frame_pass(schedule)
    for key in first.keys:
        schedule.answered(key, 0.002, first.sequence)
    schedule.poll(0.033)
    for key in second.keys[1:]:
        schedule.answered(key, 0.05, second.sequence)
    run_until(schedule, 10.0)
    assert schedule.frames_per_try(0) == 1.0
    assert schedule.losses_undone == 0
    assert second.keys[0] in schedule


def test_reply_stamped_with_a_later_datagram_answers_the_pass():
    # RSRV batches its replies to a burst of request datagrams and stamps
    # the reply with the sequence of the last one it read: a reply to
    # timer 0's pass may carry the sequence of timer 1's datagram.
    schedule = SearchSchedule(0.0)
    schedule.add('A', 0.0)
    (d1,) = schedule.poll(0.0)             # A, seq 1
    schedule.add('B', 0.01)
    schedule.add('C', 0.01)
    # Timer 0 sends B, C (seq 2); A moves to timer 1, which sends it (seq 3).
    assert [d.sequence for d in schedule.poll(0.032)] == [2, 3]
    t0 = schedule._timers[0]
    assert set(t0.awaiting) == {'B', 'C'}
    schedule.answered('B', 0.034, schedule._next_sequence - 1)
    schedule.answered('C', 0.034, schedule._next_sequence - 1)
    assert t0.responses == t0.attempts == 2
    # A reply stamped before the pass began answers an older search.
    schedule.add('D', 0.04)
    (d,) = schedule.poll(0.04)
    assert schedule.answered('D', 0.05, d.sequence - 1)
    assert t0.responses == 0


IOC = ('10.77.0.3', 5064)
OTHER_IOC = ('10.77.0.9', 5064)


def test_rebooted_ioc_names_are_searched_once_when_it_is_back():
    # The scale bed's reboot (issue 13): the names of a lost circuit were
    # searched 1.6-3.2 times each, because the governor's free-running tick
    # and the anomalies of other servers (an IOC rebooted earlier keeps
    # making anomalies with its doubling start-up beacons) released them
    # while the IOC was down, and every unanswered pass was retried with
    # the back-off until it was back.  Now only the IOC's own anomaly (or
    # 10 s) releases them: one search per name.
    schedule = SearchSchedule(0.0)
    lost = names(1000, width=9)
    for key in lost:
        schedule.disconnected(key, 9.5, released_by_anomaly=True, server=IOC)
    # The free-running governor ticks at 10 s: nothing is released.
    assert schedule.next_deadline() == pytest.approx(19.5)
    assert schedule.poll(10.0) == []
    # Another server's anomaly (and the retry it triggers): still nothing.
    schedule.boost(10.3, OTHER_IOC)
    schedule.retry_now(10.3, governed=False)
    assert schedule.poll(10.3) == []
    assert all(schedule.timer_of(key) is None for key in lost)
    # The IOC is back: its anomaly releases them, each searched once.
    schedule.boost(11.0, IOC)
    schedule.retry_now(11.0, governed=False)
    searched = []

    def answer(schedule, now, datagrams):
        for datagram in datagrams:
            searched.extend(datagram.keys)
            for key in datagram.keys:
                schedule.answered(key, now + 0.002, datagram.sequence)
    run_until(schedule, 30.0, answer=answer)
    assert sorted(searched) == sorted(lost)
    assert len(schedule) == 0


def test_lost_names_are_released_one_governor_period_after_the_loss():
    # No anomaly (no repeater, or the name moved to a server that was
    # already running): the governor releases them 10 s after the loss,
    # not at a tick while the server may still be rebooting.
    schedule = SearchSchedule(0.0)
    schedule.disconnected('A', 9.5, released_by_anomaly=True, server=IOC)
    schedule.disconnected('REFUSED', 9.5)
    schedule.disconnected('B', 12.0, released_by_anomaly=True, server=IOC)
    sent = run_until(schedule, 22.0)
    assert send_times(sent, 'REFUSED')[0] == 10.0
    assert send_times(sent, 'A')[0] == pytest.approx(19.5)
    assert send_times(sent, 'B')[0] == pytest.approx(22.0)


def test_anomaly_retry_leaves_governed_names_waiting():
    schedule = SearchSchedule(0.0)
    schedule.add('PENDING', 1.0)
    schedule.poll(1.0)
    schedule.disconnected('REFUSED', 1.0)
    schedule.disconnected('LOST', 1.0, released_by_anomaly=True, server=IOC)
    schedule.retry_now(2.0, governed=False)
    assert schedule.timer_of('PENDING') == 0
    assert schedule.timer_of('REFUSED') is None
    assert schedule.timer_of('LOST') is None
    # A user's retry (get_pvs, search_now) still sends everything.
    schedule.retry_now(3.0)
    (datagram,) = schedule.poll(3.0)
    assert sorted(datagram.keys) == ['LOST', 'PENDING', 'REFUSED']


def test_failed_circuit_names_wait_for_the_tick_or_their_server_anomaly():
    # A circuit that failed (closed at once, protocol error): no reconnect
    # storm -- the governor's tick, as libca -- unless its own server
    # announces a restart.
    schedule = SearchSchedule(0.0)
    schedule.disconnected('A', 3.0, released_by_anomaly=True, server=IOC,
                          failed=True)
    schedule.disconnected('B', 3.0, released_by_anomaly=True,
                          server=OTHER_IOC, failed=True)
    assert schedule.next_deadline() == 10.0
    schedule.boost(4.0, IOC)
    assert schedule.timer_of('A') == 0 and schedule.timer_of('B') is None
    sent = run_until(schedule, 10.0)
    assert send_times(sent, 'A')[0] == 4.0
    assert send_times(sent, 'B') == [10.0]
