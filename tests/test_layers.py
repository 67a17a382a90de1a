"""The packages form layers, and imports only run downward: a module may import its own
layer and the layers below it, never one above, and no chain of imports (function-level
ones included) comes back to where it started. The order follows what the code does:
core holds what every layer uses; spaces define architectures and networks; bench
holds ground truth, tasks and data; algorithms train super-nets on them; results
stores runs; paper_figures computes metrics and tables from results; experiments
drives everything, and the package's own __main__ starts it."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ("core", "spaces", "bench", "algorithms", "results", "paper_figures", "experiments", "__main__")
# repository folder -> the package it installs as (pyproject.toml's package-dir)
FOLDERS = {"lmreg": "lmreg", "bench": "lmreg.bench", "spaces": "lmreg.spaces", "algorithms": "lmreg.algorithms",
           "results": "lmreg.results", "paper_figures": "lmreg.paper_figures", "experiments": "lmreg.experiments"}


def package_modules(root: Path = ROOT) -> dict[str, Path]:
    """Every module of the installed package, by dotted name."""
    found = {}
    for folder, package in FOLDERS.items():
        for path in (root / folder).rglob("*.py"):
            parts = path.relative_to(root / folder).with_suffix("").parts
            if folder == "lmreg" and parts[0] in FOLDERS:
                continue
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join((package, *parts))] = path
    return found


def imports_of(name: str, path: Path) -> list[tuple[str, int]]:
    """(module, line) for every lmreg import anywhere in the file, relative ones resolved;
    `from package import name` counts the package and, where it is one, the module."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package[:len(package) - node.level + 1], *([node.module] if node.module else [])])
            out += [(base, node.lineno)] + [(f"{base}.{a.name}", node.lineno) for a in node.names]
    return [(m, line) for m, line in out if m.split(".")[0] == "lmreg"]


def layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__main__"  # the root package: its __init__ and __main__


def import_graph(modules: dict[str, Path]) -> dict[str, dict[str, int]]:
    """module -> {imported module: first line}, for modules of the package only."""
    graph = {}
    for name, path in modules.items():
        edges: dict[str, int] = {}
        for target, line in imports_of(name, path):
            if target in modules and target != name:
                edges.setdefault(target, line)
        graph[name] = edges
    return graph


def upward_imports(graph: dict[str, dict[str, int]]) -> list[tuple[str, str, int]]:
    """(importer, imported, line) for every import of a higher layer."""
    rank = {name: i for i, name in enumerate(LAYERS)}
    return [(src, dst, line) for src, edges in graph.items() for dst, line in edges.items()
            if rank[layer(dst)] > rank[layer(src)]]


def cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
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
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_every_module_is_in_a_layer():
    unknown = sorted({layer(m) for m in package_modules()} - set(LAYERS))
    assert not unknown, f"packages missing from LAYERS: {unknown}"


def test_no_import_runs_upward():
    modules = package_modules()
    bad = [f"{modules[src].relative_to(ROOT)}:{line}: {layer(src)} imports {dst} ({layer(dst)} is above it)"
           for src, dst, line in upward_imports(import_graph(modules))]
    assert not bad, "\n".join(bad)


def test_no_import_cycle():
    found = cycles(import_graph(package_modules()))
    assert not found, "import cycles: " + "; ".join(" <-> ".join(c) for c in found)


def test_the_checks_see_function_level_and_relative_imports(tmp_path):
    """The checks themselves: an upward import inside a function, a relative import and a
    two-module cycle through function-level imports are all found."""
    for folder in FOLDERS:
        (tmp_path / folder).mkdir()
    (tmp_path / "lmreg" / "core").mkdir()
    (tmp_path / "lmreg" / "core" / "__init__.py").write_text("")
    (tmp_path / "lmreg" / "core" / "low.py").write_text("def f():\n    from lmreg.experiments import top\n")
    (tmp_path / "experiments" / "__init__.py").write_text("")
    (tmp_path / "experiments" / "top.py").write_text("def g():\n    from . import other\n")
    (tmp_path / "experiments" / "other.py").write_text("from lmreg.experiments.top import g\n")
    modules = package_modules(tmp_path)
    graph = import_graph(modules)
    assert graph["lmreg.core.low"] == {"lmreg.experiments": 2, "lmreg.experiments.top": 2}
    assert graph["lmreg.experiments.top"] == {"lmreg.experiments": 2, "lmreg.experiments.other": 2}
    assert cycles(graph) == [["lmreg.experiments.other", "lmreg.experiments.top"]]
    assert upward_imports(graph) == [("lmreg.core.low", "lmreg.experiments", 2),
                                     ("lmreg.core.low", "lmreg.experiments.top", 2)]


# the modules of the spaces layer that name no particular space
SPACE_NEUTRAL = {"lmreg.spaces", "lmreg.spaces.base"}


def test_predictors_name_no_space():
    """The predictors get a space's encodings through the SearchSpace protocol (issue 25), so
    no module under algorithms/predictors imports a particular space's module."""
    modules = package_modules()
    graph = import_graph(modules)
    bad = [f"{modules[src].relative_to(ROOT)}:{line}: imports {dst}" for src, edges in graph.items()
           if src.startswith("lmreg.algorithms.predictors") for dst, line in edges.items()
           if layer(dst) == "spaces" and dst not in SPACE_NEUTRAL]
    assert [m for m in modules if m.startswith("lmreg.algorithms.predictors.")], "no predictor modules found"
    assert not bad, "\n".join(bad)
