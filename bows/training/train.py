"""Train one tied ReLU autoencoder on binarized windows (reads the binarize artifact; writes
``<root>/runs/<key>/``: config.yaml, run.json, metrics.jsonl, checkpoint.pt, model.safetensors, wandb/).

Re-running the same command resumes an interrupted run from its last checkpoint (bitwise
identical on CPU) or skips a finished one. The optimisation loop itself is ``bows.training.optim.fit``,
shared with the synthetic experiments.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from bows.analysis.geometry import ring_analysis
from bows.analysis.groups import DAYS, MONTHS, lookup
from bows.artifacts import Artifact, ArtifactError, Files
from bows.cli import stage_main
from bows.config import BowsConfig, as_dict
from bows.data import TRAIN, VALIDATION
from bows.data.windows import heldout_rows
from bows.errors import BowsError
from bows.tracking import flatten, job_tags, offline_runs, sync_command, sync_patterns, tracking_run, under_wandb_agent
from bows.training.batches import DeviceWindows, epoch_batches, sequential_batches, to_device
from bows.training.checkpoint import (
    RunInfo,
    append_metrics,
    load_checkpoint,
    load_run,
    read_run_json,
    rng_state,
    run_dir,
    run_label,
    save_checkpoint,
    save_weights,
    set_rng_state,
    weights_problem,
    write_config,
    write_metrics,
    write_run_json,
)
from bows.training.dynamics import GeometryProbe
from bows.training.model import TiedAutoencoder
from bows.training.optim import Optimisation, StepInfo, fit, total_steps

__all__ = ["run", "fit", "load_run", "RunInfo", "resolve_device", "evaluate", "TrainingDiverged"]
log = logging.getLogger(__name__)


class TrainingDiverged(BowsError):
    """The loss became NaN or infinite."""


def resolve_device(name: str, precision: str = "fp32", num_threads: int = 0) -> tuple[torch.device, torch.dtype | None]:
    """Decide device and precision once: (device, autocast dtype or None). Sets CPU threads / TF32."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise BowsError(
            f"train.device={name} but no CUDA GPU is visible to torch "
            f"(torch {torch.__version__}); use train.device=cpu or auto"
        )
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise BowsError(
            f"train.device={name!r} is not a device torch knows ({exc}); use auto, cpu, cuda or cuda:N"
        ) from exc
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise BowsError(f"train.device={name} but only {torch.cuda.device_count()} GPU(s) are visible")
    if device.type == "cpu":
        torch.set_num_threads(num_threads or os.cpu_count() or 1)
    tf32 = precision == "tf32"
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    return device, (torch.bfloat16 if precision == "bf16" else None)


def load_data(cfg: BowsConfig) -> tuple[Artifact, Any, Any]:
    """The binarize artifact (built if missing) and its train and validation windows."""
    from bows.data import binarize

    artifact = binarize.run(cfg)
    train = binarize.load_windows(artifact, TRAIN)
    validation = None  # a windows artifact without a validation split trains without eval loss
    if Files.offsets(VALIDATION) in artifact.meta["files"]:
        validation = binarize.load_windows(artifact, VALIDATION)  # a damaged split is an error, not skipped
    else:
        log.warning("train: %s has no validation windows; eval_loss is not computed", artifact.path)
    return artifact, train, validation


@torch.no_grad()
def evaluate(model: TiedAutoencoder, windows: DeviceWindows, batch_size: int) -> list[float]:
    """Mean reconstruction loss per instance over ``windows`` (weighted by batch size)."""
    was_training = model.training
    model.eval()
    total = torch.zeros(model.instances, dtype=torch.float64, device=windows.rows.device)
    for batch in sequential_batches(windows, batch_size):
        total += model.sparse_loss(*batch.csr()).double() * batch.size
    model.train(was_training)
    return (total / max(1, len(windows))).tolist()


def run(cfg: BowsConfig) -> Path:
    if cfg.model.latent_size < 1:
        raise BowsError(f"model.latent_size must be >= 1, got {cfg.model.latent_size}")
    device, autocast = resolve_device(cfg.train.device, cfg.train.precision, cfg.train.num_threads)
    artifact, train_windows, val_windows = load_data(cfg)
    path = run_dir(cfg, artifact)
    info = read_run_json(path)
    if cfg.train.resume and info and info.get("status") == "finished" and (path / Files.WEIGHTS).is_file():
        problem = weights_problem(path, info)
        if problem is None:
            log.info("train: finished run, skipped (%s)", path)
            return path
        log.warning("train: %s -- rebuilding the weights from the run's checkpoint", problem)
    return Trainer(cfg, artifact, train_windows, val_windows, path, device, autocast).train()


