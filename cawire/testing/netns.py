"""A many-host Channel Access test bed on one Linux machine.

A facility has hundreds of IOCs on different hosts, all on port 5064, found
by broadcast. :class:`NetnsBed` builds that in network namespaces: every
host is a namespace with one veth interface whose peer is a port of a bridge
living in a namespace of its own. Nothing is ever attached to the root
namespace or to a real device, and the test subnet (10.77.0.0/16 by default)
exists only inside the bed, so no packet of it can leave the machine or reach
the host's own interfaces.

Everything a bed makes carries the prefix ``cwt<pid>-`` (pid of the process
that made it): :meth:`NetnsBed.close` kills every process inside its
namespaces and deletes them, and :func:`remove_stale_namespaces` deletes the
leftovers of runs whose process is gone (a killed test run cannot clean up).

Needs root and iproute2; :func:`unavailable_reason` says why a bed cannot be
built so tests can skip with that message.

:class:`LoopbackBed` is the lighter variant that needs neither: every
"host" is an address 127.0.0.2, 127.0.0.3... of the loopback interface,
all servers share one (free) port, and clients search the list of those
addresses (loopback has no broadcast, so EPICS_CA_AUTO_ADDR_LIST=NO).
Both beds have the same interface (``add_host``, ``Host.popen``/``run``,
``server_settings``/``client_settings``, ``server_port``, ``close``).
"""
from __future__ import annotations

import ipaddress
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from .epics import epics_env

__all__ = ('PROJECT_PREFIX', 'TEST_SUBNET', 'unavailable_reason',
           'remove_stale_namespaces', 'NetnsBed', 'Host', 'bed_environ',
           'NetnsError', 'LoopbackBed', 'LoopbackHost')

logger = logging.getLogger('cawire.testing.netns')

#: Every namespace a bed makes is named ``PROJECT_PREFIX<pid>-...``.
PROJECT_PREFIX = 'cwt'
#: Private subnet used only inside the bed's namespaces.
TEST_SUBNET = '10.77.0.0/16'
_STALE_NAME = re.compile(rf'^{PROJECT_PREFIX}(\d+)-')
_BRIDGE = 'br0'
_COMMAND_TIMEOUT = 20.0


class NetnsError(RuntimeError):
    """An ``ip`` command of the test bed failed."""


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    completed = subprocess.run(['ip', *args], stdin=subprocess.DEVNULL,
                               capture_output=True, text=True,
                               timeout=_COMMAND_TIMEOUT)
    if check and completed.returncode != 0:
        raise NetnsError(f'ip {" ".join(args)} failed: '
                         f'{completed.stderr.strip() or completed.returncode}')
    return completed


def unavailable_reason() -> str | None:
    """Why network namespaces cannot be made here, or None when they can.

    Probes by creating and deleting one namespace.
    """
    if not sys.platform.startswith('linux'):
        return 'network namespaces need Linux'
    if os.geteuid() != 0:
        return 'network namespaces need root (ip netns add)'
    if shutil.which('ip') is None:
        return 'iproute2 (the ip command) is not installed'
    probe = f'{PROJECT_PREFIX}{os.getpid()}-probe'
    try:
        _ip('netns', 'add', probe)
    except (NetnsError, OSError, subprocess.TimeoutExpired) as exc:
        return f'cannot create a network namespace: {exc}'
    _ip('netns', 'del', probe, check=False)
    return None


def _namespace_names() -> list[str]:
    listing = _ip('netns', 'list', check=False).stdout
    return [line.split()[0] for line in listing.splitlines() if line.strip()]


def _kill_namespace_processes(namespace: str) -> None:
    """SIGKILL every process inside ``namespace`` (all were started by the
    bed: a namespace of the bed holds nothing else)."""
    for _ in range(5):
        pids = [int(pid) for pid in
                _ip('netns', 'pids', namespace, check=False).stdout.split()]
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.05)


