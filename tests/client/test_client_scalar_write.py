"""PV.write of one plain number takes the core's fast WRITE_NOTIFY form
(ClientChannel.write_notify_scalar) against a real softIoc; every other
value falls back to the general path, with its conversions and errors."""
import numpy as np
import pytest

from cawire.protocol._channel import ClientChannel
from cawire.protocol._exceptions import CaprotoValueError
from cawire.threading.client import Context

WAIT = 10.0


@pytest.fixture
def ctx(softioc):
    context = Context(timeout=WAIT)
    yield context
    context.disconnect()


@pytest.fixture
def fast_results(monkeypatch):
    """What each write_notify_scalar call returned: a command (fast form
    used) or None (fallback)."""
    results = []
    original = ClientChannel.write_notify_scalar

    def spy(self, value):
        command = original(self, value)
        results.append(command)
        return command

    monkeypatch.setattr(ClientChannel, 'write_notify_scalar', spy)
    return results


def test_plain_numbers_take_the_fast_form(ctx, fast_results):
    ao, longout, bo = ctx.get_pvs('TST:ao', 'TST:longout', 'TST:bo')
    try:
        for pv, value, expected in ((ao, [1.75], 1.75), (ao, -3, -3.0),
                                    (longout, [42], 42), (longout, (-7,), -7),
                                    (bo, 1, 1)):
            response = pv.write(value, wait=True)
            assert response.status.success
            assert fast_results[-1] is not None
            assert fast_results[-1].ioid == response.ioid
            assert pv.read().data.tolist() == [expected]
    finally:
        longout.write([0])
        bo.write([0])


def test_other_values_fall_back_and_behave_as_before(ctx, fast_results):
    ao, longout = ctx.get_pvs('TST:ao', 'TST:longout')
    try:
        for pv, value, expected in ((ao, np.float64(2.5), 2.5),
                                    (ao, [np.int16(4)], 4.0),
                                    (ao, '6.5', 6.5),
                                    (longout, [9.0], 9)):
            assert pv.write(value, wait=True).status.success
            assert fast_results[-1] is None
            assert pv.read().data.tolist() == [expected]
        # Out of range for a DBR_LONG: the general path's clear error, and
        # the PV stays usable.
        with pytest.raises(CaprotoValueError):
            longout.write([2**31], wait=True)
        assert fast_results[-1] is None
        assert longout.write([5], wait=True).status.success
        assert longout.read().data.tolist() == [5]
        # A plain WRITE (no wait, no callback) or an explicit type keeps the
        # general path.
        calls_before = len(fast_results)
        ao.write([1.0], data_type='native', wait=True)
        ao.write([1.0], wait=False)
        assert len(fast_results) == calls_before
    finally:
        longout.write([0])
