"""Reconnection: servers that die, restart, or stop answering.

Each test runs its own softIoc on its own port (``isolated_ioc``) so that
killing it does not disturb the session IOC, and a Context configured to
search only that port.
"""
import signal
import threading
import time


from cawire.config import Config
from cawire.protocol._exceptions import DisconnectedError
from cawire.threading.client import Context, SharedBroadcaster

WAIT = 15.0


def wait_until(predicate, timeout=WAIT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def stop_process(ioc):
    """SIGSTOP the IOC and wait until every thread of it is stopped."""
    ioc.kill(signal.SIGSTOP)

    def all_stopped():
        import os
        task_dir = f'/proc/{ioc.pid}/task'
        for tid in os.listdir(task_dir):
            with open(f'{task_dir}/{tid}/stat') as stat:
                state = stat.read().rsplit(')', 1)[1].split()[0]
            if state not in ('T', 't'):
                return False
        return True

    assert wait_until(all_stopped)


def context_for(ioc, **environ):
    settings = {'EPICS_CA_AUTO_ADDR_LIST': 'NO',
                'EPICS_CA_ADDR_LIST': f'127.0.0.1:{ioc.server_port}',
                'EPICS_CA_SERVER_PORT': str(ioc.server_port),
                'EPICS_CA_REPEATER_PORT': str(ioc.repeater_port)}
    settings.update(environ)
    config = Config.from_environ(settings)
    return Context(SharedBroadcaster(config=config), timeout=WAIT)


def test_subscription_resumes_after_ioc_restart(isolated_ioc):
    ioc = isolated_ioc()
    ctx = context_for(ioc)
    try:
        states = []

        def on_state(pv, state):  # held weakly by the PV
            states.append(state)

        counter, = ctx.get_pvs('TST:counter',
                               connection_state_callback=on_state)
        values = []
        sub = counter.subscribe()

        def f(sub, response):
            values.append(response.data[0])

        sub.add_callback(f)
        assert wait_until(lambda: len(values) >= 3)
        ioc.kill()  # SIGKILL: the kernel resets the connection
        assert wait_until(lambda: 'disconnected' in states)
        assert not counter.connected
        ioc.stop()
        received_before_restart = len(values)
        ioc.start()
        # Searched again, reconnected and re-subscribed without user action.
        assert wait_until(lambda: states[-1:] == ['connected'])
        assert wait_until(lambda: len(values) >= received_before_restart + 3)
        assert states == ['connected', 'disconnected', 'connected']
        assert counter.read().data[0] >= 0
        sub.clear()
    finally:
        ctx.disconnect()


def test_pending_read_fails_promptly_when_circuit_dies(isolated_ioc):
    ioc = isolated_ioc()
    ctx = context_for(ioc)
    try:
        ai, = ctx.get_pvs('TST:ai')
        ai.wait_for_connection()
        stop_process(ioc)  # the IOC stops answering
        outcome = {}

        def reader():
            started = time.monotonic()
            try:
                ai.read(timeout=60)
            except Exception as exc:  # noqa: BLE001 - recorded for the test
                outcome['error'] = exc
            outcome['elapsed'] = time.monotonic() - started

        thread = threading.Thread(target=reader)
        thread.start()
        time.sleep(0.2)  # let the request go out
        assert thread.is_alive(), outcome
        ioc.kill(signal.SIGKILL)
        thread.join(WAIT)
        assert not thread.is_alive()
        assert isinstance(outcome.get('error'), DisconnectedError)
        assert outcome['elapsed'] < 60
    finally:
        ctx.disconnect()


def test_unresponsive_server_is_detected_by_echo(isolated_ioc):
    ioc = isolated_ioc()
    ctx = context_for(ioc, EPICS_CA_CONN_TMO='0.5')
    try:
        states = []

        def on_state(pv, s):  # held weakly by the PV
            states.append(s)

        ai, = ctx.get_pvs('TST:ai', connection_state_callback=on_state)
        ai.wait_for_connection()
        cm = ai.circuit_manager
        stop_process(ioc)
        # CONN_TMO of silence -> ECHO; no reply within 5 s -> circuit dead.
        assert wait_until(lambda: cm.dead.is_set(), timeout=20)
        assert cm.keepalive.echoes_sent >= 1
        assert 'unresponsive' in cm.close_reason
        assert wait_until(lambda: 'disconnected' in states)
        ioc.kill(signal.SIGCONT)
        assert wait_until(lambda: ai.connected, timeout=20)
        assert ai.read().data.tolist() == [3.14159]
    finally:
        ioc.kill(signal.SIGCONT)
        ctx.disconnect()


def test_circuit_kept_alive_by_echo_when_idle(isolated_ioc):
    ioc = isolated_ioc()
    ctx = context_for(ioc, EPICS_CA_CONN_TMO='0.3')
    try:
        ai, = ctx.get_pvs('TST:ai')
        ai.wait_for_connection()
        cm = ai.circuit_manager
        assert wait_until(lambda: cm.keepalive.echoes_sent >= 2)
        assert not cm.dead.is_set()
        assert ai.read().data.tolist() == [3.14159]
    finally:
        ctx.disconnect()
