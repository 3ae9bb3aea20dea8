"""ophyd with ``cawire.ophyd.use()`` behaves as with ophyd's pyepics layer.

Each script runs in a subprocess twice: once with ophyd's pyepics layer
(``ophyd.set_cl('pyepics')``), once after ``cawire.ophyd.use()``, against a
softIoc of tests/db/frontends.db; what they print must be the same.  The
Bluesky plans print their documents minus uids and times.
"""
from __future__ import annotations

import textwrap

import pytest

from cawire.testing import epics
from frontend_helpers import DB_DIR, diff, run_script, with_repo_path

LAYERS = {
    'pyepics': "import ophyd\nophyd.set_cl('pyepics')\n",
    'cawire': "import cawire.ophyd\ncawire.ophyd.use()\nimport ophyd\n",
}

PRELUDE = '''
import re, time, threading
from ophyd import (EpicsSignal, EpicsSignalRO, EpicsSignalWithRBV, Device,
                   Component as Cpt)
P = 'OPH:'
def clean(value):
    if isinstance(value, dict):
        return {k: clean(v) for k, v in sorted(value.items())
                if k not in ('timestamp', 'timestamps', 'time', 'uid', 'run_start', 'descriptor',
                             'versions', 'hostname', 'username', 'scan_id',
                             'plan_pattern_args', 'datakeys')}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    if hasattr(value, 'tolist'):
        return value.tolist()
    if isinstance(value, str):
        return re.sub(r'timestamp=[0-9.]+', 'timestamp=T', value)
    return value
'''


def run_layers(script: str, repeater_port: int, timeout: float = 120.0) -> dict:
    """Run ``script`` under each layer, each against a fresh softIoc of
    frontends.db (the scripts write)."""
    outputs = {}
    for label, prelude in LAYERS.items():
        code = prelude + PRELUDE + textwrap.dedent(script)
        with epics.SoftIoc(DB_DIR / 'frontends.db', epics.free_port(),
                           repeater_port, macros={'P': 'OPH:'}) as ioc:
            env = with_repo_path(ioc.env)
            env.pop('OPHYD_CONTROL_LAYER', None)
            proc = run_script(code, env, timeout)
        assert proc.returncode == 0, f'{label}:\n{proc.stdout}\n{proc.stderr}'
        outputs[label] = proc.stdout
    return outputs


SCRIPTS = {
    'signals': '''
        sig = EpicsSignal(P + 'gain', name='gain')
        ro = EpicsSignalRO(P + 'det', name='det')
        rbv = EpicsSignalWithRBV(P + 'pos', name='pos')
        label = EpicsSignal(P + 'label', name='label', string=True)
        mode = EpicsSignal(P + 'mode', name='mode', string=True)
        for s in (sig, ro, rbv, label, mode):
            s.wait_for_connection(timeout=10)
            print(s.name, s.connected, repr(s.get()), clean(s.describe()))
            print('  ', s.limits, s.precision, repr(s.metadata.get('units')),
                  s.metadata.get('enum_strs'), s.read_access, s.write_access)
        sig.put(2.5, wait=True)
        print(repr(sig.get()))
        st = sig.set(3.25)
        st.wait(10)
        print(st.success, st.done, repr(sig.get()), clean(sig.read()))
        st = rbv.set(4.0)
        st.wait(10)
        print(st.success, repr(rbv.get()), repr(ro.get()), clean(rbv.read()))
        mode.put('Auto', wait=True)
        print(repr(mode.get()), repr(mode.get(as_string=False)))
        label.put('other', wait=True)
        print(repr(label.get()))
        try:
            ro.put(1)
        except Exception as exc:
            print('ro put', type(exc).__name__)
    ''',
    'subscribe': '''
        sig = EpicsSignal(P + 'gain', name='gain')
        sig.wait_for_connection(timeout=10)
        sig.put(0.0, wait=True)
        time.sleep(0.5)
        seen = []
        got = threading.Event()
        def cb(value=None, old_value=None, **kw):
            seen.append((value, old_value, kw['obj'].name, sorted(k for k in kw if k != 'obj')))
            got.set()
        cid = sig.subscribe(cb)
        got.wait(5)
        for value in (1.0, 2.0):
            got.clear()
            sig.put(value, wait=True)
            got.wait(5)
            time.sleep(0.3)
        sig.unsubscribe(cid)
        sig.put(5.0, wait=True)
        time.sleep(0.3)
        # The order of ophyd's own put callbacks and the monitor's is a race
        # (with pyepics too): compare what was seen, not the interleaving.
        print(sorted({item[0] for item in seen}), {item[2] for item in seen})
        print(sorted({tuple(item[3]) for item in seen}))
        print(seen[-1][0] if seen else None)
        meta = []
        def on_meta(**kw):
            meta.append(sorted((k, v) for k, v in kw.items() if k not in ('obj', 'timestamp')))
        sig.subscribe(on_meta, event_type='meta', run=True)
        time.sleep(0.5)
        print(meta[-1])
    ''',
    'device': '''
        class Stage(Device):
            pos = Cpt(EpicsSignalWithRBV, 'pos')
            det = Cpt(EpicsSignalRO, 'det', kind='hinted')
            mode = Cpt(EpicsSignal, 'mode', kind='config', string=True)
            gain = Cpt(EpicsSignal, 'gain', kind='config')
        stage = Stage(P, name='stage')
        stage.wait_for_connection(timeout=10)
        print(stage.connected)
        stage.pos.set(1.0).wait(10)
        time.sleep(0.3)
        print(clean(stage.read()))
        print(clean(stage.describe()))
        print(clean(stage.read_configuration()))
        print(clean(stage.describe_configuration()))
        print(stage.hints)
    ''',
    'bluesky_count_scan': '''
        from bluesky import RunEngine
        from bluesky.plans import count, scan
        class Stage(Device):
            pos = Cpt(EpicsSignalWithRBV, 'pos', kind='hinted')
            mode = Cpt(EpicsSignal, 'mode', kind='config', string=True)
        stage = Stage(P, name='stage')
        det = EpicsSignalRO(P + 'det', name='det')
        stage.wait_for_connection(timeout=10)
        det.wait_for_connection(timeout=10)
        stage.pos.set(0).wait(10)
        time.sleep(0.3)
        RE = RunEngine({})
        docs = []
        RE.subscribe(lambda name, doc: docs.append((name, doc)))
        RE(count([det], num=3))
        RE(scan([det], stage.pos, -2, 2, 5))
        for name, doc in docs:
            print(name, clean(doc))
    ''',
}


