"""Seed-API fidelity: the objects caproto 1.3.0 users handle behave the same.

Each test builds the same thing with caproto and with cawire and compares
what a user sees (types, reprs, values).  Deliberate differences are
asserted as such and listed in docs/caproto-migration.md.
"""
import collections
import datetime
import time

import caproto
import pytest
from caproto import _dbr as caproto_dbr
from caproto._commands import read_from_bytestream as caproto_read

import cawire

CT = cawire.ChannelType


def _caproto_parse(message: bytes):
    # caproto's role argument names the sender.
    _, command, _ = caproto_read(bytearray(message), caproto.SERVER)
    return command


def _cawire_parse(message: bytes):
    commands, consumed, _ = cawire.parse_stream(bytearray(message),
                                                cawire.CLIENT)
    assert consumed == len(message)
    return commands[0]


# -- TimeStamp -----------------------------------------------------------------

def test_timestamp_repr_and_to_dict_match_caproto():
    for seconds, nanoseconds in ((0, 0), (1099018312, 355449000), (1, 5)):
        ours = cawire.TimeStamp(seconds, nanoseconds)
        theirs = caproto_dbr.TimeStamp(seconds, nanoseconds)
        assert repr(ours) == repr(theirs)
        assert ours.to_dict() == theirs.to_dict()
        assert ours.info_fields == theirs.info_fields
        assert tuple(ours) == tuple(theirs)
        assert ours == theirs
        assert ours.timestamp == theirs.timestamp


def test_timestamp_now():
    before = time.time()
    ours = cawire.TimeStamp.now()
    theirs = caproto_dbr.TimeStamp.now()
    after = time.time()
    assert isinstance(ours, cawire.TimeStamp)
    for stamp in (ours, theirs):
        assert before - 1e-6 <= stamp.timestamp <= after + 1e-6


def test_timestamp_as_datetime_is_utc_deliberately():
    """caproto gives local time; we give UTC (documented difference)."""
    stamp = cawire.TimeStamp(1099018312, 355449000)
    expected = datetime.datetime.fromtimestamp(
        1099018312 + cawire.EPICS_EPOCH,
        datetime.timezone.utc).replace(tzinfo=None, microsecond=355449)
    assert stamp.as_datetime() == expected


def test_time_metadata_stamp_repr():
    payload = bytes(cawire.DBR_TIME_DOUBLE(stamp=cawire.TimeStamp(5, 6)))
    ours = cawire.DBR_TIME_DOUBLE.from_buffer_copy(payload)
    theirs = caproto_dbr.DBR_TIME_DOUBLE.from_buffer_copy(payload)
    assert repr(ours.stamp) == repr(theirs.stamp)
    assert repr(ours) == repr(theirs)


# -- string values ---------------------------------------------------------------

STRING_TYPES = [CT.STRING, CT.TIME_STRING, CT.STS_STRING]


@pytest.mark.parametrize('data_type', STRING_TYPES)
def test_string_data_is_a_dbr_string_array(data_type):
    values = [b'abc', b'', b'x' * 39]
    ours = cawire.ReadNotifyResponse(values, data_type, 3, 1, 7)
    message = bytes(ours)
    parsed = _cawire_parse(message)
    theirs = _caproto_parse(message)
    assert type(parsed.data).__name__ == type(theirs.data).__name__ == \
        'DbrStringArray'
    assert isinstance(parsed.data, cawire.DbrStringArray)
    assert list(parsed.data) == list(theirs.data) == values
    assert parsed.data == theirs.data
    assert parsed.data.tobytes() == theirs.data.tobytes()
    sliced_ours, sliced_theirs = parsed.data[1:], theirs.data[1:]
    assert type(sliced_ours) is cawire.DbrStringArray
    assert type(sliced_theirs).__name__ == 'DbrStringArray'
    assert list(sliced_ours) == list(sliced_theirs)
    assert parsed.data[0] == theirs.data[0] == b'abc'


def test_dbr_string_array_frombuffer_matches_caproto():
    buffers = [b'abc\x00junk'.ljust(40, b'\x00') + b'def'.ljust(40, b'z'),
               b'short', b'', b'a' * 45]
    for buf in buffers:
        for count in (None, 1, 2):
            ours = cawire.DbrStringArray.frombuffer(buf, count)
            theirs = caproto_dbr.DbrStringArray.frombuffer(buf, count)
            assert list(ours) == list(theirs), (buf, count)
            assert ours.tobytes() == theirs.tobytes()


