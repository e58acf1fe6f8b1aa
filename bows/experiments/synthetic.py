"""Synthetic BOWS (SPEC 5.8): generates correlated binary features, trains tied linear/ReLU models
for every latent size and weight decay, writes <root>/synthetic/<structure>-<hash>/ (numbers, weights, figures).

All models of one output kind train together as instances of one ``TiedAutoencoder`` through
the project's single optimisation loop (``bows.training.optim.fit``): an instance of latent size L < max L
is zero-padded and its extra rows are frozen at zero (gradient mask), which is exactly the L-model.
``synthetic.phase_diagram=true`` instead sweeps sparsity (base log-odds) x correlation strength
(sharpness) and writes <root>/synthetic/phase-<structure>-<hash>/.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from safetensors.numpy import save_file

from bows.artifacts import atomic_write_json, find_output
from bows.cli import stage_main
from bows.config import BowsConfig, SyntheticConfig, as_dict
from bows.experiments.synthetic_data import circular_mean_activation, feature_directions, generate, geometry_metrics
from bows.plots.synthetic import gram_figure, metrics_figure, sparsity_phase_figure
from bows.stages import build_artifact, output_dir
from bows.tracking import tracking_run
from bows.training.batches import Batch, epoch_order, tensor_batches
from bows.training.model import TiedAutoencoder, reconstruction_loss
from bows.training.optim import Optimisation, fit

log = logging.getLogger(__name__)

METRICS = "metrics.parquet"  # one row per trained model: config + geometry numbers
SUMMARY = "summary.json"  # data statistics, timings, the batching check and every metric row
WEIGHTS = "weights.safetensors"  # "<output>/wd<wd>/L<L>" -> W (L x features), plus "b/..." biases
DATA = "data.safetensors"  # "x" (samples x features, uint8; first n_train rows train), "u" directions
PHASE = "phase.parquet"  # phase diagram: one row per (sharpness, base_log_odds, L, weight decay)
GRAM_FIGURE, METRICS_FIGURE, PHASE_FIGURE = "gram.png", "metrics.png", "phase.png"


@contextlib.contextmanager
def single_thread() -> Iterator[None]:
    """One CPU thread for tiny models: their ops are too small to split, and on a busy machine a
    second thread made a step 5-40x slower (thread contention); the previous setting is restored."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


# ---- instance-batched training ---------------------------------------------------------------


@dataclass(frozen=True)
class Trained:
    """Weights and losses of a batch of instances: W (instances, max latent, features), padded with zeros."""

    W: np.ndarray
    b: np.ndarray
    train_loss: np.ndarray  # (instances,) over the whole train split after training
    test_loss: np.ndarray
    seconds: float


def initial_weights(latents: list[int], n_features: int, seed: int) -> torch.Tensor:
    """Paper init per instance, (instances, max latent, features), zero beyond each instance's L.

    Instance weights depend only on (seed, L), so linear and ReLU models and every weight decay
    of one L start from the same point."""
    bound = (2.0 / n_features) ** 0.5
    W = torch.zeros(len(latents), max(latents), n_features)
    for i, latent in enumerate(latents):
        gen = torch.Generator().manual_seed(seed * 100_003 + latent)
        W[i, :latent] = torch.empty(latent, n_features).uniform_(-bound, bound, generator=gen)
    return W


def _instance_batches(data: torch.Tensor, batch_size: int, seed: int, epoch: int, skip: int) -> Iterator[Batch]:
    """Shuffled batches of per-instance data (instances, samples, features); same order as ``tensor_batches``."""
    order = torch.from_numpy(epoch_order(data.shape[1], seed, epoch))
    for start in range(skip * batch_size, data.shape[1], batch_size):
        yield Batch(target=data[:, order[start : start + batch_size]])


