"""The C library behaviour that caget/caput/camonitor's output depends on.

The EPICS tools print through ``printf``, ``sscanf``, ``strtod``,
``epicsStrnEscapedFromRaw`` and ``epicsTimeToStrftime``; matching their output
byte for byte means reproducing the corners of those functions (``-nan``,
double-to-int overflow, signed ``char``, rounding of fractional seconds).
Everything here is pure and works on ``str`` in which every character stands
for one byte (latin-1), so text received from the wire round-trips exactly.
"""
from __future__ import annotations

import enum
import functools
import math
import re
import time

__all__ = (
    'IntBase', 'c_float_format', 'format_integer', 'round_to_long',
    'signed_char', 'escape_raw', 'unescape', 'scan_int', 'scan_unsigned',
    'scan_double', 'strtod_prefix', 'format_epics_time', 'EPICS_EPOCH',
    'DEFAULT_TIME_FORMAT',
)

#: POSIX time of the EPICS epoch (1990-01-01 00:00:00 UTC).
EPICS_EPOCH = 631152000

#: ``timeFormatStr`` of tool_lib.c.
DEFAULT_TIME_FORMAT = '%Y-%m-%d %H:%M:%S.%06f'

_INT32_MIN = -2 ** 31
_UINT32 = 2 ** 32


class IntBase(enum.Enum):
    """Integer output formats of the ``-0x/-0o/-0b`` and ``-lx/-lo/-lb``
    options (``IntFormatT`` of tool_lib.h)."""

    DEC = 'dec'
    BIN = 'bin'
    OCT = 'oct'
    HEX = 'hex'


def c_float_format(fmt: str, value: float) -> str:
    """``sprintf(fmt, value)`` for one of the formats the tools use.

    ``fmt`` is ``'%g'`` or ``'%-.<n>e|f|g'``; Python's ``%`` operator agrees
    with glibc for finite values and infinities, but prints every NaN as
    ``nan`` where glibc prints ``-nan`` when the sign bit is set.
    """
    value = float(value)
    if math.isnan(value):
        text = fmt % math.nan
        return '-' + text if math.copysign(1.0, value) < 0 else text
    return fmt % value


def _to_int32(value: int) -> int:
    """Wrap an integer into the signed 32-bit range (C ``(int)`` cast)."""
    value &= _UINT32 - 1
    return value - _UINT32 if value >= 2 ** 31 else value


def format_integer(value: int, base: IntBase) -> str:
    """``sprint_long`` of tool_lib.c: a 32-bit integer in the given base.

    Hex and octal print the two's-complement bit pattern (``0x%X`` of a
    negative int); binary skips leading zeros and prints ``0`` for zero.
    """
    value = _to_int32(int(value))
    if base is IntBase.DEC:
        return '%d' % value
    unsigned = value & (_UINT32 - 1)
    if base is IntBase.HEX:
        return '0x%X' % unsigned
    if base is IntBase.OCT:
        return '0o%o' % unsigned
    return format(unsigned, 'b') if unsigned else '0'


def round_to_long(value: float) -> int:
    """``val > 0 ? val + 0.5 : val - 0.5`` converted to ``dbr_long_t``.

    x86-64 converts out-of-range values and NaN to INT32_MIN (the
    "integer indefinite" value), which is what the C tools then print.
    """
    value = float(value)
    shifted = value + 0.5 if value > 0.0 else value - 0.5
    if math.isnan(shifted) or not (-2.0 ** 31 - 1 < shifted < 2.0 ** 31):
        return _INT32_MIN
    return int(shifted)


def signed_char(value: int) -> int:
    """A byte as C ``char`` sees it on x86 (signed): 200 -> -56."""
    value = int(value) & 0xFF
    return value - 256 if value >= 128 else value


