"""Encode and decode DBR payloads (metadata + values).

This is on the hot path of a client parsing monitor updates, so ``decode`` is
a table lookup, a length check, one ``from_buffer_copy`` of the (small)
metadata and one ``numpy.frombuffer`` *view* of the values: nothing is
computed per call that could be computed once per type.  The tables are
rebuilt when the value backend changes (``_backend.select_backend``).

String-valued types (STRING and its STS/TIME/GR/CTRL forms, STSACK_STRING,
CLASS_NAME) decode to a ``DbrStringArray`` of ``bytes``, one per 40-byte
element, cut at the first NUL (bytes after it are garbage on the wire).
Turning them into text is the caller's choice of encoding: see
``decode_strings``.
"""
import struct
from collections.abc import Iterable
from typing import Any

from ._backend import Backend, register_backend_listener
from ._constants import MAX_STRING_SIZE
from ._dbr import DBR_TYPES, VALUE_OFFSET, VALUE_SIZE, DbrTypeBase
from ._enums import ChannelType, native_type
from ._exceptions import (CaprotoTypeError, CaprotoValueError,
                          RemoteProtocolError)

__all__ = ('decode', 'encode', 'decode_strings', 'char_array_to_str',
           'min_payload_size', 'time_scalar', 'STRING_VALUED_TYPES',
           'DbrStringArray')

_DEFAULT_ENCODING = 'latin-1'

#: Types whose values are 40-byte strings.
STRING_VALUED_TYPES = frozenset(
    t for t in ChannelType if native_type(t) == ChannelType.STRING)

# Value kinds.
_STRING, _CHAR, _NUMERIC = 'string', 'char', 'numeric'

# data_type -> (value_offset, value_size, metadata class or None,
#               values decoder or None for strings, value kind, base type,
#               numpy dtype when numpy decodes this type else None,
#               zeroed metadata bytes)
# Rebound (never mutated) when the backend changes, so a concurrent decode
# always sees a complete table.
_TABLE: dict[int, tuple] = {}

_frombuffer: Any
try:
    from numpy import frombuffer as _frombuffer
except ImportError:  # pragma: no cover - numpy is a runtime dependency
    _frombuffer = None

# Scalar fast path of encode(): Python int/float to one wire element.
_SCALAR_STRUCTS = {
    ChannelType.INT: struct.Struct('>h'),
    ChannelType.FLOAT: struct.Struct('>f'),
    ChannelType.ENUM: struct.Struct('>H'),
    ChannelType.CHAR: struct.Struct('>B'),
    ChannelType.LONG: struct.Struct('>i'),
    ChannelType.DOUBLE: struct.Struct('>d'),
}
_FLOAT_BASES = frozenset((ChannelType.FLOAT, ChannelType.DOUBLE))


def _build_tables(backend: Backend) -> None:
    table: dict[int, tuple] = {}
    for data_type in ChannelType:
        # PUT_ACKT/PUT_ACKS have ENUM (u16) values, STSACK/CLASS_NAME strings.
        base = native_type(data_type)
        if base == ChannelType.STRING:
            kind, decoder = _STRING, None
        else:
            kind = _CHAR if base == ChannelType.CHAR else _NUMERIC
            decoder = backend.decoder(base)
        dtype = None
        if decoder is not None and backend.name == 'numpy':
            dtype = backend.type_map[base]
        entry = (VALUE_OFFSET[data_type], VALUE_SIZE[data_type],
                 DBR_TYPES[data_type], decoder, kind, base, dtype,
                 bytes(VALUE_OFFSET[data_type]))
        table[data_type] = entry  # ChannelType keys also match plain ints
    global _BACKEND, _TABLE
    _BACKEND = backend
    _TABLE = table


_BACKEND: Backend  # set by _build_tables
register_backend_listener(_build_tables)


def _time_scalar_structs() -> dict[int, struct.Struct]:
    # status, severity, seconds, nanoseconds, padding, one value.
    structs = {}
    for data_type in (ChannelType.TIME_INT, ChannelType.TIME_FLOAT,
                      ChannelType.TIME_ENUM, ChannelType.TIME_CHAR,
                      ChannelType.TIME_LONG, ChannelType.TIME_DOUBLE):
        value = _SCALAR_STRUCTS[native_type(data_type)].format[1:]
        padding = VALUE_OFFSET[data_type] - 12
        structs[int(data_type)] = struct.Struct(f'>hhII{padding}x{value}')
    return structs


_TIME_SCALAR_STRUCTS = _time_scalar_structs()


