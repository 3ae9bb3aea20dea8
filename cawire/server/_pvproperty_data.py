"""The channel side of a pvproperty: :class:`PvpropertyData` (the
pvproperty's hooks on a ChannelData) and the choice of ChannelData class for
a ``dtype``/``value`` pair (:func:`data_class_for`)."""
from __future__ import annotations

import asyncio
import enum
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..protocol._enums import AlarmSeverity, ChannelType
from ..protocol._exceptions import CaprotoValueError
from ._channel_data import ChannelData
from ._channel_types import (ChannelByte, ChannelChar, ChannelDouble,
                             ChannelEnum, ChannelFloat, ChannelInteger,
                             ChannelShort, ChannelString)
from ._scan import run_scan

if TYPE_CHECKING:
    from ._pvgroup import PVGroup, pvproperty
    from .records import RecordFields

__all__ = ('PvpropertyData', 'data_class_for')

_BOOL_STRINGS = ('Off', 'On')
_TYPE_CLASSES = {
    float: ChannelDouble, int: ChannelInteger, str: ChannelChar,
    bytes: ChannelByte, bool: ChannelEnum,
    ChannelType.DOUBLE: ChannelDouble, ChannelType.FLOAT: ChannelFloat,
    ChannelType.LONG: ChannelInteger, ChannelType.INT: ChannelShort,
    ChannelType.ENUM: ChannelEnum, ChannelType.STRING: ChannelString,
    ChannelType.CHAR: ChannelChar,
}


class PvpropertyData:
    """Mixin giving a ChannelData its pvproperty hooks and group."""

    #: The ``Pvproperty*RO`` classes refuse client writes whatever
    #: ``read_only`` says.
    forced_read_only = False

    def __class_getitem__(cls, fields: Any) -> type:
        # ``PvpropertyDouble[AiFields]``: an annotation naming the record
        # type; the class itself.
        return cls
    # Provided by the ChannelData class this mixin is combined with.
    record_fields: Any
    alarm: Any

    def __init__(self, *, pvname: str, group: 'PVGroup',
                 prop: 'pvproperty', **kwargs: Any):
        self.pvname = pvname
        self.group = group
        self.pvspec = prop
        self.name = prop.name
        self.__doc__ = prop.doc
        if self.forced_read_only:
            kwargs['read_only'] = True
        super().__init__(**kwargs)
        own_verify = type(self).verify_value is not PvpropertyData.verify_value
        self.has_async_write = prop.put_hook is not None or own_verify
        own_read = type(self).read is not PvpropertyData.read
        self.has_async_read = prop.get_hook is not None or own_read
        # The server skips channels whose hook attribute is None.
        if prop.startup_hook is None and prop.scan_runner is None:
            self.server_startup = None  # type: ignore[method-assign,assignment]
        if prop.shutdown_hook is None:
            self.server_shutdown = None  # type: ignore[method-assign,assignment]

    async def verify_value(self, value: Any) -> Any:
        """Run the pvproperty's putter (if any) on a value being written.

        An exception from the putter refuses the write.

        Returns
        -------
        Any
            What the putter returns (None keeps ``value``, ``SkipWrite``
            stores nothing), or ``value`` itself when there is no putter.
        """
        put = self.pvspec.put_hook
        if put is None:
            return value
        return await put(self.group, self, value)

    async def read(self: Any, data_type: int) -> None:  # self: + ChannelData
        """Run the pvproperty's getter (if any) before a client read.

        A value the getter returns is written to the channel (without the
        putter) and is what the client reads.
        """
        get = self.pvspec.get_hook
        if get is None:
            return
        value = await get(self.group, self)
        if value is not None:
            await self.write(value, verify_value=False)

    async def server_startup(self, async_lib: Any) -> None:
        """Run the pvproperty's startup hook and scan loop (concurrently).

        Called once by the server when it starts; the attribute is ``None``
        on channels that have neither.
        """
        tasks = []
        if self.pvspec.startup_hook is not None:
            tasks.append(self.pvspec.startup_hook(self.group, self, async_lib))
        if self.pvspec.scan_runner is not None:
            tasks.append(self.pvspec.scan_runner(self.group, self, async_lib))
        await asyncio.gather(*tasks)

    async def server_shutdown(self, async_lib: Any) -> None:
        """Run the pvproperty's shutdown hook; called when the server stops."""
        hook = self.pvspec.shutdown_hook
        assert hook is not None  # otherwise this method is None
        await hook(self.group, self, async_lib)

    @property
    def fields(self) -> dict:
        """Field name to channel of a record-mocking PV (else empty)."""
        if self.record_fields is None:
            return {}
        return self.record_fields.fields

    @property
    def field_inst(self) -> 'RecordFields | None':
        """The RecordFields of a record-mocking PV, or None."""
        return self.record_fields

    @property
    def record_type(self) -> str | None:
        """The record type this PV mocks (``'ao'``...), or None."""
        return self.pvspec.record

    def _scan_period(self, period: float, use_scan_field: bool) -> float:
        if not use_scan_field or self.record_fields is None:
            return period
        scan = self.record_fields.fields['SCAN'].value
        if scan == 'Passive' and not self.record_fields.scan_written:
            return period  # the decorator's period until SCAN is written
        return self.record_fields.scan_rate_sec or 0.0

    async def scan_loop(self, async_lib: Any, func: Callable, period: float, *,
                        subtract_elapsed: bool = True,
                        stop_on_error: bool = False,
                        failure_severity: AlarmSeverity = AlarmSeverity.MAJOR_ALARM,
                        use_scan_field: bool = False) -> None:
        """Call ``func(group, self, async_lib)`` periodically (see
        :func:`scan_wrapper`)."""
        await run_scan(
            self.group, self, async_lib, func,
            lambda: self._scan_period(period, use_scan_field),
            subtract_elapsed=subtract_elapsed, stop_on_error=stop_on_error,
            failure_severity=failure_severity)


