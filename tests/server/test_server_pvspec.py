"""caproto's PVSpec (channels without pvproperty); caproto's
no_pvproperty.py example is compared over the wire in
test_server_caproto_examples.py."""
import asyncio

import pytest

from cawire import CaprotoValueError
from cawire.server import (ChannelAlarm, PVGroup, PVSpec,
                           channeldata_from_pvspec, data_class_from_pvspec)


def test_without_group_hooks_get_no_group():
    calls = []

    async def put(instance, value):
        calls.append((instance.pvname, value))
        return value * 2

    alarm = ChannelAlarm()
    spec = PVSpec(name='a', value=1.0, record='ai', put=put,
                  alarm_group=alarm, doc='A float')
    data = spec.create(group=None)
    assert data.pvname == 'a' and data.alarm is alarm
    assert data.record_fields.fields['DESC'].value == 'A float'
    asyncio.run(data.write_from_dbr([3.0], data.data_type))
    assert calls == [('a', 3.0)] and data.value == 6.0


def test_with_group_and_helpers():
    class Group(PVGroup):
        pass

    async def put(group, instance, value):
        assert isinstance(group, Group)
        return value + 1

    group = Group(prefix='p:')
    spec = PVSpec(name='b', value=1, put=put)
    name, data = channeldata_from_pvspec(group, spec)
    assert name == 'p:b' and data.group is group
    asyncio.run(data.write_from_dbr([4], data.data_type))
    assert data.value == 5
    assert data_class_from_pvspec(group, spec) is spec.get_data_class()
    assert spec.new_names(name='c').name == 'c'


def test_bad_specs_are_refused():
    with pytest.raises(CaprotoValueError, match='value'):
        PVSpec(name='a').create(None)
    with pytest.raises(CaprotoValueError, match='putter'):
        PVSpec(name='a', value=1, read_only=True,
               put=lambda *args: None).create(None)
    with pytest.raises(CaprotoValueError, match='ChannelAlarm'):
        PVSpec(name='a', value=1, alarm_group='x').create(None)
