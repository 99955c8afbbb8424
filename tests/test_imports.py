"""The package's imports flow one way: no cycle among its modules, and no module takes a
private name (``_x``) from another. Read from the source with ``ast``, so every import counts:
``import x`` and ``from .x import y``, at the top or inside a function."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "induction_ode"


def module_names(root: Path = PACKAGE) -> dict[str, Path]:
    """``{dotted module name: file}`` for every module of the package (``__init__`` as its package)."""
    names = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return names


def imports(name: str, path: Path, modules) -> list[tuple[str, str]]:
    """``(module imported, name taken from it or "")`` for every import statement of one module,
    relative imports resolved; ``from m import x`` counts as importing ``m.x`` when that is a module."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, "") for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.append((sub, "") if sub in modules else (base, alias.name))
    return [(target, taken) for target, taken in found if target in modules]


def import_graph(root: Path = PACKAGE) -> tuple[dict[str, set[str]], list[str]]:
    """The package's module graph ``{module: modules it imports}`` and the private names that one
    module takes from another, as ``"importer: from module import _name"``."""
    modules = module_names(root)
    graph, private = {}, []
    for name, path in modules.items():
        found = imports(name, path, modules)
        graph[name] = {target for target, _ in found if target != name}
        private += [
            f"{name}: from {target} import {taken}"
            for target, taken in found
            if taken.startswith("_") and not taken.startswith("__") and target != name
        ]
    return graph, private


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One cycle of ``graph`` as ``[a, b, …, a]``, or ``[]`` if it has none (depth-first search)."""
    state = {}  # absent: unvisited; 1: on the current path; 2: done
    path = []

    def visit(node):
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node] = 2
        path.pop()
        return []

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return []


def test_the_module_graph_has_no_cycle():
    graph, _ = import_graph()
    assert "induction_ode.cli" in graph and graph["induction_ode.cli"]  # the parse found imports
    assert find_cycle(graph) == [], " -> ".join(find_cycle(graph))


def test_no_module_imports_a_private_name_from_another():
    _, private = import_graph()
    assert private == [], sorted(private)


@pytest.fixture
def tangled(tmp_path):
    """A package with the faults the tests above look for: a cycle through a function-level
    relative import, and a private name taken from a sibling."""
    root = tmp_path / "pkg"
    (root / "sub").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "top.py").write_text("from .sub.leaf import _helper\n")
    (root / "sub" / "__init__.py").write_text("")
    (root / "sub" / "leaf.py").write_text("def f():\n    from .. import top\n\ndef _helper(): ...\n")
    (root / "sub" / "other.py").write_text("import pkg.sub.leaf\nfrom . import leaf\n")
    return root


def test_the_checks_see_a_tangled_package(tangled):
    graph, private = import_graph(tangled)
    assert graph["pkg.sub.other"] == {"pkg.sub.leaf"}
    assert find_cycle(graph) == ["pkg.sub.leaf", "pkg.top", "pkg.sub.leaf"]
    assert private == ["pkg.top: from pkg.sub.leaf import _helper"]
