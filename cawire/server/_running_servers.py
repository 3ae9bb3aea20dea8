"""The servers running in this process, so that a channel can ask them to
re-evaluate its clients' access rights (``ChannelData.refresh_access_rights``)
without knowing which servers serve it."""
from __future__ import annotations

import weakref
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from ._server import Context

__all__ = ('register', 'unregister', 'refresh_access_rights')

_running: weakref.WeakSet[Context] = weakref.WeakSet()


def register(context: Context) -> None:
    """``context`` serves from now on (called by ``Context.run``)."""
    _running.add(context)


def unregister(context: Context) -> None:
    """``context`` stopped serving."""
    _running.discard(context)


def refresh_access_rights(channels: Iterable[Any] | None = None) -> None:
    """Re-evaluate the rights of every connected client on ``channels``
    (all channels when None) in every running server, sending
    ACCESS_RIGHTS where they changed."""
    chosen = None if channels is None else list(channels)
    for context in list(_running):
        context.refresh_access_rights(chosen)
