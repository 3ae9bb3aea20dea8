"""The tutorial of the threading client (seed-api.md), step by step, against
``python -m cawire.ioc_examples.random_walk`` on free loopback ports.

Reprs and bytes are compared with the transcript wherever they do not
depend on timing (addresses, timestamps, random values) and on that
structure where they do.
"""
import datetime
import functools
import re
import subprocess
import sys
import threading
import time

import pytest

from cawire.testing import epics
from cawire.threading.client import Batch, Context, SharedBroadcaster

WAIT = 10.0

STATUS_NORMAL = ("status=CAStatusCode(name='ECA_NORMAL', code=0, "
                 "code_with_severity=1, severity=<CASeverity.SUCCESS: 1>, "
                 "success=1, defunct=False, description='Normal successful "
                 "completion')")


def wait_until(predicate, timeout=WAIT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


@pytest.fixture
def random_walk(ca_env, repeater):
    server_port = epics.free_port()
    env = epics.epics_env(server_port, ca_env.repeater_port)
    process = subprocess.Popen(
        [sys.executable, '-m', 'cawire.ioc_examples.random_walk'], env=env,
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, start_new_session=True)
    try:
        epics.wait_for_tcp(server_port, timeout=WAIT,
                           alive=lambda: process.poll() is None)
        yield server_port
    finally:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        process.stdout.close()


@pytest.fixture
def tutorial_environ(random_walk, ca_env, monkeypatch):
    # The tutorial's Context() reads the environment: point it at the IOC.
    monkeypatch.setenv('EPICS_CA_ADDR_LIST', f'127.0.0.1:{random_walk}')
    monkeypatch.setenv('EPICS_CA_SERVER_PORT', str(random_walk))
    return random_walk


def test_tutorial(tutorial_environ):
    port = tutorial_environ
    # In [2]: ctx = Context()
    ctx = Context()
    try:
        _run_tutorial(ctx, port)
    finally:
        ctx.disconnect()


def _run_tutorial(ctx, port):
    # In [3]: x, dt = ctx.get_pvs('random_walk:x', 'random_walk:dt')
    x, dt = ctx.get_pvs('random_walk:x', 'random_walk:dt')
    connected_repr = (
        f"<PV name='random_walk:dt' priority=0 address=('127.0.0.1', {port}), "
        f"circuit_state=States.CONNECTED, channel_state=States.CONNECTED>")
    # In [4]: dt -- searching at first (unless the reply was quicker)
    assert repr(dt) in ("<PV name='random_walk:dt' priority=0 (searching....)>",
                        connected_repr) or '(creating...)' in repr(dt)
    # In [5]: ctx
    assert re.fullmatch(r'<Context searches_pending=\d+ circuits=[01] pvs=2 '
                        r'idle=0>', repr(ctx))

    # In [6]: res = dt.read()
    res = dt.read()
    assert repr(dt) == connected_repr
    # In [7]: res
    assert repr(res).startswith('ReadNotifyResponse(data=array([3.]')
    assert repr(res).endswith(
        f", data_type=<ChannelType.DOUBLE: 6>, data_count=1, "
        f"{STATUS_NORMAL}, ioid=0, metadata=None)")
    # In [8]: bytes(res)
    assert bytes(res) == (b'\x00\x0f\x00\x08\x00\x06\x00\x01\x00\x00\x00\x01'
                          b'\x00\x00\x00\x00@\x08\x00\x00\x00\x00\x00\x00')
    # In [9], [10]
    assert res.data.tolist() == [3.0]
    assert res.metadata is None

    # In [11]-[14]: richer data type
    richer_res = dt.read(data_type='time')
    assert re.fullmatch(
        r'DBR_TIME_DOUBLE\(status=<AlarmStatus.NO_ALARM: 0>, '
        r'severity=<AlarmSeverity.NO_ALARM: 0>, timestamp=\d+\.\d+\)',
        repr(richer_res.metadata))
    assert abs(richer_res.metadata.timestamp - time.time()) < 3600
    stamp = richer_res.metadata.stamp.as_datetime()
    assert isinstance(stamp, datetime.datetime)

    # In [15], [16]: header and buffers
    assert repr(res.header) == ('MessageHeader(command=15, payload_size=8, '
                                'data_type=6, data_count=1, parameter1=1, '
                                'parameter2=0)')
    assert res.buffers[0] == b''
    assert repr(res.buffers[1]).startswith('<memory at 0x')

    # In [17]: dt.write([1])
    assert repr(dt.write([1])) == (
        f'WriteNotifyResponse(data_type=<ChannelType.DOUBLE: 6>, '
        f'data_count=1, {STATUS_NORMAL}, ioid=2)')
    assert dt.write([1], wait=False) is None

    # Make the walk fast for the rest of the tutorial (from another
    # Context, so as not to disturb this circuit's ioid numbering).
    with Context(SharedBroadcaster(config=ctx.config)) as other:
        other_dt, = other.get_pvs('random_walk:dt')
        other_dt.write([0.05])

    # In [18]-[24]: subscribe
    sub = x.subscribe()
    responses = []

    def f(sub, response):
        responses.append(response)
        assert sub.pv.name == 'random_walk:x'

    token = sub.add_callback(f)
    values = []

    def g(sub, response):
        values.append(response.data[0])

    assert sub.add_callback(g) == 1
    assert token == 0
    # In [25], [26]
    assert wait_until(lambda: len(responses) >= 4 and len(values) >= 4)
    assert all(isinstance(v, float) for v in values)
    # In [27], [28]
    sub.remove_callback(token)
    sub.clear()
    assert not sub.active

    # In [29]-[35]: Batch
    pvs = [x, dt]
    results = {}
    done = threading.Event()

    def stash_result(name, response):
        results[name] = response.data
        if len(results) == 2:
            done.set()

    with Batch() as b:
        for pv in pvs:
            b.read(pv, functools.partial(stash_result, pv.name))
    assert done.wait(WAIT)
    assert set(results) == {'random_walk:x', 'random_walk:dt'}
    assert results['random_walk:dt'].tolist() == [0.05]

    # In [36]-[40]: go idle and come back
    assert repr(x) == connected_repr.replace('random_walk:dt', 'random_walk:x')
    x.go_idle()
    assert repr(x) == "<PV name='random_walk:x' priority=0 (idle)>"
    reread = x.read()
    assert reread.ioid == 5
    assert repr(x) == connected_repr.replace('random_walk:dt', 'random_walk:x')

    # The write-with-callback form shown in the Write section.
    got = threading.Event()
    dt.write([0.05], wait=False, callback=lambda response: got.set())
    assert got.wait(WAIT)

    # Canceling searches
    ctx.get_pvs('some typo-ed PV name, for example')
    ctx.broadcaster.cancel('some typo-ed PV name, for example')
    assert 'searches_pending=0' in repr(ctx)

    # Events off and on
    x.circuit_manager.events_off()
    x.circuit_manager.events_on()

    # Server health check
    heard = ctx.broadcaster.time_since_last_heard()
    assert ('127.0.0.1', port) in heard
    assert 0 <= x.time_since_last_heard() < 60
