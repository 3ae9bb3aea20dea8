"""Run a cawire IOC in a subprocess on loopback ports (tests, benchmarks).

``IocProcess('cawire.ioc_examples.random_walk')`` starts ``python -m`` that
module with the loopback EPICS environment of ``cawire.testing.epics`` on its
own server port, waits until it accepts TCP connections and stops it on exit
(SIGTERM, so clients get SERVER_DISCONN; SIGKILL if it hangs).
"""
from __future__ import annotations

import sys
from typing import Any

from ..testing import epics

__all__ = ('IocProcess',)


class IocProcess(epics._Process):
    """A cawire IOC module running in a subprocess.

    Parameters
    ----------
    module : str
        Module run with ``python -m``.
    *args : str
        Extra command-line arguments (``--prefix``...).
    server_port, repeater_port : int, optional
        CA ports (fresh free ones when omitted).
    timeout : float
        Seconds to wait for the IOC to listen.
    **env : str
        Extra environment variables.
    """

    name = 'cawire-ioc'

    def __init__(self, module: str, *args: str, server_port: int | None = None,
                 repeater_port: int | None = None, timeout: float = 15.0,
                 **env: str):
        self.server_port = server_port if server_port is not None \
            else epics.free_port()
        self.repeater_port = repeater_port if repeater_port is not None \
            else epics.free_port()
        environment = epics.epics_env(self.server_port, self.repeater_port)
        environment.update(env)  # what epics_env does with its **extra
        super().__init__(environment)
        self.timeout = timeout
        self.argv = [sys.executable, '-m', module, *map(str, args)]
        self.start()

    def start(self) -> None:
        """Start the IOC and wait until it accepts TCP connections."""
        self._spawn(self.argv)
        try:
            epics.wait_for_tcp(self.server_port, timeout=self.timeout,
                               alive=self.running)
        except TimeoutError as exc:
            self.stop()
            raise RuntimeError(f'IOC {self.argv} failed to start: {exc}\n'
                               f'{self.output()}') from exc

    def restart(self) -> None:
        """Stop the IOC and start it again on the same ports."""
        self.stop()
        self.start()

    def __repr__(self) -> str:
        return f'<IocProcess {self.argv[2:]} port={self.server_port}>'


class RawCircuit:
    """A minimal blocking CA client connection for protocol-level tests.

    It speaks raw commands (``cawire.protocol._commands``) so tests can send exactly
    what they want, including garbage, and see exactly what comes back.

    Parameters
    ----------
    port : int
        Server TCP port on 127.0.0.1.
    handshake : bool
        Send VERSION/CLIENT_NAME/HOST_NAME and wait for the server VERSION.
    timeout : float
        Socket timeout for each receive.
    """

    def __init__(self, port: int, *, handshake: bool = True,
                 timeout: float = 5.0, receive_buffer: int | None = None):
        import socket

        from ..protocol import _commands
        self._commands = _commands
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if receive_buffer is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF,
                                 receive_buffer)
        self.sock.settimeout(timeout)
        self.sock.connect((epics.LOOPBACK, port))
        self.timeout = timeout
        self._buffer = b''
        self._parsed: list = []
        if handshake:
            self.send(_commands.VersionRequest(0, 13),
                      _commands.ClientNameRequest('tester'),
                      _commands.HostNameRequest('localhost'))
            self.expect(_commands.VersionResponse)

    def close(self) -> None:
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def send(self, *commands: Any) -> None:
        """Send commands (objects with ``bytes()``) or raw bytes."""
        self.sock.sendall(b''.join(c if isinstance(c, (bytes, bytearray))
                                   else bytes(c) for c in commands))

    def _fill(self, timeout: float) -> bool:
        """Receive once; False when the server closed the connection."""
        from ..protocol._framing import parse_stream
        from ..protocol._state import CLIENT
        self.sock.settimeout(timeout)
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            return False
        data = self._buffer + chunk
        commands, consumed, _ = parse_stream(data, CLIENT)
        # Copy what we keep: the commands' payloads are views on ``data``.
        self._parsed.extend(commands)
        self._buffer = data[consumed:]
        return True

    def next(self, timeout: float | None = None) -> Any:
        """The next received command (raises TimeoutError / EOFError)."""
        import socket
        timeout = self.timeout if timeout is None else timeout
        while not self._parsed:
            try:
                if not self._fill(timeout):
                    raise EOFError('server closed the circuit')
            except socket.timeout:
                raise TimeoutError('nothing received') from None
        return self._parsed.pop(0)

    def expect(self, cls: type, timeout: float | None = None) -> Any:
        """The next command, asserted to be of class ``cls``."""
        command = self.next(timeout)
        if not isinstance(command, cls):
            raise AssertionError(f'expected {cls.__name__}, got {command!r}')
        return command

    def closed_by_server(self, timeout: float = 5.0) -> bool:
        """Drain until the server closes the circuit (True) or timeout."""
        import time
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.next(max(deadline - time.monotonic(), 0.01))
            except (EOFError, ConnectionResetError):
                return True
            except TimeoutError:
                return False
        return False

    def create_channel(self, name: str, cid: int) -> Any:
        """CREATE_CHAN; returns the CreateChanResponse (after ACCESS_RIGHTS)."""
        c = self._commands
        self.send(c.CreateChanRequest(name, cid, 13))
        self.expect(c.AccessRightsResponse)
        return self.expect(c.CreateChanResponse)
