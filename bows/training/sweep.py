"""Hydra callback that leaves a sweep index in the multirun directory (writes sweep.parquet + sweep.csv).

Works with every launcher (basic, joblib, submitit local or SLURM): each job, in its own process,
writes ``<sweep dir>/<job num>/bows_job.json`` (its overrides, status -- ``running`` when it
starts, then ``finished`` or ``failed`` with the error -- and returned run directory) and then
rebuilds the whole index from every job file under a lock and an atomic rename, so the index
exists and is complete up to that job whatever happens to the others (Hydra re-raises a failed
job's error before ``on_multirun_end``). Each row adds the run's config fields and final metrics
from its ``run.json``. ``bows.training.sweep.build_index(sweep_dir)`` rebuilds it by hand (e.g.
after a SLURM array whose driver was killed).
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig

from bows.artifacts import Files, atomic_path, atomic_write_json
from bows.errors import FailedJob
from bows.training.checkpoint import read_run_json

log = logging.getLogger(__name__)

JOB_FILE = "bows_job.json"
SHORT_NAMES = {"train.weight_decay": "wd", "model.latent_size": "L", "train.seed": "seed", "train.lr": "lr"}
RESULT_SECTIONS = ("corpus", "vocab", "window", "model", "train")  # the settings that change a trained model


LOCK_FILE = ".sweep.lock"
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

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        write_sweep_definition(config)

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        if config.hydra.mode != RunMode.MULTIRUN:
            return
        record = {
            "job": config.hydra.job.num,
            "overrides": list(config.hydra.overrides.task),
            "status": "running",
            "run_dir": None,
            "error": None,
            "config": job_config(config),
        }
        self._record(config, record)

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        if config.hydra.mode != RunMode.MULTIRUN:
            return
        value = job_return._return_value
        ok = job_return.status == JobStatus.COMPLETED and not isinstance(value, FailedJob)
        if ok:
            error = None
        elif isinstance(value, FailedJob):
            error = value.error
        else:
            error = f"{type(value).__name__}: {value}"
        record = {
            "job": config.hydra.job.num,
            "overrides": list(config.hydra.overrides.task),
            "status": "finished" if ok else "failed",
            "run_dir": str(getattr(value, "path", value))
            if ok and value is not None
            else None,  # a run directory, or a data artifact's directory (sharded data builds)
            "error": error,
            "config": job_config(config),
        }
        self._record(config, record)

    def _record(self, config: DictConfig, record: dict[str, Any]) -> None:
        """Write this job's file, then rebuild the index (never lets an index problem fail the job)."""
        atomic_write_json(Path(config.hydra.runtime.output_dir) / JOB_FILE, record)
        try:
            build_index(Path(config.hydra.sweep.dir))
        except Exception as exc:
            log.error("sweep index: could not rebuild in %s: %s", config.hydra.sweep.dir, exc)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        frame = build_index(sweep_dir)
        log.info("sweep index: %d runs -> %s", len(frame), sweep_dir / Files.SWEEP_INDEX)
        log_sync_hint(frame, sweep_dir)
        failed = frame[frame["status"] == "failed"] if "status" in frame else frame.iloc[:0]
        if len(failed):
            for _, row in failed.iterrows():
                print(  # noqa: T201  (the sweep's last word to the user, one line per failed job)
                    f"error: sweep job {row['job']} ({row.get('overrides', '')}) failed: {row.get('error')}",
                    file=sys.stderr,
                )
            sys.exit(2)


def job_config(config: DictConfig) -> dict[str, Any]:
    """The index's config columns of one job, from its composed config (so a job that failed before
    writing a run.json still has its ``train.lr``)."""
    from omegaconf import OmegaConf

    values = {}
    for name in CONFIG_FIELDS:
        value = OmegaConf.select(config, name, default=None, throw_on_missing=False)
        values[name] = value if isinstance(value, (int, float, str, bool, type(None))) else str(value)
    return values


