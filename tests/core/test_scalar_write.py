"""ClientChannel.write_notify_scalar, the fast form of a one-number
WRITE_NOTIFY: the same bytes as ClientChannel.write for every numeric native
type, and None (the caller falls back to write) for everything else."""
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from cawire.protocol import _commands as cmds
from cawire.protocol._channel import ClientChannel
from cawire.protocol._circuit import VirtualCircuit
from cawire.protocol._commands_data import ScalarWriteNotifyForm
from cawire.protocol._enums import ChannelType
from cawire.protocol._exceptions import CaprotoValueError
from cawire.protocol._state import CLIENT

from circuit_helpers import connected_client, wire

NUMERIC = {
    ChannelType.CHAR: (0, 255),
    ChannelType.INT: (-2**15, 2**15 - 1),
    ChannelType.ENUM: (0, 2**16 - 1),
    ChannelType.LONG: (-2**31, 2**31 - 1),
    ChannelType.FLOAT: (-2**31, 2**31 - 1),
    ChannelType.DOUBLE: (-2**53, 2**53),
}


def channel_of(native, sid=7):
    _, (channel,) = connected_client(sids=(sid,), native=native)
    return channel


def same_as_general(channel, value):
    fast = channel.write_notify_scalar(value)
    assert fast is not None
    general = channel.write(value, ioid=fast.ioid)
    assert type(fast) is type(general) is cmds.WriteNotifyRequest
    assert bytes(fast) == bytes(general)
    assert wire(fast.wire_buffers()) == wire(general.wire_buffers())
    assert (fast.data_type, fast.data_count, fast.sid, fast.ioid) == \
        (general.data_type, general.data_count, general.sid, general.ioid)
    assert list(fast.data) == list(general.data)
    return fast


@pytest.mark.parametrize('native', list(NUMERIC))
@pytest.mark.parametrize('shape', ['bare', 'list', 'tuple'])
def test_same_bytes_as_write_for_each_numeric_type(native, shape):
    channel = channel_of(native)
    low, high = NUMERIC[native]
    for value in (low, 0, 1, high):
        given_value = {'bare': value, 'list': [value],
                       'tuple': (value,)}[shape]
        fast = same_as_general(channel, given_value)
        assert fast.data_type == native and fast.data_count == 1
        assert fast.sid == 7


@pytest.mark.parametrize('native', [ChannelType.FLOAT, ChannelType.DOUBLE])
def test_floats_to_float_channels(native):
    channel = channel_of(native)
    for value in (0.0, -1.5, 3.25e7, math.inf, -math.inf, 1e-30):
        same_as_general(channel, [value])
    fast = channel.write_notify_scalar([math.nan])
    assert bytes(fast) == bytes(channel.write([math.nan], ioid=fast.ioid))


@settings(max_examples=200, deadline=None)
@given(native=st.sampled_from(list(NUMERIC)), data=st.data())
def test_any_in_range_int_matches(native, data):
    low, high = NUMERIC[native]
    same_as_general(channel_of(native), [data.draw(st.integers(low, high))])


@settings(max_examples=200, deadline=None)
@given(value=st.floats(width=32))
def test_any_float32_matches(value):
    channel = channel_of(ChannelType.FLOAT)
    fast = channel.write_notify_scalar([value])
    assert bytes(fast) == bytes(channel.write([value], ioid=fast.ioid))


def test_circuit_sends_and_matches_the_reply():
    circuit, (channel,) = connected_client(native=ChannelType.LONG)
    fast = channel.write_notify_scalar([12])
    sent = wire(circuit.send(fast))
    assert sent == bytes(channel.write([12], ioid=fast.ioid))
    assert fast.ioid in circuit.outstanding_requests
    reply = cmds.WriteNotifyResponse(ChannelType.LONG, 1, 1, fast.ioid)
    (received,), _ = circuit.recv(bytes(reply))
    circuit.process_command(received)
    assert fast.ioid not in circuit.outstanding_requests


@pytest.mark.parametrize('native, value', [
    (ChannelType.DOUBLE, [1.0, 2.0]),          # an array
    (ChannelType.DOUBLE, []),
    (ChannelType.DOUBLE, np.array([1.0])),      # numpy
    (ChannelType.DOUBLE, np.float64(1.0)),      # a float subclass
    (ChannelType.DOUBLE, [np.int32(3)]),
    (ChannelType.DOUBLE, True),                 # bool is not int here
    (ChannelType.DOUBLE, '1.5'),                # text needs conversion
    (ChannelType.DOUBLE, None),
    (ChannelType.DOUBLE, [[1.0]]),
    (ChannelType.DOUBLE, 2**1100),              # out of range for a double
    (ChannelType.LONG, [1.5]),                  # float to an integer type
    (ChannelType.LONG, 2**31),                  # out of range
    (ChannelType.INT, [-2**15 - 1]),
    (ChannelType.CHAR, 256),
    (ChannelType.CHAR, b'x'),
    (ChannelType.ENUM, ['one']),                # a state name
    (ChannelType.ENUM, -1),
    (ChannelType.STRING, 'text'),               # strings: general path
    (ChannelType.STRING, [1]),
    (ChannelType.FLOAT, 2**200),
])
def test_falls_back_without_spending_an_ioid(native, value):
    circuit, (channel,) = connected_client(native=native)
    before = circuit.new_ioid()
    assert channel.write_notify_scalar(value) is None
    assert circuit.new_ioid() == before + 1


def test_fallback_general_path_still_raises_clearly():
    channel = channel_of(ChannelType.LONG)
    assert channel.write_notify_scalar(2**31) is None
    with pytest.raises(CaprotoValueError):
        channel.write(2**31)


def test_not_connected_channel_falls_back():
    circuit = VirtualCircuit(CLIENT, ('127.0.0.1', 5064), 0)
    channel = ClientChannel('PV', circuit, 1)
    assert channel.write_notify_scalar([1.0]) is None


def test_form_follows_a_new_sid_and_native_type():
    channel = channel_of(ChannelType.DOUBLE, sid=3)
    assert channel.write_notify_scalar(1.5).sid == 3
    # (What the circuit does on a CREATE_CHAN reply after a reconnection.)
    channel.sid, channel.native_data_type = 9, ChannelType.LONG
    fast = channel.write_notify_scalar(4)
    assert (fast.sid, fast.data_type) == (9, ChannelType.LONG)
    assert channel.write_notify_scalar(1.5) is None


def test_form_refuses_types_it_does_not_cover():
    for data_type in (ChannelType.STRING, ChannelType.TIME_DOUBLE, 99):
        with pytest.raises(CaprotoValueError):
            ScalarWriteNotifyForm(data_type, 1)
    with pytest.raises(CaprotoValueError):
        ScalarWriteNotifyForm(ChannelType.DOUBLE, 2**32)
