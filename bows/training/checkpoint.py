"""Training run directories ``<root>/runs/<key>/``: key, run.json, checkpoints, final weights, loading.

A run's key hashes the model and training settings that change its result -- the fields of
``ModelConfig``/``TrainConfig`` not declared ``NOT_IN_KEY`` in ``bows.config`` (so not resume, logging,
checkpoint cadence, eval windows, thread count or device) -- plus the windows artifact's content
digest (not the training code: a run is expensive; ``run.json`` records the code and it is checked), so the same command finds its own unfinished run again and a changed
setting never reuses it. ``run.json`` records the sha256 of ``model.safetensors``; loading a run
verifies it and the windows artifact (``bows.artifacts.verify_files``).
Checkpoints hold only tensors and primitive containers (``torch.load(weights_only=True)``).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from safetensors.numpy import load_file
from safetensors.torch import save_file

from bows.artifacts import (
    Artifact,
    ArtifactError,
    Files,
    atomic_path,
    atomic_write_bytes,
    atomic_write_json,
    file_record,
    open_artifact,
    verify_files,
)
from bows.config import BowsConfig, as_dict, to_config
from bows.errors import BowsError
from bows.training.keys import run_key  # noqa: F401  (re-exported: the run key lives where status can read it)

log = logging.getLogger(__name__)


def run_label(cfg: BowsConfig) -> str:
    """The readable name of a training run, used everywhere a run is named (W&B, bars, logs, figures):
    ``run_name`` when set, else ``L<latent>-wd<weight decay>-s<seed>`` (e.g. ``L50-wd0.5-s1``)."""
    return cfg.run_name or f"L{cfg.model.latent_size}-wd{cfg.train.weight_decay:g}-s{cfg.train.seed}"


def run_title(cfg: BowsConfig, steps: int | None = None) -> str:
    """A figure title naming the run: latent size, weight decay, seed, steps and corpus."""
    parts = [f"L={cfg.model.latent_size}", f"wd={cfg.train.weight_decay:g}", f"seed {cfg.train.seed}"]
    if steps is not None:
        parts.append(f"{steps:,} steps")
    parts.append(f"corpus {cfg.corpus.name}")
    if cfg.model.output != "relu":
        parts.append(f"{cfg.model.output} output")
    return f"{run_label(cfg)}: " + ", ".join(parts)


def run_dir(cfg: BowsConfig, windows: Artifact) -> Path:
    return cfg.paths.root_path / "runs" / run_key(cfg, windows)


def read_run_json(path: Path) -> dict[str, Any] | None:
    file = Path(path) / Files.RUN
    if not file.is_file():
        return None
    try:
        return json.loads(file.read_text())
    except json.JSONDecodeError:
        return None


def write_run_json(path: Path, info: dict[str, Any]) -> None:
    info = {**info, "updated": time.strftime("%Y-%m-%dT%H:%M:%S")}
    atomic_write_json(Path(path) / Files.RUN, info)


def write_config(path: Path, cfg: BowsConfig) -> None:
    atomic_write_bytes(Path(path) / Files.CONFIG, yaml.safe_dump(as_dict(cfg), sort_keys=False).encode())


def write_metrics(path: Path, rows: list[dict[str, Any]]) -> None:
    atomic_write_bytes(Path(path) / Files.METRICS, "".join(json.dumps(r) + "\n" for r in rows).encode())


def append_metrics(path: Path, row: dict[str, Any]) -> None:
    with open(Path(path) / Files.METRICS, "a") as handle:
        handle.write(json.dumps(row) + "\n")


CHECKPOINT_MAGIC = b"BOWSCKP1"  # trailer: sha256 of the torch.save payload, then this magic


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write ``checkpoint.pt`` atomically (a crash mid-write keeps the previous one), followed by the
    sha256 of its payload, so an edited or truncated checkpoint is refused instead of resumed."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    payload = buffer.getvalue()
    atomic_write_bytes(Path(path) / Files.CHECKPOINT, payload + hashlib.sha256(payload).digest() + CHECKPOINT_MAGIC)


def load_checkpoint(path: Path, device: torch.device) -> dict[str, Any] | None:
    file = Path(path) / Files.CHECKPOINT
    if not file.is_file():
        return None
    data = file.read_bytes()
    fix = "delete it to start this run over (or restore it)"
    if not data.endswith(CHECKPOINT_MAGIC) or len(data) < 40:
        raise BowsError(f"checkpoint {file} is truncated or not written by this bows (no checksum trailer); {fix}")
    payload, digest = data[:-40], data[-40:-8]
    if hashlib.sha256(payload).digest() != digest:
        raise BowsError(f"checkpoint {file} does not match its sha256 (edited or corrupt); {fix}")
    try:
        return torch.load(io.BytesIO(payload), map_location=device, weights_only=True)
    except Exception as exc:  # a checkpoint we cannot read is reported, never silently replaced
        first = (str(exc).strip().splitlines() or [""])[0]
        raise BowsError(f"cannot read checkpoint {file} ({type(exc).__name__}: {first}); {fix}") from exc


def rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


def save_weights(path: Path, W: torch.Tensor, b: torch.Tensor) -> dict[str, Any]:
    """Final ``model.safetensors``: "W" (latent, vocab) and "b" (vocab,), float32, contiguous.
    Returns its ``{sha256, bytes}`` record, which ``run.json`` keeps under ``"weights"``."""
    out = Path(path) / Files.WEIGHTS
    with atomic_path(out) as tmp:
        save_file({"W": W.detach().float().cpu().contiguous(), "b": b.detach().float().cpu().contiguous()}, str(tmp))
    return file_record(out)


def weights_problem(path: Path, meta: dict[str, Any]) -> str | None:
    """None if ``model.safetensors`` matches the record in ``run.json``, else what is wrong."""
    record = meta.get("weights")
    if not isinstance(record, dict):
        return f"{Files.RUN} of {path} records no checksum of {Files.WEIGHTS} (written by an older bows)"
    try:
        verify_files(path, {Files.WEIGHTS: record})
    except ArtifactError as exc:
        return str(exc)
    return None


@dataclass(frozen=True)
class RunInfo:
    """A finished (or interrupted) run, loaded for analysis."""

    path: Path
    config: BowsConfig
    W: np.ndarray  # (latent, vocab) float32
    b: np.ndarray  # (vocab,) float32
    windows: Artifact  # the binarize artifact it was trained on
    meta: dict[str, Any]  # run.json


def load_run(path: str | Path) -> RunInfo:
    """Open a run directory: its config, final weights and the windows artifact it was trained on."""
    path = Path(path).expanduser().resolve()
    meta = read_run_json(path)
    if meta is None:
        raise BowsError(f"{path} is not a training run (no readable {Files.RUN}); pass a directory under <root>/runs/")
    weights = path / Files.WEIGHTS
    if not weights.is_file():
        raise BowsError(
            f"{path} has no {Files.WEIGHTS} (status: {meta.get('status')}); finish it with the same "
            f"`python -m bows.training.train ...` command"
        )
    problem = weights_problem(path, meta)
    if problem is not None:
        raise BowsError(
            f"run {path.name}: {problem}; re-run its `python -m bows.training.train ...` command to "
            f"rebuild the weights from its checkpoint (or delete {path} to retrain)"
        )
    tensors = load_file(str(weights))
    recorded = Path(meta["data"]["windows"])
    sibling = path.parent.parent / "artifacts" / recorded.parent.name / recorded.name  # a moved or copied root
    try:
        windows = open_artifact(sibling if path.parent.name == "runs" and sibling.is_dir() else recorded)
        if meta["data"].get("digest") not in (None, windows.digest):
            raise ArtifactError(f"{windows.path} is not the content the run was trained on (digest differs)")
    except ArtifactError as exc:
        raise BowsError(
            f"run {path.name} was trained on windows {meta['data']['windows']}, which is missing or "
            f"broken ({exc}); rebuild it with `make binarize` and the run's config.yaml"
        ) from exc
    if windows.meta.get("vocab_size") not in (None, tensors["W"].shape[1]):
        raise BowsError(
            f"run {path.name}: weights have {tensors['W'].shape[1]} words but its windows artifact "
            f"{windows.path} has vocab_size {windows.meta['vocab_size']}"
        )
    return RunInfo(
        path=path, config=to_config(meta["config"]), W=tensors["W"], b=tensors["b"], windows=windows, meta=meta
    )
