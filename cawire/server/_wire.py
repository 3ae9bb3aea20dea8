"""Build the DBR payload of a read reply or subscription update.

This is the bridge between a :class:`~cawire.server.ChannelData` and the
core's ``_dbr``/``_payload`` encoders: it converts the channel's elements to
the requested base type, sizes them to the requested count (count 0 = the
current length; a larger count is zero-filled as RSRV does), fills the
metadata structure of the requested family (status, time, graphic, control)
and pads the result to 8 bytes.
"""
from __future__ import annotations

import struct

import numpy as np
from typing import TYPE_CHECKING

from ..protocol import _payload
from ..protocol._backend import NUMERIC_DTYPES
from ..protocol._constants import MAX_STRING_SIZE
from ..protocol._dbr import DBR_TYPES, padded, payload_size
from ..protocol._enums import (ChannelType, control_types, graphical_types,
                               native_type, native_types, status_types,
                               time_types)
from ..protocol._exceptions import CaprotoConversionError, CaprotoValueError
from ..protocol._serving import (graphic_metadata, is_readable_type,
                                 is_writable_type, status_metadata,
                                 stsack_metadata, time_metadata)
from ..protocol._timestamp import timestamp_to_epics
from ._conversion import NATIVE_NUMPY_DTYPES

if TYPE_CHECKING:
    from ._channel_data import ChannelData

__all__ = ('encode_channel', 'zero_payload', 'is_readable_type',
           'is_writable_type')

_CLASS_NAME = int(ChannelType.CLASS_NAME)
_PAD = bytes(8)
_GRAPHIC_LIMITS = ('upper_disp_limit', 'lower_disp_limit', 'upper_alarm_limit',
                   'upper_warning_limit', 'lower_warning_limit',
                   'lower_alarm_limit')
_CTRL_LIMITS = _GRAPHIC_LIMITS + ('upper_ctrl_limit', 'lower_ctrl_limit')
#: Metadata family per request type: 0 plain, 1 STS, 2 TIME, 3 GR, 4 CTRL,
#: 5 STSACK, 6 none (PUT_ACKT/ACKS, CLASS_NAME).
_FAMILY = [next((family for family, types in enumerate(
    (native_types, status_types, time_types, graphical_types, control_types,
     {ChannelType.STSACK_STRING})) if ChannelType(t) in types), 6)
    for t in range(len(ChannelType))]
#: Text bytes a DBR_STRING element holds before its NUL.
_STRING_BYTES = MAX_STRING_SIZE - 1
_BASE = [native_type(t) for t in range(39)]
#: Big-endian wire dtypes of the numeric base types.
_WIRE_DTYPES = {ChannelType(base): np.dtype(dtype)
                for base, dtype in NUMERIC_DTYPES.items()}
#: One-element values packed without numpy (the common scalar update);
#: FLOAT is left to numpy, which keeps a NaN's bits as they are.
_SCALAR_STRUCTS = {base: struct.Struct('>' + _WIRE_DTYPES[base].char)
                   for base in (ChannelType.DOUBLE, ChannelType.LONG,
                                ChannelType.INT, ChannelType.ENUM,
                                ChannelType.CHAR)}
_INTEGER_LIMIT_TYPES = {ChannelType.INT: (-0x8000, 0x7FFF),
                        ChannelType.CHAR: (0, 0xFF),
                        ChannelType.LONG: (-0x80000000, 0x7FFFFFFF)}


def zero_payload(data_type: int, count: int) -> bytes:
    """A zero-filled payload of the requested size (failed reads)."""
    return bytes(padded(payload_size(data_type, count)))


def _limit_value(value, base: ChannelType):
    # Limits are stored as the user gave them (often floats); the integer
    # families need ints that fit their field.
    bounds = _INTEGER_LIMIT_TYPES.get(base)
    if bounds is None:
        return float(value)
    try:
        number = int(value)
    except (ValueError, OverflowError):  # NaN / inf limits
        return 0
    low, high = bounds
    return min(max(number, low), high)


