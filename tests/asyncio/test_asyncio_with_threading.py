"""The threading and asyncio clients in one process at the same time: each
reads, writes and monitors the softIoc while the other does, and both shut
down cleanly."""
import asyncio
import threading
import time

from cawire.asyncio.client import Context as AsyncContext
from cawire.threading.client import Context as ThreadContext

WAIT = 10.0


def test_threading_and_asyncio_clients_side_by_side(softioc):
    thread_ctx = ThreadContext(timeout=WAIT)
    try:
        t_counter, t_ao = thread_ctx.get_pvs('TST:counter', 'TST:ao')
        t_values = []

        def on_update(sub, response):
            t_values.append(float(response.data[0]))

        t_sub = t_counter.subscribe()
        t_sub.add_callback(on_update)

        async def main():
            async with AsyncContext(timeout=WAIT) as ctx:
                a_counter, a_ao = await ctx.get_pvs('TST:counter', 'TST:ao')
                a_values = []
                async for response in a_counter.subscribe():
                    a_values.append(float(response.data[0]))
                    # The threading client works meanwhile (its own thread).
                    await asyncio.to_thread(t_ao.write, [len(a_values)],
                                            wait=True)
                    assert (await a_ao.read()).data[0] == len(a_values)
                    if len(a_values) >= 3:
                        break
                await a_ao.write(12.0, wait=True)
                return a_values

        a_values = asyncio.run(asyncio.wait_for(main(), 60))
        assert len(a_values) == 3
        assert t_ao.read().data[0] == 12.0
        deadline = time.monotonic() + WAIT
        while len(t_values) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(t_values) >= 3
        t_sub.clear()
    finally:
        thread_ctx.disconnect()
