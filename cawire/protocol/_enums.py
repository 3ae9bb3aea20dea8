"""Enumerations of Channel Access and the DBR type algebra.

``ChannelType`` numbers every DBR type (0..38); the helpers at the bottom move
between a channel's *native* type (0..6, what CREATE_CHAN reports) and the
promoted families (STS, TIME, GR, CTRL) a client asks for.  Member names
follow caproto (so ``DBR_SHORT`` is spelled ``INT``).
"""
from enum import IntEnum, IntFlag

__all__ = (
    'ChannelType', 'AlarmSeverity', 'AlarmStatus', 'AccessRights',
    'SubscriptionType', 'FIELD_CLASSES', 'field_types', 'native_type',
    'promote_type', 'field_class_to_type', 'native_types', 'status_types',
    'time_types', 'graphical_types', 'control_types', 'special_types',
    'string_types', 'char_types', 'int_types', 'float_types', 'enum_types',
    'native_float_types', 'native_int_types',
)


class ChannelType(IntEnum):
    """DBR type ids (``data_type`` on the wire)."""

    STRING = 0
    INT = 1
    FLOAT = 2
    ENUM = 3
    CHAR = 4
    LONG = 5
    DOUBLE = 6

    STS_STRING = 7
    STS_INT = 8
    STS_FLOAT = 9
    STS_ENUM = 10
    STS_CHAR = 11
    STS_LONG = 12
    STS_DOUBLE = 13

    TIME_STRING = 14
    TIME_INT = 15
    TIME_FLOAT = 16
    TIME_ENUM = 17
    TIME_CHAR = 18
    TIME_LONG = 19
    TIME_DOUBLE = 20

    GR_STRING = 21
    GR_INT = 22
    GR_FLOAT = 23
    GR_ENUM = 24
    GR_CHAR = 25
    GR_LONG = 26
    GR_DOUBLE = 27

    CTRL_STRING = 28
    CTRL_INT = 29
    CTRL_FLOAT = 30
    CTRL_ENUM = 31
    CTRL_CHAR = 32
    CTRL_LONG = 33
    CTRL_DOUBLE = 34

    PUT_ACKT = 35
    PUT_ACKS = 36
    STSACK_STRING = 37
    CLASS_NAME = 38


class AlarmSeverity(IntEnum):
    """Alarm severity of a value (epicsAlarmSeverity; caproto names)."""

    NO_ALARM = 0
    MINOR_ALARM = 1
    MAJOR_ALARM = 2
    INVALID_ALARM = 3


class AlarmStatus(IntEnum):
    """Alarm condition of a value (epicsAlarmCondition; caproto names)."""

    NO_ALARM = 0
    READ = 1
    WRITE = 2
    HIHI = 3
    HIGH = 4
    LOLO = 5
    LOW = 6
    STATE = 7
    COS = 8
    COMM = 9
    TIMEOUT = 10
    HWLIMIT = 11
    CALC = 12
    SCAN = 13
    LINK = 14
    SOFT = 15
    BAD_SUB = 16
    UDF = 17
    DISABLE = 18
    SIMM = 19
    READ_ACCESS = 20
    WRITE_ACCESS = 21


class AccessRights(IntFlag):
    """Access rights bits of an ACCESS_RIGHTS message."""

    NO_ACCESS = 0
    READ = 1
    WRITE = 2
    READ_WRITE: 'AccessRights'  # set below (an annotation, not a member)


# Added after class creation so that it is the composite flag (repr
# ``<AccessRights.READ|WRITE: 3>``, as caproto prints it) rather than a
# separately named member.
AccessRights.READ_WRITE = AccessRights.READ | AccessRights.WRITE


class SubscriptionType(IntFlag):
    """EVENT_ADD mask bits."""

    DBE_VALUE = 1
    DBE_LOG = 2
    DBE_ALARM = 4
    DBE_PROPERTY = 8


CT = ChannelType

#: Names accepted as the ``data_type=`` of client reads/subscriptions.
FIELD_CLASSES = ('native', 'status', 'time', 'graphic', 'control')

native_types = frozenset(CT(i) for i in range(7))
status_types = frozenset(CT(i) for i in range(7, 14))
time_types = frozenset(CT(i) for i in range(14, 21))
graphical_types = frozenset(CT(i) for i in range(21, 28))
control_types = frozenset(CT(i) for i in range(28, 35))
special_types = frozenset((CT.PUT_ACKT, CT.PUT_ACKS, CT.STSACK_STRING,
                           CT.CLASS_NAME))

