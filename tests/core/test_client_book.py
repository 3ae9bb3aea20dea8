"""The client's channel book and search waitlist (core, no sockets)."""
from types import SimpleNamespace

import pytest

from cawire.protocol import _commands as cmds
from cawire.protocol._circuit import VirtualCircuit
from cawire.protocol._client_circuit import ClientChannelBook
from cawire.protocol._exceptions import LocalProtocolError
from cawire.protocol._search_waitlist import SearchWaitlist
from cawire.protocol._state import CLIENT


def owner(name, cid, priority=0):
    return SimpleNamespace(name=name, cid=cid, priority=priority)


def wire(buffers):
    return b''.join(bytes(b) for b in buffers)


def test_packed_forms_put_the_same_bytes_on_the_wire_as_the_messages():
    owners = [owner(f'PV:{i}', i + 1) for i in range(5)]
    slow = ClientChannelBook(VirtualCircuit(CLIENT, ('127.0.0.1', 5064), 0),
                             'latin-1')
    fast = ClientChannelBook(VirtualCircuit(CLIENT, ('127.0.0.1', 5064), 0),
                             'latin-1')
    # Booked before the handshake: they wait for it.
    assert slow.add(owners[:3]) == []
    assert fast.add_packed(owners[:3]) == b''
    expected = wire(slow.circuit.send(*slow.handshake('me', 'host')))
    got = wire(fast.circuit.send(*fast.open('me', 'host')))
    got += fast.take_waiting()
    assert got == expected
    assert fast.take_waiting() == b''
    # After it: sent at once.
    expected = wire(slow.circuit.send(*slow.add(owners[3:])))
    assert fast.add_packed(owners[3:]) == expected
    assert set(fast.channels) == set(slow.channels) == {1, 2, 3, 4, 5}
    assert fast.add_packed([]) == b''


def test_take_waiting_before_the_version_was_sent_is_refused():
    book = ClientChannelBook(VirtualCircuit(CLIENT, ('127.0.0.1', 5064), 0),
                             'latin-1')
    book.add_packed([owner('A', 1)])
    book.open('me', 'host')          # not sent: the circuit saw no VERSION
    with pytest.raises(LocalProtocolError):
        book.take_waiting()
    book.circuit.send(cmds.VersionRequest(0, 13))
    assert book.take_waiting()       # still waiting, not lost


def test_waitlist_searches_each_name_once_and_binds_every_owner():
    waitlist = SearchWaitlist()
    a0, a1, b0 = owner('A', 1), owner('A', 2, priority=1), owner('B', 3)
    assert waitlist.add([a0, b0]) == ['A', 'B']
    assert waitlist.add([a1, a0]) == []      # A is searched for already
    waitlist.put(a0)                         # no duplicate
    assert 'A' in waitlist and len(waitlist) == 2
    found = waitlist.found(['A', 'X'])
    assert found == {0: [a0], 1: [a1]}
    assert 'A' not in waitlist
    assert waitlist.found(['B']) == {0: [b0]}
    assert len(waitlist) == 0
    assert waitlist.add([a0]) == ['A']       # waiting again
