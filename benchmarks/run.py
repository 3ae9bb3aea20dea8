"""Run the cawire benchmark suite against caproto and pyepics.

Usage (from the repository root)::

    .venv/bin/python -m benchmarks.run            # full suite, ~10 minutes
    .venv/bin/python -m benchmarks.run --quick    # smoke run, well under a minute
    .venv/bin/python -m benchmarks.run --only connect,monitor --clients cawire,pyepics

One softIoc (with caRepeater and, for monitor metrics, the 1 kHz feeder) serves
every measurement. Each (metric, client) run happens in a fresh subprocess;
repeats interleave the clients A B C / C B A so slow drifts of the machine hit
all clients alike. The table (median [min-max] over repeats, plus how many
times better cawire is) is printed and written to benchmarks/results/ as
Markdown and JSON.
"""
from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks import _report
from benchmarks._ioc import BenchIoc, DbLayout, quick_layout

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CLIENTS = ('cawire', 'caproto', 'pyepics')
#: Clients run only when asked (--clients): cawire's pyepics API runs only
#: the pyepics_api metrics, against pyepics.
EXTRA_CLIENTS = ('cawire-pyepics',)
#: Variants of the threading client, measured only when asked for
#: (--clients): its callbacks on the network thread.
THREADING_VARIANTS = ('cawire-netthread',)
#: Asyncio clients, measured only when asked for (--clients).
ASYNC_CLIENTS = ('cawire-asyncio', 'cawire-aioca', 'aioca', 'caproto-asyncio')
REFERENCE = 'loopback'
GROUPS = ('connect', 'read_latency', 'bulk_read', 'write_notify', 'array',
          'monitor', 'cpu', 'pyepics_api')
ALIASES = {'read': 'read_latency', 'latency': 'read_latency', 'bulk': 'bulk_read',
           'write': 'write_notify', 'arrays': 'array', 'monitors': 'monitor'}


@dataclass
class Job:
    """One measurement, run once per client per repeat in a fresh process."""

    key: str
    group: str
    metric: str
    params: dict
    rows: list[_report.Row]
    timeout: float
    load_pvs: int | None = None  # monitor jobs: slow PVs subscribed
    reference: bool = False      # also run the raw loopback reference
    # The clients this job runs for (None: the threading-API clients).
    clients: tuple[str, ...] | None = None

    def spec(self) -> str:
        return json.dumps({'metric': self.metric, 'params': self.params})


@dataclass
class Settings:
    repeats: int
    connect_counts: tuple[int, ...]
    reads: int
    bulk_pvs: int
    bulk_reads: int
    writes: int
    array_counts: tuple[int, ...]
    array_reads: int
    monitor_levels: tuple[int, ...]
    cpu_levels: tuple[int, ...]
    warmup_s: float
    window_s: float
    op_timeout: float
    # A client that falls behind may never deliver every PV's first update:
    # after this long the window starts anyway (and the result says so).
    subscribe_timeout: float
    # Then wait (at most this long) until the client delivers fresh updates,
    # so a backlog from the subscription burst does not count in the window.
    catchup_timeout: float
    layout: DbLayout = field(default_factory=DbLayout)
    # The pyepics-API metrics (cawire.pyepics against pyepics).
    caget_names: int = 1_000
    caget_many_pvs: int = 10_000
    pv_monitor_level: int = 2_000


FULL = Settings(repeats=3, connect_counts=(1_000, 10_000), reads=2_000,
                bulk_pvs=10_000, bulk_reads=3, writes=2_000,
                array_counts=(1_000_000, 4_000_000), array_reads=5,
                monitor_levels=(1_000, 2_000, 5_000), cpu_levels=(100, 400),
                warmup_s=2.0, window_s=5.0, op_timeout=60.0,
                subscribe_timeout=20.0, catchup_timeout=5.0)
QUICK = Settings(repeats=1, connect_counts=(200,), reads=200, bulk_pvs=500,
                 bulk_reads=1, writes=200, array_counts=(100_000,),
                 array_reads=3, monitor_levels=(150,), cpu_levels=(50,),
                 warmup_s=0.3, window_s=1.0, op_timeout=20.0,
                 subscribe_timeout=10.0, catchup_timeout=2.0,
                 layout=quick_layout(), caget_names=100, caget_many_pvs=500,
                 pv_monitor_level=150)


def _count(n: int) -> str:
    return f'{n:,}'


