"""Every stage declared once: what it reads, what it builds on, what it writes and whose code decides it.

A ``Stage`` names the config sections the stage reads, its upstream stages, its output files and the
modules whose code decides its numbers. From it come

- the **code identity** (``code_record``): a digest of each module's source, normalised (the parsed
  syntax tree with docstrings removed, so formatting and comments do not count), over the declared
  modules, the bows modules they import at module level (transitively, except the plumbing in
  ``PLUMBING``) and the code of the upstream stages. It enters the key of every cheap stage
  (``artifact_key``/``reuse_or_key``/``build_artifact`` below), so a stage whose code changed is rebuilt
  without a hand-bumped version; a training run records it (not in its key: a run is expensive) and
  is checked against it on resume and before analysis;
- the **W&B config** of a job (``wandb_config``): only the sections the stage (and its upstream) reads;
- the **stage table** of the README (``stage_table_markdown``; ``tests/test_stages.py`` keeps them equal).

``content_fingerprint`` hashes an input read from outside the data root by its bytes (xxh3-128 when
``xxhash`` is installed, else blake2b), at disk speed.
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from bows import artifacts
from bows.artifacts import AnalysisFiles, Artifact, ArtifactBuilder, Files, ScanFiles, StatsFiles

log = logging.getLogger(__name__)

PACKAGE = Path(__file__).resolve().parent

PLUMBING = frozenset(
    {
        "bows",
        "bows.errors",
        "bows.config",
        "bows.artifacts",
        "bows.stages",
        "bows.cli",
        "bows.net",
        "bows.tracking",
    }
)
"""Modules that move files, parse settings or log, and decide no number: not in any code identity
(nor are the figures, ``bows.plots.*``)."""


def _plumbing(module: str) -> bool:
    return module in PLUMBING or module.startswith("bows.plots")


@dataclass(frozen=True)
class Stage:
    """One stage: ``reads`` config sections, builds on ``upstream`` stages, writes ``outputs`` to
    ``where``; the numbers it writes are decided by the code of ``code`` (and what they import)."""

    name: str
    module: str  # the entry point (``python -m <module>``)
    reads: tuple[str, ...]
    upstream: tuple[str, ...]
    outputs: tuple[str, ...]
    code: tuple[str, ...]
    where: str
    make: str  # the make target that runs it
    keyed: bool = True  # its code digest enters its key (False: recorded and checked; a training run)


_SPLIT_FILES = (Files.offsets("<split>"), Files.indices("<split>"))
_STATS_FILES = (StatsFiles.WORDS, StatsFiles.COOC, StatsFiles.PAIRS, StatsFiles.GROUPS, StatsFiles.GROUP_WORDS)

STAGES: dict[str, Stage] = {
    s.name: s
    for s in (
        Stage(
            "download",
            "bows.data.download",
            ("corpus",),
            (),
            (Files.DOCS,),
            ("bows.data.download", "bows.data.corpora"),
            "artifacts/download/<key>",
            "make download",
        ),
        Stage(
            "vocab_counts",
            "bows.data.vocab",
            ("corpus", "vocab"),
            ("download",),
            (Files.COUNTS,),
            ("bows.data.vocab", "bows.data.tokenize"),
            "artifacts/vocab_counts/<key>",
            "make data-shards",
        ),
        Stage(
            "vocab",
            "bows.data.vocab",
            ("corpus", "vocab"),
            ("download",),
            (Files.VOCAB,),
            ("bows.data.vocab", "bows.data.tokenize"),
            "artifacts/vocab/<key>",
            "make vocab",
        ),
        Stage(
            "binarize_shard",
            "bows.data.binarize",
            ("corpus", "vocab", "window"),
            ("vocab",),
            _SPLIT_FILES,
            ("bows.data.binarize", "bows.data.chunks", "bows.data.tokenize", "bows.data.windows"),
            "artifacts/binarize_shard/<key>",
            "make data-shards",
        ),
        Stage(
            "binarize",
            "bows.data.binarize",
            ("corpus", "vocab", "window"),
            ("vocab",),
            _SPLIT_FILES,
            ("bows.data.binarize", "bows.data.chunks", "bows.data.tokenize", "bows.data.windows"),
            "artifacts/binarize/<key>",
            "make binarize",
        ),
        Stage(
            "stats",
            "bows.data.stats",
            ("corpus", "vocab", "window", "stats"),
            ("binarize",),
            _STATS_FILES,
            ("bows.data.stats", "bows.data.coactivation", "bows.core.groups"),
            "artifacts/stats/<key>",
            "make stats",
        ),
        Stage(
            "windowscan",
            "bows.data.stats",
            ("corpus", "vocab", "window", "stats"),
            ("stats",),
            (ScanFiles.TABLE, ScanFiles.SUMMARY, ScanFiles.DISCOVERY),
            ("bows.data.stats", "bows.data.diagnostics", "bows.core.discovery"),
            "artifacts/windowscan/<key>",
            "make stats",
        ),
        Stage(
            "train",
            "bows.training.train",
            ("corpus", "vocab", "window", "model", "train"),
            ("binarize",),
            (Files.CONFIG, Files.RUN, Files.METRICS, Files.CHECKPOINT, Files.WEIGHTS),
            (
                "bows.training.train",
                "bows.training.model",
                "bows.training.optim",
                "bows.training.batches",
                "bows.training.kernels",
            ),
            "runs/<key>",
            "make train",
            keyed=False,
        ),
        Stage(
            "analyze",
            "bows.analysis.analyze",
            ("corpus", "vocab", "window", "model", "train", "stats", "analyze"),
            ("train", "stats"),
            (AnalysisFiles.META, AnalysisFiles.METRICS, AnalysisFiles.GROUPS, AnalysisFiles.FIGURES + "/"),
            ("bows.analysis.analyze", "bows.analysis.compute"),
            "runs/<key>/analysis",
            "make analyze",
        ),
        Stage(
            "structure",
            "bows.experiments.structure",
            ("corpus", "vocab", "window", "model", "train", "structure"),
            ("binarize",),
            ("summary.json", "structure.parquet", "rings.parquet", "curves.parquet"),
            ("bows.experiments.structure", "bows.analysis.structure"),
            "structure/<key>",
            "make structure",
        ),
        Stage(
            "synthetic",
            "bows.experiments.synthetic",
            ("synthetic",),
            (),
            ("metrics.parquet", "summary.json"),
            ("bows.experiments.synthetic", "bows.experiments.synthetic_data"),
            "synthetic/<structure>-<key>",
            "make synthetic",
        ),
        Stage(
            "citymap",
            "bows.experiments.citymap",
            ("citymap",),
            (),
            ("cities.parquet", "summary.json", "embeddings.npy"),
            ("bows.experiments.citymap",),
            "citymap/<key>",
            "make citymap",
        ),
    )
}


def stage(name: str) -> Stage:
    try:
        return STAGES[name]
    except KeyError:
        raise KeyError(f"no stage {name!r} is declared in bows.stages (declared: {', '.join(STAGES)})") from None


# ------------------------------------------------------------------------------------ code identity
def _source_path(module: str) -> Path | None:
    relative = Path(*module.split(".")[1:])
    for path in (PACKAGE / relative.with_suffix(".py"), PACKAGE / relative / "__init__.py"):
        if path.is_file():
            return path
    return None


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant):
                if isinstance(body[0].value.value, str):  # type: ignore[attr-defined]
                    node.body = body[1:] or [ast.Pass()]
    return tree


@cache
def _parsed(module: str) -> tuple[str, frozenset[str]]:
    """(digest of the normalised source, bows modules imported at module level) of one module."""
    path = _source_path(module)
    if path is None:
        return "missing", frozenset()
    text = path.read_text(encoding="utf-8")
    tree = ast.parse(text)
    imports: set[str] = set()
    for node in tree.body:  # module level only: function-local imports are upstream stages or plumbing
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("bows"):
            imports.add(node.module)
            imports.update(f"{node.module}.{a.name}" for a in node.names if _source_path(f"{node.module}.{a.name}"))
        elif isinstance(node, ast.Import):
            imports.update(a.name for a in node.names if a.name.startswith("bows"))
    return source_digest(text), frozenset(m for m in imports if _source_path(m) is not None)


def source_digest(text: str) -> str:
    """Digest of Python source as parsed, docstrings removed: formatting and comments do not count."""
    tree = _strip_docstrings(ast.parse(text))
    return hashlib.sha256(ast.dump(tree, include_attributes=False).encode()).hexdigest()[:16]


def closure(modules: tuple[str, ...]) -> list[str]:
    """``modules`` and the bows modules they import at module level, transitively, less ``PLUMBING``."""
    seen: set[str] = set()
    todo = [m for m in modules if not _plumbing(m)]
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        todo.extend(m for m in _parsed(module)[1] if not _plumbing(m) and m not in seen)
    return sorted(seen)


def stage_modules(name: str) -> list[str]:
    """Every module whose code decides stage ``name``'s numbers: its own and, for a keyed stage, its
    keyed upstream stages' (a training run's code is checked, not chained: its weights' sha256 is)."""
    spec = stage(name)
    mods = set(closure(spec.code))
    if spec.keyed:
        for up in spec.upstream:
            if stage(up).keyed:
                mods.update(stage_modules(up))
    return sorted(mods)


