"""A client's rules for using a channel, shared by the threading and
asyncio clients' ``PV``:

* :func:`go_idle_decision` / :func:`may_finish_idle`: when ``go_idle``
  clears a channel now, later (reads or writes still in flight) or not at
  all (subscriptions, not connected, already idle);
* :func:`write_notify`: WRITE or WRITE_NOTIFY for a write's ``wait`` and
  ``callback``;
* :func:`subscription_key`: what makes two ``subscribe`` calls the same
  subscription;
* the texts of the timeouts a PV raises (caproto's wording, which users'
  code and logs match).

Pure functions of what the shell tells them; no I/O, no clock.
"""
from __future__ import annotations

import enum
from typing import Any

from ._exceptions import CaprotoValueError

__all__ = ('IdleDecision', 'go_idle_decision', 'may_finish_idle',
           'write_notify', 'subscription_key', 'search_timeout_text',
           'create_timeout_text', 'reply_timeout_text')


class IdleDecision(enum.Enum):
    """What a ``go_idle`` call does."""
    #: Subscriptions are active, the channel is not connected or already
    #: idle: nothing.
    IGNORE = 'ignore'
    #: Reads or writes are in flight: clear once the last completes.
    DEFER = 'defer'
    #: Clear the channel now.
    CLEAR = 'clear'


def go_idle_decision(*, has_active_subscriptions: bool, connected: bool,
                     idle: bool, outstanding: int) -> IdleDecision:
    """What ``PV.go_idle`` does in this state."""
    if has_active_subscriptions or not connected or idle:
        return IdleDecision.IGNORE
    if outstanding > 0:
        return IdleDecision.DEFER
    return IdleDecision.CLEAR


def may_finish_idle(*, has_active_subscriptions: bool, connected: bool,
                    idle: bool, outstanding: int) -> bool:
    """Whether a deferred ``go_idle`` clears the channel now (its last
    request completed and nothing has used the PV since)."""
    return (outstanding == 0 and not idle and connected
            and not has_active_subscriptions)


def write_notify(notify: bool | None, wait: bool, callback: Any) -> bool:
    """Whether a write asks for the server's confirmation (WRITE_NOTIFY).

    ``notify`` None means: when the caller waits or gave a callback.

    Raises
    ------
    CaprotoValueError
        ``notify=False`` with ``wait`` or a callback: nothing would come
        to wait on or to call back with.
    """
    if notify is None:
        return bool(wait or callback is not None)
    if not notify and (wait or callback is not None):
        raise CaprotoValueError(
            'Must set notify=True in order to use `wait` or `callback` '
            'because, without a notification of put-completion from the '
            'server, there is nothing to wait on or to trigger a callback.')
    return bool(notify)


def subscription_key(data_type: Any, data_count: int | None, low: float,
                     high: float, to: float, mask: int | None) -> tuple:
    """The identity of a subscription on one PV: the same parameters give
    the same subscription."""
    return (data_type, data_count, low, high, to, mask)


def search_timeout_text(name: str, deadline: Any) -> str:
    """A PV was not found in time."""
    return (f'No servers responded to a search for a channel named '
            f'{name!r} within {deadline} timeout.')


def create_timeout_text(name: str, address: tuple[str, int] | None,
                        deadline: Any) -> str:
    """A PV was found but its server did not create the channel in time."""
    where = (f'server at {address[0]}:{address[1]}' if address is not None
             else 'server')
    return (f'Channel {name!r} was found but the {where} did not create it '
            f'within {deadline} timeout.')


def reply_timeout_text(address: tuple[str, int], verb: str, name: str,
                       deadline: Any, ioid: int) -> str:
    """A read or write got no reply in time (``verb``: 'read',
    'write to')."""
    return (f'Server at {address[0]}:{address[1]} did not respond to '
            f'attempt to {verb} channel named {name!r} within {deadline} '
            f'timeout. The ioid of the expected response is {ioid}.')
