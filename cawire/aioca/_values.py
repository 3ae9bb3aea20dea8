"""Augmented values: what ``caget`` returns and ``camonitor`` delivers.

Plain Python/numpy values with extra attributes (``.name .ok .datatype
.element_count``, and with FORMAT_TIME / FORMAT_CTRL ``.severity .status
.timestamp .raw_stamp .units .precision .enums`` and the limits), with the
class names aioca (through epicscorelibs) uses, so reprs match: a scalar is
a ``ca_int``/``ca_float``/``ca_str``, an array a ``ca_array``.
"""
from __future__ import annotations

import datetime
from typing import Any

import numpy

__all__ = ('ca_str', 'ca_bytes', 'ca_int', 'ca_float', 'ca_array',
           'ca_extra_fields')

#: Every attribute an augmented value may carry.
ca_extra_fields = [
    'name', 'ok', 'datatype', 'element_count', 'severity', 'status',
    'raw_stamp', 'timestamp', 'datetime', 'units', 'upper_disp_limit',
    'lower_disp_limit', 'upper_alarm_limit', 'lower_alarm_limit',
    'upper_warning_limit', 'lower_warning_limit', 'upper_ctrl_limit',
    'lower_ctrl_limit', 'precision', 'enums',
]


def _as_datetime(value: Any) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(value.timestamp)


class ca_array(numpy.ndarray):
    """An array value with CA attributes."""

    datetime = _as_datetime
    __hash__ = None  # type: ignore[assignment]

    def __pos__(self) -> numpy.ndarray:  # type: ignore[override]
        return numpy.array(self)


class ca_str(str):
    """A string value with CA attributes."""

    datetime = _as_datetime

    def __pos__(self) -> str:
        return str(self)


class ca_bytes(bytes):
    """A bytes value (DBR_CHAR_BYTES) with CA attributes."""

    datetime = _as_datetime

    def __pos__(self) -> bytes:
        return bytes(self)


class ca_int(int):
    """An integer value with CA attributes."""

    datetime = _as_datetime


class ca_float(float):
    """A float value with CA attributes."""

    datetime = _as_datetime
