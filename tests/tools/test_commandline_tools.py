"""cawire-get/put/monitor against EPICS base's caget/caput/camonitor.

Both run as subprocesses with the same arguments against the same softIoc
(tests/db/tools.db: every native type, arrays, enums, strings, alarms, an
undefined record, read-only and put-disabled records); stdout must be
identical byte for byte, and so must the exit status and stderr (after
mapping our program names to the C ones and dropping libCom's ANSI colour).
Time stamps are masked only where they legitimately differ (caput -l, whose
"Old" value was written just before each tool ran, and client time stamps).
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from cawire.testing import epics

pytestmark = pytest.mark.epics

DB_DIR = Path(__file__).parent.parent / 'db'
PREFIX = 'CWT:'
REPO = Path(__file__).resolve().parents[2]

OURS = {'caget': 'cawire.commandline.get', 'caput': 'cawire.commandline.put',
        'camonitor': 'cawire.commandline.monitor',
        'cainfo': 'cawire.commandline.info'}
PROG = {'caget': 'cawire-get', 'caput': 'cawire-put',
        'camonitor': 'cawire-monitor', 'cainfo': 'cawire-info'}

_ANSI = re.compile(rb'\x1b\[[0-9;]*m')
_STAMP = re.compile(rb'\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}')


def pv(*names):
    return [PREFIX + name for name in names]


# Records with a fixed value and time stamp (processed once at iocInit).
STATIC = pv('double', 'double_alarm', 'double_minor', 'double_big',
            'double_neg', 'udf', 'long', 'long_neg', 'long_zero', 'int64',
            'bo', 'bo_nostr', 'mbbo', 'string', 'string_empty', 'string_esc',
            'lstring', 'lstring.VAL$', 'wf_double', 'wf_float', 'wf_long',
            'wf_short', 'wf_char', 'wf_uchar', 'wf_string', 'wf_empty',
            'float1', 'short1', 'char1', 'readonly', 'disabled_put')
STRINGS = set(pv('string', 'string_empty', 'string_esc', 'lstring',
                 'wf_string'))
NUMERIC = [name for name in STATIC if name not in STRINGS]


@pytest.fixture(scope='module')
def ioc(ca_env, repeater):
    """softIoc with tools.db on its own port (the session IOC keeps its)."""
    with epics.SoftIoc(DB_DIR / 'tools.db', epics.free_port(),
                       ca_env.repeater_port, macros={'P': PREFIX},
                       asg_file=DB_DIR / 'tools.acf') as running:
        yield running


def _env(ioc, extra=None):
    env = dict(ioc.env)
    env.pop('EPICS_CLI_TIMEOUT', None)
    env.pop('POSIXLY_CORRECT', None)
    env['PYTHONPATH'] = os.pathsep.join(
        filter(None, [str(REPO), env.get('PYTHONPATH', '')]))
    env.update(extra or {})
    return env


def _c_argv(tool, args):
    return [str(epics.epics_bin_dir() / tool), *args]


def _our_argv(tool, args):
    return [sys.executable, '-m', OURS[tool], *args]


def run_c(ioc, tool, args, *, env=None, timeout=20):
    return subprocess.run(_c_argv(tool, args), capture_output=True,
                          env=_env(ioc, env), timeout=timeout)


def run_ours(ioc, tool, args, *, env=None, timeout=20):
    return subprocess.run(_our_argv(tool, args), capture_output=True,
                          env=_env(ioc, env), timeout=timeout, cwd=REPO)


def run_both(ioc, tool, args, *, env=None, timeout=20):
    """Run the C tool and ours at the same time (for tools that do not
    change the IOC's state); returns two CompletedProcess."""
    procs = [subprocess.Popen(argv, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env=_env(ioc, env),
                              cwd=REPO)
             for argv in (_c_argv(tool, args), _our_argv(tool, args))]
    results = []
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=timeout)
            results.append(subprocess.CompletedProcess(proc.args,
                                                       proc.returncode,
                                                       out, err))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
    return results


_VERSION = re.compile(rb'EPICS Version [^,\n]*, CA Protocol')


