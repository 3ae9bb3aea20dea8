"""Channel names beyond the PV names: ``NAME.VAL`` and channel filters.

EPICS 3.15+ IOCs accept server-side filters in the channel name, after the
record (and optional ``.FIELD``)::

    x.{"dbnd":{"abs":1.5}}     monitor deadband (also "rel" in percent,
                               or "d" with "m": "abs"/"rel")
    x.{"dec":{"n":4}}          every 4th monitor update
    x.{"ts":{}}                timestamps of the moment of the read/update
    x.{"arr":{"s":2,"i":1,"e":5}}   array elements 2..5 (end inclusive,
                               negative counts from the end)
    x.[2:5]  x.[0:2:8]  x.[3]  the arr shorthand ([s:e], [s:i:e], [n])

Several filters may be combined in one object, and the shorthand may come
before an object. Keys may be unquoted (JSON5, as EPICS 7 accepts). The
``sync`` filter needs the IOC's named states (dbState), which cawire does
not have: a name using it is not served (the search goes unanswered).

:class:`ChannelNames` is the server's view of a pvdb: names in the pvdb
are served as they are; ``x.VAL`` of any PV is the PV itself; a name with
filters resolves, at each CREATE_CHAN, to a new :class:`FilteredChannel`
(filter state is per channel, as in an IOC).
"""
from __future__ import annotations

import copy
import json
import math
import re
import time
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from ..protocol._enums import SubscriptionType
from . import _wire

__all__ = ('ChannelNames', 'FilteredChannel', 'parse_channel_name')

_DBE_VALUE_OR_LOG = int(SubscriptionType.DBE_VALUE | SubscriptionType.DBE_LOG)
_UNQUOTED_KEY_RE = re.compile(r'([{,]\s*)([A-Za-z_][A-Za-z0-9_]*)(\s*:)')
_SHORTHAND_RE = re.compile(r'\[\s*(-?\d*)\s*(?::\s*(-?\d*)\s*)?'
                           r'(?::\s*(-?\d*)\s*)?\]')
_SUPPORTED = ('dbnd', 'dec', 'ts', 'arr')


class FilterError(ValueError):
    """A channel name's filter specification is invalid or unsupported."""


