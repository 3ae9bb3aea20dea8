"""EPICS timestamps: seconds and nanoseconds since 1990-01-01 UTC.

``TimeStamp`` is a big-endian ctypes structure so it can be written to the wire
as is; conversions to POSIX floats and datetimes happen only when asked for.
"""
import ctypes
import datetime
import math

from ._constants import EPICS2UNIX_EPOCH
from ._exceptions import CaprotoValueError

__all__ = ('EPICS_EPOCH', 'TimeStamp', 'epics_timestamp_to_unix',
           'timestamp_to_epics')

#: POSIX time of the EPICS epoch (1990-01-01 00:00:00 UTC).
EPICS_EPOCH = EPICS2UNIX_EPOCH

_UNIX_EPOCH_NAIVE = datetime.datetime(1970, 1, 1)


def epics_timestamp_to_unix(seconds_since_epoch: int,
                            nano_seconds: int) -> float:
    """POSIX time (float seconds) of an EPICS (seconds, nanoseconds) pair."""
    return seconds_since_epoch + EPICS_EPOCH + nano_seconds * 1e-9


def timestamp_to_epics(timestamp: float) -> tuple[int, int]:
    """Split a POSIX time into EPICS ``(seconds, nanoseconds)``.

    Raises
    ------
    CaprotoValueError
        The time is before the EPICS epoch or beyond the u32 range.
    """
    if not math.isfinite(timestamp):
        raise CaprotoValueError(f'timestamp {timestamp!r} is not finite')
    whole = math.floor(timestamp)
    nano = int(round((timestamp - whole) * 1e9))
    if nano >= 1_000_000_000:
        whole += 1
        nano -= 1_000_000_000
    seconds = int(whole) - EPICS_EPOCH
    if not 0 <= seconds <= 0xFFFFFFFF:
        raise CaprotoValueError(
            f'timestamp {timestamp!r} is outside the EPICS range '
            f'(1990-01-01 .. 2126-02-07 UTC)')
    return seconds, nano


class TimeStamp(ctypes.BigEndianStructure):
    """An EPICS timestamp (``epicsTimeStamp``): ``u32 secs, u32 nsec``.

    Attributes
    ----------
    secondsSinceEpoch : int
        Seconds since 1990-01-01 00:00:00 UTC.
    nanoSeconds : int
        Nanoseconds within the second.
    """

    _pack_ = 1
    _fields_ = [('secondsSinceEpoch', ctypes.c_uint32),
                ('nanoSeconds', ctypes.c_uint32)]

    @property
    def timestamp(self) -> float:
        """POSIX time in seconds (float)."""
        return self.secondsSinceEpoch + EPICS_EPOCH + self.nanoSeconds * 1e-9

    @classmethod
    def from_unix_timestamp(cls, timestamp: float) -> 'TimeStamp':
        """Build a TimeStamp from a POSIX time (``time.time()``)."""
        seconds, nano = timestamp_to_epics(timestamp)
        return cls(seconds, nano)

    @classmethod
    def from_flexible_value(cls, value) -> 'TimeStamp':
        """Accept a POSIX float/int, a TimeStamp or a ``(secs, nsec)`` pair."""
        if isinstance(value, TimeStamp):
            return cls(value.secondsSinceEpoch, value.nanoSeconds)
        if isinstance(value, (int, float)):
            return cls.from_unix_timestamp(value)
        seconds, nano = value
        return cls(seconds, nano)

    def as_datetime(self) -> datetime.datetime:
        """The time as a naive ``datetime`` in UTC (microsecond resolution)."""
        # Built from integer parts so that no float rounding moves the value.
        return _UNIX_EPOCH_NAIVE + datetime.timedelta(
            seconds=self.secondsSinceEpoch + EPICS_EPOCH,
            microseconds=self.nanoSeconds / 1000)

    def __iter__(self):
        return iter((self.secondsSinceEpoch, self.nanoSeconds))

    def __eq__(self, other):
        try:
            return tuple(self) == tuple(other)
        except TypeError:
            return NotImplemented

    def __hash__(self):
        return hash(tuple(self))

    def __repr__(self):
        return (f'TimeStamp(secondsSinceEpoch={self.secondsSinceEpoch}, '
                f'nanoSeconds={self.nanoSeconds})')
