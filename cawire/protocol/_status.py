"""CA status codes (ECA_*) as carried in reply headers and ERROR messages.

Each code is a ``CAStatusCode`` named tuple (repr as caproto's) and an
attribute of the ``CAStatus`` namespace.  Replies carry the
``code_with_severity`` form, ``(message_number << 3) | severity``; look it up
in ``eca_value_to_status``, which never raises for values a peer may invent.
"""
from typing import TYPE_CHECKING
from collections import namedtuple
from enum import IntEnum

__all__ = ('CASeverity', 'CAStatusCode', 'CAStatus', 'eca_value_to_status',
           'ensure_eca_value')


class CASeverity(IntEnum):
    """Severity bits (low 3 bits) of an ECA code; bit 0 set means success."""

    WARNING = 0
    SUCCESS = 1
    ERROR = 2
    INFO = 3
    SEVERE = 4
    FATAL = 6

    def __str__(self):
        return self.name


CAStatusCode = namedtuple(
    'CAStatusCode',
    'name code code_with_severity severity success defunct description')


def _status_code(code, name, severity, description, defunct):
    code_with_severity = ((code << 3) & 0xFFF8) | (severity & 0x7)
    return CAStatusCode(name=name, code=code,
                        code_with_severity=code_with_severity,
                        severity=severity, success=int(severity) & 1,
                        defunct=defunct, description=description)


# (message number, name, severity, description, defunct in libca).
# Descriptions are the wording of EPICS base caerr.c as caproto reports it,
# spelling included, so that reprs match caproto's.
_ROWS = (
    (0, 'ECA_NORMAL', CASeverity.SUCCESS, 'Normal successful completion', False),
    (1, 'ECA_MAXIOC', CASeverity.ERROR, 'Maximum simultaneous IOC connections exceeded', True),
    (2, 'ECA_UKNHOST', CASeverity.ERROR, 'Unknown internet host', True),
    (3, 'ECA_UKNSERV', CASeverity.ERROR, 'Unknown internet service', True),
    (4, 'ECA_SOCK', CASeverity.ERROR, 'Unable to allocate a new socket', True),
    (5, 'ECA_CONN', CASeverity.WARNING, 'Unable to connect to internet host or service', True),
    (6, 'ECA_ALLOCMEM', CASeverity.WARNING, 'Unable to allocate additional dynamic memory', False),
    (7, 'ECA_UKNCHAN', CASeverity.WARNING, 'Unknown IO channel', True),
    (8, 'ECA_UKNFIELD', CASeverity.WARNING, 'Record field specified inappropriate for channel specified', True),
    (9, 'ECA_TOLARGE', CASeverity.WARNING, 'The requested data transfer is greater than available memory or EPICS_CA_MAX_ARRAY_BYTES', False),
    (10, 'ECA_TIMEOUT', CASeverity.WARNING, 'User specified timeout on IO operation expired', False),
    (11, 'ECA_NOSUPPORT', CASeverity.WARNING, 'Sorry, that feature is planned but not supported at this time', True),
    (12, 'ECA_STRTOBIG', CASeverity.WARNING, 'The supplied string is unusually large', True),
    (13, 'ECA_DISCONNCHID', CASeverity.ERROR, 'The request was ignored because the specified channel is disconnected', True),
    (14, 'ECA_BADTYPE', CASeverity.ERROR, 'The data type specifed is invalid', False),
    (15, 'ECA_CHIDNOTFND', CASeverity.INFO, 'Remote Channel not found', True),
    (16, 'ECA_CHIDRETRY', CASeverity.INFO, 'Unable to locate all user specified channels', True),
    (17, 'ECA_INTERNAL', CASeverity.FATAL, 'Channel Access Internal Failure', False),
    (18, 'ECA_DBLCLFAIL', CASeverity.WARNING, 'The requested local DB operation failed', True),
    (19, 'ECA_GETFAIL', CASeverity.WARNING, 'Channel read request failed', False),
    (20, 'ECA_PUTFAIL', CASeverity.WARNING, 'Channel write request failed', False),
    (21, 'ECA_ADDFAIL', CASeverity.WARNING, 'Channel subscription request failed', True),
    (22, 'ECA_BADCOUNT', CASeverity.WARNING, 'Invalid element count requested', False),
    (23, 'ECA_BADSTR', CASeverity.ERROR, 'Invalid string', False),
    (24, 'ECA_DISCONN', CASeverity.WARNING, 'Virtual circuit disconnect', False),
    (25, 'ECA_DBLCHNL', CASeverity.WARNING, 'Identical process variable name on multiple servers', False),
    (26, 'ECA_EVDISALLOW', CASeverity.ERROR, 'Request inappropriate within subscription (monitor) update callback', False),
    (27, 'ECA_BUILDGET', CASeverity.WARNING, 'Database value get for that channel failed during channel search', True),
    (28, 'ECA_NEEDSFP', CASeverity.WARNING, 'Unable to initialize without the vxWorks VX_FP_TASKtask option set', True),
    (29, 'ECA_OVEVFAIL', CASeverity.WARNING, 'Event queue overflow has prevented first pass event after event add', True),
    (30, 'ECA_BADMONID', CASeverity.ERROR, 'Bad event subscription (monitor) identifier', False),
    (31, 'ECA_NEWADDR', CASeverity.WARNING, 'Remote channel has new network address', True),
    (32, 'ECA_NEWCONN', CASeverity.INFO, 'New or resumed network connection', True),
    (33, 'ECA_NOCACTX', CASeverity.WARNING, 'Specified task isnt a member of a CA context', True),
    (34, 'ECA_DEFUNCT', CASeverity.FATAL, 'Attempt to use defunct CA feature failed', True),
    (35, 'ECA_EMPTYSTR', CASeverity.WARNING, 'The supplied string is empty', True),
    (36, 'ECA_NOREPEATER', CASeverity.WARNING, 'Unable to spawn the CA repeater thread; auto reconnect will fail', True),
    (37, 'ECA_NOCHANMSG', CASeverity.WARNING, 'No channel id match for search reply; search reply ignored', True),
    (38, 'ECA_DLCKREST', CASeverity.WARNING, 'Reseting dead connection; will try to reconnect', True),
    (39, 'ECA_SERVBEHIND', CASeverity.WARNING, 'Server (IOC) has fallen behind or is not responding; still waiting', True),
    (40, 'ECA_NOCAST', CASeverity.WARNING, 'No internet interface with broadcast available', True),
    (41, 'ECA_BADMASK', CASeverity.ERROR, 'Invalid event selection mask', False),
    (42, 'ECA_IODONE', CASeverity.INFO, 'IO operations have completed', False),
    (43, 'ECA_IOINPROGRESS', CASeverity.INFO, 'IO operations are in progress', False),
    (44, 'ECA_BADSYNCGRP', CASeverity.ERROR, 'Invalid synchronous group identifier', False),
    (45, 'ECA_PUTCBINPROG', CASeverity.ERROR, 'Put callback timed out', False),
    (46, 'ECA_NORDACCESS', CASeverity.WARNING, 'Read access denied', False),
    (47, 'ECA_NOWTACCESS', CASeverity.WARNING, 'Write access denied', False),
    (48, 'ECA_ANACHRONISM', CASeverity.ERROR, 'Requested feature is no longer supported', False),
    (49, 'ECA_NOSEARCHADDR', CASeverity.WARNING, 'Empty PV search address list', False),
    (50, 'ECA_NOCONVERT', CASeverity.WARNING, 'No reasonable data conversion between client and server types', False),
    (51, 'ECA_BADCHID', CASeverity.ERROR, 'Invalid channel identifier', False),
    (52, 'ECA_BADFUNCPTR', CASeverity.ERROR, 'Invalid function pointer', False),
    (53, 'ECA_ISATTACHED', CASeverity.WARNING, 'Thread is already attached to a client context', False),
    (54, 'ECA_UNAVAILINSERV', CASeverity.WARNING, 'Not supported by attached service', False),
    (55, 'ECA_CHANDESTROY', CASeverity.WARNING, 'User destroyed channel', False),
    (56, 'ECA_BADPRIORITY', CASeverity.ERROR, 'Invalid channel priority', False),
    (57, 'ECA_NOTTHREADED', CASeverity.ERROR, 'Preemptive callback not enabled - additional threads may not join context', False),
    (58, 'ECA_16KARRAYCLIENT', CASeverity.WARNING, 'Client’s protocol revision does not support transfers exceeding 16k bytes', False),
    (59, 'ECA_CONNSEQTMO', CASeverity.WARNING, 'Virtual circuit connection sequence aborted', False),
    (60, 'ECA_UNRESPTMO', CASeverity.WARNING, 'Virtual circuit unresponsive', False),
)


