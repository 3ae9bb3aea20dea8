"""The scale scenarios, each run for cawire and pyepics in the same bed.

Every function takes a started :class:`~benchmarks.scale.bed.ScaleBed`
whose client hosts are named after the client kinds ('cawire', 'pyepics'),
and returns plain dicts (JSON-able) per client kind. Nothing here asserts a
timing; the tests assert behaviour, the report shows the numbers.
"""
from __future__ import annotations

import statistics
import time

from .bed import ScaleBed, ioc_prefix

__all__ = ('connect_all', 'reboot_one', 'many_clients', 'name_servers_only',
           'summary')


def _search_difference(before: dict | None, after: dict | None) -> dict:
    if before is None or after is None:  # searches not counted
        return {'datagrams': None, 'bytes': None, 'searches': None,
                'by_prefix': {}}
    prefixes = set(before['by_prefix']) | set(after['by_prefix'])
    return {
        'datagrams': after['datagrams'] - before['datagrams'],
        'bytes': after['bytes'] - before['bytes'],
        'searches': after['searches'] - before['searches'],
        'by_prefix': {prefix: after['by_prefix'].get(prefix, 0)
                      - before['by_prefix'].get(prefix, 0)
                      for prefix in sorted(prefixes)},
    }


def _names(bed: ScaleBed, iocs: int | None = None) -> dict:
    return {'iocs': bed.iocs if iocs is None else iocs, 'per_ioc': bed.per_ioc}


def connect_all(bed: ScaleBed, kinds=('cawire', 'pyepics'), repeats: int = 1,
                *, env_settings: dict | None = None) -> dict:
    """One fresh client process per (repeat, kind) connects every PV of the
    bed; order alternates between repeats. Per run: connect time, memory
    per PV, and the search datagrams/bytes/requests it sent per PV."""
    names = _names(bed)
    count = bed.iocs * bed.per_ioc
    results: dict = {kind: [] for kind in kinds}
    for repeat in range(repeats):
        for kind in (kinds if repeat % 2 == 0 else tuple(reversed(kinds))):
            before = bed.searches(kind)
            client = bed.start_client(kind, kind, names,
                                      env_settings=env_settings)
            try:
                connected = client.expect('connected', bed.timeout + 30)
            finally:
                client.close()
            sent = _search_difference(before, bed.searches(kind))
            run = {'connect_s': connected['connect_s'],
                   'connect_cpu_s': connected['connect_cpu_s'],
                   'mem_per_pv_kib': connected['mem_per_pv_kib']}
            if sent['searches'] is not None:
                run.update(search_datagrams_per_pv=sent['datagrams'] / count,
                           search_bytes_per_pv=sent['bytes'] / count,
                           searches_per_pv=sent['searches'] / count)
            results[kind].append(run)
    return results


