"""One scale-test client: connects (and optionally monitors) many PVs.

Started by :mod:`benchmarks.scale` inside a client namespace as
``python -m benchmarks.scale._client '<json spec>'``; talks JSON lines:
every event it prints starts with ``@@`` and it obeys commands on stdin:

* ``reboot <prefix> <address> [<port>]``: watch the PVs whose names start
  with ``prefix`` go down and come back; a thread probes TCP
  ``address:port`` (5064 by default) to
  time when the IOC listens again. Prints ``down`` then ``back`` with
  ``back_after_listen_s`` (last PV connected, and resubscribed when
  monitoring, minus the first accepted probe connection).
* ``stats``: CPU time and RSS now.
* ``quit``.

The spec: ``client`` ('cawire' or 'pyepics'), ``names`` (list of PV names
or ``{"iocs": N, "per_ioc": M}``), ``subscribe`` (bool), ``timeout``.
pyepics uses its fastest documented way (create_channel without connect
callbacks and the poll loop of caget_many), as benchmarks/clients do.
"""
from __future__ import annotations

import gc
import json
import os
import socket
import sys
import threading
import time

PAGE_SIZE = os.sysconf('SC_PAGE_SIZE')
POLL_INTERVAL = 0.002


def pv_names(iocs: int, per_ioc: int, first_ioc: int = 0) -> list[str]:
    """The names the scale IOCs serve: ``S<ioc>:<n>``."""
    return [f'{ioc_prefix(ioc)}{index:04d}'
            for ioc in range(first_ioc, first_ioc + iocs)
            for index in range(per_ioc)]


def ioc_prefix(ioc: int) -> str:
    return f'S{ioc:03d}:'


def rss_bytes() -> int:
    with open('/proc/self/statm') as statm:
        return int(statm.read().split()[1]) * PAGE_SIZE


def emit(event: str, **fields) -> None:
    print('@@' + json.dumps({'event': event, **fields}), flush=True)


def wait_until(predicate, timeout: float, step=None) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        if step is not None:
            step()
        else:
            time.sleep(POLL_INTERVAL)
    return True


class ListenProbe(threading.Thread):
    """Connects to address:port every few ms until accepted; records when."""

    def __init__(self, address: str, port: int, timeout: float):
        super().__init__(daemon=True)
        self.address = address
        self.port = port
        self.timeout = timeout
        self.accepted_at: float | None = None

    def run(self) -> None:
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((self.address, self.port),
                                              timeout=0.5) as probe:
                    accepted_at = time.monotonic()
                    # A killed IOC's listening socket can still accept for
                    # an instant after its circuits closed; the kernel then
                    # resets the connection.  A live CA server sends
                    # nothing until the client speaks.
                    probe.settimeout(0.05)
                    try:
                        if probe.recv(1) == b'':
                            raise ConnectionResetError
                    except socket.timeout:
                        self.accepted_at = accepted_at
                        return
            except OSError:
                time.sleep(0.005)


class CawireClient:
    def __init__(self, timeout: float):
        from cawire.threading.client import Context
        self.context = Context(timeout=timeout)
        self.pvs: dict = {}
        self.last_update: dict[str, float] = {}
        self.updates = 0

    def connect(self, names: list[str], timeout: float) -> None:
        pvs = self.context.get_pvs(*names, timeout=timeout)
        deadline = time.monotonic() + timeout
        for pv in pvs:
            pv.wait_for_connection(timeout=max(0.001, deadline - time.monotonic()))
        self.pvs = dict(zip(names, pvs))

    def subscribe(self) -> None:
        stamps = self.last_update

        # One callback for every PV, as the pyepics client has: the PV's
        # name comes with the subscription.
        def callback(sub, response):
            stamps[sub.pv.name] = time.monotonic()
            self.updates += 1
        # Subscriptions hold their callbacks weakly (as caproto's do).
        self._callback = callback
        for pv in self.pvs.values():
            pv.subscribe().add_callback(callback)

    def connected(self, name: str) -> bool:
        return self.pvs[name].connected

    def step(self) -> None:
        time.sleep(POLL_INTERVAL)


