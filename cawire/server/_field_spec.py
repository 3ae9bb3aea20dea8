"""Per-field hooks of record-mocking pvproperties (caproto's API).

``pvproperty(record=AiFields)`` (or ``record='ai'``) makes a PV with the
fields of an ai record (see :mod:`cawire.server.records`).  Its
``.fields`` is a :class:`FieldSpec`: ``@A.fields.current_raw_value.putter``
(caproto's descriptive attribute name) or ``@A.fields.RVAL.putter`` (the
field name) registers ``async def hook(fields, instance, value)``, called
when a client writes that field, before the value is stored: ``fields`` is
the record's :class:`~cawire.server.records.RecordFields` (``fields.parent``
the value's PV, ``fields.parent.group`` its PVGroup), ``instance`` the
field's channel; what the hook returns (unless None) is stored instead of
``value``, and an exception refuses the write.  ``pvproperty(...,
field_spec=B.field_spec)`` reuses another PV's record type and hooks.

``AiFields``, ``AoFields``... name the record types for ``record=`` and
for type annotations (``PvpropertyDouble[AiFields]``).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..protocol._exceptions import CaprotoValueError

__all__ = ('FieldSpec', 'FieldProxy', 'RecordFieldGroup', 'AiFields',
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


class FieldProxy:
    """One field of a :class:`FieldSpec`; ``.putter`` registers its hook."""

    def __init__(self, spec: FieldSpec, field: str):
        self.spec = spec
        self.field = field

    def putter(self, hook: Callable) -> Any:
        """Decorator: ``hook(fields, instance, value)`` runs when a client
        writes the field; returns the pvproperty (caproto's idiom)."""
        self.spec.putters[self.field] = hook
        return self.spec.prop

    def _unsupported(self, hook: Callable) -> Any:
        raise NotImplementedError(
            'only per-field putters are implemented in cawire (a field has '
            'no getter/startup/shutdown/scan hooks of its own)')

    getter = startup = shutdown = scan = _unsupported

    def __repr__(self) -> str:
        return f'<FieldProxy {self.spec.record_type}.{self.field}>'


class FieldSpec:
    """The record type of a pvproperty and its per-field putters."""

    def __init__(self, prop: Any, record: str | type):
        self.prop = prop
        self.record_class = record_class(record)
        self.putters: dict[str, Callable] = {}

    @property
    def record_type(self) -> str:
        return self.record_class._record_type

    def __getattr__(self, attr: str) -> FieldProxy:
        if attr.startswith('__'):
            raise AttributeError(attr)
        names = _ATTRIBUTES[self.record_type]
        if attr in names:
            return FieldProxy(self, names[attr])
        if attr in names.values():
            return FieldProxy(self, attr)
        raise AttributeError(f'{self.record_type} has no field {attr!r} '
                             f'served by cawire')

    def copy_for(self, prop: Any) -> FieldSpec:
        """This spec (record type and hooks) for another pvproperty."""
        spec = FieldSpec(prop, self.record_class)
        spec.putters = dict(self.putters)
        return spec

    @property
    def fields(self) -> tuple:
        """caproto's view: ((field, 'put'), hook) pairs."""
        return tuple(((field, 'put'), hook)
                     for field, hook in self.putters.items())

    def __repr__(self) -> str:
        return f'<FieldSpec record={self.record_type} fields={self.fields}>'
