"""pyepics (the C libca) reads, writes and monitors every type served by
cawire's type_varieties IOC. Each snippet runs in a pyepics subprocess."""
import pytest

from cawire.server.testing import IocProcess
from cawire.testing import epics

pytestmark = [pytest.mark.epics, pytest.mark.pyepics]

PREFIX = 'type_varieties:'


@pytest.fixture
def tv_ioc(ca_env):
    with IocProcess('cawire.ioc_examples.type_varieties',
                    repeater_port=ca_env.repeater_port) as ioc:
        yield ioc


def read_everything(prefix, names):
    import epics
    result = {}
    for name in names:
        pv = epics.PV(prefix + name, auto_monitor=False, form='ctrl')
        if not pv.wait_for_connection(timeout=5):
            raise RuntimeError(f'{name} did not connect')
        value = pv.get(timeout=5, use_monitor=False)
        if hasattr(value, 'tolist'):
            value = value.tolist()
        text = pv.get(as_string=True, timeout=5, use_monitor=False)
        ctrl = pv.get_ctrlvars(timeout=5) or {}
        timevars = pv.get_timevars(timeout=5) or {}
        result[name] = {
            'value': value, 'as_string': text, 'type': pv.type,
            'count': pv.count, 'nelm': pv.nelm,
            'enum_strs': list(ctrl.get('enum_strs') or []),
            'units': ctrl.get('units'), 'precision': ctrl.get('precision'),
            'upper_ctrl_limit': ctrl.get('upper_ctrl_limit'),
            'severity': timevars.get('severity'),
            'status': timevars.get('status'),
            'timestamp': timevars.get('timestamp'),
            'write_access': pv.write_access, 'read_access': pv.read_access,
        }
    return result


def test_pyepics_reads_every_type(tv_ioc):
    names = ['double', 'float', 'long', 'short', 'char', 'enum', 'bool',
             'string', 'long_string', 'double_array', 'float_array',
             'long_array', 'short_array', 'char_array', 'string_array',
             'alarmed', 'read_only']
    got = epics.pyepics_run(read_everything, PREFIX, names, env=tv_ioc.env)
    assert got['double']['value'] == 3.14159
    assert got['double']['type'] == 'ctrl_double'
    assert got['double']['as_string'] == '3.142'
    assert got['double']['units'] == 'mm' and got['double']['precision'] == 3
    assert got['double']['upper_ctrl_limit'] == 10
    assert got['float']['value'] == 2.5 and got['float']['type'] == 'ctrl_float'
    assert got['long']['value'] == -42 and got['long']['type'] == 'ctrl_long'
    assert got['short']['value'] == 7 and got['short']['type'] == 'ctrl_short'
    assert got['char']['value'] == 65 and got['char']['type'] == 'ctrl_char'
    assert got['enum']['value'] == 2 and got['enum']['as_string'] == 'Two'
    assert got['enum']['enum_strs'] == ['Zero', 'One', 'Two', 'Three']
    assert got['bool']['as_string'] == 'Off'
    assert got['string']['value'] == 'hello world'
    assert got['long_string']['as_string'] == \
        'This text is longer than the forty characters of a DBR_STRING'
    assert got['long_string']['nelm'] == 256
    assert got['double_array']['value'] == [1.5, 2.5, 3.5, 4.5, 5.5]
    assert got['double_array']['nelm'] == 10
    assert got['float_array']['value'] == [0.25, -0.5, 1.0]
    assert got['long_array']['value'] == [1, -2, 300000]
    assert got['short_array']['value'] == [10, -20, 30, -40]
    assert got['char_array']['value'] == [1, 2, 255]
    assert got['string_array']['value'] == ['alpha', 'beta', 'gamma']
    assert (got['alarmed']['severity'], got['alarmed']['status']) == (1, 4)
    assert got['read_only']['write_access'] is False
    assert got['read_only']['read_access'] is True
    assert all(entry['timestamp'] > 1.7e9 for entry in got.values())


def write_and_read_back(prefix, writes):
    import epics
    result = {}
    for name, value in writes:
        pv = epics.PV(prefix + name, auto_monitor=False)
        pv.wait_for_connection(timeout=5)
        status = pv.put(value, wait=True, timeout=5)
        back = pv.get(timeout=5, use_monitor=False)
        if hasattr(back, 'tolist'):
            back = back.tolist()
        result[name] = {'status': status, 'value': back,
                        'text': pv.get(as_string=True, use_monitor=False)}
    return result


