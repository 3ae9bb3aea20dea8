"""pyepics's ``epics.dbr`` names that scripts use: type codes, event masks,
alarm and connection constants (values are the CA protocol's)."""
from __future__ import annotations

STRING, INT, SHORT, FLOAT, ENUM, CHAR, LONG, DOUBLE = 0, 1, 1, 2, 3, 4, 5, 6
TIME_STRING, TIME_INT, TIME_SHORT, TIME_FLOAT = 14, 15, 15, 16
TIME_ENUM, TIME_CHAR, TIME_LONG, TIME_DOUBLE = 17, 18, 19, 20
CTRL_STRING, CTRL_INT, CTRL_SHORT, CTRL_FLOAT = 28, 29, 29, 30
CTRL_ENUM, CTRL_CHAR, CTRL_LONG, CTRL_DOUBLE = 31, 32, 33, 34

DBE_VALUE, DBE_LOG, DBE_ALARM, DBE_PROPERTY = 1, 2, 4, 8

ECA_NORMAL = 1
ECA_TIMEOUT = 80
ECA_IODONE = 339
ECA_ISATTACHED = 424
ECA_BADCHID = 410

CS_NEVER_CONN, CS_PREV_CONN, CS_CONN, CS_CLOSED = 0, 1, 2, 3
OP_CONN_UP, OP_CONN_DOWN = 6, 7

NO_ALARM, MINOR_ALARM, MAJOR_ALARM, INVALID_ALARM = 0, 1, 2, 3

#: Names of the alarm statuses and severities, as pyepics spells them.
ALARM_STATUS_NAMES = ('NO_ALARM', 'READ', 'WRITE', 'HIHI', 'HIGH', 'LOLO', 'LOW',
                      'STATE', 'COS', 'COMM', 'TIMEOUT', 'HW_LIMIT', 'CALC',
                      'SCAN', 'LINK', 'SOFT', 'BAD_SUB', 'UDF', 'DISABLE',
                      'SIMM', 'READ_ACCESS', 'WRITE_ACCESS')
ALARM_SEVERITY_NAMES = ('NO_ALARM', 'MINOR', 'MAJOR', 'INVALID')

#: Seconds between the POSIX and the EPICS epoch.
EPICS2UNIX_EPOCH = 631152000.0

_NATIVE_NAMES = ('STRING', 'SHORT', 'FLOAT', 'ENUM', 'CHAR', 'LONG', 'DOUBLE')


def native_type(ftype: int) -> int:
    """The plain type of a TIME_ or CTRL_ type code (as pyepics maps them)."""
    if ftype == CTRL_STRING:
        ftype = TIME_STRING
    if ftype > CTRL_STRING:
        return ftype - CTRL_STRING
    if ftype >= TIME_STRING:
        return ftype - TIME_STRING
    return ftype


def promote_fieldtype(ftype: int, use_time: bool = False,
                      use_ctrl: bool = False) -> int:
    """The TIME_ or CTRL_ variant of a plain type; CTRL_STRING becomes
    TIME_STRING as in pyepics."""
    if use_ctrl:
        ftype += CTRL_STRING
    elif use_time:
        ftype += TIME_STRING
    if ftype == CTRL_STRING:
        ftype = TIME_STRING
    return ftype


def Name(ftype: int, reverse: bool = False):
    """Type code -> upper-case name ('TIME_DOUBLE'); with ``reverse``, a name
    -> its code (pyepics's spelling: plain SHORT is 'INT', 'TIME_SHORT' otherwise)."""
    names = {}
    for offset, prefix in ((0, ''), (TIME_STRING, 'TIME_'), (CTRL_STRING, 'CTRL_')):
        for code, base in enumerate(_NATIVE_NAMES):
            names[offset + code] = prefix + ('INT' if base == 'SHORT' and not prefix
                                              else base)
    if reverse:
        wanted = str(ftype).upper()
        for code, name in names.items():
            if name == wanted:
                return code
    return names.get(ftype, 'unknown')
