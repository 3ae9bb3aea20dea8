"""The scale test bed: many IOCs on many hosts, clients found them by broadcast.

:class:`ScaleBed` builds a :class:`cawire.testing.netns.NetnsBed` with one
namespace per IOC (``i000``, ``i001``...; softIoc or cawire's server, each on
the default ports 5064/5065 of its own address) and one namespace per client
host (``c-<name>``), each with a caRepeater and a search counter
(:mod:`benchmarks.scale._counter`). Every process runs with no EPICS_CA_*
configuration at all (EPICS defaults: EPICS_CA_AUTO_ADDR_LIST=YES, searches
to the interface broadcast address cawire.config computes) unless a
scenario asks otherwise.

IOC *i* serves ``per_ioc`` PVs ``S<iii>:0000``...; :func:`pv_names` lists
them.
"""
from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from cawire.testing.epics import epics_bin_dir
from cawire.testing.epics import free_port
from cawire.testing.netns import (Host, LoopbackBed, NetnsBed, bed_environ,
                                  remove_stale_namespaces)

from ._client import ioc_prefix, pv_names

__all__ = ('ScaleBed', 'ClientProcess', 'pv_names', 'ioc_prefix',
           'scale_database')

REPO_ROOT = Path(__file__).resolve().parents[2]
IOC_KINDS = ('softioc', 'cawire')


def scale_database(per_ioc: int, scan: str = 'Passive') -> str:
    """softIoc database text: ``per_ioc`` calc records ``$(P)NNNN`` counting
    their own processing, scanned with ``scan``."""
    records = []
    for index in range(per_ioc):
        name = f'$(P){index:04d}'
        records.append(
            f'record(calc, "{name}") {{\n'
            f'  field(SCAN, "{scan}")\n'
            f'  field(INPA, "{name} NPP")\n'
            '  field(CALC, "A+1")\n'
            '}\n')
    return ''.join(records)


def _python_env(**settings: str) -> dict[str, str]:
    env = bed_environ(**settings)
    env['PYTHONPATH'] = os.pathsep.join(
        filter(None, [str(REPO_ROOT), env.get('PYTHONPATH', '')]))
    return env


def loopback_bed(bed) -> bool:
    return isinstance(bed, LoopbackBed)


class ClientProcess:
    """A process speaking the ``@@`` JSON-lines protocol of the scale
    scripts; events are read by a thread so waits are bounded."""

    def __init__(self, process: subprocess.Popen, label: str):
        self.process = process
        self.label = label
        self.events: queue.Queue = queue.Queue()
        self.other_output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            if line.startswith('@@'):
                self.events.put(json.loads(line[2:]))
            else:
                self.other_output.append(line)
        self.events.put({'event': 'exit'})

    def send(self, line: str) -> None:
        self.process.stdin.write(line + '\n')
        self.process.stdin.flush()

    def expect(self, event: str, timeout: float) -> dict:
        """The next event, which must be ``event``.

        Raises
        ------
        RuntimeError
            On another event (an ``error`` carries its message), on exit, or
            after ``timeout`` seconds.
        """
        try:
            received = self.events.get(timeout=timeout)
        except queue.Empty:
            raise RuntimeError(f'{self.label}: no {event!r} within {timeout} s'
                               ) from None
        if received['event'] != event:
            tail = ''.join(self.other_output[-20:])
            raise RuntimeError(f'{self.label}: expected {event!r}, got '
                               f'{received}\n{tail}')
        return received

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                self.send('quit')
                self.process.wait(5)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait(5)