def time_scalar(data_type: int, data_count: int,
                payload: bytes | bytearray | memoryview) -> tuple | None:
    """Fast form of ``decode`` for a monitor's usual update: one numeric
    DBR_TIME element.

    Returns
    -------
    tuple or None
        ``(status, severity, secondsSinceEpoch, nanoSeconds, value)`` with
        plain ints and a Python int/float value; None when the payload is
        not one element of TIME_INT/FLOAT/ENUM/CHAR/LONG/DOUBLE (or too
        short): then use ``decode``.
    """
    if data_count != 1:
        return None
    unpacker = _TIME_SCALAR_STRUCTS.get(data_type)
    if unpacker is None or len(payload) < unpacker.size:
        return None
    return unpacker.unpack_from(payload)


def min_payload_size(data_type: int, data_count: int) -> int:
    """Fewest payload bytes ``decode`` accepts for this type and count.

    Normally ``value_offset + count * value_size``; a single string may be
    shorter (libca writes a scalar DBR_STRING as strlen+1 bytes).

    Raises
    ------
    RemoteProtocolError
        Not a DBR type id (0..38), or a negative count.
    """
    try:
        offset, size, _, _, kind, _, _, _ = _TABLE[data_type]
    except (KeyError, TypeError):
        raise RemoteProtocolError(
            f'invalid DBR type {data_type!r} (valid: 0..38)') from None
    if data_count < 0:
        raise RemoteProtocolError(f'negative element count {data_count}')
    if kind is _STRING and data_count == 1:
        return offset
    return offset + data_count * size


def decode(data_type: int, data_count: int,
           payload: bytes | bytearray | memoryview, *,
           encoding: str = _DEFAULT_ENCODING) -> tuple:
    """Decode a DBR payload into ``(metadata, data)``.

    Parameters
    ----------
    data_type : int or ChannelType
        DBR type id 0..38 (the header's data_type).
    data_count : int
        Number of elements (the header's data_count).
    payload : bytes, bytearray or memoryview of bytes
        The payload; it may be longer than needed (padding is ignored).
    encoding : str, optional
        Encoding of ``units`` and ``enum_strings`` in the metadata.

    Returns
    -------
    metadata : DbrTypeBase subclass instance or None
        A copy of the metadata part (None for types without one).
    data : numpy.ndarray, array.array or DbrStringArray
        Numeric values as a read-only big-endian view of ``payload`` (numpy
        backend; the 'array' backend returns a native-order copy); string
        types give a DbrStringArray of bytes.  ``data`` keeps ``payload`` alive.

    Raises
    ------
    RemoteProtocolError
        Unknown type, negative count, or a payload too short for the count.
    """
    try:
        offset, size, md_cls, decoder, kind, _, dtype, _ = _TABLE[data_type]
    except (KeyError, TypeError):
        raise RemoteProtocolError(
            f'invalid DBR type {data_type!r} (valid: 0..38)') from None
    needed = offset + data_count * size
    available = len(payload)
    if available < needed or data_count < 0:
        if not (kind is _STRING and data_count == 1 and available >= offset):
            raise RemoteProtocolError(
                f'payload of {available} bytes is too short for '
                f'{data_count} element(s) of {ChannelType(data_type).name} '
                f'({needed} bytes needed)' if data_count >= 0 else
                f'negative element count {data_count}')
    if md_cls is None:
        metadata = None
    else:
        metadata = md_cls.from_buffer_copy(payload)
        if encoding != _DEFAULT_ENCODING:
            metadata._encoding = encoding
    if dtype is not None:
        # numpy: inline the view instead of calling the backend's closure
        return metadata, _frombuffer(payload, dtype, data_count, offset)
    if decoder is not None:
        return metadata, decoder(payload, offset, data_count)
    return metadata, _decode_strings(payload, offset, data_count)


