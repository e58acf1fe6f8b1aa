"""Figures of one model's analysis: each function reads numbers saved by ``bows.analysis.compute`` and writes
one PNG (``bows.plots.registry`` names them, captions them and draws every one whose numbers exist).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from bows.analysis.compute import Analysis  # noqa: E402
from bows.core.groups import DAYS, MONTHS  # noqa: E402
from bows.plots.common import not_enough_data, num, save_figure  # noqa: E402

_CALENDAR = frozenset(DAYS + MONTHS)
SEASON_COLOURS = {"winter": "tab:blue", "spring": "tab:green", "summer": "tab:red", "autumn": "tab:orange"}


def _missing_note(ax, missing: list[str]) -> None:
    if missing:
        ax.text(0.01, 0.01, "missing: " + ", ".join(missing), transform=ax.transAxes, fontsize=7, color="crimson")


def short_label(word: str) -> str:
    """One label per word in every figure: month and day names as their 3-letter abbreviation (Jan,
    Mon), other words in full up to 10 characters."""
    if word in _CALENDAR:
        return word[:3]
    return word if len(word) <= 10 else word[:9] + "."


def ring_panel(ax, ring: dict, title: str, extra: list[dict] | None = None) -> None:
    if ring.get("reason") or not ring.get("coords"):
        not_enough_data(ax, title, ring.get("reason") or "no coordinates")
        return
    xy = np.array(ring["coords"])[:, :2]
    loop = np.vstack([xy, xy[:1]])
    ax.plot(loop[:, 0], loop[:, 1], "-", color="0.75", lw=1, zorder=1)
    ax.scatter(xy[:, 0], xy[:, 1], c=np.arange(len(xy)), cmap="twilight", s=40, zorder=2)
    for (x, y), w in zip(xy, ring["words"]):
        ax.annotate(short_label(w), (x, y), textcoords="offset points", xytext=(4, 3), fontsize=8)
    for p in extra or []:
        x, y = p["coords"][:2]
        ax.scatter([x], [y], marker="*", s=90, color=SEASON_COLOURS.get(p.get("expected_season") or "", "k"), zorder=3)
        ax.annotate(p["word"], (x, y), textcoords="offset points", xytext=(4, -9), fontsize=7, style="italic")
    ev = ring["explained_variance"]
    ax.set_title(
        f"{title}\nadjacent {num(ring['adjacent_fraction'])} (chance {num(ring['chance_adjacent_fraction'])}), "
        f"circ. rank r {num(ring['circular_rank_corr'])}",
        fontsize=8,
    )
    ax.set_xlabel(f"PC1 ({num(ev[0], '.0%')})", fontsize=8)
    ax.set_ylabel(f"PC2 ({num(ev[1], '.0%')})" if len(ev) > 1 else "PC2", fontsize=8)
    ax.axhline(0, color="0.9", lw=0.5, zorder=0)
    ax.axvline(0, color="0.9", lw=0.5, zorder=0)
    ax.margins(0.15)  # room for the labels of the outermost points


def ring_figure(a: Analysis, group: str, path: Path) -> bool:
    """Raw PCA (PC1-2, seasonal words projected) and PCA of L2-normalised vectors of a cyclic group."""
    section = a.sections.get("groups", {}).get(group, {})
    if "raw" not in section and "ring_reason" not in section:
        return False
    fig, axes = plt.subplots(1, 2, figsize=(9.5, 4.4))
    if "raw" not in section:
        for ax, kind in zip(axes, ("raw", "L2-normalised")):
            not_enough_data(ax, f"{group}: {kind} vectors", section["ring_reason"])
    else:
        ring_panel(axes[0], section["raw"], f"{group}: raw vectors", section.get("seasonal"))
        ring_panel(axes[1], section["normalized"], f"{group}: L2-normalised vectors")
    _missing_note(axes[0], section["missing"] + section.get("seasonal_missing", []))
    save_figure(fig, path)
    return True


def data_ring_figure(a: Analysis, group: str, path: Path) -> bool:
    """The data side: conditional correlation of the group's indicators, and their own PCA ring."""
    section = a.sections.get("groups", {}).get(group, {})
    data = section.get("data", {})
    if "ring" not in data:
        return False
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.2))
    words = data["words"]
    if words:
        _heat(
            axes[0],
            np.array(data["cond_corr"], dtype=float),
            words,
            f"data: {group} correlation\n(windows with >= 1, n={data['windows_with_group']})",
        )
    else:
        not_enough_data(axes[0], f"data: {group} correlation", f"missing: {section.get('missing', [])}")
    if "gram" in section:
        agree = data.get("gram_vs_cond_corr", {}).get("pearson")
        _heat(
            axes[1],
            np.array(section["gram"], dtype=float),
            section["words"],
            f"model: {group} Gram matrix\n(vs data: r = {num(agree)})",
        )
    else:
        not_enough_data(axes[1], f"model: {group} Gram matrix", f"missing: {section.get('missing', [])}")
    ring = {**data["ring"], "words": words}
    ring_panel(axes[2], ring, f"data: PCA of row-centred {group} indicators")
    save_figure(fig, path)
    return True


def _heat(ax, m: np.ndarray, words: list[str], title: str) -> None:
    off = m[~np.eye(len(m), dtype=bool)]
    bound = float(np.nanmax(np.abs(off))) if off.size and np.isfinite(off).any() else 1.0
    im = ax.imshow(m, cmap="RdBu_r", vmin=-bound, vmax=bound)
    short = [short_label(w) for w in words]
    ax.set_xticks(range(len(words)), short, rotation=90, fontsize=7)
    ax.set_yticks(range(len(words)), short, fontsize=7)
    ax.set_title(title, fontsize=8)
    plt.colorbar(im, ax=ax, shrink=0.75)


