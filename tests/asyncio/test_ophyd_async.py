"""ophyd-async's CA signals on cawire (cawire.ophyd_async.use()) behave as
on aioca: connect, get_value, set (waiting for completion), subscribe,
read and describe of epics_signal_rw / epics_signal_r against the softIoc,
each library in its own subprocess."""
import json
import subprocess
import sys

SCRIPT = '''
import asyncio, json, math, sys
import numpy as np
if sys.argv[1] == 'cawire':
    import cawire.ophyd_async
    cawire.ophyd_async.use()
    assert cawire.ophyd_async.in_use()
from ophyd_async.epics.core import epics_signal_r, epics_signal_rw
from ophyd_async.core import Array1D

def clean(item):
    """Readings and descriptions with times replaced by their presence."""
    if isinstance(item, dict):
        return {k: ('present' if k == 'timestamp' and v else clean(v))
                for k, v in item.items()}
    if isinstance(item, (list, tuple)):
        return [clean(v) for v in item]
    if isinstance(item, np.ndarray):
        return {'array': item.tolist(), 'dtype': str(item.dtype)}
    if isinstance(item, np.generic):
        return item.item()
    if isinstance(item, float) and math.isnan(item):
        return 'nan'
    return item

def emit(*items):
    print(json.dumps(clean(list(items)), default=repr), flush=True)

async def main():
    ao = epics_signal_rw(float, 'TST:ao', name='ao')
    longout = epics_signal_rw(int, 'TST:longout', name='longout')
    text = epics_signal_rw(str, 'TST:longstrout.VAL$', name='text')
    readback = epics_signal_r(str, 'TST:str', name='readback')
    wave = epics_signal_r(Array1D[np.float64], 'TST:wf:double', name='wave')
    mbbi = epics_signal_r(str, 'TST:mbbi', name='mbbi')
    signals = [ao, longout, text, readback, wave, mbbi]
    for signal in signals:
        await signal.connect(timeout=10)
    await ao.set(3.5)
    await longout.set(12)
    await text.set('a long string value of more than forty characters')
    for signal in signals:
        emit(signal.name, 'get_value', await signal.get_value())
        emit(signal.name, 'read', await signal.read())
        emit(signal.name, 'describe', await signal.describe())
    updates = []

    def on_reading(reading):
        updates.append(reading['ao']['value'])

    ao.subscribe_reading(on_reading)
    for _ in range(100):
        if updates:
            break
        await asyncio.sleep(0.05)
    await ao.set(4.5)
    for _ in range(100):
        if 4.5 in updates:
            break
        await asyncio.sleep(0.05)
    ao.clear_sub(on_reading)
    emit('updates', updates[-2:])
    readings = []
    longout.subscribe(readings.append)
    for _ in range(100):
        if readings:
            break
        await asyncio.sleep(0.05)
    longout.clear_sub(readings.append)
    emit('reading-callback', readings[:1])
    status = ao.set(5.5)
    await status
    emit('status', status.done, status.success)
    missing = epics_signal_r(float, 'TST:does-not-exist', name='missing')
    try:
        await missing.connect(timeout=0.5)
    except Exception as exc:
        emit('missing', type(exc).__name__)

asyncio.run(main())
'''


def _run(module, env):
    process = subprocess.run([sys.executable, '-c', SCRIPT, module], env=env,
                             capture_output=True, text=True, timeout=120)
    assert process.returncode == 0, process.stderr[-3000:]
    return [json.loads(line) for line in process.stdout.splitlines()]


def test_ophyd_async_signals_equal_on_cawire_and_aioca(softioc, ca_env):
    expected = _run('aioca', ca_env.env)
    ours = _run('cawire', ca_env.env)
    assert len(ours) == len(expected)
    assert [o for o, e in zip(ours, expected) if o != e] == \
        [e for o, e in zip(ours, expected) if o != e]
    assert ['missing', 'NotConnectedError'] in ours
