"""Figures of the city map (``bows.experiments.citymap``): predicted vs true city positions, and
compass accuracy under the probe-subspace ablations. Each function writes one PNG."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from bows.plots.common import plt, save_figure


def map_figure(path: Path, table: pd.DataFrame, scores: dict[str, float]) -> None:
    """True positions vs probe predictions (held-out cities joined to their prediction)."""
    fig, ax = plt.subplots(figsize=(9, 5.5))
    train, held = table[~table.held_out], table[table.held_out]
    ax.scatter(train.lon, train.lat, s=4, c="0.8", label="training cities (true)")
    ax.plot(np.stack([held.lon, held.pred_lon]), np.stack([held.lat, held.pred_lat]), c="tab:red", lw=0.5, alpha=0.6)
    ax.scatter(held.lon, held.lat, s=8, c="black", label="held-out cities (true)")
    ax.scatter(held.pred_lon, held.pred_lat, s=8, c="tab:red", label="held-out cities (probe)")
    ax.set_xlabel("longitude")
    ax.set_ylabel("latitude")
    ax.set_title(
        f"Ridge probe of compass-trained city embeddings: held-out R^2 {scores['r2']:.3f}, "
        f"median error {scores['km_median']:.0f} km",
        fontsize=9,
    )
    ax.legend(fontsize=8, loc="lower left")
    ax.set_aspect(1.25)
    save_figure(fig, path)


def ablation_figure(path: Path, accuracy: dict[str, float], ablations: Sequence[str], directions: int) -> None:
    """Validation compass accuracy for each probe-subspace ablation (with chance levels)."""
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.bar(ablations, [accuracy[k] for k in ablations], color=["tab:blue", "tab:red", "tab:orange", "tab:green", "0.6"])
    ax.axhline(1 / directions, ls=":", c="k", lw=1, label=f"uniform chance (1/{directions})")
    ax.axhline(accuracy["majority_class"], ls="--", c="k", lw=1, label="majority class")
    for i, k in enumerate(ablations):
        ax.text(i, accuracy[k] + 0.01, f"{accuracy[k]:.2f}", ha="center", fontsize=8)
    ax.set_ylim(0, 1.2)
    ax.set_yticks(np.linspace(0, 1, 6))
    ax.set_ylabel("validation compass accuracy")
    ax.set_title("Ablating the probe's 2-d subspace in the city embeddings", fontsize=9)
    ax.legend(fontsize=7, loc="upper center", ncol=2)
    save_figure(fig, path)
