"""Declarative IOCs: PVGroup, pvproperty and SubGroup.

An IOC is a class::

    class RandomWalk(PVGroup):
        dt = pvproperty(value=3.0, units='s')
        x = pvproperty(value=0.0, read_only=True)

        @x.startup
        async def x(self, instance, async_lib):
            while True:
                await instance.write(instance.value + random.random() - 0.5)
                await async_lib.sleep(self.dt.value)

    ioc = RandomWalk(prefix='random_walk:')
    ioc.pvdb  # {'random_walk:dt': <...>, 'random_walk:x': <...>}

Each pvproperty becomes a ChannelData instance (of a ``Pvproperty*`` class
that adds the hooks) per group instance; accessing ``self.dt`` on the
instance gives that ChannelData. Hooks (caproto's signatures):

* ``putter(group, instance, value)``: runs before a write is stored; return
  a replacement value or None; raise to refuse (client sees ECA_PUTFAIL);
* ``getter(group, instance)``: runs before a CA read; a returned value is
  stored first;
* ``startup(group, instance, async_lib)``, ``shutdown(...)``;
* ``scan(period)(group, instance, async_lib)``: called every ``period`` s.
"""
from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from typing import Any

from ..protocol._enums import AlarmSeverity
from ..protocol._exceptions import CaprotoRuntimeError, CaprotoValueError
from ._channel_data import ChannelAlarm, ChannelData
from ._channel_types import ChannelEnum
from ._field_spec import FieldSpec
from ._pvproperty_data import PvpropertyData, _pvproperty_class, data_class_for
from ._scan import scan_wrapper
from .states import StateUpdate, register_group_states

__all__ = ('PVGroup', 'pvproperty', 'SubGroup', 'PvpropertyData',
           'expand_macros', 'data_class_for', 'scan_wrapper')


def expand_macros(text: str, macros: dict) -> str:
    """Replace ``{name}`` by ``macros[name]`` (unknown names are kept)."""
    for key, value in macros.items():
        text = text.replace('{' + key + '}', str(value))
    return text