_ESCAPES = {
    '\a': '\\a', '\b': '\\b', '\f': '\\f', '\n': '\\n', '\r': '\\r',
    '\t': '\\t', '\v': '\\v', '\\': '\\\\', "'": "\\'", '"': '\\"',
    '\0': '\\0',
}


def _escape_char(char: str) -> str:
    special = _ESCAPES.get(char)
    if special is not None:
        return special
    code = ord(char) & 0xFF
    if 0x20 <= code < 0x7F:
        return char
    return '\\x%02x' % code


_ESCAPE_TABLE = {code: _escape_char(chr(code)) for code in range(256)}


def escape_raw(text: str) -> str:
    """``epicsStrnEscapedFromRaw``: C escapes for quotes, backslash and
    control characters, ``\\xhh`` for every other non-printable byte
    (isprint in the C locale: 0x20..0x7e)."""
    if text.isascii() and text.isprintable() and '\\' not in text \
            and '"' not in text and "'" not in text:
        return text
    return ''.join(_ESCAPE_TABLE.get(ord(char), char) for char in text)


_UNESCAPES = {
    'a': '\a', 'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t',
    'v': '\v', '\\': '\\', "'": "'", '"': '"', '0': '\0',
}
_HEX_DIGITS = frozenset('0123456789abcdefABCDEF')


def unescape(text: str, limit: int | None = None) -> str:
    """``epicsStrnRawFromEscaped``: translate C escapes into raw bytes.

    ``\\xh`` / ``\\xhh`` take one or two hex digits; an unknown escape
    yields the escaped character itself; a NUL in the input ends it.
    ``limit`` is the destination size including the terminating NUL (the
    result holds at most ``limit - 1`` characters), as in the C function.
    """
    out = []
    room = None if limit is None else max(limit - 1, 0)
    position = 0
    length = len(text)

    def emit(char):
        nonlocal room
        if room is None:
            out.append(char)
        elif room > 0:
            out.append(char)
            room -= 1

    while position < length:
        char = text[position]
        position += 1
        if char == '\0':
            break
        if char != '\\':
            emit(char)
            continue
        if position >= length or text[position] == '\0':
            break
        char = text[position]
        position += 1
        if char == 'x':
            digits = ''
            while len(digits) < 2 and position < length \
                    and text[position] in _HEX_DIGITS:
                digits += text[position]
                position += 1
            if digits:
                emit(chr(int(digits, 16)))
            # "\x" followed by a non-hex character: that character is then
            # processed normally (C jumps back to its input label).
            continue
        emit(_UNESCAPES.get(char, char))
    return ''.join(out)


_INT_PREFIX = re.compile(r'[ \t\n\r\f\v]*([+-]?[0-9]+)')


def scan_int(text: str) -> int | None:
    """``sscanf(text, "%d", &n) == 1``: leading whitespace, optional sign,
    digits; trailing characters are ignored.  ``None`` when no digits."""
    match = _INT_PREFIX.match(text)
    if match is None:
        return None
    value = int(match.group(1))
    # sscanf stores the value converted to int; out-of-range is undefined in
    # C, glibc saturates through strtol then truncates: keep 32-bit wrap.
    return _to_int32(value)


def scan_unsigned(text: str, bits: int = 32) -> int | None:
    """``sscanf(text, "%u")`` / ``"%lu"``: like %d, negative numbers wrap."""
    match = _INT_PREFIX.match(text)
    if match is None:
        return None
    return int(match.group(1)) % (2 ** bits)


_FLOAT_PREFIX = re.compile(
    r'[ \t\n\r\f\v]*('
    r'[+-]?(?:'
    r'0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)(?:[pP][+-]?[0-9]+)?'
    r'|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?'
    r'|inf(?:inity)?|nan(?:\([0-9A-Za-z_]*\))?'
    r'))', re.IGNORECASE)


