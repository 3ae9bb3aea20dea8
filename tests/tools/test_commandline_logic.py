"""The tools' control flow on a scripted client: timeouts, refusals and
error replies that a healthy softIoc never produces on demand.

The fake context/PV implement just the part of the threading-client API the
tools use (get_pvs, wait_for_connection, read, write, subscribe); responses
are SimpleNamespaces shaped like the client's.
"""
from __future__ import annotations

import io
import threading
from types import SimpleNamespace

import numpy as np
import pytest

from cawire.protocol._exceptions import (CaprotoTimeoutError, ErrorResponseReceived,
                                PermissionDenied)
from cawire.protocol._status import CAStatus
from cawire.commandline import get, monitor, put
from cawire.commandline._session import ToolOutput


# Time stamps print in local time, as in C: pin the zone to UTC.
pytestmark = pytest.mark.usefixtures('utc_zone')


class FakePV:
    def __init__(self, name, native_type=6, count=1, *, connects=True,
                 read=None, write=None):
        self.name = name
        self.channel = SimpleNamespace(native_data_type=native_type,
                                       native_data_count=count)
        self.connected = connects
        self._read = read
        self._write = write
        self.writes = []
        self.reads = []
        self.connection_state_callback = FakeConnectionCallbacks(self)

    def wait_for_connection(self, timeout=None):
        if not self.connected:
            raise CaprotoTimeoutError(f'{self.name} not found')

    def read(self, *, data_type, data_count, wait=True, callback=None,
             timeout=None):
        self.reads.append((data_type, data_count))
        outcome = self._read(data_type, data_count)
        if isinstance(outcome, BaseException):
            raise outcome
        if outcome is None:  # never answered
            if wait:
                raise CaprotoTimeoutError('no reply')
            return None
        if callback is not None:
            callback(outcome)
        return outcome if wait else None

    def write(self, data, *, data_type, wait=True, notify=None, timeout=None,
              callback=None):
        self.writes.append((data_type, data, wait))
        outcome = self._write(data_type, data) if self._write else None
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome


class FakeConnectionCallbacks:
    """``pv.connection_state_callback``: add_callback(func, run) / process."""

    def __init__(self, pv):
        self.pv = pv
        self.callbacks = []

    def add_callback(self, func, run=False):
        self.callbacks.append(func)
        return len(self.callbacks) - 1

    def process(self, state):
        for func in self.callbacks:
            func(self.pv, state)


class FakeContext:
    def __init__(self, *pvs):
        self.pvs = {pv.name: pv for pv in pvs}

    def get_pvs(self, *names, priority=0, timeout=None):
        return [self.pvs[name] for name in names]


def time_double(value, *, status=CAStatus.ECA_NORMAL):
    metadata = SimpleNamespace(status=0, severity=0, secondsSinceEpoch=1,
                               nanoSeconds=0)
    return SimpleNamespace(data_type=20, data=np.array([value]),
                           metadata=metadata, status=status)


def run_tool(module, args, context):
    out, err = io.BytesIO(), io.BytesIO()
    code = module.run(args, output=ToolOutput(out, err), context=context)
    return code, out.getvalue().decode('latin-1'), err.getvalue().decode('latin-1')


def test_get_read_timeout_is_reported_and_fails():
    slow = FakePV('slow', read=lambda *args: None)
    fast = FakePV('fast', read=lambda *args: time_double(2.5))
    code, out, err = run_tool(get, ['-w', '0.05', 'slow', 'fast'],
                              FakeContext(slow, fast))
    assert code == 1
    assert err == 'Read operation timed out: some PV data was not read.\n'
    assert out == ('slow                           '
                   '*** no data available (timeout)\n'
                   'fast                           2.5\n')


def test_get_server_error_status():
    failed = FakePV('failed', read=lambda *args: time_double(
        0.0, status=CAStatus.ECA_GETFAIL))
    code, out, err = run_tool(get, ['-c', 'failed'], FakeContext(failed))
    assert out == ('failed                         '
                   '*** CA error Channel read request failed\n')
    assert code == 0 and err == ''
    # without -c, libca never completes the get: timeout, zeroed value
    code, out, err = run_tool(get, ['failed'], FakeContext(failed))
    assert code == 1 and out == 'failed                         0\n'
    assert 'timed out' in err


def test_get_request_types_and_counts():
    array = FakePV('wf', native_type=6, count=8,
                   read=lambda *args: time_double(1.0))
    run_tool(get, ['wf'], FakeContext(array))
    run_tool(get, ['-c', 'wf'], FakeContext(array))
    run_tool(get, ['-c', '-#', '3', 'wf'], FakeContext(array))
    run_tool(get, ['-#', '30', '-d', 'CTRL_DOUBLE', 'wf'], FakeContext(array))
    enum = FakePV('e', native_type=3, read=lambda *args: time_double(1.0))
    run_tool(get, ['e'], FakeContext(enum))
    run_tool(get, ['-n', 'e'], FakeContext(enum))
    run_tool(get, ['-s', 'wf'], FakeContext(array))
    # caget reads the native count; with -c it asks for the dynamic length
    assert array.reads == [(20, 8), (20, 0), (20, 3), (34, 8), (14, 8)]
    assert enum.reads == [(14, 1), (15, 1)]


