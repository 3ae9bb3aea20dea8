"""Enumerations, ECA status codes, exceptions and timestamps of the core.

caproto (installed for tests) is the oracle for names, values and reprs.
"""
import datetime

import caproto
import enum

import pytest

import cawire
from cawire import (AccessRights, AlarmSeverity, AlarmStatus, CASeverity,
                    CAStatus, CAStatusCode, ChannelType, SubscriptionType,
                    TimeStamp, eca_value_to_status, ensure_eca_value,
                    field_class_to_type, native_type, promote_type)

# ---------------------------------------------------------------------------
# Enumerations


@pytest.mark.parametrize('ours, theirs', [
    (ChannelType, caproto.ChannelType),
    (AlarmSeverity, caproto.AlarmSeverity),
    (AlarmStatus, caproto.AlarmStatus),
    (SubscriptionType, caproto.SubscriptionType),
    (CASeverity, caproto.CASeverity),
])
def test_enum_members_match_caproto(ours, theirs):
    assert {m.name: int(m) for m in ours} == {m.name: int(m) for m in theirs}


def test_channel_type_numbering():
    assert len(ChannelType) == 39
    assert [int(t) for t in ChannelType] == list(range(39))
    # value = family * 7 + base for 0..34 (ca-protocol 5.1)
    for family, prefix in enumerate(['', 'STS_', 'TIME_', 'GR_', 'CTRL_']):
        for base, name in enumerate(['STRING', 'INT', 'FLOAT', 'ENUM',
                                     'CHAR', 'LONG', 'DOUBLE']):
            assert ChannelType[prefix + name] == family * 7 + base
    assert ChannelType.PUT_ACKT == 35
    assert ChannelType.CLASS_NAME == 38


def test_access_rights_reprs_match_caproto():
    assert repr(AccessRights.READ_WRITE) == repr(
        caproto.AccessRights.READ | caproto.AccessRights.WRITE)
    assert repr(AccessRights.READ_WRITE) == '<AccessRights.READ|WRITE: 3>'
    assert AccessRights(3) == AccessRights.READ_WRITE == 3
    for value in range(4):
        assert repr(AccessRights(value)) == repr(caproto.AccessRights(value))
    assert AccessRights.NO_ACCESS == 0


def test_subscription_type_flags():
    mask = SubscriptionType.DBE_VALUE | SubscriptionType.DBE_ALARM
    assert mask == 5
    assert SubscriptionType.DBE_PROPERTY == 8


def test_native_type_of_every_type():
    for t in ChannelType:
        if t < 35:
            assert native_type(t) == ChannelType(t % 7)
    assert native_type(ChannelType.PUT_ACKT) == ChannelType.ENUM
    assert native_type(ChannelType.PUT_ACKS) == ChannelType.ENUM
    assert native_type(ChannelType.STSACK_STRING) == ChannelType.STRING
    assert native_type(ChannelType.CLASS_NAME) == ChannelType.STRING
    assert isinstance(native_type(20), ChannelType)
    with pytest.raises(ValueError):
        native_type(39)


def test_promote_type():
    assert promote_type(ChannelType.DOUBLE, use_time=True) == \
        ChannelType.TIME_DOUBLE
    assert promote_type(ChannelType.DOUBLE, use_ctrl=True) == \
        ChannelType.CTRL_DOUBLE
    assert promote_type(ChannelType.DOUBLE, use_status=True) == \
        ChannelType.STS_DOUBLE
    assert promote_type(ChannelType.ENUM, use_gr=True) == ChannelType.GR_ENUM
    assert promote_type(ChannelType.ENUM, use_ctrl=True) == \
        ChannelType.CTRL_ENUM
    assert promote_type(ChannelType.STRING, use_gr=True) == \
        ChannelType.GR_STRING
    # the richest family wins; promoted types re-promote from their base
    assert promote_type(ChannelType.TIME_LONG, use_time=True,
                        use_ctrl=True) == ChannelType.CTRL_LONG
    assert promote_type(ChannelType.CTRL_CHAR) == ChannelType.CHAR
    for special in (35, 36, 37, 38):
        assert promote_type(special, use_ctrl=True) == special


def test_field_class_to_type_matches_caproto_field_types():
    for field_class in cawire.FIELD_CLASSES:
        table = caproto._dbr.field_types[field_class]
        for native in range(7):
            assert field_class_to_type(native, field_class) == \
                table[caproto.ChannelType(native)], (field_class, native)
    assert field_class_to_type(ChannelType.DOUBLE, 'TIME') == 20
    assert field_class_to_type(ChannelType.DOUBLE, None) == 6
    assert field_class_to_type(ChannelType.DOUBLE, 34) == 34
    assert field_class_to_type(ChannelType.DOUBLE,
                               ChannelType.GR_LONG) == 26
    with pytest.raises(ValueError, match='unknown field class'):
        field_class_to_type(ChannelType.DOUBLE, 'timely')


