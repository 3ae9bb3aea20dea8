"""Per-field putters of record-mocking pvproperties (caproto's
``@prop.fields.X.putter``, ``fields=``, ``field_spec=``); caproto's own
records.py example is compared over the wire in
test_server_caproto_examples.py."""
import asyncio

import pytest

from cawire import CaprotoValueError
from cawire.server import PVGroup, PvpropertyDouble, pvproperty
from cawire.server.records import AiFields, AoFields


class Mock(PVGroup):
    A = pvproperty(value=1.0, dtype=PvpropertyDouble[AiFields],
                   record=AiFields)
    B = pvproperty(value=2.0, record='ao', precision=2)

    @A.fields.current_raw_value.putter
    async def _a_raw(fields, instance, value):
        await fields.parent.group.B.write(value * 2)

    @B.fields.EGU.putter
    async def _b_units(fields, instance, value):
        if value == 'bad':
            raise ValueError('no such unit')
        return value.upper()

    C = pvproperty(value=0.0, field_spec=B.field_spec)


def test_field_putters_run_on_field_writes():
    group = Mock(prefix='m:')
    assert Mock.A.record == 'ai' and Mock.C.record == 'ao'
    assert 'RVAL' in group.A.fields and 'EGU' in group.B.fields

    async def run():
        await group.A.fields['RVAL'].verify_value(4)
        stored = await group.B.fields['EGU'].verify_value('mm')
        with pytest.raises(ValueError):
            await group.B.fields['EGU'].verify_value('bad')
        copied = await group.C.fields['EGU'].verify_value('um')
        return stored, copied

    stored, copied = asyncio.run(run())
    assert group.B.value == 8.0
    assert stored == 'MM' and group.B.units == 'MM'
    assert copied == 'UM'  # field_spec= copies the hooks too


def test_unknown_field_and_bad_hooks():
    with pytest.raises(AttributeError):
        Mock.A.fields.no_such_field
    with pytest.raises(CaprotoValueError):
        Mock.A.fields.EGU.getter('not callable')
    with pytest.raises(CaprotoValueError):
        pvproperty(value=1.0, record='ai',
                   fields=((('EGU', 'teleport'), lambda *args: None),))
    assert Mock.B.fields.display_precision.field == 'PREC'


def test_field_channels_by_descriptive_name():
    """caproto's ``ioc.D.field_inst.engineering_units`` style."""
    group = Mock(prefix='d:')
    fields = group.B.field_inst
    assert fields.engineering_units is group.B.fields['EGU']
    assert fields.display_precision.value == 2
    with pytest.raises(AttributeError):
        fields.no_such_field
