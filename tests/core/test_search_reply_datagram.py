"""The fast form of a search-reply datagram (``read_search_reply_datagram``)
gives what ``read_datagram`` + ``parse_search_replies`` give, and
``ClientDatagrams.received`` gives the same outcome with it as without it.
"""
import logging

from hypothesis import given, settings
from hypothesis import strategies as st

from cawire.protocol import _client_datagrams
from cawire.protocol import _commands as cmds
from cawire.protocol._beacon_history import BeaconHistory
from cawire.protocol._broadcaster import Broadcaster
from cawire.protocol._client_datagrams import ClientDatagrams
from cawire.protocol._framing import read_datagram
from cawire.protocol._search_messages import (pack_search_replies,
                                              parse_search_replies,
                                              read_search_reply_datagram)
from cawire.protocol._state import CLIENT

SOURCE = ('127.0.0.7', 40123)


def described(commands):
    return [(type(c), c.header, bytes(c), c.sender_address) for c in commands]


def results_described(results):
    return [(r.cid, r.address, r.sequence, r.version, type(r.response),
             bytes(r.response), r.response.sender_address) for r in results]


def messages():
    return st.one_of(
        st.builds(cmds.SearchResponse, st.integers(0, 0xFFFF),
                  st.sampled_from([None, '10.1.2.3', '255.255.255.255']),
                  st.integers(0, 2**32 - 1),
                  st.one_of(st.none(), st.integers(0, 0xFFFF))),
        st.builds(cmds.VersionResponse, st.integers(0, 13),
                  sequence_id=st.one_of(st.none(),
                                        st.integers(0, 2**32 - 1))),
        st.builds(cmds.RsrvIsUpResponse, st.integers(0, 13),
                  st.integers(0, 0xFFFF), st.integers(0, 2**32 - 1),
                  st.just('127.0.0.1')),
        st.builds(cmds.NotFoundResponse, st.integers(0, 13),
                  st.integers(0, 100)),
    )


@settings(max_examples=400, deadline=None)
@given(st.lists(messages(), max_size=12))
def test_fast_form_matches_the_general_path_or_declines(datagram_messages):
    data = b''.join(bytes(m) for m in datagram_messages)
    fast = read_search_reply_datagram(data, SOURCE)
    if fast is None:
        return
    commands, results = fast
    general = read_datagram(data, SOURCE, CLIENT)
    assert described(commands) == described(general)
    assert (results_described(results)
            == results_described(parse_search_replies(general, SOURCE)))


def test_what_a_server_sends_takes_the_fast_form():
    for sequence in (None, 7, 2**32 - 1):
        for data in pack_search_replies(sequence, 5064, range(100)):
            fast = read_search_reply_datagram(data, SOURCE)
            assert fast is not None
            general = read_datagram(data, SOURCE, CLIENT)
            assert described(fast[0]) == described(general)
            assert (results_described(fast[1]) == results_described(
                parse_search_replies(general, SOURCE)))
            assert {r.address for r in fast[1]} == {('127.0.0.7', 5064)}
            assert {r.sequence for r in fast[1]} == {sequence}


def test_other_datagrams_are_left_to_the_general_path():
    version = bytes(cmds.VersionResponse(13, sequence_id=3))
    reply = bytes(cmds.SearchResponse(5064, None, 1, 13))
    tcp_form = bytes(cmds.SearchResponse(5064, None, 1, None))
    beacon = bytes(cmds.RsrvIsUpResponse(13, 5064, 1, '127.0.0.1'))
    for data in (b'', version, reply + version, reply + tcp_form,
                 reply + beacon, beacon, reply[:-1], reply + b'\0' * 8):
        assert read_search_reply_datagram(data, SOURCE) is None


def outcome_described(outcome):
    return (described(outcome.commands), outcome.error, outcome.warn,
            outcome.beacons, outcome.registered,
            results_described(outcome.results))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(messages(), max_size=8), max_size=6))
def test_client_datagrams_outcomes_are_those_of_the_general_path(datagrams):
    log = logging.getLogger('cawire.test')

    def datagrams_rules():
        return ClientDatagrams(Broadcaster(CLIENT), BeaconHistory(0.0), log)

    fast_rules, general_rules = datagrams_rules(), datagrams_rules()
    general_form = _client_datagrams.read_search_reply_datagram
    for now, datagram_messages in enumerate(datagrams, start=1):
        data = b''.join(bytes(m) for m in datagram_messages)
        fast = fast_rules.received(data, SOURCE, float(now))
        _client_datagrams.read_search_reply_datagram = (
            lambda data, address: None)
        try:
            general = general_rules.received(data, SOURCE, float(now))
        finally:
            _client_datagrams.read_search_reply_datagram = general_form
        assert outcome_described(fast) == outcome_described(general)
    assert (fast_rules.beacons.time_since_last_heard(99.0)
            == general_rules.beacons.time_since_last_heard(99.0))
    assert (fast_rules.protocol.unanswered_searches
            == general_rules.protocol.unanswered_searches)


def test_a_reply_of_another_version_gets_its_own_address():
    # Same port and ip fields, versions on both sides of 5 (from 5 on the
    # port field counts): the address is worked out again, both ways.
    messages = [cmds.SearchResponse(0, None, 0, 0),
                cmds.SearchResponse(0, '10.1.2.3', 0, 0),
                cmds.SearchResponse(0, None, 1, 5),
                cmds.SearchResponse(0, None, 2, 0)]
    data = b''.join(bytes(m) for m in messages)
    _, fast = read_search_reply_datagram(data, SOURCE)
    general = parse_search_replies(read_datagram(data, SOURCE, CLIENT),
                                   SOURCE)
    expected = [(SOURCE[0], 5064), (SOURCE[0], 5064), (SOURCE[0], 0),
                (SOURCE[0], 5064)]
    assert [r.address for r in fast] == expected
    assert [r.address for r in general] == expected
