"""The cawire Channel Access server and IOC API.

Write an IOC as a :class:`PVGroup` with :class:`pvproperty` attributes and
serve it with :func:`run` (see ``cawire.ioc_examples``). Everything here is
asyncio-based; :class:`Context` is the server itself.
"""
from ._channel_data import ChannelAlarm, ChannelData
from ._channel_types import (ChannelByte, ChannelChar, ChannelDouble,
                             ChannelEnum, ChannelFloat, ChannelInteger,
                             ChannelNumeric, ChannelShort, ChannelString)
from ._cli import ioc_arg_parser, run, start_server, template_arg_parser
from ._pvgroup import (PVGroup, PvpropertyData, SubGroup, expand_macros,
                       pvproperty)
from ._server import AsyncioAsyncLayer, Context
from ._subscriptions import Subscription

__all__ = ('ChannelAlarm', 'ChannelByte', 'ChannelChar', 'ChannelData',
           'ChannelDouble', 'ChannelEnum', 'ChannelFloat', 'ChannelInteger',
           'ChannelNumeric', 'ChannelShort', 'ChannelString',
           'ioc_arg_parser', 'template_arg_parser', 'run', 'start_server',
           'PVGroup', 'PvpropertyData', 'SubGroup', 'pvproperty',
           'expand_macros', 'AsyncioAsyncLayer', 'Context', 'Subscription')
