"""The threading client under load and misuse: a slow consumer of a 1 kHz
monitor, 32 threads hammering one Context, go_idle() racing requests,
access-rights refusals and changes, and a clean shutdown (no thread, no
file descriptor left).
"""
import gc
import random
import threading
import time

import pytest

from cawire.protocol._enums import AccessRights
from cawire.protocol._exceptions import (CaprotoError, CaprotoTimeoutError,
                                PermissionDenied)
from cawire.server.testing import IocProcess
from cawire.testing.reliability import freeze
from cawire.testing.faults import describe_fds, open_fds
from cawire.testing.reliability import (MB, Recorder, live_circuits,
                                        make_context, rss, wait_until)
# The fixture, imported so pytest finds it here.
from cawire.testing.reliability import thread_errors  # noqa: F401

pytestmark = pytest.mark.epics


# -- slow consumer ---------------------------------------------------------------------

def test_slow_consumer_memory_bounded_latest_delivered(ca_env, thread_errors):
    """1 kHz updates for 4 s into a callback that takes 20 ms: memory stays
    bounded, counters account for what was not delivered, and once the
    producer stops the callback ends on the latest value."""
    with IocProcess('cawire.ioc_examples.fast_counter', '--rate', '1000',
                    '--array_length', '1000',
                    repeater_port=ca_env.repeater_port) as ioc:
        ctx = make_context(ioc.server_port, repeater_port=ca_env.repeater_port)
        try:
            count, rate, array = ctx.get_pvs('fast_counter:count',
                                             'fast_counter:rate',
                                             'fast_counter:array')
            for pv in (count, rate, array):
                pv.wait_for_connection()
            recorder = Recorder(delay=0.02)
            array_recorder = Recorder(delay=0.02)
            sub = count.subscribe()
            array_sub = array.subscribe()
            gc.collect()
            baseline = rss()
            peak = baseline
            sub.add_callback(recorder)
            array_sub.add_callback(array_recorder)
            cm = count.circuit_manager
            deadline = time.monotonic() + 4
            while time.monotonic() < deadline:
                peak = max(peak, rss())
                time.sleep(0.05)
            rate.write([0])
            time.sleep(0.2)  # let the last update leave the server
            final = float(count.read().data[0])
            stopped = time.monotonic()
            # Catching up means the latest value soon, not a replay of the
            # backlog at the callback's pace (libca: well under a second;
            # 5 s = 250 callbacks of 20 ms).
            caught_up = wait_until(lambda: recorder.values and
                                   recorder.values[-1] == final, 20)
            catch_up = time.monotonic() - stopped
            assert caught_up, (recorder.values[-5:], final)
            assert catch_up < 5, (
                f'latest value delivered {catch_up:.1f} s after the producer '
                f'stopped (a backlog of ~{catch_up / 0.02:.0f} updates was '
                'replayed)')
            peak = max(peak, rss())
            delivered = len(recorder.values)
            produced = final - recorder.values[0] + 1
            suppressed = produced - delivered
            # The callback can do at most ~50/s: most updates were never
            # delivered, and the library says so through its counters
            # (EVENTS_OFF sent -> the server held them; or coalesced here).
            assert delivered < produced / 2, (delivered, produced)
            assert cm.events_off_sent + cm.coalesced_updates > 0, (
                cm.events_off_sent, cm.coalesced_updates)
            assert sub.received >= delivered
            # In order, never a value twice.
            assert all(b > a for a, b in zip(recorder.values,
                                             recorder.values[1:]))
            growth = peak - baseline
            assert growth < 50 * MB, f'{growth / MB:.1f} MB'
            print(f'\nslow consumer: produced {produced:.0f}, delivered '
                  f'{delivered}, suppressed {suppressed:.0f} (EVENTS_OFF '
                  f'sent {cm.events_off_sent}, coalesced locally '
                  f'{cm.coalesced_updates}, received {sub.received}); RSS '
                  f'growth {growth / MB:.1f} MB; latest value '
                  f'{catch_up:.1f} s after the producer stopped')
            sub.clear()
            array_sub.clear()
        finally:
            ctx.disconnect()