class Trainer:
    """Everything one training run holds: data on the device, model, optimisation, run directory."""

    def __init__(
        self,
        cfg: BowsConfig,
        artifact: Artifact,
        train_windows: Any,
        val_windows: Any,
        path: Path,
        device: torch.device,
        autocast: torch.dtype | None,
    ):
        self.cfg, self.artifact, self.path, self.device = cfg, artifact, path, device
        t = cfg.train
        self.vocab_size = int(train_windows.vocab_size)
        self.vocab = _vocabulary(artifact)
        self.data = to_device(train_windows.offsets, train_windows.indices, self.vocab_size, device)
        if len(self.data) == 0:
            raise BowsError(f"the train split of {artifact.path} has no non-empty windows; check the corpus and vocab")
        self.eval_data = None
        if val_windows is not None and t.eval_windows > 0:
            rows = heldout_rows(val_windows.offsets, t.eval_windows)
            if len(rows):
                self.eval_data = to_device(val_windows.offsets, val_windows.indices, self.vocab_size, device, rows)
        self.steps_per_epoch = self.data.steps_per_epoch(t.batch_size)
        self.total_steps, self.epochs = total_steps(self.steps_per_epoch, t.epochs, t.max_steps)
        torch.manual_seed(t.seed)
        m = cfg.model
        self.model = TiedAutoencoder(self.vocab_size, m.latent_size, output=m.output, latent_relu=m.latent_relu).to(
            device
        )
        self.opt = Optimisation(
            self.model, lr=t.lr, weight_decay=t.weight_decay, total_steps=self.total_steps, autocast=autocast
        )
        self.history: list[dict[str, Any]] = []
        self.started = time.time()
        self.info: dict[str, Any] = {
            "key": path.name,
            "status": "running",
            "step": 0,
            "total_steps": self.total_steps,
            "steps_per_epoch": self.steps_per_epoch,
            "epochs": self.epochs,
            "data": {
                "windows": str(artifact.path),
                "digest": artifact.digest,
                "vocab_size": self.vocab_size,
                "train_windows": len(self.data),
                "eval_windows": len(self.eval_data) if self.eval_data else 0,
            },
            "device": str(device),
            "precision": t.precision,
            "threads": torch.get_num_threads(),
            "config": as_dict(cfg),
            "summary": {},
        }

    # --- checkpoint and resume ----------------------------------------------------------------
    def _resume(self) -> bool:
        state = load_checkpoint(self.path, self.device) if self.cfg.train.resume else None
        if state is None:
            return False
        if int(state["vocab_size"]) != self.vocab_size or int(state["latent_size"]) != self.cfg.model.latent_size:
            raise BowsError(
                f"checkpoint {self.path} is for vocab {state['vocab_size']} / latent {state['latent_size']}, "
                f"the data and config give {self.vocab_size} / {self.cfg.model.latent_size}; "
                f"delete the run directory or set train.resume=false"
            )
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["optim"])
        set_rng_state(state["rng"])
        self.history = list(state["history"])
        write_metrics(self.path, self.history)  # drop rows logged after the checkpoint
        log.info("train: resuming %s at step %d/%d", self.path, self.opt.step, self.total_steps)
        return True

    def _checkpoint(self) -> None:
        if not all(bool(torch.isfinite(p).all()) for p in self.model.parameters()):
            raise TrainingDiverged(
                f"weights became non-finite by step {self.opt.step}; the last good checkpoint is kept "
                f"in {self.path} (lower train.lr or train.weight_decay)"
            )
        save_checkpoint(
            self.path,
            {
                "model": self.model.state_dict(),
                "optim": self.opt.state_dict(),
                "rng": rng_state(),
                "history": self.history,
                "vocab_size": self.vocab_size,
                "latent_size": self.cfg.model.latent_size,
            },
        )
        self.info["step"] = self.opt.step
        write_run_json(self.path, self.info)

    # --- the loop -------------------------------------------------------------------------------
    def train(self) -> Path:
        self.path.mkdir(parents=True, exist_ok=True)
        resumed = self._resume()
        if not resumed:
            write_metrics(self.path, [])
        self.label = self.info["label"] = run_label(self.cfg)
        write_config(self.path, self.cfg)
        write_run_json(self.path, self.info)
        w = self.cfg.wandb
        agent = under_wandb_agent()  # a W&B Sweeps agent owns the run id
        try:
            with tracking_run(
                w,
                name=self.label,
                job_type="train",
                config=self.info["config"],
                dir=self.path,
                group=w.group,
                run_id=None if agent else f"train-{self.path.name}",
                resume=resumed and not agent,
                tags=job_tags("train", self.cfg.corpus.name, w.group),
            ) as tracker:
                self.tracker = tracker
                tracker.summary(_flat_numbers(self.artifact.stats, "data"))
                self._loop()
                self._finish()
        except BaseException as exc:
            self.info.update(status="failed", error=f"{type(exc).__name__}: {exc}")
            write_run_json(self.path, self.info)
            raise
        self._where()
        return self.path

    def _loop(self) -> None:
        t = self.cfg.train
        show_bar = progress_bar_wanted()
        bar = tqdm(
            total=self.total_steps,
            initial=self.opt.step,
            desc=self.label,
            unit="step",
            dynamic_ncols=True,
            mininterval=1.0,
            disable=not show_bar,
        )
        loss_sum = torch.zeros((), device=self.device)
        clock = [time.perf_counter(), 0, self.opt.step]  # start of the log interval, windows and step there
        probe = GeometryProbe(self.vocab_size, self.device)
        params = list(self.model.parameters())

        def on_step(s: StepInfo) -> None:
            loss_sum.add_(s.loss[0].detach())
            clock[1] += s.windows
            bar.update(1)
            if s.step % t.log_every == 0 or s.step == self.total_steps:
                n = t.log_every if s.step % t.log_every == 0 else s.step % t.log_every
                W, b = self.model.weights()
                # one host sync per interval: the loss and the geometry dynamics in one vector
                values = torch.cat([loss_sum.double().reshape(1), probe.measure(W, b, params)]).tolist()
                loss = values[0] / n
                loss_sum.zero_()
                if not math.isfinite(loss):
                    raise TrainingDiverged(
                        f"loss became {loss} at step {s.step} (lr {self.opt.lr:.3g}); the last good "
                        f"checkpoint is kept in {self.path} (lower train.lr or check the data)"
                    )
                elapsed = time.perf_counter() - clock[0]
                rate = clock[1] / max(elapsed, 1e-9)
                eta = (self.total_steps - s.step) * elapsed / max(1, s.step - clock[2])
                clock[0], clock[1], clock[2] = time.perf_counter(), 0, s.step
                row = {"step": s.step, "epoch": s.epoch, "loss": loss, "lr": self.opt.lr, "windows_per_s": rate}
                row.update(probe.as_dict(values[1:]))
                self._log(row)
                bar.set_postfix(loss=f"{loss:.5g}", windows_s=f"{rate:,.0f}")
                (log.debug if show_bar else log.info)(progress_line(self.label, row, self.total_steps, eta))
            if (
                t.checkpoint_every
                and s.step % t.checkpoint_every == 0
                and s.step % self.steps_per_epoch != 0
                and s.step != self.total_steps
            ):
                self._checkpoint()

        def on_epoch_end(epoch: int) -> None:
            row: dict[str, Any] = {"step": self.opt.step, "epoch": epoch + 1}
            if self.eval_data is not None:
                row["eval_loss"] = evaluate(self.model, self.eval_data, t.batch_size)[0]
            row.update(calendar_rings(self.model.weights()[0], self.vocab))
            self._log(row)
            log.info(epoch_line(self.label, row, self.epochs))
            self._checkpoint()

        def batches(epoch: int, skip: int):
            return epoch_batches(self.data, t.batch_size, t.seed, epoch, skip)

        try:
            fit(
                self.model,
                batches,
                self.opt,
                epochs=self.epochs,
                steps_per_epoch=self.steps_per_epoch,
                on_step=on_step,
                on_epoch_end=on_epoch_end,
            )
        finally:
            bar.close()

    def _log(self, row: dict[str, Any]) -> None:
        self.history.append(row)
        append_metrics(self.path, row)
        prefixed = {_wandb_key(k): v for k, v in row.items() if k != "step"}
        self.tracker.log(prefixed, step=row["step"])

    def _finish(self) -> None:
        W, b = self.model.weights()
        record = save_weights(self.path, W, b)
        train_rows = [r for r in self.history if "loss" in r]
        eval_rows = [r for r in self.history if "eval_loss" in r]
        rates = [r["windows_per_s"] for r in train_rows[1:]] or [r["windows_per_s"] for r in train_rows]
        summary = {
            "train_loss": train_rows[-1]["loss"] if train_rows else None,
            "eval_loss": eval_rows[-1]["eval_loss"] if eval_rows else None,
            "steps": self.opt.step,
            "epochs": self.epochs,
            "windows_per_s": float(np.median(rates)) if rates else None,
            "seconds": round(time.time() - self.started, 2),
        }
        self.info.update(status="finished", step=self.opt.step, summary=summary, weights=record)
        write_run_json(self.path, self.info)
        self.tracker.summary({f"final/{k}": v for k, v in summary.items() if v is not None})
        self.tracker.model_artifact(model_artifact_name(self.path), model_files(self.path), model_metadata(self.info))
        log.info(
            "train: finished %s: train loss %s, eval loss %s",
            self.label,
            _fmt(summary["train_loss"]),
            _fmt(summary["eval_loss"]),
        )

    def _where(self) -> None:
        """Say where the run and its W&B files are, and how to upload them."""
        log.info("train: run directory %s", self.path)
        segments = offline_runs(self.path)
        if segments:
            log.info("train: W&B offline files %s", self.path / "wandb")
            log.info("train: upload this run with:  %s", sync_command([self.path / "wandb" / "offline-run-*"]))
            log.info(
                "train: upload every run, analysis and sweep summary under this root with:  %s",
                sync_command(sync_patterns(self.cfg.paths.root_path)),
            )


