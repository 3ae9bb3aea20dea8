"""Circuit keep-alive: ECHO after EPICS_CA_CONN_TMO of silence.

If nothing arrives on a circuit for EPICS_CA_CONN_TMO seconds and no
regular beacon from its server was heard meanwhile, an ECHO goes out; if
nothing at all arrives within 5 s (libca's CA_ECHO_TIMEOUT) the circuit is
declared dead and closed, which sends its PVs back to searching.

One timer per circuit, re-armed only when it fires: receiving traffic
costs nothing here (the transport records the time of each receive).
"""
from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from ..protocol import _commands as ca
from ..protocol._exceptions import CaprotoError
from ._defaults import ECHO_TIMEOUT

if TYPE_CHECKING:  # pragma: no cover
    from ._circuit_manager import VirtualCircuitManager
    from ._timers import TimerHandle

__all__ = ('KeepAlive',)

logger = logging.getLogger('cawire.circ')


class KeepAlive:
    """Idle watchdog of one circuit (network thread).

    Parameters
    ----------
    manager : VirtualCircuitManager
    conn_tmo : float
        EPICS_CA_CONN_TMO.
    """

    def __init__(self, manager: VirtualCircuitManager,
                 conn_tmo: float) -> None:
        self.manager = manager
        self.conn_tmo = conn_tmo
        self.echo_sent_at: float | None = None
        self.last_beacon = 0.0
        self.echoes_sent = 0
        self._timer: TimerHandle | None = None

    def _last_heard(self) -> float:
        return max(self.manager.transport.last_receipt, self.last_beacon)

    def start(self) -> None:
        self._arm(self._last_heard() + self.conn_tmo, self._idle_check)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def beacon_received(self) -> None:
        """A regular beacon from the server counts as proof of life."""
        self.last_beacon = time.monotonic()

    def check_now(self) -> None:
        """Beacon anomaly on our server: verify the circuit with an ECHO."""
        if self.echo_sent_at is None and not self.manager.dead.is_set():
            self._send_echo()

    def echo_answered(self) -> None:
        """The ECHO reply arrived: back to watching for silence."""
        if self.echo_sent_at is not None:
            self.echo_sent_at = None
            self.start()

    def _arm(self, deadline: float, callback) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self.manager.selector.call_at(deadline, callback)

    def _idle_check(self) -> None:
        self._timer = None
        if self.manager.dead.is_set():
            return
        last = self._last_heard()
        if time.monotonic() - last < self.conn_tmo:
            self._arm(last + self.conn_tmo, self._idle_check)
        elif self.echo_sent_at is None:
            self._send_echo()

    def _send_echo(self) -> None:
        manager = self.manager
        try:
            manager.send_from_loop(ca.EchoRequest())
        except (CaprotoError, OSError) as exc:
            manager.transport.close(f'cannot send ECHO: {exc}')
            return
        self.echoes_sent += 1
        self.echo_sent_at = time.monotonic()
        self._arm(self.echo_sent_at + ECHO_TIMEOUT, self._echo_timed_out)

    def _echo_timed_out(self) -> None:
        self._timer = None
        sent_at, self.echo_sent_at = self.echo_sent_at, None
        manager = self.manager
        if manager.dead.is_set() or sent_at is None:
            return
        if manager.transport.last_receipt >= sent_at:
            self.start()
            return
        host, port = manager.address
        logger.warning('Server at %s:%d did not answer an ECHO within %.0f s; '
                       'declaring the circuit dead', host, port, ECHO_TIMEOUT)
        manager.transport.close(f'server unresponsive (no ECHO reply within '
                                f'{ECHO_TIMEOUT:.0f} s)')
