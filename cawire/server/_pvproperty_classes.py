"""The named ``Pvproperty*`` channel classes of caproto's server API.

``pvproperty(dtype=PvpropertyDouble)`` and the read-only variants
(``PvpropertyDoubleRO``: clients can never write it) are the pvproperty
hooks of :class:`PvpropertyData` on each concrete channel type.
"""
from __future__ import annotations

from ._channel_types import (ChannelByte, ChannelChar, ChannelDouble,
                             ChannelEnum, ChannelFloat, ChannelInteger,
                             ChannelShort, ChannelString)
from ._pvproperty_data import PvpropertyData, _pvproperty_class

__all__ = ('PvpropertyByte', 'PvpropertyByteRO', 'PvpropertyChar',
           'PvpropertyCharRO', 'PvpropertyDouble', 'PvpropertyDoubleRO',
           'PvpropertyEnum', 'PvpropertyEnumRO', 'PvpropertyBoolEnum',
           'PvpropertyBoolEnumRO', 'PvpropertyFloat', 'PvpropertyFloatRO',
           'PvpropertyInteger', 'PvpropertyIntegerRO', 'PvpropertyShort',
           'PvpropertyShortRO', 'PvpropertyString', 'PvpropertyStringRO',
           'PvpropertyReadOnlyData')


class PvpropertyReadOnlyData(PvpropertyData):
    """Base of the ``Pvproperty*RO`` classes: read only for clients."""

    forced_read_only = True


def _read_only(cls: type) -> type:
    return type(cls.__name__ + 'RO', (PvpropertyReadOnlyData, cls),
                {'__module__': __name__})


class _BoolEnum(ChannelEnum):
    """Two-state enum (``Off``/``On`` unless enum_strings are given), with a
    bo record's rules for other indices."""

    def __init__(self, *, enum_strings=('Off', 'On'), **kwargs):
        kwargs.setdefault('enum_rules', 'bo')
        super().__init__(enum_strings=enum_strings, **kwargs)


PvpropertyByte = _pvproperty_class(ChannelByte)
PvpropertyChar = _pvproperty_class(ChannelChar)
PvpropertyDouble = _pvproperty_class(ChannelDouble)
PvpropertyEnum = _pvproperty_class(ChannelEnum)
PvpropertyFloat = _pvproperty_class(ChannelFloat)
PvpropertyInteger = _pvproperty_class(ChannelInteger)
PvpropertyShort = _pvproperty_class(ChannelShort)
PvpropertyString = _pvproperty_class(ChannelString)
PvpropertyBoolEnum = type('PvpropertyBoolEnum', (PvpropertyData, _BoolEnum),
                          {'__module__': __name__})
PvpropertyByteRO = _read_only(PvpropertyByte)
PvpropertyCharRO = _read_only(PvpropertyChar)
PvpropertyDoubleRO = _read_only(PvpropertyDouble)
PvpropertyEnumRO = _read_only(PvpropertyEnum)
PvpropertyFloatRO = _read_only(PvpropertyFloat)
PvpropertyIntegerRO = _read_only(PvpropertyInteger)
PvpropertyShortRO = _read_only(PvpropertyShort)
PvpropertyStringRO = _read_only(PvpropertyString)
PvpropertyBoolEnumRO = _read_only(PvpropertyBoolEnum)
