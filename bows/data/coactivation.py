"""Co-activation maths of binary bag-of-words windows: pair counts (X^T X), phi correlation, PMI,
per-word rows and dense word-group statistics. Pure: arrays in, arrays/DataFrames out (no files)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import scipy.sparse as sp
from numba import njit
from tqdm import tqdm


@dataclass(frozen=True)
class CoStats:
    """The co-activation statistics of a sample of windows, in memory (the stats stage writes them;
    ``bows.data.stats.load_stats`` reads them): what the analyses compare the model with."""

    words: pd.DataFrame  # index, word, count, freq
    n_windows: int  # windows in the sample behind counts and pairs
    pairs: pd.DataFrame  # i < j, count, corr (phi), pmi: the frequent pairs
    cooccurrence: sp.csr_matrix  # upper-triangular pair counts (diagonal = word counts)
    groups: dict[str, tuple[dict[str, np.ndarray], dict]]  # name -> (matrices, word info)

    @property
    def vocab(self) -> list[str]:
        return self.words["word"].tolist()

    def group(self, name: str) -> tuple[dict[str, np.ndarray], dict]:
        """A named group's matrices and its word info (``words``, ``missing``, ``windows``)."""
        return self.groups[name]


def cooccurrence(X: sp.csr_matrix, block_bytes: int = 1 << 26) -> sp.csr_matrix:
    """Upper-triangular pair counts C[i, j] = #windows containing both i and j (i <= j; C[i, i] = count of i)."""
    X = sp.csr_matrix(X)
    X.sum_duplicates()  # canonical: sorted word ids, no duplicates
    X.eliminate_zeros()
    return pair_counts(X.indptr, X.indices, X.shape[1], block_bytes)


