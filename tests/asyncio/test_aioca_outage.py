"""camonitor with all_updates and notify_disconnect through an IOC kill and
restart: cawire.aioca reports what aioca (libca) reports, in the same order."""
import json
import subprocess
import sys
import time

from aioca_differential import HEADER

SCRIPT = HEADER + '''
async def main():
    events = asyncio.Queue()
    sub = A.camonitor('TST:counter', events.put_nowait, all_updates=True,
                      notify_disconnect=True, format=A.FORMAT_TIME)
    first = await asyncio.wait_for(events.get(), 20)
    emit('value', first.ok, hasattr(first, 'timestamp'))
    print('ready', flush=True)
    while True:
        item = await asyncio.wait_for(events.get(), 30)
        if not item.ok:
            break
    emit('disconnected', repr(item), bool(item), item.errorcode)
    print('down', flush=True)
    while True:
        item = await asyncio.wait_for(events.get(), 60)
        if item.ok:
            break
    emit('value-after-restart', item.ok, item.name)
    sub.close()
    emit('dropped', sub.dropped_callbacks)
asyncio.run(main())
'''


def _run_through_outage(module, ioc, timeout=90.0):
    process = subprocess.Popen(
        [sys.executable, '-c', SCRIPT, module], env=ioc.env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = []
    deadline = time.monotonic() + timeout
    try:
        for line in process.stdout:
            assert time.monotonic() < deadline, lines
            line = line.strip()
            if line == 'ready':
                ioc.kill()
            elif line == 'down':
                ioc.stop()
                ioc.start()
            elif line:
                lines.append(json.loads(line))
        process.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, process.stderr.read()[-3000:]
    return lines


def test_camonitor_through_ioc_kill_and_restart(isolated_ioc):
    ioc = isolated_ioc()
    expected = _run_through_outage('aioca', ioc)
    ours = _run_through_outage('cawire', ioc)
    assert ours == expected
    assert [line[0] for line in ours] == [
        'value', 'disconnected', 'value-after-restart', 'dropped']