@pytest.mark.parametrize('name', sorted(SCRIPTS))
def test_same_as_pyepics_layer(name, ca_env, repeater):
    outputs = run_layers(SCRIPTS[name], ca_env.repeater_port)
    assert outputs['pyepics'].strip()
    assert outputs['cawire'] == outputs['pyepics'], diff(
        outputs['pyepics'], outputs['cawire'], 'pyepics layer', 'cawire layer')


RECONNECT_SCRIPT = '''
import os, sys, time
from cawire.testing import epics
port = epics.free_port()
os.environ.update(epics.epics_settings(port, int(os.environ['EPICS_CA_REPEATER_PORT'])))
import cawire.ophyd
cawire.ophyd.use()
from ophyd import EpicsSignal
ioc = epics.SoftIoc(sys.argv[1], port, int(os.environ['EPICS_CA_REPEATER_PORT']),
                    macros={'P': 'OPH:'})
try:
    conn = []
    sig = EpicsSignal('OPH:gain', name='gain')
    sig.wait_for_connection(timeout=10)
    sig.subscribe(lambda **kw: conn.append(kw['connected']), event_type='meta', run=False)
    sig.put(7.5, wait=True)
    print('before', sig.connected, sig.get())
    ioc.stop()
    for _ in range(200):
        if not sig.connected:
            break
        time.sleep(0.1)
    print('killed', sig.connected)
    ioc.start()
    for _ in range(300):
        if sig.connected:
            break
        time.sleep(0.1)
    print('restarted', sig.connected, sig.get())
    sig.put(2.5, wait=True)
    print('after', sig.get(), False in conn, conn[-1])
finally:
    ioc.close()
'''


def test_disconnect_and_reconnect(ca_env, repeater):
    env = with_repo_path(epics.epics_env(ca_env.server_port, ca_env.repeater_port))
    env.pop('OPHYD_CONTROL_LAYER', None)
    proc = run_script(RECONNECT_SCRIPT.replace(
        "sys.argv[1]", repr(str(DB_DIR / 'frontends.db'))), env, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.splitlines() == [
        'before True 7.5', 'killed False', 'restarted True 1.5',
        'after 2.5 True True']


def test_import_cawire_does_not_import_ophyd(ca_env):
    proc = run_script('import sys, cawire, cawire.ophyd, cawire.pyepics, '
                      'cawire.sync.client\nprint("ophyd" in sys.modules)',
                      with_repo_path(epics.epics_env(ca_env.server_port,
                                                     ca_env.repeater_port)))
    assert proc.stdout.strip() == 'False', proc.stderr
