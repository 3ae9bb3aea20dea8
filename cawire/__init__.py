"""cawire: a pure-Python implementation of EPICS Channel Access.

The package namespace re-exports the public names of the sans-I/O core,
:mod:`cawire.protocol` (``ChannelType``, ``CAStatus``, the command classes,
the exceptions such as ``CaprotoTimeoutError`` ...), so code written against
caproto's documented top-level names keeps working.  Configuration lives in
:mod:`cawire.config`, logging set-up in :mod:`cawire.log`.
"""
__version__ = '0.1.0'

from .protocol import *  # noqa: F401,F403
from .protocol import __all__ as _protocol_all
from .log import config_cawire_logging

__all__ = [*_protocol_all, 'config_cawire_logging']
