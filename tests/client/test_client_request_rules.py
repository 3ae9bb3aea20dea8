"""PV and Batch build their requests through one rule (the core channel's):
the same default type and count, the same writable-type check.

Before, Batch.read always asked for count 0 and Batch.write skipped the
check that PV.write made; these tests pin that both now send exactly what
PV.read / PV.write send.
"""
import threading

import pytest

from cawire import ChannelType
from cawire.protocol._exceptions import CaprotoValueError
from cawire.threading.client import Batch, Context

WAIT = 10.0


@pytest.fixture
def ctx(softioc):
    context = Context(timeout=WAIT)
    yield context
    context.disconnect()


def recording(cm):
    """Record (type, data_type, data_count) of every request with a reply
    slot that goes through the core circuit."""
    sent = []
    circuit = cm.circuit
    original = circuit.send_request

    def send_request(command, request):
        sent.append((type(command).__name__, command.data_type,
                     command.header.data_count))
        return original(command, request)

    circuit.send_request = send_request
    return sent


def batch_read(pv, **kwargs):
    done = threading.Event()
    with Batch(timeout=WAIT) as b:
        b.read(pv, lambda response: done.set(), **kwargs)
    assert done.wait(WAIT)


def batch_write(pv, data, **kwargs):
    done = threading.Event()
    with Batch(timeout=WAIT) as b:
        b.write(pv, data, lambda response: done.set(), **kwargs)
    assert done.wait(WAIT)


READ_CASES = [{}, {'data_type': 'time'}, {'data_type': 'control'},
              {'data_type': ChannelType.STRING}, {'data_count': 1},
              {'data_type': 'status', 'data_count': 1}]


@pytest.mark.parametrize('protocol_version', [13, 12])
@pytest.mark.parametrize('kwargs', READ_CASES)
def test_batch_read_sends_what_pv_read_sends(ctx, kwargs, protocol_version):
    pv, = ctx.get_pvs('TST:ai')
    pv.wait_for_connection()
    cm = pv.circuit_manager
    # A pre-4.13 server gets the native count, a 4.13 one count 0.
    cm.circuit.protocol_version = protocol_version
    sent = recording(cm)
    pv.read(**kwargs)
    batch_read(pv, **kwargs)
    assert len(sent) == 2
    assert sent[0] == sent[1]
    if 'data_count' not in kwargs:
        assert sent[0][2] == (0 if protocol_version >= 13 else 1)


@pytest.mark.parametrize('kwargs', [{}, {'data_type': 'native'},
                                    {'data_type': ChannelType.STRING},
                                    {'data_type': ChannelType.LONG,
                                     'data_count': 1}])
def test_batch_write_sends_what_pv_write_sends(ctx, kwargs):
    pv, = ctx.get_pvs('TST:ao')
    pv.wait_for_connection()
    sent = recording(pv.circuit_manager)
    value = '1.5' if kwargs.get('data_type') is ChannelType.STRING else [1.5]
    pv.write(value, **kwargs)
    batch_write(pv, value, **kwargs)
    assert len(sent) == 2
    assert sent[0] == sent[1]


@pytest.mark.parametrize('data_type', ['time', 'control',
                                       ChannelType.TIME_DOUBLE,
                                       ChannelType.CTRL_DOUBLE])
def test_batch_write_refuses_what_pv_write_refuses(ctx, data_type):
    pv, = ctx.get_pvs('TST:ao')
    pv.wait_for_connection()
    sent = recording(pv.circuit_manager)
    with pytest.raises(CaprotoValueError, match='Cannot write with data type'):
        pv.write([1.0], data_type=data_type)
    with pytest.raises(CaprotoValueError, match='Cannot write with data type'):
        with Batch(timeout=WAIT) as b:
            b.write(pv, [1.0], lambda response: None, data_type=data_type)
    # Nor without a callback (a plain WRITE).
    with pytest.raises(CaprotoValueError, match='Cannot write with data type'):
        with Batch(timeout=WAIT) as b:
            b.write(pv, [1.0], data_type=data_type)
    assert sent == []
