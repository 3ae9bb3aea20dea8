#!/usr/bin/env python3
"""Counters updated at a configurable rate, for benchmarks.

PVs (default prefix ``fast_counter:``):

* ``count`` (LONG): incremented ``rate`` times per second;
* ``rate`` (DOUBLE, Hz): writable; 0 pauses the updates;
* ``array`` (DOUBLE[array_length]): rewritten with ``count`` + ramp at every
  update (large-payload monitors).

Run ``python -m cawire.ioc_examples.fast_counter --rate 1000
--array_length 10000``.
"""
import asyncio
from typing import Any

import numpy as np

from cawire.server import PVGroup, ioc_arg_parser, pvproperty, run

#: Updates made back to back at most, when the loop fell behind schedule.
MAX_CATCH_UP = 100


class FastCounterIOC(PVGroup):
    """A counter and an array updated ``rate`` times per second."""

    count = pvproperty(value=0, doc='Update counter')
    rate = pvproperty(value=100.0, units='Hz', precision=1,
                      doc='Updates per second (0 pauses)')
    array = pvproperty(value=[0.0], max_length=1, doc='Array updated with count')

    def __init__(self, *args: Any, rate: float = 100.0,
                 array_length: int = 1000, **kwargs: Any) -> None:
        self._initial_rate = float(rate)
        self._array_length = max(int(array_length), 1)
        super().__init__(*args, **kwargs)
        self.array.max_length = self._array_length
        self._ramp = np.arange(self._array_length, dtype=np.float64)
        self.array.commit(self._ramp.copy())
        self.rate.commit(self._initial_rate)

    @rate.putter  # type: ignore[no-redef]
    async def rate(self, instance: Any, value: Any) -> Any:
        if value < 0:
            raise ValueError('rate must be >= 0')
        return value

    @count.startup  # type: ignore[no-redef]
    async def count(self, instance: Any, async_lib: Any) -> None:
        """Increment ``count`` and rewrite ``array`` on schedule."""
        loop = asyncio.get_running_loop()
        deadline = loop.time()
        while True:
            rate = self.rate.value
            if rate <= 0:
                await asyncio.sleep(0.1)
                deadline = loop.time()
                continue
            period = 1.0 / rate
            updates = 0
            while deadline <= loop.time() and updates < MAX_CATCH_UP:
                value = instance.value + 1
                instance.commit(value)
                self.array.commit(self._ramp + value)
                deadline += period
                updates += 1
            if updates == MAX_CATCH_UP:  # hopelessly behind: resynchronise
                deadline = loop.time()
            await asyncio.sleep(max(0.0, deadline - loop.time()))


def main(argv: list[str] | None = None) -> None:
    ioc_options, run_options = ioc_arg_parser(
        default_prefix='fast_counter:', desc=FastCounterIOC.__doc__ or '',
        macros={'rate': '100', 'array_length': '1000'}, argv=argv)
    macros = ioc_options.pop('macros')
    ioc = FastCounterIOC(rate=float(macros['rate']),
                         array_length=int(macros['array_length']), **ioc_options)
    print('PVs:', list(ioc.pvdb), flush=True)
    run(ioc.pvdb, **run_options)


if __name__ == '__main__':
    main()
