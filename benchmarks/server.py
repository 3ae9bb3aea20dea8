"""Server benchmarks: cawire's server against the C softIoc and caproto's
asyncio server serving the same PVs (plain DOUBLE PVs; ``ao`` records for
softIoc).

Scenarios (all on loopback, every server on its own port):

* ``fanout_1x50``: one PV written at 1 kHz, monitored (DBR_TIME_DOUBLE) by
  50 client circuits; server CPU per delivered update;
* ``fanout_1000x10``: 1,000 PVs written at 10 Hz each, monitored by 10
  client circuits; server CPU per delivered update;
* ``fanout_1x50_100hz``, ``fanout_1000x10_1hz``: the same at a tenth of
  the rate, which caproto's server sustains (at the full rates it falls
  behind and delivers a fraction of the updates: see
  ``delivered_fraction``);
* ``reads``: sequential READ_NOTIFY round trips per second (one client);
* ``reads_pipelined``: READ_NOTIFYs issued without waiting (batches of 100)
  per second;
* ``write_notify``: sequential WRITE_NOTIFY round trips per second;
* ``connect_10000``: seconds for pyepics to connect 10,000 served PVs, and
  how much the server's RSS grew meanwhile;
* ``memory`` (derived): server RSS per served PV, from the RSS of the
  servers above that serve 10,000 PVs and 1 PV, before any client.

The fan-out clients are raw CA circuits (requests built by cawire's core)
that only count the bytes they receive, and the writer sends WRITEs on its
own circuit at the exact rate: every server sees the same offered load and
the clients cost little CPU. Server CPU is the sum of its threads'
schedstat run times. Every scenario runs ``--repeats`` times per server,
interleaved; the table shows medians [min-max] and how many times better
cawire's median is than each peer's.

Run (about 5 minutes with the defaults)::

    PYTHONPATH=<tree> python benchmarks/server.py [--seconds S]
        [--repeats N] [--only name,...] [--servers softIoc,caproto,cawire]
        [--json FILE]

``--servers`` also takes ``cawire@TREE``: cawire's server from another
source tree, to compare two versions in the same run.
"""
from __future__ import annotations

import argparse
import json
import os
import selectors
import socket
import statistics
import struct
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

from cawire.testing import epics

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
    """One server process serving ``count`` PVs named B:pv0.. on loopback.

    ``kind`` is ``softIoc``, ``caproto``, ``cawire``, or ``cawire@TREE``:
    cawire's server imported from another source tree (``PYTHONPATH=TREE``),
    to compare two versions in one interleaved run.
    """

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
            library, _, tree = kind.partition('@')
            if tree:
                env['PYTHONPATH'] = tree
            process = epics._Process(env)
            process._spawn([sys.executable, str(script), library,
                            str(count)])
            epics.wait_for_tcp(port, timeout=120, alive=process.running)
            process.server_port = port  # type: ignore[attr-defined]
            self.process = process
        self.port = self.process.server_port
        self.env = epics.epics_env(self.port, repeater_port)

    def cpu_seconds(self) -> float:
        """CPU time of the server's threads (nanosecond counts from
        schedstat: /proc/<pid>/stat counts 10 ms ticks, too coarse for the
        light scenarios); a thread that ended is no longer counted, so
        measure between points where the server's threads live on."""
        total = 0
        for task in Path(f'/proc/{self.process.pid}/task').iterdir():
            try:
                total += int((task / 'schedstat').read_text().split()[0])
            except (FileNotFoundError, ProcessLookupError):
                pass  # the thread ended meanwhile
        return total / 1e9

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


