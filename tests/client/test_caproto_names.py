"""caproto.threading.client's module-level names, and the spawned repeater.

* every public name of ``caproto.threading.client`` (1.3.0) that is not a
  module or a stdlib helper is importable from ``cawire.threading.client``,
  except the internals listed in ``NOT_PROVIDED`` (each with its reason,
  also in docs/caproto-migration.md);
* the exception hierarchy matches caproto's;
* ``batch_requests`` groups exactly as caproto's; ``ensure_connected``
  connects (and wakes an idle PV), retries after a circuit death, and
  rejects other objects, against the real softIoc;
* a Context spawns a repeater when none runs, leaving no ResourceWarning
  and no zombie, and CAWIRE_SPAWN_REPEATER=NO turns that off.
"""
import inspect
import json
import os
import random
import socket
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import caproto.threading.client as caproto_client
import pytest

import cawire.threading.client as cawire_client
from cawire.testing import epics
from cawire.threading._repeater_spawn import SpawnedRepeater

ROOT = Path(__file__).resolve().parents[2]
WAIT = 10.0

#: caproto names deliberately not provided, with the reason.
NOT_PROVIDED = {
    'SelectorThread': 'caproto internal (its network thread)',
    'CallbackHandler': 'caproto internal (per-PV callback dispatch)',
    'ThreadsafeCounter': 'caproto._utils internal (id allocation)',
    'adapt_old_callback_signature': 'caproto._utils internal; cawire '
                                    'adapts old callbacks itself',
    'safe_getsockname': 'caproto._utils socket helper',
    'socket_bytes_available': 'caproto._utils socket helper',
    'ch_logger': "caproto's logger object; cawire logs under cawire.*",
    'search_logger': "caproto's logger object; cawire logs under cawire.*",
}
#: Names caproto's module merely imported from the standard library.
STDLIB_IMPORTS = {'Empty', 'Queue', 'Parameter', 'Signature', 'defaultdict',
                  'deque'}


def caproto_public_names():
    names = set()
    for name in dir(caproto_client):
        if name.startswith('_'):
            continue
        if isinstance(getattr(caproto_client, name), types.ModuleType):
            continue
        names.add(name)
    return names - STDLIB_IMPORTS


def test_caproto_module_names_are_provided():
    missing = sorted(name for name in caproto_public_names()
                     if not hasattr(cawire_client, name)
                     and name not in NOT_PROVIDED)
    assert not missing, missing
    # the exclusion list holds no stale entries
    assert set(NOT_PROVIDED) <= caproto_public_names()
    for name in cawire_client.__all__:
        assert hasattr(cawire_client, name), name


EXCEPTIONS = ['CaprotoError', 'CaprotoKeyError', 'CaprotoNetworkError',
              'CaprotoRuntimeError', 'CaprotoTimeoutError',
              'CaprotoTypeError', 'CaprotoValueError',
              'ThreadingClientException', 'DisconnectedError',
              'ContextDisconnectedError', 'DeadCircuitError']


@pytest.mark.parametrize('name', EXCEPTIONS)
def test_exception_hierarchy_matches_caproto(name):
    ours, theirs = getattr(cawire_client, name), getattr(caproto_client, name)
    caproto_bases = [base.__name__ for base in theirs.__mro__]
    our_bases = [base.__name__ for base in ours.__mro__]
    # every caproto ancestor is ours too (we may add builtin ones)
    assert set(caproto_bases) <= set(our_bases), (our_bases, caproto_bases)
    for base_name in caproto_bases:
        if hasattr(cawire_client, base_name):
            assert issubclass(ours, getattr(cawire_client, base_name))


def test_constants_match_caproto():
    for name in ('MAX_ID', 'STALE_SEARCH_EXPIRATION',
                 'RESPONSIVENESS_TIMEOUT'):
        assert getattr(cawire_client, name) == getattr(caproto_client, name), \
            name
    # Deliberate: search datagrams are capped at libca's MAX_UDP_SEND (1024),
    # caproto's at 1472.
    assert cawire_client.SEARCH_MAX_DATAGRAM_BYTES == 1024
    assert caproto_client.SEARCH_MAX_DATAGRAM_BYTES == 1472


def test_subscribe_signature_matches_caproto():
    ours, theirs = cawire_client.SUBSCRIBE_SIG, caproto_client.SUBSCRIBE_SIG
    assert isinstance(ours, inspect.Signature)
    assert list(ours.parameters) == list(theirs.parameters)
    for name, parameter in theirs.parameters.items():
        assert ours.parameters[name].default == parameter.default
    assert ours.bind(6, 1).arguments == theirs.bind(6, 1).arguments


def test_batch_requests_matches_caproto():
    rng = random.Random(4)
    for _ in range(200):
        items = [b'x' * rng.randint(0, 30) for _ in range(rng.randint(0, 20))]
        limit = rng.randint(1, 60)
        ours = [list(b) for b in cawire_client.batch_requests(items, limit)]
        theirs = [list(b) for b in caproto_client.batch_requests(items, limit)]
        # caproto yields an empty first batch when the first item alone is
        # over the limit; otherwise the groups are the same.
        assert ours == [b for b in theirs if b], (items, limit)


