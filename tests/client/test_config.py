"""cawire.config: EPICS environment parsing with libca's quirks."""
import dataclasses
import logging
import socket

import psutil
import pytest

from cawire.config import (Config, ToolEnvironment, client_search_addresses,
                            get_environment_variables,
                            interface_broadcast_addresses, parse_address_list,
                            server_beacon_addresses)


def test_defaults_match_epics_base():
    config = Config.from_environ({})
    assert config.addr_list == []
    assert config.auto_addr_list is True
    assert config.name_servers == []
    assert config.conn_tmo == 30.0
    assert config.beacon_period == 15.0
    assert config.repeater_port == 5065
    assert config.server_port == 5064
    assert config.max_array_bytes == 16384
    assert config.auto_array_bytes is True
    assert config.max_search_period == 300.0
    assert config.cas_server_port == 5064
    assert config.cas_beacon_period == 15.0
    assert config.cas_beacon_port == 5065
    assert config.cas_intf_addr_list == []
    assert config.cas_beacon_addr_list == []
    assert config.cas_auto_beacon_addr_list is True
    assert config.cas_ignore_addr_list == []
    assert config.default_timeout == 2.0
    assert config.string_encoding == 'latin-1'


def test_config_is_frozen():
    config = Config.from_environ({})
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.server_port = 1


def test_from_environ_reads_os_environ_by_default(monkeypatch):
    monkeypatch.setenv('EPICS_CA_SERVER_PORT', '6064')
    assert Config.from_environ().server_port == 6064


def test_get_environment_variables_fills_defaults_and_cas_fallbacks():
    env = get_environment_variables({'EPICS_CA_SERVER_PORT': '7000',
                                     'EPICS_CA_REPEATER_PORT': '7001',
                                     'EPICS_CA_BEACON_PERIOD': '3'})
    assert env['EPICS_CA_AUTO_ADDR_LIST'] == 'YES'
    assert env['EPICS_CAS_SERVER_PORT'] == '7000'
    assert env['EPICS_CAS_BEACON_PORT'] == '7001'
    assert env['EPICS_CAS_BEACON_PERIOD'] == '3'
    assert env['CAPROTO_DEFAULT_TIMEOUT'] == '2.0'


def test_cas_variables_fall_back_to_ca_variables():
    config = Config.from_environ({'EPICS_CA_SERVER_PORT': '7000',
                                  'EPICS_CA_REPEATER_PORT': '7001',
                                  'EPICS_CA_BEACON_PERIOD': '3.5'})
    assert (config.cas_server_port, config.cas_beacon_port,
            config.cas_beacon_period) == (7000, 7001, 3.5)


def test_cas_variables_override_ca_variables():
    config = Config.from_environ({'EPICS_CA_SERVER_PORT': '7000',
                                  'EPICS_CAS_SERVER_PORT': '8000',
                                  'EPICS_CA_REPEATER_PORT': '7001',
                                  'EPICS_CAS_BEACON_PORT': '8001',
                                  'EPICS_CAS_BEACON_PERIOD': '1'})
    assert (config.server_port, config.cas_server_port) == (7000, 8000)
    assert (config.repeater_port, config.cas_beacon_port) == (7001, 8001)
    assert config.cas_beacon_period == 1.0


@pytest.mark.parametrize('text, enabled', [
    ('YES', True), ('yes', True), ('', True), ('maybe', True),
    # libca only looks for the substrings "no" and "NO"
    ('NO', False), ('no', False), ('nope', False), ('NOT', False),
    ('No', True), ('nO', True),
])
def test_auto_addr_list_substring_quirk(text, enabled):
    assert Config.from_environ(
        {'EPICS_CA_AUTO_ADDR_LIST': text}).auto_addr_list is enabled


