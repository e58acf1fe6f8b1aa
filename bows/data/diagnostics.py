"""Pure data diagnostics: how strongly the *data* supports a ring or a line for a word group, as a
function of the window size G (and, run per corpus build, of the row segmentation). No I/O.

Per-row indicators of only the group's words are built once (rows x k, k = group size); for every G
the windowed union is two lookups in their per-segment cumulative sums (``union = cs[end] - cs[start]
> 0``), so a scan over many G never rebuilds the full windows. On the windows that hold at least one
group word the indicators are row-centred and their Gram matrix M (k x k) is the data's own PCA of
the group (SPEC 5.2). From M:

- ``adjacent_fraction`` / ``circular_rank_corr``: the ring score of the PC1-2 angles (as for W).
- ``fourier_share``: share of M's trace in the first Fourier mode of the natural cyclic order
  (cos, sin of 2 pi i / k): a continuous ring strength; chance (isotropic M) is 2 / (k - 1).
- ``line_share``: share of M's trace along the centred natural order (i - mean): a line strength;
  chance 1 / (k - 1). ``line_spearman``: |Spearman| between PC1 and the natural order.
- ``corr_adjacent_fraction`` / ``corr_circular_rank_corr``: the ring score of the PCA of the
  indicators' correlation over those windows (standardised: frequent months do not dominate).
- ``shape_ring`` / ``planarity``: the label-free shape scores of ``bows.core.discovery`` on the
  PC coordinates (usable for discovered groups, which have no natural order).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import stats as sstats

from bows.core import geometry as geo
from bows.data.coactivation import GroupMoments
from bows.data.windows import layout

WINDOW_SIZES = (1, 2, 3, 5, 10, 20)
MIN_GROUP_WINDOWS = 30  # fewer windows holding a group word: the scores are null (with a reason)


def windowed_union(indicators: np.ndarray, seg_starts: np.ndarray, group_size: int, stride: int = 1) -> np.ndarray:
    """(n_windows x k) bool: the union of the row indicators over each window of ``group_size`` rows
    (same placement as the binarize stage: ``bows.data.windows.layout``), vectorised by cumulative sums."""
    ind = np.asarray(indicators, dtype=bool)
    n_rows = ind.shape[0]
    lay = layout(np.asarray(seg_starts, dtype=np.int64), n_rows, group_size, stride)
    cs = np.zeros((n_rows + 1, ind.shape[1]), dtype=np.int32)
    np.cumsum(ind, axis=0, out=cs[1:])
    return (cs[lay.window_start + lay.window_rows] - cs[lay.window_start]) > 0


def moments_of(windows: np.ndarray) -> GroupMoments:
    """The integer moments of (n_windows x k) group indicators held in memory."""
    X = np.asarray(windows, dtype=bool)
    moments = GroupMoments(X.shape[1], windows=X.shape[0])
    moments.add(*np.nonzero(X))
    return moments


def centred_gram(windows: np.ndarray) -> tuple[np.ndarray, int]:
    """M^T M of the row-centred indicators of the windows holding >= 1 group word, and their number."""
    moments = moments_of(windows)
    return moments.centred_gram(), moments.active


def moments_corr(moments: GroupMoments) -> np.ndarray:
    """Pearson correlation of the group indicators over the windows holding >= 1 group word
    (0 where a word never or always occurs there)."""
    if moments.active < 2:
        return np.zeros((moments.k, moments.k))
    cov = moments.covariance()
    sd = np.sqrt(np.diag(cov))
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = cov / np.outer(sd, sd)
    return np.nan_to_num(corr)


def mode_share(M: np.ndarray, vectors: np.ndarray) -> float:
    """Share of trace(M) in the span of the (orthonormalised) columns of ``vectors``."""
    q, _ = np.linalg.qr(np.asarray(vectors, dtype=np.float64))
    total = float(np.trace(M))
    return float(np.trace(q.T @ M @ q) / total) if total > 0 else float("nan")


def structure_scores(M: np.ndarray, n_windows: int, ordered: str | None) -> dict:
    """Ring / line scores of a group's centred Gram ``M`` (see the module docstring). ``ordered``:
    "ring" (natural cyclic order), "line" (natural linear order) or None (label-free scores only).
    Too few windows (< MIN_GROUP_WINDOWS) or a constant group: scores None with a ``reason``."""
    from bows.core.discovery import shape_scores

    k = M.shape[0]
    out: dict = {"windows_with_group": int(n_windows), "reason": None}
    keys = (
        "adjacent_fraction",
        "circular_rank_corr",
        "fourier_share",
        "line_share",
        "line_spearman",
        "shape_ring",
        "planarity",
        "explained_pc1",
        "explained_pc2",
    )
    out.update(dict.fromkeys(keys))
    if n_windows < MIN_GROUP_WINDOWS or k < 3 or np.trace(M) <= 0:
        out["reason"] = (
            f"only {n_windows} windows hold a group word (< {MIN_GROUP_WINDOWS})"
            if n_windows < MIN_GROUP_WINDOWS
            else "fewer than 3 words"
            if k < 3
            else "no variance"
        )
        return out
    coords, ev = geo.pca_from_gram(M, min(3, k))
    out["explained_pc1"], out["explained_pc2"] = float(ev[0]), float(ev[1])
    shape = shape_scores(coords)
    out["shape_ring"], out["planarity"] = shape["ring"], float(ev[:2].sum())
    i = np.arange(k)
    if ordered == "ring":
        out.update(
            {key: v for key, v in geo.ring_score(geo.angles(coords)).items() if key != "chance_adjacent_fraction"}
        )
        out["fourier_share"] = mode_share(M, np.stack([np.cos(2 * np.pi * i / k), np.sin(2 * np.pi * i / k)], axis=1))
    if ordered in ("ring", "line"):
        out["line_share"] = mode_share(M, (i - i.mean())[:, None])
        out["line_spearman"] = float(abs(sstats.spearmanr(coords[:, 0], i).statistic))
    return out


def chance_levels(k: int) -> dict[str, float]:
    """Scores of an isotropic (structure-free) group of k words."""
    return {
        "adjacent_fraction": 2.0 / (k - 1) if k > 2 else 1.0,
        "fourier_share": 2.0 / (k - 1) if k > 1 else 1.0,
        "line_share": 1.0 / (k - 1) if k > 1 else 1.0,
    }


def window_scores(moments: GroupMoments, ordered: str | None) -> dict:
    """``structure_scores`` of a group's windows (from their moments), with the ring score of the
    PCA of their conditional correlation."""
    row = {
        **structure_scores(moments.centred_gram(), moments.active, ordered),
        "corr_adjacent_fraction": None,
        "corr_circular_rank_corr": None,
    }
    if ordered == "ring" and row["reason"] is None:
        coords, _ = geo.pca_from_gram(moments_corr(moments), 2)
        score = geo.ring_score(geo.angles(coords))
        row["corr_adjacent_fraction"] = score["adjacent_fraction"]
        row["corr_circular_rank_corr"] = score["circular_rank_corr"]
    return row


def scan_window_sizes(
    indicators: np.ndarray,
    seg_starts: np.ndarray,
    ordered: str | None,
    window_sizes: Sequence[int] = WINDOW_SIZES,
    stride: int = 1,
) -> list[dict]:
    """``window_scores`` of one group for every window size G (one dict per G, with ``group_size``),
    from row indicators held in memory (``bows.data.stats.window_scan`` streams the corpus instead)."""
    return [
        {
            "group_size": int(g),
            **window_scores(moments_of(windowed_union(indicators, seg_starts, int(g), stride)), ordered),
        }
        for g in window_sizes
    ]
