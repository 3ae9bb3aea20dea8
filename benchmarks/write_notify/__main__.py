"""``python -m benchmarks.write_notify``: sequential write-notify rates.

One softIoc (loopback, free ports) serves an ``ao``; in the same run and in
interleaved order (A B C, C B A, ...) each client writes it ``--writes``
times, one write-notify at a time, waiting for each completion:

* ``libca``: C (``put_callback_loop.c``, compiled here with gcc against
  epicscorelibs' headers and libca): ``ca_array_put_callback`` + an event
  set by the (preemptive) callback -- what the IOC allows one writer;
* ``pyepics``: ``PV.put(value, wait=True)``;
* ``cawire``: ``PV.write([value], wait=True)``;
* ``cawire@NAME`` (``--tree NAME=PATH``, repeatable): the same loop with
  cawire imported from another tree (e.g. ``--tree main=/work/main``), for
  a same-run A/B of two versions.

Prints writes/s per client (median [min-max] of ``--repeats``), the
ratio to libca, and the client process's CPU time per write (user +
system, all its threads, measured over the timed loop only). Needs gcc and epicscorelibs (a dependency of pyepics'
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
t0, c0 = time.perf_counter(), time.process_time()
for i in range(writes):
    pv.write([float(i)], wait=True)
t1, c1 = time.perf_counter(), time.process_time()
print(writes / (t1 - t0), (c1 - c0) / writes * 1e6)
'''

PYEPICS_LOOP = '''
import sys, time, epics
pv = epics.PV(sys.argv[1], auto_monitor=False)
assert pv.wait_for_connection(10)
writes, warmup = int(sys.argv[2]), int(sys.argv[3])
for i in range(warmup):
    pv.put(float(i), wait=True)
t0, c0 = time.perf_counter(), time.process_time()
for i in range(writes):
    if pv.put(float(i), wait=True) != 1:
        raise SystemExit('put did not complete')
t1, c1 = time.perf_counter(), time.process_time()
print(writes / (t1 - t0), (c1 - c0) / writes * 1e6)
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
    parser.add_argument('--tree', action='append', default=[],
                        metavar='NAME=PATH',
                        help='also run the cawire loop with cawire imported '
                             'from PATH, as client cawire@NAME')
    args = parser.parse_args(argv)
    trees = {}
    for spec in args.tree:
        name, _, path = spec.partition('=')
        if not name or not path or not (Path(path) / 'cawire').is_dir():
            parser.error(f'--tree {spec!r}: expected NAME=PATH of a tree '
                         f'with a cawire package')
        trees[f'cawire@{name}'] = str(Path(path).resolve())
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
        envs = {name: env for name in commands}
        for name, path in trees.items():
            commands[name] = [sys.executable, '-c', CAWIRE_LOOP]
            envs[name] = {**env, 'PYTHONPATH': path}
        rates: dict[str, list[float]] = {name: [] for name in commands}
        cpu: dict[str, list[float]] = {name: [] for name in commands}
        order = list(commands)
        for repeat in range(args.repeats):
            for name in (order if repeat % 2 == 0 else order[::-1]):
                completed = subprocess.run(
                    [*commands[name], PV, str(args.writes), str(args.warmup)],
                    env=envs[name], capture_output=True, text=True,
                    timeout=600, stdin=subprocess.DEVNULL)
                if completed.returncode != 0:
                    raise SystemExit(f'{name} failed:\n{completed.stderr}')
                rate, cpu_per_write = completed.stdout.split()[-2:]
                rates[name].append(float(rate))
                cpu[name].append(float(cpu_per_write))
    reference = statistics.median(rates['libca']) if 'libca' in rates else None
    print(f'Sequential write-notify, {args.writes} writes, '
          f'{args.repeats} interleaved runs each (median [min-max])\n')
    print('| client | writes/s | vs libca | CPU us/write |\n|---|---|---|---|')
    for name, values in rates.items():
        median = statistics.median(values)
        ratio = f'{median / reference:.2f}x' if reference else '-'
        cpus = cpu[name]
        print(f'| {name} | {median:,.0f} [{min(values):,.0f}-{max(values):,.0f}] '
              f'| {ratio} | {statistics.median(cpus):.1f} '
              f'[{min(cpus):.1f}-{max(cpus):.1f}] |')
    return 0


if __name__ == '__main__':
    sys.exit(main())
