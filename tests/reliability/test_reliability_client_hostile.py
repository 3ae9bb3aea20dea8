"""The threading client against hostile peers: a fake server speaking
malformed, lying, truncated or silent Channel Access, and floods of forged
beacons or garbage datagrams on its UDP port.  The client must close the
offending circuit with a logged reason (or time out cleanly), keep memory
bounded, never storm, and leave its other circuits alone.
"""
import gc
import json
import logging
import random
import socket
import struct
import subprocess
import sys
import textwrap
import time

import pytest

from cawire.protocol._exceptions import (CaprotoTimeoutError, DisconnectedError,
                                ErrorResponseReceived)
from cawire.testing import epics
from cawire.testing.faults import ATTACKS, FaultProxy, HostileServer
from cawire.testing.reliability import (MB, Recorder, make_context, rss,
                                        wait_until)
# The fixture, imported so pytest finds it here.
from cawire.testing.reliability import thread_errors  # noqa: F401

pytestmark = pytest.mark.epics


# -- hostile UDP traffic ---------------------------------------------------------------

def _spray(port, datagrams, pause_every=200):
    """Send datagrams to 127.0.0.1:port, pausing briefly now and then so
    the kernel's receive queue does not simply drop most of them."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for index, datagram in enumerate(datagrams):
            sock.sendto(datagram, ('127.0.0.1', port))
            if index % pause_every == 0:
                time.sleep(0.002)


def test_beacon_flood_keeps_memory_and_searches_bounded(softioc, ca_env,
                                                        thread_errors):
    """100,000 beacons claiming to come from distinct servers (the address
    is a field of the beacon, so anyone can invent servers), plus restarts
    of one fake server's beacon ids (anomalies): the client's memory stays
    bounded and its search rate stays on schedule (anomaly-triggered
    retries are rate-limited)."""
    with FaultProxy(softioc.server_port, search_drop=1.0) as proxy:
        ctx = make_context(proxy.port, repeater_port=ca_env.repeater_port)
        try:
            pv, = ctx.get_pvs('TST:ai')
            time.sleep(1.5)  # the first fast retries are over
            udp_port = ctx.broadcaster.udp_sock.getsockname()[1]
            rng = random.Random(5)
            searches_before = proxy.searches_sent

            def invented(count):
                return [struct.pack('>HHHHII', 13, 0, 13,
                                    rng.randrange(1, 65535), index,
                                    rng.getrandbits(32))
                        for index in range(count)]

            # One "server" whose beacon ids restart every 20 beacons.
            restarts = [struct.pack('>HHHHII', 13, 0, 13, 5999, index % 20,
                                    0x7F000001) for index in range(2000)]
            first = invented(100_000)
            _spray(udp_port, [d for pair in zip(first[:2000], restarts)
                              for d in pair] + first[2000:])
            time.sleep(0.5)
            gc.collect()
            after_first = rss()
            # A second flood of as many new servers: bounded state means
            # no further growth (unbounded: ~30 MB more per 100,000).
            _spray(udp_port, invented(100_000))
            time.sleep(0.5)
            gc.collect()
            growth = rss() - after_first
            searches = proxy.searches_sent - searches_before
            assert not pv.connected
            assert growth < 5 * MB, \
                f'client grew {growth / MB:.1f} MB for 100,000 more servers'
            assert searches < 40, f'{searches} searches during the flood'
        finally:
            ctx.disconnect()


def test_udp_garbage_flood_is_not_a_log_flood(softioc, ca_env, thread_errors,
                                             caplog):
    """5,000 malformed datagrams to the client's UDP port: ignored, and
    not 5,000 WARNING lines (anyone who can reach the port could fill the
    logs); the client keeps working."""
    ctx = make_context(softioc.server_port,
                       repeater_port=ca_env.repeater_port)
    try:
        ai, = ctx.get_pvs('TST:ai')
        ai.wait_for_connection()
        udp_port = ctx.broadcaster.udp_sock.getsockname()[1]
        rng = random.Random(9)
        caplog.set_level(logging.WARNING, logger='cawire')
        _spray(udp_port, [bytes(rng.getrandbits(8) for _ in range(24))
                          for _ in range(5000)])
        time.sleep(0.5)
        warnings = [r for r in caplog.records
                    if r.name.startswith('cawire') and
                    r.levelno >= logging.WARNING]
        assert ai.read().data.tolist() == [3.14159]
        assert len(warnings) <= 50, (
            f'{len(warnings)} warnings, e.g. {warnings[0].getMessage()!r}')
    finally:
        ctx.disconnect()

# -- hostile server ----------------------------------------------------------------

CREATE_ATTACKS = [a for a in ATTACKS if ATTACKS[a][0] == 'create']
IN_PROCESS_ATTACKS = [a for a in ATTACKS if a != 'huge_payload'
                      and a not in CREATE_ATTACKS]


@pytest.mark.parametrize('attack', IN_PROCESS_ATTACKS)
def test_hostile_server_loses_its_circuit_only(attack, softioc, ca_env,
                                               thread_errors, caplog):
    with HostileServer(attack, names={'HOSTILE:x'}) as hostile:
        ctx = make_context(hostile.port, softioc.server_port,
                           repeater_port=ca_env.repeater_port, timeout=5)
        try:
            caplog.set_level(logging.WARNING, logger='cawire')
            good, bad = ctx.get_pvs('TST:counter', 'HOSTILE:x')
            recorder = Recorder()
            sub = good.subscribe()
            sub.add_callback(recorder)
            bad.wait_for_connection()
            assert wait_until(lambda: len(recorder.values) >= 2)
            gc.collect()
            before = rss()
            started = time.monotonic()
            with pytest.raises((DisconnectedError, CaprotoTimeoutError,
                                ErrorResponseReceived)) as info:
                bad.read(timeout=3)
            # A clear error, promptly: the circuit was closed (not a 3 s
            # timeout) for every attack that is a protocol violation.
            assert isinstance(info.value, DisconnectedError), info.value
            assert time.monotonic() - started < 2
            assert hostile.client_closed.wait(5)
            reasons = [r.getMessage() for r in caplog.records
                       if r.name.startswith('cawire.circ')
                       and str(hostile.port) in r.getMessage()]
            assert any('closed' in m for m in reasons), reasons
            # The other circuit is unaffected.
            count_then = len(recorder.values)
            assert wait_until(lambda: len(recorder.values) >= count_then + 3)
            assert good.read().data[0] >= 0
            assert rss() - before < 20 * MB
            sub.clear()
        finally:
            ctx.disconnect()


@pytest.mark.parametrize('attack', CREATE_ATTACKS)
def test_hostile_server_does_not_trigger_a_reconnect_storm(
        attack, softioc, ca_env, thread_errors):
    """A server whose CREATE_CHAN reply is invalid, missing or a hang-up:
    the client never gets the channel, tries again at a bounded rate (libca
    puts such channels in its 10 s disconnect governor), not in a tight
    loop, and waiting for the connection times out cleanly."""
    with HostileServer(attack, names={'HOSTILE:x'}) as hostile:
        ctx = make_context(hostile.port, softioc.server_port,
                           repeater_port=ca_env.repeater_port, timeout=5)
        try:
            good, bad = ctx.get_pvs('TST:ai', 'HOSTILE:x')
            good.wait_for_connection()
            started = time.monotonic()
            with pytest.raises(CaprotoTimeoutError):
                bad.wait_for_connection(timeout=1.0)
            assert time.monotonic() - started < 2.0
            time.sleep(2.0)
            connections = hostile.connections
            assert good.read().data.tolist() == [3.14159]
            assert not bad.connected
            assert connections <= 10, \
                f'{connections} circuits opened in 3 s to a failing server'
        finally:
            ctx.disconnect()


_HUGE_PAYLOAD_PROBE = textwrap.dedent('''
    import json, resource, sys, threading, time, logging
    limit = int(sys.argv[3])
    resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
    from cawire.config import Config
    from cawire.threading.client import Context, SharedBroadcaster
    errors, records = [], []
    threading.excepthook = lambda args: errors.append(repr(args.exc_value))
    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record.getMessage()[:300])
    logging.getLogger('cawire').addHandler(Keep(level=logging.WARNING))
    hostile_port, good_port, repeater_port = map(int, sys.argv[1:3] +
                                                 [sys.argv[4]])
    config = Config.from_environ({
        'EPICS_CA_AUTO_ADDR_LIST': 'NO',
        'EPICS_CA_ADDR_LIST': f'127.0.0.1:{hostile_port} '
                              f'127.0.0.1:{good_port}',
        'EPICS_CA_REPEATER_PORT': str(repeater_port),
        'EPICS_CA_CONN_TMO': '1.0'})
    ctx = Context(SharedBroadcaster(config=config), timeout=5)
    good, bad = ctx.get_pvs('TST:ai', 'HOSTILE:x')
    bad.wait_for_connection()
    good.wait_for_connection()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()
    try:
        bad.read(timeout=3)
        outcome = 'read returned'
    except Exception as exc:
        outcome = type(exc).__name__ + ': ' + str(exc)[:200]
    elapsed = time.monotonic() - started
    cm = ctx.circuit_managers.get((('127.0.0.1', hostile_port), 0))
    closed_reason = None
    if cm is not None:
        cm.dead.wait(10)
        closed_reason = cm.close_reason
    good_value = good.read(timeout=5).data.tolist()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    ctx.disconnect()
    print('RESULT' + json.dumps({
        'outcome': outcome, 'elapsed': elapsed, 'good': good_value,
        'maxrss_growth_kb': peak - before, 'errors': errors,
        'closed_reason': closed_reason,
        'log': records}))
''')


def test_hostile_server_4gb_payload_in_subprocess(softioc, ca_env):
    """A reply announcing 4 GB, of which 64 bytes ever arrive: the client
    must not allocate the announced size, the read fails with a clear error
    (a timeout: the client cannot tell a lie from a slow 4 GB array), the
    stuck circuit is closed with a logged reason by the keep-alive (ECHO
    unanswered after EPICS_CA_CONN_TMO, 1 s here), and the other circuit
    keeps working.  Run in a subprocess with a 1 GB data limit so a client
    that tries to allocate 4 GB cannot take the test machine's memory."""
    with HostileServer('huge_payload', names={'HOSTILE:x'}) as hostile:
        completed = subprocess.run(
            [sys.executable, '-c', _HUGE_PAYLOAD_PROBE, str(hostile.port),
             str(softioc.server_port), str(1 << 30),
             str(ca_env.repeater_port)],
            capture_output=True, text=True, timeout=60,
            env=epics.epics_env())
    lines = [line for line in completed.stdout.splitlines()
             if line.startswith('RESULT')]
    assert lines, completed.stderr[-3000:]
    result = json.loads(lines[0][len('RESULT'):])
    print('\n4 GB payload probe:', json.dumps(result)[:1500])
    assert result['good'] == [3.14159]
    assert not result['errors'], result['errors']
    assert not any('MemoryError' in line or 'Socket handler failed' in line
                   for line in result['log']), result['log']
    assert result['maxrss_growth_kb'] < 100 * 1024
    assert result['outcome'].startswith(('DisconnectedError',
                                         'CaprotoTimeoutError')), result
    assert result['elapsed'] < 3.5, result
    assert result['closed_reason'], result
    assert any('closed' in line for line in result['log']), result['log']
