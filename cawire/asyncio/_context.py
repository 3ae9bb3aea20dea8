"""The asyncio client's Context: PVs, circuits and searches of one user.

A Context lives on one event loop (the one running when it is first used).
``get_pvs`` registers names and starts their search through the
:class:`SharedBroadcaster`; search results bind PVs to a
:class:`CircuitManager` per (server, priority) and create their channels in
one batch.  A circuit that dies sends its PVs back to searching (after the
disconnect governor's pause if it failed at once), and subscriptions are
re-sent when channels are created again.  ``disconnect`` closes every
socket and cancels every task it started.
"""
from __future__ import annotations

import asyncio
import getpass
import logging
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

from ..config import Config
from ..protocol._client_circuit import lost_circuit_search
from ..protocol._exceptions import ContextDisconnectedError
from ..protocol._ids import IdAllocator
from ..protocol._search_waitlist import SearchWaitlist
from ..threading._context import GLOBAL_DEFAULT_TIMEOUT
from ..threading._defaults import CONTEXT_DEFAULT_TIMEOUT
from ._broadcaster import SharedBroadcaster
from ._circuit_manager import CircuitManager
from ._pv import PV

__all__ = ('Context',)

ctx_logger = logging.getLogger('cawire.ctx')


class _SearchResults:
    """The ``results_queue`` given to the broadcaster: binds PVs at once."""

    __slots__ = ('_context', '__weakref__')

    def __init__(self, context: 'Context'):
        self._context = context

    def put(self, item: tuple) -> None:
        address, names = item
        self._context._on_search_results(address, names)