def pair_counts(offsets: np.ndarray, indices: np.ndarray, vocab_size: int, block_bytes: int = 1 << 26) -> sp.csr_matrix:
    """``cooccurrence`` of CSR windows (sorted word ids per window, as binarize writes them).

    Counted straight from the windows' word lists by a compiled kernel, a block of rows of C at a
    time in a dense counter of about ``block_bytes`` (one pass over the windows per block): memory
    is the windows, C and one block, never the products and partial sums of ``X.T @ X``."""
    offsets = np.asarray(offsets, np.int64)
    n, V = len(offsets) - 1, vocab_size
    dtype = np.int32 if n < 2**31 else np.int64
    rows = max(1, min(V, block_bytes // max(1, V * np.dtype(dtype).itemsize)))
    blocks = []
    for i0 in tqdm(range(0, V, rows), desc="stats: pair counts", unit="block", leave=False):
        counter = np.zeros((min(rows, V - i0), V), dtype=dtype)
        _count_pairs(offsets, indices, i0, i0 + len(counter), counter)
        blocks.append(sp.csr_matrix(counter))
        del counter
    total = sp.csr_matrix(sp.vstack(blocks, format="csr"), dtype=np.int64)
    total.sum_duplicates()
    return total


@njit(cache=True)
def _count_pairs(offsets, indices, i0, i1, counter):
    """counter[i - i0, j] += 1 for every window and every pair of its words i <= j with i0 <= i < i1."""
    for w in range(len(offsets) - 1):
        a, b = offsets[w], offsets[w + 1]
        p = a + np.searchsorted(indices[a:b], i0)
        while p < b and indices[p] < i1:
            r = indices[p] - i0
            for q in range(p, b):
                counter[r, indices[q]] += 1
            p += 1


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


PAIR_SCHEMA = pa.schema(
    [("i", pa.int32()), ("j", pa.int32()), ("count", pa.int64()), ("corr", pa.float32()), ("pmi", pa.float32())]
)


def pair_blocks(cooc: sp.csr_matrix, n: int, min_count: int, block_nnz: int = 1 << 20) -> Iterator[pd.DataFrame]:
    """The frequent pairs (i < j, count >= min_count) with their count, phi correlation and PMI, in
    order of (i, j), a block of rows of ``cooc`` (about ``block_nnz`` stored counts) at a time."""
    cooc = sp.csr_matrix(cooc)
    cooc.sum_duplicates()  # canonical: every row's columns sorted, so blocks come out in (i, j) order
    counts = cooc.diagonal().astype(np.int64)
    indptr = cooc.indptr.astype(np.int64)
    r0 = 0
    while r0 < cooc.shape[0]:
        r1 = max(r0 + 1, int(np.searchsorted(indptr, indptr[r0] + block_nnz, side="right")) - 1)
        r1 = min(r1, cooc.shape[0])
        a, b = indptr[r0], indptr[r1]
        i = np.repeat(np.arange(r0, r1, dtype=np.int32), np.diff(indptr[r0 : r1 + 1]))
        j, c = cooc.indices[a:b].astype(np.int32), cooc.data[a:b].astype(np.int64)
        keep = (j > i) & (c >= min_count)
        i, j, c = i[keep], j[keep], c[keep]
        yield pd.DataFrame(
            {
                "i": i,
                "j": j,
                "count": c,
                "corr": phi(c, counts[i], counts[j], n).astype(np.float32),
                "pmi": pmi(c, counts[i], counts[j], n).astype(np.float32),
            }
        )
        r0 = r1


def symmetric_block(cooc: sp.csr_matrix, words: np.ndarray, block_nnz: int = 1 << 22) -> np.ndarray:
    """The dense symmetric counts among ``words`` (distinct ids) of an upper-triangular count matrix:
    ``B[a, b] = C[words[a], words[b]]`` for either order of the pair, read a block of rows of C at a
    time (never a copy of C)."""
    cooc = sp.csr_matrix(cooc)
    words = np.asarray(words, np.int64)
    position = np.full(cooc.shape[0], -1, np.int64)
    position[words] = np.arange(len(words))
    out = np.zeros((len(words), len(words)))
    indptr = cooc.indptr.astype(np.int64)
    r0 = 0
    while r0 < cooc.shape[0]:
        r1 = min(cooc.shape[0], max(r0 + 1, int(np.searchsorted(indptr, indptr[r0] + block_nnz, side="right")) - 1))
        a, b = indptr[r0], indptr[r1]
        row = position[np.repeat(np.arange(r0, r1), np.diff(indptr[r0 : r1 + 1]))]
        col = position[cooc.indices[a:b]]
        keep = (row >= 0) & (col >= 0)
        out[row[keep], col[keep]] = cooc.data[a:b][keep]
        out[col[keep], row[keep]] = cooc.data[a:b][keep]
        r0 = r1
    return out


def row_statistics(cooc: sp.csr_matrix, n: int, t: int) -> pd.DataFrame:
    """Co-occurrence count, phi correlation and PMI of word t with every word (from the upper-triangular matrix)."""
    cooc = sp.csr_matrix(cooc)
    counts = cooc.diagonal().astype(np.int64)
    row = np.asarray(cooc[t].todense()).ravel() + np.asarray(cooc[:, t].todense()).ravel()
    row[t] = counts[t]
    return pd.DataFrame(
        {"count": row.astype(np.int64), "corr": phi(row, counts[t], counts, n), "pmi": pmi(row, counts[t], counts, n)}
    )


@dataclass
class GroupMoments:
    """Integer sufficient statistics of a word group's binary indicators x (k words) over windows,
    added chunk by chunk: ``gram`` = sum x x^T, ``weighted`` = sum |x| x, ``squares`` = sum |x|^2,
    ``active`` = windows with >= 1 group word, ``windows`` = windows counted (the non-empty ones).
    Every group matrix follows from them exactly, so memory is k x k, whatever the number of windows."""

    k: int
    windows: int = 0
    active: int = 0
    squares: int = 0
    gram: np.ndarray = field(init=False)
    weighted: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.gram = np.zeros((self.k, self.k), np.int64)
        self.weighted = np.zeros(self.k, np.int64)

    def add(self, window: np.ndarray, column: np.ndarray) -> None:
        """Occurrences (window, group column), each pair at most once (window ids local to the call)."""
        if len(window) == 0:
            return
        ids, row = np.unique(np.asarray(window, np.int64), return_inverse=True)
        X = np.zeros((len(ids), self.k))
        X[row, np.asarray(column, np.int64)] = 1.0
        size = X.sum(axis=1)
        # float64 sums of 0/1 products below 2**53 are exact integers
        self.gram += np.rint(X.T @ X).astype(np.int64)
        self.weighted += np.rint(size @ X).astype(np.int64)
        self.squares += int(np.rint(size @ size))
        self.active += len(ids)

    def append(self, offsets: np.ndarray, indices: np.ndarray) -> None:
        """Windows as local CSR over the group's columns (the sink ``chunks.ChunkedWindows`` writes to)."""
        offsets = np.asarray(offsets, np.int64)
        window = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
        self.windows += int(np.count_nonzero(np.diff(offsets)))
        self.add(window, indices)

    def centred_gram(self) -> np.ndarray:
        """M^T M of the row-centred indicators (x - |x|/k) of the windows (exact, then one rounding)."""
        k = self.k
        gram, weighted = self.gram.astype(object), self.weighted.astype(object)
        exact = k * k * gram - k * (weighted[:, None] + weighted[None, :]) + self.squares
        return (exact / (k * k)).astype(np.float64)

    def covariance(self) -> np.ndarray:
        """Covariance (sum of centred products) of the indicators over the active windows."""
        m, gram = self.active, self.gram.astype(object)
        counts = np.diag(gram)
        return ((m * gram - counts[:, None] * counts[None, :]) / m).astype(np.float64)

    def statistics(self) -> dict[str, np.ndarray]:
        """The dense group statistics (equal to the one-piece reference in ``tests/references.py``)."""
        n, k = self.windows, self.k
        count = self.gram.copy()
        c = np.diag(count)
        stats = {
            "count": count,
            "corr": phi(count, c[:, None], c[None, :], n),
            "pmi": pmi(count, c[:, None], c[None, :], n),
        }
        if self.active > 1:
            cov = self.covariance()
            sd = np.sqrt(np.diag(cov))
            with np.errstate(invalid="ignore", divide="ignore"):
                stats["cond_corr"] = cov / np.outer(sd, sd)
            stats["centred_gram"] = self.centred_gram()
        else:
            stats["cond_corr"] = np.full((k, k), np.nan)
            stats["centred_gram"] = np.zeros((k, k))
        stats["windows"] = np.array([n, self.active], dtype=np.int64)  # all windows, windows with >= 1 group word
        return stats
