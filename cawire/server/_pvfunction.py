"""``pvfunction``: an async function served as a group of PVs (caproto's
RPC-style API).

Decorating ``async def f(self, low: int = 1, high: int = 9) -> int`` in a
PVGroup body makes a SubGroup ``f:`` with one PV per argument (``f:low``,
``f:high``, named after the parameters, typed by their annotations, holding
their defaults), ``f:Status`` (str, read-only: ``Init``, then ``Success`` or
the exception of the last call), ``f:Retval`` (read-only, typed by the
return annotation) and ``f:Process``: writing it calls ``f`` with the
argument PVs' values and stores the result in ``Retval``.
"""
from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from ..protocol._exceptions import CaprotoValueError
from ._pvgroup import SubGroup, pvproperty

__all__ = ('pvfunction',)

#: Value of a parameter PV (or Retval) when the function gives none.
_TYPE_DEFAULTS: dict[Any, Any] = {int: 0, float: 0.0, str: '', bool: False}
#: Room of the Status PV (a long string), NUL included: an exception's
#: text is cut to fit.
_STATUS_LENGTH = 256


class pvfunction(SubGroup):
    """A SubGroup of PVs calling an async function (see the module doc).

    Parameters
    ----------
    func : async callable, optional
        The function (else given by using the instance as a decorator).
        Every parameter after ``self`` and the return value need a type
        annotation (int, float, str, bool...).
    default : object, optional
        Accepted for caproto compatibility; as in caproto, ``Retval`` starts
        at its type's default (0, 0.0, '').
    names : dict, optional
        PV names for ``process``, ``retval`` and ``status`` (defaults
        ``Process``, ``Retval``, ``Status``).
    alarm_group : str, optional
        Alarm group of the PVs (default: the function's name).
    prefix, macros, attr_separator, doc
        As for :class:`SubGroup` (the prefix defaults to the attribute name
        and ``:``).
    """

    default_names = {'process': 'Process', 'retval': 'Retval',
                     'status': 'Status'}

    def __init__(self, func: Callable | None = None, default: Any = None,
                 names: Mapping[str, str] | None = None,
                 alarm_group: str | None = None, prefix: str | None = None,
                 macros: dict | None = None,
                 attr_separator: str | None = None, doc: str | None = None):
        super().__init__(None, prefix=prefix, macros=macros, doc=doc,
                         attr_separator=attr_separator)
        self.func = func
        self.default_retval = default
        self.alarm_group = alarm_group
        names = names or {}
        self.names = {key: names.get(key, value)
                      for key, value in self.default_names.items()}

    def __call__(self, func: Callable) -> 'pvfunction':  # type: ignore[override]
        """Use as a decorator: ``@pvfunction(default=[0])``."""
        self.func = func
        return self

    def __set_name__(self, owner: type, attr_name: str) -> None:
        if self.func is None:
            raise CaprotoValueError(f'pvfunction {attr_name!r} has no '
                                    f'function')
        if self.doc is None:
            self.doc = self.func.__doc__
        self.group_dict = self._properties()
        super().__set_name__(owner, attr_name)

    def _properties(self) -> dict[str, pvproperty]:
        func = self.func
        assert func is not None
        signature = inspect.signature(func, eval_str=True)
        returns = signature.return_annotation
        if returns is inspect.Signature.empty:
            raise CaprotoValueError(f'pvfunction {func.__name__}: the '
                                    f'return value needs a type annotation')
        alarm_group = self.alarm_group or func.__name__
        parameters = list(signature.parameters.values())[1:]  # after self
        properties: dict[str, pvproperty] = {}
        for parameter in parameters:
            dtype = parameter.annotation
            if dtype is inspect.Parameter.empty:
                raise CaprotoValueError(
                    f'pvfunction {func.__name__}: parameter '
                    f'{parameter.name!r} needs a type annotation')
            value = parameter.default
            if value is inspect.Parameter.empty:
                value = _TYPE_DEFAULTS.get(dtype, 0)
            properties[parameter.name] = pvproperty(
                name=parameter.name, dtype=dtype, value=value,
                alarm_group=alarm_group,
                doc=f'Parameter {dtype} {parameter.name}')
        properties['status'] = pvproperty(
            name=self.names['status'], dtype=str, value='Init',
            max_length=_STATUS_LENGTH, read_only=True,
            alarm_group=alarm_group,
            doc=f'Parameter {str} status')
        properties['retval'] = pvproperty(
            name=self.names['retval'], dtype=returns,
            value=_TYPE_DEFAULTS.get(returns, 0), read_only=True,
            alarm_group=alarm_group, doc=f'Parameter {returns} retval')
        argument_names = [parameter.name for parameter in parameters]

        async def process(group: Any, instance: Any, value: Any) -> None:
            arguments = {name: getattr(group, name).value
                         for name in argument_names}
            try:
                result = await func(group, **arguments)
                await group.retval.write(result)
                await group.status.write('Success')
            except Exception as exc:
                message = f'{type(exc).__name__}: {exc}'
                await group.status.write(message[:_STATUS_LENGTH - 1])
                raise

        properties[self.names['process']] = pvproperty(
            put=process, name=self.names['process'], dtype=int, value=0,
            alarm_group=alarm_group, doc=f'Parameter {int} Process')
        return properties