class ScaleBed:
    """IOC and client namespaces on one bridge, with everything started.

    Parameters
    ----------
    iocs, per_ioc : int
        Number of IOC hosts and PVs per IOC.
    client_hosts : sequence of str
        Names of client namespaces (each gets a repeater and a counter).
    ioc_kind : 'softioc' or 'cawire'
        Server every IOC host runs.
    scan : str
        Scan of the softIoc records ('Passive', '1 second', ...).
    timeout : float
        Bound for IOC start-up and every wait.
    loopback : bool
        Use the lighter :class:`~cawire.testing.netns.LoopbackBed` (IOCs on
        127.0.0.2... sharing one free port, unicast search lists; no root
        needed). Search counters need root (a packet socket) and are left
        out without it.
    """

    def __init__(self, iocs: int, per_ioc: int, *,
                 client_hosts=('cawire', 'pyepics'), ioc_kind: str = 'softioc',
                 scan: str = 'Passive', timeout: float = 120.0,
                 loopback: bool = False):
        if ioc_kind not in IOC_KINDS:
            raise ValueError(f'ioc_kind must be one of {IOC_KINDS}')
        self.iocs, self.per_ioc = iocs, per_ioc
        self.ioc_kind = ioc_kind
        self.scan = scan
        self.timeout = timeout
        self.ioc_processes: dict[int, subprocess.Popen] = {}
        self.ioc_hosts: list[Host] = []
        self.client_hosts: dict[str, Host] = {}
        self.counters: dict[str, ClientProcess] = {}
        self.clients: list[ClientProcess] = []
        self._db_file = None
        self.bed: NetnsBed
        if loopback:
            self.bed = LoopbackBed(free_port(), free_port())
            self.count_searches = os.geteuid() == 0
            # Every loopback client sends from 127.0.0.1: a counter sees the
            # searches of all clients running at the time.
            self.searches_per_client = False
        else:
            self.searches_per_client = True
            remove_stale_namespaces()
            self.bed = NetnsBed()
            self.count_searches = True
        try:
            self._build(client_hosts)
        except BaseException:
            self.close()
            raise

    def _build(self, client_hosts) -> None:
        if self.ioc_kind == 'softioc':
            self._db_file = tempfile.NamedTemporaryFile(
                mode='w', prefix='cawire-scale-', suffix='.db')
            self._db_file.write(scale_database(self.per_ioc, self.scan))
            self._db_file.flush()
        for name in client_hosts:
            host = self.bed.add_host(f'c-{name}')
            self.client_hosts[name] = host
            if not (loopback_bed(self.bed) and len(self.client_hosts) > 1):
                # (Loopback hosts share one repeater port: one repeater.)
                host.popen([str(epics_bin_dir() / 'caRepeater')],
                           env=bed_environ(**self.bed.repeater_settings()))
            if not self.count_searches:
                continue
            source = '127.0.0.1' if loopback_bed(self.bed) else host.address
            counter = ClientProcess(host.popen(
                [sys.executable, '-m', 'benchmarks.scale._counter',
                 self.bed.interface, source, str(self.bed.server_port)],
                env=_python_env(), stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                cwd=REPO_ROOT), f'counter {name}')
            counter.expect('ready', self.timeout)
            self.counters[name] = counter
        for index in range(self.iocs):
            self.ioc_hosts.append(self.bed.add_host(f'i{index:03d}'))
        for index in range(self.iocs):
            self.start_ioc(index, wait=False)
        self.wait_listening(range(self.iocs))

    # -- IOCs ----------------------------------------------------------------------------
    def ioc_argv(self, index: int) -> list[str]:
        prefix = ioc_prefix(index)
        if self.ioc_kind == 'softioc':
            return [str(epics_bin_dir() / 'softIoc'), '-S', '-m', f'P={prefix}',
                    '-d', self._db_file.name]
        return [sys.executable, '-m', 'benchmarks.scale._server_ioc', prefix,
                str(self.per_ioc)]

    def start_ioc(self, index: int, wait: bool = True) -> None:
        host = self.ioc_hosts[index]
        self.ioc_processes[index] = host.popen(
            self.ioc_argv(index), env=_python_env(**self.bed.server_settings(host)),
            cwd=REPO_ROOT)
        if wait:
            self.wait_listening([index])

    def kill_ioc(self, index: int) -> None:
        """SIGKILL the IOC (a crash or power cut: no clean disconnect)."""
        process = self.ioc_processes[index]
        process.send_signal(signal.SIGKILL)
        process.wait(10)

    def wait_listening(self, indices) -> float:
        """Wait until every IOC in ``indices`` accepts TCP connections; probed
        from the first client host. Returns the seconds waited."""
        addresses = [self.ioc_hosts[index].address for index in indices]
        probe = ('import sys, socket, time\n'
                 'port = int(sys.argv[2]); pending = set(sys.argv[3:]); deadline = time.monotonic() + '
                 'float(sys.argv[1])\n'
                 'while pending and time.monotonic() < deadline:\n'
                 '    for address in sorted(pending):\n'
                 '        try:\n'
                 '            socket.create_connection((address, port), 0.5).close()\n'
                 '            pending.discard(address)\n'
                 '        except OSError:\n'
                 '            pass\n'
                 '    time.sleep(0.02)\n'
                 'print(" ".join(sorted(pending)))\n')
        host = next(iter(self.client_hosts.values()))
        t0 = time.monotonic()
        completed = host.run([sys.executable, '-c', probe, str(self.timeout),
                              str(self.bed.server_port), *addresses],
                             timeout=self.timeout + 30)
        if completed.stdout.strip() or completed.returncode:
            dead = [index for index in indices
                    if self.ioc_processes[index].poll() is not None]
            detail = ''.join(self.bed.output(self.ioc_processes[index])[-800:]
                             for index in dead[:2])
            raise RuntimeError(f'IOCs not listening: {completed.stdout.strip()} '
                               f'{completed.stderr[-500:]}\n{detail}')
        return time.monotonic() - t0

    # -- clients -------------------------------------------------------------------------
    def start_client(self, host: str, kind: str, names, *,
                     subscribe: bool = False, env_settings=None) -> ClientProcess:
        """Start a scale client (``kind`` 'cawire' or 'pyepics') in the
        client host ``host`` for ``names`` (list, or ``{'iocs': n,
        'per_ioc': m}``)."""
        spec = {'client': kind, 'names': names, 'subscribe': subscribe,
                'timeout': self.timeout}
        process = self.client_hosts[host].popen(
            [sys.executable, '-m', 'benchmarks.scale._client', json.dumps(spec)],
            env=_python_env(**{**self.bed.client_settings(),
                               **(env_settings or {})}),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            cwd=REPO_ROOT)
        client = ClientProcess(process, f'{kind} client in {host}')
        self.clients.append(client)
        return client

    def searches(self, host: str) -> dict | None:
        """The search counter of client host ``host`` now (None when
        searches are not counted: loopback bed without root)."""
        counter = self.counters.get(host)
        if counter is None:
            return None
        counter.send('snap')
        return counter.expect('snap', 30)

    def watch_searches(self, host: str, prefix: str) -> None:
        """Record each search (and reply) of names starting with ``prefix``
        sent from client host ``host`` from now on (see
        :meth:`search_trace`)."""
        counter = self.counters.get(host)
        if counter is not None:
            counter.send(f'watch {prefix}')
            counter.expect('watching', 30)

    def trace_clock(self, host: str) -> float | None:
        """Seconds since :meth:`watch_searches` on the counter of ``host``
        (None: searches not counted)."""
        counter = self.counters.get(host)
        if counter is None:
            return None
        counter.send('clock')
        return counter.expect('clock', 30)['elapsed']

    def search_trace(self, host: str) -> tuple[dict, dict] | None:
        """``{name: [seconds since watch_searches of each search]}`` for
        the watched names, and the same for the replies that came in;
        stops watching (None: searches not counted)."""
        counter = self.counters.get(host)
        if counter is None:
            return None
        counter.send('trace')
        trace = counter.expect('trace', 30)
        return trace['names'], trace['replies']

    def close(self) -> None:
        for client in self.clients:
            try:
                client.close()
            except Exception:  # noqa: BLE001 - the bed kills it anyway
                pass
        self.bed.close()
        if self._db_file is not None:
            self._db_file.close()

    def __enter__(self) -> 'ScaleBed':
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