def _c_stderr(tool, text: bytes) -> bytes:
    return _VERSION.sub(b'EPICS Version <v>, CA Protocol', _ANSI.sub(b'', text))


def _our_stderr(tool, text: bytes) -> bytes:
    return _VERSION.sub(b'EPICS Version <v>, CA Protocol',
                        text.replace(PROG[tool].encode(), tool.encode()))


def _caca_exceptions(text: bytes) -> bytes:
    """Drop libca's multi-line CA.Client.Exception reports (asynchronous
    server errors, reported by our client as one log line instead)."""
    return re.sub(rb'CA\.Client\.Exception\.+\n(?:    .*\n)*\.+\n', b'', text)


def assert_same(ioc, tool, args, *, mask_stamps=False, env=None,
                compare_stderr=True):
    """Run both tools; stdout, exit status and stderr must match."""
    if tool == 'caput':  # writes: one after the other
        c = run_c(ioc, tool, args, env=env)
        ours = run_ours(ioc, tool, args, env=env)
    else:
        c, ours = run_both(ioc, tool, args, env=env)
    c_out, our_out = c.stdout, ours.stdout
    if mask_stamps:
        c_out, our_out = _STAMP.sub(b'<TS>', c_out), _STAMP.sub(b'<TS>', our_out)
    assert our_out == c_out, (
        f'stdout differs for {tool} {args}\n--- C:\n{c.stdout.decode("latin-1")}'
        f'--- ours:\n{ours.stdout.decode("latin-1")}'
        f'--- our stderr:\n{ours.stderr.decode("latin-1")}')
    assert ours.returncode == c.returncode, (tool, args, ours.stderr)
    if compare_stderr:
        assert _our_stderr(tool, ours.stderr) == \
            _caca_exceptions(_c_stderr(tool, c.stderr)), (tool, args)
    return c, ours


# -- caget -------------------------------------------------------------------------

GET_FLAGS = [
    [], ['-t'], ['-a'], ['-n'], ['-S'], ['-e', '3'], ['-f2'], ['-g10'],
    ['-s'], ['-F,'], ['-F', ',', '-a'], ['-F|', '-t'], ['-0x'], ['-0b'],
    ['-0o'], ['-lx'], ['-lb'], ['-lo'], ['-#', '3'], ['-#', '1'],
    ['-#', '0'], ['-#', '100'], ['-c'], ['-c', '-a'], ['-c', '-#', '2'],
    ['-a', '-n'], ['-a', '-S'], ['-t', '-S'], ['-a', '-#', '2', '-S'],
    ['-a', '-e1', '-0x'], ['-w', '3'], ['-p', '10'], ['-f', '-1'],
    ['-e', 'x'], ['-0z'], ['-w', 'abc'], ['-p', 'x'], ['-#', 'abc'],
    ['-t', '-a'], ['-d', 'DBR_INT'], ['-d', 'double'], ['-d', '35'],
]


@pytest.mark.parametrize('flags', GET_FLAGS, ids=' '.join)
def test_caget_flags(ioc, flags):
    assert_same(ioc, 'caget', flags + STATIC)


def test_caget_options_after_names(ioc):
    """glibc getopt permutes: options may follow the PV names."""
    assert_same(ioc, 'caget', STATIC[:5] + ['-a', '-f3'])


DBR_TYPES = [str(number) for number in range(35)] + ['37', '38']
DBR_NAMES = ['DBR_STRING', 'STS_DOUBLE', 'DBR_TIME_ENUM', 'GR_CHAR',
             'CTRL_SHORT', 'DBR_CTRL_ENUM', 'STSACK_STRING', 'CLASS_NAME',
             '6abc']


@pytest.mark.parametrize('dbr', DBR_TYPES + DBR_NAMES)
def test_caget_dbr_types(ioc, dbr):
    # String records read as numbers fail on the server; both tools then
    # differ only in libca's exception report: compare numeric ones.
    names = STATIC if dbr in ('0', '7', '14', '21', '28', '37', '38',
                              'DBR_STRING', 'STSACK_STRING', 'CLASS_NAME') \
        else NUMERIC
    assert_same(ioc, 'caget', ['-d', dbr] + names)