def _parse_c_double(number: str) -> float:
    body = number.lstrip('+-')
    negative = number.startswith('-')
    lowered = body.lower()
    if lowered.startswith('0x'):
        mantissa, _, exponent = lowered[2:].partition('p')
        whole, _, fraction = mantissa.partition('.')
        value = int(whole or '0', 16) + (
            int(fraction, 16) / 16 ** len(fraction) if fraction else 0.0)
        value = math.ldexp(value, int(exponent) if exponent else 0)
    elif lowered.startswith('inf'):
        value = math.inf
    elif lowered.startswith('nan'):
        value = math.nan
    else:
        value = float(body)
    return -value if negative else value


def strtod_prefix(text: str) -> tuple[float, int]:
    """``strtod``: the value of the longest numeric prefix and the number of
    characters it used (0 when there is none; the value is then 0.0)."""
    match = _FLOAT_PREFIX.match(text)
    if match is None:
        return 0.0, 0
    return _parse_c_double(match.group(1)), match.end()


def scan_double(text: str) -> float | None:
    """``epicsScanDouble`` (``epicsParseDouble`` without units): a number
    followed by nothing but whitespace, else ``None``."""
    value, used = strtod_prefix(text)
    if used == 0 or text[used:].strip(' \t\n\r\f\v'):
        return None
    return value


_FRACTION_TOKEN = re.compile(r'%(%|[0-9]*f)')


@functools.lru_cache(maxsize=16)
def _split_time_format(fmt: str) -> tuple:
    """``fmt`` as alternating strftime pieces and fraction widths:
    ``(str, int, str, int, ..., str)`` (``fracFormatFind`` of epicsTime)."""
    pieces = []
    position = 0
    for match in _FRACTION_TOKEN.finditer(fmt):
        token = match.group(1)
        if token == '%':
            continue
        digits = token[:-1]
        width = int(digits) if digits else 9
        if digits and width == 0:
            continue  # "%0f" is not a fraction token in EPICS
        pieces += [fmt[position:match.start()], min(width, 9)]
        position = match.end()
    pieces.append(fmt[position:])
    return tuple(pieces)


@functools.lru_cache(maxsize=64)
def _strftime_local(piece: str, posix_seconds: int, zone: tuple) -> str:
    # Cached (monitors print many stamps within the same second); ``zone``
    # (time.tzname) keys the cache so a tzset() is honoured.
    return time.strftime(piece, time.localtime(posix_seconds)) if piece else ''


def format_epics_time(seconds_since_epoch: int, nanoseconds: int,
                      fmt: str = DEFAULT_TIME_FORMAT,
                      buffer_size: int = 28) -> str:
    """``epicsTimeToStrftime`` in local time.

    Parameters
    ----------
    seconds_since_epoch, nanoseconds : int
        An EPICS time stamp (seconds since 1990-01-01 UTC).
    fmt : str
        strftime format where ``%0<n>f`` / ``%<n>f`` / ``%f`` is the
        fraction of the second with n digits (rounded, never carried into
        the seconds).
    buffer_size : int
        The C buffer size (``TIMETEXTLEN`` is 28): output is cut to
        ``buffer_size - 1`` characters as the C function does.

    Returns
    -------
    str
        ``'<undefined>'`` for the all-zero stamp, as EPICS prints it.
    """
    if seconds_since_epoch == 0 and nanoseconds == 0:
        return '<undefined>'[:buffer_size - 1]
    posix_seconds = seconds_since_epoch + EPICS_EPOCH
    out = []
    for index, piece in enumerate(_split_time_format(fmt)):
        if index % 2 == 0:
            out.append(_strftime_local(piece, posix_seconds, time.tzname))
        elif nanoseconds < 1_000_000_000:
            divisor = 10 ** (9 - piece)
            fraction = min(nanoseconds + divisor // 2, 999_999_999) // divisor
            out.append('%0*d' % (piece, fraction) if piece else '%d' % fraction)
        else:
            out.append('OVF')
    return ''.join(out)[:buffer_size - 1]
