"""``make structure`` (SPEC 5.5, the paper's structure-vs-latent-size figure): reads the corpus's train
windows (built if missing); for every latent size L trains the seeds as instances of one model in one
pass (wd ``structure.weight_decay``, the run's lr and batch size, ``structure.steps`` per L), evaluating
the off-diagonal Frobenius norm of the months and Roman-numeral Gram matrices every
``structure.eval_every`` steps. Writes ``<root>/structure/<hash>/``: structure.parquet (L, seed, group,
norm), summary.parquet (mean +- 2 sd per L), curves.parquet (norm vs step: when it settles),
snapshots.npz (group vectors), rings.parquet (per model and cyclic group -- months, days: the ring score,
the ring's signal against the cosine noise and the packing floor, and whether label-free discovery finds
the group), ring_summary.parquet (those per L: mean +- 2 sd), summary.json, structure.png,
structure_ring.png and structure_settling.png; logs to W&B.
"""

from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from bows.analysis.structure import group_norms, settle_step, summarise
from bows.artifacts import find_output
from bows.cli import stage_main
from bows.config import BowsConfig, as_dict
from bows.core import discovery
from bows.core.geometry import packing_floor, ring_analysis, ring_signal
from bows.core.groups import DAYS, MONTHS, ROMAN, lookup
from bows.stages import build_artifact, output_dir
from bows.tracking import tracking_run
from bows.training.batches import epoch_batches, to_device
from bows.training.model import TiedAutoencoder
from bows.training.optim import Optimisation, fit

log = logging.getLogger(__name__)

TABLE = "structure.parquet"  # latent_size, seed, group, frobenius, steps, settled_step
SUMMARY_TABLE = "summary.parquet"  # group, latent_size, mean, sd, lower, upper, seeds
CURVES = "curves.parquet"  # latent_size, seed, group, step, frobenius
SNAPSHOTS = "snapshots.npz"  # "<group>/L<L>/seed<s>" -> the group's vectors (words x L)
RINGS = "rings.parquet"  # latent_size, seed, group + RING_METRICS (one row per model and cyclic group)
RING_SUMMARY = "ring_summary.parquet"  # group, metric, latent_size, mean, sd, lower, upper, seeds
SUMMARY = "summary.json"
FIGURE = "structure.png"
RING_FIGURE = "structure_ring.png"
SETTLING = "structure_settling.png"
GROUPS = {"months": MONTHS, "roman": ROMAN}  # the paper's figure: off-diagonal Gram norm vs L
CYCLIC = {"months": MONTHS, "days": DAYS}  # rings measured per model: score, signal, label-free discovery
RING_METRICS = (
    "ring_adjacent",  # share of calendar neighbours adjacent on the PCA ring (the study's ring_score)
    "adjacent_z",  # calendar neighbours' mean cosine above random pairs, in sd of random pairs
    "adjacent_cosine",
    "other_cosine",
    "random_cosine_sd",
    "packing_floor",  # Welch bound of the represented words: cosine noise forced by packing alone
    "represented",
    "discovery_candidate_f1",  # best F1 of any label-free discovery candidate with the group
    "discovery_found_f1",  # F1 of the best-matching ring discovery calls (0: none holds the group)
    "discovery_own_ring_z",  # the group's own ring z against random word sets of its size and frequency
)


def ring_adjacent(vectors: np.ndarray, words: list[str]) -> float:
    """Share of calendar neighbours that are neighbours on the PCA ring of the raw vectors (as the study's
    ``geometry/months/ring_score``); NaN when the angular order is undefined."""
    return float(ring_analysis(vectors, words, k=2)["adjacent_fraction"])


def seeded_weights(latent: int, vocab_size: int, seeds: list[int]) -> torch.Tensor:
    """Paper init (U(-sqrt(2/V), sqrt(2/V))) per seed: (seeds, latent, vocab), reproducible per (seed, L)."""
    bound = math.sqrt(2.0 / vocab_size)
    out = torch.empty(len(seeds), latent, vocab_size)
    for i, seed in enumerate(seeds):
        gen = torch.Generator().manual_seed(seed * 1_000_003 + latent)
        out[i] = torch.empty(latent, vocab_size).uniform_(-bound, bound, generator=gen)
    return out


