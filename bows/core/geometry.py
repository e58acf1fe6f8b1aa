"""Pure feature-geometry analyses of word vectors (columns of W): PCA rings and ring scores,
seasonal-word projections, the data-side ring, co-activation vs interference, kNN category purity,
off-diagonal Gram norms and feature dimensionality (structure discovery: ``bows.core.discovery``). No I/O: arrays in,
numbers (dicts / DataFrames) out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sstats


# ----------------------------------------------------------------------------- PCA
@dataclass(frozen=True)
class PCAFit:
    mean: np.ndarray  # (dim,)
    components: np.ndarray  # (k, dim), orthonormal rows
    explained: np.ndarray  # (k,) explained variance ratio

    def transform(self, X: np.ndarray) -> np.ndarray:
        return (np.atleast_2d(X) - self.mean) @ self.components.T


def pca(X: np.ndarray, k: int) -> PCAFit:
    """PCA of the rows of X (points x dim) by SVD; signs fixed so each component's largest entry is positive."""
    X = np.asarray(X, dtype=np.float64)
    mean = X.mean(axis=0)
    _, s, vt = np.linalg.svd(X - mean, full_matrices=False)
    k = min(k, vt.shape[0])
    sign = np.sign(vt[:k, np.argmax(np.abs(vt[:k]), axis=1)].diagonal())
    comps = vt[:k] * np.where(sign == 0, 1.0, sign)[:, None]
    var = s**2
    return PCAFit(mean, comps, var[:k] / var.sum() if var.sum() > 0 else np.zeros(k))


