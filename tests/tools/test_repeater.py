"""cawire.repeater: byte rules, socket behaviour, and interoperability with
the real caRepeater, softIoc beacons and libca (pyepics, caget)."""
import os
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from cawire import repeater as rep
from cawire.config import Config
from cawire.testing import epics

from db_layout import TEST_PREFIX

REPO = Path(__file__).resolve().parents[2]
LOOPBACK_P2 = 0x7F000001
HEADER = struct.Struct('>HHHHII')

BEACON_P2_ZERO = bytes.fromhex('000d0000000d88f8 0000000900000000')
BEACON_P2_SET = bytes.fromhex('000d0000000d88f8 000000090a000001')
REGISTER = bytes.fromhex('00180000 00000000 00000000 7f000001')
CONFIRM_LOOPBACK = bytes.fromhex('00110000 00000000 00000000 7f000001')


# --- sans-I/O rules ---------------------------------------------------------

def test_zero_length_datagram_registers():
    assert rep.parse_datagram(b'') == (True, b'')


def test_register_header_registers_and_the_rest_is_forwarded():
    assert rep.parse_datagram(REGISTER) == (True, b'')
    assert rep.parse_datagram(REGISTER + BEACON_P2_ZERO) == (True, BEACON_P2_ZERO)


@pytest.mark.parametrize('data', [BEACON_P2_ZERO, b'\x00\x18abc', b'x',
                                  bytes(16), BEACON_P2_ZERO + REGISTER])
def test_other_datagrams_are_forwarded_unchanged(data):
    assert rep.parse_datagram(data) == (False, data)


def test_beacon_without_address_gets_the_source_ip():
    filled = rep.fill_beacon_address(BEACON_P2_ZERO, '127.0.0.1')
    assert filled == bytes.fromhex('000d0000000d88f8 000000097f000001')


@pytest.mark.parametrize('data', [BEACON_P2_SET, bytes(16), b'\x00\x0d',
                                  REGISTER])
def test_fill_beacon_address_leaves_other_messages_alone(data):
    assert rep.fill_beacon_address(data, '127.0.0.1') is data


def test_only_a_leading_beacon_is_filled():
    data = BEACON_P2_ZERO + BEACON_P2_ZERO
    filled = rep.fill_beacon_address(data, '10.1.2.3')
    assert filled[:16] == bytes.fromhex('000d0000000d88f8 000000090a010203')
    assert filled[16:] == BEACON_P2_ZERO


def test_confirm_message_matches_capture_e21():
    assert rep.confirm_message('127.0.0.1') == CONFIRM_LOOPBACK
    assert rep.NOOP_MESSAGE == bytes(16)


def test_is_local_address():
    assert rep.is_local_address('127.0.0.1')
    assert rep.is_local_address('127.1.2.3')
    assert not rep.is_local_address('203.0.113.5')  # TEST-NET-3, never ours


def test_multicast_groups_from_beacon_list_else_address_list():
    config = Config.from_environ({
        'EPICS_CA_ADDR_LIST': '239.1.1.1 10.0.0.1',
        'EPICS_CAS_BEACON_ADDR_LIST': '224.0.0.9 127.0.0.1 224.0.0.9:6000'})
    assert rep.multicast_groups(config) == ['224.0.0.9']
    config = Config.from_environ({'EPICS_CA_ADDR_LIST': '239.1.1.1 10.0.0.1'})
    assert rep.multicast_groups(config) == ['239.1.1.1']
    assert rep.multicast_groups(Config.from_environ({})) == []


# --- the repeater over real sockets ---------------------------------------

@pytest.fixture
def served():
    """A Repeater serving in a thread on a fresh port."""
    repeater = rep.Repeater(epics.free_port())
    thread = threading.Thread(target=repeater.serve_forever, daemon=True)
    thread.start()
    yield repeater
    repeater.stop()
    thread.join(5)
    assert not thread.is_alive()
    repeater.close()


@pytest.fixture
def udp_socket():
    """Factory for UDP sockets bound on loopback, closed after the test."""
    sockets = []

    def make():
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(('127.0.0.1', 0))
        sock.settimeout(2)
        sockets.append(sock)
        return sock

    yield make
    for sock in sockets:
        sock.close()


def receive(sock, timeout=2.0):
    """Next datagram, or None after ``timeout``."""
    sock.settimeout(timeout)
    try:
        return sock.recv(65536)
    except socket.timeout:
        return None


def nothing_arrives(sock, timeout=0.3):
    return receive(sock, timeout) is None


