"""The import layers (docs/architecture.md): a pure core that loads no Hydra, W&B or config,
one module owning wandb, and no import cycles (function-local imports included)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "bows"

# model maths, geometry, mechanism, co-activation maths, synthetic generators, word groups, analyses
PURE = (
    "bows.errors",
    "bows.training.model",
    "bows.training.batches",
    "bows.training.optim",
    "bows.data.windows",
    "bows.data.tokenize",
    "bows.data.coactivation",
    "bows.analysis.groups",
    "bows.analysis.geometry",
    "bows.analysis.mechanism",
    "bows.analysis.compute",
    "bows.analysis.claims",
    "bows.experiments.synthetic_data",
)
FORBIDDEN = ("hydra", "omegaconf", "wandb", "bows.config", "bows.artifacts", "bows.cli", "bows.tracking")


def test_pure_core_imports_no_hydra_wandb_or_io_modules():
    """Each pure module, imported in a fresh interpreter, pulls in none of FORBIDDEN."""
    script = (
        "import importlib, json, sys\n"
        f"forbidden = {FORBIDDEN!r}\n"
        "out = {}\n"
        f"for name in {PURE!r}:\n"
        "    importlib.import_module(name)\n"
        "    out[name] = [m for m in forbidden if m in sys.modules]\n"
        "print(json.dumps(out))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert loaded == {name: [] for name in PURE}, loaded


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    """bows modules imported anywhere in ``path`` (function bodies too), except under TYPE_CHECKING."""
    found: set[str] = set()

    class Visitor(ast.NodeVisitor):
        def visit_If(self, node: ast.If) -> None:
            if not (isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"):
                self.generic_visit(node)

        def visit_Import(self, node: ast.Import) -> None:
            found.update(a.name for a in node.names)

        def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
            if node.module:
                found.add(node.module)
                found.update(f"{node.module}.{a.name}" for a in node.names)

    Visitor().visit(ast.parse(path.read_text()))
    return {m for m in found if m in modules and m != "bows"}


def _graph() -> dict[str, set[str]]:
    files = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: _imports(path, set(files)) - {name} for name, path in files.items()}


def test_no_import_cycles():
    graph = _graph()
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                raise AssertionError("import cycle: " + " -> ".join(path[path.index(dep) :] + [dep]))
            if dep not in state:
                visit(dep)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)


def test_only_tracking_imports_wandb():
    users = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(n == "wandb" or n.startswith("wandb.") for n in names):
                users.add(_module_name(path))
    assert users == {"bows.tracking"}, users
