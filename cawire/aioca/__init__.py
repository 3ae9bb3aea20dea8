"""cawire.aioca: aioca 2.x's function API on the cawire asyncio client.

A drop-in for ``import aioca`` that needs no libca::

    from cawire.aioca import caget, caput, camonitor, FORMAT_TIME

    value = await caget('motor:pos', format=FORMAT_TIME)
    print(value, value.timestamp, value.severity)

See docs/aioca.md for the differences from aioca.
"""
from ._catools import (DEFAULT_TIMEOUT, CAInfo, ChannelInfo, caget, cainfo,
                       camonitor, caput, connect, get_channel_infos, run)
from ._channels import purge_channel_caches
from ._dbr import (DBE_ALARM, DBE_LOG, DBE_PROPERTY, DBE_VALUE, DBR_CHAR,
                   DBR_CHAR_BYTES, DBR_CHAR_STR, DBR_CHAR_UNICODE,
                   DBR_CLASS_NAME, DBR_DOUBLE, DBR_ENUM, DBR_ENUM_STR,
                   DBR_FLOAT, DBR_LONG, DBR_PUT_ACKS, DBR_PUT_ACKT, DBR_SHORT,
                   DBR_STRING, DBR_STSACK_STRING, FORMAT_CTRL, FORMAT_RAW,
                   FORMAT_TIME, InvalidDatatype)
from ._nothing import CANothing
from ._subscription import Subscription
from ._values import ca_extra_fields

__all__ = [
    'Subscription', 'caput', 'caget', 'camonitor', 'connect', 'cainfo',
    'CAInfo', 'CANothing', 'ChannelInfo', 'get_channel_infos',
    'purge_channel_caches', 'run', 'DEFAULT_TIMEOUT', 'InvalidDatatype',
    'DBE_VALUE', 'DBE_LOG', 'DBE_ALARM', 'DBE_PROPERTY',
    'DBR_STRING', 'DBR_SHORT', 'DBR_FLOAT', 'DBR_ENUM', 'DBR_CHAR',
    'DBR_LONG', 'DBR_DOUBLE', 'DBR_CHAR_STR', 'DBR_CHAR_UNICODE',
    'DBR_ENUM_STR', 'DBR_CHAR_BYTES', 'DBR_PUT_ACKT', 'DBR_PUT_ACKS',
    'DBR_STSACK_STRING', 'DBR_CLASS_NAME', 'FORMAT_RAW', 'FORMAT_TIME',
    'FORMAT_CTRL', 'ca_extra_fields',
]
