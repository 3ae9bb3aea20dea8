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
    x.{"sync":{"m":"while","s":"fly"}}   monitor updates synchronised with
                               a named state (cawire.server.states)

Several filters may be combined in one object, and the shorthand may come
before an object. Keys may be unquoted (JSON5, as EPICS 7 accepts).

``sync`` modes, as the IOC's filter: ``while``/``unless`` pass the updates
that happen while the state is set/clear; ``first``/``after`` pass the
first update after the state became set/clear; ``before``/``last`` pass,
at the first update after the state became set/clear, the update that
preceded it (the last one before the change).  The state is looked at when
an update happens (changing it posts nothing), the subscription's initial
update counts as an update, reads are not filtered, and a name whose state
does not exist is not served.  ``{"sync":{"while":"fly"}}`` is the short
form of ``{"sync":{"m":"while","s":"fly"}}``.

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
from collections.abc import Callable, Iterator, Mapping, ValuesView
from typing import Any
from typing import TYPE_CHECKING

import numpy as np

from ..protocol._enums import SubscriptionType
from . import _wire, states

if TYPE_CHECKING:
    from ._channel_data import ChannelData

__all__ = ('ChannelNames', 'FilteredChannel', 'parse_channel_name')

_DBE_VALUE_OR_LOG = int(SubscriptionType.DBE_VALUE | SubscriptionType.DBE_LOG)
_UNQUOTED_KEY_RE = re.compile(r'([{,]\s*)([A-Za-z_][A-Za-z0-9_]*)(\s*:)')
_SHORTHAND_RE = re.compile(r'\[\s*(-?\d*)\s*(?::\s*(-?\d*)\s*)?'
                           r'(?::\s*(-?\d*)\s*)?\]')
_SUPPORTED = ('dbnd', 'dec', 'ts', 'arr', 'sync')
_SYNC_MODES = ('before', 'first', 'last', 'after', 'while', 'unless')


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
    if 'sync' in filters:
        filters['sync'] = sync_options(filters['sync'])
    return base, filters


def sync_options(options: dict) -> tuple[str, str]:
    """(mode, state name) of a sync filter's options (FilterError if bad)."""
    mode, state = options.get('m'), options.get('s')
    for tag in _SYNC_MODES:
        if tag in options:
            if mode is not None and mode != tag:
                raise FilterError(f'sync: modes {mode!r} and {tag!r} given')
            mode, state = tag, options[tag]
    if mode not in _SYNC_MODES:
        raise FilterError(f'sync: mode {mode!r} is not one of '
                          f'{", ".join(_SYNC_MODES)}')
    if not isinstance(state, str) or not state:
        raise FilterError(f'sync: state name {state!r} is not a string')
    return mode, state


class _Relay:
    """Stands for one client subscription on the unfiltered channel."""

    __slots__ = ('channel', 'subscription', 'mask')

    def __init__(self, channel: 'FilteredChannel', subscription):
        self.channel = channel
        self.subscription = subscription
        self.mask = subscription.mask

    def post(self, data: Any) -> None:
        self.channel._update(self.subscription)


class _SyncStage:
    """The sync filter's memory for one subscription: the state seen at its
    previous update, and (before/last) a frozen copy of that update."""

    __slots__ = ('mode', 'state', 'last_state', 'held')

    def __init__(self, mode: str, state: str):
        self.mode = mode
        self.state = state
        self.last_state = False
        self.held: FilteredChannel | None = None

    def admit(self, update: 'FilteredChannel',
              freeze: Callable[[], 'FilteredChannel']
              ) -> 'FilteredChannel | None':
        """What to post for ``update`` (None: nothing); ``freeze`` makes
        the copy kept by before/last."""
        now = states.STATES.is_set(self.state)
        mode = self.mode
        if mode == 'while':
            return update if now else None
        if mode == 'unless':
            return None if now else update
        rising = now and not self.last_state
        falling = self.last_state and not now
        self.last_state = now
        if mode == 'first':
            return update if rising else None
        if mode == 'after':
            return update if falling else None
        # before/last: at the edge, the update that preceded it.
        edge = rising if mode == 'before' else falling
        passed = self.held if edge else None
        self.held = freeze()
        return passed


