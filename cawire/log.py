"""Logger names and a one-call handler setup.

Every part of cawire logs through a named logger under ``cawire`` so a user can
turn up one concern (say, search traffic) without drowning in the rest:

==========================  =============================================
``cawire.ch``               channel lifecycle and requests
``cawire.circ``             TCP virtual circuits (connect, close, errors)
``cawire.bcast``            UDP side: searches, beacons, repeater
``cawire.bcast.search``     search requests/responses
``cawire.bcast.beacon``     beacons and beacon anomalies
``cawire.ctx``              the client context
``cawire.callback``         exceptions raised by user callbacks
``cawire.server``           the CA server
``cawire.repeater``         the repeater
``cawire.config``           environment parsing
==========================  =============================================

:func:`config_cawire_logging` mirrors caproto's ``config_caproto_logging``.
"""
from __future__ import annotations

import logging
import sys
from typing import TextIO

__all__ = ('ch_logger', 'circ_logger', 'bcast_logger', 'search_logger',
           'beacon_logger', 'ctx_logger', 'callback_logger', 'server_logger',
           'repeater_logger', 'config_cawire_logging', 'set_handler',
           'get_handler', 'validate_level', 'LOG_FORMAT')

ch_logger = logging.getLogger('cawire.ch')
circ_logger = logging.getLogger('cawire.circ')
bcast_logger = logging.getLogger('cawire.bcast')
search_logger = logging.getLogger('cawire.bcast.search')
beacon_logger = logging.getLogger('cawire.bcast.beacon')
ctx_logger = logging.getLogger('cawire.ctx')
callback_logger = logging.getLogger('cawire.callback')
server_logger = logging.getLogger('cawire.server')
repeater_logger = logging.getLogger('cawire.repeater')

LOG_FORMAT = '[%(levelname)1.1s %(asctime)s.%(msecs)03d %(name)s] %(message)s'

# (logger, handler) installed by the last config_cawire_logging call.
_installed: tuple[logging.Logger, logging.Handler] | None = None


def validate_level(level: int | str) -> int:
    """Return the numeric logging level for a name ('DEBUG') or number.

    Raises
    ------
    ValueError
        If ``level`` is neither a known level name nor an int.
    """
    if isinstance(level, int):
        return level
    number = logging.getLevelName(str(level).upper())
    if not isinstance(number, int):
        raise ValueError(f'unknown logging level {level!r}')
    return number


def config_cawire_logging(file: TextIO = sys.stdout, datefmt: str = '%H:%M:%S',
                          level: int | str = 'WARNING',
                          logger_name: str = 'cawire') -> logging.Handler:
    """Send cawire's log records at ``level`` and above to ``file``.

    Replaces the handler installed by a previous call (so calling it twice
    does not print every line twice) and leaves other handlers alone.

    Parameters
    ----------
    file : file-like, optional
        Stream to write to; ``sys.stdout`` by default.
    datefmt : str, optional
        ``time.strftime`` format of the timestamp.
    level : int or str, optional
        Threshold, e.g. ``'DEBUG'`` or ``logging.INFO``.
    logger_name : str, optional
        Logger to attach to; ``'cawire'`` covers the whole package.

    Returns
    -------
    logging.Handler
        The installed handler.
    """
    global _installed
    numeric_level = validate_level(level)
    logger = logging.getLogger(logger_name)
    if _installed is not None:
        previous_logger, previous_handler = _installed
        previous_logger.removeHandler(previous_handler)
    handler = logging.StreamHandler(file)
    handler.setFormatter(logging.Formatter(LOG_FORMAT, datefmt=datefmt))
    handler.setLevel(numeric_level)
    logger.addHandler(handler)
    logger.setLevel(numeric_level)
    _installed = (logger, handler)
    return handler


set_handler = config_cawire_logging


def get_handler() -> logging.Handler | None:
    """The handler installed by :func:`config_cawire_logging`, if any."""
    return None if _installed is None else _installed[1]
