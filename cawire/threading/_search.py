"""Name searches: libca's retry timers driving the UDP socket.

:class:`SearchEngine` is the I/O side of ``cawire.protocol._search_schedule``: it
keeps the table of unanswered searches (search id -> name and where to
report the result), asks the schedule which names go into which datagram,
packs each datagram (VERSION with the sequence number, then SEARCH
messages, at most 1024 bytes) and sends it to every search destination and
every name-server circuit.  It arms exactly one loop timer, for the
schedule's next deadline.

Everything here runs on the network thread; the public methods of the
broadcaster hop there with ``call_soon``.
"""
from __future__ import annotations

import collections
import logging
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Callable, Protocol

from ..protocol._search_messages import (SearchResult, pack_search_datagram,
                                        search_message_size)
from ..protocol._search_schedule import SearchSchedule

if TYPE_CHECKING:  # pragma: no cover
    from ._selector_loop import NetworkLoop
    from ._timers import TimerHandle

__all__ = ('SearchEngine', 'SearchItem', 'ResultsQueue')

search_logger = logging.getLogger('cawire.bcast.search')

#: Minimum seconds between two retries of every unanswered search caused by
#: get_pvs calls that bring no new name.
IDLE_RETRY_INTERVAL = 1.0


class ResultsQueue(Protocol):
    """Where search results go: ``put((address, names))``."""

    def put(self, item: tuple[tuple[str, int], list[str]]) -> None:
        ...


class SearchItem:
    """One outstanding search: a name, its id (the CID on the wire) and the
    queue-like object to ``put((address, [name]))`` when it is found."""

    __slots__ = ('search_id', 'name', 'results_queue', 'size')

    def __init__(self, search_id: int, name: str,
                 results_queue: ResultsQueue) -> None:
        self.search_id = search_id
        self.name = name
        self.results_queue = results_queue
        self.size = search_message_size(name)

    def __repr__(self) -> str:
        return f'<SearchItem {self.name!r} id={self.search_id}>'