def test_get_unknown_channel():
    missing = FakePV('missing', connects=False)
    code, out, err = run_tool(get, ['missing'], FakeContext(missing))
    assert (code, out) == (1, '')
    assert err == "Channel connect timed out: 'missing' not found.\n"


def test_put_callback_timeout_and_refusals():
    def reader(data_type, count):
        return time_double(1.5)

    slow = FakePV('pv', read=reader,
                  write=lambda *args: CaprotoTimeoutError('no reply'))
    code, out, err = run_tool(put, ['-c', 'pv', '2'], FakeContext(slow))
    assert code == 1 and err == 'Write callback operation timed out\n'
    assert out == 'Old : pv                             1.5\n'

    response = SimpleNamespace(status=CAStatus.ECA_PUTFAIL)
    refused = FakePV('pv', read=reader, write=lambda *args: ErrorResponseReceived(
        'refused', response=response))
    code, out, err = run_tool(put, ['-c', 'pv', '2'], FakeContext(refused))
    assert code == 1
    assert err == 'ERROR occured writing data: Channel write request failed\n'

    denied = FakePV('pv', read=reader, write=lambda *args: PermissionDenied(
        'no', response=CAStatus.ECA_NOWTACCESS))
    code, out, err = run_tool(put, ['pv', '2'], FakeContext(denied))
    assert code == 1
    assert err == 'ERROR from put operation: Write access denied\n'


def test_put_data_conversions():
    strings = ('Zero', 'One', 'Two')

    def reader(data_type, count):
        if data_type == 24:  # GR_ENUM for the state strings
            return SimpleNamespace(data_type=24, data=np.array([0]),
                                   metadata=SimpleNamespace(
                                       status=0, severity=0,
                                       enum_strings=strings))
        return SimpleNamespace(data_type=14, data=[b'Zero'],
                               metadata=SimpleNamespace(
                                   status=0, severity=0, secondsSinceEpoch=1,
                                   nanoSeconds=0))

    enum = FakePV('e', native_type=3, count=3, read=reader)
    run_tool(put, ['e', 'Two'], FakeContext(enum))
    run_tool(put, ['e', '2'], FakeContext(enum))
    run_tool(put, ['-n', 'e', '1.5'], FakeContext(enum))
    run_tool(put, ['-a', 'e', '2', 'One', '2'], FakeContext(enum))
    run_tool(put, ['-a', 'e', '2', '2', 'One'], FakeContext(enum))
    assert [(dt, data) for dt, data, _ in enum.writes] == [
        (0, [b'Two']), (6, [2.0]), (6, [1.5]),
        (6, [0.0, 2.0]),            # the last value decides: numbers
        (0, [b'2', b'One'])]        # ... or strings

    text = FakePV('s', native_type=0, read=lambda *a: reader(14, 1))
    run_tool(put, ['s', r'a\tb', 'c'], FakeContext(text))
    run_tool(put, ['s', 'x' * 50], FakeContext(text))
    assert [data for _, data, _ in text.writes] == [[b'a\tb c'], [b'x' * 39]]

    chars = FakePV('c', native_type=4, count=64, read=lambda *a: SimpleNamespace(
        data_type=18, data=np.zeros(64, np.uint8), metadata=SimpleNamespace(
            status=0, severity=0, secondsSinceEpoch=1, nanoSeconds=0)))
    run_tool(put, ['-S', 'c', r'hi\x41', 'there'], FakeContext(chars))
    assert chars.writes == [(4, b'hiA there\0', False)]


def test_monitor_prints_updates_and_disconnects():
    class Subscription:
        def __init__(self):
            self.callbacks = {}

        def add_callback(self, func):
            self.callbacks[0] = func
            return 0

        def remove_callback(self, token):
            self.callbacks.pop(token)

    subscription = Subscription()
    pv = FakePV('m', read=None)
    requests = []

    def subscribe(**kwargs):
        requests.append(kwargs)
        return subscription

    pv.subscribe = subscribe
    out, err = io.BytesIO(), io.BytesIO()
    stop = threading.Event()
    thread = threading.Thread(target=monitor.run, kwargs=dict(
        args=['-w', '0.1', '-#', '5', 'm'], output=ToolOutput(out, err),
        context=FakeContext(pv), stop=stop))
    thread.start()
    try:
        pv.connection_state_callback.process('connected')
        for _ in range(200):
            if subscription.callbacks:
                break
            threading.Event().wait(0.01)
        subscription.callbacks[0](subscription, time_double(4.0))
        pv.connection_state_callback.process('disconnected')
        for _ in range(200):
            if out.getvalue().count(b'\n') >= 2:
                break
            threading.Event().wait(0.01)
    finally:
        stop.set()
        thread.join(timeout=10)
    lines = out.getvalue().decode().splitlines()
    assert requests == [dict(data_type=20, data_count=1, mask=5)]
    assert lines[0] == 'm                              1990-01-01 00:00:01.000000 1 4  '
    assert lines[1].startswith('m                              ')
    assert lines[1].endswith(' *** disconnected')
