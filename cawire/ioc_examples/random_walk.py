#!/usr/bin/env python3
"""A PV ``x`` that takes a random step every ``dt`` seconds.

Run with ``python -m cawire.ioc_examples.random_walk [--prefix P] [--list-pvs]``.
"""
import random
from typing import Any

from cawire.server import PVGroup, ioc_arg_parser, pvproperty, run


class RandomWalkIOC(PVGroup):
    """``x`` takes a random step in [-1, 1) every ``dt`` seconds."""

    dt = pvproperty(value=3.0, units='s', precision=3, lower_ctrl_limit=0.001,
                    upper_ctrl_limit=3600.0, doc='Delta time [sec]')
    x = pvproperty(value=0.0, precision=3, doc='The random float value')

    @x.startup  # type: ignore[no-redef]
    async def x(self, instance: Any, async_lib: Any) -> None:
        """Update x forever, pausing dt between steps."""
        while True:
            await instance.write(instance.value + 2.0 * random.random() - 1.0)
            await async_lib.sleep(self.dt.value)


def main(argv: list[str] | None = None) -> None:
    ioc_options, run_options = ioc_arg_parser(
        default_prefix='random_walk:', desc=RandomWalkIOC.__doc__ or '',
        argv=argv)
    ioc = RandomWalkIOC(**ioc_options)
    print('PVs:', list(ioc.pvdb), flush=True)
    run(ioc.pvdb, **run_options)


if __name__ == '__main__':
    main()
