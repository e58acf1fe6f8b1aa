"""Figures of ``make structure``: off-diagonal Frobenius norm of the months / Roman-numeral Gram
matrices vs latent size (mean +- 2 sd over seeds, log x) with PCA snapshots of the groups at the
smallest and largest L, the months' and days' ring score, ring signal and discovery vs L, and the norm against training step (when it settles). PNG via ``save_figure``."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from bows.core.geometry import pca  # noqa: E402
from bows.plots.common import save_figure  # noqa: E402


def structure_figure(summary: pd.DataFrame, snapshots: dict[str, np.ndarray], info: dict, path: Path) -> None:
    groups = list(dict.fromkeys(summary["group"]))
    sizes = sorted(summary["latent_size"].unique())
    picks = [sizes[0], sizes[-1]] if len(sizes) > 1 else sizes
    fig = plt.figure(figsize=(4.5 + 2.6 * len(picks), 3.0 * len(groups)))
    grid = fig.add_gridspec(len(groups), 1 + len(picks), width_ratios=[1.7] + [1] * len(picks))
    seed = info["seeds"][0]
    for r, group in enumerate(groups):
        ax = fig.add_subplot(grid[r, 0])
        part = summary[summary["group"] == group].sort_values("latent_size")
        ax.plot(part["latent_size"], part["mean"], "o-", color="tab:blue")
        ok = np.isfinite(part["sd"].to_numpy(dtype=float))
        ax.fill_between(part["latent_size"][ok], part["lower"][ok], part["upper"][ok], color="tab:blue", alpha=0.2)
        ax.set_xscale("log")
        ax.set_xlabel("latent size L")
        ax.set_ylabel("off-diagonal |Gram|_F")
        ax.set_title(f"{group}: mean +- 2 sd over {len(info['seeds'])} seeds (wd {info['weight_decay']:g})", fontsize=8)
        words = info["words"][group]
        for c, latent in enumerate(picks):
            sub = fig.add_subplot(grid[r, 1 + c])
            V = snapshots.get(f"{group}/L{latent}/seed{seed}")
            if V is None or V.shape[1] < 2:
                sub.axis("off")
                continue
            xy = pca(V, 2).transform(V)
            sub.plot(
                np.append(xy[:, 0], xy[0, 0]) if group == "months" else xy[:, 0],
                np.append(xy[:, 1], xy[0, 1]) if group == "months" else xy[:, 1],
                "-",
                color="lightgrey",
                lw=0.8,
            )
            sub.scatter(
                xy[:, 0], xy[:, 1], c=np.arange(len(xy)), cmap="twilight" if group == "months" else "viridis", s=14
            )
            for (x, y), w in zip(xy, words):
                sub.annotate(w[:3] if group == "months" else w, (x, y), fontsize=6)
            sub.set_title(f"PCA, L={latent} (seed {seed})", fontsize=8)
            sub.set_xticks([])
            sub.set_yticks([])
    save_figure(fig, Path(path))


def settling_figure(curves: pd.DataFrame, table: pd.DataFrame, path: Path) -> None:
    groups = list(dict.fromkeys(curves["group"]))
    fig, axes = plt.subplots(1, len(groups), figsize=(4.5 * len(groups), 3.2), squeeze=False)
    sizes = sorted(curves["latent_size"].unique())
    colors = plt.get_cmap("viridis")(np.linspace(0, 0.9, len(sizes)))
    for ax, group in zip(axes[0], groups):
        for color, latent in zip(colors, sizes):
            part = curves[(curves["group"] == group) & (curves["latent_size"] == latent)]
            mean = part.groupby("step")["frobenius"].mean()
            ax.plot(mean.index, mean.to_numpy(), color=color, label=f"L={latent}")
            settled = table[(table["group"] == group) & (table["latent_size"] == latent)]["settled_step"].max()
            if pd.notna(settled):
                ax.axvline(settled, color=color, ls=":", lw=0.8)
        ax.set_xlabel("optimizer step")
        ax.set_ylabel("off-diagonal |Gram|_F (mean over seeds)")
        ax.set_title(f"{group}: when the metric settles (dotted)", fontsize=8)
        ax.legend(fontsize=6)
    save_figure(fig, Path(path))


def ring_figure(ring_summary: pd.DataFrame, rings: pd.DataFrame, info: dict, path: Path) -> None:
    """Per cyclic group (columns) vs L, mean +- 2 sd over seeds with every seed a point: the ring score
    (calendar neighbours adjacent on the PCA ring); the ring's signal in cosine units (calendar neighbours'
    mean cosine) against the noise it must beat (sd of random pairs' cosine, and the packing floor of the
    represented words); and whether label-free discovery holds / calls the group (F1)."""
    groups = [g for g in info["ring_chance"] if g in set(ring_summary["group"])]  # the CYCLIC order: months first
    rows = (
        ("ring_adjacent", "adjacent calendar neighbours", [("ring_adjacent", "ring score", "tab:purple")]),
        (
            "cosine",
            "cosine",
            [
                ("adjacent_cosine", "calendar neighbours (mean)", "tab:red"),
                ("other_cosine", "other pairs of the group (mean)", "tab:orange"),
                ("random_cosine_sd", "sd of random pairs (noise)", "grey"),
                ("packing_floor", "packing floor (Welch bound)", "black"),
            ],
        ),
        (
            "discovery",
            "F1 with the group",
            [
                ("discovery_candidate_f1", "best discovery candidate", "tab:green"),
                ("discovery_found_f1", "best ring discovery calls", "tab:blue"),
            ],
        ),
    )
    n = max(len(groups), 1)
    fig, axes = plt.subplots(len(rows), n, figsize=(4.8 * n, 2.9 * len(rows)), squeeze=False)
    for c, group in enumerate(groups):
        for r, (kind, ylabel, series) in enumerate(rows):
            ax = axes[r, c]
            for metric, label, color in series:
                part = ring_summary[(ring_summary["group"] == group) & (ring_summary["metric"] == metric)]
                part = part.sort_values("latent_size")
                if not len(part) or not np.isfinite(part["mean"].to_numpy(dtype=float)).any():
                    continue
                ax.plot(part["latent_size"], part["mean"], "o-", color=color, label=label, ms=3)
                ok = np.isfinite(part["sd"].to_numpy(dtype=float))
                ax.fill_between(part["latent_size"][ok], part["lower"][ok], part["upper"][ok], color=color, alpha=0.15)
                seeds = rings[rings["group"] == group]
                ax.scatter(seeds["latent_size"], seeds[metric], s=6, color=color, alpha=0.6, zorder=3)
            if kind == "ring_adjacent":
                ax.axhline(info["ring_chance"][group], color="grey", ls=":", lw=0.8, label="chance")
                ax.set_ylim(0, 1.05)
                ax.set_title(f"{group} ring vs L (wd {info['weight_decay']:g}, {len(info['seeds'])} seeds)", fontsize=8)
            elif kind == "cosine":
                ax.axhline(0, color="lightgrey", lw=0.6)
                ax.set_title(f"{group}: ring signal vs cosine noise", fontsize=8)
            else:
                ax.set_ylim(0, 1.05)
                ax.set_title(f"{group}: found without labels?", fontsize=8)
            ax.set_xscale("log")
            ax.set_xlabel("latent size L")
            ax.set_ylabel(ylabel)
            ax.legend(fontsize=6)
    save_figure(fig, Path(path))
