"""The threading client: the documented public API.

Import from here::

    from cawire.threading.client import Context, PV, Subscription, Batch

The implementation is split by concept across this package (context, PV,
subscriptions, batches, circuits, search, broadcaster, callbacks, the
network loop and its timers); this module only re-exports it.
"""
from ._batch import Batch
from ._circuit_manager import VirtualCircuitManager
from ._context import Context
from ._defaults import CONTEXT_DEFAULT_TIMEOUT, PV_DEFAULT_TIMEOUT
from ._pv import PV
from ._shared_broadcaster import SharedBroadcaster
from ._subscription import Subscription
from ..protocol._exceptions import (CaprotoTimeoutError, ContextDisconnectedError,
                           DisconnectedError, ErrorResponseReceived,
                           PermissionDenied)

__all__ = ('Context', 'PV', 'Subscription', 'Batch', 'SharedBroadcaster',
           'VirtualCircuitManager', 'CONTEXT_DEFAULT_TIMEOUT',
           'PV_DEFAULT_TIMEOUT', 'CaprotoTimeoutError',
           'ContextDisconnectedError', 'DisconnectedError',
           'ErrorResponseReceived', 'PermissionDenied')
