"""The cawire demo: a random-walk IOC and a client watching it, on loopback.

Starts, on free 127.0.0.1 ports, the cawire repeater and
``python -m cawire.ioc_examples.random_walk``, then a threading-client Context
that reads ``random_walk:dt``, speeds the walk up, and prints ``--updates``
monitor updates of ``random_walk:x``. Everything it starts is stopped on exit.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import queue
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # run from a checkout even without the install

REQUIRED_MODULES = {
    'cawire.ioc_examples.random_walk': 'the random_walk demo IOC',
    'cawire.threading.client': 'the threading client',
    'cawire.repeater': 'the repeater',
}


def missing_modules() -> list[str]:
    missing = []
    for name, what in REQUIRED_MODULES.items():
        try:
            found = importlib.util.find_spec(name) is not None
        except ImportError:
            found = False
        if not found:
            missing.append(f'{name} ({what})')
    return missing


def start(argv: list[str], env: dict) -> subprocess.Popen:
    return subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL,
                            start_new_session=True)


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def watch(updates: int, timeout: float) -> int:
    from cawire.threading.client import Context

    ctx = Context()
    x, dt = ctx.get_pvs('random_walk:x', 'random_walk:dt', timeout=timeout)
    x.wait_for_connection(timeout=timeout)
    dt.wait_for_connection(timeout=timeout)
    print(f'connected: {x}')
    print(f'random_walk:dt = {dt.read(timeout=timeout).data[0]} s; '
          f'setting it to 0.2 s')
    dt.write([0.2], wait=True, timeout=timeout)

    received: queue.Queue = queue.Queue()
    def on_update(sub, response):
        received.put(response)

    subscription = x.subscribe(data_type='time')
    # Subscriptions hold callbacks weakly (as caproto's): keep on_update alive.
    subscription.add_callback(on_update)
    deadline = time.monotonic() + timeout + updates * 0.2 * 5
    for number in range(1, updates + 1):
        remaining = deadline - time.monotonic()
        try:
            response = received.get(timeout=max(remaining, 0.0))
        except queue.Empty:
            print(f'demo: only {number - 1} of {updates} updates arrived',
                  file=sys.stderr)
            return 1
        stamp = response.metadata.timestamp
        clock = time.strftime('%H:%M:%S', time.localtime(stamp))
        print(f'{number:3d}  {clock}.{int(stamp % 1 * 1000):03d}'
              f'  random_walk:x = {response.data[0]: .6f}')
    subscription.clear()
    ctx.disconnect()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--updates', type=int, default=10,
                        help='number of monitor updates to print (default 10)')
    parser.add_argument('--timeout', type=float, default=10.0,
                        help='seconds to wait for connections (default 10)')
    args = parser.parse_args()

    missing = missing_modules()
    if missing:
        print('demo: cannot run yet; these parts of cawire are missing:\n  '
              + '\n  '.join(missing), file=sys.stderr)
        return 2

    from cawire.testing.epics import epics_settings, free_port, wait_for_tcp
    server_port, repeater_port = free_port(), free_port()
    env = {**os.environ, **epics_settings(server_port, repeater_port),
           'PYTHONPATH': os.pathsep.join(filter(None, [str(REPO),
                                                       os.environ.get('PYTHONPATH')]))}
    os.environ.update(epics_settings(server_port, repeater_port))
    print(f'demo: server port {server_port}, repeater port {repeater_port} '
          '(loopback only)')
    processes = []
    try:
        processes.append(start([sys.executable, '-m', 'cawire.repeater'], env))
        ioc = start([sys.executable, '-m', 'cawire.ioc_examples.random_walk'], env)
        processes.append(ioc)
        try:
            wait_for_tcp(server_port, timeout=args.timeout,
                         alive=lambda: ioc.poll() is None)
        except TimeoutError as exc:
            print(f'demo: the random_walk IOC did not start: {exc}', file=sys.stderr)
            return 1
        return watch(args.updates, args.timeout)
    finally:
        for process in reversed(processes):
            stop(process)


if __name__ == '__main__':
    sys.exit(main())
