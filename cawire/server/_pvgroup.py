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

import asyncio
import enum
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..protocol._enums import AlarmSeverity, AlarmStatus, ChannelType
from ..protocol._exceptions import CaprotoRuntimeError, CaprotoValueError
from ._channel_data import ChannelAlarm, ChannelData
from ._field_spec import FieldSpec
from .states import StateUpdate, register_group_states
from ._channel_types import (ChannelByte, ChannelChar, ChannelDouble,
                             ChannelEnum, ChannelFloat, ChannelInteger,
                             ChannelShort, ChannelString)

if TYPE_CHECKING:
    from .records import RecordFields

__all__ = ('PVGroup', 'pvproperty', 'SubGroup', 'PvpropertyData',
           'expand_macros', 'data_class_for', 'scan_wrapper')

logger = logging.getLogger('cawire.server')

_BOOL_STRINGS = ('Off', 'On')
_TYPE_CLASSES = {
    float: ChannelDouble, int: ChannelInteger, str: ChannelChar,
    bytes: ChannelByte, bool: ChannelEnum,
    ChannelType.DOUBLE: ChannelDouble, ChannelType.FLOAT: ChannelFloat,
    ChannelType.LONG: ChannelInteger, ChannelType.INT: ChannelShort,
    ChannelType.ENUM: ChannelEnum, ChannelType.STRING: ChannelString,
    ChannelType.CHAR: ChannelChar,
}


def expand_macros(text: str, macros: dict) -> str:
    """Replace ``{name}`` by ``macros[name]`` (unknown names are kept)."""
    for key, value in macros.items():
        text = text.replace('{' + key + '}', str(value))
    return text


class PvpropertyData:
    """Mixin giving a ChannelData its pvproperty hooks and group."""

    #: The ``Pvproperty*RO`` classes refuse client writes whatever
    #: ``read_only`` says.
    forced_read_only = False

    def __class_getitem__(cls, fields: Any) -> type:
        # ``PvpropertyDouble[AiFields]``: an annotation naming the record
        # type; the class itself.
        return cls
    # Provided by the ChannelData class this mixin is combined with.
    record_fields: Any
    alarm: Any

    def __init__(self, *, pvname: str, group: 'PVGroup',
                 prop: 'pvproperty', **kwargs: Any):
        self.pvname = pvname
        self.group = group
        self.pvspec = prop
        self.name = prop.name
        self.__doc__ = prop.doc
        if self.forced_read_only:
            kwargs['read_only'] = True
        super().__init__(**kwargs)
        own_verify = type(self).verify_value is not PvpropertyData.verify_value
        self.has_async_write = prop.put_hook is not None or own_verify
        own_read = type(self).read is not PvpropertyData.read
        self.has_async_read = prop.get_hook is not None or own_read
        # The server skips channels whose hook attribute is None.
        if prop.startup_hook is None and prop.scan_runner is None:
            self.server_startup = None  # type: ignore[method-assign,assignment]
        if prop.shutdown_hook is None:
            self.server_shutdown = None  # type: ignore[method-assign,assignment]

    async def verify_value(self, value: Any) -> Any:
        """Run the pvproperty's putter (if any) on a value being written.

        An exception from the putter refuses the write.

        Returns
        -------
        Any
            What the putter returns (None keeps ``value``, ``SkipWrite``
            stores nothing), or ``value`` itself when there is no putter.
        """
        put = self.pvspec.put_hook
        if put is None:
            return value
        return await put(self.group, self, value)

    async def read(self: Any, data_type: int) -> None:  # self: + ChannelData
        """Run the pvproperty's getter (if any) before a client read.

        A value the getter returns is written to the channel (without the
        putter) and is what the client reads.
        """
        get = self.pvspec.get_hook
        if get is None:
            return
        value = await get(self.group, self)
        if value is not None:
            await self.write(value, verify_value=False)

    async def server_startup(self, async_lib: Any) -> None:
        """Run the pvproperty's startup hook and scan loop (concurrently).

        Called once by the server when it starts; the attribute is ``None``
        on channels that have neither.
        """
        tasks = []
        if self.pvspec.startup_hook is not None:
            tasks.append(self.pvspec.startup_hook(self.group, self, async_lib))
        if self.pvspec.scan_runner is not None:
            tasks.append(self.pvspec.scan_runner(self.group, self, async_lib))
        await asyncio.gather(*tasks)

    async def server_shutdown(self, async_lib: Any) -> None:
        """Run the pvproperty's shutdown hook; called when the server stops."""
        hook = self.pvspec.shutdown_hook
        assert hook is not None  # otherwise this method is None
        await hook(self.group, self, async_lib)

    @property
    def fields(self) -> dict:
        """Field name to channel of a record-mocking PV (else empty)."""
        if self.record_fields is None:
            return {}
        return self.record_fields.fields

    @property
    def field_inst(self) -> 'RecordFields | None':
        """The RecordFields of a record-mocking PV, or None."""
        return self.record_fields

    @property
    def record_type(self) -> str | None:
        """The record type this PV mocks (``'ao'``...), or None."""
        return self.pvspec.record

    def _scan_period(self, period: float, use_scan_field: bool) -> float:
        if not use_scan_field or self.record_fields is None:
            return period
        scan = self.record_fields.fields['SCAN'].value
        if scan == 'Passive' and not self.record_fields.scan_written:
            return period  # the decorator's period until SCAN is written
        return self.record_fields.scan_rate_sec or 0.0

    async def scan_loop(self, async_lib: Any, func: Callable, period: float, *,
                        subtract_elapsed: bool = True,
                        stop_on_error: bool = False,
                        failure_severity: AlarmSeverity = AlarmSeverity.MAJOR_ALARM,
                        use_scan_field: bool = False) -> None:
        """Call ``func(group, self, async_lib)`` periodically (see
        :func:`scan_wrapper`)."""
        await run_scan(
            self.group, self, async_lib, func,
            lambda: self._scan_period(period, use_scan_field),
            subtract_elapsed=subtract_elapsed, stop_on_error=stop_on_error,
            failure_severity=failure_severity)


