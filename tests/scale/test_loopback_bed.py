"""The lighter bed: IOCs on 127.0.0.2... sharing one port, no root needed.

Several softIocs listen on the same port, each on its own loopback address
(EPICS_CAS_INTF_ADDR_LIST); the clients search the list of addresses
(loopback has no broadcast). cawire and pyepics must each find every PV on
the right IOC, and a rebooted IOC's PVs come back.
"""
from __future__ import annotations

import pytest

from benchmarks.scale import scenarios
from benchmarks.scale.bed import ScaleBed

pytestmark = [pytest.mark.epics, pytest.mark.pyepics, pytest.mark.timeout(120)]

KINDS = ('cawire', 'pyepics')


@pytest.fixture(scope='module')
def bed():
    with ScaleBed(4, 200, client_hosts=KINDS, timeout=40, loopback=True) as made:
        yield made


def test_servers_share_one_port_on_their_own_addresses(bed):
    addresses = [host.address for host in bed.ioc_hosts]
    assert len(set(addresses)) == 4
    assert all(address.startswith('127.') and address != '127.0.0.1'
               for address in addresses)
    settings = bed.bed.client_settings()
    assert settings['EPICS_CA_AUTO_ADDR_LIST'] == 'NO'
    assert settings['EPICS_CA_ADDR_LIST'].split() == addresses


def test_every_pv_connects_for_both_clients(bed):
    results = scenarios.connect_all(bed, KINDS)
    for kind in KINDS:
        run, = results[kind]
        assert run['connect_s'] > 0


def test_rebooted_ioc_comes_back_for_both_clients(bed):
    results = scenarios.reboot_one(bed, KINDS, ioc=1, offline_s=0.3,
                                   settle_s=0.2)
    for kind in KINDS:
        assert results[kind]['down_to_back_s'] is not None
