"""The search engine's timers against replies still queued on the socket.

A pass's replies are read one datagram at a time, each followed by the
channels it brings; when the pass's round-trip time runs out meanwhile, the
engine first reads what is queued (``read_replies``) and only then lets the
schedule judge which searches went unanswered.  A reply read by that drain
must not make the schedule judge the replies still queued behind it lost:
on the scale bed that searched 31 of a rebooted IOC's 1,000 names twice in
most reboots.
"""
from __future__ import annotations

import time

from cawire.protocol import Role, SearchRequest, VersionRequest
from cawire.protocol._framing import read_datagram
from cawire.protocol._search_messages import SearchResult
from cawire.threading._search import SearchEngine, SearchItem

SERVER = ('10.77.0.3', 5064)


class ManualLoop:
    """Enough of NetworkLoop for the engine: timers run when told to."""

    def __init__(self):
        self.timers = []

    def call_at(self, deadline, callback):
        handle = _Handle(deadline, callback)
        self.timers.append(handle)
        return handle

    def run_due(self):
        now = time.monotonic()
        for handle in [h for h in self.timers
                       if not h.cancelled and h.deadline <= now]:
            handle.cancelled = True
            handle.callback()


class _Handle:
    def __init__(self, deadline, callback):
        self.deadline = deadline
        self.callback = callback
        self.cancelled = False

    def cancel(self):
        self.cancelled = True


class Names:
    """Collects what the engine found, by name."""

    def __init__(self):
        self.found = []

    def put(self, item):
        self.found.extend(item[1])


def replies_to(payload):
    """The server's answer to one search datagram: the same sequence."""
    commands = read_datagram(payload, None, Role.SERVER)
    sequence = next(c.sequence_id for c in commands
                    if isinstance(c, VersionRequest))
    return [SearchResult(c.cid, SERVER, sequence, 13, None)
            for c in commands if isinstance(c, SearchRequest)]


def searched_names(payloads):
    return [c.name for payload in payloads
            for c in read_datagram(payload, None, Role.SERVER)
            if isinstance(c, SearchRequest)]


def test_replies_queued_behind_the_one_read_are_not_judged_lost():
    loop = ManualLoop()
    sent = []
    queued = []           # reply batches waiting "on the socket"

    def read_replies():
        while queued:
            engine.answered(queued.pop(0))

    engine = SearchEngine(loop, sent.append, read_replies=read_replies)
    results = Names()
    names = [f'S001:{index:04d}' for index in range(31 * 7)]
    engine.add([SearchItem(index + 1, name, results)
                for index, name in enumerate(names)])
    # Grow the window (1, 2, 4 datagrams per pass) with prompt replies.
    for _ in range(2):
        batch, sent[:] = list(sent), []
        for payload in batch:
            engine.answered(replies_to(payload))
    last_pass, sent[:] = list(sent), []
    assert len(last_pass) == 4
    # The replies to that pass are all queued, but the client was busy
    # past the round-trip estimate (32 ms) before reading the first one.
    queued.extend(replies_to(payload) for payload in last_pass)
    time.sleep(0.05)
    engine.answered(queued.pop(0))     # the selector reads one ...
    loop.run_due()
    # ... and every other reply was read before any name was judged lost.
    assert searched_names(sent) == []
    assert sorted(results.found) == sorted(names)
    assert not engine.unanswered