# -- ensure_connected against the softIoc -----------------------------------------

@pytest.fixture
def ctx(softioc):
    context = cawire_client.Context(timeout=WAIT)
    yield context
    context.disconnect()


def test_ensure_connected_connects_and_passes_the_timeout(ctx):
    seen = {}

    @cawire_client.ensure_connected
    def read_value(pv, *, timeout=None):
        seen['timeout'] = timeout
        seen['connected'] = pv.connected
        return pv.read(timeout=timeout).data.tolist()

    ai, = ctx.get_pvs('TST:ai')
    assert read_value(ai, timeout=WAIT) == [3.14159]
    assert seen['connected'] is True
    assert 0 < seen['timeout'] <= WAIT
    # an idle PV is woken up
    ai.go_idle()
    assert read_value(ai) == [3.14159]
    assert read_value.__name__ == 'read_value'


def test_ensure_connected_retries_after_a_circuit_death(ctx):
    calls = []

    @cawire_client.ensure_connected
    def flaky(pv, timeout=None):
        calls.append(timeout)
        if len(calls) < 3:
            raise cawire_client.DeadCircuitError()
        return 'done'

    @cawire_client.ensure_connected
    def always_dead(pv, timeout=None):
        raise cawire_client.DisconnectedError('circuit is dead')

    ai, = ctx.get_pvs('TST:ai')
    assert flaky(ai) == 'done' and len(calls) == 3
    with pytest.raises(cawire_client.DisconnectedError):
        always_dead(ai)


def test_ensure_connected_rejects_other_objects():
    for library in (cawire_client, caproto_client):
        with pytest.raises(library.CaprotoTypeError):
            library.ensure_connected(lambda self: None)(object())


def test_ensure_connected_times_out(ca_env):
    context = cawire_client.Context(timeout=0.3)
    try:
        missing, = context.get_pvs('TST:no_such_pv_anywhere')

        @cawire_client.ensure_connected
        def read(pv, timeout=None):
            return pv.read(timeout=timeout)

        with pytest.raises(cawire_client.CaprotoTimeoutError):
            read(missing)
    finally:
        context.disconnect()


# -- the spawned repeater -----------------------------------------------------------

SPAWN_SCRIPT = textwrap.dedent('''
    import json, os, sys, time, warnings
    warnings.simplefilter('default')
    from cawire.threading.client import Context
    context = Context(timeout=1)
    process = context.broadcaster.repeater_process
    pid = getattr(process, 'pid', None)
    deadline = time.monotonic() + 10
    while not context.broadcaster.registered and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        os.waitpid(-1, os.WNOHANG)
        children = 'some'
    except ChildProcessError:
        children = 'none'
    registered = context.broadcaster.registered
    context.disconnect()
    del context, process
    print(json.dumps({'pid': pid, 'registered': registered,
                      'children': children}))
''')


def run_spawn_script(repeater_port, **extra_env):
    env = epics.epics_env(epics.free_port(), repeater_port)
    env.update(PYTHONPATH=str(ROOT), **extra_env)
    completed = subprocess.run(
        [sys.executable, '-X', 'dev', '-W', 'default', '-c', SPAWN_SCRIPT],
        env=env, capture_output=True, text=True, timeout=60)
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout.splitlines()[-1]), completed.stderr


def test_spawned_repeater_leaves_no_warning_and_no_zombie():
    port = epics.free_port()
    result, stderr = run_spawn_script(port)
    repeater = SpawnedRepeater(result['pid']) if result['pid'] else None
    try:
        assert repeater is not None, stderr
        assert 'ResourceWarning' not in stderr and 'still running' not in \
            stderr, stderr
        assert result['children'] == 'none'   # the launcher was reaped
        assert result['registered'] is True
        # the repeater outlives the script, as caRepeater does ...
        assert repeater.poll() is None
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind(('127.0.0.1', 0))
            assert epics.register_with_repeater(probe, port, 2.0)
        # ... in another session than the script's and ours
        assert os.getsid(repeater.pid) != os.getsid(0)
    finally:
        if repeater is not None:
            repeater.terminate()
            repeater.wait(10)
    assert repeater.poll() == 0


@pytest.mark.parametrize('value', ['NO', 'no'])
def test_spawn_repeater_can_be_turned_off(value):
    port = epics.free_port()
    result, stderr = run_spawn_script(port, CAWIRE_SPAWN_REPEATER=value)
    assert result['pid'] is None
    assert result['registered'] is False
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(('', port))  # nobody took the port


def test_config_reads_spawn_repeater():
    from cawire.config import Config
    assert Config.from_environ({}).spawn_repeater is True
    assert Config.from_environ(
        {'CAWIRE_SPAWN_REPEATER': 'NO'}).spawn_repeater is False
    assert Config.from_environ(
        {'CAWIRE_SPAWN_REPEATER': 'yes'}).spawn_repeater is True

