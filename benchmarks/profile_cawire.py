"""Where does cawire spend its time? Sample its connect and monitor paths.

Usage (from the repository root; needs ``pip install py-spy``)::

    .venv/bin/python -m benchmarks.profile_cawire [--monitor-pvs 5000]
        [--connect-pvs 10000] [--window 5] [--py-spy PATH]

Runs the same runner processes as the benchmark suite against the same
benchmark IOC, under py-spy (a sampling profiler that sees every thread,
unlike cProfile which only sees the thread that enabled it). With ``--gil``
only the thread holding the GIL is sampled, so the numbers are Python CPU
time, not time spent waiting in select() or on a condition:

* connect: the whole runner process while it connects ``--connect-pvs`` PVs;
* monitor: py-spy attaches to the runner once it is subscribed and warmed up,
  and samples exactly the measurement window under the monitor load.

Writes ``benchmarks/results/profile-<time>.md`` with, for each path, the
samples per thread, the top functions by own time (where the CPU is) and by
inclusive time (which call trees cost most), and keeps py-spy's raw
collapsed stacks next to it (``.txt``; open with any flamegraph tool).
"""
from __future__ import annotations

import argparse
import collections
import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

from benchmarks._ioc import BenchIoc, DbLayout

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DEFAULT_RUNNER = HERE / 'clients' / 'cawire_runner.py'
LINE_NUMBER = re.compile(r':\d+\)$')
THREAD_ID = re.compile(r'\s*\(\d+\)')
TOP = 25


def _py_spy(explicit: str | None) -> str:
    candidates = [explicit, shutil.which('py-spy'),
                  str(Path(sys.executable).parent / 'py-spy')]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise SystemExit('py-spy not found: pip install py-spy (or pass --py-spy)')


def _spec(metric: str, **params) -> str:
    return json.dumps({'metric': metric, 'params': params})


def _result(stdout: str) -> dict:
    for line in stdout.splitlines():
        if line.startswith('@@RESULT '):
            return json.loads(line[len('@@RESULT '):])
        if line.startswith('@@ERROR '):
            raise RuntimeError(line)
    raise RuntimeError(f'runner printed no result:\n{stdout[-2000:]}')


def profile_connect(py_spy: str, runner: Path, ioc: BenchIoc, env: dict,
                    n: int, raw_path: Path) -> dict:
    spec = _spec('connect', names=ioc.layout.connect_spec(n), timeout=60.0)
    completed = subprocess.run(
        [py_spy, 'record', '--rate', '1000', '--threads', '--gil',
         '--nonblocking', '--format', 'raw', '--output', str(raw_path), '--',
         sys.executable, str(runner), spec],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=300,
        stdin=subprocess.DEVNULL)
    return _result(completed.stdout)


