"""Record fields for pvproperties that mock EPICS records (``record='ai'``).

A pvproperty declared with ``record=`` serves, besides its value, the
fields a softIoc record of that type has, as ``NAME.FIELD`` PVs with the
field types of EPICS base (DBF_STRING, DBF_SHORT, DBF_DOUBLE, menus as
ENUM...), ``NAME.VAL`` (the value PV itself) and ``NAME.FIELD$`` for string
fields (the long-string CHAR view of EPICS 3.14.11+).

Fields are kept consistent with the value in both directions: writing
``.EGU`` changes the units of DBR_CTRL replies, ``.HIHI``/``.HHSV`` change
the alarm evaluation, ``.DRVH``/``.DRVL`` the control limits,
``.ADEL``/``.MDEL`` the deadbands; a change of the value's metadata or alarm
(``write_metadata``, a new severity) shows in ``.EGU``, ``.SEVR``... and is
posted to their subscribers.

Supported record types (calc-free ones): ai, ao, bi, bo, longin, longout,
mbbi, mbbo, stringin, stringout, waveform. Fields served by every type:
NAME, DESC, RTYP, SCAN, PROC, DISA, SEVR, STAT, UDF, VAL; analog and long
types add EGU, HOPR, LOPR, HIHI, HIGH, LOW, LOLO, HHSV, HSV, LSV, LLSV,
HYST, ADEL, MDEL (ai/ao and waveform PREC; ao/longout DRVH, DRVL); bi/bo
ZNAM, ONAM, ZSV, OSV, COSV; mbbi/mbbo ZRST..FFST; waveform NELM, NORD, FTVL.
DISA, HYST and the bi/bo severities are stored but have no effect; PROC
runs the value's getter (if any) and posts the value again.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ..protocol._enums import AlarmSeverity, AlarmStatus, ChannelType
from ..protocol._exceptions import CaprotoValueError
from ._channel_data import _VALUE_CHANGE, ChannelData
from ._field_spec import (AiFields, AoFields, BiFields, BoFields,
                          LonginFields, LongoutFields, MbbiFields,
                          MbboFields, RecordFieldGroup, StringinFields,
                          StringoutFields, WaveformFields, field_attributes)
from ._channel_types import (ChannelByte, ChannelChar, ChannelDouble,
                             ChannelEnum, ChannelInteger, ChannelNumeric,
                             ChannelShort, ChannelString)

__all__ = ('RECORD_TYPES', 'RecordFields', 'FieldDefinition', 'MENU_SCAN',
           'MENU_ALARM_SEVERITY', 'MENU_ALARM_STATUS', 'SCAN_PERIODS',
           'records', 'RecordFieldGroup', 'AiFields', 'AoFields', 'BiFields',
           'BoFields', 'LonginFields', 'LongoutFields', 'MbbiFields',
           'MbboFields', 'StringinFields', 'StringoutFields',
           'WaveformFields')

logger = logging.getLogger('cawire.server.records')

MENU_SCAN = ('Passive', 'Event', 'I/O Intr', '10 second', '5 second',
             '2 second', '1 second', '.5 second', '.2 second', '.1 second')
#: Seconds between scans of each periodic SCAN choice.
SCAN_PERIODS = {'10 second': 10.0, '5 second': 5.0, '2 second': 2.0,
                '1 second': 1.0, '.5 second': 0.5, '.2 second': 0.2,
                '.1 second': 0.1}
MENU_ALARM_SEVERITY = ('NO_ALARM', 'MINOR', 'MAJOR', 'INVALID')
MENU_ALARM_STATUS = (
    'NO_ALARM', 'READ', 'WRITE', 'HIHI', 'HIGH', 'LOLO', 'LOW', 'STATE',
    'COS', 'COMM', 'TIMEOUT', 'HWLIMIT', 'CALC', 'SCAN', 'LINK', 'SOFT',
    'BAD_SUB', 'UDF', 'DISABLE', 'SIMM', 'READ_ACCESS', 'WRITE_ACCESS')
MENU_FTVL = ('STRING', 'CHAR', 'UCHAR', 'SHORT', 'USHORT', 'LONG', 'ULONG',
             'INT64', 'UINT64', 'FLOAT', 'DOUBLE', 'ENUM')
_FTVL_OF_TYPE = {ChannelType.STRING: 'STRING', ChannelType.CHAR: 'UCHAR',
                 ChannelType.INT: 'SHORT', ChannelType.LONG: 'LONG',
                 ChannelType.FLOAT: 'FLOAT', ChannelType.DOUBLE: 'DOUBLE',
                 ChannelType.ENUM: 'ENUM'}
_STATE_FIELDS = ('ZRST', 'ONST', 'TWST', 'THST', 'FRST', 'FVST', 'SXST',
                 'SVST', 'EIST', 'NIST', 'TEST', 'ELST', 'TVST', 'TTST',
                 'FTST', 'FFST')
#: Severity fields of the alarm limits, in ChannelNumeric's order.
_LIMIT_SEVERITY_FIELDS = ('HHSV', 'HSV', 'LSV', 'LLSV')


class FieldDefinition:
    """One field of a record type.

    Parameters
    ----------
    name : str
        Field name (``EGU``).
    kind : str
        'string', 'short', 'long', 'double', 'uchar' or 'menu'.
    size : int
        Storage size of string fields (text is cut to ``size - 1`` bytes).
    menu : tuple of str
        Choices of a menu field.
    get : callable(parent, record) -> value, optional
        Reads the field from the value's channel (linked fields).
    put : callable(parent, record, value), optional
        Applies a written field to the value's channel; may be a coroutine
        function. Without ``get``/``put`` the field is stored by itself.
    read_only : bool
    default : object
        Initial value of a stored field.
    """

    def __init__(self, name: str, kind: str, *, size: int = 40,
                 menu: tuple = (), get: Callable | None = None,
                 put: Callable | None = None, read_only: bool = False,
                 default: Any = None):
        self.name = name
        self.kind = kind
        self.size = size
        self.menu = menu
        self.get = get
        self.put = put
        self.read_only = read_only
        self.default = default

    def __repr__(self) -> str:
        return f'<FieldDefinition {self.name} {self.kind}>'


def _attribute(attr: str, kind_cast: Callable = float):
    def get(parent, record):
        return getattr(parent, attr)

    async def put(parent, record, value):
        await parent.write_metadata(**{attr: kind_cast(value)})
    return get, put


def _plain_attribute(attr: str):
    # Attributes that are not CA metadata (deadbands): set directly.
    def get(parent, record):
        return getattr(parent, attr)

    def put(parent, record, value):
        setattr(parent, attr, float(value))
    return get, put


def _severity_field(index: int):
    def get(parent, record):
        return MENU_ALARM_SEVERITY[int(parent.limit_severities[index])]

    def put(parent, record, value):
        severities = list(parent.limit_severities)
        severities[index] = AlarmSeverity(MENU_ALARM_SEVERITY.index(value))
        # Used from the next value written on, as a record uses it from
        # its next processing.
        parent.limit_severities = tuple(severities)
        # The alarm limits in GR/CTRL replies depend on the severities.
        parent._metadata_templates.clear()
        parent._payload_cache.clear()
    return get, put


def _state_field(index: int):
    def get(parent, record):
        strings = parent.enum_strings
        return strings[index] if index < len(strings) else ''

    async def put(parent, record, value):
        strings = list(parent.enum_strings)
        while len(strings) <= index:
            strings.append('')
        strings[index] = value
        while strings and not strings[-1]:
            strings.pop()
        await parent.write_metadata(enum_strings=strings)
    return get, put


def _desc_get(parent, record):
    return record.description


def _desc_put(parent, record, value):
    record.description = value


def _common_fields() -> list[FieldDefinition]:
    return [
        FieldDefinition('NAME', 'string', size=61, read_only=True,
                        get=lambda parent, record: parent.pvname),
        FieldDefinition('DESC', 'string', size=41, get=_desc_get,
                        put=_desc_put),
        FieldDefinition('RTYP', 'string', read_only=True,
                        get=lambda parent, record: record.record_type),
        FieldDefinition('SCAN', 'menu', menu=MENU_SCAN, default='Passive'),
        FieldDefinition('PROC', 'uchar', default=0,
                        put=lambda parent, record, value:
                        record.process()),
        FieldDefinition('DISA', 'short', default=0),
        FieldDefinition('SEVR', 'menu', menu=MENU_ALARM_SEVERITY,
                        read_only=True,
                        get=lambda parent, record:
                        MENU_ALARM_SEVERITY[int(parent.severity)]),
        FieldDefinition('STAT', 'menu', menu=MENU_ALARM_STATUS,
                        read_only=True,
                        get=lambda parent, record:
                        MENU_ALARM_STATUS[int(parent.status)]
                        if int(parent.status) < len(MENU_ALARM_STATUS)
                        else 'NO_ALARM'),
        FieldDefinition('UDF', 'uchar', default=0),
    ]


def _limit_fields(kind: str, *, precision: bool, drive: bool
                  ) -> list[FieldDefinition]:
    cast = float if kind == 'double' else int
    fields = [FieldDefinition('EGU', 'string', size=16,
                              get=lambda parent, record: parent.units,
                              put=_attribute('units', str)[1])]
    if precision:
        get, put = _attribute('precision', int)
        fields.append(FieldDefinition('PREC', 'short', get=get, put=put))
        # The raw value of a soft analog record (stored, no conversion).
        fields.append(FieldDefinition('RVAL', 'long', default=0))
    names = [('HOPR', 'upper_disp_limit'), ('LOPR', 'lower_disp_limit'),
             ('HIHI', 'upper_alarm_limit'), ('HIGH', 'upper_warning_limit'),
             ('LOW', 'lower_warning_limit'), ('LOLO', 'lower_alarm_limit')]
    if drive:
        names += [('DRVH', 'upper_ctrl_limit'), ('DRVL', 'lower_ctrl_limit')]
    for field_name, attr in names:
        get, put = _attribute(attr, cast)
        fields.append(FieldDefinition(field_name, kind, get=get, put=put))
    for index, field_name in enumerate(_LIMIT_SEVERITY_FIELDS):
        get, put = _severity_field(index)
        fields.append(FieldDefinition(field_name, 'menu',
                                      menu=MENU_ALARM_SEVERITY, get=get,
                                      put=put))
    fields.append(FieldDefinition('HYST', kind, default=0))
    for field_name, attr in (('ADEL', 'log_atol'), ('MDEL', 'value_atol')):
        get, put = _plain_attribute(attr)
        fields.append(FieldDefinition(field_name, kind, get=get, put=put))
    return fields


def _binary_fields() -> list[FieldDefinition]:
    fields = []
    for index, name in enumerate(('ZNAM', 'ONAM')):
        get, put = _state_field(index)
        fields.append(FieldDefinition(name, 'string', size=26, get=get,
                                      put=put))
    for name in ('ZSV', 'OSV', 'COSV'):
        fields.append(FieldDefinition(name, 'menu', menu=MENU_ALARM_SEVERITY,
                                      default='NO_ALARM'))
    return fields


def _multibit_fields() -> list[FieldDefinition]:
    fields = []
    for index, name in enumerate(_STATE_FIELDS):
        get, put = _state_field(index)
        fields.append(FieldDefinition(name, 'string', size=26, get=get,
                                      put=put))
    return fields


def _waveform_fields() -> list[FieldDefinition]:
    return [
        FieldDefinition('EGU', 'string', size=16,
                        get=lambda parent, record:
                        getattr(parent, 'units', ''),
                        put=lambda parent, record, value:
                        parent.write_metadata(units=value)
                        if isinstance(parent, ChannelNumeric) else None),
        FieldDefinition('PREC', 'short',
                        get=lambda parent, record:
                        getattr(parent, 'precision', 0),
                        put=lambda parent, record, value:
                        parent.write_metadata(precision=int(value))
                        if isinstance(parent, ChannelNumeric) else None),
        FieldDefinition('HOPR', 'double',
                        get=lambda parent, record:
                        getattr(parent, 'upper_disp_limit', 0.0)),
        FieldDefinition('LOPR', 'double',
                        get=lambda parent, record:
                        getattr(parent, 'lower_disp_limit', 0.0)),
        FieldDefinition('NELM', 'long', read_only=True,
                        get=lambda parent, record: parent.max_length),
        FieldDefinition('NORD', 'long', read_only=True,
                        get=lambda parent, record: len(parent)),
        FieldDefinition('FTVL', 'menu', menu=MENU_FTVL, read_only=True,
                        get=lambda parent, record:
                        _FTVL_OF_TYPE[parent.data_type]),
    ]


def _build_record_types() -> dict[str, list[FieldDefinition]]:
    analog_in = _limit_fields('double', precision=True, drive=False)
    analog_out = _limit_fields('double', precision=True, drive=True)
    long_in = _limit_fields('long', precision=False, drive=False)
    long_out = _limit_fields('long', precision=False, drive=True)
    return {
        'ai': analog_in, 'ao': analog_out,
        'longin': long_in, 'longout': long_out,
        'bi': _binary_fields(), 'bo': _binary_fields(),
        'mbbi': _multibit_fields(), 'mbbo': _multibit_fields(),
        'stringin': [], 'stringout': [],
        'waveform': _waveform_fields(),
    }


#: Record type name to its own fields (the common fields come first).
RECORD_TYPES: dict[str, list[FieldDefinition]] = _build_record_types()
#: caproto-compatible name: record type name to field definitions.
records = RECORD_TYPES

_FIELD_CLASSES: dict[str, type] = {}


def _field_channel_class(base: type) -> type:
    """A channel class whose client writes go through the record."""
    cls = _FIELD_CLASSES.get(base.__name__)
    if cls is None:
        async def verify_value(self, value):
            return await self.record.field_written(self, value)

        async def read(self, data_type):
            await self.record.field_read(self)
        cls = type(f'Field{base.__name__.replace("Channel", "")}', (base,),
                   {'verify_value': verify_value, 'read': read,
                    'record': None,
                    'definition': None, '__module__': __name__})
        _FIELD_CLASSES[base.__name__] = cls
    return cls


class RecordFields:
    """The fields of one record-mocking channel.

    Parameters
    ----------
    parent : ChannelData
        The value's channel (``NAME`` / ``NAME.VAL``).
    record_type : str
        One of :data:`RECORD_TYPES`.
    description : str
        Initial DESC (caproto uses the pvproperty's doc).

    Attributes
    ----------
    fields : dict
        Field name (``EGU``, ``DESC$``) to its channel.
    """

    def __init__(self, parent: ChannelData, record_type: str, *,
                 description: str = '',
                 hooks: dict[tuple[str, str], Callable] | None = None,
                 putters: dict[str, Callable] | None = None):
        if record_type not in RECORD_TYPES:
            raise CaprotoValueError(
                f'record type {record_type!r} is not supported; choose one '
                f'of {sorted(RECORD_TYPES)}')
        self.parent = parent
        self.record_type = record_type
        #: (field name, kind) to the field's hook (caproto's
        #: ``@prop.fields.X.putter`` / ``.getter`` / ``.startup`` /
        #: ``.shutdown`` / ``.scan``; see cawire.server._field_spec).
        self.hooks = dict(hooks or {})
        self.hooks.update(((field, 'put'), hook)
                          for field, hook in (putters or {}).items())
        #: Field name to ``hook(fields, instance, value)``, run when a
        #: client writes the field.
        self.putters = self._hooks_of('put')
        #: Field name to ``hook(fields, instance)``, run on client reads.
        self.getters = self._hooks_of('get')
        self.description = (description or '').strip().split('\n')[0][:40]
        self.definitions = _common_fields() + [
            definition for definition in RECORD_TYPES[record_type]
            if self._applies(definition)]
        self.fields: dict[str, ChannelData] = {}
        self._stored: dict[str, Any] = {}
        self._refreshing = False
        #: SCAN was written by a client (scan loops then follow it).
        self.scan_written = False
        self._default_limit_severities()
        for definition in self.definitions:
            self._create(definition)
        self._bind_server_hooks()
        parent.record_fields = self

    def __getattr__(self, attr: str) -> ChannelData:
        # caproto's field_inst.engineering_units: a field's channel by its
        # descriptive name (``record_type`` stays the type name here).
        record_type = self.__dict__.get('record_type')
        fields = self.__dict__.get('fields')
        if attr.startswith('_') or record_type is None or fields is None:
            raise AttributeError(attr)
        field = field_attributes(record_type).get(attr)
        if field is None or field not in fields:
            raise AttributeError(f'{record_type} record fields have no '
                                 f'attribute {attr!r}')
        return fields[field]

    def _hooks_of(self, kind: str) -> dict[str, Callable]:
        return {field: hook for (field, hook_kind), hook in self.hooks.items()
                if hook_kind == kind}

    def _bind_server_hooks(self) -> None:
        # The server starts ``server_startup`` / ``server_scan`` and awaits
        # ``server_shutdown`` of every channel of its pvdb that has them.
        for (field, kind), hook in self.hooks.items():
            channel = self.fields.get(field)
            if channel is None:
                raise CaprotoValueError(
                    f'{self.record_type} record {self.parent.pvname!r} '  # type: ignore[attr-defined]
                    f'has no field {field!r} for a {kind} hook')
            if kind in ('startup', 'scan', 'shutdown'):
                setattr(channel, f'server_{kind}',
                        self._server_hook(hook, channel))

    def _server_hook(self, hook: Callable, channel: ChannelData) -> Callable:
        async def run(async_lib: Any) -> None:
            await hook(self, channel, async_lib)
        run.__qualname__ = getattr(hook, '__qualname__', repr(hook))
        return run

    def _default_limit_severities(self) -> None:
        # A limit given at declaration alarms with caproto's severities
        # (MAJOR for HIHI/LOLO, MINOR for HIGH/LOW); a limit left unset
        # starts with NO_ALARM, as in a fresh softIoc record, so that
        # writing .HIHI alone raises nothing until .HHSV is set.
        parent = self.parent
        if not isinstance(parent, ChannelNumeric):
            return
        limits = (parent.upper_alarm_limit, parent.upper_warning_limit,
                  parent.lower_warning_limit, parent.lower_alarm_limit)
        parent.limit_severities = tuple(
            severity if limit else AlarmSeverity.NO_ALARM
            for severity, limit in zip(parent.limit_severities, limits))

    def _applies(self, definition: FieldDefinition) -> bool:
        # Limit fields need a numeric value channel (a waveform of strings
        # has no units, an mbbo no limits).
        if definition.get is None or self.record_type == 'waveform':
            return True
        try:
            definition.get(self.parent, self)
        except AttributeError:
            return False
        return True

    # ------------------------------------------------------------ creation
    def _initial(self, definition: FieldDefinition):
        if definition.get is not None:
            return definition.get(self.parent, self)
        return definition.default

    def _create(self, definition: FieldDefinition) -> None:
        value = self._initial(definition)
        kind = definition.kind
        common = dict(read_only=definition.read_only,
                      string_encoding=self.parent.string_encoding)
        if kind == 'string':
            channel = _field_channel_class(ChannelString)(
                value=self._cut(definition, value), **common)
            long_view = _field_channel_class(ChannelChar)(
                value=self._cut(definition, value),
                max_length=definition.size, **common)
            self._attach(long_view, definition, definition.name + '$')
        elif kind == 'menu':
            channel = _field_channel_class(ChannelEnum)(
                value=value, enum_strings=definition.menu, **common)
        elif kind == 'double':
            # A record formats its DOUBLE fields with its PREC.
            channel = _field_channel_class(ChannelDouble)(
                value=float(value or 0),
                precision=getattr(self.parent, 'precision', 0), **common)
        elif kind == 'long':
            channel = _field_channel_class(ChannelInteger)(
                value=int(value or 0), **common)
        elif kind == 'short':
            channel = _field_channel_class(ChannelShort)(
                value=int(value or 0), **common)
        elif kind == 'uchar':
            channel = _field_channel_class(ChannelByte)(
                value=bytes([int(value or 0) & 0xFF]), max_length=1,
                **common)
        else:
            raise CaprotoValueError(f'unknown field kind {kind!r}')
        self._attach(channel, definition, definition.name)
        if definition.get is None:
            self._stored[definition.name] = value

    def _attach(self, channel: ChannelData, definition: FieldDefinition,
                name: str) -> None:
        channel.record = self  # type: ignore[attr-defined]
        channel.definition = definition  # type: ignore[attr-defined]
        channel.reported_record_type = self.record_type
        channel.pvname = f'{self.parent.pvname}.{name}'  # type: ignore
        # Reads go through field_read only for a field with a getter.
        channel.has_async_read = definition.name in self.getters
        self.fields[name] = channel

    @staticmethod
    def _cut(definition: FieldDefinition, value) -> str:
        text = '' if value is None else str(value)
        raw = text.encode('latin-1', errors='replace')[:definition.size - 1]
        return raw.decode('latin-1')

    # --------------------------------------------------------------- names
    def pvdb_entries(self) -> dict[str, ChannelData]:
        """``NAME.FIELD`` (and ``NAME.VAL``) to channel, for a pvdb."""
        pvname = getattr(self.parent, 'pvname')
        entries: dict[str, ChannelData] = {f'{pvname}.VAL': self.parent}
        for name, channel in self.fields.items():
            entries[f'{pvname}.{name}'] = channel
        return entries

    @property
    def scan_rate_sec(self) -> float | None:
        """Period of the SCAN field, None when not periodic."""
        return SCAN_PERIODS.get(self._stored.get('SCAN', 'Passive'))

    # -------------------------------------------------------------- writes
    async def field_written(self, channel: ChannelData, value: Any) -> Any:
        """Apply a client's write of a field (runs before it is stored)."""
        definition: FieldDefinition = channel.definition  # type: ignore
        if isinstance(channel, ChannelByte):
            value = value[0] if isinstance(value, (bytes, bytearray)) and \
                value else value
        if isinstance(channel, (ChannelString, ChannelChar)):
            if isinstance(value, bytes):
                value = value.split(b'\0')[0].decode(channel.string_encoding)
            value = self._cut(definition, value)
        if isinstance(channel, ChannelEnum) and not isinstance(value, str):
            value = definition.menu[int(value)]
        hook = self.putters.get(definition.name)
        if hook is not None:
            replaced = await hook(self, channel, value)
            if replaced is not None:
                value = replaced
        if definition.put is not None:
            result = definition.put(self.parent, self, value)
            if hasattr(result, '__await__'):
                await result
        if definition.get is None:
            self._stored[definition.name] = value
        if definition.name == 'SCAN':
            self.scan_written = True
        self.refresh(skip=channel)
        if isinstance(channel, ChannelByte):
            return bytes([int(value) & 0xFF])
        return value

    async def field_read(self, channel: ChannelData) -> None:
        """Run the getter of a field a client reads (``NAME.DESC$`` runs
        DESC's): a value it returns is written to the field first."""
        definition: FieldDefinition = channel.definition  # type: ignore
        field = self.fields[definition.name]
        hook = self.getters.get(definition.name)
        if hook is None:
            return
        value = await hook(self, field)
        if value is not None:
            await field.write(value)

    async def process(self) -> None:
        """PROC: run the getter (if any) and post the value again."""
        parent = self.parent
        if parent.has_async_read:
            await parent.read(parent.data_type)
        parent.publish(_VALUE_CHANGE)

    # ------------------------------------------------------------- refresh
    def refresh(self, skip: ChannelData | None = None) -> None:
        """Bring every linked field up to date with the value's channel
        (posting monitors for fields that changed)."""
        if self._refreshing:
            return
        self._refreshing = True
        try:
            for channel in self.fields.values():
                if channel is skip:
                    continue
                definition: FieldDefinition = channel.definition  # type: ignore
                if definition.get is not None:
                    new = definition.get(self.parent, self)
                else:
                    new = self._stored.get(definition.name)
                if definition.kind == 'double':
                    precision = getattr(self.parent, 'precision', 0)
                    if channel.precision != precision:  # type: ignore
                        channel.precision = precision  # type: ignore
                        channel._payload_cache.clear()
                        channel._metadata_templates.clear()
                if definition.kind == 'string':
                    new = self._cut(definition, new)
                elif definition.kind == 'uchar':
                    new = bytes([int(new or 0) & 0xFF])
                if new != channel.value:
                    try:
                        channel.commit(new)
                    except (CaprotoValueError, ValueError) as exc:
                        logger.debug('field %s not refreshed: %s',
                                     channel.pvname, exc)  # type: ignore
        finally:
            self._refreshing = False

    def alarm_refresh(self) -> None:
        """Update SEVR/STAT (and NORD) after a value or alarm change."""
        for name in ('SEVR', 'STAT', 'NORD'):
            channel = self.fields.get(name)
            if channel is None:
                continue
            definition: FieldDefinition = channel.definition  # type: ignore
            new = definition.get(self.parent, self)  # type: ignore[misc]
            if new != channel.value:
                channel.commit(new)


def alarm_status_name(status: AlarmStatus) -> str:
    """The menuAlarmStat string of a status."""
    return MENU_ALARM_STATUS[int(status)]
