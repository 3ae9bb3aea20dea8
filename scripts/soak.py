#!/usr/bin/env python3
"""Soak test (outside CI): N cawire clients x M PVs for T minutes against
the C softIoc, on loopback.

Every PV is a calc record counting up by one per scan, so each update
carries its own sequence number: "sent" is known exactly per subscription
(last - first + 1 per run of increasing values; an IOC restart starts a new
run) and "lost" = sent - received.  Every ``--report-every`` seconds one
line reports updates received, the RSS of this process (all clients) and
of the softIoc, and the errors seen (uncaught exceptions in any thread,
WARNING+ log records of ``cawire``).  Optionally the IOC is killed
(SIGKILL) and restarted every ``--restart-every`` seconds, to soak the
reconnect path too; reconnect times are reported.

Examples::

    .venv/bin/python scripts/soak.py --clients 4 --pvs 200 --minutes 10
    .venv/bin/python scripts/soak.py --clients 2 --pvs 50 --minutes 5 \\
        --scan .1 --restart-every 60 --json soak.json

Everything runs on 127.0.0.1 with fresh ports (its own caRepeater and
softIoc) and is stopped at the end, also on Ctrl-C.
"""
from __future__ import annotations

import argparse
import collections
import json
import logging
import signal
import sys
import threading
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cawire.config import Config  # noqa: E402
from cawire.testing import epics  # noqa: E402
from cawire.threading.client import Context, SharedBroadcaster  # noqa: E402

SCANS = ('10', '5', '2', '1', '.5', '.2', '.1')


class SubscriptionStats:
    """Received updates of one subscription, split into runs of increasing
    counter values (a restarted IOC starts counting again)."""

    # Callbacks are held weakly by the subscription: allow weak references.
    __slots__ = ('runs', 'received', 'out_of_order', 'last', '__weakref__')

    def __init__(self):
        self.runs: list[list[float]] = []  # [first, last] per run
        self.received = 0
        self.out_of_order = 0
        self.last = None

    def __call__(self, sub, response):
        value = float(response.data[0])
        self.received += 1
        if self.last is None or value < self.last - 1 or value == 0:
            self.runs.append([value, value])
        elif value <= self.last:
            self.out_of_order += 1
        else:
            self.runs[-1][1] = value
        self.last = value

    @property
    def sent(self) -> int:
        return int(sum(last - first + 1 for first, last in self.runs))


