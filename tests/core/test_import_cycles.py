"""No import cycles between edgekit's modules.

The graph is built statically (``ast``) from the three roots of the ``edgekit`` namespace package: an edge
A -> B for every import of an edgekit module B that runs when A is imported, i.e. at module level (also inside
top-level ``if``/``try``/``with`` blocks and class bodies), except under ``if TYPE_CHECKING:`` and inside
functions (those run later, on call). ``from pkg import name`` is an edge to ``pkg.name`` when that is a module,
else to ``pkg`` itself; importing ``edgekit.y.z`` from outside ``edgekit.y`` is an edge to ``edgekit.y`` too (its
``__init__`` runs first). A cycle means one of its modules sees the other half-initialized, depending on which is
imported first.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ROOTS = (REPO / "runtime", REPO / "exporters", REPO / "sdk")


def module_files() -> dict[str, tuple[Path, bool]]:
    """dotted module name -> (file, is_package)."""
    modules: dict[str, tuple[Path, bool]] = {}
    for root in ROOTS:
        for path in sorted((root / "edgekit").rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            is_package = parts[-1] == "__init__"
            name = ".".join(parts[:-1] if is_package else parts)
            modules[name] = (path, is_package)
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def import_time_nodes(body: list[ast.stmt]):
    """Import statements that run when the module is imported."""
    for node in body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, ast.If):
            if not _is_type_checking(node.test):
                yield from import_time_nodes(node.body)
            yield from import_time_nodes(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody, *(h.body for h in node.handlers)):
                yield from import_time_nodes(block)
        elif isinstance(node, (ast.With, ast.For, ast.While)):
            yield from import_time_nodes(node.body)
        elif isinstance(node, ast.ClassDef):
            yield from import_time_nodes(node.body)
        # FunctionDef / AsyncFunctionDef: imports inside run on call, not on import


def imports_of(name: str, path: Path, is_package: bool, modules: dict) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = name if is_package else name.rpartition(".")[0]
    found: set[str] = set()
    for node in import_time_nodes(tree.body):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in modules:
                    found.add(alias.name)
            continue
        if node.level:
            base_parts = package.split(".")
            base_parts = base_parts[: len(base_parts) - (node.level - 1)]
            base = ".".join(base_parts + ([node.module] if node.module else []))
        else:
            base = node.module or ""
        if not base.startswith("edgekit"):
            continue
        for alias in node.names:
            sub = f"{base}.{alias.name}"
            if sub in modules:
                found.add(sub)
            elif base in modules:
                found.add(base)
    found |= {package for target in found for package in _entered_packages(name, target, modules)}
    found.discard(name)
    return found


def _entered_packages(importer: str, target: str, modules: dict) -> set[str]:
    """Importing ``a.b.c`` first runs ``a/__init__`` and ``a/b/__init__``; those an importer inside them is
    already running add nothing, the others (``edgekit.x`` importing ``edgekit.y.z`` runs ``edgekit.y``) are
    edges too."""
    parts = target.split(".")
    entered = set()
    for i in range(1, len(parts)):
        package = ".".join(parts[:i])
        inside = importer == package or importer.startswith(package + ".")
        if package in modules and not inside:
            entered.add(package)
    return entered


def import_graph() -> dict[str, set[str]]:
    modules = module_files()
    return {name: imports_of(name, path, is_package, modules) for name, (path, is_package) in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One concrete cycle per strongly connected component of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    counter = 0

    def connect(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return [_path_through(graph, set(c)) for c in components]


def _path_through(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    """A shortest cycle from the component's first module back to itself (breadth-first)."""
    start = min(component)
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph[v] & component):
                if w == start:
                    path = [v]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [start] + path[::-1][1:] + [start] if len(path) > 1 else [start, v, start]
                if w not in previous:
                    previous[w] = v
                    nxt.append(w)
        frontier = nxt
    return sorted(component)


def test_the_graph_sees_the_packages():
    graph = import_graph()
    assert {"edgekit.runtime", "edgekit.exporters", "edgekit.sdk"} <= set(graph)
    assert "edgekit.runtime.errors" in graph["edgekit.runtime.chat"]  # from .errors import ...


def test_cycle_finder_finds_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles():
    found = cycles(import_graph())
    assert not found, "import cycles:\n" + "\n".join(" -> ".join(c) for c in found)
