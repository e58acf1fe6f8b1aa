"""Figures of a sweep (``bows.plots.registry`` names and captions them), chosen by which axes vary (reads the sweep's per-run metric table and the runs'
saved analyses; writes one PNG per figure).

Axes are weight decay, latent size and learning rate; seeds are replicates (mean +- 2 sd, every seed
drawn as a point). One varying axis: each key metric, eval loss included, against the swept value.
Two: heatmaps over the grid (and the 1-D panels with one line per value of the other axis). Month
PCA snapshots across the swept values; structure vs latent size when L varies (SPEC 5.5).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from bows.analysis.store import AnalysisFiles  # noqa: E402
from bows.plots.common import save_figure  # noqa: E402
from bows.plots.figures import ring_panel  # noqa: E402

log = logging.getLogger(__name__)
AXES = {"weight_decay": "weight decay", "latent_size": "latent size L", "lr": "learning rate"}
LOG_AXES = ("latent_size", "lr")
KEY_METRICS = (
    "eval_loss",
    "geometry/months/ring_score",
    "geometry/days/ring_score",
    "data/months/gram_vs_cond_corr",
    "coactivation/pearson_dot_corr",
    "clusters/knn_purity",
    "dimensionality/mean",
    "mechanism/r2_median",
    "mechanism/gap_median",
)
METRIC_LABELS = {
    "eval_loss": "eval loss (held-out MSE)",
    "geometry/months/ring_score": "months ring score",
    "geometry/days/ring_score": "days ring score",
    "data/months/gram_vs_cond_corr": "months Gram vs data corr (r)",
    "coactivation/pearson_dot_corr": "interference vs co-activation (r)",
    "clusters/knn_purity": "kNN category purity",
    "dimensionality/mean": "mean feature dimensionality",
    "mechanism/r2_median": "median held-out R^2",
    "mechanism/gap_median": "median R^2 gap (context)",
}
STRUCTURE = (
    ("geometry/months/offdiag_frobenius", "months"),
    ("geometry/roman/offdiag_frobenius", "Roman numerals I..X"),
)
MAX_SNAPSHOTS = 6  # PCA panels per axis


def varying_axes(table: pd.DataFrame) -> list[str]:
    """The swept axes of a sweep table (weight decay first), seeds excluded (they are replicates)."""
    return [a for a in AXES if a in table and table[a].nunique() > 1]


def sweep_title(table: pd.DataFrame, group: str | None = None) -> str:
    """What the sweep is: its group, swept axes with their values, fixed settings, corpus, steps, seeds."""
    axes = varying_axes(table)
    parts = [f"{AXES[a]} {', '.join(f'{v:g}' for v in sorted(table[a].unique()))}" for a in axes]
    for a in AXES:
        if a in table and a not in axes and table[a].notna().any():
            parts.append(f"{a.split('_')[-1] if a != 'latent_size' else 'L'}={table[a].iloc[0]:g}")
    if "steps" in table and table["steps"].notna().any():
        parts.append(f"{int(table['steps'].max()):,} steps")
    if "corpus" in table and table["corpus"].notna().any():
        parts.append(f"corpus {table['corpus'].iloc[0]}")
    if "seed" in table:
        parts.append(f"{table['seed'].nunique()} seed(s)")
    head = f"{group}: " if group else ""
    return head + "; ".join(parts)


def _metrics(table: pd.DataFrame) -> list[str]:
    return [m for m in KEY_METRICS if m in table and pd.to_numeric(table[m], errors="coerce").notna().any()]


def _grid(n: int, ncols: int = 4) -> tuple[int, int]:
    ncols = min(ncols, n)
    return int(np.ceil(n / ncols)), ncols


def _mean_2sd(ax, sub: pd.DataFrame, x: str, m: str, label: str | None, colour=None) -> None:
    """Mean +- 2 sd over seeds (error bars) and every run as a faint point."""
    values = pd.to_numeric(sub[m], errors="coerce")
    frame = pd.DataFrame({"x": sub[x].astype(float), "y": values}).dropna()
    if frame.empty:
        return
    agg = frame.groupby("x")["y"].agg(["mean", "std"]).reset_index()
    line = ax.errorbar(
        agg["x"], agg["mean"], yerr=2 * agg["std"].fillna(0.0), marker="o", ms=4, capsize=3, label=label, color=colour
    )
    ax.scatter(frame["x"], frame["y"], s=10, alpha=0.35, color=line[0].get_color(), zorder=3)


def metric_grid(table: pd.DataFrame, x: str, path: Path) -> bool:
    """Each key metric (eval loss first) vs the swept ``x``: mean +- 2 sd over seeds; when a second axis
    varies, one line per value of it."""
    metrics = _metrics(table)
    if x not in varying_axes(table) or not metrics:
        return False
    others = [a for a in varying_axes(table) if a != x]
    other = others[0] if others else None
    nrows, ncols = _grid(len(metrics))
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.7 * ncols, 3.0 * nrows), squeeze=False)
    for ax, m in zip(axes.ravel(), metrics):
        if other is None:
            _mean_2sd(ax, table, x, m, None)
        else:
            colours = plt.get_cmap("viridis")(np.linspace(0, 0.9, table[other].nunique()))
            for colour, (value, sub) in zip(colours, table.groupby(other)):
                _mean_2sd(ax, sub, x, m, f"{'L' if other == 'latent_size' else other} {value:g}", colour)
        if x in LOG_AXES:
            ax.set_xscale("log")
        elif (table[x] >= 0).all() and table[x].max() > 20 * max(table[x][table[x] > 0].min(), 1e-12):
            ax.set_xscale("symlog", linthresh=float(table[x][table[x] > 0].min()))
        ax.set_title(METRIC_LABELS.get(m, m), fontsize=8)
        ax.set_xlabel(AXES[x], fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    if other is not None:
        axes.ravel()[0].legend(fontsize=6, title=AXES[other], title_fontsize=6)
    for ax in axes.ravel()[len(metrics) :]:
        ax.axis("off")
    save_figure(fig, path)
    return True


def phase_figure(table: pd.DataFrame, path: Path) -> bool:
    """Two varying axes: a heatmap per key metric (mean over seeds), the value written in each cell."""
    axes_varying = varying_axes(table)
    metrics = _metrics(table)
    if len(axes_varying) != 2 or not metrics:
        return False
    y, x = axes_varying  # weight decay on y when it varies
    nrows, ncols = _grid(len(metrics), 3)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.4 * ncols, 3.6 * nrows), squeeze=False)
    for ax, m in zip(axes.ravel(), metrics):
        frame = table.assign(_v=pd.to_numeric(table[m], errors="coerce"))
        grid = frame.pivot_table(index=y, columns=x, values="_v", aggfunc="mean")
        values = grid.to_numpy(dtype=float)
        im = ax.imshow(values, aspect="auto", origin="lower", cmap="viridis")
        for (i, j), v in np.ndenumerate(values):
            if np.isfinite(v):
                ax.text(j, i, f"{v:.3g}", ha="center", va="center", fontsize=6, color="w")
        ax.set_xticks(range(grid.shape[1]), [f"{v:g}" for v in grid.columns], fontsize=7)
        ax.set_yticks(range(grid.shape[0]), [f"{v:g}" for v in grid.index], fontsize=7)
        ax.set_xlabel(AXES[x], fontsize=8)
        ax.set_ylabel(AXES[y], fontsize=8)
        ax.set_title(METRIC_LABELS.get(m, m), fontsize=8)
        plt.colorbar(im, ax=ax, shrink=0.8).ax.tick_params(labelsize=6)
    for ax in axes.ravel()[len(metrics) :]:
        ax.axis("off")
    save_figure(fig, path)
    return True


def structure_figure(table: pd.DataFrame, path: Path) -> bool:
    """Off-diagonal Frobenius norm of the months / Roman numerals Gram matrix vs L, mean +- 2 sd over seeds."""
    cols = [(c, label) for c, label in STRUCTURE if c in table]
    if not cols or "latent_size" not in varying_axes(table):
        return False
    fig, axes = plt.subplots(1, len(cols), figsize=(5 * len(cols), 3.8), squeeze=False)
    for ax, (col, label) in zip(axes[0], cols):
        for wd, sub in table.groupby("weight_decay"):
            _mean_2sd(ax, sub, "latent_size", col, f"wd {wd:g}")
        ax.set_xscale("log")
        ax.set_xlabel("latent size L (log)", fontsize=8)
        ax.set_ylabel("off-diagonal |G|_F", fontsize=8)
        ax.set_title(f"{label}: mean +- 2 sd over seeds", fontsize=9)
        ax.legend(fontsize=7)
    save_figure(fig, path)
    return True


def _spread(values: list, n: int) -> list:
    """At most ``n`` values, evenly spread and always including the first and the last."""
    if len(values) <= n:
        return values
    return [values[i] for i in np.unique(np.linspace(0, len(values) - 1, n).round().astype(int))]


def snapshots_figure(table: pd.DataFrame, path: Path) -> bool:
    """Months PCA (first seed) across the swept values: one row per value of the second axis, if any
    (a single panel when nothing varies but seeds)."""
    axes_varying = varying_axes(table)
    x = axes_varying[0] if axes_varying else None
    y = axes_varying[1] if len(axes_varying) > 1 else None
    xs = _spread(sorted(table[x].unique()), MAX_SNAPSHOTS) if x else [None]
    ys = _spread(sorted(table[y].unique()), MAX_SNAPSHOTS) if y else [None]
    panels = {}
    for yi, yv in enumerate(ys):
        for xi, xv in enumerate(xs):
            mask = pd.Series(True, index=table.index)
            if x:
                mask &= table[x] == xv
            if y:
                mask &= table[y] == yv
            sub = table[mask]
            if sub.empty:
                continue
            row = sub.sort_values("seed").iloc[0]
            groups = Path(row["analysis_dir"]) / AnalysisFiles.GROUPS
            if groups.is_file():
                section = json.loads(groups.read_text()).get("months", {})
                if "raw" in section:
                    panels[yi, xi] = (row, section)
    if not panels:
        return False
    fig, axes = plt.subplots(len(ys), len(xs), figsize=(3.9 * len(xs), 3.9 * len(ys)), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for (yi, xi), (row, section) in panels.items():
        ax: Any = axes[yi, xi]
        ax.axis("on")
        label = f"L={row['latent_size']:g}, wd={row['weight_decay']:g}, seed {row['seed']}"
        ring_panel(ax, section["raw"], label, section.get("seasonal"))
        ax.tick_params(labelsize=6)
    save_figure(fig, path)
    return True
