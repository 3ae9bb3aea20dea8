"""``python -m benchmarks.scale``: the facility-scale benchmark, one command.

Builds a bed of ``--iocs`` IOC hosts (network namespaces, softIoc by
default) with ``--per-ioc`` PVs each, plus one client host per client kind,
runs the scenarios for cawire and pyepics in the same run and writes
``<out>/scale-<date>-<time>.{md,json}``. Needs root. See
benchmarks/README.md ("Scale") for the topology.
"""
from __future__ import annotations

import argparse
import datetime
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

from cawire.testing.netns import unavailable_reason

from . import scenarios
from .bed import REPO_ROOT, ScaleBed

SCENARIOS = ('connect', 'reboot', 'clients', 'nameservers')
KINDS = ('cawire', 'pyepics')


def _parse(argv):
    parser = argparse.ArgumentParser(prog='python -m benchmarks.scale',
                                     description=__doc__.split('\n')[0])
    parser.add_argument('--iocs', type=int, default=100)
    parser.add_argument('--per-ioc', type=int, default=1000)
    parser.add_argument('--ioc', choices=('softioc', 'cawire'), default='softioc',
                        help='server every IOC host runs')
    parser.add_argument('--repeats', type=int, default=3,
                        help='repeats of the connect scenarios (medians)')
    parser.add_argument('--only', default=','.join(SCENARIOS),
                        help=f'comma-separated subset of {",".join(SCENARIOS)}')
    parser.add_argument('--clients', type=int, default=20,
                        help='client processes of the many-clients scenario')
    parser.add_argument('--client-iocs', type=int, default=10,
                        help='IOCs each of those clients monitors all PVs of')
    parser.add_argument('--timeout', type=float, default=180.0)
    parser.add_argument('--loopback', action='store_true',
                        help='lighter bed: IOCs on 127.0.0.2... sharing one '
                             'port, unicast search lists (no root needed; '
                             'search counts need root)')
    parser.add_argument('--out', type=Path, default=REPO_ROOT / 'benchmarks'
                        / 'results')
    args = parser.parse_args(argv)
    args.only = [name for name in args.only.split(',') if name]
    unknown = set(args.only) - set(SCENARIOS)
    if unknown:
        parser.error(f'unknown scenarios: {sorted(unknown)}')
    return args


def _cell(value, digits=3):
    if value is None:
        return '-'
    if isinstance(value, float):
        return f'{value:.{digits}g}'
    return str(value)


def _ratio(cawire, pyepics):
    if not cawire or not pyepics:
        return '-'
    return f'{cawire / pyepics:.2f}x'


def _repeated_table(title: str, results: dict) -> list[str]:
    summaries = {kind: scenarios.summary(runs) for kind, runs in results.items()}
    fields = list(summaries['cawire'])
    lines = [f'### {title}', '',
             '| metric | cawire median [min-max] | pyepics median [min-max] '
             '| cawire / pyepics |', '|---|---|---|---|']
    for field in fields:
        cells = []
        for kind in KINDS:
            stat = summaries[kind][field]
            cells.append(f'{_cell(stat["median"])} [{_cell(stat["min"])}-'
                         f'{_cell(stat["max"])}]')
        lines.append(f'| {field} | {cells[0]} | {cells[1]} | '
                     f'{_ratio(summaries["cawire"][field]["median"], summaries["pyepics"][field]["median"])} |')
    return lines + ['']


def _single_table(title: str, results: dict) -> list[str]:
    fields = list(results['cawire'])
    lines = [f'### {title}', '', '| metric | cawire | pyepics | cawire / pyepics |',
             '|---|---|---|---|']
    for field in fields:
        cawire, pyepics = results['cawire'].get(field), results['pyepics'].get(field)
        ratio = (_ratio(cawire, pyepics) if isinstance(cawire, float) else '-')
        lines.append(f'| {field} | {_cell(cawire)} | {_cell(pyepics)} | {ratio} |')
    return lines + ['']


