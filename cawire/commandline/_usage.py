"""Help texts of the tools (the C tools' usage(), with our program names).

Each text is a %-format with ``prog``, ``timeout`` and ``max_priority``.
"""
__all__ = ('GET_USAGE', 'PUT_USAGE', 'MONITOR_USAGE')

GET_USAGE = (
    '\n'
    'Usage: %(prog)s [options] <PV name> ...\n'
    '\n'
    '  -h: Help: Print this message\n'
    '  -V: Version: Show EPICS and CA versions\n'
    'Channel Access options:\n'
    '  -w <sec>: Wait time, specifies CA timeout, default is %(timeout)f second(s)\n'
    '  -c: Asynchronous get (use ca_get_callback and wait for completion)\n'
    '  -p <prio>: CA priority (0-%(max_priority)d, default 0=lowest)\n'
    'Format options:\n'
    '      Default output format is "name value"\n'
    '  -t: Terse mode - print only value, without name\n'
    '  -a: Wide mode "name timestamp value stat sevr" (read PVs as DBR_TIME_xxx)\n'
    '  -d <type>: Request specific dbr type; use string (DBR_ prefix may be omitted)\n'
    '      or number of one of the following types:\n'
    ' DBR_STRING     0  DBR_STS_FLOAT    9  DBR_TIME_LONG   19  DBR_CTRL_SHORT    29\n'
    ' DBR_INT        1  DBR_STS_ENUM    10  DBR_TIME_DOUBLE 20  DBR_CTRL_INT      29\n'
    ' DBR_SHORT      1  DBR_STS_CHAR    11  DBR_GR_STRING   21  DBR_CTRL_FLOAT    30\n'
    ' DBR_FLOAT      2  DBR_STS_LONG    12  DBR_GR_SHORT    22  DBR_CTRL_ENUM     31\n'
    ' DBR_ENUM       3  DBR_STS_DOUBLE  13  DBR_GR_INT      22  DBR_CTRL_CHAR     32\n'
    ' DBR_CHAR       4  DBR_TIME_STRING 14  DBR_GR_FLOAT    23  DBR_CTRL_LONG     33\n'
    ' DBR_LONG       5  DBR_TIME_INT    15  DBR_GR_ENUM     24  DBR_CTRL_DOUBLE   34\n'
    ' DBR_DOUBLE     6  DBR_TIME_SHORT  15  DBR_GR_CHAR     25  DBR_STSACK_STRING 37\n'
    ' DBR_STS_STRING 7  DBR_TIME_FLOAT  16  DBR_GR_LONG     26  DBR_CLASS_NAME    38\n'
    ' DBR_STS_SHORT  8  DBR_TIME_ENUM   17  DBR_GR_DOUBLE   27\n'
    ' DBR_STS_INT    8  DBR_TIME_CHAR   18  DBR_CTRL_STRING 28\n'
    'Enum format:\n'
    '  -n: Print DBF_ENUM value as number (default is enum string)\n'
    'Arrays: Value format: print number of requested values, then list of values\n'
    '  Default:    Print all values\n'
    '  -# <count>: Print first <count> elements of an array\n'
    '  -S:         Print array of char as a string (long string)\n'
    'Floating point type format:\n'
    '  Default: Use %%g format\n'
    '  -e <nr>: Use %%e format, with a precision of <nr> digits\n'
    '  -f <nr>: Use %%f format, with a precision of <nr> digits\n'
    '  -g <nr>: Use %%g format, with a precision of <nr> digits\n'
    '  -s:      Get value as string (honors server-side precision)\n'
    '  -lx:     Round to long integer and print as hex number\n'
    '  -lo:     Round to long integer and print as octal number\n'
    '  -lb:     Round to long integer and print as binary number\n'
    'Integer number format:\n'
    '  Default: Print as decimal number\n'
    '  -0x: Print as hex number\n'
    '  -0o: Print as octal number\n'
    '  -0b: Print as binary number\n'
    'Alternate output field separator:\n'
    '  -F <ofs>: Use <ofs> as an alternate output field separator\n'
    '\n'
    'Example: %(prog)s -a -f8 my_channel another_channel\n'
    '  (uses wide output format, doubles are printed as %%f with precision of 8)\n'
    '\n'
)

PUT_USAGE = (
    '\n'
    'Usage: %(prog)s [options] <PV name> <PV value> ...\n'
    '       %(prog)s -a [options] <PV name> <no of values> <PV value> ...\n'
    '\n'
    '  -h: Help: Print this message\n'
    '  -V: Version: Show EPICS and CA versions\n'
    'Channel Access options:\n'
    '  -w <sec>:  Wait time, specifies CA timeout, default is %(timeout)f second(s)\n'
    '  -c: Asynchronous put (use ca_put_callback and wait for completion)\n'
    '  -p <prio>: CA priority (0-%(max_priority)d, default 0=lowest)\n'
    'Format options:\n'
    '  -t: Terse mode - print only sucessfully written value, without name\n'
    '  -l: Long mode "name timestamp value stat sevr" (read PVs as DBR_TIME_xxx)\n'
    'Enum format:\n'
    '  Default: Auto - try value as ENUM string, then as index number\n'
    '  -n: Force interpretation of values as numbers\n'
    '  -s: Force interpretation of values as strings\n'
    'Arrays:\n'
    '  Default: Put scalar\n'
    '      Value format: all value arguments concatenated with spaces\n'
    '  -S: Put string as an array of chars (long string)\n'
    '  -a: Put array\n'
    '      Value format: number of values, then list of values\n'
    'Alternate output field separator:\n'
    '  -F <ofs>: Use <ofs> as an alternate output field separator\n'
    '\n'
    'Example: %(prog)s my_channel 1.2\n'
    '  (puts 1.2 to my_channel)\n'
    '\n'
)