class _RawCircuit:
    """A minimal CA client circuit for the fan-out scenarios: the core builds
    every request; once set up, the monitoring side only counts the bytes
    that arrive (every message is then a same-sized monitor update), so the
    clients cost little CPU and every server sees the same offered load."""

    def __init__(self, port: int, names: list[str], timeout: float = 30.0):
        from cawire import protocol
        self._protocol = protocol
        self.socket = socket.create_connection(('127.0.0.1', port), timeout)
        self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._buffer = b''
        version = protocol.DEFAULT_PROTOCOL_VERSION
        requests = [protocol.VersionRequest(priority=0, version=version),
                    protocol.HostNameRequest('localhost'),
                    protocol.ClientNameRequest('bench')]
        requests += [protocol.CreateChanRequest(name, cid, version)
                     for cid, name in enumerate(names)]
        self.socket.sendall(b''.join(bytes(r) for r in requests))
        self.sids = [0] * len(names)
        created = 0
        for command in self._commands(timeout):
            if isinstance(command, protocol.CreateChanResponse):
                self.sids[command.cid] = command.sid
                created += 1
                if created == len(names):
                    break

    def _commands(self, timeout: float):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            data = self.socket.recv(1 << 16)
            if not data:
                raise ConnectionError('server closed the circuit')
            self._buffer += data
            commands, consumed, _ = self._protocol.parse_stream(
                self._buffer, self._protocol.Role.CLIENT)
            self._buffer = bytes(self._buffer[consumed:])
            yield from commands
        raise TimeoutError('server did not answer in time')

    def subscribe(self, timeout: float = 30.0) -> int:
        """EVENT_ADD (DBR_TIME_DOUBLE, value and alarm) for every channel;
        waits for the initial updates; returns one update's size in bytes."""
        protocol = self._protocol
        mask = int(protocol.SubscriptionType.DBE_VALUE
                   | protocol.SubscriptionType.DBE_ALARM)
        time_double = int(protocol.ChannelType.TIME_DOUBLE)
        requests = [protocol.EventAddRequest(time_double, 1, sid, index,
                                             0.0, 0.0, 0.0, mask)
                    for index, sid in enumerate(self.sids)]
        self.socket.sendall(b''.join(bytes(r) for r in requests))
        initial = 0
        size = 0
        for command in self._commands(timeout):
            if isinstance(command, protocol.EventAddResponse):
                size = len(bytes(command))
                initial += 1
                if initial == len(self.sids):
                    break
        self.socket.setblocking(False)
        return size

    def write_prefixes(self) -> list[bytes]:
        """The bytes of a DOUBLE WRITE to every channel, but for the last 8
        (the value), so a writer can send any value without the core."""
        protocol = self._protocol
        return [bytes(protocol.WriteRequest([0.0], int(protocol.ChannelType.DOUBLE),
                                            1, sid, index))[:-8]
                for index, sid in enumerate(self.sids)]

    def close(self) -> None:
        self.socket.close()


def fanout(server: Server, pv_count: int, circuits: int, rate: float,
           seconds: float) -> dict:
    """A writer sends every PV a new value ``rate`` times a second;
    ``circuits`` client circuits monitor every PV; server CPU per update
    the clients received."""
    names = [f'B:pv{i}' for i in range(pv_count)]
    monitors = [_RawCircuit(server.port, names) for _ in range(circuits)]
    sizes = {monitor.subscribe() for monitor in monitors}
    update_size, = sizes
    writer = _RawCircuit(server.port, names)
    prefixes = writer.write_prefixes()
    received = [0]
    stop = threading.Event()
    selector = selectors.DefaultSelector()
    for monitor in monitors:
        selector.register(monitor.socket, selectors.EVENT_READ)
    buffer = bytearray(1 << 20)

    def read_all() -> None:
        # Reading in passes a few ms apart keeps the clients cheap (one
        # recv per circuit per pass) without limiting what the server sends:
        # the socket buffers hold far more than a pass's updates.
        while not stop.is_set():
            for key, _ in selector.select(0.1):
                try:
                    received[0] += key.fileobj.recv_into(buffer)
                except BlockingIOError:
                    pass
            time.sleep(0.002)

    reader = threading.Thread(target=read_all, daemon=True)
    reader.start()
    time.sleep(0.5)
    bytes_before = received[0]
    cpu_before = server.cpu_seconds()
    started = time.monotonic()
    period = 1.0 / rate
    tick = 0
    while time.monotonic() - started < seconds:
        tick += 1
        value = struct.pack('>d', float(tick))
        writer.socket.sendall(b''.join(prefix + value for prefix in prefixes))
        delay = started + tick * period - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    time.sleep(0.5)  # let the last updates arrive
    cpu = server.cpu_seconds() - cpu_before
    delivered = (received[0] - bytes_before) // update_size
    stop.set()
    reader.join(5)
    selector.close()
    for circuit in monitors + [writer]:
        circuit.close()
    writes = tick * pv_count
    return {'writes': writes, 'delivered': delivered,
            'expected': writes * circuits,
            'delivered_fraction': round(delivered / (writes * circuits), 3),
            'server_cpu_s': round(cpu, 3),
            'cpu_us_per_update': round(1e6 * cpu / max(delivered, 1), 2)}