@pytest.mark.parametrize('flags', [['-n'], ['-S'], ['-0x'], ['-e2'],
                                   ['-#', '2'], ['-c'], ['-F,']])
def test_caget_dbr_types_with_flags(ioc, flags):
    for dbr in ('CTRL_DOUBLE', 'CTRL_ENUM', 'TIME_CHAR', 'GR_LONG'):
        assert_same(ioc, 'caget', flags + ['-d', dbr] + NUMERIC)


@pytest.mark.parametrize('flags', [[], ['-a'], ['-c'], ['-c', '-a'],
                                   ['-#', '7'], ['-d', 'CTRL_DOUBLE'], ['-t']],
                         ids=' '.join)
def test_caget_large_array(ioc, flags):
    """20000 doubles: extended headers, more than the classic 16 kB."""
    assert_same(ioc, 'caget', flags + pv('wf_big', 'double'))


@pytest.mark.parametrize('args', [
    ['nonexistent:pv'], ['-w', '0.3', 'nonexistent:pv'],
    ['-a', 'nonexistent:pv', PREFIX + 'double'],
    ['-t', PREFIX + 'double', 'nonexistent:a', 'nonexistent:b'],
], ids=' '.join)
def test_caget_unknown_pv(ioc, args):
    c, _ = assert_same(ioc, 'caget', args)
    assert c.returncode == 1 and c.stdout == b''


@pytest.mark.parametrize('flags', [[], ['-a'], ['-t'], ['-c'],
                                   ['-d', 'CTRL_DOUBLE']], ids=' '.join)
def test_caget_no_read_access(ioc, flags):
    c, _ = assert_same(ioc, 'caget', flags + pv('noaccess', 'double'),
                       mask_stamps='-a' in flags)
    assert b'no read access' in c.stdout


@pytest.mark.parametrize('args', [
    [], ['-x', 'pv'], ['-w'], ['-d'], ['-h'], ['-i', 'pv'], ['--', '-a'],
], ids=lambda args: ' '.join(args) or 'none')
def test_caget_usage(ioc, args):
    assert_same(ioc, 'caget', args)


def test_caget_cli_timeout_environment(ioc):
    env = {'EPICS_CLI_TIMEOUT': '0.2'}
    started = time.monotonic()
    assert_same(ioc, 'caget', ['nonexistent:pv'], env=env)
    assert time.monotonic() - started < 5  # i.e. not 2 x the 1 s default
    assert_same(ioc, 'caget', [PREFIX + 'double'],
                env={'EPICS_CLI_TIMEOUT': 'abc'})


# -- caput -------------------------------------------------------------------------

