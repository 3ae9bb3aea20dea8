"""Helpers shared by the network loop's unit tests."""
import threading

WAIT = 5.0


def run_on(loop, func, *args):
    """Run ``func(*args)`` on the loop thread and return its result."""
    done = threading.Event()
    result = []
    loop.call_soon(lambda: (result.append(func(*args)), done.set()))
    assert done.wait(WAIT)
    return result[0]
