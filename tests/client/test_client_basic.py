"""The threading client against the real softIoc: the documented API.

Covers connection, reads, writes (wait / no wait / callback / notify
rules), subscriptions (weak callbacks, tokens, first response, cancel and
resubscribe, old-style callbacks, callback exceptions), Batch, go_idle,
access rights, reprs, broadcaster helpers, and a clean disconnect.
"""
import gc
import logging
import os
import threading
import time

import pytest

from cawire import ChannelType
from cawire.protocol._enums import AccessRights
from cawire.protocol._exceptions import (CaprotoTimeoutError, ContextDisconnectedError,
                                PermissionDenied)
from cawire.threading.client import (Batch, Context, PV, SharedBroadcaster,
                                     Subscription, VirtualCircuitManager)

WAIT = 10.0


@pytest.fixture
def ctx(softioc):
    context = Context(timeout=WAIT)
    yield context
    context.disconnect()


def wait_until(predicate, timeout=WAIT):
    """Poll ``predicate`` (bounded); return its final value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def test_read_native_and_reprs(ctx):
    ai, = ctx.get_pvs('TST:ai')
    assert repr(ai).startswith("<PV name='TST:ai' priority=0 ")
    res = ai.read()
    assert type(res).__name__ == 'ReadNotifyResponse'
    assert res.data_type is ChannelType.DOUBLE
    assert res.data.tolist() == [3.14159]
    assert res.metadata is None
    assert res.ioid == 0
    assert res.header.command == 15 and res.header.data_count == 1
    assert bytes(res)[:2] == b'\x00\x0f'
    assert res.buffers[0] == b'' and isinstance(res.buffers[1], memoryview)
    host, port = ai.circuit_manager.circuit.address
    assert repr(ai) == (
        f"<PV name='TST:ai' priority=0 address=('{host}', {port}), "
        f"circuit_state=States.CONNECTED, channel_state=States.CONNECTED>")
    assert repr(ctx) == '<Context searches_pending=0 circuits=1 pvs=1 idle=0>'
    # ioids are sequential per circuit
    assert ai.read().ioid == 1


def test_searching_repr_and_timeout_for_missing_pv(ctx):
    missing, = ctx.get_pvs('TST:does-not-exist', timeout=0.3)
    assert repr(missing) == \
        "<PV name='TST:does-not-exist' priority=0 (searching....)>"
    with pytest.raises(CaprotoTimeoutError, match='No servers responded'):
        missing.read()
    assert 'searches_pending=1' in repr(ctx)
    ctx.broadcaster.cancel('TST:does-not-exist')
    assert 'searches_pending=0' in repr(ctx)
    # Asking for it again restarts the search.
    assert ctx.get_pvs('TST:does-not-exist') == [missing]
    assert wait_until(lambda: 'searches_pending=1' in repr(ctx))
    ctx.broadcaster.cancel('TST:does-not-exist')


def test_read_metadata_classes(ctx):
    ai, = ctx.get_pvs('TST:ai')
    time_res = ai.read(data_type='time')
    assert time_res.data_type is ChannelType.TIME_DOUBLE
    stamp = time_res.metadata.stamp.as_datetime()
    assert stamp.year >= 2024
    ctrl = ai.read(data_type='control')
    assert ctrl.data_type is ChannelType.CTRL_DOUBLE
    assert ctrl.metadata.units == b'mm'  # bytes, as caproto
    assert ctrl.metadata.precision == 3
    assert ctrl.metadata.upper_disp_limit == 10.0
    assert ai.read(data_type=ChannelType.STS_DOUBLE).data_type is \
        ChannelType.STS_DOUBLE
    assert ai.read(data_type=0).data == [b'3.142']


def test_write_modes(ctx):
    ao, = ctx.get_pvs('TST:ao')
    res = ao.write([1.25])
    assert type(res).__name__ == 'WriteNotifyResponse'
    assert res.status.success
    assert ao.read().data.tolist() == [1.25]
    assert ao.write(2.5, wait=False) is None
    got = threading.Event()
    responses = []

    def f(response):
        responses.append(response)
        got.set()

    assert ao.write([3.5], wait=False, callback=f) is None
    assert got.wait(WAIT)
    assert responses[0].status.success
    assert ao.write(4.5, notify=False, wait=False) is None
    assert wait_until(lambda: ao.read().data[0] == 4.5)
    with pytest.raises(ValueError):
        ao.write(1, notify=False)
    with pytest.raises(ValueError):
        ao.write(1, wait=False, notify=False, callback=f)
    ao.write(0)


def test_write_string_and_enum(ctx):
    strout, bo = ctx.get_pvs('TST:strout', 'TST:bo')
    strout.write('cawire')
    assert strout.read().data == [b'cawire']
    bo.write('Open', data_type=ChannelType.STRING)
    assert bo.read().data.tolist() == [1]
    assert bo.read(data_type='control').metadata.enum_strings == \
        (b'Closed', b'Open')
    bo.write([0])
    strout.write('initial')


def test_read_with_callback_and_no_wait(ctx):
    ai, = ctx.get_pvs('TST:ai')
    got = threading.Event()
    responses = []
    ai.read(wait=False, callback=lambda r: (responses.append(r), got.set()))
    assert got.wait(WAIT)
    assert responses[0].data.tolist() == [3.14159]


def test_access_rights_request_goes_out_and_reports_the_server_status(ctx):
    # As caproto 1.3.0: no local refusal; the server's status comes back in
    # the response (or callback); with wait=False the call returns None.
    rights = []

    def on_rights(pv, r):  # held weakly by the PV, as in caproto
        rights.append(r)

    readonly, = ctx.get_pvs('TST:readonly', access_rights_callback=on_rights)
    readonly.wait_for_connection()
    assert readonly.access_rights == AccessRights.READ
    assert wait_until(lambda: rights == [AccessRights.READ])
    bytes_sent = readonly.circuit_manager.transport.bytes_sent
    response = readonly.write(2.0)
    assert response.status.name == 'ECA_NOWTACCESS'
    assert readonly.circuit_manager.transport.bytes_sent > bytes_sent
    got = []
    done = threading.Event()

    def on_reply(reply):
        got.append(reply)
        done.set()

    assert readonly.write(2.0, wait=False, callback=on_reply) is None
    assert done.wait(WAIT)
    assert got[0].status.name == 'ECA_NOWTACCESS'
    assert readonly.read().data.tolist() == [1.5]
    noaccess, = ctx.get_pvs('TST:noaccess')
    noaccess.wait_for_connection()
    assert noaccess.access_rights == AccessRights.NO_ACCESS
    response = noaccess.read()
    assert response.status.name == 'ECA_NORDACCESS'
    assert noaccess.read(wait=False) is None
    # The deprecated READ is refused with an ERROR message: raised as
    # PermissionDenied (caproto waits for a reply that never comes).
    with pytest.raises(PermissionDenied, match='ECA_NORDACCESS'):
        noaccess.read(notify=False)


def test_connection_state_callback(ctx):
    states = []

    def on_state(pv, s):
        states.append(s)

    pv, = ctx.get_pvs('TST:long', connection_state_callback=on_state)
    pv.wait_for_connection()
    assert wait_until(lambda: states == ['connected'])
    late = []

    def on_late(p, s):
        late.append(s)

    ctx.get_pvs('TST:long', connection_state_callback=on_late)
    assert wait_until(lambda: late == ['connected'])


class _StateRecorder:
    def __init__(self):
        self.states = []

    def changed(self, pv, state):
        self.states.append(state)


def test_connection_and_rights_callbacks_are_held_weakly(ctx):
    # caproto's CallbackHandler holds these weakly (WeakMethod for bound
    # methods); so does cawire.
    pv, = ctx.get_pvs('TST:long')
    pv.wait_for_connection()
    kept = _StateRecorder()
    dropped = _StateRecorder()
    dropped_calls = dropped.states
    for registry in (pv.connection_state_callback, pv.access_rights_callback):
        registry.add_callback(kept.changed)
        registry.add_callback(dropped.changed)
    assert len(pv.connection_state_callback.callbacks) == 2
    del dropped
    gc.collect()
    assert len(pv.connection_state_callback.callbacks) == 1
    assert len(pv.access_rights_callback.callbacks) == 1
    pv.connection_state_callback.process('connected')
    assert wait_until(lambda: kept.states == ['connected'])
    assert dropped_calls == []
    # An inline lambda has no other reference: it is gone at once.
    pv.connection_state_callback.add_callback(lambda pv, state: None)
    gc.collect()
    assert len(pv.connection_state_callback.callbacks) == 1


def test_subscription_callbacks_tokens_and_weakrefs(ctx):
    counter, = ctx.get_pvs('TST:counter')
    sub = counter.subscribe()
    assert isinstance(sub, Subscription)
    assert counter.subscribe() is sub
    responses = []

    def f(sub, response):
        responses.append(response)

    values = []

    def g(sub, response):
        values.append(response.data[0])

    token = sub.add_callback(f)
    assert sub.add_callback(g) == token + 1
    assert wait_until(lambda: len(responses) >= 3 and len(values) >= 3)
    assert sub.subscriptionid in counter.circuit_manager.subscriptions
    sub.remove_callback(token)
    n = len(responses)
    assert wait_until(lambda: len(values) >= 5)
    assert len(responses) == n
    # Removing the last callback (here by garbage collection) cancels the
    # subscription on the server.
    del g
    gc.collect()
    assert wait_until(lambda: not sub.active)
    circuit = counter.circuit_manager.circuit
    assert wait_until(lambda: not circuit.event_add_commands)
    # Adding again resubscribes transparently.
    again = []

    def h(sub, response):
        again.append(response)

    sub.add_callback(h)
    assert wait_until(lambda: len(again) >= 2)
    sub.clear()
    assert not sub.active


def test_first_callback_gets_first_response(ctx):
    ai, = ctx.get_pvs('TST:ai')
    ai.wait_for_connection()
    first = []
    done = threading.Event()

    def f(sub, response):
        first.append(response)
        done.set()

    sub = ai.subscribe(data_type='time')
    sub.add_callback(f)
    assert done.wait(WAIT)
    assert first[0].data.tolist() == [3.14159]
    assert first[0].data_type is ChannelType.TIME_DOUBLE
    # A second callback is handed the most recent response at once.
    second = []
    got = threading.Event()

    def g(sub, response):
        second.append(response)
        got.set()

    sub.add_callback(g)
    assert got.wait(WAIT)
    assert second[0] is first[-1]
    sub.clear()


def test_old_style_callback_warns_and_works(ctx):
    ai, = ctx.get_pvs('TST:ai')
    got = threading.Event()
    seen = []

    def old(response):
        seen.append(response)
        got.set()

    sub = ai.subscribe()
    with pytest.warns(UserWarning, match='f\\(sub, response\\)'):
        sub.add_callback(old)
    assert got.wait(WAIT)
    assert seen[0].data.tolist() == [3.14159]
    sub.clear()


def test_callback_exception_is_logged_and_not_fatal(ctx, caplog):
    counter, = ctx.get_pvs('TST:counter')
    calls = []

    def bad(sub, response):
        calls.append(response)
        raise RuntimeError('deliberate failure in user callback')

    sub = counter.subscribe()
    with caplog.at_level(logging.ERROR, logger='cawire.callback'):
        sub.add_callback(bad)
        assert wait_until(lambda: len(calls) >= 3)
    records = [r for r in caplog.records if r.name == 'cawire.callback']
    assert records and records[0].exc_info is not None
    assert 'deliberate failure' in caplog.text
    # Reads still work; the circuit is alive.
    assert counter.read().data[0] >= 0
    sub.clear()


def test_caput_reaches_subscription(ctx, run_tool):
    longout, = ctx.get_pvs('TST:longout')
    values = []
    got = threading.Event()

    def f(sub, response):
        values.append(int(response.data[0]))
        if values[-1] == 4321:
            got.set()

    sub = longout.subscribe()
    sub.add_callback(f)
    assert wait_until(lambda: values)
    result = run_tool('caput', 'TST:longout', '4321')
    assert result.returncode == 0, result.stderr
    assert got.wait(WAIT)
    sub.clear()
    longout.write(0)


def test_write_seen_by_caget(ctx, run_tool):
    wf, = ctx.get_pvs('TST:wf:long')
    wf.write([7, 8, 9])
    result = run_tool('caget', '-t', 'TST:wf:long')
    # caget asks for the native count (32); the rest is zero-filled.
    assert result.stdout.split()[1:5] == ['7', '8', '9', '0']
    wf.write([1, -2, 2147483647, -2147483648])


def test_batch_read_and_write(ctx):
    ai, ao, long_ = ctx.get_pvs('TST:ai', 'TST:ao', 'TST:long')
    for pv in (ai, ao, long_):
        pv.wait_for_connection()
    results = {}
    done = threading.Event()

    def stash(name, response):
        results[name] = response.data.tolist()
        if len(results) == 3:
            done.set()

    import functools
    with Batch() as b:
        for pv in (ai, ao, long_):
            b.read(pv, functools.partial(stash, pv.name))
    assert done.wait(WAIT)
    assert results['TST:ai'] == [3.14159] and results['TST:long'] == [-42]
    wrote = threading.Event()
    with Batch() as b:
        b.write(ao, [6.5], callback=lambda r: wrote.set())
    assert wrote.wait(WAIT)
    assert ao.read().data.tolist() == [6.5]
    ao.write(0)


def test_go_idle_and_transparent_reconnect(ctx):
    x, dt = ctx.get_pvs('TST:ai', 'TST:long')
    x.wait_for_connection()
    dt.wait_for_connection()
    cm = x.circuit_manager
    x.go_idle()
    assert repr(x) == "<PV name='TST:ai' priority=0 (idle)>"
    assert 'idle=1' in repr(ctx)
    assert x.read().data.tolist() == [3.14159]
    assert 'channel_state=States.CONNECTED' in repr(x)
    assert x.circuit_manager is cm  # same circuit, re-created channel
    # go_idle is ignored while a subscription is active.
    sub = x.subscribe()
    cb = lambda sub, response: None  # noqa: E731
    sub.add_callback(cb)
    x.go_idle()
    assert not x._idle
    sub.clear()


def test_events_off_on_and_health_helpers(ctx):
    counter, = ctx.get_pvs('TST:counter')
    counter.wait_for_connection()
    cm = counter.circuit_manager
    assert isinstance(cm, VirtualCircuitManager)
    cm.events_off()
    assert cm.events_suspended
    cm.events_on()
    assert not cm.events_suspended
    heard = ctx.broadcaster.time_since_last_heard()
    assert cm.circuit.address in heard
    assert 0 <= counter.time_since_last_heard() < 60
    assert isinstance(ctx.broadcaster, SharedBroadcaster)
    ctx.broadcaster.search_now()


def test_priority_gives_separate_circuit(ctx):
    low, = ctx.get_pvs('TST:ai')
    high, = ctx.get_pvs('TST:ai', priority=10)
    assert low is not high
    assert low.read().data[0] == high.read().data[0]
    assert low.circuit_manager is not high.circuit_manager
    assert high.circuit_manager.circuit.priority == 10


def _fds():
    return set(os.listdir('/proc/self/fd'))


def test_disconnect_releases_every_fd_and_thread(softioc):
    fds_before = _fds()
    threads_before = set(threading.enumerate())
    context = Context(timeout=WAIT)
    pvs = context.get_pvs('TST:ai', 'TST:counter')
    pvs[0].read()
    sub = pvs[1].subscribe()
    cb = lambda sub, response: None  # noqa: E731
    sub.add_callback(cb)
    pvs[0].read(data_type='time')
    context.disconnect()
    assert set(threading.enumerate()) - threads_before == set()
    assert _fds() - fds_before == set()
    with pytest.raises(ContextDisconnectedError, match='context disconnected'):
        pvs[0].read()
    with pytest.raises(ContextDisconnectedError):
        context.get_pvs('TST:ai')


def test_pv_is_not_constructible_by_users_without_context():
    with pytest.raises(TypeError):
        PV('x')  # name, priority, context, timeout are required


def test_go_idle_waits_for_requests_in_flight(ctx):
    ao, = ctx.get_pvs('TST:ao')
    ao.wait_for_connection()
    done = []
    all_done = threading.Event()

    def cb(response):
        done.append(response.status.success)
        if len(done) == 20:
            all_done.set()

    for i in range(20):
        ao.write([i / 2], wait=False, callback=cb)  # DRVH is 15
        ao.go_idle()  # deferred: the write's reply must not be lost
    assert all_done.wait(WAIT)
    assert all(done)
    # Once nothing is outstanding the PV does go idle...
    assert wait_until(lambda: ao._idle)
    assert ao.circuit_manager.ioids == {}
    # ...and comes back when used.
    assert ao.read().data.tolist() == [9.5]
    ao.write(0)


@pytest.mark.parametrize('name, value, caget_text, restore', [
    ('TST:ao', [1.25], '1.25', [0.0]),
    ('TST:float', [0.75], '0.75', [2.5]),
    ('TST:longout', [-17], '-17', [0]),
    ('TST:short', [-3], '-3', [-7]),
    ('TST:char', [65], '65', [200]),
    ('TST:strout', 'from cawire', 'from cawire', 'initial'),
    ('TST:bo', [1], 'Open', [0]),
    ('TST:wf:double', [0.5, -1.5, 2.5], '3 0.5 -1.5 2.5',
     [1.5, 2.5, -3.5, 4.0, 1e10]),
    ('TST:wf:string', ['x', 'yz'], '2 x yz', ['a', 'bc', 'def']),
])
def test_writes_of_every_type_seen_by_caget(ctx, run_tool, name, value,
                                            caget_text, restore):
    pv, = ctx.get_pvs(name)
    assert pv.write(value).status.success
    try:
        args = ['-t', name]
        if name.startswith('TST:wf:'):
            # Arrays: ask for exactly the elements written (caget prints
            # the count first).
            args = ['-t', '-#', str(len(value)), name]
        result = run_tool('caget', *args)
        assert result.returncode == 0, result.stderr
        assert ' '.join(result.stdout.split()) == caget_text
    finally:
        pv.write(restore)


def test_read_variants_count_notify_and_type_ids(ctx):
    wf, = ctx.get_pvs('TST:wf:double')
    assert wf.read(data_count=2).data.tolist() == [1.5, 2.5]
    assert wf.read().data_count == 5  # dynamic length (NORD)
    # Deprecated READ (not READ_NOTIFY) still works.
    old_style = wf.read(notify=False)
    assert type(old_style).__name__ == 'ReadResponse'
    assert old_style.data.tolist()[:2] == [1.5, 2.5]
    # data_type as an int id and as a ChannelType member.
    assert wf.read(data_type=20).data_type is ChannelType.TIME_DOUBLE
    assert wf.read(data_type=ChannelType.CTRL_DOUBLE).metadata.precision == 3


def test_subscription_mask_and_count(ctx):
    from cawire.protocol._enums import SubscriptionType
    ao, wf = ctx.get_pvs('TST:ao', 'TST:wf:double')
    alarms = []
    sub = ao.subscribe(data_type='status', mask=SubscriptionType.DBE_ALARM)
    cb = lambda sub, response: alarms.append(int(response.metadata.severity))  # noqa: E731
    sub.add_callback(cb)
    assert wait_until(lambda: len(alarms) == 1)  # the initial update
    ao.write([1.0])   # value change, no alarm change: nothing
    ao.write([12.0])  # HIHI -> MAJOR
    assert wait_until(lambda: alarms[-1:] == [2])
    ao.write([0.0])   # back to NO_ALARM
    assert wait_until(lambda: alarms[-1:] == [0])
    assert len(alarms) == 3
    sub.clear()
    firsts = []
    wsub = wf.subscribe(data_count=2)
    wcb = lambda sub, response: firsts.append(response.data.tolist())  # noqa: E731
    wsub.add_callback(wcb)
    assert wait_until(lambda: firsts == [[1.5, 2.5]])
    wsub.clear()


def test_timeouts_sentinels_and_batch_plain_write(ctx):
    from cawire.threading.client import (CONTEXT_DEFAULT_TIMEOUT,
                                         PV_DEFAULT_TIMEOUT)
    pv, = ctx.get_pvs('TST:longout')
    assert pv.timeout == ctx.timeout
    assert pv._timeout is CONTEXT_DEFAULT_TIMEOUT
    pv.timeout = 1.5
    assert pv.timeout == 1.5
    pv.timeout = CONTEXT_DEFAULT_TIMEOUT
    assert repr(PV_DEFAULT_TIMEOUT) == 'PV_DEFAULT_TIMEOUT'
    other, = ctx.get_pvs('TST:longout', timeout=None, priority=1)
    assert other.timeout is None
    pv.wait_for_connection()
    with Batch() as b:
        b.write(pv, [77])  # no callback: a plain WRITE
    assert wait_until(lambda: pv.read().data[0] == 77)
    pv.write([0])
