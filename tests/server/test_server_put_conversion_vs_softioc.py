"""Writes of every request type to every field type: cawire stores what a
real softIoc stores and refuses what it refuses.

The same table of values is written (with put-notify, so a refusal is seen)
to a softIoc serving equivalent records and to a cawire IOC serving the
matching channel types; after each write both are read back as DBR_STRING
and in the native type. Before each write the PV is put back to its initial
value. Pairs (softIoc PV -> cawire channel):

* ``ao`` VAL (DOUBLE, PREC 3) -> ChannelDouble(precision=3)
* ``longout`` VAL -> ChannelInteger
* ``ao.PREC`` (a scalar DBF_SHORT field) -> ChannelShort
* ``ao.TPRO`` (a scalar DBF_UCHAR field) -> ChannelByte (one byte)
* ``mbbo`` with 4 states -> ChannelEnum
* ``bo`` -> pvproperty(value=False) (ChannelEnum with bo's two states)
* ``stringout`` -> ChannelString
* ``waveform`` FTVL SHORT/LONG/FLOAT/DOUBLE/UCHAR/STRING, NELM 3 -> the
  array channels with max_length 3
"""
import math
import os
import sys
import textwrap

import numpy as np
import pytest

from cawire import ChannelType as CT
from cawire.server.testing import IocProcess
from cawire.testing import epics

pytestmark = pytest.mark.epics

SOFTIOC_DB = '''
record(ao, "S:double") { field(PREC, "3") field(VAL, "1.5") }
record(longout, "S:long") { field(VAL, "-42") }
record(ao, "S:h") { field(PREC, "7") }
record(ao, "S:u") { field(TPRO, "65") }
record(mbbo, "S:enum") { field(ZRST, "Zero") field(ONST, "One")
                         field(TWST, "Two") field(THST, "Three") field(VAL, "2") }
record(bo, "S:bool") { field(ZNAM, "Off") field(ONAM, "On") }
record(stringout, "S:string") { field(VAL, "hello") }
record(waveform, "S:short_array") { field(FTVL, "SHORT") field(NELM, "3")
                                    field(INP, {const:[1, 2, 3]}) }
record(waveform, "S:long_array") { field(FTVL, "LONG") field(NELM, "3")
                                   field(INP, {const:[1, 2, 3]}) }
record(waveform, "S:float_array") { field(FTVL, "FLOAT") field(NELM, "3")
                                    field(PREC, "2") field(INP, {const:[1, 2, 3]}) }
record(waveform, "S:double_array") { field(FTVL, "DOUBLE") field(NELM, "3")
                                     field(PREC, "3") field(INP, {const:[1, 2, 3]}) }
record(waveform, "S:uchar_array") { field(FTVL, "UCHAR") field(NELM, "3")
                                    field(INP, {const:[1, 2, 3]}) }
record(waveform, "S:string_array") { field(FTVL, "STRING") field(NELM, "3")
                                     field(INP, {const:["a", "b", "c"]}) }
'''

SOFTIOC_NAMES = {
    'double': 'S:double', 'long': 'S:long', 'short': 'S:h.PREC',
    'uchar': 'S:u.TPRO', 'enum': 'S:enum', 'bool': 'S:bool',
    'string': 'S:string', 'short_array': 'S:short_array',
    'long_array': 'S:long_array', 'float_array': 'S:float_array',
    'double_array': 'S:double_array', 'uchar_array': 'S:uchar_array',
    'string_array': 'S:string_array',
}

CAWIRE_IOC = textwrap.dedent('''
    import enum
    import numpy as np
    from cawire import ChannelType
    from cawire.server import PVGroup, ioc_arg_parser, pvproperty, run

    class States(enum.IntEnum):
        Zero = 0
        One = 1
        Two = 2
        Three = 3

    class ConversionIOC(PVGroup):
        double = pvproperty(value=1.5, precision=3)
        long = pvproperty(value=-42)
        short = pvproperty(value=7, dtype=ChannelType.INT)
        uchar = pvproperty(value=b'A', max_length=1)
        enum = pvproperty(value=States.Two)
        bool = pvproperty(value=False)
        string = pvproperty(value='hello', dtype=ChannelType.STRING)
        short_array = pvproperty(value=[1, 2, 3], dtype=ChannelType.INT)
        long_array = pvproperty(value=[1, 2, 3])
        float_array = pvproperty(value=[1.0, 2.0, 3.0],
                                 dtype=ChannelType.FLOAT, precision=2)
        double_array = pvproperty(value=[1.0, 2.0, 3.0], precision=3)
        uchar_array = pvproperty(value=b'\\x01\\x02\\x03')
        string_array = pvproperty(value=['a', 'b', 'c'],
                                  dtype=ChannelType.STRING)

    if __name__ == '__main__':
        ioc_options, run_options = ioc_arg_parser(
            default_prefix='C:', desc='conversion table test IOC')
        run(ConversionIOC(**ioc_options).pvdb, **run_options)
''')

