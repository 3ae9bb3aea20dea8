"""``ReadyFlag``: an asyncio.Event that costs nothing until awaited.

A client holds two of these per PV (found, connected), for thousands of
PVs; ``asyncio.Event`` keeps a deque per instance.  This one keeps a bool
and makes its list of waiters only when somebody waits.
"""
from __future__ import annotations

import asyncio

__all__ = ('ReadyFlag',)


class ReadyFlag:
    """``is_set() / set() / clear() / await wait()``, as asyncio.Event."""

    __slots__ = ('_value', '_waiters')

    def __init__(self) -> None:
        self._value = False
        self._waiters: list[asyncio.Future] | None = None

    def is_set(self) -> bool:
        return self._value

    def set(self) -> None:
        if self._value:
            return
        self._value = True
        waiters, self._waiters = self._waiters, None
        if waiters:
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(True)

    def clear(self) -> None:
        self._value = False

    async def wait(self) -> bool:
        if self._value:
            return True
        waiter = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(waiter)
        try:
            return await waiter
        finally:
            if self._waiters is not None and waiter in self._waiters:
                self._waiters.remove(waiter)
