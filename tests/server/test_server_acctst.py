"""EPICS's own CA test program ``acctst`` against our server and the C
softIoc, timed.

acctst runs for minutes, so the test is opt-in: ``CAWIRE_ACCTST=1 pytest
tests/test_server_acctst.py``. Run this file as a script to print both
times: ``python tests/test_server_acctst.py``.

acctst asks once for its channel to be forced to disconnect by printing
"Please force test channel to disconnect."; the runner then restarts the
server on the same port and acctst waits for the reconnection.
"""
import os
import pty
import select
import subprocess
import sys
import time

import pytest

from cawire.server.testing import IocProcess
from cawire.testing import epics

DISCONNECT_PROMPT = 'Please force test channel to disconnect.'
CAWIRE_PV = 'type_varieties:plain'
SOFTIOC_PV = 'ACC:plain'
SOFTIOC_DB = 'record(ao, "ACC:plain") {\n    field(PREC, "3")\n}\n'
#: acctst's own limit is generous: the C softIoc needs about 170 s.
ACCTST_TIMEOUT = 1500.0


def run_acctst(server, pv: str, timeout: float = ACCTST_TIMEOUT,
               progress_level: int = 0, timeline=None):
    """Run acctst against ``server`` (has .env and .restart()).

    acctst's output goes through a pseudo-terminal: on a pipe its stdio
    buffers the disconnect prompt, which then never reaches us.

    Returns
    -------
    (float, int, str)
        Elapsed seconds, exit code, and acctst's output.
    """
    master, slave = pty.openpty()
    started = time.monotonic()
    process = subprocess.Popen(
        [str(epics.epics_bin_dir() / 'acctst'), pv, str(progress_level)],
        env=server.env,
        stdin=subprocess.DEVNULL, stdout=slave, stderr=slave,
        start_new_session=True)
    os.close(slave)
    output = b''
    restarted = False
    try:
        while True:
            if time.monotonic() - started > timeout:
                raise TimeoutError(f'acctst ran over {timeout} s')
            ready, _, _ = select.select([master], [], [], 1.0)
            if not ready:
                if process.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the terminal's other end closed
                break
            if not chunk:
                break
            output += chunk
            if timeline is not None:
                timeline.append((time.monotonic() - started, chunk))
            if not restarted and DISCONNECT_PROMPT.encode() in output:
                restarted = True
                server.restart()
        code = process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(master)
    return (time.monotonic() - started, code,
            output.decode(errors='replace').replace('\r\n', '\n'))


def _acctst_passed(code: int, output: str) -> bool:
    return code == 0 and 'Test Complete' in output


@pytest.mark.epics
@pytest.mark.slow
@pytest.mark.timeout(ACCTST_TIMEOUT + 60)
@pytest.mark.skipif(os.environ.get('CAWIRE_ACCTST') != '1',
                    reason='acctst takes minutes; set CAWIRE_ACCTST=1')
def test_acctst_against_cawire(ca_env):
    with IocProcess('cawire.ioc_examples.type_varieties',
                    repeater_port=ca_env.repeater_port) as ioc:
        elapsed, code, output = run_acctst(ioc, CAWIRE_PV)
    print(f'acctst against cawire: {elapsed:.1f} s')
    assert _acctst_passed(code, output), output[-3000:]


def _write_timeline(name: str, timeline) -> None:
    if timeline is None:
        return
    path = f'/tmp/acctst-timeline-{name}.txt'
    with open(path, 'w') as log:
        for elapsed, chunk in timeline:
            log.write(f'{elapsed:9.3f} {chunk.decode(errors="replace")!r}\n')
    print(f'timeline written to {path}')


def main() -> None:
    repeater_port = epics.free_port()
    ours = None
    with epics.Repeater(repeater_port):
        if '--softioc-only' in sys.argv:
            return _run_softioc(repeater_port, None)
        with IocProcess('cawire.ioc_examples.type_varieties',
                        repeater_port=repeater_port) as ioc:
            timeline = [] if '--progress' in sys.argv else None
            ours, code, output = run_acctst(
                ioc, CAWIRE_PV, progress_level=1 if timeline is not None else 0,
                timeline=timeline)
            _write_timeline('cawire', timeline)
        print(output[-1500:])
        print(f'cawire: {ours:.1f} s, exit {code}, '
              f'passed={_acctst_passed(code, output)}', flush=True)
        if '--cawire-only' in sys.argv:
            return
        _run_softioc(repeater_port, ours)


def _run_softioc(repeater_port: int, ours) -> None:
    with epics.SoftIoc(SOFTIOC_DB, repeater_port=repeater_port) as ioc:
        timeline = [] if '--progress' in sys.argv else None
        theirs, code, output = run_acctst(
            ioc, SOFTIOC_PV, progress_level=1 if timeline is not None else 0,
            timeline=timeline)
        _write_timeline('softioc', timeline)
    print(output[-1500:])
    print(f'softIoc: {theirs:.1f} s, exit {code}, '
          f'passed={_acctst_passed(code, output)}')
    if ours is not None:
        print(f'ratio cawire/softIoc: {ours / theirs:.2f}')


if __name__ == '__main__':
    main()
