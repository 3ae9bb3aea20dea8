"""caproto's ``PVSpec``: a PV described by a tuple, made into a channel
without a PVGroup (caproto's ``no_pvproperty.py`` style)::

    spec = PVSpec(name='a', value=1.0, record='ai', put=on_put)
    pvdb = {'pre:a': spec.create(group=None)}

Without a group the hooks are called as caproto calls them then, without
the group argument: ``get(instance)``, ``put(instance, value)``,
``startup(instance, async_lib)``, ``shutdown(instance, async_lib)``,
``scan(instance, async_lib)``; with a group, as a pvproperty's hooks.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from ..protocol._exceptions import CaprotoValueError
from ._channel_data import ChannelAlarm, ChannelData
from ._pvgroup import PVGroup, pvproperty

__all__ = ('PVSpec', 'channeldata_from_pvspec', 'data_class_from_pvspec')


class _Standalone(PVGroup):
    """The group of channels made from a PVSpec without one (no prefix,
    no PVs of its own)."""


def _without_group(hook: Callable | None) -> Callable | None:
    if hook is None:
        return None

    async def called_without_group(group: Any, *args: Any) -> Any:
        return await hook(*args)
    called_without_group.__name__ = getattr(hook, '__name__', 'hook')
    called_without_group.__doc__ = getattr(hook, '__doc__', None)
    return called_without_group


class PVSpec(NamedTuple):
    """Everything needed to make one PV's channel (caproto's fields)."""

    get: Callable | None = None
    put: Callable | None = None
    startup: Callable | None = None
    shutdown: Callable | None = None
    attr: str | None = None
    name: str | None = None
    dtype: Any = None
    value: Any = None
    max_length: int | None = None
    alarm_group: Any = None
    read_only: bool | None = None
    doc: str | None = None
    fields: Any = None
    scan: Callable | None = None
    record: Any = None
    cls_kwargs: dict | None = None

    def new_names(self, attr: str | None = None,
                  name: str | None = None) -> PVSpec:
        """This spec with another attribute and/or PV name."""
        return self._replace(attr=self.attr if attr is None else attr,
                             name=self.name if name is None else name)

    def to_pvproperty(self, *, grouped: bool = True) -> pvproperty:
        """The pvproperty this spec describes (hooks called without the
        group argument when ``grouped`` is False)."""
        if self.put is not None and self.read_only:
            raise CaprotoValueError(f'PV {self.name!r}: a read-only PV '
                                    f'cannot have a putter')
        hooks: list[Callable | None] = [self.get, self.put, self.startup,
                                        self.shutdown, self.scan]
        if not grouped:
            hooks = [_without_group(hook) for hook in hooks]
        get, put, startup, shutdown, scan = hooks
        alarm_group = self.alarm_group
        if isinstance(alarm_group, ChannelAlarm):
            alarm_group = id(alarm_group)
        return pvproperty(get, put, startup, shutdown, scan=scan,
                          name=self.name or self.attr, dtype=self.dtype,
                          value=self.value, max_length=self.max_length,
                          read_only=self.read_only, alarm_group=alarm_group,
                          doc=self.doc, record=self.record,
                          fields=self.fields, **(self.cls_kwargs or {}))

    def get_data_class(self, group: PVGroup | None = None) -> type:
        """The ChannelData class of the PV."""
        return self.to_pvproperty().data_class

    def create(self, group: PVGroup | None = None) -> ChannelData:
        """The PV's channel; its name is the group's prefix plus ``name``
        (just ``name`` without a group)."""
        if not (self.name or self.attr):
            raise CaprotoValueError('a PVSpec needs a name')
        if group is None:
            if self.value is None:
                raise CaprotoValueError(
                    f'PV {self.name!r}: a value is needed without a group')
            owner: PVGroup = _Standalone(prefix='')
            if isinstance(self.alarm_group, ChannelAlarm):
                owner.alarms[id(self.alarm_group)] = self.alarm_group
            elif self.alarm_group is not None:
                raise CaprotoValueError(
                    f'PV {self.name!r}: without a group, alarm_group must '
                    f'be a ChannelAlarm')
        else:
            owner = group
        prop = self.to_pvproperty(grouped=group is not None)
        prop.attr_name = self.attr or self.name
        return prop.create(owner)


def data_class_from_pvspec(group: PVGroup | None, pvspec: PVSpec) -> type:
    """caproto's helper: the ChannelData class of ``pvspec``."""
    return pvspec.get_data_class(group)


def channeldata_from_pvspec(group: PVGroup | None,
                            pvspec: PVSpec) -> tuple[str, ChannelData]:
    """caproto's helper: ``(pvname, channel)`` of ``pvspec`` in ``group``."""
    channel = pvspec.create(group)
    return channel.pvname, channel  # type: ignore[attr-defined]