def train_latent(
    windows,
    vocab_size: int,
    latent: int,
    steps: int,
    cfg: BowsConfig,
    groups: dict[str, np.ndarray],
    device: torch.device,
) -> tuple[np.ndarray, list[dict]]:
    """Train the seeds of one L as instances of one model; returns the groups' vectors (seeds x words x L per
    group, stacked by ``groups`` order) and the evaluation curve rows."""
    s = cfg.structure
    model = TiedAutoencoder(vocab_size, latent, instances=len(s.seeds), output=cfg.model.output).to(device)
    with torch.no_grad():
        model.W.copy_(seeded_weights(latent, vocab_size, s.seeds).to(device))
    opt = Optimisation(model, lr=cfg.train.lr, weight_decay=s.weight_decay, total_steps=steps)
    per_epoch = windows.steps_per_epoch(cfg.train.batch_size)
    curve: list[dict] = []
    started = time.perf_counter()

    def evaluate(step: int) -> None:
        with torch.no_grad():
            W = model.W.detach().cpu().numpy()
        norms = {}
        for name, ids in groups.items():
            for i, seed in enumerate(s.seeds):
                norms[name, seed] = group_norms(W[i], ids)
                curve.append(
                    {"latent_size": latent, "seed": seed, "group": name, "step": step, "frobenius": norms[name, seed]}
                )
        if step and (10 * step) // steps > (10 * (step - s.eval_every)) // steps:  # about every 10 %
            spent = time.perf_counter() - started
            means = ", ".join(
                f"{name} {np.mean([v for (g, _), v in norms.items() if g == name]):.3g}" for name in groups
            )
            log.info(
                "structure: L=%d step %d/%d (%.0f s, ETA %.0f s) | off-diagonal |Gram|_F, mean over seeds: %s",
                latent,
                step,
                steps,
                spent,
                spent * (steps - step) / step,
                means,
            )

    evaluate(0)
    fit(
        model,
        lambda epoch, skip: epoch_batches(windows, cfg.train.batch_size, cfg.train.seed, epoch, skip),
        opt,
        epochs=math.ceil(steps / per_epoch),
        steps_per_epoch=per_epoch,
        on_step=lambda info: evaluate(info.step) if info.step % s.eval_every == 0 or info.step == steps else None,
    )
    with torch.no_grad():
        W = model.W.detach().cpu().numpy()
    return W, curve


def ring_rows(
    W: np.ndarray,
    latent: int,
    seed: int,
    rings: dict,
    counts: np.ndarray,
    vocab: list[str],
    discover: bool,
    bars: dict[str, float] | None = None,
) -> tuple[list[dict], dict[str, float] | None]:
    """One row per complete cyclic group of one model's W (latent x vocab): RING_METRICS (discovery's
    NaN when ``discover`` is off), and discovery's bars per shape (``bars``: those of another seed of this
    L, whose pool is alike, instead of new structure-free searches)."""
    packing = packing_floor(W)
    pool = W[:, (W**2).sum(axis=0) > 1e-8].T
    evaluation = None
    if discover:
        targets = {n: f.words for n, f in rings.items()}
        done = discovery.in_weights(W, vocab, counts, targets, seed=seed, thresholds=bars)
        if done is not None:
            evaluation, bars = done[2], done[0].thresholds
    rows = []
    for name, found in rings.items():
        vecs = W[:, found.indices].T
        row = {
            "latent_size": latent,
            "seed": seed,
            "group": name,
            "ring_adjacent": ring_adjacent(vecs, list(found.words)),
        }
        row.update(ring_signal(vecs, pool, seed=seed))
        row.update(packing)
        entry = evaluation.get(name) if evaluation else None
        row["discovery_candidate_f1"] = entry["candidate"]["f1"] if entry else float("nan")
        row["discovery_found_f1"] = entry["ring"]["f1"] if entry else float("nan")
        row["discovery_own_ring_z"] = entry["own"]["ring_z"] if entry and entry["own"] else float("nan")
        rows.append(row)
    return rows, bars