def module_digests(modules: list[str]) -> dict[str, str]:
    return {m: _parsed(m)[0] for m in modules}


def code_record(name: str) -> dict[str, Any]:
    """``{"digest", "modules": {module: digest}}`` of stage ``name`` (what meta.json / run.json record)."""
    modules = module_digests(stage_modules(name))
    return {"digest": artifacts.stable_hash(modules)[:16], "modules": modules}


def code_digest(name: str) -> str:
    return code_record(name)["digest"]


def code_changes(recorded: dict[str, Any] | None, current: dict[str, Any]) -> list[str]:
    """The modules whose code differs between a recorded ``code_record`` and the current one
    (``["(not recorded)"]`` for a record made before code identities existed); [] if equal."""
    if not isinstance(recorded, dict) or "modules" not in recorded:
        return ["(not recorded)"]
    old, new = recorded["modules"], current["modules"]
    return sorted(m for m in set(old) | set(new) if old.get(m) != new.get(m))


# ---------------------------------------------------------------------- keys and artifacts by stage
def artifact_key(name: str, config: Any, inputs: dict[str, Artifact] | None = None) -> str:
    """``artifacts.artifact_key`` with the stage's code digest in it (a declared, keyed stage)."""
    spec = STAGES.get(name)
    code = code_digest(name) if spec is not None and spec.keyed else None
    return artifacts.artifact_key(name, config, inputs, code=code)


