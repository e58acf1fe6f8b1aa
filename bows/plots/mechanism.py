"""Figures of the mechanism analyses (SPEC 5.6): held-out vs one-hot R^2, pre-activation
distributions of target words, decomposition towers, and Christmas vs each month. Each function
reads numbers saved by ``bows.analysis.compute`` and writes one PNG.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from bows.analysis.compute import Analysis  # noqa: E402
from bows.plots.common import num, save_figure  # noqa: E402

PARTS = (
    ("bias", "0.6"),
    ("self", "tab:blue"),
    ("correlated", "tab:green"),
    ("uncorrelated", "tab:orange"),
    ("other", "tab:purple"),
)


def _save(fig, path: Path) -> None:
    save_figure(fig, path)


def _target_label(a: Analysis, t: str) -> str:
    subs = {v: k for k, v in a.sections.get("mechanism", {}).get("substitutes", {}).items()}
    return f"{t} (substitute for missing {subs[t]!r})" if t in subs else t


def r2_figure(a: Analysis, path: Path, floor: float = -0.5) -> bool:
    """Held-out R^2 against one-hot R^2 per word (values below ``floor`` drawn at the edge); the
    frequent words with the largest gap are labelled."""
    table = a.tables.get("r2")
    if table is None:
        return False
    ok = table[table["r2"].notna()]
    x, y = ok["onehot_r2"].clip(lower=floor), ok["r2"].clip(lower=floor)
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    sc = ax.scatter(x, y, s=4, c=np.log10(ok["count"].clip(lower=1)), cmap="viridis", alpha=0.6)
    plt.colorbar(sc, ax=ax, label="log10 held-out windows with the word")
    ax.plot([floor, 1], [floor, 1], "k--", lw=0.7)
    frequent = ok[ok["count"] >= 20]
    for i, (_, row) in enumerate(frequent.head(10).iterrows()):
        ax.annotate(
            row["word"],
            (max(row["onehot_r2"], floor), max(row["r2"], floor)),
            fontsize=7,
            xytext=(6, -10 * (i % 4)),
            textcoords="offset points",
        )
    ax.set_xlim(floor - 0.03, 1.02)
    ax.set_ylim(floor - 0.03, 1.02)
    ax.set_xlabel("one-hot R^2 (word alone)")
    ax.set_ylabel("held-out R^2 (real windows)")
    clipped = int(((ok["onehot_r2"] < floor) | (ok["r2"] < floor)).sum())
    ax.set_title(
        f"median held-out R^2 {num(a.metrics.get('mechanism/r2_median'))}, "
        f"one-hot {num(a.metrics.get('mechanism/onehot_r2_median'))}"
        f"\n{clipped} words below {floor} drawn at the edge; labels: largest gap, >= 20 windows",
        fontsize=8,
    )
    _save(fig, path)
    return True


def preactivation_figure(a: Analysis, path: Path) -> bool:
    """Histogram of z_t over held-out windows containing t, with the one-hot value and zero."""
    z = a.tables.get("preactivations")
    section = a.sections.get("mechanism", {})
    if z is None or not section.get("targets"):
        return False
    targets = section["targets"]
    fig, axes = plt.subplots(1, len(targets), figsize=(4.2 * len(targets), 3.6), squeeze=False)
    for ax, t in zip(axes[0], targets):
        info = section["per_target"][t]
        values = z.loc[z["target"] == t, "z"].astype(float)
        values = values[np.isfinite(values)]
        if len(values):
            ax.hist(values, bins=40, color="tab:blue", alpha=0.8)
        ax.axvline(0, color="k", lw=1, label="ReLU threshold")
        if info.get("onehot") is not None and np.isfinite(info["onehot"]):
            ax.axvline(info["onehot"], color="crimson", ls="--", lw=1.2, label="one-hot b_t + |w_t|^2")
        share = info["share_above_zero"]
        ax.set_title(
            f"{_target_label(a, t)}\n{info['windows']} windows, {num(share, '.0%')} above 0"
            if share is not None
            else f"{t}: no held-out windows",
            fontsize=8,
        )
        ax.set_xlabel("z_t")
        ax.legend(fontsize=6)
    _save(fig, path)
    return True


def towers_figure(a: Analysis, path: Path) -> bool:
    """Stacked contributions to z_t (bias, self, correlated, uncorrelated, other context) per input."""
    frame = a.tables.get("towers")
    section = a.sections.get("mechanism", {})
    if frame is None or frame.empty:
        return False
    targets = list(dict.fromkeys(frame["target"]))
    fig, axes = plt.subplots(1, len(targets), figsize=(4.6 * len(targets), 4.4), squeeze=False)
    for ax, t in zip(axes[0], targets):
        sub = frame[frame["target"] == t].reset_index(drop=True)
        x = np.arange(len(sub))
        pos, neg = np.zeros(len(sub)), np.zeros(len(sub))
        for part, colour in PARTS:
            v = sub[part].to_numpy(dtype=float)
            base = np.where(v >= 0, pos, neg)
            ax.bar(x, v, bottom=base, color=colour, label=part, width=0.7)
            pos, neg = pos + np.clip(v, 0, None), neg + np.clip(v, None, 0)
        ax.scatter(x, sub["total"], color="k", marker="_", s=300, zorder=3, label="z_t (sum)")
        ax.axhline(0, color="k", lw=0.8)
        ax.set_xticks(x, sub["input"], rotation=35, ha="right", fontsize=7)
        info = section.get("per_target", {}).get(t, {})
        ax.set_title(
            f"{_target_label(a, t)}\ncorr: {', '.join(info.get('correlated', []))}\n"
            f"uncorr: {', '.join(info.get('uncorrelated', []))}",
            fontsize=7,
        )
    axes[0, 0].set_ylabel("contribution to z_t")
    axes[0, -1].legend(fontsize=6, loc="best")
    _save(fig, path)
    return True


def christmas_figure(a: Analysis, path: Path) -> bool:
    """<w_Christmas, w_month> per month next to the data correlation of Christmas with each month."""
    frame = a.tables.get("christmas_months")
    if frame is None:
        return False
    fig, ax = plt.subplots(figsize=(7.5, 3.8))
    x = np.arange(len(frame))
    ax.bar(x - 0.2, frame["dot"], width=0.4, color="tab:red", label="<w_Christmas, w_month>")
    ax.set_ylabel("interference")
    ax.set_xticks(x, [w[:3] for w in frame["word"]])
    if "data_corr" in frame:
        ax2 = ax.twinx()
        ax2.bar(x + 0.2, frame["data_corr"], width=0.4, color="tab:gray", label="data correlation")
        ax2.set_ylabel("data phi correlation")
        ax2.legend(fontsize=7, loc="upper center")
        bound = float(np.nanmax(np.abs(frame["data_corr"]))) if frame["data_corr"].notna().any() else 0.0
        ax2.set_ylim(-1.1 * bound - 1e-9, 1.1 * bound + 1e-9)  # both axes symmetric: zeros line up
    bound = float(np.nanmax(np.abs(frame["dot"]))) if frame["dot"].notna().any() else 0.0
    ax.set_ylim(-1.1 * bound - 1e-9, 1.1 * bound + 1e-9)
    ax.axhline(0, color="k", lw=0.6)
    ax.legend(fontsize=7, loc="upper left")
    missing = a.sections.get("mechanism", {}).get("christmas_vs_months", {}).get("missing_months", [])
    ax.set_title("Christmas vs each month" + (f" (missing: {', '.join(missing)})" if missing else ""), fontsize=9)
    _save(fig, path)
    return True