def test_slow_consumer_of_large_arrays_memory_bounded(ca_env, thread_errors):
    """An 800 kB array at up to 1 kHz into a callback that takes 50 ms:
    what the client holds for the slow callback must be bounded in bytes,
    not only in queued jobs or seconds of lag (libca holds at most its
    socket buffers: the callback runs in the receive thread)."""
    with IocProcess('cawire.ioc_examples.fast_counter', '--rate', '1000',
                    '--array_length', '100000',
                    repeater_port=ca_env.repeater_port) as ioc:
        ctx = make_context(ioc.server_port, repeater_port=ca_env.repeater_port)
        try:
            array, rate = ctx.get_pvs('fast_counter:array',
                                      'fast_counter:rate')
            array.wait_for_connection()
            rate.wait_for_connection()
            recorder = Recorder(delay=0.05)
            gc.collect()
            baseline = peak = rss()
            sub = array.subscribe()
            sub.add_callback(recorder)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                peak = max(peak, rss())
                time.sleep(0.02)
            rate.write([0])
            cm = array.circuit_manager
            growth = peak - baseline
            print(f'\nslow consumer, 800 kB arrays: received {sub.received}, '
                  f'delivered {len(recorder.values)}, EVENTS_OFF '
                  f'{cm.events_off_sent}, coalesced {cm.coalesced_updates}; '
                  f'peak RSS growth {growth / MB:.0f} MB')
            assert len(recorder.values) > 10
            assert growth < 100 * MB, (
                f'client held {growth / MB:.0f} MB for one slow subscription '
                f'({sub.received} updates of 800 kB received)')
            sub.clear()
        finally:
            ctx.disconnect()


# -- concurrency -------------------------------------------------------------------