class DbrStringArray(list):
    """The values of a string-type payload: a list of ``bytes``.

    caproto's name and methods (``frombuffer``, ``tobytes``; a slice is a
    DbrStringArray).  caproto's is a ``collections.UserList``; this one is a
    ``list`` subclass, so indexing and iteration run at list speed.
    """

    __slots__ = ()

    def __getitem__(self, index: Any) -> Any:  # type: ignore[override]
        result = list.__getitem__(self, index)
        return DbrStringArray(result) if isinstance(index, slice) else result

    @classmethod
    def frombuffer(cls, buf: bytes | bytearray | memoryview,
                   data_count: int | None = None) -> 'DbrStringArray':
        """Split ``buf`` into 40-byte elements, each cut at its first NUL.

        ``data_count`` defaults to the number of whole elements (at least
        one: a short buffer holds one string).
        """
        raw = bytes(buf)
        if data_count is None:
            data_count = max(1, len(raw) // MAX_STRING_SIZE)
        return cls(raw[i:i + MAX_STRING_SIZE].split(b'\x00', 1)[0]
                   for i in range(0, data_count * MAX_STRING_SIZE,
                                  MAX_STRING_SIZE))

    def tobytes(self) -> bytes:
        """The wire form: each element NUL-padded to 40 bytes (as numpy's
        ``tobytes``); longer elements are cut to 40 bytes."""
        return b''.join(item[:MAX_STRING_SIZE].ljust(MAX_STRING_SIZE, b'\x00')
                        for item in self)


def _decode_strings(payload: bytes | bytearray | memoryview, offset: int,
                    count: int) -> DbrStringArray:
    end = offset + count * MAX_STRING_SIZE
    raw = bytes(payload[offset:end])
    if count == 1:
        return DbrStringArray((raw[:MAX_STRING_SIZE].split(b'\x00', 1)[0],))
    # A list comprehension copied once is faster than a generator here.
    return DbrStringArray([
        raw[i:i + MAX_STRING_SIZE].split(b'\x00', 1)[0]
        for i in range(0, count * MAX_STRING_SIZE, MAX_STRING_SIZE)])


def decode_strings(values: list, encoding: str = _DEFAULT_ENCODING) -> list:
    """Decode a list of ``bytes`` (a string-type ``data``) to ``str``.

    Undecodable bytes are replaced (U+FFFD) rather than raising: the bytes
    come from a peer.
    """
    return [value.decode(encoding, 'replace') for value in values]


def char_array_to_str(values: Any, encoding: str = _DEFAULT_ENCODING) -> str:
    """Text of a DBR_CHAR array holding a long string (cut at first NUL)."""
    raw = bytes(values)
    return raw.split(b'\x00', 1)[0].decode(encoding, 'replace')


# ---------------------------------------------------------------------------
# Encoding

def _metadata_bytes(data_type, md_cls, metadata, encoding):
    if md_cls is None:
        if metadata is None or (isinstance(metadata, (bytes, bytearray))
                                and not metadata):
            return b''
        raise CaprotoValueError(
            f'{ChannelType(data_type).name} carries no metadata, '
            f'got {metadata!r:.80}')
    if metadata is None:
        return bytes(VALUE_OFFSET[data_type])
    if isinstance(metadata, md_cls):
        return _zero_pads(md_cls, bytes(metadata))
    if isinstance(metadata, DbrTypeBase):
        raise CaprotoTypeError(
            f'{ChannelType(data_type).name} needs {md_cls.__name__} '
            f'metadata, got {type(metadata).__name__}')
    foreign_id = getattr(metadata, 'DBR_ID', None)
    if foreign_id is not None:
        # Another library's DBR structure (caproto's ctypes classes): its
        # bytes, if it is the structure of this type.
        if int(foreign_id) != int(data_type):
            raise CaprotoTypeError(
                f'{ChannelType(data_type).name} needs {md_cls.__name__} '
                f'metadata, got {type(metadata).__name__} (DBR type '
                f'{foreign_id})')
        try:
            metadata = memoryview(metadata).tobytes()
        except TypeError as ex:
            raise CaprotoTypeError(
                f'{type(metadata).__name__} metadata is not a buffer: '
                f'{ex}') from ex
    if isinstance(metadata, (bytes, bytearray, memoryview)):
        metadata = bytes(metadata)
        if len(metadata) != VALUE_OFFSET[data_type]:
            raise CaprotoValueError(
                f'{ChannelType(data_type).name} metadata is '
                f'{VALUE_OFFSET[data_type]} bytes, got {len(metadata)}')
        return metadata
    try:
        if isinstance(metadata, dict):
            # ctypes would silently store a misspelled keyword as a plain
            # attribute.
            unknown = [key for key in metadata
                       if key.startswith('_') or not hasattr(md_cls, key)]
            if unknown:
                raise CaprotoValueError(
                    f'{md_cls.__name__} has no field(s) {unknown}')
            instance = md_cls()
            instance._encoding = encoding
            for key, value in metadata.items():
                setattr(instance, key, value)
        else:
            instance = md_cls(*metadata)
    except (TypeError, ValueError, AttributeError) as ex:
        raise CaprotoValueError(
            f'cannot build {md_cls.__name__} from {metadata!r:.80}: {ex}'
        ) from ex
    return bytes(instance)


def _pad_ranges(md_cls):
    return tuple((getattr(md_cls, name).offset, getattr(md_cls, name).size)
                 for name, _ in md_cls._fields_ if 'pad' in name)


_PAD_RANGES = {cls: _pad_ranges(cls)
               for cls in DBR_TYPES.values() if cls is not None}


def _zero_pads(md_cls, raw):
    # A structure decoded from the wire may hold RSRV's pad garbage; we send
    # zeros.
    ranges = _PAD_RANGES[md_cls]
    if not ranges:
        return raw
    raw = bytearray(raw)
    for offset, size in ranges:
        raw[offset:offset + size] = bytes(size)
    return bytes(raw)


def _as_sequence(data):
    # One element for scalars and text; elements of anything iterable.
    if isinstance(data, (str, bytes, bytearray)) or not isinstance(
            data, Iterable):
        return [data]
    if hasattr(data, 'ndim') and hasattr(data, 'ravel'):
        if data.ndim == 0:
            return [data.item()]
        return data.ravel()
    return data


def _encode_text(text, encoding):
    try:
        return text.encode(encoding)
    except UnicodeEncodeError as ex:
        raise CaprotoValueError(
            f'{text!r:.60} cannot be encoded as {encoding}: {ex}') from ex


def _encode_string_element(value, encoding):
    if isinstance(value, str):
        raw = _encode_text(value, encoding)
    elif isinstance(value, (bytes, bytearray)):
        raw = bytes(value)
    elif isinstance(value, (int, float)):
        raw = str(value).encode('ascii')
    else:
        raise CaprotoTypeError(
            f'cannot send {value!r:.80} as a CA string (need str or bytes)')
    if len(raw) >= MAX_STRING_SIZE:
        raise CaprotoValueError(
            f'string of {len(raw)} bytes does not fit a CA string element '
            f'(at most {MAX_STRING_SIZE - 1} bytes + NUL): {raw[:50]!r}...')
    return raw


def _encode_strings(data, encoding, short_string):
    elements = [_encode_string_element(value, encoding)
                for value in _as_sequence(data)]
    if short_string and len(elements) == 1:
        return elements[0] + b'\x00', 1
    return (b''.join(e.ljust(MAX_STRING_SIZE, b'\x00') for e in elements),
            len(elements))


def encode(data_type: int, data: Any, *, metadata: Any = None,
           encoding: str = _DEFAULT_ENCODING,
           short_string: bool = False) -> tuple[tuple, int]:
    """Encode values (and metadata) of ``data_type`` for the wire.

    Parameters
    ----------
    data_type : int or ChannelType
        DBR type id 0..38.
    data : scalar, str, bytes, sequence, numpy array, array.array or None
        The values.  Numbers are cast to the big-endian wire type; text is
        encoded with ``encoding``.  For CHAR types, ``bytes`` are sent as is
        and a ``str`` is sent encoded plus a terminating NUL (as
        ``caput -S``).  None sends no elements.
    metadata : DbrTypeBase instance, bytes, tuple, dict or None
        Metadata of compound types; None sends zeroed metadata.  Pad fields
        are always sent as zeros.  A dict maps field names (``status``,
        ``units``, ``enum_strings``, ``timestamp``...) to values.
    encoding : str, optional
        Encoding of ``str`` values (and of units/enum strings given in a
        metadata dict).
    short_string : bool, optional
        Send a single string as strlen+1 bytes (libca's form of a scalar
        DBR_STRING write) instead of a full 40-byte element.

    Returns
    -------
    buffers : tuple
        ``(metadata_bytes, values_bytes)``, unpadded.
    data_count : int
        Number of elements encoded.

    Raises
    ------
    CaprotoValueError
        Unknown type, a string too long for its 40-byte element, a value not
        representable in the wire type, or metadata of the wrong size.
    CaprotoTypeError
        A value or metadata of an unusable type.
    """
    try:
        _, size, md_cls, _, kind, base, _, zeros = _TABLE[data_type]
    except (KeyError, TypeError):
        raise CaprotoValueError(
            f'invalid DBR type {data_type!r} (valid: 0..38)') from None
    if metadata is None:
        md_bytes = zeros
    else:
        md_bytes = _metadata_bytes(data_type, md_cls, metadata, encoding)
    if data is None:
        return (md_bytes, b''), 0
    if kind is _STRING:
        values, count = _encode_strings(data, encoding, short_string)
        return (md_bytes, values), count
    if kind is _CHAR:
        if isinstance(data, (bytes, bytearray, memoryview)):
            values = bytes(data)
            return (md_bytes, values), len(values)
        if isinstance(data, str):
            values = _encode_text(data, encoding) + b'\x00'
            return (md_bytes, values), len(values)
    scalar_type = type(data)
    scalar = data
    if (scalar_type is list or scalar_type is tuple) and len(data) == 1:
        # ``[x]``, the threading client's usual write: as fast as ``x``.
        scalar = data[0]
        scalar_type = type(scalar)
    if scalar_type is float and base in _FLOAT_BASES or scalar_type is int:
        try:
            return (md_bytes, _SCALAR_STRUCTS[base].pack(scalar)), 1
        except (struct.error, OverflowError):
            pass  # out of range: let the backend raise its clear error
    values = _BACKEND.encode(base, _as_sequence(data))
    return (md_bytes, values), len(values) // size
