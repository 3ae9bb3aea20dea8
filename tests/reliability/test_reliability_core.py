"""Core fixes made by the reliability suite (bounded state under hostile
input), tested without I/O."""
from cawire.protocol._beacon_history import MAX_SERVERS, BeaconEvent, BeaconHistory


def test_beacon_history_is_bounded_against_invented_servers():
    history = BeaconHistory(0.0, max_servers=100)
    history.circuit_connected(('127.0.0.1', 5064))
    for index in range(10_000):
        # A beacon carries its server's address: invented ones are free.
        server = (f'10.{index >> 16 & 255}.{index >> 8 & 255}.'
                  f'{index & 255}', 5064)
        assert history.beacon(server, 1.0 + index * 1e-3, index) is \
            BeaconEvent.FIRST
    assert len(history) == 100
    # The server we have a circuit to is never forgotten.
    assert ('127.0.0.1', 5064) in history
    # The most recent invented servers are the ones kept.
    assert ('10.0.39.15', 5064) in history  # index 9999
    assert ('10.0.0.0', 5064) not in history


def test_forgotten_server_starts_over_with_a_first_beacon():
    history = BeaconHistory(0.0, max_servers=2)
    history.beacon('a', 1.0, 1)
    history.beacon('b', 1.0, 1)
    history.beacon('c', 1.0, 1)  # forgets 'a'
    assert 'a' not in history
    assert history.beacon('a', 16.0, 2) is BeaconEvent.FIRST


def test_default_cap():
    assert BeaconHistory(0.0).max_servers == MAX_SERVERS >= 4096
