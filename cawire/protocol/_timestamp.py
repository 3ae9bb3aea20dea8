"""EPICS timestamps: seconds and nanoseconds since 1990-01-01 UTC.

``TimeStamp`` is a big-endian ctypes structure so it can be written to the wire
as is; conversions to POSIX floats and datetimes happen only when asked for.

The core never reads the clock: ``TimeStamp.now()`` exists for users (it is
caproto's API) and no code of ``cawire.protocol`` calls it
(``tests/core/test_purity.py`` holds both rules).
"""
import ctypes
import datetime
import math
import time
from typing import Any, ClassVar, Iterator

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
    #: What ``repr`` and ``to_dict`` show (as caproto).
    info_fields: ClassVar[tuple[str, ...]] = ('timestamp',)

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
    def now(cls) -> 'TimeStamp':
        """The current time (``time.time()``) as a TimeStamp."""
        return cls.from_unix_timestamp(time.time())

    @classmethod
    def from_flexible_value(cls, value: Any) -> 'TimeStamp':
        """Accept a POSIX float/int, a TimeStamp or a ``(secs, nsec)`` pair."""
        if isinstance(value, TimeStamp):
            return cls(value.secondsSinceEpoch, value.nanoSeconds)
        if isinstance(value, (int, float)):
            return cls.from_unix_timestamp(value)
        seconds, nano = value
        return cls(seconds, nano)

    def as_datetime(self) -> datetime.datetime:
        """The time as a naive ``datetime`` in UTC (microsecond resolution).

        caproto returns local time here; UTC keeps the result independent
        of the machine's time zone (see docs/caproto-migration.md).
        """
        # Built from integer parts so that no float rounding moves the value.
        return _UNIX_EPOCH_NAIVE + datetime.timedelta(
            seconds=self.secondsSinceEpoch + EPICS_EPOCH,
            microseconds=self.nanoSeconds / 1000)

    def to_dict(self) -> dict[str, Any]:
        """``{'timestamp': POSIX time}`` (the ``info_fields``, as caproto)."""
        return {name: getattr(self, name) for name in self.info_fields}

    def __iter__(self) -> Iterator[int]:
        return iter((self.secondsSinceEpoch, self.nanoSeconds))

    def __eq__(self, other: object) -> bool:
        try:
            return tuple(self) == tuple(other)  # type: ignore[arg-type]
        except TypeError:
            return NotImplemented

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __repr__(self) -> str:
        return f'TimeStamp(timestamp={self.timestamp!r})'

