"""The IOC object model: ChannelData, pvproperty, PVGroup, SubGroup, and the
payloads a channel produces for every DBR request type."""
import asyncio
import enum

import numpy as np
import pytest

from cawire import (AlarmSeverity, AlarmStatus, ChannelType,
                    SubscriptionType)
from cawire.protocol._dbr import VALUE_OFFSET, VALUE_SIZE, padded
from cawire.protocol._exceptions import (CaprotoConversionError, CaprotoRuntimeError,
                                CaprotoValueError)
from cawire.protocol._payload import decode
from cawire.server import (ChannelByte, ChannelChar, ChannelDouble,
                           ChannelEnum, ChannelFloat, ChannelInteger,
                           ChannelShort, ChannelString, PVGroup, SubGroup,
                           pvproperty)

CT = ChannelType
READABLE_TYPES = [t for t in range(39) if t not in (35, 36)]


def run(coroutine):
    return asyncio.run(coroutine)


def make_channels():
    return {
        'double': ChannelDouble(value=3.14159, precision=3, units='mm',
                                upper_ctrl_limit=10, lower_ctrl_limit=-10),
        'float': ChannelFloat(value=2.5, precision=2),
        'long': ChannelInteger(value=-42),
        'short': ChannelShort(value=7),
        'byte': ChannelByte(value=b'\x01\xff', max_length=4),
        'char': ChannelChar(value='a long string value', max_length=64),
        'enum': ChannelEnum(value='Two', enum_strings=['Zero', 'One', 'Two']),
        'string': ChannelString(value='hello'),
        'string_array': ChannelString(value=['a', 'bb'], max_length=3),
        'double_array': ChannelDouble(value=[1.5, 2.5, 3.5], max_length=5),
    }


@pytest.mark.parametrize('name', list(make_channels()))
@pytest.mark.parametrize('data_type', READABLE_TYPES)
def test_every_request_type_encodes_and_decodes(name, data_type):
    channel = make_channels()[name]
    try:
        payload, count = channel.encode_read(data_type, 0)
    except CaprotoConversionError:
        # Only text that is not a number may refuse numeric conversion.
        assert name in ('string', 'string_array')
        return
    assert len(payload) % 8 == 0
    if data_type == 38:
        assert payload.rstrip(b'\0') == b'cawire'
        return
    if name == 'char' and (data_type % 7 == 0 or data_type == 37):
        assert count == 1  # a long string read as DBR_STRING is one string
    else:
        assert count == len(channel)
    expected = padded(VALUE_OFFSET[data_type] + count * VALUE_SIZE[data_type])
    assert len(payload) == expected
    metadata, data = decode(data_type, count, memoryview(payload))
    assert len(data) == count
    if metadata is not None:
        assert metadata.status == channel.status
        assert metadata.severity == channel.severity


def test_double_read_as_every_family():
    channel = make_channels()['double']
    _, data = decode(CT.STRING, 1, memoryview(channel.encode_read(CT.STRING, 0)[0]))
    assert data == [b'3.142']
    md, data = decode(CT.CTRL_DOUBLE, 1,
                      memoryview(channel.encode_read(CT.CTRL_DOUBLE, 0)[0]))
    assert data[0] == 3.14159
    assert (md.units, md.precision) == (b'mm', 3)
    assert (md.upper_ctrl_limit, md.lower_ctrl_limit) == (10, -10)
    md, data = decode(CT.TIME_LONG, 1,
                      memoryview(channel.encode_read(CT.TIME_LONG, 0)[0]))
    assert data[0] == 3
    assert abs(md.timestamp - channel.timestamp) < 1e-6
    md, data = decode(CT.GR_CHAR, 1,
                      memoryview(channel.encode_read(CT.GR_CHAR, 0)[0]))
    assert data[0] == 3 and md.units == b'mm'


def test_enum_reads():
    channel = make_channels()['enum']
    md, data = decode(CT.CTRL_ENUM, 1,
                      memoryview(channel.encode_read(CT.CTRL_ENUM, 0)[0]))
    assert md.enum_strings == (b'Zero', b'One', b'Two') and data[0] == 2
    _, data = decode(CT.TIME_STRING, 1,
                     memoryview(channel.encode_read(CT.TIME_STRING, 0)[0]))
    assert data == [b'Two']


