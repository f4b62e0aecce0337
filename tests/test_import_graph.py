"""The package's imports run one way: every module imports, and no chain of module-level
imports leads back to where it started (DESIGN.md's layers)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "mir_ref"


def module_names() -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its ``__init__``)."""
    names = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def _module_level(tree: ast.Module, *, run_only: bool = False) -> list[ast.stmt]:
    """Statements of the module itself: its body and the blocks of its top-level ``if``,
    ``try`` and ``with``, never a function's or a class's body. ``if TYPE_CHECKING`` blocks
    are included (a cycle there is a cycle of meaning) unless ``run_only``."""
    pending, found = list(tree.body), []
    while pending:
        node = pending.pop()
        if run_only and isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        found.append(node)
        for field in ("body", "orelse", "finalbody", "handlers"):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                pending.extend(getattr(node, field, []))
    return found


def import_graph() -> dict[str, set[str]]:
    """Module → the package modules it imports at module level."""
    modules = module_names()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in _module_level(ast.parse(path.read_text())):
            targets = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                # `from mir_ref import stages` imports the module mir_ref.stages.
                targets = [f"{node.module}.{alias.name}" for alias in node.names]
                targets = [t if t in modules else node.module for t in targets]
            graph[name] |= {t for t in targets if t in modules and t != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle through each strongly connected group of modules (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def test_every_module_imports():
    for name in sorted(module_names()):
        if name != "mir_ref.__main__":  # runs the command line
            importlib.import_module(name)


def test_the_package_has_no_import_cycle():
    assert cycles(import_graph()) == []


def test_the_cycle_finder_finds_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_schema_imports_no_component_package():
    components = ("mir_ref.datasets", "mir_ref.deformations", "mir_ref.models", "mir_ref.probes")
    imported = import_graph()["mir_ref.config"]
    assert not [name for name in imported if name.startswith(components)]


def test_the_report_does_not_import_the_trainer():
    graph = import_graph()
    assert not [
        name
        for name, targets in graph.items()
        if name.startswith("mir_ref.report") and ("mir_ref.train" in targets)
    ]


HEAVY = (
    "numpy", "torch", "transformers", "ray", "sklearn", "scipy", "matplotlib", "librosa", "pandas",
    "pyarrow", "onnx", "onnxruntime", "mir_eval", "pedalboard", "jinja2", "rich", "typer",
)  # fmt: skip
"""Packages worth deferring: each takes a noticeable share of a second to import, and many
commands, runs or worker processes never need them."""


def _heavy_loaded() -> dict[str, set[str]]:
    """Module → the heavy packages importing it loads (at module level, transitively;
    ``if TYPE_CHECKING`` blocks run no import)."""
    graph: dict[str, set[str]] = {}
    direct: dict[str, set[str]] = {}
    modules = module_names()
    for name, path in modules.items():
        # Importing a.b.c runs a/__init__ and a/b/__init__ first.
        graph[name] = {name.rsplit(".", depth)[0] for depth in (1, 2, 3)} & set(modules) - {name}
        direct[name] = set()
        for node in _module_level(ast.parse(path.read_text()), run_only=True):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [f"{node.module}.{alias.name}" for alias in node.names]
                targets = [t if t in modules else node.module for t in targets]
            else:
                continue
            direct[name] |= {t.split(".")[0] for t in targets} & set(HEAVY)
            graph[name] |= {t for t in targets if t in modules and t != name}
    loaded = {}
    for name in modules:
        seen, pending = set(), [name]
        while pending:
            module = pending.pop()
            if module not in seen:
                seen.add(module)
                pending.extend(graph[module])
        loaded[name] = set().union(*(direct[module] for module in seen))
    return loaded


def _commented(lines: list[str], line: int) -> bool:
    """Whether the import on ``line`` (1-based) carries a comment, on its line or above the
    group of imports it belongs to."""
    if "#" in lines[line - 1]:
        return True
    above = line - 2
    while above >= 0 and lines[above].strip().startswith(("import ", "from ")):
        above -= 1
    return above >= 0 and lines[above].strip().startswith("#")


def deferred_imports() -> list[tuple[str, int, str, bool]]:
    """Each import inside a function: ``(module, line, target, has a comment)``."""
    found = []
    for name, path in module_names().items():
        lines = path.read_text().splitlines()
        for function in ast.walk(ast.parse(path.read_text())):
            if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(function):
                if isinstance(node, ast.Import):
                    targets = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module:
                    targets = [f"{node.module}.{alias.name}" for alias in node.names]
                else:
                    continue
                line = node.lineno
                found.extend((name, line, target, _commented(lines, line)) for target in targets)
    return sorted(set(found))


def test_function_local_imports_only_defer_heavy_packages_and_say_so():
    """A function-local import must defer a heavy package that its module does not load
    already (directly, or through a package module that loads one), and carry a comment;
    any other would hide an import cycle."""
    loaded = _heavy_loaded()
    modules = module_names()
    wrong = []
    for name, line, target, commented in deferred_imports():
        module = target if target in modules else target.rpartition(".")[0]
        root = target.split(".")[0]
        deferred = ({root} & set(HEAVY)) | loaded.get(module, set())
        if not (deferred - loaded[name] and commented):
            wrong.append(f"{name}:{line} imports {target}")
    assert wrong == []
