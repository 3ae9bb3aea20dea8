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

#: caproto's top level also names the server's value classes (``from
#: caproto import ChannelData, SkipWrite``); cawire resolves them on first
#: use, so ``import cawire`` does not load the asyncio server.
_SERVER_NAMES = frozenset((
    'ChannelAlarm', 'ChannelByte', 'ChannelChar', 'ChannelData',
    'ChannelDouble', 'ChannelEnum', 'ChannelFloat', 'ChannelInteger',
    'ChannelNumeric', 'ChannelShort', 'ChannelString', 'Forbidden',
    'SkipWrite'))


def __getattr__(name: str):
    if name in _SERVER_NAMES:
        from . import server
        return getattr(server, name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
