"""CA status codes (ECA_*) as carried in reply headers and ERROR messages.

Each code is a ``CAStatusCode`` named tuple (repr as caproto's), the value
of a member of the ``CAStatus`` Enum.  Replies carry the
``code_with_severity`` form, ``(message_number << 3) | severity``; look it up
in ``eca_value_to_status``, which never raises for values a peer may invent.
"""
from collections import namedtuple
from enum import Enum, IntEnum

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

    def __str__(self) -> str:
        return self.name


CAStatusCode = namedtuple(
    'CAStatusCode',
    'name code code_with_severity severity success defunct description')


def _status_code(code: int, name: str, severity: CASeverity,
                 description: str, defunct: bool) -> CAStatusCode:
    code_with_severity = ((code << 3) & 0xFFF8) | (severity & 0x7)
    return CAStatusCode(name=name, code=code,
                        code_with_severity=code_with_severity,
                        severity=severity, success=int(severity) & 1,
                        defunct=defunct, description=description)


class CAStatus(Enum):
    """Every ECA status code, as an Enum (as caproto's ``CAStatus``).

    A member's ``value`` is its ``CAStatusCode``
    (``CAStatus.ECA_NORMAL.value.code``), and ``CAStatus(code)`` finds the
    member of a ``CAStatusCode``.  Two conveniences caproto lacks: the code's
    fields read through the member (``CAStatus.ECA_PUTFAIL.description``),
    and a member compares equal to its own ``CAStatusCode``, so
    ``reply.status == CAStatus.ECA_NORMAL`` holds for a reply's status
    (always False in caproto, where one must write ``.value``).

    The descriptions are the wording of EPICS base caerr.c as caproto
    reports it, spelling included, so that reprs match caproto's.
    """

    ECA_NORMAL = _status_code(0, 'ECA_NORMAL', CASeverity.SUCCESS,
                          'Normal successful completion', False)
    ECA_MAXIOC = _status_code(1, 'ECA_MAXIOC', CASeverity.ERROR,
                          'Maximum simultaneous IOC connections exceeded', True)
    ECA_UKNHOST = _status_code(2, 'ECA_UKNHOST', CASeverity.ERROR,
                          'Unknown internet host', True)
    ECA_UKNSERV = _status_code(3, 'ECA_UKNSERV', CASeverity.ERROR,
                          'Unknown internet service', True)
    ECA_SOCK = _status_code(4, 'ECA_SOCK', CASeverity.ERROR,
                          'Unable to allocate a new socket', True)
    ECA_CONN = _status_code(5, 'ECA_CONN', CASeverity.WARNING,
                          'Unable to connect to internet host or service', True)
    ECA_ALLOCMEM = _status_code(6, 'ECA_ALLOCMEM', CASeverity.WARNING,
                          'Unable to allocate additional dynamic memory', False)
    ECA_UKNCHAN = _status_code(7, 'ECA_UKNCHAN', CASeverity.WARNING,
                          'Unknown IO channel', True)
    ECA_UKNFIELD = _status_code(8, 'ECA_UKNFIELD', CASeverity.WARNING,
                          'Record field specified inappropriate for channel specified', True)
    ECA_TOLARGE = _status_code(9, 'ECA_TOLARGE', CASeverity.WARNING,
                          'The requested data transfer is greater than available memory or EPICS_CA_MAX_ARRAY_BYTES', False)
    ECA_TIMEOUT = _status_code(10, 'ECA_TIMEOUT', CASeverity.WARNING,
                          'User specified timeout on IO operation expired', False)
    ECA_NOSUPPORT = _status_code(11, 'ECA_NOSUPPORT', CASeverity.WARNING,
                          'Sorry, that feature is planned but not supported at this time', True)
    ECA_STRTOBIG = _status_code(12, 'ECA_STRTOBIG', CASeverity.WARNING,
                          'The supplied string is unusually large', True)
    ECA_DISCONNCHID = _status_code(13, 'ECA_DISCONNCHID', CASeverity.ERROR,
                          'The request was ignored because the specified channel is disconnected', True)
    ECA_BADTYPE = _status_code(14, 'ECA_BADTYPE', CASeverity.ERROR,
                          'The data type specifed is invalid', False)
    ECA_CHIDNOTFND = _status_code(15, 'ECA_CHIDNOTFND', CASeverity.INFO,
                          'Remote Channel not found', True)
    ECA_CHIDRETRY = _status_code(16, 'ECA_CHIDRETRY', CASeverity.INFO,
                          'Unable to locate all user specified channels', True)
    ECA_INTERNAL = _status_code(17, 'ECA_INTERNAL', CASeverity.FATAL,
                          'Channel Access Internal Failure', False)
    ECA_DBLCLFAIL = _status_code(18, 'ECA_DBLCLFAIL', CASeverity.WARNING,
                          'The requested local DB operation failed', True)
    ECA_GETFAIL = _status_code(19, 'ECA_GETFAIL', CASeverity.WARNING,
                          'Channel read request failed', False)
    ECA_PUTFAIL = _status_code(20, 'ECA_PUTFAIL', CASeverity.WARNING,
                          'Channel write request failed', False)
    ECA_ADDFAIL = _status_code(21, 'ECA_ADDFAIL', CASeverity.WARNING,
                          'Channel subscription request failed', True)
    ECA_BADCOUNT = _status_code(22, 'ECA_BADCOUNT', CASeverity.WARNING,
                          'Invalid element count requested', False)
    ECA_BADSTR = _status_code(23, 'ECA_BADSTR', CASeverity.ERROR,
                          'Invalid string', False)
    ECA_DISCONN = _status_code(24, 'ECA_DISCONN', CASeverity.WARNING,
                          'Virtual circuit disconnect', False)
    ECA_DBLCHNL = _status_code(25, 'ECA_DBLCHNL', CASeverity.WARNING,
                          'Identical process variable name on multiple servers', False)
    ECA_EVDISALLOW = _status_code(26, 'ECA_EVDISALLOW', CASeverity.ERROR,
                          'Request inappropriate within subscription (monitor) update callback', False)
    ECA_BUILDGET = _status_code(27, 'ECA_BUILDGET', CASeverity.WARNING,
                          'Database value get for that channel failed during channel search', True)
    ECA_NEEDSFP = _status_code(28, 'ECA_NEEDSFP', CASeverity.WARNING,
                          'Unable to initialize without the vxWorks VX_FP_TASKtask option set', True)
    ECA_OVEVFAIL = _status_code(29, 'ECA_OVEVFAIL', CASeverity.WARNING,
                          'Event queue overflow has prevented first pass event after event add', True)
    ECA_BADMONID = _status_code(30, 'ECA_BADMONID', CASeverity.ERROR,
                          'Bad event subscription (monitor) identifier', False)
    ECA_NEWADDR = _status_code(31, 'ECA_NEWADDR', CASeverity.WARNING,
                          'Remote channel has new network address', True)
    ECA_NEWCONN = _status_code(32, 'ECA_NEWCONN', CASeverity.INFO,
                          'New or resumed network connection', True)
    ECA_NOCACTX = _status_code(33, 'ECA_NOCACTX', CASeverity.WARNING,
                          'Specified task isnt a member of a CA context', True)
    ECA_DEFUNCT = _status_code(34, 'ECA_DEFUNCT', CASeverity.FATAL,
                          'Attempt to use defunct CA feature failed', True)
    ECA_EMPTYSTR = _status_code(35, 'ECA_EMPTYSTR', CASeverity.WARNING,
                          'The supplied string is empty', True)
    ECA_NOREPEATER = _status_code(36, 'ECA_NOREPEATER', CASeverity.WARNING,
                          'Unable to spawn the CA repeater thread; auto reconnect will fail', True)
    ECA_NOCHANMSG = _status_code(37, 'ECA_NOCHANMSG', CASeverity.WARNING,
                          'No channel id match for search reply; search reply ignored', True)
    ECA_DLCKREST = _status_code(38, 'ECA_DLCKREST', CASeverity.WARNING,
                          'Reseting dead connection; will try to reconnect', True)
    ECA_SERVBEHIND = _status_code(39, 'ECA_SERVBEHIND', CASeverity.WARNING,
                          'Server (IOC) has fallen behind or is not responding; still waiting', True)
    ECA_NOCAST = _status_code(40, 'ECA_NOCAST', CASeverity.WARNING,
                          'No internet interface with broadcast available', True)
    ECA_BADMASK = _status_code(41, 'ECA_BADMASK', CASeverity.ERROR,
                          'Invalid event selection mask', False)
    ECA_IODONE = _status_code(42, 'ECA_IODONE', CASeverity.INFO,
                          'IO operations have completed', False)
    ECA_IOINPROGRESS = _status_code(43, 'ECA_IOINPROGRESS', CASeverity.INFO,
                          'IO operations are in progress', False)
    ECA_BADSYNCGRP = _status_code(44, 'ECA_BADSYNCGRP', CASeverity.ERROR,
                          'Invalid synchronous group identifier', False)
    ECA_PUTCBINPROG = _status_code(45, 'ECA_PUTCBINPROG', CASeverity.ERROR,
                          'Put callback timed out', False)
    ECA_NORDACCESS = _status_code(46, 'ECA_NORDACCESS', CASeverity.WARNING,
                          'Read access denied', False)
    ECA_NOWTACCESS = _status_code(47, 'ECA_NOWTACCESS', CASeverity.WARNING,
                          'Write access denied', False)
    ECA_ANACHRONISM = _status_code(48, 'ECA_ANACHRONISM', CASeverity.ERROR,
                          'Requested feature is no longer supported', False)
    ECA_NOSEARCHADDR = _status_code(49, 'ECA_NOSEARCHADDR', CASeverity.WARNING,
                          'Empty PV search address list', False)
    ECA_NOCONVERT = _status_code(50, 'ECA_NOCONVERT', CASeverity.WARNING,
                          'No reasonable data conversion between client and server types', False)
    ECA_BADCHID = _status_code(51, 'ECA_BADCHID', CASeverity.ERROR,
                          'Invalid channel identifier', False)
    ECA_BADFUNCPTR = _status_code(52, 'ECA_BADFUNCPTR', CASeverity.ERROR,
                          'Invalid function pointer', False)
    ECA_ISATTACHED = _status_code(53, 'ECA_ISATTACHED', CASeverity.WARNING,
                          'Thread is already attached to a client context', False)
    ECA_UNAVAILINSERV = _status_code(54, 'ECA_UNAVAILINSERV', CASeverity.WARNING,
                          'Not supported by attached service', False)
    ECA_CHANDESTROY = _status_code(55, 'ECA_CHANDESTROY', CASeverity.WARNING,
                          'User destroyed channel', False)
    ECA_BADPRIORITY = _status_code(56, 'ECA_BADPRIORITY', CASeverity.ERROR,
                          'Invalid channel priority', False)
    ECA_NOTTHREADED = _status_code(57, 'ECA_NOTTHREADED', CASeverity.ERROR,
                          'Preemptive callback not enabled - additional threads may not join context', False)
    ECA_16KARRAYCLIENT = _status_code(58, 'ECA_16KARRAYCLIENT', CASeverity.WARNING,
                          'Client’s protocol revision does not support transfers exceeding 16k bytes', False)
    ECA_CONNSEQTMO = _status_code(59, 'ECA_CONNSEQTMO', CASeverity.WARNING,
                          'Virtual circuit connection sequence aborted', False)
    ECA_UNRESPTMO = _status_code(60, 'ECA_UNRESPTMO', CASeverity.WARNING,
                          'Virtual circuit unresponsive', False)

    @property
    def code(self) -> int:
        """Message number (0..60)."""
        return self._value_.code

    @property
    def code_with_severity(self) -> int:
        """The wire value: ``(code << 3) | severity``."""
        return self._value_.code_with_severity

    @property
    def severity(self) -> CASeverity:
        """Severity (low 3 bits of the wire value)."""
        return self._value_.severity

    @property
    def success(self) -> int:
        """1 if the severity's success bit is set, else 0."""
        return self._value_.success

    @property
    def defunct(self) -> bool:
        """True for codes current libca and servers no longer return."""
        return self._value_.defunct

    @property
    def description(self) -> str:
        """Human-readable text (caerr.c)."""
        return self._value_.description

    def __eq__(self, other: object) -> bool:
        if isinstance(other, CAStatusCode):
            return bool(self._value_ == other)
        return self is other

    def __hash__(self) -> int:
        # Equal to its CAStatusCode, so it must hash the same.
        return hash(self._value_)


class _StatusTable(dict):
    # A peer may send any u32 as a status; an unknown one becomes an
    # ECA_UNKNOWN code instead of a KeyError.  Not cached: a hostile peer
    # must not be able to grow this table.
    def __missing__(self, value: int) -> CAStatusCode:
        try:
            value = int(value)
        except (TypeError, ValueError):
            raise KeyError(value) from None
        severity: int = value & 0x7
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
    (member.value.code_with_severity, member.value) for member in CAStatus)


def ensure_eca_value(status: CAStatus | CAStatusCode | int) -> int:
    """Return the wire value (``code_with_severity``) of a status.

    Parameters
    ----------
    status : CAStatus member, CAStatusCode or int

    Returns
    -------
    int
    """
    if isinstance(status, CAStatusCode):
        return status.code_with_severity
    if isinstance(status, int):
        return status
    if isinstance(status, CAStatus):
        return status.value.code_with_severity
    raise TypeError(
        f'expected a CAStatus, CAStatusCode or int, got {status!r}')
