"""Server benchmarks: cawire's server against the C softIoc and caproto's
asyncio server serving the same PVs (plain DOUBLE PVs; ``ao`` records for
softIoc).

Scenarios (all on loopback, every server on its own port):

* ``fanout_1x50``: one PV written at 1 kHz by a writer client, monitored by
  50 client circuits; server CPU per delivered update;
* ``fanout_1000x10``: 1,000 PVs written at 10 Hz each, monitored by 10
  client circuits; server CPU per delivered update;
* ``reads``: sequential READ_NOTIFY round trips per second (one client);
* ``reads_pipelined``: READ_NOTIFYs issued without waiting (batches of 100)
  per second;
* ``write_notify``: sequential WRITE_NOTIFY round trips per second;
* ``memory``: server resident memory per served PV (10,000 PVs vs 1);
* ``connect_10000``: seconds for pyepics to connect 10,000 served PVs.

Updates are driven by a client writing (the same for every server, so the
server CPU includes handling those writes). Server CPU is read from
/proc/<pid>/stat. Run: ``PYTHONPATH=<tree> python benchmarks/server.py
[--seconds S] [--only name,...]``; prints a table and writes JSON with
``--json FILE``.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

from cawire.testing import epics

CLOCK_TICKS = os.sysconf('SC_CLK_TCK')
SERVERS = ('softIoc', 'caproto', 'cawire')

_PYTHON_SERVER = textwrap.dedent('''
    import sys
    count = int(sys.argv[2])
    if sys.argv[1] == 'caproto':
        from caproto import ChannelDouble
        from caproto.asyncio.server import run
    else:
        from cawire.server import ChannelDouble, run
    pvdb = {f'B:pv{i}': ChannelDouble(value=0.0) for i in range(count)}
    if sys.argv[1] == 'caproto':
        run(pvdb, interfaces=['127.0.0.1'])
    else:
        run(pvdb)
''')


class Server:
    """One server process serving ``count`` PVs named B:pv0.. on loopback."""

    def __init__(self, kind: str, count: int, repeater_port: int,
                 folder: Path):
        self.kind = kind
        if kind == 'softIoc':
            db = ''.join(f'record(ao, "B:pv{i}") {{ field(VAL, "0") }}\n'
                         for i in range(count))
            self.process = epics.SoftIoc(db, repeater_port=repeater_port,
                                         timeout=60)
        else:
            script = folder / 'bench_server.py'
            script.write_text(_PYTHON_SERVER)
            port = epics.free_port()
            env = epics.epics_env(port, repeater_port)
            process = epics._Process(env)
            process._spawn([sys.executable, str(script), kind, str(count)])
            epics.wait_for_tcp(port, timeout=120, alive=process.running)
            process.server_port = port  # type: ignore[attr-defined]
            self.process = process
        self.port = self.process.server_port
        self.env = epics.epics_env(self.port, repeater_port)

    def cpu_seconds(self) -> float:
        with open(f'/proc/{self.process.pid}/stat') as file:
            fields = file.read().rsplit(')', 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    def rss_kib(self) -> int:
        with open(f'/proc/{self.process.pid}/status') as file:
            for line in file:
                if line.startswith('VmRSS:'):
                    return int(line.split()[1])
        return 0

    def close(self) -> None:
        self.process.close()


def _context(server: Server):
    from cawire.threading.client import Context
    os.environ['EPICS_CA_ADDR_LIST'] = f'127.0.0.1:{server.port}'
    return Context()


def fanout(server: Server, pv_count: int, circuits: int, rate: float,
           seconds: float) -> dict:
    """Writer at ``rate`` Hz per PV; ``circuits`` monitoring contexts."""
    names = [f'B:pv{i}' for i in range(pv_count)]
    counts = [0] * circuits
    lock = threading.Lock()
    contexts, subscriptions = [], []
    for index in range(circuits):
        context = _context(server)
        contexts.append(context)
        pvs = context.get_pvs(*names, timeout=30)
        for pv in pvs:
            pv.wait_for_connection(timeout=30)

        def count(subscription, response, index=index):
            with lock:
                counts[index] += 1
        for pv in pvs:
            subscription = pv.subscribe()
            subscription.add_callback(count)
            subscriptions.append((subscription, count))
    writer = _context(server)
    writer_pvs = writer.get_pvs(*names, timeout=30)
    for pv in writer_pvs:
        pv.wait_for_connection(timeout=30)
    time.sleep(1.0)
    with lock:
        for index in range(circuits):
            counts[index] = 0
    cpu_before = server.cpu_seconds()
    started = time.monotonic()
    period = 1.0 / rate
    tick = 0
    value = 0.0
    while time.monotonic() - started < seconds:
        value += 1.0
        for pv in writer_pvs:
            pv.write([value], wait=False)
        tick += 1
        delay = started + tick * period - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    time.sleep(0.5)  # let queued updates arrive
    cpu = server.cpu_seconds() - cpu_before
    with lock:
        delivered = sum(counts)
    writes = tick * pv_count
    for context in contexts + [writer]:
        context.disconnect()
    return {'writes': writes, 'delivered': delivered,
            'expected': writes * circuits, 'server_cpu_s': round(cpu, 3),
            'cpu_us_per_update': round(1e6 * cpu / max(delivered, 1), 2)}


def round_trips(server: Server, seconds: float, kind: str) -> dict:
    context = _context(server)
    pv, = context.get_pvs('B:pv0', timeout=30)
    pv.wait_for_connection(timeout=30)
    cpu_before = server.cpu_seconds()
    started = time.monotonic()
    done = 0
    while time.monotonic() - started < seconds:
        if kind == 'reads':
            pv.read()
            done += 1
        elif kind == 'write_notify':
            pv.write([float(done)], wait=True)
            done += 1
        else:  # pipelined reads: 100 at a time, then wait for the last
            events = []
            for _ in range(100):
                event = threading.Event()
                events.append(event)
                pv.read(wait=False, callback=lambda response, e=event: e.set())
            for event in events:
                event.wait(10)
            done += 100
    elapsed = time.monotonic() - started
    cpu = server.cpu_seconds() - cpu_before
    context.disconnect()
    return {'per_second': round(done / elapsed),
            'cpu_us_per_op': round(1e6 * cpu / max(done, 1), 2)}


def connect_pyepics(server: Server, count: int) -> dict:
    code = textwrap.dedent(f'''
        import time, epics
        names = ['B:pv%d' % i for i in range({count})]
        start = time.monotonic()
        pvs = [epics.PV(name, auto_monitor=False) for name in names]
        ok = all(pv.wait_for_connection(timeout=60) for pv in pvs)
        result = {{'seconds': round(time.monotonic() - start, 3), 'ok': ok}}
    ''')
    return epics.pyepics_run(code, env=server.env, timeout=300)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--seconds', type=float, default=5.0)
    parser.add_argument('--only', default='')
    parser.add_argument('--servers', default=','.join(SERVERS))
    parser.add_argument('--json')
    args = parser.parse_args()
    only = set(filter(None, args.only.split(',')))
    servers = [name for name in args.servers.split(',') if name]
    results: dict = {}
    repeater_port = epics.free_port()
    with epics.Repeater(repeater_port), \
            tempfile.TemporaryDirectory() as folder:
        def run(name, count, measure):
            if only and name not in only:
                return
            for kind in servers:
                server = Server(kind, count, repeater_port, Path(folder))
                try:
                    time.sleep(1.0)
                    results.setdefault(name, {})[kind] = measure(server)
                except Exception as exc:  # noqa: BLE001 - report and go on
                    results.setdefault(name, {})[kind] = {'error': repr(exc)}
                finally:
                    server.close()
                print(name, kind, results[name][kind], flush=True)

        run('fanout_1x50', 1,
            lambda s: fanout(s, 1, 50, 1000.0, args.seconds))
        run('fanout_1000x10', 1000,
            lambda s: fanout(s, 1000, 10, 10.0, args.seconds))
        run('reads', 1, lambda s: round_trips(s, args.seconds, 'reads'))
        run('reads_pipelined', 1,
            lambda s: round_trips(s, args.seconds, 'pipelined'))
        run('write_notify', 1,
            lambda s: round_trips(s, args.seconds, 'write_notify'))

        def memory(kind_count):
            return lambda s: {'rss_kib': s.rss_kib()}
        if not only or 'memory' in only:
            for kind in servers:
                sizes = {}
                for count in (1, 10000):
                    server = Server(kind, count, repeater_port, Path(folder))
                    try:
                        time.sleep(2.0)
                        sizes[count] = server.rss_kib()
                    finally:
                        server.close()
                per_pv = (sizes[10000] - sizes[1]) * 1024 / 9999
                results.setdefault('memory', {})[kind] = {
                    'rss_1_kib': sizes[1], 'rss_10000_kib': sizes[10000],
                    'bytes_per_pv': round(per_pv)}
                print('memory', kind, results['memory'][kind], flush=True)
        run('connect_10000', 10000, lambda s: connect_pyepics(s, 10000))
    print()
    print(f'{"scenario":<18} {"metric":<20} ' +
          ' '.join(f'{kind:>14}' for kind in servers))
    metrics = {'fanout_1x50': 'cpu_us_per_update',
               'fanout_1000x10': 'cpu_us_per_update', 'reads': 'per_second',
               'reads_pipelined': 'per_second', 'write_notify': 'per_second',
               'memory': 'bytes_per_pv', 'connect_10000': 'seconds'}
    for name, metric in metrics.items():
        if name not in results:
            continue
        row = [str(results[name].get(kind, {}).get(metric, 'error'))
               for kind in servers]
        print(f'{name:<18} {metric:<20} ' +
              ' '.join(f'{cell:>14}' for cell in row))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == '__main__':
    main()