def groups_figure(a: Analysis, path: Path) -> bool:
    """Model Gram matrix next to the data's conditional correlation for every named group."""
    groups = {k: v for k, v in a.sections.get("groups", {}).items() if "gram" in v}
    if not groups:
        return False
    fig, axes = plt.subplots(2, len(groups), figsize=(3.3 * len(groups), 6.4), squeeze=False)
    for c, (name, s) in enumerate(groups.items()):
        _heat(axes[0, c], np.array(s["gram"], dtype=float), s["words"], f"{name}: model Gram (diag off-scale)")
        data = s.get("data", {})
        if data.get("words"):
            _heat(axes[1, c], np.array(data["cond_corr"], dtype=float), data["words"], f"{name}: data correlation")
        else:
            axes[1, c].axis("off")
        _missing_note(axes[0, c], s["missing"])
    save_figure(fig, path)
    return True


def coactivation_figure(a: Analysis, path: Path) -> bool:
    """Hexbin of interference <w_i, w_j> against the data's phi correlation and PMI of frequent pairs."""
    frame = a.tables.get("coactivation")
    if frame is None or frame.empty:
        return False
    finite = np.isfinite(frame["dot"])
    if not any((np.isfinite(frame[col]) & finite).any() for col in ("corr", "pmi")):
        return False  # nothing to draw (the reasons are in the metrics' unavailable section)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
    for ax, col, label in ((axes[0], "corr", "data correlation (phi)"), (axes[1], "pmi", "PMI (nats)")):
        ok = np.isfinite(frame[col]) & np.isfinite(frame["dot"])
        if not ok.any():  # e.g. no pair co-occurs in any window: nothing to bin
            not_enough_data(ax, label, f"no pair with a finite {col} and <w_i, w_j>")
            continue
        hb = ax.hexbin(frame.loc[ok, col], frame.loc[ok, "dot"], gridsize=60, bins="log", cmap="viridis", mincnt=1)
        plt.colorbar(hb, ax=ax, label="pairs (log)")
        r = num(a.metrics.get(f"coactivation/pearson_dot_{col}"))
        rho = num(a.metrics.get(f"coactivation/spearman_dot_{col}"))
        ax.set_xlabel(label)
        ax.set_ylabel("<w_i, w_j>")
        ax.axhline(0, color="w", lw=0.5)
        ax.set_title(
            f"Pearson r {r}, Spearman {rho} ({num(a.metrics.get('coactivation/pairs'), 'd')} pairs)", fontsize=9
        )
    save_figure(fig, path)
    return True


def umap_figure(a: Analysis, path: Path) -> bool:
    """UMAP of all word vectors, coloured by semantic category (uncategorised words grey)."""
    frame = a.tables.get("umap")
    if frame is None:
        return False
    fig, ax = plt.subplots(figsize=(8.5, 7))
    rest = frame["category"] == ""
    ax.scatter(frame.loc[rest, "x"], frame.loc[rest, "y"], s=2, c="0.85", lw=0, label="other")
    colours = [*matplotlib.color_sequences["tab10"], "black", "gold", "cyan", "lime"]
    for k, (name, sub) in enumerate(frame[~rest].groupby("category", sort=True)):
        ax.scatter(sub["x"], sub["y"], s=9, color=colours[k % len(colours)], lw=0, label=f"{name} ({len(sub)})")
    knn = a.sections.get("clusters", {}).get("knn", {})
    umap = a.sections.get("clusters", {}).get("umap") or {}
    params = f", {umap['n_neighbors']} nn, min_dist {umap['min_dist']}" if umap else ""
    if knn:
        ax.set_title(
            f"UMAP (cosine{params}): {knn['k']}-NN category purity {num(knn['purity'])} "
            f"vs shuffled {num(knn['baseline_mean'])} +- {num(knn['baseline_sd'])}",
            fontsize=9,
        )
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(fontsize=7, markerscale=2, loc="center left", bbox_to_anchor=(1.0, 0.5))
    save_figure(fig, path)
    return True


def dimensionality_figure(a: Analysis, path: Path) -> bool:
    """Feature dimensionality D_i: its distribution and its relation to word frequency."""
    frame = a.tables.get("dimensionality")
    if frame is None:
        return False
    alive = frame[frame["norm2"] > 1e-8]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    axes[0].hist(alive["dimensionality"], bins=60, color="tab:blue")
    axes[0].set_xlabel("D_i = |w_i|^2 / sum_j (w_i_hat . w_j)^2")
    axes[0].set_ylabel("words")
    axes[0].set_title(
        f"mean D {num(a.metrics.get('dimensionality/mean'), '.3f')}, "
        f"sum D {num(a.metrics.get('dimensionality/sum'), '.1f')}",
        fontsize=9,
    )
    if alive["freq"].notna().any():
        axes[1].scatter(alive["freq"].clip(lower=1e-7), alive["dimensionality"], s=3, alpha=0.4)
        axes[1].set_xscale("log")
        axes[1].set_xlabel("word frequency (share of windows)")
        axes[1].set_ylabel("D_i")
        axes[1].set_title(f"Spearman(D, freq) {num(a.metrics.get('dimensionality/spearman_freq'))}", fontsize=9)
    save_figure(fig, path)
    return True
