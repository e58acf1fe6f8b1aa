"""The import layers (docs/architecture.md): every bows module has one layer in ``LAYERS``; a module
imports only from lower layers, or sideways from its own layer when the imported module's package
comes no later in ``PIPELINE``; a pure core that loads no Hydra, W&B or config; one module owning
wandb; and no import cycles (function-local imports included)."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "bows"
ARCHITECTURE = PACKAGE.parent / "docs" / "architecture.md"

# layer -> its modules (every module of the package, packages' __init__ included), bottom first
LAYERS: dict[str, tuple[str, ...]] = {
    "0 base": (
        "bows",
        "bows.errors",
        "bows.core",
        "bows.core.groups",
        "bows.core.geometry",
        "bows.core.discovery",
    ),
    "1 pure": (
        "bows.data",
        "bows.data.windows",
        "bows.data.tokenize",
        "bows.data.coactivation",
        "bows.data.diagnostics",
        "bows.training",
        "bows.training.model",
        "bows.training.batches",
        "bows.training.kernels",
        "bows.training.optim",
        "bows.training.dynamics",
        "bows.analysis",
        "bows.analysis.mechanism",
        "bows.analysis.compute",
        "bows.analysis.claims",
        "bows.analysis.structure",
        "bows.experiments",
        "bows.experiments.synthetic_data",
    ),
    "2 shared": ("bows.config", "bows.artifacts", "bows.stages", "bows.locks", "bows.tracking", "bows.cli", "bows.net"),
    "3 I/O helpers": (
        "bows.data.corpora",
        "bows.data.chunks",
        "bows.training.checkpoint",
        "bows.training.keys",
        "bows.training.autotune",
        "bows.analysis.identity",
        "bows.analysis.store",
        "bows.plots",
        "bows.plots.common",
        "bows.plots.registry",
        "bows.plots.figures",
        "bows.plots.mechanism",
        "bows.plots.diagnostics",
        "bows.plots.sweep",
        "bows.plots.synthetic",
        "bows.plots.citymap",
        "bows.plots.structure",
    ),
    "4 stages": (
        "bows.data.download",
        "bows.data.vocab",
        "bows.data.binarize",
        "bows.data.stats",
        "bows.training.train",
        "bows.training.sweep",
        "bows.analysis.analyze",
        "bows.analysis.report",
    ),
    "5 experiments": (
        "bows.experiments.study",
        "bows.experiments.synthetic",
        "bows.experiments.citymap",
        "bows.experiments.structure",
        "bows.status",
    ),
}
# Sideways (same layer): a module may import one of its own package or of a package earlier in the
# pipeline (a stage calls its upstream stages; the analyses read the data's co-activation maths).
PIPELINE = ("bows", "bows.core", "bows.data", "bows.training", "bows.analysis", "bows.plots", "bows.experiments")
PURE_LAYERS = ("0 base", "1 pure")
FORBIDDEN = ("hydra", "omegaconf", "wandb", "bows.config", "bows.artifacts", "bows.cli", "bows.tracking")

LAYER_OF = {module: rank for rank, modules in enumerate(LAYERS.values()) for module in modules}
PURE = tuple(m for layer in PURE_LAYERS for m in LAYERS[layer])


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _files() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _imports(path: Path, modules: set[str]) -> dict[str, int]:
    """bows modules imported anywhere in ``path`` (function bodies too), except under TYPE_CHECKING,
    each with the line of its first import."""
    found: dict[str, int] = {}

    class Visitor(ast.NodeVisitor):
        def visit_If(self, node: ast.If) -> None:
            if not (isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"):
                self.generic_visit(node)

        def visit_Import(self, node: ast.Import) -> None:
            for a in node.names:
                found.setdefault(a.name, node.lineno)

        def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
            if node.module:
                found.setdefault(node.module, node.lineno)
                for a in node.names:
                    found.setdefault(f"{node.module}.{a.name}", node.lineno)

    Visitor().visit(ast.parse(path.read_text()))
    return {m: line for m, line in found.items() if m in modules and m != "bows"}


def _graph() -> dict[str, dict[str, int]]:
    files = _files()
    graph = {name: _imports(path, set(files)) for name, path in files.items()}
    return {name: {dep: line for dep, line in deps.items() if dep != name} for name, deps in graph.items()}


def _package(module: str) -> str:
    return max((p for p in PIPELINE if module == p or module.startswith(p + ".")), key=len)


def violations(graph: dict[str, dict[str, int]]) -> list[str]:
    """Every import that goes up a layer, or sideways to a package later in ``PIPELINE``."""
    bad = []
    for module, deps in sorted(graph.items()):
        for dep, line in sorted(deps.items()):
            mine, theirs = LAYER_OF[module], LAYER_OF[dep]
            upward = theirs > mine
            sideways_back = theirs == mine and PIPELINE.index(_package(dep)) > PIPELINE.index(_package(module))
            if upward or sideways_back:
                layers = list(LAYERS)
                bad.append(f"{module} (layer {layers[mine]}) line {line} imports {dep} (layer {layers[theirs]})")
    return bad


def test_every_module_has_exactly_one_layer():
    placed = [m for modules in LAYERS.values() for m in modules]
    assert len(placed) == len(set(placed)), "a module is in two layers"
    assert set(_files()) == set(placed), {"unplaced": set(_files()) - set(placed), "gone": set(placed) - set(_files())}


def test_imports_only_go_down_the_layers():
    assert violations(_graph()) == []


def test_an_upward_import_is_caught():
    """The check itself: a pure module importing the config, a shared module importing a stage, and
    the data stage importing the analysis stage are each one violation."""
    graph = {
        "bows.data.windows": {"bows.config": 3},
        "bows.cli": {"bows.training.sweep": 7},
        "bows.data.stats": {"bows.analysis.analyze": 9},
        "bows.analysis.analyze": {"bows.data.stats": 1},  # sideways, down the pipeline: allowed
    }
    assert violations(graph) == [
        "bows.cli (layer 2 shared) line 7 imports bows.training.sweep (layer 4 stages)",
        "bows.data.stats (layer 4 stages) line 9 imports bows.analysis.analyze (layer 4 stages)",
        "bows.data.windows (layer 1 pure) line 3 imports bows.config (layer 2 shared)",
    ]


def test_architecture_doc_lists_the_same_layers():
    """docs/architecture.md's layer table names the modules of ``LAYERS`` (packages' __init__ aside)."""
    packages = {_module_name(p) for p in PACKAGE.rglob("__init__.py")}
    rows = re.findall(r"^\| (\d [^|]+?) \| (.+?) \|", ARCHITECTURE.read_text(), flags=re.M)
    cells = {layer: re.sub(r"\([^)]*\)", "", cell) for layer, cell in rows}  # (notes) aside
    documented = {layer: set(re.findall(r"`([\w.]+)`", cell)) for layer, cell in cells.items()}
    expected = {
        layer: {m.removeprefix("bows.") for m in modules if m not in packages} for layer, modules in LAYERS.items()
    }
    assert documented == expected


def test_pure_core_imports_no_hydra_wandb_or_io_modules():
    """Each module of the pure layers, imported in a fresh interpreter, pulls in none of FORBIDDEN."""
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


# calls that read or write files: open(), numpy/torch/json/scipy/pandas/pyarrow readers and writers, Path I/O
FILE_CALL = re.compile(
    r"^(open|(np|numpy|torch|json|pickle)\.(load|save|savez|savez_compressed|fromfile|dump)|sp\.(load|save)_npz"
    r"|pd\.read_\w+|pq\.\w+|.+\.(to_parquet|to_csv|tofile|read_text|write_text|read_bytes|write_bytes))$"
)


@pytest.mark.parametrize("module", PURE)
def test_pure_modules_open_no_files(module):
    """No file is read or written in a pure module (the package's own resources, word lists and
    stopwords read through ``importlib.resources``, aside)."""
    calls = []
    for node in ast.walk(ast.parse(_files()[module].read_text())):
        if isinstance(node, ast.Call):
            called = ast.unparse(node.func)
            if FILE_CALL.match(called) and not called.startswith("resources.files("):
                calls.append(f"{called} (line {node.lineno})")
    assert calls == []


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
