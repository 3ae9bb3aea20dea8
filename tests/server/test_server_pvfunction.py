"""pvfunction (caproto's RPC-style API): the PVs it makes and a call
through its Process PV; the comparison with caproto over the wire is the
rpc_function case of test_server_caproto_examples.py."""
import asyncio

import pytest

from cawire.server import PVGroup, pvfunction


class Calculator(PVGroup):
    @pvfunction(default=[0])
    async def divide(self, numerator: float = 6.0,
                     denominator: float = 3.0) -> float:
        """Divide two numbers."""
        return numerator / denominator

    @pvfunction(names={'process': 'Go', 'retval': 'Out', 'status': 'Sts'})
    async def shout(self, text: str = 'hi', times: int = 2) -> str:
        return text.upper() * times


def test_pvs_of_a_pvfunction():
    group = Calculator(prefix='calc:')
    assert list(group.pvdb) == [
        'calc:divide:numerator', 'calc:divide:denominator',
        'calc:divide:Status', 'calc:divide:Retval', 'calc:divide:Process',
        'calc:shout:text', 'calc:shout:times', 'calc:shout:Sts',
        'calc:shout:Out', 'calc:shout:Go']
    divide = group.divide
    assert divide.numerator.value == 6.0 and divide.status.value == 'Init'
    assert divide.retval.value == 0.0
    assert divide.status.read_only and divide.retval.read_only
    assert Calculator.divide.doc == 'Divide two numbers.'


def test_process_calls_the_function():
    group = Calculator(prefix='calc:')

    async def run():
        await group.divide.Process.write(1)
        first = (group.divide.retval.value, group.divide.status.value)
        await group.divide.denominator.write(0.0)
        with pytest.raises(ZeroDivisionError):
            await group.divide.Process.write(1)
        await group.shout.Go.write(1)
        return first, group.divide.status.value, group.shout.retval.value

    first, failed, shouted = asyncio.run(run())
    assert first == (2.0, 'Success')
    assert failed == 'ZeroDivisionError: float division by zero'
    assert shouted == 'HIHI'


def test_annotations_are_required():
    with pytest.raises(Exception) as raised:
        class Bad(PVGroup):
            @pvfunction
            async def f(self, x) -> int:
                return x
    error = raised.value.__cause__ or raised.value  # 3.11 wraps __set_name__
    assert 'annotation' in str(error)
