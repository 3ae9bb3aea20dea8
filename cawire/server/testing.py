"""Run a cawire IOC in a subprocess on loopback ports (tests, benchmarks).

``IocProcess('cawire.ioc_examples.random_walk')`` starts ``python -m`` that
module with the loopback EPICS environment of ``cawire.testing.epics`` on its
own server port, waits until it accepts TCP connections and stops it on exit
(SIGTERM, so clients get SERVER_DISCONN; SIGKILL if it hangs).
"""
from __future__ import annotations

import sys

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
        super().__init__(epics.epics_env(self.server_port, self.repeater_port,
                                         **env))
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
