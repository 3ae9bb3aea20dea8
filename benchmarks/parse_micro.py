"""Micro-benchmark: cawire's parser against caproto's, in the same run.

Two workloads (server -> client traffic, parsed by a client):

1. a TCP stream of 100k small monitor updates (EVENT_ADD replies,
   DBR_TIME_DOUBLE, 40 bytes each) delivered in receive-sized chunks, the way
   a circuit sees them; both parsers keep the unparsed tail between chunks
   exactly as their own circuits do (caproto: ``VirtualCircuit.recv``'s
   ``read_from_bytestream`` loop; cawire: ``parse_stream`` with an offset);
2. one READ_NOTIFY reply carrying a DBR_DOUBLE array (80 kB and 8 MB), to
   show that parsing cost does not depend on the array size (zero copy).

Each case runs both implementations alternately (interleaved repeats) and
reports the median.  Run: ``python benchmarks/parse_micro.py [--quick]``.
"""
from __future__ import annotations

import argparse
import statistics
import struct
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from cawire.protocol import _commands as cw  # noqa: E402
from cawire.protocol._framing import parse_stream  # noqa: E402
from cawire.protocol._state import CLIENT  # noqa: E402

try:
    import caproto
    from caproto._commands import read_from_bytestream
except ImportError:  # pragma: no cover - the comparison needs it
    caproto = None


def monitor_stream(count: int) -> bytes:
    """``count`` EVENT_ADD replies, DBR_TIME_DOUBLE, distinct values."""
    one = cw.EventAddResponse(data=[0.0], data_type=20, data_count=1,
                              status=1, subscriptionid=7)
    template = bytearray(bytes(one))
    assert len(template) == 40
    out = bytearray(40 * count)
    pack_value = struct.Struct('>d').pack_into
    for i in range(count):
        out[40 * i:40 * (i + 1)] = template
        pack_value(out, 40 * i + 32, float(i))
    return bytes(out)


def array_message(n_elements: int) -> bytes:
    values = np.arange(n_elements, dtype='>f8')
    msg = cw.ReadNotifyResponse(data=values, data_type=6,
                                data_count=n_elements, status=1, ioid=3)
    return bytes(msg)


def chunks_of(data: bytes, size: int) -> list:
    return [data[i:i + size] for i in range(0, len(data), size)]


# -- the two parsers, each driven like its own circuit -----------------------

def cawire_stream(chunks, touch_data=False):
    """Parse chunk by chunk; like a real receive loop, each chunk's commands
    are handled (optionally: data and metadata decoded) and then dropped.
    Returns (number of commands, last command)."""
    total = 0
    command = None
    tail = b''
    for chunk in chunks:
        buf = tail + chunk if tail else chunk
        parsed, consumed, _ = parse_stream(buf, CLIENT)
        if touch_data:
            for command in parsed:
                command.data
                command.metadata
        total += len(parsed)
        if parsed:
            command = parsed[-1]
        tail = buf[consumed:]
    return total, command


def caproto_stream(chunks, touch_data=False):
    """The same, with caproto's parser driven as its VirtualCircuit.recv
    drives it."""
    read = read_from_bytestream
    need_data = caproto.NEED_DATA
    their_role = caproto.SERVER        # caproto keys parsing by sender role
    total = 0
    last = None
    data = bytearray()
    for chunk in chunks:
        data += chunk
        parsed = []
        while True:
            data, command, _ = read(data, their_role)
            if command is need_data:
                break
            parsed.append(command)
        if touch_data:
            for command in parsed:
                command.data
                command.metadata
        total += len(parsed)
        if parsed:
            last = parsed[-1]
    return total, last


def cawire_one(message, touch_data=False):
    commands, consumed, needed = parse_stream(message, CLIENT)
    if touch_data:
        commands[0].data
    return commands


def caproto_one(message, touch_data=False):
    _, command, _ = read_from_bytestream(message, caproto.SERVER)
    if touch_data:
        command.data
    return [command]


# -- timing ---------------------------------------------------------------------

def interleaved(functions, repeats):
    """Median seconds per function, running them alternately."""
    times = {name: [] for name in functions}
    for _ in range(repeats):
        for name, func in functions.items():
            start = time.perf_counter()
            func()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--quick', action='store_true',
                        help='fewer messages and repeats (smoke run)')
    parser.add_argument('--chunk', type=int, default=16384,
                        help='receive chunk size in bytes (default 16384)')
    args = parser.parse_args(argv)
    if caproto is None:
        print('caproto is not installed: nothing to compare against')
        return 1

    n_updates = 10_000 if args.quick else 100_000
    repeats = 3 if args.quick else 7
    stream = monitor_stream(n_updates)
    chunks = chunks_of(stream, args.chunk)

    # Both must agree before we time them.
    (n_ours, last_ours), (n_theirs, last_theirs) = (cawire_stream(chunks),
                                                    caproto_stream(chunks))
    assert n_ours == n_theirs == n_updates
    assert float(last_ours.data[0]) == float(last_theirs.data[0]) \
        == n_updates - 1

    rows = []
    for touch in (False, True):
        label = (f'{n_updates // 1000}k monitor updates, '
                 f'{args.chunk // 1024} KiB chunks'
                 + (', + data/metadata' if touch else ''))
        medians = interleaved({
            'cawire': lambda: cawire_stream(chunks, touch),
            'caproto': lambda: caproto_stream(chunks, touch),
        }, repeats)
        rows.append((label, medians['cawire'], medians['caproto'],
                     n_updates))

    for n_elements in (10_000, 1_000_000):
        message = array_message(n_elements)
        # caproto parses from a writable buffer (its circuit keeps a
        # bytearray); making it is not counted.
        writable = bytearray(message)
        for touch in (False, True):
            label = (f'1 DOUBLE array, {len(message) / 1e6:.2f} MB'
                     + (', + data' if touch else ''))
            medians = interleaved({
                'cawire': lambda: cawire_one(message, touch),
                'caproto': lambda: caproto_one(writable, touch),
            }, repeats * 5)
            rows.append((label, medians['cawire'], medians['caproto'], 1))

    print(f'python {sys.version.split()[0]}, numpy {np.__version__}, '
          f'caproto {caproto.__version__}; medians of {repeats} '
          '(arrays: 5x) interleaved repeats')
    header = (f'{"case":<56} {"cawire":>12} {"caproto":>12} {"speed-up":>9}'
              f' {"cawire/msg":>11}')
    print(header)
    print('-' * len(header))
    for label, ours_s, theirs_s, n in rows:
        print(f'{label:<56} {_fmt(ours_s):>12} {_fmt(theirs_s):>12} '
              f'{theirs_s / ours_s:>8.1f}x {_fmt(ours_s / n):>11}')
    return 0


def _fmt(seconds: float) -> str:
    if seconds >= 1:
        return f'{seconds:.2f} s'
    if seconds >= 1e-3:
        return f'{seconds * 1e3:.1f} ms'
    return f'{seconds * 1e6:.1f} us'


if __name__ == '__main__':
    sys.exit(main())