PUT_CASES = [
    # (reset arguments for the C caput, arguments of both tools)
    (['double_put', '1.5'], ['double_put', '2.5']),
    (['double_put', '1.5'], ['-t', 'double_put', '3.25']),
    (['double_put', '1.5'], ['-c', 'double_put', '1.25']),
    (['double_put', '1.5'], ['-c', '-w', '5', 'double_put', '-7e-3']),
    (['double_put', '1.5'], ['-F,', 'double_put', '4']),
    (['long_put', '7'], ['long_put', '3.7']),
    (['long_put', '7'], ['long_put', '-12']),
    (['long_put', '7'], ['--', 'long_put', '-13']),
    (['mbbo_put', 'Zero'], ['mbbo_put', 'Two']),
    (['mbbo_put', 'Zero'], ['mbbo_put', '1']),
    (['mbbo_put', 'Zero'], ['mbbo_put', '7']),
    (['mbbo_put', 'Zero'], ['mbbo_put', 'bogus']),
    (['mbbo_put', 'Zero'], ['-n', 'mbbo_put', '2']),
    (['mbbo_put', 'Zero'], ['-n', 'mbbo_put', 'One']),
    (['mbbo_put', 'Zero'], ['-s', 'mbbo_put', '1']),
    (['mbbo_put', 'Zero'], ['-s', 'mbbo_put', 'One']),
    (['mbbo_put', 'Zero'], ['-a', 'mbbo_put', '2', 'One', '2']),
    (['mbbo_put', 'Zero'], ['-c', '-n', 'mbbo_put', '1']),
    (['string_put', 'x'], ['string_put', 'hello', 'there', 'world']),
    (['string_put', 'x'], ['string_put', r'a\tb\x41\"q\\z']),
    (['string_put', 'x'], ['string_put', 'x' * 60]),
    (['string_put', 'x'], ['-c', 'string_put', '']),
    (['-a', 'wf_put', '1', '0'], ['-a', 'wf_put', '3', '1', '2', '3.5']),
    (['-a', 'wf_put', '1', '0'], ['-a', 'wf_put', '5', '1', '2']),
    (['-a', 'wf_put', '1', '0'], ['-a', 'wf_put', '3']),
    (['-a', 'wf_put', '1', '0'], ['wf_put', '9']),
    (['-a', 'wf_put', '1', '0'], ['-a', 'wf_put', '11'] + ['1'] * 11),
    (['-S', 'wf_char_put', 'x'], ['-S', 'wf_char_put', 'Hi there']),
    (['-S', 'wf_char_put', 'x'], ['-S', 'wf_char_put', r'tab\there\x7fz']),
    (['-S', 'wf_char_put', 'x'], ['-S', 'wf_char_put', '']),
    (['-S', 'wf_char_put', 'x'], ['-S', '-t', 'wf_char_put', 'a', 'b']),
    (['-S', 'wf_char_put', 'x'], ['-a', 'wf_char_put', '3', '65', '66', '0']),
    (['double_put', '1'], ['-S', 'double_put', '12']),
    (['string_put', 'x'], ['-S', 'string_put', 'abc']),
    (['-S', 'lstring_put.VAL$', 'x'],
     ['-S', 'lstring_put.VAL$', 'a longer string than forty characters fits']),
    (['lstring_put', 'x'], ['lstring_put', 'abc']),
    (['-a', 'wf_string_put', '1', 'x'],
     ['-a', 'wf_string_put', '2', 'a', 'b c']),
    (['bo_put', '1'], ['bo_put', 'On']),
    (['bo_put', '1'], ['bo_put', '0']),
    (['bo_put', '1'], ['-c', 'bo_put', 'Off']),
    (['bo_put', '1'], ['-s', 'bo_put', '0']),
    (['bo_nostr_put', '1'], ['bo_nostr_put', '0']),
    (None, ['readonly', '3']),
    (None, ['-c', 'readonly', '3']),
    (['disabled_put', '11'], ['-c', 'disabled_put', '3']),
    (['double_put', '1.5'], ['-#', 'x', 'double_put', '2']),
    (['double_put', '1.5'], ['-w', 'abc', 'double_put', '2']),
]


def _put_args(args):
    """Prefix the first non-option argument (the PV name)."""
    out, named = [], False
    for index, arg in enumerate(args):
        if not named and (not arg.startswith('-') or arg == '-') and \
                (index == 0 or args[index - 1] not in ('-w', '-p', '-F', '-#')):
            out.append(PREFIX + arg)
            named = True
        else:
            out.append(arg)
    return out


@pytest.mark.parametrize('reset, args', PUT_CASES,
                         ids=[' '.join(args) for _, args in PUT_CASES])
def test_caput(ioc, reset, args):
    c, ours = _put_both(ioc, reset, args)
    assert ours.stdout == c.stdout, (args, c.stdout, ours.stdout, ours.stderr)
    assert ours.returncode == c.returncode, (args, ours.stderr)
    assert _our_stderr('caput', ours.stderr) == \
        _caca_exceptions(_c_stderr('caput', c.stderr)), args


def _put_both(ioc, reset, args):
    """Run caput then ours, each after resetting the record with ``reset``
    (caput arguments, None for records that cannot be written)."""
    args = _put_args(args)
    results = []
    for runner in (run_c, run_ours):
        if reset is not None:
            assert run_c(ioc, 'caput', ['-t'] + _put_args(reset)).returncode == 0
        results.append(runner(ioc, 'caput', args))
    return results


