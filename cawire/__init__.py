"""cawire: a pure-Python implementation of EPICS Channel Access.

The package namespace re-exports the sans-I/O core.  Each core module defines
``__all__``; the star-imports below are the only ones in the package.
"""
from ._constants import *  # noqa: F401,F403
from ._enums import *  # noqa: F401,F403
from ._status import *  # noqa: F401,F403
from ._exceptions import *  # noqa: F401,F403
from ._timestamp import *  # noqa: F401,F403
from ._dbr import *  # noqa: F401,F403
from ._backend import *  # noqa: F401,F403
from ._payload import *  # noqa: F401,F403
from ._headers import *  # noqa: F401,F403
from ._commands import *  # noqa: F401,F403
from ._framing import *  # noqa: F401,F403
from ._state import *  # noqa: F401,F403
from ._circuit import *  # noqa: F401,F403
from ._broadcaster import *  # noqa: F401,F403