def round_trips(server: Server, seconds: float, kind: str) -> dict:
    rss_kib = server.rss_kib()  # one PV served, no client yet: see memory
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
            'cpu_us_per_op': round(1e6 * cpu / max(done, 1), 2),
            'rss_kib': rss_kib}


def connect_pyepics(server: Server, count: int) -> dict:
    code = textwrap.dedent(f'''
        import time, epics
        names = ['B:pv%d' % i for i in range({count})]
        start = time.monotonic()
        pvs = [epics.PV(name, auto_monitor=False) for name in names]
        ok = all(pv.wait_for_connection(timeout=60) for pv in pvs)
        result = {{'seconds': round(time.monotonic() - start, 3), 'ok': ok}}
    ''')
    rss_before = server.rss_kib()  # 10,000 PVs served: see memory
    result = epics.pyepics_run(code, env=server.env, timeout=300)
    result['rss_kib'] = rss_before
    # High-water mark: what serving 10,000 connected channels took (the
    # channels are gone by now, the memory may not be given back).
    result['rss_growth_kib'] = server.rss_kib() - rss_before
    return result


def memory(results: dict, servers: list[str]) -> None:
    """Resident memory per served PV, from the servers the other scenarios
    started: those serving one PV (``reads``... before their client
    connects) and those serving 10,000 (``connect_10000``, before pyepics
    connects); medians of each."""
    for kind in servers:
        small = [run['rss_kib'] for name in ('reads', 'reads_pipelined',
                                             'write_notify')
                 for run in results.get(name, {}).get(kind, [])
                 if 'rss_kib' in run]
        large = [run['rss_kib'] for run in
                 results.get('connect_10000', {}).get(kind, [])
                 if 'rss_kib' in run]
        if small and large:
            per_pv = ((statistics.median(large) - statistics.median(small))
                      * 1024 / 9999)
            results.setdefault('memory', {})[kind] = [{
                'rss_1_kib': statistics.median(small),
                'rss_10000_kib': statistics.median(large),
                'bytes_per_pv': round(per_pv)}]


#: Scenario -> PVs served (0: the scenario starts its own servers).
SCENARIOS = {'fanout_1x50': 1, 'fanout_1000x10': 1000,
             'fanout_1x50_100hz': 1, 'fanout_1000x10_1hz': 1000,
             'reads': 1, 'reads_pipelined': 1, 'write_notify': 1,
             'connect_10000': 10000}
#: Table rows: (scenario, metric, True if lower is better).
METRICS = [('fanout_1x50', 'cpu_us_per_update', True),
           ('fanout_1x50', 'delivered_fraction', False),
           ('fanout_1000x10', 'cpu_us_per_update', True),
           ('fanout_1000x10', 'delivered_fraction', False),
           ('fanout_1x50_100hz', 'cpu_us_per_update', True),
           ('fanout_1000x10_1hz', 'cpu_us_per_update', True),
           ('reads', 'per_second', False),
           ('reads', 'cpu_us_per_op', True),
           ('reads_pipelined', 'per_second', False),
           ('reads_pipelined', 'cpu_us_per_op', True),
           ('write_notify', 'per_second', False),
           ('write_notify', 'cpu_us_per_op', True),
           ('memory', 'bytes_per_pv', True),
           ('connect_10000', 'seconds', True),
           ('connect_10000', 'rss_growth_kib', True)]


def _load() -> str:
    return '/'.join(f'{value:.1f}' for value in os.getloadavg())


def _cell(values: list) -> str:
    if not values:
        return 'error'
    middle = statistics.median(values)
    if len(values) == 1:
        return f'{middle:.4g}'
    return f'{middle:.4g} [{min(values):.4g}-{max(values):.4g}]'


