"""The one place cawire reads its environment.

EPICS tools are configured through EPICS_CA_* (client), EPICS_CAS_* (server,
each falling back to its EPICS_CA_* twin) and, for caproto compatibility,
CAPROTO_* variables, and cawire's own CAWIRE_* ones. Everything else in cawire receives a :class:`Config`
instead of touching ``os.environ``, so a test can build one from a plain dict.
The command-line tools' own variables (EPICS_CLI_TIMEOUT, POSIXLY_CORRECT)
are read here too, into a :class:`ToolEnvironment`.

The parsing quirks follow EPICS base (envDefs / addrList / udpiiu) so that the
same environment means the same thing to cawire and to libca/RSRV:

* EPICS_CA_AUTO_ADDR_LIST is *off* only when it contains "no" or "NO" (libca
  looks for those substrings); other booleans compare to "yes" ignoring case.
* EPICS_CA_MAX_SEARCH_PERIOD is clamped to at least 60 seconds.
* Address lists are whitespace-separated ``host`` or ``host:port`` tokens; bad
  tokens are skipped with a warning and duplicates dropped.
* CAWIRE_SPAWN_REPEATER=NO (any case) stops the threading client from
  spawning a repeater when none runs (as libca spawns caRepeater); any other
  value, or none, leaves it on.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import socket
import struct
from collections.abc import Mapping

__all__ = ('Config', 'get_environment_variables', 'parse_address_list',
           'client_search_addresses', 'server_beacon_addresses',
           'interface_broadcast_addresses', 'ENVIRONMENT_DEFAULTS',
           'ToolEnvironment')

logger = logging.getLogger('cawire.config')

# Defaults from EPICS base configure/CONFIG_ENV plus caproto's extras.
ENVIRONMENT_DEFAULTS: dict[str, str] = {
    'EPICS_CA_ADDR_LIST': '',
    'EPICS_CA_AUTO_ADDR_LIST': 'YES',
    'EPICS_CA_NAME_SERVERS': '',
    'EPICS_CA_CONN_TMO': '30.0',
    'EPICS_CA_BEACON_PERIOD': '15.0',
    'EPICS_CA_REPEATER_PORT': '5065',
    'EPICS_CA_SERVER_PORT': '5064',
    'EPICS_CA_MAX_ARRAY_BYTES': '16384',
    'EPICS_CA_AUTO_ARRAY_BYTES': 'YES',
    'EPICS_CA_MAX_SEARCH_PERIOD': '300',
    'EPICS_CA_MCAST_TTL': '1',
    'EPICS_CAS_SERVER_PORT': '',
    'EPICS_CAS_BEACON_PERIOD': '',
    'EPICS_CAS_BEACON_PORT': '',
    'EPICS_CAS_AUTO_BEACON_ADDR_LIST': 'YES',
    'EPICS_CAS_BEACON_ADDR_LIST': '',
    'EPICS_CAS_INTF_ADDR_LIST': '',
    'EPICS_CAS_IGNORE_ADDR_LIST': '',
    'EPICS_AS_CHECK_CLIENT_IP': 'NO',
    'CAPROTO_DEFAULT_TIMEOUT': '2.0',
    'CAPROTO_STRING_ENCODING': 'latin-1',
    'CAWIRE_SPAWN_REPEATER': 'YES',
}

MIN_SEARCH_PERIOD_PLATEAU = 60.0
BROADCAST_FALLBACK = '255.255.255.255'

Address = tuple[str, int]


def get_environment_variables(environ: Mapping[str, str] | None = None
                              ) -> dict[str, str]:
    """Return every variable cawire understands, defaults filled in.

    Parameters
    ----------
    environ : mapping, optional
        Where to read from; ``os.environ`` by default.

    Returns
    -------
    dict
        Variable name to string value (raw text, not parsed). EPICS_CAS_*
        variables that are unset take the value of their EPICS_CA_* fallback.
    """
    if environ is None:
        environ = os.environ
    result = {name: environ.get(name, default)
              for name, default in ENVIRONMENT_DEFAULTS.items()}
    fallbacks = (('EPICS_CAS_SERVER_PORT', 'EPICS_CA_SERVER_PORT'),
                 ('EPICS_CAS_BEACON_PERIOD', 'EPICS_CA_BEACON_PERIOD'),
                 ('EPICS_CAS_BEACON_PORT', 'EPICS_CA_REPEATER_PORT'))
    for server_name, client_name in fallbacks:
        if not result[server_name].strip():
            result[server_name] = result[client_name]
    return result


def _is_yes(text: str) -> bool:
    return text.strip().lower() == 'yes'


def _auto_addr_list_enabled(text: str) -> bool:
    # libca's udpiiu only looks for these two substrings, so "No", "nope" and
    # "YES" all mean "enabled" except where they contain "no"/"NO".
    return 'no' not in text and 'NO' not in text


def _number(environ: Mapping[str, str], name: str, kind, minimum=None):
    text = environ[name].strip()
    default = kind(ENVIRONMENT_DEFAULTS[name] or 0)
    try:
        value = kind(text)
    except ValueError:
        logger.warning('%s=%r is not a valid %s; using %r',
                       name, text, kind.__name__, default)
        value = default
    if minimum is not None and value < minimum:
        logger.warning('%s=%r is below the minimum %r; using %r',
                       name, value, minimum, minimum)
        value = kind(minimum)
    return value


def _port(environ: Mapping[str, str], name: str, default: int) -> int:
    text = environ[name].strip()
    try:
        port = int(text)
    except ValueError:
        logger.warning('%s=%r is not a port number; using %d', name, text, default)
        return default
    # EPICS base refuses ports <= 5000 (they collide with well-known services).
    if not 5000 < port <= 0xFFFF:
        logger.warning('%s=%d is out of range (5001..65535); using %d',
                       name, port, default)
        return default
    return port


def parse_address_list(text: str, default_port: int) -> list[Address]:
    """Parse an EPICS address list.

    Parameters
    ----------
    text : str
        Whitespace-separated ``host`` or ``host:port`` tokens. Hosts may be
        dotted IPv4 addresses or resolvable names (resolved here, once).
    default_port : int
        Port for tokens without one.

    Returns
    -------
    list of (str, int)
        ``(dotted_ip, port)`` in first-seen order without duplicates. Tokens
        that do not parse or resolve are skipped with a logged warning.
    """
    addresses: list[Address] = []
    for token in text.split():
        host, sep, port_text = token.partition(':')
        port = default_port
        if sep:
            try:
                port = int(port_text)
            except ValueError:
                port = -1
            if not 0 < port <= 0xFFFF:
                logger.warning('Skipping address list entry %r: bad port', token)
                continue
        try:
            ip = socket.inet_ntoa(socket.inet_aton(host)) if _looks_dotted(host) \
                else socket.gethostbyname(host)
        except OSError:
            logger.warning('Skipping address list entry %r: cannot resolve '
                           'host %r', token, host)
            continue
        address = (ip, port)
        if address not in addresses:
            addresses.append(address)
    return addresses


def _looks_dotted(host: str) -> bool:
    parts = host.split('.')
    return len(parts) == 4 and all(part.isdigit() for part in parts)


@dataclasses.dataclass(frozen=True)
class Config:
    """Parsed Channel Access configuration (client and server sides).

    Build with :meth:`from_environ`; every field has the EPICS default.
    Address lists are lists of ``(ip, port)`` tuples.
    """

    addr_list: list = dataclasses.field(default_factory=list)
    auto_addr_list: bool = True
    name_servers: list = dataclasses.field(default_factory=list)
    conn_tmo: float = 30.0
    beacon_period: float = 15.0
    repeater_port: int = 5065
    server_port: int = 5064
    max_array_bytes: int = 16384
    auto_array_bytes: bool = True
    max_search_period: float = 300.0
    mcast_ttl: int = 1
    cas_server_port: int = 5064
    cas_beacon_period: float = 15.0
    cas_beacon_port: int = 5065
    cas_intf_addr_list: list = dataclasses.field(default_factory=list)
    cas_beacon_addr_list: list = dataclasses.field(default_factory=list)
    cas_auto_beacon_addr_list: bool = True
    cas_ignore_addr_list: list = dataclasses.field(default_factory=list)
    #: Access security matches HAG entries against the client's IP address
    #: (the TCP peer), not the HOST_NAME it sends (RSRV's asCheckClientIP).
    as_check_client_ip: bool = False
    default_timeout: float = 2.0
    string_encoding: str = 'latin-1'
    spawn_repeater: bool = True

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> 'Config':
        """Read the configuration from ``environ`` (``os.environ`` by default).

        Invalid values are replaced by their defaults with a logged warning;
        this never raises for bad environment text.
        """
        env = get_environment_variables(environ)
        server_port = _port(env, 'EPICS_CA_SERVER_PORT', 5064)
        repeater_port = _port(env, 'EPICS_CA_REPEATER_PORT', 5065)
        cas_server_port = _port(env, 'EPICS_CAS_SERVER_PORT', server_port)
        cas_beacon_port = _port(env, 'EPICS_CAS_BEACON_PORT', repeater_port)
        beacon_period = _number(env, 'EPICS_CA_BEACON_PERIOD', float, 0.1)
        # Not _number(): the fallback for a bad value is the CA period.
        try:
            cas_beacon_period = float(env['EPICS_CAS_BEACON_PERIOD'])
        except ValueError:
            logger.warning('EPICS_CAS_BEACON_PERIOD=%r is not a number; using %r',
                           env['EPICS_CAS_BEACON_PERIOD'], beacon_period)
            cas_beacon_period = beacon_period
        encoding = env['CAPROTO_STRING_ENCODING'].strip() or 'latin-1'
        return cls(
            addr_list=parse_address_list(env['EPICS_CA_ADDR_LIST'], server_port),
            auto_addr_list=_auto_addr_list_enabled(env['EPICS_CA_AUTO_ADDR_LIST']),
            name_servers=parse_address_list(env['EPICS_CA_NAME_SERVERS'],
                                            server_port),
            conn_tmo=_number(env, 'EPICS_CA_CONN_TMO', float, 0.1),
            beacon_period=beacon_period,
            repeater_port=repeater_port,
            server_port=server_port,
            max_array_bytes=_number(env, 'EPICS_CA_MAX_ARRAY_BYTES', int, 16384),
            auto_array_bytes=_is_yes(env['EPICS_CA_AUTO_ARRAY_BYTES']),
            max_search_period=_number(env, 'EPICS_CA_MAX_SEARCH_PERIOD', float,
                                      MIN_SEARCH_PERIOD_PLATEAU),
            mcast_ttl=_number(env, 'EPICS_CA_MCAST_TTL', int, 1),
            cas_server_port=cas_server_port,
            cas_beacon_period=cas_beacon_period,
            cas_beacon_port=cas_beacon_port,
            cas_intf_addr_list=parse_address_list(env['EPICS_CAS_INTF_ADDR_LIST'],
                                                  cas_server_port),
            cas_beacon_addr_list=parse_address_list(
                env['EPICS_CAS_BEACON_ADDR_LIST'], cas_beacon_port),
            cas_auto_beacon_addr_list=_is_yes(env['EPICS_CAS_AUTO_BEACON_ADDR_LIST']),
            cas_ignore_addr_list=parse_address_list(
                env['EPICS_CAS_IGNORE_ADDR_LIST'], 0),
            as_check_client_ip=_is_yes(env['EPICS_AS_CHECK_CLIENT_IP']),
            default_timeout=_number(env, 'CAPROTO_DEFAULT_TIMEOUT', float, 0.0),
            string_encoding=encoding,
            spawn_repeater=env['CAWIRE_SPAWN_REPEATER'].strip().lower() != 'no',
        )


@dataclasses.dataclass(frozen=True)
class ToolEnvironment:
    """What cawire-get/put/monitor take from the environment.

    Attributes
    ----------
    cli_timeout : str or None
        EPICS_CLI_TIMEOUT as raw text (None when unset).  Kept unparsed: the
        tools validate it and report a bad value in the C tools' words.
    posixly_correct : bool
        Whether POSIXLY_CORRECT is set (to anything): getopt then stops at
        the first operand, as glibc's does.
    """

    cli_timeout: str | None = None
    posixly_correct: bool = False

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None
                     ) -> 'ToolEnvironment':
        """Read the tools' variables from ``environ`` (``os.environ`` by
        default)."""
        if environ is None:
            environ = os.environ
        return cls(cli_timeout=environ.get('EPICS_CLI_TIMEOUT'),
                   posixly_correct='POSIXLY_CORRECT' in environ)


# Linux ioctl request numbers (linux/sockios.h); stable ABI since 2.0.
_SIOCGIFFLAGS = 0x8913
_SIOCGIFADDR = 0x8915
_SIOCGIFBRDADDR = 0x8919
_IFF_UP = 0x1
_IFF_BROADCAST = 0x2
_IFREQ = struct.Struct('16s16s')  # ifr_name, then the ifr_ifru union


def _interface_ioctl(sock: socket.socket, request: int, name: str) -> bytes:
    import fcntl  # POSIX only; callers treat ImportError like a failed ioctl
    ifreq = bytearray(_IFREQ.pack(name.encode()[:15], b''))
    fcntl.ioctl(sock.fileno(), request, ifreq)
    return bytes(ifreq[16:])


def interface_broadcast_addresses(interface_ips: list[str] | None = None
                                  ) -> list[str]:
    """Broadcast addresses of the up, broadcast-capable IPv4 interfaces.

    Parameters
    ----------
    interface_ips : list of str, optional
        Only interfaces whose address is in this list (EPICS_CAS_INTF_ADDR_LIST
        semantics). ``None`` means all interfaces.

    Returns
    -------
    list of str
        Dotted broadcast addresses; empty if none can be found (non-Linux
        systems or no broadcast-capable interface).
    """
    found: list[str] = []
    try:
        names = [name for _, name in socket.if_nameindex()]
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    except OSError:
        return found
    with sock:
        for name in names:
            try:
                flags, = struct.unpack_from('h', _interface_ioctl(
                    sock, _SIOCGIFFLAGS, name))
                if not (flags & _IFF_UP and flags & _IFF_BROADCAST):
                    continue
                # sockaddr_in: family(2) port(2) addr(4)
                address = socket.inet_ntoa(
                    _interface_ioctl(sock, _SIOCGIFADDR, name)[4:8])
                broadcast = socket.inet_ntoa(
                    _interface_ioctl(sock, _SIOCGIFBRDADDR, name)[4:8])
            except (OSError, ImportError):
                continue  # interface without IPv4 address, or not Linux
            if interface_ips is not None and address not in interface_ips:
                continue
            if broadcast != '0.0.0.0' and broadcast not in found:
                found.append(broadcast)
    return found


def _dedupe(addresses: list[Address]) -> list[Address]:
    return list(dict.fromkeys(addresses))


def client_search_addresses(config: Config) -> list[Address]:
    """Where a client sends UDP searches.

    With auto_addr_list: every interface broadcast address on the server port
    (255.255.255.255 when none is found), then EPICS_CA_ADDR_LIST. Without it
    only EPICS_CA_ADDR_LIST.
    """
    addresses: list[Address] = []
    if config.auto_addr_list:
        broadcasts = interface_broadcast_addresses() or [BROADCAST_FALLBACK]
        addresses.extend((ip, config.server_port) for ip in broadcasts)
    addresses.extend(config.addr_list)
    return _dedupe(addresses)


def server_beacon_addresses(config: Config) -> list[Address]:
    """Where a server sends beacons.

    With cas_auto_beacon_addr_list: the broadcast address of every interface
    (only those in EPICS_CAS_INTF_ADDR_LIST when it is set; 255.255.255.255
    when none is found) on the beacon port, then EPICS_CAS_BEACON_ADDR_LIST.
    """
    addresses: list[Address] = []
    if config.cas_auto_beacon_addr_list:
        interface_ips = ([ip for ip, _ in config.cas_intf_addr_list]
                         if config.cas_intf_addr_list else None)
        broadcasts = interface_broadcast_addresses(interface_ips)
        if not broadcasts and interface_ips is None:
            broadcasts = [BROADCAST_FALLBACK]
        addresses.extend((ip, config.cas_beacon_port) for ip in broadcasts)
    addresses.extend(config.cas_beacon_addr_list)
    return _dedupe(addresses)
