"""Train one tied ReLU autoencoder on binarized windows (reads the binarize artifact; writes
``<root>/runs/<key>/``: config.yaml, run.json, metrics.jsonl, checkpoint.pt, model.safetensors, wandb/).

Re-running the same command resumes an interrupted run from its last checkpoint (bitwise
identical on CPU) or skips a finished one. The optimisation loop itself is ``bows.training.optim.fit``,
shared with the synthetic experiments.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from bows.artifacts import Artifact, ArtifactError, Files
from bows.cli import stage_main
from bows.config import BowsConfig, as_dict
from bows.core.geometry import ring_analysis
from bows.core.groups import DAYS, MONTHS, lookup
from bows.data import TRAIN, VALIDATION
from bows.data.windows import heldout_rows
from bows.errors import BowsError
from bows.locks import hold
from bows.stages import code_changes, code_record, wandb_config
from bows.tracking import flatten, job_tags, offline_runs, sync_command, sync_patterns, tracking_run, under_wandb_agent
from bows.training.autotune import select_kernels
from bows.training.batches import (
    DeviceWindows,
    StreamedWindows,
    epoch_batches,
    memory_budget,
    resident_bytes,
    sequential_batches,
    stream_batches,
    stream_windows,
    to_device,
)
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
from bows.training.kernels import Kernels, model_sparse_loss
from bows.training.model import TiedAutoencoder
from bows.training.optim import Optimisation, StepInfo, fit, total_steps

__all__ = ["run", "fit", "load_run", "RunInfo", "resolve_device", "evaluate", "TrainingDiverged"]
log = logging.getLogger(__name__)


class TrainingDiverged(BowsError):
    """The loss or the weights became NaN or infinite."""


class TrainingInterrupted(BowsError):
    """SIGINT/SIGTERM: the run was checkpointed at the current step and marked ``interrupted``."""

    def __init__(self, message: str, signum: int):
        super().__init__(message)
        self.exit_code = 128 + int(signum)  # 130 for SIGINT, 143 for SIGTERM (the shell's convention)


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def resolve_device(name: str, precision: str = "fp32", num_threads: int = 0) -> tuple[torch.device, torch.dtype | None]:
    """Decide device and precision once: (device, bf16 or None). Sets CPU threads / TF32.

    The single-model trainer runs bf16 inside its fused loss (``train_kernels``); the returned dtype is
    for autocast around models without one (several instances, other losses)."""
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


def place_windows(windows: Any, device: torch.device, t: Any) -> DeviceWindows | StreamedWindows:
    """The train windows resident on ``device`` or, when ``train.stream`` says so or (auto) they would
    take more than the memory budget (``train.device_memory``), streamed from their files in blocks."""
    need = resident_bytes(windows.offsets, windows.indices)
    budget = memory_budget(device, t.device_memory)
    if t.stream == "stream" or (t.stream == "auto" and need > budget):
        data = stream_windows(
            windows.offsets, windows.indices, windows.vocab_size, device, t.batch_size, t.stream_block_windows
        )
        log.info(
            "train: streaming the windows (%.2f GiB resident > budget %.2f GiB, or train.stream=stream): "
            "%d blocks of %d windows",
            need / 2**30,
            budget / 2**30,
            data.n_blocks,
            data.block,
        )
        return data
    return to_device(windows.offsets, windows.indices, windows.vocab_size, device)


@torch.no_grad()
def evaluate(
    model: TiedAutoencoder, windows: DeviceWindows, batch_size: int, kernels: Kernels | None = None
) -> list[float]:
    """Mean reconstruction loss per instance over ``windows`` (weighted by batch size), on the device."""
    was_training = model.training
    model.eval()
    total = torch.zeros(model.instances, dtype=torch.float64, device=windows.rows.device)
    with torch.no_grad():  # no graph: the forward alone, accumulated on the device
        for batch in sequential_batches(windows, batch_size):
            total += model_sparse_loss(model, *batch.csr(), kernels).double() * batch.size
    model.train(was_training)
    return (total / max(1, len(windows))).tolist()


def run(cfg: BowsConfig) -> Path:
    if cfg.model.latent_size < 1:
        raise BowsError(f"model.latent_size must be >= 1, got {cfg.model.latent_size}")
    device, _ = resolve_device(cfg.train.device, cfg.train.precision, cfg.train.num_threads)
    artifact, train_windows, val_windows = load_data(cfg)
    path = run_dir(cfg, artifact)
    with hold(path, "train", cfg.paths.lock_wait):  # one trainer per run: a second one waits or stops
        info = read_run_json(path)
        changed = code_changes((info or {}).get("code"), code_record("train")) if info else []
        if cfg.train.resume and info and info.get("status") == "finished" and (path / Files.WEIGHTS).is_file():
            problem = weights_problem(path, info)
            if problem is None:
                if changed:
                    log.warning("train: %s was trained by other code (%s); reused as is", path, ", ".join(changed))
                log.info("train: finished run, skipped (%s)", path)
                return path
            log.warning("train: %s -- rebuilding the weights from the run's checkpoint", problem)
        resuming = cfg.train.resume and (path / Files.CHECKPOINT).is_file()
        if resuming and changed and not cfg.train.allow_code_change:
            raise BowsError(
                f"{path} was begun by other training code ({', '.join(changed)}); start it over with "
                "train.resume=false, or continue knowingly with train.allow_code_change=true"
            )
        trainer = Trainer(cfg, artifact, train_windows, val_windows, path, device)
        if resuming and changed:
            trainer.info["code_change"] = {"allowed": True, "modules": changed, "before": (info or {}).get("code")}
        return trainer.train()


def train_kernels(cfg: BowsConfig, device: torch.device, vocab_size: int) -> Kernels:
    """The fused loss's GEMM backends and dtype for this run (measured once per machine and shape)."""
    t = cfg.train
    dtype = torch.bfloat16 if t.precision == "bf16" else torch.float32
    cache = cfg.paths.root_path / "cache" / "kernels.json"
    backends = None if t.gemm == "auto" else [t.gemm]
    return select_kernels(device, dtype, vocab_size, cfg.model.latent_size, t.batch_size, cache, backends)[0]


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
    ):
        self.cfg, self.artifact, self.path, self.device = cfg, artifact, path, device
        t = cfg.train
        self.vocab_size = int(train_windows.vocab_size)
        self.vocab = _vocabulary(artifact)
        self.data = place_windows(train_windows, device, t)
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
        self.kernels = train_kernels(cfg, device, self.vocab_size)  # bf16 runs inside the fused loss, no autocast
        self.opt = Optimisation(
            self.model, lr=t.lr, weight_decay=t.weight_decay, total_steps=self.total_steps, kernels=self.kernels
        )
        self.history: list[dict[str, Any]] = []
        self.checkpoint_step: int | None = None  # step of the last good checkpoint on disk
        self.stop_signal: int | None = None  # set by the SIGINT/SIGTERM handler, acted on after the current step
        self.pending = {"loss_sum": 0.0, "steps": 0, "windows": 0}  # partial log interval (kept in checkpoints)
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
                "path": (
                    f"stream ({self.data.n_blocks} blocks of {self.data.block:,} windows)"
                    if isinstance(self.data, StreamedWindows)
                    else "resident"
                ),
            },
            "device": str(device),
            "precision": t.precision,
            "kernels": self.kernels.describe(),
            "threads": torch.get_num_threads(),
            "config": as_dict(cfg),
            "code": code_record("train"),  # the training code (not in the key; checked on resume and analysis)
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
        self.pending = dict(state.get("pending", self.pending))
        self.checkpoint_step = self.opt.step
        write_metrics(self.path, self.history)  # drop rows logged after the checkpoint
        log.info("train: resuming %s at step %d/%d", self.path, self.opt.step, self.total_steps)
        return True

    def _diverged(self) -> TrainingDiverged | None:
        """The divergence error if the loss went non-finite (device flag) or the weights did; one sync."""
        first = self.opt.first_nonfinite()
        if first is None and self.opt.weights_finite():
            return None
        what = f"the loss became NaN/inf at step {first}" if first is not None else "the weights became NaN/inf"
        if self.checkpoint_step is not None and (self.path / Files.CHECKPOINT).is_file():
            kept = (
                f"the last good checkpoint (step {self.checkpoint_step}) is kept in {self.path}; "
                "re-running resumes from it and will diverge again"
            )
        else:
            kept = "no good checkpoint exists (none was written before the divergence), nothing to resume"
        return TrainingDiverged(
            f"{what} (lr {self.opt.lr:.3g}, train.lr={self.cfg.train.lr:g}); {kept}. "
            "Lower train.lr or train.weight_decay, or check the data"
        )

    def _check_finite(self) -> None:
        error = self._diverged()
        if error is not None:
            raise error

    def _checkpoint(self) -> None:
        self._check_finite()  # never overwrite a good checkpoint with non-finite weights
        save_checkpoint(
            self.path,
            {
                "model": self.model.state_dict(),
                "optim": self.opt.state_dict(),
                "rng": rng_state(),
                "history": self.history,
                "pending": dict(self.pending),
                "vocab_size": self.vocab_size,
                "latent_size": self.cfg.model.latent_size,
            },
        )
        self.checkpoint_step = self.opt.step
        self.info["step"] = self.opt.step
        write_run_json(self.path, self.info)

    # --- signals --------------------------------------------------------------------------------
    def _on_signal(self, signum: int, frame: Any) -> None:
        if self.stop_signal is not None:  # a second Ctrl-C: stop now (the last checkpoint is kept)
            raise KeyboardInterrupt
        self.stop_signal = signum
        log.warning("train: %s received; checkpointing after the current step", signal.Signals(signum).name)

    def _install_signal_handlers(self) -> dict[int, Any]:
        previous: dict[int, Any] = {}
        for sig in STOP_SIGNALS:
            try:
                previous[sig] = signal.signal(sig, self._on_signal)
            except ValueError:  # not the main thread (e.g. a threaded launcher): keep the defaults
                break
        return previous

    def _interrupt(self) -> None:
        """Checkpoint at the current step, mark the run interrupted (run.json, W&B), raise."""
        signum = int(self.stop_signal or signal.SIGINT)
        name = signal.Signals(signum).name
        self._checkpoint()
        self.info.update(status="interrupted", error=f"{name} at step {self.opt.step}")
        write_run_json(self.path, self.info)
        self.tracker.summary({"status": "interrupted", "interrupted_at_step": self.opt.step})
        raise TrainingInterrupted(
            f"interrupted by {name} at step {self.opt.step}/{self.total_steps}; checkpoint saved in {self.path}; "
            "re-run the same command to resume",
            signum,
        )

    # --- the loop -------------------------------------------------------------------------------
    def train(self) -> Path:
        self.path.mkdir(parents=True, exist_ok=True)
        previous = read_run_json(self.path) or {}
        resumed = self._resume()
        if not resumed:
            write_metrics(self.path, [])
        w = self.cfg.wandb
        # a resumed segment stays in the W&B group of the first one
        group = previous.get("wandb_group", w.group) if resumed else w.group
        self.info["wandb_group"] = group
        self.label = self.info["label"] = run_label(self.cfg)
        write_config(self.path, self.cfg)
        write_run_json(self.path, self.info)
        agent = under_wandb_agent()  # a W&B Sweeps agent owns the run id
        handlers = self._install_signal_handlers()
        try:
            with tracking_run(
                w,
                name=self.label,
                job_type="train",
                config=wandb_config("train", self.cfg),
                dir=self.path,
                group=group,
                run_id=None if agent else f"train-{self.path.name}",
                resume=resumed and not agent,
                tags=job_tags("train", self.cfg.corpus.name, group),
            ) as tracker:
                self.tracker = tracker
                tracker.summary(_flat_numbers(self.artifact.stats, "data"))
                self._loop()
                self._finish()
        except TrainingInterrupted:
            raise  # run.json already says interrupted
        except BaseException as exc:
            interrupted = isinstance(exc, KeyboardInterrupt)
            self.info.update(
                status="interrupted" if interrupted else "failed",
                error="KeyboardInterrupt (second signal; the last checkpoint is kept)"
                if interrupted
                else f"{type(exc).__name__}: {exc}",
            )
            write_run_json(self.path, self.info)
            raise
        finally:
            for sig, handler in handlers.items():
                signal.signal(sig, handler)
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
        pending = self.pending  # the partial log interval (restored from the checkpoint on resume)
        loss_sum = torch.full((), pending["loss_sum"], dtype=torch.float64, device=self.device)
        clock = [time.perf_counter(), pending["windows"], self.opt.step]  # interval start: time, windows, step
        probe = GeometryProbe(self.vocab_size, self.device)
        params = list(self.model.parameters())

        def on_step(s: StepInfo) -> None:
            loss_sum.add_(s.loss[0].detach())
            clock[1] += s.windows
            bar.update(1)
            if s.step % t.log_every == 0 or s.step == self.total_steps:
                n = s.step - (s.step - 1) // t.log_every * t.log_every  # steps in this log interval
                self._check_finite()  # the device-side flag
                W, b = self.model.weights()
                # one host copy per interval: the loss and the geometry dynamics in one vector
                values = torch.cat([loss_sum.double().reshape(1), probe.measure(W, b, params)]).tolist()
                loss = values[0] / n
                loss_sum.zero_()
                elapsed = time.perf_counter() - clock[0]
                rate = clock[1] / max(elapsed, 1e-9)
                eta = (self.total_steps - s.step) * elapsed / max(1, s.step - clock[2])
                clock[0], clock[1], clock[2] = time.perf_counter(), 0, s.step
                row = {"step": s.step, "epoch": s.epoch, "loss": loss, "lr": self.opt.lr, "windows_per_s": rate}
                row.update(probe.as_dict(values[1:]))
                self._log(row)
                bar.set_postfix(loss=f"{loss:.5g}", windows_s=f"{rate:,.0f}")
                (log.debug if show_bar else log.info)(progress_line(self.label, row, self.total_steps, eta))
            if self.stop_signal is not None or (
                t.checkpoint_every
                and s.step % t.checkpoint_every == 0
                and s.step % self.steps_per_epoch != 0
                and s.step != self.total_steps
            ):
                pending.update(loss_sum=float(loss_sum), steps=s.step % t.log_every, windows=clock[1])
                if self.stop_signal is not None:
                    self._interrupt()
                self._checkpoint()

        def on_epoch_end(epoch: int) -> None:
            self._check_finite()  # before any analysis of the weights (an SVD of NaNs) or checkpoint
            row: dict[str, Any] = {"step": self.opt.step, "epoch": epoch + 1}
            if self.eval_data is not None:
                row["eval_loss"] = evaluate(self.model, self.eval_data, t.batch_size)[0]
            row.update(calendar_rings(self.model.weights()[0], self.vocab))
            self._log(row)
            log.info(epoch_line(self.label, row, self.epochs))
            pending.update(loss_sum=float(loss_sum), steps=self.opt.step % t.log_every, windows=clock[1])
            self._checkpoint()
            if self.stop_signal is not None and not self.opt.done:
                self._interrupt()

        def batches(epoch: int, skip: int):
            if isinstance(self.data, StreamedWindows):
                return stream_batches(self.data, t.batch_size, t.seed, epoch, skip)
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
    word has no score. Only the groups' columns leave the device (19 of V; one small copy per call)."""
    groups = [(name, lookup(group, vocab)) for name, group in (("days_ring", DAYS), ("months_ring", MONTHS))]
    groups = [(name, found) for name, found in groups if not found.missing]
    if not groups:
        return {}
    ids = np.concatenate([np.asarray(found.indices, dtype=np.int64) for _, found in groups])
    with torch.no_grad():
        columns = W.detach()[:, torch.from_numpy(ids).to(W.device)].float().cpu().numpy()  # (latent, group words)
    out, start = {}, 0
    for name, found in groups:
        vectors = columns[:, start : start + len(found.words)].T
        out[name] = ring_analysis(vectors, found.words)["adjacent_fraction"]
        start += len(found.words)
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