@pytest.mark.parametrize('text, enabled', [
    ('YES', True), ('yes', True), ('Yes', True), (' yes ', True),
    ('NO', False), ('true', False), ('1', False),
])
def test_other_booleans_compare_to_yes(text, enabled):
    config = Config.from_environ({'EPICS_CA_AUTO_ARRAY_BYTES': text,
                                  'EPICS_CAS_AUTO_BEACON_ADDR_LIST': text})
    assert config.auto_array_bytes is enabled
    assert config.cas_auto_beacon_addr_list is enabled


def test_max_search_period_has_a_floor_of_60(caplog):
    with caplog.at_level(logging.WARNING, logger='cawire.config'):
        config = Config.from_environ({'EPICS_CA_MAX_SEARCH_PERIOD': '10'})
    assert config.max_search_period == 60.0
    assert 'EPICS_CA_MAX_SEARCH_PERIOD' in caplog.text
    assert Config.from_environ(
        {'EPICS_CA_MAX_SEARCH_PERIOD': '120'}).max_search_period == 120.0


def test_bad_numbers_fall_back_to_defaults_with_warning(caplog):
    with caplog.at_level(logging.WARNING, logger='cawire.config'):
        config = Config.from_environ({'EPICS_CA_CONN_TMO': 'soon',
                                      'EPICS_CA_SERVER_PORT': 'x',
                                      'EPICS_CA_REPEATER_PORT': '80',
                                      'EPICS_CA_MAX_ARRAY_BYTES': 'lots',
                                      'CAPROTO_DEFAULT_TIMEOUT': '?'})
    assert config.conn_tmo == 30.0
    assert config.server_port == 5064
    assert config.repeater_port == 5065  # EPICS refuses ports <= 5000
    assert config.max_array_bytes == 16384
    assert config.default_timeout == 2.0
    for name in ('EPICS_CA_CONN_TMO', 'EPICS_CA_SERVER_PORT',
                 'EPICS_CA_REPEATER_PORT', 'EPICS_CA_MAX_ARRAY_BYTES',
                 'CAPROTO_DEFAULT_TIMEOUT'):
        assert name in caplog.text


def test_caproto_variables():
    config = Config.from_environ({'CAPROTO_DEFAULT_TIMEOUT': '0.5',
                                  'CAPROTO_STRING_ENCODING': 'utf-8'})
    assert config.default_timeout == 0.5
    assert config.string_encoding == 'utf-8'


def test_address_list_ports_dedupe_and_order():
    assert parse_address_list(
        '10.0.0.1 10.0.0.2:6000\t10.0.0.1\n10.0.0.1:5064 10.0.0.2:6000', 5064
    ) == [('10.0.0.1', 5064), ('10.0.0.2', 6000)]


def test_address_list_resolves_host_names():
    expected = socket.gethostbyname('localhost')
    assert parse_address_list('localhost:7000', 5064) == [(expected, 7000)]


@pytest.mark.parametrize('token', ['10.0.0.1:', '10.0.0.1:x', '10.0.0.1:0',
                                   '10.0.0.1:70000', '300.1.2.3',
                                   'no-such-host.invalid'])
def test_address_list_skips_bad_tokens_with_warning(token, caplog):
    with caplog.at_level(logging.WARNING, logger='cawire.config'):
        result = parse_address_list(f'10.9.9.9 {token} 10.8.8.8:6000', 5064)
    assert result == [('10.9.9.9', 5064), ('10.8.8.8', 6000)]
    assert token in caplog.text


def test_address_lists_in_config_use_their_default_ports():
    config = Config.from_environ({
        'EPICS_CA_SERVER_PORT': '7000', 'EPICS_CA_REPEATER_PORT': '7001',
        'EPICS_CA_ADDR_LIST': '127.0.0.1 127.0.0.2:9000',
        'EPICS_CA_NAME_SERVERS': '127.0.0.3',
        'EPICS_CAS_BEACON_ADDR_LIST': '127.0.0.4',
        'EPICS_CAS_INTF_ADDR_LIST': '127.0.0.1',
        'EPICS_CAS_IGNORE_ADDR_LIST': '127.0.0.9'})
    assert config.addr_list == [('127.0.0.1', 7000), ('127.0.0.2', 9000)]
    assert config.name_servers == [('127.0.0.3', 7000)]
    assert config.cas_beacon_addr_list == [('127.0.0.4', 7001)]
    assert config.cas_intf_addr_list == [('127.0.0.1', 7000)]
    assert [ip for ip, _ in config.cas_ignore_addr_list] == ['127.0.0.9']