class pvproperty:
    """Declare a PV in a :class:`PVGroup`.

    Parameters
    ----------
    get, put, startup, shutdown : async callable, optional
        Hooks (also settable with the decorators of the same names).
    scan : async callable, optional
        Not accepted here; use the ``@prop.scan(period)`` decorator.
    name : str, optional
        PV name relative to the group prefix (default: the attribute name);
        ``{macro}`` placeholders are expanded with the group's macros.
    dtype : type, ChannelType, IntEnum subclass or ChannelData subclass
        Value type; inferred from ``value`` when omitted (float -> DOUBLE,
        int -> LONG, str -> CHAR long string, bool -> ENUM Off/On, ...).
    value : object, optional
        Initial value.
    max_length : int, optional
        Maximum number of elements (arrays; default: the initial length).
    read_only : bool, optional
        Clients may not write it.
    alarm_group : str, optional
        PVs of the same alarm group share one ChannelAlarm.
    doc : str, optional
        Description.
    **cls_kwargs
        Passed to the ChannelData class: units, precision, enum_strings,
        upper/lower_{disp,alarm,warning,ctrl}_limit, timestamp,
        string_encoding, reported_record_type...
    """

    def __init__(self, get: Callable | None = None, put: Callable | None = None,
                 startup: Callable | None = None,
                 shutdown: Callable | None = None, *,
                 scan: Callable | None = None,
                 name: str | None = None, dtype: Any = None,
                 value: Any = None,
                 max_length: int | None = None, read_only: bool | None = None,
                 alarm_group: str | None = None, doc: str | None = None,
                 record: str | type | None = None, fields: Any = None,
                 field_spec: FieldSpec | None = None, **cls_kwargs: Any):
        if scan is not None and not callable(scan):
            raise CaprotoValueError('scan must be a coroutine function; use '
                                    'the @prop.scan(period) decorator')
        if record is None and field_spec is not None:
            record = field_spec.record_type
        record = getattr(record, '_record_type', record)
        if record is not None:
            from .records import RECORD_TYPES
            if record not in RECORD_TYPES:
                raise CaprotoValueError(
                    f'record type {record!r} is not supported; choose one '
                    f'of {sorted(RECORD_TYPES)}')
            if name is not None and '.' in name:
                raise CaprotoValueError(
                    f'a record PV name cannot contain ".": {name!r}')
        self.record = record
        #: Record type and per-field putters (``prop.fields``).
        self.field_spec: FieldSpec | None = None
        if field_spec is not None:
            self.field_spec = field_spec.copy_for(self)
        elif record is not None:
            self.field_spec = FieldSpec(self, record)
        if fields:
            self._add_field_hooks(fields)
        self.attr_name: str | None = None
        self.name = name
        self.get_hook = get
        self.put_hook = put
        self.startup_hook = startup
        self.shutdown_hook = shutdown
        #: Long-running coroutine function (group, instance, async_lib)
        #: started with the server (see scan_wrapper).
        self.scan_runner: Callable | None = scan
        self.dtype = dtype
        self.value = value
        self.max_length = max_length
        self.read_only = bool(read_only)
        self.alarm_group = alarm_group
        self.doc = doc if doc is not None else getattr(get, '__doc__', None)
        self.cls_kwargs = cls_kwargs
        # Fail at class definition, not at IOC start, on a bad dtype.
        self.data_class, self._extra_kwargs = data_class_for(dtype, value)

    @property
    def fields(self) -> FieldSpec | None:
        """Per-field hooks of a record PV: ``@prop.fields.EGU.putter``."""
        return self.field_spec

    def _add_field_hooks(self, fields: Any) -> None:
        # caproto's form: ((field, kind), hook) pairs
        if self.field_spec is None:
            raise CaprotoValueError('fields= needs record=')
        for (field, kind), hook in fields:
            self.field_spec.add_hook(field, kind, hook)

    def __repr__(self) -> str:
        return (f'<pvproperty {self.attr_name!r} name={self.name!r} '
                f'{self.data_class.__name__}>')

    def __set_name__(self, owner: type, attr_name: str) -> None:
        if attr_name.startswith('_') and self.attr_name is not None:
            return  # a hook decorator's name bound to this pvproperty again
        self.attr_name = attr_name
        if self.name is None:
            self.name = attr_name

    def __get__(self, instance, owner=None):
        if instance is None:
            return self
        return instance.attr_pvdb[self.attr_name]

    def __set__(self, instance, value):
        raise AttributeError('pvproperty values are changed with '
                             '`await group.<name>.write(value)`')

    # -- decorators -------------------------------------------------------
    def __call__(self, get: Callable) -> 'pvproperty':
        """``@pvproperty(...)`` on an async method: it becomes the getter."""
        self.get_hook = get
        if self.doc is None:
            self.doc = get.__doc__
        return self

    def getter(self, get: Callable) -> 'pvproperty':
        """Decorator: ``async def get(group, instance)`` runs on every read.

        Its return value (unless None) becomes the PV's value before the
        reply goes out; an exception fails the read.  Returns this
        pvproperty, so the decorated name stays the PV.
        """
        self.get_hook = get
        return self

    def putter(self, put: Callable) -> 'pvproperty':
        """Decorator: ``async def put(group, instance, value)`` runs on every write.

        It receives the value the client wrote and returns the value to
        store (returning None stores ``value`` as written); raising an
        exception refuses the write, and the client sees ECA_PUTFAIL.
        Returns this pvproperty.
        """
        self.put_hook = put
        return self

    def startup(self, startup: Callable) -> 'pvproperty':
        """Decorator: ``async def startup(group, instance, async_lib)`` runs once
        when the server starts, as a task alongside the server (a loop that
        updates the PV belongs here).  Returns this pvproperty.
        """
        self.startup_hook = startup
        return self

    def shutdown(self, shutdown: Callable) -> 'pvproperty':
        """Decorator: ``async def shutdown(group, instance, async_lib)`` runs once
        when the server stops.  Returns this pvproperty.
        """
        self.shutdown_hook = shutdown
        return self

    def scan(self, period: float, *, subtract_elapsed: bool = True,
             stop_on_error: bool = False,
             failure_severity: AlarmSeverity = AlarmSeverity.MAJOR_ALARM,
             use_scan_field: bool = False
             ) -> Callable[[Callable], 'pvproperty']:
        """Decorator: call the function every ``period`` seconds.

        A failing call sets the alarm to SCAN/``failure_severity`` (cleared
        by the next good call). With ``use_scan_field`` (a ``record=`` PV)
        the record's SCAN field sets the period once written.
        """
        if period <= 0:
            raise CaprotoValueError('scan period must be > 0')
        if use_scan_field and self.record is None:
            raise CaprotoValueError('use_scan_field needs record=')

        def wrapper(func: Callable) -> 'pvproperty':
            self.scan_runner = scan_wrapper(
                func, period, subtract_elapsed=subtract_elapsed,
                stop_on_error=stop_on_error,
                failure_severity=failure_severity,
                use_scan_field=use_scan_field)
            return self
        return wrapper

    # -- instantiation ----------------------------------------------------
    def create(self, group: 'PVGroup') -> ChannelData:
        """Build this PV's ChannelData for ``group``."""
        pvname = group.prefix + expand_macros(self.name or '', group.macros)
        kwargs = dict(self._extra_kwargs)
        kwargs.update(self.cls_kwargs)
        value = self.value
        if isinstance(value, enum.IntEnum):
            value = value.name
        if self.max_length is not None:
            kwargs['max_length'] = self.max_length
        if self.alarm_group is not None:
            kwargs['alarm'] = group.alarms.setdefault(self.alarm_group,
                                                      ChannelAlarm())
        if self.record is not None:
            kwargs['reported_record_type'] = self.record
            if self.record in ('bi', 'bo') and \
                    issubclass(self.data_class, ChannelEnum):
                kwargs['enum_rules'] = 'bo'
        cls = _pvproperty_class(self.data_class)
        try:
            data = cls(pvname=pvname, group=group, prop=self, value=value,
                       read_only=self.read_only, **kwargs)
        except (TypeError, ValueError) as exc:
            raise CaprotoValueError(f'cannot create PV {pvname!r}: {exc}') \
                from exc
        if self.record is not None:
            from .records import RecordFields
            RecordFields(data, self.record, description=self.doc or '',
                         hooks=self.field_spec.hooks
                         if self.field_spec is not None else None)
        return data


