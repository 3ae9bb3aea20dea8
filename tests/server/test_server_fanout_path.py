"""The server's monitor fan-out path, in process (circuits on recording
transports, no sockets): what reaches each client is exactly the core's
EVENT_ADD response for the change, whatever the shortcuts on the way
(headers reused per subscription, one flush callback for all circuits,
conversion options cached per channel).
"""
import asyncio

import numpy as np
import pytest

from cawire import protocol
from cawire.config import Config
from cawire.protocol import ChannelType as CT
from cawire.server import ChannelDouble, ChannelEnum
from cawire.server._circuit import ServerCircuit
from cawire.server._server import Context as ServerContext

VERSION = protocol.DEFAULT_PROTOCOL_VERSION
DBE_VALUE = int(protocol.SubscriptionType.DBE_VALUE)


class RecordingTransport(asyncio.Transport):
    def __init__(self):
        super().__init__()
        self.writes: list[bytes] = []

    def get_extra_info(self, name, default=None):
        return {'peername': ('127.0.0.1', 40000)}.get(name, default)

    def set_write_buffer_limits(self, high=None, low=None):
        pass

    def get_write_buffer_size(self):
        return 0

    def write(self, data):
        self.writes.append(bytes(data))

    def pause_reading(self):
        pass

    def resume_reading(self):
        pass

    def is_closing(self):
        return False

    def close(self):
        pass


class Client:
    """A ServerCircuit with the client's side of the conversation."""

    def __init__(self, server, names):
        self.circuit = ServerCircuit(server)
        self.transport = RecordingTransport()
        self.circuit.connection_made(self.transport)
        requests = [protocol.VersionRequest(0, VERSION),
                    protocol.HostNameRequest('host'),
                    protocol.ClientNameRequest('user')]
        requests += [protocol.CreateChanRequest(name, cid, VERSION)
                     for cid, name in enumerate(names)]
        self.send(*requests)
        self.sids = {}
        for command in self.received():
            if isinstance(command, protocol.CreateChanResponse):
                self.sids[names[command.cid]] = command.sid

    def send(self, *commands):
        self.circuit.data_received(b''.join(bytes(c) for c in commands))

    def received(self):
        data = b''.join(self.transport.writes)
        self.transport.writes.clear()
        commands, consumed, _ = protocol.parse_stream(data,
                                                      protocol.Role.CLIENT)
        assert consumed == len(data)
        return commands

    def subscribe(self, name, data_type, count=0, subscription_id=1):
        self.send(protocol.EventAddRequest(data_type, count, self.sids[name],
                                           subscription_id, 0.0, 0.0, 0.0,
                                           DBE_VALUE))


async def turn():
    """Let the loop run the callbacks queued so far."""
    for _ in range(3):
        await asyncio.sleep(0)


def make_server(pvdb):
    return ServerContext(pvdb, ['127.0.0.1'], config=Config.from_environ({}))


def test_a_change_reaches_every_circuit_in_one_write_each():
    async def main():
        pvdb = {'pv': ChannelDouble(value=1.0, precision=2)}
        server = make_server(pvdb)
        clients = [Client(server, ['pv']) for _ in range(20)]
        for index, client in enumerate(clients):
            client.subscribe('pv', CT.TIME_DOUBLE, 1, subscription_id=index)
        await turn()
        for client in clients:
            initial, = client.received()
            assert initial.data[0] == 1.0
        writer = Client(server, ['pv'])
        for value in (2.5, 3.5):
            writer.send(protocol.WriteRequest([value], CT.DOUBLE, 1,
                                              writer.sids['pv'], 9))
            await turn()
            for index, client in enumerate(clients):
                # One transport write per circuit and change: the flush of
                # every circuit is one loop callback, not one each.
                assert len(client.transport.writes) == 1
                update, = client.received()
                assert isinstance(update, protocol.EventAddResponse)
                assert update.subscriptionid == index
                assert update.data_type == CT.TIME_DOUBLE
                assert update.data_count == 1
                assert update.data[0] == value
                assert update.metadata.timestamp == pytest.approx(
                    pvdb['pv'].timestamp, abs=1e-6)
    asyncio.run(main())


def test_reused_headers_follow_the_payload_size_and_count():
    async def main():
        pvdb = {'wf': ChannelDouble(value=[1.0, 2.0], max_length=10)}
        server = make_server(pvdb)
        client = Client(server, ['wf'])
        client.subscribe('wf', CT.DOUBLE, 0)  # count 0: current length
        client.subscribe('wf', CT.TIME_DOUBLE, 4, subscription_id=2)
        await turn()
        client.received()
        for length in (3, 3, 7, 1, 10, 10, 2):
            values = [float(i) for i in range(length)]
            await pvdb['wf'].write(values)
            await turn()
            plain, timed = sorted(client.received(),
                                  key=lambda update: update.subscriptionid)
            assert plain.data_count == length
            assert np.asarray(plain.data).tolist() == values
            # A fixed count: cut or zero-filled to 4 elements.
            assert timed.data_count == 4
            assert np.asarray(timed.data).tolist() == \
                (values + [0.0] * 4)[:4]
    asyncio.run(main())


def test_conversion_options_are_built_once_until_metadata_changes(
        monkeypatch):
    built = []
    original = ChannelDouble._conversion_options

    def counting(self):
        built.append(self)
        return original(self)
    monkeypatch.setattr(ChannelDouble, '_conversion_options', counting)

    async def main():
        pvdb = {'pv': ChannelDouble(value=1.0, precision=2)}
        server = make_server(pvdb)
        client = Client(server, ['pv'])
        client.subscribe('pv', CT.STRING, 1)
        await turn()
        assert client.received()[0].data == [b'1.00']
        sid = client.sids['pv']
        for index, text in enumerate([b'2.125', b'3.5', b'4']):
            # Written as text, read back as text: both conversions need
            # the options.
            client.send(protocol.WriteNotifyRequest([text], CT.STRING, 1,
                                                    sid, index))
            await turn()
            update, reply = client.received()  # the update goes first
            assert reply.status.name == 'ECA_NORMAL'
        assert update.data == [b'4.00']
        assert len(built) == 1
        await pvdb['pv'].write_metadata(precision=4)
        await turn()
        client.received()
        client.send(protocol.WriteNotifyRequest([b'5.5'], CT.STRING, 1, sid,
                                                10))
        await turn()
        update, reply = client.received()
        assert reply.status.name == 'ECA_NORMAL'
        assert update.data == [b'5.5000']
        assert len(built) == 2
    asyncio.run(main())


def test_enum_strings_changed_by_write_metadata_reach_conversions():
    async def main():
        pvdb = {'e': ChannelEnum(enum_strings=['a', 'b'], value='a')}
        server = make_server(pvdb)
        client = Client(server, ['e'])
        sid = client.sids['e']
        client.send(protocol.WriteNotifyRequest([b'b'], CT.STRING, 1, sid, 1))
        await turn()
        reply, = client.received()
        assert reply.status.name == 'ECA_NORMAL'
        await pvdb['e'].write_metadata(enum_strings=['x', 'y', 'z'])
        client.send(protocol.WriteNotifyRequest([b'z'], CT.STRING, 1, sid, 2))
        await turn()
        reply, = client.received()
        assert reply.status.name == 'ECA_NORMAL'
        assert pvdb['e'].value == 'z'
    asyncio.run(main())
