"""The package's layers (README "Development"): imports run one way, with no cycle.

Every import in every module counts, at the top, inside a function or under
``TYPE_CHECKING``: a cycle hidden in a function is still a cycle (issue 11).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "gitreg"

# Lower layers first. A module may import its own layer and any layer below it; ``git`` and
# ``core`` sit side by side at the bottom and import neither each other nor anything above.
RANK = {"core": 0, "git": 0, "repo": 1, "weights": 2, "service": 3, "cli": 4, "api": 4}
# Importable by every layer: the error family and the fault-injection hooks.
SHARED = {"gitreg.errors", "gitreg.faults"}
# The package root and ``python -m gitreg`` front the top layers.
ROOTS = {"gitreg", "gitreg.__main__"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The gitreg modules that ``name`` imports, anywhere in its text."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            # `from pkg import module` imports the module; `from module import name` the module.
            targets = [f"{base}.{alias.name}" for alias in node.names]
            if not any(target in known for target in targets):
                targets = [base]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name and target != "gitreg":
                found.add(target)
    return found


def _layer(name: str) -> str | None:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in RANK else None


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: _imports(name, path, known) for name, path in modules.items()}


def test_every_module_is_in_a_layer() -> None:
    stray = [m for m in _modules() if m not in ROOTS | SHARED and _layer(m) is None]
    assert stray == [], f"modules outside the layers: {stray}"


def test_imports_run_down_the_layers() -> None:
    wrong = []
    for importer, targets in _graph().items():
        if importer in ROOTS:
            continue
        for target in sorted(targets - SHARED):
            if importer in SHARED:
                wrong.append(f"{importer} -> {target} (errors and faults import nothing)")
                continue
            low, high = _layer(target), _layer(importer)
            assert low is not None and high is not None
            if low in ("cli", "api") and low != high:
                wrong.append(f"{importer} -> {target} (nothing imports {low})")
            elif RANK[low] > RANK[high] or (RANK[low] == RANK[high] and low != high):
                wrong.append(f"{importer} -> {target} ({high} may not import {low})")
    assert wrong == [], "imports against the layers:\n" + "\n".join(wrong)


def test_no_import_cycle() -> None:
    graph = _graph()
    cycles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                cycles.append([*stack[stack.index(target):], target])
            elif target not in state:
                visit(target)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert cycles == [], "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_the_registry_service_imports_no_sibling() -> None:
    siblings = {t for t in _graph()["gitreg.service.registry"] if _layer(t) == "service"}
    assert siblings == set()


def test_only_the_cli_imports_typer() -> None:
    users = []
    for name, path in _modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import | ast.ImportFrom):
                mods = ([a.name for a in node.names] if isinstance(node, ast.Import)
                        else [node.module or ""])
                if any(m == "typer" or m.startswith(("typer.", "click")) for m in mods):
                    users.append(name)
    assert users and all(_layer(u) == "cli" for u in users), users


def test_typer_only_through_its_public_api() -> None:
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text()
        assert "typer.models" not in text and "typer.main" not in text, path


@pytest.mark.parametrize("layer", ["core"])
def test_the_core_does_no_io(layer: str) -> None:
    """The core is pure: it neither prints nor opens files nor runs processes."""
    banned = {"print", "open", "subprocess", "os", "shutil", "sys"}
    found = []
    for path in (PACKAGE / layer).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                    and node.func.id in {"print", "open"}:
                found.append(f"{path.name}: {node.func.id}()")
            if isinstance(node, ast.Import | ast.ImportFrom):
                mods = ([a.name for a in node.names] if isinstance(node, ast.Import)
                        else [node.module or ""])
                found += [f"{path.name}: import {m}" for m in mods if m in banned]
    assert found == []