def run(cfg: BowsConfig) -> Path:
    from bows.data import binarize
    from bows.data.binarize import load_windows, vocab_of
    from bows.plots.structure import ring_figure, settling_figure, structure_figure
    from bows.training.train import resolve_device

    s = cfg.structure
    windows_artifact = binarize.run(cfg)
    vocab = vocab_of(windows_artifact)
    config = {
        "structure": as_dict(s),
        "windows": windows_artifact.key,
        "model": {"output": cfg.model.output},
        "train": {"lr": cfg.train.lr, "batch_size": cfg.train.batch_size, "seed": cfg.train.seed},
    }
    out = output_dir(cfg.paths.root_path, "structure", "", config)
    if find_output(out, "structure") is not None:
        return out
    found = {name: lookup(words, vocab) for name, words in GROUPS.items()}
    groups = {name: f.indices for name, f in found.items() if len(f) >= 2}
    cyclic = {name: lookup(words, vocab) for name, words in CYCLIC.items()}
    missing = {name: list(f.missing) for name, f in {**found, **cyclic}.items() if f.missing}
    # a ring needs the whole cycle: a group with a word missing from the vocabulary gets no ring rows
    rings_of = {name: f for name, f in cyclic.items() if not f.missing}
    if not groups:
        raise ValueError("structure: neither the months nor the Roman numerals are in the vocabulary")
    device, _ = resolve_device(cfg.train.device, "fp32", cfg.train.num_threads)
    train = load_windows(windows_artifact, "train")
    windows = to_device(train.offsets, train.indices, train.vocab_size, device)
    counts = np.bincount(np.asarray(train.indices), minlength=len(vocab))  # windows holding each word
    rows, ring_table, curves, snapshots, seconds = [], [], [], {}, {}
    for latent, steps in zip(s.latent_sizes, s.steps):
        started = time.perf_counter()
        W, curve = train_latent(windows, len(vocab), latent, steps, cfg, groups, device)
        seconds[latent] = round(time.perf_counter() - started, 1)
        curves += curve
        frame = pd.DataFrame(curve)
        for name, ids in groups.items():
            for i, seed in enumerate(s.seeds):
                c = frame[(frame["group"] == name) & (frame["seed"] == seed)]
                rows.append(
                    {
                        "latent_size": latent,
                        "seed": seed,
                        "group": name,
                        "frobenius": group_norms(W[i], ids),
                        "steps": steps,
                        "settled_step": settle_step(c["step"], c["frobenius"], s.settle_tolerance),
                    }
                )
                snapshots[f"{name}/L{latent}/seed{seed}"] = W[i][:, ids].T.astype(np.float32)
        bars = None  # discovery's bars come from the first seed's structure-free searches
        for i, seed in enumerate(s.seeds):
            rows_of_model, bars = ring_rows(W[i], latent, seed, rings_of, counts, vocab, s.discovery, bars)
            ring_table += rows_of_model
        log.info("structure: L=%d, %d seeds, %d steps in %.0f s", latent, len(s.seeds), steps, seconds[latent])
    table, curves_frame = pd.DataFrame(rows), pd.DataFrame(curves)
    rings = pd.DataFrame(ring_table, columns=["latent_size", "seed", "group", *RING_METRICS])
    summary = summarise(table)
    ring_summary = pd.concat(
        [summarise(rings, metric).assign(metric=metric) for metric in RING_METRICS], ignore_index=True
    )
    settled = table.groupby("latent_size")["settled_step"].max()
    info = {
        "latent_sizes": s.latent_sizes,
        "steps": dict(zip(map(str, s.latent_sizes), s.steps)),
        "seeds": s.seeds,
        "weight_decay": s.weight_decay,
        "seconds_per_latent_size": seconds,
        "settled_step_max": {str(k): (None if pd.isna(v) else int(v)) for k, v in settled.items()},
        "words": {name: list(found[name].words) for name in groups},
        "missing": missing,
        "summary": summary.to_dict("records"),
        "ring_summary": ring_summary.to_dict("records"),
        "ring_chance": {name: 2.0 / (len(f) - 1) for name, f in rings_of.items()},
        "discovery": s.discovery,
    }
    with build_artifact(out.parent, "structure", out.name, config, final=out) as b:
        table.to_parquet(b.path(TABLE), index=False)
        summary.to_parquet(b.path(SUMMARY_TABLE), index=False)
        rings.to_parquet(b.path(RINGS), index=False)
        ring_summary.to_parquet(b.path(RING_SUMMARY), index=False)
        curves_frame.to_parquet(b.path(CURVES), index=False)
        np.savez_compressed(b.path(SNAPSHOTS), **snapshots)
        b.path(SUMMARY).write_text(json.dumps(info, indent=2, default=str) + "\n")
        made = []
        drawers = {
            FIGURE: lambda path: structure_figure(summary, snapshots, info, path),
            RING_FIGURE: lambda path: ring_figure(ring_summary, rings, info, path),
            SETTLING: lambda path: settling_figure(curves_frame, table, path),
        }
        for name, draw in drawers.items():
            try:
                draw(b.path(name))
                made.append(name)
            except Exception as exc:  # one failed figure never takes the numbers down
                log.warning("structure: figure %s failed: %s: %s", name, type(exc).__name__, exc)
        b.stats = {"models": len(s.latent_sizes) * len(s.seeds), "figures": made}
    with tracking_run(cfg.wandb, name=f"structure-{out.name}", job_type="structure", config=config, dir=out) as tracker:
        metrics = {
            f"structure/{r['group']}/L{r['latent_size']}/frobenius_{stat}": r[stat]
            for r in summary.to_dict("records")
            for stat in ("mean", "sd")
        }
        metrics.update(
            {
                f"structure/{r['group']}/L{r['latent_size']}/{r['metric']}_{stat}": r[stat]
                for r in ring_summary.to_dict("records")
                for stat in ("mean", "sd")
            }
        )
        tracker.summary(metrics)
        tracker.table("structure/norms", table)
        tracker.table("structure/rings", rings)
        for name in made:
            tracker.image(f"structure/{Path(name).stem}", out / name)
    log.info("%s", format_summary(summary, info, out))
    return out


