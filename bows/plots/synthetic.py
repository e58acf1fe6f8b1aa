"""Figures of the synthetic experiments; each function reads numbers already computed and writes one PNG."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from bows.experiments.synthetic_data import normalised_gram  # noqa: E402
from bows.plots.common import save_figure  # noqa: E402

GRAM_ROWS = (("linear", 1.0), ("relu", 1.0), ("relu", 6.0))  # the paper's three rows


def _matrix(ax, matrix: np.ndarray, title: str) -> None:
    """One heat map with its own symmetric colour scale (fitted per panel)."""
    scale = float(np.abs(matrix).max()) or 1.0
    ax.imshow(matrix, cmap="RdBu_r", vmin=-scale, vmax=scale, interpolation="nearest")
    ax.set_title(title, fontsize=7)
    ax.set_xticks([])
    ax.set_yticks([])


def gram_figure(
    path: Path,
    structure: str,
    cov: np.ndarray,
    weights: dict[tuple[str, float, int], np.ndarray],
    metrics: pd.DataFrame,
    rows: tuple[tuple[str, float], ...] = GRAM_ROWS,
) -> None:
    """Data covariance (first column) next to W^T W / |W|_F^2 for every L; one row per (output, wd)."""
    rows = tuple(r for r in rows if any(k[:2] == r for k in weights))
    sizes = sorted({k[2] for k in weights})
    fig, axes = plt.subplots(
        len(rows), len(sizes) + 1, figsize=(1.25 * (len(sizes) + 1), 1.45 * len(rows) + 0.4), squeeze=False
    )
    for r, (output, wd) in enumerate(rows):
        _matrix(axes[r, 0], cov, "data covariance")
        axes[r, 0].set_ylabel(f"{'Linear' if output == 'linear' else 'ReLU'} wd {wd:g}", fontsize=8)
        for c, latent in enumerate(sizes, start=1):
            row = metrics[(metrics.output == output) & (metrics.weight_decay == wd) & (metrics.latent == latent)]
            corr = row.gram_cov_corr.iloc[0] if len(row) else float("nan")
            _matrix(axes[r, c], normalised_gram(weights[(output, wd, latent)]), f"L={latent}  r={corr:.2f}")
    fig.suptitle(
        f"{structure}: data covariance vs normalised Gram (colour scale per panel; r = off-diagonal "
        "correlation with the covariance)",
        fontsize=8,
    )
    save_figure(fig, path)


def metrics_figure(path: Path, structure: str, metrics: pd.DataFrame) -> None:
    """Gram-covariance correlations and antipodal fraction against L, one line per (output, wd)."""
    panels = (
        ("gram_cov_corr", "corr(Gram, covariance)"),
        ("gram_cov_rank_corr", "corr(Gram, rank-L covariance)"),
        ("gram_projector_corr", "corr(Gram, top-L PCA projector)"),
        ("antipodal_fraction", "features with a partner at cos < -0.7"),
    )
    fig, axes = plt.subplots(1, len(panels), figsize=(3.8 * len(panels), 3.2))
    for (output, wd), group in metrics.groupby(["output", "weight_decay"]):
        group = group.sort_values("latent")
        for ax, (column, _) in zip(axes, panels):
            ax.plot(
                group.latent,
                group[column],
                marker="o",
                ms=3,
                label=f"{output} wd {wd:g}",
                ls="-" if output == "relu" else "--",
            )
    for ax, (_, title) in zip(axes, panels):
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("latent size L")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle(f"{structure}", fontsize=9)
    save_figure(fig, path)


def sparsity_phase_figure(path: Path, structure: str, phase: pd.DataFrame) -> None:
    """Heat maps over (base log-odds, sharpness): Gram-covariance correlation and antipodal fraction,
    one column per (L, weight decay) of the ReLU models, with the mean activation on the left."""
    sharp = sorted(phase.sharpness.unique())
    base = sorted(phase.base_log_odds.unique(), reverse=True)
    combos = sorted({(int(latent), float(wd)) for latent, wd in zip(phase["latent"], phase["weight_decay"])})
    panels = (
        ("gram_cov_corr", "corr(Gram, cov)", "RdBu_r", (-1, 1)),
        ("antipodal_fraction", "antipodal fraction", "viridis", (0, 1)),
        ("antipodal_uncorrelated_fraction", "antipodal, pair not anti-correlated", "viridis", (0, 1)),
    )
    fig, axes = plt.subplots(
        len(panels), len(combos) + 1, figsize=(2.6 * (len(combos) + 1), 2.5 * len(panels)), squeeze=False
    )
    first = phase.drop_duplicates(["sharpness", "base_log_odds"])
    activity = first.pivot(index="base_log_odds", columns="sharpness", values="mean_activation").loc[base, sharp]
    _heat(axes[0, 0], activity.to_numpy(), sharp, base, "mean activation", "Greys", (0, 1))
    for r in range(1, len(panels)):
        axes[r, 0].axis("off")
    for c, (latent, wd) in enumerate(combos, start=1):
        cell = phase[(phase.latent == latent) & (phase.weight_decay == wd)]
        for r, (column, title, cmap, lim) in enumerate(panels):
            grid = cell.pivot(index="base_log_odds", columns="sharpness", values=column).loc[base, sharp]
            _heat(axes[r, c], grid.to_numpy(), sharp, base, f"{title}\nReLU L={latent} wd {wd:g}", cmap, lim)
    fig.suptitle(
        f"{structure}: linear superposition (Gram follows covariance) vs toy-model geometry (antipodal pairs)",
        fontsize=9,
    )
    save_figure(fig, path)


def _heat(ax, grid: np.ndarray, sharp: list, base: list, title: str, cmap: str, lim: tuple[float, float]) -> None:
    ax.imshow(grid, cmap=cmap, vmin=lim[0], vmax=lim[1], aspect="auto")
    dark_when_high = cmap == "Greys"  # viridis is dark when low; RdBu_r is light in the middle
    for (i, j), value in np.ndenumerate(grid):
        high = value > 0.5 * (lim[0] + lim[1])
        dark = (abs(value) > 0.6) if cmap == "RdBu_r" else (high if dark_when_high else not high)
        ax.text(
            j,
            i,
            "-" if np.isnan(value) else f"{value:.2f}",
            ha="center",
            va="center",
            fontsize=6,
            color="white" if dark else "black",
        )
    ax.set_xticks(range(len(sharp)), [f"{s:g}" for s in sharp], fontsize=7)
    ax.set_yticks(range(len(base)), [f"{b:g}" for b in base], fontsize=7)
    ax.set_xlabel("sharpness", fontsize=7)
    ax.set_ylabel("base log-odds", fontsize=7)
    ax.set_title(title, fontsize=7)
