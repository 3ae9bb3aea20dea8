"""The cawire Channel Access server and IOC API.

Write an IOC as a :class:`PVGroup` with :class:`pvproperty` attributes and
serve it with :func:`run` (see ``cawire.ioc_examples``). Everything here is
asyncio-based; :class:`Context` is the server itself. The names follow
caproto's server API (``caproto.server`` -> ``cawire.server``; record fields
in ``cawire.server.records``).
"""
from ._channel_data import ChannelAlarm, ChannelData, Forbidden, SkipWrite
from ._channel_types import (ChannelByte, ChannelChar, ChannelDouble,
                             ChannelEnum, ChannelFloat, ChannelInteger,
                             ChannelNumeric, ChannelShort, ChannelString)
from ._cli import ioc_arg_parser, run, start_server, template_arg_parser
from ._pv_pair import get_pv_pair_wrapper
from ._pvfunction import pvfunction
from ._pvgroup import (PVGroup, PvpropertyData, SubGroup, expand_macros,
                       pvproperty, scan_wrapper)
from ._pvspec import PVSpec, channeldata_from_pvspec, data_class_from_pvspec
from ._pvproperty_classes import (PvpropertyBoolEnum, PvpropertyBoolEnumRO,
                                  PvpropertyByte, PvpropertyByteRO,
                                  PvpropertyChar, PvpropertyCharRO,
                                  PvpropertyDouble, PvpropertyDoubleRO,
                                  PvpropertyEnum, PvpropertyEnumRO,
                                  PvpropertyFloat, PvpropertyFloatRO,
                                  PvpropertyInteger, PvpropertyIntegerRO,
                                  PvpropertyReadOnlyData, PvpropertyShort,
                                  PvpropertyShortRO, PvpropertyString,
                                  PvpropertyStringRO)
from ._server import AsyncioAsyncLayer, Context
from ._subscriptions import Subscription
from ._threadsafe_queue import ThreadsafeQueue

#: caproto's name for the ``async_lib`` object handed to hooks.
AsyncLibraryLayer = AsyncioAsyncLayer


__all__ = ('ChannelAlarm', 'ChannelByte', 'ChannelChar', 'ChannelData',
           'ChannelDouble', 'ChannelEnum', 'ChannelFloat', 'ChannelInteger',
           'ChannelNumeric', 'ChannelShort', 'ChannelString', 'Forbidden',
           'SkipWrite', 'ioc_arg_parser', 'template_arg_parser', 'run',
           'start_server', 'PVGroup', 'PvpropertyData', 'SubGroup',
           'pvproperty', 'scan_wrapper', 'get_pv_pair_wrapper', 'pvfunction',
           'expand_macros', 'PVSpec', 'channeldata_from_pvspec',
           'data_class_from_pvspec', 'AsyncioAsyncLayer', 'AsyncLibraryLayer',
           'Context', 'Subscription', 'ThreadsafeQueue',
           'PvpropertyBoolEnum', 'PvpropertyBoolEnumRO', 'PvpropertyByte',
           'PvpropertyByteRO', 'PvpropertyChar', 'PvpropertyCharRO',
           'PvpropertyDouble', 'PvpropertyDoubleRO', 'PvpropertyEnum',
           'PvpropertyEnumRO', 'PvpropertyFloat', 'PvpropertyFloatRO',
           'PvpropertyInteger', 'PvpropertyIntegerRO',
           'PvpropertyReadOnlyData', 'PvpropertyShort', 'PvpropertyShortRO',
           'PvpropertyString', 'PvpropertyStringRO')
