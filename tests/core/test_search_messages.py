"""The one packer and parser of search datagrams (both directions)."""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cawire.protocol import _commands as ca
from cawire.protocol._constants import DO_REPLY, MAX_UDP_SEND
from cawire.protocol._exceptions import CaprotoValueError
from cawire.protocol._framing import read_datagram
from cawire.protocol._search_messages import (
    SearchRequests, pack_search_datagram, pack_search_replies,
    parse_search_replies, parse_search_requests, search_message_size)
from cawire.protocol._state import CLIENT, SERVER


def test_search_datagram_bytes_equal_the_command_classes():
    searches = [(1, 'abc'), (0xFFFFFFFF, 'x' * 39), (7, 'TST:ai.VAL')]
    datagram = pack_search_datagram(42, searches)
    expected = bytes(ca.VersionRequest(1, 13, sequence_id=42)) + b''.join(
        bytes(ca.SearchRequest(name, cid, 13)) for cid, name in searches)
    assert datagram == expected
    assert len(datagram) == 16 + sum(search_message_size(n)
                                     for _, n in searches)


def test_search_datagram_reply_flag_and_sequence_wrap():
    datagram = pack_search_datagram(2 ** 32 + 3, [(5, 'a')], reply=DO_REPLY)
    commands = read_datagram(datagram, ('127.0.0.1', 1), SERVER)
    assert commands[0].sequence_id == 3
    assert commands[1].reply == DO_REPLY and commands[1].cid == 5


def test_search_datagram_refuses_more_than_1024_bytes():
    names = [(i, f'{i:040d}') for i in range(15)]   # 64 bytes each
    assert len(pack_search_datagram(1, names)) == 16 + 15 * 64 == 976
    with pytest.raises(CaprotoValueError):
        pack_search_datagram(1, names + [(99, 'y' * 40)])
    with pytest.raises(CaprotoValueError):
        pack_search_datagram(1, [(1, 'bad\x00name')])


def test_parse_search_requests_stops_at_other_commands():
    datagram = (pack_search_datagram(9, [(1, 'a'), (2, 'b')])
                + bytes(ca.EchoRequest())
                + bytes(ca.SearchRequest('c', 3, 13)))
    parsed = parse_search_requests(
        read_datagram(datagram, ('127.0.0.1', 1), SERVER))
    assert isinstance(parsed, SearchRequests)
    assert parsed.sequence == 9
    assert [r.name for r in parsed.requests] == ['a', 'b']


def test_search_replies_bytes_and_datagram_limit():
    datagrams = pack_search_replies(7, 5064, range(100))
    lead = bytes(ca.VersionResponse(13, sequence_id=7))
    per = (MAX_UDP_SEND - len(lead)) // 24
    assert [len(d) for d in datagrams] == [16 + 24 * per] * 2 + [
        16 + 24 * (100 - 2 * per)]
    joined = b''.join(d[16:] for d in datagrams)
    assert joined == b''.join(
        bytes(ca.SearchResponse(5064, None, cid, 13)) for cid in range(100))
    assert all(d.startswith(lead) for d in datagrams)
    assert pack_search_replies(None, 5064, [3]) == [
        bytes(ca.SearchResponse(5064, None, 3, 13))]
    assert pack_search_replies(1, 5064, []) == []


def test_parse_search_replies_addresses_and_sequence():
    datagram = (bytes(ca.VersionResponse(13, sequence_id=11))
                + bytes(ca.SearchResponse(5070, None, 1, 13))
                + bytes(ca.SearchResponse(5071, '127.0.0.2', 2, 13))
                + bytes(ca.RsrvIsUpResponse(13, 5064, 1, '127.0.0.1')))
    commands = read_datagram(datagram, ('127.0.0.9', 5064), CLIENT)
    results = parse_search_replies(commands, ('127.0.0.9', 5064))
    assert [(r.cid, r.address, r.sequence, r.version) for r in results] == [
        (1, ('127.0.0.9', 5070), 11, 13), (2, ('127.0.0.2', 5071), 11, 13)]
    # Without a source address, each reply's sender address is used.
    assert parse_search_replies(commands)[0].address == ('127.0.0.9', 5070)


def test_parse_search_replies_tcp_form():
    reply = ca.SearchResponse(5080, None, 4, None)
    [result] = parse_search_replies([reply], ('127.0.0.3', 5999))
    assert result.address == ('127.0.0.3', 5999)
    assert result.sequence is None and result.version is None


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(
    st.integers(0, 2**32 - 1),
    st.text(st.characters(max_codepoint=0xFF, blacklist_characters='\x00'),
            min_size=1, max_size=50)
    | st.binary(min_size=1, max_size=50).filter(lambda b: b'\x00' not in b)),
    max_size=12), st.integers(0, 2**33))
def test_search_datagram_bytes_equal_the_command_classes_for_any_name(
        searches, sequence):
    # ASCII names take a short way; latin-1 and bytes names the general one.
    expected = bytes(ca.VersionRequest(1, 13, sequence_id=sequence
                                       & 0xFFFFFFFF)) + b''.join(
        bytes(ca.SearchRequest(name, cid, 13)) for cid, name in searches)
    if len(expected) > MAX_UDP_SEND:
        with pytest.raises(CaprotoValueError,
                           match=f'^{len(searches)} searches take '
                                 f'{len(expected)} bytes'):
            pack_search_datagram(sequence, searches)
        return
    assert pack_search_datagram(sequence, searches) == expected
