"""The client context: PV cache, circuits, and the glue between them.

A :class:`Context` hands out :class:`PV` objects (one per name and
priority), asks its :class:`SharedBroadcaster` to find them, opens one
:class:`VirtualCircuitManager` per (server address, priority) and binds
PVs to circuits as search results arrive.  Search results, circuit deaths
and channel losses are handled on the network thread, directly, with no
intermediate queue or polling thread.
"""
from __future__ import annotations

import getpass
import logging
import socket
import threading
from types import TracebackType
from typing import Any, Callable

from ..config import get_environment_variables
from ..protocol._circuit import VirtualCircuit
from ..protocol._client_circuit import lost_circuit_search
from ..protocol._enums import AccessRights
from ..protocol._ids import IdAllocator
from ..protocol._exceptions import ContextDisconnectedError
from ..protocol._search_waitlist import SearchWaitlist
from ..protocol._state import CLIENT
from ._callbacks import run_user_callback
from ._circuit_manager import VirtualCircuitManager
from ._defaults import CONTEXT_DEFAULT_TIMEOUT
from ._exit import disconnect_at_exit
from ._flags import CIRCUIT_READY, ReadyBits
from ._pv import PV
from ._selector_loop import NetworkLoop
from ._shared_broadcaster import SharedBroadcaster

__all__ = ('Context',)

ctx_logger = logging.getLogger('cawire.ctx')


def _global_default_timeout() -> float:
    # CAPROTO_DEFAULT_TIMEOUT, read once (as caproto does) for the default
    # value of Context(timeout=...).
    try:
        return float(get_environment_variables()['CAPROTO_DEFAULT_TIMEOUT'])
    except ValueError:
        return 2.0


GLOBAL_DEFAULT_TIMEOUT = _global_default_timeout()

#: get_pvs hands names to the broadcaster in chunks growing from this ...
FIRST_SEARCH_CHUNK = 256
#: ... to this, so that the first searches leave early.
MAX_SEARCH_CHUNK = 16384
#: How many component locks the PVs of a context share (by cid): enough that
#: two PVs in use at the same moment rarely wait on each other.
COMPONENT_LOCK_STRIPES = 64

# Contexts still connected are closed cleanly at interpreter exit.
_live_contexts = disconnect_at_exit(ctx_logger, 'Context')


class _SearchResults:
    """The ``results_queue`` a Context gives its broadcaster: ``put`` is
    called on the network thread and binds PVs at once (no queue hop)."""

    __slots__ = ('_context', '__weakref__')

    def __init__(self, context: Context) -> None:
        self._context = context

    def put(self, item: tuple[tuple[str, int], list[str]]) -> None:
        address, names = item
        self._context._on_search_results(address, names)


class ContextIds:
    """The context's ids, from the core's allocator (any thread).

    Calling the object gives ioids: one sequence for the whole context,
    from 0, skipping ids still outstanding on a live circuit after a wrap.
    :meth:`subscription` gives subscriptionids (numbered apart from ioids,
    as caproto does, and kept when a subscription moves to another
    circuit), :meth:`channel` cids (fixed for a PV's life).
    """

    __slots__ = ('_context', '_lock', '_ioids', '_subscription_ids',
                 '_cids', 'subscriptions')

    def __init__(self, context: Context) -> None:
        self._context = context
        self._lock = threading.Lock()
        #: subscriptionids of the context's active subscriptions.
        self.subscriptions: set[int] = set()
        self._ioids = IdAllocator(self._ioid_in_use, 0)
        self._subscription_ids = IdAllocator(self.subscriptions.__contains__,
                                             1)
        # A PV keeps its cid as long as the context lives: never reused.
        self._cids = IdAllocator(None, 1)

    def _ioid_in_use(self, candidate: int) -> bool:
        # (A loop, not any() over a generator: once per request.)
        for cm in list(self._context.circuit_managers.values()):
            if candidate in cm.circuit.outstanding_requests:
                return True
        return False

    def __call__(self) -> int:
        with self._lock:
            return self._ioids()

    def subscription(self) -> int:
        """A new subscriptionid."""
        with self._lock:
            return self._subscription_ids()

    def channel(self) -> int:
        """A new cid."""
        with self._lock:
            return self._cids()

    def channels(self, count: int) -> list[int]:
        """``count`` new cids (one lock, one call for a batch of PVs)."""
        with self._lock:
            return self._cids.take(count)


