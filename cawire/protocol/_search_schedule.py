"""When to (re)send each UDP name search: libca's search timers, clock-injected.

libca (searchTimer.cpp, udpiiu.cpp; ca-protocol.md 6.2) keeps N timers; timer
``i`` has period ``2**i * RTTE`` where RTTE is a smoothed estimate of the
search round-trip time (0.032 s to start with, and on a LAN forever, since
samples are clamped to >= 0.032 s).  A new name joins timer 0.  When a timer
fires it moves the names it sent last time that got no reply up one timer,
then sends its pending names and rearms.  So an unanswered name is retried
after 0.032, 0.064, 0.128 ... s until the slowest timer (about 262 s with the
default EPICS_CA_MAX_SEARCH_PERIOD of 300 s).

This module is that algorithm with the clock passed in (``now``) and the
network left out: :meth:`SearchSchedule.poll` says which names to put in which
datagram (and with which datagram sequence number), :meth:`answered` reports a
reply, :meth:`next_deadline` says when to call ``poll`` again.  One deliberate
difference from libca, which runs every timer forever: here a timer with
nothing to do is idle, and it fires at once when names are moved into it.
That gives the exact doubling libca shows on the wire, and the first search
of a new name goes out immediately instead of at the next 32 ms tick.

Also here, as in libca:

* frames-per-try congestion control: a timer sends at most ``frames_per_try``
  datagrams per firing; it doubles (up to a threshold, then grows by
  ``1/frames``) after a pass in which every search was answered, and falls to
  1 (threshold halved) after a pass with losses; max 64.
* a timer whose every search of the last pass was answered, with names still
  waiting, fires again immediately.
* "boost": timers slower than the beacon-anomaly timer (the first with a
  period >= 5 s: index 8, ~8.2 s) that got a reply move their waiting names
  down to it; :meth:`boost` does the same for every slow timer (a beacon
  anomaly: a server appeared or a network came back).
* the disconnect governor: names a server refused (CREATE_CH_FAIL,
  SERVER_DISCONN) wait for the governor, a free-running 10 s timer started
  with the schedule, and then rejoin timer 0 -- so 0 to 10 s later, as
  libca (its governor also free-runs from context creation), and no
  anomaly releases them earlier (no reconnect storm).

One addition to libca for the names of a dead circuit
(``released_by_anomaly``, with the ``server`` they were lost from): they
wait for that server's beacon anomaly (:meth:`boost` with that server),
which a restarted IOC (or one whose network came back) sends as soon as it
is up, or else for one full governor period (10 s) after the loss (for a
circuit that ``failed`` -- a protocol error, or closed at once -- the
governor's next tick, as libca).  (The
shells identify a server by its host, since an IOC may restart on another
port.)  So a
rebooted IOC's names are searched for once, when it is back, instead of
while it is down (libca searches them at the governor's next tick, 0-10 s
after the loss, and backs off while the IOC boots; or leaves them until
that tick, up to 10 s after the IOC is back).  What this rules out, each
measured on the scale bed as extra searches for a rebooted IOC's names
(1.6-3.2 searches per name where 1 suffices): the governor ticking while
the IOC was down, and the anomalies of *other* servers (the start-up
beacons of an IOC rebooted earlier, whose doubling gaps are anomalies for
a minute) releasing them.  The cost: a name that moves to a server on
another host (no anomaly of its own host) is found 10 s after the loss
(libca: 0-10 s).

One addition to libca's congestion rule: a loss that turns out to be a delay
is undone, as TCP undoes a spurious retransmission timeout (RFC 3522,
RFC 4015).  libca judges a pass lost when some reply has not arrived by the
timer's next firing (one round-trip estimate, >= 32 ms, later), and a reply
that arrives after that is ignored.  On a busy host -- a server working
through a burst of 64 datagrams, or a client whose one network thread is
creating the channels of the previous replies -- most such "losses" are
replies 10-100 ms late: each one drops the window to one datagram and halves
the growth threshold, and a connect of 10,000 names spends most of its time
growing it back.  Here the timer remembers the last passes it judged lost
(the names whose replies were missing, its window before the cut); when
every one of those names is answered after all by a reply to that pass (not
to a later search of the name, told apart by the datagram sequence numbers),
the window and threshold are put back to what they were (never lowered).
As in libca, a late reply is no round-trip sample (a reply held up for
seconds would slow every retry).  A reply that really is missing (a name
nobody serves, a datagram dropped) keeps the cut: real congestion is
handled exactly as in libca.

:meth:`retry_now` (caproto's behaviour on every ``get_pvs``) sends every
unanswered name again at once, restarting its back-off.
"""
from __future__ import annotations

