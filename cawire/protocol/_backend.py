"""Value backends: how numeric DBR values become Python arrays and back.

Two backends exist.  'numpy' (the default when numpy imports) decodes a
payload into a read-only big-endian ``ndarray`` *view* of the received
memory: no copy, constant time in the array size.  'array' uses the stdlib
``array.array``, which has no big-endian mode, so decoding byteswaps into a
new array (one copy).  Strings are not handled here: every backend gives
lists of ``bytes`` for them (see ``_payload``).

``select_backend(name)`` switches the process-wide backend; modules that
precompute per-type tables register a listener to rebuild them.
"""
import array
import numbers
import sys
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

from ._enums import ChannelType
from ._exceptions import CaprotoValueError

numpy: ModuleType | None
try:
    import numpy
except ImportError:  # pragma: no cover - numpy is a runtime dependency
    numpy = None

#: ``decode(payload, offset, count) -> array`` of one base type.
Decoder = Callable[[Any, int, int], Any]

# ``backend`` itself is not star-exported: a copy imported elsewhere would go
# stale after select_backend(); use get_backend() or _backend.backend.
__all__ = ('Backend', 'get_backend', 'select_backend', 'available_backends',
           'register_backend_listener', 'NUMERIC_DTYPES')

#: Wire (big-endian) numpy dtype strings of the numeric base types.
NUMERIC_DTYPES = {
    ChannelType.INT: '>i2',
    ChannelType.FLOAT: '>f4',
    ChannelType.ENUM: '>u2',
    ChannelType.CHAR: 'u1',
    ChannelType.LONG: '>i4',
    ChannelType.DOUBLE: '>f8',
}

_LITTLE_ENDIAN_HOST = sys.byteorder == 'little'


def _to_number(value: Any) -> Any:
    """A real number from a number or its text; TypeError otherwise."""
    if isinstance(value, (str, bytes)):
        return float(value)
    if not isinstance(value, numbers.Real):
        # None, complex, containers...: refuse rather than guess (numpy would
        # turn None into NaN and drop imaginary parts).
        raise TypeError(f'{value!r:.40} is not a real number')
    return value


class Backend:
    """A value backend.

    Attributes
    ----------
    name : str
    array_types : tuple of type
        Array types this backend produces (for ``isinstance`` checks).
    type_map : dict
        ChannelType (numeric base type) -> numpy dtype or array typecode.
    """

    name: str = ''
    array_types: tuple[type, ...] = ()
    type_map: dict[ChannelType, Any] = {}

    def decoder(self, native: ChannelType) -> Decoder:
        """A function ``(payload, offset, count) -> array`` for a base type."""
        raise NotImplementedError

    def encode(self, native: ChannelType, values: Sequence[Any]
               ) -> bytes | memoryview:
        """Big-endian wire bytes of ``values`` (a sequence) of a base type.

        Raises
        ------
        CaprotoValueError
            A value cannot be represented in the wire type.
        """
        raise NotImplementedError

    def __repr__(self) -> str:
        return f'<Backend {self.name!r}>'


class _NumpyBackend(Backend):
    name = 'numpy'

    def __init__(self) -> None:
        assert numpy is not None
        self.array_types = (numpy.ndarray,)
        self.type_map = {t: numpy.dtype(code)
                         for t, code in NUMERIC_DTYPES.items()}

    def decoder(self, native: ChannelType) -> Decoder:
        assert numpy is not None
        dtype = self.type_map[native]
        frombuffer = numpy.frombuffer

        def decode(payload: Any, offset: int, count: int) -> Any:
            return frombuffer(payload, dtype, count, offset)
        return decode

    def encode(self, native: ChannelType, values: Sequence[Any]
               ) -> bytes | memoryview:
        assert numpy is not None
        dtype = self.type_map[native]
        try:
            arr = numpy.asarray(values)
            if arr.dtype == dtype:
                # The caller's own array: copy so later edits do not change
                # what we send.
                return arr.tobytes()
            if arr.dtype.kind == 'c':
                raise TypeError('complex values are not supported')
            if arr.dtype.kind in 'USO':
                items = arr.ravel().tolist()
                arr = numpy.array([_to_number(item) for item in items])
                if arr.dtype.kind == 'O' and dtype.kind == 'f':
                    arr = arr.astype(numpy.float64)  # ints beyond int64
            if dtype.kind in 'iu' and arr.size:
                self._check_integer_range(arr, dtype, native)
            # A fresh array: hand out its memory without another copy, seen
            # as uint8 (memoryview cannot cast a non-native format).  Values
            # beyond the float32 range become inf, as a C cast does; integer
            # ranges were checked above.
            with numpy.errstate(over='ignore'):
                converted = numpy.ascontiguousarray(
                    arr.astype(dtype).reshape(-1))
            return memoryview(converted.view(numpy.uint8))
        except (ValueError, TypeError, OverflowError) as ex:
            raise CaprotoValueError(
                f'cannot convert {values!r:.80} to {native.name}: {ex}'
            ) from ex

    @staticmethod
    def _check_integer_range(arr: Any, dtype: Any,
                             native: ChannelType) -> None:
        assert numpy is not None
        # numpy casts wrap around silently (70000 -> 4464 as int16); a value
        # the wire type cannot hold is the caller's error, as it is for the
        # 'array' backend.
        if arr.dtype.kind == 'b':
            return
        info = numpy.iinfo(dtype)
        if arr.dtype.kind == 'f' and not numpy.isfinite(arr).all():
            raise CaprotoValueError(
                f'cannot send non-finite values as {native.name}')
        low, high = arr.min(), arr.max()
        if low < info.min or high > info.max:
            raise CaprotoValueError(
                f'values [{low}, {high}] out of range for {native.name} '
                f'[{info.min}, {info.max}]')