async def run_scan(group: Any, instance: Any, async_lib: Any, func: Callable,
                   period: Callable[[], float], *,
                   subtract_elapsed: bool = True, stop_on_error: bool = False,
                   failure_severity: AlarmSeverity = AlarmSeverity.MAJOR_ALARM
                   ) -> None:
    """Call ``func(group, instance, async_lib)`` every ``period()`` seconds
    (asked again before each call; 0 means not now, look again in 0.1 s).

    A failing call is logged and sets the instance's alarm to
    SCAN/``failure_severity`` until a call succeeds.
    """
    loop = asyncio.get_running_loop()
    log = getattr(group, 'log', logger)
    while True:
        started = loop.time()
        interval = period()
        if interval <= 0:
            # Passive/event SCAN: look again later for a new rate.
            await asyncio.sleep(0.1)
            continue
        try:
            await func(group, instance, async_lib)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - a user scan hook failed
            log.exception('Scan of %s failed',
                          getattr(instance, 'pvname', instance))
            await instance.alarm.write(status=AlarmStatus.SCAN,
                                       severity=failure_severity)
            if stop_on_error:
                return
        else:
            if (instance.alarm.status, instance.alarm.severity) == (
                    AlarmStatus.SCAN, failure_severity):
                await instance.alarm.write(status=AlarmStatus.NO_ALARM,
                                           severity=AlarmSeverity.NO_ALARM)
        delay = interval
        if subtract_elapsed:
            delay = max(0.0, interval - (loop.time() - started))
        await asyncio.sleep(delay)