def _delete_namespace(namespace: str) -> None:
    _kill_namespace_processes(namespace)
    _ip('netns', 'del', namespace, check=False)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_namespaces() -> list[str]:
    """Delete the namespaces of earlier beds whose creating process is gone.

    Returns
    -------
    list of str
        The names deleted.
    """
    removed = []
    for name in _namespace_names():
        match = _STALE_NAME.match(name)
        if match and not _pid_alive(int(match.group(1))):
            _delete_namespace(name)
            removed.append(name)
    if removed:
        logger.info('removed %d stale test namespaces', len(removed))
    return removed


def bed_environ(base: Mapping[str, str] | None = None,
                **settings: str) -> dict[str, str]:
    """An environment for CA processes in the bed: EPICS defaults.

    Every inherited EPICS_CA_*/EPICS_CAS_* variable is dropped, so clients
    broadcast on their interfaces (EPICS_CA_AUTO_ADDR_LIST=YES) and servers
    listen on all interfaces of their namespace on 5064/5065, exactly as
    with no configuration at all; ``settings`` add or override variables.
    PATH and LD_LIBRARY_PATH reach the EPICS tools (libca spawns caRepeater
    from PATH).
    """
    env = {name: value for name, value in (base or os.environ).items()
           if not name.startswith(('EPICS_CA_', 'EPICS_CAS_'))}
    env = epics_env(base=env)
    env.update(settings)
    return env


class Host:
    """One namespace of the bed: a host with one address on the test subnet.

    Attributes
    ----------
    name : str
        Short name given to :meth:`NetnsBed.add_host`.
    namespace : str
        Full namespace name (with the run's prefix).
    address : str
        Its IPv4 address on the test subnet.
    """

    def __init__(self, bed: 'NetnsBed', name: str, namespace: str, address: str):
        self.bed = bed
        self.name = name
        self.namespace = namespace
        self.address = address

    def argv(self, command: Sequence[str]) -> list[str]:
        """``command`` wrapped to run inside this host's namespace."""
        return ['ip', 'netns', 'exec', self.namespace, *map(str, command)]

    def run(self, command: Sequence[str], *, env: Mapping[str, str] | None = None,
            timeout: float = 60.0, check: bool = False
            ) -> subprocess.CompletedProcess:
        """Run ``command`` to completion in this host (text output captured)."""
        return subprocess.run(self.argv(command), env=dict(env or bed_environ()),
                              stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=timeout, check=check)

    def popen(self, command: Sequence[str], *,
              env: Mapping[str, str] | None = None, **kwargs) -> subprocess.Popen:
        """Start ``command`` in this host; the bed stops it on close.

        Output goes to a log file (see :meth:`NetnsBed.output`) unless
        ``stdout``/``stderr`` are given.
        """
        return self.bed._popen(self, command, env, kwargs)

    def __repr__(self) -> str:
        return f'<Host {self.name} {self.address} ns={self.namespace}>'


