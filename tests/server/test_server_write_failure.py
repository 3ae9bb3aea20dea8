"""The one mapping from what a write hook raised to the CA status of the
write's reply (``cawire.server._write_requests.write_failure``)."""
from __future__ import annotations

import logging

import pytest

from cawire.protocol import CAStatus
from cawire.protocol._exceptions import CaprotoValueError
from cawire.server import Forbidden, SkipWrite
from cawire.server._write_requests import AUTH_WRITE, PUTTER, write_failure

NORMAL = CAStatus.ECA_NORMAL.code_with_severity
PUTFAIL = CAStatus.ECA_PUTFAIL.code_with_severity
NOWTACCESS = CAStatus.ECA_NOWTACCESS.code_with_severity


def _outcome(exc: Exception, hook: str):
    try:
        raise exc
    except Exception as raised:  # noqa: BLE001 - what the circuit does
        return write_failure(raised, hook, 'pv:x')


@pytest.mark.parametrize('hook', [PUTTER, AUTH_WRITE])
@pytest.mark.parametrize('exc', [CaprotoValueError('bad'), ValueError('bad'),
                                 TypeError('bad')])
def test_refused_values_are_putfail_without_traceback(hook, exc, caplog):
    with caplog.at_level(logging.DEBUG, logger='cawire.server.put'):
        assert _outcome(exc, hook) == (PUTFAIL, 'bad')
    assert not caplog.records


@pytest.mark.parametrize('hook', [PUTTER, AUTH_WRITE])
def test_unexpected_exception_is_putfail_and_logged(hook, caplog):
    with caplog.at_level(logging.ERROR, logger='cawire.server.put'):
        assert _outcome(RuntimeError('boom'), hook) == (PUTFAIL, 'boom')
    [record] = caplog.records
    assert record.getMessage() == f'{hook} of pv:x raised'
    assert record.exc_info is not None


def test_auth_write_refusal_and_skip():
    assert _outcome(Forbidden('no'), AUTH_WRITE) == (NOWTACCESS, 'no')
    assert _outcome(SkipWrite(), AUTH_WRITE) == (NORMAL, '')


def test_putter_forbidden_is_a_failed_put():
    # Only the access hook's Forbidden means "no write access".
    assert _outcome(Forbidden('no'), PUTTER) == (PUTFAIL, 'no')
