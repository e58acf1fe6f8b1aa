"""Training run directories ``<root>/runs/<key>/``: key, run.json, checkpoints, final weights, loading.

A run's key hashes the model and training settings that change its result (not resume, logging,
checkpoint cadence, thread count or device) plus the windows artifact's content digest, so the
same command finds its own unfinished run again and a changed setting never reuses it.
Checkpoints hold only tensors and primitive containers (``torch.load(weights_only=True)``).
"""

from __future__ import annotations

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
    open_artifact,
    stable_hash,
)
from bows.config import BowsConfig, as_dict, to_config
from bows.errors import BowsError

log = logging.getLogger(__name__)

NOT_IN_KEY = ("resume", "log_every", "checkpoint_every", "num_threads", "device")


def run_key(cfg: BowsConfig, windows: Artifact) -> str:
    train = {k: v for k, v in as_dict(cfg.train).items() if k not in NOT_IN_KEY}
    return stable_hash({"model": as_dict(cfg.model), "train": train, "windows": windows.digest})[:16]


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


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write ``checkpoint.pt`` atomically (a crash mid-write keeps the previous one)."""
    with atomic_path(Path(path) / Files.CHECKPOINT) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: Path, device: torch.device) -> dict[str, Any] | None:
    file = Path(path) / Files.CHECKPOINT
    if not file.is_file():
        return None
    try:
        return torch.load(file, map_location=device, weights_only=True)
    except Exception as exc:  # a checkpoint we cannot read is reported, never silently replaced
        raise BowsError(f"cannot read checkpoint {file} ({exc}); delete it to start this run over") from exc


def rng_state() -> dict[str, Any]:
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


def save_weights(path: Path, W: torch.Tensor, b: torch.Tensor) -> Path:
    """Final ``model.safetensors``: "W" (latent, vocab) and "b" (vocab,), float32, contiguous."""
    out = Path(path) / Files.WEIGHTS
    with atomic_path(out) as tmp:
        save_file({"W": W.detach().float().cpu().contiguous(), "b": b.detach().float().cpu().contiguous()}, str(tmp))
    return out


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
    tensors = load_file(str(weights))
    try:
        windows = open_artifact(Path(meta["data"]["windows"]), verify=False)
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