def reuse_or_key(
    root: Path, name: str, config: Any, inputs: dict[str, Artifact] | None = None
) -> tuple[str, Artifact | None]:
    """The stage's key (its code included) and its intact artifact if one exists (logged as skipped)."""
    key = artifact_key(name, config, inputs)
    found = artifacts.find_artifact(root, name, key)
    if found is not None:
        log.info("%s: up to date, skipped (%s)", name, found.path)
    return key, found


def output_dir(root: Path, kind: str, label: str, config: Any) -> Path:
    """``artifacts.output_dir`` keyed with the experiment's code: ``<root>/<kind>/<label>-<key>``."""
    key = artifact_key(kind, config)[:10]
    return Path(root) / kind / (f"{label}-{key}" if label else key)


def build_artifact(
    root: Path,
    name: str,
    key: str,
    config: Any,
    inputs: dict[str, Artifact] | None = None,
    *,
    final: Path | None = None,
):
    """``artifacts.build_artifact`` whose ``meta.json`` records the stage's code identity."""
    code = code_record(name) if name in STAGES else None
    return artifacts.build_artifact(root, name, key, config, inputs, final=final, code=code)


# --------------------------------------------------------------------------------------- W&B config
def config_sections(name: str) -> tuple[str, ...]:
    """The config sections stage ``name`` and its upstream stages read, in declaration order."""
    spec = stage(name)
    seen: list[str] = []
    for up in spec.upstream:
        seen.extend(s for s in config_sections(up) if s not in seen)
    seen.extend(s for s in spec.reads if s not in seen)
    return tuple(seen)


