"""IdAllocator.take and Broadcaster.new_search_ids, the batch forms a
client uses for thousands of channels, hand out exactly the ids the same
number of single calls would, and leave the allocator where they would."""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cawire.protocol._broadcaster import Broadcaster
from cawire.protocol._exceptions import LocalProtocolError
from cawire.protocol._ids import IdAllocator
from cawire.protocol._state import CLIENT

U32 = 2**32


@settings(max_examples=300, deadline=None)
@given(start=st.one_of(st.integers(0, 50), st.integers(U32 - 50, U32 - 1)),
       live=st.one_of(st.none(), st.frozensets(
           st.one_of(st.integers(0, 120), st.integers(U32 - 60, U32 - 1)))),
       counts=st.lists(st.integers(0, 40), max_size=5))
def test_take_gives_what_single_calls_give(start, live, counts):
    in_use = None if live is None else live.__contains__
    batched, single = IdAllocator(in_use, start), IdAllocator(in_use, start)
    for count in counts:
        assert batched.take(count) == [single() for _ in range(count)]
    assert batched() == single()


def test_take_raises_as_a_call_does_when_a_million_ids_are_live():
    batched = IdAllocator(lambda candidate: True)
    with pytest.raises(LocalProtocolError, match='no free id'):
        batched.take(1)


def test_new_search_ids_are_those_of_new_search_id():
    live = {5, 6, 9}
    batched = Broadcaster(CLIENT, cid_in_use=live.__contains__,
                          first_search_id=4)
    single = Broadcaster(CLIENT, cid_in_use=live.__contains__,
                         first_search_id=4)
    assert batched.new_search_ids(5) == [single.new_search_id()
                                         for _ in range(5)] == [4, 7, 8, 10, 11]
    assert batched.new_search_id() == single.new_search_id()