LONG_CASES = [
    (['double_put', '1.5'], ['-l', 'double_put', '4']),
    (['mbbo_put', 'Zero'], ['-l', 'mbbo_put', 'One']),
    (['mbbo_put', 'Zero'], ['-l', '-n', 'mbbo_put', '2']),
    (['double_put', '1.5'], ['-l', '-F,', 'double_put', '5']),
    (['-a', 'wf_put', '1', '0'], ['-l', '-a', 'wf_put', '2', '1', '2']),
    (['-S', 'wf_char_put', 'x'], ['-l', '-S', 'wf_char_put', 'abc']),
    (None, ['-l', 'readonly', '1']),
]


@pytest.mark.parametrize('reset, args', LONG_CASES,
                         ids=[' '.join(args) for _, args in LONG_CASES])
def test_caput_long_format(ioc, reset, args):
    """-l prints time stamps; each tool's "Old" was written just before it
    ran and "New" by itself, so the stamps are masked."""
    c, ours = _put_both(ioc, reset, args)
    assert _STAMP.sub(b'<TS>', ours.stdout) == _STAMP.sub(b'<TS>', c.stdout)
    assert ours.returncode == c.returncode


def test_caput_refused_write_without_callback(ioc):
    """A write the server refuses (DISP=1) without -c: libca reports it
    asynchronously and caput still exits 0; we print the "Old" line as
    caput does, then one error line instead of "New", and exit with 1."""
    args = [PREFIX + 'disabled_put', '3']
    c = run_c(ioc, 'caput', args)
    ours = run_ours(ioc, 'caput', args)
    assert c.returncode == 0
    assert b'Channel write request failed' in c.stderr
    assert ours.returncode == 1
    assert ours.stdout == c.stdout.splitlines(keepends=True)[0]
    assert ours.stdout.startswith(b'Old : ')
    errors = ours.stderr.strip().splitlines()
    assert len(errors) == 1, ours.stderr
    assert errors[0].startswith(b'ERROR from put operation: ')
    assert b'ECA_PUTFAIL' in errors[0]


@pytest.mark.parametrize('tool', ['caget', 'caput', 'camonitor', 'cainfo'])
def test_long_help(ioc, tool):
    """--help: the C tool's -h text, then our additions; exit 0."""
    c = run_c(ioc, tool, ['-h'])
    ours = run_ours(ioc, tool, ['--help'])
    assert ours.returncode == 0
    text = _our_stderr(tool, ours.stderr)
    assert text.startswith(_c_stderr(tool, c.stderr))
    assert b'cawire additions' in text and b'--help' in text
    assert ours.stdout == b''


@pytest.mark.parametrize('tool', ['caget', 'caput', 'camonitor', 'cainfo'])
def test_unknown_long_option(ioc, tool):
    ours = run_ours(ioc, tool, ['--frobnicate', PREFIX + 'double'])
    assert ours.returncode == 1
    assert ours.stderr == (b"Unrecognized option: '--frobnicate'. ('%s -h' "
                           b"for help.)\n" % PROG[tool].encode())


@pytest.mark.parametrize('args', [
    [], ['pv_only'], ['-x', 'pv', '1'], ['-r', 'pv', '1'], ['-w'], ['-h'],
    ['-i', 'pv', '1'],
    ['nonexistent:pv', '1'], ['-w', '0.3', 'nonexistent:pv', '1'],
    [PREFIX + 'noaccess', '1'],
], ids=lambda args: ' '.join(args) or 'none')
def test_caput_usage_and_unknown(ioc, args):
    assert_same(ioc, 'caput', args)


# -- camonitor ---------------------------------------------------------------------