class NetnsBed:
    """Namespaces joined by one bridge that lives in its own namespace.

    Parameters
    ----------
    subnet : str
        IPv4 network for the hosts (default 10.77.0.0/16); host *n* gets the
        *n*-th address of it.
    prefix : str, optional
        Namespace name prefix; ``cwt<pid>-`` by default. Must start with
        :data:`PROJECT_PREFIX` followed by this pid for stale clean-up to
        recognize it.

    Use as a context manager: on exit every process started in any host of
    the bed is killed and every namespace deleted, even after an error.
    """

    def __init__(self, subnet: str = TEST_SUBNET, prefix: str | None = None):
        reason = unavailable_reason()
        if reason is not None:
            raise NetnsError(reason)
        self.network = ipaddress.IPv4Network(subnet)
        if not self.network.is_private:
            raise ValueError(f'{subnet} is not a private network')
        self.prefix = prefix or f'{PROJECT_PREFIX}{os.getpid()}-'
        self.hosts: dict[str, Host] = {}
        self._namespaces: list[str] = []
        self._processes: list[subprocess.Popen] = []
        self._logs: dict[int, tempfile._TemporaryFileWrapper] = {}
        self._host_addresses = self.network.hosts()
        self.bridge_namespace = self.prefix + 'br'
        try:
            self._add_namespace(self.bridge_namespace)
            self._ns_ip(self.bridge_namespace, 'link', 'add', _BRIDGE,
                        'type', 'bridge')
            self._ns_ip(self.bridge_namespace, 'link', 'set', _BRIDGE, 'up')
        except BaseException:
            self.close()
            raise

    # -- building ------------------------------------------------------------------------
    def _add_namespace(self, namespace: str) -> None:
        _ip('netns', 'add', namespace)
        self._namespaces.append(namespace)
        self._ns_ip(namespace, 'link', 'set', 'lo', 'up')

    @staticmethod
    def _ns_ip(namespace: str, *args: str) -> None:
        _ip('-n', namespace, *args)

    def add_host(self, name: str) -> Host:
        """Create a host namespace on the bridge and return it.

        Its interface ``eth0`` gets the next address of the subnet with the
        subnet's broadcast address; the peer end is created directly in the
        bridge namespace (never in the root namespace).
        """
        if name in self.hosts:
            raise ValueError(f'host {name!r} exists')
        namespace = self.prefix + name
        address = str(next(self._host_addresses))
        self._add_namespace(namespace)
        port = f'p{len(self.hosts)}'
        self._ns_ip(namespace, 'link', 'add', 'eth0', 'type', 'veth',
                    'peer', 'name', port, 'netns', self.bridge_namespace)
        self._ns_ip(self.bridge_namespace, 'link', 'set', port,
                    'master', _BRIDGE, 'up')
        self._ns_ip(namespace, 'addr', 'add',
                    f'{address}/{self.network.prefixlen}',
                    'brd', str(self.network.broadcast_address), 'dev', 'eth0')
        self._ns_ip(namespace, 'link', 'set', 'eth0', 'up')
        host = Host(self, name, namespace, address)
        self.hosts[name] = host
        return host

    #: Servers listen here (the EPICS default: every host has its own address).
    server_port = 5064
    #: Interface a packet counter in a client host listens on.
    interface = 'eth0'

    def server_settings(self, host: Host) -> dict[str, str]:
        """EPICS variables a server in ``host`` needs: none (defaults)."""
        return {}

    def client_settings(self) -> dict[str, str]:
        """EPICS variables a client needs: none (broadcast discovery)."""
        return {}

    def repeater_settings(self) -> dict[str, str]:
        """EPICS variables a caRepeater in a client host needs."""
        return {}

    # -- processes -----------------------------------------------------------------------
    def _popen(self, host, command, env, kwargs) -> subprocess.Popen:
        log = None
        if 'stdout' not in kwargs:
            log = tempfile.NamedTemporaryFile(
                mode='w+b', prefix=f'cawire-netns-{host.name}-', suffix='.log')
            kwargs['stdout'] = log
            kwargs.setdefault('stderr', subprocess.STDOUT)
        kwargs.setdefault('stdin', subprocess.DEVNULL)
        process = subprocess.Popen(host.argv(command),
                                   env=dict(env or bed_environ()),
                                   start_new_session=True, **kwargs)
        self._processes.append(process)
        if log is not None:
            self._logs[process.pid] = log
        return process

    def output(self, process: subprocess.Popen) -> str:
        """What a process started with its log file has printed so far."""
        log = self._logs.get(process.pid)
        if log is None:
            return ''
        log.flush()
        return Path(log.name).read_bytes().decode(errors='replace')

    @staticmethod
    def stop(process: subprocess.Popen, timeout: float = 5.0) -> None:
        """Terminate (then kill) one process of the bed and reap it."""
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout)

    # -- teardown ------------------------------------------------------------------------
    def close(self) -> None:
        """Kill every process in the bed and delete all its namespaces."""
        for process in self._processes:
            if process.poll() is None:
                try:
                    # Its own session: the group holds what it spawned too.
                    os.killpg(process.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    process.kill()
        for process in self._processes:
            try:
                process.wait(5.0)
            except subprocess.TimeoutExpired:
                logger.warning('process %d did not exit after SIGKILL',
                               process.pid)
        # Children a process spawned itself (libca's caRepeater) live on in
        # its namespace; deleting a namespace would not stop them.
        for namespace in reversed(self._namespaces):
            _delete_namespace(namespace)
        self._namespaces.clear()
        self._processes.clear()
        for log in self._logs.values():
            log.close()
        self._logs.clear()

    def __enter__(self) -> 'NetnsBed':
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f'<NetnsBed {self.prefix}* {len(self.hosts)} hosts '
                f'{self.network}>')


