"""The threading client: the documented public API.

Import from here::

    from cawire.threading.client import Context, PV, Subscription, Batch

The module-level names that code written for ``caproto.threading.client``
imports (exceptions, ``ensure_connected``, ``batch_requests``,
``SUBSCRIBE_SIG`` and constants) are here too; docs/caproto-migration.md
lists the few that are not.

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
# caproto.threading.client's other module-level names.
from ..protocol._constants import MAX_ID, SEARCH_MAX_DATAGRAM_BYTES
from ..protocol._exceptions import (CaprotoError, CaprotoKeyError,
                                    CaprotoNetworkError, CaprotoRuntimeError,
                                    CaprotoTypeError, CaprotoValueError,
                                    DeadCircuitError, ThreadingClientException)
from ._caproto_helpers import SUBSCRIBE_SIG, batch_requests, ensure_connected
from ._defaults import ECHO_TIMEOUT as RESPONSIVENESS_TIMEOUT
from ._shared_broadcaster import STALE_SEARCH_EXPIRATION

__all__ = ('Context', 'PV', 'Subscription', 'Batch', 'SharedBroadcaster',
           'VirtualCircuitManager', 'CONTEXT_DEFAULT_TIMEOUT',
           'PV_DEFAULT_TIMEOUT', 'CaprotoTimeoutError',
           'ContextDisconnectedError', 'DisconnectedError',
           'ErrorResponseReceived', 'PermissionDenied',
           'CaprotoError', 'CaprotoKeyError', 'CaprotoNetworkError',
           'CaprotoRuntimeError', 'CaprotoTypeError', 'CaprotoValueError',
           'DeadCircuitError', 'ThreadingClientException',
           'ensure_connected', 'batch_requests', 'SUBSCRIBE_SIG', 'MAX_ID',
           'SEARCH_MAX_DATAGRAM_BYTES', 'STALE_SEARCH_EXPIRATION',
           'RESPONSIVENESS_TIMEOUT')