# Grouped by the element type of the value.
string_types = frozenset(CT(i) for i in range(0, 35, 7)) | {CT.STSACK_STRING,
                                                             CT.CLASS_NAME}
int_types = frozenset(CT(i) for i in range(1, 35, 7)) | frozenset(
    CT(i) for i in range(5, 35, 7))
native_int_types = frozenset((CT.INT, CT.LONG))
float_types = frozenset(CT(i) for i in range(2, 35, 7)) | frozenset(
    CT(i) for i in range(6, 35, 7))
native_float_types = frozenset((CT.FLOAT, CT.DOUBLE))
enum_types = frozenset(CT(i) for i in range(3, 35, 7))
char_types = frozenset(CT(i) for i in range(4, 35, 7))

_FAMILY_OFFSET = {'native': 0, 'status': 7, 'time': 14, 'graphic': 21,
                  'control': 28}


def _native_of(t):
    t = int(t)
    if t < 35:
        return CT(t % 7)
    if t in (35, 36):
        return CT.ENUM
    if t in (37, 38):
        return CT.STRING
    raise ValueError(f'{t} is not a DBR type id (0..38)')


def _build_field_types():
    # Same table as caproto's ``field_types``: STRING has no separate graphic
    # or control layout (GR/CTRL_STRING are the STS layout), so, as libca's
    # users (pyepics) do, 'graphic' gives STS_STRING and 'control' gives
    # TIME_STRING, which carries the most information.
    table = {}
    for name, offset in _FAMILY_OFFSET.items():
        mapping = {}
        for t in range(35):
            base = t % 7
            target = base + offset
            if base == 0 and name == 'graphic':
                target = CT.STS_STRING
            elif base == 0 and name == 'control':
                target = CT.TIME_STRING
            mapping[CT(t)] = CT(target)
        for special in special_types:
            mapping[special] = special
        table[name] = mapping
    return table


#: ``field_types[field_class][any ChannelType] -> ChannelType`` (caproto's
#: table; 'native' maps each promoted type back to its base type).
field_types = _build_field_types()


def native_type(data_type: int) -> ChannelType:
    """Base type (0..6) of any DBR type.

    PUT_ACKT/PUT_ACKS carry an ENUM-like u16; STSACK_STRING and CLASS_NAME
    carry strings.

    Parameters
    ----------
    data_type : int or ChannelType
        A DBR type id 0..38.

    Returns
    -------
    ChannelType
    """
    return _native_of(data_type)


def promote_type(data_type: int, *, use_status: bool = False,
                 use_time: bool = False, use_gr: bool = False,
                 use_ctrl: bool = False) -> ChannelType:
    """Promote a type to its STS/TIME/GR/CTRL variant (libca arithmetic).

    The richest requested family wins (ctrl > gr > time > status).  ENUM
    stays in its own family (GR_ENUM/CTRL_ENUM carry the state strings);
    STRING promotes to GR_STRING/CTRL_STRING, which share the STS layout.
    Special types (35..38) are returned unchanged.

    Parameters
    ----------
    data_type : int or ChannelType
    use_status, use_time, use_gr, use_ctrl : bool

    Returns
    -------
    ChannelType
    """
    data_type = CT(data_type)
    if data_type in special_types:
        return data_type
    base = data_type % 7
    if use_ctrl:
        return CT(base + 28)
    if use_gr:
        return CT(base + 21)
    if use_time:
        return CT(base + 14)
    if use_status:
        return CT(base + 7)
    return CT(base)


def field_class_to_type(native: int, field_class: str | int) -> ChannelType:
    """The DBR type to request for a channel of type ``native``.

    Parameters
    ----------
    native : int or ChannelType
        The channel's native type.
    field_class : str, ChannelType, int or None
        One of ``FIELD_CLASSES`` (case-insensitive), or an explicit type
        which is returned as is; None means 'native'.

    Returns
    -------
    ChannelType

    Raises
    ------
    ValueError
        Unknown field class or type id.
    """
    if field_class is None:
        field_class = 'native'
    if isinstance(field_class, str):
        try:
            table = field_types[field_class.lower()]
        except KeyError:
            raise ValueError(
                f'unknown field class {field_class!r}; expected one of '
                f'{FIELD_CLASSES}, a ChannelType or an int') from None
        return table[CT(native)]
    return CT(field_class)