def test_count_zero_larger_and_smaller_counts():
    channel = make_channels()['double_array']
    payload, count = channel.encode_read(CT.DOUBLE, 0)
    assert count == 3
    payload, count = channel.encode_read(CT.DOUBLE, 5)
    assert count == 5
    assert decode(CT.DOUBLE, 5, memoryview(payload))[1].tolist() == \
        [1.5, 2.5, 3.5, 0, 0]
    payload, count = channel.encode_read(CT.TIME_DOUBLE, 2)
    assert decode(CT.TIME_DOUBLE, 2, memoryview(payload))[1].tolist() == [1.5, 2.5]
    empty = ChannelDouble(value=[], max_length=4)
    payload, count = empty.encode_read(CT.TIME_DOUBLE, 0)
    assert (len(payload), count) == (16, 0)
    assert empty.encode_read(CT.DOUBLE, 0) == (b'', 0)


def test_long_string_char_channel():
    channel = make_channels()['char']
    payload, count = channel.encode_read(CT.CHAR, 0)
    assert count == len('a long string value') + 1
    assert bytes(payload[:count]) == b'a long string value\0'
    _, data = decode(CT.STRING, 1, memoryview(channel.encode_read(CT.STRING, 1)[0]))
    assert data == [b'a long string value']
    value = channel.values_from_wire(
        np.frombuffer(b'new\0', dtype=np.uint8), CT.CHAR)
    channel.commit(value)
    assert channel.value == 'new'
    channel.commit(channel.values_from_wire([b'from a string'], CT.STRING))
    assert channel.value == 'from a string'
    with pytest.raises(CaprotoValueError):
        channel.commit('x' * 64)


def test_string_longer_than_40_bytes_is_cut_on_the_wire():
    channel = ChannelString(value='y' * 60)
    _, data = decode(CT.STRING, 1, memoryview(channel.encode_read(CT.STRING, 1)[0]))
    assert data == [b'y' * 39]


def test_writes_from_the_wire_convert_to_native():
    channels = make_channels()
    double = channels['double']
    double.commit(double.values_from_wire([b'4.5'], CT.STRING))
    assert double.value == 4.5
    enum_channel = channels['enum']
    enum_channel.commit(enum_channel.values_from_wire([b'One'], CT.STRING))
    assert enum_channel.value == 'One'
    enum_channel.commit(enum_channel.values_from_wire(
        np.array([0], dtype='>u2'), CT.ENUM))
    assert enum_channel.value == 'Zero'
    # A number beyond the states is stored, as softIoc's mbbo does; it
    # reads as '' (an unset state) and a state string out of the set fails.
    enum_channel.commit(enum_channel.values_from_wire(
        np.array([5.0], dtype='>f8'), CT.DOUBLE))
    assert enum_channel.elements_as(CT.STRING) == ['']
    with pytest.raises(CaprotoConversionError):
        enum_channel.values_from_wire([b'Five'], CT.STRING)
    with pytest.raises(CaprotoConversionError):
        double.values_from_wire([b'abc'], CT.STRING)
    array = channels['double_array']
    array.commit(array.values_from_wire(np.array([1, 2], dtype='>i4'), CT.LONG))
    assert array.value.tolist() == [1.0, 2.0]
    assert len(array) == 2
    with pytest.raises(CaprotoValueError):  # beyond max_length
        array.commit([1.0] * 6)


def test_control_limits_refuse_writes():
    double = make_channels()['double']
    with pytest.raises(CaprotoValueError):
        double.commit(11.0)
    double.commit(-10.0)
    assert double.value == -10.0


def test_alarm_limits_set_status_and_severity():
    channel = ChannelDouble(value=5.0, upper_alarm_limit=9.0,
                            upper_warning_limit=8.0, lower_warning_limit=2.0,
                            lower_alarm_limit=1.0)
    expectations = [(8.5, AlarmStatus.HIGH, AlarmSeverity.MINOR_ALARM),
                    (9.0, AlarmStatus.HIHI, AlarmSeverity.MAJOR_ALARM),
                    (1.5, AlarmStatus.LOW, AlarmSeverity.MINOR_ALARM),
                    (0.0, AlarmStatus.LOLO, AlarmSeverity.MAJOR_ALARM),
                    (5.0, AlarmStatus.NO_ALARM, AlarmSeverity.NO_ALARM)]
    for value, status, severity in expectations:
        channel.commit(value)
        assert (channel.status, channel.severity) == (status, severity)
    # Unset limits (0/0) never raise alarms.
    plain = ChannelDouble(value=-100.0)
    assert plain.severity == AlarmSeverity.NO_ALARM


class FakeCircuit:
    def __init__(self):
        self.updates = []

    def post_update(self, subscription, channel):
        self.updates.append((subscription.subscriptionid, channel.value))