# ---------------------------------------------------------------------------
# ECA status codes

DEFUNCT = {
    'ECA_MAXIOC', 'ECA_UKNHOST', 'ECA_UKNSERV', 'ECA_SOCK', 'ECA_CONN',
    'ECA_UKNCHAN', 'ECA_UKNFIELD', 'ECA_NOSUPPORT', 'ECA_STRTOBIG',
    'ECA_DISCONNCHID', 'ECA_CHIDNOTFND', 'ECA_CHIDRETRY', 'ECA_DBLCLFAIL',
    'ECA_ADDFAIL', 'ECA_BUILDGET', 'ECA_NEEDSFP', 'ECA_OVEVFAIL',
    'ECA_NEWADDR', 'ECA_NEWCONN', 'ECA_NOCACTX', 'ECA_DEFUNCT',
    'ECA_EMPTYSTR', 'ECA_NOREPEATER', 'ECA_NOCHANMSG', 'ECA_DLCKREST',
    'ECA_SERVBEHIND', 'ECA_NOCAST',
}


def test_normal_status_repr():
    assert repr(CAStatus.ECA_NORMAL.value) == (
        "CAStatusCode(name='ECA_NORMAL', code=0, code_with_severity=1, "
        "severity=<CASeverity.SUCCESS: 1>, success=1, defunct=False, "
        "description='Normal successful completion')")


def test_all_61_codes_match_caproto():
    ours = list(CAStatus)
    assert len(ours) == 61
    assert [s.code for s in ours] == list(range(61))
    for theirs in caproto.CAStatus:
        mine = getattr(CAStatus, theirs.name)
        assert isinstance(mine, CAStatus)
        assert isinstance(mine.value, CAStatusCode)
        assert repr(mine.value) == repr(theirs.value)
        assert tuple(mine.value) == tuple(theirs.value)
        assert repr(mine).split(':')[0] == repr(theirs).split(':')[0]


def test_castatus_is_an_enum_as_in_caproto():
    """The idioms of caproto code: ``.value.code``, isinstance, lookup by
    value and by name, iteration."""
    for library_status in (CAStatus, caproto.CAStatus):
        assert issubclass(library_status, enum.Enum)
        normal = library_status.ECA_NORMAL
        assert normal.value.code == 0 and normal.name == 'ECA_NORMAL'
        assert isinstance(library_status.ECA_PUTFAIL, library_status)
        assert library_status(library_status.ECA_PUTFAIL.value) is \
            library_status.ECA_PUTFAIL
        assert library_status['ECA_TIMEOUT'] is library_status.ECA_TIMEOUT
    assert [m.name for m in CAStatus] == [m.name for m in caproto.CAStatus]
    # A reply's status is the CAStatusCode, in both libraries.
    from caproto._status import eca_value_to_status as caproto_table
    theirs_status = caproto_table[160]
    ours_status = eca_value_to_status[160]
    assert type(ours_status).__name__ == type(theirs_status).__name__
    assert tuple(ours_status) == tuple(theirs_status)
    assert ours_status == CAStatus.ECA_PUTFAIL.value
    # Our extension: the member equals its code (caproto: always False).
    assert ours_status == CAStatus.ECA_PUTFAIL
    assert CAStatus.ECA_PUTFAIL == ours_status
    assert hash(CAStatus.ECA_PUTFAIL) == hash(ours_status)
    assert ours_status != CAStatus.ECA_NORMAL
    assert CAStatus.ECA_PUTFAIL.description == ours_status.description


def test_status_code_fields():
    for status in CAStatus:
        assert status.code_with_severity == (status.code << 3) | \
            status.severity
        assert status.success == status.code_with_severity & 1
        assert status.defunct == (status.name in DEFUNCT)
        assert CAStatus[status.name] is status
        assert status in CAStatus
    assert CAStatus.ECA_PUTFAIL.code_with_severity == 160
    assert CAStatus.ECA_INTERNAL.code_with_severity == 142
    assert CAStatus.ECA_INTERNAL.severity is CASeverity.FATAL
    assert CAStatus.ECA_UNRESPTMO.code_with_severity == 480


def test_eca_value_to_status_round_trip():
    for status in CAStatus:
        assert eca_value_to_status[status.code_with_severity] is \
            status.value
        assert ensure_eca_value(status) == status.code_with_severity
        assert ensure_eca_value(status.value) == status.code_with_severity
    assert ensure_eca_value(160) == 160
    with pytest.raises(TypeError):
        ensure_eca_value('ECA_NORMAL')


