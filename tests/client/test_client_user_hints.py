"""Hints for two common mistakes: a callback passed inline (a lambda or a
local function, held weakly and gone at once) draws a RuntimeWarning at the
registering line, and a search timeout says where the search went."""
from __future__ import annotations

import re
import warnings

import pytest

from cawire.threading.client import CaprotoTimeoutError, Context

pytestmark = pytest.mark.epics


@pytest.fixture
def context(softioc):
    ctx = Context()
    yield ctx
    ctx.disconnect()


def _register_inline_lambda(sub):
    sub.add_callback(lambda sub, response: None)   # nothing else refers to it


def test_inline_lambda_warns_at_the_registering_line(context):
    pv, = context.get_pvs('TST:ao')
    pv.wait_for_connection(timeout=10)
    sub = pv.subscribe()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        _register_inline_lambda(sub)
    hints = [w for w in caught if issubclass(w.category, RuntimeWarning)]
    assert len(hints) == 1, [str(w.message) for w in caught]
    assert 'held by weak reference' in str(hints[0].message)
    assert '<lambda>' in str(hints[0].message)
    assert hints[0].filename == __file__
    assert len(sub.callbacks) == 0


def test_kept_callbacks_do_not_warn(context):
    pv, = context.get_pvs('TST:ao')
    pv.wait_for_connection(timeout=10)
    sub = pv.subscribe()

    class Watcher:
        def on_update(self, sub, response):
            pass

    watcher = Watcher()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        kept = lambda sub, response: None  # noqa: E731
        sub.add_callback(kept)
        sub.add_callback(watcher.on_update)
        pv.connection_state_callback.add_callback(watcher.on_update)
    assert not [w for w in caught if issubclass(w.category, RuntimeWarning)]
    assert len(sub.callbacks) == 2
    sub.clear()


def test_search_timeout_names_the_addresses_searched(context, ca_env):
    pv, = context.get_pvs('TST:does:not:exist')
    with pytest.raises(CaprotoTimeoutError) as raised:
        pv.wait_for_connection(timeout=0.3)
    message = str(raised.value)
    assert message.startswith("No servers responded to a search for a channel "
                              "named 'TST:does:not:exist' within")
    assert re.search(rf'Searched .*127\.0\.0\.1:{ca_env.server_port}', message)
    assert 'EPICS_CA_ADDR_LIST' in message
