"""Figures of the data diagnostics and of structure discovery: window-size scan (ring / line score of
each word group against G, one line per row segmentation) and the discovery gallery (each found
group's PCA with its words). Numbers in, PNG out (saved atomically through ``save_figure``)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from bows.plots.common import not_enough_data, save_figure  # noqa: E402

SCORE_LABEL = {
    "adjacent_fraction": "calendar neighbours on the data ring (share)",
    "line_spearman": "|Spearman| PC1 vs natural order",
    "shape_ring": "label-free ring shape",
    "explained_pc1": "label-free line: PC1 share of variance",
    "fourier_share": "share in the cyclic Fourier mode (few words)",
}


def window_scan_figure(table: pd.DataFrame | None, path: Path, summary: dict | None = None) -> bool:
    """One panel per group: its primary score against G (log x), one line per segmentation; dashed:
    chance; the configured setting circled."""
    if table is None or table.empty:
        return False
    names = list(dict.fromkeys(table["group"]))
    cols = min(5, len(names))
    rows = int(np.ceil(len(names) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.3 * cols, 2.8 * rows), squeeze=False)
    segs = sorted(table["sentences_per_row"].dropna().unique().tolist())
    colors = plt.get_cmap("viridis")(np.linspace(0, 0.9, max(len(segs), 1)))
    for ax, name in zip(axes.ravel(), names):
        frame = table[table["group"] == name]
        title = f"{name} ({frame['kind'].iloc[0]})"
        drawable = frame[np.isfinite(frame["score"].astype(float)) & (frame["group_size"] > 0)]
        if drawable.empty:  # nothing measurable at any G: say why instead of an empty log axis
            reasons = frame["reason"].dropna().astype(str) if "reason" in frame else pd.Series(dtype=str)
            not_enough_data(ax, title, reasons.iloc[-1] if len(reasons) else "no finite score at any window size")
            continue
        frame = drawable
        for color, seg in zip(colors, segs or [None]):
            part = frame if seg is None else frame[frame["sentences_per_row"] == seg]
            ax.plot(
                part["group_size"],
                part["score"].astype(float),
                "o-",
                color=color,
                ms=3,
                label=f"{int(seg)} sent./row" if seg is not None else "as configured",
            )
        chance = frame["chance"].iloc[0]
        if chance is not None and np.isfinite(chance):
            ax.axhline(chance, color="grey", ls="--", lw=0.8)
        if summary is not None:
            g, s = summary.get("group_size"), summary.get("sentences_per_row")
            here = frame[(frame["group_size"] == g) & ((frame["sentences_per_row"] == s) if s is not None else True)]
            if len(here):
                ax.plot(here["group_size"], here["score"].astype(float), "o", ms=10, mfc="none", mec="crimson")
        ax.set_xscale("log")
        ax.set_xticks(sorted(frame["group_size"].unique()))
        ax.set_xticklabels([str(g) for g in sorted(frame["group_size"].unique())], fontsize=7)
        ax.set_ylim(-0.05, 1.05)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("window size G (rows)", fontsize=8)
        ax.set_ylabel(SCORE_LABEL.get(frame["primary"].iloc[0], frame["primary"].iloc[0]), fontsize=7)
    for ax in axes.ravel()[len(names) :]:
        ax.axis("off")
    drawn = [ax for ax in axes.ravel() if ax.get_lines()]
    if drawn:
        drawn[0].legend(fontsize=6, loc="best")
    fig.suptitle(
        "Data diagnostics: how strongly the windows' co-occurrence supports each group's ring / line "
        "(dashed: chance; circled: configured)",
        fontsize=9,
    )
    save_figure(fig, Path(path))
    return True


def gallery_figure(
    found: pd.DataFrame | None, path: Path, title: str, n: int = 12, reference: dict | None = None
) -> bool:
    """The top found groups (rings first, then lines, then clusters): each group's PC1-2 with its words,
    rings joined in angular order. ``reference``: a discovery evaluation (``discovery.evaluate``); its
    labelled groups' own PCA follow in grey panels with their ring z and p (for comparison only)."""
    found = found if found is not None else pd.DataFrame(columns=["shape", "rank"])
    order = {"ring": 0, "line": 1, "cluster": 2}
    frame = found.assign(_o=found["shape"].map(order)).sort_values(["_o", "rank"]).head(n)
    panels = [
        {
            "x": np.asarray(row["pc1"]),
            "y": np.asarray(row["pc2"]),
            "words": row["words"].split(),
            "shape": row["shape"],
            "title": f"{row['shape']} #{row['rank']}: z={row['z']:.1f}, {row['size']} words",
        }
        for _, row in frame.iterrows()
    ]
    for name, entry in (reference or {}).items():
        own = entry.get("own")
        if own and own.get("pc1") is not None:
            panels.append(
                {
                    "x": np.asarray(own["pc1"]),
                    "y": np.asarray(own["pc2"]),
                    "words": own["words"].split(),
                    "shape": "reference",
                    "title": f"{name} (labelled, not searched): ring z={own['ring_z']:.1f}, p={own['ring_p']:.3f}",
                }
            )
    if not panels:
        return False
    cols = min(4, len(panels))
    rows = int(np.ceil(len(panels) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 3.3 * rows), squeeze=False)
    colours = {"ring": "tab:red", "line": "tab:blue", "cluster": "tab:green", "reference": "dimgrey"}
    for ax, panel in zip(axes.ravel(), panels):
        x, y = panel["x"], panel["y"]
        if panel["shape"] in ("ring", "reference"):
            ax.plot(np.append(x, x[:1]), np.append(y, y[:1]), "-", color="lightgrey", lw=0.8)
        ax.scatter(x, y, s=12, color=colours[panel["shape"]])
        for xi, yi, w in zip(x, y, panel["words"]):
            ax.annotate(w, (xi, yi), fontsize=6, alpha=0.85)
        ax.set_title(panel["title"], fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes.ravel()[len(panels) :]:
        ax.axis("off")
    fig.suptitle(title, fontsize=9)
    save_figure(fig, Path(path))
    return True


def bars_text(thresholds: dict | None) -> str:
    """The z a found group had to pass, per shape (empty when unknown)."""
    if not thresholds:
        return ""
    return "; bars: " + ", ".join(f"{shape} z >= {bar:.1f}" for shape, bar in thresholds.items())


def data_gallery_figure(found: pd.DataFrame, path: Path, summary: dict | None = None) -> bool:
    discovery = (summary or {}).get("discovery") or {}
    return gallery_figure(
        found,
        path,
        "Structures found without labels in the data's co-occurrence (PPMI-SVD candidates, phi shapes); "
        "z against random word sets of the same size and frequency" + bars_text(discovery.get("thresholds")),
        reference=discovery.get("evaluation"),
    )