class Context:
    """Encapsulates the state and connections of a client.

    Parameters
    ----------
    broadcaster : SharedBroadcaster, optional
        If None is specified, a fresh one is instantiated.
    timeout : number or None, optional
        Number of seconds before a CaprotoTimeoutError is raised.  This
        default can be overridden at the PV level or for any given
        operation.  If unset, the default is 2 seconds (or
        CAPROTO_DEFAULT_TIMEOUT).  If None, never timeout.
    host_name : string, optional
        uses value of ``socket.gethostname()`` by default
    client_name : string, optional
        uses value of ``getpass.getuser()`` by default
    max_workers : integer, optional
        Number of worker threads per VirtualCircuit for executing user
        callbacks.  Default is 1.  Work on updates always *starts* in the
        order they were received.  With more than one worker, the callbacks
        of different subscriptions run in parallel (so a slow callback does
        not slow the others down), while the updates of one subscription
        still run one after the other, in order; other callbacks (connection,
        access rights, read/write notify) may finish out of order.
    callbacks_on_network_thread : bool, optional
        Run every user callback on the network thread itself, as soon as
        its message is read, instead of on a callback thread per circuit
        (``max_workers`` is then ignored).  Default False.  Saves the
        thread wake-up and GIL hand-over per received message (roughly
        halves the CPU cost of updates that arrive one at a time), at a
        price: a callback holds up the whole context's network traffic
        while it runs (every circuit, searches, the replies other threads
        wait for); the client's flow control (EVENTS_OFF, coalescing of a
        backlog) never engages, so a slow callback slows the reading of the
        socket and the server keeps the latest value per subscription; and
        a callback must not block on the client (a blocking read, write or
        wait from it raises CaprotoRuntimeError).  For short callbacks
        (store the value, set a flag, count) at high update rates.
    """

    def __init__(self, broadcaster: SharedBroadcaster | None = None, *,
                 timeout: float | None = GLOBAL_DEFAULT_TIMEOUT,
                 host_name: str | None = None,
                 client_name: str | None = None,
                 max_workers: int = 1,
                 callbacks_on_network_thread: bool = False) -> None:
        if max_workers < 1:
            raise ValueError('max_workers must be at least 1')
        self._owns_broadcaster = broadcaster is None
        if broadcaster is None:
            broadcaster = SharedBroadcaster()
        self.broadcaster = broadcaster
        self.config = broadcaster.config
        self.timeout = timeout
        self.host_name = host_name if host_name is not None \
            else socket.gethostname()
        self.client_name = client_name if client_name is not None \
            else getpass.getuser()
        self.max_workers = max_workers
        #: Whether user callbacks run on the network thread (see above).
        self.callbacks_on_network_thread = bool(callbacks_on_network_thread)
        self.log = logging.LoggerAdapter(ctx_logger, {'role': 'CLIENT'})
        self.pvs: dict[tuple, PV] = {}
        self.circuit_managers: dict[tuple, VirtualCircuitManager] = {}
        self.pv_cache_lock = threading.RLock()
        # PVs share these (by cid) as their component_lock: one RLock per
        # PV is ~110 bytes, the largest part of a connected PV; each is held
        # only briefly and never together with another PV's.
        self.component_locks = tuple(threading.RLock()
                                     for _ in range(COMPONENT_LOCK_STRIPES))
        self._pvs_needing_circuits = SearchWaitlist()
        self.ids = ContextIds(self)
        self._closing = False
        self._executors: list = []
        self._search_results_queue = _SearchResults(self)
        self.loop = broadcaster.loop
        broadcaster.add_listener(self)
        _live_contexts.add(self)

    def __repr__(self) -> str:
        idle = sum(1 for pv in list(self.pvs.values()) if pv._idle)
        return (f'<Context searches_pending='
                f'{len(self.broadcaster.unanswered_searches)} '
                f'circuits={len(self.circuit_managers)} pvs={len(self.pvs)} '
                f'idle={idle}>')

    def __enter__(self) -> Context:
        return self

    def __exit__(self, exc_type: type[BaseException] | None,
                 exc_value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.disconnect(wait=True)

    def _check_open(self) -> None:
        if self._closing:
            raise ContextDisconnectedError(
                'context disconnected: this Context is no longer usable')

    def _new_cid(self) -> int:
        return self.ids.channel()

    def _component_lock_for(self, cid: int) -> threading.RLock:
        return self.component_locks[cid % COMPONENT_LOCK_STRIPES]

    @property
    def selector(self) -> NetworkLoop:
        """The network loop (caproto calls it the selector)."""
        return self.loop

    # -- PVs -----------------------------------------------------------------------

    def get_pvs(self, *names: str, priority: int = 0,
                connection_state_callback: Callable[[PV, str], Any] | None = None,
                access_rights_callback: Callable[[PV, AccessRights], Any]
                | None = None,
                timeout: Any = CONTEXT_DEFAULT_TIMEOUT) -> list[PV]:
        """Return a list of PV objects.

        These objects may not be connected at first.  Channel creation occurs
        on a background thread.  PVs are uniquely defined by their name and
        priority: asking twice returns the same object, and callbacks given
        here are added alongside existing ones.

        Parameters
        ----------
        *names : strings
            any number of PV names
        priority : integer
            Used by the server to triage subscription responses when under
            high load. 0 is lowest; 99 is highest.
        connection_state_callback : callable
            Expected signature: ``f(pv, state)`` where ``state`` is a string
            ('connected' or 'disconnected').
        access_rights_callback : callable
            Expected signature: ``f(pv, access_rights)`` with an
            ``AccessRights`` member.

            Both callbacks are held by *weak* reference, as subscription
            callbacks are (and as caproto does): keep a reference to them,
            or they are silently garbage collected and never called.
        timeout : number or None, optional
            Default timeout of these PVs' operations; by default the
            Context's.  If None, never timeout.

        Returns
        -------
        list of PV
        """
        self._check_open()
        if not 0 <= int(priority) <= 99:
            raise ValueError(f'priority must be in 0..99, not {priority!r}')
        pvs: list[PV] = []
        searching = None
        # Names searched by this call already: needed only when a name
        # comes again (a set of every name would be ~50 bytes per PV at the
        # busiest moment of a big connect), so built on the first repeat.
        searched_chunks: list[list[str]] = []
        requested: set[str] | None = None
        retry_unanswered = True
        # The first names' searches leave while the rest of the PVs are
        # built (a PV costs ~10 us; 100,000 of them would otherwise delay
        # the first search by a second or more), in growing chunks: the
        # cache lock is released between chunks so that the network thread
        # can bind the PVs found meanwhile.
        chunk = FIRST_SEARCH_CHUNK
        start = 0
        while start < len(names) or retry_unanswered:
            names_to_search = []
            with self.pv_cache_lock:
                batch = names[start:start + chunk]
                cached = self.pvs
                # The chunk's new PVs take their cids in one call (a
                # name given twice leaves one unused: harmless).
                cids = iter(self.ids.channels(sum(
                    (name, priority) not in cached for name in batch)))
                for name in batch:
                    key = (name, priority)
                    pv = cached.get(key)
                    if pv is None:
                        pv = PV(name, priority, self, timeout, next(cids))
                        self.pvs[key] = pv
                        self._pvs_needing_circuits.put(pv)
                        names_to_search.append(name)
                    elif not pv._ready & CIRCUIT_READY and not pv._idle:
                        if requested is None:
                            requested = {searched for names_searched
                                         in searched_chunks
                                         for searched in names_searched}
                        if name in requested:
                            pvs.append(pv)
                            continue
                        # Still unbound: if its search was cancelled
                        # (broadcaster.cancel), asking again restarts it.
                        if searching is None:
                            searching = {item.name for item in list(
                                self.broadcaster.unanswered_searches.values())}
                        if name not in searching:
                            self._pvs_needing_circuits.put(pv)
                            names_to_search.append(name)
                    pvs.append(pv)
            if requested is None:
                searched_chunks.append(names_to_search)
            else:
                requested.update(names_to_search)
            start += chunk
            chunk = min(chunk * 4, MAX_SEARCH_CHUNK)
            # New names go out now; with the first chunk every unanswered
            # name is retried too (in the same datagrams), once per call.
            if names_to_search or retry_unanswered:
                self.broadcaster.search(self._search_results_queue,
                                        list(dict.fromkeys(names_to_search)),
                                        retry_unanswered=retry_unanswered)
            retry_unanswered = False
        for pv in pvs:
            if connection_state_callback is not None:
                pv.connection_state_callback.add_callback(
                    connection_state_callback, run=True)
            if access_rights_callback is not None:
                pv.access_rights_callback.add_callback(
                    access_rights_callback, run=True)
        return pvs

    def _search_for(self, pvs, *, governed=False,
                    released_by_anomaly=False, server=None,
                    failed=False) -> None:
        # Network thread or user thread: ask again for these PVs' names.
        if self._closing:
            return
        with self.pv_cache_lock:
            names = self._pvs_needing_circuits.add(pvs)
        if names:
            try:
                self.broadcaster.search(
                    self._search_results_queue, names, governed=governed,
                    retry_unanswered=False,
                    released_by_anomaly=released_by_anomaly, server=server,
                    failed=failed)
            except ContextDisconnectedError:
                pass

    def _on_search_results(self, address, names) -> None:
        # Network thread: bind every PV waiting for these names, creating
        # their channels in one batch per circuit.
        if self._closing:
            return
        with self.pv_cache_lock:
            by_priority = self._pvs_needing_circuits.found(names)
        for priority, pvs in by_priority.items():
            cm = self._get_circuit_manager(address, priority)
            to_create = []
            for pv in pvs:
                with pv.component_lock:
                    pv._circuit_manager = cm
                    ReadyBits.mark(pv, CIRCUIT_READY)
                    if not pv._idle:
                        to_create.append(pv)
            cm.create_channels(to_create)

    def _reconnect_pv(self, pv) -> None:
        """Wake an idle PV (called with ``pv.component_lock`` held)."""
        self._check_open()
        cm = pv._circuit_manager
        if cm is not None and not cm.dead.is_set():
            self.loop.call_soon(self._create_if_still_bound, pv, cm)
        else:
            pv._circuit_manager = None
            pv._ready &= ~CIRCUIT_READY  # (component_lock held)
            self._search_for([pv])

    def _create_if_still_bound(self, pv, cm) -> None:
        with pv.component_lock:
            still_bound = pv._circuit_manager is cm and not pv._idle
        if not still_bound:
            return
        if cm.dead.is_set():
            self._search_for([pv])
            return
        cm.create_channels([pv])

    # -- circuits ------------------------------------------------------------------------

    def get_circuit_manager(self, address: tuple[str, int],
                            priority: int) -> VirtualCircuitManager:
        """The live circuit manager for (address, priority), created (and its
        TCP connection started) if needed."""
        return self._get_circuit_manager(tuple(address), priority)

    def _get_circuit_manager(self, address, priority) -> VirtualCircuitManager:
        self._check_open()
        key = (address, priority)
        with self.pv_cache_lock:
            cm = self.circuit_managers.get(key)
            if cm is not None and not cm.dead.is_set():
                return cm
            circuit = VirtualCircuit(
                CLIENT, address, priority, id_allocator=self.ids,
                subscription_id_allocator=self.ids.subscription)
            cm = VirtualCircuitManager(self, circuit, self.loop,
                                       timeout=self._circuit_timeout())
            self.circuit_managers[key] = cm
            # Forget executors of dead circuits whose workers have exited.
            self._executors = [
                executor for executor in self._executors
                if not executor.is_shut_down
                or any(t.is_alive() for t in executor.threads)]
            self._executors.append(cm.user_callback_executor)
        if self.loop.in_loop_thread():
            cm.connect()
        else:
            self.loop.call_soon(cm.connect)
        return cm

    def _circuit_timeout(self):
        timeout = self.timeout
        return 30.0 if timeout is None else max(float(timeout), 1.0)

    def _circuits_to(self, address) -> list:
        return [cm for (cm_address, _), cm in list(self.circuit_managers.items())
                if cm_address == address]

    def _circuit_connected(self, cm) -> None:
        self.broadcaster.circuit_connected(cm.address)

    def _circuit_died(self, cm, lost_pvs) -> None:
        # Network thread, after the circuit failed its requests.
        key = (cm.address, cm.circuit.priority)
        with self.pv_cache_lock:
            if self.circuit_managers.get(key) is cm:
                del self.circuit_managers[key]
        self.broadcaster.circuit_disconnected(
            cm.address, [pv.name for pv in lost_pvs])
        if lost_pvs and not self._closing:
            failed = cm.failed
            if failed:
                self.log.info('Circuit to %s:%d failed (%s); searching for its '
                              '%d PV(s) again after a pause',
                              *cm.address, cm.close_reason,
                              len(lost_pvs))
            search = lost_circuit_search(failed)
            self._search_for(lost_pvs, governed=search.governed,
                             released_by_anomaly=search.released_by_anomaly,
                             server=cm.address, failed=search.failed)

    def _pv_lost(self, pv, *, governed: bool) -> None:
        # CREATE_CH_FAIL / SERVER_DISCONN for one channel.
        if not self._closing and not pv._idle:
            self._search_for([pv], governed=governed)

    # -- shutdown ------------------------------------------------------------------------

    def disconnect(self, *, wait: bool = True) -> None:
        """Close every circuit, stop searching, release threads and sockets.

        Later calls on this Context (or its PVs) raise
        ``ContextDisconnectedError``.
        """
        with self.pv_cache_lock:
            if self._closing:
                return
            self._closing = True
            cms = list(self.circuit_managers.values())
        _live_contexts.discard(self)
        done = threading.Event()

        def close_on_loop() -> None:
            try:
                self.broadcaster.search_engine.cancel_queue(
                    self._search_results_queue)
                for cm in cms:
                    cm.transport.close('context disconnected')
            finally:
                done.set()

        if self.loop.running and not self.loop.in_loop_thread():
            self.loop.call_soon(close_on_loop)
            done.wait(5.0)
        else:
            close_on_loop()
        with self.pv_cache_lock:
            self.circuit_managers.clear()
            self._pvs_needing_circuits.clear()
            executors = list(self._executors)
        for executor in executors:
            executor.shutdown(wait=wait)
        self.broadcaster.remove_listener(self)
        self.log.debug('Context disconnected')

    def __del__(self) -> None:
        try:
            if not self._closing:
                self.disconnect(wait=False)
        except Exception:
            pass

    # -- helpers for Batch ---------------------------------------------------------------

    @staticmethod
    def _run_user_callback(func, *args) -> None:
        run_user_callback(func, *args)