def test_pyepics_writes_every_type(tv_ioc):
    writes = [('double', 1.5), ('float', -0.75), ('long', 123456),
              ('short', -300), ('char', 200), ('enum', 3), ('bool', 1),
              ('string', 'written by libca'),
              ('long_string', 'a long string written by pyepics, well over 40 chars'),
              ('double_array', [9.0, 8.0, 7.0]),
              ('float_array', [0.5, 1.5]), ('long_array', [5, 6, 7, 8]),
              ('short_array', [-1]), ('char_array', [10, 20, 30]),
              ('string_array', ['one', 'two']), ('guarded', 4.0)]
    got = epics.pyepics_run(write_and_read_back, PREFIX, writes,
                            env=tv_ioc.env)
    for name, value in writes:
        assert got[name]['status'] == 1, name
    assert got['double']['value'] == 1.5
    assert got['float']['value'] == -0.75
    assert got['long']['value'] == 123456
    assert got['short']['value'] == -300
    assert got['char']['value'] == 200
    assert got['enum']['text'] == 'Three'
    assert got['bool']['text'] == 'On'
    assert got['string']['value'] == 'written by libca'
    assert got['long_string']['text'] == \
        'a long string written by pyepics, well over 40 chars'
    assert got['double_array']['value'] == [9.0, 8.0, 7.0]
    assert got['float_array']['value'] == [0.5, 1.5]
    assert got['long_array']['value'] == [5, 6, 7, 8]
    assert got['short_array']['value'] == [-1]
    assert got['char_array']['value'] == [10, 20, 30]
    assert got['string_array']['value'] == ['one', 'two']
    assert got['guarded']['value'] == 4.0


def refused_writes(prefix):
    import epics
    import epics.ca
    result = {}
    guarded = epics.PV(prefix + 'guarded', auto_monitor=False)
    guarded.wait_for_connection(timeout=5)
    done = {}

    def callback(pvname=None, **kwargs):
        done['called'] = True

    chid = guarded.chid
    status = epics.ca.put(chid, -1.0, wait=True, timeout=5, callback=callback)
    result['guarded_value'] = guarded.get(use_monitor=False)
    result['guarded_status'] = status
    read_only = epics.PV(prefix + 'read_only', auto_monitor=False)
    read_only.wait_for_connection(timeout=5)
    try:
        read_only.put(5.0, wait=True, timeout=5)
        result['read_only'] = 'accepted'
    except Exception as exc:  # pyepics raises on no write access
        result['read_only'] = type(exc).__name__
    result['read_only_value'] = read_only.get(use_monitor=False)
    return result


def test_pyepics_refused_writes(tv_ioc):
    got = epics.pyepics_run(refused_writes, PREFIX, env=tv_ioc.env)
    assert got['guarded_value'] == 1.0
    assert got['read_only'] != 'accepted'
    assert got['read_only_value'] == 1.25


def monitor_every_type(prefix, changes):
    import time
    import epics
    seen = {name: [] for name, _ in changes}

    def callback(pvname=None, value=None, char_value=None, **kwargs):
        if hasattr(value, 'tolist'):
            value = value.tolist()
        seen[pvname[len(prefix):]].append([value, char_value])

    pvs = [epics.PV(prefix + name, callback=callback, auto_monitor=True)
           for name, _ in changes]
    for pv in pvs:
        pv.wait_for_connection(timeout=5)
    deadline = time.monotonic() + 5
    while any(not seen[name] for name, _ in changes) and \
            time.monotonic() < deadline:
        time.sleep(0.01)
    writer = {name: epics.PV(prefix + name, auto_monitor=False)
              for name, _ in changes}
    for name, value in changes:
        writer[name].wait_for_connection(timeout=5)
        writer[name].put(value, wait=True, timeout=5)
    deadline = time.monotonic() + 5
    while any(len(seen[name]) < 2 for name, _ in changes) and \
            time.monotonic() < deadline:
        time.sleep(0.01)
    return seen


def test_pyepics_monitors_every_type(tv_ioc):
    changes = [('double', 2.0), ('float', 0.5), ('long', 9), ('short', 3),
               ('char', 7), ('enum', 0), ('string', 'changed'),
               ('double_array', [4.0, 5.0]), ('long_array', [1, 2]),
               ('string_array', ['q']), ('char_array', [3, 4])]
    seen = epics.pyepics_run(monitor_every_type, PREFIX, changes,
                             env=tv_ioc.env)
    assert seen['double'][0][0] == 3.14159 and seen['double'][-1][0] == 2.0
    assert seen['float'][-1][0] == 0.5
    assert seen['long'][-1][0] == 9
    assert seen['short'][-1][0] == 3
    assert seen['char'][-1][0] == 7
    assert seen['enum'][0][0] == 2 and seen['enum'][-1][0] == 0
    assert seen['string'][-1][0] == 'changed'
    assert seen['double_array'][-1][0] == [4.0, 5.0]
    assert seen['long_array'][-1][0] == [1, 2]
    assert seen['string_array'][-1][0] in (['q'], 'q')
    assert seen['char_array'][-1][0] == [3, 4]
    for name, updates in seen.items():
        assert len(updates) == 2, (name, updates)
