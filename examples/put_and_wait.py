#!/usr/bin/env python3
"""Write a sequence of setpoints, each after the previous one has settled.

    python put_and_wait.py --setpoint SP --readback RB --tolerance 0.1 1 2 5

For each value: write it to the setpoint PV and wait for the server to
confirm the write (WRITE_NOTIFY: the record has processed), then wait until
the readback PV is within the tolerance of the value, watching it with a
subscription instead of polling.  A refused write or a readback that does not
settle within --timeout stops the sequence with a non-zero exit status.
"""
import argparse
import sys
import threading

from cawire.threading.client import Context


class Settled:
    """Watch a readback until it is within tolerance of a target."""

    def __init__(self, tolerance):
        self.tolerance = tolerance
        self.target = None
        self.latest = None
        self.event = threading.Event()
        self.lock = threading.Lock()

    def aim(self, target):
        with self.lock:
            self.target = target
            self.event.clear()
            self._check()

    def on_update(self, sub, response):
        with self.lock:
            self.latest = float(response.data[0])
            self._check()

    def _check(self):
        if (self.target is not None and self.latest is not None
                and abs(self.latest - self.target) <= self.tolerance):
            self.event.set()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('values', nargs='+', type=float, metavar='VALUE')
    parser.add_argument('--setpoint', required=True, metavar='PV')
    parser.add_argument('--readback', metavar='PV',
                        help='PV to watch (default: the setpoint PV)')
    parser.add_argument('--tolerance', type=float, default=1e-6,
                        metavar='DELTA')
    parser.add_argument('--timeout', type=float, default=10.0,
                        metavar='SECONDS', help='per step')
    args = parser.parse_args(argv)

    ctx = Context()
    setpoint, readback = ctx.get_pvs(args.setpoint,
                                     args.readback or args.setpoint)
    settled = Settled(args.tolerance)
    sub = readback.subscribe()
    sub.add_callback(settled.on_update)   # a bound method: lives with `settled`
    status = 0
    try:
        for value in args.values:
            settled.aim(value)
            response = setpoint.write([value], wait=True, timeout=args.timeout)
            if not response.status.success:
                print(f'{args.setpoint} refused {value}: '
                      f'{response.status.description}', file=sys.stderr)
                status = 1
                break
            if not settled.event.wait(args.timeout):
                print(f'{readback.name} did not reach {value} within '
                      f'{args.timeout} s (last {settled.latest})',
                      file=sys.stderr)
                status = 1
                break
            print(f'{args.setpoint} = {value}: {readback.name} settled at '
                  f'{settled.latest}')
    finally:
        sub.clear()
        ctx.disconnect()
    return status


if __name__ == '__main__':
    sys.exit(main())
