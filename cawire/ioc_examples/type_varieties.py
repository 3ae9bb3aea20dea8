#!/usr/bin/env python3
"""One PV of every native type, scalars and arrays, for interoperability tests.

PVs (default prefix ``type_varieties:``):

==================  ==========  =============================================
name                type        notes
==================  ==========  =============================================
double              DOUBLE      3.14159, precision 3, units mm, all limits
float               FLOAT       2.5, precision 2
long                LONG        -42
short               SHORT       7
char                CHAR        65 (one unsigned byte)
enum                ENUM        'Two' of Zero/One/Two/Three
bool                ENUM        Off/On
string              STRING      'hello world'
long_string         CHAR[256]   a text longer than 40 characters
double_array        DOUBLE[10]  1.5 .. 5.5 (5 elements, grows to 10)
float_array         FLOAT[8]
long_array          LONG[8]
short_array         SHORT[8]
char_array          CHAR[16]    raw bytes
string_array        STRING[4]
alarmed             DOUBLE      alarm limits; starts in HIGH/MINOR
read_only           DOUBLE      clients cannot write it
guarded             DOUBLE      putter refuses negative values
plain               DOUBLE      0.0, no limits (the PV for EPICS's acctst)
slow                DOUBLE      its putter takes 0.5 s (like a device)
==================  ==========  =============================================
"""
import asyncio
import enum
from typing import Any

from cawire.protocol import ChannelType
from cawire.server import PVGroup, ioc_arg_parser, pvproperty, run


class Numbers(enum.IntEnum):
    Zero = 0
    One = 1
    Two = 2
    Three = 3


class TypeVarietiesIOC(PVGroup):
    """Every native CA type as scalar and array, plus alarms and access."""

    double = pvproperty(
        value=3.14159, precision=3, units='mm',
        upper_disp_limit=10.0, lower_disp_limit=-10.0,
        upper_alarm_limit=9.0, upper_warning_limit=8.0,
        lower_warning_limit=-8.0, lower_alarm_limit=-9.0,
        upper_ctrl_limit=10.0, lower_ctrl_limit=-10.0,
        doc='A double with every limit set')
    float = pvproperty(value=2.5, dtype=ChannelType.FLOAT, precision=2,
                       units='V')
    long = pvproperty(value=-42, units='counts', upper_disp_limit=1000,
                      lower_disp_limit=-1000)
    short = pvproperty(value=7, dtype=ChannelType.INT)
    char = pvproperty(value=65, dtype=ChannelType.CHAR)
    enum = pvproperty(value=Numbers.Two)
    bool = pvproperty(value=False)
    string = pvproperty(value='hello world', dtype=ChannelType.STRING)
    long_string = pvproperty(
        value='This text is longer than the forty characters of a DBR_STRING',
        max_length=256)
    double_array = pvproperty(value=[1.5, 2.5, 3.5, 4.5, 5.5], max_length=10,
                              precision=1)
    float_array = pvproperty(value=[0.25, -0.5, 1.0], dtype=ChannelType.FLOAT,
                             max_length=8)
    long_array = pvproperty(value=[1, -2, 300000], max_length=8)
    short_array = pvproperty(value=[10, -20, 30, -40], dtype=ChannelType.INT,
                             max_length=8)
    char_array = pvproperty(value=b'\x01\x02\xff', max_length=16)
    string_array = pvproperty(value=['alpha', 'beta', 'gamma'],
                              dtype=ChannelType.STRING, max_length=4)
    alarmed = pvproperty(value=8.5, precision=1,
                         upper_alarm_limit=9.0, upper_warning_limit=8.0,
                         lower_warning_limit=2.0, lower_alarm_limit=1.0)
    read_only = pvproperty(value=1.25, read_only=True, precision=2)
    guarded = pvproperty(value=1.0, precision=1,
                         doc='Refuses negative values')

    plain = pvproperty(value=0.0, precision=3,
                       doc='A double without limits (acctst target)')

    slow = pvproperty(value=0.0, precision=1,
                      doc='Writes complete after 0.5 s')

    @slow.putter  # type: ignore[no-redef]
    async def slow(self, instance: Any, value: Any) -> Any:
        await asyncio.sleep(0.5)
        return value

    @guarded.putter  # type: ignore[no-redef]
    async def guarded(self, instance: Any, value: Any) -> Any:
        if value < 0:
            raise ValueError(f'{value} is negative')
        return value


def main(argv: list[str] | None = None) -> None:
    ioc_options, run_options = ioc_arg_parser(
        default_prefix='type_varieties:', desc=TypeVarietiesIOC.__doc__ or '',
        argv=argv)
    ioc = TypeVarietiesIOC(**ioc_options)
    print('PVs:', list(ioc.pvdb), flush=True)
    run(ioc.pvdb, **run_options)


if __name__ == '__main__':
    main()