class Context:
    """The state and connections of an asyncio client.

    Parameters
    ----------
    broadcaster : SharedBroadcaster, optional
        Shared UDP side; by default the Context makes (and closes) its own.
    timeout : float or None, optional
        Default timeout of operations (2 s, or CAPROTO_DEFAULT_TIMEOUT);
        None: never.
    host_name, client_name : str, optional
        Sent to servers for access security (default: this host, this user).
    max_workers : int, optional
        Accepted for caproto compatibility; callbacks run on the loop.
    config : Config, optional
        Default: read from the environment.
    """

    def __init__(self, broadcaster: SharedBroadcaster | None = None, *,
                 timeout: Any = GLOBAL_DEFAULT_TIMEOUT,
                 host_name: str | None = None,
                 client_name: str | None = None, max_workers: int = 1,
                 config: Config | None = None):
        self._owns_broadcaster = broadcaster is None
        if broadcaster is None:
            broadcaster = SharedBroadcaster(config=config)
        self.broadcaster = broadcaster
        self.config = config if config is not None else broadcaster.config
        self.timeout = timeout
        self.host_name = host_name or socket.gethostname()
        self.client_name = client_name or getpass.getuser()
        self.max_workers = max_workers
        self.log = logging.LoggerAdapter(ctx_logger, {'role': 'CLIENT'})
        self.pvs: dict[tuple[str, int], PV] = {}
        self.circuit_managers: dict[tuple, CircuitManager] = {}
        self._pvs_by_cid: dict[int, PV] = {}
        self._pvs_needing_circuits = SearchWaitlist()
        self._cids = IdAllocator(self._pvs_by_cid.__contains__, 0)
        self._search_results = _SearchResults(self)
        self._closing = False
        self._loop: asyncio.AbstractEventLoop | None = None
        # Names of PVs made synchronously (_get_pv_now), searched in one
        # batch by a task once the broadcaster is open.
        self._deferred: list[str] = []
        self._flush_task: asyncio.Task | None = None

    def __repr__(self) -> str:
        return (f'<Context (asyncio) pvs={len(self.pvs)} '
                f'circuits={len(self.circuit_managers)} '
                f'closed={self._closing}>')

    async def __aenter__(self) -> 'Context':
        await self._open()
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.disconnect()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The event loop this Context runs on."""
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    def _check_open(self) -> None:
        if self._closing:
            raise ContextDisconnectedError('This Context is no longer usable.')

    async def _open(self) -> None:
        self._check_open()
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
        elif self._loop is not loop:
            raise RuntimeError('this Context belongs to another event loop')
        if not self.broadcaster.is_open:
            await self.broadcaster.open()
        self.broadcaster.add_listener(self)

    def _new_cid(self) -> int:
        return self._cids()

    # -- PVs ---------------------------------------------------------------

    async def get_pvs(self, *names: str, priority: int = 0,
                      connection_state_callback: Callable | None = None,
                      access_rights_callback: Callable | None = None,
                      timeout: Any = CONTEXT_DEFAULT_TIMEOUT) -> list[PV]:
        """The PVs of ``names`` (made and searched for on first request).

        PVs are unique per (name, priority); callbacks given here are added
        to existing ones.  ``connection_state_callback(pv, state)`` and
        ``access_rights_callback(pv, rights)`` are held weakly (as caproto).
        The PVs may not be connected yet: await
        :meth:`PV.wait_for_connection`, or any operation, which waits.
        """
        self._check_open()
        if not 0 <= int(priority) <= 99:
            raise ValueError(f'priority must be in 0..99, not {priority!r}')
        await self._open()
        pvs = []
        to_search = []
        searching: set | None = None
        for name in names:
            key = (name, priority)
            pv = self.pvs.get(key)
            if pv is None:
                pv = PV(name, priority, self, timeout)
                self.pvs[key] = pv
                self._pvs_by_cid[pv.cid] = pv
                self._pvs_needing_circuits.put(pv)
                to_search.append(name)
            elif not pv.circuit_ready.is_set() and not pv._idle:
                if searching is None:
                    engine = self.broadcaster.search_engine
                    searching = ({item.name for item in
                                  engine.unanswered.values()}
                                 if engine is not None else set())
                if name not in searching:
                    self._pvs_needing_circuits.put(pv)
                    to_search.append(name)
            pvs.append(pv)
        for pv in pvs:
            if connection_state_callback is not None:
                pv.connection_state_callback.add(connection_state_callback,
                                                 run=True)
            if access_rights_callback is not None:
                pv.access_rights_callback.add(access_rights_callback,
                                              run=True)
        self.broadcaster.search(self._search_results,
                                list(dict.fromkeys(to_search)))
        return pvs

    def _get_pv_now(self, name: str, priority: int = 0) -> PV:
        """The PV of ``name`` without awaiting (its search starts soon, in
        one batch with the others asked for meanwhile)."""
        self._check_open()
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        key = (name, priority)
        pv = self.pvs.get(key)
        if pv is None:
            pv = PV(name, priority, self, CONTEXT_DEFAULT_TIMEOUT)
            self.pvs[key] = pv
            self._pvs_by_cid[pv.cid] = pv
            self._pvs_needing_circuits.put(pv)
            self._deferred.append(name)
            if self._flush_task is None:
                self._flush_task = self._loop.create_task(
                    self._flush_deferred())
        return pv

    async def _flush_deferred(self) -> None:
        try:
            await self._open()
        finally:
            self._flush_task = None
        names, self._deferred = self._deferred, []
        self.broadcaster.search(self._search_results,
                                list(dict.fromkeys(names)))

    def _search_for(self, pvs: list[PV], *, governed: bool = False,
                    released_by_anomaly: bool = False,
                    server: tuple[str, int] | None = None,
                    failed: bool = False) -> None:
        if self._closing:
            return
        names = self._pvs_needing_circuits.add(pvs)
        if names:
            try:
                self.broadcaster.search(
                    self._search_results, names, governed=governed,
                    retry_unanswered=False,
                    released_by_anomaly=released_by_anomaly, server=server,
                    failed=failed)
            except ContextDisconnectedError:
                pass

    def _on_search_results(self, address: tuple, names: list[str]) -> None:
        if self._closing:
            return
        by_priority = self._pvs_needing_circuits.found(names)
        for priority, pvs in by_priority.items():
            cm = self.get_circuit_manager(address, priority)
            to_create = []
            for pv in pvs:
                pv._bind(cm)
                if not pv._idle:
                    to_create.append(pv)
            cm.create_channels(to_create)

    def _reconnect_pv(self, pv: PV) -> None:
        """Wake an idle PV."""
        self._check_open()
        cm = pv._circuit_manager
        if cm is not None and not cm.dead.value:
            cm.create_channels([pv])
        else:
            pv._circuit_manager = None
            pv.circuit_ready.clear()
            self._search_for([pv])

    # -- circuits ----------------------------------------------------------

    def get_circuit_manager(self, address: tuple, priority: int
                            ) -> CircuitManager:
        """The live circuit to (address, priority), connecting if needed."""
        self._check_open()
        key = (tuple(address), priority)
        cm = self.circuit_managers.get(key)
        if cm is None or cm.dead.value:
            cm = CircuitManager(self, key[0], priority)
            self.circuit_managers[key] = cm
        return cm

    def _circuits_to(self, address: tuple) -> list[CircuitManager]:
        return [cm for (cm_address, _), cm in self.circuit_managers.items()
                if cm_address == address]

    def _live_circuits(self) -> list[CircuitManager]:
        return [cm for cm in self.circuit_managers.values()
                if not cm.dead.value]

    def _circuit_connected(self, cm: CircuitManager) -> None:
        self.broadcaster.circuit_connected(cm.address)

    def _circuit_died(self, cm: CircuitManager, lost: list[PV]) -> None:
        key = (cm.address, cm.circuit.priority)
        if self.circuit_managers.get(key) is cm:
            del self.circuit_managers[key]
        self.broadcaster.circuit_disconnected(cm.address)
        if lost and not self._closing:
            failed = cm.failed
            if failed:
                self.log.info('Circuit to %s:%d failed (%s); searching for '
                              'its %d PV(s) again after a pause',
                              *cm.address, cm.close_reason, len(lost))
            search = lost_circuit_search(failed)
            self._search_for(lost, governed=search.governed,
                             released_by_anomaly=search.released_by_anomaly,
                             server=cm.address, failed=search.failed)

    def _pv_lost(self, pv: PV) -> None:
        # CREATE_CH_FAIL / SERVER_DISCONN for one channel.
        if not self._closing and not pv._idle:
            self._search_for([pv], governed=True)

    # -- monitoring --------------------------------------------------------

    async def monitor(self, *pv_names: str, context: Any = None,
                      data_type: Any = 'time') -> AsyncIterator[tuple]:
        """Yield ``('connection', pv, state)`` and
        ``('subscription', sub, response)`` events for ``pv_names``
        (``context`` is accepted for caproto compatibility and unused)."""
        queue: asyncio.Queue = asyncio.Queue()

        def value_update(sub: Any, response: Any) -> None:
            queue.put_nowait(('subscription', sub, response))

        def connection_changed(pv: PV, state: str) -> None:
            queue.put_nowait(('connection', pv, state))

        pvs = await self.get_pvs(*pv_names,
                                 connection_state_callback=connection_changed)
        subscriptions = []
        for pv in pvs:
            sub = pv.subscribe(data_type=data_type)
            subscriptions.append((sub, sub.add_callback(value_update)))
        try:
            while True:
                yield await queue.get()
        finally:
            for sub, token in subscriptions:
                sub._remove_callback(token)

    # -- shutdown ----------------------------------------------------------

    def _close_now(self) -> list:
        """The synchronous part of :meth:`disconnect`; returns the tasks
        still to await."""
        if self._closing:
            return []
        self._closing = True
        cms = list(self.circuit_managers.values())
        self.broadcaster.cancel_queue(self._search_results)
        for cm in cms:
            cm.disconnect()
        tasks = [cm._connect_task for cm in cms if not cm._connect_task.done()]
        if self._flush_task is not None and not self._flush_task.done():
            self._flush_task.cancel()
            tasks.append(self._flush_task)
        for pv in self.pvs.values():
            for sub in pv.subscriptions.values():
                sub._callbacks.cancel()
            for registry in (pv._connection_callbacks, pv._rights_callbacks):
                if registry is not None:
                    registry.cancel()
        self.circuit_managers.clear()
        self._pvs_needing_circuits.clear()
        self.broadcaster.remove_listener(self)
        if self._owns_broadcaster:
            self.broadcaster.disconnect()
        return tasks

    async def disconnect(self) -> None:
        """Close every circuit and stop searching; later use raises
        ContextDisconnectedError.  Returns once every task it started has
        ended and its sockets are closed."""
        tasks = self._close_now()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        # Let the transports' connection_lost callbacks run.
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        self.log.debug('Context disconnected')
