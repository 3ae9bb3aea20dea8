"""A queue between the server's event loop and worker threads
(``async_lib.ThreadsafeQueue``, as caproto's asyncio layer has it)."""
from __future__ import annotations

import asyncio
import queue
from typing import Any

__all__ = ('ThreadsafeQueue',)


class ThreadsafeQueue:
    """FIFO usable from coroutines (``async_get``/``async_put``) and from
    threads (``get``/``put``).

    Create it inside the event loop (a startup hook): items put from a
    thread wake the loop's waiters through ``call_soon_threadsafe``.
    """

    def __init__(self, maxsize: int = 0):
        self._queue: queue.Queue = queue.Queue(maxsize)
        self._loop = asyncio.get_running_loop()
        self._ready = asyncio.Event()

    async def async_get(self) -> Any:
        """Wait for and return the next item (without blocking the loop)."""
        while True:
            try:
                return self._queue.get_nowait()
            except queue.Empty:
                self._ready.clear()
            try:
                return self._queue.get_nowait()
            except queue.Empty:
                await self._ready.wait()

    async def async_put(self, item: Any) -> None:
        """Add an item from a coroutine (a bounded queue waits for room)."""
        while True:
            try:
                self._queue.put_nowait(item)
                break
            except queue.Full:
                await asyncio.sleep(0.01)
        self._ready.set()

    def get(self, timeout: float | None = None) -> Any:
        """Blocking get for threads."""
        return self._queue.get(timeout=timeout)

    def put(self, item: Any, timeout: float | None = None) -> None:
        """Blocking put for threads."""
        self._queue.put(item, timeout=timeout)
        self._loop.call_soon_threadsafe(self._ready.set)

    def qsize(self) -> int:
        """Approximate number of queued items."""
        return self._queue.qsize()
