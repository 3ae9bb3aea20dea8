"""Start a repeater for the client when none runs, as libca starts caRepeater.

The repeater must outlive the script that started it (other clients on the
host register with it), so it cannot stay our child: a child that outlives
its ``Popen`` object makes Python warn ``ResourceWarning: subprocess N is
still running``, and one that exits first stays a zombie until we reap it.
So on POSIX the repeater is started by a short-lived ``/bin/sh`` that puts it
in the background, prints its pid and exits; we reap the shell at once, and
the repeater, re-parented to init (or the nearest subreaper), runs in a
session of its own like a daemon.  Elsewhere a detached ``Popen`` is used
and kept referenced (no zombies on Windows).

CAWIRE_SPAWN_REPEATER=NO (``Config.spawn_repeater``) turns this off.
"""
from __future__ import annotations

import errno
import importlib.util
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from ..config import Config

__all__ = ('SpawnedRepeater', 'spawn_repeater_if_needed',
           'spawn_repeater_for_client')

logger = logging.getLogger('cawire.bcast')

# "$@" runs the command given after the script; '&' detaches it and "$!" is
# its pid.  The shell exits right after printing.
_LAUNCHER = '"$@" </dev/null >/dev/null 2>&1 & echo $!'
_LAUNCH_TIMEOUT = 10.0

# Windows: Popen objects of repeaters kept alive for the life of the process.
_detached: list[subprocess.Popen] = []


class SpawnedRepeater:
    """A repeater we started; not our child, so it is watched by pid."""

    def __init__(self, pid: int):
        self.pid = pid

    def poll(self) -> int | None:
        """None while the process exists, else 0."""
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return 0
        except PermissionError:  # exists, owned by someone else (pid reused)
            return None
        return None

    def terminate(self) -> None:
        """Ask the repeater to stop (SIGTERM)."""
        try:
            os.kill(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass

    def wait(self, timeout: float | None = None) -> int:
        """Wait (polling, bounded by ``timeout``) until the process is gone.

        Raises
        ------
        subprocess.TimeoutExpired
            Still running after ``timeout`` seconds.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(['cawire.repeater'],
                                                timeout or 0.0)
            time.sleep(0.01)
        return 0

    def __repr__(self) -> str:
        return f'<SpawnedRepeater pid={self.pid}>'


def _repeater_port_is_free(port: int) -> bool:
    """libca's test: can we bind the repeater port on INADDR_ANY?"""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind(('', port))
    except OSError:
        return False
    finally:
        sock.close()
    return True


def _repeater_command_and_env(port: int) -> tuple[list[str], dict[str, str]]:
    # The child must use this cawire and this port, whatever the
    # environment says.
    package_parent = os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))))
    env = dict(os.environ, EPICS_CA_REPEATER_PORT=str(port))
    env['PYTHONPATH'] = os.pathsep.join(
        filter(None, [package_parent, env.get('PYTHONPATH', '')]))
    return [sys.executable, '-m', 'cawire.repeater'], env


def _launch_posix(command: list[str], env: dict[str, str]) -> SpawnedRepeater:
    shell = subprocess.Popen(
        ['/bin/sh', '-c', _LAUNCHER, 'sh', *command], env=env,
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL, start_new_session=True, close_fds=True)
    try:
        output, _ = shell.communicate(timeout=_LAUNCH_TIMEOUT)
    except subprocess.TimeoutExpired:
        shell.kill()
        shell.communicate()
        raise OSError(errno.ETIMEDOUT, 'repeater launcher did not finish')
    try:
        return SpawnedRepeater(int(output.strip()))
    except ValueError:
        raise OSError(errno.EINVAL,
                      f'repeater launcher printed {output!r}') from None


def _launch_detached(command: list[str], env: dict[str, str]
                     ) -> subprocess.Popen:
    flags = getattr(subprocess, 'DETACHED_PROCESS', 0) | getattr(
        subprocess, 'CREATE_NEW_PROCESS_GROUP', 0)
    process = subprocess.Popen(
        command, env=env, stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        creationflags=flags, close_fds=True)
    _detached.append(process)
    return process


def spawn_repeater_if_needed(port: int
                             ) -> SpawnedRepeater | subprocess.Popen | None:
    """Start ``python -m cawire.repeater`` detached if no repeater runs.

    Returns a handle on the started repeater (``pid``, ``poll``,
    ``terminate``, ``wait``), or None if one was already running, the
    module is unavailable or the start failed (logged).  The repeater is
    left running on purpose: it outlives its clients, as caRepeater does.
    """
    if not _repeater_port_is_free(port):
        return None
    if importlib.util.find_spec('cawire.repeater') is None:
        logger.warning('No repeater is running on port %d and '
                       'cawire.repeater is unavailable; beacons will '
                       'not be received', port)
        return None
    logger.info('Spawning a repeater on port %d', port)
    command, env = _repeater_command_and_env(port)
    try:
        if os.name == 'posix' and os.path.exists('/bin/sh'):
            return _launch_posix(command, env)
        return _launch_detached(command, env)
    except OSError as exc:
        logger.warning('Could not spawn a repeater: %s', exc)
        return None


def spawn_repeater_for_client(config: 'Config'
                              ) -> SpawnedRepeater | subprocess.Popen | None:
    """What a client's broadcaster does at start (threading and asyncio
    alike): :func:`spawn_repeater_if_needed` on EPICS_CA_REPEATER_PORT,
    unless CAWIRE_SPAWN_REPEATER=NO."""
    if not config.spawn_repeater:
        return None
    return spawn_repeater_if_needed(config.repeater_port)
