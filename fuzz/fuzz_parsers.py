#!/usr/bin/env python3
"""atheris target: every cawire parser entry point, for long runs outside CI.

Each input's first byte chooses the entry point; the rest is the peer's
bytes.  The contract (docs/architecture.md) is that bad input raises
``RemoteProtocolError`` and nothing else; any other exception is a crash
that atheris reports with the input that caused it.

Run (see fuzz/README.md)::

    .venv/bin/python fuzz/fuzz_parsers.py -max_total_time=600 fuzz/corpus

Entry points: ``parse_stream`` and ``read_datagram`` in both roles, the
core ``VirtualCircuit`` (recv + process_command) in both roles, the core
``Broadcaster`` (recv + process_commands + search_results), the repeater's
``parse_datagram``/``fill_beacon_address``, the server's UDP search
handler ``Context.udp_search_replies`` and its TCP request handling
(``ServerCircuit.data_received``, with a recording transport).
"""
import sys

import atheris

with atheris.instrument_imports():
    from cawire.protocol import _commands as cmds
    from cawire.protocol._broadcaster import Broadcaster
    from cawire.protocol._circuit import ClientChannel, VirtualCircuit
    from cawire.protocol._exceptions import RemoteProtocolError
    from cawire.protocol._framing import parse_stream, read_datagram
    from cawire.protocol._state import CLIENT, SERVER
    from cawire.repeater import fill_beacon_address, parse_datagram
    from cawire.server import _circuit as server_circuit_module  # noqa: F401
    from cawire.server import _server as server_module

ADDRESS = ('127.0.0.1', 5064)
_SERVER = None


def touch(command):
    repr(command)
    bytes(command)
    for name in ('data', 'metadata', 'name', 'error_message',
                 'original_request', 'status'):
        try:
            getattr(command, name, None)
        except RemoteProtocolError:
            pass


def _server():
    global _SERVER
    if _SERVER is None:
        from cawire.config import Config
        from cawire.ioc_examples.type_varieties import TypeVarietiesIOC
        _SERVER = server_module.Context(TypeVarietiesIOC(prefix='tv:').pvdb, ['127.0.0.1'],
                          config=Config.from_environ({}))
        _SERVER.tcp_port = 5064
    return _SERVER


def stream(data, role):
    commands, consumed, needed = parse_stream(data, role)
    assert 0 <= consumed <= len(data)
    for command in commands:
        touch(command)


def datagram(data, role):
    for command in read_datagram(data, ADDRESS, role):
        touch(command)


def circuit(data, role):
    if role is CLIENT:
        vc = VirtualCircuit(CLIENT, ADDRESS, 0)
        channel = ClientChannel('tv:double', vc, 1)
        vc.send(channel.version(), channel.create())
    else:
        vc = VirtualCircuit(SERVER, ('127.0.0.1', 40000), None)
    # Split in two pieces at a data-chosen point (reassembly paths).
    cut = data[0] % (len(data) + 1) if data else 0
    for piece in (data[1:cut], data[cut:]):
        commands, _ = vc.recv(piece)
        for command in commands:
            touch(command)
            vc.process_command(command)


def broadcaster(data, role):
    bc = Broadcaster(role)
    commands = bc.recv(data, ADDRESS)
    bc.process_commands(commands)
    if role is CLIENT:
        bc.search_results(commands)


def repeater(data, role):
    register, forward = parse_datagram(data)
    assert len(fill_beacon_address(forward, '127.0.0.1')) == len(forward)


def server_search(data, role):
    for reply in _server().udp_search_replies(data, ('127.0.0.1', 40000)):
        assert len(reply) <= 1024
        read_datagram(reply, ADDRESS, CLIENT)


class _Transport:
    """The asyncio transport methods ServerCircuit uses, recording writes."""

    def __init__(self):
        self.written = []
        self.closed = False

    def get_extra_info(self, name, default=None):
        return {'peername': ('127.0.0.1', 40000)}.get(name, default)

    def set_write_buffer_limits(self, high=None, low=None):
        pass

    def write(self, data):
        self.written.append(bytes(data))

    def pause_reading(self):
        pass

    def resume_reading(self):
        pass

    def is_closing(self):
        return self.closed

    def close(self):
        self.closed = True


_LOOP = None


def server_circuit(data, role):
    """The server's TCP request handling (ServerCircuit.data_received) on
    the data, split in two at a data-chosen point; what it writes back must
    parse as whole client-bound messages."""
    import asyncio
    from cawire.server._circuit import ServerCircuit
    global _LOOP
    if _LOOP is None:
        _LOOP = asyncio.new_event_loop()

    async def run():
        circuit = ServerCircuit(_server())
        transport = _Transport()
        circuit.connection_made(transport)
        cut = data[0] % (len(data) + 1) if data else 0
        for piece in (data[1:cut], data[cut:]):
            if transport.closed:
                break
            circuit.data_received(piece)
            await asyncio.sleep(0)
        circuit.connection_lost(None)
        output = b''.join(transport.written)
        commands, consumed, _ = parse_stream(output, CLIENT)
        assert consumed == len(output)

    _LOOP.run_until_complete(run())


TARGETS = [stream, datagram, circuit, broadcaster, repeater, server_search,
           server_circuit]


def test_one_input(data: bytes):
    if len(data) < 1:
        return
    selector = data[0]
    target = TARGETS[(selector >> 1) % len(TARGETS)]
    role = CLIENT if selector & 1 else SERVER
    try:
        target(data[1:], role)
    except RemoteProtocolError:
        pass


def seeds():
    """Valid messages to start from (written to the corpus directory)."""
    client = b''.join(bytes(c) for c in (
        cmds.VersionRequest(0, 13), cmds.CreateChanRequest('tv:double', 1, 13),
        cmds.ReadNotifyRequest(6, 1, 0, 1),
        cmds.WriteNotifyRequest([1.0], 6, 1, 0, 2),
        cmds.EventAddRequest(6, 1, 0, 3, 0, 0, 0, 5)))
    server = b''.join(bytes(c) for c in (
        cmds.VersionResponse(13), cmds.AccessRightsResponse(1, 3),
        cmds.CreateChanResponse(6, 1, 1, 10),
        cmds.ReadNotifyResponse([1.0], 20, 1, 1, 5)))
    search = b''.join(bytes(c) for c in (
        cmds.VersionRequest(0, 13, sequence_id=1),
        cmds.SearchRequest('tv:double', 1, 13)))
    replies = b''.join(bytes(c) for c in (
        cmds.VersionResponse(13, sequence_id=1),
        cmds.SearchResponse(5064, None, 1, 13),
        cmds.RsrvIsUpResponse(13, 5064, 1, '127.0.0.1')))
    out = []
    for index in range(len(TARGETS)):
        out.append(bytes([index << 1]) + client)          # server role
        out.append(bytes([index << 1 | 1]) + server)      # client role
    out.append(bytes([1 << 1]) + search)
    out.append(bytes([1 << 1 | 1]) + replies)
    out.append(bytes([5 << 1]) + search)
    out.append(bytes([6 << 1]) + b'\x40' + client)
    return out


def main():
    if len(sys.argv) > 1 and sys.argv[1] == '--write-seeds':
        import pathlib
        corpus = pathlib.Path(sys.argv[2])
        corpus.mkdir(parents=True, exist_ok=True)
        for index, seed in enumerate(seeds()):
            (corpus / f'seed-{index:02d}').write_bytes(seed)
        return
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == '__main__':
    main()