import math
from collections.abc import Hashable, Iterable
from typing import NamedTuple

from ._constants import HEADER_SIZE, MAX_UDP_SEND
from ._exceptions import CaprotoValueError
from ._search_messages import search_message_size

__all__ = ('SearchSchedule', 'SearchDatagram', 'search_message_size',
           'MIN_ROUND_TRIP_ESTIMATE', 'MAX_ROUND_TRIP_ESTIMATE',
           'DISCONNECT_GOVERNOR_PERIOD', 'BEACON_ANOMALY_SEARCH_PERIOD')

#: libca minRoundTripEstimate / maxRoundTripEstimate (seconds).
MIN_ROUND_TRIP_ESTIMATE = 0.032
MAX_ROUND_TRIP_ESTIMATE = 30.0
#: libca disconnectGovernorPeriod.
DISCONNECT_GOVERNOR_PERIOD = 10.0
#: libca beaconAnomalySearchPeriod: boosted names go to the first timer whose
#: period is at least this long.
BEACON_ANOMALY_SEARCH_PERIOD = 5.0
#: EPICS_CA_MAX_SEARCH_PERIOD is never taken below this (libca).
MAX_SEARCH_PERIOD_LOWER_LIMIT = 60.0
MAX_FRAMES_PER_TRY = 64
#: Passes judged lost that a timer remembers, to undo the cut if their
#: replies turn out to be late rather than lost (the oldest is forgotten).
MAX_SUSPECT_PASSES = 4
#: Bytes of SEARCH messages one datagram holds after its VERSION header.
DATAGRAM_PAYLOAD_CAPACITY = MAX_UDP_SEND - HEADER_SIZE

_U32 = 0x1_0000_0000
#: "No such entry" in the fast forms' dict lookups (None is a value).
_ABSENT = object()


def _release(table: dict) -> None:
    # A dict keeps the table it grew to when its keys are deleted (tens of
    # bytes for every key it once held: ~100 bytes per PV after a connect
    # of thousands of names); clear() on the emptied dict gives it back.
    if not table:
        table.clear()


def _name_of(key: Hashable) -> str | bytes:
    # A key without an explicit size must be the PV name itself.
    if not isinstance(key, (str, bytes)):
        raise CaprotoValueError(f'search key {key!r} is not a name: give '
                                'its size')
    return key


class SearchDatagram(NamedTuple):
    """Names to send in one datagram, led by VERSION with this sequence."""
    sequence: int
    keys: list


class _SuspectPass:
    """A pass judged lost whose missing replies may still come (late)."""

    __slots__ = ('missing', 'frames_per_try', 'congestion_threshold')

    def __init__(self, missing: set, frames_per_try: float,
                 congestion_threshold: float) -> None:
        # Keys of the pass not answered when it was judged; a key answered
        # later by a reply to that pass (not to a newer search) leaves.
        self.missing = missing
        # The window and threshold before the cut, restored if no reply
        # of this pass was lost after all.
        self.frames_per_try = frames_per_try
        self.congestion_threshold = congestion_threshold


class _Timer:
    __slots__ = ('index', 'requests', 'awaiting', 'deadline', 'attempts',
                 'responses', 'frames_per_try', 'congestion_threshold',
                 'time_at_last_send', 'first_sequence', 'last_sequence',
                 'boost_possible', 'suspects')

    def __init__(self, index: int, boost_possible: bool) -> None:
        self.index = index
        # Waiting to be sent (insertion-ordered; value = message size).
        self.requests: dict = {}
        # Sent at the last firing, no reply yet.
        self.awaiting: dict = {}
        self.deadline: float | None = None
        self.attempts = 0
        self.responses = 0
        self.frames_per_try = 1.0
        self.congestion_threshold = math.inf
        self.time_at_last_send: float | None = None
        self.first_sequence = 0
        # None: no datagram went out at the last firing.
        self.last_sequence: int | None = None
        self.boost_possible = boost_possible
        # Passes judged lost, oldest first (see _SuspectPass).
        self.suspects: list[_SuspectPass] = []