def _wandb_key(name: str) -> str:
    if "/" in name:  # already namespaced (weights/..., bias/..., grad/...)
        return name
    if name == "eval_loss":
        return "eval/loss"
    if name.endswith("_ring"):
        return f"geometry/{name[:-5]}/ring_score"
    return f"train/{name}"


def calendar_rings(W: torch.Tensor, vocab: Sequence[str]) -> dict[str, float]:
    """Ring scores (calendar-adjacent pairs recovered by PCA-2) of the day and month vectors, looked
    up by name in ``vocab``: cheap enough to watch the rings form per epoch. A group with a missing
    word has no score."""
    vectors = W.detach().float().cpu().numpy()
    out = {}
    for name, group in (("days_ring", DAYS), ("months_ring", MONTHS)):
        found = lookup(group, vocab)
        if not found.missing:
            out[name] = ring_analysis(vectors[:, found.indices].T, found.words)["adjacent_fraction"]
    return out


def _vocabulary(artifact: Artifact) -> list[str]:
    """The windows' vocabulary, for ring scores by name ([] for windows built without one)."""
    from bows.data.binarize import vocab_of

    try:
        return vocab_of(artifact)
    except ArtifactError:
        return []


# --- console, W&B model artifact -----------------------------------------------------------------
def progress_bar_wanted() -> bool:
    """A progress bar only on a terminal with one job at a time; otherwise (SLURM, joblib, files)
    one log line per log interval."""
    from bows.cli import parallel_jobs

    return sys.stderr.isatty() and not parallel_jobs()