class _MonitorPair:
    """camonitor and ours side by side, their stdout in files (so a test can
    wait for lines without blocking on pipes); both are stopped on exit."""

    def __init__(self, env, args, tmp_path):
        self.paths = [tmp_path / 'c.out', tmp_path / 'ours.out']
        self.err_paths = [tmp_path / 'c.err', tmp_path / 'ours.err']
        self.procs = []
        argvs = ([str(epics.epics_bin_dir() / 'camonitor')],
                 [sys.executable, '-m', OURS['camonitor']])
        try:
            for argv, path, err_path in zip(argvs, self.paths, self.err_paths):
                with open(path, 'wb') as out, open(err_path, 'wb') as err:
                    self.procs.append(subprocess.Popen(
                        argv + args, stdout=out, stderr=err, env=env, cwd=REPO))
        except BaseException:
            self.stop()
            raise

    def lines(self):
        return [path.read_bytes().count(b'\n') for path in self.paths]

    def wait_for(self, count, timeout=30):
        """Until both printed ``count`` lines (bounded by ``timeout``)."""
        _wait_for_lines(self.paths, count, timeout)

    def wait_until_equal(self, timeout=10, settle=0.5):
        """Let updates arrive: until both printed as many lines as each
        other and nothing changed for ``settle`` seconds."""
        deadline = time.monotonic() + timeout
        previous, stable_since = None, time.monotonic()
        while time.monotonic() < deadline:
            counts = self.lines()
            if counts != previous:
                previous, stable_since = counts, time.monotonic()
            elif counts[0] == counts[1] and \
                    time.monotonic() - stable_since >= settle:
                return
            time.sleep(0.05)

    def stop(self):
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)

    def outputs(self):
        return ([path.read_bytes() for path in self.paths],
                [path.read_bytes() for path in self.err_paths])

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.stop()


@pytest.mark.parametrize('flags', [
    [], ['-n'], ['-S'], ['-#', '3'], ['-t', 'n'], ['-F,'], ['-e2'], ['-0x'],
    ['-lx'], ['-s'], ['-m', 'p'], ['-m', 'x'], ['-t', 'x'], ['-f', '99'],
], ids=lambda flags: ' '.join(flags) or 'default')
def test_camonitor_initial_values(ioc, flags, tmp_path):
    with _MonitorPair(_env(ioc), flags + STATIC, tmp_path) as pair:
        pair.wait_for(len(STATIC))
        pair.wait_until_equal(settle=0.3)
    (c_out, our_out), (c_err, our_err) = pair.outputs()
    # Channels connect in any order, in both tools: compare the line sets.
    assert sorted(our_out.splitlines()) == sorted(c_out.splitlines())
    assert len(c_out.splitlines()) == len(STATIC)
    assert _our_stderr('camonitor', our_err) == c_err


def test_camonitor_large_array(ioc, tmp_path):
    with _MonitorPair(_env(ioc), pv('wf_big'), tmp_path) as pair:
        pair.wait_for(1)
    (c_out, our_out), _ = pair.outputs()
    assert our_out == c_out and c_out


def test_camonitor_not_connected(ioc, tmp_path):
    args = ['-w', '0.5', 'nonexistent:pv', PREFIX + 'double',
            PREFIX + 'noaccess']
    with _MonitorPair(_env(ioc), args, tmp_path) as pair:
        pair.wait_for(2)
        pair.wait_until_equal(settle=0.3)
    (c_out, our_out), _ = pair.outputs()
    assert our_out == c_out
    # The no-access channel connects but never delivers an update.
    assert c_out.endswith(b'nonexistent:pv                 '
                          b'*** Not connected (PV not found)\n')


@pytest.mark.parametrize('flags', [
    [], ['-t', 'si'], ['-t', 'sr'], ['-t', 'sI'], ['-#', '1'], ['-m', 'a'],
    ['-m', 'v', '-f3'], ['-n', '-F,', '-0x'],
], ids=lambda flags: ' '.join(flags) or 'default')
def test_camonitor_updates(ioc, flags, tmp_path):
    """Both tools see the same updates with the same server time stamps."""
    name = PREFIX + 'mon'
    run_c(ioc, 'caput', ['-t', name, '0'])
    with _MonitorPair(_env(ioc), flags + [name], tmp_path) as pair:
        pair.wait_for(1)  # both connected and printed the current value
        for value in ['1', '2.5', '9', '9.5', '-9', '0']:  # crosses alarms
            assert run_c(ioc, 'caput', ['-t', name, value]).returncode == 0
        pair.wait_until_equal()
    (c_out, our_out), _ = pair.outputs()
    assert our_out == c_out
    assert len(c_out.splitlines()) >= 2