def format_summary(summary: pd.DataFrame, info: dict, out: Path) -> str:
    lines = [f"structure vs latent size (wd {info['weight_decay']:g}, seeds {info['seeds']}) -> {out}"]
    for group, part in summary.groupby("group"):
        cells = []
        for r in part.to_dict("records"):
            sd = float(r["sd"])
            two_sd = f" +- {2 * sd:.2g}" if np.isfinite(sd) else ""
            cells.append(f"L={int(r['latent_size'])}: {float(r['mean']):.3g}{two_sd}")
        lines.append(f"  {group}: off-diagonal Frobenius norm {', '.join(cells)}")
    shown = {
        "ring_adjacent": "ring (calendar neighbours adjacent, chance {chance:.2f})",
        "adjacent_z": "neighbours' cosine above random pairs (sd)",
        "discovery_found_f1": "found by label-free discovery (F1 of the best called ring)",
    }
    records = pd.DataFrame(info.get("ring_summary", []))
    for (group, metric), part in records.groupby(["group", "metric"], sort=False) if len(records) else []:
        if str(metric) not in shown:
            continue
        cells = [
            f"L={int(r['latent_size'])}: {float(r['mean']):.2f}"
            + (f" +- {2 * float(r['sd']):.2g}" if np.isfinite(float(r["sd"])) else "")
            for r in part.sort_values("latent_size").to_dict("records")
        ]
        label = shown[str(metric)].format(chance=info["ring_chance"].get(group, float("nan")))
        lines.append(f"  {group} {label}: {', '.join(cells)}")
    lines.append(f"  settled by step (max over seeds and groups): {info['settled_step_max']}")
    return "\n".join(lines)


main = stage_main(run)

if __name__ == "__main__":
    main()
