"""Static typing of the package: mypy passes, public APIs are annotated.

* ``test_mypy_passes``: ``python -m mypy`` with the ``[tool.mypy]``
  configuration of pyproject.toml, run from the repository root, must end
  with "Success: no issues found".
* ``test_public_api_annotated``: every public function and method (name not
  starting with ``_``) of the documented APIs has an annotation on each
  parameter (except the ``self``/``cls`` of methods) and on its return.
  Properties count through their getter's return annotation.  The APIs:
  everything ``cawire.protocol`` exports, the classes
  ``cawire.threading.client`` exports, and ``cawire.server``'s exports.
  Inherited methods count when the base class is cawire's (a public method
  of a private base is public API of the exported class).
"""
from __future__ import annotations

import importlib
import inspect
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

API_MODULES = ('cawire.protocol', 'cawire.threading.client', 'cawire.server')


@pytest.mark.timeout(600)
def test_mypy_passes():
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    completed = subprocess.run(
        [sys.executable, '-m', 'mypy', '--no-incremental'], cwd=ROOT,
        env=env, capture_output=True, text=True, timeout=540)
    output = completed.stdout + completed.stderr
    assert 'Success: no issues found' in output, output[-20000:]
    assert completed.returncode == 0, output[-20000:]


def _own(obj, module_prefix='cawire') -> bool:
    return (getattr(obj, '__module__', None) or '').startswith(module_prefix)


def _missing_annotations(func, is_method: bool) -> list[str]:
    """Names of unannotated parameters (and 'return') of a function."""
    func = inspect.unwrap(func)
    try:
        signature = inspect.signature(func, eval_str=False)
    except (TypeError, ValueError):
        return []  # builtins / C functions: nothing to check
    parameters = list(signature.parameters.values())
    if is_method and parameters and parameters[0].name in ('self', 'cls'):
        parameters = parameters[1:]
    missing = [p.name for p in parameters
               if p.annotation is inspect.Parameter.empty]
    if signature.return_annotation is inspect.Signature.empty:
        missing.append('return')
    return missing


def _class_members(cls):
    """(qualified name, function, is_method) of public methods and property
    getters defined by ``cls`` and its cawire base classes."""
    seen = set()
    for klass in cls.__mro__:
        if not _own(klass):
            continue
        for name, attribute in vars(klass).items():
            if name.startswith('_') or name in seen:
                continue
            seen.add(name)
            if isinstance(attribute, property):
                if attribute.fget is not None:
                    yield (f'{klass.__qualname__}.{name}', attribute.fget,
                           True)
            elif isinstance(attribute, (classmethod, staticmethod)):
                yield (f'{klass.__qualname__}.{name}', attribute.__func__,
                       isinstance(attribute, classmethod))
            elif inspect.isfunction(attribute):
                yield f'{klass.__qualname__}.{name}', attribute, True


def _api_objects():
    for module_name in API_MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            if name.startswith('_'):
                continue
            yield module_name, name, getattr(module, name)


def public_api_offenders() -> list[str]:
    offenders = []
    checked = set()
    for module_name, name, obj in _api_objects():
        if id(obj) in checked or not _own(obj):
            continue
        checked.add(id(obj))
        if inspect.isclass(obj):
            members = list(_class_members(obj))
        elif inspect.isfunction(obj):
            members = [(obj.__qualname__, obj, False)]
        else:
            continue
        for qualified, func, is_method in members:
            if id(func) in checked or not _own(func):
                continue  # seen, or borrowed (``sleep = asyncio.sleep``)
            checked.add(id(func))
            missing = _missing_annotations(func, is_method)
            if missing:
                source = inspect.getsourcefile(func) or '?'
                try:
                    line = inspect.getsourcelines(func)[1]
                except (OSError, TypeError):
                    line = 0
                where = os.path.relpath(source, ROOT)
                offenders.append(f'{where}:{line}: {func.__module__}.'
                                 f'{qualified}: missing {", ".join(missing)}')
    return sorted(set(offenders))


def test_public_api_annotated():
    offenders = public_api_offenders()
    assert not offenders, (f'{len(offenders)} public functions lack '
                           f'annotations:\n' + '\n'.join(offenders))


def test_annotation_check_itself():
    def annotated(a: int, *args: int, b: str = '', **kw: object) -> None:
        pass

    def bare(a, b: int):
        pass

    class Sample:
        def method(self, x: int) -> int:
            return x

        @classmethod
        def build(cls, y) -> 'Sample':
            return cls()

        @property
        def value(self):
            return 1

    assert _missing_annotations(annotated, False) == []
    assert _missing_annotations(bare, False) == ['a', 'return']
    Sample.__module__ = 'cawire.sample'
    members = {name: _missing_annotations(func, is_method)
               for name, func, is_method in _class_members(Sample)}
    assert members == {
        f'{Sample.__qualname__}.method': [],
        f'{Sample.__qualname__}.build': ['y'],
        f'{Sample.__qualname__}.value': ['return']}
