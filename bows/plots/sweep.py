"""Figures of a sweep (SPEC 5.5 and phase plots): structure vs latent size with PCA snapshots, and
key metrics vs weight decay and latent size. Each function reads the sweep's per-run metric table
(and the runs' saved analyses) and writes one PNG.
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from bows.analysis.store import AnalysisFiles  # noqa: E402
from bows.plots.common import Figure, save_figure  # noqa: E402
from bows.plots.figures import draw_figures, ring_panel  # noqa: E402

KEY_METRICS = (
    "geometry/months/ring_score",
    "geometry/days/ring_score",
    "data/months/gram_vs_cond_corr",
    "coactivation/pearson_dot_corr",
    "clusters/knn_purity",
    "mechanism/r2_median",
    "mechanism/gap_median",
    "dimensionality/mean",
)
STRUCTURE = (
    ("geometry/months/offdiag_frobenius", "months"),
    ("geometry/roman/offdiag_frobenius", "Roman numerals I..X"),
)


def structure_figure(table: pd.DataFrame, path: Path) -> bool:
    """Off-diagonal Frobenius norm of the months / Roman numerals Gram matrix vs L, mean +- 2 sd over seeds."""
    cols = [(c, label) for c, label in STRUCTURE if c in table]
    if not cols or table["latent_size"].nunique() < 1:
        return False
    fig, axes = plt.subplots(1, len(cols), figsize=(5 * len(cols), 3.8), squeeze=False)
    for ax, (col, label) in zip(axes[0], cols):
        for wd, sub in table.groupby("weight_decay"):
            agg = sub.groupby("latent_size")[col].agg(["mean", "std", "count"]).reset_index()
            sd = agg["std"].fillna(0.0)
            ax.errorbar(agg["latent_size"], agg["mean"], yerr=2 * sd, marker="o", capsize=3, label=f"wd {wd:g}")
        ax.set_xscale("log")
        ax.set_xlabel("latent size L (log)")
        ax.set_ylabel("off-diagonal |G|_F")
        ax.set_title(f"{label}: mean +- 2 sd over seeds", fontsize=9)
        ax.legend(fontsize=7)
    save_figure(fig, path)
    return True


def snapshots_figure(table: pd.DataFrame, path: Path) -> bool:
    """Months PCA at the smallest and the largest latent size of the sweep (first seed)."""
    rows = []
    for latent in sorted({table["latent_size"].min(), table["latent_size"].max()}):
        row = table[table["latent_size"] == latent].sort_values("seed").iloc[0]
        groups = Path(row["analysis_dir"]) / AnalysisFiles.GROUPS
        if groups.is_file():
            section = json.loads(groups.read_text()).get("months", {})
            if "raw" in section:
                rows.append((latent, row, section))
    if not rows:
        return False
    fig, axes = plt.subplots(1, len(rows), figsize=(4.8 * len(rows), 4.4), squeeze=False)
    for ax, (latent, row, section) in zip(axes[0], rows):
        ring_panel(
            ax, section["raw"], f"L = {latent}, wd {row['weight_decay']:g}, seed {row['seed']}", section.get("seasonal")
        )
    save_figure(fig, path)
    return True


def metric_grid(table: pd.DataFrame, x: str, path: Path) -> bool:
    """Key metrics (mean +- sd over seeds) vs ``x`` (weight_decay or latent_size), one line per other setting."""
    metrics = [m for m in KEY_METRICS if m in table and table[m].notna().any()]
    if not metrics or table[x].nunique() < 2:
        return False
    other = "latent_size" if x == "weight_decay" else "weight_decay"
    ncols = min(4, len(metrics))
    nrows = int(np.ceil(len(metrics) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.6 * ncols, 2.9 * nrows), squeeze=False)
    for ax, m in zip(axes.ravel(), metrics):
        for value, sub in table.groupby(other):
            agg = sub.groupby(x)[m].agg(["mean", "std"]).reset_index()
            ax.errorbar(
                agg[x],
                agg["mean"],
                yerr=agg["std"].fillna(0.0),
                marker="o",
                ms=3,
                capsize=2,
                label=f"{other.split('_')[0]} {value:g}",
            )
        if x == "latent_size":
            ax.set_xscale("log")
        ax.set_title(m, fontsize=7)
        ax.set_xlabel(x, fontsize=7)
        ax.tick_params(labelsize=7)
    axes.ravel()[0].legend(fontsize=6)
    for ax in axes.ravel()[len(metrics) :]:
        ax.axis("off")
    save_figure(fig, path)
    return True


def wd_latent_phase_figure(table: pd.DataFrame, path: Path) -> bool:
    """Phase diagrams: key metrics (mean over seeds) on the weight decay x latent size grid."""
    metrics = [m for m in KEY_METRICS if m in table and table[m].notna().any()]
    if not metrics or table["weight_decay"].nunique() < 2 or table["latent_size"].nunique() < 2:
        return False
    ncols = min(4, len(metrics))
    nrows = int(np.ceil(len(metrics) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.8 * ncols, 3.0 * nrows), squeeze=False)
    for ax, m in zip(axes.ravel(), metrics):
        grid = table.pivot_table(index="weight_decay", columns="latent_size", values=m, aggfunc="mean")
        im = ax.imshow(grid.to_numpy(dtype=float), aspect="auto", origin="lower", cmap="viridis")
        ax.set_xticks(range(grid.shape[1]), [f"{v:g}" for v in grid.columns], fontsize=6, rotation=90)
        ax.set_yticks(range(grid.shape[0]), [f"{v:g}" for v in grid.index], fontsize=6)
        ax.set_xlabel("latent size L", fontsize=7)
        ax.set_ylabel("weight decay", fontsize=7)
        ax.set_title(m, fontsize=7)
        plt.colorbar(im, ax=ax, shrink=0.8)
    for ax in axes.ravel()[len(metrics) :]:
        ax.axis("off")
    save_figure(fig, path)
    return True


SWEEP_FIGURES = {
    "structure_vs_latent": (
        structure_figure,
        "Structure vs latent size: off-diagonal Frobenius norm of the raw Gram matrix of the "
        "months and of the Roman numerals I..X (mean +- 2 sd over seeds). Large values = the "
        "group's words share directions (linear, PCA-like structure); small = nearly orthogonal.",
    ),
    "pca_snapshots": (
        snapshots_figure,
        "Months PCA (raw vectors, seasonal words as stars) at the smallest and largest latent size of the sweep.",
    ),
    "metrics_vs_weight_decay": (
        lambda t, p: metric_grid(t, "weight_decay", p),
        "Key metrics vs weight decay (mean +- sd over seeds), one line per latent size.",
    ),
    "metrics_vs_latent": (
        lambda t, p: metric_grid(t, "latent_size", p),
        "Key metrics vs latent size (log x), one line per weight decay.",
    ),
    "phase_diagram": (
        wd_latent_phase_figure,
        "Phase diagrams: each key metric (mean over seeds) over weight decay x latent "
        "size; where the geometry switches from ReLU filtering to linear, PCA-like "
        "structure.",
    ),
}


def sweep_figures(table: pd.DataFrame, fig_dir: Path, failed: list[dict[str, str]] | None = None) -> list[Figure]:
    """Every sweep figure the table allows, each on its own (failures appended to ``failed``)."""
    return draw_figures(SWEEP_FIGURES, table, fig_dir, failed)