def _psutil_broadcasts():
    stats = psutil.net_if_stats()
    found = set()
    for name, addresses in psutil.net_if_addrs().items():
        if name not in stats or not stats[name].isup:
            continue
        for address in addresses:
            if address.family == socket.AF_INET and address.broadcast:
                found.add(address.broadcast)
    return found


def test_interface_broadcast_addresses_match_psutil():
    assert set(interface_broadcast_addresses()) == _psutil_broadcasts()


def test_interface_filter_selects_interfaces_by_address():
    assert interface_broadcast_addresses(['203.0.113.77']) == []


def test_client_search_addresses_without_auto_is_just_the_list():
    config = Config.from_environ({'EPICS_CA_AUTO_ADDR_LIST': 'NO',
                                  'EPICS_CA_ADDR_LIST': '127.0.0.1:7000'})
    assert client_search_addresses(config) == [('127.0.0.1', 7000)]
    assert client_search_addresses(Config.from_environ(
        {'EPICS_CA_AUTO_ADDR_LIST': 'NO'})) == []


def test_client_search_addresses_with_auto_adds_broadcasts_first():
    config = Config.from_environ({'EPICS_CA_SERVER_PORT': '7000',
                                  'EPICS_CA_ADDR_LIST': '127.0.0.1:7001'})
    broadcasts = sorted(_psutil_broadcasts()) or ['255.255.255.255']
    addresses = client_search_addresses(config)
    assert sorted(addresses[:-1]) == [(ip, 7000) for ip in broadcasts]
    assert addresses[-1] == ('127.0.0.1', 7001)


def test_server_beacon_addresses():
    config = Config.from_environ({'EPICS_CAS_AUTO_BEACON_ADDR_LIST': 'NO',
                                  'EPICS_CAS_BEACON_ADDR_LIST': '127.0.0.1',
                                  'EPICS_CA_REPEATER_PORT': '7001'})
    assert server_beacon_addresses(config) == [('127.0.0.1', 7001)]
    auto = Config.from_environ({'EPICS_CAS_BEACON_PORT': '7002'})
    broadcasts = sorted(_psutil_broadcasts()) or ['255.255.255.255']
    assert sorted(server_beacon_addresses(auto)) == [(ip, 7002)
                                                     for ip in broadcasts]


def test_server_beacons_limited_to_interface_list():
    # Loopback has no broadcast address, so binding only to it leaves the
    # explicit list alone (and never the global broadcast).
    config = Config.from_environ({'EPICS_CAS_INTF_ADDR_LIST': '127.0.0.1',
                                  'EPICS_CAS_BEACON_ADDR_LIST': '127.0.0.1:7003'})
    assert server_beacon_addresses(config) == [('127.0.0.1', 7003)]


def test_tool_environment_keeps_the_timeout_text_and_sees_posixly_correct():
    assert ToolEnvironment.from_environ({}) == ToolEnvironment(None, False)
    tools = ToolEnvironment.from_environ({'EPICS_CLI_TIMEOUT': ' abc',
                                          'POSIXLY_CORRECT': ''})
    # Unparsed: the tools report a bad value in caget's own words.
    assert tools.cli_timeout == ' abc'
    assert tools.posixly_correct is True


def test_tool_environment_reads_os_environ_by_default(monkeypatch):
    monkeypatch.setenv('EPICS_CLI_TIMEOUT', '0.5')
    monkeypatch.delenv('POSIXLY_CORRECT', raising=False)
    assert ToolEnvironment.from_environ() == ToolEnvironment('0.5', False)
