"""caproto's synchronous client (``caproto.sync.client``) on cawire.

``read``, ``write``, ``read_write_read``, ``subscribe``, ``block`` and
``interrupt`` take caproto 1.3.0's arguments, defaults and return the same
response objects; failures raise the same exception types
(``CaprotoTimeoutError``, ``ErrorResponseReceived``).

Deliberate differences (docs/sync-client.md): the calls share one
threading-client Context, so a second call on the same name reuses the
connection instead of searching and connecting again; ``repeater=True``
does not spawn a repeater (the client registers with a running one).
"""
from __future__ import annotations

import inspect
import queue
import threading
import time
import weakref

from ..protocol._enums import ChannelType, SubscriptionType, native_type
from ..protocol._commands import WriteNotifyResponse
from ..protocol._exceptions import (CaprotoError, CaprotoTimeoutError,
                                    ErrorResponseReceived, PermissionDenied)
from ..protocol._status import CAStatus
from ..threading.client import Context

__all__ = ('read', 'write', 'subscribe', 'block', 'interrupt',
           'read_write_read', 'Subscription')

#: caproto's default timeout of the synchronous calls.
GLOBAL_DEFAULT_TIMEOUT = 2.0

_context: Context | None = None
_context_lock = threading.Lock()
_permission_to_block: list = []
#: Queues of the running block() calls, woken by interrupt().
_blocking_queues: set = set()


def _shared_context() -> Context:
    global _context
    with _context_lock:
        if _context is None:
            _context = Context()
        return _context


def _connected_pv(pv_name: str, priority: int, timeout):
    pv, = _shared_context().get_pvs(pv_name, priority=priority)
    pv.wait_for_connection(timeout=timeout)
    return pv


def _is_enum(pv) -> bool:
    return native_type(pv.channel.native_data_type) == ChannelType.ENUM


def _raise_error_response(exc: ErrorResponseReceived):
    response = getattr(exc, 'response', None)
    raise ErrorResponseReceived(response if response is not None else str(exc)) from None


def read(pv_name, *, data_type=None, data_count=None,
         timeout=GLOBAL_DEFAULT_TIMEOUT, priority=0, notify=True,
         force_int_enums=False, repeater=True):
    """Read a channel; return the ReadNotifyResponse (or ReadResponse).

    Parameters
    ----------
    pv_name : str
    data_type : {'native', 'status', 'time', 'graphic', 'control'} or ChannelType or int, optional
        Default: the native type (enums as STRING unless ``force_int_enums``).
    data_count : int, optional
        Default: the channel's current length.
    timeout : float, optional
        Seconds for the search, the connection and the reply (default 2).
    priority : int, optional
    notify : bool, optional
        Send READ_NOTIFY (default) rather than READ.
    force_int_enums : bool, optional
        Read enums as integers.
    repeater : bool, optional
        Accepted for compatibility (no repeater is spawned).

    Raises
    ------
    CaprotoTimeoutError
        No server answered, or no reply within ``timeout``.
    ErrorResponseReceived
        The server refused the read.
    """
    pv = _connected_pv(pv_name, priority, timeout)
    if data_type is None and not force_int_enums and _is_enum(pv):
        data_type = ChannelType.STRING
    try:
        return pv.read(data_type=data_type, data_count=data_count,
                       timeout=timeout, notify=notify)
    except ErrorResponseReceived as exc:
        _raise_error_response(exc)


def _stringy(data) -> bool:
    if isinstance(data, (str, bytes)):
        return True
    return (hasattr(data, '__getitem__') and len(data) > 0
            and isinstance(data[0], (str, bytes)))


def write(pv_name, data, *, notify=False, data_type=None, metadata=None,
          timeout=GLOBAL_DEFAULT_TIMEOUT, priority=0, repeater=True):
    """Write to a channel.

    Returns None, or with ``notify=True`` the WriteNotifyResponse once the
    server reports completion.  Strings written to an enum channel are sent
    as DBR_STRING (the server looks them up).

    ``metadata`` (as in caproto: a DBR structure of ``data_type``, its
    bytes or a tuple of its fields) goes before the values, with
    ``data_type`` as given (the native type by default): a compound type
    such as ``'status'`` must be named.  RSRV applies a plain write of one
    (metadata ignored) and answers ``notify=True`` with ECA_PUTFAIL.

    Raises
    ------
    CaprotoTimeoutError, ErrorResponseReceived
    CaprotoValueError, CaprotoTypeError
        Metadata that do not fit ``data_type`` (caproto raises TypeError
        from ctypes, or sends them anyway).
    """
    pv = _connected_pv(pv_name, priority, timeout)
    if data_type is None and _is_enum(pv) and _stringy(data):
        data_type = ChannelType.STRING
    if isinstance(data, (str, bytes)) or not hasattr(data, '__len__'):
        data = [data]
    try:
        return pv.write(data, wait=notify, notify=notify, data_type=data_type,
                        timeout=timeout, metadata=metadata)
    except PermissionDenied:
        # caproto sends the write and the server refuses it; cawire refuses
        # it locally, as libca does.  Same answer: None, or a notification
        # carrying the server's status for a refused write.
        if not notify:
            return None
        write_type = ChannelType(data_type if data_type is not None
                                 else pv.channel.native_data_type)
        return WriteNotifyResponse(write_type, len(data),
                                   CAStatus.ECA_NOWTACCESS, 0)
    except ErrorResponseReceived as exc:
        _raise_error_response(exc)


