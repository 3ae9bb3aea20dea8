"""Setpoint/readback pairs: ``get_pv_pair_wrapper`` (caproto's API)."""
from __future__ import annotations

from collections.abc import Callable

from ..protocol._exceptions import CaprotoRuntimeError
from ._pvgroup import SubGroup, pvproperty

__all__ = ('get_pv_pair_wrapper',)


def get_pv_pair_wrapper(setpoint_suffix: str = '',
                        readback_suffix: str = '_RBV') -> Callable:
    """Make a declaration helper for setpoint/readback PV pairs.

    ``pair = wrapper(dtype=float, doc=...)`` in a PVGroup body declares a
    SubGroup with ``pair.setpoint`` (PV ``<prefix>pair<setpoint_suffix>``,
    writable) and ``pair.readback`` (``<prefix>pair<readback_suffix>``, read
    only). Without a putter, writing the setpoint copies the value to the
    readback. ``get``, ``scan``, ``startup`` and ``shutdown`` go to the
    readback. ``setpoint_kw``/``readback_kw`` hold keywords for one side
    only (``record='bo'``...).
    """
    def wrapped(*, get=None, put=None, startup=None, shutdown=None,
                name=None, dtype=None, value=None, max_length=None,
                alarm_group=None, doc=None, fields=None, scan=None,
                setpoint_kw=None, readback_kw=None, **cls_kwargs) -> SubGroup:
        if cls_kwargs.pop('read_only', None) not in (None, False):
            raise CaprotoRuntimeError('a setpoint/readback pair cannot be '
                                      'declared read only')
        if put is None:
            async def put(group, instance, new_value):
                await group.readback.write(new_value)
        common = dict(dtype=dtype, value=value, max_length=max_length,
                      alarm_group=alarm_group, doc=doc, fields=fields)
        setpoint = dict(common, name=setpoint_suffix, put=put,
                        read_only=False, **cls_kwargs)
        setpoint.update(setpoint_kw or {})
        readback = dict(common, name=readback_suffix, get=get, scan=scan,
                        startup=startup, shutdown=shutdown, read_only=True,
                        **cls_kwargs)
        readback.update(readback_kw or {})
        return SubGroup({'setpoint': pvproperty(**setpoint),
                         'readback': pvproperty(**readback)},
                        attr_separator='', doc=doc, prefix=name)
    return wrapped