def test_32_threads_hammer_one_context(softioc, ca_env, thread_errors):
    """32 threads, 6 s of random read / write / subscribe / unsubscribe /
    go_idle on 6 PVs of one Context: no deadlock (every thread finishes),
    no exception in library threads, every call returns or times out."""
    ctx = make_context(softioc.server_port,
                       repeater_port=ca_env.repeater_port, timeout=3)
    names = ['TST:ai', 'TST:ao', 'TST:counter', 'TST:longout', 'TST:str',
             'TST:wf:double']
    pvs = ctx.get_pvs(*names)
    for pv in pvs:
        pv.wait_for_connection()
    writable = {'TST:ao': 1.5, 'TST:longout': 7, 'TST:wf:double':
                [1.5, 2.5, -3.5, 4.0, 1e10]}
    stop_at = time.monotonic() + 6
    outcomes = {'ok': 0}
    unexpected = []
    timeouts = []
    lock = threading.Lock()
    callbacks_run = [0]

    def callback(sub, response):
        callbacks_run[0] += 1

    def worker(seed):
        rng = random.Random(seed)
        subs = []
        while time.monotonic() < stop_at:
            pv = rng.choice(pvs)
            op = rng.choice(['read', 'read', 'write', 'subscribe',
                             'unsubscribe', 'go_idle', 'read_cb',
                             'write_nowait'])
            started = time.monotonic()
            try:
                if op == 'read':
                    pv.read(timeout=3)
                elif op == 'read_cb':
                    pv.read(wait=False, callback=lambda r: None)
                elif op == 'write' and pv.name in writable:
                    pv.write(writable[pv.name], timeout=3)
                elif op == 'write_nowait' and pv.name in writable:
                    pv.write(writable[pv.name], wait=False)
                elif op == 'subscribe':
                    sub = pv.subscribe(data_type=rng.choice(
                        [None, 'time', 'control']))
                    sub.add_callback(callback)
                    subs.append(sub)
                elif op == 'unsubscribe' and subs:
                    subs.pop(rng.randrange(len(subs))).clear()
                elif op == 'go_idle':
                    pv.go_idle()
                with lock:
                    outcomes['ok'] += 1
            except CaprotoTimeoutError as exc:
                with lock:
                    timeouts.append((op, pv.name, str(exc)[:120]))
            except Exception as exc:  # noqa: BLE001 - recorded, asserted
                with lock:
                    unexpected.append((op, pv.name, repr(exc)[:300]))
            # Each call returns within its timeout (3 s) plus slack.
            elapsed = time.monotonic() - started
            if elapsed > 5:
                with lock:
                    unexpected.append((op, pv.name, f'took {elapsed:.1f} s'))
        for sub in subs:
            sub.clear()

    threads = [threading.Thread(target=worker, args=(i,), name=f'hammer-{i}')
               for i in range(32)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(stop_at - time.monotonic() + 15)
        stuck = [t.name for t in threads if t.is_alive()]
        assert not stuck, f'deadlocked threads: {stuck}'
        assert not unexpected, unexpected[:10]
        # A healthy IOC on loopback answers within 3 s: timeouts would mean
        # lost requests.
        assert not timeouts, timeouts[:10]
        assert outcomes['ok'] > 500
        for pv in pvs:
            pv.read(timeout=5)
        assert len(live_circuits(ctx)) == 1
        print(f'\n32 threads: {outcomes["ok"]} operations, '
              f'{callbacks_run[0]} callbacks, {len(timeouts)} timeouts')
    finally:
        ctx.disconnect()


def test_subscribe_while_an_idle_pv_reconnects(softioc, ca_env,
                                               thread_errors):
    """add_callback() (activating a subscription) racing with the channel
    being re-created for an idle PV woken by another thread: the
    subscription is sent once, never twice, and add_callback never raises."""
    ctx = make_context(softioc.server_port,
                       repeater_port=ca_env.repeater_port, timeout=3)
    errors = []
    try:
        pv, = ctx.get_pvs('TST:str')
        pv.wait_for_connection()

        def callback(sub, response):
            pass

        def wake():
            pv.read(wait=False, callback=lambda response: None)

        for _ in range(400):
            sub = pv.subscribe(data_type='time')
            pv.go_idle()
            waker = threading.Thread(target=wake)
            waker.start()
            try:
                sub.add_callback(callback)
            except Exception as exc:  # noqa: BLE001 - recorded, asserted
                errors.append(repr(exc))
            waker.join(5)
            time.sleep(0.001)
            sub.clear()
        assert not errors, f'{len(errors)} of 400: {errors[:3]}'
        assert pv.read().data == [b'hello']
    finally:
        ctx.disconnect()


def test_go_idle_with_a_write_in_flight_loses_nothing(softioc, ca_env,
                                                     thread_errors):
    """caproto's contract: go_idle() with a read/write in progress is
    processed when they complete.  A write whose channel is cleared under
    it must still report: its callback runs (reply or error), and no
    request is left pending for ever."""
    ctx = make_context(softioc.server_port,
                       repeater_port=ca_env.repeater_port, timeout=3)
    try:
        ao, = ctx.get_pvs('TST:ao')
        ao.wait_for_connection()
        outcomes = []
        for index in range(20):
            done = threading.Event()

            def callback(response, done=done):
                outcomes.append(response)
                done.set()

            ao.write([float(index % 3)], wait=False, callback=callback)
            ao.go_idle()
            done.wait(3)
            ao.read()  # reconnects the idle PV
        lost = 20 - len(outcomes)
        cm = ao.circuit_manager
        assert lost == 0, f'{lost} of 20 write callbacks never ran'
        assert not cm.ioids, f'{len(cm.ioids)} requests left pending'
    finally:
        ctx.disconnect()

# -- access rights ------------------------------------------------------------------

def test_write_to_read_only_pv_fails_at_once(softioc, ca_env, thread_errors):
    # As caproto 1.3.0: the request goes out and the server's refusal comes
    # back in the response's status -- at once, not after the timeout.
    ctx = make_context(softioc.server_port, repeater_port=ca_env.repeater_port,
                       timeout=10)
    try:
        readonly, noaccess = ctx.get_pvs('TST:readonly', 'TST:noaccess')
        readonly.wait_for_connection()
        noaccess.wait_for_connection()
        assert readonly.access_rights == AccessRights.READ
        for pv, verb in ((readonly, 'write'), (noaccess, 'write'),
                         (noaccess, 'read')):
            started = time.monotonic()
            if verb == 'write':
                response = pv.write([1.0], timeout=10)
            else:
                response = pv.read(timeout=10)
            # Answered by the server: far below the 10 s timeout.
            assert time.monotonic() - started < 1.0
            assert response.status.name == (
                'ECA_NOWTACCESS' if verb == 'write' else 'ECA_NORDACCESS')
        # The deprecated READ is refused with an ERROR: PermissionDenied,
        # at once.
        started = time.monotonic()
        with pytest.raises(PermissionDenied) as info:
            noaccess.read(notify=False, timeout=10)
        assert time.monotonic() - started < 1.0
        assert 'ECA_NORDACCESS' in str(info.value)
        assert noaccess.name in str(info.value)
        # Reading the read-only PV still works.
        assert readonly.read().data.tolist() == [1.5]
    finally:
        ctx.disconnect()


def test_access_rights_change_reaches_callback(isolated_ioc, ca_env,
                                               thread_errors):
    ioc = isolated_ioc()
    ctx = make_context(ioc.server_port, repeater_port=ca_env.repeater_port)
    try:
        changes = []

        def on_rights(pv, rights):  # held weakly by the PVs, as in caproto
            changes.append((pv.name, rights))

        ao, asg = ctx.get_pvs('TST:ao', 'TST:ao.ASG',
                              access_rights_callback=on_rights)
        ao.wait_for_connection()
        asg.wait_for_connection()
        assert wait_until(lambda: ('TST:ao', AccessRights.READ_WRITE)
                          in changes)
        ao.write([1.0])
        # The IOC moves the record to the READONLY access group.
        asg.write('READONLY')
        assert wait_until(lambda: ('TST:ao', AccessRights.READ) in changes)
        assert ao.access_rights == AccessRights.READ
        assert ao.write([2.0], timeout=10).status.name == 'ECA_NOWTACCESS'
        assert ao.read().data.tolist() == [1.0]
    finally:
        ctx.disconnect()

# -- clean shutdown ---------------------------------------------------------------

def test_context_disconnect_leaves_no_thread_or_fd(softioc, ca_env,
                                                   thread_errors):
    gc.collect()
    threads_before = set(threading.enumerate())
    fds_before = open_fds()
    ctx = make_context(softioc.server_port, repeater_port=ca_env.repeater_port)
    pvs = ctx.get_pvs('TST:ai', 'TST:counter', 'TST:str')
    for pv in pvs:
        pv.wait_for_connection()
    recorder = Recorder()
    sub = pvs[1].subscribe()
    sub.add_callback(recorder)
    pvs[0].read()
    pvs[2].read(wait=False, callback=lambda response: None)
    assert wait_until(lambda: len(recorder.values) >= 2)
    during = open_fds() - fds_before
    assert during  # sockets, selector, wake-up pair exist now
    ctx.disconnect()
    assert wait_until(lambda: not [t for t in threading.enumerate()
                                   if t not in threads_before], 5), \
        [t.name for t in threading.enumerate() if t not in threads_before]
    gc.collect()
    leaked = open_fds() - fds_before
    assert not leaked, describe_fds(leaked)
    with pytest.raises(CaprotoError):
        pvs[0].read()


def test_disconnect_releases_blocked_callers(isolated_ioc, ca_env,
                                            thread_errors):
    """Eight threads blocked in read()/write() (30 s timeouts) on a frozen
    IOC: Context.disconnect() releases them at once with a clear error
    instead of leaving them waiting for their timeouts."""
    import signal
    ioc = isolated_ioc()
    ctx = make_context(ioc.server_port, repeater_port=ca_env.repeater_port)
    outcomes = []
    threads = []
    try:
        ai, ao = ctx.get_pvs('TST:ai', 'TST:ao')
        ai.wait_for_connection()
        ao.wait_for_connection()
        freeze(ioc)

        def blocked(index):
            started = time.monotonic()
            try:
                if index % 2:
                    ai.read(timeout=30)
                else:
                    ao.write([float(index)], timeout=30)
                outcomes.append(('returned', time.monotonic() - started))
            except Exception as exc:  # noqa: BLE001 - recorded, asserted
                outcomes.append((exc, time.monotonic() - started))

        threads = [threading.Thread(target=blocked, args=(i,))
                   for i in range(8)]
        for thread in threads:
            thread.start()
        time.sleep(0.5)
        assert not outcomes  # all of them are waiting
        ctx.disconnect()
        for thread in threads:
            thread.join(10)
        assert not any(thread.is_alive() for thread in threads)
        assert len(outcomes) == 8
        for outcome, elapsed in outcomes:
            assert isinstance(outcome, CaprotoError), outcome
            assert elapsed < 5, (outcome, elapsed)
    finally:
        ioc.kill(signal.SIGCONT)
        ctx.disconnect()
        for thread in threads:
            thread.join(35)
