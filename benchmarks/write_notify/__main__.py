"""``python -m benchmarks.write_notify``: sequential write-notify rates.

One softIoc (loopback, free ports) serves an ``ao``; in the same run and in
interleaved order (A B C, C B A, ...) each client writes it ``--writes``
times, one write-notify at a time, waiting for each completion:

* ``libca``: C (``put_callback_loop.c``, compiled here with gcc against
  epicscorelibs' headers and libca): ``ca_array_put_callback`` + an event
  set by the (preemptive) callback -- what the IOC allows one writer;
* ``pyepics``: ``PV.put(value, wait=True)``;
* ``cawire``: ``PV.write([value], wait=True)``.

Prints writes/s per client (median [min-max] of ``--repeats``) and the
ratio to libca. Needs gcc and epicscorelibs (a dependency of pyepics'
wheels); without them the libca row is left out.
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from cawire.testing.epics import Repeater, SoftIoc, epics_env, free_port

HERE = Path(__file__).resolve().parent
PV = 'WN:target'

CAWIRE_LOOP = '''
import sys, time
from cawire.threading.client import Context
ctx = Context(timeout=10)
pv, = ctx.get_pvs(sys.argv[1])
pv.wait_for_connection()
writes, warmup = int(sys.argv[2]), int(sys.argv[3])
for i in range(warmup):
    pv.write([float(i)], wait=True)
t0 = time.perf_counter()
for i in range(writes):
    pv.write([float(i)], wait=True)
print(writes / (time.perf_counter() - t0))
'''

PYEPICS_LOOP = '''
import sys, time, epics
pv = epics.PV(sys.argv[1], auto_monitor=False)
assert pv.wait_for_connection(10)
writes, warmup = int(sys.argv[2]), int(sys.argv[3])
for i in range(warmup):
    pv.put(float(i), wait=True)
t0 = time.perf_counter()
for i in range(writes):
    if pv.put(float(i), wait=True) != 1:
        raise SystemExit('put did not complete')
print(writes / (time.perf_counter() - t0))
'''


def build_libca_loop(directory: Path) -> Path | None:
    """Compile put_callback_loop.c; None when gcc or epicscorelibs is
    missing."""
    gcc = shutil.which('gcc')
    try:
        import epicscorelibs.path
    except ImportError:
        return None
    if gcc is None:
        return None
    include = Path(epicscorelibs.path.include_path)
    lib = Path(epicscorelibs.path.lib_path)
    target = directory / 'put_callback_loop'
    subprocess.run([gcc, '-O2', '-o', str(target), str(HERE / 'put_callback_loop.c'),
                    f'-I{include}', f'-L{lib}', '-lca', '-lCom',
                    f'-Wl,-rpath,{lib}'], check=True, capture_output=True)
    return target


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog='python -m benchmarks.write_notify')
    parser.add_argument('--writes', type=int, default=5000)
    parser.add_argument('--warmup', type=int, default=200)
    parser.add_argument('--repeats', type=int, default=3)
    args = parser.parse_args(argv)
    server_port, repeater_port = free_port(), free_port()
    env = epics_env(server_port, repeater_port)
    with tempfile.TemporaryDirectory() as scratch, \
            Repeater(repeater_port), \
            SoftIoc(f'record(ao, "{PV}") {{}}\n', server_port, repeater_port):
        libca = build_libca_loop(Path(scratch))
        commands = {
            'cawire': [sys.executable, '-c', CAWIRE_LOOP],
            'pyepics': [sys.executable, '-c', PYEPICS_LOOP],
        }
        if libca is not None:
            commands = {'libca': [str(libca)], **commands}
        rates: dict[str, list[float]] = {name: [] for name in commands}
        order = list(commands)
        for repeat in range(args.repeats):
            for name in (order if repeat % 2 == 0 else order[::-1]):
                completed = subprocess.run(
                    [*commands[name], PV, str(args.writes), str(args.warmup)],
                    env=env, capture_output=True, text=True, timeout=600,
                    stdin=subprocess.DEVNULL)
                if completed.returncode != 0:
                    raise SystemExit(f'{name} failed:\n{completed.stderr}')
                rates[name].append(float(completed.stdout.split()[-1]))
    reference = statistics.median(rates['libca']) if 'libca' in rates else None
    print(f'Sequential write-notify, {args.writes} writes, '
          f'{args.repeats} interleaved runs each (median [min-max])\n')
    print('| client | writes/s | vs libca |\n|---|---|---|')
    for name, values in rates.items():
        median = statistics.median(values)
        ratio = f'{median / reference:.2f}x' if reference else '-'
        print(f'| {name} | {median:,.0f} [{min(values):,.0f}-{max(values):,.0f}] '
              f'| {ratio} |')
    return 0


if __name__ == '__main__':
    sys.exit(main())