def pca_from_gram(gram: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Point coordinates (points x k) and explained-variance ratios from a centred Gram matrix (M^T M)."""
    evals, evecs = np.linalg.eigh(np.asarray(gram, dtype=np.float64))
    order = np.argsort(evals)[::-1]
    evals, evecs = np.clip(evals[order], 0, None), evecs[:, order]
    coords = evecs[:, :k] * np.sqrt(evals[:k])
    return coords, evals[:k] / evals.sum() if evals.sum() > 0 else np.zeros(k)


# ----------------------------------------------------------------------------- rings
def angles(coords: np.ndarray) -> np.ndarray:
    """Angle (radians, [0, 2pi)) of each 2-D point around the points' centroid; NaN for a point at
    the centroid (no direction: e.g. every point identical, as PCA of an all-zero matrix gives)."""
    xy = np.asarray(coords, dtype=np.float64)[:, :2]
    if xy.shape[1] < 2:  # fewer than two components: no plane to measure angles in
        return np.full(len(xy), np.nan)
    c = xy - xy.mean(axis=0)
    r = np.hypot(c[:, 0], c[:, 1])
    scale = float(np.abs(xy).max()) if xy.size else 0.0
    theta = np.mod(np.arctan2(c[:, 1], c[:, 0]), 2 * np.pi)
    return np.where(r > max(scale, 1e-300) * 1e-9, theta, np.nan)


MIN_RING_POINTS = 3


def ring_score(theta: np.ndarray) -> dict[str, float | str | None]:
    """How well angles ``theta`` (points in their natural cyclic order) form an ordered ring.

    adjacent_fraction: share of the n cyclically adjacent pairs (i, i+1 mod n) that are neighbours
    in angular order (1 for a perfect ring in either direction; chance 2/(n-1)).
    circular_rank_corr: Fisher-Lee circular rank correlation between the calendar position and
    the angular rank, the better of both orientations (1 for a perfect ring, ~1/n for noise).
    An undefined angular order -- fewer than 3 points, a point without an angle (NaN) or two
    points at the same angle -- gives NaN scores and the ``reason``; never a default score.
    """
    theta = np.asarray(theta, dtype=np.float64)
    n = len(theta)
    reason = None
    if n < MIN_RING_POINTS:
        reason = f"{n} points (a ring needs >= {MIN_RING_POINTS})"
    elif not np.isfinite(theta).all():
        reason = f"{int((~np.isfinite(theta)).sum())} of {n} points have no angle (at the centroid: no data spread)"
    elif len(np.unique(theta)) < n:
        reason = f"{n - len(np.unique(theta))} tied angles: the angular order is undefined"
    if reason is not None:
        nan = float("nan")
        return {"adjacent_fraction": nan, "circular_rank_corr": nan, "chance_adjacent_fraction": nan, "reason": reason}
    rank = np.empty(n, dtype=np.int64)
    rank[np.argsort(theta, kind="stable")] = np.arange(n)
    gap = np.abs(rank - np.roll(rank, -1))
    adjacent = np.mean((gap == 1) | (gap == n - 1))
    phase = 2 * np.pi * rank / n
    calendar = 2 * np.pi * np.arange(n) / n
    corr = max(np.abs(np.mean(np.exp(1j * (phase - sign * calendar)))) ** 2 for sign in (1, -1))
    return {
        "adjacent_fraction": float(adjacent),
        "circular_rank_corr": float(corr),
        "chance_adjacent_fraction": 2.0 / (n - 1),
        "reason": None,
    }


def ring_analysis(vectors: np.ndarray, words: Sequence[str], k: int = 3, normalize: bool = False) -> dict:
    """PCA ring of a cyclic word group (rows of ``vectors`` in natural order): explained variance,
    PC coordinates, angular order around the centroid in the PC1-2 plane and the ring score."""
    V = np.asarray(vectors, dtype=np.float64)
    if normalize:
        V = V / np.maximum(np.linalg.norm(V, axis=1, keepdims=True), 1e-12)
    fit = pca(V, k)
    coords = fit.transform(V)
    theta = angles(coords)
    return {
        "words": list(words),
        "normalized": normalize,
        "explained_variance": fit.explained.tolist(),
        "coords": coords.tolist(),
        "angle_deg": np.degrees(theta).tolist(),
        "angular_order": [words[i] for i in np.argsort(theta, kind="stable")] if np.isfinite(theta).all() else None,
        **ring_score(theta),
    }


def project_words(
    fit: PCAFit,
    group_words: Sequence[str],
    group_coords: np.ndarray,
    vectors: np.ndarray,
    words: Sequence[str],
    season_of_group: dict[str, str] | None = None,
    expected_season: dict[str, str] | None = None,
) -> list[dict]:
    """Project extra words (e.g. seasonal) with a group's PCA fit: their PC coordinates, the share
    of their (group-centred) squared norm lying in the PC1-2 plane, their angle, the nearest group
    word by angle and -- for months -- the season it points to and whether that is the expected one."""
    centred = np.atleast_2d(np.asarray(vectors, dtype=np.float64)) - fit.mean
    coords = centred @ fit.components.T
    in_plane = (coords[:, :2] ** 2).sum(axis=1) / np.maximum((centred**2).sum(axis=1), 1e-300)
    theta = np.mod(np.arctan2(coords[:, 1], coords[:, 0]), 2 * np.pi)
    gc = np.asarray(group_coords)[:, :2]
    g_theta = np.mod(np.arctan2(gc[:, 1] - gc[:, 1].mean(), gc[:, 0] - gc[:, 0].mean()), 2 * np.pi)
    out = []
    for w, c, f, t in zip(words, coords, in_plane, theta):
        diff = np.abs(np.angle(np.exp(1j * (g_theta - t))))
        nearest = group_words[int(np.argmin(diff))]
        row = {
            "word": w,
            "coords": c.tolist(),
            "in_plane_fraction": float(f),
            "angle_deg": float(np.degrees(t)),
            "nearest": nearest,
        }
        if season_of_group is not None:
            row["season"] = season_of_group.get(nearest)
            if expected_season is not None and w in expected_season:
                row["expected_season"] = expected_season[w]
                row["season_match"] = bool(row["season"] == expected_season[w])
        out.append(row)
    return out


# ----------------------------------------------------------------------------- matrices
def gram(vectors: np.ndarray) -> np.ndarray:
    V = np.asarray(vectors, dtype=np.float64)
    return V @ V.T


def cosine_matrix(vectors: np.ndarray) -> np.ndarray:
    V = np.asarray(vectors, dtype=np.float64)
    V = V / np.maximum(np.linalg.norm(V, axis=1, keepdims=True), 1e-12)
    return V @ V.T


def ring_signal(vectors: np.ndarray, pool: np.ndarray, pairs: int = 20_000, seed: int = 0) -> dict[str, float]:
    """How far above chance a cyclic group's ring is in cosine terms: the mean cosine of its cyclically
    adjacent members (rows of ``vectors`` in natural order), that of its other pairs, and the sd of the
    cosine between random pairs of ``pool`` rows (e.g. all represented words; ~1/sqrt(dim) for random
    directions). ``adjacent_z`` = (adjacent mean - random mean) / random sd: a ring whose neighbours sit
    ~1 sd above random pairs cannot be told from noise by any label-free search."""
    C = cosine_matrix(vectors)
    n = len(C)
    adjacent = np.array([C[i, (i + 1) % n] for i in range(n)])
    iu = np.triu_indices(n, k=1)
    other = (C[iu].sum() - adjacent.sum()) / max(len(iu[0]) - n, 1)
    rng = np.random.default_rng(seed)
    i, j = rng.integers(0, len(pool), (2, pairs))
    keep = i != j
    a, b = (np.asarray(pool[k[keep]], dtype=np.float64) for k in (i, j))
    norms = np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-24)
    random = np.einsum("kd,kd->k", a, b) / norms
    sd = float(random.std(ddof=1))
    return {
        "adjacent_cosine": float(adjacent.mean()),
        "other_cosine": float(other),
        "random_cosine_sd": sd,
        "adjacent_z": float((adjacent.mean() - random.mean()) / sd) if sd > 0 else float("nan"),
    }


REPRESENTED_NORM = 0.5  # a word counts as represented when |w_j| exceeds this (a unit vector = fully)


def packing_floor(W: np.ndarray, threshold: float = REPRESENTED_NORM) -> dict[str, float]:
    """The smallest possible largest |cosine| among the N represented words (|w| > ``threshold``) of W
    (latent x vocab) in L dimensions, the Welch bound sqrt((N - L) / (L (N - 1))) (0 when N <= L): N > L
    words cannot all be orthogonal, so pairwise cosines of about this size are forced by packing alone.
    Cosine structure below it (e.g. calendar neighbours) is drowned by the packing of the other words."""
    L = np.asarray(W).shape[0]
    n = int((np.linalg.norm(np.asarray(W, dtype=np.float64), axis=0) > threshold).sum())
    floor = float(np.sqrt((n - L) / (L * (n - 1)))) if n > L else 0.0
    return {"represented": float(n), "packing_floor": floor}


def offdiag_frobenius(vectors: np.ndarray) -> float:
    """Frobenius norm of the off-diagonal part of the raw Gram matrix of the rows of ``vectors``."""
    G = gram(vectors)
    return float(np.sqrt(max((G**2).sum() - (np.diag(G) ** 2).sum(), 0.0)))


def offdiag_agreement(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """Pearson and Spearman correlation between the off-diagonal entries (i < j) of two square matrices."""
    iu = np.triu_indices(len(a), k=1)
    x, y = np.asarray(a)[iu], np.asarray(b)[iu]
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3 or np.std(x[ok]) < 1e-12 or np.std(y[ok]) < 1e-12:  # constant: no correlation
        return {"pearson": float("nan"), "spearman": float("nan"), "pairs": int(ok.sum())}
    return {
        "pearson": float(np.corrcoef(x[ok], y[ok])[0, 1]),
        "spearman": float(sstats.spearmanr(x[ok], y[ok]).statistic),
        "pairs": int(ok.sum()),
    }


# ----------------------------------------------------------------------------- co-activation vs interference
def pair_dots(W: np.ndarray, i: np.ndarray, j: np.ndarray, chunk: int = 1 << 20) -> np.ndarray:
    """<w_i, w_j> for index arrays i, j (W: latent x vocab), chunked."""
    W = np.asarray(W, dtype=np.float32)
    out = np.empty(len(i), dtype=np.float32)
    for s in range(0, len(i), chunk):
        out[s : s + chunk] = np.einsum("lp,lp->p", W[:, i[s : s + chunk]], W[:, j[s : s + chunk]])
    return out


def coactivation_vs_interference(W: np.ndarray, pairs: pd.DataFrame) -> tuple[dict[str, float], pd.DataFrame]:
    """Correlation between interference <w_i, w_j> and the data's phi correlation / PMI over pairs."""
    frame = pairs[["i", "j", "count", "corr", "pmi"]].copy()
    frame["dot"] = pair_dots(W, frame["i"].to_numpy(), frame["j"].to_numpy())
    out: dict[str, float] = {"pairs": int(len(frame))}
    for col in ("corr", "pmi"):
        ok = np.isfinite(frame[col].to_numpy()) & np.isfinite(frame["dot"].to_numpy())
        x, y = frame["dot"].to_numpy()[ok], frame[col].to_numpy()[ok]
        good = ok.sum() >= 3 and np.std(x) > 0 and np.std(y) > 0
        out[f"pearson_dot_{col}"] = float(np.corrcoef(x, y)[0, 1]) if good else float("nan")
        out[f"spearman_dot_{col}"] = float(sstats.spearmanr(x, y).statistic) if good else float("nan")
    return out, frame


# ----------------------------------------------------------------------------- semantic clusters
def knn(vectors: np.ndarray, k: int) -> np.ndarray:
    """Indices (rows x k) of each row's k nearest other rows by cosine similarity."""
    S = cosine_matrix(vectors)
    np.fill_diagonal(S, -np.inf)
    return np.argpartition(-S, k - 1, axis=1)[:, :k]


def knn_purity_test(
    vectors: np.ndarray, labels: np.ndarray, k: int = 10, shuffles: int = 20, seed: int = 42
) -> dict[str, float]:
    """kNN category purity -- mean share of each labelled word's k cosine nearest neighbours (among
    labelled words) sharing its label -- vs the same statistic with shuffled labels (mean, sd, z)."""
    k = min(k, len(labels) - 1)
    nn = knn(vectors, k)
    purity = float((labels[nn] == labels[:, None]).mean())
    rng = np.random.default_rng(seed)
    base = np.array([(p[nn] == p[:, None]).mean() for p in (rng.permutation(labels) for _ in range(shuffles))])
    sd = float(base.std(ddof=1)) if shuffles > 1 else 0.0
    return {
        "purity": purity,
        "baseline_mean": float(base.mean()),
        "baseline_sd": sd,
        "k": int(k),
        "z": float((purity - base.mean()) / sd) if sd > 0 else float("nan"),
        "words": int(len(labels)),
    }


def umap_embedding(vectors: np.ndarray, seed: int = 42, n_neighbors: int = 15, min_dist: float = 0.05) -> np.ndarray:
    """2-D UMAP (cosine) of the rows of ``vectors`` (slow: numba compile on first use)."""
    import umap  # imported here: numba compile is slow and only this analysis needs it

    reducer = umap.UMAP(
        n_neighbors=n_neighbors, min_dist=min_dist, metric="cosine", random_state=seed, n_components=2, n_jobs=1
    )
    return np.asarray(reducer.fit_transform(np.asarray(vectors, dtype=np.float32)))


# ----------------------------------------------------------------------------- dimensionality
def feature_dimensionality(W: np.ndarray) -> np.ndarray:
    """D_i = |w_i|^2 / sum_j (w_hat_i . w_j)^2 for every column of W (latent x vocab); 0 for dead words.

    Uses sum_j (w_hat_i . w_j)^2 = w_hat_i^T (W W^T) w_hat_i, so the cost is O(L^2 V), not O(L V^2)."""
    W = np.asarray(W, dtype=np.float64)
    norm2 = (W**2).sum(axis=0)
    W_hat = W / np.maximum(np.sqrt(norm2), 1e-12)
    interference = (W_hat * ((W @ W.T) @ W_hat)).sum(axis=0)
    return np.where(norm2 > 1e-12, norm2 / np.maximum(interference, 1e-300), 0.0)
