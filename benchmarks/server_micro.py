"""Micro-benchmark: the server's cost per request, in process.

A :class:`cawire.server.Context` serves a small PV database to circuits
whose transport is an in-memory sink (no sockets, no kernel): what is timed
is the server's own work per request -- parsing the client's bytes, the
protocol bookkeeping, building the reply.  Workloads:

* ``read``: READ_NOTIFY of a scalar as DBR_TIME_DOUBLE (reply from the
  channel's cached payload);
* ``read_native``: READ_NOTIFY as DBR_DOUBLE;
* ``sub_cancel``: EVENT_ADD (with its initial update) then EVENT_CANCEL;
* ``write_notify_2sub``: WRITE_NOTIFY of a double watched by two
  subscriptions on the writing circuit (commit, 2 updates, the reply);
* ``fanout_50``: one value change posted to 50 subscribers on 50 circuits
  (time per update);
* ``create_clear``: CREATE_CHAN (ACCESS_RIGHTS + CREATE_CHAN reply) and
  CLEAR_CHANNEL;
* ``udp_search``: a search datagram of 10 names, all found (reply datagram).

Times are CPU time of the process (``time.process_time``), so that other
load on the machine does not count.  Compare two trees back to back by
running this script under each ``PYTHONPATH``; each workload reports the median over ``--repeats`` batches,
in microseconds per operation, and the best batch (steadier than the
median on a loaded machine).  Run:
``PYTHONPATH=<tree> python benchmarks/server_micro.py [--repeats N]``.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time

import cawire
from cawire.server import ChannelDouble, Context
from cawire.server._circuit import ServerCircuit

if os.path.isdir(os.path.join(cawire.__path__[0], 'protocol')):
    from cawire.protocol._framing import parse_stream
else:  # the tree before the core moved to cawire.protocol
    from cawire._framing import parse_stream  # type: ignore[no-redef]

CLIENT = cawire.CLIENT
#: CPU time of this process, not wall time: the figures stay meaningful on a
#: machine shared with other work (waiting for a CPU is not counted).
_clock = time.process_time


class _Sink:
    """Transport stand-in: keeps the byte count, drops the bytes."""

    def __init__(self) -> None:
        self.written = 0
        self.last = b''

    def write(self, data) -> None:
        self.written += len(data)
        self.last = data

    def get_extra_info(self, name, default=None):
        return ('127.0.0.1', 40000) if name == 'peername' else default

    def set_write_buffer_limits(self, high, low) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def close(self) -> None:
        pass

    def is_closing(self) -> bool:
        return False


def _connect(context: Context, names) -> tuple[ServerCircuit, _Sink, dict]:
    """A handshaken circuit with a channel per name; returns name -> sid."""
    circuit = ServerCircuit(context)
    sink = _Sink()
    circuit.connection_made(sink)
    sink.last = b''
    replies = []
    sink.write = lambda data, _r=replies: _r.append(bytes(data))
    hello = [cawire.VersionRequest(0, 13), cawire.HostNameRequest('bench'),
             cawire.ClientNameRequest('bench')]
    hello += [cawire.CreateChanRequest(name, cid, 13)
              for cid, name in enumerate(names)]
    circuit.data_received(b''.join(bytes(c) for c in hello))
    circuit.flush()
    commands, _, _ = parse_stream(b''.join(replies), CLIENT)
    sids = {}
    for command in commands:
        if type(command) is cawire.CreateChanResponse:
            sids[names[command.cid]] = command.sid
    del sink.write
    return circuit, sink, sids


def _time_chunk(circuit: ServerCircuit, chunk: bytes) -> float:
    start = _clock()
    circuit.data_received(chunk)
    return _clock() - start


async def _run(repeats: int) -> dict:
    pvdb = {'bench:scalar': ChannelDouble(value=1.5),
            'bench:watched': ChannelDouble(value=0.0),
            'bench:fanout': ChannelDouble(value=0.0)}
    context = Context(pvdb, interfaces=['127.0.0.1'])
    context.tcp_port = 5064
    results: dict[str, list[float]] = {}

    def record(name: str, seconds: float, operations: int) -> None:
        results.setdefault(name, []).append(seconds / operations * 1e6)

    circuit, sink, sids = _connect(context, ['bench:scalar', 'bench:watched'])
    scalar, watched = sids['bench:scalar'], sids['bench:watched']
    n = 2000
    read_time = b''.join(bytes(cawire.ReadNotifyRequest(20, 1, scalar, i))
                         for i in range(n))
    read_native = b''.join(bytes(cawire.ReadNotifyRequest(6, 1, scalar, i))
                           for i in range(n))
    sub_cancel = b''.join(
        bytes(cawire.EventAddRequest(20, 1, scalar, 10_000 + i, 0, 0, 0, 5))
        + bytes(cawire.EventCancelRequest(20, scalar, 10_000 + i))
        for i in range(n // 2))
    writes = b''.join(bytes(cawire.WriteNotifyRequest([float(i)], 6, 1,
                                                      watched, i))
                      for i in range(n // 2))
    circuit.data_received(
        bytes(cawire.EventAddRequest(20, 1, watched, 1, 0, 0, 0, 5))
        + bytes(cawire.EventAddRequest(6, 1, watched, 2, 0, 0, 0, 5)))

    fan_circuits = [_connect(context, ['bench:fanout']) for _ in range(50)]
    for fan_circuit, _, fan_sids in fan_circuits:
        fan_circuit.data_received(bytes(cawire.EventAddRequest(
            20, 1, fan_sids['bench:fanout'], 1, 0, 0, 0, 5)))
    fanout = pvdb['bench:fanout']
    await asyncio.sleep(0)

    names = [f'bench:scalar' for _ in range(10)]
    search = bytes(cawire.VersionRequest(1, 13, sequence_id=7)) + b''.join(
        bytes(cawire.SearchRequest(name, cid, 13))
        for cid, name in enumerate(names))
    creates = [cawire.CreateChanRequest('bench:scalar', 100 + i, 13)
               for i in range(n // 4)]
    create_chunk = b''.join(bytes(c) for c in creates)

    for _ in range(repeats):
        record('read', _time_chunk(circuit, read_time), n)
        record('read_native', _time_chunk(circuit, read_native), n)
        record('sub_cancel', _time_chunk(circuit, sub_cancel), n // 2)
        record('write_notify_2sub', _time_chunk(circuit, writes), n // 2)
        await asyncio.sleep(0)

        start = _clock()
        for i in range(200):
            fanout.commit(float(i))
        record('fanout_50', _clock() - start, 200 * 50)
        await asyncio.sleep(0)

        replies: list[bytes] = []
        sink.write = lambda data, _r=replies: _r.append(bytes(data))
        start = _clock()
        circuit.data_received(create_chunk)
        created = _clock() - start
        commands, _, _ = parse_stream(b''.join(replies), CLIENT)
        clears = b''.join(bytes(cawire.ClearChannelRequest(c.sid, c.cid))
                          for c in commands
                          if type(c) is cawire.CreateChanResponse)
        start = _clock()
        circuit.data_received(clears)
        record('create_clear', created + _clock() - start,
               len(creates))
        del sink.write

        start = _clock()
        for _ in range(500):
            context.udp_search_replies(search, ('127.0.0.1', 40001))
        record('udp_search', _clock() - start, 500)
        await asyncio.sleep(0)
    for fan_circuit, _, _ in fan_circuits:
        fan_circuit.close()
    circuit.close()
    return {name: (statistics.median(values), min(values))
            for name, values in results.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--repeats', type=int, default=15)
    parser.add_argument('--json', action='store_true',
                        help='print one JSON object (for scripts)')
    args = parser.parse_args()
    medians = asyncio.run(_run(args.repeats))
    if args.json:
        print(json.dumps(medians))
        return
    print(f'cawire from {cawire.__file__}')
    print(f'{"":>20}  {"median":>8}  {"best":>8}  (us/op)')
    for name, (median, best) in medians.items():
        print(f'{name:>20}: {median:8.2f}  {best:8.2f}')


if __name__ == '__main__':
    main()
