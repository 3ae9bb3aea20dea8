"""Batched requests: ``with Batch() as b: b.read(pv, cb) ...``.

Requests are collected per circuit and sent together when the ``with``
block exits, in one write per circuit, so the server sees them back to
back.  Replies go to the given callbacks on the circuits' callback
executors; replies arriving after ``timeout`` are ignored.
"""
from __future__ import annotations

import collections
import time
from types import TracebackType
from typing import TYPE_CHECKING, Any, Callable

from ..protocol._channel import ClientChannel
from ._defaults import Deadline
from ._pending_request import PendingRequest
from ._request_table import BatchItem

if TYPE_CHECKING:  # pragma: no cover
    from ._circuit_manager import VirtualCircuitManager
    from ._pv import PV

__all__ = ('Batch',)


class Batch:
    """Accumulate requests and then issue them all in batch.

    Parameters
    ----------
    timeout : number or None
        Number of seconds to wait before ignoring late responses.  Default
        is 2.  (PVs not yet connected are waited for up to this long when
        a request is added.)

    Notes
    -----
    Requests are built exactly as ``PV.read`` / ``PV.write`` build them
    (the core channel resolves the default type and count and refuses
    types a client may not write), so a bad request fails when it is
    added, not when the block exits.

    Examples
    --------
    Read some PVs in batch and stash the readings in a dictionary as they
    come in.

    >>> results = {}
    >>> def stash_result(name, response):
    ...     results[name] = response.data
    ...
    >>> with Batch() as b:
    ...     for pv in pvs:
    ...         b.read(pv, functools.partial(stash_result, pv.name))
    ...     # The requests are sent upon exiting this 'with' block.
    ...
    """

    def __init__(self, timeout: float | None = 2) -> None:
        self.timeout = timeout
        self._requests: dict[VirtualCircuitManager, list[BatchItem]] = \
            collections.defaultdict(list)
        self._pending: list[PendingRequest] = []

    def __enter__(self) -> Batch:
        return self

    def _components(self, pv: PV) -> tuple[VirtualCircuitManager,
                                           ClientChannel]:
        # Fast path for the usual case (connected), else wait up to timeout.
        cm, channel = pv._circuit_manager, pv._channel
        if (pv.connected and cm is not None and channel is not None
                and not cm.dead.is_set() and not pv.context._closing):
            pv._idle_requested = False
            return cm, channel
        return pv._connected_components(Deadline(self.timeout))

    def read(self, pv: PV, callback: Callable[[Any], Any],
             data_type: Any = None, data_count: int | None = None) -> None:
        """Request a fresh reading as part of a batched request.

        Parameters
        ----------
        pv : PV
        callback : callable
            Expected signature: ``f(response)``
        data_type : {'native', 'status', 'time', 'graphic', 'control'} or ChannelType or int ID, optional
            Request specific data type or a class of data types, matched to
            the channel's native data type. Default is the native type.
        data_count : integer, optional
            Requested number of values. Default is the current length.
        """
        cm, channel = self._components(pv)
        command = channel.read(data_type, data_count)
        cm.check_size(command, channel.native_data_count)
        pending = PendingRequest(command.ioid, pv, command, callback, None,
                                 False)
        self._requests[cm].append((command, pending))
        self._pending.append(pending)

    def write(self, pv: PV, data: Any,
              callback: Callable[[Any], Any] | None = None,
              data_type: Any = None, data_count: int | None = None) -> None:
        """Write a new value as part of a batched request.

        Parameters
        ----------
        pv : PV
        data : str, int, or float or any Iterable of these
            Value(s) to write.
        callback : callable, optional
            Expected signature: ``f(response)``; without one, a plain WRITE
            (no completion notification) is sent.
        data_type : {'native', 'status', 'time', 'graphic', 'control'} or ChannelType or int ID, optional
            Write specific data type. Default is the native type.
        data_count : integer, optional
            Number of values. Default: the number of values in ``data``.
        """
        cm, channel = self._components(pv)
        notify = callback is not None
        command = channel.write(data, data_type, data_count, notify=notify)
        cm.check_size(command, 1)
        pending = None
        if notify:
            pending = PendingRequest(command.ioid, pv, command, callback,
                                     None, False)
            self._pending.append(pending)
        self._requests[cm].append((command, pending))

    def __exit__(self, exc_type: type[BaseException] | None,
                 exc_value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if exc_type is not None:
            return
        deadline = None if self.timeout is None \
            else time.monotonic() + self.timeout
        for pending in self._pending:
            pending.deadline = deadline
        for cm, items in self._requests.items():
            cm.requests.send_batch(items, self.timeout)
        self._requests.clear()
        self._pending.clear()