class ErrorCounter(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.by_message = collections.Counter()

    def emit(self, record):
        self.by_message[f'{record.name}: {record.getMessage()[:100]}'] += 1


def database(count: int, scan: str) -> str:
    return ''.join(
        f'record(calc, "SOAK:c{i}") {{\n  field(SCAN, "{scan} second")\n'
        f'  field(CALC, "VAL+1")\n}}\n' for i in range(count))


def rss_mb(pid=None) -> float:
    return psutil.Process(pid).memory_info().rss / 2 ** 20


def run(args) -> dict:
    server_port, repeater_port = epics.free_port(), epics.free_port()
    errors = ErrorCounter()
    logging.getLogger('cawire').addHandler(errors)
    thread_errors: list[str] = []
    threading.excepthook = lambda a: thread_errors.append(
        f'{a.thread.name}: {a.exc_type.__name__}: {a.exc_value}')
    config = Config.from_environ({
        **epics.epics_settings(server_port, repeater_port),
        'EPICS_CA_CONN_TMO': str(args.conn_tmo)})
    names = [f'SOAK:c{i}' for i in range(args.pvs)]
    samples = []
    reconnects = []
    with epics.applied_environ(epics.epics_settings(server_port,
                                                    repeater_port)), \
            epics.Repeater(repeater_port), \
            epics.SoftIoc(database(args.pvs, args.scan), server_port,
                          repeater_port) as ioc:
        contexts, stats, subs, pvs_of = [], [], [], []
        started = time.monotonic()
        for _ in range(args.clients):
            ctx = Context(SharedBroadcaster(config=config), timeout=10)
            pvs = ctx.get_pvs(*names)
            for pv in pvs:
                pv.wait_for_connection(timeout=30)
            client_stats = []
            for pv in pvs:
                recorder = SubscriptionStats()
                sub = pv.subscribe()
                sub.add_callback(recorder)
                client_stats.append(recorder)
                subs.append(sub)
            contexts.append(ctx)
            stats.append(client_stats)
            pvs_of.append(pvs)
        connect_time = time.monotonic() - started
        print(f'{args.clients} clients x {args.pvs} PVs connected in '
              f'{connect_time:.1f} s; soaking for {args.minutes} min '
              f'(scan {args.scan} s)', flush=True)
        deadline = time.monotonic() + args.minutes * 60
        next_report = time.monotonic() + args.report_every
        next_restart = (time.monotonic() + args.restart_every
                        if args.restart_every else None)
        try:
            while time.monotonic() < deadline:
                time.sleep(0.2)
                now = time.monotonic()
                if next_restart is not None and now >= next_restart:
                    ioc.kill(signal.SIGKILL)
                    ioc.stop()
                    ioc.start()
                    restarted = time.monotonic()
                    limit = restarted + 60
                    while time.monotonic() < limit and not all(
                            pv.connected for pvs in pvs_of for pv in pvs):
                        time.sleep(0.05)
                    reconnects.append(time.monotonic() - restarted)
                    print(f'  IOC killed and restarted: all PVs back in '
                          f'{reconnects[-1]:.2f} s', flush=True)
                    next_restart = time.monotonic() + args.restart_every
                if now >= next_report:
                    received = sum(s.received for c in stats for s in c)
                    sample = {
                        't': round(now - started, 1), 'received': received,
                        'client_rss_mb': round(rss_mb(), 1),
                        'ioc_rss_mb': round(rss_mb(ioc.pid), 1),
                        'errors': sum(errors.by_message.values()),
                        'thread_errors': len(thread_errors)}
                    samples.append(sample)
                    print('  ' + json.dumps(sample), flush=True)
                    next_report = now + args.report_every
        except KeyboardInterrupt:
            print('interrupted; summarising', flush=True)
        finally:
            flow = collections.Counter()
            for ctx in contexts:
                for cm in list(ctx.circuit_managers.values()):
                    flow['events_off_sent'] += cm.events_off_sent
                    flow['coalesced_updates'] += cm.coalesced_updates
                    flow['dropped_updates'] += cm.dropped_updates
            flow['circuits_at_end'] = sum(len(ctx.circuit_managers)
                                          for ctx in contexts)
            for ctx in contexts:
                ctx.disconnect()
    sent = sum(s.sent for c in stats for s in c)
    received = sum(s.received for c in stats for s in c)
    summary = {
        'clients': args.clients, 'pvs': args.pvs, 'minutes': args.minutes,
        'scan_s': float(args.scan), 'connect_s': round(connect_time, 2),
        'updates_sent': sent, 'updates_received': received,
        'updates_lost': sent - received,
        'out_of_order': sum(s.out_of_order for c in stats for s in c),
        # Flow control of the circuits alive at the end: while EVENTS_OFF is
        # in force the server keeps only the latest value per subscription,
        # so "lost" updates under load are suppressed on request.
        **flow,
        'client_rss_mb_first': samples[0]['client_rss_mb'] if samples else None,
        'client_rss_mb_last': samples[-1]['client_rss_mb'] if samples else None,
        'client_rss_mb_peak': max((s['client_rss_mb'] for s in samples),
                                  default=None),
        'reconnect_s': [round(r, 2) for r in reconnects],
        'thread_errors': thread_errors[:20],
        'log_warnings': dict(errors.by_message.most_common(20)),
        'samples': samples,
    }
    return summary


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--clients', type=int, default=4)
    parser.add_argument('--pvs', type=int, default=100)
    parser.add_argument('--minutes', type=float, default=1.0)
    parser.add_argument('--scan', choices=SCANS, default='.1',
                        help='record scan period in seconds')
    parser.add_argument('--report-every', type=float, default=10.0)
    parser.add_argument('--restart-every', type=float, default=0.0,
                        help='SIGKILL + restart the IOC every N s (0: never)')
    parser.add_argument('--conn-tmo', type=float, default=30.0)
    parser.add_argument('--json', help='write the summary here')
    args = parser.parse_args(argv)
    summary = run(args)
    printable = {k: v for k, v in summary.items() if k != 'samples'}
    print(json.dumps(printable, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2))
    # Exit status: non-zero if updates were lost without flow control,
    # arrived out of order, or a thread died (updates during an IOC outage
    # are never produced, so never counted as sent).
    bad = ((summary['updates_lost'] > 0 and not summary['events_off_sent'])
           or summary['out_of_order'] or summary['thread_errors'])
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
