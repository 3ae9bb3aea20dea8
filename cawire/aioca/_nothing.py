"""``CANothing``: aioca's "no value" result and exception."""
from __future__ import annotations

from ..protocol._status import eca_value_to_status

__all__ = ('CANothing', 'ECA_NORMAL', 'ECA_TIMEOUT', 'ECA_DISCONN',
           'ECA_NORDACCESS', 'ECA_NOWTACCESS', 'ECA_BADTYPE', 'ca_message')

# libca's wire status values (code << 3 | severity), as aioca reports them.
ECA_NORMAL = 1
ECA_TIMEOUT = 80
ECA_DISCONN = 192
ECA_NORDACCESS = 368
ECA_NOWTACCESS = 376
ECA_BADTYPE = 114


def ca_message(errorcode: int) -> str:
    """libca's text for a status value."""
    return eca_value_to_status[errorcode].description


class CANothing(Exception):  # noqa: N818 - aioca's name
    """No value: returned by caput (success) and by throw=False calls,
    raised on errors.  ``ok`` is True only for ECA_NORMAL; the object is
    falsy when not ok."""

    def __init__(self, name: str, errorcode: int = ECA_NORMAL) -> None:
        self.name = name
        self.ok = errorcode == ECA_NORMAL
        self.errorcode = errorcode

    def __repr__(self) -> str:
        return f'CANothing({self.name!r}, {self.errorcode})'

    def __str__(self) -> str:
        return f'{self.name}: {ca_message(self.errorcode)}'

    def __bool__(self) -> bool:
        return self.ok
