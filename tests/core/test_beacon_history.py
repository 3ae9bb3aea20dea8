"""Beacon history and anomaly detection (libca bhe.cpp rules)."""
import pytest
from hypothesis import given, settings, strategies as st

from cawire.protocol._beacon_history import BeaconEvent, BeaconHistory

E = BeaconEvent
SERVER = ('127.0.0.1', 5064)


def regular(history, start, period, count, first_sequence=0, server=SERVER):
    """Feed ``count`` beacons every ``period`` s; return the events."""
    return [history.beacon(server, start + i * period, first_sequence + i)
            for i in range(count)]


def test_first_beacon_is_only_recorded():
    history = BeaconHistory(start_time=0.0)
    assert history.beacon(SERVER, 100.0, 7) == E.FIRST
    assert SERVER in history
    assert history.average_period(SERVER) is None


def test_second_beacon_of_a_long_running_server_is_not_an_anomaly():
    # Client started at 0, first beacon heard at 5 s (the server had been
    # running), next one 15 s later: the gap exceeds our 5 s of listening.
    history = BeaconHistory(start_time=0.0)
    history.beacon(SERVER, 5.0, 1)
    assert history.beacon(SERVER, 20.0, 2) == E.NONE
    assert history.average_period(SERVER) == 15.0


def test_second_beacon_of_a_new_server_is_an_anomaly():
    # We listened 100 s before hearing the first beacon; the second comes
    # 0.02 s later (fast startup beacons): the server is new.
    history = BeaconHistory(start_time=0.0)
    history.beacon(SERVER, 100.0, 1)
    assert history.beacon(SERVER, 100.02, 2) == E.ANOMALY


def test_regular_beacons_are_quiet_without_a_circuit():
    history = BeaconHistory(start_time=995.0)
    events = regular(history, 1000.0, 15.0, 10)
    assert events[0] == E.FIRST
    assert all(e == E.NONE for e in events[1:])
    assert history.average_period(SERVER) == pytest.approx(15.0)


def test_regular_beacons_with_a_circuit_reset_its_watchdog():
    history = BeaconHistory(start_time=0.0)
    regular(history, 1000.0, 15.0, 3)
    history.circuit_connected(SERVER)
    assert history.beacon(SERVER, 1045.0, 3) == E.NORMAL


def test_late_beacon_thresholds():
    history = BeaconHistory(start_time=0.0)
    regular(history, 1000.0, 10.0, 3)       # average 10 s; last at 1020
    history.circuit_connected(SERVER)
    # 12.4 s: within tolerance.
    assert history.beacon(SERVER, 1032.4, 3) == E.NORMAL
    avg = history.average_period(SERVER)
    assert avg == pytest.approx(0.125 * 12.4 + 0.875 * 10.0)
    # >= 1.25 x average: late, check the circuit, but no search boost.
    gap = 1.25 * avg + 1e-9
    assert history.beacon(SERVER, 1032.4 + gap, 4) == E.LATE | E.CHECK_CIRCUIT


def test_absent_for_three_periods_is_an_anomaly():
    history = BeaconHistory(start_time=0.0)
    regular(history, 1000.0, 10.0, 3)
    assert history.beacon(SERVER, 1020.0 + 32.5, 3) == E.LATE | E.ANOMALY


def test_early_beacon_means_reboot_anomaly():
    history = BeaconHistory(start_time=0.0)
    regular(history, 1000.0, 15.0, 3)       # last at 1030
    # A rebooted RSRV restarts its fast beacons (and its counter).
    assert history.beacon(SERVER, 1030.02, 3) == E.EARLY | E.ANOMALY
    history.circuit_connected(SERVER)
    assert (history.beacon(SERVER, 1030.06, 4)
            == E.EARLY | E.ANOMALY | E.CHECK_CIRCUIT)


def test_running_average_update():
    history = BeaconHistory(start_time=0.0)
    regular(history, 1000.0, 15.0, 2)
    history.beacon(SERVER, 1015.0 + 16.0, 2)
    assert history.average_period(SERVER) == pytest.approx(
        0.125 * 16.0 + 0.875 * 15.0)


@pytest.mark.parametrize('advance, discarded', [
    (0, True), (-1, True), (-255, True), (2, True), (3, True),
    (1, False), (4, False), (1000, False), (-300, False)])
