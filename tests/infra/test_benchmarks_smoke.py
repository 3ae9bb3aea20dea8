"""Smoke test of the benchmark suite: ``python -m benchmarks.run --quick``.

Runs the real suite end to end (softIoc, caRepeater, feeder, one fresh runner
process per metric and client) with small sizes, and checks that the table
and the JSON come out complete. It asserts no timings: the numbers belong to
the benchmark report, not to the tests. Deselect with ``-m "not slow"``.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CLIENTS = ('cawire', 'caproto', 'pyepics')
PEERS = ('caproto', 'pyepics')

pytestmark = [pytest.mark.slow, pytest.mark.epics, pytest.mark.pyepics,
              pytest.mark.timeout(240)]


#: The quick run is made again (once) when a reference client reports an
#: error: pyepics races its own connection callback against ``PV.__init__``
#: (the callback can run in libca's thread before ``self.chid`` is set, and
#: that PV then never delivers a monitor), which a loaded machine sometimes
#: loses. The second run must still produce every number.
PEER_ATTEMPTS = 2


def _peer_errors(doc: dict) -> list:
    return [(row['label'], peer, row['values'][peer]['errors'])
            for row in doc['rows'] for peer in PEERS
            if row['values'][peer]['errors']]


@pytest.fixture(scope='module')
def quick_run(tmp_path_factory):
    for _ in range(PEER_ATTEMPTS):
        result = _quick_run(tmp_path_factory.mktemp('bench-results'))
        if not _peer_errors(result[2]):
            break
    return result


def _quick_run(out: Path):
    completed = subprocess.run(
        [sys.executable, '-m', 'benchmarks.run', '--quick', '--out', str(out),
         '--clients', ','.join(CLIENTS)],
        cwd=REPO, capture_output=True, text=True, timeout=110,
        stdin=subprocess.DEVNULL)
    assert completed.returncode == 0, completed.stderr[-3000:]
    markdown_files = list(out.glob('*-quick.md'))
    json_files = list(out.glob('*-quick.json'))
    assert len(markdown_files) == 1 and len(json_files) == 1, list(out.iterdir())
    return (completed, markdown_files[0].read_text(),
            json.loads(json_files[0].read_text()))


def test_markdown_table_lists_every_client_and_metric(quick_run):
    completed, markdown, doc = quick_run
    header = next(line for line in markdown.splitlines()
                  if line.startswith('| metric'))
    for client in CLIENTS:
        assert f' {client} ' in header
    assert 'cawire vs caproto' in header and 'cawire vs pyepics' in header
    assert 'loopback ref' in header
    lines = markdown.splitlines()
    start = lines.index(header) + 2  # skip the |---| line
    table_rows = []
    for line in lines[start:]:
        if not line.startswith('| '):
            break
        table_rows.append(line)
    assert len(table_rows) == len(doc['rows'])
    for row in table_rows:
        assert row.count('|') == header.count('|')
    labels = ' '.join(row['label'] for row in doc['rows'])
    for words in ('connect', 'memory per PV', 'blocking read', 'bulk read',
                  'write-notify', 'array read', 'fraction of posted',
                  'lag at end', 'memory growth', 'CPU per update'):
        assert words in labels
    # cawire's medians are set against issue 5's targets (in the quick run
    # only the rows it has: write-notify, CPU per update...).
    assert '| target (issue 5) |' in markdown
    # The table goes to stdout too, for the README command.
    assert '| metric' in completed.stdout


def test_reference_clients_produce_every_number(quick_run):
    _, _, doc = quick_run
    for row in doc['rows']:
        for peer in PEERS:
            entry = row['values'][peer]
            assert entry['errors'] == [], (row['label'], peer, entry['errors'])
            assert entry['median'] is not None, (row['label'], peer)


def test_cawire_cells_are_numbers_or_reported_errors(quick_run):
    _, markdown, doc = quick_run
    for row in doc['rows']:
        entry = row['values']['cawire']
        # Either a measured number or an error with its reason in the notes:
        # the table never shows an empty or invented cell.
        assert entry['median'] is not None or entry['errors'], row['label']
        for error in entry['errors']:
            assert error.split(': ', 1)[-1][:40] in markdown


def test_monitor_fraction_comes_from_the_ioc_counters(quick_run):
    _, _, doc = quick_run
    monitor_runs = [run for run in doc['runs']
                    if run['job'].startswith(('monitor-', 'cpu-'))
                    and run['result'] is not None]
    assert monitor_runs
    for run in monitor_runs:
        result = run['result']
        # posted_per_s is read from the IOC with caget, not from the client.
        assert result['posted_per_s'] > 0
        assert result['fraction_of_posted'] == pytest.approx(
            result['delivered_per_s'] / result['posted_per_s'])


def test_array_rows_carry_the_loopback_reference(quick_run):
    _, _, doc = quick_run
    array_rows = [row for row in doc['rows'] if row['label'].startswith('array')]
    assert array_rows
    for row in array_rows:
        assert row['values']['loopback']['median'] > 0
