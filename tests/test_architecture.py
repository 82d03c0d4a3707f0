"""The package layout keeps the flow one-way: no import circles, no import from a later stage
into an earlier one. Every import of an auditor module counts, at module level or inside a
function (a lazy import is still a dependency). See docs/architecture.md."""

from __future__ import annotations

import ast
import os
from collections.abc import Iterator

import pytest

PACKAGE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "auditor")

# The stages in flow order. A module may import its own stage and earlier ones only.
STAGES = ["common", "speed", "collect", "evidence", "packs", "judging", "results", "report", "signing", "api", "cli"]
RANK = {"common": 0, "speed": 0, "collect": 1, "evidence": 2, "packs": 3, "judging": 4, "results": 5, "report": 6,
        "signing": 7, "api": 8, "cli": 9, "__main__": 10}
# The package root holds the version (auditor/common/version.py) and lazy names of the API:
# ``from auditor import audit`` loads auditor.api on first use, never at import.
ROOT_LAZY = {("auditor", "auditor.api")}


def _modules() -> dict[str, str]:
    """Dotted module name -> file, for every .py file in the package."""
    out = {}
    for folder, _dirs, files in os.walk(PACKAGE):
        for name in files:
            if not name.endswith(".py"):
                continue
            path = os.path.join(folder, name)
            rel = os.path.relpath(path, os.path.dirname(PACKAGE))[:-3].split(os.sep)
            if rel[-1] == "__init__":
                rel = rel[:-1]
            out[".".join(rel)] = path
    return out


MODULES = _modules()


def _resolve(name: str) -> str | None:
    """The auditor module an import name refers to (the longest known prefix)."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in MODULES:
            return candidate
        parts.pop()
    return None


def _imports(module: str) -> Iterator[tuple[str, int]]:
    """(imported auditor module, line) for every import statement anywhere in the module."""
    path = MODULES[module]
    with open(path, encoding="utf-8") as fh:
        tree = ast.parse(fh.read(), path)
    package = module if path.endswith("__init__.py") else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "auditor":
                    target = _resolve(alias.name)
                    if target:
                        yield target, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative import
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            if base.split(".")[0] != "auditor":
                continue
            for alias in node.names:  # `from auditor.report import formatting` names a module
                target = _resolve(f"{base}.{alias.name}") if f"{base}.{alias.name}" in MODULES else _resolve(base)
                if target:
                    yield target, node.lineno


def _stage(module: str) -> str | None:
    parts = module.split(".")
    if len(parts) == 1:
        return None  # the package root
    return parts[1] if parts[1] in RANK else None


GRAPH = {m: sorted({t for t, _ in _imports(m) if t != m}) for m in MODULES}


def test_the_layout_has_a_package_per_stage():
    for stage in STAGES:
        assert f"auditor.{stage}" in MODULES, f"auditor/{stage} is missing"
    staged = {m for m in MODULES if _stage(m)}
    # every module of code belongs to a stage (data packages hold no code)
    unstaged = sorted(m for m in MODULES if m not in staged and m != "auditor")
    assert unstaged == [], f"modules outside every stage: {unstaged}"


def test_no_import_goes_from_a_later_stage_into_an_earlier_one():
    backwards = []
    for module in MODULES:
        for target, line in _imports(module):
            if module == "auditor":
                if (module, target) not in ROOT_LAZY and _stage(target) not in (None, "common"):
                    backwards.append(f"{MODULES[module]}:{line}: the package root imports {target}")
                continue
            src, dst = _stage(module), _stage(target)
            if src is None or dst is None:
                continue
            if RANK[dst] > RANK[src]:
                backwards.append(f"{os.path.relpath(MODULES[module], PACKAGE)}:{line}: {module} ({src}) imports "
                                 f"{target} ({dst}), a later stage")
    assert backwards == [], "\n".join(backwards)


def _cycles(graph: dict[str, list[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each a circle of imports."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, []):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_circles():
    # the root's lazy API names are not a dependency of the stages that import the version
    graph = {m: [t for t in targets if (m, t) not in ROOT_LAZY] for m, targets in GRAPH.items()}
    assert _cycles(graph) == []


@pytest.mark.parametrize("graph, expected", [
    ({"a": ["b"], "b": ["a"]}, [["a", "b"]]),
    ({"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a"]}, [["a", "b", "c"]]),
    ({"a": ["b"], "b": []}, []),
])
def test_the_circle_finder_finds_circles(graph, expected):
    assert _cycles(graph) == expected


def test_the_version_is_the_projects():
    import tomllib

    import auditor

    with open(os.path.join(os.path.dirname(PACKAGE), "pyproject.toml"), "rb") as fh:
        assert auditor.__version__ == tomllib.load(fh)["project"]["version"]


def test_the_import_reader_sees_function_level_and_from_imports(tmp_path):
    # the reader must see the lazy imports the layout relies on, or the checks above prove nothing
    assert "auditor.report.formatting" in GRAPH["auditor.report.html"]  # inside a function
    assert "auditor.api" in GRAPH["auditor.cli"]
    assert "auditor.judging.engine" in GRAPH["auditor.api"]