MONITOR_USAGE = (
    '\n'
    'Usage: %(prog)s [options] <PV name> ...\n'
    '\n'
    '  -h:       Help: Print this message\n'
    '  -V:       Version: Show EPICS and CA versions\n'
    'Channel Access options:\n'
    '  -w <sec>: Wait time, specifies CA timeout, default is %(timeout)f second(s)\n'
    '  -m <msk>: Specify CA event mask to use.  <msk> is any combination of\n'
    "            'v' (value), 'a' (alarm), 'l' (log/archive), 'p' (property).\n"
    "            Default event mask is 'va'\n"
    '  -p <pri>: CA priority (0-%(max_priority)d, default 0=lowest)\n'
    'Timestamps:\n'
    '  Default:  Print absolute timestamps (as reported by CA server)\n'
    '  -t <key>: Specify timestamp source(s) and type, with <key> containing\n'
    "            's' = CA server (remote) timestamps\n"
    "            'c' = CA client (local) timestamps (shown in '()'s)\n"
    "            'n' = no timestamps\n"
    "            'r' = relative timestamps (time elapsed since start of program)\n"
    "            'i' = incremental timestamps (time elapsed since last update)\n"
    "            'I' = incremental timestamps (time since last update, by channel)\n"
    "            'r', 'i' or 'I' require 's' or 'c' to select the time source\n"
    'Enum format:\n'
    '  -n:       Print DBF_ENUM values as number (default is enum string)\n'
    'Array values: Print number of elements, then list of values\n'
    '  Default:  Request and print all elements (dynamic arrays supported)\n'
    '  -# <num>: Request and print up to <num> elements\n'
    '  -S:       Print arrays of char as a string (long string)\n'
    'Floating point format:\n'
    '  Default:  Use %%g format\n'
    '  -e <num>: Use %%e format, with a precision of <num> digits\n'
    '  -f <num>: Use %%f format, with a precision of <num> digits\n'
    '  -g <num>: Use %%g format, with a precision of <num> digits\n'
    '  -s:       Get value as string (honors server-side precision)\n'
    '  -lx:      Round to long integer and print as hex number\n'
    '  -lo:      Round to long integer and print as octal number\n'
    '  -lb:      Round to long integer and print as binary number\n'
    'Integer number format:\n'
    '  Default:  Print as decimal number\n'
    '  -0x:      Print as hex number\n'
    '  -0o:      Print as octal number\n'
    '  -0b:      Print as binary number\n'
    'Alternate output field separator:\n'
    '  -F <ofs>: Use <ofs> to separate fields in output\n'
    '\n'
    'Example: %(prog)s -f8 my_channel another_channel\n'
    '  (doubles are printed as %%f with precision of 8)\n'
    '\n'
)

#: What ``--help`` adds after the C tool's text (``-h`` prints only that).
GET_EXTRA = (
    'cawire additions:\n'
    '  --help: This message (-h prints only the caget-compatible part)\n'
    '\n'
)
PUT_EXTRA = (
    'cawire additions:\n'
    '  --help: This message (-h prints only the caput-compatible part)\n'
    '  A write the server refuses is reported on one line and the exit\n'
    '  status is 1 (caput reports it asynchronously and exits with 0).\n'
    '\n'
)
MONITOR_EXTRA = (
    'cawire additions (as in caproto-monitor):\n'
    '  --help:           This message (-h prints only the camonitor part)\n'
    '  --maximum <num>:  Exit after <num> updates (all PVs together)\n'
    '  --duration <sec>: Exit after <sec> seconds\n'
    '\n'
)

INFO_USAGE = (
    '\n'
    'Usage: %(prog)s [options] <PV name> ...\n'
    '\n'
    '  -h: Help: Print this message\n'
    '  -V: Version: Show EPICS and CA versions\n'
    'Channel Access options:\n'
    '  -w <sec>:   Wait time, specifies CA timeout, default is %(timeout)f second(s)\n'
    '  -s <level>: Call ca_client_status with the specified interest level\n'
    '  -p <prio>:  CA priority (0-%(max_priority)d, default 0=lowest)\n'
    '\n'
    'Example: %(prog)s my_channel another_channel\n'
    '\n'
    # cainfo -h ends with the -V banner.
    '%(banner)s'
)
INFO_EXTRA = (
    'cawire additions:\n'
    '  --help: This message (-h prints only the cainfo-compatible part)\n'
    '  -s <level>: prints the state of cawire\'s client (its circuits and\n'
    '      channels) instead of libca\'s ca_client_status report\n'
    '\n'
)
