"""Circuits for the circuit tests: wiring them through bytes and bringing
them to a known state (shared by test_circuit*.py; not a test module)."""
from cawire.protocol import _commands as cmds
from cawire.protocol._circuit import ClientChannel, VirtualCircuit
from cawire.protocol._enums import ChannelType
from cawire.protocol._state import CLIENT, SERVER


def hexbytes(text):
    return bytes.fromhex(''.join(text.split()))


def wire(buffers):
    return b''.join(bytes(b) for b in buffers)


def feed(circuit, data):
    commands, needed = circuit.recv(data)
    assert needed == 0
    return [circuit.process_command(c) for c in commands]


def connected_client(cids=(1,), sids=(0,), native=ChannelType.DOUBLE):
    """A client circuit that went through E3/E4-like exchanges."""
    circuit = VirtualCircuit(CLIENT, ('127.0.0.1', 5064), 0)
    channels = []
    circuit.send(cmds.VersionRequest(0, 13))
    feed(circuit, bytes(cmds.VersionResponse(13)))
    for cid, sid in zip(cids, sids):
        channel = ClientChannel(f'PV{cid}', circuit, cid)
        circuit.send(channel.create())
        feed(circuit, bytes(cmds.AccessRightsResponse(cid, 3))
             + bytes(cmds.CreateChanResponse(native, 1, cid, sid)))
        channels.append(channel)
    return circuit, channels


class Pair:
    """A client and a server circuit wired back to back through bytes."""

    def __init__(self):
        self.client = VirtualCircuit(CLIENT, ('127.0.0.1', 5064), 0)
        self.server = VirtualCircuit(SERVER, ('127.0.0.1', 50000), None)

    def c2s(self, *commands):
        return feed(self.server, wire(self.client.send(*commands)))

    def s2c(self, *commands):
        return feed(self.client, wire(self.server.send(*commands)))


def server_with_channel():
    pair = Pair()
    channel = ClientChannel('PV', pair.client, 1)
    pair.c2s(channel.version(), channel.create())
    schannel = pair.server.channels[1]
    pair.s2c(schannel.version(), schannel.create(ChannelType.DOUBLE, 1, 10))
    return pair, channel, schannel


def snapshot(circuit):
    """Everything a command may change in ``circuit``, comparable."""
    return (
        dict(circuit.states.states),
        {cid: (ch.states[CLIENT], ch.states[SERVER], ch.sid,
               ch.access_rights, frozenset(ch._ioids),
               frozenset(ch._subscriptionids))
         for cid, ch in circuit.channels.items()},
        dict(circuit.channels_sid),
        {ioid: (request.channel, request.repeats)
         for ioid, request in circuit.outstanding_requests.items()},
        dict(circuit.event_add_commands), frozenset(circuit._cancelling),
        circuit.protocol_version,
    )
