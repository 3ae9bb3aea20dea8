"""A pyepics PV's reads and writes on its client channel, with libca's
local access check and pyepics's errors, warnings and results."""
from __future__ import annotations

import warnings
from math import log10
from typing import Any

from ..protocol._channel import require_access
from ..protocol._exceptions import (CaprotoTimeoutError, DisconnectedError,
                                    ErrorResponseReceived, PermissionDenied)
from . import _convert, ca, dbr

__all__ = ('read_metadata', 'write_data')


def read_metadata(channel: Any, pvname: str, chid: int | None, form: str,
                  native: int | None, nelm: int, count: int | None,
                  timeout: float | None, as_numpy: bool) -> dict | None:
    """One read of ``form`` (pyepics's 'native', 'time' or 'ctrl'): the
    pyepics metadata dict with its ``value``, or None (after a warning)
    when it timed out or the channel went away."""
    if count is not None:
        count = min(count, nelm)
    if timeout is None:
        timeout = 1.0 + log10(max(1, count or nelm))
    if native is None:
        native = dbr.DOUBLE
    data_type = _convert.request_class(form, native)
    try:
        # libca refuses locally, without sending (the threading PV,
        # as caproto, would send it and return the server's status).
        require_access(channel.access_rights, pvname, write=False)
        response = channel.read(data_type=data_type, data_count=count or None,
                                timeout=timeout)
    except (CaprotoTimeoutError, DisconnectedError):
        warnings.warn(f"ca.get('{pvname}') timed out after "
                      f'{timeout:.2f} seconds.')
        return None
    except PermissionDenied:
        raise ca.CASeverityException('get', 'Read access denied') from None
    except ErrorResponseReceived as exc:
        raise ca.ChannelAccessGetFailure(f'Get failed; {exc}',
                                         chid=chid) from None
    md = _convert.metadata(response.metadata, int(response.data_type))
    md['value'] = _convert.unpack(response.data, native, nelm, as_numpy)
    return md


def check_write_access(channel: Any, pvname: str) -> None:
    """libca refuses a put without write access locally, without sending:
    so do we (pyepics's exception)."""
    try:
        require_access(channel.access_rights, pvname, write=True)
    except PermissionDenied:
        raise ca.CASeverityException('put', 'Write access denied') from None


def write_data(channel: Any, data: Any, completed: Any = None) -> None:
    """Send a put of ``data`` (already in the channel's native form): a
    WRITE, or a WRITE_NOTIFY whose completion calls ``completed(response)``
    when given."""
    try:
        if completed is None:
            channel.write(data, wait=False, notify=False)
        else:
            channel.write(data, wait=False, callback=completed)
    except PermissionDenied:
        raise ca.CASeverityException('put', 'Write access denied') from None