RESTART_DB = '''
record(ao, "$(P)value") {
    field(VAL, "2.5")
    field(PINI, "YES")
}
record(waveform, "$(P)array") {
    field(FTVL, "LONG")
    field(NELM, "4")
    field(INP, "[1, 2, 3]")
    field(PINI, "YES")
}
'''


def test_camonitor_disconnect_and_reconnect(ca_env, repeater, tmp_path):
    """An IOC restart: both tools print "*** disconnected" (with the client's
    time) for every channel, then the values again once reconnected."""
    prefix = 'CWTR:'
    names = [prefix + 'value', prefix + 'array']
    with epics.SoftIoc(RESTART_DB, epics.free_port(), ca_env.repeater_port,
                       macros={'P': prefix}) as restart_ioc:
        with _MonitorPair(_env(restart_ioc), names, tmp_path) as pair:
            pair.wait_for(2)
            restart_ioc.restart()
            pair.wait_for(6)
    (c_out, our_out), _ = pair.outputs()
    c_lines, our_lines = (_STAMP.sub(b'<TS>', out).splitlines()
                          for out in (c_out, our_out))
    # Connections come up in either order; disconnects follow channel order.
    assert sorted(our_lines[:2]) == sorted(c_lines[:2])
    assert our_lines[2:4] == c_lines[2:4] == [
        prefix.encode() + b'value                     <TS> *** disconnected',
        prefix.encode() + b'array <TS> *** disconnected']
    assert sorted(our_lines[4:6]) == sorted(c_lines[4:6])


