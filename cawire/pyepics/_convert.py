"""Responses of the threading client -> pyepics's values and metadata.

pyepics's rules, restated: a one-element channel gives a Python scalar (a
``str`` for strings), arrays give native-byte-order numpy arrays (a char
array stays an array of uint8 unless asked ``as_string``), string arrays a
list of ``str``; TIME reads add status, severity, timestamp (microseconds),
posixseconds and nanoseconds; CTRL reads add the limits, precision (float
types only), units, status, severity and, for enums, ``enum_strs``.
"""
from __future__ import annotations

import os
from math import log10

import numpy

from . import dbr

#: The eight limits in the order pyepics lists them.
CTRL_LIMITS = ('upper_disp_limit', 'lower_disp_limit', 'upper_alarm_limit',
               'upper_warning_limit', 'lower_warning_limit',
               'lower_alarm_limit', 'upper_ctrl_limit', 'lower_ctrl_limit')

ENCODING = os.environ.get('PYEPICS_ENCODING',
                          os.environ.get('PYTHONIOENCODING', 'utf-8'))

_FORM_TO_CLASS = {'native': 'native', 'time': 'time', 'ctrl': 'control'}


def request_class(form: str, native: int) -> str:
    """The data-type class to ask for (a string's CTRL form is TIME)."""
    if form == 'ctrl' and native == dbr.STRING:
        return 'time'
    return _FORM_TO_CLASS.get(form, 'time')


def promoted(form: str, native: int) -> int:
    """pyepics's promoted type code for ``form``."""
    return dbr.promote_fieldtype(native, use_time=form == 'time',
                                 use_ctrl=form == 'ctrl')


def as_text(raw) -> str:
    """``raw`` as pyepics presents CA text (units, enum strings): ``str``."""
    if isinstance(raw, bytes):
        return raw.split(b'\x00', 1)[0].decode(ENCODING, 'replace')
    return str(raw)


def _text(raw) -> str:
    if isinstance(raw, bytes):
        text = raw.split(b'\x00', 1)[0].decode(ENCODING, 'replace')
    else:
        text = str(raw)
    return text.rstrip()


def unpack(data, native: int, nelm: int, as_numpy: bool = True):
    """One response's ``data`` as pyepics gives it."""
    if native == dbr.STRING:
        strings = [_text(item) for item in data]
        if len(strings) == 1 and nelm == 1:
            return strings[0]
        return strings
    count = len(data)
    if count == 1 and not (native == dbr.CHAR and nelm > 1):
        return data[0].item()
    array = numpy.asarray(data)
    if not array.dtype.isnative:
        array = array.astype(array.dtype.newbyteorder('='))
    elif not array.flags.writeable or array.base is not None:
        array = array.copy()
    if not as_numpy:
        return array.tolist()
    return array


def array_value(val, count, as_numpy: bool):
    """An array PV's value as ``get`` returns it: a numpy array or a list
    (a lone element becomes a one-element array), at most ``count``
    elements."""
    if isinstance(val, (str, bytes)) or not hasattr(val, '__len__'):
        val = [val]
    if count is None:
        count = len(val)
    if as_numpy and not hasattr(val, 'dtype'):
        val = numpy.asarray(val)
    elif not as_numpy and hasattr(val, 'tolist'):
        val = val.tolist()
    if count < len(val):
        val = val[:count]
    return val


def metadata(md, data_type: int) -> dict:
    """The pyepics metadata keywords of one DBR metadata structure."""
    out: dict = {}
    if md is None:
        return out
    if data_type >= dbr.CTRL_STRING:
        native = data_type - dbr.CTRL_STRING
        if native not in (dbr.STRING, dbr.ENUM):
            for name in CTRL_LIMITS:
                out[name] = getattr(md, name)
            if native in (dbr.FLOAT, dbr.DOUBLE):
                out['precision'] = int(md.precision)
            out['units'] = as_text(md.units)
        out['status'] = int(md.status)
        out['severity'] = int(md.severity)
        if native == dbr.ENUM and md.no_str > 0:
            out['enum_strs'] = tuple(as_text(item) for item in md.enum_strings)
    elif data_type >= dbr.TIME_STRING:
        secs, nsec = md.secondsSinceEpoch, md.nanoSeconds
        out['status'] = int(md.status)
        out['severity'] = int(md.severity)
        out['timestamp'] = dbr.EPICS2UNIX_EPOCH + secs + 1.e-6 * int(1.e-3 * nsec)
        out['posixseconds'] = secs + dbr.EPICS2UNIX_EPOCH
        out['nanoseconds'] = nsec
    return out


def char_value(val, native: int, count: int, ftype: int, precision,
               enum_strs, long_string: bool = False):
    """pyepics's ``char_value``: the string form of ``val``."""
    if val is None:
        return 'None'
    if native == dbr.STRING:
        return val
    if native == dbr.CHAR and (count < 65536 or long_string):
        if isinstance(val, numpy.ndarray):
            codes = val.tolist()
        elif isinstance(val, (list, tuple)):
            codes = list(val)
        else:
            codes = [val]
        if 0 in codes:
            codes = codes[:codes.index(0)]
        try:
            return ''.join(chr(code) for code in codes).rstrip()
        except (ValueError, TypeError):
            return ''
    if count > 1:
        try:
            length = len(val)
        except TypeError:
            length = 1
        return f'<array size={length}, type={dbr.Name(ftype).lower()}>'
    if native in (dbr.FLOAT, dbr.DOUBLE):
        try:
            fmt = '%%.%df'
            if 4 < abs(int(log10(abs(val + 1.e-9)))):
                fmt = '%%.%dg'
            return (fmt % precision) % val
        except (ValueError, TypeError, ArithmeticError):
            return str(val)
    if native == dbr.ENUM:
        try:
            return enum_strs[val]
        except (TypeError, KeyError, IndexError):
            return str(val)
    return repr(val)


def put_data(value, native: int, nelm: int):
    """A pyepics put's ``value`` as the data and count to write."""
    if native == dbr.STRING:
        if isinstance(value, bytes):
            return [value], 1
        if isinstance(value, str):
            return [value.encode(ENCODING)], 1
        # Like pyepics: a number is no sequence of strings (TypeError).
        items = [str(value[index]).encode(ENCODING)
                 for index in range(min(nelm, len(value)))]
        return items, len(items)
    if native == dbr.CHAR and isinstance(value, (str, bytes)):
        if isinstance(value, bytes):
            value = value.decode('ascii', 'replace')
        codes = [ord(ch) for ch in value] + [0]
        codes = codes[:nelm]
        return codes, len(codes)
    if nelm == 1 or numpy.ndim(value) == 0:
        if isinstance(value, str):
            value = value.encode(ENCODING)
        if isinstance(value, bytes):
            if native in (dbr.FLOAT, dbr.DOUBLE):
                value = float(value)
            else:
                value = int(value, base=0)
        return [value], 1
    items = value[:nelm] if hasattr(value, '__getitem__') else list(value)[:nelm]
    return items, len(items)
