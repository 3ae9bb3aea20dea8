"""``time_scalar``: the fast form of ``decode`` for one numeric DBR_TIME
element must give exactly what ``decode`` gives, and None for anything else.
"""
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from cawire import ChannelType, decode
from cawire.protocol import _payload
from cawire.protocol._commands_data import EventAddResponse
from cawire.protocol._dbr import VALUE_OFFSET, VALUE_SIZE

FAST_TYPES = (ChannelType.TIME_INT, ChannelType.TIME_FLOAT,
              ChannelType.TIME_ENUM, ChannelType.TIME_CHAR,
              ChannelType.TIME_LONG, ChannelType.TIME_DOUBLE)


def _same(a, b) -> bool:
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    return a == b and type(a) is type(b)


@settings(max_examples=300, deadline=None)
@given(data_type=st.sampled_from(list(ChannelType)),
       count=st.integers(0, 3), extra=st.integers(0, 8), seed=st.binary(
           min_size=0, max_size=64))
def test_matches_decode(data_type, count, extra, seed):
    size = VALUE_OFFSET[data_type] + count * VALUE_SIZE[data_type] + extra
    payload = (seed * (size // max(1, len(seed)) + 1))[:size] if seed \
        else bytes(size)
    fast = _payload.time_scalar(int(data_type), count, payload)
    if data_type not in FAST_TYPES or count != 1:
        assert fast is None
        return
    metadata, data = decode(data_type, count, payload)
    expected = (int(metadata.status), int(metadata.severity),
                metadata.secondsSinceEpoch, metadata.nanoSeconds,
                data[0].item())
    assert len(fast) == 5
    assert all(_same(a, b) for a, b in zip(fast, expected)), (fast, expected)


def test_short_payload_gives_none():
    full = VALUE_OFFSET[ChannelType.TIME_DOUBLE] + 8
    assert _payload.time_scalar(ChannelType.TIME_DOUBLE, 1,
                                bytes(full - 1)) is None


def test_response_method():
    response = EventAddResponse(data=[-2.5], data_type=ChannelType.TIME_DOUBLE,
                                data_count=1, status=1, subscriptionid=7)
    assert response.time_scalar() == (0, 0, 0, 0, -2.5)
    many = EventAddResponse(data=[1, 2], data_type=ChannelType.TIME_LONG,
                            data_count=2, status=1, subscriptionid=7)
    assert many.time_scalar() is None