def register(sock, port, message=b''):
    sock.sendto(message, ('127.0.0.1', port))
    return receive(sock)


def wait_until(condition, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def test_registration_forms_are_confirmed(served, udp_socket):
    first, second = udp_socket(), udp_socket()
    assert register(first, served.port) == CONFIRM_LOOPBACK
    assert register(second, served.port, REGISTER) == CONFIRM_LOOPBACK
    assert set(served.clients) == {first.getsockname(), second.getsockname()}


def test_new_client_triggers_noop_to_the_others(served, udp_socket):
    first, second = udp_socket(), udp_socket()
    register(first, served.port)
    assert register(second, served.port) == CONFIRM_LOOPBACK
    assert receive(first) == bytes(16)
    assert nothing_arrives(second)


def test_re_registration_re_confirms_and_noops_the_others(served, udp_socket):
    # caRepeater sends the noop on every registration, not only new ones.
    first, second = udp_socket(), udp_socket()
    register(first, served.port)
    register(second, served.port)
    assert receive(first) == bytes(16)
    assert register(second, served.port) == CONFIRM_LOOPBACK
    assert receive(first) == bytes(16)
    assert nothing_arrives(second)
    assert len(served.clients) == 2


def test_datagrams_fan_out_to_everyone_but_the_sender(served, udp_socket):
    first, second, third = udp_socket(), udp_socket(), udp_socket()
    for sock in (first, second, third):
        register(sock, served.port)
    receive(first), receive(first), receive(second)  # the noops
    message = bytes.fromhex('0017000000000000 0000000000000000') + b'payload!'
    second.sendto(message, ('127.0.0.1', served.port))
    assert receive(first) == message
    assert receive(third) == message
    assert nothing_arrives(second)


def test_beacons_get_the_source_address_and_reach_all_clients(served, udp_socket):
    client, server = udp_socket(), udp_socket()
    register(client, served.port)
    server.sendto(BEACON_P2_ZERO, ('127.0.0.1', served.port))
    data = receive(client)
    assert data[:12] == BEACON_P2_ZERO[:12]
    assert HEADER.unpack(data)[5] == LOOPBACK_P2
    server.sendto(BEACON_P2_SET, ('127.0.0.1', served.port))
    assert receive(client) == BEACON_P2_SET


def test_register_with_trailing_message_forwards_the_rest(served, udp_socket):
    first, second = udp_socket(), udp_socket()
    register(first, served.port)
    second.sendto(REGISTER + BEACON_P2_SET, ('127.0.0.1', served.port))
    assert receive(second) == CONFIRM_LOOPBACK
    received = {receive(first), receive(first)}
    assert received == {bytes(16), BEACON_P2_SET}


def test_client_whose_port_is_free_is_dropped_at_next_registration(served,
                                                                   udp_socket):
    gone, newcomer = udp_socket(), udp_socket()
    register(gone, served.port)
    gone_address = gone.getsockname()
    gone.close()
    register(newcomer, served.port)
    assert wait_until(lambda: gone_address not in served.clients)
    assert newcomer.getsockname() in served.clients


def test_client_is_dropped_when_sends_to_it_fail(served, udp_socket):
    gone, listener, sender = udp_socket(), udp_socket(), udp_socket()
    register(gone, served.port)
    register(listener, served.port)
    gone_address = gone.getsockname()
    gone.close()
    # The first send draws an ICMP "port unreachable"; the repeater's socket
    # connected to that client reports it on the next send.
    for _ in range(10):
        sender.sendto(BEACON_P2_SET, ('127.0.0.1', served.port))
        if wait_until(lambda: gone_address not in served.clients, timeout=0.2):
            break
    assert gone_address not in served.clients
    assert listener.getsockname() in served.clients


def test_non_local_registration_is_ignored(served):
    served.handle_datagram(b'', ('203.0.113.5', 6000))
    assert ('203.0.113.5', 6000) not in served.clients


def test_second_repeater_on_the_same_port_is_refused(served):
    with pytest.raises(rep.RepeaterAlreadyRunning):
        rep.Repeater(served.port)


# --- the command line --------------------------------------------------------

def module_env():
    return {**os.environ, 'PYTHONPATH': os.pathsep.join(
        filter(None, [str(REPO), os.environ.get('PYTHONPATH')]))}


def test_command_line_exits_quietly_when_the_port_is_taken(served):
    result = subprocess.run(
        [sys.executable, '-m', 'cawire.repeater', '--port', str(served.port)],
        env=module_env(), capture_output=True, text=True, timeout=20)
    assert result.returncode == 0
    assert result.stdout == '' and result.stderr == ''


@pytest.fixture
def cawire_repeater_process(monkeypatch):
    """``python -m cawire.repeater`` as a subprocess on a fresh port."""
    monkeypatch.setenv('PYTHONPATH', module_env()['PYTHONPATH'])
    port = epics.free_port()
    with epics.Repeater(port, argv=[sys.executable, '-m', 'cawire.repeater',
                                    '-v', '--port', str(port)]) as process:
        yield process


def test_command_line_repeater_logs_registrations(cawire_repeater_process,
                                                  udp_socket):
    client = udp_socket()
    assert register(client, cawire_repeater_process.port) == CONFIRM_LOOPBACK
    assert wait_until(lambda: f'Registered client 127.0.0.1:{client.getsockname()[1]}'
                      in cawire_repeater_process.output())


# --- interoperability with EPICS base ---------------------------------------

def test_softioc_beacons_are_fanned_out_with_address(cawire_repeater_process,
                                                     udp_socket, isolated_ioc):
    client = udp_socket()
    register(client, cawire_repeater_process.port)
    ioc = isolated_ioc(server_port=epics.free_port(),
                       repeater_port=cawire_repeater_process.port)
    deadline = time.monotonic() + 5
    beacon = None
    while beacon is None and time.monotonic() < deadline:
        data = receive(client, timeout=max(deadline - time.monotonic(), 0.01))
        if data and len(data) == 16 and HEADER.unpack(data)[0] == 13:
            beacon = HEADER.unpack(data)
    assert beacon is not None, 'no beacon arrived'
    command, payload_size, version, server_port, beacon_id, address = beacon
    assert (payload_size, version, server_port) == (0, 13, ioc.server_port)
    assert address == LOOPBACK_P2


def scenario(port, make_socket):
    """What two registered clients receive from a fixed exchange."""
    first, second, server = make_socket(), make_socket(), make_socket()
    seen = {'first': [], 'second': []}
    seen['first'].append(register(first, port))
    seen['second'].append(register(second, port, REGISTER))
    seen['first'].append(receive(first))  # noop for the newcomer
    seen['second'].append(register(second, port))  # re-register: confirm only
    server.sendto(BEACON_P2_ZERO, ('127.0.0.1', port))
    first.sendto(b'\x00\x17' + bytes(14), ('127.0.0.1', port))
    seen['first'].append(receive(first))
    seen['second'].append(receive(second))
    seen['second'].append(receive(second))
    seen['first'].append(receive(first, timeout=0.3))
    return seen


def test_same_behaviour_as_epics_carepeater(served, udp_socket):
    ours = scenario(served.port, udp_socket)
    with epics.Repeater(epics.free_port()) as reference:
        theirs = scenario(reference.port, udp_socket)
    assert ours == theirs
    assert theirs['first'][0] == CONFIRM_LOOPBACK
    assert theirs['first'][1] == bytes(16)


def test_libca_registers_with_our_repeater(served, ca_env):
    # libca (through pyepics) registers ~10 s after its UDP side starts,
    # which happens when the first channel is created.
    env = epics.epics_env(ca_env.server_port, served.port)
    code = ('import epics, time\n'
            'epics.ca.create_channel("REPEATER:TEST:none", connect=False)\n'
            'time.sleep(30)\n')
    process = subprocess.Popen([sys.executable, '-c', code], env=env,
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        assert wait_until(lambda: len(served.clients) > 0, timeout=25), \
            'libca never registered'
        (ip, port), = served.clients
        assert ip == '127.0.0.1'
        ports = {conn.laddr.port for conn in
                 psutil.Process(process.pid).net_connections(kind='udp4')}
        assert port in ports  # the registered client is that libca process
    finally:
        process.kill()
        process.wait(5)


def test_libca_tools_use_our_repeater_instead_of_spawning_one(
        cawire_repeater_process, softioc):
    env = epics.epics_env(softioc.server_port, cawire_repeater_process.port)
    result = epics.run_tool('caget', '-t', f'{TEST_PREFIX}long', env=env)
    assert result.stdout.strip() == '-42'
    spawned = [proc for proc in psutil.process_iter(['name', 'environ'])
               if proc.info['name'] == 'caRepeater' and (proc.info['environ'] or {})
               .get('EPICS_CA_REPEATER_PORT') == str(cawire_repeater_process.port)]
    assert spawned == []