def test_publish_honours_masks():
    from cawire.server import Subscription
    channel = ChannelDouble(value=0.0, upper_alarm_limit=5.0,
                            lower_alarm_limit=-5.0)
    circuit = FakeCircuit()
    value_sub = Subscription(circuit, None, 1, CT.DOUBLE, 1,
                             SubscriptionType.DBE_VALUE)
    alarm_sub = Subscription(circuit, None, 2, CT.DOUBLE, 1,
                             SubscriptionType.DBE_ALARM)
    property_sub = Subscription(circuit, None, 3, CT.DOUBLE, 1,
                                SubscriptionType.DBE_PROPERTY)
    for sub in (value_sub, alarm_sub, property_sub):
        channel.add_subscription(sub)
    channel.commit(1.0)
    assert circuit.updates == [(1, 1.0)]
    channel.commit(6.0)  # crosses the alarm limit: value and alarm
    assert circuit.updates[1:] == [(1, 6.0), (2, 6.0)]
    run(channel.write_metadata(units='V'))
    assert circuit.updates[-1] == (3, 6.0)
    channel.remove_subscription(value_sub)
    channel.commit(7.0)
    assert circuit.updates[-1] != (1, 7.0)
    assert channel.subscription_count == 2


def test_payload_cache_invalidated_on_change():
    channel = ChannelDouble(value=1.0)
    first = channel.encode_read(CT.DOUBLE, 1)
    assert channel.encode_read(CT.DOUBLE, 1) is first
    channel.commit(2.0)
    assert channel.encode_read(CT.DOUBLE, 1) != first


class Color(enum.IntEnum):
    red = 0
    green = 1


class Inner(PVGroup):
    value = pvproperty(value=1, name='val')


class Demo(PVGroup):
    """A demo group."""

    number = pvproperty(value=1.5, precision=2, units='V')
    count = pvproperty(value=3)
    text = pvproperty(value='long text')
    label = pvproperty(value='label', dtype=ChannelType.STRING)
    flag = pvproperty(value=True)
    color = pvproperty(value=Color.green)
    waveform = pvproperty(value=[1.0, 2.0], max_length=8)
    raw = pvproperty(value=b'\x00\x01')
    short = pvproperty(value=2, dtype=ChannelType.INT)
    single = pvproperty(value=0.5, dtype=ChannelType.FLOAT)
    locked = pvproperty(value=0.0, read_only=True)
    macro_named = pvproperty(value=0, name='{dev}:reading')
    positive = pvproperty(value=1.0)
    inner = SubGroup(Inner, prefix='in:')

    @positive.putter
    async def positive(self, instance, value):
        if value < 0:
            raise ValueError('negative')
        return value * 2

    @pvproperty(value=0.0)
    async def computed(self, instance):
        return 42.0


def test_pvgroup_types_and_names():
    group = Demo(prefix='demo:', macros={'dev': 'm1'})
    pvdb = group.pvdb
    assert list(pvdb) == ['demo:in:val', 'demo:number', 'demo:count',
                          'demo:text', 'demo:label', 'demo:flag',
                          'demo:color', 'demo:waveform', 'demo:raw',
                          'demo:short', 'demo:single', 'demo:locked',
                          'demo:m1:reading', 'demo:positive',
                          'demo:computed']
    types = {name.split(':')[-1]: data.data_type for name, data in pvdb.items()}
    assert types == {'val': CT.LONG, 'number': CT.DOUBLE, 'count': CT.LONG,
                     'text': CT.CHAR, 'label': CT.STRING, 'flag': CT.ENUM,
                     'color': CT.ENUM, 'waveform': CT.DOUBLE, 'raw': CT.CHAR,
                     'short': CT.INT, 'single': CT.FLOAT, 'locked': CT.DOUBLE,
                     'reading': CT.LONG, 'positive': CT.DOUBLE,
                     'computed': CT.DOUBLE}
    assert group.flag.value == 'On' and group.flag.enum_strings == ('Off', 'On')
    assert group.color.value == 'green'
    assert group.color.enum_strings == ('red', 'green')
    assert group.waveform.max_length == 8
    assert group.number.precision == 2 and group.number.units == 'V'
    assert group.inner.value.value == 1
    assert group.locked.check_access('h', 'u') == 1
    assert group.number.check_access('h', 'u') == 3
    assert Demo.number.name == 'number'


