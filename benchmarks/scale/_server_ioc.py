"""cawire's own server as a scale-test IOC: ``count`` DOUBLE PVs
``<prefix>0000``... (the names the softIoc database of the bed serves).

``python -m benchmarks.scale._server_ioc <prefix> <count> [<period>]``: with a
period (seconds), every PV's value is incremented that often, so monitors
see updates as they do from the softIoc's periodically scanned records.
"""
from __future__ import annotations

import asyncio
import sys

from cawire.server import ChannelDouble, run


def main() -> None:
    prefix, count = sys.argv[1], int(sys.argv[2])
    period = float(sys.argv[3]) if len(sys.argv) > 3 else 0.0
    pvdb = {f'{prefix}{index:04d}': ChannelDouble(value=0.0)
            for index in range(count)}

    async def tick(_async_lib=None):
        if period <= 0:
            return

        async def loop():
            value = 0.0
            while True:
                await asyncio.sleep(period)
                value += 1
                for channel in pvdb.values():
                    await channel.write(value)
        asyncio.get_running_loop().create_task(loop())

    run(pvdb, startup_hook=tick)


if __name__ == '__main__':
    main()