def wandb_config(name: str, cfg: Any) -> dict[str, Any]:
    """A job's W&B config: the sections stage ``name`` reads (a ``BowsConfig``), plus ``run_name``."""
    out = {s: dataclasses.asdict(getattr(cfg, s)) for s in config_sections(name)}
    if getattr(cfg, "run_name", None):
        out["run_name"] = cfg.run_name
    return out


# ---------------------------------------------------------------------------------- the docs table
def stage_table_markdown() -> str:
    """The README's stage table, generated from ``STAGES``."""
    lines = [
        "| stage | run by | config read | upstream | writes | code that decides its numbers |",
        "|---|---|---|---|---|---|",
    ]
    for s in STAGES.values():
        own = ", ".join(f"`{m.removeprefix('bows.')}`" for m in s.code)
        keyed = own if s.keyed else own + " (recorded, checked; not in the key)"
        lines.append(
            f"| `{s.name}` | `{s.make}` (`{s.module}`) | {', '.join(s.reads)} | {', '.join(s.upstream) or '-'} | "
            f"`{s.where}/`: {', '.join(f'`{o}`' for o in s.outputs)} | {keyed} |"
        )
    return "\n".join(lines)


# ---------------------------------------------------------------------------------- content hashes
def _hasher() -> tuple[str, Any]:
    try:
        import xxhash

        return "xxh3_128", xxhash.xxh3_128()
    except ImportError:  # pragma: no cover - xxhash comes with datasets
        return "blake2b", hashlib.blake2b(digest_size=16)


def _blocks(path: Path, chunk: int) -> Iterator[bytes]:
    with open(path, "rb", buffering=0) as handle:
        while block := handle.read(chunk):
            yield block


def content_hash(path: Path, chunk: int = 1 << 24) -> str:
    """``<algorithm>:<hex>`` of a file's bytes, streamed in ``chunk``-byte blocks."""
    algorithm, digest = _hasher()
    for block in _blocks(Path(path), chunk):
        digest.update(block)
    return f"{algorithm}:{digest.hexdigest()}"


def content_fingerprint(files: list[Path], what: str = "inputs") -> list[dict[str, Any]]:
    """What a key depends on for files read from outside the data root: each file's path, size and
    content hash (never its modification time). Logs the bytes hashed and the time it took."""
    started = time.perf_counter()
    out = [{"path": str(Path(f).resolve()), "bytes": Path(f).stat().st_size, "content": content_hash(f)} for f in files]
    seconds = time.perf_counter() - started
    total = sum(f["bytes"] for f in out)
    log.info(
        "fingerprint of %d %s file(s): %.1f MB by content in %.2f s (%.0f MB/s)",
        len(out),
        what,
        total / 1e6,
        seconds,
        total / 1e6 / max(seconds, 1e-9),
    )
    return out


__all__ = [
    "STAGES",
    "ArtifactBuilder",
    "Stage",
    "artifact_key",
    "build_artifact",
    "code_changes",
    "code_digest",
    "code_record",
    "content_fingerprint",
    "output_dir",
    "reuse_or_key",
    "stage_table_markdown",
    "wandb_config",
]
