"""Batched requests: ``with Batch() as b: b.read(pv, cb) ...``.

Requests are collected per circuit and sent together when the ``with``
block exits, in one write per circuit, so the server sees them back to
back.  Replies go to the given callbacks on the circuits' callback
executors; replies arriving after ``timeout`` are ignored.
"""
from __future__ import annotations

import collections
import time

from ..protocol import _commands as ca
from ..protocol._enums import AccessRights
from ..protocol._exceptions import PermissionDenied
from ._defaults import Deadline
from ._requests import PendingRequest

__all__ = ('Batch',)


class Batch:
    """Accumulate requests and then issue them all in batch.

    Parameters
    ----------
    timeout : number or None
        Number of seconds to wait before ignoring late responses.  Default
        is 2.  (PVs not yet connected are waited for up to this long when
        a request is added.)

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

    def __init__(self, timeout=2):
        self.timeout = timeout
        # circuit manager -> [(PendingRequest or None, make_command)]
        self._requests = collections.defaultdict(list)
        self._pending: list[PendingRequest] = []

    def __enter__(self):
        return self

    def _components(self, pv):
        # Fast path for the usual case (connected), else wait up to timeout.
        cm, channel = pv._circuit_manager, pv._channel
        if (pv.channel_ready.is_set() and cm is not None and channel is not None
                and not cm.dead.is_set() and not pv.context._closing):
            pv._idle_requested = False
            return cm, channel
        return pv._connected_components(Deadline(self.timeout))

    def read(self, pv, callback, data_type=None, data_count=None) -> None:
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
        if pv.access_rights is not None and \
                not pv.access_rights & AccessRights.READ:
            raise PermissionDenied(f'No read access to {pv.name!r} '
                                   f'(ECA_NORDACCESS)')
        data_type = pv._resolve_read_type(channel, data_type)
        data_count = 0 if data_count is None else data_count
        cm._check_size(data_type, data_count, channel.native_data_count)
        sid = channel.sid

        def make_command(ioid):
            return ca.ReadNotifyRequest(data_type, data_count, sid, ioid)

        pending = PendingRequest(None, pv, None, callback, None, False)
        self._requests[cm].append((pending, make_command))
        self._pending.append(pending)

    def write(self, pv, data, callback=None, data_type=None,
              data_count=None) -> None:
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
        if pv.access_rights is not None and \
                not pv.access_rights & AccessRights.WRITE:
            raise PermissionDenied(f'No write access to {pv.name!r} '
                                   f'(ECA_NOWTACCESS)')
        data_type = pv._resolve_read_type(channel, data_type)
        sid, cid = channel.sid, pv.cid
        if callback is None:
            # Encode now so that bad data fails here, not in __exit__.
            command = ca.WriteRequest(data, data_type, data_count, sid, cid)
            self._requests[cm].append((None, lambda ioid: command))
            return

        def make_command(ioid):
            return ca.WriteNotifyRequest(data, data_type, data_count, sid,
                                         ioid)

        make_command(0)  # validate the data early
        pending = PendingRequest(None, pv, None, callback, None, False)
        self._requests[cm].append((pending, make_command))
        self._pending.append(pending)

    def __exit__(self, exc_type, exc_value, traceback):
        if exc_type is not None:
            return
        deadline = None if self.timeout is None \
            else time.monotonic() + self.timeout
        for pending in self._pending:
            pending.deadline = deadline
        for cm, items in self._requests.items():
            cm.batch_send(items, self.timeout)
        self._requests.clear()
        self._pending.clear()
