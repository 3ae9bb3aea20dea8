"""The UDP Broadcaster (cawire.protocol._broadcaster)."""
import pytest
from hypothesis import given, settings, strategies as st

from cawire.protocol import _commands as cmds
from cawire.protocol._broadcaster import Broadcaster, search_request_size
from cawire.protocol._exceptions import (CaprotoValueError, LocalProtocolError,
                                RemoteProtocolError)
from cawire.protocol._framing import read_datagram
from cawire.protocol._search_schedule import search_message_size
from cawire.protocol._state import CLIENT, SERVER


def hexbytes(text):
    return bytes.fromhex(''.join(text.split()))


E1 = hexbytes('''00000000 0001000d 00000001 00000000
                 00060008 0005000d 00000001 00000001 5453543a 61690000''')
E2 = hexbytes('''00000000 0001000d 00000001 00000000
                 00060008 88f80000 ffffffff 00000001 000d0000 00000000''')
E20_BEACON = hexbytes('000d0000 000d88f8 00000009 7f000001')
E21_CONFIRM = hexbytes('00110000 00000000 00000000 7f000001')


def test_search_datagram_is_byte_exact_e1():
    broadcaster = Broadcaster(CLIENT)
    (datagram,) = broadcaster.search_datagrams([(1, 'TST:ai')], 1)
    assert datagram == E1
    assert broadcaster.unanswered_searches == {1: 'TST:ai'}


def test_search_reply_e2():
    broadcaster = Broadcaster(CLIENT)
    broadcaster.search_datagrams([(1, 'TST:ai')], 1)
    commands = broadcaster.recv(E2, ('127.0.0.1', 35064))
    broadcaster.process_commands(commands)
    assert broadcaster.unanswered_searches == {}
    (result,) = broadcaster.search_results(commands)
    assert result.cid == 1
    assert result.address == ('127.0.0.1', 35064)
    assert result.sequence == 1
    assert result.version == 13


def test_server_side_sees_the_searches():
    client = Broadcaster(CLIENT)
    server = Broadcaster(SERVER)
    (datagram,) = client.search_datagrams([(7, 'A'), (8, 'B')], 42)
    commands = server.recv(datagram, ('127.0.0.1', 50000))
    server.process_commands(commands)
    version, first, second = commands
    assert version.sequence_id == 42 and version.version == 13
    assert (first.name, first.cid, second.name, second.cid) == \
        ('A', 7, 'B', 8)
    reply = server.send(cmds.VersionResponse(13, sequence_id=42),
                        cmds.SearchResponse(5064, None, 7, 13))
    replies = client.recv(reply, ('127.0.0.1', 5064))
    client.process_commands(replies)
    assert client.unanswered_searches == {8: 'B'}


def test_beacon_and_repeater_confirm():
    broadcaster = Broadcaster(CLIENT)
    (beacon,) = broadcaster.recv(E20_BEACON, ('127.0.0.1', 35065))
    assert (beacon.version, beacon.server_port, beacon.beacon_id,
            beacon.address) == (13, 35064, 9, '127.0.0.1')
    assert not broadcaster.registered
    confirm = broadcaster.recv(E21_CONFIRM, ('127.0.0.1', 35065))
    broadcaster.process_commands([beacon] + confirm)
    assert broadcaster.registered
    assert broadcaster.repeater_address == '127.0.0.1'
    broadcaster.disconnect()
    assert not broadcaster.registered


def test_zero_version_noop_is_accepted():
    broadcaster = Broadcaster(CLIENT)
    commands = broadcaster.recv(bytes(16), ('127.0.0.1', 5065))
    broadcaster.process_commands(commands)
    assert commands[0].version == 0


def test_roles_are_enforced():
    client = Broadcaster(CLIENT)
    server = Broadcaster(SERVER)
    with pytest.raises(LocalProtocolError):
        client.send(cmds.SearchResponse(5064, None, 1, 13))
    with pytest.raises(LocalProtocolError):
        server.send(cmds.SearchRequest('A', 1, 13))
    with pytest.raises(LocalProtocolError):
        client.send(cmds.EchoRequest())
    # A "reply" from a client to a server is the client's error.
    with pytest.raises(RemoteProtocolError):
        client.process_commands([cmds.SearchRequest('A', 1, 13)])
    with pytest.raises(RemoteProtocolError):
        server.process_commands([cmds.SearchResponse(5064, None, 1, 13)])


