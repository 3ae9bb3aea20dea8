"""Scale and concurrency: 10,000 PVs, an 8 MB array, 16 user threads.

Each test uses its own softIoc (``isolated_ioc``) and a Context that
searches only that IOC's port.
"""
import random
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from cawire.config import Config
from cawire.threading.client import Batch, Context, SharedBroadcaster

WAIT = 20.0
DB_DIR = Path(__file__).parent.parent / 'db'


def context_for(ioc, **environ):
    settings = {'EPICS_CA_AUTO_ADDR_LIST': 'NO',
                'EPICS_CA_ADDR_LIST': f'127.0.0.1:{ioc.server_port}',
                'EPICS_CA_SERVER_PORT': str(ioc.server_port),
                'EPICS_CA_REPEATER_PORT': str(ioc.repeater_port)}
    settings.update(environ)
    return Context(SharedBroadcaster(config=Config.from_environ(settings)),
                   timeout=WAIT)


def test_ten_thousand_pvs_connect_and_read(isolated_ioc, tmp_path):
    count = 10_000
    db = tmp_path / 'many.db'
    db.write_text(''.join(
        f'record(ai, "$(P)many:{i}") {{ field(VAL, "{i}") '
        f'field(PINI, "YES") }}\n' for i in range(count)))
    ioc = isolated_ioc(db=db, asg_file=None, timeout=60)
    ctx = context_for(ioc)
    try:
        names = [f'TST:many:{i}' for i in range(count)]
        pvs = ctx.get_pvs(*names)
        assert len(pvs) == count
        for pv in pvs:
            pv.wait_for_connection(timeout=60)
        assert len(ctx.circuit_managers) == 1
        (cm,) = ctx.circuit_managers.values()
        assert sorted(cm.all_created_pvnames) == sorted(names)
        # Every search answered and forgotten; about one search per name
        # (31 names a datagram): replies held up by a busy IOC or client
        # are late, not lost, and are not searched again en masse.
        engine = ctx.broadcaster.search_engine
        assert not engine.unanswered and len(engine.schedule) == 0
        assert engine.datagrams_sent <= 1.5 * count / 31
        results = {}
        done = threading.Event()

        def stash(index, response):
            results[index] = response.data[0]
            if len(results) == count:
                done.set()

        with Batch(timeout=60) as batch:
            for index, pv in enumerate(pvs):
                batch.read(pv, lambda r, index=index: stash(index, r))
        assert done.wait(60)
        assert all(results[i] == i for i in range(count))
        # Blocking reads too, a sample of them.
        for index in random.Random(1).sample(range(count), 200):
            assert pvs[index].read().data[0] == index
    finally:
        ctx.disconnect()


def test_eight_megabyte_array_round_trip(isolated_ioc):
    ioc = isolated_ioc(db=DB_DIR / 'client_big.db', asg_file=None)
    ctx = context_for(ioc)
    try:
        big, = ctx.get_pvs('TST:big8mb')
        values = np.arange(1_000_000, dtype=float) * 0.5
        response = big.write(values, timeout=WAIT)
        assert response.status.success
        readback = big.read(timeout=WAIT)
        assert readback.data_count == 1_000_000
        assert np.array_equal(readback.data, values)
        # Zero copy: the array is a view on the buffer the payload was
        # received into (allocated for exactly this message).
        owner = readback.data.base
        while getattr(owner, 'base', None) is not None:
            owner = owner.base
        assert isinstance(owner, (memoryview, bytearray))
        subscribed = threading.Event()
        updates = []

        def on_update(sub, response):
            updates.append(response)
            subscribed.set()

        sub = big.subscribe()
        sub.add_callback(on_update)
        assert subscribed.wait(WAIT)
        assert np.array_equal(updates[0].data, values)
        sub.clear()
    finally:
        ctx.disconnect()


