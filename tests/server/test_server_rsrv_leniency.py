"""Where RSRV is lenient, our server is too: the same raw CA bytes go to a
real softIoc and to a cawire IOC, and both must answer alike.

* a request before the client's VERSION: RSRV counts the client as minor
  version 0 (too old): ERROR ECA_DEFUNCT, no channel named (cid
  0xFFFFFFFF), the request ignored and the circuit kept;
* a second CREATE_CHAN with a cid already in use: a second channel with
  its own sid, both served, clearing one leaves the other;
* a CLEAR_CHANNEL whose cid is not the channel's: the sid's channel is
  cleared and the request's header is echoed.

Each request is sent alone and answered before the next (RSRV discards the
rest of what it has read when it refuses an early request, so several
requests in one segment would test TCP segmentation, not the rule).
"""
import pytest

from cawire.protocol import _commands as c
from cawire.protocol._enums import ChannelType
from cawire.protocol._status import CAStatus
from cawire.server.testing import IocProcess, RawCircuit

pytestmark = pytest.mark.epics

NO_CID = 0xFFFFFFFF
SETTLE = 0.5  # seconds of silence that count as "no answer"


@pytest.fixture(scope='module')
def cawire_ioc(ca_env):
    with IocProcess('cawire.ioc_examples.type_varieties',
                    repeater_port=ca_env.repeater_port) as process:
        yield process


@pytest.fixture(params=['softIoc', 'cawire'])
def server(request, ca_env):
    """(port, name of a DOUBLE scalar PV) of each kind of server."""
    if request.param == 'softIoc':
        return request.getfixturevalue('softioc').server_port, 'TST:ai'
    return (request.getfixturevalue('cawire_ioc').server_port,
            'type_varieties:double')


def silence(circuit):
    """True if nothing arrives (and the circuit stays open) for SETTLE s."""
    try:
        command = circuit.next(SETTLE)
    except TimeoutError:
        return True
    raise AssertionError(f'unexpected {command!r}')


def create(circuit, name, cid):
    circuit.send(c.CreateChanRequest(name, cid, 13))
    rights = circuit.expect(c.AccessRightsResponse)
    created = circuit.expect(c.CreateChanResponse)
    assert rights.cid == created.cid == cid
    assert created.data_type == ChannelType.DOUBLE
    return created.sid


def read(circuit, sid, ioid):
    circuit.send(c.ReadNotifyRequest(ChannelType.DOUBLE, 1, sid, ioid))
    reply = circuit.expect(c.ReadNotifyResponse)
    assert reply.ioid == ioid and reply.status == CAStatus.ECA_NORMAL


@pytest.mark.parametrize('early', [
    c.CreateChanRequest('{name}', 1, 13), c.HostNameRequest('somewhere'),
    c.ClientNameRequest('someone')], ids=['create', 'host', 'client'])
def test_request_before_version_is_refused_as_defunct(server, early):
    port, name = server
    if isinstance(early, c.CreateChanRequest):
        early = c.CreateChanRequest(name, 1, 13)
    with RawCircuit(port, handshake=False) as circuit:
        circuit.expect(c.VersionResponse)  # sent at accept
        circuit.send(early)
        error = circuit.expect(c.ErrorResponse)
        assert error.status == CAStatus.ECA_DEFUNCT
        assert error.cid == NO_CID
        assert bytes(error.original_request) == bytes(early)[:16]
        assert silence(circuit)  # ignored, circuit kept
        # The client may still introduce itself and be served.
        circuit.send(c.VersionRequest(0, 13))
        assert silence(circuit)
        read(circuit, create(circuit, name, 2), 1)


def test_cid_used_twice_gets_a_second_channel(server):
    port, name = server
    with RawCircuit(port) as circuit:
        first = create(circuit, name, 5)
        second = create(circuit, name, 5)
        assert first != second
        read(circuit, first, 1)
        read(circuit, second, 2)
        circuit.send(c.ClearChannelRequest(first, 5))
        cleared = circuit.expect(c.ClearChannelResponse)
        assert (cleared.sid, cleared.cid) == (first, 5)
        read(circuit, second, 3)
        circuit.send(c.ClearChannelRequest(second, 5))
        assert circuit.expect(c.ClearChannelResponse).sid == second
        circuit.send(c.EchoRequest())
        circuit.expect(c.EchoResponse)


def test_clear_naming_another_cid_clears_the_sids_channel(server):
    port, name = server
    with RawCircuit(port) as circuit:
        sid = create(circuit, name, 9)
        kept = create(circuit, name, 10)
        circuit.send(c.ClearChannelRequest(sid, 1234))
        echoed = circuit.expect(c.ClearChannelResponse)
        assert (echoed.sid, echoed.cid) == (sid, 1234)
        assert silence(circuit)
        read(circuit, kept, 1)
        # The sid is gone: using it is the usual bad-id protocol error.
        circuit.send(c.ReadNotifyRequest(ChannelType.DOUBLE, 1, sid, 2))
        error = circuit.expect(c.ErrorResponse)
        assert error.original_request.parameter1 == sid
        assert circuit.closed_by_server()