def reboot_one(bed: ScaleBed, kinds=('cawire', 'pyepics'), *, ioc: int = 0,
               subscribe: bool = True, offline_s: float = 1.0,
               settle_s: float = 1.0) -> dict:
    """Clients of every kind connect (and monitor) all PVs; one IOC is
    killed (SIGKILL) and restarted ``offline_s`` after every client saw its
    PVs go down. Its restart is a beacon anomaly to the clients.

    Per kind: memory per PV with everything monitored, seconds from the IOC
    accepting connections again to the last of its PVs connected and
    (with ``subscribe``) updated; searches sent for the rebooted IOC's PVs
    (from the counter's per-name trace of searches and replies: how many of
    its names were searched more than once, how many searches left while
    it was down, and how many after a reply for the name had already come
    in, i.e. needless ones) and for every other IOC's (which never went
    away).
    """
    names = _names(bed)
    prefix = ioc_prefix(ioc)
    clients: dict = {}
    results: dict = {}
    try:
        # One after the other, so that neither connects while the other
        # loads the IOCs and the CPU.
        for kind in kinds:
            client = clients[kind] = bed.start_client(kind, kind, names,
                                                      subscribe=subscribe)
            connected = client.expect('connected', bed.timeout + 30)
            results[kind] = {'connect_s': connected['connect_s'],
                             'mem_per_pv_kib': connected['mem_per_pv_kib']}
            if subscribe:
                subscribed = client.expect('subscribed', bed.timeout + 30)
                results[kind].update(
                    subscribe_s=subscribed['subscribe_s'],
                    monitored_mem_per_pv_kib=subscribed['mem_per_pv_kib'])
        time.sleep(settle_s)
        before = {kind: bed.searches(kind) for kind in kinds}
        for kind in kinds:
            bed.watch_searches(kind, prefix)
        for client in clients.values():
            client.send(f'reboot {prefix} {bed.ioc_hosts[ioc].address} '
                        f'{bed.bed.server_port}')
        bed.kill_ioc(ioc)
        for client in clients.values():
            client.expect('down', bed.timeout)
        time.sleep(offline_s)
        restarted_at = {kind: bed.trace_clock(kind) for kind in kinds}
        bed.start_ioc(ioc, wait=False)
        for kind, client in clients.items():
            back = client.expect('back', bed.timeout + 30)
            results[kind].update(back_after_listen_s=back['back_after_listen_s'],
                                 down_to_back_s=back['down_to_back_s'])
        time.sleep(settle_s)
        for kind in kinds:
            sent = _search_difference(before[kind], bed.searches(kind))
            if sent['searches'] is None or not bed.searches_per_client:
                continue  # not counted, or not per client
            rebooted = sent['by_prefix'].get(prefix, 0)
            trace, replies = bed.search_trace(kind) or ({}, {})
            restarted = restarted_at[kind]
            results[kind].update(
                rebooted_pvs=bed.per_ioc,
                searches_for_rebooted=rebooted,
                rebooted_names_searched_again=sum(
                    len(times) > 1 for times in trace.values()),
                searches_while_down=(None if restarted is None else sum(
                    t < restarted for times in trace.values() for t in times)),
                searches_after_a_reply=sum(
                    sum(t > min(replies[name]) for t in times)
                    for name, times in trace.items() if name in replies),
                searches_for_others=sent['searches'] - rebooted,
                search_datagrams=sent['datagrams'])
    finally:
        for client in clients.values():
            client.close()
    return results


def many_clients(bed: ScaleBed, kinds=('cawire', 'pyepics'), *,
                 clients: int = 20, iocs: int = 10) -> dict:
    """``clients`` processes of one kind at a time, all started together,
    each monitoring every PV of the first ``iocs`` IOCs. Per kind: wall time
    until all had every first update, the median/max of each client's
    connect and subscribe times, memory per monitored PV, CPU per client."""
    names = _names(bed, iocs)
    results: dict = {}
    for kind in kinds:
        t0 = time.perf_counter()
        started = [bed.start_client(kind, kind, names, subscribe=True)
                   for _ in range(clients)]
        try:
            connected = [client.expect('connected', bed.timeout + 60)
                         for client in started]
            subscribed = [client.expect('subscribed', bed.timeout + 60)
                          for client in started]
            wall = time.perf_counter() - t0
            stats = []
            for client in started:
                client.send('stats')
                stats.append(client.expect('stats', 30))
        finally:
            for client in started:
                client.close()
        results[kind] = {
            'clients': clients, 'pvs_per_client': iocs * bed.per_ioc,
            'all_monitored_s': wall,
            'connect_s_median': statistics.median(c['connect_s'] for c in connected),
            'connect_s_max': max(c['connect_s'] for c in connected),
            'subscribe_s_median': statistics.median(s['subscribe_s']
                                                    for s in subscribed),
            'mem_per_pv_kib_median': statistics.median(s['mem_per_pv_kib']
                                                       for s in subscribed),
            'cpu_s_per_client_median': statistics.median(s['cpu_s'] for s in stats),
        }
    return results


def name_servers_only(bed: ScaleBed, kinds=('cawire', 'pyepics'),
                      repeats: int = 1) -> dict:
    """:func:`connect_all` with EPICS_CA_AUTO_ADDR_LIST=NO and every IOC
    listed in EPICS_CA_NAME_SERVERS: searches go over TCP to each IOC, and
    no UDP search may leave the client host."""
    servers = ' '.join(host.address for host in bed.ioc_hosts)
    return connect_all(bed, kinds, repeats, env_settings={
        'EPICS_CA_AUTO_ADDR_LIST': 'NO', 'EPICS_CA_ADDR_LIST': '',
        'EPICS_CA_NAME_SERVERS': servers})


def summary(runs: list[dict]) -> dict:
    """Median and range of every numeric field over repeated runs."""
    fields = [key for key, value in runs[0].items()
              if isinstance(value, (int, float)) and value is not None]
    return {key: {'median': statistics.median(run[key] for run in runs),
                  'min': min(run[key] for run in runs),
                  'max': max(run[key] for run in runs)} for key in fields}
