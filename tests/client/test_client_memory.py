"""What a connected PV costs: shared component locks, no second cid table.

PVs of a context share a small pool of component locks (by cid) instead of
one RLock each; PVs that share one must still be usable from several
threads at once (connect, subscribe, idle, read) without waiting forever.
"""
import threading

from cawire.threading._context import COMPONENT_LOCK_STRIPES
from cawire.threading.client import Context, SharedBroadcaster
from cawire.config import Config

WAIT = 20.0


def context_for(ioc):
    settings = {'EPICS_CA_AUTO_ADDR_LIST': 'NO',
                'EPICS_CA_ADDR_LIST': f'127.0.0.1:{ioc.server_port}',
                'EPICS_CA_SERVER_PORT': str(ioc.server_port),
                'EPICS_CA_REPEATER_PORT': str(ioc.repeater_port)}
    return Context(SharedBroadcaster(config=Config.from_environ(settings)),
                   timeout=WAIT)


def test_pvs_share_component_locks_and_the_circuit_cid_table(isolated_ioc,
                                                             tmp_path):
    count = 3 * COMPONENT_LOCK_STRIPES
    db = tmp_path / 'few.db'
    db.write_text(''.join(f'record(ao, "$(P)few:{i}") {{ field(VAL, "{i}") }}\n'
                          for i in range(count)))
    ioc = isolated_ioc(db=db, asg_file=None)
    ctx = context_for(ioc)
    try:
        pvs = ctx.get_pvs(*(f'TST:few:{i}' for i in range(count)))
        for pv in pvs:
            pv.wait_for_connection(timeout=WAIT)
        locks = {id(pv.component_lock) for pv in pvs}
        assert len(locks) == COMPONENT_LOCK_STRIPES
        for pv in pvs:
            assert pv.component_lock is ctx.component_locks[
                pv.cid % COMPONENT_LOCK_STRIPES]
        (cm,) = ctx.circuit_managers.values()
        assert cm.book.channels is cm.circuit.channels
        assert set(cm.channels) == {pv.cid for pv in pvs}
        assert all(cm.channels[pv.cid] is pv.channel for pv in pvs)
    finally:
        ctx.disconnect()


def test_pvs_sharing_a_lock_work_from_several_threads(isolated_ioc, tmp_path):
    # Each thread drives its own PV; all of them share one component lock.
    threads_count = 4
    db = tmp_path / 'shared.db'
    db.write_text(''.join(
        f'record(ao, "$(P)shared:{i}") {{ field(VAL, "{i}") }}\n'
        for i in range(threads_count * COMPONENT_LOCK_STRIPES)))
    ioc = isolated_ioc(db=db, asg_file=None)
    ctx = context_for(ioc)
    try:
        pvs = ctx.get_pvs(*(f'TST:shared:{i}' for i in
                            range(threads_count * COMPONENT_LOCK_STRIPES)))
        first = pvs[0]
        sharing = [pv for pv in pvs
                   if pv.component_lock is first.component_lock]
        assert len(sharing) == threads_count
        errors = []
        rounds = 20

        def drive(pv, index):
            try:
                received = threading.Event()

                def on_update(sub, response):
                    received.set()

                for step in range(rounds):
                    pv.wait_for_connection(timeout=WAIT)
                    sub = pv.subscribe()
                    sub.add_callback(on_update)
                    assert received.wait(WAIT)
                    received.clear()
                    pv.write([float(index * 1000 + step)], wait=True)
                    assert pv.read().data[0] == index * 1000 + step
                    sub.clear()
                    pv.go_idle()
            except Exception as exc:  # reported by the main thread
                errors.append((pv.name, repr(exc)))

        workers = [threading.Thread(target=drive, args=(pv, index),
                                    daemon=True)
                   for index, pv in enumerate(sharing)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=4 * WAIT)
        assert not any(worker.is_alive() for worker in workers), \
            'a thread is stuck (lock order?)'
        assert errors == []
    finally:
        ctx.disconnect()