class SearchSchedule:
    """libca's search retry timers for one client context.

    Parameters
    ----------
    now : float
        Current time (any monotonic clock, seconds); the disconnect governor
        ticks every 10 s from here.
    max_search_period : float
        EPICS_CA_MAX_SEARCH_PERIOD (values below 60 are raised to 60); sets
        the number of timers and caps their periods.
    first_sequence : int
        Sequence number of the first datagram (u32, wraps).
    datagram_capacity : int
        Bytes of SEARCH messages per datagram (1008: 1024 minus the VERSION
        header, as libca).

    Notes
    -----
    Keys are usually PV names; any hashable works if ``size`` is given to
    :meth:`add`.  A key is in at most one place: a timer, the disconnect
    governor, or nowhere (answered or cancelled).
    """

    def __init__(self, now: float = 0.0, *, max_search_period: float = 300.0,
                 first_sequence: int = 1,
                 datagram_capacity: int = DATAGRAM_PAYLOAD_CAPACITY) -> None:
        self.max_search_period = max(float(max_search_period),
                                     MAX_SEARCH_PERIOD_LOWER_LIMIT)
        self.timer_count = int(1.0 + math.log2(
            self.max_search_period / MIN_ROUND_TRIP_ESTIMATE))
        anomaly_index = int(math.log2(
            BEACON_ANOMALY_SEARCH_PERIOD / MIN_ROUND_TRIP_ESTIMATE) + 1.0)
        self.beacon_anomaly_index = min(anomaly_index, self.timer_count - 1)
        self._timers = [_Timer(i, i > self.beacon_anomaly_index)
                        for i in range(self.timer_count)]
        self.rtt_mean = MIN_ROUND_TRIP_ESTIMATE
        self.rtt_deviation = 0.0
        # Timers with passes judged lost that may yet prove late.
        self._suspect_timers: list[_Timer] = []
        #: Cuts of the window undone because the replies came late.
        self.losses_undone = 0
        self._next_sequence = first_sequence % _U32
        self._capacity = datagram_capacity
        # key -> timer index, or None while in the disconnect governor.
        self._where: dict[Hashable, int | None] = {}
        self._sizes: dict[Hashable, int] = {}
        # Keys waiting for the governor's free-running tick.
        self._governed: dict[Hashable, None] = {}
        self._governor_epoch = now
        # Keys of dead circuits waiting for their server's beacon anomaly
        # -> their batch: (that server, when the governor releases them
        # otherwise); batch -> its keys.  A batch is usually one circuit's
        # names, so there are few.
        self._lost: dict[Hashable, tuple[Hashable, float]] = {}
        self._lost_batches: dict[tuple[Hashable, float],
                                 dict[Hashable, None]] = {}

    # ------------------------------------------------------------------
    # Introspection

    @property
    def round_trip_estimate(self) -> float:
        """RTTE = mean + 4 x deviation, clamped to [0.032, 30] s."""
        rtte = self.rtt_mean + 4.0 * self.rtt_deviation
        return min(max(rtte, MIN_ROUND_TRIP_ESTIMATE),
                   MAX_ROUND_TRIP_ESTIMATE)

    def period(self, index: int) -> float:
        """Period of timer ``index`` now: 2**index x RTTE, capped."""
        return min((1 << index) * self.round_trip_estimate,
                   self.max_search_period)

    def timer_of(self, key: Hashable) -> int | None:
        """Index of the timer holding ``key`` (None: governor or unknown)."""
        return self._where.get(key)

    def frames_per_try(self, index: int) -> float:
        """Datagrams per try (the congestion window) of timer ``index``."""
        return self._timers[index].frames_per_try

    def __contains__(self, key: Hashable) -> bool:
        return key in self._where

    def __len__(self) -> int:
        return len(self._where)

    @property
    def unanswered(self) -> list:
        """Every key still being searched for (governor included)."""
        return list(self._where)

    def next_deadline(self) -> float | None:
        """When :meth:`poll` next has work, or None if nothing is pending."""
        deadlines = [t.deadline for t in self._timers
                     if t.deadline is not None]
        if self._governed:
            deadlines.append(self._governor_epoch + DISCONNECT_GOVERNOR_PERIOD)
        if self._lost_batches:
            deadlines.append(min(release_at for _, release_at
                                 in self._lost_batches))
        return min(deadlines) if deadlines else None

    # ------------------------------------------------------------------
    # Input

    def add(self, key: Hashable, now: float, size: int | None = None) -> None:
        """Start searching for ``key`` (timer 0, sent at the next poll).

        ``size`` is the SEARCH message's length in bytes; by default computed
        from ``key`` as a PV name.  Adding a key already being searched for
        restarts its back-off.

        Raises
        ------
        CaprotoValueError
            The search would not fit in one datagram, or the name cannot be
            encoded.
        """
        if size is None:
            size = search_message_size(_name_of(key))
        if size > self._capacity:
            raise CaprotoValueError(f'search for {key!r} ({size} bytes) does not '
                             f'fit in a datagram ({self._capacity} bytes)')
        self._remove(key)
        self._sizes[key] = size
        self._install(key, 0, now)

    def answered(self, key: Hashable, now: float,
                 sequence: int | None = None) -> bool:
        """A search reply for ``key`` arrived; stop searching for it.

        Parameters
        ----------
        sequence : int, optional
            Sequence number of the VERSION leading the reply datagram; None
            if the reply had none (pre-4.11 server).  RSRV stamps a reply
            datagram with the sequence of the last request datagram it read
            before sending (it batches the replies to a burst of requests),
            so a reply to the timer's last pass carries that pass's first
            sequence or a later one; a reply with an earlier sequence
            answers an earlier search of the name.  Only replies to the last
            pass count as its responses and as round-trip samples.

        A reply to a pass that its timer has already judged lost is late,
        not lost: when every missing reply of that pass has come, the cut of
        the timer's window is undone.

        Returns
        -------
        bool
            False if ``key`` was not being searched for (a duplicate, or
            the reply to an earlier search of a name answered since).
        """
        return self.answered_many(((key, sequence),), now) == 1

    def add_many(self, keys: Iterable[Hashable], sizes: Iterable[int | None],
                 now: float) -> None:
        """``add(key, now, size)`` for each key and size in turn, in one call
        (a connect adds thousands of names at once).

        Raises
        ------
        CaprotoValueError
            As :meth:`add`, for the first key that does not fit; the keys
            before it are added.
        """
        where = self._where
        all_sizes = self._sizes
        capacity = self._capacity
        timer = self._timers[0]
        requests = timer.requests
        for key, size in zip(keys, sizes):
            if size is None or size > capacity or key in where \
                    or key in all_sizes:
                # Searched for already, to be measured, or refused: the
                # general way.
                self.add(key, now, size)
                continue
            all_sizes[key] = size
            requests[key] = size
            where[key] = 0
            if timer.deadline is None:
                timer.deadline = now

    def answered_many(self, replies: Iterable[tuple[Hashable, int | None]],
                      now: float) -> int:
        """The replies of one datagram (or TCP batch) arrived: ``(key,
        sequence)`` each, in order.

        :meth:`answered` for each reply in turn (same state, same
        round-trip samples in the same order), in one call: a connect's
        thousands of replies each paid ~1 us of calls.  (``answered`` is
        this with one reply: the rules live here once.)

        Returns
        -------
        int
            How many of the keys were being searched for.
        """
        where = self._where
        sizes = self._sizes
        timers = self._timers
        # (timer index, sequence) -> whether the sequence is the timer's
        # last pass or later: nothing here sends, so it holds for the call.
        stamped: dict[tuple[int, int], bool] = {}
        count = 0
        for key, sequence in replies:
            index = where.get(key, -1)
            if index == -1:
                continue    # a duplicate, or an earlier search's reply
            count += 1
            if index is None:
                # Waiting in the disconnect governor: no timer to judge.
                self._remove(key)
                continue
            # _remove(key), for a key in a timer:
            timer = timers[index]
            requests = timer.requests
            awaiting = timer.awaiting
            del where[key]
            requests.pop(key, None)
            sent_this_pass = awaiting.pop(key, _ABSENT) is not _ABSENT
            if not requests and not awaiting:
                timer.deadline = None
                _release(requests)
                _release(awaiting)
            sizes.pop(key, None)
            if not sizes:
                _release(sizes)
                _release(where)
            sent_at = timer.time_at_last_send
            this_pass = sent_this_pass and sent_at is not None
            if this_pass and sequence is not None:
                seen = stamped.get((index, sequence))
                if seen is None:
                    seen = stamped[(index, sequence)] = self._stamped_since(
                        timer, sequence)
                this_pass = seen
            if not this_pass:
                # An answer to an earlier search of the name.
                if self._suspect_timers:
                    self._late_reply(key)
                continue
            self._update_round_trip(now - sent_at)  # type: ignore[operator]
            timer.responses += 1
            if timer.responses == timer.attempts and requests:
                # Everything we sent was answered: send the rest right away.
                timer.deadline = now
        return count

    def cancel(self, keys: Iterable[Hashable]) -> None:
        """Stop searching for ``keys`` (unknown keys are ignored)."""
        for key in keys:
            self._remove(key)

    def disconnected(self, key: Hashable, now: float,
                     size: int | None = None, *,
                     released_by_anomaly: bool = False,
                     server: Hashable | None = None,
                     failed: bool = False) -> None:
        """``key``'s channel lost its server: search again later.

        By default (CREATE_CH_FAIL, SERVER_DISCONN) it rejoins timer 0 at
        the governor's next 10 s tick.  With ``released_by_anomaly`` (its
        circuit died) it rejoins timer 0 at a beacon anomaly of ``server``
        (the server the circuit went to, as :meth:`boost` is given it;
        None: of any server) or else, if the circuit was simply lost (e.g.
        the IOC rebooted), :data:`DISCONNECT_GOVERNOR_PERIOD` after
        ``now``; if it ``failed`` (a protocol error, or closed at once), at
        the governor's next tick.
        """
        if size is None:
            size = self._sizes.get(key)
            if size is None:
                size = search_message_size(_name_of(key))
        self._remove(key)
        self._sizes[key] = size
        self._where[key] = None
        if released_by_anomaly:
            if failed:
                release_at = (self._governor_tick_at_or_before(now)
                              + DISCONNECT_GOVERNOR_PERIOD)
            else:
                release_at = now + DISCONNECT_GOVERNOR_PERIOD
            batch = (server, release_at)
            keys = self._lost_batches.get(batch)
            if keys is None:
                keys = self._lost_batches[batch] = {}
            keys[key] = None
            self._lost[key] = batch
            return
        if not self._governed:
            self._governor_epoch = self._governor_tick_at_or_before(now)
        self._governed[key] = None

    def retry_now(self, now: float, *, governed: bool = True) -> None:
        """Send every unanswered name again at once (restarting back-off).

        With ``governed`` False the names waiting in the disconnect governor
        (refused, or lost and waiting for their server's anomaly) keep
        waiting: what a beacon anomaly retries.
        """
        if governed:
            keys = list(self._where)
        else:
            keys = [key for key, index in self._where.items()
                    if index is not None]
        for key in keys:
            self._detach(key)
        for key in keys:
            self._install(key, 0, now)

    def boost(self, now: float, server: Hashable | None = None) -> None:
        """Beacon anomaly of ``server``: search soon for names it may have.

        Names in timers slower than the beacon-anomaly index (~8.2 s) move
        there, so they are searched within about 8 s (libca); names whose
        circuit to ``server`` was lost (``disconnected(...,
        released_by_anomaly=True, server=server)``, or without a server)
        join timer 0 now: it has restarted or come back.
        """
        target = self.beacon_anomaly_index
        for timer in self._timers[target + 1:]:
            self._move_all(timer, target, now)
        for batch in [batch for batch in self._lost_batches
                      if batch[0] is None or batch[0] == server]:
            self._release_lost(batch, now)

    # ------------------------------------------------------------------
    # Output

    def poll(self, now: float) -> list[SearchDatagram]:
        """Fire every due timer; return the datagrams to send now."""
        datagrams: list[SearchDatagram] = []
        if (self._governed and
                self._governor_epoch + DISCONNECT_GOVERNOR_PERIOD <= now):
            self._governor_epoch = self._governor_tick_at_or_before(now)
            self._release_governed(now)
        if self._lost_batches:
            for batch in [batch for batch in self._lost_batches
                          if batch[1] <= now]:
                self._release_lost(batch, now)
        # Firing one timer can make another due (names moved into an idle
        # timer); each timer can only become due again that way, and names
        # only move upwards, so this settles within a few passes.
        for _ in range(4 * self.timer_count):
            due = [t for t in self._timers
                   if t.deadline is not None and t.deadline <= now]
            if not due:
                break
            for timer in due:
                datagrams.extend(self._fire(timer, now))
        return datagrams

    # ------------------------------------------------------------------
    # Internals

    def _governor_tick_at_or_before(self, now: float) -> float:
        # The governor free-runs: it ticks at epoch + k * 10 s.
        periods = math.floor((now - self._governor_epoch)
                             / DISCONNECT_GOVERNOR_PERIOD)
        return self._governor_epoch + periods * DISCONNECT_GOVERNOR_PERIOD

    def _release_governed(self, now: float) -> None:
        governed = self._governed
        for key in list(governed):
            del governed[key]
            del self._where[key]
            self._install(key, 0, now)
        _release(governed)

    def _release_lost(self, batch: tuple[Hashable, float], now: float
                      ) -> None:
        lost = self._lost
        for key in self._lost_batches.pop(batch):
            del lost[key]
            del self._where[key]
            self._install(key, 0, now)
        _release(lost)

    def _update_round_trip(self, measured: float) -> None:
        measured = min(max(measured, MIN_ROUND_TRIP_ESTIMATE),
                       MAX_ROUND_TRIP_ESTIMATE)
        error = measured - self.rtt_mean
        self.rtt_mean += 0.125 * error
        self.rtt_deviation += 0.25 * (abs(error) - self.rtt_deviation)

    def _stamped_since(self, timer: _Timer, sequence: int) -> bool:
        # Sequence between the timer's last pass's first datagram and the
        # newest datagram sent (by any timer).
        if timer.last_sequence is None:
            return False        # the last firing sent nothing
        span = (self._next_sequence - 1 - timer.first_sequence) % _U32
        return (sequence - timer.first_sequence) % _U32 <= span

    def _late_reply(self, key: Hashable) -> None:
        for timer in self._suspect_timers:
            for suspect in timer.suspects:
                if key in suspect.missing:
                    break
            else:
                continue
            suspect.missing.discard(key)
            if not suspect.missing:
                # Nothing of that pass was lost: undo its cut.
                timer.suspects.remove(suspect)
                if not timer.suspects:
                    self._suspect_timers.remove(timer)
                timer.frames_per_try = max(timer.frames_per_try,
                                           suspect.frames_per_try)
                timer.congestion_threshold = max(
                    timer.congestion_threshold,
                    suspect.congestion_threshold)
                self.losses_undone += 1
            return

    def _remember_suspect(self, timer: _Timer, missing: set) -> None:
        # Called before _adjust_frames cuts the window of a lossy pass.
        if not missing:
            return
        suspect = _SuspectPass(missing, timer.frames_per_try,
                               timer.congestion_threshold)
        if not timer.suspects:
            self._suspect_timers.append(timer)
        timer.suspects.append(suspect)
        if len(timer.suspects) > MAX_SUSPECT_PASSES:
            del timer.suspects[0]

    def _install(self, key, index: int, now: float) -> None:
        timer = self._timers[index]
        timer.requests[key] = self._sizes[key]
        self._where[key] = index
        if timer.deadline is None:
            timer.deadline = now

    def _remove(self, key) -> None:
        self._detach(key)
        sizes = self._sizes
        sizes.pop(key, None)
        if not sizes:
            _release(sizes)
            _release(self._where)

    def _detach(self, key) -> None:
        # Take ``key`` out of its timer or the governor; keep its size.
        if key not in self._where:
            return
        index = self._where.pop(key)
        if index is None:
            if key in self._governed:
                del self._governed[key]
            else:
                batch = self._lost.pop(key)
                keys = self._lost_batches[batch]
                del keys[key]
                if not keys:
                    del self._lost_batches[batch]
        else:
            timer = self._timers[index]
            timer.requests.pop(key, None)
            timer.awaiting.pop(key, None)
            if not timer.requests and not timer.awaiting:
                # Nothing left to send or to wait for; the pass's attempt
                # and response counts are kept for the next firing.
                timer.deadline = None
                _release(timer.requests)
                _release(timer.awaiting)

    def _move_all(self, timer: _Timer, target: int, now: float) -> None:
        for key in list(timer.awaiting):
            if timer.attempts > 0:
                timer.attempts -= 1
            del timer.awaiting[key]
            self._install(key, target, now)
        for key in list(timer.requests):
            del timer.requests[key]
            self._install(key, target, now)
        timer.deadline = None

    def _fire(self, timer: _Timer, now: float) -> list[SearchDatagram]:
        last = self.timer_count - 1
        up = min(timer.index + 1, last)
        # Names sent last time that got no reply move to the slower timer.
        missing = list(timer.awaiting)
        for key in missing:
            del timer.awaiting[key]
            self._install(key, up, now)
        _release(timer.awaiting)
        timer.time_at_last_send = now
        if timer.responses and timer.boost_possible:
            for key in list(timer.requests):
                del timer.requests[key]
                self._install(key, self.beacon_anomaly_index, now)
        if timer.attempts:
            if timer.responses < timer.attempts:
                self._remember_suspect(timer, set(missing))
            self._adjust_frames(timer)
        timer.attempts = timer.responses = 0
        timer.first_sequence = self._next_sequence
        datagrams = self._pack(timer)
        timer.last_sequence = ((self._next_sequence - 1) % _U32
                               if datagrams else None)
        if timer.requests or timer.awaiting:
            timer.deadline = now + self.period(timer.index)
        else:
            timer.deadline = None
        return datagrams

    @staticmethod
    def _adjust_frames(timer: _Timer) -> None:
        if timer.responses == timer.attempts:
            if timer.frames_per_try < MAX_FRAMES_PER_TRY:
                if timer.frames_per_try < timer.congestion_threshold:
                    timer.frames_per_try = min(2 * timer.frames_per_try,
                                               timer.congestion_threshold)
                else:
                    timer.frames_per_try += 1.0 / timer.frames_per_try
        else:
            timer.congestion_threshold = timer.frames_per_try / 2.0
            timer.frames_per_try = 1.0

    def _pack(self, timer: _Timer) -> list[SearchDatagram]:
        # Fill datagrams in order, at most frames_per_try of them, as
        # libca's send loop does.
        datagrams: list[SearchDatagram] = []
        current: list = []
        used = 0
        capacity = self._capacity
        requests = timer.requests
        taken = []
        # Iterate in place and remove afterwards: copying all the pending
        # requests for every call (a few frames each) was quadratic in the
        # number of PVs being searched.
        for item in requests.items():
            size = item[1]
            if used + size > capacity:
                datagrams.append(self._seal(current))
                current, used = [], 0
                if len(datagrams) >= timer.frames_per_try:
                    break
            current.append(item[0])
            taken.append(item)
            used += size
        awaiting = timer.awaiting
        for key, size in taken:
            del requests[key]
            awaiting[key] = size
        if not requests:
            _release(requests)
        timer.attempts += len(taken)
        if current:
            datagrams.append(self._seal(current))
        return datagrams

    def _seal(self, keys: list) -> SearchDatagram:
        datagram = SearchDatagram(self._next_sequence, keys)
        self._next_sequence = (self._next_sequence + 1) % _U32
        return datagram
