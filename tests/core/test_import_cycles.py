"""No import cycles anywhere in the ``cawire`` package.

The graph is built from the syntax tree of every module (nothing is
imported).  What counts as an edge ``A -> B``:

* every ``import`` statement in A naming a cawire module B, wherever it is:
  at module level, inside ``try``/``if``, and inside functions.  A deferred
  (function-level) import that closes a cycle only moves the failure from
  import time to call time; the dependency is the same;
* ``importlib.import_module('cawire...')`` with a literal name (a hidden
  import is still an import);
* ``from package import name`` is an edge to ``package.name`` when that is a
  module, else to ``package``; relative imports are resolved.

Not counted: imports under ``if TYPE_CHECKING:`` (annotations only, never
executed), and the implicit import of a module's parent packages (every
submodule would otherwise be in a cycle with an ``__init__`` that
re-exports it).

On failure the message lists each cycle as ``a -> b -> ... -> a`` with the
line of every edge.
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = 'cawire'


def _module_files() -> dict[str, Path]:
    modules = {}
    for path in sorted((ROOT / PACKAGE).rglob('*.py')):
        parts = list(path.relative_to(ROOT).with_suffix('').parts)
        if parts[-1] == '__init__':
            parts.pop()
        modules['.'.join(parts)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == 'TYPE_CHECKING') or (
        isinstance(test, ast.Attribute) and test.attr == 'TYPE_CHECKING')


class _ImportCollector(ast.NodeVisitor):
    def __init__(self, module: str, is_package: bool, known: set[str]):
        self.module = module
        self.package = module if is_package else module.rpartition('.')[0]
        self.known = known
        self.edges: list[tuple[str, int]] = []

    def _add(self, target: str, line: int) -> None:
        # The deepest known module the dotted name refers to.
        while target and target not in self.known:
            target = target.rpartition('.')[0]
        if target and target != self.module:
            self.edges.append((target, line))

    def visit_If(self, node: ast.If) -> None:
        if _is_type_checking(node.test):
            for child in node.orelse:
                self.visit(child)
            return
        self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.name.split('.')[0] == PACKAGE:
                self._add(alias.name, node.lineno)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            base = self.package.split('.')
            if node.level > 1:
                base = base[:len(base) - (node.level - 1)]
            module = '.'.join(base + ([node.module] if node.module else []))
        else:
            module = node.module or ''
        if module.split('.')[0] != PACKAGE:
            return
        for alias in node.names:
            submodule = f'{module}.{alias.name}'
            if submodule in self.known:
                self._add(submodule, node.lineno)
            else:
                self._add(module, node.lineno)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else (
            func.id if isinstance(func, ast.Name) else None)
        if name == 'import_module' and node.args and isinstance(
                node.args[0], ast.Constant) and isinstance(
                    node.args[0].value, str):
            target = node.args[0].value
            if target.startswith('.'):
                level = len(target) - len(target.lstrip('.'))
                base = self.package.split('.')
                if level > 1:
                    base = base[:len(base) - (level - 1)]
                rest = target.lstrip('.')
                target = '.'.join(base + ([rest] if rest else []))
            if target.split('.')[0] == PACKAGE:
                self._add(target, node.lineno)
        self.generic_visit(node)


def import_graph() -> dict[str, dict[str, int]]:
    """``module -> {imported module: first line}`` for all of cawire."""
    files = _module_files()
    known = set(files)
    graph: dict[str, dict[str, int]] = {}
    for module, path in files.items():
        collector = _ImportCollector(module, path.name == '__init__.py',
                                     known)
        collector.visit(ast.parse(path.read_text('utf-8'), str(path)))
        edges: dict[str, int] = {}
        for target, line in collector.edges:
            edges.setdefault(target, line)
        graph[module] = edges
    return graph


def find_cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """One cycle per strongly connected component with more than one node
    (or a self-loop), as a closed path ``[a, b, ..., a]``."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    counter = [0]

    def strongconnect(node: str) -> None:
        # Iterative Tarjan: the package is small but recursion depth is not
        # something a test should depend on.
        work = [(node, iter(sorted(graph.get(node, ()))))]
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        while work:
            current, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter[0]
                    counter[0] += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                    advanced = True
                    break
                if child in on_stack:
                    low[current] = min(low[current], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[current])
            if low[current] == index[current]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == current:
                        break
                components.append(component)

    for node in sorted(graph):
        if node not in index:
            strongconnect(node)

    cycles = []
    for component in components:
        members = set(component)
        start = min(component)
        if len(component) == 1 and start not in graph.get(start, {}):
            continue
        cycles.append(_path_back(graph, start, members))
    return cycles


def _path_back(graph, start, members) -> list[str]:
    """Shortest path start -> ... -> start inside one component (BFS)."""
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for child in sorted(graph[node]):
                if child not in members:
                    continue
                if child == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [start] + path[::-1][1:] + [start] \
                        if len(path) > 1 else [start, start]
                if child not in previous:
                    previous[child] = node
                    following.append(child)
        frontier = following
    raise AssertionError(f'no cycle through {start}')


def _describe(graph, cycle: list[str]) -> str:
    steps = [f'{a} (line {graph[a][b]}) -> {b}'
             for a, b in zip(cycle, cycle[1:])]
    return ' -> '.join(cycle) + '\n      ' + '\n      '.join(steps)


def test_graph_covers_the_package():
    graph = import_graph()
    assert 'cawire.protocol._framing' in graph
    assert 'cawire.protocol._headers' in graph['cawire.protocol._framing']
    assert 'cawire.protocol' in graph['cawire']


def test_no_import_cycles():
    graph = import_graph()
    cycles = find_cycles(graph)
    assert not cycles, 'import cycles in cawire:\n' + '\n'.join(
        '  ' + _describe(graph, cycle) for cycle in cycles)


# -- the cycle finder itself ---------------------------------------------------

def test_find_cycles_reports_a_closed_path():
    graph = {'a': {'b': 1}, 'b': {'c': 2}, 'c': {'a': 3, 'd': 4}, 'd': {}}
    assert find_cycles(graph) == [['a', 'b', 'c', 'a']]
    assert find_cycles({'a': {'a': 1}}) == [['a', 'a']]
    assert find_cycles({'a': {'b': 1}, 'b': {}}) == []


def test_collector_rules(tmp_path):
    known = {'cawire', 'cawire.protocol', 'cawire.protocol._a',
             'cawire.protocol._b', 'cawire.log'}
    source = '\n'.join([
        'from typing import TYPE_CHECKING',
        'from ._b import thing',            # line 2: edge to _b
        'from .. import log',               # line 3: edge to cawire.log
        'if TYPE_CHECKING:',
        '    from cawire import protocol',  # not an edge
        'def f():',
        '    import importlib',
        '    importlib.import_module("cawire.protocol")',  # line 8
    ])
    collector = _ImportCollector('cawire.protocol._a', False, known)
    collector.visit(ast.parse(source))
    assert sorted(collector.edges) == [('cawire.log', 3),
                                       ('cawire.protocol', 8),
                                       ('cawire.protocol._b', 2)]