class _StatusNamespace(type):
    """Lets ``CAStatus`` be iterated and indexed by name like an Enum."""

    def __iter__(cls):
        return iter(cls._codes)

    def __len__(cls):
        return len(cls._codes)

    def __getitem__(cls, name):
        return cls._by_name[name]

    def __contains__(cls, item):
        return item in cls._codes

    if TYPE_CHECKING:
        # The ECA_* attributes are generated from the table, so a checker
        # cannot see them; this tells it what any of them is.
        def __getattr__(cls, name: str) -> 'CAStatusCode': ...


class CAStatus(metaclass=_StatusNamespace):
    """Namespace of every ECA status code: ``CAStatus.ECA_NORMAL`` etc.

    The attributes are ``CAStatusCode`` instances (not Enum members), so a
    reply's ``status`` compares equal to them directly.
    """

    _codes = tuple(_status_code(*row) for row in _ROWS)
    _by_name = {code.name: code for code in _codes}
    locals().update(_by_name)


class _StatusTable(dict):
    # A peer may send any u32 as a status; an unknown one becomes an
    # ECA_UNKNOWN code instead of a KeyError.  Not cached: a hostile peer
    # must not be able to grow this table.
    def __missing__(self, value):
        try:
            value = int(value)
        except (TypeError, ValueError):
            raise KeyError(value) from None
        severity = value & 0x7
        try:
            severity = CASeverity(severity)
        except ValueError:
            pass
        return CAStatusCode(
            name='ECA_UNKNOWN', code=value >> 3, code_with_severity=value,
            severity=severity, success=value & 1, defunct=False,
            description=f'Unknown CA status code {value}')


#: ``code_with_severity -> CAStatusCode``; unknown values give ECA_UNKNOWN.
eca_value_to_status = _StatusTable(
    (code.code_with_severity, code) for code in CAStatus)


def ensure_eca_value(status: CAStatusCode | int) -> int:
    """Return the wire value (``code_with_severity``) of a status.

    Parameters
    ----------
    status : CAStatusCode or int

    Returns
    -------
    int
    """
    if isinstance(status, CAStatusCode):
        return status.code_with_severity
    if isinstance(status, int):
        return status
    raise TypeError(f'expected a CAStatusCode or int, got {status!r}')