# array.array typecodes with the item size the wire needs.
def _typecode(candidates: str, size: int) -> str:
    for code in candidates:
        if array.array(code).itemsize == size:
            return code
    raise ImportError(f'no array typecode of {size} bytes')  # pragma: no cover


class _ArrayBackend(Backend):
    name = 'array'
    array_types = (array.array,)

    def __init__(self) -> None:
        self.type_map = {
            ChannelType.INT: _typecode('h', 2),
            ChannelType.FLOAT: _typecode('f', 4),
            ChannelType.ENUM: _typecode('H', 2),
            ChannelType.CHAR: 'B',
            ChannelType.LONG: _typecode('il', 4),
            ChannelType.DOUBLE: _typecode('d', 8),
        }

    def decoder(self, native: ChannelType) -> Decoder:
        typecode = self.type_map[native]
        itemsize = array.array(typecode).itemsize
        swap = _LITTLE_ENDIAN_HOST and itemsize > 1

        def decode(payload: Any, offset: int, count: int) -> array.array:
            arr = array.array(typecode)
            arr.frombytes(payload[offset:offset + count * itemsize])
            if swap:
                arr.byteswap()
            return arr
        return decode

    def encode(self, native: ChannelType, values: Sequence[Any]
               ) -> bytes | memoryview:
        typecode = self.type_map[native]
        convert: Callable[[Any], float | int]
        if typecode in 'fd':
            def convert(value: Any) -> float:
                return float(_to_number(value))
        else:
            def convert(value: Any) -> int:
                return int(_to_number(value))
        try:
            if isinstance(values, array.array) and values.typecode == typecode:
                arr = array.array(typecode, values)
            else:
                arr = array.array(typecode, [convert(v) for v in values])
        except (ValueError, TypeError, OverflowError) as ex:
            raise CaprotoValueError(
                f'cannot convert {values!r:.80} to {native.name}: {ex}'
            ) from ex
        if _LITTLE_ENDIAN_HOST and arr.itemsize > 1:
            arr.byteswap()
        return arr.tobytes()


_BACKENDS: dict[str, Backend] = {'array': _ArrayBackend()}
if numpy is not None:
    _BACKENDS['numpy'] = _NumpyBackend()

#: The backend in use (numpy when available).
backend: Backend = _BACKENDS['numpy' if numpy is not None else 'array']
_listeners: list[Callable[[Backend], None]] = []


def get_backend() -> Backend:
    """The backend currently in use."""
    return backend


def available_backends() -> tuple[str, ...]:
    """Names of the backends that can be selected."""
    return tuple(sorted(_BACKENDS))


def register_backend_listener(callback: Callable[[Backend], None]) -> None:
    """Call ``callback(backend)`` now and whenever the backend changes."""
    _listeners.append(callback)
    callback(backend)


def select_backend(name: str) -> Backend:
    """Make ``name`` ('numpy' or 'array') the process-wide value backend.

    Raises
    ------
    CaprotoValueError
        Unknown or unavailable backend.
    """
    global backend
    try:
        selected = _BACKENDS[name]
    except KeyError:
        raise CaprotoValueError(
            f'unknown backend {name!r}; available: {available_backends()}'
        ) from None
    backend = selected
    for callback in _listeners:
        callback(selected)
    return selected
