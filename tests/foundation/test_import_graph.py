"""Import arrows: no cycles (function-level imports count, so none can hide one), the simulator
is imported only where it runs, and a stage's settings never import the config package that
collects them."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import looptool

ROOT = Path(looptool.__file__).resolve().parent


def _modules() -> dict[str, Path]:
    found = {}
    for path in ROOT.rglob("*.py"):
        if "_data" in path.parts:
            continue
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


MODULES = _modules()


def _resolve(name: str) -> str | None:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str, *, module_level_only: bool = False) -> set[str]:
    """Engine modules `module` imports, at any depth unless `module_level_only` (imports under
    `if TYPE_CHECKING:` are left out: they never run)."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out: set[str] = set()

    def visit(node: ast.AST, top: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            if isinstance(child, (ast.Import, ast.ImportFrom)) and (top or not module_level_only):
                if isinstance(child, ast.Import):
                    names = [alias.name for alias in child.names]
                else:
                    base = child.module or ""
                    if child.level:
                        anchor = package.split(".")[: len(package.split(".")) - child.level + 1]
                        base = ".".join(anchor + ([base] if base else []))
                    names = [base] + [f"{base}.{alias.name}" for alias in child.names]
                for name in names:
                    target = _resolve(name) if name.startswith("looptool") else None
                    if target and target != module:
                        out.add(target)
            visit(child, top and not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)))

    visit(ast.parse(path.read_text(encoding="utf-8")), True)
    return out


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles_not_even_through_function_level_imports() -> None:
    graph = {module: _imports(module) for module in MODULES}
    assert sum(len(edges) for edges in graph.values()) > 300  # the scan sees the package
    assert _cycles(graph) == []


def test_stage_settings_do_not_import_the_config_package() -> None:
    """config/models.py collects every stage's settings; the arrow runs one way only."""
    for module in (
        "looptool.loop.config",
        "looptool.synth.config",
        "looptool.train.config",
        "looptool.eval.settings",
        "looptool.eval.acebench_settings",
    ):
        assert not any(target.startswith("looptool.config") for target in _imports(module)), module


NEUTRAL = (
    "looptool.errors",
    "looptool.samples",
    "looptool.store",
    "looptool.paths",
    "looptool.ui",
    "looptool.units",
    "looptool.stages",
    "looptool.similarity",
    "looptool.tools",
    "looptool.llm",
)
STAGE_PACKAGES = ("looptool.synth", "looptool.loop", "looptool.train", "looptool.eval", "looptool.sim.")


def test_neutral_modules_import_no_stage_package() -> None:
    wrong = {m: sorted(t for t in _imports(m) if t.startswith(STAGE_PACKAGES)) for m in MODULES if m.startswith(NEUTRAL)}
    assert {m: targets for m, targets in wrong.items() if targets} == {}


def test_the_simulator_is_imported_only_where_it_runs() -> None:
    code = (
        "import sys, looptool.session, looptool.pipeline, looptool.synth.seed, looptool.loop.runner, looptool.cli\n"
        "print(sorted(m for m in sys.modules if m.startswith('looptool.sim.')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]", done.stdout