class _NestedProperty:
    """``group.attr`` of a dict-built SubGroup in a class body: its
    decorators set the pvproperty's hooks and give back the SubGroup (so
    ``@pair.setpoint.putter`` may reuse the name ``pair``)."""

    def __init__(self, subgroup: 'SubGroup', prop: 'pvproperty'):
        self._subgroup = subgroup
        self._prop = prop

    def _decorator(self, name: str):
        def decorate(func: Callable) -> 'SubGroup':
            getattr(self._prop, name)(func)
            return self._subgroup
        return decorate

    def __getattr__(self, name: str):
        if name in ('getter', 'putter', 'startup', 'shutdown'):
            return self._decorator(name)
        if name == 'scan':
            def scan(*args, **kwargs):
                inner = self._prop.scan(*args, **kwargs)

                def decorate(func: Callable) -> 'SubGroup':
                    inner(func)
                    return self._subgroup
                return decorate
            return scan
        return getattr(self._prop, name)


class SubGroup:
    """Nest a PVGroup inside another (its PVs get the outer prefix too).

    Use as ``sub = SubGroup(OtherGroup, prefix='sub:')``, decorate a class
    defined inside the group body (``@SubGroup(prefix='sub:')``), or give a
    dict of attribute name to pvproperty (or to pvproperty keyword dicts):
    the group class is then built with ``base`` as its bases. Without a
    prefix, the attribute name plus ``attr_separator`` (``':'``) is used.
    """

    def __init__(self, group: type | dict | None = None, *,
                 prefix: str | None = None,
                 macros: dict | None = None, doc: str | None = None,
                 attr_separator: str | None = None,
                 base: tuple | None = None, **init_kwargs: Any):
        self.group_cls: type | None = None
        self.group_dict: dict | None = None
        self.prefix = prefix
        self.macros = macros or {}
        self.doc = doc
        self.attr_separator = attr_separator
        self.base = tuple(base) if base is not None else (PVGroup,)
        self.init_kwargs = init_kwargs
        self.attr_name: str | None = None
        self._set_group(group)

    def _set_group(self, group) -> None:
        if isinstance(group, dict):
            self.group_dict = {
                attr: item if isinstance(item, pvproperty)
                else pvproperty(**item)
                for attr, item in group.items()}
        elif group is not None:
            self.group_cls = group

    def __call__(self, group: type) -> 'SubGroup':
        self._set_group(group)
        return self

    def __set_name__(self, owner, attr_name: str) -> None:
        self.attr_name = attr_name
        if self.group_cls is None and self.group_dict is not None:
            namespace = dict(self.group_dict)
            namespace['__doc__'] = self.doc
            self.group_cls = type(attr_name, self.base, namespace)
        separator = self.attr_separator
        if separator is None:
            separator = getattr(self.group_cls, 'attr_separator', ':')
        if self.prefix is None:
            self.prefix = f'{attr_name}{separator}'

    def __get__(self, instance, owner=None):
        if instance is None:
            return self
        return instance.groups[self.attr_name]

    def __getattr__(self, name: str):
        group_dict = self.__dict__.get('group_dict')
        if group_dict is not None and name in group_dict:
            return _NestedProperty(self, group_dict[name])
        raise AttributeError(name)

    def __repr__(self) -> str:
        name = getattr(self.group_cls, '__name__', None)
        return f'<SubGroup {self.attr_name!r} prefix={self.prefix!r} {name}>'


