"""The exception family of cawire.

Every error the library raises on purpose is a ``CaprotoError`` (the upstream
name, kept so that code written against caproto catches ours).  The split that
matters most is who is at fault: ``RemoteProtocolError`` for bad bytes or
commands from the peer (the caller closes that circuit), and
``LocalProtocolError`` for our own misuse of the protocol.  Several classes
also derive from the matching builtin so that ``except ValueError`` etc. keep
working.
"""

from typing import Any

__all__ = (
    'CaprotoError', 'ProtocolError', 'LocalProtocolError',
    'RemoteProtocolError', 'ValidationError', 'CaprotoKeyError',
    'CaprotoValueError', 'CaprotoTypeError', 'CaprotoRuntimeError',
    'CaprotoNotImplementedError', 'CaprotoAttributeError',
    'CaprotoConversionError', 'CaprotoNetworkError', 'CaprotoTimeoutError',
    'ErrorResponseReceived', 'ThreadingClientException', 'DisconnectedError',
    'ContextDisconnectedError', 'DeadCircuitError', 'PermissionDenied',
)


class CaprotoError(Exception):
    """Base class of every error raised deliberately by cawire."""


class ProtocolError(CaprotoError):
    """The Channel Access protocol was violated (by us or by the peer)."""


class LocalProtocolError(ProtocolError):
    """We tried to do something the protocol or the current state forbids."""


class RemoteProtocolError(ProtocolError):
    """The peer sent bytes or a command that violate the protocol.

    Raised by the parsers with ``commands`` (those parsed before the bad
    message) and ``consumed`` (their bytes) set.
    """

    commands: list[Any]
    consumed: int


class ValidationError(CaprotoError):
    """A value failed validation (e.g. a server-side write check)."""


class CaprotoKeyError(KeyError, CaprotoError):
    """A lookup by name or id failed (e.g. an unknown ECA code name)."""


class CaprotoValueError(ValueError, CaprotoError):
    """A value we were given cannot be used (out of range, wrong length)."""


class CaprotoTypeError(TypeError, CaprotoError):
    """A value of the wrong type was given."""


class CaprotoRuntimeError(RuntimeError, CaprotoError):
    """An operation is impossible in the current state (e.g. closed)."""


class CaprotoNotImplementedError(NotImplementedError, CaprotoError):
    """A feature cawire does not provide."""


class CaprotoAttributeError(AttributeError, CaprotoError):
    """An attribute that does not exist or cannot be set."""


class CaprotoConversionError(CaprotoValueError):
    """A value cannot be converted to the requested data type."""


class CaprotoNetworkError(OSError, CaprotoError):
    """A socket-level failure (bind, send, connect)."""


class CaprotoTimeoutError(TimeoutError, CaprotoError):
    """A wait (connection, read, write) ran out of time."""


class ErrorResponseReceived(CaprotoError):
    """The server answered a request with an error or a failed status.

    Parameters
    ----------
    message : str
        Human readable explanation.
    response : object, optional
        The command that carried the failure (an ``ErrorResponse``, or a
        ``ReadNotifyResponse``/``WriteNotifyResponse`` with a failed status).
    """

    def __init__(self, message: str = '', response: object = None) -> None:
        super().__init__(message)
        self.response = response


class ThreadingClientException(CaprotoError):
    """Base of the threading client's own errors (caproto's name)."""


class DisconnectedError(ThreadingClientException):
    """The circuit or channel a request was waiting on went away."""


class ContextDisconnectedError(ThreadingClientException, CaprotoRuntimeError):
    """The client context was disconnected (closed).

    A ``ThreadingClientException`` as in caproto, and also a
    ``RuntimeError`` (``CaprotoRuntimeError``).
    """

    def __init__(self, message: str = 'context disconnected') -> None:
        super().__init__(message)


class DeadCircuitError(CaprotoError):
    """An operation touched a circuit that had already died.

    caproto raises it inside its client and retries the operation
    (``ensure_connected``); cawire's client reports a dead circuit as
    ``DisconnectedError``.  The class exists so that code catching it runs
    unchanged, and ``cawire.threading.client.ensure_connected`` retries on it.
    """


class PermissionDenied(ErrorResponseReceived):
    """Access rights forbid the request (ECA_NORDACCESS / ECA_NOWTACCESS).

    The client raises this locally, without a round trip, when the channel's
    access rights already say the request cannot succeed.
    """
