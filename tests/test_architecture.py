"""Imports run one way: routes → agents → services → utils, with leaves usable by all.

Every module under ``backend/`` is parsed (ast: nothing is imported or run) and its imports
of ``backend`` modules — anywhere in the file, ``TYPE_CHECKING`` blocks and function bodies
too — are checked against the layers of ARCHITECTURE.md:

- no module imports a higher layer (a *back-arrow*); schemas sit between utils and services;
- schemas never import a service module other than a feature's leaf ``services/<f>/types.py``;
- leaves (models, config, the exception hierarchy ``services/errors.py`` and feature
  ``types.py`` modules) import only leaves, so every layer may use them;
- no cycles between packages (``services/<feature>`` counts as one package) nor between modules.

There is no list of tolerated exceptions: a violation is fixed, not recorded.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

BACKEND = Path(__file__).resolve().parent.parent / "backend"

# A module may import its own rank or lower ones (and leaves), never a higher one.
UTILS, SCHEMAS, SERVICES, AGENTS, ROUTES, ENTRY = range(1, 7)
LAYER_NAMES = {
    UTILS: "utils",
    SCHEMAS: "schemas",
    SERVICES: "services",
    AGENTS: "agents",
    ROUTES: "routes",
    ENTRY: "entry points",
}
# By the first name under backend/.
TOP_LEVEL_RANKS: Mapping[str, int] = {
    "utils": UTILS,
    "schemas": SCHEMAS,
    "services": SERVICES,
    "jobs": SERVICES,  # the job-queue plumbing services enqueue through
    "agents": AGENTS,
    "routes": ROUTES,
    "dependencies": ROUTES,
    "main": ENTRY,
    "server": ENTRY,
    "worker": ENTRY,
    "cli": ENTRY,
    "demo": ENTRY,  # the demo shop builder: an HTTP client of the API, run by the cli
}
LEAF_TOP_LEVEL = frozenset({"models", "config"})
EXCEPTION_HIERARCHY = "backend.services.errors"
# Pure vocabulary modules of utils (periods and their bounds; the frequency words and aliases).
PURE_UTILS = ("backend.utils.calendar", "backend.utils.frequency")


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str
    line: int


@dataclass(frozen=True)
class Codebase:
    modules: Mapping[str, Path]
    packages: frozenset[str]

    @classmethod
    def read(cls, root: Path = BACKEND) -> Codebase:
        modules = {_module_name(path, root): path for path in sorted(root.rglob("*.py"))}
        packages = frozenset(name for name, path in modules.items() if path.name == "__init__.py")
        return cls(modules, packages)

    def imports(self) -> list[Import]:
        found = {imp for name, path in self.modules.items() for imp in self._imports_of(name, path)}
        return sorted(found, key=lambda imp: (imp.importer, imp.line, imp.imported))

    def is_leaf(self, module: str) -> bool:
        parts = module.split(".")
        if len(parts) < 2:
            return False
        if parts[1] in LEAF_TOP_LEVEL or module in (EXCEPTION_HIERARCHY, *PURE_UTILS):
            return True
        feature_types = len(parts) == 4 and parts[1] == "services" and parts[3] == "types"
        return feature_types and module not in self.packages  # a `types/` package is not a leaf module

    def package(self, module: str) -> str:
        """The node of the package graph: a leaf service module alone, services/<f>, or a top level."""
        parts = module.split(".")
        if len(parts) < 3 or parts[1] != "services":
            return ".".join(parts[:2])
        return module if self.is_leaf(module) else ".".join(parts[:3])

    def _imports_of(self, name: str, path: Path) -> Iterator[Import]:
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("backend."):
                        yield Import(name, alias.name, node.lineno)
            elif isinstance(node, ast.ImportFrom):
                target = _absolute(node, name, is_package=path.name == "__init__.py")
                if target.startswith("backend"):
                    for alias in node.names:
                        submodule = f"{target}.{alias.name}"
                        yield Import(name, submodule if submodule in self.modules else target, node.lineno)


def _module_name(path: Path, root: Path) -> str:
    parts = ["backend", *path.relative_to(root).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _absolute(node: ast.ImportFrom, importer: str, *, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = importer.split(".") if is_package else importer.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def rank(module: str) -> int:
    parts = module.split(".")
    if len(parts) < 2 or parts[1] not in TOP_LEVEL_RANKS:
        raise AssertionError(f"{module} belongs to no layer: give its package a rank in TOP_LEVEL_RANKS")
    return TOP_LEVEL_RANKS[parts[1]]


def problem(code: Codebase, imp: Import) -> str | None:
    """Why this import breaks the direction, or None when it is allowed."""
    source, target = imp.importer, imp.imported
    if code.is_leaf(target):
        return None
    if code.is_leaf(source):
        return "a leaf imports a non-leaf"
    if rank(source) == SCHEMAS and rank(target) == SERVICES:
        return "a schema imports a service module (only services/<feature>/types.py is allowed)"
    if rank(target) > rank(source):
        return f"{LAYER_NAMES[rank(source)]} imports {LAYER_NAMES[rank(target)]}"
    return None


def direction_violations(code: Codebase) -> list[str]:
    found = []
    for imp in code.imports():
        why = problem(code, imp)
        if why:
            found.append(f"{imp.importer}:{imp.line} imports {imp.imported}: {why}")
    return found


def graph(code: Codebase, node: Callable[[str], str]) -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for imp in code.imports():
        source, target = node(imp.importer), node(imp.imported)
        edges.setdefault(source, set())
        edges.setdefault(target, set())
        if source != target:
            edges[source].add(target)
    return edges


def cycles(edges: Mapping[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)

    for start in sorted(edges):
        if start in index:
            continue
        visit(start)
        work = [(start, iter(sorted(edges[start])))]
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while not component or component[-1] != node:
                        component.append(stack.pop())
                        on_stack.discard(component[-1])
                    if len(component) > 1:
                        found.append(sorted(component))
            elif child not in index:
                visit(child)
                work.append((child, iter(sorted(edges[child]))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return found


def _same(module: str) -> str:
    return module


def test_imports_run_one_way() -> None:
    violations = direction_violations(Codebase.read())
    assert not violations, "imports against the layer direction:\n" + "\n".join(violations)


def test_no_cycles_between_packages() -> None:
    code = Codebase.read()
    assert cycles(graph(code, code.package)) == []


def test_no_cycles_between_modules() -> None:
    assert cycles(graph(Codebase.read(), _same)) == []


def test_every_module_belongs_to_a_layer() -> None:
    code = Codebase.read()
    unranked = [name for name in code.modules if name != "backend" and not code.is_leaf(name)]
    assert all(rank(name) for name in unranked)


def _write(root: Path, files: Mapping[str, str]) -> Codebase:
    for relative, source in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source, encoding="utf-8")
    return Codebase.read(root)


def test_a_service_importing_agents_is_reported(tmp_path: Path) -> None:
    code = _write(
        tmp_path,
        {
            "services/goals/__init__.py": "",
            "services/goals/service.py": "from backend.agents.graph import run_coach\n",
            "agents/graph.py": "from backend.services.goals import service\n",
        },
    )
    assert direction_violations(code) == [
        "backend.services.goals.service:1 imports backend.agents.graph: services imports agents"
    ]
    assert cycles(graph(code, code.package)) == [["backend.agents", "backend.services.goals"]]


def test_a_schema_may_import_a_features_types_but_no_other_service_module(tmp_path: Path) -> None:
    code = _write(
        tmp_path,
        {
            "schemas/goals.py": (
                "from backend.services.goals.types import GoalStatus\n"
                "from backend.services.goals import service\n"
            ),
            "services/goals/__init__.py": "",
            "services/goals/types.py": "",
            "services/goals/service.py": "from backend.services.goals.types import GoalStatus\n",
        },
    )
    assert [v.split(": ")[0] for v in direction_violations(code)] == [
        "backend.schemas.goals:2 imports backend.services.goals.service"
    ]


def test_a_leaf_importing_a_service_and_a_module_cycle_are_reported(tmp_path: Path) -> None:
    code = _write(
        tmp_path,
        {
            "models/goal.py": "from backend.services.goals.service import rules\n",
            "services/goals/__init__.py": "",
            "services/goals/service.py": "from . import progress\n",
            "services/goals/progress.py": "from backend.services.goals.service import rules\n",
        },
    )
    assert direction_violations(code) == [
        "backend.models.goal:1 imports backend.services.goals.service: a leaf imports a non-leaf"
    ]
    assert cycles(graph(code, _same)) == [
        ["backend.services.goals.progress", "backend.services.goals.service"]
    ]