class PVGroup:
    """A set of PVs sharing a prefix; subclass it and add pvproperties.

    Parameters
    ----------
    prefix : str
        Prepended to every PV name (``{macro}`` placeholders expanded).
    macros : dict, optional
        Macro values for names.
    parent : PVGroup, optional
        Enclosing group (set for SubGroups).
    name : str, optional
        Name for logging.

    Attributes
    ----------
    pvdb : dict
        Full PV name to ChannelData, subgroups included (what ``run`` serves).
    attr_pvdb : dict
        Attribute name to ChannelData for this group's own pvproperties.
    groups : dict
        Attribute name to subgroup instance.
    """

    _pvs_: dict = {}
    _subgroups_: dict = {}
    #: Between a SubGroup's attribute name and its PVs (default prefix).
    attr_separator = ':'

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        pvs, subgroups = {}, {}
        for klass in reversed(cls.__mro__):
            for attr, item in vars(klass).items():
                if attr.startswith('_'):
                    continue  # as caproto (a field putter's name, ...)
                if isinstance(item, pvproperty):
                    pvs[attr] = item
                    subgroups.pop(attr, None)
                elif isinstance(item, SubGroup):
                    subgroups[attr] = item
                    pvs.pop(attr, None)
        cls._pvs_ = pvs
        cls._subgroups_ = subgroups

    def __init__(self, prefix: str, *, macros: dict | None = None,
                 parent: 'PVGroup | None' = None, name: str | None = None):
        self.parent = parent
        self.macros = dict(macros or {})
        self.prefix = expand_macros(prefix, self.macros)
        self.name = name or type(self).__name__
        self.log: logging.Logger = logging.getLogger(
            f'cawire.server.{self.name}' if parent is None
            else f'{parent.log.name}.{self.name}')
        self.alarms: dict = parent.alarms if parent is not None else {}
        self.pvdb: dict[str, ChannelData] = {}
        self.attr_pvdb: dict[str, ChannelData] = {}
        self.attr_to_pvname: dict[str, str] = {}
        self.groups: dict[str, PVGroup] = {}
        if not hasattr(self, 'states'):
            # caproto: a group without its own ``states`` shares its parent's
            self.states: dict[str, bool] = getattr(parent, 'states', {})
        for attr, subgroup in self._subgroups_.items():
            if subgroup.group_cls is None:
                raise CaprotoValueError(f'SubGroup {attr!r} has no group class')
            macros = dict(self.macros)
            macros.update(subgroup.macros)
            instance = subgroup.group_cls(
                prefix=self.prefix + subgroup.prefix, macros=macros,
                parent=self, name=attr, **subgroup.init_kwargs)
            self.groups[attr] = instance
            for sub_attr, nested in instance.groups.items():
                self.groups[f'{attr}.{sub_attr}'] = nested
            self._merge(instance.pvdb)
        for attr, prop in self._pvs_.items():
            data = prop.create(self)
            self.attr_pvdb[attr] = data
            self.attr_to_pvname[attr] = data.pvname
            self._merge({data.pvname: data})
            if data.record_fields is not None:
                self._merge(data.record_fields.pvdb_entries())
        register_group_states(self)

    def update_state(self, state: str, value: bool) -> StateUpdate:
        """``async with group.update_state('fly', True):`` sets the named
        state (see :mod:`cawire.server.states`), calling every PV's
        ``pre_state_change`` before and ``post_state_change`` after."""
        return StateUpdate(self, state, value)

    def _merge(self, pvdb: dict) -> None:
        for pvname, data in pvdb.items():
            if pvname in self.pvdb:
                raise CaprotoRuntimeError(f'PV {pvname!r} defined twice in '
                                          f'{type(self).__name__}')
            self.pvdb[pvname] = data

    def __repr__(self) -> str:
        return f'<{type(self).__name__} prefix={self.prefix!r} ' \
               f'{len(self.pvdb)} PVs>'
