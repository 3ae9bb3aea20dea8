"""The scale bed reduced for CI: 10 softIocs x 1,000 PVs on 10 hosts.

One cawire and one pyepics client (each in its own client namespace, with
no EPICS configuration: broadcast discovery) connect all 10,000 PVs; one
IOC is killed and restarted. Asserted: everything connects and comes back
(bounded waits), every PV was searched, no search goes out for the PVs of
the nine IOCs that never went away, and cawire searches for each of the
rebooted IOC's names once, after it is back (none while it is down).
Timings are printed for the record, not asserted (the benchmark,
``python -m benchmarks.scale``, reports them).
"""
from __future__ import annotations

import pytest

from benchmarks.scale import scenarios
from benchmarks.scale.bed import ScaleBed

pytestmark = [pytest.mark.epics, pytest.mark.pyepics, pytest.mark.slow,
              pytest.mark.usefixtures('netns_available'), pytest.mark.timeout(120)]

IOCS, PER_IOC = 10, 1000
KINDS = ('cawire', 'pyepics')


@pytest.fixture(scope='module')
def bed(netns_available):
    with ScaleBed(IOCS, PER_IOC, client_hosts=KINDS, timeout=40) as made:
        yield made


def test_every_pv_of_ten_hosts_connects_by_broadcast(bed):
    results = scenarios.connect_all(bed, KINDS)
    print(results)
    for kind in KINDS:
        run, = results[kind]
        # Every PV was searched for, by broadcast, at least once.
        assert run['searches_per_pv'] >= 1.0
        assert run['search_datagrams_per_pv'] > 0


def test_reboot_of_one_ioc_searches_only_for_its_pvs(bed):
    results = scenarios.reboot_one(bed, KINDS, ioc=3, offline_s=0.5,
                                   settle_s=0.5)
    print(results)
    cawire = results['cawire']
    assert cawire['searches_for_others'] == 0
    # Its names wait for its beacon anomaly (not the governor's tick, not
    # other servers' anomalies), and no name is searched again once a reply
    # for it came in (every reply is read before the search timers judge a
    # pass): issue 13 measured 1.6-3.2 searches per name.  A name is
    # searched until found, so when the restarted IOC answers its first
    # searches late (in 4 of 39 reduced reboots it sent beacons ~0.2 s
    # before it answered a search), its names go out again: that count is printed.
    assert cawire['searches_while_down'] == 0
    assert cawire['searches_after_a_reply'] == 0
    assert cawire['searches_for_rebooted'] >= PER_IOC
    assert cawire['back_after_listen_s'] is not None
    # pyepics is the reference run beside it: its PVs came back too.
    assert results['pyepics']['back_after_listen_s'] is not None