# --- what a sweep is: its W&B group ---------------------------------------------------------------
def swept_axes(config: DictConfig) -> dict[str, list[str]]:
    """The swept keys and their values: ``hydra.sweeper.params`` (sweep configs) overridden by sweep
    overrides on the command line (``train.weight_decay=0,1,4``), as Hydra's basic sweeper reads them."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    params = config.hydra.get("sweeper", {}).get("params") or {}
    raw = [f"{k}={v}" for k, v in params.items()] + list(config.hydra.overrides.task)
    axes: dict[str, list[str]] = {}
    for override in parser.parse_overrides(raw):
        key = override.get_key_element()
        if override.is_sweep_override():
            axes[key] = list(override.sweep_string_iterator())
        else:
            axes.pop(key, None)  # a later plain value fixes it
    return dict(sorted(axes.items()))


def sweep_definition(config: DictConfig) -> dict[str, Any]:
    """The sweep's swept axes, its fixed settings (the result-changing sections of the composed config,
    without the axes and without bookkeeping such as resume, threads or device) and the W&B group
    derived from both: the same sweep gets the same group on relaunch and resume, on any launcher."""
    from omegaconf import OmegaConf

    from bows.artifacts import stable_hash
    from bows.config import BowsConfig

    axes = swept_axes(config)
    tree = OmegaConf.to_container(config, resolve=False)
    assert isinstance(tree, dict)
    fixed = {name: tree.get(name, {}) for name in RESULT_SECTIONS}
    sections = {f.name: f.default_factory for f in dataclasses.fields(BowsConfig)}
    for name in RESULT_SECTIONS:  # drop bookkeeping (resume, threads, device, ...): fields kept out of keys
        for f in dataclasses.fields(sections[name]):  # type: ignore[arg-type]
            if f.metadata.get("key", True) is False and isinstance(fixed[name], dict):
                fixed[name].pop(f.name, None)
    for key in axes:
        section, _, field = key.partition(".")
        if isinstance(fixed.get(section), dict):
            fixed[section].pop(field, None)
    digest = stable_hash({"axes": axes, "fixed": fixed})[:8]
    names = [SHORT_NAMES.get(k, k.split(".")[-1]) for k in axes if k != "train.seed"] or ["seed"]
    fixed_latent = "model.latent_size" not in axes and fixed.get("model", {}).get("latent_size")
    parts = ["-x-".join(names), "sweep", str(fixed.get("corpus", {}).get("name", "corpus"))]
    if fixed_latent:
        parts.append(f"L{fixed_latent}")
    return {"group": "-".join([*parts, digest])[:120], "axes": axes, "fixed": fixed}


def write_sweep_definition(config: DictConfig) -> dict[str, Any]:
    """Write ``<sweep dir>/bows_sweep.json`` (read by every job of the multirun) and return it."""
    definition = sweep_definition(config)
    sweep_dir = Path(config.hydra.sweep.dir)
    atomic_write_json(sweep_dir / Files.SWEEP, definition)
    log.info("sweep: W&B group %s (axes: %s)", definition["group"], ", ".join(definition["axes"]) or "none")
    return definition


def log_sync_hint(frame: pd.DataFrame, sweep_dir: Path) -> None:
    """At the end of a multirun: its W&B offline run directories and one command uploading them (the
    sweep analysis, ``make analyze ARGS=analyze.sweep=...``, prints the command including analyses)."""
    from bows.tracking import offline_runs, sync_command

    if frame.empty or "run_dir" not in frame:
        return
    dirs = [p for d in frame["run_dir"].dropna() for p in offline_runs(Path(d))]
    if dirs:
        log.info("sweep: %d W&B offline run directories; upload them with:  %s", len(dirs), sync_command(dirs))
        log.info(
            "sweep: analyse it with  python -m bows.analysis.analyze analyze.sweep=%s", sweep_dir / Files.SWEEP_INDEX
        )


@contextlib.contextmanager
def _locked(sweep_dir: Path) -> Iterator[None]:
    """An exclusive lock over the sweep directory's index (parallel joblib/submitit jobs)."""
    with open(sweep_dir / LOCK_FILE, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


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
        try:
            job = json.loads(job_file.read_text())
        except (OSError, json.JSONDecodeError) as exc:  # a job file cannot be half-written (atomic), but be safe
            name = job_file.parent.name
            rows.append(
                {
                    "job": int(name) if name.isdigit() else -1,
                    "status": "unknown",
                    "error": f"unreadable {job_file}: {exc}",
                }
            )
            continue
        row: dict[str, Any] = {
            "job": job["job"],
            "overrides": " ".join(job["overrides"]),
            "status": job["status"],
            "run_dir": job["run_dir"],
            "error": job.get("error"),
            **(job.get("config") or {}),
        }
        info = read_run_json(Path(job["run_dir"])) if job["run_dir"] else None
        if info is not None:
            row["status"] = info.get("status", row["status"])
            row["error"] = info.get("error") if row["status"] != "finished" else None
            row["key"] = info.get("key")
            row["step"] = info.get("step")
            row["windows"] = info.get("data", {}).get("windows")
            row.update({name: _field(info.get("config", {}), name) for name in CONFIG_FIELDS})
            row.update(
                {k: v for k, v in info.get("summary", {}).items() if isinstance(v, (int, float, str, type(None)))}
            )
        rows.append(row)
    return rows


def build_index(sweep_dir: str | Path) -> pd.DataFrame:
    """Write ``sweep.parquet`` and ``sweep.csv`` (one row per job) in ``sweep_dir`` atomically,
    under a lock; return the table."""
    sweep_dir = Path(sweep_dir)
    sweep_dir.mkdir(parents=True, exist_ok=True)
    with _locked(sweep_dir):
        frame = pd.DataFrame(index_rows(sweep_dir))
        if len(frame):
            with atomic_path(sweep_dir / Files.SWEEP_INDEX) as tmp:
                frame.to_parquet(tmp, index=False)
            with atomic_path(sweep_dir / Path(Files.SWEEP_INDEX).with_suffix(".csv").name) as tmp:
                frame.to_csv(tmp, index=False)
    return frame
