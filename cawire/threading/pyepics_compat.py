"""The pyepics-compatible API at the path caproto-based code imports.

One implementation: this module re-exports :mod:`cawire.pyepics` (with the
names caproto's ``pyepics_compat`` also offers, such as ``ChannelType``).
"""
from ..protocol._enums import AccessRights, ChannelType
from ..pyepics import (PV, ca, caget, caget_many, cainfo, camonitor,
                       camonitor_clear, caput, caput_many, dbr, get_pv, poll)
from ..pyepics.pv import clear_pvcache, fmt_time

__all__ = ('PV', 'get_pv', 'caget', 'caput', 'cainfo', 'camonitor',
           'camonitor_clear', 'caget_many', 'caput_many', 'poll', 'ca', 'dbr',
           'fmt_time', 'clear_pvcache', 'AccessRights', 'ChannelType')
