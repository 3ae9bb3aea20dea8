"""caproto's DBR decoder and encoder as an independent oracle for ours:
the same bytes decode to the same values and metadata, and the same values
encode to the same bytes (except where caproto 1.3.0 is known to be wrong)."""
import caproto
import numpy as np
import pytest
from caproto._headers import MessageHeader as CaprotoHeader

import cawire
from cawire import ChannelType, decode, encode

from payload_helpers import make_metadata, same, samples, wire

ALL_TYPES = list(ChannelType)


def caproto_decode(data_type, data_count, payload):
    header = CaprotoHeader(15, len(payload), data_type, data_count, 1, 0)
    response = caproto.ReadNotifyResponse.from_wire(header,
                                                    bytearray(payload))
    return response.metadata, response.data


def caproto_text(value):
    return value.decode('latin-1') if isinstance(value, bytes) else value


@pytest.mark.parametrize('count', [0, 1, 5])
@pytest.mark.parametrize('data_type', [t for t in ALL_TYPES if t < 35])
def test_caproto_decodes_our_bytes_identically(data_type, count):
    values = samples(data_type, count)
    payload = wire(encode(data_type, values,
                          metadata=make_metadata(data_type))[0])
    ours_md, ours = decode(data_type, count, payload)
    # caproto lays DBR_CTRL_STRING out as TIME_STRING; db_access.h gives it
    # the STS_STRING layout, which caproto decodes correctly as type 7.
    oracle_type = 7 if data_type == ChannelType.CTRL_STRING else data_type
    their_md, theirs = caproto_decode(oracle_type, count, payload)
    if data_type in cawire.STRING_VALUED_TYPES:
        assert list(theirs) == ours
    else:
        np.testing.assert_array_equal(np.asarray(theirs), np.asarray(ours))
        assert np.asarray(theirs).dtype == ours.dtype
    if ours_md is None:
        assert their_md is None
        return
    for key, value in ours_md.to_dict().items():
        expected = getattr(their_md, key)
        if key.endswith('_limit') and isinstance(expected, bytes):
            # caproto declares CHAR limits as c_char (one byte)
            expected = int.from_bytes(expected, 'big')
        if key in ('enum_strings', 'units'):
            # caproto and cawire both give bytes here
            assert value == expected, key
            assert type(value) is type(expected), key
            continue
        assert same(value, caproto_text(expected)), key
    for key in ('precision',):
        if hasattr(their_md, key):
            assert getattr(ours_md, key) == getattr(their_md, key)
    if hasattr(their_md, 'stamp'):
        assert tuple(ours_md.stamp) == (their_md.stamp.secondsSinceEpoch,
                                        their_md.stamp.nanoSeconds)


@pytest.mark.parametrize('count', [0, 1, 5])
@pytest.mark.parametrize('data_type', [t for t in ALL_TYPES
                                       if t < 35 and t != 28])
def test_we_encode_byte_identically_to_caproto(data_type, count):
    # (caproto's CTRL_STRING layout is wrong, see above)
    values = samples(data_type, count)
    metadata = make_metadata(data_type)
    ours = wire(encode(data_type, values, metadata=metadata)[0])
    their_md = None
    if metadata is not None:
        their_md = caproto._dbr.DBR_TYPES[data_type].from_buffer_copy(
            bytes(metadata))
    command = caproto.ReadNotifyResponse(
        data=values, data_type=data_type, data_count=count, status=1,
        ioid=1, metadata=their_md)
    assert bytes(command)[16:] == ours


@pytest.mark.parametrize('data_type, value', [
    (ChannelType.PUT_ACKT, 1), (ChannelType.PUT_ACKS, 2),
    (ChannelType.CLASS_NAME, b'bi'), (ChannelType.STSACK_STRING, b'alarm')])
def test_caproto_decodes_special_types_identically(data_type, value):
    # caproto keeps the value of these types in its metadata structure.
    metadata = make_metadata(data_type)
    payload = wire(encode(data_type, [value], metadata=metadata)[0])
    ours_md, ours = decode(data_type, 1, payload)
    their_md, _ = caproto_decode(data_type, 1, payload)
    assert their_md.value == ours[0] == value
    if ours_md is not None:
        for key in ('status', 'severity', 'ackt', 'acks'):
            assert getattr(ours_md, key) == getattr(their_md, key)
