"""Requests whose element count exceeds the PV's (NELM): cawire answers as
a real softIoc does.

The same raw CA requests go to a softIoc and to a cawire IOC serving
equivalent PVs (scalar ``ao``/``stringout``, waveforms of 3 DOUBLEs and of
2 STRINGs); each server is compared on what it replies and on what it then
holds (a count-0 read in the native type):

* WRITE and WRITE_NOTIFY with more elements than NELM: RSRV accepts them,
  stores the first NELM elements and (WRITE_NOTIFY) answers ECA_NORMAL
  with the request's count;
* ``caput -a`` with a count over NELM: libca refuses it before sending
  anything ("Invalid element count requested"), whatever the server;
* READ_NOTIFY and EVENT_ADD with a count over NELM: RSRV answers with the
  request's count (zero-filled beyond the PV's elements) and ECA_NORMAL
  (cawire used to refuse the read with ECA_BADCOUNT and cut the
  subscription's count to NELM).

A count whose zero-filled reply would exceed the server's bound is refused
with ECA_TOLARGE by cawire (softIoc, with EPICS_CA_AUTO_ARRAY_BYTES, has no
such bound; that case is tested against cawire alone).
"""
import os
import sys
import textwrap

import numpy as np
import pytest

from cawire.protocol import _commands as c
from cawire.protocol._enums import ChannelType as CT
from cawire.server.testing import IocProcess, RawCircuit
from cawire.testing import epics

pytestmark = pytest.mark.epics

SOFTIOC_DB = '''
record(ao, "N:ao") { field(VAL, "0.5") }
record(stringout, "N:so") { field(VAL, "x") }
record(waveform, "N:wf") { field(FTVL, "DOUBLE") field(NELM, "3")
                           field(INP, {const:[1, 2, 3]}) }
record(waveform, "N:wfs") { field(FTVL, "STRING") field(NELM, "2")
                            field(INP, {const:["a", "b"]}) }
'''

CAWIRE_IOC = textwrap.dedent('''
    from cawire import ChannelType
    from cawire.server import PVGroup, ioc_arg_parser, pvproperty, run

    class CountIOC(PVGroup):
        ao = pvproperty(value=0.5)
        so = pvproperty(value='x', dtype=ChannelType.STRING)
        wf = pvproperty(value=[1.0, 2.0, 3.0])
        wfs = pvproperty(value=['a', 'b'], dtype=ChannelType.STRING)

    if __name__ == '__main__':
        ioc_options, run_options = ioc_arg_parser(
            default_prefix='N:', desc='element count test IOC')
        run(CountIOC(**ioc_options).pvdb, **run_options)
''')

#: (PV, request type, values): every one longer than the PV's NELM.
WRITES = [
    ('N:ao', CT.DOUBLE, [1.5, 2.5, 3.5]),
    ('N:so', CT.STRING, [b'first', b'second']),
    ('N:wf', CT.DOUBLE, [4.0, 5.0, 6.0, 7.0, 8.0]),
    ('N:wf', CT.LONG, [9, 10, 11, 12]),
    ('N:wf', CT.STRING, [b'13', b'14', b'15', b'16']),
    ('N:wfs', CT.STRING, [b'p', b'q', b'r']),
]
#: (PV, NELM) for the reads.
READS = [('N:ao', 1), ('N:wf', 3), ('N:wfs', 2)]


def _plain(values):
    if isinstance(values, list):
        return [item.decode('latin-1') if isinstance(item, bytes) else item
                for item in values]
    return np.asarray(values).tolist()


def _status(reply):
    return type(reply).__name__, int(reply.status.code_with_severity)


def _drain(circuit, settle=0.3):
    """Everything the server sends until it has been quiet ``settle`` s."""
    received = []
    while True:
        try:
            received.append(circuit.next(settle))
        except TimeoutError:
            return received


def _read_back(circuit, sid, native_type):
    circuit.send(c.ReadNotifyRequest(native_type, 0, sid, 99))
    reply = circuit.expect(c.ReadNotifyResponse)
    return reply.data_count, _plain(reply.data)


def write_outcomes(port):
    """(what the server replied, what it holds afterwards) per write."""
    outcomes = {}
    for notify in (False, True):
        for index, (name, request, values) in enumerate(WRITES):
            with RawCircuit(port) as circuit:
                created = circuit.create_channel(name, index)
                cls = c.WriteNotifyRequest if notify else c.WriteRequest
                circuit.send(cls(values, request, len(values), created.sid,
                                 7))
                replies = []
                for reply in _drain(circuit):
                    entry = _status(reply)
                    if isinstance(reply, c.WriteNotifyResponse):
                        entry += (reply.data_type, reply.data_count,
                                  reply.ioid)
                    replies.append(entry)
                held = _read_back(circuit, created.sid, created.data_type)
            outcomes[notify, name, request.name, len(values)] = (replies,
                                                                 held)
    return outcomes