def scan_wrapper(scan_function: Callable, period: float, *,
                 subtract_elapsed: bool = True, stop_on_error: bool = False,
                 failure_severity: AlarmSeverity = AlarmSeverity.MAJOR_ALARM,
                 use_scan_field: bool = False) -> Callable:
    """Turn ``scan_function(group, instance, async_lib)`` into a coroutine
    function that calls it every ``period`` seconds (for ``pvproperty(scan=)``).

    A failing call is logged and sets the alarm to SCAN/``failure_severity``
    until a call succeeds; ``stop_on_error`` ends the loop instead.
    ``subtract_elapsed`` keeps the period between starts, not between calls.
    ``use_scan_field``: a ``record=`` PV follows its SCAN field once a client
    wrote it.
    """
    if period <= 0:
        raise CaprotoValueError('scan period must be > 0')

    async def scanned(group, instance, async_lib) -> None:
        if not hasattr(instance, 'scan_loop'):
            # A record field's channel (``@prop.fields.X.scan``): the
            # fixed period.
            await run_scan(group, instance, async_lib, scan_function,
                           lambda: float(period),
                           subtract_elapsed=subtract_elapsed,
                           stop_on_error=stop_on_error,
                           failure_severity=AlarmSeverity(failure_severity))
            return
        await instance.scan_loop(
            async_lib, scan_function, float(period),
            subtract_elapsed=subtract_elapsed, stop_on_error=stop_on_error,
            failure_severity=AlarmSeverity(failure_severity),
            use_scan_field=use_scan_field)
    return scanned


_data_classes: dict[type, type] = {}


def _pvproperty_class(base: type) -> type:
    if issubclass(base, PvpropertyData):
        return base  # already a Pvproperty* class (dtype=PvpropertyDouble)
    cls = _data_classes.get(base)
    if cls is None:
        cls = type(f'Pvproperty{base.__name__.replace("Channel", "")}',
                   (PvpropertyData, base), {'__module__': __name__})
        _data_classes[base] = cls
    return cls


def data_class_for(dtype: Any, value: Any) -> tuple[type, dict]:
    """ChannelData class and keyword adjustments for a dtype/value pair."""
    extra: dict[str, Any] = {}
    if dtype is None:
        if isinstance(value, enum.IntEnum):
            dtype = type(value)
        elif isinstance(value, bool):
            dtype = bool
        elif isinstance(value, (int, np.integer)):
            dtype = int
        elif isinstance(value, (float, np.floating)):
            dtype = float
        elif isinstance(value, str):
            dtype = str
        elif isinstance(value, bytes):
            dtype = bytes
        elif isinstance(value, np.ndarray):
            dtype = {'f': float, 'i': int, 'u': int, 'b': int,
                     'U': ChannelType.STRING}.get(value.dtype.kind, float)
            if value.dtype == np.float32:
                dtype = ChannelType.FLOAT
            elif value.dtype == np.int16:
                dtype = ChannelType.INT
            elif value.dtype == np.uint8:
                dtype = bytes
        elif isinstance(value, Sequence) and len(value):
            first = value[0]
            if isinstance(first, str):
                dtype = ChannelType.STRING
            elif isinstance(first, float):
                dtype = float
            else:
                dtype = int
        else:
            # caproto: a pvproperty without value or dtype is an integer
            dtype = int if value is None else type(value)
    if isinstance(dtype, type) and issubclass(dtype, ChannelData):
        return dtype, extra
    if isinstance(dtype, type) and issubclass(dtype, enum.IntEnum):
        extra['enum_strings'] = tuple(member.name for member in dtype)
        return ChannelEnum, extra
    if dtype is bool:
        # Two states as a bo record has them (an index beyond reads as
        # 'Illegal_Value', as from a C IOC).
        extra.update(enum_strings=_BOOL_STRINGS, enum_rules='bo')
    if dtype == ChannelType.CHAR and value is not None \
            and not isinstance(value, str):
        return ChannelByte, extra
    try:
        return _TYPE_CLASSES[dtype], extra
    except (KeyError, TypeError):
        raise CaprotoValueError(f'unsupported pvproperty dtype {dtype!r}') \
            from None


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
