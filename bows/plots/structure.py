"""Figures of ``make structure``: off-diagonal Frobenius norm of the months / Roman-numeral Gram
matrices vs latent size (mean +- 2 sd over seeds, log x) with PCA snapshots of the groups at the
smallest and largest L, the months' ring score vs L, and the norm against training step (when it settles). PNG via ``save_figure``."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from bows.analysis.geometry import pca  # noqa: E402
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
    """Ring score (share of calendar neighbours adjacent on the PCA ring) vs L: mean +- 2 sd, every seed a point."""
    groups = list(dict.fromkeys(ring_summary["group"]))
    fig, axes = plt.subplots(1, max(len(groups), 1), figsize=(4.8 * max(len(groups), 1), 3.2), squeeze=False)
    for ax, group in zip(axes[0], groups):
        part = ring_summary[ring_summary["group"] == group].sort_values("latent_size")
        ax.plot(part["latent_size"], part["mean"], "o-", color="tab:purple")
        ok = np.isfinite(part["sd"].to_numpy(dtype=float))
        ax.fill_between(part["latent_size"][ok], part["lower"][ok], part["upper"][ok], color="tab:purple", alpha=0.2)
        seeds = rings[rings["group"] == group]
        ax.scatter(seeds["latent_size"], seeds["ring_adjacent"], s=8, color="grey", zorder=3)
        ax.axhline(info["ring_chance"][group], color="grey", ls=":", lw=0.8, label="chance")
        ax.set_xscale("log")
        ax.set_ylim(0, 1.05)
        ax.set_xlabel("latent size L")
        ax.set_ylabel("adjacent calendar neighbours")
        ax.set_title(f"{group} ring vs L (wd {info['weight_decay']:g}, {len(info['seeds'])} seeds)", fontsize=8)
        ax.legend(fontsize=6)
    save_figure(fig, Path(path))