def _json_object(text: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        try:
            value = json.loads(_UNQUOTED_KEY_RE.sub(r'\1"\2"\3', text))
        except json.JSONDecodeError as exc:
            raise FilterError(f'bad filter JSON {text!r}: {exc}') from None
    if not isinstance(value, dict):
        raise FilterError(f'filters must be a JSON object: {text!r}')
    return value


def _shorthand(match: re.Match) -> dict:
    start, second, third = match.groups()
    if second is None and third is None:
        index = int(start) if start else 0
        return {'s': index, 'e': index}
    if third is None:  # [s:e]
        return {'s': int(start or 0), 'e': int(second) if second else -1}
    return {'s': int(start or 0), 'i': int(second or 1),
            'e': int(third) if third else -1}


def parse_channel_name(name: str) -> tuple[str, dict] | None:
    """Split ``name`` into (channel name without filters, filters).

    Returns None when the name has no filter part. Raises FilterError for a
    filter part that is invalid or uses an unsupported filter.
    """
    positions = [index for index in (name.find('{'), name.find('['))
                 if index >= 0]
    if not positions:
        return None
    start = min(positions)
    base, spec = name[:start], name[start:]
    if base.endswith('.'):
        base = base[:-1]
    filters: dict[str, Any] = {}
    match = _SHORTHAND_RE.match(spec)
    if match is not None:
        filters['arr'] = _shorthand(match)
        spec = spec[match.end():]
    if spec:
        for key, options in _json_object(spec).items():
            filters[key] = options if isinstance(options, dict) else {}
    unknown = set(filters) - set(_SUPPORTED)
    if unknown:
        raise FilterError(f'filters {sorted(unknown)} are not supported '
                          f'(supported: {", ".join(_SUPPORTED)})')
    return base, filters


class _Relay:
    """Stands for one client subscription on the unfiltered channel."""

    __slots__ = ('channel', 'subscription', 'mask')

    def __init__(self, channel: 'FilteredChannel', subscription):
        self.channel = channel
        self.subscription = subscription
        self.mask = subscription.mask

    def post(self, data) -> None:
        self.channel._update(self.subscription)


class FilteredChannel:
    """One client channel of a PV seen through filters.

    Reads and monitor updates pass through the filters; writes and every
    other attribute go to the PV's own channel.
    """

    def __init__(self, data, filters: dict):
        self._data = data
        self._relays: dict = {}
        self._deadband = None
        self._decimation = None
        self._decimation_count = 0
        self._last_sent: float | None = None
        self._now_timestamps = 'ts' in filters
        self._slice: slice | None = None
        if 'dbnd' in filters:
            self._deadband = self._deadband_options(filters['dbnd'])
        if 'dec' in filters:
            count = int(filters['dec'].get('n', 1))
            if count < 1:
                raise FilterError('dec: n must be >= 1')
            self._decimation = count
        if 'arr' in filters:
            self._slice = self._array_slice(filters['arr'], data.max_length)

    @staticmethod
    def _deadband_options(options: dict) -> tuple[str, float]:
        if 'abs' in options:
            return 'abs', float(options['abs'])
        if 'rel' in options:
            return 'rel', float(options['rel'])
        mode = options.get('m', options.get('mode', 'abs'))
        if mode not in ('abs', 'rel'):
            raise FilterError(f'dbnd: mode {mode!r} is not abs or rel')
        return mode, float(options.get('d', 0.0))

    @staticmethod
    def _array_slice(options: dict, length: int) -> slice:
        start = int(options.get('s', 0))
        step = int(options.get('i', 1))
        end = int(options.get('e', -1))
        if step < 1:
            raise FilterError('arr: i must be >= 1')
        if start < 0:
            start += length
        if end < 0:
            end += length
        start = min(max(start, 0), length)
        end = min(end, length - 1)
        return slice(start, end + 1, step)

    def __getattr__(self, name: str):
        return getattr(self._data, name)

    def __repr__(self) -> str:
        return f'<FilteredChannel of {self._data!r}>'

    # ---------------------------------------------------------------- reads
    @property
    def max_length(self) -> int:
        if self._slice is None:
            return self._data.max_length
        return max(len(range(self._data.max_length)[self._slice]), 1)

    def __len__(self) -> int:
        if self._slice is None:
            return len(self._data)
        return len(self._data._elements[self._slice])

    def encode_read(self, data_type: int, count: int):
        if self._slice is None and not self._now_timestamps:
            return self._data.encode_read(data_type, count)
        view = copy.copy(self._data)
        view._payload_cache = {}
        if self._slice is not None:
            view._elements = self._data._elements[self._slice]
            if isinstance(view._elements, np.ndarray) and \
                    not len(view._elements):
                view._elements = view._elements[:0]
        if self._now_timestamps:
            view.timestamp = time.time()
        return _wire.encode_channel(view, data_type, count)

    # ------------------------------------------------------------- monitors
    def add_subscription(self, subscription) -> None:
        relay = _Relay(self, subscription)
        self._relays[subscription] = relay
        self._data.add_subscription(relay)
        self._remember_value()

    def remove_subscription(self, subscription) -> None:
        relay = self._relays.pop(subscription, None)
        if relay is not None:
            self._data.remove_subscription(relay)

    def _scalar(self) -> float | None:
        elements = self._data._elements
        if isinstance(elements, np.ndarray) and len(elements) == 1 and \
                elements.dtype.kind in 'iuf':
            return float(elements[0])
        return None

    def _remember_value(self) -> None:
        if self._last_sent is None:
            self._last_sent = self._scalar()

    def _passes_deadband(self) -> bool:
        if self._deadband is None:
            return True
        value = self._scalar()
        if value is None:
            return True
        last = self._last_sent
        mode, band = self._deadband
        if mode == 'rel':
            band = band * abs(last) / 100.0 if last is not None else 0.0
        if last is None or math.isnan(last) or math.isnan(value) or \
                math.isinf(value) or math.isinf(last) or \
                abs(last - value) > band:
            self._last_sent = value
            return True
        return False

    def _update(self, subscription) -> None:
        if not self._passes_deadband():
            return
        if self._decimation is not None:
            # As the IOC's dec filter: every n-th update after the first
            # (initial) one is sent.
            self._decimation_count += 1
            if self._decimation_count % self._decimation:
                return
        subscription.post(self)


class ChannelNames(Mapping):
    """The names a server answers for a pvdb (see the module docstring).

    Wraps (does not copy) the pvdb, so PVs added to it later are served.
    """

    def __init__(self, pvdb: Mapping):
        self._pvdb = pvdb
        self._parsed: dict[str, tuple[str, dict] | None] = {}

    def __getitem__(self, name: str):
        data = self._pvdb.get(name)
        if data is not None:
            return data
        data = self._resolve(name)
        if data is None:
            raise KeyError(name)
        return data

    def get(self, name: str, default=None):
        data = self._pvdb.get(name)
        if data is not None:
            return data
        data = self._resolve(name)
        return default if data is None else data

    def __contains__(self, name: object) -> bool:
        if name in self._pvdb:
            return True
        return isinstance(name, str) and self._target(name) is not None

    def __iter__(self) -> Iterator[str]:
        return iter(self._pvdb)

    def __len__(self) -> int:
        return len(self._pvdb)

    def values(self):
        return self._pvdb.values()

    def _target(self, name: str) -> tuple[Any, dict] | None:
        """(PV channel, filters) a name stands for, or None."""
        if name not in self._parsed:
            if len(self._parsed) > 10000:
                self._parsed.clear()  # clients choose names: stay bounded
            try:
                parsed = parse_channel_name(name)
            except FilterError:
                parsed = None
            if parsed is None and name.endswith('.VAL'):
                parsed = (name[:-4], {})
            self._parsed[name] = parsed
        parsed = self._parsed[name]
        if parsed is None:
            return None
        base, filters = parsed
        data = self._pvdb.get(base)
        if data is None and base.endswith('.VAL'):
            data = self._pvdb.get(base[:-4])
        if data is None:
            return None
        return data, filters

    def _resolve(self, name: str):
        target = self._target(name)
        if target is None:
            return None
        data, filters = target
        if not filters:
            return data
        try:
            return FilteredChannel(data, filters)
        except (FilterError, ValueError, TypeError):
            return None
