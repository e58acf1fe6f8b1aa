"""Pure metrics of the structure-vs-latent-size figure (SPEC 5.5): off-diagonal Frobenius norm of a word
group's raw Gram matrix, its mean +- 2 sd over seeds per latent size, and when a training curve of a
metric has settled. Arrays in, numbers out; no I/O."""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike


def offdiag_frobenius_gram(gram: np.ndarray) -> float:
    """sqrt(sum_{i != j} G_ij^2) of a square Gram matrix."""
    G = np.asarray(gram, dtype=np.float64)
    if G.ndim != 2 or G.shape[0] != G.shape[1]:
        raise ValueError(f"a Gram matrix must be square, got shape {G.shape}")
    return float(np.sqrt(max((G**2).sum() - (np.diag(G) ** 2).sum(), 0.0)))


def group_norms(W: np.ndarray, ids: ArrayLike) -> float:
    """Off-diagonal Frobenius norm of the raw Gram matrix of the columns ``ids`` of W (latent x vocab)."""
    V = np.asarray(W, dtype=np.float64)[:, np.asarray(ids, dtype=np.int64)]
    return offdiag_frobenius_gram(V.T @ V)


def summarise(frame: pd.DataFrame, value: str = "frobenius") -> pd.DataFrame:
    """Per (group, latent_size): mean, sd (ddof=1; NaN with one seed), mean -/+ 2 sd and the seed count."""
    out = frame.groupby(["group", "latent_size"])[value].agg(mean="mean", sd=lambda v: v.std(ddof=1), seeds="count")
    out = out.reset_index()
    out["lower"] = out["mean"] - 2 * out["sd"]
    out["upper"] = out["mean"] + 2 * out["sd"]
    return out


def settle_step(steps: ArrayLike, values: ArrayLike, tolerance: float) -> int | None:
    """The first evaluated step from which the curve stays within ``tolerance`` (relative) of its last
    value; None for an empty curve or a last value of 0."""
    at, curve = np.asarray(steps), np.asarray(values, dtype=np.float64)
    if len(curve) == 0 or curve[-1] == 0 or not np.isfinite(curve[-1]):
        return None
    off = np.abs(curve - curve[-1]) > tolerance * abs(curve[-1])
    if not off.any():
        return int(at[0])
    last_off = int(np.flatnonzero(off)[-1])
    return int(at[min(last_off + 1, len(at) - 1)])
