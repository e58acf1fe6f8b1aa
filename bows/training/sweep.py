"""Hydra callback that leaves a sweep index in the multirun directory (writes sweep.parquet + sweep.csv).

Works with every launcher (basic, joblib, submitit local or SLURM): each job, in its own process,
writes ``<sweep dir>/<job num>/bows_job.json`` (its overrides, status and returned run directory);
at the end of the multirun the index gathers them and adds each run's config fields and final
metrics from its ``run.json``. ``bows.training.sweep.build_index(sweep_dir)`` rebuilds it by hand (e.g.
after a SLURM array whose driver was killed).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pandas as pd
from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig

from bows.artifacts import Files, atomic_write_json
from bows.training.checkpoint import read_run_json

log = logging.getLogger(__name__)

JOB_FILE = "bows_job.json"
CONFIG_FIELDS = (
    "model.latent_size",
    "model.output",
    "model.latent_relu",
    "train.weight_decay",
    "train.seed",
    "wandb.group",
    "train.lr",
    "train.batch_size",
    "train.epochs",
    "train.max_steps",
    "train.precision",
    "corpus.name",
    "window.group_size",
)


class SweepIndex(Callback):
    """Registered in ``conf/config.yaml`` under ``hydra.callbacks``."""

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        if config.hydra.mode != RunMode.MULTIRUN:
            return
        ok = job_return.status == JobStatus.COMPLETED
        record = {
            "job": config.hydra.job.num,
            "overrides": list(config.hydra.overrides.task),
            "status": "finished" if ok else "failed",
            "run_dir": str(getattr(job_return.return_value, "path", job_return.return_value))
            if ok and job_return.return_value is not None
            else None,  # a run directory, or a data artifact's directory (sharded data builds)
            "error": None if ok else repr(job_return._return_value),
        }
        atomic_write_json(Path(config.hydra.runtime.output_dir) / JOB_FILE, record)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        frame = build_index(sweep_dir)
        log.info("sweep index: %d runs -> %s", len(frame), sweep_dir / Files.SWEEP_INDEX)


def _field(tree: dict[str, Any], dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(tree, dict) or part not in tree:
            return None
        tree = tree[part]
    return tree


def index_rows(sweep_dir: Path) -> list[dict[str, Any]]:
    rows = []
    for job_file in sorted(
        Path(sweep_dir).glob(f"*/{JOB_FILE}"), key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 1 << 30
    ):
        job = json.loads(job_file.read_text())
        row: dict[str, Any] = {
            "job": job["job"],
            "overrides": " ".join(job["overrides"]),
            "status": job["status"],
            "run_dir": job["run_dir"],
        }
        info = read_run_json(Path(job["run_dir"])) if job["run_dir"] else None
        if info is not None:
            row["status"] = info.get("status", row["status"])
            row["key"] = info.get("key")
            row["step"] = info.get("step")
            row["windows"] = info.get("data", {}).get("windows")
            row.update({name: _field(info.get("config", {}), name) for name in CONFIG_FIELDS})
            row.update(
                {k: v for k, v in info.get("summary", {}).items() if isinstance(v, (int, float, str, type(None)))}
            )
        else:
            row["error"] = job.get("error")
        rows.append(row)
    return rows


def build_index(sweep_dir: str | Path) -> pd.DataFrame:
    """Write ``sweep.parquet`` and ``sweep.csv`` (one row per job) in ``sweep_dir``; return the table."""
    sweep_dir = Path(sweep_dir)
    frame = pd.DataFrame(index_rows(sweep_dir))
    if len(frame):
        frame.to_parquet(sweep_dir / Files.SWEEP_INDEX, index=False)
        frame.to_csv(sweep_dir / Path(Files.SWEEP_INDEX).with_suffix(".csv").name, index=False)
    return frame