def test_putter_modifies_and_rejects():
    group = Demo(prefix='demo:', macros={'dev': 'm1'})
    run(group.positive.write(3.0))
    assert group.positive.value == 6.0
    with pytest.raises(ValueError):
        run(group.positive.write(-1.0))
    assert group.positive.value == 6.0
    assert group.positive.has_async_write
    assert not group.number.has_async_write


def test_getter_runs_before_read():
    group = Demo(prefix='demo:', macros={'dev': 'm1'})
    assert group.computed.has_async_read
    run(group.computed.read(CT.DOUBLE))
    assert group.computed.value == 42.0


def test_duplicate_pv_names_are_refused():
    class Clash(PVGroup):
        a = pvproperty(value=1, name='same')
        b = pvproperty(value=2, name='same')

    with pytest.raises(CaprotoRuntimeError):
        Clash(prefix='x:')


def test_bad_dtype_is_refused_at_definition():
    with pytest.raises(CaprotoValueError):
        pvproperty(value=1, dtype=dict)


def test_startup_and_scan_hooks_run():
    class Hooked(PVGroup):
        ticks = pvproperty(value=0)
        started = pvproperty(value=0)

        @ticks.scan(period=0.01)
        async def ticks(self, instance, async_lib):
            await instance.write(instance.value + 1)

        @started.startup
        async def started(self, instance, async_lib):
            await instance.write(1)
            await async_lib.sleep(0)

    async def main():
        group = Hooked(prefix='h:')
        tasks = [asyncio.create_task(data.server_startup(None))
                 for data in group.pvdb.values() if data.server_startup]
        for _ in range(200):
            await asyncio.sleep(0.01)
            if group.ticks.value >= 3:
                break
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return group

    group = run(main())
    assert group.ticks.value >= 3
    assert group.started.value == 1


def test_inheritance_keeps_parent_pvs():
    class Child(Inner):
        extra = pvproperty(value=2.0)

    assert list(Child(prefix='c:').pvdb) == ['c:val', 'c:extra']


def test_subgroup_decorator_and_nesting():
    class Outer(PVGroup):
        top = pvproperty(value=0.0)

        @SubGroup(prefix='motor:')
        class Motor(PVGroup):
            position = pvproperty(value=1.0)

            @SubGroup(prefix='{axis}:')
            class Axis(PVGroup):
                speed = pvproperty(value=2.0)

    group = Outer(prefix='o:', macros={'axis': 'x'})
    assert list(group.pvdb) == ['o:motor:x:speed', 'o:motor:position', 'o:top']
    assert group.Motor.position.value == 1.0
    assert group.groups['Motor.Axis'].speed.value == 2.0
    assert group.Motor.Axis.parent is group.Motor


def test_deadbands_withhold_small_changes():
    from cawire.server import Subscription
    channel = ChannelDouble(value=0.0, value_atol=0.5, log_atol=2.0)
    circuit = FakeCircuit()
    value_sub = Subscription(circuit, None, 1, CT.DOUBLE, 1,
                             SubscriptionType.DBE_VALUE)
    log_sub = Subscription(circuit, None, 2, CT.DOUBLE, 1,
                           SubscriptionType.DBE_LOG)
    channel.add_subscription(value_sub)
    channel.add_subscription(log_sub)
    for value in (0.3, 0.6, 0.9, 1.2, 2.5):
        channel.commit(value)
    assert circuit.updates == [(1, 0.3), (2, 0.3), (1, 0.9), (1, 2.5),
                               (2, 2.5)]


def test_preprocess_update_fields_and_skipwrite_hooks():
    import asyncio

    from cawire.server import ChannelDouble, SkipWrite

    seen = []

    class Hooked(ChannelDouble):
        def preprocess_value(self, value):
            return min(value, 10.0)

        async def update_fields(self, value):
            seen.append(value)
            if value < 0:
                raise SkipWrite

    channel = Hooked(value=1.0)
    assert channel.has_async_write
    asyncio.run(channel.write(20.0))
    assert channel.value == 10.0 and seen == [10.0]
    asyncio.run(channel.write(-1.0))  # accepted, not stored
    assert channel.value == 10.0 and seen == [10.0, -1.0]


def test_bytes_pvproperty_from_uint8_array():
    """caproto's big_image_noisy_neighbor example: a uint8 array given with
    dtype=bytes is a CHAR array as long as the array."""
    from cawire.server import PVGroup, pvproperty

    image = np.arange(300, dtype=np.uint8)

    class Images(PVGroup):
        frame = pvproperty(value=image, dtype=bytes)

    frame = Images(prefix='img:').frame
    assert frame.max_length == 300
    assert frame.value == image.tobytes()