STRING_VALUES = [
    '70000', '-70000', '32767', '32768', '-32769', '3.7', '-3.7', '1e3',
    '0x10', 'abc', '', ' ', '  12', '12abc', '255', '256', '-1', '-255',
    '-256', 'One', 'On', '1', '2', '5', 'nan', 'inf', '-inf', '1e40',
    '1e400', '4294967296', '2147483647', '2147483648', '-0', '1.5e2', '077',
    '+4', '65535', '65536', '-128', '-129', '127', '128', '4 mm', ' 2 ',
    'Three', 'x' * 39,
]
NUMBER_VALUES = {
    'INT': [7, -1, 32767, -32768, 255, 256, 5, 1],
    'LONG': [70000, -70000, 2 ** 31 - 1, -2 ** 31, 65535, 65536, -1, 255,
             256, 3],
    'DOUBLE': [3.7, -3.7, 70000.5, 1e40, -1e40, math.nan, math.inf,
               -math.inf, 255.9, 256.0, -1.5, 2.0 ** 31, 4e9, 1.9, 1e-300,
               123456789.123],
    'FLOAT': [3.7, 1e10, -2.5, 1e-20, 0.1],
    'ENUM': [0, 1, 2, 3, 5, 15, 16, 65535],
    'CHAR': [0, 1, 65, 127, 128, 255],
}
CASES = [('STRING', value) for value in STRING_VALUES] + [
    (request, value) for request, values in NUMBER_VALUES.items()
    for value in values]


def _text(items):
    return [item.decode('latin-1') if isinstance(item, bytes) else str(item)
            for item in items]


def _native(data):
    # Floats compared by repr so that NaN equals NaN.
    values = data if isinstance(data, list) else np.asarray(data).tolist()
    return [repr(item) if isinstance(item, float) else
            item.decode('latin-1') if isinstance(item, bytes) else item
            for item in values]


def run_table(port, names):
    """Write every case to every PV of ``names``; return the outcomes."""
    from cawire.threading.client import Context
    os.environ['EPICS_CA_ADDR_LIST'] = f'127.0.0.1:{port}'
    context = Context()
    try:
        pvs = dict(zip(names, context.get_pvs(*names.values(), timeout=5)))
        for pv in pvs.values():
            pv.wait_for_connection(timeout=10)
        initial = {key: pv.read(data_type=CT.STRING).data
                   for key, pv in pvs.items()}
        outcome = {}
        for key, pv in pvs.items():
            for request, value in CASES:
                pv.write(initial[key], data_type=CT.STRING, wait=True,
                         timeout=5)
                response = pv.write([value], data_type=CT[request],
                                    wait=True, timeout=5)
                accepted = response.status.success == 1
                after = _text(pv.read(data_type=CT.STRING).data)
                native = _native(pv.read().data)
                outcome[key, request, repr(value)] = (accepted, after,
                                                      native)
        return outcome
    finally:
        context.disconnect()


@pytest.fixture(scope='module')
def both_outcomes(tmp_path_factory, ca_env, repeater):
    folder = tmp_path_factory.mktemp('conversion_ioc')
    (folder / 'conversion_ioc.py').write_text(CAWIRE_IOC)
    python_path = os.pathsep.join(
        [str(folder)] + [path for path in sys.path if path])
    saved = os.environ.get('EPICS_CA_ADDR_LIST')
    try:
        with epics.SoftIoc(SOFTIOC_DB,
                           repeater_port=ca_env.repeater_port) as softioc:
            soft = run_table(softioc.server_port, SOFTIOC_NAMES)
        ioc = IocProcess('conversion_ioc', repeater_port=ca_env.repeater_port,
                         PYTHONPATH=python_path)
        try:
            ours = run_table(ioc.server_port,
                             {key: 'C:' + key for key in SOFTIOC_NAMES})
        finally:
            ioc.close()
    finally:
        if saved is not None:
            os.environ['EPICS_CA_ADDR_LIST'] = saved
    return soft, ours


@pytest.mark.parametrize('field', sorted(SOFTIOC_NAMES))
def test_writes_store_and_refuse_like_softioc(both_outcomes, field):
    soft, ours = both_outcomes
    differences = [
        (request, value, 'softIoc', soft[key], 'cawire', ours[key])
        for key in sorted(soft) if key[0] == field
        for _, request, value in [key] if soft[key] != ours[key]]
    assert not differences, '\n'.join(map(repr, differences))


def test_short_refuses_text_out_of_range(both_outcomes):
    # Issue 12: caput of "70000" to a SHORT stored 4464; softIoc refuses it.
    soft, ours = both_outcomes
    key = ('short', 'STRING', repr('70000'))
    assert soft[key][0] is False and ours[key] == soft[key]
    assert ours[key][1] == ['7']


def test_caput_out_of_range_short_is_refused(ca_env):
    # The report of issue 12, with the real caput against type_varieties.
    ioc = IocProcess('cawire.ioc_examples.type_varieties',
                     repeater_port=ca_env.repeater_port)
    try:
        env = epics.epics_env(ioc.server_port, ca_env.repeater_port)
        result = epics.run_tool('caput', 'type_varieties:short', '70000',
                                env=env)
        # As from softIoc: the tool reports the refusal, nothing is stored.
        assert 'Channel write request failed' in result.stderr
        assert result.stdout.split()[-1] == '7'
        after = epics.run_tool('caget', '-t', 'type_varieties:short', env=env)
        assert after.stdout.split() == ['7']
    finally:
        ioc.close()
