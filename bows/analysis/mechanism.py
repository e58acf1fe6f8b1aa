"""Pure mechanism analyses of a tied autoencoder (W: latent x vocab, b: vocab): per-word held-out
R^2 vs one-hot R^2, pre-activation distributions of target words, and the decomposition of a
pre-activation z_t = b_t + |w_t|^2 [t in S] + sum_{k in S, k != t} <w_t, w_k> into towers.
No I/O: arrays and sparse windows in, numbers out. Vectorised in chunks of windows / output words.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp


def _act(z: np.ndarray, output: str) -> np.ndarray:
    return np.maximum(z, 0.0) if output == "relu" else z


def preactivation(W: np.ndarray, b: np.ndarray, X: sp.csr_matrix | np.ndarray) -> np.ndarray:
    """z = X W^T W + b for binary inputs X (batch x vocab): the model's output pre-activation."""
    h = np.asarray(X @ np.asarray(W, dtype=np.float32).T)  # (batch, latent)
    return h @ np.asarray(W, dtype=np.float32) + np.asarray(b, dtype=np.float32)


def heldout_r2(W: np.ndarray, b: np.ndarray, X: sp.csr_matrix, output: str = "relu", chunk: int = 2048) -> pd.DataFrame:
    """Per-word R^2 of the reconstruction over windows X (n x vocab, binary):
    1 - sum_n (x_hat_nj - x_nj)^2 / sum_n (x_nj - mean_j)^2 (NaN for words absent or always present),
    plus the word's count and its mean interference sum_{k != j} <w_j, w_k> when present."""
    X = sp.csr_matrix(X, dtype=np.float32)
    n, V = X.shape
    sq = np.zeros(V)  # sum_n x_hat^2
    hit = np.zeros(V)  # sum over present entries of x_hat
    ctx = np.zeros(V)  # sum over present entries of z - b - |w|^2
    self_term = np.asarray(b, dtype=np.float64) + (np.asarray(W, dtype=np.float64) ** 2).sum(axis=0)
    for start in range(0, n, chunk):
        block = X[start : start + chunk]
        z = preactivation(W, b, block)
        x_hat = _act(z, output)
        sq += (x_hat.astype(np.float64) ** 2).sum(axis=0)
        rows, cols = block.nonzero()
        hit += np.bincount(cols, weights=x_hat[rows, cols], minlength=V)
        ctx += np.bincount(cols, weights=z[rows, cols] - self_term[cols], minlength=V)
    count = np.asarray(X.sum(axis=0)).ravel().astype(np.float64)
    sse = sq - 2 * hit + count
    sst = count - count**2 / max(n, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        r2 = np.where(sst > 0, 1 - sse / sst, np.nan)
        mean_ctx = np.where(count > 0, ctx / count, np.nan)
    return pd.DataFrame(
        {"index": np.arange(V), "count": count.astype(np.int64), "r2": r2, "interference_present": mean_ctx}
    )


def onehot_r2(W: np.ndarray, b: np.ndarray, output: str = "relu", chunk: int = 1024) -> np.ndarray:
    """Per-word R^2 when the samples are the V one-hot inputs e_k and the targets delta_kj:
    prediction x_hat_kj = act(b_j + <w_j, w_k>); total sum of squares 1 - 1/V."""
    W = np.asarray(W, dtype=np.float32)
    b = np.asarray(b, dtype=np.float32)
    V = W.shape[1]
    out = np.empty(V)
    for start in range(0, V, chunk):
        cols = np.arange(start, min(start + chunk, V))
        x_hat = _act(W.T @ W[:, cols] + b[cols], output).astype(np.float64)  # (V samples, chunk outputs)
        sse = (x_hat**2).sum(axis=0) - 2 * x_hat[cols, np.arange(len(cols))] + 1.0
        out[cols] = 1 - sse / (1 - 1 / V)
    return out


def r2_table(heldout: pd.DataFrame, onehot: np.ndarray, vocab: Sequence[str]) -> pd.DataFrame:
    """Held-out vs one-hot R^2 per word, sorted by the gap (held-out - one-hot, largest first):
    a large gap means the word is reconstructed thanks to its context (constructive interference)."""
    table = heldout.copy()
    table.insert(1, "word", list(vocab))
    table["onehot_r2"] = onehot
    table["gap"] = table["r2"] - table["onehot_r2"]
    return table.sort_values("gap", ascending=False, na_position="last", ignore_index=True)


def target_preactivations(W: np.ndarray, b: np.ndarray, X: sp.csr_matrix, t: int, chunk: int = 4096) -> dict:
    """Distribution of z_t over the windows that contain t, vs its one-hot value b_t + |w_t|^2."""
    X = sp.csr_matrix(X, dtype=np.float32)
    rows = np.flatnonzero(np.asarray(X[:, t].todense()).ravel() > 0)
    W32 = np.asarray(W, dtype=np.float32)
    z = np.concatenate(
        [np.asarray(X[rows[s : s + chunk]] @ W32.T) @ W32[:, t] for s in range(0, len(rows), chunk)]
        or [np.zeros(0, np.float32)]
    ) + float(b[t])
    onehot = float(b[t] + (np.asarray(W, dtype=np.float64)[:, t] ** 2).sum())
    return {
        "z": z.astype(np.float64),
        "onehot": onehot,
        "windows": int(len(rows)),
        "share_above_zero": float((z > 0).mean()) if len(z) else float("nan"),
        "share_above_onehot": float((z > onehot).mean()) if len(z) else float("nan"),
        "mean": float(z.mean()) if len(z) else float("nan"),
        "quantiles": dict(zip(("p10", "p50", "p90"), np.quantile(z, [0.1, 0.5, 0.9]).tolist())) if len(z) else {},
    }


def decompose(
    W: np.ndarray, b: np.ndarray, t: int, active: Sequence[int], parts: dict[str, Sequence[int]] | None = None
) -> dict[str, float]:
    """Split z_t on the input with active words ``active`` into bias, self (if t is active), one
    term per named part (sum of <w_t, w_k> over its active words) and ``other`` context; the
    terms sum to ``total`` = the model's own pre-activation."""
    W = np.asarray(W, dtype=np.float64)
    on = np.unique(np.asarray(list(active), dtype=np.int64))  # the active word ids
    dots = W[:, on].T @ W[:, t]
    out = {"bias": float(b[t]), "self": float(dots[on == t].sum())}
    context = on != t
    claimed = np.zeros(len(on), dtype=bool)
    for name, ids in (parts or {}).items():
        mask = np.isin(on, np.asarray(list(ids), dtype=np.int64)) & context & ~claimed
        out[name] = float(dots[mask].sum())
        claimed |= mask
    out["other"] = float(dots[context & ~claimed].sum())
    out["total"] = float(sum(out.values()))
    return out


def towers(
    W: np.ndarray, b: np.ndarray, t: int, correlated: Sequence[int], uncorrelated: Sequence[int], output: str = "relu"
) -> pd.DataFrame:
    """Decomposition towers of z_t for hand-built inputs: t alone, t + correlated context,
    t + uncorrelated context, correlated context without t, uncorrelated context without t."""
    parts = {"correlated": correlated, "uncorrelated": uncorrelated}
    inputs = {
        "t alone": [t],
        "t + correlated": [t, *correlated],
        "t + uncorrelated": [t, *uncorrelated],
        "correlated, no t": list(correlated),
        "uncorrelated, no t": list(uncorrelated),
    }
    rows = []
    for name, active in inputs.items():
        d = decompose(W, b, t, active, parts)
        rows.append({"input": name, **d, "output": float(_act(np.array(d["total"]), output))})
    return pd.DataFrame(rows)


def heldout_decomposition(
    W: np.ndarray, b: np.ndarray, X: sp.csr_matrix, t: int, parts: dict[str, Sequence[int]]
) -> dict[str, float]:
    """Mean decomposition of z_t over the windows containing t (bias, self, each part, other)."""
    X = sp.csr_matrix(X, dtype=np.float32)
    rows = np.flatnonzero(np.asarray(X[:, t].todense()).ravel() > 0)
    W = np.asarray(W, dtype=np.float64)
    dots = W.T @ W[:, t]  # <w_k, w_t> for every k
    sub = X[rows]
    per_window = {"bias": np.full(len(rows), float(b[t])), "self": np.full(len(rows), dots[t])}
    remaining = dots.copy()
    remaining[t] = 0.0
    for name, ids in parts.items():
        mask = np.zeros_like(dots)
        ids = np.setdiff1d(np.asarray(list(ids), dtype=np.int64), [t])
        mask[ids] = remaining[ids]
        remaining[ids] = 0.0
        per_window[name] = np.asarray(sub @ mask).ravel()
    per_window["other"] = np.asarray(sub @ remaining).ravel()
    out = {k: float(v.mean()) if len(rows) else float("nan") for k, v in per_window.items()}
    out["total"] = float(sum(out.values()))
    out["windows"] = int(len(rows))
    return out


def target_vs_group(
    W: np.ndarray, b: np.ndarray, t: int, group: Sequence[int] | np.ndarray, words: Sequence[str], output: str = "relu"
) -> pd.DataFrame:
    """For each group word m (e.g. each month for t = Christmas): <w_t, w_m>, z_t on {t, m} and on {m}."""
    W = np.asarray(W, dtype=np.float64)
    members = np.asarray(list(group), dtype=np.int64)
    dots = W[:, members].T @ W[:, t]
    base = float(b[t])
    self_ = float(W[:, t] @ W[:, t])
    return pd.DataFrame(
        {
            "word": list(words),
            "dot": dots,
            "z_with_t": base + self_ + dots,
            "z_without_t": base + dots,
            "out_with_t": _act(base + self_ + dots, output),
            "out_without_t": _act(base + dots, output),
        }
    )
