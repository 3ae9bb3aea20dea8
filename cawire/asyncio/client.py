"""The asyncio Channel Access client, with caproto's asyncio client API.

::

    from cawire.asyncio.client import Context

    async with Context() as ctx:
        pv, = await ctx.get_pvs('motor:pos')
        reading = await pv.read(data_type='time')
        async for response in pv.subscribe():
            ...
"""
from __future__ import annotations

from ..threading._defaults import CONTEXT_DEFAULT_TIMEOUT, PV_DEFAULT_TIMEOUT
from ._broadcaster import SharedBroadcaster
from ._circuit_manager import CircuitManager
from ._context import Context
from ._pv import PV
from ._subscription import Subscription

#: caproto's name for the circuit manager.
VirtualCircuitManager = CircuitManager

__all__ = ('Context', 'PV', 'Subscription', 'SharedBroadcaster',
           'CircuitManager', 'VirtualCircuitManager',
           'CONTEXT_DEFAULT_TIMEOUT', 'PV_DEFAULT_TIMEOUT')