def read_write_read(pv_name, data, *, notify=False, read_data_type=None,
                    write_data_type=None, metadata=None,
                    timeout=GLOBAL_DEFAULT_TIMEOUT, priority=0,
                    force_int_enums=False, repeater=True):
    """Read, write, read again; return ``(initial, write_response, final)``."""
    initial = read(pv_name, data_type=read_data_type, timeout=timeout,
                   priority=priority, force_int_enums=force_int_enums)
    response = write(pv_name, data, notify=notify, data_type=write_data_type,
                     metadata=metadata, timeout=timeout, priority=priority)
    final = read(pv_name, data_type=read_data_type, timeout=timeout,
                 priority=priority, force_int_enums=force_int_enums)
    return initial, response, final


class Subscription:
    """One subscription of :func:`block`; made by :func:`subscribe`.

    Callbacks ``f(sub, response)`` are held weakly (as in caproto) and run
    on the thread that calls :func:`block`.
    """

    def __init__(self, pv_name, priority=0, data_type=None, data_count=None,
                 low=0.0, high=0.0, to=0.0, mask=None):
        if mask is None:
            mask = SubscriptionType.DBE_VALUE | SubscriptionType.DBE_ALARM
        self.pv_name = pv_name
        self.priority = priority
        self.data_type = data_type
        self.data_count = data_count
        self.low, self.high, self.to = low, high, to
        self.mask = mask
        self.callbacks: dict = {}
        self._callback_id = 0
        self._callback_lock = threading.RLock()

    def block(self, duration=None, timeout=1, force_int_enums=False,
              repeater=True) -> None:
        """Same as ``block(self, ...)``."""
        block(self, duration=duration, timeout=timeout,
              force_int_enums=force_int_enums, repeater=repeater)

    def interrupt(self) -> None:
        """Same as :func:`interrupt`."""
        interrupt()

    def add_callback(self, func) -> int:
        """Add ``func(sub, response)`` (held weakly); return its token."""
        with self._callback_lock:
            cb_id = self._callback_id
            self._callback_id += 1

        def removed(_ref, cb_id=cb_id):
            self.remove_callback(cb_id)

        ref: weakref.ref
        if inspect.ismethod(func):
            ref = weakref.WeakMethod(func, removed)
        else:
            ref = weakref.ref(func, removed)
        with self._callback_lock:
            self.callbacks[cb_id] = ref
        return cb_id

    def remove_callback(self, cb_id) -> None:
        """Remove the callback of token ``cb_id``."""
        with self._callback_lock:
            self.callbacks.pop(cb_id, None)

    def process(self, response) -> None:
        """Run the callbacks on ``response`` (called by :func:`block`)."""
        with self._callback_lock:
            refs = list(self.callbacks.items())
        for cb_id, ref in refs:
            func = ref()
            if func is None:
                self.remove_callback(cb_id)
                continue
            func(self, response)

    def clear(self) -> None:
        """Remove all callbacks and interrupt :func:`block`."""
        interrupt()
        with self._callback_lock:
            self.callbacks.clear()


def subscribe(pv_name, priority=0, data_type=None, data_count=None,
              low=0.0, high=0.0, to=0.0, mask=None) -> Subscription:
    """Define a subscription (activated by :func:`block`)."""
    return Subscription(pv_name, priority, data_type, data_count, low, high,
                        to, mask)


def interrupt() -> None:
    """Make a running :func:`block` return (from another thread)."""
    _permission_to_block.clear()
    for waiting in list(_blocking_queues):
        waiting.put((None, _WAKE))


_STOP = object()
_WAKE = object()


def block(*subscriptions, duration=None, timeout=GLOBAL_DEFAULT_TIMEOUT,
          force_int_enums=False, repeater=True) -> None:
    """Activate the subscriptions and run their callbacks on this thread.

    Returns after ``duration`` seconds (never by default), on
    :func:`interrupt` or on Ctrl+C.  Updates are DBR_TIME of the native type
    (enums as strings unless ``force_int_enums``).

    Raises
    ------
    CaprotoTimeoutError
        A channel did not connect within ``timeout``.
    CaprotoError
        A channel disconnected while blocking.
    """
    _permission_to_block.append(object())
    deadline = None if duration is None else time.monotonic() + duration
    responses: queue.SimpleQueue = queue.SimpleQueue()
    active = []
    keep: list = []

    def make_forwarder(sub):
        def forward(_client_sub, response):
            responses.put((sub, response))
        return forward

    def on_state(_pv, state):
        if state == 'disconnected':
            responses.put((None, _STOP))

    _blocking_queues.add(responses)
    try:
        for sub in subscriptions:
            pv = _connected_pv(sub.pv_name, sub.priority, timeout)
            ntype = ChannelType(native_type(pv.channel.native_data_type))
            if ntype == ChannelType.ENUM and not force_int_enums:
                ntype = ChannelType.STRING
            client_sub = pv.subscribe(data_type=ChannelType(ntype + 14),
                                      data_count=sub.data_count, mask=sub.mask)
            forward = make_forwarder(sub)
            keep.extend((forward, on_state))
            pv.connection_state_callback.add_callback(on_state)
            active.append((client_sub, client_sub.add_callback(forward)))
        while True:
            if not _permission_to_block:
                return
            wait = None
            if deadline is not None:
                wait = deadline - time.monotonic()
                if wait <= 0:
                    return
            try:
                sub, response = responses.get(timeout=wait)
            except queue.Empty:
                return
            if response is _WAKE:
                continue
            if response is _STOP:
                raise CaprotoError('Disconnected')
            sub.process(response)
    except KeyboardInterrupt:
        pass
    finally:
        _blocking_queues.discard(responses)
        _permission_to_block.clear()
        for client_sub, token in active:
            client_sub.remove_callback(token)