def read_outcomes(port):
    """Replies to a READ_NOTIFY and an EVENT_ADD of NELM + 2 elements."""
    outcomes = {}
    for index, (name, nelm) in enumerate(READS):
        with RawCircuit(port) as circuit:
            created = circuit.create_channel(name, index)
            native = created.data_type
            circuit.send(c.ReadNotifyRequest(native, nelm + 2, created.sid,
                                             5))
            read = [(_status(reply), getattr(reply, 'data_count', None))
                    for reply in _drain(circuit)]
            circuit.send(c.EventAddRequest(native, nelm + 2, created.sid, 6,
                                           0.0, 0.0, 0.0, 1))
            update = [(_status(reply), getattr(reply, 'data_count', None))
                      for reply in _drain(circuit)]
        outcomes[name] = (read, update)
    return outcomes


def caput_outcomes(env):
    """caput -a with a count over NELM: exit status, message, value after."""
    outcomes = {}
    for args in (['-a', 'N:wf', '5', '1', '2', '3', '4', '5'],
                 ['-a', 'N:ao', '3', '7', '8', '9'],
                 ['-c', '-a', 'N:wf', '4', '1', '2', '3', '4']):
        result = epics.run_tool('caput', *args, env=env)
        error = [line for line in result.stdout.splitlines()
                 + result.stderr.splitlines() if 'ERROR' in line
                 or 'Invalid' in line]
        name = args[args.index('-a') + 1]
        after = epics.run_tool('caget', '-t', name, env=env)
        outcomes[' '.join(args)] = (result.returncode, error,
                                    after.stdout.strip())
    return outcomes


@pytest.fixture(scope='module')
def both(tmp_path_factory, ca_env, repeater):
    folder = tmp_path_factory.mktemp('count_ioc')
    (folder / 'count_ioc.py').write_text(CAWIRE_IOC)
    python_path = os.pathsep.join(
        [str(folder)] + [path for path in sys.path if path])
    results = {}
    with epics.SoftIoc(SOFTIOC_DB,
                       repeater_port=ca_env.repeater_port) as softioc:
        env = epics.epics_env(softioc.server_port, ca_env.repeater_port)
        results['softIoc'] = (write_outcomes(softioc.server_port),
                              read_outcomes(softioc.server_port),
                              caput_outcomes(env))
    with IocProcess('count_ioc', repeater_port=ca_env.repeater_port,
                    PYTHONPATH=python_path) as ioc:
        env = epics.epics_env(ioc.server_port, ca_env.repeater_port)
        results['cawire'] = (write_outcomes(ioc.server_port),
                             read_outcomes(ioc.server_port),
                             caput_outcomes(env))
    return results['softIoc'], results['cawire']


def test_writes_over_nelm_are_taken_as_softioc_takes_them(both):
    (soft, _, _), (ours, _, _) = both
    assert set(soft) == set(ours)
    differences = [(key, 'softIoc', soft[key], 'cawire', ours[key])
                   for key in sorted(soft, key=repr)
                   if soft[key] != ours[key]]
    assert not differences, '\n'.join(map(repr, differences))
    # What the comparison pins down (so that a softIoc change shows here):
    # accepted, the first NELM elements stored.
    replies, held = soft[True, 'N:wf', 'DOUBLE', 5]
    assert replies == [('WriteNotifyResponse', 1, CT.DOUBLE, 5, 7)]
    assert held == (3, [4.0, 5.0, 6.0])
    assert soft[False, 'N:wfs', 'STRING', 3] == ([], (2, ['p', 'q']))


def test_reads_over_nelm_are_answered_as_softioc_answers(both):
    (_, soft, _), (_, ours, _) = both
    assert soft == ours


def test_caput_array_over_nelm_is_refused_by_libca_for_both(both):
    (_, _, soft), (_, _, ours) = both
    assert soft == ours
    for returncode, error, _ in soft.values():
        assert returncode != 0
        assert any('Invalid element count' in line for line in error)


def test_zero_filled_reply_over_the_bound_is_refused(tmp_path, ca_env):
    from cawire.server._circuit import LARGEST_ZERO_FILLED_REPLY
    (tmp_path / 'count_ioc.py').write_text(CAWIRE_IOC)
    python_path = os.pathsep.join(
        [str(tmp_path)] + [path for path in sys.path if path])
    huge = LARGEST_ZERO_FILLED_REPLY // 8 + 1  # DOUBLEs
    with IocProcess('count_ioc', repeater_port=ca_env.repeater_port,
                    PYTHONPATH=python_path) as ioc, \
            RawCircuit(ioc.server_port) as circuit:
        created = circuit.create_channel('N:wf', 1)
        circuit.send(c.ReadNotifyRequest(CT.DOUBLE, huge, created.sid, 5))
        reply = circuit.expect(c.ReadNotifyResponse)
        assert reply.status.name == 'ECA_TOLARGE'
        circuit.send(c.EventAddRequest(CT.DOUBLE, huge, created.sid, 6,
                                       0.0, 0.0, 0.0, 1))
        update = circuit.expect(c.EventAddResponse)
        assert update.status.name == 'ECA_NORMAL'
        assert update.data_count == 3  # cut to the channel's length
        # Within the bound: answered, zero-filled.
        fits = 1000
        circuit.send(c.ReadNotifyRequest(CT.DOUBLE, fits, created.sid, 7))
        reply = circuit.expect(c.ReadNotifyResponse)
        assert reply.status.name == 'ECA_NORMAL'
        assert reply.data_count == fits
        values = np.asarray(reply.data).tolist()
        assert values[:3] == [1.0, 2.0, 3.0] and not any(values[3:])