def test_malformed_datagram_is_a_remote_error():
    broadcaster = Broadcaster(CLIENT)
    with pytest.raises(RemoteProtocolError):
        broadcaster.recv(E2[:-3], ('127.0.0.1', 5064))


def names_of(datagram):
    commands = read_datagram(datagram, ('h', 1), SERVER)
    return commands


def test_packing_uses_as_few_datagrams_as_possible():
    broadcaster = Broadcaster(CLIENT)
    # 60 names of 40 characters: 64 bytes each, 15 per 1008-byte payload.
    items = [(i, f'{i:040d}') for i in range(60)]
    datagrams = broadcaster.search_datagrams(items, 10)
    assert len(datagrams) == 4
    assert all(len(d) == 16 + 15 * 64 for d in datagrams)
    sequences = [names_of(d)[0].sequence_id for d in datagrams]
    assert sequences == [10, 11, 12, 13]
    cids = [c.cid for d in datagrams for c in names_of(d)[1:]]
    assert cids == list(range(60))


def test_first_fit_fills_gaps_with_later_small_names():
    broadcaster = Broadcaster(CLIENT)
    big = 'x' * 900          # 16 + 904 = 920 bytes
    items = [(1, big), (2, big), (3, 'small')]
    datagrams = broadcaster.search_datagrams(items, 1)
    assert len(datagrams) == 2
    assert [c.cid for c in names_of(datagrams[0])[1:]] == [1, 3]


def test_sequence_numbers_wrap():
    broadcaster = Broadcaster(CLIENT)
    items = [(i, 'y' * 500) for i in range(3)]
    datagrams = broadcaster.search_datagrams(items, 0xFFFFFFFF)
    assert [names_of(d)[0].sequence_id for d in datagrams] == \
        [0xFFFFFFFF, 0, 1]


def test_longest_name_that_fits_and_one_that_does_not():
    broadcaster = Broadcaster(CLIENT)
    # 1024 - 16 (VERSION) - 16 (SEARCH header) = 992 bytes of name + NUL.
    (datagram,) = broadcaster.search_datagrams([(1, 'n' * 991)], 1)
    assert len(datagram) == 1024
    with pytest.raises(CaprotoValueError):
        broadcaster.search_datagrams([(1, 'n' * 992)], 1)


def test_search_sizes_agree_with_the_schedule():
    for name in ('A', 'TST:ai', 'TST:str', 'TST:long', 'x' * 100):
        assert search_request_size(name) == search_message_size(name) == \
            len(cmds.SearchRequest(name, 1, 13))


def test_new_search_id_skips_ids_in_use():
    taken = {2}
    broadcaster = Broadcaster(CLIENT, cid_in_use=taken.__contains__)
    first = broadcaster.new_search_id()
    broadcaster.search_datagrams([(first, 'A')], 1)
    assert first == 1
    assert broadcaster.new_search_id() == 3


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(alphabet='ABCDEFGHIJKLMNOPQRSTUVWXYZ:_.0123456789',
                        min_size=1, max_size=300), max_size=80))
def test_random_names_pack_into_valid_datagrams(names):
    broadcaster = Broadcaster(CLIENT)
    items = list(enumerate(names))
    datagrams = broadcaster.search_datagrams(items, 1)
    seen = []
    total = 16 * len(datagrams) + sum(search_request_size(n) for n in names)
    for datagram in datagrams:
        assert len(datagram) <= 1024
        commands = names_of(datagram)
        assert type(commands[0]) is cmds.VersionRequest
        assert commands[0].priority == 1
        seen += [(c.cid, c.name) for c in commands[1:]]
    assert sorted(seen) == sorted(items)
    assert sum(len(d) for d in datagrams) == total
    # No two datagrams could have been merged.
    sizes = sorted(len(d) - 16 for d in datagrams)
    if len(sizes) >= 2:
        assert sizes[0] + sizes[1] > 1008