class SearchEngine:
    """Unanswered searches and their retry schedule (network thread only).

    Parameters
    ----------
    loop : NetworkLoop
    send_datagram : callable
        ``send_datagram(bytes)``: deliver one search datagram to every
        destination (UDP search list and name servers).
    max_search_period : float
        EPICS_CA_MAX_SEARCH_PERIOD.
    on_found : callable, optional
        ``on_found(address, names)`` before results are reported (the
        broadcaster's search-result cache).
    read_replies : callable, optional
        Reads the search replies already received (the broadcaster's UDP
        handler), called before the timers fire: a reply that arrived
        while the network thread was busy (creating channels, reading TCP)
        is an answer, not a loss.  Counted as a loss, it would send the
        name again and cut the datagrams per try to 1.
    """

    def __init__(self, loop: NetworkLoop,
                 send_datagram: Callable[[bytes], None], *,
                 max_search_period: float = 300.0,
                 on_found: Callable[[tuple, list], None] | None = None,
                 read_replies: Callable[[], None] | None = None
                 ) -> None:
        self.loop = loop
        self._on_found = on_found
        self._read_replies = read_replies
        self._reading_replies = False
        self._send_datagram = send_datagram
        now = time.monotonic()
        self.schedule = SearchSchedule(now, max_search_period=max_search_period)
        #: search id -> SearchItem, for every search not yet answered.
        self.unanswered: dict[int, SearchItem] = {}
        self._timer: TimerHandle | None = None
        self._timer_deadline: float | None = None
        self._last_retry = float('-inf')
        self.datagrams_sent = 0

    # -- input (network thread) -----------------------------------------------------

    def add(self, items: Iterable[SearchItem],
            retry_unanswered: bool = True) -> None:
        """Start searching for ``items`` now.

        With ``retry_unanswered`` every other unanswered name is retried at
        once too (what each new ``get_pvs`` does).
        """
        now = time.monotonic()
        if retry_unanswered and self.unanswered and (
                items or now - self._last_retry >= IDLE_RETRY_INTERVAL):
            # get_pvs retries every unanswered name at once; a get_pvs that
            # brings no new name (a cache hit, e.g. in a loop) does so at
            # most once per IDLE_RETRY_INTERVAL, to avoid a search storm.
            self._last_retry = now
            self.schedule.retry_now(now)
        unanswered = self.unanswered
        search_ids = []
        sizes = []
        for item in items:
            unanswered[item.search_id] = item
            search_ids.append(item.search_id)
            sizes.append(item.size)
        self.schedule.add_many(search_ids, sizes, now)
        self._fire()

    def add_governed(self, items: Iterable[SearchItem],
                     released_by_anomaly: bool = False,
                     server: tuple[str, int] | None = None,
                     failed: bool = False) -> None:
        """Search for ``items`` after the disconnect governor's next tick
        (CREATE_CH_FAIL / SERVER_DISCONN / failed circuit, as libca), or,
        with ``released_by_anomaly`` (a circuit to ``server`` died), at the
        next beacon anomaly of a server on its host, or 10 s from now (if
        ``failed``: the governor's next tick)."""
        now = time.monotonic()
        disconnected = self.schedule.disconnected
        # By host: an IOC that restarts may get another TCP port (RSRV
        # takes a free one when 5064 is in use on a shared host).
        host = None if server is None else server[0]
        for item in items:
            self.unanswered[item.search_id] = item
            disconnected(item.search_id, now, size=item.size,
                         released_by_anomaly=released_by_anomaly,
                         server=host, failed=failed)
        self._reschedule()

    def retry_now(self, *, governed: bool = True) -> None:
        """Send every unanswered search again at once (with ``governed``
        False, not those waiting in the disconnect governor)."""
        if self.unanswered:
            self.schedule.retry_now(time.monotonic(), governed=governed)
            self._fire()

    def cancel_names(self, names: Iterable[str]) -> list[SearchItem]:
        """Stop searching for ``names``; return the items dropped."""
        cancelled = set(names)
        dropped = [item for item in self.unanswered.values()
                   if item.name in cancelled]
        for item in dropped:
            del self.unanswered[item.search_id]
        self.schedule.cancel(item.search_id for item in dropped)
        self._reschedule()
        return dropped

    def cancel_queue(self, results_queue: ResultsQueue) -> None:
        """Forget every search reporting to ``results_queue``."""
        dropped = [item for item in self.unanswered.values()
                   if item.results_queue is results_queue]
        for item in dropped:
            del self.unanswered[item.search_id]
        self.schedule.cancel(item.search_id for item in dropped)
        self._reschedule()

    def boost(self, server: tuple[str, int] | None = None) -> None:
        """Beacon anomaly of ``server``: search slow-timer names within
        ~8 s, and now the names lost with a circuit to its host."""
        self.schedule.boost(time.monotonic(),
                            None if server is None else server[0])
        self._reschedule()

    def answered(self, results: list[SearchResult],
                 versions: dict | None = None) -> None:
        """Process the search replies of one datagram or TCP batch.

        Parameters
        ----------
        results : list of SearchResult
            From ``parse_search_replies`` (server address worked out).
        versions : dict, optional
            Filled with server address -> minor protocol version.
        """
        now = time.monotonic()
        found: dict[tuple, list[SearchItem]] = collections.defaultdict(list)
        debug = search_logger.isEnabledFor(logging.DEBUG)
        unanswered = self.unanswered
        replies: list[tuple[int, int | None]] = []
        add_reply = replies.append
        # The replies of a datagram nearly always name one server for one
        # queue: the group (and the version noted) is looked up again only
        # when the queue, address or version differs from the previous
        # reply's.
        group: list[SearchItem] = []
        last_queue = last_address = last_version = None
        for result in results:
            item = unanswered.pop(result.cid, None)
            if item is None:
                continue  # a duplicate (another server) or a late reply
            add_reply((item.search_id, result.sequence))
            address = result.address
            version = result.version
            queue = item.results_queue
            if (queue is not last_queue or address != last_address
                    or version != last_version):
                if versions is not None and version is not None:
                    versions[address] = version
                group = found[(id(queue), address)]
                last_queue, last_address, last_version = queue, address, version
            if debug:
                search_logger.debug('Found %r at %s:%d', item.name, *address)
            group.append(item)
        if replies:
            self.schedule.answered_many(replies, now)
        if not unanswered:
            # An emptied dict keeps its table (~30 bytes per name it held).
            unanswered.clear()
        if found:
            # The next pass leaves before these replies' channels are
            # created: a pass whose every search was answered is due at
            # once, and creating thousands of channels first would hold it
            # back behind work the network does not need to wait for.
            self._fire_if_due(now)
        for (_, address), items in found.items():
            queue = items[0].results_queue
            names = [item.name for item in items]
            if self._on_found is not None:
                self._on_found(address, names)
            try:
                queue.put((address, names))
            except Exception:
                search_logger.exception('Search results consumer %r failed',
                                        queue)
        if found:
            self._reschedule()

    # -- output -----------------------------------------------------------------------

    def _fire_if_due(self, now: float) -> None:
        deadline = self.schedule.next_deadline()
        if deadline is not None and deadline <= now:
            self._fire()

    def _fire(self) -> None:
        # Called by the timer or directly: either way the armed timer (if
        # any) is spent, and _reschedule arms the next one.
        if self._reading_replies:
            # Called back from a reply read by the _fire below, which polls
            # once every queued reply is read.  Polling here would judge
            # the replies still queued behind this one lost, and search
            # their names again (31 names of a rebooted IOC's 1,000, in most
            # reboots on the scale bed).
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer = None
        self._timer_deadline = None
        if self._read_replies is not None and not self._reading_replies:
            self._reading_replies = True
            try:
                self._read_replies()
            finally:
                self._reading_replies = False
        datagrams = self.schedule.poll(time.monotonic())
        unanswered = self.unanswered
        for datagram in datagrams:
            searches = [(search_id, unanswered[search_id].name)
                        for search_id in datagram.keys
                        if search_id in unanswered]
            if not searches:
                continue
            payload = pack_search_datagram(datagram.sequence, searches)
            search_logger.debug('Searching for %d name(s), sequence %d',
                                len(searches), datagram.sequence)
            self.datagrams_sent += 1
            try:
                self._send_datagram(payload)
            except Exception:
                search_logger.exception('Failed to send a search datagram')
        self._reschedule()

    def _reschedule(self) -> None:
        deadline = self.schedule.next_deadline()
        if deadline == self._timer_deadline:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_deadline = deadline
        if deadline is not None:
            self._timer = self.loop.call_at(deadline, self._fire)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = None
        self.unanswered.clear()