def test_dbr_string_array_is_a_list_deliberately():
    """caproto's is a UserList; ours a list subclass (documented)."""
    array = cawire.DbrStringArray([b'a'])
    assert isinstance(array, list)
    assert issubclass(caproto_dbr.DbrStringArray, collections.UserList)
    assert array == [b'a'] == caproto_dbr.DbrStringArray([b'a'])


# -- metadata text ------------------------------------------------------------------

@pytest.mark.parametrize('data_type', [CT.CTRL_DOUBLE, CT.GR_LONG,
                                       CT.CTRL_CHAR, CT.GR_INT,
                                       CT.CTRL_FLOAT])
def test_units_are_bytes(data_type):
    md = cawire.DBR_TYPES[data_type]()
    md.units = b'mm'
    payload = bytes(md)
    ours = cawire.DBR_TYPES[data_type].from_buffer_copy(payload)
    theirs = caproto_dbr.DBR_TYPES[data_type].from_buffer_copy(payload)
    assert ours.units == theirs.units == b'mm'
    assert ours.units.decode() == 'mm'  # the caproto idiom works
    assert ours.to_dict()['units'] == theirs.to_dict()['units']


@pytest.mark.parametrize('data_type', [CT.CTRL_ENUM, CT.GR_ENUM])
def test_enum_strings_are_bytes(data_type):
    md = cawire.DBR_TYPES[data_type]()
    md.enum_strings = [b'Off', b'On', b'Maybe']
    payload = bytes(md)
    ours = cawire.DBR_TYPES[data_type].from_buffer_copy(payload)
    theirs = caproto_dbr.DBR_TYPES[data_type].from_buffer_copy(payload)
    assert ours.enum_strings == theirs.enum_strings == (b'Off', b'On',
                                                         b'Maybe')
    assert type(ours.enum_strings) is type(theirs.enum_strings)
    assert repr(ours) == repr(theirs)


# -- data_type -----------------------------------------------------------------------

@pytest.mark.parametrize('make', [
    lambda lib: lib.ReadNotifyResponse([1.0], CT.DOUBLE, 1, 1, 3),
    lambda lib: lib.EventAddResponse([1.0], CT.DOUBLE, 1, 1, 3),
    lambda lib: lib.WriteNotifyResponse(CT.DOUBLE, 1, 1, 3),
])
def test_data_type_is_a_channel_type(make):
    ours = _cawire_parse(bytes(make(cawire)))
    theirs = _caproto_parse(bytes(make(caproto)))
    assert type(ours.data_type).__name__ == type(theirs.data_type).__name__ \
        == 'ChannelType'
    assert ours.data_type == theirs.data_type


def test_read_response_data_type_deliberately_a_channel_type():
    """caproto 1.3.0 gives a bare int for ReadResponse.data_type only (the
    one command whose property skips ChannelType(); every other data
    command gives a ChannelType).  We give the ChannelType: an int subclass
    that equals caproto's value (documented difference)."""
    with pytest.warns(UserWarning):
        theirs = caproto.ReadResponse([1.0], CT.DOUBLE, 1, 1, 3)
    ours = cawire.ReadResponse([1.0], CT.DOUBLE, 1, 1, 3)
    assert type(theirs.data_type) is int
    assert isinstance(ours.data_type, int)
    assert ours.data_type == theirs.data_type == 6
    assert ours.data_type is CT.DOUBLE


# -- status ---------------------------------------------------------------------------

def test_reply_status_is_the_code_tuple_in_both():
    ours = _cawire_parse(bytes(cawire.WriteNotifyResponse(
        CT.DOUBLE, 1, cawire.CAStatus.ECA_PUTFAIL, 3)))
    theirs = _caproto_parse(bytes(caproto.WriteNotifyResponse(
        CT.DOUBLE, 1, caproto.CAStatus.ECA_PUTFAIL, 3)))
    assert repr(ours.status) == repr(theirs.status)
    assert ours.status == cawire.CAStatus.ECA_PUTFAIL.value
    assert theirs.status == caproto.CAStatus.ECA_PUTFAIL.value
    assert ours.status.code == theirs.status.code == 20