def _graphic_template(channel, data_type: int, base: ChannelType) -> bytes:
    """GR/CTRL metadata bytes with status/severity zeroed (patched per use).

    Units, precision, limits and enum strings only change with
    ``write_metadata``, so the structure is built once per request type.
    """
    structure = DBR_TYPES[ChannelType(data_type)]
    assert structure is not None  # GR/CTRL types all have one
    md = structure()
    fields = channel._metadata_fields()
    if base == ChannelType.ENUM:
        md.enum_strings = tuple(fields.get('enum_strings', ()))
    elif base != ChannelType.STRING:
        md.units = fields.get('units', '') or ''
        if base in (ChannelType.FLOAT, ChannelType.DOUBLE):
            md.precision = int(fields.get('precision', 0) or 0)
        names = _CTRL_LIMITS if data_type >= 28 else _GRAPHIC_LIMITS
        for name in names:
            setattr(md, name, _limit_value(fields.get(name, 0) or 0, base))
    return bytes(md)


def _metadata(channel, data_type: int, base: ChannelType) -> bytes:
    """Metadata bytes of ``data_type`` (empty for plain types)."""
    family = _FAMILY[data_type]
    if family == 0:
        return b''
    alarm = channel.alarm
    status, severity = int(alarm.status), int(alarm.severity)
    if family == 2:
        try:
            seconds, nanoseconds = timestamp_to_epics(channel.timestamp)
        except CaprotoValueError:  # before 1990 or not finite: "undefined"
            seconds = nanoseconds = 0
        return time_metadata(data_type, status, severity, seconds,
                             nanoseconds)
    if family == 1:
        return status_metadata(data_type, status, severity)
    if family == 5:  # STSACK_STRING
        return stsack_metadata(status, severity,
                               int(alarm.must_acknowledge_transient),
                               int(alarm.severity_to_acknowledge))
    templates = channel._metadata_templates
    template = templates.get(data_type)
    if template is None:
        template = templates[data_type] = _graphic_template(channel, data_type,
                                                            base)
    return graphic_metadata(template, status, severity)


def _sized(values, base: ChannelType, count: int):
    length = len(values)
    if count == length:
        return values
    if count < length:
        return values[:count]
    if base == ChannelType.STRING:
        return list(values) + [''] * (count - length)
    extended = np.zeros(count, dtype=NATIVE_NUMPY_DTYPES[base])
    extended[:length] = values
    return extended


def _encode_strings(texts, encoding: str) -> list[bytes]:
    return [text.encode(encoding, errors='replace')[:_STRING_BYTES]
            for text in texts]


def encode_channel(channel: ChannelData, data_type: int,
                   count: int) -> tuple[bytes, int]:
    """Encode ``channel`` as ``data_type`` with ``count`` elements.

    Returns
    -------
    (bytes, int)
        The payload padded to 8 bytes, and the element count it carries.

    Raises
    ------
    CaprotoConversionError
        If the value cannot be converted to the requested type, or the type
        cannot be read (PUT_ACKT/PUT_ACKS).
    """
    if data_type == _CLASS_NAME:
        raw = channel.reported_record_type.encode('latin-1',
                                                  'replace')[:_STRING_BYTES]
        return raw.ljust(MAX_STRING_SIZE, b'\0'), 1
    if not is_readable_type(data_type):
        raise CaprotoConversionError(f'DBR type {data_type} cannot be read')
    base = _BASE[data_type]
    values = channel.elements_as(base)
    if count == 0:
        count = len(values)
    values = _sized(values, base, count)
    metadata = _metadata(channel, data_type, base)
    if base == ChannelType.STRING:
        buffers, _ = _payload.encode(
            data_type, _encode_strings(values, channel.string_encoding),
            metadata=metadata, encoding=channel.string_encoding)
        payload = b''.join(buffers)
    elif count == 1 and base in _SCALAR_STRUCTS:
        payload = metadata + _SCALAR_STRUCTS[base].pack(values[0])
    else:
        # Our values are already arrays of the base type: one byte-order
        # conversion is all the encoding they need.
        payload = metadata + values.astype(_WIRE_DTYPES[base]).tobytes()
    expected = payload_size(data_type, count)
    if len(payload) < expected:  # count 0 of a plain type: no bytes at all
        payload += bytes(expected - len(payload))
    pad = padded(len(payload)) - len(payload)
    if pad:
        payload += _PAD[:pad]
    return payload, count
