"""Module-level helpers that caproto's threading client exports.

Code written for ``caproto.threading.client`` imports a few names besides the
classes: the ``ensure_connected`` decorator, ``batch_requests``, the
subscription signature ``SUBSCRIBE_SIG`` and some constants.  They are
provided here with caproto's semantics, on top of cawire's PV and
Subscription (see docs/caproto-migration.md for the details that differ).
"""
from __future__ import annotations

import collections
import functools
import inspect
import time
from collections.abc import Callable, Iterable, Iterator, Sized
from typing import Any, TypeVar

from ..protocol._exceptions import (CaprotoTypeError, DeadCircuitError,
                                    DisconnectedError)
from ._defaults import PV_DEFAULT_TIMEOUT
from ._pv import PV
from ._subscription import Subscription

__all__ = ('ensure_connected', 'batch_requests', 'SUBSCRIBE_SIG',
           'CIRCUIT_DEATH_ATTEMPTS')

#: How many times ``ensure_connected`` runs a method whose circuit died
#: under it (caproto's value).
CIRCUIT_DEATH_ATTEMPTS = 3

#: The signature of ``PV.subscribe`` without ``self``: the parameters that
#: identify a subscription.
SUBSCRIBE_SIG = inspect.Signature(
    list(inspect.signature(PV.subscribe).parameters.values())[1:])

_Item = TypeVar('_Item', bound=Sized)
_Method = TypeVar('_Method', bound=Callable[..., Any])


def batch_requests(request_iter: Iterable[_Item],
                   max_length: int) -> Iterator[collections.deque[_Item]]:
    """Group items so that the lengths in a group add up to at most
    ``max_length`` (an item longer than that makes a group of its own).

    As in caproto, the same deque is yielded each time, cleared in between:
    use (or copy) each batch before asking for the next.
    """
    size = 0
    batch: collections.deque[_Item] = collections.deque()
    for item in request_iter:
        length = len(item)
        if batch and size + length > max_length:
            yield batch
            batch.clear()
            size = 0
        batch.append(item)
        size += length
    if batch:
        yield batch


def _circuit_is_dead(pv: PV) -> bool:
    manager = pv.circuit_manager
    return manager is not None and manager.dead.is_set()


def ensure_connected(func: _Method) -> _Method:
    """Decorate a method of a PV or Subscription (subclass) so that it runs
    on a connected channel.

    Before each call the PV is connected (an idle PV is woken up) within
    the call's ``timeout`` keyword, or the PV's timeout; the remaining time
    is passed on as ``timeout``.  If the circuit dies during the call
    (``DeadCircuitError``, ``DisconnectedError``, or a timeout on a dead
    circuit) the call is tried again, up to ``CIRCUIT_DEATH_ATTEMPTS``
    times in all; then the last error is raised (caproto returns None).

    Raises
    ------
    CaprotoTypeError
        The decorated method's object is neither a PV nor a Subscription.
    CaprotoTimeoutError
        The PV did not connect in time.
    """
    @functools.wraps(func)
    def inner(self: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(self, PV):
            pv = self
        elif isinstance(self, Subscription):
            pv = self.pv
        else:
            raise CaprotoTypeError('ensure_connected decorates methods of PV '
                                   'and Subscription, not of '
                                   f'{type(self).__name__}')
        timeout = kwargs.get('timeout', PV_DEFAULT_TIMEOUT)
        if timeout is PV_DEFAULT_TIMEOUT:
            timeout = pv.timeout
        deadline = None if timeout is None else time.monotonic() + timeout
        last_error: Exception | None = None
        for _ in range(CIRCUIT_DEATH_ATTEMPTS):
            remaining = (None if deadline is None
                         else max(0.0, deadline - time.monotonic()))
            pv.wait_for_connection(timeout=remaining)
            if deadline is not None:
                kwargs['timeout'] = max(0.0, deadline - time.monotonic())
            try:
                return func(self, *args, **kwargs)
            except (DeadCircuitError, DisconnectedError) as error:
                last_error = error
            except TimeoutError as error:
                if not _circuit_is_dead(pv):
                    raise  # the circuit is fine: a real timeout
                last_error = error
            pv.log.debug('circuit died during %s; trying again',
                         func.__name__)
        assert last_error is not None
        raise last_error

    return inner  # type: ignore[return-value]
