"""Discovery in the asyncio client: searches batched behind a VERSION and
retried on libca's schedule, repeater registration and beacons, name
servers over TCP, a shared broadcaster."""
import asyncio
import socket
import time

from cawire.asyncio.client import Context, SharedBroadcaster
from cawire.config import Config
from cawire.protocol import _commands as ca
from cawire.protocol._framing import read_datagram
from cawire.protocol._state import SERVER

WAIT = 10.0


def run(coro, timeout=60.0):
    async def bounded():
        return await asyncio.wait_for(coro, timeout)
    return asyncio.run(bounded())


def make_context(ca_env, broadcaster=None, **environ):
    settings = {'EPICS_CA_AUTO_ADDR_LIST': 'NO',
                'EPICS_CA_ADDR_LIST': f'127.0.0.1:{ca_env.server_port}',
                'EPICS_CA_NAME_SERVERS': '',
                'EPICS_CA_SERVER_PORT': str(ca_env.server_port),
                'EPICS_CA_REPEATER_PORT': str(ca_env.repeater_port)}
    settings.update(environ)
    if broadcaster is None:
        broadcaster = SharedBroadcaster(config=Config.from_environ(settings))
    return Context(broadcaster, timeout=WAIT)


async def eventually(predicate, timeout=WAIT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.01)
    return predicate()


def test_searches_batched_and_retried(ca_env):
    sniffer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sniffer.bind(('127.0.0.1', 0))
    sniffer.setblocking(False)
    port = sniffer.getsockname()[1]

    async def receive(count):
        loop = asyncio.get_running_loop()
        got = []
        for _ in range(count):
            data, address = await asyncio.wait_for(
                loop.sock_recvfrom(sniffer, 65536), WAIT)
            got.append((time.monotonic(), read_datagram(data, address,
                                                        SERVER)))
        return got

    async def main():
        ctx = make_context(ca_env, EPICS_CA_ADDR_LIST=f'127.0.0.1:{port}')
        await ctx.get_pvs(*[f'NOWHERE:{i}' for i in range(50)])
        first = await receive(1)
        commands = first[0][1]
        assert isinstance(commands[0], ca.VersionRequest)
        names = {c.name for c in commands if isinstance(c, ca.SearchRequest)}
        assert len(names) > 10   # many names in one datagram
        retries = await receive(6)
        retried = {c.name for _, commands in retries for c in commands
                   if isinstance(c, ca.SearchRequest)}
        assert retried <= {f'NOWHERE:{i}' for i in range(50)}
        # libca's timers: the retries back off (0.032 s, 0.064 s, ...).
        assert retries[-1][0] - first[0][0] > 0.05
        await ctx.get_pvs('NOWHERE:new')
        seen = set()
        for _ in range(20):
            for _, commands in await receive(1):
                seen.update(c.name for c in commands
                            if isinstance(c, ca.SearchRequest))
            if {'NOWHERE:new', 'NOWHERE:0'} <= seen:
                break
        assert {'NOWHERE:new', 'NOWHERE:0'} <= seen
        await ctx.disconnect()

    try:
        run(main())
    finally:
        sniffer.close()


def test_registers_with_repeater_and_tracks_beacons(ca_env, isolated_ioc):
    ioc = isolated_ioc()

    async def main():
        ctx = make_context(
            ca_env, EPICS_CA_ADDR_LIST=f'127.0.0.1:{ioc.server_port}')
        ai, = await ctx.get_pvs('TST:ai')
        await ai.wait_for_connection()
        assert await eventually(lambda: ctx.broadcaster.registered)
        address = ('127.0.0.1', ioc.server_port)
        assert await eventually(lambda: address in ctx.broadcaster.beacons, 20)
        assert address in ctx.broadcaster.time_since_last_heard()
        assert ai.time_since_last_heard() < 30
        await ctx.disconnect()

    run(main())


def test_name_server_search_over_tcp(ca_env, softioc):
    async def main():
        ctx = make_context(
            ca_env, EPICS_CA_ADDR_LIST='',
            EPICS_CA_NAME_SERVERS=f'127.0.0.1:{ca_env.server_port}')
        ai, = await ctx.get_pvs('TST:ai')
        assert ctx.broadcaster.search_addresses == []
        assert (await ai.read()).data.tolist() == [3.14159]
        link, = ctx.broadcaster.name_servers
        assert link.connected
        await ctx.disconnect()

    run(main())


def test_two_contexts_share_one_broadcaster(ca_env, softioc):
    async def main():
        broadcaster = SharedBroadcaster(config=Config.from_environ({
            'EPICS_CA_AUTO_ADDR_LIST': 'NO',
            'EPICS_CA_ADDR_LIST': f'127.0.0.1:{ca_env.server_port}',
            'EPICS_CA_REPEATER_PORT': str(ca_env.repeater_port)}))
        one = make_context(ca_env, broadcaster)
        two = make_context(ca_env, broadcaster)
        a, = await one.get_pvs('TST:ai')
        b, = await two.get_pvs('TST:ai')
        assert a is not b
        assert (await a.read()).data[0] == (await b.read()).data[0]
        await one.disconnect()
        assert (await b.read()).data[0] == 3.14159
        await two.disconnect()
        broadcaster.disconnect()

    run(main())
