#!/usr/bin/env python3
"""Monitor many PVs and write every update to a CSV file.

    python monitor_to_csv.py --out data.csv --duration 60 PV [PV ...]

One row per update: the IOC's time stamp (ISO 8601, UTC), the PV name, the
value (arrays as space-separated numbers), the alarm severity.  Rows are
written by one thread, in the order the updates arrive; the file is flushed
once per second so that a crash loses at most a second of data.

Runs until --duration seconds have passed or --count updates were written
(or Ctrl-C).  PVs that do not exist yet are simply waited for: the client
keeps searching and their updates start when they appear.
"""
import argparse
import csv
import datetime
import queue
import sys
import time

from cawire.threading.client import Context


def value_text(data):
    if len(data) == 1:
        return str(data[0])
    return ' '.join(str(item) for item in data)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('pvs', nargs='+', metavar='PV')
    parser.add_argument('--out', default='monitor.csv', metavar='FILE')
    parser.add_argument('--duration', type=float, default=10.0,
                        metavar='SECONDS')
    parser.add_argument('--count', type=int, default=None,
                        metavar='UPDATES', help='stop after this many rows')
    args = parser.parse_args(argv)

    # Callbacks run on the client's threads: hand the updates to the main
    # thread through a queue and do the file I/O here.
    updates = queue.Queue()

    def on_update(sub, response):
        updates.put((sub.pv.name, response))

    ctx = Context()
    pvs = ctx.get_pvs(*args.pvs)
    subscriptions = [pv.subscribe(data_type='time') for pv in pvs]
    for sub in subscriptions:
        sub.add_callback(on_update)     # `on_update` stays referenced here

    rows = 0
    end = time.monotonic() + args.duration
    next_flush = time.monotonic() + 1.0
    with open(args.out, 'w', newline='') as file:
        writer = csv.writer(file)
        writer.writerow(['timestamp', 'pv', 'value', 'severity'])
        try:
            while time.monotonic() < end and (args.count is None
                                              or rows < args.count):
                try:
                    name, response = updates.get(timeout=0.1)
                except queue.Empty:
                    continue
                stamp = datetime.datetime.fromtimestamp(
                    response.metadata.timestamp, datetime.timezone.utc)
                writer.writerow([stamp.isoformat(), name,
                                 value_text(response.data),
                                 int(response.metadata.severity)])
                rows += 1
                if time.monotonic() >= next_flush:
                    file.flush()
                    next_flush = time.monotonic() + 1.0
        except KeyboardInterrupt:
            pass
    for sub in subscriptions:
        sub.clear()
    ctx.disconnect()
    print(f'{rows} updates written to {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