def build_jobs(settings: Settings) -> list[Job]:
    s, layout, Row = settings, settings.layout, _report.Row
    timeout = s.op_timeout
    jobs = []
    for n in s.connect_counts:
        jobs.append(Job(
            f'connect-{n}', 'connect', 'connect',
            {'names': layout.connect_spec(n), 'timeout': timeout},
            [Row(f'connect_{n}_s', f'connect {_count(n)} PVs', 's', 'lower',
                 'connect_s'),
             Row(f'mem_per_pv_{n}_kib', f'memory per PV ({_count(n)} PVs)',
                 'KiB', 'lower', 'mem_per_pv_kib')],
            timeout=2 * timeout + 30))
    jobs.append(Job(
        'read-latency', 'read_latency', 'read_latency',
        {'name': layout.scalar, 'reads': s.reads, 'warmup': max(10, s.reads // 20),
         'timeout': timeout},
        [Row('read_median_us', f'blocking read, median ({_count(s.reads)} reads)',
             'us', 'lower', 'read_median_us'),
         Row('read_p90_us', 'blocking read, p90', 'us', 'lower', 'read_p90_us')],
        timeout=2 * timeout + 30))
    jobs.append(Job(
        'bulk-read', 'bulk_read', 'bulk_read',
        {'names': layout.connect_spec(s.bulk_pvs), 'reads': s.bulk_reads,
         'timeout': timeout},
        [Row(f'bulk_read_{s.bulk_pvs}_s', f'bulk read {_count(s.bulk_pvs)} PVs',
             's', 'lower', 'bulk_read_s')],
        timeout=3 * timeout + 30))
    jobs.append(Job(
        'write-notify', 'write_notify', 'write_notify',
        {'name': layout.write_target, 'writes': s.writes,
         'warmup': max(10, s.writes // 20), 'timeout': timeout},
        [Row('write_per_s', 'write-notify rate', '1/s', 'higher', 'write_per_s')],
        timeout=2 * timeout + 30))
    for count in s.array_counts:
        jobs.append(Job(
            f'array-{count}', 'array', 'array_read',
            {'name': layout.array(count), 'count': count, 'reads': s.array_reads,
             'max_seconds': 20.0, 'timeout': timeout},
            [Row(f'array_{count}_mb_s', f'array read {count:.0e} doubles',
                 'MB/s', 'higher', 'array_mb_per_s')],
            timeout=2 * timeout + 60, reference=True))
    levels = ([('monitor', n) for n in s.monitor_levels]
              + [('cpu', n) for n in s.cpu_levels])
    for group, n in levels:
        rate = (n * 10 + 1000) / 1000
        offered = f'~{rate:.{0 if rate >= 10 else 1}f}k/s offered'
        if group == 'cpu':
            # The first level keeps its historical key (issue 5's target).
            key = ('cpu_us_per_update' if n == s.cpu_levels[0]
                   else f'cpu_{n}_us_per_update')
            rows = [Row(key, f'CPU per update ({offered})', 'us',
                        'lower', 'cpu_us_per_update'),
                    Row(f'cpu_{n}_fraction', f'CPU run ({offered}): fraction '
                        'of posted', '', 'higher', 'fraction_of_posted')]
        else:
            rows = [
                Row(f'mon_{n}_delivered', f'monitor {offered}: delivered',
                    '1/s', 'higher', 'delivered_per_s'),
                Row(f'mon_{n}_fraction', f'monitor {offered}: fraction of posted',
                    '', 'higher', 'fraction_of_posted'),
                Row(f'mon_{n}_lag', f'monitor {offered}: lag at end', 's',
                    'lower', 'lag_s', ratio=False),
                Row(f'mon_{n}_mem', f'monitor {offered}: memory growth', 'MB',
                    'lower', 'mem_growth_mb', ratio=False),
                Row(f'mon_{n}_cpu', f'monitor {offered}: CPU per update', 'us',
                    'lower', 'cpu_us_per_update'),
            ]
        jobs.append(Job(
            f'{group}-{n}', group, 'monitor',
            {'names': layout.monitor_spec(n), 'fast': layout.fast,
             'warmup_s': s.warmup_s, 'window_s': s.window_s,
             'timeout': timeout, 'subscribe_timeout': s.subscribe_timeout,
             'catchup_timeout': s.catchup_timeout},
            rows, timeout=2 * timeout + s.warmup_s + s.window_s + 60, load_pvs=n))
    jobs += _pyepics_api_jobs(s)
    return jobs


PYEPICS_API_CLIENTS = ('cawire-pyepics', 'pyepics')


def _pyepics_api_jobs(s: Settings) -> list[Job]:
    """The same pyepics-API code under pyepics and under cawire.pyepics."""
    layout, Row, timeout = s.layout, _report.Row, s.op_timeout
    n, bulk, level = s.caget_names, s.caget_many_pvs, s.pv_monitor_level
    rate = (level * 10 + 1000) / 1000
    offered = f'~{rate:.{0 if rate >= 10 else 1}f}k/s offered'
    subject = 'cawire-pyepics'
    return [
        Job(f'caget-names-{n}', 'pyepics_api', 'caget_names',
            {'names': layout.connect_spec(n), 'timeout': timeout},
            [Row(f'caget_names_{n}_s', f'pyepics API: caget of {_count(n)} names',
                 's', 'lower', 'caget_names_s', subject=subject)],
            timeout=2 * timeout + 30, clients=PYEPICS_API_CLIENTS),
        Job(f'caget-many-{bulk}', 'pyepics_api', 'caget_many',
            {'names': layout.connect_spec(bulk), 'reads': s.bulk_reads,
             'timeout': timeout},
            [Row(f'caget_many_{bulk}_s',
                 f'pyepics API: caget_many of {_count(bulk)}', 's', 'lower',
                 'caget_many_s', subject=subject)],
            timeout=3 * timeout + 30, clients=PYEPICS_API_CLIENTS),
        Job(f'pv-monitor-{level}', 'pyepics_api', 'pv_monitor',
            {'names': layout.monitor_spec(level), 'fast': layout.fast,
             'warmup_s': s.warmup_s, 'window_s': s.window_s,
             'timeout': timeout, 'subscribe_timeout': s.subscribe_timeout,
             'catchup_timeout': s.catchup_timeout},
            [Row(f'pv_monitor_{level}_delivered',
                 f'pyepics API: PV monitor {offered}: delivered', '1/s',
                 'higher', 'delivered_per_s', subject=subject),
             Row(f'pv_monitor_{level}_fraction',
                 f'pyepics API: PV monitor {offered}: fraction of posted', '',
                 'higher', 'fraction_of_posted', subject=subject),
             Row(f'pv_monitor_{level}_cpu',
                 f'pyepics API: PV monitor {offered}: CPU per update', 'us',
                 'lower', 'cpu_us_per_update', subject=subject)],
            timeout=2 * timeout + s.warmup_s + s.window_s + 60,
            load_pvs=level, clients=PYEPICS_API_CLIENTS),
    ]


# -- running one measurement -------------------------------------------------
class RunnerError(RuntimeError):
    """A runner failed, timed out or printed no result."""


def _runner_path(client: str) -> Path:
    name = 'reference' if client == REFERENCE else client.replace('-', '_')
    return HERE / 'clients' / f'{name}_runner.py'


def _reader(stream, lines: queue.Queue) -> None:
    for line in stream:
        lines.put(line.rstrip('\n'))
    lines.put(None)


def run_one(job: Job, client: str, ioc: BenchIoc, env: dict) -> dict:
    """Run ``job`` for ``client`` in a fresh process; return its result dict.

    Raises
    ------
    RunnerError
        With a one-line reason (error message from the runner, or timeout).
    """
    params = dict(job.params)
    if client == REFERENCE:
        params.pop('name', None)
    spec = json.dumps({'metric': job.metric, 'params': params})
    with tempfile.TemporaryFile(mode='w+') as stderr:
        process = subprocess.Popen(
            [sys.executable, str(_runner_path(client)), spec], env=env,
            cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=stderr, text=True, start_new_session=True)
        lines: queue.Queue = queue.Queue()
        threading.Thread(target=_reader, args=(process.stdout, lines),
                         daemon=True).start()
        deadline = time.monotonic() + job.timeout
        before = None
        ioc_cpu0 = ioc.cpu_seconds()
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise RunnerError(f'timeout after {job.timeout:.0f} s')
                try:
                    line = lines.get(timeout=remaining)
                except queue.Empty:
                    continue
                if line is None:
                    process.wait(5)
                    stderr.seek(0)
                    tail = stderr.read().strip().splitlines()[-1:]
                    raise RunnerError(f'exited {process.returncode} without a '
                                      f'result: {" ".join(tail)[:300]}')
                if line.startswith('@@READY'):
                    names = _monitor_names(job, ioc)
                    before = ioc.snapshot(names)
                    process.stdin.write('GO\n')
                    process.stdin.flush()
                elif line.startswith('@@ERROR '):
                    raise RunnerError(line[len('@@ERROR '):])
                elif line.startswith('@@RESULT '):
                    result = json.loads(line[len('@@RESULT '):])
                    result['ioc_cpu_s'] = ioc.cpu_seconds() - ioc_cpu0
                    if before is not None:
                        after = ioc.snapshot(list(before))
                        result.update(_posted(before, after, result))
                    return result
        finally:
            if process.poll() is None:
                process.kill()
            process.wait(10)
            process.stdin.close()


def _monitor_names(job: Job, ioc: BenchIoc) -> list[str]:
    return ioc.layout.monitor_names(job.load_pvs) + [ioc.layout.fast]


def _posted(before: dict, after: dict, result: dict) -> dict:
    """Posting rate from the IOC's own counters and the delivered fraction."""
    rate = 0.0
    for name, first in before.items():
        last = after[name]
        if last.timestamp > first.timestamp:
            rate += (last.value - first.value) / (last.timestamp - first.timestamp)
    return {'posted_per_s': rate,
            'fraction_of_posted': result['delivered_per_s'] / rate if rate else None}


# -- the suite ---------------------------------------------------------------
def _meta(args, settings: Settings) -> dict:
    def version(module: str) -> str | None:
        try:
            return __import__(module).__version__
        except Exception:  # absent or broken: say so in the table header
            return None

    def git(*argv: str) -> str:
        try:
            return subprocess.run(['git', *argv], cwd=REPO, capture_output=True,
                                  text=True, timeout=10).stdout.strip()
        except OSError:
            return ''

    cpu = ''
    with contextlib.suppress(OSError):
        for line in Path('/proc/cpuinfo').read_text().splitlines():
            if line.startswith('model name'):
                cpu = line.split(':', 1)[1].strip()
                break
    return {
        'date': datetime.datetime.now(datetime.timezone.utc).strftime(
            '%Y-%m-%d %H:%M UTC'),
        'machine': f'{platform.node()} ({cpu}, {os.cpu_count()} cores, '
                   f'{platform.system()} {platform.release()})',
        'python': platform.python_version(),
        'versions': {'caproto': version('caproto'), 'pyepics': version('epics'),
                     'numpy': version('numpy')},
        'cawire_commit': git('rev-parse', '--short', 'HEAD') +
                         (' (dirty tree)' if git('status', '--porcelain',
                                                 '--', 'cawire') else ''),
        # Other work on the machine skews every client alike (interleaving),
        # but widens the ranges: the load average says how busy it was.
        'load_average_start': [round(x, 2) for x in os.getloadavg()],
        'mode': 'quick' if args.quick else 'full',
        'repeats': settings.repeats,
        'window_s': settings.window_s,
    }


def _trees(specs: list[str]) -> dict[str, str]:
    """``NAME=PATH`` options -> {NAME: resolved PATH of a cawire tree}."""
    trees = {}
    for spec in specs:
        name, _, path = spec.partition('=')
        if not name or not path or not (Path(path) / 'cawire').is_dir():
            raise SystemExit(f'--tree {spec!r}: expected NAME=PATH of a tree '
                             f'with a cawire package')
        trees[name] = str(Path(path).resolve())
    return trees


def run_suite(args) -> dict:
    settings = QUICK if args.quick else FULL
    if args.repeats:
        settings.repeats = args.repeats
    clients = [c.strip() for c in args.clients.split(',') if c.strip()]
    trees = _trees(args.tree)
    # --tree NAME=PATH: every cawire client again as CLIENT@NAME, importing
    # cawire from PATH (a same-run A/B of two versions).
    clients += [f'{client}@{name}' for name in trees for client in list(clients)
                if client.startswith('cawire')]
    for client in clients:
        known = CLIENTS + THREADING_VARIANTS + EXTRA_CLIENTS + ASYNC_CLIENTS
        if client.partition('@')[0] not in known:
            raise SystemExit(f'unknown client {client!r}; choose from '
                             f'{known}')
    only = ({ALIASES.get(g.strip(), g.strip()) for g in args.only.split(',')
             if g.strip()} if args.only else set(GROUPS))
    unknown = only - set(GROUPS)
    if unknown:
        raise SystemExit(f'unknown metric group(s) {sorted(unknown)}; '
                         f'choose from {GROUPS}')
    jobs = [job for job in build_jobs(settings) if job.group in only]
    if args.jobs:
        wanted = [key.strip() for key in args.jobs.split(',') if key.strip()]
        jobs = [job for job in jobs if job.key in wanted]
        if not jobs:
            raise SystemExit(f'no job among {wanted}; the jobs are '
                             f'{[job.key for job in build_jobs(settings)]}')
    doc = {'meta': _meta(args, settings), 'clients': clients, 'rows': [],
           'runs': []}
    started = time.monotonic()
    with BenchIoc(settings.layout) as ioc:
        env = dict(ioc.env)
        env['PYTHONPATH'] = os.pathsep.join(
            filter(None, [str(REPO), env.get('PYTHONPATH', '')]))
        env['PYTHONUNBUFFERED'] = '1'
        for job in jobs:
            if job.clients is not None and not set(job.clients) <= set(clients):
                continue  # a comparison job runs only with both its clients
            runs_for = (job.clients if job.clients is not None
                        else CLIENTS + THREADING_VARIANTS + ASYNC_CLIENTS)
            participants = [c for c in clients
                            if c.partition('@')[0] in runs_for] + (
                [REFERENCE] if job.reference else [])
            if not [c for c in participants if c != REFERENCE]:
                continue
            load = (ioc.monitor_load() if job.load_pvs is not None
                    else contextlib.nullcontext())
            with load:
                for repeat in range(settings.repeats):
                    order = participants if repeat % 2 == 0 else participants[::-1]
                    for client in order:
                        t0 = time.monotonic()
                        base, _, tree = client.partition('@')
                        client_env = env if not tree else {
                            **env, 'PYTHONPATH': os.pathsep.join(
                                [trees[tree], env['PYTHONPATH']])}
                        try:
                            result, error = run_one(job, base, ioc,
                                                    client_env), None
                        except (RunnerError, RuntimeError, OSError,
                                subprocess.SubprocessError) as exc:
                            result, error = None, str(exc) or type(exc).__name__
                        doc['runs'].append({'job': job.key, 'client': client,
                                            'repeat': repeat, 'result': result,
                                            'error': error})
                        status = 'ok' if error is None else f'ERROR {error}'
                        print(f'[{time.monotonic() - started:6.1f}s] {job.key:<16}'
                              f' {client:<8} #{repeat}: {status}', file=sys.stderr,
                              flush=True)
                        time.sleep(0.2)  # let the IOC drop the old circuit
            for row in job.rows:
                doc['rows'].append(_report.summarize_row(
                    row, job.key, doc['runs'], participants))
    doc['meta']['duration_s'] = round(time.monotonic() - started, 1)
    doc['meta']['load_average_end'] = [round(x, 2) for x in os.getloadavg()]
    return doc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--quick', action='store_true',
                        help='small sizes, one repeat: a smoke run')
    parser.add_argument('--only', default='',
                        help=f'comma-separated metric groups: {",".join(GROUPS)}')
    parser.add_argument('--jobs', default='',
                        help='comma-separated job keys within those groups '
                             '(e.g. cpu-400,pv-monitor-2000)')
    parser.add_argument('--clients', default=','.join(CLIENTS),
                        help='comma-separated clients (default: all three)')
    parser.add_argument('--repeats', type=int, default=0,
                        help='repeats per client (default 3; 1 with --quick)')
    parser.add_argument('--tree', action='append', default=[],
                        metavar='NAME=PATH',
                        help='also run each cawire client with cawire imported '
                             'from PATH, as CLIENT@NAME (repeatable)')
    parser.add_argument('--out', default=str(HERE / 'results'),
                        help='directory for the .md and .json results')
    args = parser.parse_args(argv)
    # A plain `kill` must still stop the IOC, repeater and feeder (the context
    # managers only run on exceptions, and SIGTERM is not one by default).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    doc = run_suite(args)
    markdown = _report.render_markdown(doc)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = datetime.datetime.now().strftime('%Y%m%d-%H%M%S') + (
        '-quick' if args.quick else '')
    (out / f'{stem}.json').write_text(json.dumps(doc, indent=1))
    (out / f'{stem}.md').write_text(markdown)
    print(markdown)
    print(f'written: {out / stem}.md and .json', file=sys.stderr)
    return 0


if __name__ == '__main__':
    sys.exit(main())