def table(results: dict, servers: list[str]) -> str:
    """Medians [min-max] per server, and how many times better cawire's
    median is than each peer's (> 1: cawire better)."""
    peers = [kind for kind in servers if kind != 'cawire']
    header = (['scenario', 'metric'] + servers
              + ([f'cawire vs {peer}' for peer in peers]
                 if 'cawire' in servers else []))
    lines = ['| ' + ' | '.join(header) + ' |',
             '|' + '---|' * len(header)]
    for name, metric, lower_better in METRICS:
        if name not in results:
            continue
        values = {kind: [run[metric] for run in results[name].get(kind, [])
                         if metric in run]
                  for kind in servers}
        row = [name, metric] + [_cell(values[kind]) for kind in servers]
        if 'cawire' in servers:
            for peer in peers:
                if values['cawire'] and values[peer]:
                    ours = statistics.median(values['cawire'])
                    theirs = statistics.median(values[peer])
                    better, worse = ((theirs, ours) if lower_better
                                     else (ours, theirs))
                    row.append(f'{better / worse:.2f}x' if worse
                               else 'inf')
                else:
                    row.append('-')
        lines.append('| ' + ' | '.join(row) + ' |')
    return '\n'.join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--seconds', type=float, default=2.0,
                        help='measuring time of each timed scenario run')
    parser.add_argument('--repeats', type=int, default=3,
                        help='runs per scenario and server, interleaved')
    parser.add_argument('--only', default='',
                        help='comma-separated scenarios: '
                        + ','.join(SCENARIOS))
    parser.add_argument('--servers', default=','.join(SERVERS))
    parser.add_argument('--json')
    args = parser.parse_args()
    only = set(filter(None, args.only.split(',')))
    servers = [name for name in args.servers.split(',') if name]
    measures = {
        'fanout_1x50': lambda s: fanout(s, 1, 50, 1000.0, args.seconds),
        'fanout_1000x10': lambda s: fanout(s, 1000, 10, 10.0, args.seconds),
        # The same at a tenth of the rate, which caproto's server sustains.
        'fanout_1x50_100hz': lambda s: fanout(s, 1, 50, 100.0, args.seconds),
        'fanout_1000x10_1hz': lambda s: fanout(s, 1000, 10, 1.0,
                                               args.seconds),
        'reads': lambda s: round_trips(s, args.seconds, 'reads'),
        'reads_pipelined': lambda s: round_trips(s, args.seconds,
                                                 'pipelined'),
        'write_notify': lambda s: round_trips(s, args.seconds,
                                              'write_notify'),
        'connect_10000': lambda s: connect_pyepics(s, 10000)}
    results: dict = {}
    errors: list[str] = []
    started = time.monotonic()
    load_start = _load()
    repeater_port = epics.free_port()
    with epics.Repeater(repeater_port), \
            tempfile.TemporaryDirectory() as folder:
        for name, count in SCENARIOS.items():
            if only and name not in only:
                continue
            for repeat in range(args.repeats):
                for kind in servers:
                    try:
                        server = Server(kind, count, repeater_port,
                                        Path(folder))
                        try:
                            time.sleep(0.5)
                            result = measures[name](server)
                        finally:
                            server.close()
                    except Exception as exc:  # noqa: BLE001 - report, go on
                        result = {'error': repr(exc)}
                        errors.append(f'{name} {kind}: {exc!r}')
                    results.setdefault(name, {}).setdefault(
                        kind, []).append(result)
                    print(name, kind, repeat + 1, result, flush=True)
    memory(results, servers)
    elapsed = time.monotonic() - started
    print()
    print(f'{args.repeats} run(s) per scenario and server, interleaved; '
          f'{args.seconds:g} s per timed run; took {elapsed:.0f} s; load '
          f'average (1/5/15 min) {load_start} at the start, {_load()} at '
          f'the end.')
    print(table(results, servers))
    for error in errors:
        print('error:', error)
    if args.json:
        Path(args.json).write_text(json.dumps(
            {'seconds': args.seconds, 'repeats': args.repeats,
             'elapsed_s': round(elapsed), 'load_start': load_start,
             'load_end': _load(), 'results': results}, indent=1))


if __name__ == '__main__':
    main()