class FilteredChannel:
    """One client channel of a PV seen through filters.

    Reads and monitor updates pass through the filters; writes and every
    other attribute go to the PV's own channel.
    """

    def __init__(self, data: ChannelData, filters: dict):
        self._data = data
        self._relays: dict = {}
        self._deadband = None
        self._decimation = None
        self._decimation_count = 0
        self._last_sent: float | None = None
        self._now_timestamps = 'ts' in filters
        self._slice: slice | None = None
        self._sync: tuple[str, str] | None = filters.get('sync')
        self._sync_stages: dict[Any, _SyncStage] = {}
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

    @property
    def unfiltered(self) -> ChannelData:
        """The PV's own channel."""
        return self._data

    def __getattr__(self, name: str):
        return getattr(self._data, name)

    def __repr__(self) -> str:
        return f'<FilteredChannel of {self._data!r}>'

    # ---------------------------------------------------------------- reads
    @property
    def max_length(self) -> int:
        """Element count of this view: the slice's length, else the PV's.

        A slice that selects nothing gives a channel of 0 elements, as from
        an IOC: libca then refuses plain gets (caget prints ECA_BADCOUNT)
        and a callback get of 0 elements reads none."""
        if self._slice is None:
            return self._data.max_length
        return len(range(self._data.max_length)[self._slice])

    def __len__(self) -> int:
        if self._slice is None:
            return len(self._data)
        return len(self._data._elements[self._slice])

    def encode_read(self, data_type: int, count: int) -> tuple[bytes, int]:
        """Encode a read reply of the filtered view (slice, read time stamp).

        Parameters
        ----------
        data_type : int
            The DBR type the client asked for.
        count : int
            The element count the client asked for (0: the current count).
        """
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
    def add_subscription(self, subscription: Any) -> None:
        """Subscribe through this channel's filters (deadband, decimation...).
        """
        relay = _Relay(self, subscription)
        self._relays[subscription] = relay
        self._data.add_subscription(relay)
        self._remember_value()

    def post_initial_update(self, subscription: Any) -> None:
        """The update a new subscription gets first (only the sync filter
        may hold it back, as in an IOC)."""
        if self._sync is None:
            subscription.post(self)
        else:
            self._post_synchronised(subscription)

    def remove_subscription(self, subscription: Any) -> None:
        """Cancel a subscription made through this channel (none: no error)."""
        self._sync_stages.pop(subscription, None)
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
        if self._sync is None:
            subscription.post(self)
        else:
            self._post_synchronised(subscription)

    def _post_synchronised(self, subscription: Any) -> None:
        stage = self._sync_stages.get(subscription)
        if stage is None:
            mode, state = self._sync or ('while', '')
            stage = self._sync_stages[subscription] = _SyncStage(mode, state)
        passed = stage.admit(self, self._frozen)
        if passed is not None:
            subscription.post(passed)

    def _frozen(self) -> 'FilteredChannel':
        """This channel as it is now, unaffected by later changes."""
        data = copy.copy(self._data)
        data._payload_cache = {}
        data._alarm = copy.copy(self._data._alarm)
        # Not copy.copy: __getattr__ would recurse on the empty copy.
        view = object.__new__(FilteredChannel)
        view.__dict__.update(self.__dict__, _data=data)
        return view


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

    def get(self, name: str, default: Any = None) -> Any:
        """The channel ``name`` stands for (a filtered view), or ``default``."""
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

    def values(self) -> ValuesView:
        """The channels of the PV database (without filtered views)."""
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
            field = self._record_field(name)
            return None if field is None else (field, {})
        base, filters = parsed
        data = self._pvdb.get(base)
        if data is None and base.endswith('.VAL'):
            data = self._pvdb.get(base[:-4])
        if data is None:
            data = self._record_field(base)
        if data is None:
            return None
        sync = filters.get('sync')
        if sync is not None and not states.STATES.exists(sync[1]):
            return None  # as an IOC: the name of a missing state fails
        return data, filters

    def _record_field(self, name: str) -> Any:
        """``X.FIELD`` of a record PV ``X`` served without its fields in
        the pvdb (a channel made from a PVSpec, as caproto serves it)."""
        record, _, field = name.rpartition('.')
        parent = self._pvdb.get(record) if record else None
        fields = getattr(parent, 'record_fields', None)
        if fields is None:
            return None
        return fields.fields.get(field)

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