def _wait_for_lines(paths, count, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(path.read_bytes().count(b'\n') >= count for path in paths):
            return
        time.sleep(0.1)
    raise AssertionError('timed out waiting for output: ' + ' | '.join(
        repr(path.read_bytes()) for path in paths))


# -- against cawire's own server ------------------------------------------------------

TYPE_VARIETIES = ['type_varieties:' + name for name in (
    'double', 'float', 'long', 'short', 'char', 'enum', 'bool', 'string',
    'long_string', 'double_array', 'float_array', 'long_array', 'short_array',
    'char_array', 'string_array', 'alarmed', 'read_only')]


@pytest.fixture(scope='module')
def cawire_ioc(ca_env, repeater):
    """cawire.ioc_examples.type_varieties on its own port."""
    port = epics.free_port()
    env = epics.epics_env(port, ca_env.repeater_port)
    env['PYTHONPATH'] = str(REPO)
    proc = subprocess.Popen(
        [sys.executable, '-m', 'cawire.ioc_examples.type_varieties'],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=REPO)
    try:
        epics.wait_for_tcp(port, timeout=20,
                           alive=lambda: proc.poll() is None)
        yield SimpleNamespace(env=env)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.mark.parametrize('flags', [[], ['-a'], ['-c'], ['-d', 'CTRL_DOUBLE'],
                                   ['-d', 'CTRL_ENUM'], ['-S'], ['-n', '-t'],
                                   ['-d', 'CLASS_NAME']], ids=' '.join)
def test_caget_on_cawire_server(cawire_ioc, flags):
    """Both clients, our server: the same bytes come out."""
    names = TYPE_VARIETIES
    if '-d' in flags and 'CLASS_NAME' not in flags:
        # Strings read as numbers fail on the server (caget then exits 0
        # where we exit 1): compare the channels that convert.
        names = [name for name in names if 'string' not in name]
    assert_same(cawire_ioc, 'caget', flags + names)


# -- cawire-monitor additions (caproto-monitor's --maximum / --duration) ----------

def test_monitor_maximum_stops_after_n_updates(ioc):
    """--maximum N: N update lines (all PVs together), then exit 0; the
    lines are camonitor's lines for those updates."""
    started = time.monotonic()
    ours = run_ours(ioc, 'camonitor', ['--maximum', '5', PREFIX + 'counter'],
                    timeout=30)
    assert ours.returncode == 0, ours.stderr
    lines = ours.stdout.splitlines()
    assert len(lines) == 5
    assert all(line.startswith(PREFIX.encode() + b'counter ') for line in lines)
    assert time.monotonic() - started < 20  # the counter updates at 10 Hz


def test_monitor_maximum_matches_camonitor_initial_values(ioc):
    """With --maximum equal to the number of static PVs, our output is
    camonitor's initial output (compared as a set: connection order)."""
    names = STATIC[:8]
    ours = run_ours(ioc, 'camonitor', ['--maximum', str(len(names)), *names],
                    timeout=30)
    assert ours.returncode == 0, ours.stderr
    c = run_c(ioc, 'caget', ['-a', *names])
    assert sorted(ours.stdout.splitlines()) == sorted(c.stdout.splitlines())


def test_monitor_duration_exits_in_time(ioc):
    started = time.monotonic()
    ours = run_ours(ioc, 'camonitor', ['--duration=1.5', PREFIX + 'counter',
                                       PREFIX + 'double'], timeout=30)
    elapsed = time.monotonic() - started
    assert ours.returncode == 0, ours.stderr
    assert 1.5 <= elapsed < 15
    lines = ours.stdout.splitlines()
    assert any(line.startswith(PREFIX.encode() + b'double ') for line in lines)
    # 10 Hz for ~1.5 s, minus the start-up.
    assert 3 <= sum(line.startswith(PREFIX.encode() + b'counter ')
                    for line in lines) <= 25


@pytest.mark.parametrize('args, message', [
    (['--maximum', '-2'], b"'-2' is not a valid number of updates for --maximum."),
    (['--duration', 'x'], b"'x' is not a valid number of seconds for --duration."),
    (['--maximum'], b"Option '--maximum' requires an argument."),
])
def test_monitor_bad_limits(ioc, args, message):
    ours = run_ours(ioc, 'camonitor', [PREFIX + 'double', *args])
    assert ours.returncode == 1
    assert ours.stderr.startswith(message)


# -- cawire-info vs cainfo ---------------------------------------------------------

INFO_NAMES = pv('double', 'wf_double', 'mbbo', 'string', 'noaccess',
                'readonly', 'lstring.VAL$', 'wf_empty', 'long', 'int64',
                'short1', 'char1', 'float1', 'wf_string', 'bo', 'disabled_put')


@pytest.mark.parametrize('args', [
    INFO_NAMES, INFO_NAMES[:1], ['-w', '3'] + INFO_NAMES[:3],
    ['-p', '5'] + INFO_NAMES[:2], INFO_NAMES[:2] + ['-w', '2'],
    ['-w', 'abc'] + INFO_NAMES[:1], ['-p', 'x'] + INFO_NAMES[:1],
], ids=lambda args: ' '.join(args)[:60])
def test_cainfo(ioc, args):
    c, ours = assert_same(ioc, 'cainfo', args)
    assert c.returncode == 0 and c.stdout.count(b'    State:') >= 1


@pytest.mark.parametrize('args', [
    [], ['-h'], ['-x', 'pv'], ['-w'], ['-n', 'pv'], ['nonexistent:pv'],
    ['-w', '0.3', 'nonexistent:pv', PREFIX + 'double'],
], ids=lambda args: ' '.join(args) or 'none')
def test_cainfo_usage_and_unknown(ioc, args):
    assert_same(ioc, 'cainfo', args)


def test_cainfo_status_level(ioc):
    """-s: libca's ca_client_status report has no equivalent; ours lists
    the client's circuits (documented in --help) and exits 0 like cainfo."""
    c = run_c(ioc, 'cainfo', ['-s', '1', PREFIX + 'double'])
    ours = run_ours(ioc, 'cainfo', ['-s', '2', PREFIX + 'double'])
    assert c.returncode == ours.returncode == 0
    assert b'    State:' not in c.stdout and b'    State:' not in ours.stdout
    assert ours.stdout.startswith(b'cawire client context: 1 circuit(s), 1 PV(s)')
    assert PREFIX.encode() + b'double' in ours.stdout