def _fmt(value: Any) -> str:
    return "n/a" if value is None else f"{value:.5g}"


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"


def progress_line(label: str, row: dict[str, Any], total_steps: int, eta_s: float) -> str:
    """One log line per interval: step, loss, throughput, ETA and the headline geometry numbers."""
    step = row["step"]
    return (
        f"{label} step {step:,}/{total_steps:,} ({100 * step / max(1, total_steps):.0f}%) "
        f"loss {_fmt(row['loss'])} lr {row['lr']:.3g} | {row['windows_per_s']:,.0f} windows/s | "
        f"ETA {_duration(eta_s)} | |W|_F {_fmt(row.get('weights/frobenius'))} "
        f"represented {row.get('weights/represented', 'n/a')}"
    )


def epoch_line(label: str, row: dict[str, Any], epochs: int) -> str:
    """The per-epoch line: eval loss and the calendar ring scores."""
    return (
        f"{label} epoch {row['epoch']}/{epochs} (step {row['step']:,}): eval loss {_fmt(row.get('eval_loss'))}, "
        f"months ring {_fmt(row.get('months_ring'))}, days ring {_fmt(row.get('days_ring'))}"
    )


def model_artifact_name(path: Path) -> str:
    """The W&B model artifact of the run in ``path`` (training logs it, analyses use it)."""
    return f"model-{Path(path).name}"


def model_files(path: Path) -> list[Path]:
    """The files inside the model artifact: the weights and the resolved config."""
    return [Path(path) / Files.WEIGHTS, Path(path) / Files.CONFIG]


def model_metadata(info: dict[str, Any]) -> dict[str, Any]:
    """Artifact metadata: the resolved config, the data it was trained on (digest) and the final metrics."""
    return {
        "run_key": info["key"],
        "config": info["config"],
        "data": info["data"],
        "metrics": info.get("summary", {}),
        "steps": info.get("step"),
        "device": info.get("device"),
        "precision": info.get("precision"),
    }


def _flat_numbers(tree: Any, prefix: str) -> dict[str, float]:
    """Numeric leaves of nested dicts as ``prefix/a/b`` keys (dataset statistics for W&B)."""
    return {k: v for k, v in flatten(tree, prefix).items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


main = stage_main(run)

if __name__ == "__main__":
    # run the entry point of the importable module, not of __main__: launchers that pickle the task
    # (submitit) then pickle it by reference instead of dragging this module's globals along
    from bows.training.train import main as _importable_main

    _importable_main()