@pytest.mark.parametrize('value', [0, 2, 7, 12345, 0xFFFFFFFF])
def test_unknown_status_from_the_wire_does_not_raise(value):
    size_before = len(eca_value_to_status)
    status = eca_value_to_status[value]
    assert status.name == 'ECA_UNKNOWN'
    assert status.code_with_severity == value
    assert status.code == value >> 3
    assert status.success == value & 1
    assert str(value) in status.description
    # a hostile peer cannot grow the table
    assert len(eca_value_to_status) == size_before
    assert ensure_eca_value(status) == value


# ---------------------------------------------------------------------------
# Exceptions

def test_exception_hierarchy():
    assert issubclass(cawire.RemoteProtocolError, cawire.ProtocolError)
    assert issubclass(cawire.LocalProtocolError, cawire.ProtocolError)
    assert issubclass(cawire.ProtocolError, cawire.CaprotoError)
    pairs = [(cawire.CaprotoKeyError, KeyError),
             (cawire.CaprotoValueError, ValueError),
             (cawire.CaprotoTypeError, TypeError),
             (cawire.CaprotoRuntimeError, RuntimeError),
             (cawire.CaprotoNotImplementedError, NotImplementedError),
             (cawire.CaprotoAttributeError, AttributeError),
             (cawire.CaprotoConversionError, ValueError),
             (cawire.CaprotoNetworkError, OSError),
             (cawire.CaprotoTimeoutError, TimeoutError)]
    for ours, builtin in pairs:
        assert issubclass(ours, builtin)
        assert issubclass(ours, cawire.CaprotoError)
    assert issubclass(cawire.PermissionDenied, cawire.ErrorResponseReceived)
    assert issubclass(cawire.ContextDisconnectedError,
                      cawire.CaprotoRuntimeError)
    assert issubclass(cawire.DisconnectedError, cawire.CaprotoError)


def test_error_response_received_carries_response():
    err = cawire.PermissionDenied('write access denied', response='cmd')
    assert err.response == 'cmd'
    assert str(err) == 'write access denied'
    assert str(cawire.ContextDisconnectedError()) == 'context disconnected'


# ---------------------------------------------------------------------------
# Timestamps

def test_epics_epoch():
    assert cawire.EPICS_EPOCH == 631152000
    assert datetime.datetime(1990, 1, 1, tzinfo=datetime.timezone.utc) \
        .timestamp() == cawire.EPICS_EPOCH


def test_timestamp_conversions():
    # E5 of ca-protocol.md: secs 0x45685674, nsec 690049355
    stamp = TimeStamp(0x45685674, 690049355)
    assert stamp.timestamp == pytest.approx(1795617780.690049355, abs=1e-6)
    dt = stamp.as_datetime()
    assert dt.tzinfo is None
    assert dt == datetime.datetime(2026, 11, 25, 14, 43, 0, 690049)
    assert dt == datetime.datetime.fromtimestamp(
        stamp.timestamp, datetime.timezone.utc).replace(tzinfo=None)
    assert tuple(stamp) == (0x45685674, 690049355)
    assert stamp == TimeStamp(0x45685674, 690049355)
    assert stamp == (0x45685674, 690049355)
    assert bytes(stamp) == bytes.fromhex('45685674 2921514b')


def test_timestamp_from_unix():
    stamp = TimeStamp.from_unix_timestamp(1730170312.25)
    assert stamp.secondsSinceEpoch == 1730170312 - 631152000
    assert stamp.nanoSeconds == 250_000_000
    assert stamp.timestamp == 1730170312.25
    assert TimeStamp.from_unix_timestamp(631152000) == (0, 0)
    # nanoseconds that round up to a full second carry
    carry = TimeStamp.from_unix_timestamp(631152000.9999999999)
    assert carry.nanoSeconds < 1_000_000_000
    assert TimeStamp.from_flexible_value((3, 4)) == (3, 4)
    assert TimeStamp.from_flexible_value(stamp) == stamp
    assert TimeStamp.from_flexible_value(631152001.5) == (1, 500_000_000)
    assert TimeStamp().as_datetime() == datetime.datetime(1990, 1, 1)


@pytest.mark.parametrize('bad', [0.0, 631151999.0, 2 ** 33 + 631152000.0,
                                 float('nan'), float('inf')])
def test_timestamp_out_of_range(bad):
    with pytest.raises(cawire.CaprotoValueError):
        TimeStamp.from_unix_timestamp(bad)