def test_sequence_number_checks(advance, discarded):
    history = BeaconHistory(start_time=0.0)
    regular(history, 1000.0, 15.0, 3, first_sequence=1000)   # last seq 1002
    seq = (1002 + advance) % 2 ** 32
    events = history.beacon(SERVER, 1045.0, seq)
    assert (events == E.DISCARDED) is discarded


def test_sequence_wraps_around_u32():
    history = BeaconHistory(start_time=995.0)
    history.beacon(SERVER, 1000.0, 0xFFFFFFFF)
    assert history.beacon(SERVER, 1015.0, 0) == E.NONE


def test_discarded_beacon_does_not_move_the_timestamp():
    history = BeaconHistory(start_time=0.0)
    regular(history, 1000.0, 15.0, 3)                  # last at 1030, seq 2
    assert history.beacon(SERVER, 1031.0, 2) == E.DISCARDED
    assert history.beacon(SERVER, 1045.0, 3) == E.NONE  # gap 15 from 1030


def test_rsrv_first_two_beacons_carry_zero():
    # RSRV quirk: 0, 0, 1, 2...  The repeated 0 is discarded.
    history = BeaconHistory(start_time=0.0)
    assert history.beacon(SERVER, 100.0, 0) == E.FIRST
    assert history.beacon(SERVER, 100.02, 0) == E.DISCARDED
    assert history.beacon(SERVER, 100.06, 1) == E.ANOMALY


def test_old_servers_without_sequence_numbers_skip_the_checks():
    history = BeaconHistory(start_time=995.0)
    history.beacon(SERVER, 1000.0, 0, server_version=9)
    assert history.beacon(SERVER, 1015.0, 0, server_version=9) == E.NONE


def test_circuit_entry_before_any_beacon():
    history = BeaconHistory(start_time=45.0)
    history.circuit_connected(SERVER)       # connected via a search reply
    assert history.beacon(SERVER, 50.0, 9) == E.FIRST | E.CHECK_CIRCUIT
    assert history.beacon(SERVER, 65.0, 10) == E.CHECK_CIRCUIT
    assert history.beacon(SERVER, 80.0, 11) == E.NORMAL


def test_circuit_disconnect_restarts_the_timing():
    history = BeaconHistory(start_time=0.0)
    regular(history, 1000.0, 15.0, 3)
    history.circuit_connected(SERVER)
    history.circuit_disconnected(SERVER)
    assert history.average_period(SERVER) is None
    assert history.beacon(SERVER, 1045.0, 3) == E.FIRST
    # Second beacon after the reset: gap 15 s <= time since start: anomaly.
    assert history.beacon(SERVER, 1060.0, 4) == E.ANOMALY


def test_time_since_last_heard():
    history = BeaconHistory(start_time=0.0)
    other = ('127.0.0.2', 5064)
    history.beacon(SERVER, 10.0, 0)
    history.heard(other, 12.0)
    history.circuit_connected(('127.0.0.3', 5064))
    assert history.time_since_last_heard(15.0) == {
        SERVER: 5.0, other: 3.0, ('127.0.0.3', 5064): None}
    history.beacon(SERVER, 14.0, 0)          # discarded, but still heard
    assert history.time_since_last_heard(15.0)[SERVER] == 1.0
    history.forget(SERVER)
    assert SERVER not in history


def test_servers_are_independent():
    history = BeaconHistory(start_time=0.0)
    other = ('127.0.0.2', 5064)
    regular(history, 1000.0, 15.0, 4)
    regular(history, 1000.0, 1.0, 4, server=other)
    assert history.average_period(SERVER) == pytest.approx(15.0)
    assert history.average_period(other) == pytest.approx(1.0)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.floats(0.001, 100.0), st.integers(0, 2 ** 32 - 1),
                          st.sampled_from(['beacon', 'connect', 'disconnect'])),
                max_size=50))
def test_random_beacons_never_raise_and_average_stays_positive(items):
    history = BeaconHistory(start_time=0.0)
    now = 0.0
    for gap, seq, op in items:
        now += gap
        if op == 'beacon':
            events = history.beacon(SERVER, now, seq)
            assert isinstance(events, BeaconEvent)
            if events & E.DISCARDED:
                assert events == E.DISCARDED
        elif op == 'connect':
            history.circuit_connected(SERVER)
        else:
            history.circuit_disconnected(SERVER)
        average = history.average_period(SERVER)
        assert average is None or average > 0
