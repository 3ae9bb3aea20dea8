"""Disconnecting still-open client objects at interpreter exit.

The client's threads are daemons, so without this an exiting program would
abandon its sockets mid-conversation instead of closing them. Registries are
made at import time; atexit runs them in reverse order, so contexts (imported
after the broadcaster module) are closed before the broadcasters they share.
"""
from __future__ import annotations

import atexit
import logging
import weakref


def disconnect_at_exit(logger: logging.Logger, what: str) -> weakref.WeakSet:
    """Return a weak set whose members get ``disconnect(wait=True)`` at exit."""
    live: weakref.WeakSet = weakref.WeakSet()

    def disconnect_live() -> None:
        for obj in list(live):
            try:
                obj.disconnect(wait=True)
            except Exception:  # noqa: BLE001 - best effort at exit
                logger.debug('%s.disconnect at exit failed', what,
                             exc_info=True)

    atexit.register(disconnect_live)
    return live
