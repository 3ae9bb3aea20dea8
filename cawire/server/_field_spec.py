"""Per-field hooks of record-mocking pvproperties (caproto's API).

``pvproperty(record=AiFields)`` (or ``record='ai'``) makes a PV with the
fields of an ai record (see :mod:`cawire.server.records`).  Its
``.fields`` is a :class:`FieldSpec`: ``@A.fields.current_raw_value.putter``
(caproto's descriptive attribute name) or ``@A.fields.RVAL.putter`` (the
field name) registers a hook for that field, as caproto 1.3.0 does:

- ``putter``: ``async def hook(fields, instance, value)`` when a client
  writes the field, before the value is stored (its return, unless None,
  is stored instead; an exception refuses the write);
- ``getter``: ``async def hook(fields, instance)`` on each client read
  (its return, unless None, is written to the field first);
- ``startup`` / ``scan``: ``async def hook(fields, instance, async_lib)``
  started once with the server; ``shutdown``: the same when it stops.

``fields`` is the record's :class:`~cawire.server.records.RecordFields`
(``fields.parent`` the value's PV, ``fields.parent.group`` its PVGroup),
``instance`` the field's channel.  ``pvproperty(..., fields=(((field,
kind), hook), ...))`` is the same registration in caproto's tuple form, and
``pvproperty(..., field_spec=B.field_spec)`` reuses another PV's record type
and hooks.

``AiFields``, ``AoFields``... name the record types for ``record=`` and
for type annotations (``PvpropertyDouble[AiFields]``).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..protocol._exceptions import CaprotoValueError

__all__ = ('FieldSpec', 'FieldProxy', 'HOOK_KINDS', 'RecordFieldGroup', 'AiFields',
           'AoFields', 'BiFields', 'BoFields', 'LonginFields',
           'LongoutFields', 'MbbiFields', 'MbboFields', 'StringinFields',
           'StringoutFields', 'WaveformFields', 'record_class',
           'field_attributes')

_COMMON = {'record_name': 'NAME', 'description': 'DESC', 'record_type': 'RTYP',
           'scan_rate': 'SCAN', 'process_record': 'PROC', 'disable': 'DISA',
           'current_alarm_severity': 'SEVR', 'alarm_status': 'STAT',
           'undefined': 'UDF'}
_LIMITS = {'high_operating_range': 'HOPR', 'low_operating_range': 'LOPR',
           'hihi_alarm_limit': 'HIHI', 'high_alarm_limit': 'HIGH',
           'low_alarm_limit': 'LOW', 'lolo_alarm_limit': 'LOLO',
           'hihi_severity': 'HHSV', 'high_severity': 'HSV',
           'low_severity': 'LSV', 'lolo_severity': 'LLSV',
           'alarm_deadband': 'HYST', 'archive_deadband': 'ADEL',
           'monitor_deadband': 'MDEL', 'engineering_units': 'EGU'}
_DRIVE = {'drive_high_limit': 'DRVH', 'drive_low_limit': 'DRVL'}
_ANALOG = {'display_precision': 'PREC', 'current_raw_value': 'RVAL'}
_BINARY = {'zero_name': 'ZNAM', 'one_name': 'ONAM',
           'zero_error_severity': 'ZSV', 'one_error_severity': 'OSV'}
_NUMBERS = ('zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven',
            'eight', 'nine', 'ten', 'eleven', 'twelve', 'thirteen',
            'fourteen', 'fifteen')
_STATE_FIELDS = ('ZRST', 'ONST', 'TWST', 'THST', 'FRST', 'FVST', 'SXST',
                 'SVST', 'EIST', 'NIST', 'TEST', 'ELST', 'TVST', 'TTST',
                 'FTST', 'FFST')
_MULTIBIT = {f'{number}_string': field
             for number, field in zip(_NUMBERS, _STATE_FIELDS)}
_WAVEFORM = {'engineering_units': 'EGU', 'high_operating_range': 'HOPR',
             'low_operating_range': 'LOPR', 'display_precision': 'PREC',
             'number_of_elements': 'NELM', 'number_elements_read': 'NORD',
             'field_type_of_value': 'FTVL'}

#: Record type to {descriptive attribute: field name}, as caproto names
#: them (from the prompts of EPICS base's record definitions).
_ATTRIBUTES: dict[str, dict[str, str]] = {
    'ai': {**_COMMON, **_LIMITS, **_ANALOG},
    'ao': {**_COMMON, **_LIMITS, **_ANALOG, **_DRIVE},
    'longin': {**_COMMON, **_LIMITS},
    'longout': {**_COMMON, **_LIMITS, **_DRIVE},
    'bi': {**_COMMON, **_BINARY, 'change_of_state_svr': 'COSV'},
    'bo': {**_COMMON, **_BINARY, 'change_of_state_sevr': 'COSV'},
    'mbbi': {**_COMMON, **_MULTIBIT}, 'mbbo': {**_COMMON, **_MULTIBIT},
    'stringin': dict(_COMMON), 'stringout': dict(_COMMON),
    'waveform': {**_COMMON, **_WAVEFORM},
}


def field_attributes(record_type: str) -> dict[str, str]:
    """{descriptive attribute: field name} of a record type."""
    return dict(_ATTRIBUTES[record_type])


class RecordFieldGroup:
    """Base of the record type classes (``AiFields``...): a name for
    ``record=`` and annotations; ``_record_type`` is the EPICS type."""

    _record_type: str = ''

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _RECORD_CLASSES[cls._record_type] = cls


_RECORD_CLASSES: dict[str, type[RecordFieldGroup]] = {}


class AiFields(RecordFieldGroup):
    _record_type = 'ai'


class AoFields(RecordFieldGroup):
    _record_type = 'ao'


class BiFields(RecordFieldGroup):
    _record_type = 'bi'


class BoFields(RecordFieldGroup):
    _record_type = 'bo'


class LonginFields(RecordFieldGroup):
    _record_type = 'longin'


class LongoutFields(RecordFieldGroup):
    _record_type = 'longout'


class MbbiFields(RecordFieldGroup):
    _record_type = 'mbbi'


class MbboFields(RecordFieldGroup):
    _record_type = 'mbbo'


class StringinFields(RecordFieldGroup):
    _record_type = 'stringin'


class StringoutFields(RecordFieldGroup):
    _record_type = 'stringout'


class WaveformFields(RecordFieldGroup):
    _record_type = 'waveform'


def record_class(record: str | type) -> type[RecordFieldGroup]:
    """The ``...Fields`` class of a record type name (or the class)."""
    name = getattr(record, '_record_type', record)
    try:
        return _RECORD_CLASSES[name]  # type: ignore[index]
    except KeyError:
        raise CaprotoValueError(f'record type {name!r} is not supported; '
                                f'choose one of {sorted(_RECORD_CLASSES)}'
                                ) from None


#: The hook kinds of a field, as caproto names them in ``fields=``.
HOOK_KINDS = ('get', 'put', 'startup', 'shutdown', 'scan')


class FieldProxy:
    """One field of a :class:`FieldSpec`; its decorators register hooks.

    Every decorator returns the pvproperty (caproto's idiom), so the hook's
    own name may be anything (``_egu_putter``) and the pvproperty keeps its
    name.  ``fields`` below is the record's
    :class:`~cawire.server.records.RecordFields` (``fields.parent`` the
    value's channel, ``fields.parent.group`` its PVGroup) and ``instance``
    the field's channel.
    """

    def __init__(self, spec: FieldSpec, field: str):
        self.spec = spec
        self.field = field

    def getter(self, hook: Callable) -> Any:
        """``async def hook(fields, instance)`` runs on every client read of
        the field; a value it returns (unless None) is written to the field
        (through its putter, as a client write would be) and is what the
        client reads; an exception fails the read (ECA_GETFAIL)."""
        return self.spec.add_hook(self.field, 'get', hook)

    def putter(self, hook: Callable) -> Any:
        """``async def hook(fields, instance, value)`` runs when a client
        writes the field, before the value is stored; what it returns
        (unless None) is stored instead of ``value``; an exception refuses
        the write."""
        return self.spec.add_hook(self.field, 'put', hook)

    def startup(self, hook: Callable) -> Any:
        """``async def hook(fields, instance, async_lib)`` runs once when the
        server starts (a task of its own, beside the PVs' startup hooks)."""
        return self.spec.add_hook(self.field, 'startup', hook)

    def shutdown(self, hook: Callable) -> Any:
        """``async def hook(fields, instance, async_lib)`` runs once when the
        server stops."""
        return self.spec.add_hook(self.field, 'shutdown', hook)

    def scan(self, hook: Callable) -> Any:
        """``async def hook(fields, instance, async_lib)`` started once with
        the server, like a startup hook.  As in caproto there is no period
        here: loop inside the hook, or pass a function made periodic by
        :func:`~cawire.server.scan_wrapper` (``scan_wrapper(f, 1.0)``)."""
        return self.spec.add_hook(self.field, 'scan', hook)

    def __repr__(self) -> str:
        return f'<FieldProxy {self.spec.record_type}.{self.field}>'


class FieldSpec:
    """The record type of a pvproperty and its per-field hooks."""

    def __init__(self, prop: Any, record: str | type):
        self.prop = prop
        self.record_class = record_class(record)
        #: (field name, kind) to hook; kind is one of :data:`HOOK_KINDS`.
        self.hooks: dict[tuple[str, str], Callable] = {}

    @property
    def record_type(self) -> str:
        return self.record_class._record_type

    def __getattr__(self, attr: str) -> FieldProxy:
        if attr.startswith('__'):
            raise AttributeError(attr)
        return FieldProxy(self, self.field_name(attr))

    def field_name(self, attr: str) -> str:
        """The field (``RVAL``) of a descriptive attribute name
        (``current_raw_value``) or of a field name."""
        names = _ATTRIBUTES[self.record_type]
        if attr in names:
            return names[attr]
        if attr in names.values():
            return attr
        raise AttributeError(f'{self.record_type} has no field {attr!r} '
                             f'served by cawire')

    def add_hook(self, field: str, kind: str, hook: Callable) -> Any:
        """Register ``hook`` of ``kind`` for ``field``; returns the
        pvproperty."""
        if kind not in HOOK_KINDS:
            raise CaprotoValueError(f'unknown field hook kind {kind!r}; '
                                    f'choose one of {HOOK_KINDS}')
        if not callable(hook):
            raise CaprotoValueError(f'the {kind} hook of field {field} must '
                                    f'be callable, not {hook!r}')
        self.hooks[(self.field_name(field), kind)] = hook
        return self.prop

    def hooks_of(self, kind: str) -> dict[str, Callable]:
        """Field name to hook, for one kind."""
        return {field: hook for (field, hook_kind), hook in self.hooks.items()
                if hook_kind == kind}

    @property
    def putters(self) -> dict[str, Callable]:
        """Field name to putter."""
        return self.hooks_of('put')

    def copy_for(self, prop: Any) -> FieldSpec:
        """This spec (record type and hooks) for another pvproperty."""
        spec = FieldSpec(prop, self.record_class)
        spec.hooks = dict(self.hooks)
        return spec

    @property
    def fields(self) -> tuple:
        """caproto's view: ((field, kind), hook) pairs."""
        return tuple(self.hooks.items())

    def __repr__(self) -> str:
        return f'<FieldSpec record={self.record_type} fields={self.fields}>'
