"""Co-activation maths of binary bag-of-words windows: pair counts (X^T X), phi correlation, PMI,
per-word rows and dense word-group statistics. Pure: arrays in, arrays/DataFrames out (no files)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd
import scipy.sparse as sp
from tqdm import tqdm


def cooccurrence(X: sp.csr_matrix, chunk: int = 50_000) -> sp.csr_matrix:
    """Upper-triangular pair counts C[i, j] = #windows containing both i and j (i <= j; C[i, i] = count of i)."""
    X = sp.csr_matrix(X, dtype=np.int32)
    total = sp.csr_matrix((X.shape[1], X.shape[1]), dtype=np.int64)  # pyright: ignore[reportCallIssue, reportArgumentType]  (scipy-stubs: float-only empty constructor)
    for start in tqdm(range(0, X.shape[0], chunk), desc="stats: X^T X", unit="chunk", leave=False):
        block = X[start:start + chunk]
        total = total + sp.triu(block.T @ block, format="csr").astype(np.int64)
    total.sum_duplicates()
    return total


def phi(count_ij: npt.ArrayLike, count_i: npt.ArrayLike, count_j: npt.ArrayLike, n: int) -> np.ndarray:
    """Pearson correlation of two binary indicators from their counts (phi coefficient); NaN if constant."""
    c_ij, c_i, c_j = (np.asarray(a, dtype=np.float64) for a in (count_ij, count_i, count_j))
    denom = np.sqrt(c_i * (n - c_i) * c_j * (n - c_j))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, (n * c_ij - c_i * c_j) / denom, np.nan)


def pmi(count_ij: npt.ArrayLike, count_i: npt.ArrayLike, count_j: npt.ArrayLike, n: int) -> np.ndarray:
    """Pointwise mutual information log(p_ij / (p_i p_j)) in nats; -inf for pairs never seen together."""
    c_ij, c_i, c_j = (np.asarray(a, dtype=np.float64) for a in (count_ij, count_i, count_j))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.log(n * c_ij) - np.log(c_i) - np.log(c_j)


def pair_table(cooc: sp.csr_matrix, n: int, min_count: int) -> pd.DataFrame:
    """Frequent pairs (i < j, count >= min_count) with their count, phi correlation and PMI."""
    counts = cooc.diagonal().astype(np.int64)
    upper = sp.triu(cooc, k=1, format="coo")
    keep = upper.data >= min_count
    i, j, c = upper.row[keep].astype(np.int32), upper.col[keep].astype(np.int32), upper.data[keep].astype(np.int64)
    order = np.lexsort((j, i))
    i, j, c = i[order], j[order], c[order]
    return pd.DataFrame({"i": i, "j": j, "count": c,
                         "corr": phi(c, counts[i], counts[j], n).astype(np.float32),
                         "pmi": pmi(c, counts[i], counts[j], n).astype(np.float32)})


def row_statistics(cooc: sp.csr_matrix, n: int, t: int) -> pd.DataFrame:
    """Co-occurrence count, phi correlation and PMI of word t with every word (from the upper-triangular matrix)."""
    cooc = sp.csr_matrix(cooc)
    counts = cooc.diagonal().astype(np.int64)
    row = np.asarray(cooc[t].todense()).ravel() + np.asarray(cooc[:, t].todense()).ravel()
    row[t] = counts[t]
    return pd.DataFrame({"count": row.astype(np.int64), "corr": phi(row, counts[t], counts, n),
                         "pmi": pmi(row, counts[t], counts, n)})


def group_statistics(X_group: sp.csr_matrix | np.ndarray) -> dict[str, np.ndarray]:
    """Dense statistics of a word group's indicator columns (windows x k).

    count: co-occurrence counts; corr: phi over all windows; pmi: PMI over all windows;
    cond_corr: Pearson correlation over windows containing at least one group word;
    centred_gram: M^T M of the row-centred indicators of those windows (its eigenvectors give
    the data's own PCA of the group words -- the months ring in the data).
    """
    X = sp.csr_matrix(X_group, dtype=np.float64)
    n, k = X.shape
    count = (X.T @ X).toarray()
    c = np.diag(count)
    stats = {"count": count.astype(np.int64),
             "corr": phi(count, c[:, None], c[None, :], n),
             "pmi": pmi(count, c[:, None], c[None, :], n)}
    active = np.asarray(X.sum(axis=1)).ravel() > 0
    Xa = X[active].toarray()
    m = Xa.shape[0]
    if m > 1:
        centred = Xa - Xa.mean(axis=0)
        cov = centred.T @ centred
        sd = np.sqrt(np.diag(cov))
        with np.errstate(invalid="ignore", divide="ignore"):
            stats["cond_corr"] = cov / np.outer(sd, sd)
        rows = Xa - Xa.mean(axis=1, keepdims=True)
        stats["centred_gram"] = rows.T @ rows
    else:
        stats["cond_corr"] = np.full((k, k), np.nan)
        stats["centred_gram"] = np.zeros((k, k))
    stats["windows"] = np.array([n, m], dtype=np.int64)  # all windows, windows with >= 1 group word
    return stats


def group_columns(offsets: np.ndarray, indices: np.ndarray, ids: np.ndarray, vocab_size: int,
                  chunk: int = 1 << 26) -> sp.csr_matrix:
    """Indicator matrix (windows x len(ids)) of the word ids ``ids`` from CSR windows, without
    materialising the full windows x V matrix (reads ``indices`` in chunks; works on memmaps)."""
    column = np.full(vocab_size, -1, dtype=np.int64)
    column[ids] = np.arange(len(ids))
    rows, cols = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
    for start in range(0, len(indices), chunk):
        mapped = column[np.asarray(indices[start:start + chunk], dtype=np.int64)]
        hit = np.flatnonzero(mapped >= 0)
        rows.append(np.searchsorted(offsets, start + hit, side="right") - 1)
        cols.append(mapped[hit])
    row, col = np.concatenate(rows), np.concatenate(cols)
    return sp.csr_matrix((np.ones(len(row), dtype=np.int8), (row, col)), shape=(len(offsets) - 1, len(ids)))