_data_classes: dict[type, type] = {}


def _pvproperty_class(base: type) -> type:
    if issubclass(base, PvpropertyData):
        return base  # already a Pvproperty* class (dtype=PvpropertyDouble)
    cls = _data_classes.get(base)
    if cls is None:
        cls = type(f'Pvproperty{base.__name__.replace("Channel", "")}',
                   (PvpropertyData, base), {'__module__': __name__})
        _data_classes[base] = cls
    return cls


def data_class_for(dtype: Any, value: Any) -> tuple[type, dict]:
    """ChannelData class and keyword adjustments for a dtype/value pair."""
    extra: dict[str, Any] = {}
    if dtype is None:
        if isinstance(value, enum.IntEnum):
            dtype = type(value)
        elif isinstance(value, bool):
            dtype = bool
        elif isinstance(value, (int, np.integer)):
            dtype = int
        elif isinstance(value, (float, np.floating)):
            dtype = float
        elif isinstance(value, str):
            dtype = str
        elif isinstance(value, bytes):
            dtype = bytes
        elif isinstance(value, np.ndarray):
            dtype = {'f': float, 'i': int, 'u': int, 'b': int,
                     'U': ChannelType.STRING}.get(value.dtype.kind, float)
            if value.dtype == np.float32:
                dtype = ChannelType.FLOAT
            elif value.dtype == np.int16:
                dtype = ChannelType.INT
            elif value.dtype == np.uint8:
                dtype = bytes
        elif isinstance(value, Sequence) and len(value):
            first = value[0]
            if isinstance(first, str):
                dtype = ChannelType.STRING
            elif isinstance(first, float):
                dtype = float
            else:
                dtype = int
        else:
            # caproto: a pvproperty without value or dtype is an integer
            dtype = int if value is None else type(value)
    if isinstance(dtype, type) and issubclass(dtype, ChannelData):
        return dtype, extra
    if isinstance(dtype, type) and issubclass(dtype, enum.IntEnum):
        extra['enum_strings'] = tuple(member.name for member in dtype)
        return ChannelEnum, extra
    if dtype is bool:
        # Two states as a bo record has them (an index beyond reads as
        # 'Illegal_Value', as from a C IOC).
        extra.update(enum_strings=_BOOL_STRINGS, enum_rules='bo')
    if dtype == ChannelType.CHAR and value is not None \
            and not isinstance(value, str):
        return ChannelByte, extra
    try:
        return _TYPE_CLASSES[dtype], extra
    except (KeyError, TypeError):
        raise CaprotoValueError(f'unsupported pvproperty dtype {dtype!r}') \
            from None