class LoopbackHost(Host):
    """A "host" of a :class:`LoopbackBed`: one loopback address; its
    processes run in the caller's own network namespace."""

    def argv(self, command: Sequence[str]) -> list[str]:
        return [str(part) for part in command]


class LoopbackBed(NetnsBed):
    """The lighter bed: hosts are 127.0.0.2, 127.0.0.3..., one shared port.

    Needs no privileges. Servers get EPICS_CAS_INTF_ADDR_LIST set to their
    address and beacons to 127.0.0.1 on the repeater port; clients get
    EPICS_CA_AUTO_ADDR_LIST=NO and every host address in
    EPICS_CA_ADDR_LIST (a unicast search of each).

    Parameters
    ----------
    server_port, repeater_port : int
        Ports shared by every host (pick free ones: the bed lives in the
        root namespace beside everything else).
    """

    interface = 'lo'

    def __init__(self, server_port: int, repeater_port: int):
        self.server_port = server_port
        self.repeater_port = repeater_port
        self.prefix = f'loopback{os.getpid()}-'
        self.hosts = {}
        self._namespaces = []
        self._processes = []
        self._logs = {}
        self.network = ipaddress.IPv4Network('127.0.0.0/8')
        first = ipaddress.IPv4Address('127.0.0.2')
        self._host_addresses = (address for address in self.network.hosts()
                                if address >= first)
        # Addresses of the hosts that run servers (clients search these).
        self._server_addresses: dict[str, None] = {}

    def add_host(self, name: str) -> Host:
        if name in self.hosts:
            raise ValueError(f'host {name!r} exists')
        host = LoopbackHost(self, name, '', str(next(self._host_addresses)))
        self.hosts[name] = host
        return host

    def _common_settings(self) -> dict[str, str]:
        return {'EPICS_CA_SERVER_PORT': str(self.server_port),
                'EPICS_CA_REPEATER_PORT': str(self.repeater_port)}

    def server_settings(self, host: Host) -> dict[str, str]:
        self._server_addresses[host.address] = None
        return {**self._common_settings(),
                'EPICS_CAS_INTF_ADDR_LIST': host.address,
                'EPICS_CAS_AUTO_BEACON_ADDR_LIST': 'NO',
                'EPICS_CAS_BEACON_ADDR_LIST': '127.0.0.1',
                # A server's own CA client (softIoc's dbCa) stays local too.
                'EPICS_CA_AUTO_ADDR_LIST': 'NO',
                'EPICS_CA_ADDR_LIST': '127.0.0.1'}

    def repeater_settings(self) -> dict[str, str]:
        return self._common_settings()

    def client_settings(self) -> dict[str, str]:
        addresses = ' '.join(self._server_addresses)
        return {**self._common_settings(), 'EPICS_CA_AUTO_ADDR_LIST': 'NO',
                'EPICS_CA_ADDR_LIST': addresses}

    def __repr__(self) -> str:
        return f'<LoopbackBed {len(self.hosts)} hosts port={self.server_port}>'
