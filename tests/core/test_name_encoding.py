"""encode_name's short way for plain ASCII names gives the bytes (and the
refusals) of its general rules: latin-1, a NUL terminator, no NUL inside,
at most MAX_NAME_BYTES with the terminator."""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cawire.protocol._commands_base import MAX_NAME_BYTES, encode_name
from cawire.protocol._exceptions import CaprotoValueError


def reference(name):
    raw = name.encode('latin-1')
    if b'\x00' in raw or len(raw) + 1 > MAX_NAME_BYTES:
        raise CaprotoValueError(name)
    return raw + b'\x00'


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.text(max_size=40),
                 st.text(alphabet=st.characters(max_codepoint=127),
                         min_size=MAX_NAME_BYTES - 3,
                         max_size=MAX_NAME_BYTES + 2)))
def test_ascii_short_way_matches_the_rules(name):
    try:
        expected = reference(name)
    except (CaprotoValueError, UnicodeEncodeError):
        with pytest.raises(CaprotoValueError):
            encode_name(name)
        return
    assert encode_name(name) == expected
    assert type(encode_name(name)) is bytes


def test_longest_name_and_one_more():
    longest = 'a' * (MAX_NAME_BYTES - 1)
    assert encode_name(longest) == longest.encode() + b'\x00'
    with pytest.raises(CaprotoValueError, match='limit'):
        encode_name(longest + 'a')
    with pytest.raises(CaprotoValueError, match='NUL'):
        encode_name('a\x00b')