class PyepicsClient:
    def __init__(self, timeout: float):
        import epics.ca
        from epics import dbr
        epics.ca.initialize_libca()
        self.ca = epics.ca
        self.connected_state = dbr.CS_CONN
        self.chids: dict = {}
        self.last_update: dict[str, float] = {}
        self.updates = 0
        self._keep = []

    def connect(self, names: list[str], timeout: float) -> None:
        ca = self.ca
        chids = {name: ca.create_channel(name, connect=False, auto_cb=False)
                 for name in names}
        state, connected = ca.state, self.connected_state
        values = list(chids.values())
        if not wait_until(lambda: all(state(chid) == connected for chid in values),
                          timeout, step=ca.poll):
            missing = sum(state(chid) != connected for chid in values)
            raise TimeoutError(f'{missing} of {len(names)} not connected')
        self.chids = chids

    def subscribe(self) -> None:
        stamps = self.last_update

        def callback(pvname=None, **kwargs):
            stamps[pvname] = time.monotonic()
            self.updates += 1
        for chid in self.chids.values():
            self._keep.append(self.ca.create_subscription(chid, callback=callback))

    def connected(self, name: str) -> bool:
        return self.ca.state(self.chids[name]) == self.connected_state

    def step(self) -> None:
        self.ca.poll()
        time.sleep(POLL_INTERVAL)


def cpu_and_rss() -> dict:
    return {'cpu_s': time.process_time(), 'rss_mib': rss_bytes() / 2**20}


def watch_reboot(client, names: list[str], address: str, port: int,
                 subscribed: bool, timeout: float) -> None:
    probe = ListenProbe(address, port, timeout)
    if not wait_until(lambda: not any(client.connected(n) for n in names),
                      timeout, client.step):
        emit('error', message='PVs of the rebooted IOC never disconnected')
        return
    down_at = time.monotonic()
    emit('down')
    probe.start()

    def back() -> bool:
        if not all(client.connected(n) for n in names):
            return False
        return not subscribed or all(client.last_update.get(n, 0) > down_at
                                     for n in names)
    if not wait_until(back, timeout, client.step):
        missing = sum(not client.connected(n) for n in names)
        emit('error', message=f'{missing} of {len(names)} PVs not back '
                              f'after {timeout} s')
        return
    back_at = time.monotonic()
    probe.join(1.0)
    emit('back', down_to_back_s=back_at - down_at,
         back_after_listen_s=(None if probe.accepted_at is None
                              else back_at - probe.accepted_at))


def main() -> None:
    spec = json.loads(sys.argv[1])
    if spec.get('trace_logs'):
        # Debugging aid: cawire's search and beacon decisions, stamped with
        # the monotonic clock, go to the harness as ordinary output lines.
        import logging
        logging.basicConfig(stream=sys.stdout, level=logging.WARNING,
                            format='%(relativeCreated).1f %(name)s %(message)s')
        for name in spec['trace_logs']:
            logging.getLogger(name).setLevel(logging.DEBUG)
    timeout = spec.get('timeout', 60.0)
    names = spec['names']
    if isinstance(names, dict):
        names = pv_names(**names)
    client = (CawireClient if spec['client'] == 'cawire' else PyepicsClient)(timeout)
    gc.collect()
    rss0 = rss_bytes()
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    client.connect(names, timeout)
    elapsed = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    gc.collect()
    emit('connected', connect_s=elapsed, connect_cpu_s=cpu, count=len(names),
         mem_per_pv_kib=(rss_bytes() - rss0) / len(names) / 1024)
    subscribed = bool(spec.get('subscribe'))
    if subscribed:
        t0 = time.perf_counter()
        client.subscribe()
        if not wait_until(lambda: len(client.last_update) == len(names),
                          timeout, client.step):
            emit('error', message=f'{len(names) - len(client.last_update)} '
                                  'subscriptions without a first update')
        else:
            gc.collect()
            emit('subscribed', subscribe_s=time.perf_counter() - t0,
                 mem_per_pv_kib=(rss_bytes() - rss0) / len(names) / 1024)
    for line in sys.stdin:
        command, *args = line.split()
        if command == 'reboot':
            prefix, address, *port = args
            watch_reboot(client, [n for n in names if n.startswith(prefix)],
                         address, int(port[0]) if port else 5064, subscribed,
                         timeout)
        elif command == 'stats':
            emit('stats', updates=getattr(client, 'updates', 0), **cpu_and_rss())
        elif command == 'quit':
            break
    emit('bye')
    sys.stdout.flush()
    os._exit(0)


if __name__ == '__main__':
    try:
        main()
    except Exception as exc:  # reported to the harness, which fails the run
        emit('error', message=f'{type(exc).__name__}: {exc}')
        sys.stdout.flush()
        os._exit(1)