def test_sixteen_threads_share_one_context(isolated_ioc):
    ioc = isolated_ioc()
    ctx = context_for(ioc)
    errors = []
    shared = ['TST:ai', 'TST:long', 'TST:counter', 'TST:str']
    writable = ['TST:ao', 'TST:longout', 'TST:short', 'TST:float',
                'TST:wf:double', 'TST:wf:long', 'TST:strout', 'TST:bo']
    received = [0] * 16
    start = threading.Barrier(16)

    def worker(index):
        try:
            start.wait(WAIT)
            rng = random.Random(index)
            callbacks = []
            subs = []
            for iteration in range(30):
                pvs = ctx.get_pvs(*shared)
                target, = ctx.get_pvs(writable[index % len(writable)])
                assert pvs[0].read().data[0] == pytest.approx(3.14159)
                assert pvs[1].read().data[0] == -42
                if target.name.endswith(('str', 'strout')):
                    target.write(f'w{index}-{iteration}')
                elif target.name == 'TST:bo':
                    target.write([iteration % 2])
                else:
                    target.write([rng.randint(-100, 100)])
                if iteration % 10 == 0:
                    def cb(sub, response, index=index):
                        received[index] += 1
                    callbacks.append(cb)
                    sub = pvs[2].subscribe(data_type='time')
                    sub.add_callback(cb)
                    subs.append((sub, cb))
            for sub, cb in subs:
                sub.clear()
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append((index, repr(exc)))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(16)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert not any(thread.is_alive() for thread in threads)
        assert errors == []
        assert all(count > 0 for count in received)
        assert len(ctx.circuit_managers) == 1
    finally:
        ctx.disconnect()


def _stop_and_wait(ioc):
    import os
    import signal
    ioc.kill(signal.SIGSTOP)
    task_dir = f'/proc/{ioc.pid}/task'
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        states = []
        for tid in os.listdir(task_dir):
            with open(f'{task_dir}/{tid}/stat') as stat:
                states.append(stat.read().rsplit(')', 1)[1].split()[0])
        if all(state in ('T', 't') for state in states):
            return
        time.sleep(0.01)
    raise AssertionError('IOC did not stop')


def test_big_write_to_a_stalled_server_times_out_cleanly(isolated_ioc):
    import signal
    from cawire.protocol._exceptions import CaprotoTimeoutError
    ioc = isolated_ioc(db=DB_DIR / 'client_big.db', asg_file=None)
    ctx = context_for(ioc)
    try:
        big, = ctx.get_pvs('TST:big8mb')
        big.wait_for_connection()
        cm = big.circuit_manager
        cm.transport._send_high_water = 1 << 20  # user threads wait past 1 MB
        _stop_and_wait(ioc)
        values = np.arange(1_000_000, dtype=float)
        with pytest.raises(CaprotoTimeoutError):
            big.write(values, timeout=1.0)
        assert not cm.dead.is_set()
        ioc.kill(signal.SIGCONT)
        # The queued write goes out once the server reads again.
        readback = big.read(timeout=WAIT)
        assert np.array_equal(readback.data, values)
    finally:
        ioc.kill(signal.SIGCONT)
        ctx.disconnect()


def test_created_names_stay_unique_when_pvs_idle_and_wake(isolated_ioc,
                                                           tmp_path):
    # all_created_pvnames (caproto's attribute) lists each name once, also
    # after channels are cleared (go_idle) and created again.
    db = tmp_path / 'few.db'
    db.write_text(''.join(f'record(ai, "$(P)few:{i}") {{ }}\n'
                          for i in range(3)))
    ioc = isolated_ioc(db=db, asg_file=None, timeout=60)
    ctx = context_for(ioc)
    try:
        names = [f'TST:few:{i}' for i in range(3)]
        pvs = ctx.get_pvs(*names)
        for pv in pvs:
            pv.wait_for_connection(timeout=WAIT)
        for _ in range(3):
            for pv in pvs:
                pv.go_idle()
            for pv in pvs:
                pv.read(timeout=WAIT)       # wakes it: a new channel
        (cm,) = ctx.circuit_managers.values()
        assert sorted(cm.all_created_pvnames) == names
        extra, = ctx.get_pvs('TST:few:0', priority=1)
        extra.wait_for_connection(timeout=WAIT)
        assert ctx.circuit_managers[(extra.circuit_manager.address, 1)
                                   ].all_created_pvnames == ['TST:few:0']
    finally:
        ctx.disconnect()
