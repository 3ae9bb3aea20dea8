"""Channel Access protocol constants.

Numbers fixed by the protocol (ports, sizes, search reply codes) live here so
that every other module names them instead of repeating literals.  Values come
from EPICS base ``caProto.h`` / ``db_access.h`` (see ca-protocol.md section 2).
Nothing here reads the environment: configuration is ``_config``'s job.
"""

__all__ = (
    'DEFAULT_PROTOCOL_VERSION', 'CA_MAJOR_PROTOCOL_REVISION',
    'CA_MINIMUM_SUPPORTED_VERSION',
    'EPICS_CA1_PORT', 'EPICS_CA2_PORT', 'EPICS2UNIX_EPOCH',
    'MAX_STRING_SIZE', 'MAX_UNITS_SIZE', 'MAX_ENUM_STRING_SIZE',
    'MAX_ENUM_STATES', 'MAX_RECORD_LENGTH', 'MAX_ID',
    'MAX_TCP', 'MAX_UDP_SEND', 'MAX_UDP_RECV', 'ETHERNET_MAX_UDP',
    'SEARCH_MAX_DATAGRAM_BYTES', 'DEFAULT_MAX_ARRAY_BYTES',
    'HEADER_SIZE', 'EXTENDED_HEADER_SIZE', 'EXTENDED_HEADER_MARKER',
    'PAYLOAD_ALIGNMENT', 'MAX_PRIORITY', 'DO_REPLY', 'DONT_REPLY', 'NO_REPLY',
    'SEQUENCE_NUMBER_IS_VALID', 'UNKNOWN_ADDRESS', 'LAST_BUFFER_TYPE',
)

#: Minor protocol revision spoken by cawire (EPICS base 7.0: 4.13).
DEFAULT_PROTOCOL_VERSION = 13
CA_MAJOR_PROTOCOL_REVISION = 4
#: RSRV ignores clients older than 4.4.
CA_MINIMUM_SUPPORTED_VERSION = 4

#: Server port (UDP search and TCP circuits) and repeater port (beacons).
EPICS_CA1_PORT = 5064
EPICS_CA2_PORT = 5065

#: POSIX time of the EPICS epoch, 1990-01-01 00:00:00 UTC.
EPICS2UNIX_EPOCH = 631152000

MAX_STRING_SIZE = 40
MAX_UNITS_SIZE = 8
MAX_ENUM_STRING_SIZE = 26
MAX_ENUM_STATES = 16
#: Record name length limit since base 3.14 (60 chars including the NUL).
MAX_RECORD_LENGTH = 59
#: Upper bound (exclusive) of the 16-bit ids carried in some header fields.
MAX_ID = 2 ** 16

#: Basic buffer of libca/RSRV; the largest message a pre-4.9 peer accepts.
MAX_TCP = 16384
#: libca search datagrams and RSRV UDP replies never exceed this.
MAX_UDP_SEND = 1024
#: Largest datagram we are prepared to receive.
MAX_UDP_RECV = 0xFFFF + 16
#: Defined by base (1500 - 20 - 8) but not used by base for sending.
ETHERNET_MAX_UDP = 1472
#: What we put in one search datagram (as libca: MAX_UDP_SEND).
SEARCH_MAX_DATAGRAM_BYTES = MAX_UDP_SEND
#: EPICS_CA_MAX_ARRAY_BYTES default.
DEFAULT_MAX_ARRAY_BYTES = 16384

HEADER_SIZE = 16
EXTENDED_HEADER_SIZE = 24
#: m_postsize value that announces an extended header (with m_count == 0).
EXTENDED_HEADER_MARKER = 0xFFFF
#: Every payload is padded to a multiple of this.
PAYLOAD_ALIGNMENT = 8

MAX_PRIORITY = 99

#: SEARCH flag: the server must answer (TCP, name servers) / may stay quiet.
DO_REPLY = 10
DONT_REPLY = 5
#: caproto's name for DONT_REPLY.
NO_REPLY = DONT_REPLY

#: m_dataType of a UDP VERSION message whose p1 is a search sequence number.
SEQUENCE_NUMBER_IS_VALID = 1
#: SEARCH reply p1 meaning "use the datagram's source address".
UNKNOWN_ADDRESS = 0xFFFFFFFF
#: Highest valid DBR request type (DBR_CLASS_NAME).
LAST_BUFFER_TYPE = 38