def train_instances(
    train: np.ndarray, test: np.ndarray, latents: list[int], weight_decays: list[float], output: str, s: SyntheticConfig
) -> Trained:
    """Train one model per (latent, weight decay) pair as instances of one TiedAutoencoder.

    ``train``/``test`` are (samples, features) shared by all instances or (instances, samples,
    features). One instance gets a plain scalar weight decay, i.e. exactly a separately trained model.
    """
    started = time.perf_counter()
    n_features = train.shape[-1]
    x_train, x_test = torch.from_numpy(train).float(), torch.from_numpy(test).float()
    model = TiedAutoencoder(n_features, max(latents), instances=len(latents), output=output)
    with torch.no_grad():
        model.W.copy_(initial_weights(latents, n_features, s.seed))
    if min(latents) < max(latents):  # rows beyond an instance's L get no gradient, so they stay exactly 0
        mask = (torch.arange(max(latents))[None, :] < torch.tensor(latents)[:, None]).float()[:, :, None]
        model.W.register_hook(lambda grad: grad * mask)
    steps = -(-x_train.shape[-2] // s.batch_size)
    wd = weight_decays[0] if len(latents) == 1 else torch.tensor(weight_decays)
    opt = Optimisation(model, lr=s.lr, weight_decay=wd, total_steps=steps * s.epochs, grad_clip=s.grad_clip)
    if x_train.dim() == 2:
        batches = lambda epoch, skip: tensor_batches(x_train, s.batch_size, s.seed, epoch, skip)  # noqa: E731
    else:
        batches = lambda epoch, skip: _instance_batches(x_train, s.batch_size, s.seed, epoch, skip)  # noqa: E731
    with single_thread():
        fit(model, batches, opt, epochs=s.epochs, steps_per_epoch=steps)
    model.eval()
    with torch.no_grad():
        train_loss = reconstruction_loss(model(x_train), x_train).numpy()
        test_loss = reconstruction_loss(model(x_test), x_test).numpy()
        W, b = model.W.detach().numpy().copy(), model.b.detach().numpy().copy()
    return Trained(W=W, b=b, train_loss=train_loss, test_loss=test_loss, seconds=time.perf_counter() - started)


def batching_check(data, s: SyntheticConfig, grid: list[tuple[int, float]], batched: Trained, output: str) -> dict:
    """Train ``s.timing_check`` of the batched models one at a time: time per model and max |W| difference."""
    picks = [grid[i] for i in np.linspace(0, len(grid) - 1, min(s.timing_check, len(grid))).round().astype(int)]
    seconds, dW, dgram, dloss = [], [], [], []
    for latent, wd in picks:
        single = train_instances(data.train, data.test, [latent], [wd], output, s)
        i = grid.index((latent, wd))
        seconds.append(single.seconds)
        a, b = single.W[0, :latent], batched.W[i, :latent]
        dW.append(float(np.abs(a - b).max()))
        dgram.append(float(np.abs(a.T @ a - b.T @ b).max()))
        dloss.append(float(abs(single.test_loss[0] - batched.test_loss[i])))
    per_model = float(np.mean(seconds))
    # float rounding differs between the batched and single-model kernels; over thousands of steps
    # it can move weights along exact symmetries of the loss (e.g. rotations for iid data), which
    # changes W but not the loss: hence the Gram and loss differences next to the weight difference
    return {
        "output": output,
        "models": len(grid),
        "checked": [list(p) for p in picks],
        "separate_seconds_per_model": per_model,
        "separate_seconds_estimate": per_model * len(grid),
        "batched_seconds": batched.seconds,
        "speedup": per_model * len(grid) / batched.seconds,
        "max_abs_weight_difference": max(dW),
        "max_abs_gram_difference": max(dgram),
        "max_abs_test_loss_difference": max(dloss),
    }


# ---- the experiments ------------------------------------------------------------------------


def _data_config(s: SyntheticConfig) -> dict[str, Any]:
    return {k: v for k, v in as_dict(s).items() if not k.startswith("phase") and k != "timing_check"}


def run(cfg: BowsConfig) -> Path:
    with single_thread():
        return run_phase_diagram(cfg) if cfg.synthetic.phase_diagram else run_structure(cfg)


def run_structure(cfg: BowsConfig) -> Path:
    """Every (output, L, weight decay) model on one structure; Gram figure and numbers."""
    s = cfg.synthetic
    config = {"synthetic": _data_config(s)}
    directory = output_dir(cfg.paths.root_path, "synthetic", s.structure, config)
    if (found := find_output(directory, "synthetic")) is not None:
        return found.path
    data = generate(
        s.structure,
        n_features=s.n_features,
        n_samples=s.n_samples,
        n_train=s.n_train,
        sharpness=s.sharpness,
        base_log_odds=s.base_log_odds,
        seed=s.data_seed,
    )
    cov = data.covariance
    grid = [(latent, wd) for latent in s.latent_sizes for wd in s.weight_decays]
    rows, weights, biases, checks = [], {}, {}, []
    for output in s.outputs:
        log.info("synthetic %s: training %d %s models as instances of one model", s.structure, len(grid), output)
        trained = train_instances(data.train, data.test, [g[0] for g in grid], [g[1] for g in grid], output, s)
        for i, (latent, wd) in enumerate(grid):
            W = trained.W[i, :latent]
            weights[(output, wd, latent)], biases[(output, wd, latent)] = W, trained.b[i]
            rows.append(
                {
                    "structure": s.structure,
                    "output": output,
                    "weight_decay": wd,
                    "latent": latent,
                    "train_loss": float(trained.train_loss[i]),
                    "test_loss": float(trained.test_loss[i]),
                    **geometry_metrics(W, cov),
                }
            )
        if s.timing_check:
            checks.append(batching_check(data, s, grid, trained, output))
            log.info(
                "synthetic: instance batching %.1fx faster than separate training (max |dW| %.2g)",
                checks[-1]["speedup"],
                checks[-1]["max_abs_weight_difference"],
            )
    metrics = pd.DataFrame(rows)
    iu = np.triu_indices(s.n_features, k=1)
    stats = {
        "mean_activation": float(data.train.mean()),
        "activation_per_feature": data.train.mean(0).tolist(),
        "circular_mean_activation": circular_mean_activation(s.sharpness, s.base_log_odds),
        "data_seed": s.data_seed,
        "cov_eigenvalues": np.sort(np.linalg.eigvalsh(cov))[::-1].tolist(),
        "cov_offdiag_max_abs": float(np.abs(cov[iu]).max()),
        "cov_offdiag_mean_abs": float(np.abs(cov[iu]).mean()),
        "batching": checks,
    }
    with build_artifact(directory.parent, "synthetic", directory.name, config, final=directory) as out:
        save_file(
            {"x": data.x.astype(np.uint8), "u": feature_directions(s.structure, s.n_features).astype(np.float32)},
            str(out.path(DATA)),
        )
        tensors = {f"{o}/wd{wd:g}/L{latent}": W.astype(np.float32) for (o, wd, latent), W in weights.items()}
        tensors.update({f"b/{o}/wd{wd:g}/L{latent}": b.astype(np.float32) for (o, wd, latent), b in biases.items()})
        save_file(tensors, str(out.path(WEIGHTS)))
        metrics.to_parquet(out.path(METRICS), index=False)
        atomic_write_json(
            out.path(SUMMARY), {"data": stats, "covariance": cov.tolist(), "metrics": metrics.to_dict(orient="records")}
        )
        rows_shown = tuple([("linear", s.weight_decays[0])] + [("relu", wd) for wd in s.weight_decays])
        gram_figure(out.path(GRAM_FIGURE), s.structure, cov, weights, metrics, rows_shown)
        metrics_figure(out.path(METRICS_FIGURE), s.structure, metrics)
        out.stats = {k: v for k, v in stats.items() if k != "activation_per_feature"}
    _track(cfg, f"synthetic-{s.structure}", config, directory, metrics, stats, cov, (GRAM_FIGURE, METRICS_FIGURE))
    return directory


def run_phase_diagram(cfg: BowsConfig) -> Path:
    """ReLU models on a grid of (sharpness, base log-odds) x L x weight decay, all as instances of one model."""
    s = cfg.synthetic
    config = {
        "synthetic": {
            k: v
            for k, v in _data_config(s).items()
            if k not in ("sharpness", "base_log_odds", "latent_sizes", "outputs")
        },
        "phase": {k: v for k, v in as_dict(s).items() if k.startswith("phase_")},
    }
    directory = output_dir(cfg.paths.root_path, "synthetic", f"phase-{s.structure}", config)
    if (found := find_output(directory, "synthetic")) is not None:
        return found.path
    cells = [(sh, base) for sh in s.phase_sharpness for base in s.phase_base_log_odds]
    datasets = [
        generate(
            s.structure,
            n_features=s.n_features,
            n_samples=s.n_samples,
            n_train=s.n_train,
            sharpness=sh,
            base_log_odds=base,
            seed=s.data_seed,
        )
        for sh, base in cells
    ]
    grid = [(c, latent, wd) for c in range(len(cells)) for latent in s.phase_latent_sizes for wd in s.weight_decays]
    train = np.stack([datasets[c].train for c, _, _ in grid])
    test = np.stack([datasets[c].test for c, _, _ in grid])
    log.info(
        "synthetic phase diagram: %d cells x %d models = %d instances", len(cells), len(grid) // len(cells), len(grid)
    )
    trained = train_instances(train, test, [g[1] for g in grid], [g[2] for g in grid], "relu", s)
    rows = []
    for i, (c, latent, wd) in enumerate(grid):
        data = datasets[c]
        rows.append(
            {
                "structure": s.structure,
                "sharpness": cells[c][0],
                "base_log_odds": cells[c][1],
                "mean_activation": float(data.train.mean()),
                "latent": latent,
                "weight_decay": wd,
                "train_loss": float(trained.train_loss[i]),
                "test_loss": float(trained.test_loss[i]),
                **geometry_metrics(trained.W[i, :latent], data.covariance),
            }
        )
    phase = pd.DataFrame(rows)
    with build_artifact(directory.parent, "synthetic", directory.name, config, final=directory) as out:
        phase.to_parquet(out.path(PHASE), index=False)
        atomic_write_json(
            out.path(SUMMARY),
            {"seconds": trained.seconds, "instances": len(grid), "rows": phase.to_dict(orient="records")},
        )
        sparsity_phase_figure(out.path(PHASE_FIGURE), s.structure, phase)
        out.stats = {"instances": len(grid), "seconds": round(trained.seconds, 2)}
    _track(
        cfg,
        f"synthetic-phase-{s.structure}",
        config,
        directory,
        phase,
        {"seconds": trained.seconds},
        None,
        (PHASE_FIGURE,),
    )
    return directory


def _track(
    cfg: BowsConfig,
    name: str,
    config: dict,
    directory: Path,
    table: pd.DataFrame,
    stats: dict,
    cov: np.ndarray | None,
    figures: tuple[str, ...],
) -> None:
    """Log the numbers and figures of a finished experiment (keys ``synthetic/...``)."""
    with tracking_run(
        cfg.wandb,
        name=name,
        job_type="synthetic",
        config=config,
        dir=directory.parent,
        group=cfg.wandb.group or "synthetic",
    ) as tracker:
        summary: dict[str, Any] = {f"synthetic/data/{k}": v for k, v in stats.items() if isinstance(v, (int, float))}
        for check in stats.get("batching", []):
            summary[f"synthetic/batching/{check['output']}/speedup"] = check["speedup"]
        if "output" in table:
            for r in table.itertuples():
                prefix = f"synthetic/{r.output}_wd{r.weight_decay:g}/L{r.latent}"
                summary.update(
                    {f"{prefix}/gram_cov_corr": r.gram_cov_corr, f"{prefix}/antipodal": r.antipodal_fraction}
                )
        tracker.summary(summary)
        tracker.table("synthetic/metrics", table)
        if cov is not None:
            tracker.heatmap("synthetic/covariance", cov, [f"f{i}" for i in range(len(cov))])
        for png in figures:
            tracker.image(f"synthetic/{png.removesuffix('.png')}", directory / png)


main = stage_main(run)

if __name__ == "__main__":
    main()
