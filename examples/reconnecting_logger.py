#!/usr/bin/env python3
"""Log PV values and connection changes; survives IOC restarts.

    python reconnecting_logger.py --duration 3600 PV [PV ...]

Prints one line per update and one per connection change, with the local
time.  When an IOC goes away the PVs are reported disconnected; when it comes
back (restarted, even on another port) cawire reconnects and restores the
subscriptions by itself, so the log simply continues.  Nothing in this script
handles reconnection: subscriptions survive it.
"""
import argparse
import datetime
import sys
import threading

from cawire.threading.client import Context


def now():
    return datetime.datetime.now().isoformat(timespec='milliseconds')


class Logger:
    def __init__(self, out):
        self.out = out
        self.lock = threading.Lock()

    def write(self, text):
        with self.lock:
            print(f'{now()} {text}', file=self.out, flush=True)

    # Bound methods are held weakly by cawire (with weakref.WeakMethod):
    # they stay registered as long as this Logger object lives.
    def on_connection(self, pv, state):
        self.write(f'{pv.name} {state}')

    def on_update(self, sub, response):
        data = response.data
        value = data[0] if len(data) == 1 else list(data)
        self.write(f'{sub.pv.name} = {value}')


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('pvs', nargs='+', metavar='PV')
    parser.add_argument('--duration', type=float, default=None,
                        metavar='SECONDS', help='default: until Ctrl-C')
    args = parser.parse_args(argv)

    logger = Logger(sys.stdout)
    ctx = Context()
    pvs = ctx.get_pvs(*args.pvs, connection_state_callback=logger.on_connection)
    subscriptions = [pv.subscribe() for pv in pvs]
    for sub in subscriptions:
        sub.add_callback(logger.on_update)
    stop = threading.Event()
    try:
        stop.wait(args.duration)
    except KeyboardInterrupt:
        pass
    finally:
        ctx.disconnect()
    return 0


if __name__ == '__main__':
    sys.exit(main())