def _revision() -> str:
    completed = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'],
                               cwd=REPO_ROOT, capture_output=True, text=True)
    return completed.stdout.strip() or 'unknown'


def main(argv=None) -> int:
    args = _parse(argv)
    reason = None if args.loopback else unavailable_reason()
    if reason is not None:
        print(f'benchmarks.scale needs network namespaces: {reason}',
              file=sys.stderr)
        return 2
    started = datetime.datetime.now(datetime.timezone.utc)
    report: dict = {'started': started.isoformat(), 'revision': _revision(),
                    'machine': platform.platform(), 'args': {
                        key: (str(value) if isinstance(value, Path) else value)
                        for key, value in vars(args).items()}}
    total = args.iocs * args.per_ioc
    t0 = time.monotonic()
    print(f'building the bed: {args.iocs} {args.ioc} IOC hosts x '
          f'{args.per_ioc} PVs ...', flush=True)
    with ScaleBed(args.iocs, args.per_ioc, client_hosts=KINDS,
                  ioc_kind=args.ioc, timeout=args.timeout,
                  loopback=args.loopback) as bed:
        report['bed_build_s'] = time.monotonic() - t0
        print(f'bed up in {report["bed_build_s"]:.1f} s', flush=True)
        if 'connect' in args.only:
            report['connect'] = scenarios.connect_all(bed, KINDS, args.repeats)
            print('connect done', flush=True)
        if 'reboot' in args.only:
            report['reboot'] = scenarios.reboot_one(bed, KINDS, ioc=args.iocs // 2)
            print('reboot done', flush=True)
        if 'nameservers' in args.only:
            report['nameservers'] = scenarios.name_servers_only(
                bed, KINDS, args.repeats)
            print('name servers done', flush=True)
        if 'clients' in args.only:
            report['clients'] = scenarios.many_clients(
                bed, KINDS, clients=args.clients,
                iocs=min(args.client_iocs, args.iocs))
            print('many clients done', flush=True)
    report['elapsed_s'] = time.monotonic() - t0
    lines = [f'## Scale run {started:%Y-%m-%d %H:%M} UTC (cawire {report["revision"]})',
             '', f'{args.iocs} {args.ioc} IOCs x {args.per_ioc} PVs = {total:,} '
             f'PVs, ' + (
                 'each IOC on its own loopback address (127.0.0.x), all on one '
                 'port; clients search the list of addresses (unicast). '
                 if args.loopback else
                 'each IOC in its own network namespace on 5064/5065; '
                 'clients find them by broadcast (EPICS_CA_AUTO_ADDR_LIST=YES). ')
             + f'Run took {report["elapsed_s"]:.0f} s.', '']
    if 'connect' in report:
        lines += _repeated_table(f'Connect all {total:,} PVs '
                                 f'({args.repeats} runs each)', report['connect'])
    if 'reboot' in report:
        lines += _single_table(f'One IOC of {args.iocs} rebooted '
                               '(all PVs monitored)', report['reboot'])
    if 'nameservers' in report:
        lines += _repeated_table('Name servers only (EPICS_CA_AUTO_ADDR_LIST=NO, '
                                 'every IOC in EPICS_CA_NAME_SERVERS)',
                                 report['nameservers'])
    if 'clients' in report:
        lines += _single_table(f'{args.clients} clients x '
                               f'{report["clients"]["cawire"]["pvs_per_client"]:,}'
                               ' monitored PVs each', report['clients'])
    markdown = '\n'.join(lines)
    print(markdown)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f'scale-{started:%Y%m%d-%H%M%S}'
    stem.with_suffix('.md').write_text(markdown + '\n')
    stem.with_suffix('.json').write_text(json.dumps(report, indent=1))
    print(f'written: {stem}.md, {stem}.json')
    return 0


if __name__ == '__main__':
    sys.exit(main())