def profile_monitor(py_spy: str, runner_path: Path, ioc: BenchIoc, env: dict,
                    n: int, window: float, raw_path: Path) -> dict:
    spec = _spec('monitor', names=ioc.layout.monitor_spec(n),
                 fast=ioc.layout.fast, warmup_s=2.0, window_s=window,
                 timeout=60.0, subscribe_timeout=20.0, catchup_timeout=5.0)
    runner = subprocess.Popen(
        [sys.executable, str(runner_path), spec], env=env, cwd=REPO,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        start_new_session=True)
    # Bound everything below: a runner that hangs silently is killed, which
    # ends the reads of its stdout.
    watchdog = threading.Timer(window + 150, runner.kill)
    watchdog.start()
    try:
        for line in runner.stdout:
            if line.startswith('@@READY'):
                break
            if line.startswith('@@ERROR'):
                raise RuntimeError(line)
        sampler = subprocess.Popen(
            [py_spy, 'record', '--rate', '1000', '--threads', '--gil',
             '--nonblocking', '--format', 'raw', '--duration', str(int(window)),
             '--pid', str(runner.pid), '--output', str(raw_path)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE)
        time.sleep(0.3)  # let py-spy attach before the window opens
        runner.stdin.write('GO\n')
        runner.stdin.flush()
        stdout = runner.stdout.read()
        sampler.wait(window + 30)
        return _result(stdout)
    finally:
        watchdog.cancel()
        if runner.poll() is None:
            runner.kill()
        runner.wait(10)


def summarize(raw_path: Path, items: int | None = None,
              item: str = 'update') -> str:
    """Per-thread samples, top functions by own and by inclusive samples.

    With ``items`` (updates delivered, PVs connected) a column gives the
    sampled time per item: at 1 kHz one sample is about 1 ms of GIL time.
    """
    own = collections.Counter()
    inclusive = collections.Counter()
    threads = collections.Counter()
    total = imports = 0
    for line in raw_path.read_text().splitlines():
        stack, _, count = line.rpartition(' ')
        if not stack or not count.isdigit():
            continue
        count = int(count)
        frames = stack.split(';')
        thread, frames = frames[0], [LINE_NUMBER.sub(')', f) for f in frames[1:]]
        if not frames:
            continue
        if any('importlib._bootstrap' in frame for frame in frames):
            imports += count  # start-up cost, not the path we study
            continue
        thread = THREAD_ID.sub('', thread)
        total += count
        threads[thread] += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    if not total:
        return 'no samples (was the process idle?)\n'

    def table(counter: collections.Counter, title: str) -> list[str]:
        if items:
            rows = [f'| {title} | samples | share | us per {item} |',
                    '|---|---|---|---|']
            rows += [f'| `{name}` | {count} | {100 * count / total:.1f}% | '
                     f'{1000 * count / items:.2f} |'
                     for name, count in counter.most_common(TOP)]
            return rows
        rows = [f'| {title} | samples | share |', '|---|---|---|']
        rows += [f'| `{name}` | {count} | {100 * count / total:.1f}% |'
                 for name, count in counter.most_common(TOP)]
        return rows

    lines = [f'{total} samples at 1 kHz of the thread holding the GIL '
             f'(py-spy --gil: Python CPU time; {imports} samples inside '
             f'imports left out).', '']
    if items:
        lines[0] += (f' {items:,} {item}s: {1000 * total / items:.1f} us of '
                     f'GIL time per {item}.')
    lines += table(threads, 'thread')
    lines += [''] + table(own, 'own time (leaf function)')
    lines += [''] + table(inclusive, 'inclusive time (function on stack)')
    return '\n'.join(lines) + '\n'


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--connect-pvs', type=int, default=10_000)
    parser.add_argument('--monitor-pvs', type=int, default=5_000,
                        help='10 Hz counters subscribed besides the 1 kHz PV')
    parser.add_argument('--window', type=float, default=5.0)
    parser.add_argument('--py-spy', default=None)
    parser.add_argument('--runner', default=str(DEFAULT_RUNNER),
                        help='runner script (e.g. a wrapper that patches '
                             'cawire to try a change)')
    parser.add_argument('--skip-connect', action='store_true')
    parser.add_argument('--out', default=str(HERE / 'results'))
    args = parser.parse_args(argv)
    py_spy = _py_spy(args.py_spy)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = 'profile-' + datetime.datetime.now().strftime('%Y%m%d-%H%M%S')
    report = [f'# Where cawire spends its time ({stem})', '']
    with BenchIoc(DbLayout()) as ioc:
        env = dict(ioc.env, PYTHONPATH=str(REPO), PYTHONUNBUFFERED='1')
        runner = Path(args.runner).resolve()
        if runner != DEFAULT_RUNNER:
            report += [f'Runner: `{runner}` (not the stock cawire runner)', '']
        if not args.skip_connect:
            raw = out / f'{stem}-connect.txt'
            result = profile_connect(py_spy, runner, ioc, env, args.connect_pvs,
                                     raw)
            report += [f'## connect {args.connect_pvs:,} PVs', '',
                       f'Result under the profiler: {json.dumps(result)}', '',
                       'The runner calls gc.collect() before and after '
                       'connecting (for the memory figure): its samples show '
                       'as `ThreadingApiMetrics.connect` / `run`.', '',
                       summarize(raw, args.connect_pvs, 'PV')]
        raw = out / f'{stem}-monitor.txt'
        with ioc.monitor_load():
            result = profile_monitor(py_spy, runner, ioc, env,
                                     args.monitor_pvs, args.window, raw)
        report += [f'## monitor: {args.monitor_pvs:,} x 10 Hz + 1 kHz', '',
                   f'Result under the profiler: {json.dumps(result)}', '',
                   summarize(raw, result.get('delivered') or None)]
    text = '\n'.join(report)
    (out / f'{stem}.md').write_text(text)
    print(text)
    print(f'written: {out / stem}.md (+ raw stacks)', file=sys.stderr)
    return 0


if __name__ == '__main__':
    sys.exit(main())
